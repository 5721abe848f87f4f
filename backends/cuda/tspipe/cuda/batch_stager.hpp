#pragma once
// Loader batches onto the GPU without stalling it. Each batch is copied into pinned (page-locked)
// host memory and uploaded with cudaMemcpyAsync on the stager's own stream, with an event recorded
// after the copies; the consumer's stream waits on that event instead of the host waiting on the
// copy, so the upload of batch i + 1 overlaps the compute of batch i. Pinned buffers are a ring of
// `slots`: the host blocks only when it refills a buffer whose upload is still running.
//
//   data::Loader loader(...);
//   cuda::BatchStager stager(cuda::Device{0});
//   while (auto batch = loader.next()) {
//     cuda::StagedBatch staged = stager.stage(*batch);  // returns at once
//     staged.wait_on(compute);                          // compute's later work sees the upload
//     ... use staged.views on `compute` ...
//   }
#include <tspipe/cuda/device.hpp>
#include <tspipe/cuda/tensor.hpp>
#include <tspipe/data/batch.hpp>

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace tspipe::cuda {

/// A batch on its way to the device: views [n, c, h, w] and the labels, on the host.
struct StagedBatch {
  std::vector<Tensor> views;
  std::vector<int> labels;
  std::int64_t epoch = 0, index = 0;
  std::shared_ptr<CUevent_st> ready;  // recorded after the uploads, on the stager's stream

  /// Makes `consumer` wait for the uploads (without blocking the host) and marks the tensors as
  /// used there, so their memory is not reused before the consumer's work is done.
  void wait_on(const Stream& consumer) const;
};

class BatchStager {
 public:
  /// A stager uploading to `device` through `slots` pinned buffers (at least 1; 2 lets one batch
  /// upload while the next is packed).
  explicit BatchStager(Device device = {}, int slots = 2);
  ~BatchStager();
  BatchStager(const BatchStager&) = delete;
  BatchStager& operator=(const BatchStager&) = delete;

  /// Packs `batch` into the next pinned buffer and queues its upload; returns without waiting for it.
  StagedBatch stage(const data::Batch& batch);
  /// The stream the uploads run on.
  const Stream& stream() const noexcept { return stream_; }

 private:
  struct Slot {
    float* host = nullptr;  // cudaHostAlloc'ed
    std::size_t capacity = 0;  // floats
    std::shared_ptr<CUevent_st> uploaded;  // the last upload from `host`
  };
  Device device_;
  Stream stream_;
  std::vector<Slot> slots_;
  std::size_t next_ = 0;
};

}  // namespace tspipe::cuda
