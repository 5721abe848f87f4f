#pragma once
// The cost-aware `tspipe` generator (docs/design.md §2).
//
// One candidate is built by list scheduling against the cost model: the student runs a flush
// pipeline (all forwards, LOSS, the backwards in GPipe (LIFO) or 1F1B (FIFO) order, OPT, EMA), and
// whenever a device would sit idle waiting for a student input it runs a filler whose inputs are
// ready: first a deferred weight gradient (BI/BW split; the batch's OPT waits for it), then the
// next teacher forward, of a later batch as soon as the staleness allows (momentum) or up to
// `teacher_lookahead` batches ahead (frozen). By default a filler that would still be running
// when the student's input arrives is not started, so fillers never delay the student.
//
// The generator simulates several candidates on a short horizon and keeps the fastest whose peak
// activation memory fits: under `memory_cap`, or without a cap under what gpipe holds at the same
// M (no fixed order holds more). It varies the backward order, whether weight gradients fill
// gaps, whether fillers may overrun a gap, how many batches' teacher outputs the last stage may
// hold, and, when the workload asks (choose_micro_batches, choose_split), M and the split. Every
// fixed generator's order at the candidate's M and split is a candidate too, so at the workload's
// own M no fixed generator is faster (fixed_order_candidates.hpp).
//
// Why the search pays: a flush pipeline idles (S−1)(FS + BI)/M per device and batch (the last
// forward must reach the loss and its gradient come back), and only the teacher's forwards can
// fill that idle time; with M = S − 1 a KD teacher (1 of 4 units) cannot fill 2–3 units, with a
// larger M it can. Choosing by simulated time per batch honours per_action_overhead, which makes
// large M expensive.
//
// Planning sits above both the schedule IR and the simulator: it builds candidates from the IR's
// building blocks and ranks them by simulating them.
#include <tspipe/planning/fixed_order_candidates.hpp>
#include <tspipe/planning/head_inputs.hpp>
#include <tspipe/planning/search_space.hpp>
#include <tspipe/schedule/device_lists.hpp>
#include <tspipe/sim/simulator.hpp>

#include <algorithm>
#include <array>
#include <functional>
#include <limits>
#include <optional>
#include <queue>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

namespace tspipe::planning {

using schedule::BackwardSplit;
using schedule::Generated;
using schedule::Schedule;
using schedule::Workload;

/// What the search chose, beside the schedule (for reports).
struct TspipeChoice {
  Workload workload;  ///< M and split chosen, the batches asked for
  TspipeOptions options;
  double time_per_batch = 0.0;  ///< on the search horizon
  int candidates_tried = 0;
  std::optional<Schedule> schedule;  ///< the winner itself, when the horizon was every batch
};

namespace detail {

using namespace schedule;          // the IR's vocabulary, for the list scheduler
using namespace schedule::detail;  // the device-list building blocks every generator shares

/// One tspipe candidate by list scheduling (the header comment describes the rules).
inline Result<Schedule> tspipe_list_schedule(const Workload& w, const TspipeOptions& options) {
  const std::size_t D = static_cast<std::size_t>(w.stages);
  const ActionIndex index(w);
  std::vector<double> finish(index.size(), -1.0);  // costs are checked, so a finish is never < 0
  const bool defer_weights = options.weight_gradients_in_gaps && w.split == BackwardSplit::input_weight;

  // Per device: the student list, and two filler queues in the order their items become runnable
  // (weight gradients in input-gradient order; teacher forwards by the version they read, then batch).
  std::vector<DeviceList> student(D), weights(D), teacher(D);
  DeviceList backwards;
  for (int s = 0; s < w.stages; ++s) {
    auto& list = student[static_cast<std::size_t>(s)];
    for (int b = 0; b < w.batches; ++b) {
      append_student_forwards(list, s, b, w);
      if (s == w.last_stage()) list.push_back(loss(s, b));
      backwards.clear();
      append_student_backwards(backwards, s, b, w, options.lifo_backward);
      for (const Action& a : backwards)
        (defer_weights && a.kind == ActionKind::BackwardWeight ? weights[static_cast<std::size_t>(s)] : list).push_back(a);
      append_updates(list, s, b, w);
    }
    auto& queue = teacher[static_cast<std::size_t>(s)];
    for (int b = 0; b < w.batches; ++b) append_teacher_forwards(queue, s, b, w);
    std::stable_sort(queue.begin(), queue.end(), [&](const Action& x, const Action& y) {
      return w.teacher_version_read(x.batch) < w.teacher_version_read(y.batch);
    });
  }

  // A device asks for the same heads again on every wake-up (queue 0 student, 1 weight gradients,
  // 2 teacher).
  std::vector<std::array<HeadInputs, 3>> heads(D);
  const auto head_ready = [&](std::size_t j, int queue, std::size_t position, const Action& a) {
    return heads[j][static_cast<std::size_t>(queue)].ready(position, a, w, index, finish);
  };
  // The last stage holds teacher outputs until LOSS; with H set, batch b's may only be produced
  // once LOSS(b − 1 − H) has freed an older batch's (so at most H + 1 batches' are held).
  const auto teacher_memory_allows = [&](const Action& ft) {
    if (options.held_teacher_batches < 0 || ft.stage != w.last_stage()) return true;
    const int freed = ft.batch - 1 - options.held_teacher_batches;
    return freed < 0 || finish[index.index_unchecked(loss(w.last_stage(), freed))] >= 0.0;
  };

  Schedule schedule;
  schedule.generator = "tspipe";
  schedule.devices.resize(D);
  for (std::size_t j = 0; j < D; ++j) schedule.devices[j].reserve(student[j].size() + weights[j].size() + teacher[j].size());
  std::vector<std::size_t> next_student(D, 0), next_weight(D, 0), next_teacher(D, 0);
  std::vector<double> now(D, 0.0);
  std::vector<unsigned> generation(D, 0);
  std::vector<bool> sleeping(D, false);
  using Entry = std::tuple<double, std::size_t, unsigned>;  // (time, device, generation)
  std::priority_queue<Entry, std::vector<Entry>, std::greater<>> agenda;
  for (std::size_t j = 0; j < D; ++j) agenda.emplace(0.0, j, 0u);
  std::size_t remaining = 0;
  for (std::size_t j = 0; j < D; ++j) remaining += student[j].size() + weights[j].size() + teacher[j].size();

  const auto commit = [&](std::size_t j, const Action& a, double start) {
    const double end = start + w.action_cost(a);
    finish[index.index_unchecked(a)] = end;
    schedule.devices[j].push_back(a);
    now[j] = end;
    --remaining;
    agenda.emplace(end, j, ++generation[j]);
    // Something new finished. Only neighbouring stages consume across devices (activations go
    // up, gradients down), so only they can have been waiting on it.
    for_each_neighbour_device(w, a, [&](int neighbour) {
      const auto k = static_cast<std::size_t>(neighbour);
      if (sleeping[k]) {
        sleeping[k] = false;
        agenda.emplace(now[k], k, ++generation[k]);
      }
    });
  };

  while (!agenda.empty()) {
    const auto [t, j, gen] = agenda.top();
    agenda.pop();
    if (gen != generation[j]) continue;
    now[j] = std::max(now[j], t);
    const bool student_left = next_student[j] < student[j].size();
    // Nothing while the student's next action waits on an unfinished producer (or none is left).
    const std::optional<double> student_ready =
        student_left ? head_ready(j, 0, next_student[j], student[j][next_student[j]]) : std::nullopt;
    if (student_ready && *student_ready <= now[j]) {
      commit(j, student[j][next_student[j]++], now[j]);
      continue;
    }
    // Fillers, most urgent first: a weight gradient holds up its batch's OPT, a teacher forward
    // only a later LOSS.
    const int current_batch = student_left ? student[j][next_student[j]].batch : w.batches;
    std::optional<double> wake = student_ready;
    bool ran = false;
    for (int filler = 0; filler < 2 && !ran; ++filler) {
      const DeviceList& queue = filler == 0 ? weights[j] : teacher[j];
      std::size_t& next = filler == 0 ? next_weight[j] : next_teacher[j];
      if (next >= queue.size()) continue;
      const Action& a = queue[next];
      if (filler == 1 && !w.momentum() && a.batch > current_batch + w.teacher_lookahead) continue;
      if (filler == 1 && !teacher_memory_allows(a)) continue;
      const std::optional<double> ready = head_ready(j, 1 + filler, next, a);
      if (!ready) continue;  // a producer's finish wakes the device
      if (*ready > now[j]) {
        wake = wake ? std::min(*wake, *ready) : *ready;
      } else if (!student_ready || now[j] + w.action_cost(a) * (1.0 - options.filler_overrun) <= *student_ready) {
        commit(j, queue[next++], now[j]);
        ran = true;
      }
    }
    if (ran) continue;
    if (wake) agenda.emplace(*wake, j, ++generation[j]);
    else sleeping[j] = true;
  }
  if (remaining != 0) {
    std::string where;
    for (std::size_t j = 0; j < D && where.empty(); ++j)
      if (next_student[j] < student[j].size())
        where = " (device " + std::to_string(j) + " waits at " + to_token(student[j][next_student[j]]) + ")";
    return Result<Schedule>::failure("internal error: list scheduling stalled with " + std::to_string(remaining) +
                                     " actions left" + where + " (please report this workload)");
  }
  return schedule;
}

/// One candidate's schedule; a fixed order that does not run `w` as it is fails (no candidate).
/// The list scheduler plans one LOSS per batch, which a per-micro-batch loss splits in place.
inline Result<Schedule> candidate_schedule(const Workload& w, const TspipeOptions& options) {
  if (options.order != CandidateOrder::list_scheduled) return fixed_order_schedule(options.order, w);
  if (!w.per_micro_batch_loss) return tspipe_list_schedule(w, options);
  Workload whole = w;
  whole.per_micro_batch_loss = false;
  auto s = tspipe_list_schedule(whole, options);
  return s ? with_micro_batch_losses(std::move(s).value(), w) : s;
}

}  // namespace detail

/// The search behind `generate_tspipe`: simulates candidates on a short horizon and returns the
/// fastest that fits in memory. First every split, order and filler rule at the workload's own M
/// (so no fixed generator is faster there); then, with choose_micro_batches, other M (ascending)
/// with the plain option per split, and every option at a winning M and split. A different M must
/// be faster by more than kLargerMGain to be preferred: below that the model's gain is noise next
/// to the real cost of smaller micro-batches. More chunks per device (choose_chunks: v = 2 in
/// either placement, then 3) must gain as much. M stops growing once the devices are near-full (a
/// larger M only adds overhead) or after two sizes in a row that did not help (past the knee).
inline Result<TspipeChoice> choose_tspipe(const Workload& w) {
  constexpr double kLargerMGain = 0.002;
  constexpr int kSearchBatches = 8;  // the steady state is measured on the second half
  if (Status ok = w.check(); !ok) return Result<TspipeChoice>::failure(ok.message());
  if (auto why = detail::flush_version_problem(w); !why.empty()) return Result<TspipeChoice>::failure(why);

  std::optional<TspipeChoice> best;
  double best_utilisation = 0.0, least_over = std::numeric_limits<double>::infinity();
  int tried = 0;
  // Simulates one candidate; true when it became the best.
  const auto consider = [&](const Workload& trial, const TspipeOptions& options) -> Result<bool> {
    auto schedule = detail::candidate_schedule(trial, options);
    if (!schedule && options.order != CandidateOrder::list_scheduled) return false;  // not applicable here
    if (!schedule) return Result<bool>::failure(schedule.message());
    ++tried;
    auto r = sim::simulate(schedule.value(), trial);
    if (!r) return Result<bool>::failure("internal error: " + r.message());
    bool fits = true;
    for (int j = 0; j < w.stages; ++j) {
      const double peak = r.value().peak_activation_memory[static_cast<std::size_t>(j)];
      const double budget = w.memory_cap > 0.0 ? w.memory_cap : detail::flush_peak_memory(trial, j);
      if (peak > budget * (1.0 + 1e-9)) {
        fits = false;
        least_over = std::min(least_over, peak);
      }
    }
    if (!fits) return false;
    const double time = r.value().time_per_batch;
    // More chunks per device, like a larger M, must gain more than noise: each chunk adds
    // transfers and launches the cost model does not see.
    const bool same_shape = !best || (trial.micro_batches == best->workload.micro_batches && trial.chunks <= best->workload.chunks);
    const bool better = !best || time < best->time_per_batch * (1.0 - (same_shape ? 1e-12 : kLargerMGain));
    if (!better) return false;
    best = TspipeChoice{trial, options, time, 0, std::nullopt};
    if (trial.batches == w.batches) best->schedule = std::move(schedule).value();
    best_utilisation = r.value().utilisation;
    return true;
  };
  Workload trial = w;
  trial.batches = std::min(w.batches, kSearchBatches + w.warmup);
  // The options tried at the trial's M and split: every one, only the plain one, or the orders
  // that decide what fits under a memory cap (the list scheduler's GPipe and 1F1B backwards, with
  // and without deferred weight gradients, holding the fewest teacher outputs, and the fixed
  // orders); true when one became the best.
  enum class Options { every, plain, plain_orders };
  const auto consider_options = [&](Options which) -> Result<bool> {
    bool gained = false;
    const auto candidates = detail::option_candidates(trial);
    for (const TspipeOptions& options : candidates) {
      if (which == Options::plain_orders && options.order == CandidateOrder::list_scheduled &&
          (options.filler_overrun != 0.0 || options.held_teacher_batches != candidates.front().held_teacher_batches))
        continue;
      auto improved = consider(trial, options);
      if (!improved) return improved;
      gained = gained || improved.value();
      if (which == Options::plain) break;
    }
    return gained;
  };

  // Other M (ascending) at the trial's chunks; under a memory cap with 1F1B's order besides
  // GPipe's, since the plain (GPipe-order) candidate is the one least likely to fit.
  bool other_m_won = false;
  const auto consider_micro_batches = [&]() -> Status {
    int sizes_without_gain = 0;
    for (int M : detail::micro_batch_candidates(w)) {
      if (M == w.micro_batches) continue;
      if ((best && best_utilisation >= 1.0 - kLargerMGain) || sizes_without_gain >= 2) break;
      trial.micro_batches = M;
      bool gained = false;
      for (BackwardSplit split : detail::split_candidates(w)) {
        trial.split = split;
        auto improved = consider_options(w.memory_cap > 0.0 ? Options::plain_orders : Options::plain);
        if (!improved) return Status::failure(improved.message());
        gained = gained || improved.value();
      }
      other_m_won = other_m_won || gained;
      sizes_without_gain = gained ? 0 : sizes_without_gain + 1;
    }
    trial.micro_batches = w.micro_batches;
    return Status{};
  };

  for (const auto& [chunks, placement] : detail::chunk_candidates(w)) {
    trial.chunks = chunks;
    trial.chunk_placement = placement;
    // A cost table per logical stage fits only its own number of chunks, and more chunks must
    // still fit the IR's limits over every batch.
    Workload full = trial;
    full.batches = w.batches;
    if (!full.check().ok()) continue;
    for (BackwardSplit split : detail::split_candidates(w)) {
      trial.split = split;
      if (auto done = consider_options(Options::every); !done) return Result<TspipeChoice>::failure(done.message());
    }
    if (w.choose_micro_batches)
      if (Status done = consider_micro_batches(); !done) return Result<TspipeChoice>::failure(done.message());
  }
  if (best && other_m_won) {
    trial = best->workload;
    trial.batches = std::min(w.batches, kSearchBatches + w.warmup);
    if (auto done = consider_options(Options::every); !done) return Result<TspipeChoice>::failure(done.message());
  }
  if (!best)
    return Result<TspipeChoice>::failure("no schedule fits memory_cap = " + std::to_string(w.memory_cap) +
                                         " (a flush pipeline holds every activation of a batch; the least peak "
                                         "tried was " + std::to_string(least_over) + ")");
  best->workload.batches = w.batches;
  best->candidates_tried = tried;
  return *best;
}

/// tspipe: the fastest candidate of `choose_tspipe`, generated for all of the workload's batches.
/// The returned workload carries the M and split the schedule is for.
inline Result<Generated> generate_tspipe(const Workload& w) {
  constexpr std::string_view name = "tspipe";
  auto choice = choose_tspipe(w);
  if (!choice) return detail::fail(name, choice.message());
  TspipeChoice& chosen = choice.value();
  if (chosen.schedule) return Generated{chosen.workload, std::move(*chosen.schedule)};
  auto schedule = detail::candidate_schedule(chosen.workload, chosen.options);
  if (!schedule) return detail::fail(name, schedule.message());
  return Generated{chosen.workload, std::move(schedule).value()};
}

}  // namespace tspipe::planning
