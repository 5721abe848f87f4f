#pragma once
// Central-difference gradient checks for CPU layers.
//
// For a layer f and a fixed random output weighting r, L(x, θ) = Σ f(x; θ) ⊙ r (in double).
// The analytic side runs forward + backward(ctx, r). The numeric side compares directional
// derivatives: for a random direction v, (L(x + εv) − L(x − εv)) / 2ε against ⟨∇L, v⟩ — one
// scalar with a strong signal, which float32 resolves far better than single entries. It checks
// the input gradient and every parameter's gradient, each along its own direction.
#include <tspipe/cpu/backend.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <string>

namespace tspipe::test {

using cpu::Layer;
using cpu::Tensor;

inline double weighted_sum(const Tensor& y, const Tensor& r) {
  double s = 0.0;
  for (int64_t i = 0; i < y.numel(); ++i) s += static_cast<double>(y[i]) * r[i];
  return s;
}
inline double dot(const Tensor& a, const Tensor& b) { return weighted_sum(a, b); }

/// |analytic − numeric| ≤ rel_tol·max(|analytic|, |numeric|) + noise_floor, where the floor is
/// what float32 can resolve: the loss magnitude times 5e-7 (a few float32 ulps accumulated through the layers), divided by the step 2ε.
inline void expect_close(double analytic, double numeric, double rel_tol, double noise_floor, const std::string& what) {
  const double scale = std::max(std::abs(analytic), std::abs(numeric));
  INFO(what << ": analytic " << analytic << " vs numeric " << numeric << " (noise floor " << noise_floor << ")");
  CHECK(std::abs(analytic - numeric) <= rel_tol * scale + noise_floor);
}

/// Checks d/dx and d/dθ of `layer` at x. infer() must be the same function as forward() (true
/// for every layer except Dropout in training mode).
inline void check_gradients(Layer& layer, const Tensor& x, double eps = 1e-3, double rel_tol = 1e-2,
                            uint64_t seed = 7) {
  auto [y, ctx] = layer.forward(x);
  const Tensor r = Tensor::randn(y.shape(), seed);
  layer.zero_grad();
  const Tensor dx = layer.backward(ctx, r);
  REQUIRE(dx.shape() == x.shape());
  auto loss = [&](const Tensor& input) { return weighted_sum(layer.infer(input), r); };
  double magnitude = 0.0;
  for (int64_t i = 0; i < y.numel(); ++i) magnitude += std::abs(static_cast<double>(y[i]) * r[i]);
  const double noise_floor = 5e-7 * magnitude / eps;
  const auto e = static_cast<float>(eps);

  {  // input gradient
    const Tensor v = Tensor::randn(x.shape(), seed + 1);
    Tensor plus = x.clone(), minus = x.clone();
    for (int64_t i = 0; i < x.numel(); ++i) {
      plus[i] += e * v[i];
      minus[i] -= e * v[i];
    }
    expect_close(dot(dx, v), (loss(plus) - loss(minus)) / (2.0 * eps), rel_tol, noise_floor, layer.kind() + " input");
  }
  uint64_t k = 0;
  for (auto& p : layer.parameters()) {  // each parameter gradient
    const Tensor v = Tensor::randn(p.value->shape(), seed + 100 + ++k);
    const Tensor saved = p.value->clone();
    for (int64_t i = 0; i < v.numel(); ++i) (*p.value)[i] = saved[i] + e * v[i];
    const double lp = loss(x);
    for (int64_t i = 0; i < v.numel(); ++i) (*p.value)[i] = saved[i] - e * v[i];
    const double lm = loss(x);
    for (int64_t i = 0; i < v.numel(); ++i) (*p.value)[i] = saved[i];
    expect_close(dot(*p.grad, v), (lp - lm) / (2.0 * eps), rel_tol, noise_floor,
                 layer.kind() + " parameter " + p.name);
  }
}

inline bool bit_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() &&
         (a.numel() == 0 || std::memcmp(a.data(), b.data(), static_cast<size_t>(a.numel()) * sizeof(float)) == 0);
}

}  // namespace tspipe::test
