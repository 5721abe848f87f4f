#pragma once
// What the loader reads examples from. A source is either holding pixels (an in-memory Dataset,
// STL-10 records read on demand) or encoded files (an image folder of JPEGs and PNGs). Reading is
// split in two so that a JPEG can be decoded at reduced scale: read() fetches an example and says
// how large its image is, the loader then draws each view's crop, and decode() turns the bytes into
// pixels no larger than the crops need.
//
// Every method may be called from several loader threads at once; per-thread state lives in the
// SampleBuffer the caller passes.
#include <tspipe/data/image.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace tspipe::data {

enum class Split { train, test, unlabeled };

inline const char* split_name(Split split) noexcept {
  switch (split) {
    case Split::train: return "train";
    case Split::test: return "test";
    case Split::unlabeled: return "unlabeled";
  }
  return "?";
}

/// Channels × height × width; height and width are 0 when images differ in size.
struct ImageShape {
  int c = 0, h = 0, w = 0;
  bool fixed() const noexcept { return h > 0 && w > 0; }
};

/// One loader thread's working memory for one example, reused from example to example.
struct SampleBuffer {
  std::vector<std::uint8_t> bytes;    // a record or a whole file, as stored
  std::vector<std::uint8_t> decoded;  // decode()'s output for encoded images
  PixelView pixels;                   // the image at full resolution, once available
  bool encoded = false;               // true: `bytes` still need decode()
  int channels = 0, height = 0, width = 0;  // full-resolution size, known after read()
};

class ImageSource {
 public:
  virtual ~ImageSource() = default;

  virtual std::int64_t size() const noexcept = 0;
  /// The class of example i, or -1 where the split has no labels (STL-10's unlabeled images).
  virtual int label(std::int64_t i) const noexcept = 0;
  virtual int num_classes() const noexcept = 0;
  virtual ImageShape shape() const noexcept = 0;
  /// The source in messages: a path.
  virtual std::string name() const = 0;
  /// Example i in messages: its file, or its file and record.
  virtual std::string describe(std::int64_t i) const = 0;

  /// Fetches example i into `buffer`, setting its full-resolution size; encoded images are left
  /// for decode(). Bad data is an Error naming describe(i).
  virtual void read(std::int64_t i, SampleBuffer& buffer) const = 0;
  /// The pixels of the example read() fetched last. `shrink` (1, 2, 4 or 8) allows an encoded
  /// image to come back that many times smaller (rounded up) where the codec does so cheaply; the
  /// caller rescales by the size it gets. Sources that hold pixels return them as read.
  virtual PixelView decode(std::int64_t i, SampleBuffer& buffer, int shrink) const {
    (void)i;
    (void)shrink;
    return buffer.pixels;
  }
};

}  // namespace tspipe::data
