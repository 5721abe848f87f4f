// A downstream project: only the installed headers and the exported tspipe::tspipe target.
#include <tspipe/sim/evaluate.hpp>

#include <cstdio>

int main() {
  tspipe::schedule::Workload w = tspipe::schedule::ssl_workload(4);
  auto e = tspipe::sim::evaluate("tspipe-paper", w);
  if (!e) {
    std::fprintf(stderr, "%s\n", e.message().c_str());
    return 1;
  }
  std::printf("tspipe-paper SSL S=4 utilisation %g\n", e.value().result.utilisation);
  return 0;
}
