#pragma once
// A schedule is data: for every device, the ordered list of its actions. It has a stable text form
//   d0: FT:0.0.0.0 FS:0.0.0.0 ...
//   d1: ...
// (one line per device) and a CSV form (device,position,token), both of which round-trip.
#include <tspipe/error.hpp>
#include <tspipe/schedule/action.hpp>

#include <charconv>
#include <cstddef>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace tspipe::schedule {

struct Schedule {
  std::string generator;                   ///< the generator that made it ("" when loaded)
  std::vector<std::vector<Action>> devices; ///< devices[j] = device j's actions, in order

  std::size_t num_actions() const {
    std::size_t n = 0;
    for (const auto& d : devices) n += d.size();
    return n;
  }
  friend bool operator==(const Schedule& a, const Schedule& b) { return a.devices == b.devices; }
};

/// One line per device: "d<j>: tok tok …".
inline std::string to_text(const Schedule& schedule) {
  std::string out;
  for (std::size_t j = 0; j < schedule.devices.size(); ++j) {
    out += 'd' + std::to_string(j) + ':';
    for (const Action& a : schedule.devices[j]) {
      out += ' ';
      out += to_token(a);
    }
    out += '\n';
  }
  return out;
}

namespace detail {
inline std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return lines;
}
inline bool blank(std::string_view line) { return line.find_first_not_of(" \t") == std::string_view::npos; }
inline Result<int> parse_index(std::string_view text, std::string_view what) {
  int value = -1;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || value < 0)
    return Result<int>::failure(std::string(what) + " '" + std::string(text) + "' is not a non-negative integer");
  return value;
}
}  // namespace detail

/// Parses the text form. Lines must name devices d0, d1, … in order; blank lines and lines starting
/// with '#' are ignored. LOSS tokens are placed on the last device's stage.
inline Result<Schedule> parse_text(std::string_view text) {
  std::vector<std::string_view> lines;
  for (std::string_view line : detail::split_lines(text))
    if (!detail::blank(line) && line.front() != '#') lines.push_back(line);
  Schedule schedule;
  const int last_stage = static_cast<int>(lines.size()) - 1;
  for (std::size_t j = 0; j < lines.size(); ++j) {
    std::string_view line = lines[j];
    const auto where = "schedule text, device line " + std::to_string(j + 1) + ": ";
    const auto colon = line.find(':');
    if (line.front() != 'd' || colon == std::string_view::npos)
      return Result<Schedule>::failure(where + "expected 'd<j>: tok tok ...', got '" + std::string(line.substr(0, 40)) + "'");
    auto device = detail::parse_index(line.substr(1, colon - 1), "device number");
    if (!device) return Result<Schedule>::failure(where + device.message());
    if (device.value() != static_cast<int>(j))
      return Result<Schedule>::failure(where + "devices must be listed in order: expected d" +
                                       std::to_string(j) + ", got d" + std::to_string(device.value()));
    schedule.devices.emplace_back();
    std::string_view rest = line.substr(colon + 1);
    while (!rest.empty()) {
      const auto start = rest.find_first_not_of(" \t");
      if (start == std::string_view::npos) break;
      rest.remove_prefix(start);
      const auto end = rest.find_first_of(" \t");
      auto action = parse_token(rest.substr(0, end), last_stage);
      if (!action) return Result<Schedule>::failure(where + action.message());
      schedule.devices.back().push_back(action.value());
      if (end == std::string_view::npos) break;
      rest.remove_prefix(end);
    }
  }
  return schedule;
}

inline constexpr std::string_view kScheduleCsvHeader = "device,position,token";

/// CSV: a header "device,position,token", then one row per action in device order. Being a list
/// of actions, it carries devices up to the last one that has an action (a schedule of a valid
/// workload has actions on every device, so nothing is lost there).
inline std::string to_csv(const Schedule& schedule) {
  std::string out(kScheduleCsvHeader);
  out += '\n';
  for (std::size_t j = 0; j < schedule.devices.size(); ++j)
    for (std::size_t p = 0; p < schedule.devices[j].size(); ++p)
      out += std::to_string(j) + ',' + std::to_string(p) + ',' + to_token(schedule.devices[j][p]) + '\n';
  return out;
}

/// Parses the CSV form. Rows may come in any order; positions of a device must be 0…n−1 exactly.
inline Result<Schedule> parse_csv(std::string_view text) {
  const auto lines = detail::split_lines(text);
  if (lines.empty() || lines.front() != kScheduleCsvHeader)
    return Result<Schedule>::failure("schedule CSV: the header must be '" + std::string(kScheduleCsvHeader) +
                                     "', got '" + std::string(lines.empty() ? "" : lines.front().substr(0, 60)) + "'");
  struct Row { int device, position; std::string_view token; };
  std::vector<Row> rows;
  int num_devices = 0;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const std::string_view line = lines[i];
    if (detail::blank(line)) continue;
    const auto where = "schedule CSV, line " + std::to_string(i + 1) + ": ";
    const auto c1 = line.find(',');
    const auto c2 = c1 == std::string_view::npos ? c1 : line.find(',', c1 + 1);
    if (c2 == std::string_view::npos || line.find(',', c2 + 1) != std::string_view::npos)
      return Result<Schedule>::failure(where + "expected 3 columns (device,position,token), got '" + std::string(line.substr(0, 60)) + "'");
    auto device = detail::parse_index(line.substr(0, c1), "device");
    if (!device) return Result<Schedule>::failure(where + device.message());
    auto position = detail::parse_index(line.substr(c1 + 1, c2 - c1 - 1), "position");
    if (!position) return Result<Schedule>::failure(where + position.message());
    if (device.value() > 1 << 20) return Result<Schedule>::failure(where + "device number too large");
    rows.push_back({device.value(), position.value(), line.substr(c2 + 1)});
    num_devices = std::max(num_devices, device.value() + 1);
  }
  Schedule schedule;
  schedule.devices.resize(static_cast<std::size_t>(num_devices));
  std::vector<std::vector<std::string_view>> tokens(static_cast<std::size_t>(num_devices));
  std::vector<std::size_t> counts(static_cast<std::size_t>(num_devices), 0);
  for (const Row& row : rows) ++counts[static_cast<std::size_t>(row.device)];
  for (std::size_t j = 0; j < tokens.size(); ++j) tokens[j].assign(counts[j], std::string_view{});
  for (const Row& row : rows) {
    auto& slots = tokens[static_cast<std::size_t>(row.device)];
    const auto where = "schedule CSV: device " + std::to_string(row.device) + " position " + std::to_string(row.position);
    if (static_cast<std::size_t>(row.position) >= slots.size())
      return Result<Schedule>::failure(where + " is beyond its " + std::to_string(slots.size()) + " rows");
    if (!slots[static_cast<std::size_t>(row.position)].empty())
      return Result<Schedule>::failure(where + " appears twice");
    if (row.token.empty()) return Result<Schedule>::failure(where + " has an empty token");
    slots[static_cast<std::size_t>(row.position)] = row.token;
  }
  for (std::size_t j = 0; j < tokens.size(); ++j)
    for (std::string_view token : tokens[j]) {
      auto action = parse_token(token, num_devices - 1);
      if (!action) return Result<Schedule>::failure("schedule CSV: device " + std::to_string(j) + ": " + action.message());
      schedule.devices[j].push_back(action.value());
    }
  return schedule;
}

}  // namespace tspipe::schedule
