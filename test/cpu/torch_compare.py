"""Reference for cpu_torch_compare: runs the model described in <dir>/config.txt in PyTorch
(float64, functional ops driven by tspipe's parameter names) on the weights, input and output
gradient in <dir>/in.bin, and writes the output, input gradient, parameter gradients and
BatchNorm running statistics to <dir>/out.bin. Exit 77 when torch is missing."""
import struct
import sys

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    print("python3-torch is not installed")
    sys.exit(77)


def read_tensors(path):
    out = {}
    with open(path, "rb") as f:
        (count,) = struct.unpack("<q", f.read(8))
        for _ in range(count):
            (name_len,) = struct.unpack("<q", f.read(8))
            name = f.read(name_len).decode()
            (ndim,) = struct.unpack("<q", f.read(8))
            shape = struct.unpack("<%dq" % ndim, f.read(8 * ndim))
            n = 1
            for d in shape:
                n *= d
            data = struct.unpack("<%df" % n, f.read(4 * n))
            out[name] = torch.tensor(data, dtype=torch.float64).reshape(shape)
    return out


def write_tensors(path, tensors):
    with open(path, "wb") as f:
        f.write(struct.pack("<q", len(tensors)))
        for name, t in tensors.items():
            t = t.detach().to(torch.float32).contiguous()
            f.write(struct.pack("<q", len(name)) + name.encode())
            f.write(struct.pack("<q", t.dim()) + struct.pack("<%dq" % t.dim(), *t.shape))
            f.write(struct.pack("<%df" % t.numel(), *t.reshape(-1).tolist()))


def resnet(p, x, cfg):
    depth, stem = int(cfg["depth"]), cfg["stem"]
    bottleneck = depth >= 50
    # act=gelu: the smooth variant (see test_torch_compare.cpp for why the ResNet-50 case uses it)
    act = F.gelu if cfg.get("act", "relu") == "gelu" else F.relu
    layout = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3]}[depth]

    def bn(name, h):
        return F.batch_norm(h, p[name + ".running_mean"], p[name + ".running_var"], p[name + ".weight"],
                            p[name + ".bias"], training=True, momentum=0.1, eps=1e-5)

    if stem == "imagenet":
        h = act(bn("bn1", F.conv2d(x, p["conv1.weight"], stride=2, padding=3)))
        h = F.max_pool2d(h, 3, 2, 1)
    else:
        h = act(bn("bn1", F.conv2d(x, p["conv1.weight"], stride=1, padding=1)))
    for stage, blocks in enumerate(layout):
        for i in range(blocks):
            n = "layer%d.%d" % (stage + 1, i)
            s = 2 if stage > 0 and i == 0 else 1
            if bottleneck:
                y = act(bn(n + ".bn1", F.conv2d(h, p[n + ".conv1.weight"])))
                y = act(bn(n + ".bn2", F.conv2d(y, p[n + ".conv2.weight"], stride=s, padding=1)))
                y = bn(n + ".bn3", F.conv2d(y, p[n + ".conv3.weight"]))
            else:
                y = act(bn(n + ".bn1", F.conv2d(h, p[n + ".conv1.weight"], stride=s, padding=1)))
                y = bn(n + ".bn2", F.conv2d(y, p[n + ".conv2.weight"], padding=1))
            if n + ".downsample.0.weight" in p:
                h = bn(n + ".downsample.1", F.conv2d(h, p[n + ".downsample.0.weight"], stride=s))
            h = act(y + h)
    h = h.mean(dim=(2, 3))
    return F.linear(h, p["fc.weight"], p["fc.bias"])


def vit(p, x, cfg):
    dim, depth, heads, patch = int(cfg["dim"]), int(cfg["depth"]), int(cfg["heads"]), int(cfg["patch"])
    t = F.conv2d(x, p["patch_embed.proj.weight"], p["patch_embed.proj.bias"], stride=patch)
    t = t.flatten(2).transpose(1, 2)
    t = torch.cat([p["patch_embed.cls_token"].expand(x.shape[0], -1, -1), t], dim=1) + p["patch_embed.pos_embed"]
    hd = dim // heads
    for i in range(depth):
        b = "blocks.%d." % i
        h = F.layer_norm(t, (dim,), p[b + "norm1.weight"], p[b + "norm1.bias"], eps=1e-6)
        qkv = F.linear(h, p[b + "attn.qkv.weight"], p[b + "attn.qkv.bias"])
        n_, tok = qkv.shape[0], qkv.shape[1]
        qkv = qkv.reshape(n_, tok, 3, heads, hd).permute(2, 0, 3, 1, 4)
        att = torch.softmax(qkv[0] @ qkv[1].transpose(-2, -1) / hd ** 0.5, dim=-1)
        o = (att @ qkv[2]).transpose(1, 2).reshape(n_, tok, dim)
        t = t + F.linear(o, p[b + "attn.proj.weight"], p[b + "attn.proj.bias"])
        h = F.layer_norm(t, (dim,), p[b + "norm2.weight"], p[b + "norm2.bias"], eps=1e-6)
        h = F.linear(F.gelu(F.linear(h, p[b + "mlp.fc1.weight"], p[b + "mlp.fc1.bias"])),
                     p[b + "mlp.fc2.weight"], p[b + "mlp.fc2.bias"])
        t = t + h
    c = F.layer_norm(t[:, 0], (dim,), p["norm.weight"], p["norm.bias"], eps=1e-6)
    return F.linear(c, p["head.weight"], p["head.bias"])


def main(directory):
    cfg = dict(line.split("=", 1) for line in open(directory + "/config.txt").read().split())
    tensors = read_tensors(directory + "/in.bin")
    x = tensors.pop("input").requires_grad_(True)
    dy = tensors.pop("dy")
    params = {}
    for name, t in tensors.items():
        params[name] = t if name.endswith("running_mean") or name.endswith("running_var") else t.requires_grad_(True)
    y = (resnet if cfg["model"] == "resnet" else vit)(params, x, cfg)
    y.backward(dy)
    out = {"output": y, "input.grad": x.grad}
    for name, t in params.items():
        if t.requires_grad:
            out[name + ".grad"] = t.grad
        else:
            out[name] = t  # running statistics after the update
    write_tensors(directory + "/out.bin", out)


if __name__ == "__main__":
    main(sys.argv[1])
