#pragma once
// A prefetching loader. Worker threads build whole batches ahead of the consumer into a bounded
// window and the consumer takes them strictly in order.
//
// Reproducibility: the epoch's order comes from (seed, epoch) and each view's randomness from
// (seed, epoch, example, view) — nothing depends on which thread builds a batch, how many threads
// there are, the batch size or the replica count, so any thread count (or none) gives the same bytes.
//
// Distributed runs: every replica shuffles the whole source the same way and takes every
// replicas-th example from its rank on, after dropping the last size mod replicas positions:
// disjoint shards of equal size, a different partition each epoch.
//
// Errors: a read, decode or augmentation failure in a worker becomes the failure of that batch,
// delivered by try_next() as an error value naming the file (next() throws it); the epoch goes on
// with the following batch. Stopping early never hangs: stop(), start_epoch() and the destructor
// wake and join the workers wherever they are.
#include <tspipe/data/augment.hpp>
#include <tspipe/data/batch.hpp>
#include <tspipe/data/image_source.hpp>
#include <tspipe/data/rng.hpp>
#include <tspipe/error.hpp>

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace tspipe::data {

struct LoaderOptions {
  int batch_size = 256;
  bool shuffle = true;
  bool drop_last = true;        // false: the last, smaller batch is kept
  std::uint64_t seed = 0;
  int workers = 2;              // 0: batches are built on the consumer's thread
  int prefetch = 4;             // batches built ahead of the consumer, at most
  int replicas = 1;             // data-parallel replicas sharing each epoch
  int rank = 0;                 // this replica, in [0, replicas)
  bool reduced_decode = true;   // decode a JPEG at 1/2, 1/4 or 1/8 scale when all its views' crops allow
};

class Loader {
 public:
  Loader(std::shared_ptr<const ImageSource> source, MultiView views, LoaderOptions options)
      : source_(std::move(source)), views_(std::move(views)), options_(options) {
    if (!source_) throw Error("Loader: no dataset");
    const std::string name = source_->name().empty() ? "dataset" : source_->name();
    if (options_.replicas < 1) throw Error("Loader: " + std::to_string(options_.replicas) + " replicas; need at least 1");
    if (options_.rank < 0 || options_.rank >= options_.replicas)
      throw Error("Loader: rank " + std::to_string(options_.rank) + " is outside [0, " +
                  std::to_string(options_.replicas) + ")");
    if (options_.batch_size < 1)
      throw Error("Loader: batch size " + std::to_string(options_.batch_size) + " must be at least 1");
    if (options_.batch_size > shard_size())
      throw Error("Loader: batch size " + std::to_string(options_.batch_size) + " is larger than " +
                  (options_.replicas == 1 ? name : "each of " + std::to_string(options_.replicas) + " shards of " + name) +
                  ", which holds " + std::to_string(shard_size()) + " examples");
    if (views_.count() < 1) throw Error("Loader: no views to produce");
    if (options_.workers < 0) throw Error("Loader: " + std::to_string(options_.workers) + " workers");
    if (options_.prefetch < 1)
      throw Error("Loader: prefetch depth " + std::to_string(options_.prefetch) + " must be at least 1");
  }
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;
  ~Loader() { stop(); }

  /// Examples each replica visits per epoch.
  std::int64_t shard_size() const noexcept { return source_->size() / options_.replicas; }
  std::int64_t batches_per_epoch() const noexcept {
    const std::int64_t n = shard_size(), b = options_.batch_size;
    return options_.drop_last ? n / b : (n + b - 1) / b;
  }
  const LoaderOptions& options() const noexcept { return options_; }
  const ImageSource& source() const noexcept { return *source_; }

  /// The examples this replica visits in `epoch`, in order.
  std::vector<std::int64_t> epoch_order(std::int64_t epoch) const {
    std::vector<std::int64_t> order(static_cast<std::size_t>(source_->size()));
    std::iota(order.begin(), order.end(), std::int64_t{0});
    if (options_.shuffle) {
      Rng rng(derive_seed(options_.seed, {static_cast<std::uint64_t>(epoch)}));
      for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);  // Fisher–Yates
    }
    if (options_.replicas == 1) return order;
    std::vector<std::int64_t> shard(static_cast<std::size_t>(shard_size()));
    for (std::size_t k = 0; k < shard.size(); ++k)
      shard[k] = order[k * static_cast<std::size_t>(options_.replicas) + static_cast<std::size_t>(options_.rank)];
    return shard;
  }

  /// Batch `index` of `epoch`, built on the calling thread: exactly what next() delivers.
  Batch make_batch(std::int64_t epoch, std::int64_t index) const {
    Scratch scratch;
    return build(epoch_order(epoch), epoch, index, scratch);
  }

  /// Starts producing the batches of `epoch` (stopping whatever epoch was in progress).
  void start_epoch(std::int64_t epoch) {
    stop();
    order_ = epoch_order(epoch);
    epoch_ = epoch;
    next_claim_ = next_deliver_ = 0;
    stopping_ = false;
    ready_.clear();
    started_ = true;
    for (int t = 0; t < options_.workers; ++t) workers_.emplace_back([this] { work(); });
  }

  /// The next batch of the current epoch, nothing once the epoch is over, or the failure of the
  /// batch that was due (a bad file, named); the following call moves on to the next batch.
  Result<std::optional<Batch>> try_next() {
    if (!started_) return Status::failure("Loader: call start_epoch() before next()");
    if (next_deliver_ >= batches_per_epoch()) return std::optional<Batch>{};
    Slot slot;
    if (options_.workers == 0) {
      slot = build_slot(next_deliver_++, consumer_scratch_);
    } else {
      {
        std::unique_lock lock(mutex_);
        ready_changed_.wait(lock, [&] { return ready_.count(next_deliver_) != 0; });
        auto it = ready_.find(next_deliver_);
        slot = std::move(it->second);
        ready_.erase(it);
        ++next_deliver_;
      }
      window_moved_.notify_all();
    }
    if (slot.error) return Status::failure(std::move(*slot.error));
    return std::optional<Batch>(std::move(slot.batch));
  }

  /// try_next(), throwing tspipe::Error for a failed batch.
  std::optional<Batch> next() { return try_next().value(); }

  /// Stops and joins the workers; safe to call at any time, also mid-epoch.
  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    window_moved_.notify_all();
    for (std::thread& t : workers_) t.join();
    workers_.clear();
  }

 private:
  struct Slot {
    Batch batch;
    std::optional<std::string> error;
  };
  /// One thread's working memory, reused from example to example.
  struct Scratch {
    SampleBuffer sample;
    std::vector<Rng> rngs;
    std::vector<ViewWindow> windows;
    Image view;
  };

  Slot build_slot(std::int64_t index, Scratch& scratch) const {
    Slot slot;
    try {
      slot.batch = build(order_, epoch_, index, scratch);
    } catch (const std::exception& e) {
      slot.error = "Loader: epoch " + std::to_string(epoch_) + ", batch " + std::to_string(index) + ": " + e.what();
    }
    return slot;
  }

  Batch build(const std::vector<std::int64_t>& order, std::int64_t epoch, std::int64_t index, Scratch& s) const {
    if (index < 0 || index >= batches_per_epoch())
      throw Error("Loader: batch " + std::to_string(index) + " does not exist; an epoch has " +
                  std::to_string(batches_per_epoch()));
    const ImageSource& src = *source_;
    const std::int64_t first = index * options_.batch_size;
    const int n = static_cast<int>(std::min<std::int64_t>(options_.batch_size, static_cast<std::int64_t>(order.size()) - first));
    const int view_count = views_.count();
    Batch batch;
    batch.index = index;
    batch.epoch = epoch;
    batch.n = n;
    batch.views.resize(static_cast<std::size_t>(view_count));
    for (int i = 0; i < n; ++i) {
      const std::int64_t id = order[static_cast<std::size_t>(first + i)];
      batch.example_ids.push_back(id);
      batch.labels.push_back(src.label(id));
      src.read(id, s.sample);
      const int full_h = s.sample.height, full_w = s.sample.width;
      s.rngs.clear();
      s.windows.clear();
      int shrink = options_.reduced_decode ? 8 : 1;
      for (int v = 0; v < view_count; ++v) {
        s.rngs.emplace_back(derive_seed(options_.seed, {static_cast<std::uint64_t>(epoch), static_cast<std::uint64_t>(id),
                                                        static_cast<std::uint64_t>(v)}));
        s.windows.push_back(views_.views[static_cast<std::size_t>(v)].plan(full_h, full_w, s.rngs.back()));
        shrink = std::min(shrink, s.windows.back().max_shrink());
      }
      const PixelView pixels = s.sample.encoded ? src.decode(id, s.sample, shrink) : s.sample.pixels;
      for (int v = 0; v < view_count; ++v) {
        const auto vi = static_cast<std::size_t>(v);
        try {
          views_.views[vi].finish(pixels, s.windows[vi], full_h, full_w, s.rngs[vi], s.view);
        } catch (const Error& e) {
          throw Error("view " + std::to_string(v) + " of " + src.describe(id) + ": " + e.what());
        }
        const Image& img = s.view;
        if (i == 0 && v == 0) {
          batch.c = img.c;
          batch.h = img.h;
          batch.w = img.w;
          for (auto& view : batch.views) view.reserve(static_cast<std::size_t>(n) * img.px.size());
        } else if (img.c != batch.c || img.h != batch.h || img.w != batch.w) {
          throw Error("view " + std::to_string(v) + " of " + src.describe(id) + " is " + std::to_string(img.c) + "x" +
                      std::to_string(img.h) + "x" + std::to_string(img.w) + " but the batch's first view is " +
                      std::to_string(batch.c) + "x" + std::to_string(batch.h) + "x" + std::to_string(batch.w) +
                      "; all views of a batch must have one shape (images of different sizes need a crop or resize)");
        }
        batch.views[vi].insert(batch.views[vi].end(), img.px.begin(), img.px.end());
      }
    }
    return batch;
  }

  void work() {
    Scratch scratch;
    for (;;) {
      std::int64_t index;
      {
        std::unique_lock lock(mutex_);
        window_moved_.wait(lock, [&] {
          return stopping_ || next_claim_ >= batches_per_epoch() || next_claim_ < next_deliver_ + options_.prefetch;
        });
        if (stopping_ || next_claim_ >= batches_per_epoch()) return;
        index = next_claim_++;
      }
      Slot slot = build_slot(index, scratch);
      {
        std::lock_guard lock(mutex_);
        ready_.emplace(index, std::move(slot));
      }
      ready_changed_.notify_all();
    }
  }

  std::shared_ptr<const ImageSource> source_;
  MultiView views_;
  LoaderOptions options_;

  // The epoch in progress; written only by start_epoch while no worker runs.
  std::vector<std::int64_t> order_;
  std::int64_t epoch_ = 0;
  bool started_ = false;
  Scratch consumer_scratch_;  // workers == 0: batches are built on the consumer's thread

  std::mutex mutex_;
  std::condition_variable window_moved_;   // a batch was taken, or stopping: workers may claim
  std::condition_variable ready_changed_;  // a batch was finished: the consumer may take it
  std::int64_t next_claim_ = 0;            // guarded by mutex_
  std::int64_t next_deliver_ = 0;          // guarded by mutex_ (written by the consumer only)
  bool stopping_ = false;                  // guarded by mutex_
  std::map<std::int64_t, Slot> ready_;     // guarded by mutex_
  std::vector<std::thread> workers_;
};

}  // namespace tspipe::data
