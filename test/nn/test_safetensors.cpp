// safetensors: round trips through files, the on-disk layout, dtype conversion, and every kind of
// malformed file rejected with a message naming the file and the problem.
#include <tspipe/nn/safetensors.hpp>

#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>

using namespace tspipe::nn;
namespace fs = std::filesystem;

namespace {

/// A safetensors image from header text and raw data; header_length overrides the stored length.
std::vector<std::byte> image(const std::string& header, const std::vector<std::byte>& data = {},
                             std::optional<std::uint64_t> header_length = std::nullopt) {
  const std::uint64_t n = header_length.value_or(header.size());
  std::vector<std::byte> out(8 + header.size());
  std::memcpy(out.data(), &n, 8);
  std::memcpy(out.data() + 8, header.data(), header.size());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

template <class T>
std::vector<std::byte> raw(std::initializer_list<T> values) {
  std::vector<std::byte> out(values.size() * sizeof(T));
  std::memcpy(out.data(), std::data(values), out.size());
  return out;
}

std::string parse_error(const std::vector<std::byte>& bytes) {
  try {
    (void)parse_safetensors(bytes, "ckpt.safetensors");
  } catch (const tspipe::Error& e) {
    return e.what();
  }
  return "(parsed without error)";
}

/// A fresh directory under the system temp dir, removed at scope exit.
struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("tspipe_safetensors_" + std::to_string(::getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(path)) names.push_back(e.path().filename().string());
    return names;
  }
};

SafetensorsContent sample_checkpoint() {
  SafetensorsContent c;
  const std::vector<float> weight{1, 2, 3, 4, 5, 6};
  const std::vector<float> bias{-1.5f, 0.25f};
  const std::vector<float> scalar{42.0f};
  c.tensors["fc.weight"] = StoredTensor::from_f32({2, 3}, weight);
  c.tensors["fc.bias"] = StoredTensor::from_f32({2}, bias);
  c.tensors["step"] = StoredTensor::from_f32({}, scalar);
  c.tensors["empty"] = StoredTensor::from_f32({0, 5}, {});
  StoredTensor wide;
  wide.dtype = Dtype::F64;
  wide.shape = {1};
  wide.data = raw<double>({0.1});
  c.tensors["wide"] = wide;
  c.metadata["format"] = "tspipe";
  c.metadata["batch"] = "17";
  return c;
}

}  // namespace

TEST_CASE("a checkpoint saved to a file loads back identical") {
  TempDir dir;
  const fs::path file = dir.path / "model.safetensors";
  const auto original = sample_checkpoint();
  save_safetensors(file, original);
  const auto loaded = load_safetensors(file);
  CHECK(loaded == original);
  CHECK(loaded.tensors.at("fc.weight").to_f32() == std::vector<float>{1, 2, 3, 4, 5, 6});
  CHECK(loaded.tensors.at("step").size() == 1);
  CHECK(loaded.tensors.at("empty").size() == 0);
  CHECK(loaded.metadata.at("batch") == "17");
  CHECK(dir.entries() == std::vector<std::string>{"model.safetensors"});  // no temp file left
}

TEST_CASE("the written layout: sorted keys, 8-aligned data start, wide dtypes first") {
  const auto bytes = serialize_safetensors(sample_checkpoint());
  std::uint64_t header_length = 0;
  std::memcpy(&header_length, bytes.data(), 8);
  CHECK(header_length % 8 == 0);
  const std::string header(reinterpret_cast<const char*>(bytes.data()) + 8, header_length);
  const auto json = nlohmann::json::parse(header);
  CHECK(header.find("\"__metadata__\"") < header.find("\"empty\""));
  CHECK(header.find("\"empty\"") < header.find("\"fc.bias\""));
  CHECK(header.find("\"fc.weight\"") < header.find("\"step\""));
  // The 8-byte F64 tensor comes first in the data, so every tensor is aligned to its width.
  CHECK(json["wide"]["data_offsets"] == nlohmann::json::array({0, 8}));
  CHECK(json["fc.bias"]["data_offsets"] == nlohmann::json::array({8, 16}));
  CHECK(json["fc.weight"]["shape"] == nlohmann::json::array({2, 3}));
  CHECK(json["step"]["shape"] == nlohmann::json::array());
  CHECK(bytes.size() == 8 + header_length + 8 + 8 + 0 + 24 + 4);
}

TEST_CASE("saving over an existing file replaces it whole") {
  TempDir dir;
  const fs::path file = dir.path / "ckpt.safetensors";
  save_safetensors(file, sample_checkpoint());
  SafetensorsContent smaller;
  const std::vector<float> one{1.0f};
  smaller.tensors["only"] = StoredTensor::from_f32({1}, one);
  save_safetensors(file, smaller);
  CHECK(load_safetensors(file) == smaller);
  CHECK(dir.entries().size() == 1);
}

TEST_CASE("saving into a missing directory fails with the path and the reason") {
  TempDir dir;
  const fs::path file = dir.path / "no_such_dir" / "x.safetensors";
  CHECK_THROWS_WITH_AS(save_safetensors(file, sample_checkpoint()),
                       doctest::Contains("cannot create a temporary file next to it"), tspipe::Error);
  CHECK_THROWS_WITH_AS(load_safetensors(file), doctest::Contains("x.safetensors': cannot open"),
                       tspipe::Error);
}

TEST_CASE("F16, BF16, F64 and I64 tensors convert to float") {
  const std::string header =
      R"({"a":{"dtype":"F16","shape":[5],"data_offsets":[0,10]},)"
      R"("b":{"dtype":"BF16","shape":[2],"data_offsets":[10,14]},)"
      R"("c":{"dtype":"F64","shape":[1],"data_offsets":[14,22]},)"
      R"("d":{"dtype":"I64","shape":[1],"data_offsets":[22,30]}})";
  std::vector<std::byte> data = raw<std::uint16_t>({0x3c00, 0xc000, 0x0001, 0x7c00, 0x3555});
  for (auto b : raw<std::uint16_t>({0x3f80, 0xc0a0})) data.push_back(b);
  for (auto b : raw<double>({-2.5})) data.push_back(b);
  for (auto b : raw<std::int64_t>({-7})) data.push_back(b);
  const auto parsed = parse_safetensors(image(header, data), "mixed");
  const auto f16 = parsed.tensors.at("a").to_f32();
  CHECK(f16[0] == 1.0f);
  CHECK(f16[1] == -2.0f);
  CHECK(f16[2] == std::ldexp(1.0f, -24));  // smallest subnormal
  CHECK(std::isinf(f16[3]));
  CHECK(f16[4] == doctest::Approx(1.0 / 3).epsilon(1e-3));
  CHECK(parsed.tensors.at("b").to_f32() == std::vector<float>{1.0f, -5.0f});
  CHECK(parsed.tensors.at("c").to_f32() == std::vector<float>{-2.5f});
  CHECK(parsed.tensors.at("d").to_f32() == std::vector<float>{-7.0f});
}

TEST_CASE("malformed files are rejected with the file's name and the problem") {
  const auto f32x2 = raw<float>({1, 2});
  const auto tensor = [](const std::string& dtype, const std::string& shape, const std::string& offsets) {
    return R"({"dtype":")" + dtype + R"(","shape":)" + shape + R"(,"data_offsets":)" + offsets + "}";
  };

  SUBCASE("shorter than the length field") {
    CHECK(parse_error(raw<std::uint8_t>({1, 0, 0})) ==
          "safetensors 'ckpt.safetensors': file is 3 bytes, too short for the 8-byte header length");
  }
  SUBCASE("header length past the end of the file") {
    CHECK(parse_error(image("{}", {}, 1000)) ==
          "safetensors 'ckpt.safetensors': header length 1000 exceeds the 2 bytes that follow it "
          "(truncated file?)");
    CHECK(parse_error(image("{}", {}, ~std::uint64_t{0})).find("header length 18446744073709551615") !=
          std::string::npos);
  }
  SUBCASE("a truncated valid file") {
    auto bytes = serialize_safetensors(sample_checkpoint());
    bytes.resize(bytes.size() - 3);
    CHECK(parse_error(bytes).find("run past the") != std::string::npos);
  }
  SUBCASE("malformed JSON") {
    CHECK(parse_error(image(R"({"a":[1,)")).find("header is not valid JSON") != std::string::npos);
    CHECK(parse_error(image("[1, 2]")) ==
          "safetensors 'ckpt.safetensors': header is not a JSON object (it must start with '{')");
    CHECK(parse_error(image(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} trailing)", f32x2))
              .find("header is not valid JSON") != std::string::npos);
  }
  SUBCASE("unknown dtype") {
    CHECK(parse_error(image(R"({"x":)" + tensor("Q7", "[2]", "[0,8]") + "}", f32x2)) ==
          "safetensors 'ckpt.safetensors': tensor 'x' has unsupported dtype \"Q7\" "
          "(supported: F16, BF16, F32, F64, I64)");
  }
  SUBCASE("offsets past the data section") {
    CHECK(parse_error(image(R"({"x":)" + tensor("F32", "[3]", "[0,12]") + "}", f32x2)) ==
          "safetensors 'ckpt.safetensors': tensor 'x' data_offsets [0, 12] run past the 8-byte "
          "data section");
  }
  SUBCASE("offsets that disagree with shape × dtype") {
    CHECK(parse_error(image(R"({"x":)" + tensor("F64", "[2]", "[0,8]") + "}", f32x2)) ==
          "safetensors 'ckpt.safetensors': tensor 'x' data_offsets [0, 8] hold 8 bytes but shape "
          "[2] of F64 needs 16");
    CHECK(parse_error(image(R"({"x":)" + tensor("F32", "[2]", "[8,0]") + "}", f32x2)) ==
          "safetensors 'ckpt.safetensors': tensor 'x' has invalid data_offsets [8, 0]");
    CHECK(parse_error(image(R"({"x":)" + tensor("F64", "[4294967296,4294967296]", "[0,8]") + "}", f32x2))
              .find("overflows") != std::string::npos);
  }
  SUBCASE("overlapping tensors") {
    const auto data = raw<float>({1, 2, 3});
    CHECK(parse_error(image(R"({"x":)" + tensor("F32", "[2]", "[0,8]") + R"(,"y":)" +
                            tensor("F32", "[2]", "[4,12]") + "}", data)) ==
          "safetensors 'ckpt.safetensors': tensors 'x' and 'y' overlap in the data section");
  }
  SUBCASE("gaps and leftover bytes") {
    CHECK(parse_error(image(R"({"x":)" + tensor("F32", "[1]", "[4,8]") + "}", f32x2)) ==
          "safetensors 'ckpt.safetensors': data bytes [0, 4) belong to no tensor");
    CHECK(parse_error(image(R"({"x":)" + tensor("F32", "[1]", "[0,4]") + "}", f32x2)) ==
          "safetensors 'ckpt.safetensors': 4 bytes after the last tensor belong to no tensor");
  }
  SUBCASE("structurally wrong entries") {
    CHECK(parse_error(image(R"({"x":)" + tensor("F32", "[-2]", "[0,8]") + "}", f32x2)) ==
          "safetensors 'ckpt.safetensors': tensor 'x' has a shape entry that is not a non-negative "
          "integer: -2");
    CHECK(parse_error(image(R"({"x":)" + tensor("F32", "[2.0]", "[0,8]") + "}", f32x2))
              .find("not a non-negative integer: 2.0") != std::string::npos);
    CHECK(parse_error(image(R"({"x":{"dtype":"F32","shape":[2]}})", f32x2)) ==
          "safetensors 'ckpt.safetensors': tensor 'x' has no \"data_offsets\" pair");
    CHECK(parse_error(image(R"({"x":7})")) ==
          "safetensors 'ckpt.safetensors': tensor 'x' is not a JSON object");
    CHECK(parse_error(image(R"({"__metadata__":{"step":3}})")) ==
          "safetensors 'ckpt.safetensors': __metadata__ value of 'step' is not a string");
  }
  SUBCASE("one name twice") {
    const std::string x = tensor("F32", "[2]", "[0,8]");
    CHECK(parse_error(image(R"({"x":)" + x + R"(,"x":)" + x + "}", f32x2)) ==
          "safetensors 'ckpt.safetensors': header names 'x' twice");
  }
}

TEST_CASE("writing refuses tensors whose bytes do not match their shape") {
  SafetensorsContent c;
  c.tensors["bad"] = StoredTensor{Dtype::F32, {3}, raw<float>({1, 2})};
  CHECK_THROWS_WITH_AS(serialize_safetensors(c),
                       "safetensors: tensor 'bad' has 8 bytes, which does not match shape [3] of F32",
                       tspipe::Error);
  CHECK_THROWS_AS(StoredTensor::from_f32({2, 2}, std::vector<float>{1, 2, 3}), tspipe::Error);
}

TEST_CASE("the fuzz seed corpus: valid_* seeds load and round-trip, bad_* seeds are rejected") {
  const fs::path corpus = TSPIPE_SAFETENSORS_CORPUS;
  REQUIRE(fs::is_directory(corpus));
  int valid = 0, bad = 0;
  for (const auto& entry : fs::directory_iterator(corpus)) {
    const std::string name = entry.path().filename().string();
    INFO("seed " << name);
    if (name.starts_with("valid_")) {
      const auto content = load_safetensors(entry.path());
      CHECK(parse_safetensors(serialize_safetensors(content), name) == content);
      ++valid;
    } else if (name.starts_with("bad_")) {
      CHECK_THROWS_WITH_AS(load_safetensors(entry.path()), doctest::Contains(name.c_str()), tspipe::Error);
      ++bad;
    }
  }
  CHECK(valid >= 3);
  CHECK(bad >= 10);
}
