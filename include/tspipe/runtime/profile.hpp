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
      const nn::Tensor host = TensorOps<typename B::Tensor>::to_host(*buffer.value);
      saved.emplace_back(host.data(), host.data() + host.numel());
    }
  return saved;
}
template <class B>
void restore_buffers(std::vector<nn::LayerPtr<B>>& blocks, const std::vector<std::vector<float>>& saved) {
  std::size_t i = 0;
  for (auto& block : blocks)
    for (auto& buffer : block->buffers()) {
      TensorOps<typename B::Tensor>::copy_from_host(*buffer.value, saved[i]);
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
/// a student, forward and backward (from a constant gradient). The whole chain runs `repeats`
/// times and each block keeps its fastest time: the first passes pay for cold caches and for the
/// allocator growing its pools, which training in steady state does not. Throws tspipe::Error
/// naming the first block whose input shape does not fit.
template <class B>
std::vector<partition::BlockCost> profile_blocks(std::vector<nn::LayerPtr<B>>& blocks, const typename B::Tensor& sample,
                                                 bool student, int repeats = 4) {
  using Tensor = typename B::Tensor;
  using Clock = std::chrono::steady_clock;
  const std::string which = student ? "student" : "teacher";
  const auto saved = detail::save_buffers<B>(blocks);
  std::vector<partition::BlockCost> out(blocks.size());
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    out[i].parameter_bytes = detail::parameter_bytes(*blocks[i]);
    out[i].infer = student ? 0.0 : 1e300;
    out[i].forward = out[i].backward = student ? 1e300 : 0.0;
  }
  for (int r = 0; r < std::max(1, repeats); ++r) {
    std::vector<nn::Context<B>> contexts(blocks.size());
    Tensor x = sample;
    for (std::size_t i = 0; i < blocks.size(); ++i) {
      partition::BlockCost& cost = out[i];
      try {
        const auto t0 = Clock::now();
        Tensor y;
        if (student) {
          auto [fy, ctx] = blocks[i]->forward(x);
          y = fy;
          contexts[i] = std::move(ctx);
          cost.forward = std::min(cost.forward, detail::seconds_between(t0, Clock::now()));
          if (r == 0)
            for (const Tensor& t : contexts[i].tensors) cost.activation_bytes += 4.0 * static_cast<double>(t.numel());
        } else {
          y = blocks[i]->infer(x);
          cost.infer = std::min(cost.infer, detail::seconds_between(t0, Clock::now()));
        }
        x = y;
      } catch (const std::exception& e) {
        detail::restore_buffers<B>(blocks, saved);
        throw Error(which + " block " + std::to_string(i) + " (" + blocks[i]->kind() + ") rejects " +
                    (i == 0 ? std::string("the input ") : "the output of block " + std::to_string(i - 1) + " ") +
                    TensorOps<Tensor>::shape(x) + ": " + e.what());
      }
    }
    if (!student) continue;
    Tensor dy = TensorOps<Tensor>::filled_like(x, 1.0f / static_cast<float>(std::max<long>(1, TensorOps<Tensor>::rows(x))));
    for (std::size_t i = blocks.size(); i-- > 0;) {
      const auto t0 = Clock::now();
      dy = blocks[i]->backward(contexts[i], dy);
      out[i].backward = std::min(out[i].backward, detail::seconds_between(t0, Clock::now()));
    }
  }
  if (student)
    for (auto& block : blocks) block->zero_grad();
  detail::restore_buffers<B>(blocks, saved);
  return out;
}

}  // namespace tspipe::runtime
