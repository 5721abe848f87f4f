#include <tspipe/cpu/backend.hpp>

#include <tspipe/cpu/parallel.hpp>

#include <cblas.h>

namespace tspipe::cpu {

Tensor Backend::add(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape())
    throw Error("add: shapes " + nn::to_string(a.shape()) + " and " + nn::to_string(b.shape()) + " differ");
  Tensor out(a.shape());
  const float* pa = a.data();
  const float* pb = b.data();
  float* po = out.data();
  parallel_for(a.numel(), kElementGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) po[i] = pa[i] + pb[i];
  });
  return out;
}

void Backend::set_threads(int threads) {
  if (threads < 1) throw Error("cpu::Backend::set_threads: thread count " + std::to_string(threads) + " < 1");
  openblas_set_num_threads(threads);
}
int Backend::threads() { return openblas_get_num_threads(); }

}  // namespace tspipe::cpu
