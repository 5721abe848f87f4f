// Every CUDA layer, loss, optimizer and the fused EMA against the CPU backend on the same
// weights and inputs: forward, input gradient, parameter gradients and buffers, relative error
// ≤ 1e-4 in fp32 with TF32 off.
#include "compare.hpp"

#include <tspipe/cuda/losses.hpp>
#include <tspipe/cuda/optim.hpp>
#include <tspipe/nn/losses.hpp>
#include <tspipe/nn/optim.hpp>

#include <functional>

using namespace tspipe;
using tspipe::test::check_close;
using tspipe::test::check_parameters;

namespace {

/// Runs forward (training), infer and backward on both layers and compares everything.
void compare_layer(nn::LayerPtr<cpu::Backend> c, nn::LayerPtr<cuda::Backend> g, const nn::Tensor& x,
                   bool training = true, uint64_t seed = 99) {
  c->set_training(training);
  g->set_training(training);
  const cuda::Tensor gx = cuda::Tensor::from_host(x);
  auto [cy, cctx] = c->forward(x);
  auto [gy, gctx] = g->forward(gx);
  check_close(gy, cy, c->kind() + " forward");
  const nn::Tensor dy = nn::Tensor::randn(cy.shape(), seed);
  const nn::Tensor cdx = c->backward(cctx, dy);
  const cuda::Tensor gdx = g->backward(gctx, cuda::Tensor::from_host(dy));
  check_close(gdx, cdx, c->kind() + " input gradient");
  check_parameters(*c, *g);
  check_close(g->infer(gx), c->infer(x), c->kind() + " infer");
}

using CB = cpu::Backend;
using GB = cuda::Backend;

}  // namespace

TEST_CASE("Linear, including [N, T, D] input and split backward") {
  compare_layer(CB::linear(24, 16, true, 1, "fc"), GB::linear(24, 16, true, 1, "fc"), nn::Tensor::randn({5, 24}, 2));
  compare_layer(CB::linear(24, 16, false, 3), GB::linear(24, 16, false, 3), nn::Tensor::randn({2, 7, 24}, 4));
  auto g = GB::linear(8, 4, true, 5);
  auto c = CB::linear(8, 4, true, 5);
  const nn::Tensor x = nn::Tensor::randn({3, 8}, 6), dy = nn::Tensor::randn({3, 4}, 7);
  auto [cy, cctx] = c->forward(x);
  auto [gy, gctx] = g->forward(cuda::Tensor::from_host(x));
  const cuda::Tensor gdy = cuda::Tensor::from_host(dy);
  check_close(g->backward_input(gctx, gdy), c->backward_input(cctx, dy), "split backward input");
  g->backward_weight(gctx, gdy);
  c->backward_weight(cctx, dy);
  check_parameters(*c, *g);
}

TEST_CASE("Conv2d on cuDNN: stride, padding, dilation, bias, pointwise") {
  struct Case { int64_t k, s, p, d; bool bias; };
  for (const Case cs : {Case{3, 1, 1, 1, false}, Case{3, 2, 1, 1, true}, Case{3, 1, 2, 2, false},
                        Case{1, 1, 0, 1, true}, Case{1, 2, 0, 1, false}, Case{7, 2, 3, 1, false}}) {
    CAPTURE(cs.k);
    CAPTURE(cs.s);
    const nn::Conv2dOptions o{6, 8, cs.k, cs.s, cs.p, cs.d, cs.bias};
    compare_layer(CB::conv2d(o, 11, "conv"), GB::conv2d(o, 11, "conv"), nn::Tensor::randn({3, 6, 13, 11}, 12));
  }
}

TEST_CASE("BatchNorm2d/1d on cuDNN in training and eval mode, running statistics") {
  for (bool training : {true, false}) {
    CAPTURE(training);
    compare_layer(CB::batch_norm2d(5, "bn"), GB::batch_norm2d(5, "bn"), nn::Tensor::randn({4, 5, 6, 7}, 21, 2.0f),
                  training);
    compare_layer(CB::batch_norm1d(6, "bn1"), GB::batch_norm1d(6, "bn1"), nn::Tensor::randn({8, 6}, 22), training);
    compare_layer(CB::batch_norm1d(3, "bn1"), GB::batch_norm1d(3, "bn1"), nn::Tensor::randn({4, 3, 5}, 23), training);
  }
}

TEST_CASE("LayerNorm, activations, softmax") {
  compare_layer(CB::layer_norm(48, "ln"), GB::layer_norm(48, "ln"), nn::Tensor::randn({3, 5, 48}, 31, 3.0f));
  compare_layer(CB::layer_norm(768, "ln"), GB::layer_norm(768, "ln"), nn::Tensor::randn({70, 768}, 32));
  compare_layer(CB::relu(), GB::relu(), nn::Tensor::randn({4, 3, 5, 5}, 33));
  compare_layer(CB::gelu(), GB::gelu(), nn::Tensor::randn({4, 37}, 34, 2.0f));
  compare_layer(CB::softmax(), GB::softmax(), nn::Tensor::randn({6, 197}, 35, 3.0f));
}

TEST_CASE("Pooling: max and average on cuDNN, global average") {
  for (auto [k, s, p] : {std::array<int64_t, 3>{3, 2, 1}, {2, 2, 0}, {3, 1, 1}}) {
    const nn::Pool2dOptions o{k, s, p};
    compare_layer(CB::max_pool2d(o, "mp"), GB::max_pool2d(o, "mp"), nn::Tensor::randn({2, 3, 9, 10}, 41));
    compare_layer(CB::avg_pool2d(o, "ap"), GB::avg_pool2d(o, "ap"), nn::Tensor::randn({2, 3, 9, 10}, 42));
  }
  compare_layer(CB::global_avg_pool("gap"), GB::global_avg_pool("gap"), nn::Tensor::randn({3, 4, 7, 7}, 43));
}

TEST_CASE("Flatten, SelectToken, Dropout (same masks as the CPU)") {
  compare_layer(CB::flatten(), GB::flatten(), nn::Tensor::randn({3, 4, 2, 2}, 51));
  compare_layer(CB::select_token(0), GB::select_token(0), nn::Tensor::randn({3, 5, 8}, 52));
  compare_layer(CB::select_token(3), GB::select_token(3), nn::Tensor::randn({3, 5, 8}, 53));
  compare_layer(CB::dropout(0.3f, 7, "drop"), GB::dropout(0.3f, 7, "drop"), nn::Tensor::randn({4, 50}, 54));
  compare_layer(CB::dropout(0.3f, 7, "drop"), GB::dropout(0.3f, 7, "drop"), nn::Tensor::randn({4, 50}, 55), false);
}

TEST_CASE("SelfAttention (strided-batched cuBLAS) and PatchEmbed") {
  compare_layer(CB::self_attention(32, 4, 61, "attn"), GB::self_attention(32, 4, 61, "attn"),
                nn::Tensor::randn({3, 17, 32}, 62));
  compare_layer(CB::self_attention(768, 12, 63, "attn"), GB::self_attention(768, 12, 63, "attn"),
                nn::Tensor::randn({2, 197, 768}, 64));
  const nn::PatchEmbedOptions o{3, 32, 8, 24, true};
  compare_layer(CB::patch_embed(o, 65, "pe"), GB::patch_embed(o, 65, "pe"), nn::Tensor::randn({2, 3, 32, 32}, 66));
}

TEST_CASE("Residual composite and backend add") {
  auto c = std::make_unique<nn::Residual<CB>>(CB::linear(16, 16, true, 71), nullptr, CB::gelu());
  auto g = std::make_unique<nn::Residual<GB>>(GB::linear(16, 16, true, 71), nullptr, GB::gelu());
  compare_layer(std::move(c), std::move(g), nn::Tensor::randn({4, 16}, 72));
}

namespace {
std::vector<nn::MatrixView> views(const std::vector<nn::Tensor>& ts) {
  std::vector<nn::MatrixView> v;
  for (const auto& t : ts) v.push_back({t.data(), static_cast<int>(t.size(0)), static_cast<int>(t.size(1))});
  return v;
}
std::vector<cuda::Tensor> upload(const std::vector<nn::Tensor>& ts) {
  std::vector<cuda::Tensor> v;
  for (const auto& t : ts) v.push_back(cuda::Tensor::from_host(t));
  return v;
}
void compare_loss(const nn::Loss& c, const cuda::Loss& g, const std::vector<nn::Tensor>& student,
                  const std::vector<nn::Tensor>& teacher, const std::vector<int>& labels) {
  const nn::LossOutput co = c.compute({views(student), views(teacher), labels});
  const cuda::LossOutput go = g.compute({upload(student), upload(teacher), labels});
  INFO(c.name());
  CHECK(go.loss == doctest::Approx(co.loss).epsilon(1e-5));
  REQUIRE(go.d_student.size() == co.d_student.size());
  for (size_t v = 0; v < co.d_student.size(); ++v)
    check_close(go.d_student[v], nn::Tensor::from(student[v].shape(), co.d_student[v]), "d_student");
}
}  // namespace

TEST_CASE("losses: CE, KD, BYOL, MoCo-v3, MSE against nn/losses.hpp") {
  const std::vector<nn::Tensor> s1{nn::Tensor::randn({8, 10}, 81, 2.0f)}, t1{nn::Tensor::randn({8, 10}, 82, 2.0f)};
  const std::vector<int> labels{0, 3, 9, 1, 2, 2, 7, 5};
  compare_loss(nn::CrossEntropyLoss{}, cuda::CrossEntropyLoss{}, s1, {}, labels);
  compare_loss(nn::SoftTargetKDLoss{4.0f, 0.1f}, cuda::SoftTargetKDLoss{4.0f, 0.1f}, s1, t1, labels);
  const std::vector<nn::Tensor> s2{nn::Tensor::randn({6, 16}, 83), nn::Tensor::randn({6, 16}, 84)};
  const std::vector<nn::Tensor> t2{nn::Tensor::randn({6, 16}, 85), nn::Tensor::randn({6, 16}, 86)};
  compare_loss(nn::ByolLoss{}, cuda::ByolLoss{}, s2, t2, {});
  compare_loss(nn::MocoV3Loss{0.2f}, cuda::MocoV3Loss{0.2f}, s2, t2, {});
  compare_loss(nn::MseLoss{}, cuda::MseLoss{}, s2, t2, {});
  nn::Tensor bad = s1[0].clone();
  bad[5] = std::nanf("");
  CHECK_THROWS_WITH_AS(cuda::CrossEntropyLoss{}.compute({upload({bad}), {}, labels}),
                       doctest::Contains("student output view 0 row 0 col 5 is NaN"), Error);
}

namespace {
/// Three optimizer steps on a CPU layer and the same CUDA layer with the same gradients.
template <class CpuOpt, class GpuOpt>
void compare_optimizer(CpuOpt& co, GpuOpt& go) {
  auto c = CB::linear(12, 6, true, 91);
  auto g = GB::linear(12, 6, true, 91);
  for (int step = 0; step < 3; ++step) {
    c->zero_grad();
    g->zero_grad();
    const nn::Tensor x = nn::Tensor::randn({5, 12}, 92 + static_cast<uint64_t>(step));
    const nn::Tensor dy = nn::Tensor::randn({5, 6}, 95 + static_cast<uint64_t>(step));
    auto [cy, cctx] = c->forward(x);
    auto [gy, gctx] = g->forward(cuda::Tensor::from_host(x));
    c->backward(cctx, dy);
    g->backward(gctx, cuda::Tensor::from_host(dy));
    std::vector<nn::ParamSlot> slots;
    for (auto& p : c->parameters()) slots.push_back({p.name, p.value->span(), p.grad->span(), p.no_weight_decay});
    co.step(slots);
    go.step(g->parameters());
  }
  check_parameters(*c, *g);
  const nn::OptimizerState cs = co.export_state(), gs = go.export_state();
  REQUIRE(cs.size() == gs.size());
  for (const auto& [key, values] : cs) {
    REQUIRE(gs.count(key) == 1);
    check_close(cuda::Tensor::from({static_cast<int64_t>(values.size())}, gs.at(key)),
                nn::Tensor::from({static_cast<int64_t>(values.size())}, values), key);
  }
}
}  // namespace

TEST_CASE("optimizers: SGD (Nesterov), AdamW, LARS against nn/optim.hpp") {
  nn::Sgd cs({0.1, 0.9f, 1e-4f, true});
  cuda::Sgd gs({0.1, 0.9f, 1e-4f, true});
  compare_optimizer(cs, gs);
  nn::AdamW ca({1e-3, 0.9f, 0.999f, 1e-8f, 0.05f});
  cuda::AdamW ga({1e-3, 0.9f, 0.999f, 1e-8f, 0.05f});
  compare_optimizer(ca, ga);
  nn::Lars cl({0.2, 0.9f, 1.5e-6f, 1e-3f});
  cuda::Lars gl({0.2, 0.9f, 1.5e-6f, 1e-3f});
  compare_optimizer(cl, gl);
}

TEST_CASE("fused momentum-teacher update against nn::momentum_teacher_update, paired by name") {
  auto ct = CB::linear(10, 7, true, 101), cs = CB::linear(10, 7, true, 102);
  auto gt = GB::linear(10, 7, true, 101), gs = GB::linear(10, 7, true, 102);
  std::vector<nn::TeacherSlot> teacher;
  for (auto& p : ct->parameters()) teacher.push_back({p.name, p.value->span()});
  std::vector<nn::ParamSlot> student;
  for (auto& p : cs->parameters()) student.push_back({p.name, p.value->span(), p.grad->span(), p.no_weight_decay});
  cuda::MomentumTeacherUpdate ema;
  for (float tau : {0.99f, 0.5f, 0.0f}) {
    nn::momentum_teacher_update(teacher, student, tau);
    ema(gt->parameters(), gs->parameters(), tau);
  }
  check_parameters(*ct, *gt, 1e-4, /*grads=*/false);
  auto other = GB::linear(10, 8, true, 103);
  CHECK_THROWS_WITH_AS(ema(gt->parameters(), other->parameters(), 0.9f), doctest::Contains("'weight' has 70 values"),
                       Error);
}
