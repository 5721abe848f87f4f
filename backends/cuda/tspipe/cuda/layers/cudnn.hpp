#pragma once
// RAII wrappers for the cuDNN descriptors the layers cache per input shape.
#include <tspipe/cuda/check.hpp>

#include <cudnn.h>

#include <cstdint>

namespace tspipe::cuda::detail {

/// One cuDNN descriptor, created with the object and destroyed with it; not copyable, since the
/// handle has a single owner.
template <class Handle, cudnnStatus_t (*create)(Handle*), cudnnStatus_t (*destroy)(Handle)>
class Descriptor {
 public:
  Descriptor() { TSPIPE_CUDNN_CHECK(create(&d_)); }
  ~Descriptor() { (void)destroy(d_); }
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  Handle get() const { return d_; }

 private:
  Handle d_ = nullptr;
};

using TensorDesc = Descriptor<cudnnTensorDescriptor_t, cudnnCreateTensorDescriptor, cudnnDestroyTensorDescriptor>;
using FilterDesc = Descriptor<cudnnFilterDescriptor_t, cudnnCreateFilterDescriptor, cudnnDestroyFilterDescriptor>;
using ConvDesc =
    Descriptor<cudnnConvolutionDescriptor_t, cudnnCreateConvolutionDescriptor, cudnnDestroyConvolutionDescriptor>;
using PoolDesc = Descriptor<cudnnPoolingDescriptor_t, cudnnCreatePoolingDescriptor, cudnnDestroyPoolingDescriptor>;

/// Describes an NCHW float tensor.
inline void set_nchw(const TensorDesc& d, int64_t n, int64_t c, int64_t h, int64_t w) {
  TSPIPE_CUDNN_CHECK(cudnnSetTensor4dDescriptor(d.get(), CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, static_cast<int>(n),
                                                static_cast<int>(c), static_cast<int>(h), static_cast<int>(w)));
}
/// Describes a float filter in PyTorch's [out, in, kh, kw] layout.
inline void set_filter(const FilterDesc& d, int64_t out, int64_t in, int64_t kh, int64_t kw) {
  TSPIPE_CUDNN_CHECK(cudnnSetFilter4dDescriptor(d.get(), CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, static_cast<int>(out),
                                                static_cast<int>(in), static_cast<int>(kh), static_cast<int>(kw)));
}

}  // namespace tspipe::cuda::detail
