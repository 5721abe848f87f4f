#include <tspipe/cpu/layers/conv2d.hpp>

#include <tspipe/cpu/gemm.hpp>
#include <tspipe/cpu/parallel.hpp>
#include <tspipe/cpu/workspace.hpp>

#include <algorithm>
#include <cmath>

namespace tspipe::cpu {

Conv2d::Conv2d(const nn::Conv2dOptions& options, uint64_t seed, std::string label)
    : opt_(options), label_(std::move(label)) {
  nn::shells::check_conv_options(who(), opt_);
  weight = nn::shells::conv_initial_weight(opt_, seed);
  weight_grad = Tensor::zeros(weight.shape());
  if (opt_.bias) {
    bias = nn::shells::conv_initial_bias(opt_, seed);
    bias_grad = Tensor::zeros({opt_.out_channels});
  }
}

bool Conv2d::is_pointwise() const noexcept {
  return opt_.kernel == 1 && opt_.stride == 1 && opt_.padding == 0;
}

kernels::ConvGeometry Conv2d::geometry(const Tensor& x) const {
  nn::shells::check_conv_input(who(), x, opt_);
  return {opt_.in_channels, x.size(2),    x.size(3),    opt_.kernel,   opt_.kernel,  opt_.stride,
          opt_.stride,      opt_.padding, opt_.padding, opt_.dilation, opt_.dilation};
}

nn::Shape Conv2d::output_shape(const Tensor& x, const kernels::ConvGeometry& g) const {
  return {x.size(0), opt_.out_channels, g.out_h(), g.out_w()};
}

namespace {

// A GEMM should span about this many output pixels (columns): then packing W, which OpenBLAS
// does once per GEMM, costs under 1/kTargetColumns of the multiply-adds.
constexpr int64_t kTargetColumns = 2048;
// ...but a column matrix holds at most this many floats (32 MiB), so scratch stays bounded.
constexpr int64_t kMaxColumnFloats = int64_t{8} << 20;
// Work (floats touched) below which a loop is not worth waking a thread for.
constexpr int64_t kParallelGrain = int64_t{1} << 15;

int64_t grain_for(int64_t work_per_item) { return std::max<int64_t>(1, kParallelGrain / work_per_item); }

}  // namespace

struct Conv2d::Lowering {
  kernels::ConvGeometry g;
  int64_t batch, out, ck, pixels, image, plane;
  int64_t nb;  // images per GEMM
  bool direct;  // nb = 1 and pointwise: the image is its own column matrix
};

Conv2d::Lowering Conv2d::lowering(const Tensor& x) const {
  Lowering l{};
  l.g = geometry(x);
  l.batch = x.size(0);
  l.out = opt_.out_channels;
  l.ck = opt_.in_channels * opt_.kernel * opt_.kernel;
  l.pixels = l.g.out_h() * l.g.out_w();
  l.plane = l.g.height * l.g.width;
  l.image = opt_.in_channels * l.plane;
  const int64_t by_columns = (kTargetColumns + l.pixels - 1) / l.pixels;
  const int64_t by_memory = std::max<int64_t>(1, kMaxColumnFloats / (l.ck * l.pixels));
  l.nb = std::clamp<int64_t>(std::min(by_columns, by_memory), 1, l.batch);
  l.direct = l.nb == 1 && is_pointwise();
  return l;
}

namespace {

/// col [C·k·k, nb·P] for images n0 … n0+nb−1 of x (or x's image itself when direct).
const float* columns(const float* x, const auto& l, int64_t n0, int64_t nb) {
  if (l.direct) return x + n0 * l.image;
  float* col = scratch(ScratchSlot::columns, static_cast<size_t>(l.ck * nb * l.pixels));
  const int64_t channels = l.g.channels, ld = nb * l.pixels;
  const int64_t taps = l.g.kernel_h * l.g.kernel_w;
  parallel_for(nb * channels, grain_for(taps * l.pixels), [&](int64_t begin, int64_t end) {
    for (int64_t j = begin; j < end; ++j) {
      const int64_t i = j / channels, c = j % channels;
      kernels::im2col_channel(x + (n0 + i) * l.image, l.g, c, col + i * l.pixels, ld);
    }
  });
  return col;
}

/// dY of images n0 … n0+nb−1 as one matrix [out, nb·P] (dy itself when nb = 1).
const float* gathered_dy(const float* dy, const auto& l, int64_t n0, int64_t nb) {
  if (nb == 1) return dy + n0 * l.out * l.pixels;
  float* g = scratch(ScratchSlot::gathered, static_cast<size_t>(l.out * nb * l.pixels));
  const int64_t p = l.pixels;
  parallel_for(nb * l.out, grain_for(p), [&](int64_t begin, int64_t end) {
    for (int64_t j = begin; j < end; ++j) {
      const int64_t i = j / l.out, o = j % l.out;
      std::copy_n(dy + ((n0 + i) * l.out + o) * p, p, g + o * nb * p + i * p);
    }
  });
  return g;
}

}  // namespace

Tensor Conv2d::infer(const Tensor& x) {
  const Lowering l = lowering(x);
  Tensor y({l.batch, l.out, l.g.out_h(), l.g.out_w()});
  const float* b = bias.defined() ? bias.data() : nullptr;
  const int64_t p = l.pixels;
  for (int64_t n0 = 0; n0 < l.batch; n0 += l.nb) {
    const int64_t nb = std::min(l.nb, l.batch - n0);
    const float* col = columns(x.data(), l, n0, nb);
    float* yn = y.data() + n0 * l.out * p;
    if (nb == 1) {
      gemm(false, false, l.out, p, l.ck, 1.0f, weight.data(), l.ck, col, p, 0.0f, yn, p);
      if (b)
        parallel_for(l.out, grain_for(p), [&](int64_t begin, int64_t end) {
          for (int64_t o = begin; o < end; ++o)
            for (int64_t q = 0; q < p; ++q) yn[o * p + q] += b[o];
        });
      continue;
    }
    const int64_t ld = nb * p;
    float* result = scratch(ScratchSlot::gathered, static_cast<size_t>(l.out * ld));
    gemm(false, false, l.out, ld, l.ck, 1.0f, weight.data(), l.ck, col, ld, 0.0f, result, ld);
    // Scatter [out, nb·P] back to [nb, out, P], adding the bias on the way.
    parallel_for(nb * l.out, grain_for(p), [&](int64_t begin, int64_t end) {
      for (int64_t j = begin; j < end; ++j) {
        const int64_t i = j / l.out, o = j % l.out;
        const float* src = result + o * ld + i * p;
        float* dst = yn + (i * l.out + o) * p;
        const float add = b ? b[o] : 0.0f;
        for (int64_t q = 0; q < p; ++q) dst[q] = src[q] + add;
      }
    });
  }
  return y;
}

std::pair<Tensor, Context> Conv2d::forward(const Tensor& x) { return nn::shells::saving<Backend>(infer(x), {x}); }

void Conv2d::backward_chunks(const Tensor& x, const Tensor& dy, Tensor* dx, bool weights) {
  const Lowering l = lowering(x);
  nn::shells::check_grad(who(), dy, output_shape(x, l.g));
  if (dx) *dx = Tensor(x.shape());  // every plane is zeroed below before col2im adds into it
  const int64_t p = l.pixels, channels = l.g.channels, taps = l.g.kernel_h * l.g.kernel_w;
  for (int64_t n0 = 0; n0 < l.batch; n0 += l.nb) {
    const int64_t nb = std::min(l.nb, l.batch - n0), ld = nb * p;
    const float* dyp = gathered_dy(dy.data(), l, n0, nb);
    if (dx) {
      float* dxn = dx->data() + n0 * l.image;
      if (l.direct) {
        gemm(true, false, l.ck, p, l.out, 1.0f, weight.data(), l.ck, dyp, p, 0.0f, dxn, p);  // dx_n = Wᵀ·dy_n
      } else {
        float* dcol = scratch(ScratchSlot::columns, static_cast<size_t>(l.ck * ld));
        gemm(true, false, l.ck, ld, l.out, 1.0f, weight.data(), l.ck, dyp, ld, 0.0f, dcol, ld);  // dcol = Wᵀ·dY
        parallel_for(nb * channels, grain_for(taps * p), [&](int64_t begin, int64_t end) {
          for (int64_t j = begin; j < end; ++j) {
            const int64_t i = j / channels, c = j % channels;
            float* image = dxn + i * l.image;
            std::fill_n(image + c * l.plane, l.plane, 0.0f);
            kernels::col2im_add_channel(dcol + i * p, l.g, c, ld, image);
          }
        });
      }
    }
    if (weights) {
      const float* col = columns(x.data(), l, n0, nb);  // after col2im: both use the columns slot
      const int64_t ldc = l.direct ? p : ld;
      gemm(false, true, l.out, l.ck, ld, 1.0f, dyp, ld, col, ldc, 1.0f, weight_grad.data(), l.ck);  // dW += dY·colᵀ
      if (bias.defined()) {
        float* db = bias_grad.data();
        parallel_for(l.out, grain_for(ld), [&](int64_t begin, int64_t end) {
          for (int64_t o = begin; o < end; ++o) {
            float s = 0.0f;
            for (int64_t q = 0; q < ld; ++q) s += dyp[o * ld + q];
            db[o] += s;
          }
        });
      }
    }
  }
}

Tensor Conv2d::backward(Context& ctx, const Tensor& dy) {
  Tensor dx;
  backward_chunks(nn::shells::saved_tensor(who(), ctx), dy, &dx, true);
  return dx;
}

Tensor Conv2d::backward_input(Context& ctx, const Tensor& dy) {
  Tensor dx;
  backward_chunks(nn::shells::saved_tensor(who(), ctx), dy, &dx, false);
  return dx;
}

void Conv2d::backward_weight(Context& ctx, const Tensor& dy) {
  backward_chunks(nn::shells::saved_tensor(who(), ctx), dy, nullptr, true);
}

std::vector<Parameter> Conv2d::parameters() {
  return nn::shells::weight_and_bias<Backend>(weight, weight_grad, bias, bias_grad);
}

}  // namespace tspipe::cpu
