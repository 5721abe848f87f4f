#pragma once
// Reading files for the dataset readers, with errors that name the file and say what is wrong.
//
// * read_file_into / read_file_bytes: a whole file (an image, a CIFAR batch, an IDX file).
// * ByteStore: fixed-size records read at an offset, from any thread at once — a file through
//   pread (STL-10's 2.7 GB unlabeled split is streamed, never held whole), or a buffer (the fuzzer).
#include <tspipe/error.hpp>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace tspipe::data {

namespace detail {

inline std::string errno_text(int err) { return std::strerror(err); }

/// An open read-only file descriptor, closed on destruction.
class FileHandle {
 public:
  FileHandle() = default;
  explicit FileHandle(const std::filesystem::path& path) : path_(path.string()) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) throw Error(path_ + ": is a directory, expected a file");
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) {
      const int err = errno;
      throw Error(path_ + (err == ENOENT ? ": no such file" : ": cannot open for reading: " + errno_text(err)));
    }
  }
  ~FileHandle() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileHandle(const FileHandle&) = delete;
  FileHandle& operator=(const FileHandle&) = delete;
  int fd() const noexcept { return fd_; }
  const std::string& path() const noexcept { return path_; }

  /// Size in bytes from fstat.
  std::uint64_t size() const {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) throw Error(path_ + ": cannot stat: " + errno_text(errno));
    return static_cast<std::uint64_t>(st.st_size);
  }

  /// Fills dst from `offset`; returns the bytes read (fewer only at the end of the file).
  std::size_t read_at(std::uint64_t offset, std::span<std::uint8_t> dst) const {
    std::size_t done = 0;
    while (done < dst.size()) {
      const ssize_t n = ::pread(fd_, dst.data() + done, dst.size() - done, static_cast<off_t>(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        throw Error(path_ + ": read error at byte " + std::to_string(offset + done) + ": " + errno_text(errno));
      }
      if (n == 0) break;
      done += static_cast<std::size_t>(n);
    }
    return done;
  }

 private:
  int fd_ = -1;
  std::string path_;
};

}  // namespace detail

/// Replaces `out` with the whole content of a file, reusing its storage; a missing, unreadable or
/// directory path is an Error naming it.
inline void read_file_into(const std::filesystem::path& path, std::vector<std::uint8_t>& out) {
  const detail::FileHandle file(path);
  // One byte more than fstat promises: a file that grows while read (or reports size 0, like
  // /proc files) fills it, and is then read to its end.
  out.resize(static_cast<std::size_t>(file.size()) + 1);
  std::size_t got = file.read_at(0, out);
  while (got == out.size()) {
    out.resize(out.size() + 65536);
    const std::size_t more = file.read_at(got, std::span<std::uint8_t>(out).subspan(got));
    got += more;
    if (more == 0) break;
  }
  out.resize(got);
}

/// The whole content of a file.
inline std::vector<std::uint8_t> read_file_bytes(const std::filesystem::path& path) {
  std::vector<std::uint8_t> bytes;
  read_file_into(path, bytes);
  return bytes;
}

/// Bytes read at an offset, safe to call from several threads at once.
class ByteStore {
 public:
  virtual ~ByteStore() = default;
  virtual std::uint64_t size() const noexcept = 0;
  /// Fills dst from `offset`; reading past the end is an Error naming the store.
  virtual void read_at(std::uint64_t offset, std::span<std::uint8_t> dst) const = 0;
  /// The file (or what stands for it) in messages.
  virtual const std::string& name() const noexcept = 0;
};

/// A file read with pread: nothing is loaded until asked for.
class FileBytes final : public ByteStore {
 public:
  explicit FileBytes(const std::filesystem::path& path) : file_(path), size_(file_.size()) {}
  std::uint64_t size() const noexcept override { return size_; }
  void read_at(std::uint64_t offset, std::span<std::uint8_t> dst) const override {
    if (file_.read_at(offset, dst) != dst.size())
      throw Error(file_.path() + ": truncated: " + std::to_string(dst.size()) + " bytes at offset " +
                  std::to_string(offset) + " lie past its end (the file now has " + std::to_string(file_.size()) +
                  " bytes; was it changed while open?)");
  }
  const std::string& name() const noexcept override { return file_.path(); }

 private:
  detail::FileHandle file_;
  std::uint64_t size_;
};

/// Bytes held in memory.
class MemoryBytes final : public ByteStore {
 public:
  MemoryBytes(std::vector<std::uint8_t> bytes, std::string name) : bytes_(std::move(bytes)), name_(std::move(name)) {}
  std::uint64_t size() const noexcept override { return bytes_.size(); }
  void read_at(std::uint64_t offset, std::span<std::uint8_t> dst) const override {
    if (offset > bytes_.size() || dst.size() > bytes_.size() - offset)
      throw Error(name_ + ": " + std::to_string(dst.size()) + " bytes at offset " + std::to_string(offset) +
                  " lie past its end (" + std::to_string(bytes_.size()) + " bytes)");
    std::memcpy(dst.data(), bytes_.data() + offset, dst.size());
  }
  const std::string& name() const noexcept override { return name_; }

 private:
  std::vector<std::uint8_t> bytes_;
  std::string name_;
};

}  // namespace tspipe::data
