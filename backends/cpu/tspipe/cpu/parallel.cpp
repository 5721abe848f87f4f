#include <tspipe/cpu/parallel.hpp>

#include <tspipe/cpu/backend.hpp>

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace tspipe::cpu::detail {
namespace {

class Pool {
 public:
  ~Pool() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
  }

  void run(int tasks, void (*task)(void*, int), void* context) {
    // One region at a time; a second caller (another stage's thread, or a nested call from a
    // body, which would otherwise deadlock) does its work inline.
    if (inside_) {
      for (int i = 0; i < tasks; ++i) task(context, i);
      return;
    }
    std::unique_lock region(region_, std::try_to_lock);
    if (!region.owns_lock()) {
      for (int i = 0; i < tasks; ++i) task(context, i);
      return;
    }
    {
      std::lock_guard lock(mutex_);
      while (static_cast<int>(workers_.size()) < tasks - 1) {
        const int index = static_cast<int>(workers_.size()) + 1;
        workers_.emplace_back([this, index] { work(index); });
      }
      task_ = task;
      context_ = context;
      tasks_ = tasks;
      pending_ = tasks - 1;
      ++generation_;
    }
    wake_.notify_all();
    inside_ = true;
    task(context, 0);
    inside_ = false;
    std::unique_lock lock(mutex_);
    done_.wait(lock, [this] { return pending_ == 0; });
  }

 private:
  void work(int index) {
    uint64_t seen = 0;
    std::unique_lock lock(mutex_);
    for (;;) {
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      if (index >= tasks_) continue;  // this region needs fewer threads than the pool has
      auto* task = task_;
      void* context = context_;
      lock.unlock();
      inside_ = true;
      task(context, index);
      inside_ = false;
      lock.lock();
      if (--pending_ == 0) done_.notify_one();
    }
  }

  std::mutex region_;  // held by the thread whose region is running
  std::mutex mutex_;   // guards everything below
  std::condition_variable wake_, done_;
  std::vector<std::thread> workers_;
  void (*task_)(void*, int) = nullptr;
  void* context_ = nullptr;
  int tasks_ = 0, pending_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
  static thread_local bool inside_;  // this thread is running a body: nested regions run inline
};

thread_local bool Pool::inside_ = false;

Pool& pool() {
  static Pool instance;
  return instance;
}

}  // namespace

void run_parallel(int tasks, void (*task)(void*, int), void* context) { pool().run(tasks, task, context); }

int parallel_threads() { return Backend::threads(); }

}  // namespace tspipe::cpu::detail
