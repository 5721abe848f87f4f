// Fuzz target for the safetensors reader. Any input must either parse or be rejected with a
// tspipe::Error — never crash, hang, or throw anything else — and whatever parses must survive a
// write/read round trip unchanged.
#include <tspipe/nn/safetensors.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tspipe::nn;
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  SafetensorsContent parsed;
  try {
    parsed = parse_safetensors(bytes, "fuzz input");
  } catch (const tspipe::Error&) {
    return 0;  // rejected with a message: the expected outcome for malformed input
  }
  const auto image = serialize_safetensors(parsed);
  if (parse_safetensors(image, "fuzz round trip") != parsed) {
    std::fprintf(stderr, "safetensors round trip changed the content\n");
    std::abort();
  }
  for (const auto& entry : parsed.tensors) {
    if (entry.second.to_f32().size() != entry.second.size()) {
      std::fprintf(stderr, "tensor '%s' converts to the wrong number of floats\n", entry.first.c_str());
      std::abort();
    }
  }
  return 0;
}
