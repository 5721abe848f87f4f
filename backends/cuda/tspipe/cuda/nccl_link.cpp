#include <tspipe/cuda/check.hpp>
#include <tspipe/cuda/nccl_link.hpp>

#include <thread>

namespace tspipe::cuda::nccl {

void check(ncclResult_t status, const char* call, const char* file, int line) {
  if (status != ncclSuccess) detail::throw_call_failure(call, ncclGetErrorString(status), file, line);
}

void wait_ready(ncclComm_t comm, ncclResult_t issued, const char* call, const char* file, int line,
                std::chrono::steady_clock::time_point deadline) {
  ncclResult_t state = issued;
  while (state == ncclInProgress) {
    if (std::chrono::steady_clock::now() > deadline)
      detail::throw_call_failure(call, "still in progress at its deadline (a peer is lost or stalled)", file, line);
    std::this_thread::sleep_for(std::chrono::microseconds(50));
    check(ncclCommGetAsyncError(comm, &state), "ncclCommGetAsyncError", file, line);
  }
  check(state, call, file, line);
}

LinkEnd::~LinkEnd() {
  if (header_copied) (void)cudaEventDestroy(header_copied);
  if (header_host) (void)cudaFreeHost(header_host);
}

void prepare_end(LinkEnd& end, int device, bool receiving) {
  end.stream = Stream::create(Device{device}).handle;
  if (!receiving) return;
  TSPIPE_CUDA_CHECK(cudaSetDevice(device));
  TSPIPE_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&end.header_host), kHeaderWords * sizeof(int64_t)));
  TSPIPE_CUDA_CHECK(cudaEventCreateWithFlags(&end.header_copied, cudaEventDisableTiming));
}

void send_message(LinkEnd& end, const runtime::MessageKey& key, const Tensor& value, const Stream& here,
                  std::chrono::steady_clock::time_point deadline) {
  if (!value.defined() || value.dim() > kMaxDims)
    throw Error("NCCL transport: cannot send the " + runtime::describe(key) + ": tensor undefined or over " +
                std::to_string(kMaxDims) + " axes");
  std::array<int64_t, kHeaderWords> header{};
  header[0] = static_cast<int64_t>(key.consumer);
  header[1] = key.batch;
  header[2] = key.view;
  header[3] = key.micro_batch;
  header[4] = value.dim();
  for (int64_t d = 0; d < value.dim(); ++d) header[static_cast<size_t>(5 + d)] = value.size(d);
  // Header staged through a small device tensor; the payload is sent in place. Both stay alive
  // until the send stream is done with them (record_stream).
  Tensor header_device({kHeaderWords * 2});
  TSPIPE_CUDA_CHECK(cudaMemcpyAsync(header_device.data(), header.data(), sizeof(header), cudaMemcpyHostToDevice, here.handle));
  stream_wait(Stream{here.device, end.stream}, here);
  header_device.record_stream(end.stream);
  value.record_stream(end.stream);
  TSPIPE_NCCL_ISSUE(end.comm, ncclSend(header_device.data(), kHeaderWords, ncclInt64, end.peer, end.comm, end.stream), deadline);
  TSPIPE_NCCL_ISSUE(end.comm,
                    ncclSend(value.data(), static_cast<size_t>(value.numel()), ncclFloat32, end.peer, end.comm, end.stream),
                    deadline);
}

std::optional<std::pair<runtime::MessageKey, Arrived>> receive_next(LinkEnd& end, const Stream& here,
                                                                     std::chrono::steady_clock::time_point deadline,
                                                                     const std::atomic<bool>& stopped) {
  const Stream link{here.device, end.stream};
  if (!end.header_pending) {
    end.header_device = Tensor({kHeaderWords * 2});
    stream_wait(link, here);  // the header's storage may have been used on `here` before
    end.header_device.record_stream(end.stream);
    TSPIPE_NCCL_ISSUE(end.comm, ncclRecv(end.header_device.data(), kHeaderWords, ncclInt64, end.peer, end.comm, end.stream),
                      deadline);
    TSPIPE_CUDA_CHECK(cudaMemcpyAsync(end.header_host, end.header_device.data(), kHeaderWords * sizeof(int64_t),
                                      cudaMemcpyDeviceToHost, end.stream));
    TSPIPE_CUDA_CHECK(cudaEventRecord(end.header_copied, end.stream));
    end.header_pending = true;
  }
  // Poll rather than synchronise: a stream waiting on a lost peer would block the host for good.
  for (;;) {
    const cudaError_t state = cudaEventQuery(end.header_copied);
    if (state == cudaSuccess) break;
    if (state != cudaErrorNotReady) TSPIPE_CUDA_CHECK(state);
    if (stopped.load() || std::chrono::steady_clock::now() > deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::microseconds(20));
  }
  end.header_pending = false;
  const int64_t* header = end.header_host;
  runtime::MessageKey key;
  key.consumer = static_cast<schedule::ActionKind>(header[0]);
  key.batch = static_cast<long>(header[1]);
  key.view = static_cast<int>(header[2]);
  key.micro_batch = static_cast<int>(header[3]);
  if (header[4] < 0 || header[4] > kMaxDims)
    throw Error("NCCL transport: a received header has " + std::to_string(header[4]) + " axes");
  nn::Shape shape(static_cast<size_t>(header[4]));
  for (size_t d = 0; d < shape.size(); ++d) shape[d] = header[5 + d];
  Tensor value(shape);
  stream_wait(link, here);
  value.record_stream(end.stream);
  TSPIPE_NCCL_ISSUE(end.comm, ncclRecv(value.data(), static_cast<size_t>(value.numel()), ncclFloat32, end.peer, end.comm, end.stream),
                    deadline);
  cudaEvent_t ready = nullptr;
  TSPIPE_CUDA_CHECK(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming));
  TSPIPE_CUDA_CHECK(cudaEventRecord(ready, end.stream));
  return std::make_pair(key, Arrived{std::move(value), ready});
}

Inbox::~Inbox() {
  for (auto& [key, arrived] : messages_)
    if (arrived.ready) (void)cudaEventDestroy(arrived.ready);
}

void Inbox::put(int stage, const runtime::MessageKey& key, Arrived arrived) {
  std::lock_guard lock(mutex_);
  if (!messages_.try_emplace({stage, key}, std::move(arrived)).second) {
    (void)cudaEventDestroy(arrived.ready);
    throw Error("NCCL transport: stage " + std::to_string(stage) + " already holds the " + runtime::describe(key));
  }
  changed_.notify_all();
}

std::optional<Arrived> Inbox::try_take(int stage, const runtime::MessageKey& key) {
  std::lock_guard lock(mutex_);
  if (stopped_) throw Error(stop_reason_);
  auto node = messages_.extract({stage, key});
  if (node.empty()) return std::nullopt;
  return std::move(node.mapped());
}

std::optional<Arrived> Inbox::wait_take(int stage, const runtime::MessageKey& key, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, timeout, [&] { return stopped_.load() || messages_.count({stage, key}) > 0; });
  if (stopped_) throw Error(stop_reason_);
  auto node = messages_.extract({stage, key});
  if (node.empty()) return std::nullopt;
  return std::move(node.mapped());
}

Tensor Inbox::claim(Arrived arrived, const Stream& stream) {
  TSPIPE_CUDA_CHECK(cudaStreamWaitEvent(stream.handle, arrived.ready, 0));
  (void)cudaEventDestroy(arrived.ready);
  arrived.value.record_stream(stream.handle);
  return std::move(arrived.value);
}

void Inbox::stop(const std::string& reason) {
  {
    std::lock_guard lock(mutex_);
    if (stop_reason_.empty()) stop_reason_ = reason.empty() ? "stopped" : reason;
    stopped_ = true;
  }
  changed_.notify_all();
}

std::string Inbox::stop_reason() {
  std::lock_guard lock(mutex_);
  return stop_reason_;
}

std::size_t Inbox::pending() {
  std::lock_guard lock(mutex_);
  return messages_.size();
}

}  // namespace tspipe::cuda::nccl
