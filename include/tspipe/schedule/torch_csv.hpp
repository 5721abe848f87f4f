#pragma once
// PyTorch's pipelining schedules in their compute-only CSV form, read into tspipe's IR and written
// back.
//
// The form (torch.distributed.pipelining, PipelineScheduleMulti._dump_csv / _load_csv): one CSV
// row per rank, row r being rank r's ordered actions, one action per cell, written by Python's
// csv.writer as str(_Action):
//   <stage><type><micro-batch>   e.g. 0F0, 1I3, 2W1, 0B2
// with type F (forward), B (full backward), I (backward for the input only) or W (backward for the
// weights only); _Action.from_str reads a cell with the regex (\d+)(F|I|B|W|…)(\d*). An empty cell
// is a step where the rank computes nothing (its `None`; PyTorch pads ranks so that steps line up
// in time). DualPipeV's overlapped pairs are written (<a>;<b>)OVERLAP_F_B. The stage index is
// global: with several stages per rank, the rank running a stage is the rank whose row lists it
// (PyTorch's _validate_schedule builds its stage-to-rank map from the rows, and checks only each
// stage's F before B/I before W, not that the ranks' orders can run together, which tspipe's
// validator does); interleaved schedules place
// stage s on rank s mod R ("loop"), V-shaped ones (ZBV, DualPipeV) on rank s for the first R
// stages and 2R − 1 − s for the next R ("v").
//
// Mapping to tspipe (docs/design.md): a rank's row becomes a device. With one stage per rank, the
// device of that stage; with several (R ranks, N = v·R stages), the device of the rank's first
// stage, its stages being that device's chunks: the stage-to-rank map must be interleaved or
// V-shaped (v = 2), which sets the workload's chunk placement. The result is a
// student-only workload (no teacher) with V = 1 and a per-micro-batch loss, since PyTorch computes
// micro-batch u's loss right after the last stage's forward of u, which is where LOSS:b.u goes; the
// backward split is full unless the CSV uses I/W, and then a B cell becomes BI immediately
// followed by BW (a B is exactly that pair; PyTorch's own _merge_bw fuses the pair back into a B).
// The CSV is one training step: the import repeats it for every batch, each device ending its step
// with OPT (PyTorch's optimizer step follows the schedule's step()). An OVERLAP_F_B pair runs its
// two actions one after the other (tspipe does not model two actions sharing a device at once).
//
// Not read: the compute_comms form (SEND_F, RECV_F, SEND_B, RECV_B, UNSHARD, RESHARD, REDUCE_GRAD
// cells), and stage-to-rank maps other than the two above; both are errors that say so. Cells with trailing characters (which PyTorch's prefix match would ignore) are errors.
#include <tspipe/schedule/limits.hpp>
#include <tspipe/schedule/replay.hpp>
#include <tspipe/schedule/workload.hpp>

#include <algorithm>
#include <charconv>
#include <string>
#include <string_view>
#include <vector>

namespace tspipe::schedule {

/// One compute cell: stage, type ('F', 'B', 'I' or 'W') and micro-batch.
struct TorchAction {
  int stage = 0;
  char type = 'F';
  int micro_batch = 0;
  friend bool operator==(const TorchAction&, const TorchAction&) = default;
};

inline std::string to_string(const TorchAction& a) {
  return std::to_string(a.stage) + a.type + std::to_string(a.micro_batch);
}

/// A compute-only CSV as read: each rank's actions in order (empty cells dropped) and the CSV
/// column each came from (an OVERLAP_F_B pair shares its cell's column).
struct TorchCsv {
  std::vector<std::vector<TorchAction>> ranks;
  std::vector<std::vector<int>> columns;
};

namespace detail {
/// Calls `visit(cell, column)` for each cell of one CSV line in turn (csv.writer quoting: a quoted
/// cell may hold commas and "" quotes), so a line of a million empty cells costs no memory;
/// `visit` returns a failed Status to stop. A line whose quote is not closed fails first.
template <class Visit>
Status for_each_csv_cell(std::string_view line, Visit&& visit) {
  bool open = false;
  for (const char c : line) open = c == '"' ? !open : open;  // "" inside a quoted cell toggles twice
  if (open) return Status::failure("a quoted cell is not closed");
  std::string cell;
  int column = 0;
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c != '"') cell += c;
      else if (i + 1 < line.size() && line[i + 1] == '"') cell += line[++i];
      else quoted = false;
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      if (Status ok = visit(std::string_view(cell), column); !ok) return ok;
      cell.clear();
      ++column;
    } else {
      cell += c;
    }
  }
  return visit(std::string_view(cell), column);
}

/// One "<stage><type><micro-batch>" compute action.
inline Result<TorchAction> parse_torch_action(std::string_view text) {
  const auto fail = [&](const std::string& why) {
    return Result<TorchAction>::failure("cell " + quote(text) + ": " + why);
  };
  std::size_t i = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
  if (i == 0) return fail("expected <stage><F|B|I|W><micro-batch>, e.g. 0F3");
  std::string_view kind = text.substr(i);
  std::size_t digits = kind.size();
  while (digits > 0 && kind[digits - 1] >= '0' && kind[digits - 1] <= '9') --digits;
  const std::string_view type = kind.substr(0, digits), micro = kind.substr(digits);
  for (std::string_view comm : {"SEND_F", "RECV_F", "SEND_B", "RECV_B", "UNSHARD", "RESHARD", "REDUCE_GRAD"})
    if (type == comm)
      return fail("'" + std::string(comm) + "' belongs to PyTorch's compute_comms form; only the compute-only form "
                  "(F, B, I, W) is read");
  if (type.size() != 1 || std::string_view("FBIW").find(type[0]) == std::string_view::npos)
    return fail("unknown action type " + quote(type) + " (expected F, B, I or W)");
  if (micro.empty()) return fail("the micro-batch index is missing");
  TorchAction a;
  a.type = type[0];
  const auto number = [](std::string_view digits_text, int& out) {
    const auto [end, ec] = std::from_chars(digits_text.data(), digits_text.data() + digits_text.size(), out);
    return ec == std::errc{} && end == digits_text.data() + digits_text.size() && out <= (1 << 20);
  };
  if (!number(text.substr(0, i), a.stage)) return fail("the stage index is too large");
  if (!number(micro, a.micro_batch)) return fail("the micro-batch index is too large");
  return a;
}
}  // namespace detail

/// Reads the compute-only form. Row r is rank r (at most kMaxStages ranks); trailing blank lines
/// are ignored, a blank row before the last rank is a rank without actions (an error: every rank
/// runs a stage). Lines are read one at a time.
inline Result<TorchCsv> parse_torch_csv(std::string_view text) {
  using R = Result<TorchCsv>;
  TorchCsv csv;
  std::size_t blank_rows = 0;  // blank lines since the last rank: an error once a rank follows
  detail::LineReader reader(text);
  for (std::string_view line; reader.next(line);) {
    if (detail::blank(line)) {
      ++blank_rows;
      continue;
    }
    if (blank_rows > 0)
      return R::failure("torch CSV, rank " + std::to_string(csv.ranks.size()) + " (line " +
                        std::to_string(reader.number() - blank_rows) + "): has no actions (every rank runs a stage)");
    const std::size_t r = csv.ranks.size();
    const std::string where = "torch CSV, rank " + std::to_string(r) + " (line " + std::to_string(reader.number()) + "): ";
    if (r >= static_cast<std::size_t>(kMaxStages))
      return R::failure(where + "more than " + std::to_string(kMaxStages) + " ranks (one stage each, at most " +
                        std::to_string(kMaxStages) + ")");
    csv.ranks.emplace_back();
    csv.columns.emplace_back();
    const Status read = detail::for_each_csv_cell(line, [&](std::string_view cell, int c) -> Status {
      while (!cell.empty() && (cell.front() == ' ' || cell.front() == '\t')) cell.remove_prefix(1);
      while (!cell.empty() && (cell.back() == ' ' || cell.back() == '\t')) cell.remove_suffix(1);
      if (cell.empty()) return {};  // an idle step
      std::vector<std::string_view> parts = {cell};
      constexpr std::string_view kOverlap = ")OVERLAP_F_B";
      if (cell.front() == '(') {
        if (cell.size() < kOverlap.size() + 1 || cell.substr(cell.size() - kOverlap.size()) != kOverlap)
          return Status::failure("cell " + quote(cell) + ": a parenthesised cell must be (<a>;<b>)OVERLAP_F_B");
        parts.clear();
        std::string_view inner = cell.substr(1, cell.size() - 1 - kOverlap.size());
        while (true) {
          const auto semicolon = inner.find(';');
          parts.push_back(inner.substr(0, semicolon));
          if (semicolon == std::string_view::npos) break;
          inner.remove_prefix(semicolon + 1);
        }
      }
      for (std::string_view part : parts) {
        auto action = detail::parse_torch_action(part);
        if (!action) return Status::failure("column " + std::to_string(c) + ": " + action.message());
        csv.ranks.back().push_back(action.value());
        csv.columns.back().push_back(c);
      }
      return {};
    });
    if (!read) return R::failure(where + read.message());
    if (csv.ranks.back().empty()) return R::failure(where + "has no actions (every rank runs a stage)");
  }
  if (csv.ranks.empty()) return R::failure("torch CSV: empty input, expected one row of actions per rank");
  return csv;
}

/// tspipe's view of a PyTorch schedule: the workload, the schedule, and where each of its actions
/// came from (rank and CSV column; −1 for the LOSS and OPT the import inserts).
struct TorchImport {
  Workload workload;
  Schedule schedule;
  std::vector<std::vector<int>> rank, column;  ///< per device and position
};

namespace detail {
/// The workload's chunks and placement for a stage-to-rank map of R ranks (`rank_of`, every stage
/// present), and each rank's device: the one running the rank's first stage with one chunk per
/// device. Fails when the stages are not a multiple of R or the map is neither layout.
inline Status torch_chunk_layout(const std::vector<int>& rank_of, int ranks, Workload& w, std::vector<int>& device_of_rank) {
  const int stages = static_cast<int>(rank_of.size());
  if (stages % ranks != 0)
    return Status::failure("torch CSV: " + std::to_string(stages) + " stages on " + std::to_string(ranks) +
                           " ranks: several stages per rank need the same number on every rank");
  w.chunks = stages / ranks;
  // Device d is the rank that runs stage d (the first stage of every rank when the layout fits).
  device_of_rank.assign(static_cast<std::size_t>(ranks), -1);
  for (int d = 0; d < ranks; ++d) device_of_rank[static_cast<std::size_t>(rank_of[static_cast<std::size_t>(d)])] = d;
  for (const ChunkPlacement placement : {ChunkPlacement::interleaved, ChunkPlacement::v_shape}) {
    if (placement == ChunkPlacement::v_shape && w.chunks != 2) continue;
    w.chunk_placement = placement;
    bool fits = true;
    for (int s = 0; s < stages && fits; ++s)
      fits = device_of_rank[static_cast<std::size_t>(rank_of[static_cast<std::size_t>(s)])] == w.device_of_stage(s);
    if (fits) return {};
  }
  return Status::failure("torch CSV: " + std::to_string(stages) + " stages on " + std::to_string(ranks) +
                         " ranks are placed neither interleaved (stage s on the rank of stage s mod " + std::to_string(ranks) +
                         ") nor in a V (2 stages per rank: stage s and " + std::to_string(2 * ranks - 1) + " − s together)");
}
}  // namespace detail

/// Maps a read CSV to tspipe's IR (the mapping in the header comment), repeating its step for
/// `batches` batches. Checks the shape here (every stage present on one rank, an interleaved or
/// V-shaped layout, bounded micro-batch indices); the order itself is the validator's to judge.
inline Result<TorchImport> import_torch_csv(const TorchCsv& csv, int batches = 8) {
  using R = Result<TorchImport>;
  if (batches < 1) return R::failure("torch CSV: batches = " + std::to_string(batches) + " is invalid (need at least 1)");
  const int ranks = static_cast<int>(csv.ranks.size());
  std::vector<int> rank_of;  // by stage
  std::size_t cells = 0;
  int micro_batches = 0;
  bool split = false;
  for (int r = 0; r < ranks; ++r)
    for (const TorchAction& a : csv.ranks[static_cast<std::size_t>(r)]) {
      ++cells;
      if (a.stage >= kMaxStages)
        return R::failure("torch CSV: stage " + std::to_string(a.stage) + " is more than the " + std::to_string(kMaxStages) +
                          " stages a schedule may have");
      if (rank_of.size() <= static_cast<std::size_t>(a.stage)) rank_of.resize(static_cast<std::size_t>(a.stage) + 1, -1);
      int& owner = rank_of[static_cast<std::size_t>(a.stage)];
      if (owner >= 0 && owner != r)
        return R::failure("torch CSV: stage " + std::to_string(a.stage) + " appears on ranks " + std::to_string(owner) +
                          " and " + std::to_string(r) + " (a stage runs on one rank)");
      owner = r;
      micro_batches = std::max(micro_batches, a.micro_batch + 1);
      split = split || a.type == 'I' || a.type == 'W';
    }
  for (std::size_t s = 0; s < rank_of.size(); ++s)
    if (rank_of[s] < 0) return R::failure("torch CSV: stage " + std::to_string(s) + " appears on no rank");
  // Every micro-batch needs a forward on every stage, so a larger index than there are cells is
  // a typo, not a schedule (and would size the workload by it).
  if (static_cast<std::size_t>(micro_batches) > cells)
    return R::failure("torch CSV: micro-batch index " + std::to_string(micro_batches - 1) + " with only " +
                      std::to_string(cells) + " actions in all");
  const std::size_t logical = rank_of.size();
  if (static_cast<double>(batches) * static_cast<double>(cells + static_cast<std::size_t>(micro_batches) + logical) > 1e8)
    return R::failure("torch CSV: " + std::to_string(batches) + " batches of " + std::to_string(cells) +
                      " actions is more than 1e8 actions");

  TorchImport out;
  Workload& w = out.workload;
  w.stages = ranks;
  std::vector<int> device_of_rank;
  if (Status ok = detail::torch_chunk_layout(rank_of, ranks, w, device_of_rank); !ok) return R::failure(ok.message());
  w.micro_batches = micro_batches;
  w.views = 1;
  w.batches = batches;
  w.teacher = TeacherKind::none;
  w.per_micro_batch_loss = true;
  w.split = split ? BackwardSplit::input_weight : BackwardSplit::full;
  w.costs = CostModel::unit(ranks);
  const std::size_t D = static_cast<std::size_t>(ranks);
  out.schedule.devices.resize(D);
  out.rank.resize(D);
  out.column.resize(D);
  for (int r = 0; r < ranks; ++r) {
    const auto& row = csv.ranks[static_cast<std::size_t>(r)];
    const auto d = static_cast<std::size_t>(device_of_rank[static_cast<std::size_t>(r)]);
    auto& list = out.schedule.devices[d];
    const auto place = [&](const Action& a, int column) {
      list.push_back(a);
      out.rank[d].push_back(column < 0 ? -1 : r);
      out.column[d].push_back(column);
    };
    for (int b = 0; b < batches; ++b) {
      for (std::size_t i = 0; i < row.size(); ++i) {
        const TorchAction& a = row[i];
        const int column = csv.columns[static_cast<std::size_t>(r)][i], u = a.micro_batch, s = a.stage;
        switch (a.type) {
          case 'F':
            place(student_forward(s, b, 0, u), column);
            if (s == w.last_stage()) place(loss(s, b, u), -1);
            break;
          case 'B':
            if (!split) {
              place(student_backward(s, b, 0, u), column);
              break;
            }
            place(backward_input(s, b, 0, u), column);
            place(backward_weight(s, b, 0, u), column);
            break;
          case 'I': place(backward_input(s, b, 0, u), column); break;
          default: place(backward_weight(s, b, 0, u), column); break;
        }
      }
      // Each of the rank's stages steps its optimizer, in stage order.
      for (std::size_t s = 0; s < logical; ++s)
        if (rank_of[s] == r) place(optimizer_step(static_cast<int>(s), b), -1);
    }
  }
  return out;
}

/// The PyTorch cell of a student compute action ("1F2", "1B2", "1I2", "1W2"); empty for the
/// actions the compute-only form has no cell for (teacher forwards, LOSS, OPT, EMA).
inline std::string to_torch_cell(const Action& a) {
  char type = 0;
  switch (a.kind) {
    case ActionKind::StudentForward: type = 'F'; break;
    case ActionKind::StudentBackward: type = 'B'; break;
    case ActionKind::BackwardInput: type = 'I'; break;
    case ActionKind::BackwardWeight: type = 'W'; break;
    default: return {};
  }
  return to_string(TorchAction{a.stage, type, a.micro_batch});
}

/// Writes batch `batch` of a student-only schedule in the compute-only form, one row per device.
/// Cells are padded with empty ones so that the steps line up in time the way PyTorch lays them
/// out: a replay where every compute action takes one step and a result is usable the step after
/// (what its lock-step runtime needs). Fails for what the form cannot hold: teacher forwards,
/// several views, the reference's halves.
inline Result<std::string> to_torch_csv(const Schedule& schedule, const Workload& w, int batch = 0) {
  using R = Result<std::string>;
  if (Status ok = w.check(); !ok) return R::failure("to_torch_csv: " + ok.message());
  if (w.has_teacher()) return R::failure("to_torch_csv: PyTorch's compute-only form has no teacher forward");
  if (w.views != 1) return R::failure("to_torch_csv: PyTorch's form has no views, the workload has " + std::to_string(w.views));
  if (w.split == BackwardSplit::halves) return R::failure("to_torch_csv: PyTorch's form has no backward halves");
  if (batch < 0 || batch >= w.batches) return R::failure("to_torch_csv: batch " + std::to_string(batch) + " is not in the schedule");
  if (static_cast<int>(schedule.devices.size()) != w.stages)
    return R::failure("to_torch_csv: schedule has " + std::to_string(schedule.devices.size()) + " devices, the workload " +
                      std::to_string(w.stages) + " stages");
  const ActionIndex index(w);
  const Placement placement(schedule, index);
  std::vector<std::vector<std::string>> rows(schedule.devices.size());
  const auto outcome = replay(
      schedule, index, placement,
      [&](int device, int, const Action& a, std::size_t, double start) {
        std::string cell = to_torch_cell(a);
        if (cell.empty()) return start;  // LOSS, OPT: no step of their own
        if (a.batch == batch) {
          auto& row = rows[static_cast<std::size_t>(device)];
          row.resize(static_cast<std::size_t>(start), std::string());
          row.push_back(std::move(cell));
        }
        return start + 1.0;
      },
      [](const Action&, const Action&, double finish) { return finish; });
  if (!outcome.completed) return R::failure("to_torch_csv: the schedule cannot run to the end (validate it first)");
  // Step numbers count from the batch's first step.
  std::size_t first = std::string::npos;
  for (const auto& row : rows)
    for (std::size_t c = 0; c < row.size(); ++c)
      if (!row[c].empty()) first = std::min(first, c);
  std::string out;
  for (const auto& row : rows) {
    for (std::size_t c = first == std::string::npos ? 0 : first; c < row.size(); ++c)
      out += (c > first ? "," : "") + row[c];
    out += "\r\n";  // csv.writer's line ending
  }
  return out;
}

}  // namespace tspipe::schedule
