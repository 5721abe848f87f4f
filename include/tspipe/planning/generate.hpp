#pragma once
// Every schedule generator by name: the fixed orders of schedule/generators.hpp, the
// cost-aware `tspipe` search and the virtual-stage orders (virtual_stages.hpp), which run only
// workloads with chunks > 1 or choose_chunks. This is what the runtime, the CLI and research code
// call.
#include <tspipe/planning/tspipe_search.hpp>
#include <tspipe/schedule/generators.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace tspipe::planning {

/// The generators every user expects, by name: each runs one chunk per device (`tspipe` also
/// runs more).
inline const std::vector<std::string_view>& generator_names() {
  static const std::vector<std::string_view> names = {"sequential", "gpipe", "1f1b", "tspipe-paper", "tspipe"};
  return names;
}

/// The generators of virtual stages (v > 1 chunks per device), offered beside generator_names()
/// (the runtime runs them when its pipeline has chunks > 1).
inline const std::vector<std::string_view>& virtual_stage_generator_names() {
  static const std::vector<std::string_view> names = {"interleaved-1f1b", "zbv"};
  return names;
}

/// Generates the named schedule; an unknown name is an error that lists the known ones.
inline Result<Generated> generate(std::string_view generator, const Workload& w) {
  if (generator == "sequential") return schedule::generate_sequential(w);
  if (generator == "gpipe") return schedule::generate_gpipe(w);
  if (generator == "1f1b") return schedule::generate_1f1b(w);
  if (generator == "tspipe-paper") return schedule::generate_tspipe_paper(w);
  if (generator == "tspipe") return generate_tspipe(w);
  if (generator == "interleaved-1f1b") return generate_interleaved_1f1b(w);
  if (generator == "zbv") return generate_zbv(w);
  std::string known, chunked;
  for (auto n : generator_names()) known += (known.empty() ? "" : ", ") + std::string(n);
  for (auto n : virtual_stage_generator_names()) chunked += (chunked.empty() ? "" : ", ") + std::string(n);
  return Result<Generated>::failure("unknown schedule " + schedule::quote(generator) + " (known: " + known +
                                    "; with virtual stages: " + chunked + ")");
}

}  // namespace tspipe::planning
