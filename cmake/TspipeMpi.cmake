# tspipe_mpi (tspipe::mpi): the multi-process launch (include/tspipe/distributed/) over MPI.
# Its own target because it is the only part of the library that needs <mpi.h>: pipeline.hpp and
# everything a single-process trainer includes stay buildable without MPI installed.
# Optional: without MPI (Debian: libopenmpi-dev) the target is absent and test/mpi, bench/mpi skip.
if(TARGET tspipe_mpi)
  return()
endif()
find_package(MPI COMPONENTS CXX QUIET)
if(MPI_CXX_FOUND AND TARGET tspipe_nn)
  add_library(tspipe_mpi INTERFACE)
  add_library(tspipe::mpi ALIAS tspipe_mpi)
  set_target_properties(tspipe_mpi PROPERTIES EXPORT_NAME mpi)
  target_link_libraries(tspipe_mpi INTERFACE tspipe tspipe_nn MPI::MPI_CXX)
  # The launcher the tests and the benchmark script run (mpirun, or mpiexec where only that exists).
  set(TSPIPE_MPIEXEC "${MPIEXEC_EXECUTABLE}" CACHE FILEPATH "mpirun used by the tspipe MPI tests and benchmark")
else()
  message(STATUS "tspipe: MPI not found — the MPI launch (tspipe::mpi), its tests and benchmark are off")
endif()
