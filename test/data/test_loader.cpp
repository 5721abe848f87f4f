// The prefetching loader: batches independent of the thread count, full coverage of each epoch,
// and shutdown that never hangs.
#include "idx_files.hpp"

#include <tspipe/data/loader.hpp>

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

std::vector<Batch> whole_epoch(Loader& loader, std::int64_t epoch) {
  std::vector<Batch> out;
  loader.start_epoch(epoch);
  while (auto b = loader.next()) out.push_back(std::move(*b));
  return out;
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
  std::vector<std::vector<Batch>> runs;
  for (int workers : {0, 1, 3}) {
    opt.workers = workers;
    Loader loader(ds, views, opt);
    runs.push_back(whole_epoch(loader, 2));
    // make_batch is the same function the workers run.
    CHECK(loader.make_batch(2, 3).views == runs.back()[3].views);
  }
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
  MultiView mismatched{{ViewPipeline{}, ViewPipeline{RandomResizedCrop(3, 3)}}};
  LoaderOptions opt;
  opt.batch_size = 4;
  opt.workers = 2;
  Loader loader(ds, mismatched, opt);
  loader.start_epoch(0);
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
