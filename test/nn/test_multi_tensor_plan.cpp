// The multi-tensor launch plan: every element of every tensor in exactly one chunk, no launch over
// its limits, large tensors continued across launches, empty ones skipped; and AdamW and SGD run
// launch by launch over the plan equal the per-tensor optimizers (nn::AdamW, nn::Sgd) bit for bit.
#include <tspipe/kernels/ema.hpp>
#include <tspipe/kernels/optim.hpp>
#include <tspipe/nn/multi_tensor_plan.hpp>
#include <tspipe/nn/optim.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

using namespace tspipe::nn;

namespace {

std::vector<std::int64_t> mixed_sizes() {
  const std::int64_t c = kMultiTensorChunk;
  std::vector<std::int64_t> sizes = {0, 1, c - 1, c, c + 1, 3, 0, 5 * c + 17};
  std::mt19937 random(11);
  for (int i = 0; i < 120; ++i) sizes.push_back(static_cast<std::int64_t>(random() % 3000));  // biases and norms
  sizes.push_back(300 * c + 5);  // more chunks than one launch holds
  for (int i = 0; i < 5; ++i) sizes.push_back(c / 2);
  return sizes;
}

}  // namespace

TEST_CASE("the plan covers every element exactly once, within each launch's limits") {
  const auto sizes = mixed_sizes();
  const auto launches = plan_multi_tensor(sizes);
  std::vector<std::vector<int>> covered(sizes.size());
  for (std::size_t t = 0; t < sizes.size(); ++t) covered[t].assign(static_cast<std::size_t>(sizes[t]), 0);
  std::int64_t total_chunks = 0;
  int previous_last = -1;
  for (const auto& launch : launches) {
    REQUIRE(launch.tensor_count >= 1);
    REQUIRE(launch.tensor_count <= kMultiTensorMaxTensors);
    REQUIRE(launch.chunk_count >= 1);
    REQUIRE(launch.chunk_count <= kMultiTensorMaxChunks);
    // In the caller's order: a launch starts with the tensor the last one ended with, or a later one.
    REQUIRE(launch.caller_index[0] >= previous_last);
    for (int t = 1; t < launch.tensor_count; ++t) REQUIRE(launch.caller_index[t] > launch.caller_index[t - 1]);
    previous_last = launch.caller_index[launch.tensor_count - 1];
    for (int c = 0; c < launch.chunk_count; ++c) {
      const int local = launch.chunks[c].tensor;
      REQUIRE(local >= 0);
      REQUIRE(local < launch.tensor_count);
      const auto t = static_cast<std::size_t>(launch.caller_index[local]);
      REQUIRE(launch.sizes[local] == sizes[t]);
      REQUIRE(launch.begin(c) < launch.end(c));  // no empty chunk
      for (std::int64_t i = launch.begin(c); i < launch.end(c); ++i) ++covered[t][static_cast<std::size_t>(i)];
    }
    total_chunks += launch.chunk_count;
  }
  for (std::size_t t = 0; t < sizes.size(); ++t) {
    CAPTURE(t);
    CHECK(std::count(covered[t].begin(), covered[t].end(), 1) == sizes[t]);
  }
  // Few launches: no more than the chunk and tensor limits force.
  std::int64_t tensors = 0;
  for (auto s : sizes) tensors += s > 0;
  const auto ceil_div = [](std::int64_t a, std::int64_t b) { return (a + b - 1) / b; };
  CHECK(static_cast<std::int64_t>(launches.size()) <=
        ceil_div(total_chunks, kMultiTensorMaxChunks) + ceil_div(tensors, kMultiTensorMaxTensors));
  CHECK(plan_multi_tensor(std::vector<std::int64_t>{}).empty());
  CHECK(plan_multi_tensor(std::vector<std::int64_t>{0, 0}).empty());
  CHECK_THROWS_WITH_AS(plan_multi_tensor(std::vector<std::int64_t>{4, -1}), "plan_multi_tensor: tensor 1 has a negative size -1",
                       tspipe::Error);
}

TEST_CASE("AdamW, SGD and the EMA run launch by launch equal the per-tensor updates bit for bit") {
  std::vector<std::int64_t> sizes = {kMultiTensorChunk + 3, 7, 0, 2 * kMultiTensorChunk, 1000};
  for (int i = 0; i < 60; ++i) sizes.push_back(40 + i);  // more tensors than one launch holds
  std::mt19937 random(5);
  std::normal_distribution<float> normal;
  const auto filled = [&](std::int64_t n) {
    std::vector<float> v(static_cast<std::size_t>(n));
    for (auto& x : v) x = normal(random);
    return v;
  };
  std::vector<std::vector<float>> weights, grads;
  for (auto n : sizes) {
    weights.push_back(filled(n));
    grads.push_back(filled(n));
  }
  const auto launches = plan_multi_tensor(sizes);
  CHECK(launches.size() >= 2);

  SUBCASE("AdamW") {
    const AdamWOptions options{.learning_rate = 1e-2, .weight_decay = 0.05f};
    auto reference = weights;
    AdamW per_tensor(options);
    std::vector<ParamSlot> slots;
    for (std::size_t t = 0; t < sizes.size(); ++t)
      slots.push_back({"p" + std::to_string(t), reference[t], grads[t], t % 3 == 1});
    auto grouped = weights;
    std::vector<std::vector<float>> first(sizes.size()), second(sizes.size());
    for (std::size_t t = 0; t < sizes.size(); ++t) first[t].assign(weights[t].size(), 0.0f), second[t].assign(weights[t].size(), 0.0f);
    for (long step = 1; step <= 3; ++step) {
      per_tensor.step(slots);
      const auto correction = tspipe::kernels::adam_bias_correction(options.beta1, options.beta2, step);
      for (const auto& launch : launches)
        for (int c = 0; c < launch.chunk_count; ++c) {
          const auto t = static_cast<std::size_t>(launch.caller_index[launch.chunks[c].tensor]);
          const float wd = t % 3 == 1 ? 0.0f : options.weight_decay;
          for (auto i = static_cast<std::size_t>(launch.begin(c)); i < static_cast<std::size_t>(launch.end(c)); ++i)
            tspipe::kernels::adamw_update(grouped[t][i], first[t][i], second[t][i], grads[t][i], static_cast<float>(options.learning_rate),
                                          options.beta1, options.beta2, options.eps, wd, correction);
        }
    }
    CHECK(grouped == reference);
  }
  SUBCASE("SGD with Nesterov momentum") {
    const SgdOptions options{.learning_rate = 0.1, .momentum = 0.9f, .weight_decay = 5e-4f, .nesterov = true};
    auto reference = weights;
    Sgd per_tensor(options);
    std::vector<ParamSlot> slots;
    for (std::size_t t = 0; t < sizes.size(); ++t) slots.push_back({"p" + std::to_string(t), reference[t], grads[t], false});
    auto grouped = weights;
    std::vector<std::vector<float>> velocity(sizes.size());
    for (std::size_t t = 0; t < sizes.size(); ++t) velocity[t].assign(weights[t].size(), 0.0f);
    for (int step = 0; step < 3; ++step) {
      per_tensor.step(slots);
      for (const auto& launch : launches)
        for (int c = 0; c < launch.chunk_count; ++c) {
          const auto t = static_cast<std::size_t>(launch.caller_index[launch.chunks[c].tensor]);
          for (auto i = static_cast<std::size_t>(launch.begin(c)); i < static_cast<std::size_t>(launch.end(c)); ++i)
            tspipe::kernels::sgd_update(grouped[t][i], velocity[t][i], grads[t][i], static_cast<float>(options.learning_rate),
                                        options.momentum, options.weight_decay, options.nesterov);
        }
    }
    CHECK(grouped == reference);
  }
  SUBCASE("the EMA of a teacher") {
    auto reference = weights, grouped = weights;
    for (std::size_t t = 0; t < sizes.size(); ++t)
      tspipe::kernels::ema_update(reference[t].data(), grads[t].data(), static_cast<long>(sizes[t]), 0.99f);
    for (const auto& launch : launches)
      for (int c = 0; c < launch.chunk_count; ++c) {
        const auto t = static_cast<std::size_t>(launch.caller_index[launch.chunks[c].tensor]);
        tspipe::kernels::ema_update(grouped[t].data() + launch.begin(c), grads[t].data() + launch.begin(c),
                                    static_cast<long>(launch.end(c) - launch.begin(c)), 0.99f);
      }
    CHECK(grouped == reference);
  }
}
