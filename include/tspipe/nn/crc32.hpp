#pragma once
// CRC-32 (the IEEE 802.3 polynomial, reflected; the checksum of zlib's crc32() and Python's
// zlib.crc32) over byte spans, for the per-tensor checksums of checkpoints. Slicing by eight
// tables, eight bytes per step: about 1 GB/s on one core, so checking a 100 MB checkpoint costs
// about as much as reading it from disk.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace tspipe::nn {

namespace detail {

inline constexpr std::array<std::array<std::uint32_t, 256>, 8> crc32_tables = [] {
  std::array<std::array<std::uint32_t, 256>, 8> tables{};
  for (std::uint32_t byte = 0; byte < 256; ++byte) {
    std::uint32_t crc = byte;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    tables[0][byte] = crc;
  }
  // tables[k][b]: the CRC of byte b followed by k zero bytes, so eight table lookups advance the
  // register over eight bytes at once.
  for (std::size_t k = 1; k < 8; ++k)
    for (std::size_t byte = 0; byte < 256; ++byte)
      tables[k][byte] = (tables[k - 1][byte] >> 8) ^ tables[0][tables[k - 1][byte] & 0xffu];
  return tables;
}();

}  // namespace detail

/// Continues the CRC-32 `crc` (0 to start) over `bytes`: crc32(crc32(0, a), b) == crc32(0, a ++ b).
inline std::uint32_t crc32(std::uint32_t crc, std::span<const std::byte> bytes) {
  const auto& t = detail::crc32_tables;
  std::uint32_t c = ~crc;
  const std::byte* p = bytes.data();
  std::size_t n = bytes.size();
  for (; n >= 8; n -= 8, p += 8) {
    std::uint32_t low, high;  // little-endian words; safetensors.hpp already requires the host be
    std::memcpy(&low, p, 4);  // little-endian
    std::memcpy(&high, p + 4, 4);
    low ^= c;
    c = t[7][low & 0xffu] ^ t[6][(low >> 8) & 0xffu] ^ t[5][(low >> 16) & 0xffu] ^ t[4][low >> 24] ^
        t[3][high & 0xffu] ^ t[2][(high >> 8) & 0xffu] ^ t[1][(high >> 16) & 0xffu] ^ t[0][high >> 24];
  }
  for (; n > 0; --n, ++p) c = (c >> 8) ^ t[0][(c ^ static_cast<std::uint32_t>(*p)) & 0xffu];
  return ~c;
}

}  // namespace tspipe::nn
