#pragma once
// Exports of a simulated (or measured) timeline: CSV, Chrome-trace JSON (opens in Perfetto and
// chrome://tracing) and a standalone SVG. The runtime writes its measured trace through these too.
#include <tspipe/sim/simulator.hpp>

#include <algorithm>
#include <cstdio>
#include <string>

namespace tspipe::sim {

namespace detail {
inline std::string format_number(double x) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.9g", x);
  return buffer;
}
/// Teacher work, student forward, student backward and the per-batch updates get distinct colours.
inline const char* colour_of(ActionKind kind) {
  switch (kind) {
    case ActionKind::TeacherForward: return "#e8a33d";
    case ActionKind::StudentForward: return "#4c8bd6";
    case ActionKind::StudentBackward:
    case ActionKind::BackwardInput: return "#3fa66b";
    case ActionKind::BackwardWeight: return "#8ccf7e";
    case ActionKind::Loss: return "#c74b50";
    case ActionKind::Optimizer:
    case ActionKind::Ema: return "#8e6bbf";
  }
  return "#999999";
}
}  // namespace detail

/// CSV: device,position,token,start,end — one row per action.
inline std::string timeline_csv(const std::vector<std::vector<TimedAction>>& timeline) {
  std::string out = "device,position,token,start,end\n";
  for (std::size_t j = 0; j < timeline.size(); ++j)
    for (std::size_t p = 0; p < timeline[j].size(); ++p) {
      const TimedAction& t = timeline[j][p];
      out += std::to_string(j) + ',' + std::to_string(p) + ',' + schedule::to_token(t.action) + ',' +
             detail::format_number(t.start) + ',' + detail::format_number(t.end) + '\n';
    }
  return out;
}

/// Chrome-trace JSON ("X" complete events, one thread per device). `microseconds_per_unit` maps
/// the cost model's time unit to trace microseconds (a measured trace in seconds passes 1e6).
inline std::string chrome_trace(const std::vector<std::vector<TimedAction>>& timeline,
                                const std::string& title, double microseconds_per_unit = 1000.0) {
  std::string out = "{\"displayTimeUnit\":\"ms\",\"otherData\":{\"title\":\"";
  for (char c : title) out += (c == '"' || c == '\\') ? '_' : c;
  out += "\"},\"traceEvents\":[\n";
  bool first = true;
  for (std::size_t j = 0; j < timeline.size(); ++j) {
    out += std::string(first ? "" : ",\n") + "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":0,\"tid\":" +
           std::to_string(j) + ",\"args\":{\"name\":\"device " + std::to_string(j) + "\"}}";
    first = false;
    for (const TimedAction& t : timeline[j]) {
      out += ",\n{\"name\":\"" + schedule::to_token(t.action) + "\",\"cat\":\"" +
             std::string(schedule::token_prefix(t.action.kind)) + "\",\"ph\":\"X\",\"pid\":0,\"tid\":" +
             std::to_string(j) + ",\"ts\":" + detail::format_number(t.start * microseconds_per_unit) +
             ",\"dur\":" + detail::format_number((t.end - t.start) * microseconds_per_unit) +
             ",\"args\":{\"batch\":" + std::to_string(t.action.batch) + "}}";
    }
  }
  out += "\n]}\n";
  return out;
}

/// A standalone SVG timeline: one row per device, one box per action, a legend, a time axis.
inline std::string svg_timeline(const std::vector<std::vector<TimedAction>>& timeline, const std::string& title) {
  double end = 0.0;
  for (const auto& device : timeline)
    for (const TimedAction& t : device) end = std::max(end, t.end);
  if (end <= 0.0) end = 1.0;
  const double left = 60, top = 40, row = 28, width = 1200;
  const double scale = width / end;
  const double height = top + row * static_cast<double>(timeline.size()) + 50;
  using detail::format_number;
  std::string out = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + format_number(left + width + 20) +
                    "\" height=\"" + format_number(height) + "\" font-family=\"sans-serif\" font-size=\"11\">\n";
  out += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  std::string safe_title;
  for (char c : title) safe_title += (c == '<' || c == '>' || c == '&') ? ' ' : c;
  out += "<text x=\"" + format_number(left) + "\" y=\"20\" font-size=\"14\">" + safe_title + "</text>\n";
  for (std::size_t j = 0; j < timeline.size(); ++j) {
    const double y = top + row * static_cast<double>(j);
    out += "<text x=\"8\" y=\"" + format_number(y + row * 0.6) + "\">d" + std::to_string(j) + "</text>\n";
    for (const TimedAction& t : timeline[j]) {
      const double w = (t.end - t.start) * scale;
      if (w <= 0.0) continue;
      out += "<rect x=\"" + format_number(left + t.start * scale) + "\" y=\"" + format_number(y + 2) +
             "\" width=\"" + format_number(w) + "\" height=\"" + format_number(row - 4) + "\" fill=\"" +
             detail::colour_of(t.action.kind) + "\" stroke=\"white\" stroke-width=\"0.5\"><title>" +
             schedule::to_token(t.action) + " [" + format_number(t.start) + ", " + format_number(t.end) +
             ")</title></rect>\n";
    }
  }
  const double axis_y = top + row * static_cast<double>(timeline.size()) + 14;
  out += "<text x=\"" + format_number(left) + "\" y=\"" + format_number(axis_y) + "\">0</text>";
  out += "<text x=\"" + format_number(left + width - 40) + "\" y=\"" + format_number(axis_y) + "\">" + format_number(end) + "</text>\n";
  const std::pair<const char*, ActionKind> legend[] = {
      {"teacher forward", ActionKind::TeacherForward}, {"student forward", ActionKind::StudentForward},
      {"student backward", ActionKind::StudentBackward}, {"weight grad", ActionKind::BackwardWeight},
      {"loss", ActionKind::Loss}, {"OPT / EMA", ActionKind::Optimizer}};
  double x = left + 80;
  for (const auto& [label, kind] : legend) {
    out += "<rect x=\"" + format_number(x) + "\" y=\"" + format_number(axis_y + 10) + "\" width=\"12\" height=\"12\" fill=\"" +
           detail::colour_of(kind) + "\"/><text x=\"" + format_number(x + 16) + "\" y=\"" + format_number(axis_y + 20) +
           "\">" + label + "</text>\n";
    x += 130;
  }
  out += "</svg>\n";
  return out;
}

}  // namespace tspipe::sim
