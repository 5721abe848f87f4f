#include <tspipe/cuda/backend.hpp>
#include <tspipe/cuda/launchers.hpp>

namespace tspipe::cuda {

Tensor Backend::add(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape())
    throw Error("add: shapes " + nn::to_string(a.shape()) + " and " + nn::to_string(b.shape()) + " differ");
  Tensor out(a.shape());
  launch::add(a.data(), b.data(), out.data(), a.numel(), detail::stream());
  return out;
}

void Backend::set_threads(int threads) {
  if (threads < 1) throw Error("cuda::Backend::set_threads: thread count " + std::to_string(threads) + " < 1");
}

}  // namespace tspipe::cuda
