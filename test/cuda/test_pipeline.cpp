// S = 2…4 pipeline stages on ONE GPU, each on its own thread and stream, exchanging activations
// and gradients through NcclTransport (same-device hand-over with events), M = 2 micro-batches:
// the loss and every parameter gradient equal the CPU backend's single-stage run on the whole
// batch. (A hand-rolled GPipe order: the Pipeline<Backend> runtime is tested on its own.)
#include "compare.hpp"

#include <tspipe/cuda/losses.hpp>
#include <tspipe/cuda/nccl_transport.hpp>
#include <tspipe/nn/losses.hpp>
#include <tspipe/nn/models/vit.hpp>

#include <chrono>
#include <thread>

using namespace tspipe;
using tspipe::test::check_close;
using CB = cpu::Backend;
using GB = cuda::Backend;

namespace {
nn::models::ViTConfig config() {
  nn::models::ViTConfig cfg;
  cfg.image_size = 16;
  cfg.patch = 4;
  cfg.dim = 32;
  cfg.depth = 4;
  cfg.heads = 4;
  cfg.num_classes = 6;
  cfg.seed = 5;
  return cfg;
}
}  // namespace

TEST_CASE("pipelines of 2, 3 and 4 stages on one GPU equal the CPU run") {
  const int batch = 4, micro = 2;
  const nn::Tensor x = nn::Tensor::randn({batch, 3, 16, 16}, 11);
  const std::vector<int> labels{1, 5, 0, 3};

  // CPU reference: the whole batch on one stage.
  nn::Sequential<CB> ref(nn::models::vit<CB>(config()));
  auto [ry, rctx] = ref.forward(x);
  const nn::LossOutput rl =
      nn::CrossEntropyLoss{}.compute({{{ry.data(), batch, static_cast<int>(ry.size(1))}}, {}, labels});
  ref.backward(rctx, nn::Tensor::from(ry.shape(), rl.d_student[0]));

  for (int stages = 2; stages <= 4; ++stages) {
    CAPTURE(stages);
    auto blocks = nn::models::vit<GB>(config());  // patch_embed, 4 blocks, head = 6 layers
    std::vector<nn::Sequential<GB>> parts(static_cast<size_t>(stages));
    for (size_t i = 0; i < blocks.size(); ++i)
      parts[std::min(i * static_cast<size_t>(stages) / blocks.size(), static_cast<size_t>(stages - 1))].add(
          "", std::move(blocks[i]));
    auto transport = cuda::NcclTransport::create(std::vector<int>(static_cast<size_t>(stages), 0));
    REQUIRE_MESSAGE(transport.ok(), transport.message());
    cuda::NcclTransport& net = *transport.value();
    const auto timeout = std::chrono::milliseconds(60000);
    double loss = 0.0;
    std::vector<std::string> failures(static_cast<size_t>(stages));
    std::vector<std::thread> workers;
    for (int s = 0; s < stages; ++s)
      workers.emplace_back([&, s] {
        try {
          cuda::StreamGuard guard(cuda::Stream::create(cuda::Device{0}));
          auto& part = parts[static_cast<size_t>(s)];
          std::vector<nn::Context<GB>> ctx(micro);
          std::vector<cuda::Tensor> outputs(micro);
          for (int u = 0; u < micro; ++u) {  // all forwards
            cuda::Tensor in;
            if (s == 0) {
              nn::Tensor slice({batch / micro, 3, 16, 16});
              std::copy_n(x.data() + u * slice.numel(), slice.numel(), slice.data());
              in = cuda::Tensor::from_host(slice);
            } else {
              in = net.receive(s, {schedule::ActionKind::StudentForward, 0, 0, u}, timeout).value();
            }
            auto [y, c] = part.forward(in);
            ctx[static_cast<size_t>(u)] = std::move(c);
            if (s + 1 < stages) net.send(s + 1, {schedule::ActionKind::StudentForward, 0, 0, u}, y, timeout).throw_if_error();
            else outputs[static_cast<size_t>(u)] = y;
          }
          for (int u = micro; u-- > 0;) {  // all backwards
            cuda::Tensor dy;
            if (s + 1 == stages) {
              // The loss of the whole batch, split back per micro-batch (mean over 4 rows).
              const std::vector<int> mb(labels.begin() + u * 2, labels.begin() + u * 2 + 2);
              const cuda::LossOutput l = cuda::CrossEntropyLoss{}.compute({{outputs[static_cast<size_t>(u)]}, {}, mb});
              loss += l.loss / micro;
              dy = l.d_student[0];
              const nn::Tensor grad = dy.to_host();
              nn::Tensor scaled(grad.shape());
              for (int64_t i = 0; i < grad.numel(); ++i) scaled[i] = grad[i] / micro;
              dy = cuda::Tensor::from_host(scaled);
            } else {
              dy = net.receive(s, {schedule::ActionKind::StudentBackward, 0, 0, u}, timeout).value();
            }
            cuda::Tensor dx = part.backward(ctx[static_cast<size_t>(u)], dy);
            if (s > 0) net.send(s - 1, {schedule::ActionKind::StudentBackward, 0, 0, u}, dx, timeout).throw_if_error();
          }
          cuda::current_stream().synchronize();
        } catch (const std::exception& e) {
          failures[static_cast<size_t>(s)] = e.what();
          net.stop(std::string("stage ") + std::to_string(s) + " failed: " + e.what());
        }
      });
    for (auto& w : workers) w.join();
    for (const auto& f : failures) CHECK_MESSAGE(f.empty(), f);
    CHECK(net.pending() == 0);
    CHECK(loss == doctest::Approx(rl.loss).epsilon(5e-4));
    std::map<std::string, cuda::Parameter> by_name;
    for (auto& part : parts)
      for (auto& p : part.parameters()) by_name.emplace(p.name, p);
    for (auto& p : ref.parameters()) {
      REQUIRE(by_name.count(p.name) == 1);
      check_close(*by_name.at(p.name).grad, *p.grad, p.name + " (grad)", 5e-4);
    }
  }
}
