#pragma once
// IDX files (the MNIST family's format), plain or gzip-compressed.
//
// An IDX file is a 4-byte magic — two zero bytes, a type code (0x08 = unsigned byte), the number of
// dimensions — then one big-endian uint32 per dimension, then the values in row-major order.
// Everything here works on an in-memory buffer (so the fuzzer reaches every check) and names the
// source in each error, because "truncated" alone does not say which of four files is broken.
//
// Needs zlib: link ZLIB::ZLIB.
#include <tspipe/data/file_io.hpp>
#include <tspipe/error.hpp>

#include <zlib.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace tspipe::data {

/// Magic numbers of the two IDX layouts Fashion-MNIST uses.
inline constexpr std::uint32_t idx_images_magic = 0x00000803;  // unsigned bytes, 3 dims (N, H, W)
inline constexpr std::uint32_t idx_labels_magic = 0x00000801;  // unsigned bytes, 1 dim (N)

/// Decompressed output larger than this is refused (a few bytes of gzip can claim gigabytes).
inline constexpr std::size_t default_max_decompressed_bytes = std::size_t{1} << 32;

/// One parsed IDX array of unsigned bytes.
struct IdxArray {
  std::uint32_t magic = 0;
  std::vector<std::uint32_t> dims;
  std::vector<std::uint8_t> values;  // row-major, product(dims) bytes
};

namespace detail {

inline std::string hex32(std::uint32_t v) {
  std::ostringstream s;
  s << "0x" << std::hex;
  s.width(8);
  s.fill('0');
  s << v;
  return s.str();
}

inline std::uint32_t read_be32(const std::uint8_t* p) noexcept {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

inline const char* describe_magic(std::uint32_t magic) noexcept {
  switch (magic) {
    case idx_images_magic: return "IDX images: unsigned bytes, 3 dimensions";
    case idx_labels_magic: return "IDX labels: unsigned bytes, 1 dimension";
    default: return "IDX unsigned bytes";
  }
}

}  // namespace detail

/// True when `bytes` start with the gzip signature.
inline bool is_gzip(std::span<const std::uint8_t> bytes) noexcept {
  return bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b;
}

/// Inflates gzip data (several concatenated members, as `cat a.gz b.gz` makes, are joined; bytes
/// after the last member are ignored, as gzread does). `source` names the data in errors.
inline std::vector<std::uint8_t> gunzip(std::span<const std::uint8_t> compressed, std::string_view source,
                                        std::size_t max_output = default_max_decompressed_bytes) {
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)  // 16+: expect a gzip header, not raw zlib
    throw Error(std::string(source) + ": cannot initialise zlib");
  struct InflateEnd {
    z_stream* zs;
    ~InflateEnd() { inflateEnd(zs); }
  } end_guard{&zs};

  std::vector<std::uint8_t> out;
  std::size_t produced = 0;
  std::size_t consumed = 0;  // input bytes handed to zlib so far
  constexpr std::size_t out_chunk = std::size_t{1} << 16;
  constexpr std::size_t in_chunk = std::size_t{1} << 30;  // avail_in is a 32-bit uInt
  for (;;) {
    if (zs.avail_in == 0 && consumed < compressed.size()) {
      const std::size_t n = std::min(in_chunk, compressed.size() - consumed);
      zs.next_in = const_cast<Bytef*>(compressed.data() + consumed);  // zlib never writes input
      zs.avail_in = static_cast<uInt>(n);
      consumed += n;
    }
    if (out.size() - produced < out_chunk) out.resize(std::max(out.size() * 2, produced + out_chunk));
    const std::size_t space = std::min<std::size_t>(out.size() - produced, in_chunk);
    zs.next_out = out.data() + produced;
    zs.avail_out = static_cast<uInt>(space);
    const int rc = inflate(&zs, Z_NO_FLUSH);
    produced += space - zs.avail_out;
    if (produced > max_output)
      throw Error(std::string(source) + ": gzip data expands to more than " + std::to_string(max_output) +
                  " bytes; refusing it");
    if (rc == Z_STREAM_END) {
      const std::size_t left = zs.avail_in + (compressed.size() - consumed);
      const auto rest = compressed.subspan(compressed.size() - left);
      if (!is_gzip(rest)) break;
      inflateReset(&zs);
      continue;
    }
    if (rc == Z_OK) continue;
    if (rc == Z_BUF_ERROR && !(zs.avail_in == 0 && consumed == compressed.size())) continue;
    if (rc == Z_BUF_ERROR)
      throw Error(std::string(source) + ": truncated gzip data (the stream ends after " +
                  std::to_string(compressed.size()) + " compressed bytes, " + std::to_string(produced) +
                  " bytes decompressed, before its end marker)");
    throw Error(std::string(source) + ": corrupt gzip data (" + (zs.msg ? std::string(zs.msg) : "zlib error " + std::to_string(rc)) +
                ")");
  }
  out.resize(produced);
  return out;
}

/// The bytes of `bytes`, inflated when they are gzip data, as they are otherwise.
inline std::vector<std::uint8_t> maybe_gunzip(std::span<const std::uint8_t> bytes, std::string_view source,
                                              std::size_t max_output = default_max_decompressed_bytes) {
  if (is_gzip(bytes)) return gunzip(bytes, source, max_output);
  return {bytes.begin(), bytes.end()};
}

/// Parses an IDX array of unsigned bytes from memory and checks it has the `expected_magic`
/// layout and exactly the bytes its header promises. `source` names the data in errors.
inline IdxArray parse_idx(std::span<const std::uint8_t> bytes, std::string_view source,
                          std::uint32_t expected_magic) {
  const std::string name(source);
  if (bytes.size() < 4)
    throw Error(name + ": " + std::to_string(bytes.size()) + " bytes is too short for an IDX header");
  IdxArray idx;
  idx.magic = detail::read_be32(bytes.data());
  if (idx.magic != expected_magic)
    throw Error(name + ": wrong magic number " + detail::hex32(idx.magic) + ", expected " +
                detail::hex32(expected_magic) + " (" + detail::describe_magic(expected_magic) + ")");
  const std::size_t rank = idx.magic & 0xffu;
  const std::size_t header = 4 + 4 * rank;
  if (bytes.size() < header)
    throw Error(name + ": truncated IDX header: " + std::to_string(rank) + " dimensions need " +
                std::to_string(header) + " bytes, got " + std::to_string(bytes.size()));

  std::string shape;
  bool has_zero = false;
  for (std::size_t i = 0; i < rank; ++i) {
    const std::uint32_t d = detail::read_be32(bytes.data() + 4 + 4 * i);
    idx.dims.push_back(d);
    if (i) shape += 'x';
    shape += std::to_string(d);
    has_zero = has_zero || d == 0;
  }
  // A forged header can promise more than 2^64 bytes; the product saturates instead of wrapping.
  const std::uint64_t available = bytes.size() - header;
  constexpr std::uint64_t u64_max = ~std::uint64_t{0};
  std::uint64_t expected = has_zero ? 0 : 1;
  bool overflows = false;
  for (std::size_t i = 0; i < rank && !has_zero && !overflows; ++i) {
    if (expected > u64_max / idx.dims[i]) overflows = true;
    else expected *= idx.dims[i];
  }
  if (overflows || expected > available)
    throw Error(name + ": truncated: header says " + shape + " = " +
                (overflows ? std::string("more than 2^64") : std::to_string(expected)) +
                " bytes of data, the file holds " + std::to_string(available));
  if (expected < available)
    throw Error(name + ": " + std::to_string(available - expected) + " unexpected bytes after the " +
                shape + " data the header describes");
  idx.values.assign(bytes.begin() + static_cast<std::ptrdiff_t>(header), bytes.end());
  return idx;
}

/// Reads an IDX file (gzip-compressed or not) and parses it as `expected_magic`.
inline IdxArray read_idx_file(const std::filesystem::path& path, std::uint32_t expected_magic) {
  const std::vector<std::uint8_t> raw = read_file_bytes(path);
  return parse_idx(maybe_gunzip(raw, path.string()), path.string(), expected_magic);
}

}  // namespace tspipe::data
