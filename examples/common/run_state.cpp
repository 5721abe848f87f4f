#include "run_state.hpp"

#include <tspipe/error.hpp>
#include <tspipe/nn/safetensors.hpp>

#include <cmath>
#include <cstdio>
#include <regex>
#include <system_error>

namespace tspipe::examples {

namespace fs = std::filesystem;

namespace {

constexpr const char* kStateKey = "example.state";
constexpr const char* kFlagsKey = "example.flags";
constexpr const char* kTimingKey = "example.timing";

/// The files of a run the examples write, in --out and in each phase's subdirectory.
const char* const kRunFiles[] = {"summary.json", "curve.svg"};
const char* const kPhaseFiles[] = {"checkpoint.safetensors", "state.json", "trace.json", "timeline.svg"};

/// Throws Error naming the first number in `j` (a path like history[2].loss) that is not finite.
void check_finite(const nlohmann::json& j, const std::string& where) {
  if (j.is_number_float() && !std::isfinite(j.get<double>())) throw Error(where + " is not a finite number");
  if (j.is_object())
    for (const auto& [key, value] : j.items()) check_finite(value, where + "." + key);
  if (j.is_array())
    for (std::size_t i = 0; i < j.size(); ++i) check_finite(j[i], where + "[" + std::to_string(i) + "]");
}

/// What a temporary file of an interrupted write is called: write_file's and the checkpoint
/// writer's ".<name>.tmp-XXXXXX", and the "<name>.tmp" of the examples' earlier versions.
bool is_stale_temporary(const fs::path& file) {
  static const std::regex pattern(R"(\..+\.tmp-[A-Za-z0-9]{6}|(summary\.json|curve\.svg|state\.json|trace\.json|timeline\.svg)\.tmp)");
  return std::regex_match(file.filename().string(), pattern);
}

void remove_stale_temporaries(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (!entry.is_regular_file(ec) || !is_stale_temporary(entry.path())) continue;
    if (fs::remove(entry.path(), ec))
      std::printf("removed %s (left by an interrupted write)\n", entry.path().string().c_str());
    else
      throw Error(entry.path().string() + ": cannot remove this stale temporary file: " + ec.message());
  }
}

void remove_file(const fs::path& path) {
  std::error_code ec;
  fs::remove(path, ec);
  if (ec) throw Error(path.string() + ": cannot remove it (--overwrite): " + ec.message());
}

}  // namespace

nlohmann::json run_defining_flags(const CommonOptions& o, int phase_epochs) {
  return {{"seed", o.seed},           {"batch-size", o.batch_size},   {"epochs", phase_epochs},
          {"lr", o.learning_rate},    {"weight-decay", o.weight_decay}, {"lr-warmup-epochs", o.lr_warmup_epochs},
          {"dataset", o.dataset},     {"image-size", image_geometry(o).side},
          {"train-subset", o.train_subset}, {"width", o.width},       {"stages", o.stages},
          {"micro-batches", o.micro_batches}, {"schedule", o.schedule}, {"chunks", o.chunks},
          {"chunk-placement", o.chunk_placement}, {"staleness", o.staleness},
          {"warmup", o.warmup}};
}

void put_phase_state(const PhaseState& state, const nlohmann::json& flags, std::map<std::string, std::string>& metadata) {
  nlohmann::json records = nlohmann::json::array(), timing = nlohmann::json::array();
  for (const EpochRecord& r : state.history) {
    nlohmann::json record = to_json(r), clock = nlohmann::json::object();
    for (const char* measured : {"seconds", "examples_per_second"}) {
      clock[measured] = record.at(measured);
      record.erase(measured);
    }
    record.erase("phase");  // the state's own
    records.push_back(std::move(record));
    timing.push_back(std::move(clock));
  }
  check_finite(flags, "the run's flags");
  metadata[kStateKey] = nlohmann::json{{"phase", state.phase},
                                       {"epochs_done", state.epochs_done},
                                       {"batches_per_epoch", state.batches_per_epoch},
                                       {"history", records}}
                            .dump();
  metadata[kFlagsKey] = flags.dump();
  metadata[kTimingKey] = timing.dump();
}

PhaseState read_phase_state(const fs::path& checkpoint, const std::string& phase, const nlohmann::json& flags) {
  const nn::SafetensorsContent content = nn::load_safetensors(checkpoint, nn::Checksums::required);
  const std::string where = checkpoint.string() + ": ";
  const auto json_of = [&](const char* key) {
    const auto it = content.metadata.find(key);
    if (it == content.metadata.end())
      throw Error(where + "metadata '" + key + "' is missing (not written by these examples, or by an older version: start over with --overwrite)");
    try {
      return nlohmann::json::parse(it->second);
    } catch (const nlohmann::json::exception& e) {
      throw Error(where + "metadata '" + key + "' is not JSON: " + e.what());
    }
  };
  const nlohmann::json state = json_of(kStateKey), saved_flags = json_of(kFlagsKey), timing = json_of(kTimingKey);
  const auto count = [&](const char* name) {
    if (!state.is_object() || !state.contains(name) || !state.at(name).is_number_integer() || state.at(name).get<long>() < 0)
      throw Error(where + "metadata '" + kStateKey + "': '" + name + "' is missing or not a whole number ≥ 0");
    return state.at(name).get<long>();
  };
  PhaseState out;
  out.phase = state.value("phase", std::string());
  if (out.phase != phase) throw Error(where + "holds phase '" + out.phase + "', not '" + phase + "'");
  out.epochs_done = static_cast<int>(count("epochs_done"));
  out.batches_per_epoch = count("batches_per_epoch");
  const nlohmann::json& records = state.contains("history") ? state.at("history") : nlohmann::json();
  if (!records.is_array() || !timing.is_array() || records.size() != static_cast<std::size_t>(out.epochs_done) ||
      timing.size() != records.size())
    throw Error(where + "metadata holds " + std::to_string(records.size()) + " epoch records and " + std::to_string(timing.size()) +
                " timings for " + std::to_string(out.epochs_done) + " epochs done");
  for (std::size_t i = 0; i < records.size(); ++i) {
    nlohmann::json record = records[i];
    if (!record.is_object() || !timing[i].is_object()) throw Error(where + "epoch record " + std::to_string(i + 1) + " is not an object");
    record.update(timing[i]);
    record["phase"] = phase;
    try {
      out.history.push_back(epoch_record_from_json(record));
    } catch (const Error& e) {
      throw Error(where + e.what());
    }
  }
  if (!saved_flags.is_object()) throw Error(where + "metadata '" + kFlagsKey + "' is not an object");
  for (const auto& [name, value] : flags.items()) {
    const auto saved = saved_flags.find(name);
    if (saved == saved_flags.end() || *saved != value)
      throw UsageError("--" + name + " " + value.dump() + ": " + checkpoint.string() + " was trained with " +
                       (saved == saved_flags.end() ? std::string("no such flag") : saved->dump()) +
                       "; resume with the flags of that run, or start over with --overwrite");
  }
  return out;
}

void prepare_out_dir(const CommonOptions& o, const std::vector<std::string>& phases) {
  const fs::path out(o.out);
  std::error_code ec;
  if (fs::exists(out, ec) && !fs::is_directory(out, ec)) throw UsageError("--out " + o.out + ": exists and is not a directory");
  fs::create_directories(out, ec);
  if (ec) throw Error("--out " + o.out + ": cannot create the directory: " + ec.message());
  remove_stale_temporaries(out);
  for (const std::string& phase : phases) remove_stale_temporaries(out / phase);

  fs::path previous;
  if (fs::exists(out / "summary.json")) previous = out / "summary.json";
  for (const std::string& phase : phases)
    for (const char* name : {"checkpoint.safetensors", "state.json"})
      if (previous.empty() && fs::exists(out / phase / name)) previous = out / phase / name;
  if (previous.empty() || o.resume) return;
  if (!o.overwrite)
    throw UsageError("--out " + o.out + ": holds a previous run (" + previous.string() +
                     "); continue it with --resume, or replace it with --overwrite");
  for (const char* name : kRunFiles) remove_file(out / name);
  for (const std::string& phase : phases) {
    for (const char* name : kPhaseFiles) remove_file(out / phase / name);
    fs::remove(out / phase, ec);  // only when empty: other files there are not the examples'
  }
  std::printf("--overwrite: removed the previous run's outputs from %s\n", o.out.c_str());
}

}  // namespace tspipe::examples
