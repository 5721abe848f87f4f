// Checkpoint checksums: the CRC-32 against zlib's and the standard check value, and every kind of
// damage to a checksummed file (a flipped bit in any tensor byte, a changed shape or metadata
// value, a removed or added checksum, a missing entry) refused with a message naming what failed.
#include <tspipe/nn/crc32.hpp>
#include <tspipe/nn/safetensors.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>
#include <zlib.h>

#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

using namespace tspipe::nn;

namespace {

std::span<const std::byte> bytes_of(const std::string& text) {
  return std::as_bytes(std::span(text.data(), text.size()));
}

SafetensorsContent sample() {
  SafetensorsContent c;
  const std::vector<float> weight{1, 2, 3, 4, 5, 6};
  const std::vector<float> bias{-1.5f, 0.25f};
  c.tensors["fc.weight"] = StoredTensor::from_f32({2, 3}, weight);
  c.tensors["fc.bias"] = StoredTensor::from_f32({2}, bias);
  c.metadata["learning_rate"] = "0.1";
  c.metadata["step"] = "17";
  return c;
}

struct Image {
  nlohmann::json header;
  std::vector<std::byte> data;
};

Image split(const std::vector<std::byte>& bytes) {
  std::uint64_t length = 0;
  std::memcpy(&length, bytes.data(), 8);
  const char* text = reinterpret_cast<const char*>(bytes.data()) + 8;
  return {nlohmann::json::parse(text, text + length),
          std::vector<std::byte>(bytes.begin() + 8 + static_cast<std::ptrdiff_t>(length), bytes.end())};
}

std::vector<std::byte> join(const Image& image) {
  const std::string text = image.header.dump();
  const std::uint64_t length = text.size();
  std::vector<std::byte> out(8 + text.size());
  std::memcpy(out.data(), &length, 8);
  std::memcpy(out.data() + 8, text.data(), text.size());
  out.insert(out.end(), image.data.begin(), image.data.end());
  return out;
}

/// The sample's file image with its header JSON changed by `edit`.
std::vector<std::byte> edited(const std::function<void(nlohmann::json&)>& edit) {
  Image image = split(serialize_safetensors(sample()));
  edit(image.header);
  return join(image);
}

std::string parse_error(const std::vector<std::byte>& bytes, Checksums policy = Checksums::verify_if_present) {
  try {
    (void)parse_safetensors(bytes, "ckpt.safetensors", policy);
  } catch (const tspipe::Error& e) {
    return e.what();
  }
  return "(parsed without error)";
}

nlohmann::json sums(const nlohmann::json& header) {
  return nlohmann::json::parse(header["__metadata__"]["tspipe.crc32"].get<std::string>());
}

}  // namespace

TEST_CASE("crc32 is the IEEE CRC-32: the standard check value and zlib's crc32 at every length") {
  CHECK(crc32(0, bytes_of("123456789")) == 0xCBF43926u);  // the catalogued check value of CRC-32
  CHECK(crc32(0, {}) == 0u);
  std::mt19937 random(7);
  std::vector<std::byte> buffer(300);
  for (auto& b : buffer) b = static_cast<std::byte>(random());
  for (std::size_t length = 0; length <= buffer.size(); ++length) {
    const std::span<const std::byte> part(buffer.data(), length);
    const auto reference = static_cast<std::uint32_t>(
        ::crc32(0, reinterpret_cast<const Bytef*>(part.data()), static_cast<uInt>(length)));
    REQUIRE(crc32(0, part) == reference);
    // Continuing a CRC over a split buffer gives the CRC of the whole.
    const std::size_t cut = length / 3;
    REQUIRE(crc32(crc32(0, part.first(cut)), part.subspan(cut)) == reference);
  }
}

TEST_CASE("a written file carries checksums that the reader verifies and hides") {
  const auto bytes = serialize_safetensors(sample());
  const auto header = split(bytes).header;
  const auto stored = sums(header);
  CHECK(stored.size() == 3);  // two tensors and the metadata
  CHECK(stored.contains("fc.weight"));
  CHECK(stored.contains("__metadata__"));
  CHECK(parse_safetensors(bytes, "ckpt", Checksums::required) == sample());

  SafetensorsContent reserved = sample();
  reserved.metadata["tspipe.crc32"] = "{}";
  CHECK_THROWS_WITH_AS(serialize_safetensors(reserved),
                       "safetensors: metadata key 'tspipe.crc32' is reserved for the checksums", tspipe::Error);
}

TEST_CASE("a flipped bit in any byte of any tensor is refused, naming the tensor") {
  const auto good = serialize_safetensors(sample());
  const Image image = split(good);
  for (const auto& item : image.header.items()) {
    const std::string name = item.key();  // not a structured binding: CAPTURE's lambda takes it
    const auto& entry = item.value();
    if (name == "__metadata__") continue;
    const auto begin = entry["data_offsets"][0].get<std::size_t>();
    const auto end = entry["data_offsets"][1].get<std::size_t>();
    for (std::size_t at = begin; at < end; ++at) {
      Image damaged = image;
      damaged.data[at] ^= std::byte{1} << (at % 8);
      const std::string error = parse_error(join(damaged));
      CAPTURE(name);
      CAPTURE(at);
      REQUIRE(error.find("tensor '" + name + "' fails its CRC-32 check (stored ") != std::string::npos);
      REQUIRE(error.find("): the file is damaged") != std::string::npos);
    }
  }
}

TEST_CASE("a changed shape, dtype or metadata value is refused") {
  // Same bytes read as [3, 2]: the checksum covers the shape, not only the data.
  CHECK(parse_error(edited([](nlohmann::json& h) { h["fc.weight"]["shape"] = {3, 2}; }))
            .find("tensor 'fc.weight' fails its CRC-32 check") != std::string::npos);
  // F32 [2] read as BF16 [4] has the same byte count.
  CHECK(parse_error(edited([](nlohmann::json& h) {
          h["fc.bias"]["dtype"] = "BF16";
          h["fc.bias"]["shape"] = {4};
        })).find("tensor 'fc.bias' fails its CRC-32 check") != std::string::npos);
  CHECK(parse_error(edited([](nlohmann::json& h) { h["__metadata__"]["learning_rate"] = "0.3"; }))
            .find("the metadata fails its CRC-32 check") != std::string::npos);
  CHECK(parse_error(edited([](nlohmann::json& h) { h["__metadata__"]["extra"] = "1"; }))
            .find("the metadata fails its CRC-32 check") != std::string::npos);
}

TEST_CASE("missing, extra or malformed checksums are refused by name") {
  const auto with_sums = [](const std::function<void(nlohmann::json&)>& edit_sums) {
    return edited([&](nlohmann::json& h) {
      nlohmann::json s = sums(h);
      edit_sums(s);
      h["__metadata__"]["tspipe.crc32"] = s.dump();
    });
  };
  CHECK(parse_error(with_sums([](nlohmann::json& s) { s.erase("fc.bias"); })) ==
        "safetensors 'ckpt.safetensors': tensor 'fc.bias' has no checksum in metadata 'tspipe.crc32' "
        "(the file was altered)");
  CHECK(parse_error(with_sums([](nlohmann::json& s) { s.erase("__metadata__"); })) ==
        "safetensors 'ckpt.safetensors': metadata 'tspipe.crc32' has no checksum of the metadata "
        "(the file was altered)");
  CHECK(parse_error(with_sums([](nlohmann::json& s) { s["gone"] = "00000000"; })) ==
        "safetensors 'ckpt.safetensors': metadata 'tspipe.crc32' has a checksum of tensor 'gone', "
        "which the file does not hold (a tensor was removed)");
  CHECK(parse_error(with_sums([](nlohmann::json& s) { s["fc.bias"] = "XYZ"; })) ==
        "safetensors 'ckpt.safetensors': metadata 'tspipe.crc32' holds 'XYZ' for tensor 'fc.bias', "
        "not 8 lowercase hex digits");
  CHECK(parse_error(with_sums([](nlohmann::json& s) { s["fc.bias"] = 12; }))
            .find("holds a JSON number for tensor 'fc.bias'") != std::string::npos);
  CHECK(parse_error(edited([](nlohmann::json& h) { h["__metadata__"]["tspipe.crc32"] = "[1"; })) ==
        "safetensors 'ckpt.safetensors': metadata 'tspipe.crc32' is not a JSON object of checksums");
}

TEST_CASE("a file without checksums loads unless they are required") {
  const auto bare = edited([](nlohmann::json& h) { h["__metadata__"].erase("tspipe.crc32"); });
  CHECK(parse_safetensors(bare, "from another tool") == sample());
  CHECK(parse_error(bare, Checksums::required) ==
        "safetensors 'ckpt.safetensors': has no checksums (metadata 'tspipe.crc32'): it was not "
        "written by tspipe, or its header was altered");
}
