// Fuzz target for Pipeline::load: any file must either load or be refused with a tspipe::Error,
// leaving a pipeline that still trains; never a crash, an overflow or another exception. Under
// the fuzz build the checksums are checked for form only (FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION),
// so mutations reach the tensor, teacher-version, optimizer and metadata checks behind them.
#include "checkpoint_pipeline.hpp"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static tspipe::Pipeline<fuzz::B> pipeline = fuzz::checkpoint_pipeline();
  static const std::filesystem::path file =
      std::filesystem::temp_directory_path() / ("tspipe_fuzz_checkpoint_" + std::to_string(::getpid()) + ".safetensors");
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    pipeline.load(file);
  } catch (const tspipe::Error&) {
    // Refused with a message, the expected outcome for damaged input; the pipeline must be whole.
  }
  std::filesystem::remove(file);
  pipeline.feed(fuzz::views(pipeline.batches_fed()), {});
  pipeline.flush();
  // Finite but huge loaded weights may overflow to a non-finite loss: that is the weights' doing,
  // not the loader's, so the losses are drained, not judged.
  (void)pipeline.take_losses();
  return 0;
}
