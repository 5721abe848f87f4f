#pragma once
// NcclTransport: runtime::Transport<cuda::Tensor> between pipeline stages in one process.
//
// * Stages on different GPUs: NCCL send/recv. Every ordered pair of stages (i → j) that talks gets
//   its own two-rank communicator, so each communicator carries traffic one way only and sends
//   and receives on one pair can never wait on each other (activations go forward while
//   gradients come back). A message is a fixed-size header (its key and shape) and the payload,
//   each a ncclSend on the sender's side; the receiver pulls messages from the peer in order and
//   files those meant for later actions under their keys.
// * Stages sharing a GPU (NCCL allows one rank per GPU per communicator): the tensor itself is
//   handed over with an event recorded on the sender's stream; the receiver's stream waits on
//   the event and the tensor's storage is marked as used by the receiver's stream.
//
// Which stage sent a message follows from its key, as in a pipeline: activations (FT, FS) come
// from stage at−1, gradients (BS, BI) from at+1. Each stage calls send/receive from its own
// thread with its own current stream (StreamGuard). Errors — NCCL failures named with the call,
// file and line, timeouts, stop() — come back as Status / Result values.
//
// The wire format, link ends and inbox are shared with NcclMpiTransport (one process per stage,
// under mpirun): nccl_link.hpp.
#include <tspipe/cuda/backend.hpp>
#include <tspipe/runtime/transport.hpp>

#include <memory>
#include <vector>

namespace tspipe::cuda {

class NcclTransport final : public runtime::Transport<Tensor> {
 public:
  /// One stage per entry; stage_devices[s] is the GPU of stage s (entries may repeat).
  static Result<std::unique_ptr<NcclTransport>> create(std::vector<int> stage_devices);
  ~NcclTransport() override;

  Status send(int to, const runtime::MessageKey& key, Tensor value, std::chrono::milliseconds timeout) override;
  Result<Tensor> receive(int at, const runtime::MessageKey& key, std::chrono::milliseconds timeout) override;
  void stop(const std::string& reason) override;

  int stages() const noexcept { return static_cast<int>(devices_.size()); }
  /// Messages received or handed over but not yet taken.
  std::size_t pending();

  struct Impl;

 private:
  explicit NcclTransport(std::vector<int> stage_devices);
  std::vector<int> devices_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tspipe::cuda
