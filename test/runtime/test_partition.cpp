// The partitioner: optimal contiguous cuts against brute force, shared cuts for momentum teachers,
// memory caps, explicit cuts, and the profiler's shape check.
#include <doctest/doctest.h>

#include "common.hpp"

#include <tspipe/partition/partitioner.hpp>
#include <tspipe/runtime/profile.hpp>

using namespace tspipe::partition;

namespace {
std::vector<BlockCost> costs(const std::vector<double>& infer, const std::vector<double>& train) {
  std::vector<BlockCost> out;
  for (std::size_t i = 0; i < std::max(infer.size(), train.size()); ++i) {
    BlockCost c;
    if (i < infer.size()) c.infer = infer[i];
    if (i < train.size()) {
      c.forward = train[i] / 3;
      c.backward = 2 * train[i] / 3;
    }
    c.parameter_bytes = 100;
    c.activation_bytes = 10;
    out.push_back(c);
  }
  return out;
}

/// Brute force over every pair of cut vectors.
double brute_force(const std::vector<BlockCost>& t, const std::vector<BlockCost>& s, int stages) {
  double best = 1e300;
  const int T = static_cast<int>(t.size()), N = static_cast<int>(s.size());
  std::vector<int> tc(static_cast<std::size_t>(stages + 1)), sc(static_cast<std::size_t>(stages + 1));
  std::function<void(int)> choose_t, choose_s;
  choose_s = [&](int k) {
    if (k == stages) {
      double worst = 0;
      for (int st = 0; st < stages; ++st) {
        double c = 0;
        for (int i = tc[st]; i < tc[st + 1]; ++i) c += t[i].infer;
        for (int i = sc[st]; i < sc[st + 1]; ++i) c += s[i].forward + s[i].backward;
        worst = std::max(worst, c);
      }
      best = std::min(best, worst);
      return;
    }
    for (int c = sc[k - 1] + 1; c <= N - (stages - k); ++c) {
      sc[k] = c;
      choose_s(k + 1);
    }
  };
  choose_t = [&](int k) {
    if (k == stages) {
      sc[0] = 0;
      sc[stages] = N;
      choose_s(1);
      return;
    }
    for (int c = tc[k - 1] + 1; c <= T - (stages - k); ++c) {
      tc[k] = c;
      choose_t(k + 1);
    }
  };
  tc[0] = 0;
  tc[stages] = T;
  choose_t(1);
  return best;
}
}  // namespace

TEST_CASE("balance finds the optimal bottleneck (against brute force)") {
  tspipe::nn::Rng rng(3);
  for (int trial = 0; trial < 30; ++trial) {
    std::vector<double> ti, st;
    const int T = 3 + trial % 5, N = 3 + (trial * 7) % 6;
    for (int i = 0; i < T; ++i) ti.push_back(0.1 + rng.uniform() * 3);
    for (int i = 0; i < N; ++i) st.push_back(0.1 + rng.uniform());
    const auto t = costs(ti, {}), s = costs({}, st);
    for (int stages = 1; stages <= std::min(T, N); ++stages) {
      PartitionRequest request;
      request.stages = stages;
      auto plan = balance(t, s, request);
      REQUIRE(plan.ok());
      CHECK(plan.value().bottleneck == doctest::Approx(brute_force(t, s, stages)));
      CHECK(plan.value().teacher_bounds.front() == 0);
      CHECK(plan.value().teacher_bounds.back() == T);
      CHECK(plan.value().student_bounds.back() == N);
    }
  }
}

TEST_CASE("a momentum teacher shares the student's cuts; extra student blocks go to the last stage") {
  const auto t = costs({1, 1, 1, 1}, {});
  const auto s = costs({}, {1, 1, 1, 1, 5});  // the last block is a predictor head
  PartitionRequest request;
  request.stages = 2;
  request.shared_cuts = true;
  auto plan = balance(t, s, request).value();
  CHECK(plan.teacher_bounds == std::vector<int>{0, plan.teacher_bounds[1], 4});
  CHECK(plan.student_bounds[1] == plan.teacher_bounds[1]);
  CHECK(plan.student_bounds[2] == 5);
}

TEST_CASE("memory cap: an infeasible cap is an error naming it; a tight one changes the cuts") {
  auto t = costs({1, 1, 1, 1}, {});
  auto s = costs({}, {1, 1, 1, 1});
  t[0].parameter_bytes = 5000;
  PartitionRequest request;
  request.stages = 2;
  request.memory_cap_bytes = 100;
  auto none = balance(t, s, request);
  REQUIRE_FALSE(none.ok());
  CHECK(none.message().find("memory cap") != std::string::npos);
  request.memory_cap_bytes = 0;
  CHECK(balance(t, s, request).ok());
}

TEST_CASE("explicit cuts are checked") {
  CHECK(bounds_from_cuts({2}, 4, 2, "student").value() == std::vector<int>{0, 2, 4});
  CHECK(bounds_from_cuts({2, 2}, 4, 3, "student").message().find("cut 2 must lie in (2, 4)") != std::string::npos);
  CHECK(bounds_from_cuts({}, 4, 2, "teacher").message().find("need 1 cut points") != std::string::npos);
  CHECK(bounds_from_cuts({1, 2, 3}, 3, 4, "teacher").message().find("4 stages need at least as many blocks") != std::string::npos);
}

TEST_CASE("profiling measures every block, restores BatchNorm statistics and zeroes gradients") {
  using test::B;
  test::Blocks blocks = test::mlp({4, 6, 3}, 9);
  blocks.push_back(tspipe::nn::named<B>("bn", B::batch_norm1d(3, "bn")));
  const auto before = test::values_of(test::as_model({}).parameters());
  std::vector<float> running_before;
  for (auto& buffer : blocks.back()->buffers())
    running_before.insert(running_before.end(), buffer.value->span().begin(), buffer.value->span().end());
  const auto costs = tspipe::runtime::profile_blocks<B>(blocks, test::Tensor::randn({5, 4}, 1), true);
  REQUIRE(costs.size() == 3);
  for (const auto& c : costs) {
    CHECK(c.forward > 0.0);
    CHECK(c.backward > 0.0);
  }
  CHECK(costs[0].parameter_bytes == 4.0 * (4 * 6 + 6));
  std::vector<float> running_after;
  for (auto& buffer : blocks.back()->buffers())
    running_after.insert(running_after.end(), buffer.value->span().begin(), buffer.value->span().end());
  CHECK(running_after == running_before);
  for (auto& block : blocks)
    for (auto& p : block->parameters())
      for (float g : p.grad->span()) CHECK(g == 0.0f);
  (void)before;
}
