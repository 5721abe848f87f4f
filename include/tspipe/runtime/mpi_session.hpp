#pragma once
// One process per pipeline stage, launched by mpirun: the rank layout, MPI start-up and shut-down,
// and the communication thread every MPI call goes through. Transport, gradient averaging, the
// gathered loss and checkpoints on top of it are in <tspipe/runtime/mpi.hpp>.
//
// Threading: ONE thread per process makes every MPI call (MPI_THREAD_SERIALIZED: the main thread
// initialises and finalises, the communication thread runs in between). Stage workers, the loss
// and the optimizer hook only hand it requests and wait for them with a deadline. Why not
// MPI_THREAD_MULTIPLE with workers calling MPI themselves:
//   * a blocking MPI call cannot time out, and the watchdog must name the rank a worker waits on;
//     nonblocking calls polled by one thread give every wait a deadline;
//   * incoming activations must be drained into keyed mailboxes whatever the workers are doing (a
//     worker may be inside a gradient all-reduce while its next activation arrives); one loop that
//     probes, receives and tests collectives never blocks one behind another;
//   * on a few oversubscribed cores, MPI's own blocking calls spin; this loop backs off to short
//     sleeps while a worker waits or an operation is in flight, and to longer ones when nothing
//     is awaited (each poll runs MPI's whole progress engine), leaving the cores to the workers.
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
  /// Longest sleep of the communication thread while a worker waits for a message or an MPI
  /// operation is in flight: the latency it adds to a message.
  std::chrono::microseconds idle_sleep{200};
  /// Longest sleep while nothing is awaited (no worker waits, nothing in flight). Every poll is a
  /// pass through MPI's progress engine (every transport, TCP's sockets included), which cost the
  /// two ranks of bench/mpi a quarter more CPU than one process; messages arriving meanwhile wait
  /// inside MPI until a worker asks for one, which wakes the thread at once.
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

/// Every MPI call of the process goes through this thread (see the top of the file).
class CommunicationThread {
 public:
  using Clock = std::chrono::steady_clock;
  /// Posts one nonblocking MPI call (on the communication thread) and returns its error code.
  using Post = std::function<int(MPI_Request*)>;
  static constexpr int kTensorTag = 17;

  CommunicationThread(const RankLayout& layout, MPI_Comm tensors, SessionOptions options)
      : layout_(layout), tensors_(tensors), options_(options) {}
  ~CommunicationThread() { finish(MPI_COMM_NULL); }

  void start() { thread_ = std::thread([this] { loop(); }); }

  /// Queues `message` (a tensor message, header included) for rank `to`; returns at once. A failed
  /// send ends the job (the receiver would wait for it forever).
  void send(int to, std::vector<std::byte> message) {
    auto op = std::make_shared<Operation>();
    op->what = "MPI_Isend to " + layout_.describe(to);
    op->buffer = std::move(message);
    op->post = [to, raw = op.get(), comm = tensors_](MPI_Request* request) {
      return MPI_Isend(raw->buffer.data(), static_cast<int>(raw->buffer.size()), MPI_BYTE, to, kTensorTag, comm, request);
    };
    op->fatal = true;
    submit(std::move(op));
  }

  /// Takes the message addressed to local stage `at` under `key`, waiting up to `timeout`;
  /// `from_rank` is the rank that produces it (named when the wait fails).
  Result<std::vector<std::byte>> take(int at, const MessageKey& key, int from_rank, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    const auto mailbox_key = std::make_pair(at, key);
    detail::waiting_on_rank.store(from_rank);
    ++waiting_workers_;
    submitted_.notify_all();  // a communication thread in a quiet sleep polls again now
    const bool arrived = changed_.wait_for(lock, timeout, [&] { return mailboxes_.count(mailbox_key) > 0; });
    --waiting_workers_;
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
    const bool finished = changed_.wait_for(lock, timeout, [&] { return op->done; });
    if (finished && op->error.empty()) return {};
    if (finished && !op->started) return Status::failure(op->error);
    lock.unlock();
    if (!finished) abort_job(what + " did not complete within " + std::to_string(timeout.count()) + " ms (a peer is lost or stalled)");
    abort_job(op->error);
  }

  /// Prints `message` naming this rank and ends every rank of the job (MPI_Abort, non-zero exit).
  /// Callable from any thread: the communication thread makes the call; if it cannot within a few
  /// seconds (stuck), the process exits by itself and mpirun ends the rest.
  [[noreturn]] void abort_job(const std::string& message) {
    {
      std::lock_guard lock(mutex_);
      if (abort_message_.empty()) abort_message_ = message;
      changed_.notify_all();
    }
    submitted_.notify_all();
    if (std::this_thread::get_id() == thread_.get_id()) abort_now();
    std::this_thread::sleep_for(std::chrono::seconds(5));
    detail::write_all("tspipe: " + layout_.describe() + ": " + message + " (MPI_Abort did not return in time; exiting)\n");
    std::_Exit(1);
  }

  /// Completes the queued sends, then (if `barrier_comm` is given) waits until every rank got here,
  /// and stops the thread. A rank that never arrives ends the job with a message.
  void finish(MPI_Comm barrier_comm) {
    if (!thread_.joinable()) return;
    if (barrier_comm != MPI_COMM_NULL) {
      const Status reached = run("the end-of-run barrier (MPI_Ibarrier)",
                                 [barrier_comm](MPI_Request* r) { return MPI_Ibarrier(barrier_comm, r); },
                                 options_.collective_timeout);
      if (!reached) abort_job(reached.message());
    }
    {
      std::lock_guard lock(mutex_);
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

  void submit(std::shared_ptr<Operation> op) {
    {
      std::lock_guard lock(mutex_);
      submissions_.push_back(std::move(op));
    }
    submitted_.notify_all();
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

 public:
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
  void loop() {
    std::list<std::shared_ptr<Operation>> active;
    auto sleep = std::chrono::microseconds(0);
    for (;;) {
      std::deque<std::shared_ptr<Operation>> fresh;
      bool finishing = false, awaited = false;
      {
        std::unique_lock lock(mutex_);
        if (sleep.count() > 0)
          submitted_.wait_for(lock, sleep, [&] {
            return !submissions_.empty() || finishing_ || !abort_message_.empty() || (waiting_workers_ > 0 && sleep > options_.idle_sleep);
          });
        awaited = waiting_workers_ > 0;
        if (!abort_message_.empty()) {
          lock.unlock();
          abort_now();
        }
        fresh.swap(submissions_);
        finishing = finishing_;
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
        active.push_back(std::move(op));
      }
      // Drain every tensor message that has arrived: receivers must never wait on a sender.
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
        active.push_back(std::move(op));
        progressed = true;
      }
      for (auto it = active.begin(); it != active.end();) {
        Operation& op = **it;
        int flag = 0;
        MPI_Status status;
        const int tested = MPI_Test(&op.request, &flag, &status);
        if (tested != MPI_SUCCESS) {
          if (op.fatal) abort_job(op.what + " failed: " + mpi_error_text(tested));
          complete(op, op.what + " failed: " + mpi_error_text(tested));
          it = active.erase(it);
          continue;
        }
        if (!flag) {
          ++it;
          continue;
        }
        progressed = true;
        if (op.incoming) file_incoming(op);
        else complete(op, {});
        it = active.erase(it);
      }
      if (finishing && active.empty()) return;
      // Idle: poll again at once (latency), then sleep in doubling steps (cores for the workers)
      // up to idle_sleep while something is awaited, quiet_sleep otherwise.
      const auto longest = awaited || !active.empty() ? options_.idle_sleep : options_.quiet_sleep;
      if (progressed) sleep = std::chrono::microseconds(0);
      else sleep = std::min<std::chrono::microseconds>(longest, std::max<std::chrono::microseconds>(std::chrono::microseconds(10), 2 * sleep));
    }
  }

  RankLayout layout_;
  MPI_Comm tensors_;
  SessionOptions options_;
  std::thread thread_;

  std::mutex mutex_;
  std::condition_variable changed_;    ///< a message arrived, an operation completed, or a stop
  std::condition_variable submitted_;  ///< work for the communication thread
  std::deque<std::shared_ptr<Operation>> submissions_;
  std::map<std::pair<int, MessageKey>, std::vector<std::byte>> mailboxes_;
  bool finishing_ = false;
  int waiting_workers_ = 0;  ///< workers inside take()
  std::string abort_message_;
};

/// The MPI state of one process: MPI itself, the rank layout, the communicators, the
/// communication thread. Create one per process (after which every MPI use goes through it) and
/// pass it to every call that communicates.
class MpiSession {
 public:
  /// Initialises MPI (MPI_THREAD_SERIALIZED) unless already done, places this rank in a pipeline
  /// of `stages` stages and starts the communication thread.
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
                          "; tspipe needs MPI_THREAD_SERIALIZED (its communication thread makes the calls)");
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
