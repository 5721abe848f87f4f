#pragma once
// MpiTransport: activations and gradients of host tensors between the ranks of one replica, as
// tensor messages through the session's progress engine. Device tensors need a device transport
// (CUDA: cuda::NcclMpiTransport, GPU to GPU over NCCL).
#include <tspipe/distributed/mpi_session.hpp>
#include <tspipe/distributed/rank_layout.hpp>
#include <tspipe/distributed/tensor_message.hpp>
#include <tspipe/error.hpp>
#include <tspipe/runtime/transport.hpp>
#include <tspipe/schedule/action.hpp>

#include <chrono>
#include <string>
#include <utility>

namespace tspipe::distributed::mpi {

/// Keyed like the in-process transport: a receiver takes exactly the message its action needs, in
/// whatever order they came. Sends return once posted (the progress engine owns the buffer), so a
/// sender never blocks on a busy receiver; a receive waits up to the pipeline's watchdog and then
/// names the rank.
template <class Tensor>
class MpiTransport final : public runtime::Transport<Tensor> {
 public:
  explicit MpiTransport(MpiSession& session) : session_(session) {}

  Status send(int to, const runtime::MessageKey& key, Tensor value, std::chrono::milliseconds) override {
    const RankLayout& l = session_.layout();
    auto message = encode_tensor_message(to, key, value);
    const int rank = l.rank_of(l.replica(), to);
    if (rank == l.rank) return session_.engine().deliver_locally(to, key, std::move(message));
    session_.engine().send(rank, std::move(message));
    return {};
  }

  Result<Tensor> receive(int at, const runtime::MessageKey& key, std::chrono::milliseconds timeout) override {
    const RankLayout& l = session_.layout();
    const int producer = schedule::is_student_backward(key.consumer) ? at + 1 : at - 1;
    auto message = session_.engine().take(at, key, l.rank_of(l.replica(), producer), timeout);
    if (!message) return Result<Tensor>::failure(message.message());
    return decode_tensor_message<Tensor>(message.value());
  }

  /// The pipeline stops its transport when one of its stages failed: in an MPI job the other
  /// ranks hold messages and collectives that can never complete, so the job ends here, with
  /// the reason printed.
  void stop(const std::string& reason) override { session_.abort_job(reason); }

 private:
  MpiSession& session_;
};

}  // namespace tspipe::distributed::mpi
