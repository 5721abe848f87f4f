#pragma once
// im2col / col2im, the convolution-as-GEMM lowering.
// col has rows (c, ki, kj) and columns (oh, ow): [C·kh·kw, OH·OW], so that
//   y[out, OH·OW] = W[out, C·kh·kw] · col.
// The *_channel forms handle one input channel and take the column matrix's row stride `ld`, so
// that several images can sit side by side in one matrix (image i at column offset i·OH·OW) for
// a single GEMM over a batch, and so that channels can be split across threads (each channel
// owns its kh·kw rows of col and its plane of the image).
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

/// The output columns [*lo, *hi) of a row whose input index ow·stride + shift lies in [0, width):
/// outside it the kernel tap reads padding. Computing the range once keeps the inner loops
/// branch-free (and vectorisable for stride 1).
TSPIPE_HOST_DEVICE inline void conv_valid_range(int64_t shift, int64_t stride, int64_t width, int64_t out_n,
                                                int64_t* lo, int64_t* hi) {
  int64_t l = shift >= 0 ? 0 : (-shift + stride - 1) / stride;
  int64_t h = width - 1 - shift < 0 ? 0 : (width - 1 - shift) / stride + 1;
  if (h > out_n) h = out_n;
  if (l > h) l = h;
  *lo = l;
  *hi = h;
}

/// Fills the kh·kw rows of channel c of col (row stride ld) from image [C, H, W]; padding reads as zero.
TSPIPE_HOST_DEVICE inline void im2col_channel(const float* image, const ConvGeometry& g, int64_t c, float* col,
                                              int64_t ld) {
  const int64_t oh_n = g.out_h(), ow_n = g.out_w();
  const float* plane = image + c * g.height * g.width;
  for (int64_t ki = 0; ki < g.kernel_h; ++ki)
    for (int64_t kj = 0; kj < g.kernel_w; ++kj) {
      float* row = col + ((c * g.kernel_h + ki) * g.kernel_w + kj) * ld;
      const int64_t shift = kj * g.dilation_w - g.pad_w;
      int64_t lo, hi;
      conv_valid_range(shift, g.stride_w, g.width, ow_n, &lo, &hi);
      for (int64_t oh = 0; oh < oh_n; ++oh) {
        const int64_t ih = oh * g.stride_h - g.pad_h + ki * g.dilation_h;
        float* out = row + oh * ow_n;
        if (ih < 0 || ih >= g.height) {
          for (int64_t ow = 0; ow < ow_n; ++ow) out[ow] = 0.0f;
          continue;
        }
        const float* in = plane + ih * g.width;
        for (int64_t ow = 0; ow < lo; ++ow) out[ow] = 0.0f;
        if (g.stride_w == 1)
          for (int64_t ow = lo; ow < hi; ++ow) out[ow] = in[ow + shift];
        else
          for (int64_t ow = lo; ow < hi; ++ow) out[ow] = in[ow * g.stride_w + shift];
        for (int64_t ow = hi; ow < ow_n; ++ow) out[ow] = 0.0f;
      }
    }
}

/// The adjoint of im2col_channel: adds the kh·kw rows of channel c of col (row stride ld) into
/// plane c of image (which the caller zeroes).
TSPIPE_HOST_DEVICE inline void col2im_add_channel(const float* col, const ConvGeometry& g, int64_t c, int64_t ld,
                                                  float* image) {
  const int64_t oh_n = g.out_h(), ow_n = g.out_w();
  float* plane = image + c * g.height * g.width;
  for (int64_t ki = 0; ki < g.kernel_h; ++ki)
    for (int64_t kj = 0; kj < g.kernel_w; ++kj) {
      const float* row = col + ((c * g.kernel_h + ki) * g.kernel_w + kj) * ld;
      const int64_t shift = kj * g.dilation_w - g.pad_w;
      int64_t lo, hi;
      conv_valid_range(shift, g.stride_w, g.width, ow_n, &lo, &hi);
      for (int64_t oh = 0; oh < oh_n; ++oh) {
        const int64_t ih = oh * g.stride_h - g.pad_h + ki * g.dilation_h;
        if (ih < 0 || ih >= g.height) continue;
        const float* in = row + oh * ow_n;
        float* out = plane + ih * g.width;
        if (g.stride_w == 1)
          for (int64_t ow = lo; ow < hi; ++ow) out[ow + shift] += in[ow];
        else
          for (int64_t ow = lo; ow < hi; ++ow) out[ow * g.stride_w + shift] += in[ow];
      }
    }
}

/// Fills col [C·kh·kw, OH·OW] from one image [C, H, W]; padding reads as zero.
TSPIPE_HOST_DEVICE inline void im2col(const float* image, const ConvGeometry& g, float* col) {
  for (int64_t c = 0; c < g.channels; ++c) im2col_channel(image, g, c, col, g.out_h() * g.out_w());
}

/// The adjoint of im2col: adds col [C·kh·kw, OH·OW] into image [C, H, W] (which the caller zeroes).
TSPIPE_HOST_DEVICE inline void col2im_add(const float* col, const ConvGeometry& g, float* image) {
  for (int64_t c = 0; c < g.channels; ++c) col2im_add_channel(col, g, c, g.out_h() * g.out_w(), image);
}

}  // namespace tspipe::kernels
