#pragma once
// Checksums of safetensors content: a CRC-32 of every tensor (its dtype and shape as well as its
// bytes, so the same bytes read in another shape fail too) and one of the metadata, kept as a JSON
// object in the metadata entry "tspipe.crc32". serialize_safetensors writes the entry and
// parse_safetensors verifies and removes it (safetensors.hpp).
#include <tspipe/error.hpp>
#include <tspipe/nn/crc32.hpp>
#include <tspipe/nn/safetensors_file.hpp>
#include <tspipe/nn/stored_tensor.hpp>

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <cstring>
#include <map>
#include <span>
#include <string>
#include <string_view>

namespace tspipe::nn {

/// The metadata entry holding the checksums; reserved, so content cannot name it.
inline constexpr std::string_view kChecksumsKey = "tspipe.crc32";

/// What reading does with the checksums: verify them when the file has them (files from other
/// tools have none), or refuse a file without them (tspipe's own checkpoints).
enum class Checksums { verify_if_present, required };

namespace detail {

inline std::uint32_t crc32_of_size(std::uint32_t crc, std::uint64_t size) {
  std::array<std::byte, 8> bytes;
  std::memcpy(bytes.data(), &size, 8);
  return crc32(crc, bytes);
}

inline std::uint32_t crc32_of_text(std::uint32_t crc, std::string_view text) {
  crc = crc32_of_size(crc, text.size());  // length first, so no two entry lists share a stream
  return crc32(crc, std::as_bytes(std::span(text.data(), text.size())));
}

/// The checksum of a tensor covers how it is read (dtype, shape) as well as its bytes.
inline std::uint32_t tensor_crc32(const StoredTensor& tensor) {
  std::uint32_t crc = crc32_of_text(0, dtype_name(tensor.dtype));
  crc = crc32_of_size(crc, tensor.shape.size());
  for (std::uint64_t d : tensor.shape) crc = crc32_of_size(crc, d);
  return crc32(crc, tensor.data);
}

inline std::uint32_t metadata_crc32(const std::map<std::string, std::string>& metadata) {
  std::uint32_t crc = 0;
  for (const auto& [key, value] : metadata)
    if (key != kChecksumsKey) crc = crc32_of_text(crc32_of_text(crc, key), value);
  return crc;
}

inline std::string crc32_text(std::uint32_t crc) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string text(8, '0');
  for (int i = 7; i >= 0; --i, crc >>= 4) text[static_cast<std::size_t>(i)] = digits[crc & 0xfu];
  return text;
}

/// The "tspipe.crc32" entry for `content`: {"<tensor>": "<8 hex digits>", ..., "__metadata__": ...}.
inline std::string checksums_entry(const SafetensorsContent& content) {
  nlohmann::json sums = nlohmann::json::object();
  for (const auto& [name, tensor] : content.tensors) sums[name] = crc32_text(tensor_crc32(tensor));
  sums["__metadata__"] = crc32_text(metadata_crc32(content.metadata));
  return sums.dump();
}

/// Checks the checksums entry of freshly parsed `content` against its tensors and metadata, then
/// removes the entry. A fuzzing build (libFuzzer's FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION)
/// checks the entry's form but not the values, so mutated inputs reach the code behind the check.
inline void verify_checksums(SafetensorsContent& content, std::string_view source, Checksums policy) {
  const auto entry = content.metadata.find(std::string(kChecksumsKey));
  if (entry == content.metadata.end()) {
    if (policy == Checksums::required)
      safetensors_fail(source, "has no checksums (metadata '" + std::string(kChecksumsKey) +
                                   "'): it was not written by tspipe, or its header was altered");
    return;
  }
  const std::string where = "metadata '" + std::string(kChecksumsKey) + "'";
  const nlohmann::json sums = nlohmann::json::parse(entry->second, nullptr, /*allow_exceptions=*/false);
  if (!sums.is_object()) safetensors_fail(source, where + " is not a JSON object of checksums");
  const auto expect = [&](const std::string& what, const nlohmann::json& stored, std::uint32_t computed) {
    if (!stored.is_string() || stored.get_ref<const std::string&>().size() != 8 ||
        stored.get_ref<const std::string&>().find_first_not_of("0123456789abcdef") != std::string::npos)
      safetensors_fail(source, where + " holds " +
                                   (stored.is_string() ? "'" + stored.get_ref<const std::string&>().substr(0, 40) + "'"
                                                       : std::string("a JSON ") + stored.type_name()) +
                                   " for " + what + ", not 8 lowercase hex digits");
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    if (stored.get_ref<const std::string&>() != crc32_text(computed))
      safetensors_fail(source, what + " fails its CRC-32 check (stored " + stored.get<std::string>() +
                                   ", computed " + crc32_text(computed) + "): the file is damaged");
#else
    (void)computed;
#endif
  };
  for (const auto& [name, tensor] : content.tensors) {
    const auto stored = sums.find(name);
    if (stored == sums.end())
      safetensors_fail(source, "tensor '" + name + "' has no checksum in " + where + " (the file was altered)");
    expect("tensor '" + name + "'", *stored, tensor_crc32(tensor));
  }
  const auto stored_metadata = sums.find("__metadata__");
  if (stored_metadata == sums.end())
    safetensors_fail(source, where + " has no checksum of the metadata (the file was altered)");
  expect("the metadata", *stored_metadata, metadata_crc32(content.metadata));
  for (const auto& [name, stored] : sums.items())
    if (name != "__metadata__" && !content.tensors.contains(name))
      safetensors_fail(source, where + " has a checksum of tensor '" + name +
                                   "', which the file does not hold (a tensor was removed)");
  content.metadata.erase(entry);
}


}  // namespace detail

}  // namespace tspipe::nn
