#include <tspipe/cuda/backend.hpp>
#include <tspipe/cuda/launchers.hpp>
#include <tspipe/nn/layer_shells/checks.hpp>

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

namespace detail {
// The checks are written once for every backend (nn/layer_shells/checks.hpp).
void check_input(const std::string& who, const Tensor& x, int64_t rank, bool at_least) {
  nn::shells::check_input(who, x, rank, at_least);
}
void check_grad(const std::string& who, const Tensor& dy, const nn::Shape& expected) {
  nn::shells::check_grad(who, dy, expected);
}
void check_saved(const std::string& who, const Context& ctx, size_t count) { nn::shells::check_saved(who, ctx, count); }
}  // namespace detail

}  // namespace tspipe::cuda
