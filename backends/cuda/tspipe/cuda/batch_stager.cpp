#include <tspipe/cuda/batch_stager.hpp>
#include <tspipe/cuda/check.hpp>

#include <cstring>
#include <string>

namespace tspipe::cuda {

namespace {

std::shared_ptr<CUevent_st> new_event() {
  cudaEvent_t event = nullptr;
  TSPIPE_CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
  return std::shared_ptr<CUevent_st>(event, [](cudaEvent_t e) { (void)cudaEventDestroy(e); });
}

}  // namespace

void StagedBatch::wait_on(const Stream& consumer) const {
  if (!ready) throw Error("StagedBatch::wait_on: the batch was never staged");
  TSPIPE_CUDA_CHECK(cudaStreamWaitEvent(consumer.handle, ready.get(), 0));
  for (const Tensor& t : views) t.record_stream(consumer.handle);
}

BatchStager::BatchStager(Device device, int slots) : device_(device) {
  if (slots < 1) throw Error("BatchStager: " + std::to_string(slots) + " slots; need at least 1");
  stream_ = Stream::create(device_);
  slots_.resize(static_cast<std::size_t>(slots));
}

BatchStager::~BatchStager() {
  // Nothing may throw here: a failed wait still frees the buffers.
  for (Slot& slot : slots_) {
    if (slot.uploaded) (void)cudaEventSynchronize(slot.uploaded.get());
    if (slot.host) (void)cudaFreeHost(slot.host);
  }
}

StagedBatch BatchStager::stage(const data::Batch& batch) {
  const std::size_t floats = batch.view_floats();
  if (batch.views.empty() || floats == 0)
    throw Error("BatchStager::stage: batch " + std::to_string(batch.index) + " has no views or no pixels (" +
                std::to_string(batch.views.size()) + " views of " + std::to_string(batch.n) + "x" +
                std::to_string(batch.c) + "x" + std::to_string(batch.h) + "x" + std::to_string(batch.w) + ")");
  for (std::size_t v = 0; v < batch.views.size(); ++v)
    if (batch.views[v].size() != floats)
      throw Error("BatchStager::stage: view " + std::to_string(v) + " of batch " + std::to_string(batch.index) +
                  " holds " + std::to_string(batch.views[v].size()) + " floats, its shape " + std::to_string(batch.n) +
                  "x" + std::to_string(batch.c) + "x" + std::to_string(batch.h) + "x" + std::to_string(batch.w) +
                  " needs " + std::to_string(floats));

  Slot& slot = slots_[next_++ % slots_.size()];
  if (slot.uploaded) TSPIPE_CUDA_CHECK(cudaEventSynchronize(slot.uploaded.get()));  // its buffer is free again
  const std::size_t needed = floats * batch.views.size();
  if (slot.capacity < needed) {
    if (slot.host) TSPIPE_CUDA_CHECK(cudaFreeHost(slot.host));
    slot.host = nullptr;
    slot.capacity = 0;
    TSPIPE_CUDA_CHECK(cudaSetDevice(device_.index));
    void* host = nullptr;
    TSPIPE_CUDA_CHECK(cudaHostAlloc(&host, needed * sizeof(float), cudaHostAllocDefault));
    slot.host = static_cast<float*>(host);
    slot.capacity = needed;
  }
  for (std::size_t v = 0; v < batch.views.size(); ++v)
    std::memcpy(slot.host + v * floats, batch.views[v].data(), floats * sizeof(float));

  StagedBatch staged;
  staged.labels = batch.labels;
  staged.epoch = batch.epoch;
  staged.index = batch.index;
  {
    const StreamGuard on_copy_stream(stream_);  // the tensors' memory is ordered on this stream
    for (std::size_t v = 0; v < batch.views.size(); ++v) {
      Tensor t(Shape{batch.n, batch.c, batch.h, batch.w});
      TSPIPE_CUDA_CHECK(cudaMemcpyAsync(t.data(), slot.host + v * floats, floats * sizeof(float),
                                        cudaMemcpyHostToDevice, stream_.handle));
      staged.views.push_back(std::move(t));
    }
  }
  staged.ready = new_event();
  TSPIPE_CUDA_CHECK(cudaEventRecord(staged.ready.get(), stream_.handle));
  slot.uploaded = staged.ready;
  return staged;
}

}  // namespace tspipe::cuda
