// tspipe-sim: generate, validate, simulate and compare pipeline schedules from the command line.
// Exit codes: 0 success, 1 an invalid schedule or a failed simulation, 2 bad command-line input.
#include <tspipe/schedule/cost_table.hpp>
#include <tspipe/schedule/torch_csv.hpp>
#include <tspipe/planning/generate.hpp>
#include <tspipe/planning/teacher_fill.hpp>
#include <tspipe/schedule/validator.hpp>
#include <tspipe/planning/evaluate.hpp>
#include <tspipe/sim/export.hpp>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <new>
#include <optional>
#include <string>
#include <vector>

namespace {

using namespace tspipe;
using schedule::Workload;

constexpr const char* kUsage = R"(usage: tspipe-sim COMMAND [options]

commands:
  actions   print every device's ordered action list ("d<j>: tok tok ...")
  metrics   simulate one schedule and print its steady-state metrics
  compare   simulate every generator on one workload, side by side
  trace     simulate one schedule and write its timeline (--out FILE.json | FILE.svg | FILE.csv)
  validate  check a schedule file (--file FILE, text or CSV form) against the workload;
            with --format torch-csv, a PyTorch compute-only schedule CSV (its shape comes
            from the file: one row per rank; no --workload or --stages needed)
  fill      insert a teacher (--workload kd|ssl) into the PyTorch compute-only schedule
            --file FILE, keeping the student's order, and compare it with the original
            (--out FILE.txt|.json|.svg writes the filled schedule)

workload:
  --workload ssl|kd      ssl: 2 views, momentum teacher, staleness 1; kd: 1 view, frozen teacher
  --stages S             pipeline stages (devices), S >= 1              (required)
  --micro-batches M      micro-batches per batch                         (default S-1, at least 1)
  --views V              views per batch                                 (default: 2 ssl, 1 kd)
  --staleness D          teacher staleness delta (momentum teacher)      (default: 1 ssl, 0 kd)
  --warmup K             first K batches use staleness 0                 (default 0)
  --teacher-versions K   teacher buffers per stage, 0 = staleness + 1    (default 0)
  --lookahead L          batches a frozen teacher may run ahead          (default 1)
  --split full|halves|input-weight   how the student backward is split   (default full;
                         tspipe chooses among full, input-weight and the reference's
                         halves unless --split is given)
  --batches N            batches to schedule                             (default 8)
  --search               tspipe also chooses M by simulating candidates; the other
                         schedules keep M
  --max-micro-batches N  the largest M --search may choose              (default 8S)
  --chunks v             model chunks per device (virtual stages): S*v logical stages;
                         tspipe also weighs v = 1, 2, 3 unless --chunks is given (default 1)
  --placement interleaved|v-shape   where chunks sit: stage l on device l mod S, or a V
                         (device d holds d and 2S-1-d; needs --chunks 2)  (default interleaved)
  --memory-cap X         per-device peak activation memory tspipe keeps under, in
                         activation-memory units; 0 = none (then gpipe's peak)  (default 0)

costs (per stage, whole batch of one view; FT = FS = 1, BS = 2 unless changed):
  --teacher-cost R       teacher forward R times the student forward     (default 1)
  --transfer T           activation/gradient transfer between stages     (default 0)
  --overhead X           fixed cost added to every compute action        (default 0)
  --costs FILE           per-stage cost table (CSV with a 'stage' column; see README)

selection and output:
  --schedule NAME        sequential | gpipe | 1f1b | tspipe-paper | tspipe, or with virtual
                         stages interleaved-1f1b | zbv                   (default tspipe)
  --dispatch in-order|dynamic   metrics/compare/trace: devices run their lists in order, or
                         take the highest-priority ready action (the runtime's dynamic mode)
                                                                         (default in-order)
  --format text|csv|torch-csv   actions: the text form or CSV; validate: torch-csv reads
                         --file as PyTorch's compute-only form           (default text)
  --json                 metrics/compare: one JSON object
  --out FILE             trace: where to write (.json Chrome trace, .svg, .csv)
  --file FILE            validate: the schedule to check; fill: the PyTorch CSV to fill
  -h, --help             this text

limits (each refusal names the flag that raises it):
  --max-file-mb N        largest --costs / --file read, in MiB           (default 64)
  --max-memory-mb N      memory the command's schedules may take, in MiB, estimated
                         from the workload before generating             (default 1024)
  Counts (--micro-batches, --views, --batches, --staleness, --warmup, --lookahead, ...)
  go up to 2^24 and --stages up to 4096; costs, transfers, overheads and caps are finite
  numbers in [0, 1e18]; every option is given at most once, and only to a command
  that reads it.
)";

struct UsageError {
  std::string message;
};

using schedule::quote;

/// A path in a message: whole up to 256 bytes (a file's name is what tells the user which input is
/// wrong), escaped like every quoted input.
std::string quote_path(std::string_view path) { return quote(path, 256); }

// The commands, in the order --help lists them.
constexpr std::string_view kCommands[] = {"actions", "metrics", "compare", "trace", "validate", "fill"};

// What one request may use (each refusal names the flag that raises it):
// * files read whole (--costs, --file): kDefaultMaxFileMiB, --max-file-mb;
// * the schedules a command generates, validates and simulates: kDefaultMaxMemoryMiB, estimated
//   before anything is allocated as the workload's largest action count times what each action
//   costs that command (bytes_per_action), --max-memory-mb.
constexpr long long kDefaultMaxFileMiB = 64;
constexpr long long kDefaultMaxMemoryMiB = 1024;
constexpr long long kMaxLimitMiB = 1 << 20;  // 1 TiB: the most either flag accepts

struct Options {
  std::string command;
  std::map<std::string, std::string> values;
  bool json = false;
  bool search = false;
};

std::string known_commands() {
  std::string out;
  for (auto c : kCommands) out += (out.empty() ? "" : ", ") + std::string(c);
  return out;
}

std::optional<std::string> value_of(const Options& o, const std::string& key) {
  const auto it = o.values.find(key);
  if (it == o.values.end()) return std::nullopt;
  return it->second;
}

// The options each command reads. An option a command would ignore is refused by name, so a
// flag that does nothing (`actions --dispatch dynamic`, `--stages` on a PyTorch CSV that brings
// its own shape) never looks as if it had been applied.
constexpr std::string_view kWorkloadOptions[] = {
    "--workload", "--stages", "--micro-batches", "--views", "--staleness", "--warmup", "--teacher-versions", "--lookahead",
    "--split", "--batches", "--search", "--max-micro-batches", "--memory-cap", "--teacher-cost", "--transfer", "--overhead",
    "--costs", "--max-file-mb", "--max-memory-mb", "--chunks", "--placement"};

bool command_uses(const Options& o, std::string_view option) {
  const auto among = [&](std::initializer_list<std::string_view> names) {
    return std::find(names.begin(), names.end(), option) != names.end();
  };
  const bool workload = std::find(std::begin(kWorkloadOptions), std::end(kWorkloadOptions), option) != std::end(kWorkloadOptions);
  const std::string_view c = o.command;
  if (c == "fill")  // the shape (stages, M, split) comes from the file; the teacher from the flags
    return among({"--file", "--workload", "--views", "--staleness", "--warmup", "--teacher-versions", "--lookahead",
                  "--batches", "--teacher-cost", "--transfer", "--overhead", "--costs", "--out", "--max-file-mb",
                  "--max-memory-mb"});
  if (c == "validate" && value_of(o, "--format") == "torch-csv")
    return among({"--format", "--file", "--batches", "--teacher-cost", "--transfer", "--overhead", "--costs",
                  "--max-file-mb", "--max-memory-mb"});
  if (workload) return true;
  if (c == "actions") return among({"--schedule", "--format"});
  if (c == "metrics") return among({"--schedule", "--dispatch", "--json"});
  if (c == "compare") return among({"--dispatch", "--json"});
  if (c == "trace") return among({"--schedule", "--dispatch", "--out"});
  if (c == "validate") return among({"--file", "--format"});
  return false;
}

void check_options_used(const Options& o) {
  std::vector<std::string> given;
  for (const auto& entry : o.values) given.push_back(entry.first);
  if (o.json) given.push_back("--json");
  if (o.search) given.push_back("--search");
  for (const auto& option : given) {
    if (command_uses(o, option)) continue;
    std::string users;
    for (auto command : kCommands) {
      Options other = o;
      other.command = command;
      other.values.erase("--format");  // as a plain command, not validate's torch-csv form
      if (command_uses(other, option)) users += (users.empty() ? "" : ", ") + std::string(command);
    }
    const std::string what = o.command == "validate" && value_of(o, "--format") == "torch-csv"
                                 ? "validate --format torch-csv (the file gives the shape)"
                                 : o.command;
    throw UsageError{"option " + option + " is not used by " + what + "; leave it out" +
                     (users.empty() ? std::string() : " (it is read by " + users + ")")};
  }
}

Options parse_arguments(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i)
    if (std::string_view(argv[i]) == "-h" || std::string_view(argv[i]) == "--help") {
      o.command = "help";
      return o;
    }
  if (argc < 2) throw UsageError{"missing COMMAND (one of " + known_commands() + ")"};
  o.command = argv[1];
  if (std::find(std::begin(kCommands), std::end(kCommands), o.command) == std::end(kCommands)) {
    if (o.command.rfind("-", 0) == 0)
      throw UsageError{"the COMMAND (one of " + known_commands() + ") comes first, before " + quote(o.command)};
    throw UsageError{"unknown command " + quote(o.command) + " (known: " + known_commands() + ")"};
  }
  static const std::vector<std::string> with_value = {
      "--workload", "--stages", "--micro-batches", "--views", "--staleness", "--warmup", "--teacher-versions",
      "--lookahead", "--split", "--batches", "--max-micro-batches", "--memory-cap", "--teacher-cost", "--transfer", "--overhead", "--costs",
      "--chunks", "--placement",
      "--schedule", "--dispatch", "--format", "--out", "--file", "--max-file-mb", "--max-memory-mb"};
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--json" || arg == "--search") {
      bool& flag = arg == "--json" ? o.json : o.search;
      if (flag) throw UsageError{"option " + arg + " given twice"};
      flag = true;
      continue;
    }
    if (std::find(with_value.begin(), with_value.end(), arg) == with_value.end())
      throw UsageError{"unknown option " + quote(arg)};
    if (i + 1 >= argc) throw UsageError{"option " + arg + " needs a value"};
    const std::string value = argv[++i];
    // A repeated flag is a mistake (a pasted command line, a script adding its own default), not
    // an override: refuse it rather than guess which one was meant.
    if (const auto [it, added] = o.values.emplace(arg, value); !added)
      throw UsageError{"option " + arg + " given twice (" + quote(it->second) + " and " + quote(value) + "); give it once"};
  }
  check_options_used(o);
  return o;
}

/// An integer flag in [low, high], or `fallback` when absent.
template <class T>
T integer(const Options& o, const std::string& key, T fallback, T low, T high) {
  const auto text = value_of(o, key);
  if (!text) return fallback;
  T value{};
  const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  const std::string range = " (need " + std::to_string(low) + " to " + std::to_string(high) + ")";
  if (text->empty() || (ec != std::errc{} && ec != std::errc::result_out_of_range) || end != text->data() + text->size())
    throw UsageError{key + " = " + quote(*text) + " is not an integer" + range};
  if (ec == std::errc::result_out_of_range || value < low || value > high)
    throw UsageError{key + " = " + quote(*text) + " is out of range" + range};
  return value;
}

/// A cost, memory size or cap flag: a finite number in [0, 1e18] (schedule/limits.hpp), or
/// `fallback` when absent.
double real(const Options& o, const std::string& key, double fallback) {
  const auto text = value_of(o, key);
  if (!text) return fallback;
  double value = 0.0;
  const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (text->empty() || ec != std::errc{} || end != text->data() + text->size() || !schedule::value_in_range(value))
    throw UsageError{key + " = " + quote(*text) + " is not a finite number in [0, 1e18]"};
  return value;
}

long long mebibytes(long long mib) { return mib * 1024 * 1024; }

/// The whole of the file a flag names, refusing a directory and anything over --max-file-mb
/// (read in pieces, so /dev/zero or a FIFO stops at the limit too).
std::string read_file(const Options& o, const std::string& flag) {
  const std::string path = *value_of(o, flag);
  const long long limit_mib = integer(o, "--max-file-mb", kDefaultMaxFileMiB, 1LL, kMaxLimitMiB);
  std::error_code error;
  if (std::filesystem::is_directory(path, error))
    throw UsageError{flag + " " + quote_path(path) + " is a directory, not a file"};
  const auto limit = static_cast<std::size_t>(mebibytes(limit_mib));
  const auto too_large = [&] {
    return UsageError{flag + " " + quote_path(path) + " is larger than the " + std::to_string(limit_mib) +
                      " MiB limit on files read whole (raise it with --max-file-mb)"};
  };
  // A regular file says its size up front; a device or a pipe is read until the limit.
  if (std::filesystem::is_regular_file(path, error)) {
    const auto size = std::filesystem::file_size(path, error);
    if (!error && size > limit) throw too_large();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError{flag + ": cannot open " + quote_path(path) + " (" + std::strerror(errno) + ")"};
  std::string text;
  std::vector<char> piece(1 << 16);
  while (in) {
    in.read(piece.data(), static_cast<std::streamsize>(piece.size()));
    text.append(piece.data(), static_cast<std::size_t>(in.gcount()));
    if (text.size() > limit) throw too_large();
  }
  if (in.bad()) throw UsageError{flag + ": cannot read " + quote_path(path)};
  return text;
}

/// Peak bytes per action of Workload::max_actions for each command: the maximum resident set
/// (GNU time) over SSL S = 8 and 64, KD S = 4, with about 40 % headroom. metrics and validate
/// hold a schedule, the validator's replay and a timeline (measured up to 74 bytes); compare holds
/// every generator's at once (up to 235), fill the original and the filled schedule; trace also
/// its output text (up to 294, SVG); dynamic dispatch adds its readiness counts and queues (up to
/// 40 more).
std::size_t bytes_per_action(const std::string& command, bool dynamic) {
  const std::size_t bytes = command == "compare" || command == "fill" ? 330 : command == "trace" ? 410 : 100;
  return dynamic ? bytes + 60 : bytes;
}

/// Refuses a request of up to `actions` actions whose schedules would need more than
/// --max-memory-mb, before generating any; `counted` says how they were counted.
void check_memory(const Options& o, std::uint64_t actions, bool dynamic, const std::string& counted) {
  const long long limit_mib = integer(o, "--max-memory-mb", kDefaultMaxMemoryMiB, 1LL, kMaxLimitMiB);
  const std::size_t per_action = bytes_per_action(o.command, dynamic);
  const double mib = static_cast<double>(actions) * static_cast<double>(per_action) / (1024.0 * 1024.0);
  if (mib <= static_cast<double>(limit_mib)) return;
  throw UsageError{o.command + ": the " + counted + " may generate " + std::to_string(actions) + " actions, about " +
                   std::to_string(static_cast<long long>(mib)) + " MiB at " + std::to_string(per_action) +
                   " bytes each, over the " + std::to_string(limit_mib) +
                   " MiB limit (raise it with --max-memory-mb, or ask for fewer --batches, --stages, --micro-batches or --views)"};
}

/// The same for a workload (Workload::check passed, so max_actions is at most kMaxActions).
void check_memory(const Options& o, const Workload& w, bool dynamic) {
  const std::string search = w.choose_micro_batches ? " (counted at the largest M --search may pick, " +
                                                          std::to_string(w.largest_micro_batches()) +
                                                          "; --max-micro-batches lowers it)"
                                                    : "";
  check_memory(o, w.max_actions(), dynamic, "workload" + search);
}

Workload workload_from(const Options& o) {
  using schedule::kMaxCount;
  const auto kind = value_of(o, "--workload");
  if (!kind) throw UsageError{"--workload ssl|kd is required"};
  if (*kind != "ssl" && *kind != "kd") throw UsageError{"--workload must be ssl or kd, got " + quote(*kind)};
  if (!value_of(o, "--stages")) throw UsageError{"--stages S is required"};
  const int stages = integer(o, "--stages", 0, 1, schedule::kMaxStages);
  Workload w = *kind == "ssl" ? schedule::ssl_workload(stages) : schedule::kd_workload(stages);
  w.micro_batches = integer(o, "--micro-batches", w.micro_batches, 1, kMaxCount);
  w.views = integer(o, "--views", w.views, 1, kMaxCount);
  w.staleness = integer(o, "--staleness", w.staleness, 0, kMaxCount);
  w.warmup = integer(o, "--warmup", w.warmup, 0, kMaxCount);
  w.teacher_versions = integer(o, "--teacher-versions", w.teacher_versions, 0, kMaxCount);
  w.teacher_lookahead = integer(o, "--lookahead", w.teacher_lookahead, 0, kMaxCount);
  w.batches = integer(o, "--batches", 8, 1, kMaxCount);
  if (const auto split = value_of(o, "--split")) {
    if (*split == "full") w.split = schedule::BackwardSplit::full;
    else if (*split == "halves") w.split = schedule::BackwardSplit::halves;
    else if (*split == "input-weight") w.split = schedule::BackwardSplit::input_weight;
    else throw UsageError{"--split must be full, halves or input-weight, got " + quote(*split)};
  }
  if (value_of(o, "--costs")) {
    if (value_of(o, "--teacher-cost"))
      throw UsageError{"--teacher-cost and --costs both set the teacher's cost; give one (a teacher_forward column in the table)"};
    const std::string file = *value_of(o, "--costs");
    auto table = schedule::parse_cost_csv(read_file(o, "--costs"));
    if (!table) throw UsageError{"--costs " + quote_path(file) + ": " + table.message()};
    if (static_cast<int>(table.value().stages.size()) != stages)
      throw UsageError{"--costs " + quote_path(file) + " has " + std::to_string(table.value().stages.size()) +
                       " stages, --stages is " + std::to_string(stages)};
    w.costs = table.value();
  } else {
    w.costs = schedule::CostModel::teacher_ratio(stages, real(o, "--teacher-cost", 1.0));
  }
  if (value_of(o, "--transfer")) {
    const double transfer = real(o, "--transfer", 0.0);
    for (auto& s : w.costs.stages) s.transfer = transfer;
  }
  w.costs.per_action_overhead = real(o, "--overhead", 0.0);
  // M is the user's unless --search; the split is the planner's unless --split pins it.
  w.choose_micro_batches = o.search;
  w.choose_split = w.choose_halves = o.search || !value_of(o, "--split");
  w.max_micro_batches = integer(o, "--max-micro-batches", 0, 0, kMaxCount);
  w.memory_cap = real(o, "--memory-cap", 0.0);
  // v is the planner's unless --chunks pins it.
  w.chunks = integer(o, "--chunks", 1, 1, schedule::kMaxStages);
  w.choose_chunks = !value_of(o, "--chunks");
  if (const auto placement = value_of(o, "--placement")) {
    if (!value_of(o, "--chunks")) throw UsageError{"--placement needs --chunks v (the chunks it places)"};
    const auto named = schedule::chunk_placement_named(*placement);
    if (!named) throw UsageError{"--placement must be interleaved or v-shape, got " + quote(*placement)};
    w.chunk_placement = *named;
  }
  // Every field error names the field and its value (Workload::check).
  if (Status ok = w.check(); !ok) throw UsageError{ok.message()};
  return w;
}

std::string json_number(double x) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.6g", x);
  return buffer;
}
template <class T>
std::string json_array(const std::vector<T>& values) {
  std::string out = "[";
  for (std::size_t i = 0; i < values.size(); ++i) out += (i ? "," : "") + json_number(static_cast<double>(values[i]));
  return out + "]";
}

/// What tspipe chooses itself on this workload, for the compare header: " (tspipe chooses ...)".
std::string planner_choices(const Options& o, const Workload& w) {
  std::vector<std::string> chosen;
  if (o.search) chosen.emplace_back("M (--search)");
  if (w.choose_split) chosen.emplace_back("the split");
  if (w.choose_chunks) chosen.emplace_back("the chunks per device");
  std::string out;
  for (std::size_t i = 0; i < chosen.size(); ++i) out += (i == 0 ? "" : i + 1 == chosen.size() ? " and " : ", ") + chosen[i];
  return out.empty() ? out : " (tspipe chooses " + out + ")";
}

/// "1", or the chunks per device and their placement ("2 interleaved", "2 v-shape").
std::string chunks_of(const Workload& w) {
  return w.chunks == 1 ? std::string("1") : std::to_string(w.chunks) + " " + std::string(schedule::to_string(w.chunk_placement));
}

std::string metrics_json(const std::string& name, const planning::Evaluation& e) {
  const auto& r = e.result;
  const auto& w = e.generated.workload;
  return "{\"schedule\":\"" + name + "\",\"stages\":" + std::to_string(w.stages) +
         ",\"micro_batches\":" + std::to_string(w.micro_batches) + ",\"views\":" + std::to_string(w.views) +
         ",\"staleness\":" + std::to_string(w.staleness) + ",\"split\":\"" + std::string(schedule::to_string(w.split)) +
         "\",\"chunks\":" + std::to_string(w.chunks) + ",\"placement\":\"" + std::string(schedule::to_string(w.chunk_placement)) +
         "\",\"batches\":" + std::to_string(w.batches) + ",\"time_per_batch\":" + json_number(r.time_per_batch) +
         ",\"throughput\":" + json_number(r.throughput) + ",\"utilisation\":" + json_number(r.utilisation) +
         ",\"utilisation_per_device\":" + json_array(r.utilisation_per_device) +
         ",\"bubble_fraction\":" + json_number(r.bubble_fraction) +
         ",\"speedup_vs_sequential\":" + json_number(e.speedup_vs_sequential) +
         ",\"speedup_vs_serial\":" + json_number(r.speedup_vs_serial) + ",\"makespan\":" + json_number(r.makespan) +
         ",\"peak_activation_memory\":" + json_array(r.peak_activation_memory) +
         ",\"peak_teacher_outputs\":" + json_array(r.peak_teacher_outputs) +
         ",\"teacher_versions_held\":" + json_array(r.teacher_versions_held) + "}";
}

void print_metrics(const std::string& name, const planning::Evaluation& e) {
  const auto& r = e.result;
  const auto& w = e.generated.workload;
  const std::string chunks = w.chunks > 1 ? " chunks=" + chunks_of(w) : std::string();
  std::printf("schedule               %s (S=%d M=%d V=%d staleness=%d split=%s%s, %d batches)\n", name.c_str(), w.stages,
              w.micro_batches, w.views, w.staleness, std::string(schedule::to_string(w.split)).c_str(), chunks.c_str(), w.batches);
  std::printf("time per batch         %.4g (steady state)\n", r.time_per_batch);
  std::printf("throughput             %.4g batches per time unit\n", r.throughput);
  std::printf("utilisation            %.4f (bubble fraction %.4f)\n", r.utilisation, r.bubble_fraction);
  std::printf("speed-up vs sequential %.3fx\n", e.speedup_vs_sequential);
  std::printf("speed-up vs serial     %.3fx (utilisation x S)\n", r.speedup_vs_serial);
  std::printf("per device             util / peak activation memory / teacher outputs held / teacher versions\n");
  for (std::size_t j = 0; j < r.timeline.size(); ++j)
    std::printf("  d%-3zu                 %.4f / %.4g / %d / %d\n", j, r.utilisation_per_device[j],
                r.peak_activation_memory[j], r.peak_teacher_outputs[j], r.teacher_versions_held[j]);
}

schedule::Dispatch dispatch_of(const Options& o) {
  const std::string text = value_of(o, "--dispatch").value_or("in-order");
  if (text == "in-order") return schedule::Dispatch::in_order;
  if (text == "dynamic") return schedule::Dispatch::dynamic;
  throw UsageError{"--dispatch must be in-order or dynamic, got " + quote(text)};
}

/// Generates the named schedule (a refusal is bad input) once, then validates and simulates it (a
/// failure there is the schedule's).
planning::Evaluation evaluate_or_fail(const std::string& name, const Workload& w, schedule::Dispatch dispatch) {
  auto g = planning::generate(name, w);
  if (!g) throw UsageError{g.message()};
  auto e = planning::evaluate_generated(name, std::move(g).value(), w, dispatch);
  if (!e) throw std::runtime_error(e.message());
  return std::move(e).value();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  if (!out) throw std::runtime_error("--out: cannot create " + quote_path(path) + " (" + std::strerror(errno) + ")");
  out << text;
  out.close();  // a full disk shows only once the buffer is flushed
  if (!out) throw std::runtime_error("--out: cannot write " + quote_path(path) + " (" + std::strerror(errno) + ")");
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// ---- PyTorch's compute-only schedule CSV: validate one, fill one with a teacher ----------------
// (schedule/torch_csv.hpp describes the form and how it maps to tspipe's IR.)

/// A PyTorch CSV read and mapped to tspipe's IR, with the cost options (--costs, --transfer,
/// --overhead, --teacher-cost) applied to its stages.
schedule::TorchImport import_torch_file(const Options& o) {
  const auto file = value_of(o, "--file");
  if (!file) throw UsageError{std::string(o.command == "fill" ? "fill" : "validate --format torch-csv") + " needs --file FILE"};
  auto csv = schedule::parse_torch_csv(read_file(o, "--file"));
  if (!csv) throw UsageError{"--file " + quote_path(*file) + ": " + csv.message()};
  const int batches = integer(o, "--batches", 8, 1, schedule::kMaxCount);
  // Per batch, each cell at most two actions (a B is BI + BW) and a LOSS; each rank an OPT.
  std::uint64_t per_batch = csv.value().ranks.size();
  for (const auto& rank : csv.value().ranks) per_batch += 3 * rank.size();
  check_memory(o, schedule::saturating_product(per_batch, static_cast<std::uint64_t>(batches)), false,
               "PyTorch schedule repeated for " + std::to_string(batches) + " batches");
  auto imported = schedule::import_torch_csv(csv.value(), batches);
  if (!imported) throw UsageError{"--file " + quote_path(*file) + ": " + imported.message()};
  schedule::TorchImport out = std::move(imported).value();
  // The cost options of a workload of this shape (its teacher is set by the caller, if any).
  Options shaped = o;
  shaped.values["--stages"] = std::to_string(out.workload.stages);
  shaped.values["--micro-batches"] = std::to_string(out.workload.micro_batches);
  shaped.values["--views"] = "1";
  shaped.values.try_emplace("--workload", "kd");
  shaped.search = false;
  const Workload costs = workload_from(shaped);
  out.workload.costs = costs.costs;
  return out;
}

/// "(rank r, column c: '1B2')" for an action the CSV holds; empty for one the import inserted.
std::string torch_origin(const schedule::TorchImport& in, int device, int position) {
  if (device < 0 || position < 0) return {};
  const auto d = static_cast<std::size_t>(device), p = static_cast<std::size_t>(position);
  if (d >= in.column.size() || p >= in.column[d].size() || in.column[d][p] < 0) return {};
  return " (rank " + std::to_string(in.rank[d][p]) + ", column " + std::to_string(in.column[d][p]) + ": '" +
         schedule::to_torch_cell(in.schedule.devices[d][p]) + "')";
}

double peak_of(const sim::SimulationResult& r) {
  return r.peak_activation_memory.empty() ? 0.0 : *std::max_element(r.peak_activation_memory.begin(), r.peak_activation_memory.end());
}

/// validate --format torch-csv: every violation, named in tspipe's tokens and PyTorch's cells;
/// when there is none, the simulated metrics under the cost options.
int validate_torch_csv(const Options& o) {
  const schedule::TorchImport in = import_torch_file(o);
  const Workload& w = in.workload;
  const auto violations = schedule::validate(in.schedule, w);
  for (const auto& v : violations) std::printf("%s%s\n", schedule::to_string(v).c_str(), torch_origin(in, v.device, v.position).c_str());
  const std::string chunks = w.chunks > 1 ? " (" + std::to_string(w.chunks) + " stages per rank, " +
                                                 std::string(schedule::to_string(w.chunk_placement)) + ")"
                                           : std::string();
  std::printf("%s: PyTorch compute-only schedule, %d ranks%s, %d micro-batches, %s backward, one step repeated for %d "
              "batches: %zu actions, %zu violations\n",
              value_of(o, "--file")->c_str(), w.stages, chunks.c_str(), w.micro_batches,
              std::string(schedule::to_string(w.split)).c_str(), w.batches, in.schedule.num_actions(), violations.size());
  if (!violations.empty()) return 1;
  auto r = sim::simulate(in.schedule, w);
  if (!r) throw std::runtime_error(r.message());
  std::printf("time per batch %.4g, utilisation %.4f, peak activation memory %.4g (student only, per-micro-batch loss)\n",
              r.value().time_per_batch, r.value().utilisation, peak_of(r.value()));
  return 0;
}

/// fill --file F --workload kd|ssl: teacher forwards (and EMA) inserted into F's student
/// schedule, its order kept; prints the filled schedule against the original and, with --out,
/// writes it (.txt text form, .json Chrome trace, .svg timeline).
int fill_torch_csv(const Options& o) {
  schedule::TorchImport in = import_torch_file(o);
  if (const auto views = value_of(o, "--views"); views && *views != "1")
    throw UsageError{"fill: a PyTorch schedule has no views (every view travels in its micro-batches), so --views must be 1"};
  Options shaped = o;
  shaped.values["--stages"] = std::to_string(in.workload.stages);
  shaped.values["--micro-batches"] = std::to_string(in.workload.micro_batches);
  shaped.values["--views"] = "1";
  shaped.values["--batches"] = std::to_string(in.workload.batches);
  shaped.search = false;
  Workload target = workload_from(shaped);  // the teacher (--workload kd|ssl, staleness, look-ahead)
  target.split = in.workload.split;
  target.chunks = in.workload.chunks;
  target.chunk_placement = in.workload.chunk_placement;
  target.per_micro_batch_loss = true;
  target.choose_split = target.choose_halves = target.choose_chunks = false;
  const Workload original = planning::without_teacher(target);
  auto filled = planning::fill_teacher(in.schedule, target);
  if (!filled) {
    std::printf("%s\n", filled.message().c_str());
    return 1;
  }
  const auto before = sim::simulate(in.schedule, original);
  const auto after = sim::simulate(filled.value().filled.schedule, target);
  if (!before || !after) throw std::runtime_error(!before ? before.message() : after.message());
  std::printf("%s: %d ranks, %d micro-batches, %s backward; %s teacher (staleness %d, look-ahead %d), teacher cost per stage "
              "%.3g x the student's forward\n",
              value_of(o, "--file")->c_str(), target.stages, target.micro_batches, std::string(schedule::to_string(target.split)).c_str(),
              std::string(schedule::to_string(target.teacher)).c_str(), target.staleness, target.teacher_lookahead,
              target.costs.stages.front().teacher_forward / target.costs.stages.front().student_forward);
  std::printf("%-34s %11s %11s %12s\n", "schedule", "time/batch", "utilisation", "peak act mem");
  std::printf("%-34s %11.4g %11.4f %12.4g\n", "original (student only)", before.value().time_per_batch, before.value().utilisation,
              peak_of(before.value()));
  std::printf("%-34s %11.4g %11s %12s\n", "teacher before each forward", filled.value().plain_time_per_batch, "", "");
  std::printf("%-34s %11.4g %11.4f %12.4g\n", filled.value().in_gaps ? "filled (teacher in the gaps)" : "filled (teacher before forwards)",
              after.value().time_per_batch, after.value().utilisation, peak_of(after.value()));
  std::printf("the filled schedule keeps every device's student order; it takes %.3fx the original's time per batch while "
              "also running the teacher\n",
              after.value().time_per_batch / before.value().time_per_batch);
  if (const auto out = value_of(o, "--out")) {
    const auto& schedule = filled.value().filled.schedule;
    const std::string title = "fill " + std::string(schedule::to_string(target.teacher)) + " teacher into " + *value_of(o, "--file");
    if (ends_with(*out, ".txt")) write_file(*out, schedule::to_text(schedule));
    else if (ends_with(*out, ".json")) write_file(*out, sim::chrome_trace(after.value().timeline, title));
    else if (ends_with(*out, ".svg")) write_file(*out, sim::svg_timeline(after.value().timeline, title));
    else throw UsageError{"fill: --out must end in .txt, .json or .svg, got " + quote_path(*out)};
    std::printf("wrote %s\n", out->c_str());
  }
  return 0;
}

int run(const Options& o) {
  if (o.command == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  // PyTorch CSVs carry their own shape, so they come before the workload options are read.
  if (o.command == "fill") return fill_torch_csv(o);
  if (o.command == "validate" && value_of(o, "--format") == "torch-csv") return validate_torch_csv(o);
  const std::string name = value_of(o, "--schedule").value_or("tspipe");
  const Workload w = workload_from(o);
  const schedule::Dispatch dispatch = dispatch_of(o);
  check_memory(o, w, dispatch == schedule::Dispatch::dynamic);
  if (o.command == "actions") {
    auto g = planning::generate(name, w);
    if (!g) throw UsageError{g.message()};
    const std::string format = value_of(o, "--format").value_or("text");
    if (format != "text" && format != "csv") throw UsageError{"--format must be text or csv, got " + quote(format)};
    std::fputs((format == "csv" ? schedule::to_csv(g.value().schedule) : schedule::to_text(g.value().schedule)).c_str(), stdout);
    return 0;
  }
  if (o.command == "metrics") {
    const auto e = evaluate_or_fail(name, w, dispatch);
    if (o.json) std::printf("%s\n", metrics_json(name, e).c_str());
    else print_metrics(name, e);
    return 0;
  }
  if (o.command == "compare") {
    std::vector<std::pair<std::string, Result<planning::Evaluation>>> rows;
    for (const auto* names : {&planning::generator_names(), &planning::virtual_stage_generator_names()})
      for (auto generator : *names) rows.emplace_back(std::string(generator), planning::evaluate(generator, w, dispatch));
    if (o.json) {
      std::string out = "{\"schedules\":[";
      bool first = true;
      for (const auto& [generator, e] : rows) {
        if (!e) continue;
        out += (first ? "" : ",") + metrics_json(generator, e.value());
        first = false;
      }
      std::printf("%s]}\n", out.c_str());
      return 0;
    }
    std::printf("workload: S=%d M=%d V=%d %s teacher, staleness %d, %d batches, %s dispatch%s\n", w.stages, w.micro_batches,
                w.views, std::string(schedule::to_string(w.teacher)).c_str(), w.staleness, w.batches,
                schedule::to_string(dispatch), planner_choices(o, w).c_str());
    std::printf("%-17s %-13s %6s %-15s %12s %11s %8s %10s %10s %12s\n", "schedule", "split", "M", "chunks", "time/batch",
                "utilisation", "bubble", "vs seq", "vs serial", "peak act mem");
    for (const auto& [generator, e] : rows) {
      if (!e) {
        std::printf("%-17s n/a: %s\n", generator.c_str(), e.message().c_str());
        continue;
      }
      const auto& r = e.value().result;
      double peak = 0.0;
      for (double m : r.peak_activation_memory) peak = std::max(peak, m);
      const Workload& as_run = e.value().generated.workload;
      std::printf("%-17s %-13s %6d %-15s %12.4g %11.4f %8.4f %9.3fx %9.3fx %12.4g\n", generator.c_str(),
                  std::string(schedule::to_string(as_run.split)).c_str(), as_run.micro_batches, chunks_of(as_run).c_str(),
                  r.time_per_batch, r.utilisation, r.bubble_fraction, e.value().speedup_vs_sequential, r.speedup_vs_serial, peak);
    }
    return 0;
  }
  if (o.command == "trace") {
    const auto out = value_of(o, "--out");
    if (!out) throw UsageError{"trace needs --out FILE.json|FILE.svg|FILE.csv"};
    if (!ends_with(*out, ".json") && !ends_with(*out, ".svg") && !ends_with(*out, ".csv"))
      throw UsageError{"--out must end in .json, .svg or .csv, got " + quote_path(*out)};
    if (std::error_code error; std::filesystem::is_directory(*out, error))
      throw UsageError{"--out " + quote_path(*out) + " is a directory, not a file"};
    const auto e = evaluate_or_fail(name, w, dispatch);
    const std::string title = name + " S=" + std::to_string(w.stages) + " M=" + std::to_string(e.generated.workload.micro_batches);
    if (ends_with(*out, ".json")) write_file(*out, sim::chrome_trace(e.result.timeline, title));
    else if (ends_with(*out, ".svg")) write_file(*out, sim::svg_timeline(e.result.timeline, title));
    else write_file(*out, sim::timeline_csv(e.result.timeline));
    std::printf("wrote %s (%zu actions, time per batch %.4g, utilisation %.4f)\n", out->c_str(),
                e.generated.schedule.num_actions(), e.result.time_per_batch, e.result.utilisation);
    return 0;
  }
  if (o.command == "validate") {
    const auto file = value_of(o, "--file");
    if (!file) throw UsageError{"validate needs --file FILE"};
    const std::string text = read_file(o, "--file");
    auto parsed = text.rfind(std::string(schedule::kScheduleCsvHeader), 0) == 0 ? schedule::parse_csv(text, w.chunks)
                                                                                 : schedule::parse_text(text, w.chunks);
    if (!parsed) throw UsageError{"--file " + quote_path(*file) + ": " + parsed.message()};
    const auto violations = schedule::validate(parsed.value(), w);
    for (const auto& v : violations) std::printf("%s\n", schedule::to_string(v).c_str());
    std::printf("%s: %zu actions, %zu violations\n", file->c_str(), parsed.value().num_actions(), violations.size());
    return violations.empty() ? 0 : 1;
  }
  throw UsageError{"unknown command " + quote(o.command) + " (known: " + known_commands() + ")"};
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse_arguments(argc, argv));
  } catch (const UsageError& e) {
    std::fprintf(stderr, "tspipe-sim: %s\n(run 'tspipe-sim --help' for usage)\n", e.message.c_str());
    return 2;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "tspipe-sim: out of memory (lower --max-memory-mb to what this machine has)\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tspipe-sim: %s\n", e.what());
    return 1;
  }
}
