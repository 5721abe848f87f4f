#pragma once
// Grouping many parameter tensors into few kernel launches: the optimizer step and the teacher's
// EMA touch every parameter tensor once per step, and one launch per tensor costs a ResNet-50
// about 160 launches per update, each a few microseconds of overhead for microseconds of work.
// A launch here covers up to kMultiTensorMaxTensors tensors in blocks of kMultiTensorChunk
// elements, at most kMultiTensorMaxChunks blocks; a tensor too large for one launch continues in
// the next. The plan is plain data of a fixed size, so the CUDA backend passes one launch by value
// as a kernel argument (under the 4 KB every GPU accepts) beside the tensors' pointers, and each
// block finds its elements from its chunk; the host applies the same plan in the tests.
#include <tspipe/error.hpp>
#include <tspipe/kernels/config.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace tspipe::nn {

inline constexpr int kMultiTensorMaxTensors = 48;
inline constexpr int kMultiTensorMaxChunks = 256;
inline constexpr std::int64_t kMultiTensorChunk = 65536;

/// One block's work: chunk `index` (elements [index·chunk, (index+1)·chunk) clipped to the size)
/// of the launch's tensor `tensor`.
struct TensorChunk {
  std::int32_t tensor = 0;
  std::int32_t index = 0;
};

struct MultiTensorLaunch {
  std::int32_t tensor_count = 0;
  std::int32_t chunk_count = 0;
  std::int32_t caller_index[kMultiTensorMaxTensors] = {};  ///< each tensor's index in the caller's list
  std::int64_t sizes[kMultiTensorMaxTensors] = {};
  TensorChunk chunks[kMultiTensorMaxChunks] = {};

  TSPIPE_HOST_DEVICE std::int64_t begin(int chunk) const { return static_cast<std::int64_t>(chunks[chunk].index) * kMultiTensorChunk; }
  TSPIPE_HOST_DEVICE std::int64_t end(int chunk) const {
    const std::int64_t stop = begin(chunk) + kMultiTensorChunk, size = sizes[chunks[chunk].tensor];
    return stop < size ? stop : size;
  }
};
static_assert(sizeof(MultiTensorLaunch) <= 4096, "a launch must fit a kernel's 4 KB of arguments");

/// The launches covering tensors of `sizes` elements, in order: every element in exactly one
/// chunk, empty tensors in none (and in no launch's list). A launch ends when it holds the most tensors or chunks it may.
inline std::vector<MultiTensorLaunch> plan_multi_tensor(std::span<const std::int64_t> sizes) {
  constexpr std::int64_t max_chunks_per_tensor = INT32_MAX;
  std::vector<MultiTensorLaunch> launches;
  MultiTensorLaunch current;
  const auto flush = [&] {
    if (current.chunk_count > 0) launches.push_back(current);
    current = MultiTensorLaunch{};
  };
  for (std::size_t t = 0; t < sizes.size(); ++t) {
    const std::int64_t size = sizes[t];
    if (size < 0) throw Error("plan_multi_tensor: tensor " + std::to_string(t) + " has a negative size " + std::to_string(size));
    const std::int64_t chunks = (size + kMultiTensorChunk - 1) / kMultiTensorChunk;
    if (chunks > max_chunks_per_tensor)
      throw Error("plan_multi_tensor: tensor " + std::to_string(t) + " of " + std::to_string(size) + " elements has more chunks than a 32-bit index holds");
    for (std::int64_t c = 0; c < chunks; ++c) {
      if (current.chunk_count == kMultiTensorMaxChunks || (c == 0 && current.tensor_count == kMultiTensorMaxTensors)) flush();
      if (c == 0 || current.chunk_count == 0) {  // a new tensor, or one continuing in a new launch
        current.caller_index[current.tensor_count] = static_cast<std::int32_t>(t);
        current.sizes[current.tensor_count++] = size;
      }
      current.chunks[current.chunk_count++] = {current.tensor_count - 1, static_cast<std::int32_t>(c)};
    }
  }
  flush();
  return launches;
}

}  // namespace tspipe::nn
