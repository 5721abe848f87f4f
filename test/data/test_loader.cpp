// The prefetching loader: batches independent of the thread count and the batch size, full
// coverage of each epoch, shards, reduced-scale decoding, bad files as error values, and shutdown
// that never hangs.
#include "image_files.hpp"

#include <tspipe/data/image_folder.hpp>
#include <tspipe/data/loader.hpp>
#include <tspipe/data/stl10.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <set>

using namespace tspipe::data;
using namespace tspipe::data::testing;

namespace {

std::shared_ptr<const Dataset> tiny_dataset(int count, int h = 6, int w = 6) {
  const TinySet set = tiny_set(count, h, w);
  auto ds = std::make_shared<Dataset>();
  ds->pixels = set.pixels;
  ds->labels = set.labels;
  ds->count = count;
  ds->h = h;
  ds->w = w;
  ds->source = "tiny";
  return ds;
}

/// `per_class` images of h×w in each of `classes` class folders under dir/folder: JPEGs, and a PNG
/// for every fourth (PNGs are never decoded at reduced scale).
std::shared_ptr<const ImageFolder> image_folder(const TempDir& dir, int classes, int per_class, int h, int w) {
  const std::filesystem::path root = dir / "folder";
  for (int c = 0; c < classes; ++c) {
    const std::filesystem::path folder = root / ("class" + std::to_string(c));
    std::filesystem::create_directories(folder);
    for (int i = 0; i < per_class; ++i) {
      const auto rgb = test_rgb(h, w, c * 100 + i);
      if (i % 4 == 3) write_png(folder / (std::to_string(i) + ".png"), rgb, h, w);
      else write_jpeg(folder / (std::to_string(i) + ".jpg"), rgb, h, w);
    }
  }
  return ImageFolder::open(root);
}

std::vector<Batch> whole_epoch(Loader& loader, std::int64_t epoch) {
  std::vector<Batch> out;
  loader.start_epoch(epoch);
  while (auto b = loader.next()) out.push_back(std::move(*b));
  return out;
}

/// `epoch` built with 0, 1 and 3 worker threads.
std::vector<std::vector<Batch>> epoch_by_0_1_3_workers(const std::shared_ptr<const ImageSource>& source,
                                                       const MultiView& views, LoaderOptions opt, std::int64_t epoch) {
  std::vector<std::vector<Batch>> runs;
  for (int workers : {0, 1, 3}) {
    opt.workers = workers;
    Loader loader(source, views, opt);
    runs.push_back(whole_epoch(loader, epoch));
  }
  return runs;
}

void check_same(const std::vector<Batch>& a, const std::vector<Batch>& b) {
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    CAPTURE(i);
    CHECK(a[i].index == static_cast<std::int64_t>(i));
    CHECK(b[i].index == static_cast<std::int64_t>(i));
    CHECK(a[i].example_ids == b[i].example_ids);
    CHECK(a[i].labels == b[i].labels);
    CHECK(a[i].views == b[i].views);
  }
}

}  // namespace

TEST_CASE("batches are identical for 0, 1 and 3 worker threads") {
  const auto ds = tiny_dataset(50);
  const MultiView views = ssl_views({{0.5f}, {0.25f}}, 5);
  LoaderOptions opt;
  opt.batch_size = 8;
  opt.seed = 11;
  opt.drop_last = false;
  opt.prefetch = 2;
  const auto runs = epoch_by_0_1_3_workers(ds, views, opt, 2);
  opt.workers = 2;
  CHECK(Loader(ds, views, opt).make_batch(2, 3).views == runs[0][3].views);  // what the workers run
  check_same(runs[0], runs[1]);
  check_same(runs[0], runs[2]);

  const Batch& b = runs[0][0];
  CHECK(b.n == 8);
  CHECK(b.c == 1);
  CHECK(b.h == 5);
  CHECK(b.w == 5);
  REQUIRE(b.views.size() == 2);
  CHECK(b.views[0].size() == std::size_t{8 * 1 * 5 * 5});
  CHECK(b.views[0] != b.views[1]);  // two random views, not one view twice
  CHECK(runs[0].back().n == 2);      // 50 = 6·8 + 2, kept because drop_last is off
}

TEST_CASE("JPEG/PNG folders with BYOL's views: the same bytes for 0, 1 and 3 threads and any batch size") {
  TempDir dir;
  const auto folder = image_folder(dir, 3, 5, 40, 56);
  const MultiView views = byol_views(imagenet_normalization(), 16);  // small views: decoded at 1/2
  LoaderOptions opt;
  opt.batch_size = 4;
  opt.drop_last = false;
  opt.seed = 5;
  const auto runs = epoch_by_0_1_3_workers(folder, views, opt, 1);
  check_same(runs[0], runs[1]);
  check_same(runs[0], runs[2]);
  REQUIRE(runs[0].size() == 4);
  CHECK(runs[0][0].c == 3);
  CHECK(runs[0][0].h == 16);
  CHECK(runs[0].back().n == 3);
  for (const Batch& b : runs[0])
    for (int i = 0; i < b.n; ++i)
      CHECK(b.labels[static_cast<std::size_t>(i)] == folder->label(b.example_ids[static_cast<std::size_t>(i)]));

  // A view depends on (seed, epoch, example, view) only: with batches of 7 the example's views
  // are the same floats.
  opt.batch_size = 7;
  opt.workers = 2;
  Loader other(folder, views, opt);
  const auto regrouped = whole_epoch(other, 1);
  const std::size_t floats = std::size_t{3} * 16 * 16;
  auto views_of = [&](const std::vector<Batch>& batches, std::int64_t id, int v) {
    for (const Batch& b : batches)
      for (int i = 0; i < b.n; ++i)
        if (b.example_ids[static_cast<std::size_t>(i)] == id) {
          const auto& all = b.views[static_cast<std::size_t>(v)];
          return std::vector<float>(all.begin() + static_cast<std::ptrdiff_t>(i * floats),
                                    all.begin() + static_cast<std::ptrdiff_t>((i + 1) * floats));
        }
    return std::vector<float>{};
  };
  for (std::int64_t id = 0; id < folder->size(); ++id)
    for (int v = 0; v < 2; ++v) {
      CAPTURE(id);
      CHECK(views_of(regrouped, id, v) == views_of(runs[0], id, v));
    }
}

TEST_CASE("reduced-scale JPEG decoding stays close to full decoding") {
  TempDir dir;
  const auto folder = image_folder(dir, 2, 4, 128, 128);
  // Crops of at least half the area resized to 24×24: every box is >= 90 pixels, so 1/2 and
  // often 1/4 scale decoding is allowed.
  const MultiView views{{ViewPipeline(RandomResizedCrop(24, 24, 0.5f, 1.0f))}};
  LoaderOptions opt;
  opt.batch_size = 8;
  opt.workers = 1;
  Loader reduced(folder, views, opt);
  opt.reduced_decode = false;
  Loader full(folder, views, opt);
  const Batch a = reduced.make_batch(0, 0), b = full.make_batch(0, 0);
  double diff = 0;
  for (std::size_t i = 0; i < a.views[0].size(); ++i) diff += std::abs(a.views[0][i] - b.views[0][i]);
  diff /= static_cast<double>(a.views[0].size());
  CHECK(a.views[0] != b.views[0]);  // the reduced path was taken
  CHECK(diff < 0.01);                // under 2.6 of 255 on average
}

TEST_CASE("a corrupt image is an error value naming the file; the epoch goes on") {
  TempDir dir;
  image_folder(dir, 1, 6, 96, 96);
  const std::filesystem::path bad = dir / "folder" / "class0" / "3.jpg";
  auto bytes = encode_jpeg(PixelView::interleaved(test_rgb(96, 96, 9).data(), 3, 96, 96));
  bytes.resize(bytes.size() * 2 / 3);  // header intact, scan data cut
  write_raw(bad, bytes);
  LoaderOptions opt;
  opt.batch_size = 2;
  opt.shuffle = false;
  opt.workers = 2;
  Loader loader(ImageFolder::open(dir / "folder"), eval_views(imagenet_normalization()), opt);
  loader.start_epoch(0);
  int ok = 0, failed = 0;
  for (int i = 0; i < 3; ++i) {
    auto r = loader.try_next();
    if (r.ok()) {
      REQUIRE(r.value().has_value());
      ++ok;
      continue;
    }
    ++failed;
    CHECK(r.message().find("Loader: epoch 0, batch 1: " + bad.string() + ": corrupt or truncated JPEG") != std::string::npos);
  }
  CHECK(ok == 2);
  CHECK(failed == 1);
  CHECK_FALSE(loader.next().has_value());
  CHECK(error_of([&] { (void)loader.make_batch(0, 1); }).find(bad.string()) != std::string::npos);
}

TEST_CASE("shards: equal, disjoint, covering all but size mod replicas, reshuffled each epoch") {
  const auto ds = tiny_dataset(38);
  const MultiView views = eval_views({{0.0f}, {1.0f}});
  for (std::int64_t epoch : {0, 1}) {
    std::vector<std::int64_t> all;
    for (int rank = 0; rank < 3; ++rank) {
      LoaderOptions opt;
      opt.batch_size = 4;
      opt.replicas = 3;
      opt.rank = rank;
      opt.seed = 9;
      opt.workers = 1;
      Loader loader(ds, views, opt);
      CHECK(loader.shard_size() == 12);
      CHECK(loader.batches_per_epoch() == 3);
      std::vector<std::int64_t> seen;
      for (const Batch& b : whole_epoch(loader, epoch)) seen.insert(seen.end(), b.example_ids.begin(), b.example_ids.end());
      CHECK(seen == loader.epoch_order(epoch));
      all.insert(all.end(), seen.begin(), seen.end());
    }
    std::sort(all.begin(), all.end());
    CHECK(std::adjacent_find(all.begin(), all.end()) == all.end());  // disjoint
    CHECK(all.size() == 36);
  }
  LoaderOptions opt;
  opt.batch_size = 4;
  opt.replicas = 2;
  opt.rank = 0;
  const auto order0 = Loader(ds, views, opt).epoch_order(0);
  opt.rank = 1;
  const auto order1 = Loader(ds, views, opt).epoch_order(0);
  CHECK(order0 != order1);
  CHECK(order0 != Loader(ds, views, LoaderOptions{.batch_size = 4, .replicas = 2}).epoch_order(1));
  opt.rank = 2;
  CHECK(error_of([&] { Loader(ds, views, opt); }).find("rank 2 is outside [0, 2)") != std::string::npos);
  opt.rank = 0;
  opt.replicas = 0;
  CHECK(!error_of([&] { Loader(ds, views, opt); }).empty());
  opt.replicas = 10;
  opt.batch_size = 4;
  CHECK(error_of([&] { Loader(ds, views, opt); }).find("larger than each of 10 shards of tiny, which holds 3 examples") !=
        std::string::npos);
}

TEST_CASE("STL-10's unlabeled split streams through the loader with label -1") {
  TempDir dir;
  write_raw(dir / "unlabeled_X.bin", stl10_bytes(5));
  LoaderOptions opt;
  opt.batch_size = 2;
  opt.workers = 2;
  Loader loader(open_stl10(dir.path(), Split::unlabeled), byol_views(stl10_normalization(), 32), opt);
  const auto batches = whole_epoch(loader, 0);
  REQUIRE(batches.size() == 2);
  CHECK(batches[0].labels == std::vector<int>{-1, -1});
  CHECK(batches[0].h == 32);
  CHECK(batches[0].views.size() == 2);
}

TEST_CASE("every example appears exactly once per epoch; epochs and seeds shuffle differently") {
  const auto ds = tiny_dataset(37);
  LoaderOptions opt;
  opt.batch_size = 5;
  opt.drop_last = false;
  opt.workers = 2;
  opt.seed = 3;
  Loader loader(ds, eval_views({{0.0f}, {1.0f}}), opt);
  CHECK(loader.batches_per_epoch() == 8);

  auto ids_of = [&](std::int64_t epoch) {
    std::vector<std::int64_t> ids;
    for (const Batch& b : whole_epoch(loader, epoch)) {
      CHECK(b.epoch == epoch);
      for (int i = 0; i < b.n; ++i) {
        const auto id = b.example_ids[static_cast<std::size_t>(i)];
        ids.push_back(id);
        CHECK(b.labels[static_cast<std::size_t>(i)] == ds->labels[static_cast<std::size_t>(id)]);
        // eval view with mean 0, std 1: the stored bytes / 255.
        CHECK(b.views[0][static_cast<std::size_t>(i) * 36] ==
              doctest::Approx(ds->image(static_cast<int>(id))[0] / 255.0f));
      }
    }
    return ids;
  };
  const auto epoch0 = ids_of(0), epoch1 = ids_of(1);
  std::vector<std::int64_t> sorted = epoch0;
  std::sort(sorted.begin(), sorted.end());
  for (std::size_t i = 0; i < sorted.size(); ++i) CHECK(sorted[i] == static_cast<std::int64_t>(i));
  CHECK(sorted.size() == 37);
  CHECK(epoch0 != epoch1);
  CHECK(ids_of(0) == epoch0);  // an epoch replays exactly

  LoaderOptions other = opt;
  other.seed = 4;
  CHECK(Loader(ds, eval_views({{0.0f}, {1.0f}}), other).epoch_order(0) != loader.epoch_order(0));
  other.shuffle = false;
  const auto in_order = Loader(ds, eval_views({{0.0f}, {1.0f}}), other).epoch_order(0);
  CHECK(std::is_sorted(in_order.begin(), in_order.end()));
}

TEST_CASE("drop_last drops the partial batch") {
  LoaderOptions opt;
  opt.batch_size = 5;
  opt.drop_last = true;
  opt.workers = 1;
  Loader loader(tiny_dataset(37), eval_views({{0.0f}, {1.0f}}), opt);
  CHECK(loader.batches_per_epoch() == 7);
  const auto batches = whole_epoch(loader, 0);
  CHECK(batches.size() == 7);
  for (const Batch& b : batches) CHECK(b.n == 5);
}

TEST_CASE("stopping early does not hang: destruction, restart and a consumer that quits") {
  const auto ds = tiny_dataset(200, 16, 16);
  const MultiView views = ssl_views({{0.5f}, {0.25f}}, 16);
  LoaderOptions opt;
  opt.batch_size = 4;
  opt.workers = 3;
  opt.prefetch = 3;
  {
    Loader loader(ds, views, opt);
    loader.start_epoch(0);
    CHECK(loader.next().has_value());
  }  // destroyed with workers blocked on a full window
  {
    Loader loader(ds, views, opt);
    loader.start_epoch(0);
  }  // destroyed before anything was taken
  {
    Loader loader(ds, views, opt);
    loader.start_epoch(0);
    (void)loader.next();
    loader.start_epoch(1);  // abandons epoch 0 mid-way
    const auto b = loader.next();
    REQUIRE(b.has_value());
    CHECK(b->epoch == 1);
    CHECK(b->index == 0);
    CHECK(b->views == loader.make_batch(1, 0).views);
  }
  Loader never_started(ds, views, opt);
  CHECK(error_of([&] { (void)never_started.next(); }).find("start_epoch") != std::string::npos);
}

TEST_CASE("a worker's exception reaches the consumer at its batch") {
  const auto ds = tiny_dataset(12);
  // Views of different shapes cannot share a batch: the worker throws while building batch 0.
  MultiView mismatched{{ViewPipeline{}, ViewPipeline(RandomResizedCrop(3, 3))}};
  LoaderOptions opt;
  opt.batch_size = 4;
  opt.workers = 2;
  Loader loader(ds, mismatched, opt);
  loader.start_epoch(0);
  const auto failed = loader.try_next();
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.message().find("all views of a batch must have one shape") != std::string::npos);
  CHECK(failed.message().find("tiny image") != std::string::npos);
  CHECK(error_of([&] { (void)loader.next(); }).find("all views of a batch must have one shape") != std::string::npos);
}

TEST_CASE("bad loader options name the numbers") {
  const auto ds = tiny_dataset(10);
  const MultiView views = eval_views({{0.0f}, {1.0f}});
  LoaderOptions opt;
  opt.batch_size = 11;
  const std::string msg = error_of([&] { Loader(ds, views, opt); });
  CHECK(msg.find("batch size 11 is larger than tiny, which holds 10 examples") != std::string::npos);
  opt.batch_size = 0;
  CHECK(!error_of([&] { Loader(ds, views, opt); }).empty());
  opt.batch_size = 2;
  opt.prefetch = 0;
  CHECK(!error_of([&] { Loader(ds, views, opt); }).empty());
  opt.prefetch = 1;
  CHECK(!error_of([&] { Loader(ds, MultiView{}, opt); }).empty());
  CHECK(error_of([&] { Loader(ds, views, opt).make_batch(0, 5); }).find("does not exist") != std::string::npos);
}
