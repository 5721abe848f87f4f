#pragma once
// Weighted k-nearest-neighbour classification of feature vectors, the learning monitor of
// self-supervised training (Wu et al. 2018, "Instance Discrimination"; DINO's eval_knn): the
// memory bank is the L2-normalised features of labelled training images; a query (a normalised
// test feature) takes its k most cosine-similar bank rows, each votes for its label with weight
// exp(cos / T), and the class with the largest total wins. Ties (equal similarities at the k-th
// place, equal class totals) go to the lower index, so a prediction depends on nothing but the
// numbers. Rows of zeros stay zeros (similarity 0 to everything), as torch's F.normalize leaves
// them.
#include <tspipe/error.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <span>
#include <string>
#include <vector>

namespace tspipe::nn {

struct KnnOptions {
  int k = 20;                 ///< neighbours that vote (DINO's 20; InstDisc used 200)
  double temperature = 0.07;  ///< T of the exp(cos / T) vote weight (both papers' 0.07)
};

/// `rows` feature vectors of `dim` values each, row-major, and their labels.
struct LabelledFeatures {
  std::span<const float> values;
  std::span<const int> labels;
  int64_t dim = 0;
};

class KnnClassifier {
 public:
  /// Throws tspipe::Error naming the problem for a bad shape, a label outside [0, classes),
  /// k outside [1, bank rows] or a temperature that is not positive.
  KnnClassifier(LabelledFeatures bank, int classes, KnnOptions options)
      : rows_(bank.labels.size()), classes_(classes), options_(options) {
    check(bank, "memory bank");
    dim_ = static_cast<std::size_t>(bank.dim);
    if (classes < 1) throw Error("kNN: need at least one class, got " + std::to_string(classes));
    if (options.k < 1 || static_cast<std::size_t>(options.k) > rows_)
      throw Error("kNN: k = " + std::to_string(options.k) + " must lie in [1, " + std::to_string(rows_) +
                  "] (the memory bank's rows)");
    if (!(options.temperature > 0.0) || !std::isfinite(options.temperature))
      throw Error("kNN: temperature must be positive and finite, got " + std::to_string(options.temperature));
    labels_.assign(bank.labels.begin(), bank.labels.end());
    for (int label : labels_)
      if (label < 0 || label >= classes)
        throw Error("kNN: memory-bank label " + std::to_string(label) + " outside [0, " + std::to_string(classes) +
                    ")");
    // Stored transposed ([dim][rows]) so that a query's similarities are axpy loops over the rows.
    bank_t_.resize(dim_ * rows_);
    std::vector<float> unit(dim_);
    for (std::size_t r = 0; r < rows_; ++r) {
      normalized(bank.values.subspan(r * dim_, dim_), unit);
      for (std::size_t d = 0; d < dim_; ++d) bank_t_[d * rows_ + r] = unit[d];
    }
  }

  /// The weighted votes Σ exp(cos / T) per class of one query of `dim` values.
  std::vector<double> class_votes(std::span<const float> query) const {
    if (query.size() != dim_)
      throw Error("kNN: a query has " + std::to_string(query.size()) + " values, the bank " + std::to_string(dim_));
    std::vector<float> unit(dim_), similarity(rows_);
    normalized(query, unit);
    similarities(unit.data(), 1, similarity.data());
    return votes(similarity.data());
  }

  /// The predicted class of each query row.
  std::vector<int> predict(std::span<const float> queries) const {
    if (queries.size() % dim_ != 0)
      throw Error("kNN: " + std::to_string(queries.size()) + " query values are not rows of " + std::to_string(dim_));
    const std::size_t count = queries.size() / dim_;
    std::vector<int> out(count);
    // Queries in blocks share each pass over the bank (the bank need not fit in cache).
    constexpr std::size_t block = 16;
    std::vector<float> unit(block * dim_), similarity(block * rows_);
    for (std::size_t first = 0; first < count; first += block) {
      const std::size_t n = std::min(block, count - first);
      for (std::size_t q = 0; q < n; ++q)
        normalized(queries.subspan((first + q) * dim_, dim_), std::span<float>(unit).subspan(q * dim_, dim_));
      similarities(unit.data(), n, similarity.data());
      for (std::size_t q = 0; q < n; ++q) {
        const std::vector<double> v = votes(similarity.data() + q * rows_);
        out[first + q] = static_cast<int>(std::max_element(v.begin(), v.end()) - v.begin());
      }
    }
    return out;
  }

  /// The fraction of queries whose prediction equals their label (0 for no queries).
  double accuracy(LabelledFeatures queries) const {
    if (queries.dim != static_cast<int64_t>(dim_))
      throw Error("kNN: queries have " + std::to_string(queries.dim) + " features, the bank " + std::to_string(dim_));
    check(queries, "queries");
    const std::vector<int> predicted = predict(queries.values);
    long correct = 0;
    for (std::size_t i = 0; i < predicted.size(); ++i) correct += predicted[i] == queries.labels[i];
    return predicted.empty() ? 0.0 : static_cast<double>(correct) / static_cast<double>(predicted.size());
  }

 private:
  static void check(const LabelledFeatures& f, const char* what) {
    if (f.dim < 1)
      throw Error(std::string("kNN: ") + what + " features need a positive width, got " + std::to_string(f.dim));
    if (f.values.size() != f.labels.size() * static_cast<std::size_t>(f.dim))
      throw Error(std::string("kNN: ") + what + ": " + std::to_string(f.values.size()) + " values for " +
                  std::to_string(f.labels.size()) + " labels of width " + std::to_string(f.dim));
  }

  /// x / max(‖x‖, 1e-12), as F.normalize.
  static void normalized(std::span<const float> x, std::span<float> out) {
    double sum = 0.0;
    for (float v : x) sum += static_cast<double>(v) * v;
    const double scale = 1.0 / std::max(std::sqrt(sum), 1e-12);
    for (std::size_t i = 0; i < x.size(); ++i) out[i] = static_cast<float>(x[i] * scale);
  }

  /// similarity[q·rows + r] = ⟨unit query q, bank row r⟩ for `n` queries.
  void similarities(const float* units, std::size_t n, float* similarity) const {
    std::fill(similarity, similarity + n * rows_, 0.0f);
    for (std::size_t d = 0; d < dim_; ++d) {
      const float* column = bank_t_.data() + d * rows_;
      for (std::size_t q = 0; q < n; ++q) {
        const float x = units[q * dim_ + d];
        float* row = similarity + q * rows_;
        for (std::size_t r = 0; r < rows_; ++r) row[r] += x * column[r];
      }
    }
  }

  /// Σ exp(cos / T) per class over the k most similar bank rows.
  std::vector<double> votes(const float* similarity) const {
    std::vector<std::size_t> order(rows_);
    std::iota(order.begin(), order.end(), std::size_t{0});
    const auto nearer = [&](std::size_t a, std::size_t b) {
      return similarity[a] > similarity[b] || (similarity[a] == similarity[b] && a < b);
    };
    const auto k = static_cast<std::size_t>(options_.k);
    std::nth_element(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k - 1), order.end(), nearer);
    std::vector<double> total(static_cast<std::size_t>(classes_), 0.0);
    for (std::size_t i = 0; i < k; ++i)
      total[static_cast<std::size_t>(labels_[order[i]])] +=
          std::exp(static_cast<double>(similarity[order[i]]) / options_.temperature);
    return total;
  }

  std::size_t dim_ = 0, rows_;
  int classes_;
  KnnOptions options_;
  std::vector<int> labels_;
  std::vector<float> bank_t_;
};

}  // namespace tspipe::nn
