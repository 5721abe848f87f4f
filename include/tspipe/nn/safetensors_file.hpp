#pragma once
// The file side of safetensors checkpoints: a whole file read with its size checked first, and an
// atomic write (temporary file, fsync, rename, fsync of the directory). safetensors.hpp parses and
// serialises the bytes; errors name the file as "safetensors '<path>': <problem>".
#include <tspipe/error.hpp>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace tspipe::nn::detail {

[[noreturn]] inline void safetensors_fail(std::string_view source, const std::string& problem) {
  throw Error("safetensors '" + std::string(source) + "': " + problem);
}

[[noreturn]] inline void safetensors_os_fail(const std::filesystem::path& path, const char* what) {
  safetensors_fail(path.string(), std::string(what) + ": " + std::strerror(errno));
}

/// Writes `bytes` so that `path` holds either its old content or all of the new one, even across
/// a crash: temp file in the same directory, fsync, rename over the target, fsync the directory.
inline void write_file_atomically(const std::filesystem::path& path, std::span<const std::byte> bytes) {
  const std::filesystem::path directory =
      path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  std::string temp = (directory / ("." + path.filename().string() + ".tmp-XXXXXX")).string();
  const int fd = ::mkstemp(temp.data());
  if (fd < 0) safetensors_os_fail(path, "cannot create a temporary file next to it");
  const auto fail = [&](const char* what) {
    const int saved = errno;
    ::close(fd);
    ::unlink(temp.c_str());
    errno = saved;
    safetensors_os_fail(path, what);
  };
  // mkstemp creates 0600; a checkpoint is an ordinary readable file.
  if (::fchmod(fd, 0644) != 0) fail("cannot set permissions of the temporary file");
  std::size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("cannot write");
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) fail("cannot flush to disk");
  if (::close(fd) != 0) {
    const int saved = errno;
    ::unlink(temp.c_str());
    errno = saved;
    safetensors_os_fail(path, "cannot close the temporary file");
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const int saved = errno;
    ::unlink(temp.c_str());
    errno = saved;
    safetensors_os_fail(path, "cannot rename the temporary file over it");
  }
  // The rename is durable only once the directory entry is.
  const int dir_fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY);
  if (dir_fd < 0) safetensors_os_fail(path, "cannot open its directory to flush the rename");
  const int synced = ::fsync(dir_fd);
  const int saved = errno;
  ::close(dir_fd);
  errno = saved;
  if (synced != 0) safetensors_os_fail(path, "cannot flush its directory");
}

inline std::vector<std::byte> read_whole_file(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) safetensors_os_fail(path, "cannot open");
  std::vector<std::byte> bytes;
  struct stat info {};
  if (::fstat(fd, &info) == 0 && info.st_size > 0) bytes.reserve(static_cast<std::size_t>(info.st_size));
  std::byte chunk[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int saved = errno;
      ::close(fd);
      errno = saved;
      safetensors_os_fail(path, "cannot read");
    }
    if (n == 0) break;
    bytes.insert(bytes.end(), chunk, chunk + n);
  }
  ::close(fd);
  return bytes;
}

}  // namespace tspipe::nn::detail
