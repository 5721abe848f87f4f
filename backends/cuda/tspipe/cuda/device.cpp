#include <tspipe/cuda/check.hpp>
#include <tspipe/cuda/device.hpp>

#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

namespace tspipe::cuda {

namespace detail {
const char* short_file(const char* file) noexcept {
  const char* p = std::strstr(file, "backends/cuda/");
  return p ? p : file;
}
[[noreturn]] void throw_call_failure(const char* call, const std::string& what, const char* file, int line) {
  throw Error(std::string(call) + " failed: " + what + " at " + short_file(file) + ":" + std::to_string(line));
}
const char* cublas_status_name(cublasStatus_t status) noexcept {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
  }
  return "unknown cuBLAS status";
}
}  // namespace detail

Result<int> device_count() noexcept {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    (void)cudaGetLastError();  // clear the sticky-free error so later calls report their own
    return Result<int>::failure(std::string("no CUDA device: cudaGetDeviceCount(&count) failed: ") +
                                cudaGetErrorString(status) + " (" + cudaGetErrorName(status) + ")");
  }
  if (count <= 0) return Result<int>::failure("no CUDA device: cudaGetDeviceCount reported 0 devices");
  return count;
}

Status available() noexcept {
  auto count = device_count();
  if (!count) return Status::failure(count.message());
  return Status{};
}

void require_device() {
  static std::atomic<bool> known_good{false};
  if (known_good.load(std::memory_order_acquire)) return;
  available().throw_if_error();
  known_good.store(true, std::memory_order_release);
}

namespace {

struct StreamHandles {
  cublasHandle_t cublas = nullptr;
  cudnnHandle_t cudnn = nullptr;
};

// Streams and handles live until the process exits: they are never destroyed, so tensors or
// layers in static storage can still use them during shutdown without ordering problems.
struct Registry {
  std::mutex mutex;
  std::map<int, cudaStream_t> compute, copy;
  std::map<cudaStream_t, StreamHandles> handles;
};
Registry& registry() {
  static Registry* r = new Registry;
  return *r;
}

cudaStream_t make_stream(int device) {
  require_device();
  TSPIPE_CUDA_CHECK(cudaSetDevice(device));
  cudaStream_t s = nullptr;
  TSPIPE_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  return s;
}

cudaStream_t device_stream(std::map<int, cudaStream_t>& table, int device) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  auto it = table.find(device);
  if (it != table.end()) return it->second;
  cudaStream_t s = make_stream(device);
  table.emplace(device, s);
  return s;
}

StreamHandles& handles_for(const Stream& stream) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  StreamHandles& h = r.handles[stream.handle];
  if (!h.cublas) {
    TSPIPE_CUDA_CHECK(cudaSetDevice(stream.device.index));
    TSPIPE_CUBLAS_CHECK(cublasCreate(&h.cublas));
    TSPIPE_CUBLAS_CHECK(cublasSetStream(h.cublas, stream.handle));
    TSPIPE_CUDNN_CHECK(cudnnCreate(&h.cudnn));
    TSPIPE_CUDNN_CHECK(cudnnSetStream(h.cudnn, stream.handle));
  }
  return h;
}

thread_local Stream t_current{};
thread_local bool t_has_current = false;
std::atomic<bool> g_allow_tf32{false};

}  // namespace

void Stream::synchronize() const { TSPIPE_CUDA_CHECK(cudaStreamSynchronize(handle)); }

Stream Stream::create(Device device) { return Stream{device, make_stream(device.index)}; }
Stream Stream::compute(Device device) { return Stream{device, device_stream(registry().compute, device.index)}; }
Stream Stream::copy(Device device) { return Stream{device, device_stream(registry().copy, device.index)}; }

Stream current_stream() {
  if (!t_has_current) {
    t_current = Stream::compute(Device{0});
    t_has_current = true;
  }
  return t_current;
}

StreamGuard::StreamGuard(const Stream& stream) : previous_(t_current), had_previous_(t_has_current) {
  TSPIPE_CUDA_CHECK(cudaSetDevice(stream.device.index));
  t_current = stream;
  t_has_current = true;
}
StreamGuard::~StreamGuard() {
  t_current = previous_;
  t_has_current = had_previous_;
  if (had_previous_) (void)cudaSetDevice(previous_.device.index);
}

void stream_wait(const Stream& dst, const Stream& src) {
  if (dst.handle == src.handle) return;
  cudaEvent_t event = nullptr;
  TSPIPE_CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
  TSPIPE_CUDA_CHECK(cudaEventRecord(event, src.handle));
  const cudaError_t waited = cudaStreamWaitEvent(dst.handle, event, 0);
  (void)cudaEventDestroy(event);  // safe: destruction is deferred until the event completes
  TSPIPE_CUDA_CHECK(waited);
}

cublasHandle_t cublas_handle(const Stream& stream) {
  cublasHandle_t h = handles_for(stream).cublas;
  TSPIPE_CUBLAS_CHECK(cublasSetMathMode(h, allow_tf32() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  return h;
}
cudnnHandle_t cudnn_handle(const Stream& stream) { return handles_for(stream).cudnn; }

void set_allow_tf32(bool allow) noexcept { g_allow_tf32.store(allow); }
bool allow_tf32() noexcept { return g_allow_tf32.load(); }

}  // namespace tspipe::cuda
