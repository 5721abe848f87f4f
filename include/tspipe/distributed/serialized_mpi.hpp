#pragma once
// The one lock every MPI call of the process is made under (MPI_THREAD_SERIALIZED: any thread may
// call MPI, one at a time), and the end of the job, which is an MPI call too (MPI_Abort) and is
// often reached by a thread that already holds the lock: a progress pass that finds a failure.
#include <tspipe/distributed/termination_handler.hpp>

#include <mpi.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

namespace tspipe::distributed::mpi {

class SerializedMpi {
 public:
  /// `rank_description` names this rank in every message (RankLayout::describe).
  explicit SerializedMpi(std::string rank_description) : rank_(std::move(rank_description)) {}
  SerializedMpi(const SerializedMpi&) = delete;
  SerializedMpi& operator=(const SerializedMpi&) = delete;

  /// Holds the MPI lock for its lifetime (or tries to, with std::try_to_lock), recording the
  /// holder so that abort_job called by it does not wait for itself.
  class Lock {
   public:
    explicit Lock(SerializedMpi& m) : m_(m), held_(true) {
      m_.mutex_.lock();
      m_.owner_.store(std::this_thread::get_id());
    }
    Lock(SerializedMpi& m, std::try_to_lock_t) : m_(m), held_(m_.mutex_.try_lock()) {
      if (held_) m_.owner_.store(std::this_thread::get_id());
    }
    ~Lock() {
      if (!held_) return;
      m_.owner_.store(std::thread::id());
      m_.mutex_.unlock();
    }
    Lock(const Lock&) = delete;
    Lock& operator=(const Lock&) = delete;
    bool held() const { return held_; }

   private:
    SerializedMpi& m_;
    bool held_;
  };

  /// Prints `message` naming this rank and ends every rank of the job (MPI_Abort, non-zero exit).
  /// Callable from any thread, with the MPI lock held or not. When several threads fail at once,
  /// the first message is the one printed. If MPI_Abort does not end the process within a few
  /// seconds (MPI stuck), the process exits by itself and mpirun ends the rest.
  [[noreturn]] void abort_job(const std::string& message) {
    {
      std::lock_guard lock(message_mutex_);
      if (abort_message_.empty()) abort_message_ = message;
    }
    try {
      std::thread([note = "tspipe: " + rank_ + ": " + message + " (MPI_Abort did not return in time; exiting)\n"] {
        std::this_thread::sleep_for(std::chrono::seconds(5));
        write_stderr(note);
        std::_Exit(1);
      }).detach();
    } catch (const std::system_error&) {
      // No deadline thread: MPI_Abort alone ends the process, as it does but for a stuck MPI.
    }
    if (owner_.load() != std::this_thread::get_id()) {
      mutex_.lock();
      owner_.store(std::this_thread::get_id());
    }
    std::string first;
    {
      std::lock_guard lock(message_mutex_);
      first = abort_message_;
    }
    write_stderr("tspipe: " + rank_ + ": " + first + "; ending the job (MPI_Abort)\n");
    MPI_Abort(MPI_COMM_WORLD, 1);
    std::_Exit(1);
  }

 private:
  std::string rank_;
  std::mutex mutex_;  ///< held around every MPI call
  std::atomic<std::thread::id> owner_{};
  std::mutex message_mutex_;
  std::string abort_message_;
};

}  // namespace tspipe::distributed::mpi
