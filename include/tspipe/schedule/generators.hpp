#pragma once
// Schedule generators (docs/design.md §2): a workload in, every device's ordered action list out.
//
//   sequential    no micro-batching: each view flows through the stages whole
//   gpipe         all forwards (teacher, then student) of a batch, all backwards, flush
//   1f1b          PipeDream-Flush order for the student, each teacher forward just before the
//                 student forward of its micro-batch
//   tspipe-paper  the reference implementation's order, exactly (SSL and KD, M = S − 1)
//
// The cost-aware `tspipe` generator and the registry of every generator by name live one layer
// up, in planning/: they rank candidates by simulating them.
//
// A generator may adapt the workload to what it is (sequential sets M = 1, tspipe-paper uses
// the backward halves); it returns the workload the schedule is for beside the schedule.
#include <tspipe/schedule/device_lists.hpp>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

namespace tspipe::schedule {

namespace detail {
/// The real 1F1B of a per-micro-batch-loss workload (generate_1f1b describes it).
inline Schedule one_f_one_b_schedule(const Workload& w) {
  const int S = w.stages, M = w.micro_batches;
  return flush_schedule(w, "1f1b", [&](DeviceList& list, int s, int b) {
    const auto forward = [&](int u) {
      for (int v = 0; v < w.views; ++v) {
        if (w.has_teacher()) list.push_back(teacher_forward(s, b, v, u));
        list.push_back(student_forward(s, b, v, u));
      }
      if (s == S - 1) list.push_back(loss(s, b, u));
    };
    const auto backward = [&](int u) {
      for (int v = 0; v < w.views; ++v) {
        if (w.split == BackwardSplit::input_weight) {
          list.push_back(backward_input(s, b, v, u));
          list.push_back(backward_weight(s, b, v, u));
        } else if (w.split == BackwardSplit::halves) {
          list.push_back(student_backward(s, b, v, 2 * u));
          list.push_back(student_backward(s, b, v, 2 * u + 1));
        } else {
          list.push_back(student_backward(s, b, v, u));
        }
      }
    };
    int forwards = 0;
    while (forwards < std::min(M, S - s)) forward(forwards++);
    for (int u = 0; u < M; ++u) {
      backward(u);
      if (forwards < M) forward(forwards++);
    }
  });
}

/// Why the flush generators (gpipe, 1f1b) cannot run `w`, empty when they can: the workload is
/// invalid, has several chunks per device, or asks for teacher versions a flush cannot keep.
inline std::string flush_generator_problem(const Workload& w) {
  if (Status ok = w.check(); !ok) return ok.message();
  if (auto why = several_chunks_problem(w); !why.empty()) return why;
  return flush_version_problem(w);
}
}  // namespace detail

/// gpipe: all teacher forwards, all student forwards, LOSS, all backwards (LIFO), OPT, EMA.
inline Result<Generated> generate_gpipe(Workload w) {
  if (auto why = detail::flush_generator_problem(w); !why.empty()) return detail::fail("gpipe", why);
  Schedule s = detail::flush_schedule(w, "gpipe", [&](detail::DeviceList& list, int stage, int b) {
    detail::append_teacher_forwards(list, stage, b, w);
    detail::append_student_forwards(list, stage, b, w);
    detail::append_losses(list, stage, b, w);
    detail::append_student_backwards(list, stage, b, w, /*lifo=*/true);
  });
  return Generated{w, std::move(s)};
}

/// 1f1b: PipeDream-Flush, each teacher forward just before its student forward. Under a
/// per-micro-batch loss it is the real one: stage s forwards min(M, S − s) micro-batches (every
/// view of each), then alternates one micro-batch's backward (FIFO) and the next one's forward,
/// then the remaining backwards, so it holds at most S − s micro-batches' activations. Under the
/// whole-batch loss contract (docs/design.md) every forward of a batch precedes its LOSS, so the
/// warm-up covers all forwards and there is nothing to alternate with: all forwards, then the
/// backwards in forward order (FIFO), then the flush.
inline Result<Generated> generate_1f1b(Workload w) {
  if (auto why = detail::flush_generator_problem(w); !why.empty()) return detail::fail("1f1b", why);
  if (w.per_micro_batch_loss) return Generated{w, detail::one_f_one_b_schedule(w)};
  Schedule s = detail::flush_schedule(w, "1f1b", [&](detail::DeviceList& list, int stage, int b) {
    for (int v = 0; v < w.views; ++v)
      for (int u = 0; u < w.micro_batches; ++u) {
        if (w.has_teacher()) list.push_back(teacher_forward(stage, b, v, u));
        list.push_back(student_forward(stage, b, v, u));
      }
    detail::append_losses(list, stage, b, w);
    detail::append_student_backwards(list, stage, b, w, /*lifo=*/false);
  });
  return Generated{w, std::move(s)};
}

/// sequential: plain inter-layer model parallelism, M = 1: for each view the teacher forward then
/// the student forward flow through the stages whole; LOSS; backwards; flush.
inline Result<Generated> generate_sequential(Workload w) {
  // The workload as given must hold up too, although M is replaced: an M out of range is a
  // mistake the caller should hear about from every generator alike.
  if (Status ok = w.check(); !ok) return detail::fail("sequential", ok.message());
  if (auto why = detail::several_chunks_problem(w); !why.empty()) return detail::fail("sequential", why);
  w.micro_batches = 1;
  if (w.split == BackwardSplit::halves) w.split = BackwardSplit::full;
  auto g = generate_1f1b(w);
  if (!g) return detail::fail("sequential", g.message());
  g.value().schedule.generator = "sequential";
  return g;
}

/// tspipe-paper: the reference implementation's order (docs/design.md §2), exactly. SSL: V = 2, momentum
/// teacher, δ = 1, no warm-up; KD: V = 1, frozen teacher. Both with M = S − 1 and the backward
/// in halves. Device j:
///   FT(0); for b: FS(b) [LOSS] FT(b+1)[0, 2(S−1−j)) BS(b) FT(b+1)[2(S−1−j), 2M) OPT(b) EMA(b)
/// KD keeps the SSL order's student actions of view 0 and teacher actions of view 1 (as view 0).
inline Result<Generated> generate_tspipe_paper(Workload w) {
  constexpr std::string_view name = "tspipe-paper";
  if (Status ok = w.check(); !ok) return detail::fail(name, ok.message());
  if (auto why = detail::several_chunks_problem(w); !why.empty()) return detail::fail(name, why);
  if (!w.has_teacher()) return detail::fail(name, "the reference trains a student with a teacher; this workload has none");
  const bool kd = !w.momentum();
  if (w.stages < 2) return detail::fail(name, "needs at least 2 stages (M = S − 1), got stages = " + std::to_string(w.stages));
  if (w.micro_batches != w.stages - 1)
    return detail::fail(name, "the reference uses M = S − 1 = " + std::to_string(w.stages - 1) +
                                  " micro-batches, got micro_batches = " + std::to_string(w.micro_batches));
  if (kd && w.views != 1) return detail::fail(name, "KD (frozen teacher) uses 1 view, got views = " + std::to_string(w.views));
  if (!kd) {
    if (w.views != 2) return detail::fail(name, "SSL (momentum teacher) uses 2 views, got views = " + std::to_string(w.views));
    if (w.staleness != 1) return detail::fail(name, "SSL runs the teacher with staleness δ = 1, got staleness = " + std::to_string(w.staleness));
    if (w.warmup != 0) return detail::fail(name, "the reference has no warm-up, got warmup = " + std::to_string(w.warmup));
  }
  if (w.split == BackwardSplit::input_weight) return detail::fail(name, "the reference splits the backward into halves, not BI/BW");
  w.split = BackwardSplit::halves;

  const int S = w.stages, M = w.micro_batches;
  // Slot k ∈ [0, 2M) of the SSL order is (view k / M, micro-batch k % M). KD keeps the student's
  // view-0 slots and the teacher's view-1 slots.
  const auto teacher_slots = [&](detail::DeviceList& list, int s, int b, int from, int to) {
    for (int k = from; k < to; ++k) {
      const int v = k / M, u = k % M;
      if (kd && v == 0) continue;
      list.push_back(teacher_forward(s, b, kd ? 0 : v, u));
    }
  };
  Schedule schedule;
  schedule.generator = std::string(name);
  schedule.devices.resize(static_cast<std::size_t>(S));
  for (int j = 0; j < S; ++j) {
    detail::DeviceList& list = schedule.devices[static_cast<std::size_t>(j)];
    const int split_at = std::min(2 * M, 2 * (S - 1 - j));
    teacher_slots(list, j, 0, 0, 2 * M);
    for (int b = 0; b < w.batches; ++b) {
      for (int k = 0; k < 2 * M; ++k)
        if (!kd || k < M) list.push_back(student_forward(j, b, k / M, k % M));
      detail::append_losses(list, j, b, w);
      if (b + 1 < w.batches) teacher_slots(list, j, b + 1, 0, split_at);
      for (int v = kd ? 0 : 1; v >= 0; --v)
        for (int half = 2 * M - 1; half >= 0; --half) list.push_back(student_backward(j, b, v, half));
      if (b + 1 < w.batches) teacher_slots(list, j, b + 1, split_at, 2 * M);
      detail::append_updates(list, j, b, w);
    }
  }
  return Generated{w, std::move(schedule)};
}

}  // namespace tspipe::schedule
