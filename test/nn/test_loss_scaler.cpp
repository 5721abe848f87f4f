// The dynamic loss scaler's state machine on hand-computed sequences: back-off and skip on a
// non-finite step, growth after growth_interval clean steps in a row (the count restarting on every
// change), no growth past float's range, checkpointed state restored exactly, bad options refused.
#include <tspipe/nn/loss_scaler.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

using tspipe::nn::DynamicLossScaler;
using tspipe::nn::LossScalerOptions;

TEST_CASE("the scale backs off on a non-finite step, which is skipped, and grows after the interval") {
  DynamicLossScaler scaler({.initial_scale = 1024.0f, .growth_factor = 2.0f, .backoff_factor = 0.5f, .growth_interval = 3});
  // steps:            ok    ok    inf    ok    ok    ok    ok    nan   ok
  const std::vector<bool> bad = {false, false, true, false, false, false, false, true, false};
  const std::vector<bool> applied = {true, true, false, true, true, true, true, false, true};
  // By hand: 1024, 1024, then the inf halves it (512) and restarts the count; three clean steps
  // double it (1024) on the third; one more clean; the NaN halves it (512); one clean.
  const std::vector<float> scale_after = {1024, 1024, 512, 512, 512, 1024, 1024, 512, 512};
  for (std::size_t i = 0; i < bad.size(); ++i) {
    CAPTURE(i);
    CHECK(scaler.update(bad[i]) == applied[i]);
    CHECK(scaler.scale() == scale_after[i]);
  }
  CHECK(scaler.skipped_steps() == 2);
  CHECK(scaler.state().clean_steps == 1);
}

TEST_CASE("PyTorch's defaults: 2^16, doubling after 2000 clean steps") {
  DynamicLossScaler scaler;
  CHECK(scaler.scale() == 65536.0f);
  for (int i = 0; i < 1999; ++i) scaler.update(false);
  CHECK(scaler.scale() == 65536.0f);
  scaler.update(false);
  CHECK(scaler.scale() == 131072.0f);
}

TEST_CASE("growth that would overflow keeps the scale; repeated overflow backs off towards the gradients' range") {
  DynamicLossScaler scaler({.initial_scale = std::numeric_limits<float>::max(), .growth_interval = 1});
  CHECK(scaler.update(false));
  CHECK(scaler.scale() == std::numeric_limits<float>::max());
  DynamicLossScaler backing({.initial_scale = 65536.0f});
  for (int i = 0; i < 16; ++i) CHECK_FALSE(backing.update(true));
  CHECK(backing.scale() == 1.0f);
}

TEST_CASE("a restored state continues exactly; an impossible one is refused") {
  DynamicLossScaler a({.initial_scale = 8.0f, .growth_interval = 4});
  for (bool bad : {false, false, true, false, false}) a.update(bad);
  DynamicLossScaler b({.initial_scale = 8.0f, .growth_interval = 4});
  b.restore(a.state());
  for (bool bad : {false, false, false, true, false}) CHECK(a.update(bad) == b.update(bad));
  CHECK(a.state() == b.state());
  CHECK_THROWS_WITH_AS(b.restore({.scale = std::numeric_limits<float>::infinity(), .clean_steps = 0}),
                       doctest::Contains("cannot restore scale inf"), tspipe::Error);
  CHECK_THROWS_WITH_AS(b.restore({.scale = 2.0f, .clean_steps = 4}), doctest::Contains("after 4 clean steps (growth_interval 4)"),
                       tspipe::Error);
}

TEST_CASE("options out of range are refused by name") {
  CHECK_THROWS_WITH_AS(DynamicLossScaler({.initial_scale = 0.0f}), doctest::Contains("initial_scale must be finite and > 0"), tspipe::Error);
  CHECK_THROWS_WITH_AS(DynamicLossScaler({.growth_factor = 1.0f}), doctest::Contains("growth_factor must be finite and > 1"), tspipe::Error);
  CHECK_THROWS_WITH_AS(DynamicLossScaler({.backoff_factor = 1.0f}), doctest::Contains("backoff_factor must be in (0, 1)"), tspipe::Error);
  CHECK_THROWS_WITH_AS(DynamicLossScaler({.growth_interval = 0}), doctest::Contains("growth_interval must be >= 1"), tspipe::Error);
}

TEST_CASE("all_finite finds an inf or a NaN anywhere") {
  std::vector<float> g(100, 1.0f);
  CHECK(tspipe::nn::all_finite(g));
  for (std::size_t at : {std::size_t{0}, std::size_t{57}, std::size_t{99}}) {
    for (float bad : {std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(), std::nanf("")}) {
      std::vector<float> h = g;
      h[at] = bad;
      CHECK_FALSE(tspipe::nn::all_finite(h));
    }
  }
}
