#pragma once
// One process per pipeline stage and replica, launched by mpirun: MPI start-up and shut-down for
// such a process. What runs on top of the session (transport, replica averaging, gathered loss,
// checkpoints, the pipeline factory): <tspipe/distributed/mpi.hpp>.
#include <tspipe/distributed/mpi_error.hpp>
#include <tspipe/distributed/progress_engine.hpp>
#include <tspipe/distributed/rank_layout.hpp>
#include <tspipe/distributed/termination_handler.hpp>
#include <tspipe/error.hpp>

#include <mpi.h>

#include <exception>
#include <memory>
#include <string>

namespace tspipe::distributed::mpi {

/// The MPI state of one process: MPI itself, the rank layout, the communicators, the progress
/// engine. Create one per process (after which every MPI use goes through it) and
/// pass it to every call that communicates.
class MpiSession {
 public:
  /// Initialises MPI (MPI_THREAD_SERIALIZED) unless already done, places this rank in a pipeline
  /// of `stages` stages and starts the progress engine's background thread.
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

    install_termination_handler(l);

    session->engine_ = std::make_unique<MpiProgressEngine>(l, session->tensors_, options);
    session->engine_->start();
    return R(std::move(session));
  }

  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  /// Normal end: waits for every rank (so none finalises while a peer still sends), then
  /// finalises MPI. Unwinding from an exception instead ends the whole job: the other ranks are
  /// waiting on messages this rank will never send.
  ~MpiSession() {
    if (!engine_) {
      if (owns_mpi_) MPI_Finalize();
      return;
    }
    if (std::uncaught_exceptions() > 0) engine_->abort_job("left with an exception (its message is above)");
    engine_->finish(control_);
    engine_.reset();
    for (MPI_Comm* c : {&loss_, &replicas_, &control_, &tensors_})
      if (*c != MPI_COMM_NULL) MPI_Comm_free(c);
    if (owns_mpi_) MPI_Finalize();
  }

  const RankLayout& layout() const { return layout_; }
  const SessionOptions& options() const { return options_; }
  /// Every MPI call goes through it (MpiProgressEngine::run for a collective).
  MpiProgressEngine& engine() { return *engine_; }
  MPI_Comm control_comm() const { return control_; }
  MPI_Comm replicas_comm() const { return replicas_; }
  MPI_Comm loss_comm() const { return loss_; }
  [[noreturn]] void abort_job(const std::string& message) { engine_->abort_job(message); }

 private:
  explicit MpiSession(SessionOptions options) : options_(options) {}

  SessionOptions options_;
  RankLayout layout_;
  bool owns_mpi_ = false;
  MPI_Comm tensors_ = MPI_COMM_NULL, control_ = MPI_COMM_NULL, replicas_ = MPI_COMM_NULL, loss_ = MPI_COMM_NULL;
  std::unique_ptr<MpiProgressEngine> engine_;
};

}  // namespace tspipe::distributed::mpi
