#pragma once
// The pieces both NCCL transports share (one process: NcclTransport; one process per stage:
// NcclMpiTransport): the wire format of a tensor message, one end of a one-way link between two
// stages, and the keyed inbox where received messages wait for the action that consumes them.
//
// A link is a two-rank NCCL communicator that carries messages ONE way (NCCL rank 0 sends, rank 1
// receives), each end with its own stream: activations going forward and gradients coming back
// then travel on different communicators and streams, so a send that waits for its receiver can
// never hold up a receive queued behind it. A message is two ncclSends: a fixed-size header (key
// and shape) and the payload. The receiver does not know which message comes next (actions
// consume them in schedule order, not send order), so it takes them in send order and files each
// in the inbox under its key.
#include <tspipe/cuda/backend.hpp>
#include <tspipe/runtime/transport.hpp>

#include <nccl.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

namespace tspipe::cuda::nccl {

/// Throws tspipe::Error naming the call, NCCL's message and file:line unless `status` is success
/// (or, for a nonblocking communicator, ncclInProgress: see wait_ready).
void check(ncclResult_t status, const char* call, const char* file, int line);

/// `issued` is what a call on `comm` returned. On a communicator created nonblocking
/// (ncclConfig_t::blocking = 0) that may be ncclInProgress: then this waits until NCCL has taken
/// the call up (ncclCommGetAsyncError no longer ncclInProgress), at most until `deadline`, so that
/// NCCL's host side never waits forever on a lost peer. A failure or the deadline throws, naming
/// the call. On a blocking communicator it is check().
void wait_ready(ncclComm_t comm, ncclResult_t issued, const char* call, const char* file, int line,
                std::chrono::steady_clock::time_point deadline);

/// The sender's wire format: consumer, batch, view, micro_batch, rank, dims[kMaxDims].
constexpr int kHeaderWords = 13;
constexpr int kMaxDims = 8;

/// Which stage produces the message `key` for stage `at`: activations (FT, FS) come from at−1,
/// gradients (BS, BI) from at+1.
inline int source_stage(int at, const runtime::MessageKey& key) {
  return schedule::is_student_backward(key.consumer) ? at + 1 : at - 1;
}

/// A message waiting for its consumer; usable on a stream once that stream waits on `ready`.
struct Arrived {
  Tensor value;
  cudaEvent_t ready = nullptr;
};

/// One end of a one-way link (see the top of the file). Calls on one end are serialised by its
/// mutex, which the caller holds.
struct LinkEnd {
  ncclComm_t comm = nullptr;
  int peer = 0;                    ///< the other end's rank in `comm` (1 when sending, 0 when receiving)
  cudaStream_t stream = nullptr;
  std::mutex mutex;
  // Receiving end: a header receive may outlive one receive() call that timed out; the next call
  // picks it up rather than post a second receive the sender would match against the wrong data.
  int64_t* header_host = nullptr;  ///< pinned, kHeaderWords (so the copy out is asynchronous)
  Tensor header_device;
  cudaEvent_t header_copied = nullptr;
  bool header_pending = false;

  LinkEnd() = default;
  LinkEnd(const LinkEnd&) = delete;
  LinkEnd& operator=(const LinkEnd&) = delete;
  ~LinkEnd();  ///< frees the pinned header and event; the communicator belongs to the transport
};

/// Creates the stream (on `device`) and, for a receiving end, the pinned header and its event.
void prepare_end(LinkEnd& end, int device, bool receiving);

/// Queues the message (header + payload) on the end's stream after the work queued so far on
/// `here` (the caller's stream, which produced `value`); does not block the host.
void send_message(LinkEnd& end, const runtime::MessageKey& key, const Tensor& value, const Stream& here,
                  std::chrono::steady_clock::time_point deadline);

/// Receives the next message the peer sent; nullopt if its header has not arrived by `deadline`
/// or `stopped` became true (the header receive stays posted for the next call).
std::optional<std::pair<runtime::MessageKey, Arrived>> receive_next(LinkEnd& end, const Stream& here,
                                                                     std::chrono::steady_clock::time_point deadline,
                                                                     const std::atomic<bool>& stopped);

/// Received (or handed-over) messages per (stage, key), and the stop state of a transport.
class Inbox {
 public:
  ~Inbox();
  /// Files a message; fails when that stage already holds one under `key`.
  void put(int stage, const runtime::MessageKey& key, Arrived arrived);
  /// The message if it is here (nullopt otherwise); throws the stop reason once stopped.
  std::optional<Arrived> try_take(int stage, const runtime::MessageKey& key);
  /// Waits up to `timeout` for the message (nullopt when it did not come).
  std::optional<Arrived> wait_take(int stage, const runtime::MessageKey& key, std::chrono::milliseconds timeout);
  /// Makes `stream` wait for the message and marks its storage as used there.
  static Tensor claim(Arrived arrived, const Stream& stream);

  void stop(const std::string& reason);
  bool stopped() const { return stopped_.load(); }
  const std::atomic<bool>& stopped_flag() const { return stopped_; }
  std::string stop_reason();
  std::size_t pending();

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::pair<int, runtime::MessageKey>, Arrived> messages_;
  std::atomic<bool> stopped_{false};
  std::string stop_reason_;
};

}  // namespace tspipe::cuda::nccl

#define TSPIPE_NCCL_CHECK(call) ::tspipe::cuda::nccl::check((call), #call, __FILE__, __LINE__)
/// Issues `call` on the nonblocking-or-blocking communicator `comm` and waits (until `deadline`)
/// for NCCL to take it up.
#define TSPIPE_NCCL_ISSUE(comm, call, deadline) \
  ::tspipe::cuda::nccl::wait_ready((comm), (call), #call, __FILE__, __LINE__, (deadline))
