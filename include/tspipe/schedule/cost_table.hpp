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

#include <array>
#include <charconv>
#include <string>
#include <string_view>
#include <vector>

namespace tspipe::schedule {

namespace detail {
struct CostColumn {
  std::string_view name;
  double StageCost::*field;
};
inline constexpr std::array<CostColumn, 10> kCostColumns = {{
    {"teacher_forward", &StageCost::teacher_forward},
    {"student_forward", &StageCost::student_forward},
    {"student_backward", &StageCost::student_backward},
    {"backward_input_share", &StageCost::backward_input_share},
    {"loss", &StageCost::loss},
    {"optimizer", &StageCost::optimizer},
    {"ema", &StageCost::ema},
    {"transfer", &StageCost::transfer},
    {"activation_memory", &StageCost::activation_memory},
    {"teacher_output_memory", &StageCost::teacher_output_memory},
}};

inline std::vector<std::string_view> split_commas(std::string_view line) {
  std::vector<std::string_view> cells;
  while (true) {
    const auto comma = line.find(',');
    std::string_view cell = line.substr(0, comma);
    while (!cell.empty() && (cell.front() == ' ' || cell.front() == '\t')) cell.remove_prefix(1);
    while (!cell.empty() && (cell.back() == ' ' || cell.back() == '\t')) cell.remove_suffix(1);
    cells.push_back(cell);
    if (comma == std::string_view::npos) return cells;
    line.remove_prefix(comma + 1);
  }
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

/// Parses a cost table; every stage 0…S−1 must appear exactly once.
inline Result<CostModel> parse_cost_csv(std::string_view text) {
  using R = Result<CostModel>;
  const auto lines = detail::split_lines(text);
  if (lines.empty() || detail::blank(lines.front())) return R::failure("cost CSV: empty input, expected a header starting with 'stage'");
  const auto header = detail::split_commas(lines.front());
  if (header.front() != "stage") return R::failure("cost CSV: the first column must be 'stage', got '" + std::string(header.front()) + "'");
  std::vector<double StageCost::*> fields;
  for (std::size_t c = 1; c < header.size(); ++c) {
    double StageCost::*field = nullptr;
    for (const auto& known : detail::kCostColumns)
      if (known.name == header[c]) field = known.field;
    if (!field) {
      std::string names;
      for (const auto& known : detail::kCostColumns) names += (names.empty() ? "" : ", ") + std::string(known.name);
      return R::failure("cost CSV: unknown column '" + std::string(header[c]) + "' (known: " + names + ")");
    }
    for (std::size_t prev = 1; prev < c; ++prev)
      if (header[prev] == header[c]) return R::failure("cost CSV: column '" + std::string(header[c]) + "' appears twice");
    fields.push_back(field);
  }
  CostModel model;
  std::vector<bool> seen;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    if (detail::blank(lines[i])) continue;
    const std::string where = "cost CSV, line " + std::to_string(i + 1) + ": ";
    const auto cells = detail::split_commas(lines[i]);
    if (cells.size() != header.size())
      return R::failure(where + "has " + std::to_string(cells.size()) + " columns, the header " + std::to_string(header.size()));
    auto stage = detail::parse_index(cells[0], "stage");
    if (!stage) return R::failure(where + stage.message());
    if (stage.value() > 4096) return R::failure(where + "stage " + std::to_string(stage.value()) + " is implausibly large");
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
      if (cells[c].empty() || ec != std::errc{} || end != cells[c].data() + cells[c].size() || !(value >= 0.0))
        return R::failure(where + "column '" + std::string(header[c]) + "' = '" + std::string(cells[c]) +
                          "' is not a non-negative number");
      model.stages[s].*(fields[c - 1]) = value;
    }
  }
  if (model.stages.empty()) return R::failure("cost CSV: no stage rows");
  for (std::size_t s = 0; s < seen.size(); ++s)
    if (!seen[s]) return R::failure("cost CSV: stage " + std::to_string(s) + " is missing");
  return model;
}

}  // namespace tspipe::schedule
