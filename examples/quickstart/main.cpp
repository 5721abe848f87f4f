// The smallest complete knowledge-distillation trainer: a frozen teacher MLP, a smaller student,
// a 2-stage tspipe pipeline on the CPU backend, synthetic data. The task is the teacher's own:
// each sample is labelled with the teacher's answer, and the student learns it from the labels
// and the teacher's soft targets (CE + λ·T²·KL).
#include <tspipe/cpu/backend.hpp>
#include <tspipe/nn/losses.hpp>
#include <tspipe/nn/optim.hpp>
#include <tspipe/pipeline.hpp>

#include <algorithm>
#include <cstdio>
#include <vector>

using B = tspipe::cpu::Backend;
using Blocks = std::vector<tspipe::nn::LayerPtr<B>>;

// An MLP as a list of blocks (the unit the partitioner cuts between): Linear + ReLU pairs, then a
// Linear head. The same seed gives the same weights.
Blocks mlp(const std::vector<long>& widths, unsigned seed) {
  Blocks blocks;
  for (std::size_t i = 0; i + 1 < widths.size(); ++i) {
    const std::string name = "fc" + std::to_string(i);
    auto block = std::make_unique<tspipe::nn::Sequential<B>>();
    block->add(name, B::linear(widths[i], widths[i + 1], true, seed + i, name));
    if (i + 2 < widths.size()) block->add(name + "_relu", B::relu());
    blocks.push_back(std::move(block));
  }
  return blocks;
}

int main() {
  constexpr long kBatch = 64, kFeatures = 16, kClasses = 4;
  const std::vector<long> teacher_widths = {kFeatures, 64, 64, kClasses};
  const std::vector<long> student_widths = {kFeatures, 16, kClasses};

  tspipe::PipelineOptions options;
  options.stages = 2;                   // devices (one worker thread each on the CPU)
  options.micro_batches = 4;
  options.schedule = "tspipe";          // sequential | gpipe | 1f1b | tspipe-paper | tspipe
  options.batch_size = kBatch;
  options.input_shape = {kFeatures};
  options.teacher = tspipe::update::TeacherPolicy::frozen();  // KD; momentum(τ, δ) for BYOL/MoCo

  tspipe::Pipeline<B> pipeline(mlp(teacher_widths, 7), mlp(student_widths, 11),
                               std::make_shared<tspipe::nn::SoftTargetKDLoss>(/*T=*/4.0f, /*λ=*/0.5f),
                               [] { return std::make_unique<tspipe::nn::Sgd>(tspipe::nn::SgdOptions{.learning_rate = 0.05}); },
                               options);

  // A second copy of the teacher (same seed, same weights) labels the synthetic data.
  tspipe::nn::Sequential<B> labeller(mlp(teacher_widths, 7));
  constexpr int kBatches = 160;
  for (int b = 0; b < kBatches; ++b) {
    tspipe::nn::Tensor x = tspipe::nn::Tensor::randn({kBatch, kFeatures}, 1000 + static_cast<unsigned>(b));
    const tspipe::nn::Tensor logits = labeller.infer(x);
    std::vector<int> labels(kBatch);
    for (long i = 0; i < kBatch; ++i) {
      const float* row = logits.span().data() + i * kClasses;
      labels[static_cast<std::size_t>(i)] = static_cast<int>(std::max_element(row, row + kClasses) - row);
    }
    pipeline.feed({std::move(x)}, std::move(labels));
  }
  pipeline.flush();  // a pipeline answers late: every fed batch is done after flush()

  double first = 0.0, last = 0.0;  // mean loss of the first and of the last 20 batches
  for (const auto& [batch, loss] : pipeline.take_losses()) {
    if (batch < 20) first += loss / 20;
    if (batch >= kBatches - 20) last += loss / 20;
  }
  std::printf("mean loss: first 20 batches %.4f, last 20 batches %.4f\n", first, last);
  pipeline.save("quickstart.safetensors");  // atomic; load() resumes bit-identically
  return last < first ? 0 : 1;
}
