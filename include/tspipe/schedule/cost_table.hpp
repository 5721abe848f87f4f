#pragma once
// Per-stage cost tables as CSV, e.g. written by the runtime's profiler and read by
// `tspipe-sim --costs FILE`:
//   stage,teacher_forward,student_forward,student_backward
//   0,3.1,1.0,2.1
//   1,2.9,1.2,2.3
// `stage` is required; every other column is optional (unlisted ones keep StageCost's defaults)
// and must be one of StageCost's fields.
#include <tspipe/schedule/schedule.hpp>
#include <tspipe/schedule/workload.hpp>

#include <algorithm>
#include <charconv>
#include <string>
#include <string_view>
#include <vector>

namespace tspipe::schedule {

namespace detail {
/// The cells of one CSV line, blanks around each trimmed; at most `max_cells` of them (a longer
/// line yields max_cells + 1, so the caller sees it is too long without splitting it all).
inline std::vector<std::string_view> split_commas(std::string_view line, std::size_t max_cells) {
  std::vector<std::string_view> cells;
  while (true) {
    const auto comma = line.find(',');
    std::string_view cell = line.substr(0, comma);
    while (!cell.empty() && (cell.front() == ' ' || cell.front() == '\t')) cell.remove_prefix(1);
    while (!cell.empty() && (cell.back() == ' ' || cell.back() == '\t')) cell.remove_suffix(1);
    cells.push_back(cell);
    if (comma == std::string_view::npos || cells.size() > max_cells) return cells;
    line.remove_prefix(comma + 1);
  }
}
inline std::size_t count_cells(std::string_view line) {
  return static_cast<std::size_t>(std::count(line.begin(), line.end(), ',')) + 1;
}
}  // namespace detail

/// Writes every StageCost field for every stage.
inline std::string to_csv(const CostModel& model) {
  std::string out = "stage";
  for (const auto& c : detail::kCostColumns) out += ',' + std::string(c.name);
  out += '\n';
  for (std::size_t s = 0; s < model.stages.size(); ++s) {
    out += std::to_string(s);
    for (const auto& c : detail::kCostColumns) {
      char buffer[32];
      const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, model.stages[s].*(c.field));
      out += ',' + std::string(buffer, ec == std::errc{} ? end : buffer);
    }
    out += '\n';
  }
  return out;
}

/// Parses a cost table; every stage 0…S−1 (S ≤ kMaxStages) must appear exactly once, and every
/// value must be finite and in [0, 1e18] (backward_input_share in [0, 1]).
inline Result<CostModel> parse_cost_csv(std::string_view text) {
  using R = Result<CostModel>;
  detail::LineReader reader(text);
  std::string_view first;
  if (!reader.next(first) || detail::blank(first)) return R::failure("cost CSV: empty input, expected a header starting with 'stage'");
  // 'stage' and each known column at most once: anything longer is an error below.
  const std::size_t most_columns = 1 + detail::kCostColumns.size();
  const auto header = detail::split_commas(first, most_columns);
  if (header.front() != "stage") return R::failure("cost CSV: the first column must be 'stage', got " + quote(header.front()));
  std::vector<double StageCost::*> fields;
  for (std::size_t c = 1; c < header.size(); ++c) {
    double StageCost::*field = nullptr;
    for (const auto& known : detail::kCostColumns)
      if (known.name == header[c]) field = known.field;
    if (!field) {
      std::string names;
      for (const auto& known : detail::kCostColumns) names += (names.empty() ? "" : ", ") + std::string(known.name);
      return R::failure("cost CSV: unknown column " + quote(header[c]) + " (known: " + names + ")");
    }
    for (std::size_t prev = 1; prev < c; ++prev)
      if (header[prev] == header[c]) return R::failure("cost CSV: column '" + std::string(header[c]) + "' appears twice");
    fields.push_back(field);
  }
  CostModel model;
  std::vector<bool> seen;
  for (std::string_view line; reader.next(line);) {
    if (detail::blank(line)) continue;
    const std::string where = "cost CSV, line " + std::to_string(reader.number()) + ": ";
    const auto cells = detail::split_commas(line, header.size());
    if (cells.size() != header.size())
      return R::failure(where + "has " + std::to_string(detail::count_cells(line)) + " columns, the header " + std::to_string(header.size()));
    auto stage = detail::parse_index(cells[0], "stage");
    if (!stage) return R::failure(where + stage.message());
    if (stage.value() >= kMaxStages)
      return R::failure(where + "stage " + std::to_string(stage.value()) + " is implausibly large (at most " +
                        std::to_string(kMaxStages - 1) + ")");
    const std::size_t s = static_cast<std::size_t>(stage.value());
    if (s >= model.stages.size()) {
      model.stages.resize(s + 1);
      seen.resize(s + 1, false);
    }
    if (seen[s]) return R::failure(where + "stage " + std::to_string(s) + " appears twice");
    seen[s] = true;
    for (std::size_t c = 1; c < cells.size(); ++c) {
      double value = 0.0;
      const auto [end, ec] = std::from_chars(cells[c].data(), cells[c].data() + cells[c].size(), value);
      const bool share = fields[c - 1] == &StageCost::backward_input_share;
      if (cells[c].empty() || ec != std::errc{} || end != cells[c].data() + cells[c].size() || !value_in_range(value) ||
          (share && value > 1.0))
        return R::failure(where + "column '" + std::string(header[c]) + "' = " + quote(cells[c]) +
                          (share ? " is not a number in [0, 1]" : " is not a non-negative finite number (at most 1e18)"));
      model.stages[s].*(fields[c - 1]) = value;
    }
  }
  if (model.stages.empty()) return R::failure("cost CSV: no stage rows");
  for (std::size_t s = 0; s < seen.size(); ++s)
    if (!seen[s]) return R::failure("cost CSV: stage " + std::to_string(s) + " is missing");
  return model;
}

}  // namespace tspipe::schedule
