#pragma once
// Profiles teacher and student blocks on the backend with one sample micro-batch: per-block time
// of the teacher path (infer), the student forward and backward, parameter and saved-activation
// bytes. Running the blocks in order is also the check that their shapes chain: a block that
// rejects its predecessor's output is named in the error. Profiling leaves the model as it found
// it (gradients zeroed, BatchNorm running statistics restored).
#include <tspipe/nn/layer.hpp>
#include <tspipe/partition/partitioner.hpp>
#include <tspipe/runtime/tensor_ops.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace tspipe::runtime {

namespace detail {
inline double seconds_between(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

template <class B>
std::vector<std::vector<float>> save_buffers(std::vector<nn::LayerPtr<B>>& blocks) {
  std::vector<std::vector<float>> saved;
  for (auto& block : blocks)
    for (auto& buffer : block->buffers()) {
      auto host = TensorOps<typename B::Tensor>::host(*buffer.value);
      saved.emplace_back(host.begin(), host.end());
    }
  return saved;
}
template <class B>
void restore_buffers(std::vector<nn::LayerPtr<B>>& blocks, const std::vector<std::vector<float>>& saved) {
  std::size_t i = 0;
  for (auto& block : blocks)
    for (auto& buffer : block->buffers()) {
      auto host = TensorOps<typename B::Tensor>::host(*buffer.value);
      std::copy(saved[i].begin(), saved[i].end(), host.begin());
      ++i;
    }
}
template <class B>
double parameter_bytes(nn::Layer<B>& block) {
  double bytes = 0.0;
  for (auto& p : block.parameters()) bytes += 4.0 * static_cast<double>(p.value->numel());
  return bytes;
}
}  // namespace detail

/// Per-block costs of `blocks` on `sample` (one micro-batch): the teacher path (infer) and, for
/// a student, forward and backward (from a constant gradient). Each of `repeats` timings keeps
/// the fastest. Throws tspipe::Error naming the first block whose input shape does not fit.
template <class B>
std::vector<partition::BlockCost> profile_blocks(std::vector<nn::LayerPtr<B>>& blocks, const typename B::Tensor& sample,
                                                 bool student, int repeats = 2) {
  using Tensor = typename B::Tensor;
  using Clock = std::chrono::steady_clock;
  const std::string which = student ? "student" : "teacher";
  const auto saved = detail::save_buffers<B>(blocks);
  std::vector<partition::BlockCost> out(blocks.size());
  std::vector<nn::Context<B>> contexts(blocks.size());
  std::vector<Tensor> outputs(blocks.size());
  Tensor x = sample;
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    partition::BlockCost& cost = out[i];
    cost.parameter_bytes = detail::parameter_bytes(*blocks[i]);
    try {
      cost.infer = cost.forward = 1e300;
      for (int r = 0; r < repeats; ++r) {
        auto t0 = Clock::now();
        Tensor y = blocks[i]->infer(x);
        auto t1 = Clock::now();
        cost.infer = std::min(cost.infer, detail::seconds_between(t0, t1));
        if (!student) {
          outputs[i] = y;
          continue;
        }
        t0 = Clock::now();
        auto [fy, ctx] = blocks[i]->forward(x);
        t1 = Clock::now();
        cost.forward = std::min(cost.forward, detail::seconds_between(t0, t1));
        outputs[i] = fy;
        contexts[i] = std::move(ctx);
      }
      if (!student) cost.forward = 0.0;
      if (student)
        for (const Tensor& t : contexts[i].tensors) cost.activation_bytes += 4.0 * static_cast<double>(t.numel());
    } catch (const std::exception& e) {
      detail::restore_buffers<B>(blocks, saved);
      throw Error(which + " block " + std::to_string(i) + " (" + blocks[i]->kind() + ") rejects " +
                  (i == 0 ? std::string("the input ") : "the output of block " + std::to_string(i - 1) + " ") +
                  TensorOps<Tensor>::shape(x) + ": " + e.what());
    }
    x = outputs[i];
  }
  if (student) {
    Tensor dy = TensorOps<Tensor>::filled_like(x, 1.0f / static_cast<float>(std::max<long>(1, TensorOps<Tensor>::rows(x))));
    for (std::size_t i = blocks.size(); i-- > 0;) {
      const auto t0 = Clock::now();
      dy = blocks[i]->backward(contexts[i], dy);
      out[i].backward = detail::seconds_between(t0, Clock::now());
    }
    for (auto& block : blocks) block->zero_grad();
  }
  detail::restore_buffers<B>(blocks, saved);
  return out;
}

}  // namespace tspipe::runtime
