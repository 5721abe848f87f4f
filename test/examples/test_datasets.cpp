// The examples on the other datasets (--dataset cifar10 | cifar100 | stl10 | folder), in files
// this test writes in their real layouts: each image's brightness says its class, so a few epochs
// learn something. Each example must build its models for the images' channels and size (a
// 3-channel stem; ImageNet's stem on STL-10's 96×96; the ViT's patch from the image side), train
// the self-supervised examples on STL-10's unlabeled split, and probe on its labeled one.
#include "run_example.hpp"

#include "../data/image_files.hpp"

#include <doctest/doctest.h>

#include <fstream>

namespace {

using namespace tspipe::test;

const std::string small = " --batch-size 32 --threads 1 --no-progress --test-subset 64";

/// Pixels of an image of class `label`: a class-dependent brightness plus a little texture.
std::uint8_t pixel(int label, int index, int k) { return static_cast<std::uint8_t>(20 + 20 * label + (index * 7 + k * 13) % 17); }

void write_bytes(const fs::path& path, const std::vector<std::uint8_t>& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

/// cifar-10-batches-bin/ (data_batch_1..5.bin, test_batch.bin) or cifar-100-binary/ (train.bin,
/// test.bin), `per_file` records in each, classes 0..9 in turn.
fs::path write_cifar(const fs::path& root, bool hundred, int per_file) {
  const auto records = [&](int first) {
    std::vector<std::uint8_t> out;
    for (int i = first; i < first + per_file; ++i) {
      const int label = i % 10;
      if (hundred) out.push_back(static_cast<std::uint8_t>(label));  // coarse label, then the fine one
      out.push_back(static_cast<std::uint8_t>(label));
      for (int k = 0; k < 3072; ++k) out.push_back(pixel(label, i, k));
    }
    return out;
  };
  const fs::path dir = root / (hundred ? "cifar-100-binary" : "cifar-10-batches-bin");
  if (hundred) {
    write_bytes(dir / "train.bin", records(0));
  } else {
    for (int b = 1; b <= 5; ++b) write_bytes(dir / ("data_batch_" + std::to_string(b) + ".bin"), records(b * per_file));
  }
  write_bytes(dir / (hundred ? "test.bin" : "test_batch.bin"), records(0));
  return root;
}

/// stl10_binary/: `labeled` train and test images, `unlabeled` unlabeled ones (labels 1..10 on disk).
fs::path write_stl10(const fs::path& root, int labeled, int unlabeled) {
  const fs::path dir = root / "stl10_binary";
  const auto images = [&](int count) {
    std::vector<std::uint8_t> out;
    for (int i = 0; i < count; ++i)
      for (int k = 0; k < 3 * 96 * 96; ++k) out.push_back(pixel(i % 10, i, k));
    return out;
  };
  std::vector<std::uint8_t> labels;
  for (int i = 0; i < labeled; ++i) labels.push_back(static_cast<std::uint8_t>(i % 10 + 1));
  write_bytes(dir / "train_X.bin", images(labeled));
  write_bytes(dir / "train_y.bin", labels);
  write_bytes(dir / "test_X.bin", images(labeled));
  write_bytes(dir / "test_y.bin", labels);
  write_bytes(dir / "unlabeled_X.bin", images(unlabeled));
  return root;
}

/// A folder dataset: train/ and val/, one sub-folder per class, PNGs of differing sizes.
fs::path write_folder(const fs::path& root, int per_class) {
  for (const char* split : {"train", "val"})
    for (int label = 0; label < 2; ++label)
      for (int i = 0; i < per_class; ++i) {
        const int h = 36 + (i % 3) * 6, w = 40 + (i % 2) * 8;
        std::vector<std::uint8_t> rgb(static_cast<std::size_t>(h * w * 3));
        for (std::size_t k = 0; k < rgb.size(); ++k) rgb[k] = pixel(label * 5, i, static_cast<int>(k));
        const fs::path dir = root / split / ("class" + std::to_string(label));
        fs::create_directories(dir);
        tspipe::data::testing::write_png(dir / (std::to_string(i) + ".png"), rgb, h, w);
      }
  return root;
}

/// The shape of a tensor in a checkpoint, as its JSON text ("[8,3,3,3]").
std::string shape_of(const fs::path& checkpoint, const std::string& name) {
  const std::string stored = read_checkpoint(checkpoint).tensors.at(name);
  return stored.substr(stored.find('['), stored.find(']') - stored.find('[') + 1);
}

}  // namespace

TEST_CASE("--dataset cifar10: resnet_kd on 3×32×32 images, mocov3_vit with 4-pixel patches") {
  const fs::path data = write_cifar(scratch("cifar10_data"), false, 64), kd = scratch("cifar10_kd"), moco = scratch("cifar10_moco");
  const std::string flags = small + " --dataset cifar10 --data " + data.string();
  REQUIRE_MESSAGE(run(std::string(TSPIPE_RESNET_KD) + flags + " --epochs 3 --width 0.0625 --teacher-width 0.0625 --teacher-only --out " +
                          kd.string(),
                      kd / "log.txt") == 0,
                  read(kd / "log.txt"));
  const auto s = summary(kd);
  CHECK(s.at("options").at("dataset") == "cifar10");
  CHECK(s.at("options").at("image_size") == 32);
  check_loss_lowers(s.at("phases").at("teacher").at("history"));
  CHECK(s.at("results").at("teacher_accuracy").get<double>() > 0.2);  // 10 classes told apart by brightness
  CHECK(read(kd / "log.txt").find("CIFAR-10, 320 train / 64 test images") != std::string::npos);
  CHECK(shape_of(kd / "teacher" / "checkpoint.safetensors", "student.conv1.weight") == "[4,3,3,3]");  // 3 channels, small-image stem
  CHECK(shape_of(kd / "teacher" / "checkpoint.safetensors", "student.fc.bias") == "[10]");

  REQUIRE_MESSAGE(run(std::string(TSPIPE_MOCOV3_VIT) + flags + " --epochs 1 --vit-depth 1 --probe-epochs 2 --out " + moco.string(),
                      moco / "log.txt") == 0,
                  read(moco / "log.txt"));
  CHECK(read(moco / "log.txt").find("patch 4") != std::string::npos);
  CHECK(shape_of(moco / "mocov3" / "checkpoint.safetensors", "student.patch_embed.pos_embed") == "[1,65,64]");  // 8×8 patches + class token
  check_refused(std::string(TSPIPE_MOCOV3_VIT) + flags + " --patch 7 --out " + moco.string(), moco / "patch.txt", 2,
                "--patch 7: must divide the image side 32");
}

TEST_CASE("--dataset cifar100: resnet_kd's classifiers have 100 outputs") {
  const fs::path data = write_cifar(scratch("cifar100_data"), true, 96), out = scratch("cifar100_kd");
  REQUIRE_MESSAGE(run(std::string(TSPIPE_RESNET_KD) + small + " --dataset cifar100 --data " + data.string() +
                          " --epochs 1 --width 0.0625 --teacher-width 0.0625 --out " + out.string(),
                      out / "log.txt") == 0,
                  read(out / "log.txt"));
  for (const char* phase : {"teacher", "student_alone", "distilled"})
    CHECK(shape_of(out / phase / "checkpoint.safetensors", "student.fc.bias") == "[100]");
}

TEST_CASE("--dataset stl10: byol_resnet trains on the unlabeled split at 96×96 and probes on the labeled one") {
  const fs::path data = write_stl10(scratch("stl10_data"), 64, 96), out = scratch("stl10_byol");
  REQUIRE_MESSAGE(run(std::string(TSPIPE_BYOL_RESNET) + small + " --dataset stl10 --data " + data.string() +
                          " --epochs 1 --width 0.0625 --probe-epochs 2 --out " + out.string(),
                      out / "log.txt") == 0,
                  read(out / "log.txt"));
  const std::string log = read(out / "log.txt");
  CHECK(log.find("STL-10, 96 unlabeled train / 64 test images") != std::string::npos);
  CHECK(run_state(out / "byol" / "checkpoint.safetensors").at("batches_per_epoch") == 3);  // 96 unlabeled images, batches of 32
  CHECK(shape_of(out / "byol" / "checkpoint.safetensors", "student.conv1.weight") == "[4,3,7,7]");  // ImageNet's stem
  const double probe = summary(out).at("results").at("linear_probe_accuracy").get<double>();
  CHECK(probe >= 0.0);
  CHECK(probe <= 1.0);
  // The phase trains on the 96 unlabeled images: a larger batch is refused naming the flag.
  check_refused(std::string(TSPIPE_BYOL_RESNET) + " --dataset stl10 --data " + data.string() + " --batch-size 128 --out " +
                    (out / "big").string(),
                out / "big.txt", 2, "--batch-size 128: larger than the training set");
}

TEST_CASE("--dataset folder: images of differing sizes cropped to --image-size") {
  const fs::path data = write_folder(scratch("folder_data"), 16), out = scratch("folder_kd");
  REQUIRE_MESSAGE(run(std::string(TSPIPE_RESNET_KD) + " --batch-size 8 --threads 1 --no-progress --dataset folder --data " + data.string() +
                          " --image-size 32 --epochs 1 --width 0.0625 --teacher-width 0.0625 --teacher-only --out " + out.string(),
                      out / "log.txt") == 0,
                  read(out / "log.txt"));
  CHECK(summary(out).at("options").at("image_size") == 32);
  CHECK(shape_of(out / "teacher" / "checkpoint.safetensors", "student.fc.bias") == "[2]");
  check_refused(std::string(TSPIPE_RESNET_KD) + " --dataset cifar10 --data " + data.string() + " --image-size 64 --out " + out.string(),
                out / "size.txt", 2, "--image-size 64: cifar10 images are 32×32");
  check_refused(std::string(TSPIPE_RESNET_KD) + " --dataset stl10 --out " + out.string(), out / "nodata.txt", 2, "--dataset stl10: give --data");
  check_refused(std::string(TSPIPE_RESNET_KD) + " --dataset imagenet --out " + out.string(), out / "unknown.txt", 2,
                "--dataset 'imagenet': unknown dataset (known: fashion-mnist, cifar10, cifar100, stl10, folder)");
}
