#pragma once
// One process per pipeline stage, launched by mpirun: the rank layout, MPI start-up and shut-down,
// and the communication engine every MPI call goes through. Transport, gradient averaging, the
// gathered loss and checkpoints on top of it are in <tspipe/runtime/mpi.hpp>.
//
// Threading (MPI_THREAD_SERIALIZED): every MPI call is made under one lock, by whichever thread
// needs MPI to make progress. Only nonblocking calls are posted, and one "progress pass" (post
// what was submitted, receive every tensor message that has arrived into its keyed mailbox, test
// what is in flight) serves every waiter. Why this shape:
//   * a blocking MPI call cannot time out, and the watchdog must name the rank a worker waits on;
//     nonblocking calls tested in a loop give every wait a deadline;
//   * incoming activations are drained into keyed mailboxes by any pass, whoever makes it (a
//     worker may be inside a gradient all-reduce while its next activation arrives); one pass
//     probes, receives and tests collectives, so nothing blocks one behind another;
//   * the thread that waits is the one that polls: a stage worker waiting for an activation, or
//     a collective's caller, runs the passes itself (briefly back to back, then between doubling
//     sleeps), so a message that arrives is taken by the thread that needs it with no hand-over.
//     An earlier design routed every call through a communication thread that polled every
//     ≤ 200 µs and woke the worker: on 2 cores one bench/mpi run made 63 000 context switches
//     over its two ranks against 3 200 in one process (14 700 now), a message took 140–290 µs
//     one way (now ≈ 35 µs), and the MPI mode ran 18–21 % slower than one process
//     (bench/RESULTS.md, "MPI launch");
//   * a small background thread only keeps sends and receives in flight moving while no one
//     waits (polls backing off to every quiet_sleep; TCP's rendezvous needs the sender's progress
//     too) and sleeps outright when nothing is in flight. MPI's own blocking calls, which spin
//     (OpenMPI's mpi_yield_when_idle only makes them yield), are never used, so no MCA setting
//     is needed.
#include <tspipe/error.hpp>
#include <tspipe/runtime/transport.hpp>

#include <mpi.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

namespace tspipe::runtime::mpi {

/// Where each rank sits: rank = replica · stages + stage. The stages of one replica are adjacent
/// ranks, so mpirun's default by-slot mapping keeps a pipeline's neighbours on one node (fast
/// links carry the activations), and the replicas of a stage span nodes (only the once-per-batch
/// gradient all-reduce crosses the network).
struct RankLayout {
  int world_size = 1;
  int rank = 0;
  int stages = 1;
  int replicas = 1;

  int replica() const { return rank / stages; }
  int stage() const { return rank % stages; }
  int replica_of(int r) const { return r / stages; }
  int stage_of(int r) const { return r % stages; }
  int rank_of(int replica_index, int stage_index) const { return replica_index * stages + stage_index; }
  /// The one rank that prints progress: it runs replica 0's last stage, where losses are reported.
  bool logs() const { return replica() == 0 && stage() == stages - 1; }
  /// The one rank that writes checkpoints (it receives every stage's part).
  bool writes_checkpoints() const { return rank == 0; }

  std::string describe(int r) const {
    return "rank " + std::to_string(r) + " (replica " + std::to_string(replica_of(r)) + ", stage " +
           std::to_string(stage_of(r)) + ")";
  }
  std::string describe() const { return describe(rank); }

  static Result<RankLayout> make(int world_size, int rank, int stages) {
    if (stages < 1) return Result<RankLayout>::failure("MPI launch: stages = " + std::to_string(stages) + " must be at least 1");
    if (world_size % stages != 0)
      return Result<RankLayout>::failure("MPI launch: " + std::to_string(world_size) + " ranks cannot hold whole replicas of a " +
                                         std::to_string(stages) + "-stage pipeline (one rank per stage: run mpirun -np R·" +
                                         std::to_string(stages) + ")");
    return RankLayout{world_size, rank, stages, world_size / stages};
  }
};

/// The text of an MPI error code, for messages that name the failing call.
inline std::string mpi_error_text(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) return "MPI error " + std::to_string(code);
  return std::string(text, static_cast<std::size_t>(length));
}

inline Status mpi_call(int code, const std::string& call) {
  if (code == MPI_SUCCESS) return {};
  return Status::failure(call + " failed: " + mpi_error_text(code));
}

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

namespace detail {
// What a rank terminated by the launcher prints (the launcher kills the survivors when a rank
// dies). Prepared before the handler is installed and never changed after, so the handler only
// reads immutable text and an atomic index: async-signal-safe.
inline std::vector<std::string> rank_descriptions;
inline std::string termination_note;
inline std::atomic<int> waiting_on_rank{-1};

// A string_view: the signal handler passes literals, which must not become (allocated) strings.
inline void write_all(std::string_view text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(STDERR_FILENO, text.data() + done, text.size() - done);
    if (n <= 0) return;
    done += static_cast<std::size_t>(n);
  }
}

extern "C" inline void on_termination_signal(int signal_number) {
  write_all(termination_note);
  const int waited = waiting_on_rank.load();
  if (waited >= 0 && static_cast<std::size_t>(waited) < rank_descriptions.size()) {
    write_all("; it was waiting on ");  // no allocation in a signal handler: pieces, not operator+
    write_all(rank_descriptions[static_cast<std::size_t>(waited)]);
    write_all(", which is lost or stalled");
  }
  write_all("\n");
  std::_Exit(128 + signal_number);
}
}  // namespace detail

/// Every MPI call of the process goes through this engine (see the top of the file): callers
/// submit nonblocking operations and wait for them, making the progress passes themselves; a
/// background thread keeps what is in flight moving while no one waits.
class CommunicationThread {
 public:
  using Clock = std::chrono::steady_clock;
  /// Posts one nonblocking MPI call (under the MPI lock) and returns its error code.
  using Post = std::function<int(MPI_Request*)>;
  static constexpr int kTensorTag = 17;

  CommunicationThread(const RankLayout& layout, MPI_Comm tensors, SessionOptions options)
      : layout_(layout), tensors_(tensors), options_(options) {}
  ~CommunicationThread() { finish(MPI_COMM_NULL); }

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
    MpiLock mpi(*this);
    progress();
  }

  /// Takes the message addressed to local stage `at` under `key`, waiting up to `timeout`;
  /// `from_rank` is the rank that produces it (named when the wait fails).
  Result<std::vector<std::byte>> take(int at, const MessageKey& key, int from_rank, std::chrono::milliseconds timeout) {
    const auto mailbox_key = std::make_pair(at, key);
    detail::waiting_on_rank.store(from_rank);
    std::unique_lock lock(mutex_);
    const bool arrived = wait(lock, Clock::now() + timeout, [&] { return mailboxes_.count(mailbox_key) > 0; });
    detail::waiting_on_rank.store(-1);
    if (!arrived)
      return Result<std::vector<std::byte>>::failure("stage " + std::to_string(at) + " waited " +
                                                     std::to_string(timeout.count()) + " ms for the " + describe(key) +
                                                     " from " + layout_.describe(from_rank) + ": that rank is lost or stalled");
    auto node = mailboxes_.extract(mailbox_key);
    return std::move(node.mapped());
  }

  /// Puts a message for a stage of this same process straight into its mailbox.
  Status deliver_locally(int at, const MessageKey& key, std::vector<std::byte> message) {
    std::lock_guard lock(mutex_);
    if (!mailboxes_.emplace(std::make_pair(at, key), std::move(message)).second)
      return Status::failure(layout_.describe() + ": stage " + std::to_string(at) + " already holds the " + describe(key));
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

  /// Prints `message` naming this rank and ends every rank of the job (MPI_Abort, non-zero exit).
  /// Callable from any thread, inside a progress pass too. If MPI_Abort does not end the process
  /// within a few seconds (MPI stuck), the process exits by itself and mpirun ends the rest.
  [[noreturn]] void abort_job(const std::string& message) {
    {
      std::lock_guard lock(mutex_);
      if (abort_message_.empty()) abort_message_ = message;
    }
    try {
      std::thread([note = "tspipe: " + layout_.describe() + ": " + message + " (MPI_Abort did not return in time; exiting)\n"] {
        std::this_thread::sleep_for(std::chrono::seconds(5));
        detail::write_all(note);
        std::_Exit(1);
      }).detach();
    } catch (const std::system_error&) {
      // No deadline thread: MPI_Abort alone ends the process, as it does but for a stuck MPI.
    }
    // MPI_Abort is an MPI call like any other (MPI_THREAD_SERIALIZED): made under the MPI lock,
    // which this thread already holds when a pass found the failure.
    if (mpi_owner_.load() != std::this_thread::get_id()) {
      mpi_mutex_.lock();
      mpi_owner_.store(std::this_thread::get_id());
    }
    abort_now();
  }

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

  /// A tensor message: int64 header [to_stage, consumer, batch, view, micro_batch, rank, dims…],
  /// then the float values.
  static Result<std::pair<int, MessageKey>> message_header(const std::vector<std::byte>& bytes) {
    if (bytes.size() < 6 * sizeof(std::int64_t)) return Result<std::pair<int, MessageKey>>::failure("shorter than its header");
    std::int64_t h[5];
    std::memcpy(h, bytes.data(), sizeof h);
    MessageKey key{static_cast<schedule::ActionKind>(h[1]), static_cast<long>(h[2]), static_cast<int>(h[3]), static_cast<int>(h[4])};
    return std::make_pair(static_cast<int>(h[0]), key);
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

  /// The MPI lock, recording its owner: abort_job from inside a pass must not wait for itself.
  class MpiLock {
   public:
    explicit MpiLock(CommunicationThread& c) : c_(c), held_(true) {
      c_.mpi_mutex_.lock();
      c_.mpi_owner_.store(std::this_thread::get_id());
    }
    MpiLock(CommunicationThread& c, std::try_to_lock_t) : c_(c), held_(c_.mpi_mutex_.try_lock()) {
      if (held_) c_.mpi_owner_.store(std::this_thread::get_id());
    }
    ~MpiLock() {
      if (!held_) return;
      c_.mpi_owner_.store(std::thread::id());
      c_.mpi_mutex_.unlock();
    }
    MpiLock(const MpiLock&) = delete;
    MpiLock& operator=(const MpiLock&) = delete;
    bool held() const { return held_; }

   private:
    CommunicationThread& c_;
    bool held_;
  };

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
        MpiLock mpi(*this, std::try_to_lock);  // held by another thread: its pass serves this wait too
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

  [[noreturn]] void abort_now() {
    std::string message;
    {
      std::lock_guard lock(mutex_);
      message = abort_message_;
    }
    detail::write_all("tspipe: " + layout_.describe() + ": " + message + "; ending the job (MPI_Abort)\n");
    MPI_Abort(MPI_COMM_WORLD, 1);
    std::_Exit(1);
  }

  void complete(Operation& op, std::string error) {
    std::lock_guard lock(mutex_);
    op.done = true;
    op.error = std::move(error);
    changed_.notify_all();
  }

  /// Parses a received tensor message's header into its mailbox.
  void file_incoming(Operation& op) {
    const auto header = message_header(op.buffer);
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
        MpiLock mpi(*this, std::try_to_lock);
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

  // MPI_THREAD_SERIALIZED: every MPI call, and active_, under mpi_mutex_. Never taken while
  // holding mutex_ (a pass takes mutex_ inside it).
  std::mutex mpi_mutex_;
  std::atomic<std::thread::id> mpi_owner_{};
  std::list<std::shared_ptr<Operation>> active_;  ///< posted, not yet complete

  std::mutex mutex_;
  std::condition_variable changed_;    ///< a message arrived or an operation completed
  std::condition_variable submitted_;  ///< the background thread: something in flight, or finish
  std::deque<std::shared_ptr<Operation>> submissions_;
  std::map<std::pair<int, MessageKey>, std::vector<std::byte>> mailboxes_;
  std::size_t in_flight_ = 0;      ///< active_.size() as of the last pass (plus what it is posting)
  bool background_parked_ = false;  ///< the background thread waits without a timer
  bool finishing_ = false;
  std::string abort_message_;
};

/// The MPI state of one process: MPI itself, the rank layout, the communicators, the
/// communication engine. Create one per process (after which every MPI use goes through it) and
/// pass it to every call that communicates.
class MpiSession {
 public:
  /// Initialises MPI (MPI_THREAD_SERIALIZED) unless already done, places this rank in a pipeline
  /// of `stages` stages and starts the communication engine's background thread.
  static Result<std::unique_ptr<MpiSession>> start(int stages, SessionOptions options = {}) {
    using R = Result<std::unique_ptr<MpiSession>>;
    auto session = std::unique_ptr<MpiSession>(new MpiSession(options));
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      int provided = 0;
      if (Status s = mpi_call(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided), "MPI_Init_thread"); !s) return R(s);
      session->owns_mpi_ = true;
      if (provided < MPI_THREAD_SERIALIZED)
        return R::failure("MPI_Init_thread provided thread level " + std::to_string(provided) +
                          "; tspipe needs MPI_THREAD_SERIALIZED (its threads make MPI calls, one at a time)");
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);  // failures come back as codes we name
    int size = 0, rank = 0;
    if (Status s = mpi_call(MPI_Comm_size(MPI_COMM_WORLD, &size), "MPI_Comm_size"); !s) return R(s);
    if (Status s = mpi_call(MPI_Comm_rank(MPI_COMM_WORLD, &rank), "MPI_Comm_rank"); !s) return R(s);
    auto layout = RankLayout::make(size, rank, stages);
    if (!layout) return R::failure(layout.message());
    session->layout_ = layout.value();
    const RankLayout& l = session->layout_;
    // Separate communicators keep unrelated traffic apart: tensor messages (matched by tag and
    // any source), control collectives (plan, checkpoints, barrier), and per stage the replicas'
    // gradient all-reduce and, on the last stage, the loss gather, whose collectives must never be
    // matched against each other.
    if (Status s = mpi_call(MPI_Comm_dup(MPI_COMM_WORLD, &session->tensors_), "MPI_Comm_dup (tensors)"); !s) return R(s);
    if (Status s = mpi_call(MPI_Comm_dup(MPI_COMM_WORLD, &session->control_), "MPI_Comm_dup (control)"); !s) return R(s);
    if (Status s = mpi_call(MPI_Comm_split(MPI_COMM_WORLD, l.stage(), l.replica(), &session->replicas_), "MPI_Comm_split (replicas of a stage)"); !s)
      return R(s);
    if (Status s = mpi_call(MPI_Comm_dup(session->replicas_, &session->loss_), "MPI_Comm_dup (loss gather)"); !s) return R(s);
    for (MPI_Comm c : {session->tensors_, session->control_, session->replicas_, session->loss_}) MPI_Comm_set_errhandler(c, MPI_ERRORS_RETURN);

    detail::rank_descriptions.clear();
    for (int r = 0; r < l.world_size; ++r) detail::rank_descriptions.push_back(l.describe(r));
    detail::termination_note = "tspipe: " + l.describe() + " was terminated by the launcher: another rank failed";
    struct sigaction action {};
    action.sa_handler = detail::on_termination_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGTERM, &action, nullptr);

    session->thread_ = std::make_unique<CommunicationThread>(l, session->tensors_, options);
    session->thread_->start();
    return R(std::move(session));
  }

  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  /// Normal end: waits for every rank (so none finalises while a peer still sends), then
  /// finalises MPI. Unwinding from an exception instead ends the whole job: the other ranks are
  /// waiting on messages this rank will never send.
  ~MpiSession() {
    if (!thread_) {
      if (owns_mpi_) MPI_Finalize();
      return;
    }
    if (std::uncaught_exceptions() > 0) thread_->abort_job("left with an exception (its message is above)");
    thread_->finish(control_);
    thread_.reset();
    for (MPI_Comm* c : {&loss_, &replicas_, &control_, &tensors_})
      if (*c != MPI_COMM_NULL) MPI_Comm_free(c);
    if (owns_mpi_) MPI_Finalize();
  }

  const RankLayout& layout() const { return layout_; }
  const SessionOptions& options() const { return options_; }
  CommunicationThread& communication() { return *thread_; }
  MPI_Comm control_comm() const { return control_; }
  MPI_Comm replicas_comm() const { return replicas_; }
  MPI_Comm loss_comm() const { return loss_; }
  [[noreturn]] void abort_job(const std::string& message) { thread_->abort_job(message); }

 private:
  explicit MpiSession(SessionOptions options) : options_(options) {}

  SessionOptions options_;
  RankLayout layout_;
  bool owns_mpi_ = false;
  MPI_Comm tensors_ = MPI_COMM_NULL, control_ = MPI_COMM_NULL, replicas_ = MPI_COMM_NULL, loss_ = MPI_COMM_NULL;
  std::unique_ptr<CommunicationThread> thread_;
};

}  // namespace tspipe::runtime::mpi
