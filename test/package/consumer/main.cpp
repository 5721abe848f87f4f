// A downstream project: only the installed headers and the exported tspipe::tspipe target.
#include <tspipe/planning/evaluate.hpp>

#include <cstdio>

int main() {
  tspipe::schedule::Workload w = tspipe::schedule::ssl_workload(4);
  auto e = tspipe::planning::evaluate("tspipe-paper", w);
  if (!e) {
    std::fprintf(stderr, "%s\n", e.message().c_str());
    return 1;
  }
  std::printf("tspipe-paper SSL S=4 utilisation %g\n", e.value().result.utilisation);
  return 0;
}
