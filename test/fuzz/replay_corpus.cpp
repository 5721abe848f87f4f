// Replays a fuzz target's seed corpus through its LLVMFuzzerTestOneInput, as an ordinary doctest.
// A target signals a broken property by aborting, so a bad seed fails this test loudly too.
#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

TEST_CASE("every seed in the fuzz corpus runs through the fuzz entry point") {
  const std::filesystem::path corpus = TSPIPE_FUZZ_CORPUS_DIR;
  REQUIRE_MESSAGE(std::filesystem::is_directory(corpus), "missing corpus folder " << corpus);
  int replayed = 0;
  for (const auto& entry : std::filesystem::directory_iterator(corpus)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    const std::vector<char> bytes{std::istreambuf_iterator<char>(in),
                                  std::istreambuf_iterator<char>()};
    INFO("seed " << entry.path().filename().string() << " (" << bytes.size() << " bytes)");
    CHECK(LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()),
                                 bytes.size()) == 0);
    ++replayed;
  }
  CHECK(replayed > 0);
}
