// Device pieces of Pipeline<cuda::Backend>: row slicing and gathering, host uploads, the
// same-device transport, the buffer blend and the loss hook. Everything is queued on the calling
// thread's current stream (a stage's own stream while its actions run).
#include <tspipe/cuda/check.hpp>
#include <tspipe/cuda/launchers.hpp>
#include <tspipe/cuda/nccl_transport.hpp>
#include <tspipe/cuda/pipeline.hpp>

#include <cmath>
#include <string>

namespace tspipe::cuda {

namespace {
int64_t row_size(const Tensor& t) { return t.dim() == 0 || t.size(0) == 0 ? 0 : t.numel() / t.size(0); }

/// dst[0, count) ← src[0, count) on `stream`. `src` may belong to another stream (a fed batch, a
/// tensor handed over by the transport): it is marked as used here, so its storage is not reused
/// before this copy ran.
void copy_floats(float* dst, const Tensor& src, const float* from, int64_t count, const Stream& stream) {
  if (count == 0) return;
  TSPIPE_CUDA_CHECK(cudaMemcpyAsync(dst, from, static_cast<size_t>(count) * sizeof(float), cudaMemcpyDeviceToDevice,
                                    stream.handle));
  src.record_stream(stream.handle);
}
}  // namespace

namespace detail {

Tensor slice_rows(const Tensor& t, long begin, long count) {
  if (t.dim() == 0 || begin < 0 || count < 0 || begin + count > t.size(0))
    throw Error("cuda pipeline: rows [" + std::to_string(begin) + ", " + std::to_string(begin + count) + ") of a " +
                to_string(t.shape()) + " tensor");
  Shape shape = t.shape();
  shape[0] = count;
  Tensor out(shape);
  const int64_t row = row_size(t);
  copy_floats(out.data(), t, t.data() + begin * row, count * row, current_stream());
  return out;
}

Tensor concat_rows(const std::vector<Tensor>& parts) {
  if (parts.empty()) throw Error("cuda pipeline: nothing to concatenate");
  Shape shape = parts.front().shape();
  int64_t total = 0;
  for (const Tensor& p : parts) {
    if (p.dim() != static_cast<int64_t>(shape.size()) || row_size(p) != row_size(parts.front()))
      throw Error("cuda pipeline: cannot stack a " + to_string(p.shape()) + " tensor under a " + to_string(shape) + " one");
    total += p.size(0);
  }
  shape[0] = total;
  Tensor out(shape);
  const Stream stream = current_stream();
  float* at = out.data();
  for (const Tensor& p : parts) {
    copy_floats(at, p, p.data(), p.numel(), stream);
    at += p.numel();
  }
  return out;
}

void copy_from_host(Tensor& t, std::span<const float> values) {
  if (static_cast<int64_t>(values.size()) != t.numel())
    throw Error("cuda pipeline: " + std::to_string(values.size()) + " host values for a " + to_string(t.shape()) +
                " tensor");
  if (values.empty()) return;
  const Stream stream = current_stream();
  TSPIPE_CUDA_CHECK(cudaMemcpyAsync(t.data(), values.data(), values.size() * sizeof(float), cudaMemcpyHostToDevice,
                                    stream.handle));
  stream.synchronize();  // `values` may be a temporary of the caller
}

void scale(Tensor& t, float factor) { launch::scale(t.data(), t.numel(), factor, current_stream().handle); }

std::shared_ptr<runtime::Transport<Tensor>> same_device_transport(int stages) {
  auto transport = NcclTransport::create(std::vector<int>(static_cast<size_t>(stages), current_stream().device.index));
  if (!transport) throw Error("cuda pipeline: " + transport.message());
  return std::shared_ptr<runtime::Transport<Tensor>>(std::move(transport).value());
}

}  // namespace detail

HostLoss::HostLoss(std::shared_ptr<const nn::Loss> loss) : loss_(std::move(loss)) {
  if (!loss_) throw Error("cuda::HostLoss: no host loss given");
}

LossOutput HostLoss::compute(const LossInput& input) const {
  // Both sides downloaded before the call (to_host synchronises), gradients uploaded after it.
  std::vector<nn::Tensor> student, teacher;
  for (const Tensor& t : input.student) student.push_back(t.to_host());
  for (const Tensor& t : input.teacher) teacher.push_back(t.to_host());
  runtime::BatchLoss<nn::Tensor> host = runtime::host_batch_loss(*loss_, student, teacher, input.labels);
  LossOutput out{host.loss, {}};
  for (const nn::Tensor& d : host.d_student) out.d_student.push_back(Tensor::from_host(d));
  return out;
}

}  // namespace tspipe::cuda

namespace tspipe::runtime {

void BackendHooks<cuda::Backend>::blend_buffers(const std::vector<std::pair<Tensor*, const Tensor*>>& pairs, float keep) {
  if (pairs.empty()) return;
  std::vector<cuda::Parameter> teacher, student;
  for (size_t i = 0; i < pairs.size(); ++i) {
    teacher.push_back({std::to_string(i), pairs[i].first});
    // The update only reads the student side; Parameter has no read-only form.
    student.push_back({std::to_string(i), const_cast<Tensor*>(pairs[i].second)});
  }
  buffer_update_(teacher, student, keep);
}

BatchLoss<cuda::Tensor> BackendHooks<cuda::Backend>::loss(const Loss& loss, const std::vector<Tensor>& student,
                                                          const std::vector<Tensor>& teacher, std::span<const int> labels) {
  cuda::LossOutput out = loss.compute({student, teacher, labels});
  BatchLoss<Tensor> result{out.loss, {}};
  if (!std::isfinite(out.loss)) return result;
  require_gradient_views(loss.name(), out.d_student.size(), student.size());
  for (size_t v = 0; v < student.size(); ++v)
    if (out.d_student[v].numel() != student[v].numel())
      throw Error(std::string(loss.name()) + " returned a " + nn::to_string(out.d_student[v].shape()) +
                  " gradient for view " + std::to_string(v) + ", whose output is " + nn::to_string(student[v].shape()));
  result.d_student = std::move(out.d_student);
  return result;
}

}  // namespace tspipe::runtime
