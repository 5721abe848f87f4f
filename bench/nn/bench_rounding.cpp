// How far a whole training-mode gradient moves under rounding-level changes, on the CPU backend:
// the same step run twice in one process (other buffer addresses, so other vectorised summation
// orders), and with 1e-7 relative noise on the input. This is the noise floor a comparison of two
// implementations (CPU against CUDA, test/cuda/test_models.cpp) cannot go below. ReLU networks
// with training-mode BatchNorm over few values per channel are discontinuous at that level (a
// mask flips where a pre-activation lies within rounding of zero), so the bottleneck ResNet's
// gradient moves by percent, the basic-block ResNet's by ~1e-5.
//   bench_rounding        prints one line per model and batch shape
#include <tspipe/cpu/backend.hpp>
#include <tspipe/nn/losses.hpp>
#include <tspipe/nn/models/resnet.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>

using namespace tspipe;
using B = cpu::Backend;

namespace {

using Gradients = std::map<std::string, nn::Tensor>;

Gradients gradients(const nn::models::ResNetConfig& cfg, const nn::Tensor& x) {
  nn::Sequential<B> model(nn::models::resnet<B>(cfg));
  auto [y, ctx] = model.forward(x);
  std::vector<int> labels;
  for (int64_t i = 0; i < x.size(0); ++i) labels.push_back(static_cast<int>(i % y.size(1)));
  const nn::LossOutput loss =
      nn::CrossEntropyLoss{}.compute({{{y.data(), static_cast<int>(y.size(0)), static_cast<int>(y.size(1))}}, {}, labels});
  model.backward(ctx, nn::Tensor::from(y.shape(), loss.d_student[0]));
  Gradients out;
  for (auto& p : model.parameters()) out.emplace(p.name, p.grad->clone());
  return out;
}

struct Distance {
  double l2 = 0.0;           ///< ‖a − b‖₂ / ‖b‖₂ over every gradient together
  double worst_l2 = 0.0;     ///< the largest ‖a − b‖₂ / ‖b‖₂ of one tensor
  double worst_max = 0.0;    ///< the largest max|a − b| / max|b| of one tensor
};

Distance distance(const Gradients& a, const Gradients& b) {
  double diff = 0.0, norm = 0.0, worst_l2 = 0.0, worst = 0.0;
  for (const auto& [name, want] : b) {
    const nn::Tensor& got = a.at(name);
    double d_max = 0.0, s_max = 0.0, t_diff = 0.0, t_norm = 0.0;
    for (int64_t i = 0; i < want.numel(); ++i) {
      const double d = static_cast<double>(got[i]) - want[i];
      t_diff += d * d;
      t_norm += static_cast<double>(want[i]) * want[i];
      d_max = std::max(d_max, std::abs(d));
      s_max = std::max(s_max, std::abs(static_cast<double>(want[i])));
    }
    diff += t_diff;
    norm += t_norm;
    worst_l2 = std::max(worst_l2, t_norm > 0.0 ? std::sqrt(t_diff / t_norm) : std::sqrt(t_diff));
    worst = std::max(worst, s_max > 0.0 ? d_max / s_max : d_max);
  }
  return {norm > 0.0 ? std::sqrt(diff / norm) : std::sqrt(diff), worst_l2, worst};
}

void report(const char* model, const nn::models::ResNetConfig& cfg, int64_t batch, int64_t side) {
  const nn::Tensor x = nn::Tensor::randn({batch, 3, side, side}, 2);
  nn::Tensor noisy = x.clone();
  const nn::Tensor u = nn::Tensor::randn(x.shape(), 99);
  for (int64_t i = 0; i < x.numel(); ++i) noisy[i] = x[i] * (1.0f + 1e-7f * u[i]);
  const Gradients first = gradients(cfg, x), again = gradients(cfg, x), perturbed = gradients(cfg, noisy);
  const Distance same = distance(again, first), noise = distance(perturbed, first);
  std::printf("%-24s batch %2lld, %3lldx%-3lld  run twice: L2 %.2e, worst tensor %.2e   1e-7 input noise: L2 %.2e, "
              "worst tensor %.2e (in L2 %.2e)\n",
              model, static_cast<long long>(batch), static_cast<long long>(side), static_cast<long long>(side), same.l2,
              same.worst_max, noise.l2, noise.worst_max, noise.worst_l2);
}

}  // namespace

int main() {
  B::set_threads(1);
  nn::models::ResNetConfig bottleneck;  // test/cuda/test_models.cpp's ResNet-50
  bottleneck.depth = 50;
  bottleneck.width = 0.125;
  bottleneck.stem = nn::models::Stem::small_image;
  bottleneck.num_classes = 5;
  bottleneck.seed = 8;
  for (auto [batch, side] : {std::pair<int64_t, int64_t>{4, 32}, {8, 32}, {2, 64}, {4, 64}, {8, 64}})
    report("ResNet-50 x1/8, small", bottleneck, batch, side);
  nn::models::ResNetConfig basic;  // and its ResNet-18
  basic.depth = 18;
  basic.width = 0.25;
  basic.num_classes = 10;
  basic.seed = 7;
  report("ResNet-18 x1/4, imagenet", basic, 4, 64);
}
