// Channels-last layouts: the moves between NCHW and NHWC on a hand-written example and as exact
// inverses, and a convolution computed directly on NHWC data with an NHWC ([K, R, S, C]) filter —
// what cuDNN's channels-last kernels compute — equal to the CPU backend's NCHW convolution.
#include <tspipe/cpu/backend.hpp>
#include <tspipe/kernels/layout.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <vector>

using tspipe::cpu::Backend;
using tspipe::kernels::Dims4;
using tspipe::nn::Tensor;

TEST_CASE("NCHW to NHWC on a hand-written example, and back") {
  // N = 1, C = 3, H = 2, W = 2: channel c holds 10c + position.
  const std::vector<float> nchw = {0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23};
  const Dims4 d{1, 3, 2, 2};
  std::vector<float> nhwc(12), back(12);
  tspipe::kernels::nchw_to_nhwc(nchw.data(), nhwc.data(), d);
  CHECK(nhwc == std::vector<float>{0, 10, 20, 1, 11, 21, 2, 12, 22, 3, 13, 23});
  tspipe::kernels::nhwc_to_nchw(nhwc.data(), back.data(), d);
  CHECK(back == nchw);
}

TEST_CASE("the moves are exact inverses on odd shapes") {
  for (const Dims4 d : {Dims4{2, 5, 3, 7}, Dims4{1, 1, 4, 4}, Dims4{3, 64, 1, 1}, Dims4{2, 3, 9, 1}}) {
    const Tensor x = Tensor::randn({d.n, d.c, d.h, d.w}, 17);
    std::vector<float> nhwc(static_cast<std::size_t>(d.elements())), back(nhwc.size());
    tspipe::kernels::nchw_to_nhwc(x.data(), nhwc.data(), d);
    tspipe::kernels::nhwc_to_nchw(nhwc.data(), back.data(), d);
    CHECK(back == std::vector<float>(x.data(), x.data() + d.elements()));
  }
}

TEST_CASE("a direct NHWC convolution with a [K, R, S, C] filter equals the CPU backend's NCHW convolution") {
  for (const auto& o : {tspipe::nn::Conv2dOptions{3, 5, 3, 1, 1, 1, false}, tspipe::nn::Conv2dOptions{4, 6, 3, 2, 1, 1, false},
                        tspipe::nn::Conv2dOptions{2, 3, 3, 1, 2, 2, false}, tspipe::nn::Conv2dOptions{8, 4, 1, 1, 0, 1, false}}) {
    CAPTURE(o.stride);
    CAPTURE(o.dilation);
    auto conv = Backend::conv2d(o, 21, "conv");
    const Dims4 in{2, o.in_channels, 7, 6};
    const Tensor x = Tensor::randn({in.n, in.c, in.h, in.w}, 23);
    const Tensor y = conv->infer(x);  // NCHW
    const Dims4 out{y.size(0), y.size(1), y.size(2), y.size(3)};
    const Tensor& weight = *conv->parameters().at(0).value;  // [K, C, R, S]
    const Dims4 filter{o.out_channels, o.in_channels, o.kernel, o.kernel};

    std::vector<float> x_nhwc(static_cast<std::size_t>(in.elements())), w_krsc(static_cast<std::size_t>(filter.elements()));
    tspipe::kernels::nchw_to_nhwc(x.data(), x_nhwc.data(), in);
    tspipe::kernels::nchw_to_nhwc(weight.data(), w_krsc.data(), filter);
    std::vector<float> y_nhwc(static_cast<std::size_t>(out.elements()), 0.0f);
    for (std::int64_t n = 0; n < out.n; ++n)
      for (std::int64_t p = 0; p < out.h; ++p)
        for (std::int64_t q = 0; q < out.w; ++q)
          for (std::int64_t k = 0; k < out.c; ++k) {
            double sum = 0.0;
            for (std::int64_t r = 0; r < o.kernel; ++r)
              for (std::int64_t s = 0; s < o.kernel; ++s) {
                const std::int64_t h = p * o.stride + r * o.dilation - o.padding, w = q * o.stride + s * o.dilation - o.padding;
                if (h < 0 || h >= in.h || w < 0 || w >= in.w) continue;
                for (std::int64_t c = 0; c < in.c; ++c)
                  sum += static_cast<double>(x_nhwc[static_cast<std::size_t>(tspipe::kernels::nhwc_offset(in, n, c, h, w))]) *
                         w_krsc[static_cast<std::size_t>(tspipe::kernels::nhwc_offset(filter, k, c, r, s))];
              }
            y_nhwc[static_cast<std::size_t>(tspipe::kernels::nhwc_offset(out, n, k, p, q))] = static_cast<float>(sum);
          }
    std::vector<float> y_back(y_nhwc.size());
    tspipe::kernels::nhwc_to_nchw(y_nhwc.data(), y_back.data(), out);
    double worst = 0.0;
    for (std::size_t i = 0; i < y_back.size(); ++i) worst = std::max(worst, std::fabs(static_cast<double>(y_back[i]) - y.data()[i]));
    CHECK(worst < 1e-5);
  }
}
