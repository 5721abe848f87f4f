// The self-supervised heads on the CPU backend: BatchNorm1d without affine parameters (no
// parameters, the plain normalisation formula, its gradient by central differences) and the
// BYOL / MoCo-v3 heads built from it (layers, names, no biases, a normalised projector output).
#include <tspipe/cpu/backend.hpp>
#include <tspipe/nn/models/heads.hpp>

#include "../cpu/gradcheck.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

using tspipe::cpu::Backend;
using tspipe::cpu::Tensor;

namespace {

std::vector<std::string> parameter_names(tspipe::nn::Layer<Backend>& layer) {
  std::vector<std::string> names;
  for (auto& p : layer.parameters()) names.push_back(p.name);
  return names;
}

}  // namespace

TEST_CASE("BatchNorm1d without affine parameters: no parameters, y = (x − mean)/√(var + eps)") {
  auto bn = Backend::batch_norm1d(2, "bn", 1e-5f, 0.1f, /*affine=*/false);
  CHECK(bn->parameters().empty());
  CHECK(bn->parameter_count() == 0);
  REQUIRE(bn->buffers().size() == 2);  // running mean and variance stay (checkpoints, eval mode)

  // Column 0: 1, 2, 3, 4 (mean 2.5, biased variance 1.25); column 1: 0, 0, 0, 8 (mean 2, variance 12).
  const Tensor x = Tensor::from({4, 2}, {1, 0, 2, 0, 3, 0, 4, 8});
  auto [y, ctx] = bn->forward(x);
  const double s0 = std::sqrt(1.25 + 1e-5), s1 = std::sqrt(12.0 + 1e-5);
  const double expected[8] = {-1.5 / s0, -2 / s1, -0.5 / s0, -2 / s1, 0.5 / s0, -2 / s1, 1.5 / s0, 6 / s1};
  for (int i = 0; i < 8; ++i) CHECK(y[i] == doctest::Approx(expected[i]).epsilon(1e-6));
  // Running statistics as PyTorch: 0.9·old + 0.1·batch, the variance unbiased (×4/3).
  const auto buffers = bn->buffers();
  CHECK((*buffers[0].value)[0] == doctest::Approx(0.25));
  CHECK((*buffers[0].value)[1] == doctest::Approx(0.2));
  CHECK((*buffers[1].value)[0] == doctest::Approx(0.9 + 0.1 * 1.25 * 4 / 3));
  CHECK((*buffers[1].value)[1] == doctest::Approx(0.9 + 0.1 * 12.0 * 4 / 3));

  // The same numbers as an affine BatchNorm at its initial γ = 1, β = 0, input gradient included.
  auto affine = Backend::batch_norm1d(2, "bn");
  auto [ya, ctxa] = affine->forward(x);
  const Tensor dy = Tensor::from({4, 2}, {0.5f, -1, 2, 0.25f, -0.75f, 1, 0, 3});
  const Tensor dx = bn->backward(ctx, dy), dxa = affine->backward(ctxa, dy);
  CHECK(tspipe::test::bit_equal(y, ya));
  CHECK(tspipe::test::bit_equal(dx, dxa));
  // The backward leaves nothing behind for an optimizer: still no parameters, and a second
  // backward gives the same input gradient.
  CHECK(bn->parameters().empty());
  CHECK(tspipe::test::bit_equal(bn->backward(ctx, dy), dx));
}

TEST_CASE("BatchNorm1d without affine parameters: input gradient by central differences, [N, C] and [N, C, L]") {
  auto bn = Backend::batch_norm1d(3, "bn", 1e-5f, 0.1f, false);
  tspipe::test::check_gradients(*bn, Tensor::randn({6, 3}, 5));
  tspipe::test::check_gradients(*bn, Tensor::randn({4, 3, 5}, 6));
}

TEST_CASE("BYOL's head: Linear → BN → ReLU → Linear, no biases on the Linear layers") {
  auto head = tspipe::nn::models::mlp_head<Backend>(
      {.name = "predictor", .in_features = 6, .hidden_features = 10, .out_features = 4, .layers = 2, .seed = 3});
  CHECK(parameter_names(*head) ==
        std::vector<std::string>{"predictor.0.weight", "predictor.1.weight", "predictor.1.bias", "predictor.3.weight"});
  CHECK(head->parameter_count() == 6 * 10 + 10 + 10 + 10 * 4);
  CHECK(head->infer(Tensor::randn({5, 6}, 1)).shape() == std::vector<int64_t>{5, 4});
}

TEST_CASE("MoCo-v3's projector ends in BatchNorm without affine parameters: each output feature normalised") {
  auto head = tspipe::nn::models::mlp_head<Backend>({.name = "projector", .in_features = 6, .hidden_features = 12,
                                                     .out_features = 4, .layers = 3, .seed = 9,
                                                     .output_batch_norm = true});
  CHECK(parameter_names(*head) ==
        std::vector<std::string>{"projector.0.weight", "projector.1.weight", "projector.1.bias", "projector.3.weight",
                                 "projector.4.weight", "projector.4.bias", "projector.6.weight"});
  std::vector<std::string> buffers;
  for (auto& b : head->buffers()) buffers.push_back(b.name);
  CHECK(buffers.back() == "projector.7.running_var");
  // Training mode: every output column has batch mean 0 and biased variance 1 (up to eps).
  const int n = 16;
  const Tensor y = head->infer(Tensor::randn({n, 6}, 2));
  for (int c = 0; c < 4; ++c) {
    double mean = 0, square = 0;
    for (int i = 0; i < n; ++i) mean += y[i * 4 + c] / n;
    for (int i = 0; i < n; ++i) square += (y[i * 4 + c] - mean) * (y[i * 4 + c] - mean) / n;
    CHECK(std::abs(mean) < 1e-5);
    CHECK(square == doctest::Approx(1.0).epsilon(1e-3));
  }
}
