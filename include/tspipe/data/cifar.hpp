#pragma once
// CIFAR-10 and CIFAR-100 in their binary versions (the cifar-10-batches-bin/ and cifar-100-binary/
// folders of the official tarballs).
//
// A file is a run of fixed-size records with no header:
//   CIFAR-10:  1 label byte (0..9),                                   then 3072 pixel bytes
//   CIFAR-100: 1 coarse label byte (0..19), 1 fine label byte (0..99), then 3072 pixel bytes
// The pixels are three 32×32 planes (red, green, blue), each row-major — planar C×H×W, the layout
// of Dataset, so records are copied as they are. Files: data_batch_1.bin … data_batch_5.bin
// (train, 10000 records each) and test_batch.bin (test) for CIFAR-10; train.bin (50000) and
// test.bin (10000) for CIFAR-100. The format has no magic number, so the checks are the size (a
// whole number of records) and the label ranges.
#include <tspipe/data/dataset.hpp>
#include <tspipe/data/file_io.hpp>
#include <tspipe/error.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tspipe::data {

inline constexpr int cifar_side = 32;
inline constexpr std::size_t cifar_pixel_bytes = 3 * 32 * 32;

/// Which of CIFAR-100's two labels a dataset carries (torchvision's CIFAR100 uses the fine one).
enum class CifarLabels { fine, coarse };

/// One of the two binary layouts.
struct CifarFormat {
  const char* name;
  int label_bytes;   // label bytes before the pixels of a record
  int label_offset;  // which of them is the label kept
  int classes;       // of the kept label
  int other_classes; // of the other label byte (CIFAR-100), checked too; 0 when there is none

  std::size_t record_bytes() const noexcept { return static_cast<std::size_t>(label_bytes) + cifar_pixel_bytes; }

  static CifarFormat cifar10() noexcept { return {"CIFAR-10", 1, 0, 10, 0}; }
  static CifarFormat cifar100(CifarLabels labels = CifarLabels::fine) noexcept {
    return labels == CifarLabels::fine ? CifarFormat{"CIFAR-100", 2, 1, 100, 20} : CifarFormat{"CIFAR-100", 2, 0, 20, 100};
  }
};

/// Appends the records of one file, held in memory, to `out`. `source` names the file in errors.
inline void append_cifar_records(std::span<const std::uint8_t> bytes, std::string_view source, const CifarFormat& format,
                                 Dataset& out) {
  const std::string name(source);
  const std::size_t record = format.record_bytes();
  if (bytes.empty())
    throw Error(name + ": empty file (0 bytes); " + format.name + " files hold " + std::to_string(record) +
                "-byte records");
  if (bytes.size() % record != 0)
    throw Error(name + ": truncated or wrong size: " + std::to_string(bytes.size()) + " bytes is not a whole number of " +
                std::to_string(record) + "-byte " + format.name + " records (" + std::to_string(bytes.size() / record) +
                " records and " + std::to_string(bytes.size() % record) + " bytes left over)");
  const std::size_t records = bytes.size() / record;
  if (records > static_cast<std::size_t>(0x7fffffff - out.count))
    throw Error(name + ": " + std::to_string(records) + " records are too many for one dataset");
  const int kept = format.label_offset, other = format.label_bytes == 2 ? 1 - kept : -1;
  out.pixels.reserve(out.pixels.size() + records * cifar_pixel_bytes);
  out.labels.reserve(out.labels.size() + records);
  for (std::size_t r = 0; r < records; ++r) {
    const std::uint8_t* rec = bytes.data() + r * record;
    const int label = rec[kept];
    if (label >= format.classes)
      throw Error(name + ": record " + std::to_string(r) + ": label " + std::to_string(label) + " is out of range for " +
                  format.name + " (0.." + std::to_string(format.classes - 1) + ")");
    if (other >= 0 && rec[other] >= format.other_classes)
      throw Error(name + ": record " + std::to_string(r) + ": " + (other == 0 ? "coarse" : "fine") + " label " +
                  std::to_string(rec[other]) + " is out of range for " + format.name + " (0.." +
                  std::to_string(format.other_classes - 1) + ")");
    out.labels.push_back(static_cast<std::uint8_t>(label));
    out.pixels.insert(out.pixels.end(), rec + format.label_bytes, rec + record);
  }
  out.count += static_cast<int>(records);
}

/// The records of `files`, in order, as one dataset of 3×32×32 images.
inline Dataset load_cifar_files(const std::vector<std::filesystem::path>& files, const CifarFormat& format) {
  Dataset ds;
  ds.channels = 3;
  ds.h = ds.w = cifar_side;
  ds.classes = format.classes;
  std::vector<std::uint8_t> bytes;
  for (const auto& file : files) {
    read_file_into(file, bytes);
    append_cifar_records(bytes, file.string(), format, ds);
  }
  ds.source = files.size() == 1 ? files.front().string() : files.front().parent_path().string();
  return ds;
}

namespace detail {

/// `dir`, or its sub-folder `tarball_folder` when the files are there (the tarball extracted in place).
inline std::filesystem::path dataset_folder(const std::filesystem::path& dir, const std::string& tarball_folder,
                                            const std::string& probe_file) {
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) throw Error(dir.string() + ": no such directory");
  if (!std::filesystem::is_directory(dir, ec)) throw Error(dir.string() + ": is a file, expected a directory");
  if (!std::filesystem::exists(dir / probe_file, ec) && std::filesystem::is_directory(dir / tarball_folder, ec))
    return dir / tarball_folder;
  return dir;
}

inline void require_labeled_split(Split split, const char* dataset) {
  if (split == Split::unlabeled)
    throw Error(std::string(dataset) + " has no unlabeled split (only train and test)");
}

}  // namespace detail

/// CIFAR-10 from `dir` (or `dir`/cifar-10-batches-bin): data_batch_1..5.bin or test_batch.bin.
inline Dataset load_cifar10(const std::filesystem::path& dir, Split split) {
  detail::require_labeled_split(split, "CIFAR-10");
  const auto root = detail::dataset_folder(dir, "cifar-10-batches-bin", "test_batch.bin");
  std::vector<std::filesystem::path> files;
  if (split == Split::train)
    for (int i = 1; i <= 5; ++i) files.push_back(root / ("data_batch_" + std::to_string(i) + ".bin"));
  else
    files.push_back(root / "test_batch.bin");
  return load_cifar_files(files, CifarFormat::cifar10());
}

/// CIFAR-100 from `dir` (or `dir`/cifar-100-binary): train.bin or test.bin.
inline Dataset load_cifar100(const std::filesystem::path& dir, Split split, CifarLabels labels = CifarLabels::fine) {
  detail::require_labeled_split(split, "CIFAR-100");
  const auto root = detail::dataset_folder(dir, "cifar-100-binary", "test.bin");
  return load_cifar_files({root / (split == Split::train ? "train.bin" : "test.bin")}, CifarFormat::cifar100(labels));
}

}  // namespace tspipe::data
