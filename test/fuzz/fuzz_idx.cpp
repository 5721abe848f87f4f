// Fuzz target for the IDX reader: arbitrary bytes (raw or gzip) go through the same in-memory path
// a file takes. Bad input must end in tspipe::Error; anything else — a crash, a sanitizer report,
// an accepted array whose size disagrees with its header — is a bug, and aborts.
#include <tspipe/data/augment.hpp>
#include <tspipe/data/dataset.hpp>
#include <tspipe/data/idx.hpp>
#include <tspipe/error.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

namespace {

using namespace tspipe::data;

// Small enough that a gzip bomb costs the fuzzer nothing, large enough for real-shaped seeds.
constexpr std::size_t max_inflated = std::size_t{1} << 22;

void check_consistent(const IdxArray& idx) {
  std::uint64_t product = 1;
  for (std::uint32_t d : idx.dims) product *= d;
  if ((idx.magic & 0xffu) != idx.dims.size() || product != idx.values.size()) std::abort();
}

void exercise(std::span<const std::uint8_t> bytes) {
  try {
    const IdxArray labels = parse_idx(bytes, "fuzz input", idx_labels_magic);
    check_consistent(labels);
  } catch (const tspipe::Error&) {
  }
  try {
    IdxArray images = parse_idx(bytes, "fuzz input", idx_images_magic);
    check_consistent(images);
    // Pair the images with all-zero labels and push the smallest ones through the dataset helpers
    // and an augmentation, which index pixels by the parsed dimensions.
    // A header like 10^9×0×5 holds no bytes yet names a billion images: cap the labels we invent.
    if (images.dims[0] > images.values.size() + 1) return;
    IdxArray labels{idx_labels_magic, {images.dims[0]}, std::vector<std::uint8_t>(images.dims[0], 0)};
    const Dataset ds = make_dataset(std::move(images), "fuzz images", std::move(labels), "fuzz labels");
    if (ds.count > 0 && ds.h <= 32 && ds.w <= 32) {
      const Dataset rgb = to_channels(pad_to(ds, std::max(ds.h, ds.w)), 3);
      Rng rng(1);
      const Image view = ssl_views(fashion_mnist_normalization(), 8).views[0].view(rgb.image(0), 3, rgb.h, rgb.w, rng);
      if (view.px.size() != 3 * 8 * 8) std::abort();
    }
  } catch (const tspipe::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> bytes(data, size);
  try {
    const std::vector<std::uint8_t> plain = maybe_gunzip(bytes, "fuzz input", max_inflated);
    exercise(plain);
  } catch (const tspipe::Error&) {
  }
  return 0;
}
