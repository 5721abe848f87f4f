#pragma once
// Running an example executable from a test: a scratch folder per test, the exit code, the log
// and summary.json, and the check every training test makes of it.
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
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
