#pragma once
// What the examples show and write: a progress bar, one line per epoch, the training curve as an
// SVG (loss and accuracy per epoch, one line per phase) and files written atomically and durably.
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tspipe::examples {

/// One finished epoch of one training phase ("teacher", "distilled", "byol", ...).
struct EpochRecord {
  std::string phase;
  int epoch = 0;               ///< 1-based
  double loss = 0.0;           ///< mean training loss over the epoch's batches
  double accuracy = -1.0;      ///< test accuracy in [0, 1] (classifier or linear probe); < 0: not measured
  double knn_accuracy = -1.0;  ///< kNN-monitor test accuracy in [0, 1]; < 0: not measured
  double examples_per_second = 0.0;
  double seconds = 0.0;        ///< training time of the epoch (evaluation excluded)
};

/// Every field; Error naming the field when one is not finite (JSON has no NaN or infinity).
nlohmann::json to_json(const EpochRecord& r);
/// Error naming the field that is missing, not a number or not finite.
EpochRecord epoch_record_from_json(const nlohmann::json& j);

/// "teacher  epoch 3/10  loss 0.4123  acc 88.21%  1234 ex/s  12.3 s"
std::string epoch_line(const EpochRecord& r, int epochs);

/// A labelled horizontal line of the accuracy panel (a value in [0, 1], e.g. a random-init baseline).
struct AccuracyReference {
  std::string label;
  double accuracy = 0.0;
};

/// Loss (left panel) and accuracy (right panel) per epoch, one polyline per phase; kNN-monitor
/// accuracies dashed in the phase's colour, references as grey dotted lines.
std::string curve_svg(const std::string& title, const std::vector<EpochRecord>& records,
                      const std::vector<AccuracyReference>& references = {});

/// Writes through a temporary file next to `path` (".<name>.tmp-XXXXXX"), flushed to disk, then
/// renamed over it and the directory flushed: a crash leaves the old file or the whole new one,
/// never half of one. Every step is checked (a full disk may show only at fsync or close); on
/// failure the temporary file is removed and Error names the file and the reason.
void write_file(const std::filesystem::path& path, const std::string& content);

/// Called after each file a run commits (write_file calls it; so does the checkpoint's writer).
/// Where TSPIPE_EXAMPLES_KILL_AFTER_WRITE=N is set, the N-th such file is the last: the process
/// kills itself (SIGKILL) right after it, as a crash there would — the tests' way to interrupt a
/// run at every point where its files change.
void file_written(const std::filesystem::path& path);

/// A one-line progress bar on stderr, redrawn in place when stderr is a terminal (otherwise it
/// stays quiet: logs get the per-epoch lines only).
class ProgressBar {
 public:
  ProgressBar(std::string label, long total, bool enabled);
  /// `mean_loss` NaN: not known here (an MPI rank that does not run the last stage).
  void update(long done, double mean_loss, double examples_per_second);
  void finish();

 private:
  std::string label_;
  long total_;
  bool enabled_;
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace tspipe::examples
