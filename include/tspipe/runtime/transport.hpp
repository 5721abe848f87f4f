#pragma once
// How activations and gradients travel between stages. A message is addressed to a stage and
// keyed by what consumes it (FT/FS activations, BS/BI gradients) and its batch, view and
// micro-batch, so a receiver takes exactly the message its action needs whatever order they
// arrive in. The in-process transport keeps one bounded mailbox per stage.
#include <tspipe/error.hpp>
#include <tspipe/schedule/action.hpp>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

namespace tspipe::runtime {

struct MessageKey {
  schedule::ActionKind consumer = schedule::ActionKind::StudentForward;
  long batch = 0;  ///< global batch number
  int view = 0;
  int micro_batch = 0;
  friend auto operator<=>(const MessageKey&, const MessageKey&) = default;
};

inline std::string describe(const MessageKey& key) {
  const bool gradient = schedule::is_student_backward(key.consumer);
  return std::string(gradient ? "gradient for " : "activation for ") + std::string(schedule::token_prefix(key.consumer)) +
         " of batch " + std::to_string(key.batch) + " view " + std::to_string(key.view) + " micro-batch " +
         std::to_string(key.micro_batch);
}

/// The transport interface a backend or launcher implements (in-process queues, MPI, NCCL).
template <class Tensor>
class Transport {
 public:
  virtual ~Transport() = default;
  /// Delivers `value` to stage `to`. Blocks while the receiver's mailbox is full; fails when the
  /// transport was stopped or the wait exceeded `timeout`.
  virtual Status send(int to, const MessageKey& key, Tensor value, std::chrono::milliseconds timeout) = 0;
  /// Takes the message `key` addressed to stage `at`, waiting up to `timeout`.
  virtual Result<Tensor> receive(int at, const MessageKey& key, std::chrono::milliseconds timeout) = 0;
  /// Wakes every waiter with `reason`; later calls fail at once. Used when any stage fails.
  virtual void stop(const std::string& reason) = 0;
};

template <class Tensor>
class InProcessTransport final : public Transport<Tensor> {
 public:
  InProcessTransport(int stages, std::size_t capacity_per_stage)
      : mailboxes_(static_cast<std::size_t>(stages)), capacity_(capacity_per_stage) {}

  Status send(int to, const MessageKey& key, Tensor value, std::chrono::milliseconds timeout) override {
    Mailbox& box = mailboxes_.at(static_cast<std::size_t>(to));
    std::unique_lock lock(box.mutex);
    const bool room = box.changed.wait_for(lock, timeout, [&] { return stopped() || box.messages.size() < capacity_; });
    if (stopped()) return Status::failure(stop_reason());
    if (!room)
      return Status::failure("stage " + std::to_string(to) + "'s mailbox stayed full (" + std::to_string(capacity_) +
                             " messages) for " + std::to_string(timeout.count()) + " ms while sending the " + describe(key));
    if (!box.messages.emplace(key, std::move(value)).second)
      return Status::failure("stage " + std::to_string(to) + " already holds the " + describe(key));
    box.changed.notify_all();
    return {};
  }

  Result<Tensor> receive(int at, const MessageKey& key, std::chrono::milliseconds timeout) override {
    Mailbox& box = mailboxes_.at(static_cast<std::size_t>(at));
    std::unique_lock lock(box.mutex);
    const bool arrived = box.changed.wait_for(lock, timeout, [&] { return stopped() || box.messages.count(key) > 0; });
    if (stopped()) return Result<Tensor>::failure(stop_reason());
    if (!arrived)
      return Result<Tensor>::failure("stage " + std::to_string(at) + " waited " + std::to_string(timeout.count()) +
                                     " ms for the " + describe(key));
    auto node = box.messages.extract(key);
    box.changed.notify_all();
    return std::move(node.mapped());
  }

  void stop(const std::string& reason) override {
    {
      std::lock_guard lock(stop_mutex_);
      if (stop_reason_.empty()) stop_reason_ = reason.empty() ? "stopped" : reason;
      stopped_flag_ = true;
    }
    for (Mailbox& box : mailboxes_) {
      std::lock_guard lock(box.mutex);
      box.changed.notify_all();
    }
  }

  /// Messages still waiting (a finished segment must leave none).
  std::size_t pending() {
    std::size_t n = 0;
    for (Mailbox& box : mailboxes_) {
      std::lock_guard lock(box.mutex);
      n += box.messages.size();
    }
    return n;
  }

 private:
  struct Mailbox {
    std::mutex mutex;
    std::condition_variable changed;
    std::map<MessageKey, Tensor> messages;
  };
  bool stopped() const { return stopped_flag_.load(); }
  std::string stop_reason() {
    std::lock_guard lock(stop_mutex_);
    return stop_reason_;
  }

  std::vector<Mailbox> mailboxes_;
  std::size_t capacity_;
  std::atomic<bool> stopped_flag_{false};
  std::mutex stop_mutex_;
  std::string stop_reason_;
};

}  // namespace tspipe::runtime
