// The examples' own code below the executables: the run state a checkpoint's metadata carries
// (numbers back exactly, non-finite ones refused by name, another run's flags refused), the model
// sizes counted before building (against the models built), and the flag parser's refusals.
#include "cli.hpp"
#include "model_size.hpp"
#include "run_state.hpp"
#include "training.hpp"

#include <tspipe/nn/models/heads.hpp>
#include <tspipe/nn/models/vit.hpp>
#include <tspipe/nn/safetensors.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <csignal>
#include <cstring>
#include <fstream>
#include <iterator>
#include <filesystem>
#include <limits>
#include <sys/resource.h>
#include <unistd.h>

namespace {

namespace fs = std::filesystem;
using namespace tspipe;
using namespace tspipe::examples;
using B = cpu::Backend;

fs::path scratch_file(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("tspipe_run_state_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir / name;
}

/// A checkpoint file holding `metadata` (and one tensor, as every checkpoint has some).
fs::path checkpoint_with(const std::map<std::string, std::string>& metadata, const std::string& name) {
  nn::SafetensorsContent content;
  content.metadata = metadata;
  const std::vector<float> values{1.0f};
  content.tensors["student.w"] = nn::StoredTensor::from_f32({1}, values);
  const fs::path path = scratch_file(name);
  nn::save_safetensors(path, content);
  return path;
}

PhaseState sample_state() {
  PhaseState s{"byol", 2, 17, {}};
  // Doubles with no short decimal form: they must come back bit for bit.
  s.history.push_back({.phase = "byol", .epoch = 1, .loss = 1.0 / 3.0, .accuracy = 0.1 + 0.2,
                       .examples_per_second = 1234.5678901234567, .seconds = 0.1234567890123456789});
  s.history.push_back({.phase = "byol", .epoch = 2, .loss = std::nextafter(0.5, 1.0), .accuracy = 0.7,
                       .knn_accuracy = 0.1 + 0.7,  // measured in some epochs only
                       .examples_per_second = 1e-300, .seconds = 3.0e10});
  return s;
}

CommonOptions sample_options() {
  CommonOptions o;
  o.learning_rate = 0.012345678901234567;  // more digits than std::to_string keeps
  o.weight_decay = 1.0 / 7.0;
  return o;
}

template <class Blocks>
double parameter_count(Blocks& blocks) {
  double n = 0;
  for (auto& block : blocks)
    for (auto& p : block->parameters()) n += static_cast<double>(p.value->numel());
  return n;
}

}  // namespace

TEST_CASE("the run state in a checkpoint's metadata reads back exactly") {
  const PhaseState state = sample_state();
  const CommonOptions o = sample_options();
  const nlohmann::json flags = run_defining_flags(o, 2);
  std::map<std::string, std::string> metadata;
  put_phase_state(state, flags, metadata);
  const PhaseState back = read_phase_state(checkpoint_with(metadata, "exact.safetensors"), "byol", flags);
  CHECK(back.phase == "byol");
  CHECK(back.epochs_done == 2);
  CHECK(back.batches_per_epoch == 17);
  REQUIRE(back.history.size() == 2);
  for (std::size_t i = 0; i < 2; ++i) {
    CAPTURE(i);
    const EpochRecord &a = state.history[i], &b = back.history[i];
    CHECK(std::memcmp(&a.loss, &b.loss, sizeof(double)) == 0);
    CHECK(std::memcmp(&a.accuracy, &b.accuracy, sizeof(double)) == 0);
    CHECK(std::memcmp(&a.seconds, &b.seconds, sizeof(double)) == 0);
    CHECK(std::memcmp(&a.examples_per_second, &b.examples_per_second, sizeof(double)) == 0);
    CHECK(std::memcmp(&a.knn_accuracy, &b.knn_accuracy, sizeof(double)) == 0);
    CHECK(b.epoch == a.epoch);
    CHECK(b.phase == "byol");
  }
  // The learning rate among the flags compares equal after the round trip (else no resume would).
  CHECK(nlohmann::json::parse(metadata.at("example.flags")).at("lr").get<double>() == o.learning_rate);
}

TEST_CASE("non-finite numbers are refused by name, writing and reading") {
  PhaseState state = sample_state();
  state.history[1].loss = std::numeric_limits<double>::quiet_NaN();
  std::map<std::string, std::string> metadata;
  try {
    put_phase_state(state, run_defining_flags(sample_options(), 2), metadata);
    FAIL("a NaN loss was written");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("epoch 2: loss is nan") != std::string::npos);
  }
  CommonOptions o = sample_options();
  o.learning_rate = std::numeric_limits<double>::infinity();
  CHECK_THROWS_WITH_AS(put_phase_state(sample_state(), run_defining_flags(o, 2), metadata), doctest::Contains("lr is not a finite number"),
                       Error);

  // Read: a loss written as null (JSON's NaN), and one that overflows to infinity.
  std::map<std::string, std::string> good;
  const nlohmann::json flags = run_defining_flags(sample_options(), 2);
  put_phase_state(sample_state(), flags, good);
  for (const auto& [bad, named] : {std::pair{"null", "epoch record 1: 'loss' is null"}, std::pair{"1e999", "number overflow parsing '1e999'"}}) {
    CAPTURE(bad);
    auto j = nlohmann::json::parse(good.at("example.state"));
    std::string text = j.dump();
    const std::string loss = "\"loss\":" + j["history"][0]["loss"].dump();
    text.replace(text.find(loss), loss.size(), std::string("\"loss\":") + bad);
    auto metadata_bad = good;
    metadata_bad["example.state"] = text;
    CHECK_THROWS_WITH_AS(read_phase_state(checkpoint_with(metadata_bad, "bad_number.safetensors"), "byol", flags),
                         doctest::Contains(named), Error);
  }
}

TEST_CASE("a checkpoint of another run, or without a run state, is refused by name") {
  std::map<std::string, std::string> metadata;
  const nlohmann::json flags = run_defining_flags(sample_options(), 2);
  put_phase_state(sample_state(), flags, metadata);
  const fs::path path = checkpoint_with(metadata, "other_run.safetensors");
  CommonOptions other = sample_options();
  other.learning_rate = 0.1;
  CHECK_THROWS_WITH_AS(read_phase_state(path, "byol", run_defining_flags(other, 2)), doctest::Contains("--lr 0.1"), UsageError);
  CHECK_THROWS_WITH_AS(read_phase_state(path, "byol", run_defining_flags(sample_options(), 3)), doctest::Contains("--epochs 3"), UsageError);
  // Virtual stages cut the model into other parts and run another schedule: a resume keeps them.
  CommonOptions chunked = sample_options();
  chunked.chunks = 2;
  CHECK_THROWS_WITH_AS(read_phase_state(path, "byol", run_defining_flags(chunked, 2)), doctest::Contains("--chunks 2: "), UsageError);
  chunked.chunk_placement = "v-shape";
  CHECK_THROWS_WITH_AS(read_phase_state(path, "byol", run_defining_flags(chunked, 2)),
                       doctest::Contains("--chunk-placement \"v-shape\": "), UsageError);
  CHECK_THROWS_WITH_AS(read_phase_state(path, "mocov3", flags), doctest::Contains("holds phase 'byol'"), Error);
  metadata.erase("example.state");
  CHECK_THROWS_WITH_AS(read_phase_state(checkpoint_with(metadata, "no_state.safetensors"), "byol", flags),
                       doctest::Contains("metadata 'example.state' is missing"), Error);
}

TEST_CASE("model sizes are counted before building, as the builders build them") {
  // Fashion-MNIST's grey 28×28, CIFAR's colour 32×32 (small-image stem), STL-10's 96×96 (ImageNet's).
  for (const ImageGeometry g : {ImageGeometry{1, 28, 10}, ImageGeometry{3, 32, 100}, ImageGeometry{3, 96, 10}})
    for (const auto& [depth, width] : {std::pair{18, 0.25}, std::pair{50, 0.125}, std::pair{14, 0.5}, std::pair{8, 0.125}}) {
      CAPTURE(depth);
      CAPTURE(g.side);
      for (int64_t classes : {int64_t{0}, int64_t{g.classes}}) {
        auto blocks = image_resnet<B>(g, depth, width, classes, 1);
        CHECK(resnet_parameters(g, depth, width, classes) == parameter_count(blocks));
      }
    }
  nn::models::ViTConfig c;
  c.image_size = 28;
  c.patch = 7;
  c.in_channels = 1;
  c.dim = 48;
  c.depth = 3;
  c.heads = 4;
  auto vit = nn::models::vit<B>(c);
  CHECK(vit_parameters(48, 3, 7, 28, 1) == parameter_count(vit));
  for (int layers : {2, 3})
    for (bool final_batch_norm : {false, true}) {
      std::vector<nn::LayerPtr<B>> head;
      head.push_back(nn::models::mlp_head<B>({.name = "projector", .in_features = 48, .hidden_features = 64, .out_features = 16,
                                              .layers = layers, .seed = 3, .output_batch_norm = final_batch_norm}));
      CHECK(mlp_head_parameters(48, 64, 16, layers) == parameter_count(head));
    }
}

TEST_CASE("a model over --max-parameters is refused naming the flags and the limit, before anything is allocated") {
  CommonOptions o;
  CHECK_NOTHROW(check_model_size("--teacher-width 0.25", "the teacher", resnet_parameters(ImageGeometry{}, 18, 0.25, 10), o));
  CHECK_THROWS_WITH_AS(check_model_size("--teacher-width 50", "the teacher", resnet_parameters(ImageGeometry{}, 18, 50, 10), o),
                       doctest::Contains("--teacher-width 50: the teacher would hold 2.79e+10 parameters"), UsageError);
  CHECK_THROWS_WITH_AS(check_model_size("--teacher-depth 2000000000", "the teacher", resnet_parameters(ImageGeometry{}, 2000000000, 0.25, 10), o),
                       doctest::Contains("raise --max-parameters"), UsageError);
  o.max_parameters = 1e12;
  CHECK_NOTHROW(check_model_size("--teacher-width 50", "the teacher", resnet_parameters(ImageGeometry{}, 18, 50, 10), o));
}

TEST_CASE("write_file reports a write the file system refuses, and leaves the old file whole") {
  const fs::path path = scratch_file("summary.json");
  write_file(path, "old");
  // A file-size limit refuses the write the way a full disk does (EFBIG instead of ENOSPC).
  struct rlimit saved {};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
  const auto previous_handler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = saved;
  small.rlim_cur = 4096;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
  std::string message;
  try {
    write_file(path, std::string(100000, 'x'));
  } catch (const Error& e) {
    message = e.what();
  }
  ::setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, previous_handler);
  CHECK(message == path.string() + ": cannot write: File too large");
  std::ifstream in(path);
  CHECK(std::string(std::istreambuf_iterator<char>(in), {}) == "old");
  for (const auto& entry : fs::directory_iterator(path.parent_path()))
    CHECK_MESSAGE(entry.path().filename().string().find(".tmp-") == std::string::npos, entry.path().string());
}

TEST_CASE("a flag given twice is refused naming it and both values") {
  int epochs = 0;
  bool resume = false;
  Flags flags("x", "test");
  flags.add("epochs", &epochs, "");
  flags.add_switch("resume", &resume, "");
  const auto parse = [&](std::vector<std::string> args) {
    std::vector<char*> argv{const_cast<char*>("x")};
    for (auto& a : args) argv.push_back(a.data());
    return flags.parse(static_cast<int>(argv.size()), argv.data());
  };
  CHECK_THROWS_WITH_AS(parse({"--epochs", "2", "--epochs=3"}), "--epochs given twice ('2', then '3'): give it once", UsageError);
  CHECK_THROWS_WITH_AS(parse({"--resume", "--resume"}), "--resume given twice: give it once", UsageError);
  CHECK(parse({"--epochs", "4", "--resume"}));
  CHECK(epochs == 4);
}
