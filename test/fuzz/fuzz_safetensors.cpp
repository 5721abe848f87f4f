// Fuzz target for the safetensors reader (placeholder until include/tspipe/nn/safetensors.hpp lands).
#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t*, std::size_t) { return 0; }
