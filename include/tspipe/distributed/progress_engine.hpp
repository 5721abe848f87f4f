#pragma once
// The MPI progress engine: every MPI call of the process goes through it, under one lock
// (MPI_THREAD_SERIALIZED). Callers submit nonblocking operations and wait for them; one "progress
// pass" (post what was submitted, receive every tensor message that has arrived into its keyed
// mailbox, test what is in flight) serves every waiter. Why this shape:
//   * a blocking MPI call cannot time out, and the watchdog must name the rank a worker waits on;
//     nonblocking calls tested in a loop give every wait a deadline;
//   * incoming activations are drained into keyed mailboxes by any pass, whoever makes it (a
//     worker may be inside a gradient all-reduce while its next activation arrives); one pass
//     probes, receives and tests collectives, so nothing blocks one behind another;
//   * the thread that waits is the one that polls: a stage worker waiting for an activation, or
//     a collective's caller, runs the passes itself (briefly back to back, then between doubling
//     sleeps), so a message that arrives is taken by the thread that needs it with no hand-over.
//     A thread that polled for everyone would wake the receiver for every message and preempt
//     computing workers: several times the context switches and the one-way latency on 2 cores
//     (bench/RESULTS.md, "Waiting threads poll MPI themselves");
//   * a small background thread only keeps sends and receives in flight moving while no one
//     waits (polls backing off to every quiet_sleep; TCP's rendezvous needs the sender's progress
//     too) and sleeps outright when nothing is in flight. MPI's own blocking calls, which spin
//     (OpenMPI's mpi_yield_when_idle only makes them yield), are never used, so no MCA setting
//     is needed.
#include <tspipe/distributed/mpi_error.hpp>
#include <tspipe/distributed/rank_layout.hpp>
#include <tspipe/distributed/serialized_mpi.hpp>
#include <tspipe/distributed/tensor_message.hpp>
#include <tspipe/distributed/termination_handler.hpp>
#include <tspipe/error.hpp>
#include <tspipe/runtime/transport.hpp>

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace tspipe::distributed::mpi {

struct SessionOptions {
  /// A collective (gradient all-reduce, loss gather) or the end-of-run barrier waiting longer
  /// ends the job with a message; activations use the pipeline's own watchdog.
  std::chrono::milliseconds collective_timeout{50000};
  /// How long a waiting thread polls MPI back to back (yielding the core between passes) before
  /// it starts sleeping: a message arriving within it is taken at once. A bubble of the pipeline
  /// that ends within it costs no context switch.
  std::chrono::microseconds spin{50};
  /// Longest sleep between two polls of a waiting thread (the sleeps double up to it): the most
  /// latency it adds to a message once the spin is over.
  std::chrono::microseconds idle_sleep{200};
  /// Longest interval of the background thread's polls while sends or receives are in flight and
  /// no thread waits (they start at idle_sleep and double). Each poll is a pass through MPI's whole
  /// progress engine (every transport, TCP's sockets included); between them a message moves
  /// only as far as MPI takes it alone.
  std::chrono::microseconds quiet_sleep{2000};
};

/// Every MPI call of the process goes through this engine (see the top of the file): callers
/// submit nonblocking operations and wait for them, making the progress passes themselves; a
/// background thread keeps what is in flight moving while no one waits.
class MpiProgressEngine {
 public:
  using Clock = std::chrono::steady_clock;
  /// Posts one nonblocking MPI call (under the MPI lock) and returns its error code.
  using Post = std::function<int(MPI_Request*)>;
  static constexpr int kTensorTag = 17;

  MpiProgressEngine(const RankLayout& layout, MPI_Comm tensors, SessionOptions options)
      : layout_(layout), tensors_(tensors), options_(options), mpi_(layout.describe()) {}
  ~MpiProgressEngine() { finish(MPI_COMM_NULL); }

  void start() { thread_ = std::thread([this] { background(); }); }

  /// Posts `message` (a tensor message, header included) for rank `to` and returns: the send
  /// completes later (the engine owns the buffer until then), so a sender never blocks on a busy
  /// receiver. A failed send ends the job (the receiver would wait for it forever).
  void send(int to, std::vector<std::byte> message) {
    auto op = std::make_shared<Operation>();
    op->what = "MPI_Isend to " + layout_.describe(to);
    op->buffer = std::move(message);
    op->post = [to, raw = op.get(), comm = tensors_](MPI_Request* request) {
      return MPI_Isend(raw->buffer.data(), static_cast<int>(raw->buffer.size()), MPI_BYTE, to, kTensorTag, comm, request);
    };
    op->fatal = true;
    submit(std::move(op));
    // Posted now, not at the next poll: the receiver may be waiting for it. A pass in another
    // thread holds the lock for microseconds.
    MpiLock mpi(mpi_);
    progress();
  }

  /// Takes the message addressed to local stage `at` under `key`, waiting up to `timeout`;
  /// `from_rank` is the rank that produces it (named when the wait fails).
  Result<std::vector<std::byte>> take(int at, const runtime::MessageKey& key, int from_rank, std::chrono::milliseconds timeout) {
    const auto mailbox_key = std::make_pair(at, key);
    std::unique_lock lock(mutex_);
    bool arrived = false;
    {
      WaitingOnRank waiting(from_rank);
      arrived = wait(lock, Clock::now() + timeout, [&] { return mailboxes_.count(mailbox_key) > 0; });
    }
    if (!arrived)
      return Result<std::vector<std::byte>>::failure("stage " + std::to_string(at) + " waited " +
                                                     std::to_string(timeout.count()) + " ms for the " + runtime::describe(key) +
                                                     " from " + layout_.describe(from_rank) + ": that rank is lost or stalled");
    auto node = mailboxes_.extract(mailbox_key);
    return std::move(node.mapped());
  }

  /// Puts a message for a stage of this same process straight into its mailbox.
  Status deliver_locally(int at, const runtime::MessageKey& key, std::vector<std::byte> message) {
    std::lock_guard lock(mutex_);
    if (!mailboxes_.emplace(std::make_pair(at, key), std::move(message)).second)
      return Status::failure(layout_.describe() + ": stage " + std::to_string(at) + " already holds the " + runtime::describe(key));
    changed_.notify_all();
    return {};
  }

  /// Runs one nonblocking collective to completion. Buffers `post` refers to must stay alive until
  /// this returns. A post that fails returns its error (nothing was started); a collective that
  /// fails or misses `timeout` once started ends the job: MPI cannot cancel it, so its buffers may
  /// never be released safely.
  Status run(const std::string& what, Post post, std::chrono::milliseconds timeout) {
    auto op = std::make_shared<Operation>();
    op->what = what;
    op->post = std::move(post);
    submit(op);
    std::unique_lock lock(mutex_);
    const bool finished = wait(lock, Clock::now() + timeout, [&] { return op->done; });
    if (finished && op->error.empty()) return {};
    if (finished && !op->started) return Status::failure(op->error);
    lock.unlock();
    if (!finished) abort_job(what + " did not complete within " + std::to_string(timeout.count()) + " ms (a peer is lost or stalled)");
    abort_job(op->error);
  }

  /// Prints `message` naming this rank and ends every rank of the job (see SerializedMpi).
  /// Callable from any thread, inside a progress pass too.
  [[noreturn]] void abort_job(const std::string& message) { mpi_.abort_job(message); }

  /// Waits (if `barrier_comm` is given) until every rank got here, completes what is still in
  /// flight, and stops the background thread. A rank that never arrives, or sends that never
  /// complete, end the job with a message.
  void finish(MPI_Comm barrier_comm) {
    if (!thread_.joinable()) return;
    if (barrier_comm != MPI_COMM_NULL) {
      const Status reached = run("the end-of-run barrier (MPI_Ibarrier)",
                                 [barrier_comm](MPI_Request* r) { return MPI_Ibarrier(barrier_comm, r); },
                                 options_.collective_timeout);
      if (!reached) abort_job(reached.message());
    }
    {
      std::unique_lock lock(mutex_);
      // Every receiver has passed the barrier, but a send completes only once this rank has seen
      // its acknowledgement; MPI_Finalize must not find it in flight.
      const bool drained = wait(lock, Clock::now() + options_.collective_timeout, [&] { return submissions_.empty() && in_flight_ == 0; });
      if (!drained) {
        const std::string left = std::to_string(in_flight_ + submissions_.size());
        lock.unlock();
        abort_job(left + " MPI_Isend/MPI_Imrecv still in flight " + std::to_string(options_.collective_timeout.count()) +
                  " ms after the end of the run (a peer is lost or stalled)");
      }
      finishing_ = true;
    }
    submitted_.notify_all();
    thread_.join();
  }

 private:
  struct Operation {
    std::string what;
    Post post;
    std::vector<std::byte> buffer;  ///< an outgoing or incoming tensor message
    MPI_Request request = MPI_REQUEST_NULL;
    bool fatal = false;             ///< sends: no one waits on them, a failure ends the job
    bool incoming = false;
    int source = -1;
    bool started = false, done = false;
    std::string error;
  };

  using MpiLock = SerializedMpi::Lock;

  void submit(std::shared_ptr<Operation> op) {
    std::lock_guard lock(mutex_);
    submissions_.push_back(std::move(op));
  }

  /// Waits (`lock` holds mutex_ on entry and on return) until `done()` or `deadline`, making the
  /// progress passes itself: back to back (yielding the core in between) for options_.spin after
  /// the last pass that moved anything, then between sleeps doubling from 50 µs to idle_sleep
  /// (Linux's default timer slack: a shorter sleep lasts about that long anyway, for one context
  /// switch more per wait; a 10 µs start made ≈ 10 % more context switches in bench/mpi). A
  /// pass made meanwhile by another thread that completes the wait wakes it through changed_.
  template <class Done>
  bool wait(std::unique_lock<std::mutex>& lock, Clock::time_point deadline, Done done) {
    auto pause = std::chrono::microseconds(0);
    auto spin_until = Clock::now() + options_.spin;
    for (;;) {
      if (done()) return true;
      if (Clock::now() >= deadline) return false;
      lock.unlock();
      bool progressed = false;
      {
        MpiLock mpi(mpi_, std::try_to_lock);  // held by another thread: its pass serves this wait too
        if (mpi.held()) progressed = progress();
      }
      if (progressed) spin_until = Clock::now() + options_.spin;
      if (Clock::now() < spin_until) {
        std::this_thread::yield();
        lock.lock();
        pause = std::chrono::microseconds(0);
        continue;
      }
      lock.lock();
      if (done()) return true;
      pause = std::min<std::chrono::microseconds>(options_.idle_sleep, std::max<std::chrono::microseconds>(std::chrono::microseconds(50), 2 * pause));
      changed_.wait_until(lock, std::min(deadline, Clock::now() + pause), done);
    }
  }

  void complete(Operation& op, std::string error) {
    std::lock_guard lock(mutex_);
    op.done = true;
    op.error = std::move(error);
    changed_.notify_all();
  }

  /// Parses a received tensor message's header into its mailbox.
  void file_incoming(Operation& op) {
    const auto header = tensor_message_address(op.buffer);
    if (!header) abort_job("a message from " + layout_.describe(op.source) + " is malformed: " + header.message());
    Status filed = deliver_locally(header.value().first, header.value().second, std::move(op.buffer));
    if (!filed) abort_job(filed.message());
  }

  /// One progress pass; the caller holds the MPI lock. Posts the submitted operations, receives
  /// every tensor message that has arrived (receivers must never wait on a sender), tests what is
  /// in flight. Returns whether anything was posted, received or completed.
  bool progress() {
    std::deque<std::shared_ptr<Operation>> fresh;
    {
      std::lock_guard lock(mutex_);
      fresh.swap(submissions_);
      in_flight_ = active_.size() + fresh.size();  // finish() must not see them neither queued nor in flight
    }
    bool progressed = !fresh.empty();
    for (auto& op : fresh) {
      const int code = op->post(&op->request);
      if (code != MPI_SUCCESS) {
        if (op->fatal) abort_job(op->what + " failed: " + mpi_error_text(code));
        complete(*op, op->what + " failed: " + mpi_error_text(code));
        continue;
      }
      op->started = true;
      active_.push_back(std::move(op));
    }
    for (;;) {
      int flag = 0;
      MPI_Message message;
      MPI_Status status;
      const int probed = MPI_Improbe(MPI_ANY_SOURCE, kTensorTag, tensors_, &flag, &message, &status);
      if (probed != MPI_SUCCESS) abort_job("MPI_Improbe failed: " + mpi_error_text(probed));
      if (!flag) break;
      int count = 0;
      MPI_Get_count(&status, MPI_BYTE, &count);
      auto op = std::make_shared<Operation>();
      op->what = "MPI_Imrecv from " + layout_.describe(status.MPI_SOURCE);
      op->incoming = op->fatal = op->started = true;
      op->source = status.MPI_SOURCE;
      op->buffer.resize(static_cast<std::size_t>(count));
      const int received = MPI_Imrecv(op->buffer.data(), count, MPI_BYTE, &message, &op->request);
      if (received != MPI_SUCCESS) abort_job(op->what + " failed: " + mpi_error_text(received));
      active_.push_back(std::move(op));
      progressed = true;
    }
    for (auto it = active_.begin(); it != active_.end();) {
      Operation& op = **it;
      int flag = 0;
      MPI_Status status;
      const int tested = MPI_Test(&op.request, &flag, &status);
      if (tested != MPI_SUCCESS) {
        if (op.fatal) abort_job(op.what + " failed: " + mpi_error_text(tested));
        complete(op, op.what + " failed: " + mpi_error_text(tested));
        it = active_.erase(it);
        continue;
      }
      if (!flag) {
        ++it;
        continue;
      }
      progressed = true;
      if (op.incoming) file_incoming(op);
      else complete(op, {});
      it = active_.erase(it);
    }
    bool wake_background = false;
    {
      std::lock_guard lock(mutex_);
      in_flight_ = active_.size();
      wake_background = in_flight_ > 0 && background_parked_;
    }
    if (wake_background) submitted_.notify_one();
    return progressed;
  }

  /// While operations are in flight and no waiting thread holds the lock, polls after idle_sleep,
  /// then at doubling intervals up to quiet_sleep, starting short again after each pass that moved
  /// something: a send completes, and over TCP (or shared memory without single-copy) its data
  /// moves past the rendezvous, only as MPI makes progress on this rank, so the first poll comes
  /// soon after a post (as soon as a waiting thread's slowest poll); a send that waits for a busy
  /// receiver then costs a poll every quiet_sleep. Parked, without a timer, while nothing is in
  /// flight.
  void background() {
    const auto shortest = std::max<std::chrono::microseconds>(options_.idle_sleep, std::chrono::microseconds(10));
    auto pause = shortest;
    std::unique_lock lock(mutex_);
    while (!finishing_) {
      if (in_flight_ == 0) {
        background_parked_ = true;
        submitted_.wait(lock, [&] { return finishing_ || in_flight_ > 0; });
        background_parked_ = false;
        pause = shortest;
        continue;
      }
      if (submitted_.wait_for(lock, pause, [&] { return finishing_; })) break;
      lock.unlock();
      bool progressed = false;
      {
        MpiLock mpi(mpi_, std::try_to_lock);
        if (mpi.held()) progressed = progress();
      }
      pause = progressed ? shortest : std::min<std::chrono::microseconds>(options_.quiet_sleep, 2 * pause);
      lock.lock();
    }
  }

  RankLayout layout_;
  MPI_Comm tensors_;
  SessionOptions options_;
  std::thread thread_;

  // Every MPI call, and active_, under mpi_'s lock. Never taken while holding mutex_ (a pass
  // takes mutex_ inside it).
  SerializedMpi mpi_;
  std::list<std::shared_ptr<Operation>> active_;  ///< posted, not yet complete

  std::mutex mutex_;
  std::condition_variable changed_;    ///< a message arrived or an operation completed
  std::condition_variable submitted_;  ///< the background thread: something in flight, or finish
  std::deque<std::shared_ptr<Operation>> submissions_;
  std::map<std::pair<int, runtime::MessageKey>, std::vector<std::byte>> mailboxes_;
  std::size_t in_flight_ = 0;      ///< active_.size() as of the last pass (plus what it is posting)
  bool background_parked_ = false;  ///< the background thread waits without a timer
  bool finishing_ = false;
};

}  // namespace tspipe::distributed::mpi
