#pragma once
// The model the CPU runtime benchmarks pipeline: an MLP as blocks, each a Sequential of a Linear
// and (all but the last) a ReLU. A benchmark that needs more in a block (a timed spin, say) adds
// it through `extend`, so every benchmark builds the same Linear/ReLU layers with the same seeds.
#include <tspipe/cpu/backend.hpp>
#include <tspipe/nn/layer.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace tspipe::bench {

using MlpBlockExtension =
    std::function<void(std::size_t block, const std::string& name, nn::Sequential<cpu::Backend>& sequential)>;

/// Block i holds `<prefix>i` = Linear(widths[i] → widths[i+1], seed + i), then `<prefix>i_act` =
/// ReLU except in the last block, then whatever `extend(i, "<prefix>i", block)` adds.
inline std::vector<nn::LayerPtr<cpu::Backend>> mlp_blocks(const std::vector<int64_t>& widths, std::uint64_t seed,
                                                          const std::string& prefix,
                                                          const MlpBlockExtension& extend = {}) {
  using B = cpu::Backend;
  std::vector<nn::LayerPtr<B>> blocks;
  for (std::size_t i = 0; i + 1 < widths.size(); ++i) {
    const std::string name = prefix + std::to_string(i);
    auto block = std::make_unique<nn::Sequential<B>>();
    block->add(name, B::linear(widths[i], widths[i + 1], true, seed + i, name));
    if (i + 2 < widths.size()) block->add(name + "_act", B::relu());
    if (extend) extend(i, name, *block);
    blocks.push_back(std::move(block));
  }
  return blocks;
}

}  // namespace tspipe::bench
