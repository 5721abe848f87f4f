#pragma once
// Running an example executable from a test: a scratch folder per test, the exit code, the log
// and summary.json, and the check every training test makes of it.
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

namespace tspipe::test {

namespace fs = std::filesystem;

inline fs::path scratch(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("tspipe_examples_" + std::to_string(::getpid())) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

/// Runs the command with stdout and stderr into `log`; returns its exit code.
inline int run(const std::string& command, const fs::path& log) {
  const int status = std::system((command + " > '" + log.string() + "' 2>&1").c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

inline std::string read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline nlohmann::json summary(const fs::path& out) { return nlohmann::json::parse(read(out / "summary.json")); }

/// `command` exits with `code` and its output names `named` (the flag, file or call at fault).
inline void check_refused(const std::string& command, const fs::path& log, int code, const std::string& named) {
  INFO(command);
  CHECK(run(command, log) == code);
  const std::string output = read(log);
  INFO(output);
  CHECK(output.find(named) != std::string::npos);
}

/// A phase's per-epoch history (summary.json) ends with a lower loss than it starts with.
inline void check_loss_lowers(const nlohmann::json& history) {
  REQUIRE(history.size() >= 2);
  const double first = history.front().at("loss").get<double>(), last = history.back().at("loss").get<double>();
  INFO("first epoch loss " << first << ", last " << last);
  CHECK(last < first);
}

/// A checkpoint as stored (the safetensors layout read here on its own, independently of the
/// library's reader): every tensor's dtype, shape and bytes by name, and the metadata.
struct StoredCheckpoint {
  std::map<std::string, std::string> tensors;
  std::map<std::string, std::string> metadata;
};

inline StoredCheckpoint read_checkpoint(const fs::path& path) {
  const std::string bytes = read(path);
  INFO(path.string());
  REQUIRE(bytes.size() >= 8);
  std::uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = header_size << 8 | static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)]);
  REQUIRE(8 + header_size <= bytes.size());
  const auto header = nlohmann::json::parse(bytes.substr(8, header_size));
  const std::string data = bytes.substr(8 + header_size);
  StoredCheckpoint out;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      for (const auto& [key, value] : entry.items()) out.metadata[key] = value.get<std::string>();
      continue;
    }
    const auto begin = entry.at("data_offsets").at(0).get<std::size_t>(), end = entry.at("data_offsets").at(1).get<std::size_t>();
    REQUIRE(end <= data.size());
    out.tensors[name] = entry.at("dtype").get<std::string>() + entry.at("shape").dump() + data.substr(begin, end - begin);
  }
  return out;
}

/// The examples' run state in a checkpoint's metadata (epochs done, their losses and accuracies).
inline nlohmann::json run_state(const fs::path& checkpoint) {
  return nlohmann::json::parse(read_checkpoint(checkpoint).metadata.at("example.state"));
}

/// Two checkpoints hold the same training state: every tensor bit for bit, and every metadata entry
/// but those that measure the process that wrote it (the epochs' wall-clock times; the profiled
/// cost model and the partition cut from it, where the library records them).
inline void check_same_training_state(const fs::path& a, const fs::path& b) {
  INFO(a.string() << " vs " << b.string());
  const StoredCheckpoint x = read_checkpoint(a), y = read_checkpoint(b);
  CHECK(x.tensors.size() == y.tensors.size());
  std::size_t differing = 0;
  for (const auto& [name, stored] : x.tensors) {
    const auto other = y.tensors.find(name);
    if (other == y.tensors.end() || other->second != stored) {
      if (differing++ < 5) MESSAGE("tensor " << name << (other == y.tensors.end() ? " missing" : " differs"));
    }
  }
  CHECK(differing == 0);
  // The checksums entry covers the measured entries too; the tensors it covers are compared above.
  const auto measured = [](const std::string& key) {
    return key == "example.timing" || key.rfind("costs.", 0) == 0 || key.rfind("partition.", 0) == 0 ||
           key == "tspipe.crc32";
  };
  CHECK(x.metadata.count("example.state") == 1);
  for (const auto& [key, value] : x.metadata) {
    if (measured(key)) continue;
    INFO("metadata " << key);
    CHECK(y.metadata.count(key) == 1);
    if (y.metadata.count(key)) CHECK(y.metadata.at(key) == value);
  }
  for (const auto& [key, value] : y.metadata) CHECK_MESSAGE(x.metadata.count(key) == 1, "metadata " << key << " only in " << b.string());
}

/// The example binary: `built` (its path in this build), or $TSPIPE_EXAMPLES_BIN/<its name> where
/// that is set (tests run on another machine than the one that built them, bench/gpu/check.sh).
inline std::string example(const std::string& built) {
  const char* dir = std::getenv("TSPIPE_EXAMPLES_BIN");
  return dir ? (fs::path(dir) / fs::path(built).filename()).string() : built;
}

/// " --data DIR" when $TSPIPE_FASHION_MNIST is set (else the examples' default, Debian's package).
inline std::string data_flag() {
  const char* dir = std::getenv("TSPIPE_FASHION_MNIST");
  return dir ? std::string(" --data ") + dir : std::string();
}

}  // namespace tspipe::test
