// Times forward + backward (training mode) of ResNet-18 (small-image stem, batch 64, 3×32×32) and
// ViT-Tiny (patch 4, 32×32, batch 64) on the CPU backend. Usage: bench_nn [threads] [iterations]
// Prints one line per model: "<name> <milliseconds per iteration>".
#include <tspipe/cpu/backend.hpp>
#include <tspipe/nn/models/resnet.hpp>
#include <tspipe/nn/models/vit.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>

using namespace tspipe;
using B = cpu::Backend;

static double time_model(nn::Sequential<B>& model, const cpu::Tensor& x, int iterations) {
  auto step = [&] {
    auto [y, ctx] = model.forward(x);
    (void)model.backward(ctx, cpu::Tensor::full(y.shape(), 1.0f / static_cast<float>(y.numel())));
  };
  step();  // warm-up: first-touch of buffers, OpenBLAS thread start
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < iterations; ++i) step();
  const auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::milli>(t1 - t0).count() / iterations;
}

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  const int iterations = argc > 2 ? std::atoi(argv[2]) : 3;
  B::set_threads(threads);
  const cpu::Tensor x = cpu::Tensor::randn({64, 3, 32, 32}, 1);
  auto resnet = nn::Sequential<B>(nn::models::resnet<B>(nn::models::resnet_preset("resnet18_small", 10)));
  std::printf("resnet18 %.1f\n", time_model(resnet, x, iterations));
  auto vit = nn::Sequential<B>(nn::models::vit<B>(nn::models::vit_preset("vit_tiny", 32, 4, 10)));
  std::printf("vit_tiny %.1f\n", time_model(vit, x, iterations));
  return 0;
}
