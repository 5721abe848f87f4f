// The CIFAR, STL-10 and image-folder readers on files this test writes into its own temp folder:
// contents and layout, class ordering, and every kind of bad file, each named in the error.
#include "image_files.hpp"

#include <tspipe/data/cifar.hpp>
#include <tspipe/data/image_folder.hpp>
#include <tspipe/data/open.hpp>
#include <tspipe/data/stl10.hpp>

#include <doctest/doctest.h>

#include <filesystem>
#include <string>

using namespace tspipe::data;
using namespace tspipe::data::testing;
namespace fs = std::filesystem;

namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::string open_error(const char* name, const fs::path& path, Split split) {
  const auto r = open_dataset(name, path, split);
  return r.ok() ? std::string() : r.message();
}

}  // namespace

TEST_CASE("CIFAR-10: five training batches in order, the test batch, pixels as stored") {
  TempDir dir;
  for (int b = 1; b <= 5; ++b)
    write_raw(dir / ("data_batch_" + std::to_string(b) + ".bin"), cifar_bytes({{std::uint8_t(b)}, {std::uint8_t(9 - b)}}));
  write_raw(dir / "test_batch.bin", cifar_bytes({{7}, {3}, {0}}));
  const Dataset train = load_cifar10(dir.path(), Split::train);
  CHECK(train.count == 10);
  CHECK(train.channels == 3);
  CHECK(train.h == 32);
  CHECK(train.w == 32);
  CHECK(train.num_classes() == 10);
  CHECK(train.labels == std::vector<std::uint8_t>{1, 8, 2, 7, 3, 6, 4, 5, 5, 4});
  // Record 1 of each file: pixel k = (31 + k) mod 256, channel-major (k = c·1024 + y·32 + x).
  CHECK(train.image(3)[0] == 31);
  CHECK(train.image(3)[1024 + 2 * 32 + 5] == (31 + 1024 + 69) % 256);
  const Dataset test = load_cifar10(dir.path(), Split::test);
  CHECK(test.labels == std::vector<std::uint8_t>{7, 3, 0});
  CHECK(test.shape().fixed());

  // The tarball's own folder name is found below the given one.
  TempDir outer;
  fs::create_directories(outer / "cifar-10-batches-bin");
  fs::copy_file(dir / "test_batch.bin", outer / "cifar-10-batches-bin" / "test_batch.bin");
  CHECK(load_cifar10(outer.path(), Split::test).count == 3);
}

TEST_CASE("CIFAR-100: fine labels by default, coarse on request, both checked") {
  TempDir dir;
  write_raw(dir / "train.bin", cifar_bytes({{19, 99}, {0, 5}}));
  write_raw(dir / "test.bin", cifar_bytes({{3, 42}}));
  CHECK(load_cifar100(dir.path(), Split::train).labels == std::vector<std::uint8_t>{99, 5});
  CHECK(load_cifar100(dir.path(), Split::train, CifarLabels::coarse).labels == std::vector<std::uint8_t>{19, 0});
  CHECK(load_cifar100(dir.path(), Split::train).num_classes() == 100);
  CHECK(load_cifar100(dir.path(), Split::train, CifarLabels::coarse).num_classes() == 20);
  CHECK(load_cifar100(dir.path(), Split::test).image(0)[5] == 5);

  write_raw(dir / "train.bin", cifar_bytes({{2, 7}, {20, 7}}));
  CHECK(contains(error_of([&] { load_cifar100(dir.path(), Split::train); }),
                 "train.bin: record 1: coarse label 20 is out of range for CIFAR-100 (0..19)"));
  write_raw(dir / "train.bin", cifar_bytes({{2, 100}}));
  CHECK(contains(error_of([&] { load_cifar100(dir.path(), Split::train, CifarLabels::coarse); }),
                 "record 0: fine label 100 is out of range for CIFAR-100 (0..99)"));
}

TEST_CASE("CIFAR errors: missing, zero-byte, truncated, label out of range, no unlabeled split") {
  TempDir dir;
  for (int b = 1; b <= 5; ++b) write_raw(dir / ("data_batch_" + std::to_string(b) + ".bin"), cifar_bytes({{1}}));
  write_raw(dir / "test_batch.bin", cifar_bytes({{1}}));

  fs::remove(dir / "data_batch_3.bin");
  CHECK(contains(error_of([&] { load_cifar10(dir.path(), Split::train); }), "data_batch_3.bin: no such file"));
  write_raw(dir / "data_batch_3.bin", {});
  CHECK(contains(error_of([&] { load_cifar10(dir.path(), Split::train); }), "data_batch_3.bin: empty file (0 bytes)"));
  auto cut = cifar_bytes({{1}, {2}});
  cut.resize(cut.size() - 100);
  write_raw(dir / "data_batch_3.bin", cut);
  CHECK(contains(error_of([&] { load_cifar10(dir.path(), Split::train); }),
                 "data_batch_3.bin: truncated or wrong size: 6046 bytes is not a whole number of 3073-byte CIFAR-10 "
                 "records (1 records and 2973 bytes left over)"));
  write_raw(dir / "data_batch_3.bin", cifar_bytes({{1}, {4}, {10}}));
  CHECK(contains(error_of([&] { load_cifar10(dir.path(), Split::train); }),
                 "data_batch_3.bin: record 2: label 10 is out of range for CIFAR-10 (0..9)"));
  CHECK(contains(error_of([&] { load_cifar10(dir.path(), Split::unlabeled); }), "CIFAR-10 has no unlabeled split"));
  CHECK(contains(error_of([&] { load_cifar10(dir / "nowhere", Split::test); }), "nowhere: no such directory"));
  CHECK(contains(error_of([&] { load_cifar10(dir / "test_batch.bin", Split::test); }), "is a file, expected a directory"));
}

TEST_CASE("STL-10: column-major planes read in place, labels 1..10 as 0..9, unlabeled without labels") {
  TempDir dir;
  const auto images = stl10_bytes(3);
  write_raw(dir / "train_X.bin", images);
  write_raw(dir / "train_y.bin", {1, 10, 4});
  write_raw(dir / "unlabeled_X.bin", stl10_bytes(2));
  const auto train = open_stl10(dir.path(), Split::train);
  CHECK(train->size() == 3);
  CHECK(train->label(1) == 9);
  CHECK(train->label(2) == 3);
  CHECK(train->num_classes() == 10);
  CHECK(train->shape().h == 96);
  SampleBuffer buffer;
  train->read(2, buffer);
  CHECK_FALSE(buffer.encoded);
  // Channel c, row y, column x is byte c·9216 + x·96 + y of the record.
  for (int c : {0, 2})
    for (int y : {0, 5, 95})
      for (int x : {0, 17, 95}) {
        CAPTURE(c);
        CAPTURE(y);
        CAPTURE(x);
        CHECK(buffer.pixels.at(c, y, x) == images[2 * 27648 + static_cast<std::size_t>(c * 9216 + x * 96 + y)]);
      }
  const auto unlabeled = open_stl10(dir.path(), Split::unlabeled);
  CHECK(unlabeled->size() == 2);
  CHECK(unlabeled->label(0) == -1);
  CHECK_FALSE(unlabeled->labeled());
  CHECK(contains(unlabeled->describe(1), "unlabeled_X.bin image 1"));

  // Read on demand: a file cut short after opening fails at the record that is gone, naming it.
  write_raw(dir / "unlabeled_X.bin", stl10_bytes(1));
  unlabeled->read(0, buffer);
  CHECK(contains(error_of([&] { unlabeled->read(1, buffer); }), "unlabeled_X.bin: truncated"));
}

TEST_CASE("STL-10 errors: missing, zero-byte, truncated, label count and range") {
  TempDir dir;
  write_raw(dir / "test_X.bin", stl10_bytes(2));
  write_raw(dir / "test_y.bin", {1, 2});
  CHECK(contains(open_error("stl10", dir.path(), Split::train), "train_X.bin: no such file"));
  write_raw(dir / "train_X.bin", {});
  write_raw(dir / "train_y.bin", {});
  CHECK(contains(open_error("stl10", dir.path(), Split::train), "train_X.bin: empty file (0 bytes)"));
  auto cut = stl10_bytes(2);
  cut.pop_back();
  write_raw(dir / "train_X.bin", cut);
  CHECK(contains(open_error("stl10", dir.path(), Split::train),
                 "train_X.bin: truncated or wrong size: 55295 bytes is not a whole number of 27648-byte STL-10 images"));
  write_raw(dir / "train_X.bin", stl10_bytes(2));
  CHECK(contains(open_error("stl10", dir.path(), Split::train), "train_y.bin: empty file"));
  write_raw(dir / "train_y.bin", {1, 2, 3});
  CHECK(contains(open_error("stl10", dir.path(), Split::train),
                 "label count does not match image count: " + (dir / "train_y.bin").string() + " has 3 labels"));
  write_raw(dir / "train_y.bin", {1, 11});
  CHECK(contains(open_error("stl10", dir.path(), Split::train), "train_y.bin: label 1 is 11, out of range for STL-10 (1..10)"));
  write_raw(dir / "train_y.bin", {0, 1});
  CHECK(contains(open_error("stl10", dir.path(), Split::train), "label 0 is 0, out of range"));
  CHECK(open_dataset("stl10", dir.path(), Split::test).ok());
}

TEST_CASE("image folder: classes in code-point order, files by folder then name, JPEG and PNG by content") {
  TempDir dir;
  const fs::path root = dir / "train";
  // Python's sorted(): '9' < 'B' < '_' < 'a' < 'é' (U+00E9), and "Z10" < "Z9".
  const std::vector<std::string> names{"a", "B", "_x", "Z9", "Z10", "\xc3\xa9t\xc3\xa9", "9"};
  for (std::size_t i = 0; i < names.size(); ++i) {
    fs::create_directories(root / names[i]);
    write_png(root / names[i] / "only.png", test_rgb(5, 7, static_cast<int>(i)), 5, 7);
  }
  fs::create_directories(root / "a" / "sub");
  fs::create_directories(root / "a" / "sub-b");
  write_jpeg(root / "a" / "z.jpg", test_rgb(8, 8, 1), 8, 8);
  write_jpeg(root / "a" / "sub" / "b.JPEG", test_rgb(8, 8, 2), 8, 8);
  write_png(root / "a" / "sub-b" / "c.jpg", test_rgb(6, 6, 3), 6, 6);  // a PNG named .jpg
  write_raw(root / "README.txt", {'h', 'i'});                         // files beside the classes are ignored

  const auto folder = ImageFolder::open(root);
  CHECK(folder->classes() == std::vector<std::string>{"9", "B", "Z10", "Z9", "_x", "a", "\xc3\xa9t\xc3\xa9"});
  CHECK(folder->num_classes() == 7);
  REQUIRE(folder->size() == 10);
  // Class "a" (label 5): files ordered by their folder's path, then by name — "…/a" < "…/a/sub" <
  // "…/a/sub-b" as strings — as sorted(os.walk(...)) orders them.
  std::vector<std::string> class_a;
  for (std::int64_t i = 0; i < folder->size(); ++i)
    if (folder->label(i) == 5) class_a.push_back(fs::path(folder->file(i)).lexically_relative(root).string());
  CHECK(class_a == std::vector<std::string>{"a/only.png", "a/z.jpg", "a/sub/b.JPEG", "a/sub-b/c.jpg"});
  CHECK(folder->label(0) == 0);
  CHECK(folder->shape().c == 3);
  CHECK_FALSE(folder->shape().fixed());

  SampleBuffer buffer;
  for (std::int64_t i = 0; i < folder->size(); ++i) {
    folder->read(i, buffer);
    CHECK(buffer.encoded);
    const PixelView px = folder->decode(i, buffer, 1);
    CHECK(px.height == buffer.height);
    CHECK(px.width == buffer.width);
  }
  // The PNG named c.jpg decodes exactly.
  std::int64_t c_jpg = 0;
  while (c_jpg < folder->size() && !folder->file(c_jpg).ends_with("sub-b/c.jpg")) ++c_jpg;
  REQUIRE(c_jpg < folder->size());
  folder->read(c_jpg, buffer);
  folder->decode(c_jpg, buffer, 1);
  const std::vector<std::uint8_t> decoded = buffer.decoded;
  CHECK(decoded == test_rgb(6, 6, 3));
}

TEST_CASE("image folder errors: empty class, non-image file, zero-byte file, unsupported format, layout") {
  TempDir dir;
  const fs::path root = dir / "data";
  fs::create_directories(root / "cat");
  fs::create_directories(root / "dog");
  write_jpeg(root / "cat" / "1.jpg", test_rgb(8, 8, 1), 8, 8);
  CHECK(contains(error_of([&] { ImageFolder::open(root); }), (root / "dog").string() + ": empty class folder"));
  write_png(root / "dog" / "1.png", test_rgb(8, 8, 2), 8, 8);
  CHECK(ImageFolder::open(root)->size() == 2);

  write_raw(root / "dog" / "notes.txt", {'x'});
  const std::string other = error_of([&] { ImageFolder::open(root); });
  CHECK(contains(other, (root / "dog" / "notes.txt").string() + ": not an image file"));
  CHECK(contains(other, "skip_other_files"));
  CHECK(ImageFolder::open(root, {.skip_other_files = true})->size() == 2);
  fs::remove(root / "dog" / "notes.txt");

  write_raw(root / "dog" / "empty.jpg", {});
  CHECK(contains(error_of([&] { ImageFolder::open(root); }), (root / "dog" / "empty.jpg").string() + ": zero-byte file"));
  fs::remove(root / "dog" / "empty.jpg");
  write_raw(root / "dog" / "x.bmp", {'B', 'M'});
  CHECK(contains(error_of([&] { ImageFolder::open(root, {.skip_other_files = true}); }), "x.bmp: .bmp images are not supported"));
  fs::remove(root / "dog" / "x.bmp");

  CHECK(contains(error_of([&] { ImageFolder::open(dir / "missing"); }), "missing: no such directory"));
  CHECK(contains(error_of([&] { ImageFolder::open(root / "cat" / "1.jpg"); }), "1.jpg: is a file"));
  fs::create_directories(dir / "flat");
  write_jpeg(dir / "flat" / "1.jpg", test_rgb(8, 8, 1), 8, 8);
  CHECK(contains(error_of([&] { ImageFolder::open(dir / "flat"); }), "flat: no class folders"));

  // A corrupt image is found when it is read or decoded, and the error names it.
  write_raw(root / "cat" / "2.jpg", {'n', 'o', 't', ' ', 'a', ' ', 'j', 'p', 'g'});
  const auto folder = ImageFolder::open(root);
  SampleBuffer buffer;
  CHECK(contains(error_of([&] { folder->read(1, buffer); }), (root / "cat" / "2.jpg").string() + ": bad magic"));
}

TEST_CASE("open_dataset: every name, the folder layout, clear errors for unknown names and splits") {
  TempDir dir;
  write_raw(dir / "test_batch.bin", cifar_bytes({{1}, {2}}));
  const auto cifar = open_dataset("cifar10", dir.path(), Split::test);
  REQUIRE(cifar.ok());
  CHECK(cifar.value()->size() == 2);
  write_raw(dir / "test.bin", cifar_bytes({{1, 2}}));
  CHECK(open_dataset("cifar100", dir.path(), Split::test).value()->label(0) == 2);

  fs::create_directories(dir / "images" / "train" / "c");
  fs::create_directories(dir / "images" / "val" / "c");
  write_jpeg(dir / "images" / "train" / "c" / "1.jpg", test_rgb(8, 8, 1), 8, 8);
  write_jpeg(dir / "images" / "val" / "c" / "1.jpg", test_rgb(8, 8, 1), 8, 8);
  CHECK(open_dataset("folder", dir / "images", Split::train).value()->size() == 1);
  const auto val = open_dataset("folder", dir / "images", Split::test);
  REQUIRE(val.ok());
  CHECK(default_eval_views(*val.value(), imagenet_normalization(), 32).views[0].plan(50, 60, *std::make_unique<Rng>(0)).out_h == 32);
  fs::remove_all(dir / "images" / "val");
  CHECK(contains(open_error("folder", dir / "images", Split::test), "val: no such directory"));

  CHECK(contains(open_error("imagenet", dir.path(), Split::train),
                 "unknown dataset 'imagenet'; known: fashion-mnist, cifar10, cifar100, stl10, folder"));
  CHECK(contains(open_error("cifar10", dir.path(), Split::unlabeled), "no unlabeled split"));
  CHECK(contains(open_error("fashion-mnist", dir.path(), Split::unlabeled), "no unlabeled split"));
  CHECK(contains(open_error("cifar10", dir.path(), Split::train), "data_batch_1.bin: no such file"));
  CHECK(dataset_normalization("stl10").value().mean.size() == 3);

  // Subsets of any source: a range of its examples, files and labels included.
  const auto all = open_dataset("folder", dir / "images", Split::train).value();
  write_raw(dir / "train_X.bin", stl10_bytes(4));
  write_raw(dir / "train_y.bin", {1, 2, 3, 4});
  const auto stl = subset_source(open_stl10(dir.path(), Split::train), 1, 2);
  CHECK(stl->size() == 2);
  CHECK(stl->label(0) == 1);
  CHECK(stl->label(1) == 2);
  CHECK(contains(stl->describe(1), "train_X.bin image 2"));
  SampleBuffer a, b;
  stl->read(0, a);
  open_stl10(dir.path(), Split::train)->read(1, b);
  CHECK(a.bytes == b.bytes);
  CHECK(subset_source(all, 0, 1)->describe(0) == all->describe(0));
  CHECK(contains(error_of([&] { subset_source(stl, 1, 2); }), "subset [1, 3) lies outside its 2 examples"));
  CHECK_FALSE(dataset_normalization("mnist").ok());
}
