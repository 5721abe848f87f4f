#pragma once
// A phase's resumable state is its checkpoint alone, one file committed by one atomic rename:
// beyond the pipeline's own state (weights, teacher versions, optimizer, step), its metadata holds
// the epochs done, their records and the flags that define the run, so no kill can leave the
// epoch count and the weights out of step (docs/user-guide.md B.4). Numbers are written in JSON's
// round-trip form (a resumed run compares and continues from exactly what was saved); a number
// that is not finite is refused by name, on writing and on reading.
//
// Also what a run does to --out before it writes anything (prepare_out_dir).
#include "cli.hpp"
#include "report.hpp"

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tspipe::examples {

/// Where a phase stands after its last finished epoch.
struct PhaseState {
  std::string phase;
  int epochs_done = 0;
  long batches_per_epoch = 0;
  std::vector<EpochRecord> history;  ///< one per epoch done
};

/// The flags that decide what a phase computes (seed, dataset and image size, subset, batch,
/// learning-rate schedule, model width, pipeline shape with its chunks), with the phase's own epoch count: a resume
/// under other values would not continue the same run.
nlohmann::json run_defining_flags(const CommonOptions& options, int phase_epochs);

/// Adds `state` and `flags` to checkpoint metadata ("example.state", "example.flags", and the
/// epochs' wall-clock figures apart in "example.timing": they differ from run to run, the rest
/// does not). Throws Error naming any number that is not finite.
void put_phase_state(const PhaseState& state, const nlohmann::json& flags, std::map<std::string, std::string>& metadata);

/// The state in a checkpoint written with put_phase_state. Throws Error naming the file and the
/// key that is missing or malformed, and UsageError naming the flag when `flags` (this run's)
/// differ from the ones saved.
PhaseState read_phase_state(const std::filesystem::path& checkpoint, const std::string& phase, const nlohmann::json& flags);

/// Prepares --out for a run that writes the subdirectories `phases`:
///   * removes the temporary files an interrupted write left there (".<name>.tmp-XXXXXX");
///   * a previous run there (summary.json, or a phase's checkpoint) is refused with UsageError
///     unless --resume (continue it) or --overwrite (its outputs are removed first) is given.
/// Only the files the examples write are touched.
void prepare_out_dir(const CommonOptions& options, const std::vector<std::string>& phases);

}  // namespace tspipe::examples
