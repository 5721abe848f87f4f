#pragma once
// A schedule is data: for every device, the ordered list of its actions. It has a stable text form
//   d0: FT:0.0.0.0 FS:0.0.0.0 ...
//   d1: ...
// (one line per device) and a CSV form (device,position,token), both of which round-trip.
#include <tspipe/error.hpp>
#include <tspipe/schedule/action.hpp>
#include <tspipe/schedule/limits.hpp>

#include <algorithm>
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
/// The lines of a text one at a time ('\n' or "\r\n" ends one; a last line needs no '\n'), so
/// a file of a hundred million empty lines costs no memory to read.
class LineReader {
 public:
  explicit LineReader(std::string_view text) : rest_(text) {}
  /// The next line into `line`; false at the end.
  bool next(std::string_view& line) {
    if (rest_.empty()) return false;
    const auto nl = rest_.find('\n');
    line = rest_.substr(0, nl);
    rest_ = nl == std::string_view::npos ? std::string_view{} : rest_.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    ++number_;
    return true;
  }
  /// The 1-based number of the line `next` returned last.
  std::size_t number() const { return number_; }

 private:
  std::string_view rest_;
  std::size_t number_ = 0;
};
inline bool blank(std::string_view line) { return line.find_first_not_of(" \t") == std::string_view::npos; }
inline Result<int> parse_index(std::string_view text, std::string_view what) {
  int value = -1;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || value < 0)
    return Result<int>::failure(std::string(what) + " " + quote(text) + " is not a non-negative integer");
  return value;
}
/// Device lines of the text form: neither blank nor a '#' comment.
inline bool device_line(std::string_view line) { return !blank(line) && line.front() != '#'; }
}  // namespace detail

/// The logical stage a LOSS token gets in a schedule of `num_devices` devices with `chunks` chunks
/// each (LOSS's stage is not in its text). `chunks` is clamped to the workload's range, as a
/// workload with more is refused anyway.
inline int parsed_loss_stage(std::size_t num_devices, int chunks) {
  const long long logical = static_cast<long long>(num_devices) * std::clamp(chunks, 1, kMaxStages);
  return static_cast<int>(std::min<long long>(logical, kMaxStages) - 1);
}

/// Parses the text form. Lines must name devices d0, d1, … in order; blank lines and lines starting
/// with '#' are ignored. LOSS tokens are placed on the last logical stage (the last device's
/// with one chunk per device; tell `chunks` for a schedule of virtual stages).
inline Result<Schedule> parse_text(std::string_view text, int chunks = 1) {
  // LOSS tokens need the last stage, so count the device lines first.
  std::size_t num_devices = 0;
  detail::LineReader counting(text);
  for (std::string_view line; counting.next(line);)
    if (detail::device_line(line) && ++num_devices > static_cast<std::size_t>(kMaxStages))
      return Result<Schedule>::failure("schedule text: more than " + std::to_string(kMaxStages) +
                                       " device lines (a schedule has one per stage, at most " + std::to_string(kMaxStages) + ")");
  Schedule schedule;
  schedule.devices.reserve(num_devices);
  const int last_stage = parsed_loss_stage(num_devices, chunks);
  detail::LineReader reader(text);
  for (std::string_view line; reader.next(line);) {
    if (!detail::device_line(line)) continue;
    const std::size_t j = schedule.devices.size();
    const auto where = "schedule text, device line " + std::to_string(j + 1) + ": ";
    const auto colon = line.find(':');
    if (line.front() != 'd' || colon == std::string_view::npos)
      return Result<Schedule>::failure(where + "expected 'd<j>: tok tok ...', got " + quote(line));
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
/// LOSS tokens get the last logical stage, as in parse_text.
inline Result<Schedule> parse_csv(std::string_view text, int chunks = 1) {
  detail::LineReader reader(text);
  std::string_view header;
  if (!reader.next(header) || header != kScheduleCsvHeader)
    return Result<Schedule>::failure("schedule CSV: the header must be '" + std::string(kScheduleCsvHeader) +
                                     "', got " + quote(header));
  struct Row { int device, position; std::string_view token; };
  std::vector<Row> rows;
  int num_devices = 0;
  for (std::string_view line; reader.next(line);) {
    if (detail::blank(line)) continue;
    const auto where = "schedule CSV, line " + std::to_string(reader.number()) + ": ";
    const auto c1 = line.find(',');
    const auto c2 = c1 == std::string_view::npos ? c1 : line.find(',', c1 + 1);
    if (c2 == std::string_view::npos || line.find(',', c2 + 1) != std::string_view::npos)
      return Result<Schedule>::failure(where + "expected 3 columns (device,position,token), got " + quote(line));
    auto device = detail::parse_index(line.substr(0, c1), "device");
    if (!device) return Result<Schedule>::failure(where + device.message());
    auto position = detail::parse_index(line.substr(c1 + 1, c2 - c1 - 1), "position");
    if (!position) return Result<Schedule>::failure(where + position.message());
    if (device.value() >= kMaxStages)
      return Result<Schedule>::failure(where + "device number " + std::to_string(device.value()) +
                                       " too large (a schedule has one device per stage, at most " + std::to_string(kMaxStages) + ")");
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
      auto action = parse_token(token, parsed_loss_stage(static_cast<std::size_t>(num_devices), chunks));
      if (!action) return Result<Schedule>::failure("schedule CSV: device " + std::to_string(j) + ": " + action.message());
      schedule.devices[j].push_back(action.value());
    }
  return schedule;
}

}  // namespace tspipe::schedule
