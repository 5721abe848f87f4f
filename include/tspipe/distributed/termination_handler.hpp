#pragma once
// What a rank prints when the launcher terminates it (mpirun sends SIGTERM to the survivors when
// one rank dies): which rank it is and, if it was waiting for a message, the rank it waited on, so
// that the job's output names the lost or stalled peer from both sides.
//
// The handler only reads text prepared before it is installed (and never changed after) and one
// atomic index, and writes with ::write: async-signal-safe.
#include <tspipe/distributed/rank_layout.hpp>

#include <atomic>
#include <csignal>
#include <cstddef>
#include <cstdlib>
#include <string>
#include <string_view>
#include <unistd.h>
#include <vector>

namespace tspipe::distributed::mpi {

/// Writes `text` to stderr with ::write alone (no allocation, no stdio lock): usable from a signal
/// handler and from a thread racing MPI_Abort. A string_view: the handler passes literals, which
/// must not become (allocated) strings.
inline void write_stderr(std::string_view text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(STDERR_FILENO, text.data() + done, text.size() - done);
    if (n <= 0) return;
    done += static_cast<std::size_t>(n);
  }
}

namespace detail {
inline std::vector<std::string> rank_descriptions;
inline std::string termination_note;
inline std::atomic<int> waiting_on_rank{-1};

extern "C" inline void on_termination_signal(int signal_number) {
  write_stderr(termination_note);
  const int waited = waiting_on_rank.load();
  if (waited >= 0 && static_cast<std::size_t>(waited) < rank_descriptions.size()) {
    write_stderr("; it was waiting on ");  // no allocation in a signal handler: pieces, not operator+
    write_stderr(rank_descriptions[static_cast<std::size_t>(waited)]);
    write_stderr(", which is lost or stalled");
  }
  write_stderr("\n");
  std::_Exit(128 + signal_number);
}
}  // namespace detail

/// Installs the SIGTERM handler for this rank of `layout` (once per process, before any wait).
inline void install_termination_handler(const RankLayout& layout) {
  detail::rank_descriptions.clear();
  for (int r = 0; r < layout.world_size; ++r) detail::rank_descriptions.push_back(layout.describe(r));
  detail::termination_note = "tspipe: " + layout.describe() + " was terminated by the launcher: another rank failed";
  struct sigaction action {};
  action.sa_handler = detail::on_termination_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
}

/// For its lifetime, a termination of this rank names `rank` as the one it waits on. Scoped to a
/// wait for a message from that rank (any transport).
class WaitingOnRank {
 public:
  explicit WaitingOnRank(int rank) { detail::waiting_on_rank.store(rank); }
  ~WaitingOnRank() { detail::waiting_on_rank.store(-1); }
  WaitingOnRank(const WaitingOnRank&) = delete;
  WaitingOnRank& operator=(const WaitingOnRank&) = delete;
};

}  // namespace tspipe::distributed::mpi
