#pragma once
// im2col / col2im for one image, the convolution-as-GEMM lowering.
// col has rows (c, ki, kj) and columns (oh, ow): [C·kh·kw, OH·OW], so that
//   y[out, OH·OW] = W[out, C·kh·kw] · col.
#include <tspipe/kernels/config.hpp>

#include <cstdint>

namespace tspipe::kernels {

struct ConvGeometry {
  int64_t channels, height, width;       // input image
  int64_t kernel_h, kernel_w;
  int64_t stride_h, stride_w;
  int64_t pad_h, pad_w;
  int64_t dilation_h, dilation_w;
  TSPIPE_HOST_DEVICE int64_t out_h() const {
    return (height + 2 * pad_h - dilation_h * (kernel_h - 1) - 1) / stride_h + 1;
  }
  TSPIPE_HOST_DEVICE int64_t out_w() const {
    return (width + 2 * pad_w - dilation_w * (kernel_w - 1) - 1) / stride_w + 1;
  }
};

/// Fills col [C·kh·kw, OH·OW] from one image [C, H, W]; padding reads as zero.
TSPIPE_HOST_DEVICE inline void im2col(const float* image, const ConvGeometry& g, float* col) {
  const int64_t oh_n = g.out_h(), ow_n = g.out_w();
  for (int64_t c = 0; c < g.channels; ++c)
    for (int64_t ki = 0; ki < g.kernel_h; ++ki)
      for (int64_t kj = 0; kj < g.kernel_w; ++kj) {
        float* row = col + ((c * g.kernel_h + ki) * g.kernel_w + kj) * oh_n * ow_n;
        const float* plane = image + c * g.height * g.width;
        for (int64_t oh = 0; oh < oh_n; ++oh) {
          const int64_t ih = oh * g.stride_h - g.pad_h + ki * g.dilation_h;
          float* out = row + oh * ow_n;
          if (ih < 0 || ih >= g.height) {
            for (int64_t ow = 0; ow < ow_n; ++ow) out[ow] = 0.0f;
            continue;
          }
          const float* in = plane + ih * g.width;
          const int64_t shift = kj * g.dilation_w - g.pad_w;
          for (int64_t ow = 0; ow < ow_n; ++ow) {
            const int64_t iw = ow * g.stride_w + shift;
            out[ow] = (iw >= 0 && iw < g.width) ? in[iw] : 0.0f;
          }
        }
      }
}

/// The adjoint of im2col: adds col [C·kh·kw, OH·OW] into image [C, H, W] (which the caller zeroes).
TSPIPE_HOST_DEVICE inline void col2im_add(const float* col, const ConvGeometry& g, float* image) {
  const int64_t oh_n = g.out_h(), ow_n = g.out_w();
  for (int64_t c = 0; c < g.channels; ++c)
    for (int64_t ki = 0; ki < g.kernel_h; ++ki)
      for (int64_t kj = 0; kj < g.kernel_w; ++kj) {
        const float* row = col + ((c * g.kernel_h + ki) * g.kernel_w + kj) * oh_n * ow_n;
        float* plane = image + c * g.height * g.width;
        for (int64_t oh = 0; oh < oh_n; ++oh) {
          const int64_t ih = oh * g.stride_h - g.pad_h + ki * g.dilation_h;
          if (ih < 0 || ih >= g.height) continue;
          const float* in = row + oh * ow_n;
          float* out = plane + ih * g.width;
          const int64_t shift = kj * g.dilation_w - g.pad_w;
          for (int64_t ow = 0; ow < ow_n; ++ow) {
            const int64_t iw = ow * g.stride_w + shift;
            if (iw >= 0 && iw < g.width) out[iw] += in[ow];
          }
        }
      }
}

}  // namespace tspipe::kernels
