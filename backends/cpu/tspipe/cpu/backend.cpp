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

namespace detail {
void check_input(const std::string& who, const Tensor& x, int64_t rank, bool at_least) {
  if (!x.defined()) throw Error(who + ": input tensor is undefined");
  if (at_least ? x.dim() < rank : x.dim() != rank)
    throw Error(who + ": input has shape " + nn::to_string(x.shape()) + ", expected " +
                (at_least ? "at least " : "") + std::to_string(rank) + " axes");
  for (int64_t d : x.shape())
    if (d == 0) throw Error(who + ": input has a zero-sized dimension: " + nn::to_string(x.shape()));
}
void check_grad(const std::string& who, const Tensor& dy, const nn::Shape& expected) {
  if (!dy.defined() || dy.shape() != expected)
    throw Error(who + ": output gradient has shape " + (dy.defined() ? nn::to_string(dy.shape()) : "(undefined)") +
                ", expected " + nn::to_string(expected));
}
void check_saved(const std::string& who, const Context& ctx, size_t count) {
  if (ctx.tensors.size() < count)
    throw Error(who + ": backward with a context that was not produced by this layer's forward");
}
}  // namespace detail

}  // namespace tspipe::cpu
