// The IDX reader and dataset helpers: files the test writes, every kind of bad input, and the real
// Fashion-MNIST test split when Debian's package is installed.
#include "idx_files.hpp"

#include <tspipe/data/dataset.hpp>
#include <tspipe/data/idx.hpp>

#include <doctest/doctest.h>

#include <string>

using namespace tspipe::data;
using namespace tspipe::data::testing;

namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

/// Writes images/labels of a tiny set with the given writer and returns the two paths.
template <class Writer>
std::pair<std::filesystem::path, std::filesystem::path> write_pair(const TempDir& dir, const TinySet& set, int count,
                                                                   int h, int w, Writer writer,
                                                                   const std::string& suffix = "") {
  const auto images = dir / ("images" + suffix), labels = dir / ("labels" + suffix);
  writer(images, idx_bytes(idx_images_magic, {std::uint32_t(count), std::uint32_t(h), std::uint32_t(w)}, set.pixels));
  writer(labels, idx_bytes(idx_labels_magic, {std::uint32_t(count)}, set.labels));
  return {images, labels};
}

}  // namespace

TEST_CASE("IDX pair round-trips through raw and gzip files") {
  TempDir dir;
  const TinySet set = tiny_set(5, 3, 4);
  for (bool gz : {false, true}) {
    CAPTURE(gz);
    const auto paths = gz ? write_pair(dir, set, 5, 3, 4, write_gzip, ".gz") : write_pair(dir, set, 5, 3, 4, write_raw);
    const auto& images = paths.first;
    const auto& labels = paths.second;
    const Dataset ds = load_idx_pair(images, labels);
    CHECK(ds.count == 5);
    CHECK(ds.h == 3);
    CHECK(ds.w == 4);
    CHECK(ds.channels == 1);
    CHECK(ds.pixels == set.pixels);
    CHECK(ds.labels == set.labels);
    CHECK(ds.num_classes() == 5);
    CHECK(ds.image(2)[0] == 14);
    CHECK(ds.source == images.string());
  }
}

TEST_CASE("parse_idx works from memory and keeps the dimensions") {
  const auto bytes = idx_bytes(idx_images_magic, {2, 1, 3}, {1, 2, 3, 4, 5, 6});
  const IdxArray idx = parse_idx(bytes, "buffer", idx_images_magic);
  CHECK(idx.magic == idx_images_magic);
  CHECK(idx.dims == std::vector<std::uint32_t>{2, 1, 3});
  CHECK(idx.values == std::vector<std::uint8_t>{1, 2, 3, 4, 5, 6});

  const IdxArray empty = parse_idx(idx_bytes(idx_images_magic, {0, 28, 28}, {}), "buffer", idx_images_magic);
  CHECK(empty.values.empty());
}

TEST_CASE("gunzip joins concatenated members and maybe_gunzip passes raw bytes through") {
  TempDir dir;
  write_gzip(dir / "a.gz", {1, 2, 3});
  write_gzip(dir / "b.gz", {4, 5});
  auto joined = read_file_bytes(dir / "a.gz");
  const auto second = read_file_bytes(dir / "b.gz");
  joined.insert(joined.end(), second.begin(), second.end());
  CHECK(gunzip(joined, "ab") == std::vector<std::uint8_t>{1, 2, 3, 4, 5});
  const std::vector<std::uint8_t> raw{0, 0, 8, 1};
  CHECK(maybe_gunzip(raw, "raw") == raw);
}

TEST_CASE("load_fashion_mnist finds MNIST-named files, gzip first, raw as a fallback") {
  TempDir dir;
  const TinySet train = tiny_set(6, 2, 2), test = tiny_set(4, 2, 2);
  write_gzip(dir / "train-images-idx3-ubyte.gz", idx_bytes(idx_images_magic, {6, 2, 2}, train.pixels));
  write_gzip(dir / "train-labels-idx1-ubyte.gz", idx_bytes(idx_labels_magic, {6}, train.labels));
  write_raw(dir / "t10k-images-idx3-ubyte", idx_bytes(idx_images_magic, {4, 2, 2}, test.pixels));
  write_raw(dir / "t10k-labels-idx1-ubyte", idx_bytes(idx_labels_magic, {4}, test.labels));

  CHECK(load_fashion_mnist(dir.path(), Split::train).count == 6);
  CHECK(load_fashion_mnist(dir.path(), Split::test).count == 4);
  CHECK(load_from_flag(dir.path().string(), Split::test).count == 4);
  const std::string pair = (dir / "train-images-idx3-ubyte.gz").string() + "," +
                           (dir / "train-labels-idx1-ubyte.gz").string();
  CHECK(load_from_flag(pair, Split::test).count == 6);  // explicit files win over the split

  CHECK(error_of([&] { load_from_flag((dir / "t10k-images-idx3-ubyte").string(), Split::test); })
            .find("is a file; the data flag takes a directory") != std::string::npos);

  const TempDir empty;
  const std::string msg = error_of([&] { load_fashion_mnist(empty.path(), Split::train); });
  CHECK(contains(msg, (empty / "train-images-idx3-ubyte.gz").string()));
  CHECK(contains(msg, "no such file"));
}

TEST_CASE("bad input: each error names the file and the problem") {
  TempDir dir;
  const TinySet set = tiny_set(3, 2, 2);
  // Named references, not a structured binding: clang < 16 cannot capture bindings in lambdas.
  const auto paths = write_pair(dir, set, 3, 2, 2, write_raw);
  const auto& images = paths.first;
  const auto& labels = paths.second;

  SUBCASE("missing file") {
    const std::string msg = error_of([&] { load_idx_pair(dir / "nope", labels); });
    CHECK(contains(msg, (dir / "nope").string()));
    CHECK(contains(msg, "no such file"));
  }
  SUBCASE("a directory instead of a file") {
    const std::string msg = error_of([&] { load_idx_pair(dir.path(), labels); });
    CHECK(contains(msg, "is a directory"));
  }
  SUBCASE("wrong magic number, printed in hex") {
    write_raw(dir / "bad", idx_bytes(0x00000c03, {3, 2, 2}, set.pixels));
    const std::string msg = error_of([&] { load_idx_pair(dir / "bad", labels); });
    CHECK(contains(msg, (dir / "bad").string()));
    CHECK(contains(msg, "wrong magic number 0x00000c03, expected 0x00000803"));
  }
  SUBCASE("labels and images swapped") {
    const std::string msg = error_of([&] { load_idx_pair(labels, images); });
    CHECK(contains(msg, labels.string()));
    CHECK(contains(msg, "0x00000801, expected 0x00000803"));
  }
  SUBCASE("truncated images: expected and actual byte counts") {
    auto bytes = idx_bytes(idx_images_magic, {3, 2, 2}, set.pixels);
    bytes.resize(bytes.size() - 5);
    write_raw(dir / "short", bytes);
    const std::string msg = error_of([&] { load_idx_pair(dir / "short", labels); });
    CHECK(contains(msg, (dir / "short").string()));
    CHECK(contains(msg, "truncated"));
    CHECK(contains(msg, "3x2x2 = 12 bytes"));
    CHECK(contains(msg, "holds 7"));
  }
  SUBCASE("truncated header") {
    write_raw(dir / "stub", {0, 0, 8, 3, 0, 0});
    const std::string msg = error_of([&] { load_idx_pair(dir / "stub", labels); });
    CHECK(contains(msg, "truncated IDX header"));
    CHECK(contains(msg, "need 16 bytes, got 6"));
  }
  SUBCASE("fewer than 4 bytes") {
    write_raw(dir / "tiny", {0, 0});
    CHECK(contains(error_of([&] { load_idx_pair(dir / "tiny", labels); }), "too short for an IDX header"));
  }
  SUBCASE("dimensions whose product overflows are reported, not multiplied") {
    write_raw(dir / "huge", idx_bytes(idx_images_magic, {0xffffffffu, 0xffffffffu, 0xffffffffu}, {1, 2}));
    const std::string msg = error_of([&] { load_idx_pair(dir / "huge", labels); });
    CHECK(contains(msg, "truncated"));
    CHECK(contains(msg, "more than 2^64 bytes of data, the file holds 2"));
  }
  SUBCASE("trailing bytes") {
    auto bytes = idx_bytes(idx_images_magic, {3, 2, 2}, set.pixels);
    bytes.push_back(0);
    write_raw(dir / "long", bytes);
    CHECK(contains(error_of([&] { load_idx_pair(dir / "long", labels); }), "1 unexpected bytes after the 3x2x2"));
  }
  SUBCASE("label count differs from image count") {
    write_raw(dir / "labels4", idx_bytes(idx_labels_magic, {4}, {0, 1, 2, 3}));
    const std::string msg = error_of([&] { load_idx_pair(images, dir / "labels4"); });
    CHECK(contains(msg, "label count does not match image count"));
    CHECK(contains(msg, (dir / "labels4").string() + " has 4 labels"));
    CHECK(contains(msg, images.string() + " has 3 images"));
  }
  SUBCASE("truncated gzip stream") {
    write_gzip(dir / "full.gz", idx_bytes(idx_images_magic, {3, 2, 2}, set.pixels));
    auto gz = read_file_bytes(dir / "full.gz");
    gz.resize(gz.size() - 6);
    write_raw(dir / "cut.gz", gz);
    const std::string msg = error_of([&] { load_idx_pair(dir / "cut.gz", labels); });
    CHECK(contains(msg, (dir / "cut.gz").string()));
    CHECK(contains(msg, "truncated gzip data"));
  }
  SUBCASE("corrupt gzip stream") {
    write_raw(dir / "junk.gz", {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff, 0xff});
    const std::string msg = error_of([&] { load_idx_pair(dir / "junk.gz", labels); });
    CHECK(contains(msg, (dir / "junk.gz").string()));
    CHECK(contains(msg, "corrupt gzip data"));
  }
  SUBCASE("a gzip bomb is refused above the limit") {
    const std::vector<std::uint8_t> zeros(100000, 0);
    write_gzip(dir / "zeros.gz", zeros);
    const std::string msg = error_of([&] { gunzip(read_file_bytes(dir / "zeros.gz"), "zeros.gz", 1000); });
    CHECK(contains(msg, "zeros.gz: gzip data expands to more than 1000 bytes"));
  }
}

TEST_CASE("to_channels, pad_to and subset reshape the stored bytes") {
  Dataset ds;
  ds.count = 2;
  ds.h = 2;
  ds.w = 2;
  ds.pixels = {1, 2, 3, 4, 5, 6, 7, 8};
  ds.labels = {0, 1};
  ds.source = "mem";

  const Dataset rgb = to_channels(ds, 3);
  CHECK(rgb.channels == 3);
  CHECK(rgb.pixels == std::vector<std::uint8_t>{1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 5, 6, 7, 8, 5, 6, 7, 8, 5, 6, 7, 8});
  CHECK(contains(error_of([&] { to_channels(rgb, 2); }), "only 1-channel images"));

  const Dataset padded = pad_to(ds, 4);
  CHECK(padded.h == 4);
  CHECK(padded.w == 4);
  CHECK(padded.pixels == std::vector<std::uint8_t>{0, 0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0, 0, 0, 0, 0,
                                                   0, 0, 0, 0, 0, 5, 6, 0, 0, 7, 8, 0, 0, 0, 0, 0});
  CHECK(contains(error_of([&] { pad_to(ds, 1); }), "already 2x2"));

  const Dataset second = subset(ds, 1, 1);
  CHECK(second.count == 1);
  CHECK(second.pixels == std::vector<std::uint8_t>{5, 6, 7, 8});
  CHECK(second.labels == std::vector<std::uint8_t>{1});
  CHECK(contains(error_of([&] { subset(ds, 1, 2); }), "outside the 2 images"));
}

TEST_CASE("the real Fashion-MNIST test split") {
  const auto dir = default_fashion_mnist_dir();
  if (!std::filesystem::exists(dir / "t10k-images-idx3-ubyte.gz")) {
    MESSAGE("skipped: " << dir.string() << " not found (apt install dataset-fashion-mnist)");
    return;
  }
  const Dataset ds = load_fashion_mnist(Split::test);
  CHECK(ds.count == 10000);
  CHECK(ds.h == 28);
  CHECK(ds.w == 28);
  CHECK(ds.labels.size() == 10000);
  CHECK(ds.num_classes() == 10);
  std::vector<int> per_class(10, 0);
  for (std::uint8_t l : ds.labels) ++per_class[l];
  for (int n : per_class) CHECK(n == 1000);  // the test split is balanced
  double mean = 0;
  for (std::uint8_t p : ds.pixels) mean += p;
  mean /= 255.0 * static_cast<double>(ds.pixels.size());
  CHECK(mean == doctest::Approx(fashion_mnist_normalization().mean[0]).epsilon(0.02));
}
