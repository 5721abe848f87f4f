// Whole training steps of a ResNet and a ViT on the CUDA backend against the CPU backend (same
// seeds ⇒ same weights): outputs, loss, every parameter gradient and the parameters after an SGD
// step; and the caching allocator: after the first step no further cudaMalloc.
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

struct StepResult {
  double loss;
};

template <class MakeBlocks>
void compare_training_step(MakeBlocks make, const nn::Tensor& x, const std::vector<int>& labels) {
  nn::Sequential<CB> c(make(CB{}));
  nn::Sequential<GB> g(make(GB{}));
  for (int step = 0; step < 2; ++step) {
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
    check_parameters(c, g, kModelTolerance);
    nn::Sgd copt({0.05, 0.9f, 1e-4f, true});
    cuda::Sgd gopt({0.05, 0.9f, 1e-4f, true});
    std::vector<nn::ParamSlot> slots;
    for (auto& p : c.parameters()) slots.push_back({p.name, p.value->span(), p.grad->span(), p.no_weight_decay});
    copt.step(slots);
    gopt.step(g.parameters());
    check_parameters(c, g, kModelTolerance, /*grads=*/false);
  }
}
}  // namespace

TEST_CASE("ResNet-18 (ImageNet stem, width 1/4) training step equals the CPU's") {
  auto make = [](auto b) {
    using B = decltype(b);
    nn::models::ResNetConfig cfg;
    cfg.depth = 18;
    cfg.width = 0.25;
    cfg.num_classes = 10;
    cfg.seed = 7;
    return nn::models::resnet<B>(cfg);
  };
  compare_training_step(make, nn::Tensor::randn({4, 3, 64, 64}, 1), {1, 2, 3, 4});
}

TEST_CASE("ResNet-50 bottlenecks (small stem, width 1/8) training step equals the CPU's") {
  auto make = [](auto b) {
    using B = decltype(b);
    nn::models::ResNetConfig cfg;
    cfg.depth = 50;
    cfg.width = 0.125;
    cfg.stem = nn::models::Stem::small_image;
    cfg.num_classes = 5;
    cfg.seed = 8;
    return nn::models::resnet<B>(cfg);
  };
  compare_training_step(make, nn::Tensor::randn({4, 3, 32, 32}, 2), {0, 1, 2, 4});
}

TEST_CASE("ViT (dim 64, 3 blocks, 4 heads, dropout) training step equals the CPU's") {
  auto make = [](auto b) {
    using B = decltype(b);
    nn::models::ViTConfig cfg;
    cfg.image_size = 32;
    cfg.patch = 8;
    cfg.dim = 64;
    cfg.depth = 3;
    cfg.heads = 4;
    cfg.num_classes = 10;
    cfg.dropout = 0.1f;
    cfg.seed = 9;
    return nn::models::vit<B>(cfg);
  };
  compare_training_step(make, nn::Tensor::randn({3, 3, 32, 32}, 3), {9, 0, 5});
}

TEST_CASE("the caching allocator reuses memory across steps: no cudaMalloc after the first step") {
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
  step();
  const cuda::AllocatorStats after_first = cuda::CachingAllocator::instance().stats();
  for (int i = 0; i < 3; ++i) step();
  const cuda::AllocatorStats after_more = cuda::CachingAllocator::instance().stats();
  CHECK(after_more.device_allocations == after_first.device_allocations);
  CHECK(after_more.reserved_bytes == after_first.reserved_bytes);
  CHECK(after_more.cache_hits > after_first.cache_hits);
  CHECK(after_more.requests - after_first.requests == after_more.cache_hits - after_first.cache_hits);
}
