// Fuzz target for Pipeline::load: any file must either load or be refused with a tspipe::Error,
// leaving a pipeline that still trains; never a crash, an overflow or another exception. Under
// the fuzz build the checksums are checked for form only (FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION),
// so mutations reach the tensor, teacher-version, optimizer and metadata checks behind them.
#include "checkpoint_pipeline.hpp"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <unistd.h>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static std::unique_ptr<tspipe::Pipeline<fuzz::B>> pipeline;
  if (!pipeline) pipeline = fuzz::checkpoint_pipeline();
  static const std::filesystem::path file =
      std::filesystem::temp_directory_path() / ("tspipe_fuzz_checkpoint_" + std::to_string(::getpid()) + ".safetensors");
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    pipeline->load(file);
  } catch (const tspipe::Error&) {
    // Refused with a message, the expected outcome for damaged input; the pipeline must be whole.
  }
  std::filesystem::remove(file);
  try {
    pipeline->feed(fuzz::views(static_cast<std::uint64_t>(pipeline->batches_fed())), {});
    pipeline->flush();
    (void)pipeline->take_losses();
  } catch (const tspipe::Error&) {
    // Finite but huge loaded weights may train to an inf the loss refuses by name: the weights'
    // doing, reported as an error, not the loader's. A pipeline that failed a segment is not
    // reused; the next input gets a fresh one.
    pipeline.reset();
  }
  return 0;
}
