// doctest main for the `gpu` suites: exits 77 (CTest's SKIP_RETURN_CODE) with a clear message
// when no CUDA device is usable, so CI without a GPU reports them as skipped, not passed.
#define DOCTEST_CONFIG_IMPLEMENT
#include <tspipe/cuda/device.hpp>

#include <doctest/doctest.h>

#include <cstdio>

int main(int argc, char** argv) {
  if (const tspipe::Status ok = tspipe::cuda::available(); !ok) {
    std::printf("skipping the gpu suite: %s\n", ok.message().c_str());
    return 77;
  }
  tspipe::cuda::set_allow_tf32(false);  // fp32 comparisons against the CPU
  doctest::Context context(argc, argv);
  return context.run();
}
