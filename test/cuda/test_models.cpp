// Whole training steps of a ResNet and a ViT on the CUDA backend against the CPU backend (same
// seeds ⇒ same weights): outputs, loss, every parameter gradient and the parameters after an SGD
// step (elementwise, or per tensor in L2 where ReLU flips make elementwise meaningless:
// kChaoticGradient);
// and the caching allocator: after two warm-up steps no further cudaMalloc.
#include "compare.hpp"

#include <tspipe/cuda/losses.hpp>
#include <tspipe/cuda/optim.hpp>
#include <tspipe/nn/losses.hpp>
#include <tspipe/nn/models/resnet.hpp>
#include <tspipe/nn/models/vit.hpp>
#include <tspipe/nn/optim.hpp>

using namespace tspipe;
using tspipe::test::check_close;
using tspipe::test::check_parameters;
using CB = cpu::Backend;
using GB = cuda::Backend;

namespace {
// Whole models chain dozens of layers whose float sums run in a different order on each backend.
constexpr double kModelTolerance = 5e-4;

/// One SGD step (Nesterov, momentum 0.9, weight decay 1e-4) on each backend's model.
template <class CpuModel, class GpuModel>
void sgd_step_both(CpuModel& c, GpuModel& g) {
  nn::Sgd copt({0.05, 0.9f, 1e-4f, true});
  cuda::Sgd gopt({0.05, 0.9f, 1e-4f, true});
  std::vector<nn::ParamSlot> slots;
  for (auto& p : c.parameters()) slots.push_back({p.name, p.value->span(), p.grad->span(), p.no_weight_decay});
  copt.step(slots);
  gopt.step(g.parameters());
}

// ReLU networks with training-mode BatchNorm have gradients that are discontinuous at rounding
// level: a ReLU whose input lies within rounding of zero flips its mask, and the BatchNorm backward
// spreads the change over the channel. Two implementations round differently in every layer, and
// after one SGD step their weights differ too, so such steps compare each gradient tensor and each
// tensor's SGD update on its own in relative L2 (‖gpu − cpu‖₂ / ‖cpu‖₂), not elementwise.
// The bound comes from bench/nn/bench_rounding (these models on the CPU backend alone, the same
// step with 1e-7 relative noise on the input), read per tensor: where masks flip (ResNet-50 ×1/8
// at batch 8×32², 2×64², 4×64², 8×64²) the whole gradient moves by 1.1–2.1 % in L2 and its worst
// single tensor by 2.6–5.0 % (a BatchNorm bias of 8 values), the update likewise; at the tests'
// own inputs by less than 1e-4 (ResNet-50's first step, ResNet-18's second). The H200 run of these
// tests measured 0.22 % (ResNet-50) and 1.3e-5 (ResNet-18) for the whole gradient
// (bench/gpu/RESULTS.md). 15 % is three times the worst tensor's rounding response, and still far
// below what a wrong kernel gives that one tensor: a dropped term, a wrong stride or a missing
// BatchNorm bias gradient is O(1), i.e. 100 % or more.
constexpr double kChaoticGradient = 0.15;

/// Gradients and one SGD update compared per tensor in L2 (see kChaoticGradient); running
/// statistics elementwise.
template <class CpuModel, class GpuModel>
void check_step_in_l2(CpuModel& c, GpuModel& g) {
  tspipe::test::check_each_in_l2(tspipe::test::parameter_pairs(c, g, /*grads=*/true), "gradient", kChaoticGradient);
  const auto before = tspipe::test::parameter_pairs(c, g, /*grads=*/false);
  sgd_step_both(c, g);
  auto updates = tspipe::test::parameter_pairs(c, g, /*grads=*/false);  // new weights, then minus the old
  const auto subtract = [](nn::Tensor& now, const nn::Tensor& old) {
    for (int64_t e = 0; e < now.numel(); ++e) now[e] -= old[e];
  };
  for (std::size_t i = 0; i < updates.size(); ++i) {
    subtract(updates[i].gpu, before[i].gpu);
    subtract(updates[i].cpu, before[i].cpu);
  }
  tspipe::test::check_each_in_l2(updates, "SGD update", kChaoticGradient);
  std::map<std::string, cuda::Buffer> gpu_buffers;
  for (auto& b : g.buffers()) gpu_buffers.emplace(b.name, b);
  for (auto& b : c.buffers()) {
    REQUIRE(gpu_buffers.count(b.name) == 1);
    check_close(*gpu_buffers.at(b.name).value, *b.value, b.name, kModelTolerance);
  }
}

/// The blocks of the same ResNet on either backend: make(CB{}) or make(GB{}).
auto resnet(const nn::models::ResNetConfig& cfg) {
  return [cfg](auto backend) { return nn::models::resnet<decltype(backend)>(cfg); };
}

/// `steps` training steps of the same model on both backends. Outputs and loss are compared
/// elementwise at every step; gradients and updated parameters elementwise for the first
/// `elementwise_steps` steps, then in L2 (check_step_in_l2).
template <class MakeBlocks>
void compare_training_steps(MakeBlocks make, const nn::Tensor& x, const std::vector<int>& labels, int steps,
                            int elementwise_steps) {
  nn::Sequential<CB> c(make(CB{}));
  nn::Sequential<GB> g(make(GB{}));
  for (int step = 0; step < steps; ++step) {
    CAPTURE(step);
    c.zero_grad();
    g.zero_grad();
    auto [cy, cctx] = c.forward(x);
    auto [gy, gctx] = g.forward(cuda::Tensor::from_host(x));
    check_close(gy, cy, "model output", kModelTolerance);
    const nn::LossOutput cl = nn::CrossEntropyLoss{}.compute(
        {{{cy.data(), static_cast<int>(cy.size(0)), static_cast<int>(cy.size(1))}}, {}, labels});
    const cuda::LossOutput gl = cuda::CrossEntropyLoss{}.compute({{gy}, {}, labels});
    CHECK(gl.loss == doctest::Approx(cl.loss).epsilon(kModelTolerance));
    c.backward(cctx, nn::Tensor::from(cy.shape(), cl.d_student[0]));
    g.backward(gctx, gl.d_student[0]);
    if (step >= elementwise_steps) {
      check_step_in_l2(c, g);
      continue;
    }
    check_parameters(c, g, kModelTolerance);
    sgd_step_both(c, g);
    check_parameters(c, g, kModelTolerance, /*grads=*/false);
  }
}
}  // namespace

TEST_CASE("ResNet-18 (ImageNet stem, width 1/4) training steps equal the CPU's (the second in L2)") {
  // Elementwise at its first step; the second failed elementwise in 2 of 7 runs on an H200
  // (ReLU flips after the first update: up to 4 % in a tensor's largest element).
  compare_training_steps(resnet({.depth = 18, .width = 0.25, .num_classes = 10, .seed = 7}),
                         nn::Tensor::randn({4, 3, 64, 64}, 1), {1, 2, 3, 4}, 2, 1);
}

TEST_CASE("ResNet-50 bottlenecks (small stem, width 1/8): outputs and loss equal the CPU's, gradients in L2") {
  // Its first step already failed elementwise on an H200 (2.4e-2): see kChaoticGradient.
  compare_training_steps(
      resnet({.depth = 50, .width = 0.125, .stem = nn::models::Stem::small_image, .num_classes = 5, .seed = 8}),
      nn::Tensor::randn({4, 3, 32, 32}, 2), {0, 1, 2, 4}, 1, 0);
}

TEST_CASE("ViT (dim 64, 3 blocks, 4 heads, dropout) training step equals the CPU's") {
  const nn::models::ViTConfig cfg{
      .image_size = 32, .patch = 8, .dim = 64, .depth = 3, .heads = 4, .num_classes = 10, .dropout = 0.1f, .seed = 9};
  const auto make = [cfg](auto backend) { return nn::models::vit<decltype(backend)>(cfg); };
  compare_training_steps(make, nn::Tensor::randn({3, 3, 32, 32}, 3), {9, 0, 5}, 2, 2);  // GELU: smooth
}

TEST_CASE("the caching allocator reuses memory across steps: no cudaMalloc after two warm-up steps") {
  nn::models::ResNetConfig cfg;
  cfg.depth = 18;
  cfg.width = 0.5;
  cfg.num_classes = 10;
  nn::Sequential<GB> model(nn::models::resnet<GB>(cfg));
  cuda::Sgd opt({0.05, 0.9f, 0.0f, false});
  const cuda::Tensor x = cuda::Tensor::from_host(nn::Tensor::randn({8, 3, 64, 64}, 4));
  const std::vector<int> labels{0, 1, 2, 3, 4, 5, 6, 7};
  auto step = [&] {
    model.zero_grad();
    auto [y, ctx] = model.forward(x);
    const cuda::LossOutput l = cuda::CrossEntropyLoss{}.compute({{y}, {}, labels});
    model.backward(ctx, l.d_student[0]);
    opt.step(model.parameters());
    cuda::current_stream().synchronize();
  };
  // The first step also makes the optimizer's momentum buffers, which keep some cached blocks for
  // good; the second step replaces those; from then on every request is served from the cache.
  step();
  step();
  const cuda::AllocatorStats after_first = cuda::CachingAllocator::instance().stats();
  for (int i = 0; i < 3; ++i) step();
  const cuda::AllocatorStats after_more = cuda::CachingAllocator::instance().stats();
  CHECK(after_more.device_allocations == after_first.device_allocations);
  CHECK(after_more.reserved_bytes == after_first.reserved_bytes);
  CHECK(after_more.cache_hits > after_first.cache_hits);
  CHECK(after_more.requests - after_first.requests == after_more.cache_hits - after_first.cache_hits);
}
