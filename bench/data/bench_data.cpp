// Decoded + augmented images per second: tspipe's loader against torchvision's DataLoader on the
// same generated folder of 256×256 JPEGs, BYOL's two-view recipe to 224×224, the same batch size
// and worker count, measured alternately in one run; plus views per second per core for CIFAR-sized
// (32×32) images with MoCo v3's views.
//
//   bench_data [--images N] [--measure M] [--repeats R] [--threads 1,2] [--batch B] [--dir PATH]
//              [--python PATH] [--no-torchvision]
//
// N JPEGs are generated once into PATH (default /tmp/tspipe-bench-data-N) and reused. Each of R
// repeats times M images per side after the first batch (worker start-up excluded); the ratio is
// of the medians. Prints one line per thread count and one for the CIFAR-sized views.
#include "synthetic_images.hpp"

#include <tspipe/data/image_folder.hpp>
#include <tspipe/data/loader.hpp>
#include <tspipe/data/presets.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace tspipe::data;
namespace fs = std::filesystem;

namespace {

struct Options {
  int images = 10000, measure = 1000, repeats = 3, batch = 32;
  std::vector<int> threads{1, 2};
  fs::path dir;
  std::string python = "/usr/bin/python3";
  bool torchvision = true;
};

[[noreturn]] void usage(const std::string& problem) {
  std::fprintf(stderr,
               "bench_data: %s\nusage: bench_data [--images N] [--measure M] [--repeats R] [--threads 1,2] "
               "[--batch B] [--dir PATH] [--python PATH] [--no-torchvision]\n",
               problem.c_str());
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(a + " needs a value");
      return argv[++i];
    };
    auto positive = [&](const std::string& v) {
      const int n = std::atoi(v.c_str());
      if (n < 1) usage(a + " " + v + ": expected a positive number");
      return n;
    };
    if (a == "--images") o.images = positive(value());
    else if (a == "--measure") o.measure = positive(value());
    else if (a == "--repeats") o.repeats = positive(value());
    else if (a == "--batch") o.batch = positive(value());
    else if (a == "--dir") o.dir = value();
    else if (a == "--python") o.python = value();
    else if (a == "--no-torchvision") o.torchvision = false;
    else if (a == "--threads") {
      o.threads.clear();
      std::stringstream list(value());
      for (std::string t; std::getline(list, t, ',');) o.threads.push_back(positive(t));
    } else usage("unknown argument " + a);
  }
  if (o.dir.empty()) o.dir = fs::temp_directory_path() / ("tspipe-bench-data-" + std::to_string(o.images));
  if (o.measure + 2 * o.batch > o.images) usage("--measure must leave two batches of --images unmeasured");
  return o;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

/// N photo-like 256×256 JPEGs (quality 90, as ImageNet's are stored) in 10 class folders.
void generate_folder(const Options& o) {
  const fs::path done = o.dir / ".complete";
  if (fs::exists(done)) return;
  const auto t0 = std::chrono::steady_clock::now();
  std::size_t bytes = 0;
  for (int i = 0; i < o.images; ++i) {
    const fs::path cls = o.dir / ("class" + std::to_string(i % 10));
    fs::create_directories(cls);
    const auto rgb = bench::photo_like_rgb(256, 256, static_cast<std::uint64_t>(i));
    const auto jpg = encode_jpeg(PixelView::interleaved(rgb.data(), 3, 256, 256), 90);
    std::ofstream(cls / (std::to_string(i) + ".jpg"), std::ios::binary)
        .write(reinterpret_cast<const char*>(jpg.data()), static_cast<std::streamsize>(jpg.size()));
    bytes += jpg.size();
  }
  std::ofstream(done) << o.images << '\n';
  std::printf("generated %d JPEGs (256x256, %.1f KB on average) in %s in %.1f s\n", o.images,
              static_cast<double>(bytes) / o.images / 1024, o.dir.c_str(), seconds_since(t0));
}

/// Images per second of tspipe's loader, from the first batch on.
double ours(const std::shared_ptr<const ImageSource>& folder, const MultiView& views, const Options& o, int threads,
            std::uint64_t seed) {
  LoaderOptions lo;
  lo.batch_size = o.batch;
  lo.workers = threads;
  lo.seed = seed;
  Loader loader(folder, views, lo);
  loader.start_epoch(0);
  if (!loader.next()) return 0;
  const auto t0 = std::chrono::steady_clock::now();
  long delivered = 0;
  while (delivered < o.measure) {
    auto b = loader.next();
    if (!b) break;
    delivered += b->n;
  }
  return static_cast<double>(delivered) / seconds_since(t0);
}

/// Images per second of torchvision's DataLoader (bench/data/torchvision_loader.py); 0 on failure.
double theirs(const Options& o, int threads, std::uint64_t seed) {
  const std::string cmd = o.python + " " + TSPIPE_TORCHVISION_LOADER + " " + o.dir.string() + " " +
                          std::to_string(threads) + " " + std::to_string(o.batch) + " " + std::to_string(o.measure) +
                          " " + std::to_string(seed) + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return 0;
  char line[512];
  double rate = 0;
  std::string output;
  while (std::fgets(line, sizeof line, pipe)) {
    output += line;
    std::sscanf(line, "images_per_second %lf", &rate);
  }
  if (pclose(pipe) != 0 || rate <= 0) {
    std::fprintf(stderr, "torchvision run failed: %s\n%s", cmd.c_str(), output.c_str());
    return 0;
  }
  return rate;
}

/// Views per second on one core (the consumer's thread, no workers) for 32×32 images.
double cifar_views_per_second(int repeats) {
  auto ds = std::make_shared<Dataset>();
  ds->count = 4096;
  ds->channels = 3;
  ds->h = ds->w = 32;
  ds->source = "random 32x32 images";
  ds->pixels.resize(ds->image_bytes() * static_cast<std::size_t>(ds->count));
  Rng rng(3);
  for (auto& p : ds->pixels) p = static_cast<std::uint8_t>(rng.below(256));
  ds->labels.assign(static_cast<std::size_t>(ds->count), 0);
  LoaderOptions lo;
  lo.batch_size = 256;
  lo.workers = 0;
  Loader loader(ds, mocov3_views(cifar10_normalization(), 32), lo);
  std::vector<double> rates;
  for (int r = 0; r < repeats; ++r) {
    loader.start_epoch(r);
    const auto t0 = std::chrono::steady_clock::now();
    long views = 0;
    while (auto b = loader.next()) views += 2L * b->n;
    rates.push_back(static_cast<double>(views) / seconds_since(t0));
  }
  return median(rates);
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // each result as it is measured, also into a file
  const Options o = parse(argc, argv);
  std::printf("bench_data: %d JPEGs 256x256 -> BYOL two views 224x224, batch %d, %d images timed per run, "
              "%d repeats, %u hardware threads\n",
              o.images, o.batch, o.measure, o.repeats, std::thread::hardware_concurrency());
  try {
    generate_folder(o);
    const auto folder = ImageFolder::open(o.dir);
    const MultiView views = byol_views(imagenet_normalization(), 224);
    bool all_met = true;
    for (int threads : o.threads) {
      std::vector<double> a, b;
      for (int r = 0; r < o.repeats; ++r) {  // alternate, so that a change in load hits both sides
        a.push_back(ours(folder, views, o, threads, static_cast<std::uint64_t>(r)));
        if (o.torchvision) b.push_back(theirs(o, threads, static_cast<std::uint64_t>(r)));
      }
      const double ma = median(a);
      if (!o.torchvision || median(b) <= 0) {
        std::printf("threads %d: tspipe %.1f images/s (%.1f views/s); torchvision not measured\n", threads, ma, 2 * ma);
        continue;
      }
      const double mb = median(b), ratio = ma / mb;
      all_met = all_met && ratio >= 3.0;
      std::printf("threads %d: tspipe %.1f images/s, torchvision %.1f images/s, ratio %.2f (target >= 3)  "
                  "[runs: tspipe", threads, ma, mb, ratio);
      for (double x : a) std::printf(" %.1f", x);
      std::printf("; torchvision");
      for (double x : b) std::printf(" %.1f", x);
      std::printf("]\n");
    }
    const double cifar = cifar_views_per_second(o.repeats);
    std::printf("CIFAR-sized (32x32, MoCo v3 two views, one core): %.0f views/s per core (target >= 4000)\n", cifar);
    return all_met && cifar >= 4000 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_data: %s\n", e.what());
    return 2;
  }
}
