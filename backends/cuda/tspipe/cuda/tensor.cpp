#include <tspipe/cuda/allocator.hpp>
#include <tspipe/cuda/check.hpp>
#include <tspipe/cuda/launchers.hpp>
#include <tspipe/cuda/tensor.hpp>

namespace tspipe::cuda {

Tensor::Tensor(Shape shape) : shape_(std::move(shape)), numel_(nn::shape_numel(shape_)) {
  const Stream s = current_stream();
  device_ = s.device.index;
  storage_ = CachingAllocator::instance().allocate(static_cast<size_t>(numel_) * sizeof(float), device_, s.handle);
}

Tensor Tensor::zeros(Shape shape) {
  Tensor t(std::move(shape));
  t.zero();
  return t;
}
Tensor Tensor::full(Shape shape, float value) {
  Tensor t(std::move(shape));
  t.fill(value);
  return t;
}

Tensor Tensor::from_host(const nn::Tensor& host) {
  if (!host.defined()) throw Error("cuda::Tensor::from_host: host tensor is undefined");
  Tensor t(host.shape());
  const Stream s = current_stream();
  if (t.numel_)
    TSPIPE_CUDA_CHECK(cudaMemcpyAsync(t.data(), host.data(), static_cast<size_t>(t.numel_) * sizeof(float),
                                      cudaMemcpyHostToDevice, s.handle));
  s.synchronize();
  return t;
}

nn::Tensor Tensor::to_host() const {
  if (!defined()) throw Error("cuda::Tensor::to_host: tensor is undefined");
  nn::Tensor h(shape_);
  const Stream s = current_stream();
  if (numel_)
    TSPIPE_CUDA_CHECK(cudaMemcpyAsync(h.data(), data(), static_cast<size_t>(numel_) * sizeof(float),
                                      cudaMemcpyDeviceToHost, s.handle));
  s.synchronize();
  return h;
}

std::vector<float> Tensor::to_vector() const {
  const nn::Tensor h = to_host();
  return std::vector<float>(h.data(), h.data() + h.numel());
}

int64_t Tensor::size(int64_t i) const {
  const int64_t k = i < 0 ? i + dim() : i;
  if (k < 0 || k >= dim())
    throw Error("cuda::Tensor::size: axis " + std::to_string(i) + " out of range for shape " + to_string(shape_));
  return shape_[static_cast<size_t>(k)];
}

Tensor Tensor::reshape(Shape shape) const {
  Tensor t = *this;
  t.shape_ = nn::reshaped("cuda::Tensor::reshape", shape_, numel_, std::move(shape));
  return t;
}

Tensor Tensor::clone() const {
  Tensor t(shape_);
  t.copy_from(*this);
  return t;
}

void Tensor::fill(float value) {
  if (numel_) launch::fill(data(), numel_, value, current_stream().handle);
}
void Tensor::zero() {
  if (numel_) TSPIPE_CUDA_CHECK(cudaMemsetAsync(data(), 0, static_cast<size_t>(numel_) * sizeof(float), current_stream().handle));
}

void Tensor::copy_from(const Tensor& src) {
  if (src.numel_ != numel_)
    throw Error("cuda::Tensor::copy_from: " + to_string(src.shape_) + " into " + to_string(shape_));
  if (numel_)
    TSPIPE_CUDA_CHECK(cudaMemcpyAsync(data(), src.data(), static_cast<size_t>(numel_) * sizeof(float),
                                      cudaMemcpyDeviceToDevice, current_stream().handle));
}

void Tensor::record_stream(cudaStream_t stream) const {
  if (storage_) CachingAllocator::instance().record_stream(storage_.get(), stream);
}

}  // namespace tspipe::cuda
