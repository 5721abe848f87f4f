// The weighted kNN classifier of the self-supervised learning monitor on a feature set small enough
// to work out by hand: cosine similarities, the k nearest with ties to the lower row, exp(cos/T)
// votes, and the temperature deciding between a near neighbour and a majority.
#include <tspipe/nn/knn.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <vector>

using tspipe::nn::KnnClassifier;
using tspipe::nn::KnnOptions;
using tspipe::nn::LabelledFeatures;

namespace {

// Five 2-D bank rows; row 4 is row 2 at twice the length (the same direction once normalised).
const std::vector<float> bank_values{1.0f, 0.0f,   // class 0
                                     0.8f, 0.6f,   // class 0
                                     0.0f, 1.0f,   // class 1
                                     -1.0f, 0.0f,  // class 2
                                     0.0f, 2.0f};  // class 1
const std::vector<int> bank_labels{0, 0, 1, 2, 1};
const LabelledFeatures bank{bank_values, bank_labels, 2};

}  // namespace

TEST_CASE("kNN votes: the k most cosine-similar rows, ties to the lower row, weights exp(cos/T)") {
  const double t = 0.1;
  const KnnClassifier knn(bank, 3, KnnOptions{.k = 3, .temperature = t});
  // Query (1, 1): cos 1/√2 to rows 0, 2 and 4, 1.4/√2 to row 1, −1/√2 to row 3. The nearest three
  // are row 1 and, of the three-way tie, rows 0 and 2.
  const std::vector<float> query{1.0f, 1.0f};
  const std::vector<double> votes = knn.class_votes(query);
  const double c = 1.0 / std::sqrt(2.0), c1 = 1.4 / std::sqrt(2.0);
  REQUIRE(votes.size() == 3);
  CHECK(votes[0] == doctest::Approx(std::exp(c1 / t) + std::exp(c / t)).epsilon(1e-5));
  CHECK(votes[1] == doctest::Approx(std::exp(c / t)).epsilon(1e-5));
  CHECK(votes[2] == 0.0);
  CHECK(knn.predict(query) == std::vector<int>{0});
}

TEST_CASE("kNN: the temperature decides between one near neighbour and a majority of two") {
  // Query (0.6, 0.8): cos 0.96 to row 1 (class 0), 0.8 to rows 2 and 4 (class 1), 0.6 to row 0.
  // k = 3: class 0 gets e^(0.96/T), class 1 gets 2·e^(0.8/T). At T = 0.07 the near neighbour wins
  // (e^13.71 > 2·e^11.43); at T = 1 the majority does (e^0.96 = 2.61 < 2·e^0.8 = 4.45).
  const std::vector<float> query{0.6f, 0.8f};
  const KnnClassifier sharp(bank, 3, KnnOptions{.k = 3, .temperature = 0.07});
  const KnnClassifier flat(bank, 3, KnnOptions{.k = 3, .temperature = 1.0});
  CHECK(sharp.predict(query) == std::vector<int>{0});
  CHECK(flat.predict(query) == std::vector<int>{1});
  const std::vector<double> votes = flat.class_votes(query);
  CHECK(votes[0] == doctest::Approx(std::exp(0.96)).epsilon(1e-5));
  CHECK(votes[1] == doctest::Approx(2 * std::exp(0.8)).epsilon(1e-5));
}

TEST_CASE("kNN accuracy over labelled queries; k = 1 is the nearest row's label") {
  const KnnClassifier nearest(bank, 3, KnnOptions{.k = 1, .temperature = 0.07});
  // (−2, 0.1) → row 3 (cos 0.999, class 2); (0.1, −0.2) → row 0 (cos 0.447, class 0);
  // (0.1, 3) → rows 2 and 4 tie (cos 0.999), row 2 → class 1; (5, 3) → row 1 (cos 0.994) → class 0.
  const std::vector<float> queries{-2.0f, 0.1f, 0.1f, -0.2f, 0.1f, 3.0f, 5.0f, 3.0f};
  CHECK(nearest.predict(queries) == std::vector<int>{2, 0, 1, 0});
  const std::vector<int> labels{2, 0, 0, 1};  // the last two wrong
  CHECK(nearest.accuracy(LabelledFeatures{queries, labels, 2}) == doctest::Approx(0.5));
  // 40 copies of the four queries: the blocked evaluation gives the same answer per row.
  std::vector<float> many;
  std::vector<int> many_labels;
  for (int i = 0; i < 40; ++i) {
    many.insert(many.end(), queries.begin(), queries.end());
    many_labels.insert(many_labels.end(), labels.begin(), labels.end());
  }
  CHECK(nearest.accuracy(LabelledFeatures{many, many_labels, 2}) == doctest::Approx(0.5));
}

TEST_CASE("kNN: a zero row is similar to nothing, and bad input names the problem") {
  const std::vector<float> values{0.0f, 0.0f, 1.0f, 0.0f};
  const std::vector<int> labels{1, 0};
  const KnnClassifier knn(LabelledFeatures{values, labels, 2}, 2, KnnOptions{.k = 1, .temperature = 0.5});
  // Query (−1, 0): cos −1 to row 1, 0 to the zero row, which is therefore nearer.
  CHECK(knn.predict(std::vector<float>{-1.0f, 0.0f}) == std::vector<int>{1});
  CHECK(knn.class_votes(std::vector<float>{-1.0f, 0.0f})[1] == doctest::Approx(1.0));

  using tspipe::Error;
  CHECK_THROWS_WITH_AS(KnnClassifier(bank, 3, KnnOptions{.k = 6}), doctest::Contains("k = 6 must lie in [1, 5]"),
                       Error);
  CHECK_THROWS_WITH_AS(KnnClassifier(bank, 3, KnnOptions{.k = 0}), doctest::Contains("k = 0"), Error);
  CHECK_THROWS_WITH_AS(KnnClassifier(bank, 2, KnnOptions{.k = 1}), doctest::Contains("label 2 outside [0, 2)"), Error);
  CHECK_THROWS_WITH_AS(KnnClassifier(bank, 3, KnnOptions{.k = 1, .temperature = 0.0}),
                       doctest::Contains("temperature must be positive"), Error);
  CHECK_THROWS_WITH_AS(KnnClassifier(LabelledFeatures{bank_values, bank_labels, 3}, 3, KnnOptions{.k = 1}),
                       doctest::Contains("memory bank: 10 values for 5 labels of width 3"), Error);
  CHECK_THROWS_WITH_AS(knn.predict(std::vector<float>{1.0f, 2.0f, 3.0f}), doctest::Contains("not rows of 2"), Error);
  const std::vector<float> wide{1.0f, 2.0f, 3.0f};
  const std::vector<int> one{0};
  CHECK_THROWS_WITH_AS(knn.accuracy(LabelledFeatures{wide, one, 3}), doctest::Contains("queries have 3 features"),
                       Error);
}
