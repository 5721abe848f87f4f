#pragma once
// Schedule generators (DESIGN §2): a workload in, every device's ordered action list out.
//
//   sequential    no micro-batching: each view flows through the stages whole
//   gpipe         all forwards (teacher, then student) of a batch, all backwards, flush
//   1f1b          PipeDream-Flush order for the student, each teacher forward just before the
//                 student forward of its micro-batch
//   tspipe-paper  the reference implementation's order, exactly (SSL and KD, M = S − 1)
//   tspipe        teacher forwards placed into the student pipeline's idle time by list
//                 scheduling against the cost model (any S, M, V, δ)
//
// A generator may adapt the workload to what it is (sequential sets M = 1, tspipe-paper uses
// the backward halves); it returns the workload the schedule is for beside the schedule.
#include <tspipe/schedule/dependencies.hpp>
#include <tspipe/schedule/schedule.hpp>

#include <algorithm>
#include <functional>
#include <limits>
#include <queue>
#include <string>
#include <string_view>
#include <vector>

namespace tspipe::schedule {

struct Generated {
  Workload workload;  ///< what the schedule is for (the input, adapted by the generator)
  Schedule schedule;
};

namespace detail {

using DeviceList = std::vector<Action>;

inline void append_teacher_forwards(DeviceList& list, int s, int b, const Workload& w) {
  for (int v = 0; v < w.views; ++v)
    for (int u = 0; u < w.micro_batches; ++u) list.push_back(teacher_forward(s, b, v, u));
}
inline void append_student_forwards(DeviceList& list, int s, int b, const Workload& w) {
  for (int v = 0; v < w.views; ++v)
    for (int u = 0; u < w.micro_batches; ++u) list.push_back(student_forward(s, b, v, u));
}

/// The student backward of one batch on one stage. `lifo`: reverse of forward order (the last
/// forwarded slice's gradient is the first the loss can release); otherwise forward order.
/// Under the BI/BW split, every weight gradient is deferred behind the input gradients, so the
/// gradient travelling to the previous stage is never held up by weight-gradient work.
inline void append_student_backwards(DeviceList& list, int s, int b, const Workload& w, bool lifo) {
  const int slices = w.backward_slices();
  const auto each_slice = [&](auto&& emit) {
    for (int i = 0; i < w.views * slices; ++i) {
      const int k = lifo ? w.views * slices - 1 - i : i;
      emit(k / slices, k % slices);
    }
  };
  if (w.split == BackwardSplit::input_weight) {
    each_slice([&](int v, int u) { list.push_back(backward_input(s, b, v, u)); });
    each_slice([&](int v, int u) { list.push_back(backward_weight(s, b, v, u)); });
  } else {
    each_slice([&](int v, int u) { list.push_back(student_backward(s, b, v, u)); });
  }
}
inline void append_updates(DeviceList& list, int s, int b, const Workload& w) {
  list.push_back(optimizer_step(s, b));
  if (w.momentum()) list.push_back(ema_update(s, b));
}

inline Result<Generated> fail(std::string_view generator, const std::string& why) {
  return Result<Generated>::failure(std::string(generator) + ": " + why);
}

/// A flush schedule: per batch, `body` emits the forwards and backwards, then OPT and EMA follow.
template <class BatchBody>
Schedule flush_schedule(const Workload& w, std::string_view name, BatchBody&& body) {
  Schedule schedule;
  schedule.generator = std::string(name);
  schedule.devices.resize(static_cast<std::size_t>(w.stages));
  for (int s = 0; s < w.stages; ++s) {
    DeviceList& list = schedule.devices[static_cast<std::size_t>(s)];
    for (int b = 0; b < w.batches; ++b) {
      body(list, s, b);
      append_updates(list, s, b, w);
    }
  }
  return schedule;
}

/// In a flush schedule batch b's teacher runs between EMA(b−1) and EMA(b), reading ξ_{b−δ}: that
/// version survives until then only when a stage keeps at least δ + 1 teacher buffers.
inline std::string flush_version_problem(const Workload& w) {
  if (!w.momentum()) return {};
  if (w.teacher_buffers() < w.staleness + 1)
    return "δ = " + std::to_string(w.staleness) + " needs " + std::to_string(w.staleness + 1) +
           " teacher buffers in a flush schedule, the workload allows " + std::to_string(w.teacher_buffers());
  return {};
}

}  // namespace detail

/// gpipe: all teacher forwards, all student forwards, LOSS, all backwards (LIFO), OPT, EMA.
inline Result<Generated> generate_gpipe(Workload w) {
  if (Status ok = w.check(); !ok) return detail::fail("gpipe", ok.message());
  if (auto why = detail::flush_version_problem(w); !why.empty()) return detail::fail("gpipe", why);
  Schedule s = detail::flush_schedule(w, "gpipe", [&](detail::DeviceList& list, int stage, int b) {
    detail::append_teacher_forwards(list, stage, b, w);
    detail::append_student_forwards(list, stage, b, w);
    if (stage == w.last_stage()) list.push_back(loss(stage, b));
    detail::append_student_backwards(list, stage, b, w, /*lifo=*/true);
  });
  return Generated{w, std::move(s)};
}

/// 1f1b: PipeDream-Flush. Under the whole-batch loss contract (DESIGN §1) every forward of a
/// batch precedes its LOSS, so the warm-up phase covers all forwards and the one-forward-one-
/// backward phase has nothing to alternate with: the order is all forwards (each teacher forward
/// just before its student forward), then backwards in forward order (FIFO), then the flush.
inline Result<Generated> generate_1f1b(Workload w) {
  if (Status ok = w.check(); !ok) return detail::fail("1f1b", ok.message());
  if (auto why = detail::flush_version_problem(w); !why.empty()) return detail::fail("1f1b", why);
  Schedule s = detail::flush_schedule(w, "1f1b", [&](detail::DeviceList& list, int stage, int b) {
    for (int v = 0; v < w.views; ++v)
      for (int u = 0; u < w.micro_batches; ++u) {
        list.push_back(teacher_forward(stage, b, v, u));
        list.push_back(student_forward(stage, b, v, u));
      }
    if (stage == w.last_stage()) list.push_back(loss(stage, b));
    detail::append_student_backwards(list, stage, b, w, /*lifo=*/false);
  });
  return Generated{w, std::move(s)};
}

/// sequential: plain inter-layer model parallelism, M = 1: for each view the teacher forward then
/// the student forward flow through the stages whole; LOSS; backwards; flush.
inline Result<Generated> generate_sequential(Workload w) {
  w.micro_batches = 1;
  if (w.split == BackwardSplit::halves) w.split = BackwardSplit::full;
  auto g = generate_1f1b(w);
  if (!g) return detail::fail("sequential", g.message());
  g.value().schedule.generator = "sequential";
  return g;
}

/// tspipe-paper: the reference implementation's order (DESIGN §2), exactly. SSL: V = 2, momentum
/// teacher, δ = 1, no warm-up; KD: V = 1, frozen teacher. Both with M = S − 1 and the backward
/// in halves. Device j:
///   FT(0); for b: FS(b) [LOSS] FT(b+1)[0, 2(S−1−j)) BS(b) FT(b+1)[2(S−1−j), 2M) OPT(b) EMA(b)
/// KD keeps the SSL order's student actions of view 0 and teacher actions of view 1 (as view 0).
inline Result<Generated> generate_tspipe_paper(Workload w) {
  constexpr std::string_view name = "tspipe-paper";
  if (Status ok = w.check(); !ok) return detail::fail(name, ok.message());
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
      if (j == S - 1) list.push_back(loss(j, b));
      if (b + 1 < w.batches) teacher_slots(list, j, b + 1, 0, split_at);
      for (int v = kd ? 0 : 1; v >= 0; --v)
        for (int half = 2 * M - 1; half >= 0; --half) list.push_back(student_backward(j, b, v, half));
      if (b + 1 < w.batches) teacher_slots(list, j, b + 1, split_at, 2 * M);
      detail::append_updates(list, j, b, w);
    }
  }
  return Generated{w, std::move(schedule)};
}

/// tspipe: the student runs a flush pipeline (forwards, LOSS, LIFO backwards, OPT, EMA), and every
/// teacher forward is placed by list scheduling against the cost model: whenever a device would
/// sit idle waiting for a student input, it runs the next teacher forward whose input and
/// parameter version are ready — a later batch's as soon as the staleness allows (δ ≥ 1), or up
/// to `teacher_lookahead` batches ahead for a frozen teacher. A teacher forward that would still be
/// running when the student's input arrives is not started.
inline Result<Generated> generate_tspipe(Workload w) {
  constexpr std::string_view name = "tspipe";
  if (Status ok = w.check(); !ok) return detail::fail(name, ok.message());
  if (auto why = detail::flush_version_problem(w); !why.empty()) return detail::fail(name, why);
  const std::size_t D = static_cast<std::size_t>(w.stages);
  const ActionIndex index(w);
  constexpr double kUnknown = std::numeric_limits<double>::infinity();
  std::vector<double> finish(index.size(), -1.0);

  // Student skeleton and teacher queue per device. Teacher forwards are queued by the version
  // they read, then batch: the order in which they become runnable.
  std::vector<detail::DeviceList> student(D), teacher(D);
  for (int s = 0; s < w.stages; ++s) {
    auto& list = student[static_cast<std::size_t>(s)];
    for (int b = 0; b < w.batches; ++b) {
      detail::append_student_forwards(list, s, b, w);
      if (s == w.last_stage()) list.push_back(loss(s, b));
      detail::append_student_backwards(list, s, b, w, /*lifo=*/true);
      detail::append_updates(list, s, b, w);
    }
    auto& queue = teacher[static_cast<std::size_t>(s)];
    for (int b = 0; b < w.batches; ++b) detail::append_teacher_forwards(queue, s, b, w);
    std::stable_sort(queue.begin(), queue.end(), [&](const Action& x, const Action& y) {
      return w.teacher_version_read(x.batch) < w.teacher_version_read(y.batch);
    });
  }

  // When every dependency of `a` has finished: the time its inputs are usable; else kUnknown.
  const auto ready_time = [&](const Action& a) {
    double ready = 0.0;
    for_each_dependency(w, a, [&](const Action& producer, DependencyKind) {
      const double f = finish[index.index_unchecked(producer)];
      if (f < 0.0) {
        ready = kUnknown;
        return false;
      }
      const bool crosses = device_of(w, producer) != device_of(w, a);
      const double transfer = crosses ? w.transfer_cost(std::min(producer.stage, a.stage)) : 0.0;
      ready = std::max(ready, f + transfer);
      return true;
    });
    return ready;
  };

  Schedule schedule;
  schedule.generator = std::string(name);
  schedule.devices.resize(D);
  std::vector<std::size_t> next_student(D, 0), next_teacher(D, 0);
  std::vector<double> now(D, 0.0);
  std::vector<unsigned> generation(D, 0);
  std::vector<bool> sleeping(D, false);
  using Entry = std::tuple<double, std::size_t, unsigned>;  // (time, device, generation)
  std::priority_queue<Entry, std::vector<Entry>, std::greater<>> agenda;
  for (std::size_t j = 0; j < D; ++j) agenda.emplace(0.0, j, 0u);
  std::size_t remaining = 0;
  for (std::size_t j = 0; j < D; ++j) remaining += student[j].size() + teacher[j].size();

  const auto commit = [&](std::size_t j, const Action& a, double start) {
    const double end = start + w.action_cost(a);
    finish[index.index_unchecked(a)] = end;
    schedule.devices[j].push_back(a);
    now[j] = end;
    --remaining;
    agenda.emplace(end, j, ++generation[j]);
    // Something new finished. Only neighbouring stages consume across devices (activations go
    // up, gradients down), so only they can have been waiting on it.
    for (std::size_t k : {j - 1, j + 1})
      if (k < D && sleeping[k]) {
        sleeping[k] = false;
        agenda.emplace(now[k], k, ++generation[k]);
      }
  };

  while (!agenda.empty()) {
    const auto [t, j, gen] = agenda.top();
    agenda.pop();
    if (gen != generation[j]) continue;
    now[j] = std::max(now[j], t);
    const bool student_left = next_student[j] < student[j].size();
    const bool teacher_left = next_teacher[j] < teacher[j].size();
    if (!student_left && !teacher_left) continue;

    double student_ready = kUnknown, teacher_ready = kUnknown, teacher_cost = 0.0;
    if (student_left) student_ready = ready_time(student[j][next_student[j]]);
    if (teacher_left) {
      const Action& ft = teacher[j][next_teacher[j]];
      const int current_batch = student_left ? student[j][next_student[j]].batch : w.batches;
      const bool within_lookahead = w.momentum() || ft.batch <= current_batch + w.teacher_lookahead;
      if (within_lookahead) teacher_ready = ready_time(ft);
      teacher_cost = w.action_cost(ft);
    }
    if (student_ready <= now[j]) {
      commit(j, student[j][next_student[j]++], now[j]);
    } else if (teacher_ready <= now[j] && (student_ready == kUnknown || now[j] + teacher_cost <= student_ready)) {
      commit(j, teacher[j][next_teacher[j]++], now[j]);
    } else {
      const double wake = std::min(student_ready, teacher_ready > now[j] ? teacher_ready : kUnknown);
      if (wake < kUnknown) agenda.emplace(wake, j, ++generation[j]);
      else sleeping[j] = true;
    }
  }
  if (remaining != 0)
    return detail::fail(name, "internal error: list scheduling stalled with " + std::to_string(remaining) +
                                  " actions left (please report this workload)");
  return Generated{w, std::move(schedule)};
}

/// The generators every user expects, by name.
inline const std::vector<std::string_view>& generator_names() {
  static const std::vector<std::string_view> names = {"sequential", "gpipe", "1f1b", "tspipe-paper", "tspipe"};
  return names;
}

/// Generates the named schedule; an unknown name is an error that lists the known ones.
inline Result<Generated> generate(std::string_view generator, const Workload& w) {
  if (generator == "sequential") return generate_sequential(w);
  if (generator == "gpipe") return generate_gpipe(w);
  if (generator == "1f1b") return generate_1f1b(w);
  if (generator == "tspipe-paper") return generate_tspipe_paper(w);
  if (generator == "tspipe") return generate_tspipe(w);
  std::string known;
  for (auto n : generator_names()) known += (known.empty() ? "" : ", ") + std::string(n);
  return Result<Generated>::failure("unknown schedule '" + std::string(generator) + "' (known: " + known + ")");
}

}  // namespace tspipe::schedule
