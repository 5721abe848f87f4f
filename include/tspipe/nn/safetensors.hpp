#pragma once
// Reading and writing safetensors files (https://github.com/huggingface/safetensors, format
// described in its README): an 8-byte little-endian header length N, N bytes of JSON
//   {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"key": "value"}}
// padded with spaces, then the data section that the offsets index (relative to its start).
//
// Checkpoints (weights, optimizer state) are written as F32; F16, BF16, F64 and I64 tensors from
// other tools can be read and converted. A file that is not well-formed — truncated, header length
// past the end, malformed JSON, unknown dtype, offsets out of range, overlapping, leaving gaps or
// disagreeing with shape × dtype — is rejected with a tspipe::Error naming the file and the
// problem; nothing in here trusts a size from the file before checking it against the bytes read.
//
// Files written here carry a CRC-32 of every tensor (its dtype, shape and bytes) and of the other
// metadata, as a JSON object in the metadata entry "tspipe.crc32"; reading verifies them when
// present and, with Checksums::required, refuses a file without them, so a flipped bit or a
// truncated rewrite is an error naming the tensor instead of a silently different weight. The entry
// is consumed by the reader: SafetensorsContent never shows it.
//
// Needs nlohmann_json (link nlohmann_json::nlohmann_json). The in-memory types are in
// stored_tensor.hpp, the checksums in safetensors_checksums.hpp, the file I/O in safetensors_file.hpp.
#include <tspipe/error.hpp>
#include <tspipe/nn/safetensors_checksums.hpp>
#include <tspipe/nn/safetensors_file.hpp>
#include <tspipe/nn/stored_tensor.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tspipe::nn {

namespace detail {

/// A JSON value as a non-negative integer, rejecting floats, negatives and other types.
inline std::optional<std::uint64_t> json_index(const nlohmann::json& value) {
  if (value.is_number_unsigned()) return value.get<std::uint64_t>();
  if (value.is_number_integer() && value.get<std::int64_t>() >= 0)
    return static_cast<std::uint64_t>(value.get<std::int64_t>());
  return std::nullopt;
}

/// A short description of a JSON value for error messages. Only scalars are printed: dumping an
/// arbitrary (possibly deeply nested, hostile) value would recurse once per nesting level.
inline std::string json_brief(const nlohmann::json& value) {
  if (value.is_primitive()) {
    std::string text = value.dump();
    return text.size() > 40 ? text.substr(0, 40) + "..." : text;
  }
  return std::string("a JSON ") + value.type_name();
}

inline std::string offsets_text(const nlohmann::json& offsets) {
  // Built by appending: GCC 12 misreports `"[" + std::string` chains under -Wrestrict (PR 105651).
  std::string text = "[";
  text += json_brief(offsets[0]);
  text += ", ";
  text += json_brief(offsets[1]);
  text += "]";
  return text;
}

struct TensorSpan {
  std::string name;
  std::uint64_t begin;
  std::uint64_t end;
};

}  // namespace detail

/// Parses a complete safetensors image; `source` names it in errors (usually the file path).
inline SafetensorsContent parse_safetensors(std::span<const std::byte> bytes, std::string_view source,
                                            Checksums checksums = Checksums::verify_if_present) {
  using nlohmann::json;
  constexpr std::size_t length_field = 8;
  if (bytes.size() < length_field)
    detail::safetensors_fail(source, "file is " + std::to_string(bytes.size()) +
                                         " bytes, too short for the 8-byte header length");
  const auto header_length = detail::load_unaligned<std::uint64_t>(bytes.data());
  const std::uint64_t after_length = bytes.size() - length_field;
  if (header_length > after_length)
    detail::safetensors_fail(source, "header length " + std::to_string(header_length) +
                                         " exceeds the " + std::to_string(after_length) +
                                         " bytes that follow it (truncated file?)");
  const auto header_text = bytes.subspan(length_field, static_cast<std::size_t>(header_length));
  const auto data = bytes.subspan(length_field + static_cast<std::size_t>(header_length));
  if (header_text.empty() || header_text[0] != std::byte{'{'})
    detail::safetensors_fail(source, "header is not a JSON object (it must start with '{')");

  // nlohmann keeps the last of duplicate keys silently; two tensors of one name is corruption.
  std::optional<std::string> duplicate;
  std::set<std::string> top_level_keys;
  const json::parser_callback_t note_duplicates = [&](int depth, json::parse_event_t event,
                                                      json& parsed) {
    if (event == json::parse_event_t::key && depth == 1 && !duplicate &&
        !top_level_keys.insert(parsed.get<std::string>()).second)
      duplicate = parsed.get<std::string>();
    return true;
  };
  json header;
  try {
    const auto* first = reinterpret_cast<const char*>(header_text.data());
    header = json::parse(first, first + header_text.size(), note_duplicates);
  } catch (const json::exception& e) {
    detail::safetensors_fail(source, std::string("header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) detail::safetensors_fail(source, "header is not a JSON object");
  if (duplicate) detail::safetensors_fail(source, "header names '" + *duplicate + "' twice");

  SafetensorsContent content;
  std::vector<detail::TensorSpan> spans;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) detail::safetensors_fail(source, "__metadata__ is not a JSON object");
      for (const auto& [key, value] : entry.items()) {
        if (!value.is_string())
          detail::safetensors_fail(source, "__metadata__ value of '" + key + "' is not a string");
        content.metadata.emplace(key, value.get<std::string>());
      }
      continue;
    }
    const std::string where = "tensor '" + name + "'";
    if (!entry.is_object()) detail::safetensors_fail(source, where + " is not a JSON object");
    const auto dtype_it = entry.find("dtype");
    const auto shape_it = entry.find("shape");
    const auto offsets_it = entry.find("data_offsets");
    if (dtype_it == entry.end() || !dtype_it->is_string())
      detail::safetensors_fail(source, where + " has no \"dtype\" string");
    if (shape_it == entry.end() || !shape_it->is_array())
      detail::safetensors_fail(source, where + " has no \"shape\" array");
    if (offsets_it == entry.end() || !offsets_it->is_array() || offsets_it->size() != 2)
      detail::safetensors_fail(source, where + " has no \"data_offsets\" pair");

    StoredTensor tensor;
    const auto dtype_text = dtype_it->get<std::string>();
    const auto dtype = parse_dtype(dtype_text);
    if (!dtype)
      detail::safetensors_fail(source, where + " has unsupported dtype \"" + dtype_text +
                                           "\" (supported: F16, BF16, F32, F64, I64)");
    tensor.dtype = *dtype;
    for (const json& dim : *shape_it) {
      const auto d = detail::json_index(dim);
      if (!d) detail::safetensors_fail(source, where + " has a shape entry that is not a non-negative integer: " + detail::json_brief(dim));
      tensor.shape.push_back(*d);
    }
    const auto begin = detail::json_index((*offsets_it)[0]);
    const auto end = detail::json_index((*offsets_it)[1]);
    if (!begin || !end || *begin > *end)
      detail::safetensors_fail(source, where + " has invalid data_offsets " + detail::offsets_text(*offsets_it));
    if (*end > data.size())
      detail::safetensors_fail(source, where + " data_offsets " + detail::offsets_text(*offsets_it) +
                                           " run past the " + std::to_string(data.size()) +
                                           "-byte data section");
    const auto count = StoredTensor::element_count(tensor.shape);
    const std::uint64_t width = dtype_size(tensor.dtype);
    if (!count || *count > std::numeric_limits<std::uint64_t>::max() / width)
      detail::safetensors_fail(source, where + " shape " + detail::shape_text(tensor.shape) +
                                           " overflows");
    if (*end - *begin != *count * width)
      detail::safetensors_fail(source, where + " data_offsets " + detail::offsets_text(*offsets_it) + " hold " +
                                           std::to_string(*end - *begin) + " bytes but shape " +
                                           detail::shape_text(tensor.shape) + " of " + dtype_text +
                                           " needs " + std::to_string(*count * width));
    const auto bytes_of_tensor = data.subspan(static_cast<std::size_t>(*begin),
                                              static_cast<std::size_t>(*end - *begin));
    tensor.data.assign(bytes_of_tensor.begin(), bytes_of_tensor.end());
    spans.push_back({name, *begin, *end});
    content.tensors.emplace(name, std::move(tensor));
  }

  // The tensors must tile the data section exactly: no overlap, no gap, nothing left over.
  std::sort(spans.begin(), spans.end(), [](const auto& a, const auto& b) {
    return std::pair(a.begin, a.end) < std::pair(b.begin, b.end);
  });
  std::uint64_t covered = 0;
  for (std::size_t i = 0; i < spans.size(); ++i) {
    if (spans[i].begin < covered)
      detail::safetensors_fail(source, "tensors '" + spans[i - 1].name + "' and '" + spans[i].name +
                                           "' overlap in the data section");
    if (spans[i].begin > covered)
      detail::safetensors_fail(source, "data bytes [" + std::to_string(covered) + ", " +
                                           std::to_string(spans[i].begin) + ") belong to no tensor");
    covered = spans[i].end;
  }
  if (covered != data.size())
    detail::safetensors_fail(source, std::to_string(data.size() - covered) +
                                         " bytes after the last tensor belong to no tensor");
  detail::verify_checksums(content, source, checksums);
  return content;
}

/// The file image of `content`, with its checksums. Tensors are laid out by decreasing dtype width, then name, so
/// every tensor starts aligned to its element size; the header is space-padded so the data
/// section starts at a multiple of 8. JSON keys come out sorted.
inline std::vector<std::byte> serialize_safetensors(const SafetensorsContent& content) {
  using nlohmann::json;
  std::vector<std::pair<const std::string*, const StoredTensor*>> order;
  for (const auto& [name, tensor] : content.tensors) {
    if (name == "__metadata__") throw Error("safetensors: '__metadata__' cannot name a tensor");
    const auto count = StoredTensor::element_count(tensor.shape);
    if (!count || *count * dtype_size(tensor.dtype) != tensor.data.size())
      throw Error("safetensors: tensor '" + name + "' has " + std::to_string(tensor.data.size()) +
                  " bytes, which does not match shape " + detail::shape_text(tensor.shape) +
                  " of " + std::string(dtype_name(tensor.dtype)));
    order.emplace_back(&name, &tensor);
  }
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return dtype_size(a.second->dtype) > dtype_size(b.second->dtype);
  });

  json header = json::object();
  std::uint64_t offset = 0;
  for (const auto& [name, tensor] : order) {
    header[*name] = {{"dtype", dtype_name(tensor->dtype)},
                     {"shape", tensor->shape},
                     {"data_offsets", {offset, offset + tensor->data.size()}}};
    offset += tensor->data.size();
  }
  if (content.metadata.contains(std::string(kChecksumsKey)))
    throw Error("safetensors: metadata key '" + std::string(kChecksumsKey) + "' is reserved for the checksums");
  nlohmann::json metadata = content.metadata;
  metadata[std::string(kChecksumsKey)] = detail::checksums_entry(content);
  header["__metadata__"] = std::move(metadata);
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');

  std::vector<std::byte> image(8 + text.size() + offset);
  const std::uint64_t header_length = text.size();
  std::memcpy(image.data(), &header_length, 8);
  std::memcpy(image.data() + 8, text.data(), text.size());
  std::byte* out = image.data() + 8 + text.size();
  for (const auto& entry : order) {
    const StoredTensor& tensor = *entry.second;
    if (!tensor.data.empty()) std::memcpy(out, tensor.data.data(), tensor.data.size());
    out += tensor.data.size();
  }
  return image;
}

inline SafetensorsContent load_safetensors(const std::filesystem::path& path,
                                           Checksums checksums = Checksums::verify_if_present) {
  const auto bytes = detail::read_whole_file(path);
  return parse_safetensors(bytes, path.string(), checksums);
}

inline void save_safetensors(const std::filesystem::path& path, const SafetensorsContent& content) {
  detail::write_file_atomically(path, serialize_safetensors(content));
}

}  // namespace tspipe::nn
