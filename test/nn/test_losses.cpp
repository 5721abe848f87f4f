// Losses: known values worked out from the formulas, gradients against central differences,
// and the input validation every loss promises.
#include <tspipe/nn/losses.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

using tspipe::nn::ByolLoss;
using tspipe::nn::CrossEntropyLoss;
using tspipe::nn::LossInput;
using tspipe::nn::MatrixView;
using tspipe::nn::MocoV3Loss;
using tspipe::nn::MseLoss;
using tspipe::nn::SoftTargetKDLoss;

namespace {

/// Owns the matrices a LossInput borrows, so tests can perturb them.
struct Batch {
  int rows = 0;
  int cols = 0;
  std::vector<std::vector<float>> student;
  std::vector<std::vector<float>> teacher;
  std::vector<int> labels;

  LossInput input() const {
    LossInput in;
    for (const auto& s : student) in.student.push_back(MatrixView{s.data(), rows, cols});
    for (const auto& t : teacher) in.teacher.push_back(MatrixView{t.data(), rows, cols});
    in.labels = labels;
    return in;
  }
};

Batch random_batch(int rows, int cols, int student_views, int teacher_views, unsigned seed,
                   float spread = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, spread);
  Batch b;
  b.rows = rows;
  b.cols = cols;
  const auto matrix = [&] {
    std::vector<float> m(static_cast<std::size_t>(rows * cols));
    for (float& x : m) x = normal(rng);
    return m;
  };
  for (int v = 0; v < student_views; ++v) b.student.push_back(matrix());
  for (int v = 0; v < teacher_views; ++v) b.teacher.push_back(matrix());
  std::uniform_int_distribution<int> label(0, cols - 1);
  for (int r = 0; r < rows; ++r) b.labels.push_back(label(rng));
  return b;
}

/// Compares every analytic student gradient with (L(x+h) − L(x−h)) / 2h, and checks that the
/// gradient has the shape of the student output.
void check_gradient(const tspipe::nn::Loss& loss, Batch batch, float h = 1e-2f,
                    double tolerance = 2e-3) {
  const auto analytic = loss.compute(batch.input());
  REQUIRE(analytic.d_student.size() == batch.student.size());
  for (std::size_t v = 0; v < batch.student.size(); ++v) {
    REQUIRE(analytic.d_student[v].size() == batch.student[v].size());
    for (std::size_t i = 0; i < batch.student[v].size(); ++i) {
      const float original = batch.student[v][i];
      batch.student[v][i] = original + h;
      const double up = loss.compute(batch.input()).loss;
      batch.student[v][i] = original - h;
      const double down = loss.compute(batch.input()).loss;
      batch.student[v][i] = original;
      const double numeric = (up - down) / (2.0 * h);
      INFO(loss.name() << " view " << v << " element " << i);
      CHECK(analytic.d_student[v][i] == doctest::Approx(numeric).epsilon(tolerance).scale(1.0));
    }
  }
}

double log_sum_exp(const std::vector<double>& x) {
  double z = 0.0;
  for (double xi : x) z += std::exp(xi);
  return std::log(z);
}

}  // namespace

TEST_CASE("cross-entropy of a 2x3 batch equals the mean of log Σexp − x[label]") {
  Batch b;
  b.rows = 2;
  b.cols = 3;
  b.student = {{1.0f, 2.0f, 3.0f, 1.0f, 0.0f, -1.0f}};
  b.labels = {2, 1};
  const double row0 = log_sum_exp({1, 2, 3}) - 3.0;
  const double row1 = log_sum_exp({1, 0, -1}) - 0.0;
  const auto out = CrossEntropyLoss{}.compute(b.input());
  CHECK(out.loss == doctest::Approx((row0 + row1) / 2).epsilon(1e-6));
  // dL/dx = (softmax − onehot)/N.
  const double z0 = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  CHECK(out.d_student[0][0] == doctest::Approx(std::exp(1.0) / z0 / 2).epsilon(1e-5));
  CHECK(out.d_student[0][2] == doctest::Approx((std::exp(3.0) / z0 - 1.0) / 2).epsilon(1e-5));
  const double z1 = std::exp(1.0) + 1.0 + std::exp(-1.0);
  CHECK(out.d_student[0][4] == doctest::Approx((1.0 / z1 - 1.0) / 2).epsilon(1e-5));
}

TEST_CASE("cross-entropy stays finite for logits far beyond exp's range") {
  Batch b;
  b.rows = 1;
  b.cols = 2;
  b.student = {{1000.0f, -1000.0f}};
  b.labels = {1};
  const auto out = CrossEntropyLoss{}.compute(b.input());
  CHECK(out.loss == doctest::Approx(2000.0));
  CHECK(out.d_student[0][0] == doctest::Approx(1.0));
  CHECK(out.d_student[0][1] == doctest::Approx(-1.0));
}

TEST_CASE("KD loss is CE + λ·T²·batch-mean KL(softmax(t/T) ‖ softmax(s/T))") {
  Batch b;
  b.rows = 2;
  b.cols = 3;
  b.student = {{1.0f, 2.0f, 3.0f, 0.5f, -0.5f, 0.0f}};
  b.teacher = {{3.0f, 1.0f, 2.0f, 0.0f, 4.0f, -2.0f}};
  b.labels = {0, 1};
  const double temperature = 4.0;
  const double lambda = 0.1;

  double ce = 0.0;
  double kl = 0.0;
  for (int r = 0; r < 2; ++r) {
    std::vector<double> s, t, s_soft, t_soft;
    for (int c = 0; c < 3; ++c) {
      s.push_back(b.student[0][static_cast<std::size_t>(r * 3 + c)]);
      t.push_back(b.teacher[0][static_cast<std::size_t>(r * 3 + c)]);
      s_soft.push_back(s.back() / temperature);
      t_soft.push_back(t.back() / temperature);
    }
    ce += log_sum_exp(s) - s[static_cast<std::size_t>(b.labels[static_cast<std::size_t>(r)])];
    const double log_zs = log_sum_exp(s_soft);
    const double log_zt = log_sum_exp(t_soft);
    for (int c = 0; c < 3; ++c) {
      const double log_pt = t_soft[static_cast<std::size_t>(c)] - log_zt;
      const double log_ps = s_soft[static_cast<std::size_t>(c)] - log_zs;
      kl += std::exp(log_pt) * (log_pt - log_ps);
    }
  }
  const double expected = ce / 2 + lambda * temperature * temperature * kl / 2;

  const SoftTargetKDLoss kd;  // the docs/design.md §6 defaults
  CHECK(kd.temperature() == 4.0f);
  CHECK(kd.soft_weight() == doctest::Approx(0.1));
  CHECK(kd.compute(b.input()).loss == doctest::Approx(expected).epsilon(1e-5));
}

TEST_CASE("KD loss with the teacher equal to the student is exactly the cross-entropy") {
  Batch b = random_batch(4, 5, 1, 1, 7);
  b.teacher[0] = b.student[0];
  const auto kd = SoftTargetKDLoss{}.compute(b.input());
  const auto ce = CrossEntropyLoss{}.compute(b.input());
  CHECK(kd.loss == doctest::Approx(ce.loss).epsilon(1e-6));
  for (std::size_t i = 0; i < ce.d_student[0].size(); ++i)
    CHECK(kd.d_student[0][i] == doctest::Approx(ce.d_student[0][i]).epsilon(1e-5).scale(1e-6));
}

TEST_CASE("BYOL loss: 2 − 2cos per pair, each view's prediction against the other view's target") {
  Batch b;
  b.rows = 2;
  b.cols = 2;
  // q1 row 0 ⟂ z2 row 0 (cos 0); q1 row 1 ∥ z2 row 1 (cos 1).
  // q2 row 0 opposite z1 row 0 (cos −1); q2 row 1 at 45° to z1 row 1 (cos 1/√2).
  b.student = {{1, 0, 3, 4}, {-2, 0, 1, 1}};
  b.teacher = {{5, 0, 0, 7}, {0, 2, 6, 8}};
  const double first = ((2 - 2 * 0.0) + (2 - 2 * 1.0)) / 2;
  const double second = ((2 - 2 * -1.0) + (2 - 2 * (1 / std::sqrt(2.0)))) / 2;
  const auto out = ByolLoss{}.compute(b.input());
  CHECK(out.loss == doctest::Approx(first + second).epsilon(1e-6));
  // Aligned vectors sit at the minimum: no gradient on q1 row 1.
  CHECK(out.d_student[0][2] == doctest::Approx(0.0).scale(1.0));
  CHECK(out.d_student[0][3] == doctest::Approx(0.0).scale(1.0));
  // q1 row 0 = (1,0) vs ẑ = (0,1): d(2−2cos)/dq = −2(ẑ − cos q̂)/‖q‖ / N = (0, −1).
  CHECK(out.d_student[0][0] == doctest::Approx(0.0).scale(1.0));
  CHECK(out.d_student[0][1] == doctest::Approx(-1.0));
}

TEST_CASE("MoCo-v3 loss with orthonormal keys matches 2T·log(1 + e^(−1/T)) per direction") {
  Batch b;
  b.rows = 2;
  b.cols = 2;
  b.student = {{3, 0, 0, 0.5f}, {1, 0, 0, 2}};  // already parallel to the keys, any length
  b.teacher = {{1, 0, 0, 1}, {2, 0, 0, 9}};
  const double temperature = 0.2;
  // Each row's logits are (1/T, 0) with the positive first (or second): CE = log(1 + e^(−1/T)).
  const double ctr = 2 * temperature * std::log(1 + std::exp(-1 / temperature));
  const MocoV3Loss moco;
  CHECK(moco.temperature() == doctest::Approx(0.2));
  CHECK(moco.compute(b.input()).loss == doctest::Approx(2 * ctr).epsilon(1e-5));
}

TEST_CASE("MSE loss is the element mean of squared differences, summed over views") {
  Batch b;
  b.rows = 1;
  b.cols = 2;
  b.student = {{1, 2}, {0, 0}};
  b.teacher = {{0, 0}, {3, 0}};
  const auto out = MseLoss{}.compute(b.input());
  CHECK(out.loss == doctest::Approx((1.0 + 4.0) / 2 + 9.0 / 2));
  CHECK(out.d_student[0][1] == doctest::Approx(2.0 * 2 / 2));
  CHECK(out.d_student[1][0] == doctest::Approx(2.0 * -3 / 2));
}

TEST_CASE("every loss's gradient matches central differences") {
  SUBCASE("cross-entropy") { check_gradient(CrossEntropyLoss{}, random_batch(3, 5, 1, 0, 1)); }
  SUBCASE("KD, default T and λ") {
    check_gradient(SoftTargetKDLoss{}, random_batch(3, 4, 1, 1, 2, 3.0f));
  }
  SUBCASE("KD, soft term dominant") {
    check_gradient(SoftTargetKDLoss{2.0f, 5.0f}, random_batch(3, 4, 1, 1, 3));
  }
  SUBCASE("BYOL") { check_gradient(ByolLoss{}, random_batch(3, 4, 2, 2, 4)); }
  SUBCASE("MoCo-v3") { check_gradient(MocoV3Loss{}, random_batch(4, 3, 2, 2, 5), 5e-3f); }
  SUBCASE("MoCo-v3, T = 1") { check_gradient(MocoV3Loss{1.0f}, random_batch(4, 3, 2, 2, 6)); }
  SUBCASE("MSE") { check_gradient(MseLoss{}, random_batch(2, 3, 2, 2, 8)); }
}

TEST_CASE("a NaN or Inf reaching a loss names the loss, the side, the view, the row and the column") {
  Batch b = random_batch(4, 3, 1, 1, 9);
  b.student[0][3 * 3 + 1] = std::nanf("");
  CHECK_THROWS_WITH_AS(SoftTargetKDLoss{}.compute(b.input()),
                       "KD loss: student output view 0 row 3 col 1 is NaN", tspipe::Error);
  b = random_batch(2, 3, 2, 2, 10);
  b.teacher[1][2] = -INFINITY;
  CHECK_THROWS_WITH_AS(ByolLoss{}.compute(b.input()),
                       "BYOL loss: teacher output view 1 row 0 col 2 is Inf", tspipe::Error);
}

TEST_CASE("losses reject inputs that do not fit them, naming the problem") {
  Batch b = random_batch(2, 3, 1, 1, 11);
  b.labels = {0, 3};
  CHECK_THROWS_WITH_AS(CrossEntropyLoss{}.compute(b.input()),
                       "cross-entropy loss: label 1 is 3, outside [0, 3)", tspipe::Error);
  b.labels = {0};
  CHECK_THROWS_WITH_AS(CrossEntropyLoss{}.compute(b.input()),
                       "cross-entropy loss: 1 labels for a batch of 2", tspipe::Error);
  CHECK_THROWS_WITH_AS(ByolLoss{}.compute(b.input()),
                       "BYOL loss: expected 2 student view(s), got 1", tspipe::Error);
  Batch mismatched = random_batch(2, 3, 2, 2, 12);
  LossInput in = mismatched.input();
  in.teacher[1].cols = 2;
  CHECK_THROWS_WITH_AS(MocoV3Loss{}.compute(in),
                       "MoCo-v3 loss: student output view 0 is 2x3 but teacher output view 1 is 2x2",
                       tspipe::Error);
  CHECK_THROWS_AS(SoftTargetKDLoss(0.0f), tspipe::Error);
  CHECK_THROWS_AS(MocoV3Loss(-1.0f), tspipe::Error);
}
