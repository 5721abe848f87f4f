// nn::save_weights / nn::load_weights: one model's block list as a PyTorch-style state dict in
// safetensors (plain F32 tensors named by parameter and buffer names), read back exactly, and
// refused by name — with both shapes — when a tensor is transposed, missing, extra or of another
// dtype, leaving the model unchanged. Where python3 has torch and safetensors, PyTorch reads the
// file too; otherwise the format is checked from the header JSON.
#include <tspipe/cpu/backend.hpp>
#include <tspipe/nn/weights.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <unistd.h>
#include <vector>

using B = tspipe::cpu::Backend;
using tspipe::nn::SafetensorsContent;
using tspipe::nn::StoredTensor;
namespace fs = std::filesystem;

namespace {

using Blocks = std::vector<tspipe::nn::LayerPtr<B>>;
using Values = std::map<std::string, std::vector<float>>;

/// Linear(6→10) + BatchNorm + ReLU, then Linear(10→4): parameters and buffers, dotted names.
Blocks model(uint64_t seed) {
  Blocks blocks;
  auto first = std::make_unique<tspipe::nn::Sequential<B>>();
  first->add("fc0", B::linear(6, 10, true, seed, "fc0"));
  first->add("bn0", B::batch_norm1d(10, "bn0"));
  first->add("act0", B::relu());
  blocks.push_back(std::move(first));
  blocks.push_back(tspipe::nn::named<B>("fc1", B::linear(10, 4, true, seed + 1, "fc1")));
  // Running statistics that differ between seeds, so that a load visibly moves them.
  for (auto& block : blocks)
    for (auto& b : block->buffers())
      for (float& v : b.value->span()) v = static_cast<float>(seed) + 0.25f;
  return blocks;
}

/// Every parameter and buffer by name, with its shape.
Values values_of(Blocks& blocks, std::map<std::string, tspipe::nn::Shape>* shapes = nullptr) {
  Values out;
  const auto add = [&](const std::string& name, const tspipe::nn::Tensor& t) {
    out[name] = std::vector<float>(t.span().begin(), t.span().end());
    if (shapes) (*shapes)[name] = t.shape();
  };
  for (auto& block : blocks) {
    for (auto& p : block->parameters()) add(p.name, *p.value);
    for (auto& b : block->buffers()) add(b.name, *b.value);
  }
  return out;
}

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("tspipe_weights_" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
};

std::string refusal(Blocks& blocks, const fs::path& path, const tspipe::nn::WeightsOptions& options = {}) {
  try {
    tspipe::nn::load_weights(blocks, path, options);
  } catch (const tspipe::Error& e) {
    return e.what();
  }
  return "(loaded without error)";
}

}  // namespace

TEST_CASE("save_weights then load_weights gives back every parameter and buffer exactly") {
  TempDir dir;
  Blocks saved = model(1), other = model(7);
  REQUIRE(values_of(saved) != values_of(other));
  tspipe::nn::save_weights(saved, dir.path / "w.safetensors");
  tspipe::nn::load_weights(other, dir.path / "w.safetensors");
  CHECK(values_of(other) == values_of(saved));
  CHECK(values_of(other).count("bn0.running_mean") == 1);
}

TEST_CASE("the file is a PyTorch state dict in safetensors: F32 tensors named and shaped as the model's, metadata format pt") {
  TempDir dir;
  Blocks blocks = model(3);
  const fs::path path = dir.path / "state_dict.safetensors";
  tspipe::nn::save_weights(blocks, path);
  std::map<std::string, tspipe::nn::Shape> shapes;
  const Values values = values_of(blocks, &shapes);

  // Read the file by hand: 8-byte little-endian header length, the header JSON, the data.
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(bytes.size() > 8);
  std::uint64_t header_length = 0;
  std::memcpy(&header_length, bytes.data(), 8);
  REQUIRE(8 + header_length <= bytes.size());
  const auto header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(header_length));
  const char* data = bytes.data() + 8 + header_length;
  // PyTorch's reader needs format = pt; the checksums ride along as one more string entry.
  CHECK(header.at("__metadata__").size() == 2);
  CHECK(header.at("__metadata__").at("format") == "pt");
  CHECK(header.at("__metadata__").contains("tspipe.crc32"));
  std::size_t tensors = 0;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") continue;
    ++tensors;
    INFO(name);
    REQUIRE(values.count(name) == 1);
    CHECK(entry.at("dtype") == "F32");
    CHECK(entry.at("shape").get<std::vector<int64_t>>() == shapes.at(name));
    const auto begin = entry.at("data_offsets")[0].get<std::size_t>(), end = entry.at("data_offsets")[1].get<std::size_t>();
    REQUIRE(end - begin == 4 * values.at(name).size());
    std::vector<float> stored(values.at(name).size());
    std::memcpy(stored.data(), data + begin, end - begin);
    CHECK(stored == values.at(name));
  }
  CHECK(tensors == values.size());

  // PyTorch itself, where installed: safetensors.torch.load_file gives the same names, shapes and sums.
  const std::string python = TSPIPE_PYTHON;
  if (std::system((python + " -c 'import torch, safetensors.torch' > /dev/null 2>&1").c_str()) != 0) {
    MESSAGE("skipped the PyTorch read-back: python3 with torch and safetensors is not installed (the header was checked above)");
    return;
  }
  const fs::path report = dir.path / "torch.json";
  const std::string script = "import json, sys, safetensors.torch as st; d = st.load_file(sys.argv[1]); "
                             "json.dump({k: [list(v.shape), str(v.dtype), float(v.double().sum())] for k, v in d.items()}, "
                             "open(sys.argv[2], 'w'))";
  REQUIRE(std::system((python + " -c \"" + script + "\" " + path.string() + " " + report.string()).c_str()) == 0);
  const auto torch = nlohmann::json::parse(std::ifstream(report));
  CHECK(torch.size() == values.size());
  for (const auto& [name, v] : values) {
    INFO(name);
    double sum = 0.0;
    for (float x : v) sum += x;
    CHECK(torch.at(name)[0].get<std::vector<int64_t>>() == shapes.at(name));
    CHECK(torch.at(name)[1] == "torch.float32");
    CHECK(torch.at(name)[2].get<double>() == doctest::Approx(sum).epsilon(1e-6));
  }
}

TEST_CASE("a transposed tensor is refused by name with both shapes; the model is unchanged") {
  TempDir dir;
  Blocks source = model(1), target = model(7);
  tspipe::nn::save_weights(source, dir.path / "w.safetensors");
  SafetensorsContent content = tspipe::nn::load_safetensors(dir.path / "w.safetensors");
  StoredTensor& weight = content.tensors.at("fc0.weight");
  REQUIRE(weight.shape == std::vector<std::uint64_t>{10, 6});
  const std::vector<float> values = weight.to_f32();
  std::vector<float> transposed(values.size());
  for (std::size_t i = 0; i < 10; ++i)
    for (std::size_t j = 0; j < 6; ++j) transposed[j * 10 + i] = values[i * 6 + j];
  weight = StoredTensor::from_f32({6, 10}, transposed);
  tspipe::nn::save_safetensors(dir.path / "t.safetensors", content);
  const Values before = values_of(target);
  const std::string message = refusal(target, dir.path / "t.safetensors");
  CHECK(message.find("t.safetensors") != std::string::npos);
  CHECK(message.find("1 tensor does not fit: 'fc0.weight': the file has F32 [6, 10], the model F32 [10, 6]") != std::string::npos);
  CHECK(values_of(target) == before);
}

TEST_CASE("missing, extra and wrong-dtype tensors are listed in one error; allow_unused and prefixes select what is read") {
  TempDir dir;
  Blocks source = model(1), target = model(7);
  tspipe::nn::save_weights(source, dir.path / "w.safetensors");
  SafetensorsContent content = tspipe::nn::load_safetensors(dir.path / "w.safetensors");
  content.tensors.erase("fc1.bias");
  content.tensors["fc0.bn0.num_batches_tracked"] = StoredTensor::from_f32({}, std::vector<float>{3.0f});
  StoredTensor half = content.tensors.at("fc1.weight");
  half.dtype = tspipe::nn::Dtype::F16;
  half.data.resize(half.data.size() / 2);
  content.tensors["fc1.weight"] = half;
  tspipe::nn::save_safetensors(dir.path / "bad.safetensors", content);
  const Values before = values_of(target);
  const std::string message = refusal(target, dir.path / "bad.safetensors");
  INFO(message);
  CHECK(message.find("3 tensors do not fit") != std::string::npos);
  CHECK(message.find("'fc1.bias': missing from the file (the model has F32 [4])") != std::string::npos);
  CHECK(message.find("'fc1.weight': the file has F16 [4, 10], the model F32 [4, 10]") != std::string::npos);
  CHECK(message.find("'fc0.bn0.num_batches_tracked': the file has F32 [] but the model has no such tensor") != std::string::npos);
  CHECK(values_of(target) == before);

  // A tensor PyTorch keeps and tspipe does not is skipped on request; the rest must still fit.
  SafetensorsContent extra = tspipe::nn::load_safetensors(dir.path / "w.safetensors");
  extra.tensors["fc0.bn0.num_batches_tracked"] = StoredTensor::from_f32({}, std::vector<float>{3.0f});
  tspipe::nn::save_safetensors(dir.path / "extra.safetensors", extra);
  CHECK(refusal(target, dir.path / "extra.safetensors").find("num_batches_tracked") != std::string::npos);
  CHECK(refusal(target, dir.path / "extra.safetensors", {.allow_unused = true}) == "(loaded without error)");
  CHECK(values_of(target) == values_of(source));

  // Under a prefix: the model's names with it; what lies outside it is not this model's business.
  Blocks prefixed = model(11);
  tspipe::nn::save_weights(prefixed, dir.path / "p.safetensors", {.prefix = "teacher."});
  SafetensorsContent with_more = tspipe::nn::load_safetensors(dir.path / "p.safetensors");
  with_more.tensors["student.fc0.weight"] = StoredTensor::from_f32({1}, std::vector<float>{1.0f});
  tspipe::nn::save_safetensors(dir.path / "p.safetensors", with_more);
  tspipe::nn::load_weights(target, dir.path / "p.safetensors", {.prefix = "teacher."});
  CHECK(values_of(target) == values_of(prefixed));
  CHECK(refusal(target, dir.path / "p.safetensors").find("'fc0.weight': missing from the file") != std::string::npos);
}

TEST_CASE("a model with two tensors of one name cannot be saved; a missing file is named") {
  TempDir dir;
  Blocks twice;
  twice.push_back(tspipe::nn::named<B>("fc", B::linear(2, 2, true, 1, "fc")));
  twice.push_back(tspipe::nn::named<B>("fc", B::linear(2, 2, true, 2, "fc")));
  CHECK_THROWS_WITH_AS(tspipe::nn::save_weights(twice, dir.path / "x.safetensors"), doctest::Contains("two tensors of the model are named 'fc.weight'"),
                       tspipe::Error);
  Blocks blocks = model(1);
  CHECK(refusal(blocks, dir.path / "absent.safetensors").find("absent.safetensors") != std::string::npos);
}
