#pragma once
// MPI error codes as tspipe::Status, naming the failing call. Every communicator tspipe uses is
// set to MPI_ERRORS_RETURN, so failures come back here instead of aborting inside MPI.
#include <tspipe/error.hpp>

#include <mpi.h>

#include <cstddef>
#include <string>

namespace tspipe::distributed::mpi {

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

}  // namespace tspipe::distributed::mpi
