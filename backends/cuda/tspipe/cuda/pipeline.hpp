#pragma once
// What tspipe::Pipeline<cuda::Backend> needs from the CUDA backend: TensorOps for device tensors
// and the runtime's BackendHooks (runtime/backend_hooks.hpp). Include this header, not
// <tspipe/pipeline.hpp> alone, to run pipelines on device tensors:
//
//   #include <tspipe/cuda/pipeline.hpp>
//   tspipe::Pipeline<tspipe::cuda::Backend> pipeline(std::move(teacher), std::move(student),
//       std::make_shared<tspipe::cuda::SoftTargetKDLoss>(),
//       [] { return std::make_unique<tspipe::cuda::Sgd>(tspipe::nn::SgdOptions{.learning_rate = 0.1}); },
//       options);
//   pipeline.feed({tspipe::cuda::Tensor::from_host(batch)}, labels);
//
// Loss: the user's loss is a device loss (cuda::Loss), which sees the whole batch on the GPU, as
// the loss contract of docs/design.md asks. Copying the outputs to the host for an nn::Loss would
// put that copy on the critical path: LOSS:b gates all of batch b's backwards, and the in-batch
// losses (InfoNCE/MoCo-v3: N²·K) are the slowest part of it on a host, while the device losses
// run the same recipes with the same row math (kernels/losses.hpp).
// A custom host loss still fits through cuda::HostLoss, which pays for that copy explicitly.
//
// Streams and threads: every stage gets its own stream on the device of the building thread's
// current stream, and runs its actions with that stream current (a stage's worker thread is the
// only one queueing on it). Activations and gradients cross stages through NcclTransport,
// whose same-device hand-over orders the receiver's stream after the sender's with an event.
// The threads that enter or leave the pipeline synchronise at the boundaries: a stage's stream is
// drained at the end of every segment (so parameters, losses and checkpoints read afterwards are
// final) and the feeding thread's stream before a segment starts (so fed batches, restored
// parameters and the profiling pass are complete before a stage reads them).
#include <tspipe/cuda/backend.hpp>
#include <tspipe/cuda/device.hpp>
#include <tspipe/cuda/losses.hpp>
#include <tspipe/cuda/optim.hpp>
#include <tspipe/cuda/tensor.hpp>
#include <tspipe/nn/losses.hpp>
#include <tspipe/pipeline.hpp>
#include <tspipe/runtime/backend_hooks.hpp>
#include <tspipe/runtime/tensor_ops.hpp>
#include <tspipe/runtime/transport.hpp>
#include <tspipe/runtime/version_store.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace tspipe::cuda {

/// A host loss (nn::Loss) on device outputs: the whole batch is copied to the host, the loss runs
/// there and its gradients are copied back. For user losses that have no device version; the
/// built-in recipes have one each in losses.hpp and need no copy.
class HostLoss final : public Loss {
 public:
  explicit HostLoss(std::shared_ptr<const nn::Loss> loss);
  std::string_view name() const override { return loss_->name(); }
  bool per_sample() const override { return loss_->per_sample(); }
  LossOutput compute(const LossInput& input) const override;

 private:
  std::shared_ptr<const nn::Loss> loss_;
};

/// Teacher versions kept on the device: a version is a clone of each parameter, swapped in and
/// out with device-to-device copies on the current stream; checkpoints download them.
struct DeviceVersionCopies {
  using Param = Tensor*;
  using Copy = Tensor;
  static Copy copy_out(Param param) { return param->clone(); }
  /// A copy may have been made on another thread's stream (with_teacher_version, load): it is
  /// marked as read here, so freeing it later cannot hand its storage out before this copy ran.
  static void copy_in(const Copy& copy, Param param) {
    param->copy_from(copy);
    copy.record_stream(current_stream().handle);
  }
  static std::vector<float> to_host(const Copy& copy) { return copy.to_vector(); }
  static Copy from_host(const std::vector<float>& values, Param param) { return Tensor::from(param->shape(), values); }
};

namespace detail {
/// Runtime pieces with device code behind them (pipeline.cpp).
Tensor slice_rows(const Tensor& t, long begin, long count);
Tensor concat_rows(const std::vector<Tensor>& parts);
void copy_from_host(Tensor& t, std::span<const float> values);
void scale(Tensor& t, float factor);
std::shared_ptr<runtime::Transport<Tensor>> same_device_transport(int stages);
}  // namespace detail

}  // namespace tspipe::cuda

namespace tspipe::runtime {

template <>
struct TensorOps<cuda::Tensor> {
  using Tensor = cuda::Tensor;
  static long rows(const Tensor& t) { return t.dim() == 0 ? 0 : static_cast<long>(t.size(0)); }
  /// A copy of rows [begin, begin + count), on the current stream.
  static Tensor slice_rows(const Tensor& t, long begin, long count) { return cuda::detail::slice_rows(t, begin, count); }
  static Tensor concat_rows(const std::vector<Tensor>& parts) { return cuda::detail::concat_rows(parts); }
  /// t ← factor · t, on the current stream.
  static void scale(Tensor& t, float factor) { cuda::detail::scale(t, factor); }
  static Tensor filled_like(const Tensor& t, float value) { return Tensor::full(t.shape(), value); }
  static std::string shape(const Tensor& t) { return nn::to_string(t.shape()); }
  /// Downloads (synchronises the current stream).
  static nn::Tensor to_host(const Tensor& t) { return t.to_host(); }
  static void copy_from_host(Tensor& t, std::span<const float> values) { cuda::detail::copy_from_host(t, values); }
  /// The host generator's values, uploaded: a device run profiles on the same sample as a host run.
  static Tensor randn(const nn::Shape& shape, std::uint64_t seed) { return Tensor::from_host(nn::Tensor::randn(shape, seed)); }
};

template <>
class BackendHooks<cuda::Backend> {
 public:
  using Tensor = cuda::Tensor;
  using Loss = cuda::Loss;
  using Optimizer = cuda::Optimizer;
  using StudentSlot = cuda::Parameter;  // the device optimizers and EMA take parameters as they are
  using TeacherSlot = cuda::Parameter;
  using VersionCopies = cuda::DeviceVersionCopies;

  /// The stage's stream, on the device current when the stage is built.
  BackendHooks() : stream_(cuda::Stream::create(cuda::current_stream().device)) {}

  static StudentSlot student_slot(cuda::Parameter& p) { return p; }
  static TeacherSlot teacher_slot(cuda::Parameter& p) { return p; }
  static VersionCopies::Param version_param(cuda::Parameter& p) { return p.value; }

  /// The stage's stream (and device) are current while its actions run.
  cuda::StreamGuard enter() const { return cuda::StreamGuard(stream_); }
  void synchronize() const { stream_.synchronize(); }
  static void finish_caller_work() { cuda::current_stream().synchronize(); }
  /// Every stage of this process is on the caller's device (stages on several GPUs need a
  /// Distribution with a multi-device NcclTransport).
  static std::shared_ptr<Transport<Tensor>> local_transport(int stages, std::size_t /*capacity*/) {
    return cuda::detail::same_device_transport(stages);
  }

  void momentum_update(const std::vector<TeacherSlot>& teacher, const std::vector<StudentSlot>& student, float tau) {
    parameter_update_(teacher, student, tau);
  }
  /// The same fused update over buffer pairs (names are only needed to pair them: their index).
  void blend_buffers(const std::vector<std::pair<Tensor*, const Tensor*>>& pairs, float keep);

  BatchLoss<Tensor> loss(const Loss& loss, const std::vector<Tensor>& student, const std::vector<Tensor>& teacher,
                         std::span<const int> labels);

  const cuda::Stream& stream() const { return stream_; }

 private:
  cuda::Stream stream_;
  cuda::MomentumTeacherUpdate parameter_update_;  // each caches its segment table
  cuda::MomentumTeacherUpdate buffer_update_;
};

}  // namespace tspipe::runtime
