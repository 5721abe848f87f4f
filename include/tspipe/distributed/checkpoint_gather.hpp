#pragma once
// One checkpoint file for a pipeline spread over ranks: every stage's part is gathered to rank 0,
// which writes the file; it loads on any layout with the same number of stages (another replica
// count, or one process).
#include <tspipe/distributed/mpi_session.hpp>
#include <tspipe/distributed/rank_layout.hpp>
#include <tspipe/error.hpp>
#include <tspipe/nn/safetensors.hpp>
#include <tspipe/pipeline.hpp>

#include <mpi.h>

#include <climits>
#include <cstddef>
#include <exception>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace tspipe::distributed::mpi {

/// Collects the checkpoint parts of replica 0's ranks (each holds its own stages) into `content`
/// on rank 0. Returns whether this rank writes the file (rank 0 only). Collective.
inline Result<bool> gather_checkpoint(MpiSession& session, nn::SafetensorsContent& content) {
  const RankLayout& l = session.layout();
  MPI_Comm comm = session.control_comm();
  const auto timeout = session.options().collective_timeout;
  // Replicas hold identical parameters; only replica 0's parts travel.
  std::vector<std::byte> part;
  if (l.replica() == 0 && !l.writes_checkpoints()) part = nn::serialize_safetensors(content);
  if (part.size() > static_cast<std::size_t>(INT_MAX))
    return Result<bool>::failure("checkpoint gather: " + l.describe() + "'s part exceeds INT_MAX bytes");
  int size = static_cast<int>(part.size());
  std::vector<int> sizes(static_cast<std::size_t>(l.world_size));
  if (Status s = session.engine().run("MPI_Igather of the checkpoint part sizes",
                                      [&](MPI_Request* r) { return MPI_Igather(&size, 1, MPI_INT, sizes.data(), 1, MPI_INT, 0, comm, r); }, timeout);
      !s)
    return Result<bool>::failure(s.message());
  std::vector<int> offsets(sizes.size());
  long long total = 0;
  for (std::size_t r = 0; r < sizes.size(); ++r) {
    offsets[r] = static_cast<int>(total);
    total += sizes[r];
  }
  if (l.writes_checkpoints() && total > INT_MAX) return Result<bool>::failure("checkpoint gather: the parts exceed INT_MAX bytes in all");
  std::vector<std::byte> all(l.writes_checkpoints() ? static_cast<std::size_t>(total) : 0);
  if (Status s = session.engine().run(
          "MPI_Igatherv of the checkpoint parts",
          [&](MPI_Request* r) {
            return MPI_Igatherv(part.data(), size, MPI_BYTE, all.data(), sizes.data(), offsets.data(), MPI_BYTE, 0, comm, r);
          },
          timeout);
      !s)
    return Result<bool>::failure(s.message());
  if (!l.writes_checkpoints()) return false;
  for (std::size_t r = 0; r < sizes.size(); ++r) {
    if (sizes[r] == 0) continue;
    const auto from = std::span<const std::byte>(all).subspan(static_cast<std::size_t>(offsets[r]), static_cast<std::size_t>(sizes[r]));
    nn::SafetensorsContent received = nn::parse_safetensors(from, "checkpoint part of " + l.describe(static_cast<int>(r)), nn::Checksums::required);
    for (auto& [name, tensor] : received.tensors) content.tensors[name] = std::move(tensor);
    for (auto& [key, value] : received.metadata) content.metadata.emplace(key, value);
  }
  return true;
}

/// Pipeline::save on every rank (collective): rank 0 writes the file with every stage; returns
/// once the file is complete, so any rank may read it next (paths on a filesystem every rank sees).
template <class B>
Status save_checkpoint(MpiSession& session, Pipeline<B>& pipeline, const std::filesystem::path& path) {
  try {
    pipeline.save(path);
  } catch (const std::exception& e) {
    return Status::failure(session.layout().describe() + ": saving '" + path.string() + "': " + e.what());
  }
  MPI_Comm comm = session.control_comm();
  return session.engine().run("MPI_Ibarrier after writing '" + path.string() + "'",
                              [comm](MPI_Request* r) { return MPI_Ibarrier(comm, r); }, session.options().collective_timeout);
}

}  // namespace tspipe::distributed::mpi
