#pragma once
// Small IDX files written by the tests themselves, raw or gzip-compressed.
#include <tspipe/error.hpp>

#include <zlib.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

namespace tspipe::data::testing {

/// A fresh directory under the system temp dir, removed with everything in it at scope exit.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("tspipe-data-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

/// IDX bytes: the magic, each dimension big-endian, then the payload.
inline std::vector<std::uint8_t> idx_bytes(std::uint32_t magic, const std::vector<std::uint32_t>& dims,
                                           const std::vector<std::uint8_t>& payload) {
  std::vector<std::uint8_t> out;
  auto put32 = [&](std::uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(v >> shift));
  };
  put32(magic);
  for (std::uint32_t d : dims) put32(d);
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

inline void write_raw(const std::filesystem::path& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

inline void write_gzip(const std::filesystem::path& path, const std::vector<std::uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  if (!f) throw std::runtime_error("cannot gzopen " + path.string());
  const int written = bytes.empty() ? 0 : gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  if (gzclose(f) != Z_OK || written != static_cast<int>(bytes.size()))
    throw std::runtime_error("cannot gzwrite " + path.string());
}

/// `count` images of h×w whose pixel (y, x) of image i is (i·7 + y·w + x) mod 256, and labels i mod 10.
struct TinySet {
  std::vector<std::uint8_t> pixels, labels;
};
inline TinySet tiny_set(int count, int h, int w) {
  TinySet set;
  for (int i = 0; i < count; ++i) {
    for (int p = 0; p < h * w; ++p) set.pixels.push_back(static_cast<std::uint8_t>((i * 7 + p) % 256));
    set.labels.push_back(static_cast<std::uint8_t>(i % 10));
  }
  return set;
}

/// The message of the tspipe::Error `f` throws ("" when it throws nothing).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const tspipe::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace tspipe::data::testing
