#pragma once
// Fork-join parallelism for the backend's own loops (im2col, col2im, batch norm, elementwise),
// so that they use the same "threads per stage" as the OpenBLAS GEMMs around them
// (Backend::set_threads). A small pool of std::threads that sleep on a condition variable:
// spinning workers would steal one of the few cores from OpenBLAS's own threads.
//
//   parallel_for(rows, 4096 / cols, [&](int64_t begin, int64_t end) { ... rows [begin, end) ... });
//
// The body runs on at most Backend::threads() threads (the caller is one of them) and must not
// throw. Regions do not nest and do not overlap: a call made while another thread's region runs
// (two pipeline stages in one process) or from inside a body runs inline on its caller, which is
// always correct, only not parallel.
#include <cstdint>
#include <utility>

namespace tspipe::cpu {

/// Elements of a cheap elementwise loop (a few flops each) below which waking a thread (some
/// microseconds) costs more than it saves.
inline constexpr int64_t kElementGrain = int64_t{1} << 15;

namespace detail {
/// Runs task(context, i) for i in [0, tasks), task 0 on the calling thread.
void run_parallel(int tasks, void (*task)(void*, int), void* context);
/// How many threads a region may use now (Backend::threads()).
int parallel_threads();
}  // namespace detail

/// Splits [0, n) into contiguous ranges of at least `grain` items (one per thread) and runs
/// body(begin, end) on each. Small ranges (n < 2·grain) run inline without touching the pool.
template <class Body>
void parallel_for(int64_t n, int64_t grain, Body&& body) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  int64_t tasks = n / grain;
  const int threads = detail::parallel_threads();
  if (tasks > threads) tasks = threads;
  if (tasks < 2) {
    body(int64_t{0}, n);
    return;
  }
  struct Split {
    Body* body;
    int64_t n, tasks;
  } split{&body, n, tasks};
  detail::run_parallel(
      static_cast<int>(tasks),
      [](void* context, int i) {
        const auto* s = static_cast<const Split*>(context);
        const int64_t begin = s->n * i / s->tasks, end = s->n * (i + 1) / s->tasks;
        (*s->body)(begin, end);
      },
      &split);
}

}  // namespace tspipe::cpu
