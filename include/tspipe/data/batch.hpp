#pragma once
// What the loader delivers: one batch of V views of n examples, float NCHW on the host. Kept apart
// from the loader so that code that only moves batches (the CUDA stager) needs nothing else.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace tspipe::data {

/// One batch: V views, each n×c×h×w row-major floats, and the labels of its n examples.
struct Batch {
  std::int64_t index = 0;                  // position in its epoch (of this replica's shard)
  std::vector<std::vector<float>> views;   // [V][n·c·h·w]
  std::vector<int> labels;                 // [n]; -1 for unlabeled examples
  int n = 0, c = 0, h = 0, w = 0;
  std::int64_t epoch = 0;
  std::vector<std::int64_t> example_ids;   // [n] positions in the source

  std::size_t view_floats() const noexcept {
    return static_cast<std::size_t>(n) * static_cast<std::size_t>(c) * static_cast<std::size_t>(h) *
           static_cast<std::size_t>(w);
  }
};

}  // namespace tspipe::data
