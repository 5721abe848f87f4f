#pragma once
// Every schedule generator by name: the fixed orders of schedule/generators.hpp and the
// cost-aware `tspipe` search. This is what the runtime, the CLI and research code call.
#include <tspipe/planning/tspipe_search.hpp>
#include <tspipe/schedule/generators.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace tspipe::planning {

/// The generators every user expects, by name.
inline const std::vector<std::string_view>& generator_names() {
  static const std::vector<std::string_view> names = {"sequential", "gpipe", "1f1b", "tspipe-paper", "tspipe"};
  return names;
}

/// Generates the named schedule; an unknown name is an error that lists the known ones.
inline Result<Generated> generate(std::string_view generator, const Workload& w) {
  if (generator == "sequential") return schedule::generate_sequential(w);
  if (generator == "gpipe") return schedule::generate_gpipe(w);
  if (generator == "1f1b") return schedule::generate_1f1b(w);
  if (generator == "tspipe-paper") return schedule::generate_tspipe_paper(w);
  if (generator == "tspipe") return generate_tspipe(w);
  std::string known;
  for (auto n : generator_names()) known += (known.empty() ? "" : ", ") + std::string(n);
  return Result<Generated>::failure("unknown schedule " + schedule::quote(generator) + " (known: " + known + ")");
}

}  // namespace tspipe::planning
