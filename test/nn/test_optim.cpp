// Optimizers against two steps worked out by hand, state export/import, schedules at their
// endpoints and midpoints, and the momentum-teacher update.
#include <tspipe/nn/optim.hpp>
#include <tspipe/nn/annealing.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <numbers>
#include <vector>

using namespace tspipe::nn;

namespace {

/// Owns one parameter's weights and gradient.
struct Param {
  std::string name;
  std::vector<float> value;
  std::vector<float> grad;
  bool no_weight_decay = false;
  ParamSlot slot() { return {name, value, grad, no_weight_decay}; }
};

void step(Optimizer& opt, std::vector<Param>& params) {
  std::vector<ParamSlot> slots;
  for (Param& p : params) slots.push_back(p.slot());
  opt.step(slots);
}

}  // namespace

TEST_CASE("SGD with Nesterov momentum and weight decay: two steps by hand") {
  // lr 0.1, μ 0.9, wd 0.01. Weight 1, gradient 0.5 both steps; the bias skips weight decay.
  Sgd sgd({.learning_rate = 0.1, .momentum = 0.9f, .weight_decay = 0.01f, .nesterov = true});
  std::vector<Param> params{{"w", {1.0f}, {0.5f}, false}, {"b", {1.0f}, {0.5f}, true}};

  step(sgd, params);
  // d = 0.5 + 0.01·1 = 0.51; v = 0.51; step = d + 0.9v = 0.969; w = 1 − 0.0969.
  CHECK(params[0].value[0] == doctest::Approx(0.9031).epsilon(1e-6));
  // bias: d = 0.5; v = 0.5; step = 0.95.
  CHECK(params[1].value[0] == doctest::Approx(0.905).epsilon(1e-6));

  step(sgd, params);
  // d = 0.5 + 0.01·0.9031 = 0.509031; v = 0.9·0.51 + d = 0.968031;
  // step = d + 0.9v = 1.3802589; w = 0.9031 − 0.13802589.
  CHECK(params[0].value[0] == doctest::Approx(0.76507411).epsilon(1e-6));
  // bias: v = 0.45 + 0.5 = 0.95; step = 0.5 + 0.855 = 1.355; b = 0.905 − 0.1355.
  CHECK(params[1].value[0] == doctest::Approx(0.7695).epsilon(1e-6));
  CHECK(sgd.export_state().at("w/momentum")[0] == doctest::Approx(0.968031).epsilon(1e-6));
}

TEST_CASE("SGD with heavy-ball momentum: the step is the velocity itself") {
  Sgd sgd({.learning_rate = 0.5, .momentum = 0.5f});
  std::vector<Param> params{{"w", {0.0f, 2.0f}, {1.0f, -2.0f}}};
  step(sgd, params);  // v = g; w −= 0.5·g
  CHECK(params[0].value == std::vector<float>{-0.5f, 3.0f});
  step(sgd, params);  // v = 0.5g + g = 1.5g; w −= 0.75·g
  CHECK(params[0].value == std::vector<float>{-1.25f, 4.5f});
}

TEST_CASE("AdamW: two steps by hand, decoupled decay, bias correction by step count") {
  const double lr = 0.1, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.01;
  AdamW adam({.learning_rate = lr, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.01f});
  std::vector<Param> params{{"w", {1.0f}, {0.5f}}};

  step(adam, params);
  double w = 1.0 - lr * wd * 1.0;                    // 0.999
  double m = (1 - b1) * 0.5, v = (1 - b2) * 0.25;    // 0.05, 0.00025
  w -= lr * (m / (1 - b1)) / (std::sqrt(v / (1 - b2)) + eps);  // m̂ = 0.5, √v̂ = 0.5
  CHECK(w == doctest::Approx(0.899));
  CHECK(params[0].value[0] == doctest::Approx(w).epsilon(1e-6));

  params[0].grad[0] = -0.25f;
  step(adam, params);
  w -= lr * wd * w;
  m = b1 * m + (1 - b1) * -0.25;     // 0.02
  v = b2 * v + (1 - b2) * 0.0625;    // 0.00031225
  w -= lr * (m / (1 - b1 * b1)) / (std::sqrt(v / (1 - b2 * b2)) + eps);
  CHECK(params[0].value[0] == doctest::Approx(w).epsilon(1e-6));
  const auto state = adam.export_state();
  CHECK(state.at("w/step")[0] == 2.0f);
  CHECK(state.at("w/exp_avg")[0] == doctest::Approx(0.02).epsilon(1e-6));
  CHECK(state.at("w/exp_avg_sq")[0] == doctest::Approx(0.00031225).epsilon(1e-6));
}

TEST_CASE("LARS: trust ratio η‖w‖/‖g + wd·w‖ per tensor, biases excluded from decay and adaptation") {
  const double lr = 0.1, mu = 0.9, wd = 0.01, eta = 0.001;
  Lars lars({.learning_rate = lr, .momentum = 0.9f, .weight_decay = 0.01f, .eta = 0.001f});
  // The gradient is orthogonal to the weight, so ‖g + wd·w‖² = ‖g‖² + wd²‖w‖² = 1 + 0.0025 and
  // the trust ratio is 0.005 / √1.0025 = 0.0049937578; the form η‖w‖/(‖g‖ + wd‖w‖) would give
  // 0.005 / 1.05 = 0.0047619 instead.
  std::vector<Param> params{{"fc.weight", {3.0f, 4.0f}, {0.8f, -0.6f}},
                            {"fc.bias", {1.0f}, {0.5f}, true}};
  CHECK(lars.trust_ratio(params[0].slot()) == doctest::Approx(0.0049937578).epsilon(1e-6));
  CHECK(lars.trust_ratio(params[1].slot()) == 1.0f);

  step(lars, params);
  // d = g + wd·w = (0.83, −0.56); v = trust·d; w ← w − lr·v.
  CHECK(params[0].value[0] == doctest::Approx(3.0 - 0.1 * 0.0049937578 * 0.83).epsilon(1e-7));
  CHECK(params[0].value[1] == doctest::Approx(4.0 + 0.1 * 0.0049937578 * 0.56).epsilon(1e-7));
  CHECK(params[1].value[0] == doctest::Approx(0.95).epsilon(1e-6));  // plain momentum SGD: 1 − 0.1·0.5

  // The second step against a double-precision reference (momentum carries the first step's trust·d).
  std::vector<double> w{3.0 - 0.1 * 0.0049937578 * 0.83, 4.0 + 0.1 * 0.0049937578 * 0.56};
  std::vector<double> vel{0.0049937578 * 0.83, -0.0049937578 * 0.56};
  params[0].grad = {-0.3f, 0.1f};
  const std::vector<double> g{-0.3, 0.1};
  const std::vector<double> d{g[0] + wd * w[0], g[1] + wd * w[1]};
  const double trust = eta * std::hypot(w[0], w[1]) / std::hypot(d[0], d[1]);
  CHECK(lars.trust_ratio(params[0].slot()) == doctest::Approx(trust).epsilon(1e-6));
  step(lars, params);
  for (std::size_t i = 0; i < 2; ++i) {
    vel[i] = mu * vel[i] + trust * d[i];
    w[i] -= lr * vel[i];
    CHECK(params[0].value[i] == doctest::Approx(w[i]).epsilon(1e-7));
  }
  // bias: v = 0.9·0.5 + 0.5 = 0.95; b = 0.95 − 0.1·0.95, no decay, no adaptation.
  CHECK(params[1].value[0] == doctest::Approx(0.95 - 0.1 * 0.95).epsilon(1e-6));
}

TEST_CASE("LARS leaves the trust ratio at 1 for a zero weight or a zero update; decay alone still adapts") {
  Lars no_decay({.weight_decay = 0.0f});
  Param zero_weight{"w", {0.0f, 0.0f}, {1.0f, 1.0f}};
  Param zero_grad{"v", {1.0f, 1.0f}, {0.0f, 0.0f}};
  CHECK(no_decay.trust_ratio(zero_weight.slot()) == 1.0f);
  CHECK(no_decay.trust_ratio(zero_grad.slot()) == 1.0f);
  // With decay the update of a zero gradient is wd·w: trust = η‖w‖/(wd‖w‖) = η/wd, as in BYOL.
  Lars decayed({.weight_decay = 0.01f, .eta = 0.001f});
  CHECK(decayed.trust_ratio(zero_grad.slot()) == doctest::Approx(0.1).epsilon(1e-6));
  // A gradient that cancels the decay exactly: the update is zero, the ratio 1.
  Param cancelled{"u", {2.0f}, {-0.02f}};
  CHECK(decayed.trust_ratio(cancelled.slot()) == 1.0f);
}

TEST_CASE("set_learning_rate changes the next step and rejects nonsense") {
  Sgd sgd({.learning_rate = 1.0, .momentum = 0.0f});
  std::vector<Param> params{{"w", {0.0f}, {1.0f}}};
  sgd.set_learning_rate(0.25);
  CHECK(sgd.learning_rate() == 0.25);
  step(sgd, params);
  CHECK(params[0].value[0] == -0.25f);
  CHECK_THROWS_AS(sgd.set_learning_rate(-1.0), tspipe::Error);
  CHECK_THROWS_AS(sgd.set_learning_rate(NAN), tspipe::Error);
}

TEST_CASE("exported optimizer state restores into a fresh optimizer bit for bit") {
  const AdamWOptions options{.learning_rate = 0.01};
  AdamW original(options);
  std::vector<Param> a{{"w", {1.0f, -2.0f}, {0.3f, 0.1f}}, {"b", {0.5f}, {-0.2f}, true}};
  step(original, a);
  std::vector<Param> b = a;

  AdamW restored(options);
  restored.import_state(original.export_state());
  step(original, a);
  step(restored, b);
  CHECK(a[0].value == b[0].value);
  CHECK(a[1].value == b[1].value);
  CHECK(original.export_state() == restored.export_state());
}

TEST_CASE("optimizer state that does not fit is rejected with the entry's name") {
  Sgd sgd({});
  CHECK_THROWS_WITH_AS(sgd.import_state({{"w/exp_avg", {0.0f}}}),
                       "SGD: state entry 'w/exp_avg' is not state this optimizer keeps", tspipe::Error);
  sgd.import_state({{"w/momentum", {0.0f, 0.0f, 0.0f}}});
  std::vector<Param> params{{"w", {1.0f}, {1.0f}}};
  CHECK_THROWS_WITH_AS(step(sgd, params),
                       "SGD: state 'w/momentum' has 3 values but parameter 'w' needs 1", tspipe::Error);
}

TEST_CASE("optimizer steps reject mismatched gradients and duplicate names") {
  Sgd sgd({});
  std::vector<Param> params{{"w", {1.0f, 2.0f}, {1.0f}}};
  CHECK_THROWS_WITH_AS(step(sgd, params), "SGD: parameter 'w' has 2 values but 1 gradients",
                       tspipe::Error);
  std::vector<Param> twice{{"w", {1.0f}, {1.0f}}, {"w", {1.0f}, {1.0f}}};
  CHECK_THROWS_WITH_AS(step(sgd, twice),
                       "SGD: parameter name 'w' appears twice (state is keyed by name)", tspipe::Error);
}

TEST_CASE("warm-up + cosine learning rate at its endpoints and midpoints") {
  const WarmupCosineLR schedule(1.0, 10, 110, 0.1);
  CHECK(schedule.at(0) == doctest::Approx(0.1));
  CHECK(schedule.at(4) == doctest::Approx(0.5));
  CHECK(schedule.at(9) == doctest::Approx(1.0));
  CHECK(schedule.at(10) == doctest::Approx(1.0));
  CHECK(schedule.at(60) == doctest::Approx(0.55));  // halfway through the cosine
  CHECK(schedule.at(35) == doctest::Approx(0.1 + 0.9 * (1 + std::cos(std::numbers::pi / 4)) / 2));
  CHECK(schedule.at(110) == doctest::Approx(0.1));
  CHECK(schedule.at(1000) == doctest::Approx(0.1));
  const WarmupCosineLR no_warmup(2.0, 0, 4);
  CHECK(no_warmup.at(0) == doctest::Approx(2.0));
  CHECK(no_warmup.at(2) == doctest::Approx(1.0));
  CHECK(no_warmup.at(4) == doctest::Approx(0.0).scale(1.0));
  CHECK(no_warmup.at(-3) == doctest::Approx(2.0));  // before the first step: the first step's rate
  CHECK_THROWS_AS(WarmupCosineLR(1.0, 5, 4), tspipe::Error);
  CHECK_THROWS_AS(WarmupCosineLR(-1.0, 0, 4), tspipe::Error);
}

TEST_CASE("momentum τ schedules: constant, and cosine from τ₀ to 1") {
  CHECK(ConstantMomentum(0.99).at(12345) == 0.99);
  const CosineMomentum byol(0.996, 1000);
  CHECK(byol.at(0) == doctest::Approx(0.996));
  CHECK(byol.at(500) == doctest::Approx(0.998));
  CHECK(byol.at(250) == doctest::Approx(1 - 0.004 * (std::cos(std::numbers::pi / 4) + 1) / 2));
  CHECK(byol.at(1000) == 1.0);
  CHECK(byol.at(5000) == 1.0);
  CHECK_THROWS_WITH_AS(CosineMomentum(1.5, 10), "cosine τ schedule: τ must be in [0, 1], got 1.500000",
                       tspipe::Error);
  CHECK_THROWS_AS(ConstantMomentum(-0.1), tspipe::Error);
  CHECK_THROWS_AS(CosineMomentum(0.9, 0), tspipe::Error);
}

TEST_CASE("momentum teacher update pairs parameters by name, not position") {
  std::vector<Param> student{{"a", {1.0f, 2.0f}, {0.0f, 0.0f}}, {"b", {10.0f}, {0.0f}}};
  std::vector<float> teacher_b{0.0f}, teacher_a{3.0f, 4.0f};
  const std::vector<TeacherSlot> teacher{{"b", teacher_b}, {"a", teacher_a}};
  std::vector<ParamSlot> slots{student[0].slot(), student[1].slot()};

  momentum_teacher_update(teacher, slots, 0.75f);
  CHECK(teacher_a == std::vector<float>{0.75f * 3 + 0.25f * 1, 0.75f * 4 + 0.25f * 2});
  CHECK(teacher_b == std::vector<float>{2.5f});

  momentum_teacher_update(teacher, slots, 1.0f);  // τ = 1 freezes the teacher exactly
  CHECK(teacher_b == std::vector<float>{2.5f});
  momentum_teacher_update(teacher, slots, 0.0f);  // τ = 0 copies the student exactly
  CHECK(teacher_a == student[0].value);
  CHECK(teacher_b == student[1].value);
}

TEST_CASE("momentum teacher update refuses unpaired or mis-sized parameters and writes nothing") {
  std::vector<Param> student{{"a", {1.0f}, {0.0f}}, {"b", {1.0f, 1.0f}, {0.0f, 0.0f}}};
  std::vector<ParamSlot> slots{student[0].slot(), student[1].slot()};
  std::vector<float> ta{0.0f}, tb{0.0f};
  CHECK_THROWS_WITH_AS(
      momentum_teacher_update(std::vector<TeacherSlot>{{"a", ta}, {"b", tb}}, slots, 0.5f),
      "momentum teacher update: parameter 'b' has 1 values in the teacher but 2 in the student",
      tspipe::Error);
  CHECK(ta[0] == 0.0f);  // checked before anything was written
  CHECK_THROWS_WITH_AS(momentum_teacher_update(std::vector<TeacherSlot>{{"a", ta}}, slots, 0.5f),
                       "momentum teacher update: student parameter 'b' has no teacher parameter of that name",
                       tspipe::Error);
  std::vector<ParamSlot> only_a{student[0].slot()};
  CHECK_THROWS_WITH_AS(
      momentum_teacher_update(std::vector<TeacherSlot>{{"a", ta}, {"c", tb}}, only_a, 0.5f),
      "momentum teacher update: teacher parameter 'c' has no student parameter of that name",
      tspipe::Error);
  CHECK_THROWS_AS(momentum_teacher_update(std::vector<TeacherSlot>{{"a", ta}}, only_a, 1.5f),
                  tspipe::Error);
}
