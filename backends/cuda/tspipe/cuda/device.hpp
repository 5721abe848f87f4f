#pragma once
// Devices, streams and per-stream library handles.
//
// Every device gets a compute stream and a copy stream (created on first use); events order work
// between them. Layers launch on the calling thread's *current stream*, which defaults to the
// compute stream of the current device; a pipeline stage running on its own thread installs its
// own stream with StreamGuard, so several stages can share one GPU without sharing a stream.
// cuBLAS and cuDNN handles are kept per stream (a handle is bound to one stream at a time and
// must not be shared by threads), created lazily and cached.
#include <tspipe/error.hpp>

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <string>

namespace tspipe::cuda {

/// Number of usable CUDA devices, or a failure whose message starts with "no CUDA device" when
/// there is none (no GPU, no driver, or CUDA_VISIBLE_DEVICES hides them all). Never throws.
Result<int> device_count() noexcept;
/// ok() when at least one device is usable; otherwise the "no CUDA device: ..." message.
Status available() noexcept;
/// Throws tspipe::Error("no CUDA device: ...") unless a device is usable (cached after success).
void require_device();

struct Device {
  int index = 0;
  std::string name() const { return "cuda:" + std::to_string(index); }
};

/// A non-owning stream handle with the device it belongs to.
struct Stream {
  Device device;
  cudaStream_t handle = nullptr;
  void synchronize() const;
  /// A new non-blocking stream on `device` (owned by the backend, released at exit).
  static Stream create(Device device);
  static Stream compute(Device device);  ///< the device's compute stream
  static Stream copy(Device device);     ///< the device's copy stream
};

/// The calling thread's current device and stream (defaults: device 0, its compute stream).
Stream current_stream();
/// Makes `stream` (and its device) current for this thread for the guard's lifetime.
class StreamGuard {
 public:
  explicit StreamGuard(const Stream& stream);
  ~StreamGuard();
  StreamGuard(const StreamGuard&) = delete;
  StreamGuard& operator=(const StreamGuard&) = delete;

 private:
  Stream previous_;
  bool had_previous_;
};

/// Makes `dst` wait for everything queued on `src` so far (an event between them).
void stream_wait(const Stream& dst, const Stream& src);

/// Per-stream cuBLAS / cuDNN handles, bound to that stream.
cublasHandle_t cublas_handle(const Stream& stream);
cudnnHandle_t cudnn_handle(const Stream& stream);

/// TF32 tensor cores for fp32 GEMMs and convolutions. Off by default (results then match the CPU
/// to ~1e-6 relative); benchmarks turn it on to compare with PyTorch's cuDNN defaults.
void set_allow_tf32(bool allow) noexcept;
bool allow_tf32() noexcept;

}  // namespace tspipe::cuda
