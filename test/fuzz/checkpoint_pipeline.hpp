#pragma once
// The small real pipeline that fuzz_checkpoint loads checkpoints into, and that
// make_checkpoint_corpus saves its seeds from: BYOL with a momentum teacher one update behind
// (teacher versions in the file) and AdamW (optimizer state in the file), two stages on the CPU.
#include <tspipe/cpu/backend.hpp>
#include <tspipe/nn/losses.hpp>
#include <tspipe/nn/optim.hpp>
#include <tspipe/pipeline.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace fuzz {

using B = tspipe::cpu::Backend;
constexpr long kBatch = 4;
constexpr int64_t kFeatures = 5;

inline std::vector<tspipe::nn::LayerPtr<B>> mlp(std::uint64_t seed) {
  std::vector<tspipe::nn::LayerPtr<B>> blocks;
  const std::vector<int64_t> widths = {kFeatures, 6, 6, 3};
  for (std::size_t i = 0; i + 1 < widths.size(); ++i)
    blocks.push_back(tspipe::nn::named<B>("fc" + std::to_string(i),
                                          B::linear(widths[i], widths[i + 1], true, seed + i, "fc" + std::to_string(i))));
  return blocks;
}

inline std::unique_ptr<tspipe::Pipeline<B>> checkpoint_pipeline() {
  const tspipe::PipelineOptions o{.stages = 2, .micro_batches = 2, .views = 2, .schedule = "tspipe",
                                  .teacher = tspipe::update::TeacherPolicy::momentum(0.9, 1),
                                  .batch_size = kBatch, .input_shape = {kFeatures},
                                  .teacher_cuts = {2}, .student_cuts = {2},
                                  .segment_batches = 2, .watchdog = std::chrono::milliseconds(60000)};
  return std::make_unique<tspipe::Pipeline<B>>(
      mlp(11), mlp(10), std::make_shared<tspipe::nn::ByolLoss>(),
      [] { return std::make_unique<tspipe::nn::AdamW>(tspipe::nn::AdamWOptions{.learning_rate = 0.01}); }, o);
}

/// Two views of one batch, deterministic in `seed`.
inline std::vector<tspipe::nn::Tensor> views(std::uint64_t seed) {
  return {tspipe::nn::Tensor::randn({kBatch, kFeatures}, seed * 2),
          tspipe::nn::Tensor::randn({kBatch, kFeatures}, seed * 2 + 1)};
}

}  // namespace fuzz
