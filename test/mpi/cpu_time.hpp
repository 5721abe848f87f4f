#pragma once
// CPU time of the whole process, shared by the MPI tests and bench/mpi: the polling cost of the
// MPI engine shows in CPU time, which the neighbours' load on a shared machine moves least.
#include <sys/resource.h>

namespace test {

/// CPU seconds this process has used so far, every thread (user + system).
inline double process_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + 1e-6 * static_cast<double>(t.tv_usec); };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

}  // namespace test
