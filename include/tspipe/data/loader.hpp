#pragma once
// A prefetching loader. Worker threads build whole batches ahead of the consumer into a bounded
// window and the consumer takes them strictly in order. The content of batch i depends only on
// (seed, epoch, i): the shuffle comes from (seed, epoch) and each example's views from
// (seed, epoch, i, slot, view), so any thread count — or none — gives the same bytes.
#include <tspipe/data/augment.hpp>
#include <tspipe/data/dataset.hpp>
#include <tspipe/data/rng.hpp>
#include <tspipe/error.hpp>

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace tspipe::data {

/// One batch: V views, each n×c×h×w row-major floats, and the labels of its n examples.
struct Batch {
  std::int64_t index = 0;                  // position in its epoch
  std::vector<std::vector<float>> views;   // [V][n·c·h·w]
  std::vector<int> labels;                 // [n]
  int n = 0, c = 0, h = 0, w = 0;
  std::int64_t epoch = 0;
  std::vector<std::int64_t> example_ids;   // [n] positions in the dataset
};

struct LoaderOptions {
  int batch_size = 256;
  bool shuffle = true;
  bool drop_last = true;  // false: the last, smaller batch is kept
  std::uint64_t seed = 0;
  int workers = 2;        // 0: batches are built on the consumer's thread
  int prefetch = 4;       // batches built ahead of the consumer, at most
};

class Loader {
 public:
  Loader(std::shared_ptr<const Dataset> dataset, MultiView views, LoaderOptions options)
      : dataset_(std::move(dataset)), views_(std::move(views)), options_(options) {
    if (!dataset_) throw Error("Loader: no dataset");
    const std::string name = dataset_->source.empty() ? "dataset" : dataset_->source;
    if (options_.batch_size < 1)
      throw Error("Loader: batch size " + std::to_string(options_.batch_size) + " must be at least 1");
    if (options_.batch_size > dataset_->count)
      throw Error("Loader: batch size " + std::to_string(options_.batch_size) + " is larger than " + name +
                  ", which holds " + std::to_string(dataset_->count) + " examples");
    if (views_.count() < 1) throw Error("Loader: no views to produce");
    if (options_.workers < 0) throw Error("Loader: " + std::to_string(options_.workers) + " workers");
    if (options_.prefetch < 1)
      throw Error("Loader: prefetch depth " + std::to_string(options_.prefetch) + " must be at least 1");
  }
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;
  ~Loader() { stop(); }

  std::int64_t batches_per_epoch() const noexcept {
    const std::int64_t n = dataset_->count, b = options_.batch_size;
    return options_.drop_last ? n / b : (n + b - 1) / b;
  }
  const LoaderOptions& options() const noexcept { return options_; }
  const Dataset& dataset() const noexcept { return *dataset_; }

  /// The order in which an epoch visits the dataset.
  std::vector<std::int64_t> epoch_order(std::int64_t epoch) const {
    std::vector<std::int64_t> order(static_cast<std::size_t>(dataset_->count));
    std::iota(order.begin(), order.end(), std::int64_t{0});
    if (options_.shuffle) {
      Rng rng(derive_seed(options_.seed, {static_cast<std::uint64_t>(epoch)}));
      for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);  // Fisher–Yates
    }
    return order;
  }

  /// Batch `index` of `epoch`, built on the calling thread: exactly what next() delivers.
  Batch make_batch(std::int64_t epoch, std::int64_t index) const {
    return build(epoch_order(epoch), epoch, index);
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

  /// The next batch of the current epoch, or nothing once the epoch is over. A worker's exception
  /// is rethrown here, at the batch it was building.
  std::optional<Batch> next() {
    if (!started_) throw Error("Loader: call start_epoch() before next()");
    if (next_deliver_ >= batches_per_epoch()) return std::nullopt;
    if (options_.workers == 0) return build(order_, epoch_, next_deliver_++);
    Slot slot;
    {
      std::unique_lock lock(mutex_);
      ready_changed_.wait(lock, [&] { return ready_.count(next_deliver_) != 0; });
      auto it = ready_.find(next_deliver_);
      slot = std::move(it->second);
      ready_.erase(it);
      ++next_deliver_;
    }
    window_moved_.notify_all();
    if (slot.error) std::rethrow_exception(slot.error);
    return std::move(slot.batch);
  }

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
    std::exception_ptr error;
  };

  Batch build(const std::vector<std::int64_t>& order, std::int64_t epoch, std::int64_t index) const {
    if (index < 0 || index >= batches_per_epoch())
      throw Error("Loader: batch " + std::to_string(index) + " does not exist; an epoch has " +
                  std::to_string(batches_per_epoch()));
    const Dataset& ds = *dataset_;
    const std::int64_t first = index * options_.batch_size;
    const int n = static_cast<int>(std::min<std::int64_t>(options_.batch_size, ds.count - first));
    Batch batch;
    batch.index = index;
    batch.epoch = epoch;
    batch.n = n;
    batch.views.resize(static_cast<std::size_t>(views_.count()));
    for (int i = 0; i < n; ++i) {
      const std::int64_t id = order[static_cast<std::size_t>(first + i)];
      batch.example_ids.push_back(id);
      batch.labels.push_back(ds.labels[static_cast<std::size_t>(id)]);
      for (int v = 0; v < views_.count(); ++v) {
        Rng rng(derive_seed(options_.seed, {static_cast<std::uint64_t>(epoch), static_cast<std::uint64_t>(index),
                                            static_cast<std::uint64_t>(i), static_cast<std::uint64_t>(v)}));
        const Image img =
            views_.views[static_cast<std::size_t>(v)].view(ds.image(static_cast<int>(id)), ds.channels, ds.h, ds.w, rng);
        if (i == 0 && v == 0) {
          batch.c = img.c;
          batch.h = img.h;
          batch.w = img.w;
          for (auto& view : batch.views) view.reserve(static_cast<std::size_t>(n) * img.px.size());
        } else if (img.c != batch.c || img.h != batch.h || img.w != batch.w) {
          throw Error("Loader: view " + std::to_string(v) + " is " + std::to_string(img.c) + "x" +
                      std::to_string(img.h) + "x" + std::to_string(img.w) + " but view 0 is " +
                      std::to_string(batch.c) + "x" + std::to_string(batch.h) + "x" + std::to_string(batch.w) +
                      "; all views of a batch must have one shape");
        }
        auto& out = batch.views[static_cast<std::size_t>(v)];
        out.insert(out.end(), img.px.begin(), img.px.end());
      }
    }
    return batch;
  }

  void work() {
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
      Slot slot;
      try {
        slot.batch = build(order_, epoch_, index);
      } catch (...) {
        slot.error = std::current_exception();
      }
      {
        std::lock_guard lock(mutex_);
        ready_.emplace(index, std::move(slot));
      }
      ready_changed_.notify_all();
    }
  }

  std::shared_ptr<const Dataset> dataset_;
  MultiView views_;
  LoaderOptions options_;

  // The epoch in progress; written only by start_epoch while no worker runs.
  std::vector<std::int64_t> order_;
  std::int64_t epoch_ = 0;
  bool started_ = false;

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
