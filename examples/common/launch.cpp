#include "launch.hpp"

#include "run_state.hpp"

#include <tspipe/error.hpp>
#if TSPIPE_EXAMPLES_MPI
#include <tspipe/distributed/mpi.hpp>
#endif

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace tspipe::examples {

namespace {

/// A whole number from the environment variable `name`, or `fallback` where it is unset or not one.
int environment_number(const char* name, int fallback) {
  const char* text = std::getenv(name);
  if (!text) return fallback;
  int value = 0;
  const char* end = text + std::strlen(text);
  const auto [ptr, ec] = std::from_chars(text, end, value);
  return ec == std::errc{} && ptr == end && value >= 0 ? value : fallback;
}

/// What mpirun (OpenMPI) or a PMI launcher (MPICH's hydra, Slurm) tells each process it starts.
Launch from_environment() {
  Launch l;
  l.world_size = std::max(1, environment_number("OMPI_COMM_WORLD_SIZE", environment_number("PMI_SIZE", 1)));
  l.rank = environment_number("OMPI_COMM_WORLD_RANK", environment_number("PMI_RANK", 0));
  return l;
}

Launch& current() {
  static Launch l = from_environment();
  return l;
}

#if TSPIPE_EXAMPLES_MPI
namespace mpi = distributed::mpi;

std::unique_ptr<mpi::MpiSession>& session_slot() {
  static std::unique_ptr<mpi::MpiSession> session;
  return session;
}

/// A collective's failure ends the job: the other ranks cannot continue without it either.
void check_collective(const Status& status) {
  if (!status) mpi_session().abort_job(status.message());
}

std::vector<std::byte> bytes_of(const std::string& text) {
  std::vector<std::byte> bytes(text.size());
  if (!text.empty()) std::memcpy(bytes.data(), text.data(), text.size());
  return bytes;
}

/// Starts MPI for a launch of `current().world_size` ranks and checks what the layout implies for
/// the flags. UsageError on every rank alike: each reads the same flags and the same layout.
void start_mpi(CommonOptions& o) {
  Launch& l = current();
  check_backend_name(o.backend);
  if (o.backend == "cuda")
    throw UsageError("--backend cuda under mpirun: the examples run an MPI launch on the CPU backend (a rank per stage); GPU "
                     "ranks need a device transport, see docs/user-guide.md A.10");
  o.backend = "cpu";
  if (l.world_size % o.stages != 0)
    throw UsageError("--stages " + std::to_string(o.stages) + ": " + std::to_string(l.world_size) +
                     " MPI ranks cannot hold whole replicas of the pipeline (one rank per stage: mpirun -np R·" +
                     std::to_string(o.stages) + ")");
  const int replicas = l.world_size / o.stages;
  if (o.batch_size % replicas != 0)
    throw UsageError("--batch-size " + std::to_string(o.batch_size) + ": must divide by the " + std::to_string(replicas) +
                     " replicas (" + std::to_string(l.world_size) + " ranks / --stages " + std::to_string(o.stages) +
                     "): each replica trains on an equal shard of every batch");
  const int shard = o.batch_size / replicas;
  if (o.micro_batches > shard)
    throw UsageError("--micro-batches " + std::to_string(o.micro_batches) + ": more micro-batches than the " + std::to_string(shard) +
                     " samples of a replica's shard (--batch-size " + std::to_string(o.batch_size) + " / " +
                     std::to_string(replicas) + " replicas)");
  auto started = mpi::MpiSession::start(o.stages);
  if (!started) throw Error("starting MPI: " + started.message());
  session_slot() = std::move(started).value();
  const mpi::RankLayout& layout = session_slot()->layout();
  l.world_size = layout.world_size;
  l.rank = layout.rank;
  l.stages = layout.stages;
  std::printf("MPI launch: %d ranks = %d replica(s) × %d stages; each replica trains on %d of the %d samples of every batch\n",
              l.world_size, l.replicas(), l.stages, shard, o.batch_size);
}
#endif

}  // namespace

const Launch& launch() { return current(); }

void silence_other_ranks() {
  if (current().prints()) return;
  if (!std::freopen("/dev/null", "w", stdout)) std::fclose(stdout);
}

void begin_run(CommonOptions& o, const std::vector<std::string>& phases) {
  if (o.schedule == "sequential" && o.micro_batches != 1) {
    std::printf("--schedule sequential runs whole batches: --micro-batches %d becomes 1\n", o.micro_batches);
    o.micro_batches = 1;
  }
  if (current().distributed()) {
#if TSPIPE_EXAMPLES_MPI
    start_mpi(o);
#else
    throw UsageError("started as one of " + std::to_string(current().world_size) +
                     " processes (mpirun -np N), but these examples were built without MPI (CMake found no MPI; Debian: "
                     "libopenmpi-dev): run one process, or rebuild with MPI");
#endif
  } else {
    o.backend = resolve_backend(o.backend);
  }
  agreed([&] {
    if (current().prints()) prepare_out_dir(o, phases);
  });
}

void end_launch() {
#if TSPIPE_EXAMPLES_MPI
  session_slot().reset();
#endif
}

void abort_launch(const std::string& message) {
#if TSPIPE_EXAMPLES_MPI
  if (session_slot()) session_slot()->abort_job(message);
#endif
  (void)message;
}

void settle(std::exception_ptr failure) {
  if (!current().distributed()) {
    if (failure) std::rethrow_exception(failure);
    return;
  }
#if TSPIPE_EXAMPLES_MPI
  // 0 ok, 1 an error, 2 a usage error; then the first failing rank's message.
  int code = 0;
  std::string message;
  if (failure) try {
      std::rethrow_exception(failure);
    } catch (const UsageError& e) {
      code = 2;
      message = e.what();
    } catch (const std::exception& e) {
      code = 1;
      message = e.what();
    }
  mpi::MpiSession& session = mpi_session();
  auto codes = mpi::all_gather_equal(session, session.control_comm(), current().world_size, std::vector<int>{code}, MPI_INT,
                                     "the outcome of a step every rank takes");
  if (!codes) session.abort_job(codes.message());
  int first = -1;
  for (std::size_t r = 0; r < codes.value().size() && first < 0; ++r)
    if (codes.value()[r] != 0) first = static_cast<int>(r);
  if (first < 0) return;
  std::vector<std::byte> bytes = bytes_of(message);
  share_from(first, bytes);
  const std::string agreed_message(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  if (codes.value()[static_cast<std::size_t>(first)] == 2) throw UsageError(agreed_message);
  throw AgreedError(agreed_message);
#endif
}

std::vector<double> sum_over_processes(std::vector<double> values) {
  if (!current().distributed()) return values;
#if TSPIPE_EXAMPLES_MPI
  mpi::MpiSession& session = mpi_session();
  auto all = mpi::all_gather_equal(session, session.control_comm(), current().world_size, values, MPI_DOUBLE, "a sum over the ranks");
  if (!all) session.abort_job(all.message());
  for (std::size_t i = 0; i < values.size(); ++i) {
    double sum = 0.0;
    for (int r = 0; r < current().world_size; ++r) sum += all.value()[static_cast<std::size_t>(r) * values.size() + i];
    values[i] = sum;
  }
#endif
  return values;
}

void share_from(int root, std::vector<std::byte>& bytes) {
  if (!current().distributed()) return;
#if TSPIPE_EXAMPLES_MPI
  check_collective(mpi::broadcast_bytes(mpi_session(), bytes, root, "a part rank " + std::to_string(root) + " shares"));
#else
  (void)root;
  (void)bytes;
#endif
}

int processes_on_this_machine() {
  return std::max(1, environment_number("OMPI_COMM_WORLD_LOCAL_SIZE", environment_number("MPI_LOCALNRANKS", current().world_size)));
}

#if TSPIPE_EXAMPLES_MPI
distributed::mpi::MpiSession& mpi_session() {
  if (!session_slot()) throw Error("the examples' MPI session was not started (not an MPI launch)");
  return *session_slot();
}
#endif

}  // namespace tspipe::examples
