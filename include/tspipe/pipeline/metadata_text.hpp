#pragma once
// Numbers in checkpoint metadata (safetensors metadata holds strings): doubles are written in the
// shortest text that reads back to the same double, so that a resumed run continues from exactly
// the values the saving run had; reading accepts only what a writer could have written, and each
// refusal names the field and quotes (the start of) its text.
#include <tspipe/error.hpp>

#include <charconv>
#include <cmath>
#include <string>
#include <system_error>

namespace tspipe {

namespace detail {
inline std::string quoted_brief(const std::string& text) {
  constexpr std::size_t kLongest = 40;
  return "'" + (text.size() > kLongest ? text.substr(0, kLongest) + "..." : text) + "'";
}
}  // namespace detail

/// `value` as the shortest text that reads back exactly; `what` names it when it is not finite.
inline std::string exact_text(double value, const std::string& what) {
  if (!std::isfinite(value)) throw Error("checkpoint: " + what + " is " + std::to_string(value) + ", not a finite number");
  char buffer[64];
  const auto written = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, written.ptr);
}

/// A finite number ≥ `minimum` written by exact_text; throws Error("<what> '<text>' is not …").
inline double read_finite(const std::string& text, const std::string& what, double minimum = 0.0) {
  double value = 0.0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || !std::isfinite(value) || !(value >= minimum))
    throw Error(what + " " + detail::quoted_brief(text) + " is not a finite number ≥ " + exact_text(minimum, what));
  return value;
}

/// A non-negative integer; throws Error("<what> '<text>' is not a non-negative integer").
inline long read_count(const std::string& text, const std::string& what) {
  long value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || value < 0)
    throw Error(what + " " + detail::quoted_brief(text) + " is not a non-negative integer");
  return value;
}

inline std::string flag_text(bool value) { return value ? "true" : "false"; }
/// "true" or "false"; throws Error naming `what` otherwise.
inline bool read_flag(const std::string& text, const std::string& what) {
  if (text == "true" || text == "false") return text == "true";
  throw Error(what + " " + detail::quoted_brief(text) + " is neither 'true' nor 'false'");
}

}  // namespace tspipe
