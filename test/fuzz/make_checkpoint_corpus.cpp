// Writes the seed corpus of fuzz_checkpoint (corpus/checkpoint): checkpoints of its pipeline
// before training, after one batch and after three (teacher versions, optimizer moments). Build
// and run from the repository root:
//   g++ -std=c++20 -O1 -Iinclude -Ibackends/cpu test/fuzz/make_checkpoint_corpus.cpp \
//       -Lbuild/ci/backends/cpu -ltspipe_cpu -lopenblas -o /tmp/make_checkpoint_corpus
//   /tmp/make_checkpoint_corpus test/fuzz/corpus/checkpoint
#include "checkpoint_pipeline.hpp"

#include <cstdio>
#include <filesystem>
#include <string>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_FOLDER\n", argv[0]);
    return 2;
  }
  const std::filesystem::path folder = argv[1];
  std::filesystem::create_directories(folder);
  auto pipeline = fuzz::checkpoint_pipeline();
  long trained = 0;
  for (const long until : {0L, 1L, 3L}) {
    for (; trained < until; ++trained) pipeline->feed(fuzz::views(static_cast<std::uint64_t>(trained)), {});
    pipeline->flush();
    pipeline->save(folder / ("after_" + std::to_string(until) + "_batches.safetensors"));
  }
  return 0;
}
