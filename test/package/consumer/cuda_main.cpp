// A downstream project on the exported tspipe::cuda target: the installed CUDA headers (the
// Pipeline hooks included) compile, the library links, and without a GPU it reports so cleanly.
#include <tspipe/cuda/pipeline.hpp>

#include <cstdio>
#include <type_traits>

int main() {
  static_assert(std::is_same_v<tspipe::Pipeline<tspipe::cuda::Backend>::Loss, tspipe::cuda::Loss>);
  const auto devices = tspipe::cuda::device_count();
  if (!devices) {
    std::printf("tspipe::cuda: %s\n", devices.message().c_str());
    return 0;
  }
  std::printf("tspipe::cuda: %d CUDA device(s)\n", devices.value());
  return 0;
}
