#include "cli.hpp"

#include <tspipe/data/open.hpp>
#include <tspipe/pipeline/segment_plan.hpp>
#include <tspipe/planning/generate.hpp>
#if TSPIPE_EXAMPLES_CUDA
#include <tspipe/cuda/device.hpp>
#endif

#include <charconv>
#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>

namespace tspipe::examples {

namespace {

std::string in_quotes(const std::string& s) { return "'" + s + "'"; }

template <class T>
T parse_number(const std::string& flag, const std::string& text) {
  T value{};
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc{} || ptr != end || text.empty())
    throw UsageError("--" + flag + " " + in_quotes(text) + ": not a " +
                     (std::is_integral_v<T> ? "whole number" : "number"));
  return value;
}

template <class T>
std::string default_text(const T& value) {
  std::ostringstream s;
  s << value;
  return s.str();
}

/// `names` one after another with `separator` between: the choices a help text or a message lists.
template <class Names>
std::string joined(const Names& names, const std::string& separator) {
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : separator) + std::string(n);
  return list;
}

/// UsageError unless `value` is one of `names`: "--flag 'value': unknown flag (known: a, b, …)".
template <class Names>
void check_known(const std::string& flag, const std::string& value, const Names& names) {
  for (const auto& n : names)
    if (n == value) return;
  throw UsageError("--" + flag + " " + in_quotes(value) + ": unknown " + flag + " (known: " + joined(names, ", ") + ")");
}

/// Every schedule the examples' pipelines run: the one-chunk generators, then those of virtual stages.
std::vector<std::string_view> schedule_names() {
  std::vector<std::string_view> names = planning::generator_names();
  const auto& chunked = planning::virtual_stage_generator_names();
  names.insert(names.end(), chunked.begin(), chunked.end());
  return names;
}

/// The --chunk-placement names, the schedule layer's own ("interleaved", "v-shape").
std::vector<std::string_view> placement_names() {
  std::vector<std::string_view> names;
  for (const auto p : schedule::kChunkPlacements) names.push_back(schedule::to_string(p));
  return names;
}

/// UsageError naming the flags unless the pipeline can run --schedule with --chunks placed by
/// --chunk-placement: the schedule layer's rule on chunks and placements (Workload::check) and the
/// pipeline's on which schedules run which chunks and placements (check_schedule_chunks).
void check_virtual_stages(const CommonOptions& o) {
  const schedule::ChunkPlacement placement = chunk_placement(o);
  const std::string flags = "--stages " + std::to_string(o.stages) + " --chunks " + std::to_string(o.chunks) +
                            " --chunk-placement " + o.chunk_placement;
  schedule::Workload shape = schedule::kd_workload(o.stages);
  shape.chunks = o.chunks;
  shape.chunk_placement = placement;
  if (Status ok = shape.check(); !ok) throw UsageError(flags + ": " + ok.message());
  if (Status runs = check_schedule_chunks(o.schedule, o.chunks, placement); !runs)
    throw UsageError("--schedule " + o.schedule + " with --chunks " + std::to_string(o.chunks) + " --chunk-placement " +
                     o.chunk_placement + ": " + runs.message());
}

}  // namespace

void Flags::add(const std::string& name, std::string* value, const std::string& help) {
  flags_.push_back({name, help, value->empty() ? "" : *value, false, [value](const std::string& v) { *value = v; }});
}
void Flags::add(const std::string& name, int* value, const std::string& help) {
  flags_.push_back({name, help, default_text(*value), false,
                    [value, name](const std::string& v) { *value = parse_number<int>(name, v); }});
}
void Flags::add(const std::string& name, double* value, const std::string& help) {
  flags_.push_back({name, help, default_text(*value), false, [value, name](const std::string& v) {
                      *value = parse_number<double>(name, v);
                      if (!std::isfinite(*value)) throw UsageError("--" + name + " " + in_quotes(v) + ": not a finite number");
                    }});
}
void Flags::add_switch(const std::string& name, bool* value, const std::string& help) {
  flags_.push_back({name, help, "", true, [value](const std::string&) { *value = true; }});
}

const Flags::Flag* Flags::find(const std::string& name) const {
  for (const Flag& f : flags_)
    if (f.name == name) return &f;
  return nullptr;
}

bool Flags::parse(int argc, char** argv) {
  std::map<std::string, std::string> given;  // name → the value it was given first
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(usage().c_str(), stdout);
      return false;
    }
    if (arg.rfind("--", 0) != 0) throw UsageError(in_quotes(arg) + ": unexpected argument (flags start with --; see --help)");
    std::string name = arg.substr(2), value;
    bool has_value = false;
    if (const auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
      has_value = true;
    }
    const Flag* flag = find(name);
    if (!flag) throw UsageError("--" + name + ": unknown flag (see --help)");
    if (flag->is_switch) {
      if (has_value) throw UsageError("--" + name + " takes no value, got " + in_quotes(value));
    } else if (!has_value) {
      if (i + 1 >= argc) throw UsageError("--" + name + ": missing value");
      value = argv[++i];
    }
    if (const auto [first, fresh] = given.emplace(name, value); !fresh)
      throw UsageError("--" + name + " given twice" +
                       (flag->is_switch ? "" : " (" + in_quotes(first->second) + ", then " + in_quotes(value) + ")") + ": give it once");
    flag->set(value);
  }
  return true;
}

std::string Flags::usage() const {
  std::string out = "usage: " + program_ + " [flags]\n" + summary_ + "\n\nflags:\n";
  for (const Flag& f : flags_) {
    std::string left = "  --" + f.name + (f.is_switch ? "" : " VALUE");
    if (left.size() < 28) left.resize(28, ' ');
    else left += "\n" + std::string(28, ' ');
    out += left + f.help + (f.default_text.empty() ? "" : " (default " + f.default_text + ")") + "\n";
  }
  out += "  --help                    this text\n\nexit codes: 0 ok, 1 runtime failure, 2 bad command-line input\n";
  return out;
}

void add_common_flags(Flags& flags, CommonOptions& o) {
  flags.add("backend", &o.backend, "cpu | cuda | auto (auto: cuda when built with it and a GPU exists, else cpu)");
  flags.add("stages", &o.stages, "pipeline stages (devices; one worker thread each on the CPU)");
  flags.add("micro-batches", &o.micro_batches, "micro-batches per batch");
  flags.add("schedule", &o.schedule,
            joined(planning::generator_names(), " | ") + "; with --chunks > 1: " +
                joined(planning::virtual_stage_generator_names(), " | ") + " | tspipe");
  flags.add("chunks", &o.chunks, "v: model chunks per device (virtual stages; the model is cut into stages × v parts; one process only)");
  flags.add("chunk-placement", &o.chunk_placement,
            "where a device's chunks sit: interleaved (device d holds d, d + S, ...) | v-shape (--chunks 2: d and 2S − 1 − d)");
  flags.add("staleness", &o.staleness, "δ: batches a momentum teacher may lag (0 exact, 1 TSPipe); a frozen teacher ignores it");
  flags.add("warmup", &o.warmup, "K: the first K batches read the exact momentum teacher (δ = 0)");
  flags.add("epochs", &o.epochs, "training epochs");
  flags.add("batch-size", &o.batch_size, "samples per batch (the last partial batch of an epoch is dropped)");
  flags.add("lr", &o.learning_rate, "base learning rate (cosine decay to 0 over the run)");
  flags.add("weight-decay", &o.weight_decay, "weight decay");
  flags.add("lr-warmup-epochs", &o.lr_warmup_epochs, "epochs of linear learning-rate warm-up");
  flags.add("seed", &o.seed, "seed of weights, data order and augmentations");
  flags.add("out", &o.out, "output directory (checkpoints, curves, timelines, summary.json)");
  flags.add_switch("resume", &o.resume, "continue the run in --out from its checkpoints");
  flags.add_switch("overwrite", &o.overwrite, "replace the run in --out (without it or --resume, a previous run there is refused)");
  flags.add("dataset", &o.dataset,
            joined(data::dataset_names(), " | ") + " (self-supervised examples train on STL-10's unlabeled split)");
  flags.add("data", &o.data,
            "where --dataset is: Fashion-MNIST's folder or IMAGES,LABELS IDX files (default /usr/share/datasets/fashion-mnist); "
            "cifar-10-batches-bin, cifar-100-binary, stl10_binary (or their parents); a folder with train/ and val/");
  flags.add("image-size", &o.image_size, "side of the images the models see: a folder's crop (default 224); the others' own size");
  flags.add("train-subset", &o.train_subset, "train on the first N training images (0 = all)");
  flags.add("test-subset", &o.test_subset, "test on the first N test images (0 = all)");
  flags.add("width", &o.width, "model width multiplier");
  flags.add("threads", &o.threads, "OpenBLAS threads (0 = cores / stages; under mpirun, cores / ranks on the machine)");
  flags.add("segment-batches", &o.segment_batches, "batches per generated schedule segment");
  flags.add_switch("init-probe", &o.init_probe,
                   "self-supervised examples: before training, also measure the linear probe on the randomly initialised "
                   "backbone (the baseline training must beat)");
  flags.add("stop-after", &o.stop_after, "stop after this many epochs (all phases together), as an interruption --resume continues from; 0 = never");
  flags.add_switch("no-progress", &o.no_progress, "no progress bar (the per-epoch lines stay)");
  flags.add("max-parameters", &o.max_parameters,
            "largest model (teacher or student, in parameters) a run may build; training holds several copies of each");
}

void check_backend_name(const std::string& requested) {
  if (requested != "cpu" && requested != "cuda" && requested != "auto")
    throw UsageError("--backend " + in_quotes(requested) + ": expected cpu, cuda or auto");
}

void check_common_options(const CommonOptions& o) {
  const auto at_least = [](const std::string& flag, double value, double low) {
    if (!(value >= low)) throw UsageError("--" + flag + " " + default_text(value) + ": must be at least " + default_text(low));
  };
  check_backend_name(o.backend);
  struct Bound {
    const char* flag;
    int value, low;
  };
  // In the order the usage lists the flags: with several bad, the first is reported.
  const Bound bounds[] = {
      {"stages", o.stages, 1}, {"micro-batches", o.micro_batches, 1}, {"chunks", o.chunks, 1}, {"staleness", o.staleness, 0},
      {"warmup", o.warmup, 0}, {"epochs", o.epochs, 1}, {"batch-size", o.batch_size, 1},
      {"lr-warmup-epochs", o.lr_warmup_epochs, 0}, {"train-subset", o.train_subset, 0}, {"test-subset", o.test_subset, 0},
      {"threads", o.threads, 0}, {"segment-batches", o.segment_batches, 1}, {"probe-epochs", o.probe_epochs, 1},
      {"stop-after", o.stop_after, 0}};
  for (const Bound& b : bounds) at_least(b.flag, b.value, b.low);
  if (!(o.learning_rate > 0.0)) throw UsageError("--lr " + default_text(o.learning_rate) + ": must be positive");
  if (!(o.weight_decay >= 0.0)) throw UsageError("--weight-decay " + default_text(o.weight_decay) + ": must be ≥ 0");
  if (!(o.width > 0.0)) throw UsageError("--width " + default_text(o.width) + ": must be positive");
  if (!(o.max_parameters >= 1.0)) throw UsageError("--max-parameters " + default_text(o.max_parameters) + ": must be at least 1");
  if (o.staleness > kMaxStaleness)
    throw UsageError("--staleness " + default_text(o.staleness) + ": at most " + default_text(kMaxStaleness) +
                     " (every step of staleness keeps one more copy of the teacher on each stage; the limit is kMaxStaleness in "
                     "examples/common/cli.hpp)");
  if (o.resume && o.overwrite) throw UsageError("--resume with --overwrite: continue the run in --out, or replace it, not both");
  if (o.micro_batches > o.batch_size && o.schedule != "sequential")  // sequential runs with M = 1
    throw UsageError("--micro-batches " + default_text(o.micro_batches) + ": more micro-batches than samples in a batch (--batch-size " +
                     default_text(o.batch_size) + ")");
  check_known("schedule", o.schedule, schedule_names());
  check_virtual_stages(o);
  if (o.out.empty()) throw UsageError("--out: an output directory is required");
  check_known("dataset", o.dataset, data::dataset_names());
  if (o.dataset != "fashion-mnist" && o.data.empty())
    throw UsageError("--dataset " + o.dataset + ": give --data, the folder it is in");
  image_geometry(o);  // checks --image-size
}

schedule::ChunkPlacement chunk_placement(const CommonOptions& o) {
  check_known("chunk-placement", o.chunk_placement, placement_names());
  return *schedule::chunk_placement_named(o.chunk_placement);  // check_known refused any other name
}

std::string pipeline_shape(const CommonOptions& o) {
  return std::to_string(o.stages) + " stages" +
         (o.chunks > 1 ? " × " + std::to_string(o.chunks) + " chunks (" + o.chunk_placement + ")" : std::string()) + ", " +
         std::to_string(o.micro_batches) + " micro-batches, schedule " + o.schedule;
}

ImageGeometry image_geometry(const CommonOptions& o) {
  if (o.image_size < 0 || o.image_size > kMaxImageSize)
    throw UsageError("--image-size " + default_text(o.image_size) + ": must lie in 0.." + default_text(kMaxImageSize) + " (0: the dataset's)");
  const auto fixed = [&](int channels, int side, int classes) {
    if (o.image_size != 0 && o.image_size != side)
      throw UsageError("--image-size " + default_text(o.image_size) + ": " + o.dataset + " images are " + default_text(side) + "×" +
                       default_text(side) + " (the flag sets the crop of --dataset folder)");
    return ImageGeometry{channels, side, classes};
  };
  if (o.dataset == "cifar10") return fixed(3, 32, 10);
  if (o.dataset == "cifar100") return fixed(3, 32, 100);
  if (o.dataset == "stl10") return fixed(3, 96, 10);
  if (o.dataset == "folder") return {3, o.image_size ? o.image_size : 224, 1000};
  return {1, o.image_size ? o.image_size : 28, 10};  // Fashion-MNIST, or IDX files of another size
}

std::string dataset_title(const std::string& dataset) {
  if (dataset == "fashion-mnist") return "Fashion-MNIST";
  if (dataset == "cifar10") return "CIFAR-10";
  if (dataset == "cifar100") return "CIFAR-100";
  if (dataset == "stl10") return "STL-10";
  return "image folder";
}

std::string resolve_backend(const std::string& requested) {
  check_backend_name(requested);
#if TSPIPE_EXAMPLES_CUDA
  if (requested == "cpu") return "cpu";
  const Status gpu = cuda::available();
  if (requested == "auto") return gpu ? "cuda" : "cpu";
  // Built for it but nothing to run on: the machine's fault, not the command line's (exit 1).
  if (!gpu) throw Error("--backend cuda: " + gpu.message() + "; use --backend cpu or auto");
  return "cuda";
#else
  if (requested == "cuda")
    throw UsageError("--backend cuda: these examples were built without the CUDA backend (nvcc, cuDNN or NCCL was not "
                     "found when the build was configured); use --backend cpu or auto");
  return "cpu";
#endif
}

}  // namespace tspipe::examples
