// Forward+backward step time of ResNet-50 (batch × 3 × 224 × 224) or ViT-B/16 on the CUDA
// backend. Prints one line "tspipe <model> <batch> <ms per step>" that check.sh compares with
// torch_models.py's. The step is forward, then backward from a fixed output gradient (the same on
// the PyTorch side), weights' gradients accumulated; no optimizer.
//   tspipe_gpu_bench resnet50|vit_b16 [batch=64] [iterations=10] [--tf32]
#include <tspipe/cuda/backend.hpp>
#include <tspipe/nn/models/resnet.hpp>
#include <tspipe/nn/models/vit.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

using namespace tspipe;
using B = cuda::Backend;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s resnet50|vit_b16 [batch] [iterations] [--tf32]\n", argv[0]);
    return 2;
  }
  const std::string model = argv[1];
  const int64_t batch = argc > 2 ? std::stoll(argv[2]) : 64;
  const int iterations = argc > 3 ? std::stoi(argv[3]) : 10;
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--tf32") == 0) cuda::set_allow_tf32(true);
  if (const Status ok = cuda::available(); !ok) {
    std::printf("%s\n", ok.message().c_str());
    return 77;
  }
  try {
    nn::Sequential<B> net = [&] {
      if (model == "resnet50") return nn::Sequential<B>(nn::models::resnet<B>(nn::models::resnet_preset("resnet50", 1000)));
      if (model == "vit_b16") return nn::Sequential<B>(nn::models::vit<B>(nn::models::vit_preset("vit_base", 224, 16, 1000)));
      throw Error("unknown model '" + model + "' (resnet50 or vit_b16)");
    }();
    const cuda::Tensor x = cuda::Tensor::from_host(nn::Tensor::randn({batch, 3, 224, 224}, 1));
    const cuda::Tensor dy = cuda::Tensor::full({batch, 1000}, 1.0f / static_cast<float>(batch));
    const cuda::Stream stream = cuda::current_stream();
    auto step = [&] {
      auto [y, ctx] = net.forward(x);
      net.backward(ctx, dy);
    };
    for (int i = 0; i < 3; ++i) step();  // plans, algorithms, allocator warm-up
    stream.synchronize();
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < iterations; ++i) step();
    stream.synchronize();
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / iterations;
    const auto stats = cuda::CachingAllocator::instance().stats();
    std::printf("tspipe %s %lld %.3f\n", model.c_str(), static_cast<long long>(batch), ms);
    std::fprintf(stderr, "  (tf32 %s; allocator: %llu cudaMalloc, %.1f MiB reserved, %llu/%llu cache hits)\n",
                 cuda::allow_tf32() ? "on" : "off", static_cast<unsigned long long>(stats.device_allocations),
                 static_cast<double>(stats.reserved_bytes) / 1048576.0,
                 static_cast<unsigned long long>(stats.cache_hits), static_cast<unsigned long long>(stats.requests));
    return 0;
  } catch (const std::exception& e) {
    std::printf("error: %s\n", e.what());
    return 1;
  }
}
