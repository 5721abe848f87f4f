#pragma once
// Runs one segment of fed batches through a generated, validated schedule: one worker thread per
// local device takes its actions (in order or dynamically, runtime/dispatch.hpp) and executes each
// on the stage it names, exchanging activations and gradients through the transport. With one
// chunk per device a device is a stage; with v chunks (virtual stages) a device's worker runs the
// actions of its v logical stages, and a transfer between two of them stays in this process.
#include <tspipe/pipeline/backend_types.hpp>
#include <tspipe/pipeline/options.hpp>
#include <tspipe/pipeline/timing.hpp>
#include <tspipe/runtime/backend_hooks.hpp>
#include <tspipe/runtime/dispatch.hpp>
#include <tspipe/runtime/stage.hpp>
#include <tspipe/runtime/tensor_ops.hpp>
#include <tspipe/runtime/transport.hpp>

#include <chrono>
#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace tspipe {

template <class B>
class SegmentExecutor : public BackendTypes<B> {
 public:
  using typename BackendTypes<B>::Tensor, typename BackendTypes<B>::Ops, typename BackendTypes<B>::Hooks;
  using typename BackendTypes<B>::Loss, typename BackendTypes<B>::Stages, typename BackendTypes<B>::Distribution;
  /// Receives each batch's loss, from the last stage's worker.
  using LossSink = std::function<void(long batch, double loss)>;
  /// Receives each executed action of a stage, from that stage's worker.
  using ActionSink = std::function<void(int stage, const MeasuredAction& measured)>;

  SegmentExecutor(const PipelineOptions& options, const Distribution& distribution, const Loss& loss, Stages& stages,
                  std::chrono::steady_clock::time_point clock_origin)
      : options_(options), distribution_(distribution), loss_(loss), stages_(stages), origin_(clock_origin) {}

  /// Runs every batch of `batches` (consecutive global batch numbers) through `generated`.
  /// Throws Error naming the stage and action of the first failure.
  void run(const schedule::Generated& generated, const std::vector<FedBatch<Tensor>>& batches, const LossSink& on_loss,
           const ActionSink& on_action) {
    const long first = batches.front().index;
    const schedule::Workload& w = generated.workload;
    std::size_t capacity = options_.mailbox_capacity;
    if (capacity == 0)  // every message of a segment fits: no schedule can block on a full mailbox
      capacity = static_cast<std::size_t>(2 * w.views * w.backward_slices() * w.batches) + 8;
    std::shared_ptr<runtime::Transport<Tensor>> transport_holder = distribution_.transport;
    if (!transport_holder) transport_holder = Hooks::local_transport(stages(), capacity);
    runtime::Transport<Tensor>& transport = *transport_holder;
    std::mutex error_mutex;
    std::string first_error;
    runtime::ActionDispatcher dispatcher(generated.schedule, w, options_.dispatch);
    const auto fail = [&](const std::string& message) {
      {
        std::lock_guard lock(error_mutex);
        if (first_error.empty()) first_error = message;
      }
      transport.stop(message);
      dispatcher.stop();
    };

    {
      std::vector<std::jthread> workers;
      for (int j = 0; j < w.stages; ++j) {
        if (!distribution_.runs_stage(j)) continue;  // (a distribution runs one chunk per device)
        workers.emplace_back([&, j] {
          const std::string worker = (w.chunks > 1 ? "device " : "stage ") + std::to_string(j);
          for (;;) {
            auto next = dispatcher.next(j, options_.watchdog);
            if (!next) {
              fail(worker + ": " + next.message());
              return;
            }
            if (!next.value()) return;  // list done, or another worker failed
            const schedule::Action local = *next.value();
            schedule::Action a = local;
            a.batch = static_cast<int>(first + local.batch);
            // The logical stage the action names; LOSS runs where the last one's outputs are.
            const int l = a.kind == schedule::ActionKind::Loss ? w.last_stage() : a.stage;
            const auto t0 = std::chrono::steady_clock::now();
            try {
              execute(*stages_.at(static_cast<std::size_t>(l)), a, batches[static_cast<std::size_t>(local.batch)], w, transport, on_loss);
            } catch (const std::exception& e) {
              fail(worker + ", " + schedule::to_token(a) + ": " + e.what());
              return;
            }
            dispatcher.finished(local);
            if (on_action) on_action(j, {a, seconds_since_origin(t0), seconds_since_origin(std::chrono::steady_clock::now())});
          }
        });
      }
    }
    for (auto& s : stages_) s->clear_work();
    // The pipeline cannot continue consistently after a failed segment.
    if (!first_error.empty()) throw Error("Pipeline: " + first_error);
  }

 private:
  int stages() const { return static_cast<int>(stages_.size()); }  ///< logical stages

  double seconds_since_origin(std::chrono::steady_clock::time_point t) const {
    return std::chrono::duration<double>(t - origin_).count();
  }

  Tensor input_slice(const FedBatch<Tensor>& batch, int view, int micro_batch, int micro_batches) const {
    const auto [begin, count] = runtime::micro_batch_rows(options_.batch_size, micro_batches, micro_batch);
    return Ops::slice_rows(batch.views[static_cast<std::size_t>(view)], begin, count);
  }

  Tensor receive(runtime::Transport<Tensor>& transport, int at, schedule::ActionKind consumer, const runtime::SliceKey& k) {
    auto received = transport.receive(at, {consumer, k.batch, k.view, k.micro_batch}, options_.watchdog);
    if (!received) throw Error(received.message());
    return std::move(received).value();
  }
  void send(runtime::Transport<Tensor>& transport, int to, schedule::ActionKind consumer, const runtime::SliceKey& k, Tensor t) {
    Status sent = transport.send(to, {consumer, k.batch, k.view, k.micro_batch}, std::move(t), options_.watchdog);
    if (!sent) throw Error(sent.message());
  }

  void execute(runtime::Stage<B>& st, const schedule::Action& a, const FedBatch<Tensor>& batch, const schedule::Workload& w,
               runtime::Transport<Tensor>& transport, const LossSink& on_loss) {
    using schedule::ActionKind;
    [[maybe_unused]] const auto scope = st.hooks.enter();  // the stage's device and stream, if any
    const int s = st.index, last = stages() - 1;
    const long g = a.batch;
    const bool halves = w.split == schedule::BackwardSplit::halves;
    const runtime::SliceKey key{g, a.view, halves && schedule::is_student_backward(a.kind) ? a.micro_batch / 2 : a.micro_batch};
    switch (a.kind) {
      case ActionKind::TeacherForward: {
        Tensor x = s == 0 ? input_slice(batch, a.view, a.micro_batch, w.micro_batches) : receive(transport, s, a.kind, key);
        st.versions.activate(options_.teacher.version_read(g), st.teacher_values);
        Tensor y = st.teacher.infer(x);
        if (s < last) send(transport, s + 1, a.kind, key, std::move(y));
        else st.teacher_outputs[key] = std::move(y);
        return;
      }
      case ActionKind::StudentForward: {
        Tensor x = s == 0 ? input_slice(batch, a.view, a.micro_batch, w.micro_batches) : receive(transport, s, a.kind, key);
        auto [y, ctx] = st.student.forward(x);
        st.contexts[key] = std::move(ctx);
        if (s < last) send(transport, s + 1, a.kind, key, std::move(y));
        else st.student_outputs[key] = std::move(y);
        return;
      }
      case ActionKind::Loss:
        compute_loss(st, g, a.micro_batch, batch, w, on_loss);
        return;
      case ActionKind::StudentBackward:
      case ActionKind::BackwardInput: {
        // The reference's backward halves: the slice's whole backward runs at its first half,
        // the second half has nothing left to do (same data flow, coarser timing).
        if (halves && st.backward_done.erase(key)) return;
        Tensor dy = s == last ? take(st.loss_gradients, key, "loss gradient") : receive(transport, s, a.kind, key);
        auto ctx = st.contexts.find(key);
        if (ctx == st.contexts.end()) throw Error("no saved forward for this slice");
        Tensor dx;
        if (a.kind == ActionKind::BackwardInput) {
          dx = st.student.backward_input(ctx->second, dy);
          st.weight_grad_inputs[key] = std::move(dy);
        } else {
          dx = st.student.backward(ctx->second, dy);
          st.contexts.erase(ctx);
          if (halves) st.backward_done.insert(key);
        }
        if (s > 0) send(transport, s - 1, a.kind, key, std::move(dx));
        return;
      }
      case ActionKind::BackwardWeight: {
        auto ctx = st.contexts.find(key);
        if (ctx == st.contexts.end()) throw Error("no saved forward for this slice");
        Tensor dy = take(st.weight_grad_inputs, key, "output gradient from BI");
        st.student.backward_weight(ctx->second, dy);
        st.contexts.erase(ctx);
        return;
      }
      case ActionKind::Optimizer:
        if (distribution_.reduce_gradients) distribution_.reduce_gradients(s, st.student_slots);
        st.optimizer->set_learning_rate(batch.learning_rate);
        st.optimizer->step(st.student_slots);
        st.student.zero_grad();
        return;
      case ActionKind::Ema:
        update_teacher(st, g, batch.tau);
        return;
    }
  }

  static Tensor take(std::map<runtime::SliceKey, Tensor>& from, const runtime::SliceKey& key, const char* what) {
    auto it = from.find(key);
    if (it == from.end()) throw Error(std::string("missing ") + what);
    Tensor t = std::move(it->second);
    from.erase(it);
    return t;
  }

  /// LOSS:g (every micro-batch of the batch) or, under a per-micro-batch loss, LOSS:g.u (the rows
  /// of micro-batch u alone). A slice's loss is the mean over its rows, so its gradient is scaled
  /// by its share of the batch's rows: the slices' gradients then sum to the whole batch's, and
  /// the batch's loss is the share-weighted sum of theirs (docs/design.md, the loss contract).
  void compute_loss(runtime::Stage<B>& st, long g, int u, const FedBatch<Tensor>& batch, const schedule::Workload& w,
                    const LossSink& on_loss) {
    const int V = options_.views, M = w.micro_batches;
    const int first = w.per_micro_batch_loss ? u : 0, last = w.per_micro_batch_loss ? u + 1 : M;
    const long begin = runtime::micro_batch_rows(options_.batch_size, M, first).first;
    const auto [last_begin, last_count] = runtime::micro_batch_rows(options_.batch_size, M, last - 1);
    const long rows = last_begin + last_count - begin;
    std::vector<Tensor> student(static_cast<std::size_t>(V)), teacher(static_cast<std::size_t>(V));
    for (int v = 0; v < V; ++v) {
      std::vector<Tensor> s_parts, t_parts;
      for (int m = first; m < last; ++m) {
        s_parts.push_back(take(st.student_outputs, {g, v, m}, "student output"));
        t_parts.push_back(take(st.teacher_outputs, {g, v, m}, "teacher output"));
      }
      student[static_cast<std::size_t>(v)] = s_parts.size() == 1 ? std::move(s_parts.front()) : Ops::concat_rows(s_parts);
      teacher[static_cast<std::size_t>(v)] = t_parts.size() == 1 ? std::move(t_parts.front()) : Ops::concat_rows(t_parts);
    }
    std::span<const int> labels = batch.labels;
    if (!labels.empty()) labels = labels.subspan(static_cast<std::size_t>(begin), static_cast<std::size_t>(rows));
    runtime::BatchLoss<Tensor> out = st.hooks.loss(loss_, student, teacher, labels);
    if (!std::isfinite(out.loss))
      throw Error("the loss of batch " + std::to_string(g) +
                  (w.per_micro_batch_loss ? " (micro-batch " + std::to_string(u) + ")" : std::string()) + " is " +
                  std::to_string(out.loss));
    const double share = static_cast<double>(rows) / static_cast<double>(options_.batch_size);
    for (int v = 0; v < V; ++v) {
      Tensor& gradient = out.d_student[static_cast<std::size_t>(v)];
      if (share != 1.0) Ops::scale(gradient, static_cast<float>(share));
      for (int m = first; m < last; ++m) {
        const auto [m_begin, m_count] = runtime::micro_batch_rows(options_.batch_size, M, m);
        st.loss_gradients[{g, v, m}] =
            last - first == 1 ? std::move(gradient) : Ops::slice_rows(gradient, m_begin - begin, m_count);
      }
    }
    if (!w.per_micro_batch_loss) {
      on_loss(g, out.loss);
      return;
    }
    // The batch's loss once its every slice is in, summed in slice order whatever order they ran in.
    PartialLoss& partial = partial_losses_[g];
    partial.terms.resize(static_cast<std::size_t>(M));
    partial.terms[static_cast<std::size_t>(u)] = share * out.loss;
    if (++partial.received < M) return;
    double loss = 0.0;
    for (double term : partial.terms) loss += term;
    partial_losses_.erase(g);
    on_loss(g, loss);
  }

  void update_teacher(runtime::Stage<B>& st, long g, double tau) {
    st.versions.before_update(g, st.teacher_values);
    st.hooks.momentum_update(st.teacher_slots, st.ema_student_slots, static_cast<float>(tau));
    if (options_.teacher.buffers != update::TeacherBuffers::keep) {
      auto teacher_buffers = st.teacher.buffers();
      auto student_buffers = st.student.buffers();
      std::vector<std::pair<Tensor*, const Tensor*>> pairs;  // same-named buffers
      for (auto& tb : teacher_buffers)
        for (auto& sb : student_buffers)
          if (tb.name == sb.name) pairs.emplace_back(tb.value, sb.value);
      const float keep = options_.teacher.buffers == update::TeacherBuffers::average ? static_cast<float>(tau) : 0.0f;
      st.hooks.blend_buffers(pairs, keep);
    }
    st.versions.updated(g + 1);
  }

  /// A batch's per-micro-batch losses until its last one ran (then reported and dropped).
  struct PartialLoss {
    std::vector<double> terms;  ///< by micro-batch: its share of the rows times its loss
    int received = 0;
  };

  const PipelineOptions& options_;
  const Distribution& distribution_;
  const Loss& loss_;
  Stages& stages_;
  std::chrono::steady_clock::time_point origin_;
  std::map<long, PartialLoss> partial_losses_;  ///< only the last stage's worker touches it
};

}  // namespace tspipe
