#pragma once
// The ranges every number entering the schedule layer is checked against (Workload::check, the
// cost-table and schedule parsers, the CLI), and how much of a bad input an error message quotes.
//
// They are far above any real pipeline and chosen so that no accepted input reaches undefined or
// wrapping arithmetic: counts stay inside the IR's 32-bit fields and positions (a staleness or
// look-ahead of INT_MAX would overflow `b + δ`), and costs are finite and small enough that a sum
// over every action of the largest workload stays finite (1e308 per action would overflow to inf,
// which the simulator would then read as "never").
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>

namespace tspipe::schedule {

/// Stages of a workload, devices of a schedule file, rows of a cost table.
inline constexpr int kMaxStages = 4096;
/// Micro-batches, views, batches, staleness δ, warm-up K, teacher versions, a frozen teacher's
/// look-ahead, and the largest M a search may pick: 2^24 each, so sums of two never overflow.
inline constexpr int kMaxCount = 1 << 24;
/// Actions a workload may expect: the IR numbers positions and dense indices in 32 bits.
inline constexpr std::uint64_t kMaxActions = (std::uint64_t{1} << 31) - 1;
/// Every cost, memory size and cap, in any unit: finite, ≥ 0 and at most 1e18 (a sum over
/// kMaxActions actions and their transfers then stays below 1e28).
inline constexpr double kMaxValue = 1e18;
/// Bytes of an input an error message quotes; longer inputs are cut and their length given.
inline constexpr std::size_t kMaxQuoted = 40;

/// `text` in single quotes for an error message: at most `most` bytes of it (then "…" and the
/// full length), with control and non-ASCII bytes written as \xNN so a binary input cannot
/// scramble the terminal.
inline std::string quote(std::string_view text, std::size_t most = kMaxQuoted) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "'";
  for (std::size_t i = 0; i < text.size() && i < most; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  out += '\'';
  if (text.size() > most) out += "… (" + std::to_string(text.size()) + " bytes)";
  return out;
}

/// A number for an error message, in the shortest form that reads back to it ("inf", "nan",
/// "1e+308"; never 309 digits).
inline std::string shown(double x) {
  char buffer[32];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, x);
  return ec == std::errc{} ? std::string(buffer, end) : std::string("?");
}

/// Whether `x` is a cost, memory size or cap the schedule layer accepts.
constexpr bool value_in_range(double x) { return x >= 0.0 && x <= kMaxValue; }  // false for NaN and inf

/// a · b, saturating at the largest uint64 (for counting what a workload would generate before
/// anything is allocated).
constexpr std::uint64_t saturating_product(std::uint64_t a, std::uint64_t b) {
  if (a != 0 && b > std::numeric_limits<std::uint64_t>::max() / a) return std::numeric_limits<std::uint64_t>::max();
  return a * b;
}
/// a + b, saturating at the largest uint64.
constexpr std::uint64_t saturating_sum(std::uint64_t a, std::uint64_t b) {
  return b > std::numeric_limits<std::uint64_t>::max() - a ? std::numeric_limits<std::uint64_t>::max() : a + b;
}

}  // namespace tspipe::schedule
