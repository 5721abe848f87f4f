#pragma once
// The control collectives the distributed layer agrees through (the partition, the cost model,
// build and set-up results, the NCCL unique id), each one nonblocking MPI collective run to
// completion by the session's progress engine within SessionOptions::collective_timeout.
#include <tspipe/distributed/mpi_session.hpp>
#include <tspipe/error.hpp>

#include <mpi.h>

#include <climits>
#include <cstddef>
#include <string>
#include <vector>

namespace tspipe::distributed::mpi {

/// Every rank of `comm` contributes `local` (same length everywhere); returns the rank-ordered
/// concatenation.
template <class T>
Result<std::vector<T>> all_gather_equal(MpiSession& session, MPI_Comm comm, int ranks, const std::vector<T>& local, MPI_Datatype type,
                                        const std::string& what) {
  std::vector<T> all(local.size() * static_cast<std::size_t>(ranks));
  const Status gathered = session.engine().run(
      "MPI_Iallgather of " + what,
      [&](MPI_Request* r) {
        return MPI_Iallgather(local.data(), static_cast<int>(local.size()), type, all.data(), static_cast<int>(local.size()), type, comm, r);
      },
      session.options().collective_timeout);
  if (!gathered) return Result<std::vector<T>>::failure(gathered.message());
  return all;
}

/// Sends `bytes` from `root` to every rank of the control communicator (size first).
inline Status broadcast_bytes(MpiSession& session, std::vector<std::byte>& bytes, int root, const std::string& what) {
  MPI_Comm comm = session.control_comm();
  long long size = static_cast<long long>(bytes.size());
  const auto timeout = session.options().collective_timeout;
  if (Status s = session.engine().run("MPI_Ibcast of the size of " + what,
                                      [&](MPI_Request* r) { return MPI_Ibcast(&size, 1, MPI_LONG_LONG, root, comm, r); }, timeout);
      !s)
    return s;
  if (size > INT_MAX) return Status::failure("MPI_Ibcast of " + what + ": " + std::to_string(size) + " bytes exceed INT_MAX");
  bytes.resize(static_cast<std::size_t>(size));
  return session.engine().run("MPI_Ibcast of " + what,
                              [&](MPI_Request* r) { return MPI_Ibcast(bytes.data(), static_cast<int>(size), MPI_BYTE, root, comm, r); },
                              timeout);
}

/// Whether `mine` holds on every rank (MPI_Iallreduce, MIN, over the control communicator). A
/// step that may fail on some ranks ends with it, so that they all fail together instead of
/// leaving the others waiting in the next collective.
inline Result<bool> on_every_rank(MpiSession& session, bool mine, const std::string& what) {
  int all = mine ? 1 : 0;
  MPI_Comm comm = session.control_comm();
  if (Status s = session.engine().run("MPI_Iallreduce of " + what,
                                      [&](MPI_Request* r) { return MPI_Iallreduce(MPI_IN_PLACE, &all, 1, MPI_INT, MPI_MIN, comm, r); },
                                      session.options().collective_timeout);
      !s)
    return Result<bool>::failure(s.message());
  return all == 1;
}

}  // namespace tspipe::distributed::mpi
