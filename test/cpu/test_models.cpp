// ResNet and ViT built on the CPU backend: parameter counts of every preset (the published
// figures: torchvision / timm), output shapes, whole-model gradients, determinism, naming.
#include "gradcheck.hpp"

#include <tspipe/nn/models/resnet.hpp>
#include <tspipe/nn/models/vit.hpp>

#include <doctest/doctest.h>

#include <set>

using namespace tspipe;
using namespace tspipe::nn::models;
using tspipe::test::bit_equal;
using tspipe::test::check_gradients;
using B = cpu::Backend;
using cpu::Tensor;

namespace {
nn::Sequential<B> chain(std::vector<nn::LayerPtr<B>> blocks) { return nn::Sequential<B>(std::move(blocks)); }
}  // namespace

TEST_CASE("ResNet presets: torchvision parameter counts and output shapes") {
  const std::pair<const char*, int64_t> presets[] = {{"resnet18", 11689512}, {"resnet34", 21797672},
                                                     {"resnet50", 25557032}, {"resnet101", 44549160},
                                                     {"resnet152", 60192808}};
  for (auto [name, count] : presets) {
    CAPTURE(name);
    auto model = chain(resnet<B>(resnet_preset(name, 1000)));
    CHECK(model.parameter_count() == count);
    model.set_training(false);  // batch 1: BatchNorm needs running statistics
    CHECK(model.infer(Tensor::randn({1, 3, 32, 32}, 1)).shape() == nn::Shape{1, 1000});
  }
}

TEST_CASE("ResNet small-image stem and width multiplier") {
  auto cfg = resnet_preset("resnet18_small");
  CHECK(cfg.stem == Stem::small_image);
  auto blocks = resnet<B>(cfg);
  CHECK(blocks.size() == 1 + 8 + 1);  // stem, 8 basic blocks, head
  auto model = chain(std::move(blocks));
  CHECK(model.infer(Tensor::randn({2, 3, 32, 32}, 2)).shape() == nn::Shape{2, 512});

  ResNetConfig half{.depth = 50, .width = 0.5, .stem = Stem::small_image, .in_channels = 1, .num_classes = 10};
  auto m50 = chain(resnet<B>(half));
  CHECK(m50.infer(Tensor::randn({2, 1, 28, 28}, 3)).shape() == nn::Shape{2, 10});
  CHECK(resnet<B>(half).size() == 1 + 16 + 1);
}

TEST_CASE("compact ResNet: pooled stem, three stages of one basic block (the examples' ResNet-8×0.5)") {
  const ResNetConfig cfg{.depth = 18, .width = 0.5, .stem = Stem::small_image_pooled, .in_channels = 1,
                         .num_classes = 10, .residual_stages = 3, .blocks_per_stage = 1};
  auto blocks = resnet<B>(cfg);
  CHECK(blocks.size() == 1 + 3 + 1);  // stem, one block per stage, head
  auto model = chain(std::move(blocks));
  // By hand, channels 32/64/128: stem 3·3·1·32 + BN 2·32; stage 1: 2·(3·3·32·32) + 2 BN(32);
  // stage 2: 3·3·32·64 + 3·3·64·64 + 1·1·32·64 (downsample) + 3 BN(64); stage 3 likewise at
  // 64→128; head 128·10 + 10.
  const int64_t stem = 9 * 32 + 64, stage1 = 2 * 9 * 32 * 32 + 2 * 64;
  const int64_t stage2 = 9 * 32 * 64 + 9 * 64 * 64 + 32 * 64 + 3 * 128;
  const int64_t stage3 = 9 * 64 * 128 + 9 * 128 * 128 + 64 * 128 + 3 * 256, head = 128 * 10 + 10;
  CHECK(model.parameter_count() == stem + stage1 + stage2 + stage3 + head);  // 308074
  CHECK(model.infer(Tensor::randn({2, 1, 28, 28}, 4)).shape() == nn::Shape{2, 10});

  // The 2×2 max-pool halves the stem's 28×28 before the stages: 14×14, 7×7, then 4×4.
  auto stem_only = chain([&] {
    auto all = resnet<B>(cfg);
    std::vector<nn::LayerPtr<B>> first;
    first.push_back(std::move(all.front()));
    return first;
  }());
  CHECK(stem_only.infer(Tensor::randn({2, 1, 28, 28}, 5)).shape() == nn::Shape{2, 32, 14, 14});
  ResNetConfig backbone = cfg;
  backbone.num_classes = 0;  // pooled features
  CHECK(chain(resnet<B>(backbone)).infer(Tensor::randn({2, 1, 28, 28}, 6)).shape() == nn::Shape{2, 128});

  ResNetConfig deeper = cfg;
  deeper.blocks_per_stage = 3;  // ResNet-20's layout: 6·3 + 2
  CHECK(resnet<B>(deeper).size() == 1 + 9 + 1);
  ResNetConfig bad = cfg;
  bad.residual_stages = 0;
  CHECK_THROWS_WITH_AS(resnet<B>(bad), doctest::Contains("residual_stages must lie in 1..4"), Error);
  bad = cfg;
  bad.blocks_per_stage = -1;
  CHECK_THROWS_WITH_AS(resnet<B>(bad), doctest::Contains("blocks_per_stage must be >= 0"), Error);
}

TEST_CASE("ViT presets: timm parameter counts and output shapes") {
  const std::pair<const char*, int64_t> presets[] = {
      {"vit_tiny", 5717416}, {"vit_small", 22050664}, {"vit_base", 86567656}, {"vit_large", 304326632}};
  for (auto [name, count] : presets) {
    CAPTURE(name);
    const ViTConfig at224 = vit_preset(name, 224, 16, 1000);
    // Only the position embedding depends on the image size: 197 tokens at 224/16, 5 at 32/16.
    auto model = chain(vit<B>(vit_preset(name, 32, 16, 1000)));
    CHECK(model.parameter_count() + (197 - 5) * at224.dim == count);
    CHECK(model.infer(Tensor::randn({1, 3, 32, 32}, 4)).shape() == nn::Shape{1, 1000});
  }
  auto tiny = chain(vit<B>(vit_preset("vit_tiny", 224, 16, 1000)));
  CHECK(tiny.parameter_count() == 5717416);
  auto features = chain(vit<B>(vit_preset("vit_tiny", 32, 4)));
  CHECK(features.infer(Tensor::randn({2, 3, 32, 32}, 5)).shape() == nn::Shape{2, 192});
}

TEST_CASE("unknown presets and bad configurations are rejected by name") {
  CHECK_THROWS_WITH_AS(resnet_preset("resnet20"), doctest::Contains("ResNet: unknown preset 'resnet20'"), Error);
  CHECK_THROWS_WITH_AS(resnet<B>(ResNetConfig{.depth = 20}), doctest::Contains("ResNet: unknown depth 20"), Error);
  CHECK_THROWS_AS(resnet<B>(ResNetConfig{.depth = 18, .width = 0.0}), Error);
  CHECK_THROWS_WITH_AS(vit_preset("vit_huge"), doctest::Contains("ViT: unknown preset 'vit_huge'"), Error);
  CHECK_THROWS_AS(vit<B>(ViTConfig{.image_size = 30, .patch = 4}), Error);
  CHECK_THROWS_AS(vit<B>(ViTConfig{.dim = 10, .heads = 3}), Error);
  auto model = chain(resnet<B>(resnet_preset("resnet18_small")));
  CHECK_THROWS_WITH_AS(model.infer(Tensor::zeros({2, 1, 32, 32})),
                       doctest::Contains("Conv2d 'conv1': input has 1 channels, expected 3"), Error);
}

TEST_CASE("parameter names are unique and follow torchvision / timm") {
  auto r = chain(resnet<B>(resnet_preset("resnet50", 10)));
  std::set<std::string> names;
  for (auto& p : r.parameters()) CHECK(names.insert(p.name).second);
  for (const char* n : {"conv1.weight", "bn1.bias", "layer1.0.conv3.weight", "layer2.0.downsample.0.weight",
                        "layer2.0.downsample.1.weight", "layer4.2.bn3.weight", "fc.weight", "fc.bias"})
    CHECK_MESSAGE(names.count(n) == 1, n);
  std::set<std::string> buffers;
  for (auto& b : r.buffers()) buffers.insert(b.name);
  CHECK(buffers.count("layer3.5.bn2.running_mean") == 1);

  auto v = chain(vit<B>(ViTConfig{.image_size = 8, .patch = 4, .dim = 8, .depth = 2, .heads = 2, .num_classes = 3}));
  names.clear();
  for (auto& p : v.parameters()) CHECK(names.insert(p.name).second);
  for (const char* n : {"patch_embed.cls_token", "patch_embed.pos_embed", "patch_embed.proj.weight",
                        "blocks.0.norm1.weight", "blocks.1.attn.qkv.weight", "blocks.1.attn.proj.bias",
                        "blocks.0.mlp.fc1.weight", "blocks.1.mlp.fc2.bias", "blocks.0.norm2.bias", "norm.weight",
                        "head.weight"})
    CHECK_MESSAGE(names.count(n) == 1, n);
  for (auto& p : v.parameters())
    CHECK_MESSAGE(p.no_weight_decay == (p.value->dim() == 1 || p.name.find("pos_embed") != std::string::npos ||
                                        p.name.find("cls_token") != std::string::npos),
                  p.name);
}

// Finite differences are meaningless across ReLU kinks, and a whole ReLU network has thousands of
// units near zero (BatchNorm centres them there), so these whole-model checks use the smooth GELU
// variant of the same architecture; ReLU itself is checked alone (test_layers) and the ReLU ResNet
// is compared with PyTorch in cpu_torch_compare.
// Training-mode BatchNorm over a handful of values per channel is strongly curved, so the
// central-difference step there is 1e-4 (its O(ε²) error then stays below float32's resolution).
// The bottleneck network is not checked this way in training mode: through 50 layers of
// training-mode BatchNorm over 16 values per channel the float32 forward is too noisy for a
// central difference at any step (1e-4, 3e-4, 1e-3; batch 8; 32×32 inputs): for input seeds
// 12…19 the numeric side missed the analytic one by up to 18% for 7 of the 8 seeds, whether the
// convolutions ran as one GEMM per image or one per group of images. Its training-mode
// gradients are compared exactly (against float64 PyTorch) in cpu_torch_compare, and in eval
// mode below.
TEST_CASE("whole small ResNet (training mode): finite-difference gradients, basic blocks") {
  auto basic = chain(resnet<B>(ResNetConfig{.depth = 18, .width = 0.125, .stem = Stem::small_image, .num_classes = 10,
                                            .seed = 1, .activation = ResNetActivation::gelu}));
  check_gradients(basic, Tensor::randn({4, 3, 16, 16}, 11), 1e-4, 2e-2);
}

// (The ImageNet stem's max-pool has kinks — window maxima swap under any step — so that stem is
// checked layer by layer in test_layers and against PyTorch in cpu_torch_compare.)
TEST_CASE("whole small ResNet (eval mode): finite-difference gradients, bottleneck blocks") {
  auto warm_up = [](nn::Sequential<B>& m, nn::Shape shape) {
    for (uint64_t i = 0; i < 3; ++i) (void)m.forward(Tensor::randn(shape, 20 + i));
    m.set_training(false);  // running statistics now differ from the initial 0 / 1
  };
  auto bottleneck = chain(resnet<B>(ResNetConfig{.depth = 50, .width = 0.0625, .stem = Stem::small_image,
                                                 .num_classes = 5, .seed = 2, .activation = ResNetActivation::gelu}));
  warm_up(bottleneck, {4, 3, 16, 16});
  check_gradients(bottleneck, Tensor::randn({2, 3, 16, 16}, 12), 1e-3, 1e-2);
}

TEST_CASE("whole small ViT: finite-difference gradients") {
  auto model = chain(vit<B>(ViTConfig{.image_size = 8, .patch = 4, .in_channels = 2, .dim = 16, .depth = 2, .heads = 2,
                                      .num_classes = 5, .seed = 3}));
  check_gradients(model, Tensor::randn({2, 2, 8, 8}, 13));
}

TEST_CASE("same seed ⇒ identical bits: weights, outputs and gradients") {
  auto run = [](uint64_t seed) {
    auto m = chain(resnet<B>(ResNetConfig{.depth = 18, .width = 0.25, .stem = Stem::small_image, .num_classes = 10, .seed = seed}));
    auto [y, ctx] = m.forward(Tensor::randn({4, 3, 16, 16}, 99));
    m.backward(ctx, Tensor::randn(y.shape(), 98));
    std::vector<Tensor> out{y};
    for (auto& p : m.parameters()) {
      out.push_back(p.value->clone());
      out.push_back(p.grad->clone());
    }
    for (auto& b : m.buffers()) out.push_back(b.value->clone());
    return out;
  };
  const auto a = run(5), b = run(5), c = run(6);
  REQUIRE(a.size() == b.size());
  bool all_equal = true;
  for (size_t i = 0; i < a.size(); ++i) all_equal = all_equal && bit_equal(a[i], b[i]);
  CHECK(all_equal);
  CHECK_FALSE(bit_equal(a[1], c[1]));  // another seed, other weights

  auto v1 = chain(vit<B>(ViTConfig{.image_size = 8, .patch = 4, .dim = 8, .depth = 1, .heads = 2, .dropout = 0.1f, .seed = 4}));
  auto v2 = chain(vit<B>(ViTConfig{.image_size = 8, .patch = 4, .dim = 8, .depth = 1, .heads = 2, .dropout = 0.1f, .seed = 4}));
  const Tensor x = Tensor::randn({2, 3, 8, 8}, 1);
  CHECK(bit_equal(v1.forward(x).first, v2.forward(x).first));  // dropout masks too
}

TEST_CASE("blocks cut anywhere: running the block list piecewise equals the whole model") {
  auto blocks = resnet<B>(ResNetConfig{.depth = 18, .width = 0.125, .stem = Stem::small_image, .num_classes = 10});
  const Tensor x = Tensor::randn({2, 3, 16, 16}, 7);
  for (auto& b : blocks) b->set_training(false);
  Tensor h = x;
  for (auto& b : blocks) h = b->infer(h);
  auto whole = chain(std::move(blocks));
  CHECK(bit_equal(h, whole.infer(x)));
}

TEST_CASE("split backward (input grads, then weight grads) equals the full backward on whole models") {
  auto check_split = [](nn::Sequential<B>& m, const Tensor& x) {
    auto [y, ctx] = m.forward(x);
    const Tensor dy = Tensor::randn(y.shape(), 3);
    m.zero_grad();
    const Tensor dx = m.backward(ctx, dy);
    std::vector<Tensor> full;
    for (auto& p : m.parameters()) full.push_back(p.grad->clone());
    m.zero_grad();
    auto [y2, ctx2] = m.forward(x);
    const Tensor dx2 = m.backward_input(ctx2, dy);
    m.backward_weight(ctx2, dy);
    CHECK(bit_equal(dx, dx2));
    size_t i = 0;
    bool same = true;
    for (auto& p : m.parameters()) same = same && bit_equal(full[i++], *p.grad);
    CHECK(same);
  };
  auto r = chain(resnet<B>(ResNetConfig{.depth = 50, .width = 0.0625, .stem = Stem::small_image, .num_classes = 4}));
  r.set_training(false);  // eval: forward does not move running statistics between the two runs
  check_split(r, Tensor::randn({2, 3, 16, 16}, 1));
  auto v = chain(vit<B>(ViTConfig{.image_size = 8, .patch = 4, .dim = 8, .depth = 2, .heads = 2, .num_classes = 3}));
  check_split(v, Tensor::randn({2, 3, 8, 8}, 2));
}
