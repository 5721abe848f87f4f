#pragma once
// Command-line flags shared by the examples: a small declarative parser (each flag writes into a
// variable the example owns) and the flags every example has (docs/design.md).
//
// Exit codes of every example: 0 ok, 1 runtime failure, 2 bad command-line input. A UsageError's
// message names the flag and the value it rejects.
#include <tspipe/schedule/workload.hpp>

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace tspipe::examples {

/// Bad command-line input (exit code 2).
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Flags {
 public:
  Flags(std::string program, std::string summary) : program_(std::move(program)), summary_(std::move(summary)) {}

  void add(const std::string& name, std::string* value, const std::string& help);
  void add(const std::string& name, int* value, const std::string& help);
  void add(const std::string& name, double* value, const std::string& help);
  /// A switch: present = true (takes no value).
  void add_switch(const std::string& name, bool* value, const std::string& help);

  /// Parses `--name value`, `--name=value` and switches. Returns false after printing the usage
  /// when --help was given. Throws UsageError for an unknown flag, a value that does not parse, or
  /// a flag given twice (which of two values was meant is the user's to say, not the parser's).
  bool parse(int argc, char** argv);
  std::string usage() const;

 private:
  struct Flag {
    std::string name, help, default_text;
    bool is_switch = false;
    std::function<void(const std::string&)> set;
  };
  const Flag* find(const std::string& name) const;

  std::string program_, summary_;
  std::vector<Flag> flags_;
};

/// The flags every example has. Each example sets its own defaults before add_common_flags.
struct CommonOptions {
  std::string backend = "auto";  ///< cpu | cuda | auto
  int stages = 2;
  int micro_batches = 4;
  std::string schedule = "tspipe";
  int chunks = 1;                ///< v: model chunks per device (virtual stages, docs/design.md §2.9)
  std::string chunk_placement = "interleaved";  ///< interleaved | v-shape: where a device's chunks sit
  int staleness = 1;             ///< δ of a momentum teacher
  int warmup = 0;                ///< K: the first K batches read the exact teacher (δ = 0)
  int epochs = 2;
  int batch_size = 64;
  double learning_rate = 0.05;
  double weight_decay = 1e-4;
  int lr_warmup_epochs = 0;
  int seed = 0;
  std::string out{};             ///< output directory
  bool resume = false;           ///< continue the run in --out
  bool overwrite = false;        ///< replace the run in --out
  std::string dataset = "fashion-mnist";  ///< fashion-mnist | cifar10 | cifar100 | stl10 | folder (data/open.hpp)
  std::string data{};            ///< where --dataset is (empty: Fashion-MNIST's Debian package)
  int image_size = 0;            ///< the side of the images the models see; 0: the dataset's (folder: 224)
  int train_subset = 0;          ///< first N training images; 0 = all 60000
  int test_subset = 0;           ///< first N test images; 0 = all 10000
  double width = 0.25;           ///< model width multiplier
  int threads = 0;               ///< OpenBLAS threads; 0 = cores / stages (MPI: cores / ranks on the machine)
  int segment_batches = 8;
  int probe_epochs = 30;         ///< epochs of the linear probe's classifier (SSL examples)
  bool init_probe = false;       ///< SSL examples: also probe the untrained backbone (random-initialisation baseline)
  bool no_progress = false;
  int stop_after = 0;            ///< stop after this many epochs trained by this process (tests --resume)
  double max_parameters = 2.5e8; ///< largest model (teacher or student) a run may build
};

/// The largest --image-size (a folder's crop) the examples accept.
inline constexpr int kMaxImageSize = 1024;

/// The largest staleness δ the examples accept: each step of δ keeps one more copy of the
/// teacher's weights on every stage.
inline constexpr int kMaxStaleness = 64;

/// Thrown when --stop-after is reached: the run ends with exit code 0, its checkpoints in place.
struct StopRequested : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void add_common_flags(Flags& flags, CommonOptions& options);

/// What a run's models see, known from the flags before any data is read: Fashion-MNIST 1×28×28
/// (or the --image-size its IDX files have), CIFAR 3×32×32, STL-10 3×96×96, an image folder
/// 3×S×S with S = --image-size (224 by default: its images are resized and cropped to it).
/// `classes` is for size estimates (the data says how many there are; 1000 for a folder).
struct ImageGeometry {
  int channels = 1, side = 28, classes = 10;
};
ImageGeometry image_geometry(const CommonOptions& options);

/// How reports name --dataset: "Fashion-MNIST", "CIFAR-10", "CIFAR-100", "STL-10", "image folder".
std::string dataset_title(const std::string& dataset);

/// Checks ranges and names (stages ≥ 1, a known schedule, a backend name, ...) and that the
/// schedule runs --chunks with --chunk-placement. Throws UsageError naming the flags.
/// `--schedule sequential` with M ≠ 1 passes: begin_run (launch.hpp) runs it with M = 1. Whether
/// the backend can run here is resolve_backend's question, asked once the command line is known
/// to be good. Chunks under mpirun pass too: the library refuses them (mpi::make_pipeline), and
/// its message is the one a user should see.
void check_common_options(const CommonOptions& options);

/// --chunk-placement as the pipeline takes it; UsageError naming the flag for an unknown name.
schedule::ChunkPlacement chunk_placement(const CommonOptions& options);

/// The pipeline's shape as the examples' first line says it: "2 stages, 4 micro-batches,
/// schedule tspipe", with "× 2 chunks (v-shape)" after the stages when there are virtual stages.
std::string pipeline_shape(const CommonOptions& options);

/// UsageError unless `requested` is cpu, cuda or auto.
void check_backend_name(const std::string& requested);

/// The backend a run uses: "cpu" or "cuda"; an example stores it back into --backend once. auto is cuda where the examples are built with the
/// CUDA backend and a device answers, else cpu. UsageError for an unknown name or for cuda in a
/// build without it; tspipe::Error (naming the CUDA call) for cuda without a usable device.
std::string resolve_backend(const std::string& requested);

}  // namespace tspipe::examples
