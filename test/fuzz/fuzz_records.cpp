// Fuzz target for the fixed-record readers: CIFAR-10, CIFAR-100 and STL-10 from memory, through
// the same checks a file gets, then a view of what was accepted. The first byte picks the format;
// for STL-10 the next two give the length of the labels file, the rest is the images file. Bad
// input must end in tspipe::Error; anything else aborts.
#include <tspipe/data/augment.hpp>
#include <tspipe/data/cifar.hpp>
#include <tspipe/data/file_io.hpp>
#include <tspipe/data/stl10.hpp>
#include <tspipe/error.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <span>
#include <vector>

namespace {

using namespace tspipe::data;

void view_of(const ImageSource& source, std::int64_t i) {
  SampleBuffer buffer;
  source.read(i, buffer);
  Rng rng(static_cast<std::uint64_t>(i));
  const Image view = mocov3_views(cifar10_normalization(), 16).views[1].view(buffer.pixels, rng);
  if (view.c != 3 || view.h != 16 || view.w != 16) std::abort();
}

void cifar(std::span<const std::uint8_t> bytes, const CifarFormat& format) {
  Dataset ds;
  ds.channels = 3;
  ds.h = ds.w = cifar_side;
  ds.source = "fuzz input";
  append_cifar_records(bytes, "fuzz input", format, ds);
  const std::size_t records = bytes.size() / format.record_bytes();
  if (bytes.size() % format.record_bytes() != 0 || static_cast<std::size_t>(ds.count) != records ||
      ds.pixels.size() != records * cifar_pixel_bytes || ds.labels.size() != records)
    std::abort();
  for (std::uint8_t label : ds.labels)
    if (label >= format.classes) std::abort();
  view_of(ds, ds.count - 1);
}

void stl10(std::span<const std::uint8_t> bytes) {
  if (bytes.size() < 2) return;
  const std::size_t label_bytes = std::min<std::size_t>((std::size_t{bytes[0]} << 8) | bytes[1], bytes.size() - 2);
  const auto labels = bytes.subspan(2, label_bytes), images = bytes.subspan(2 + label_bytes);
  auto store = std::make_shared<const MemoryBytes>(std::vector<std::uint8_t>(images.begin(), images.end()), "fuzz images");
  const Stl10Source source(store, label_bytes ? parse_stl10_labels(labels, "fuzz labels") : std::vector<std::uint8_t>{},
                           "fuzz labels");
  if (static_cast<std::size_t>(source.size()) * stl10_image_bytes != images.size()) std::abort();
  for (std::int64_t i = 0; i < source.size(); ++i)
    if (source.label(i) < (label_bytes ? 0 : -1) || source.label(i) >= stl10_classes) std::abort();
  view_of(source, source.size() - 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::span<const std::uint8_t> rest(data + 1, size - 1);
  try {
    switch (data[0] % 4) {
      case 0: cifar(rest, CifarFormat::cifar10()); break;
      case 1: cifar(rest, CifarFormat::cifar100(CifarLabels::fine)); break;
      case 2: cifar(rest, CifarFormat::cifar100(CifarLabels::coarse)); break;
      default: stl10(rest); break;
    }
  } catch (const tspipe::Error&) {
  }
  return 0;
}
