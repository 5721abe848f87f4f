// Runs everywhere (no `gpu` label): without a device the backend must say "no CUDA device" as a
// value or a tspipe::Error — never crash or abort. With a device it must report it as usable.
#include <tspipe/cuda/backend.hpp>
#include <tspipe/cuda/check.hpp>
#include <tspipe/cuda/nccl_transport.hpp>

#include <doctest/doctest.h>

#include <string>

using namespace tspipe;

TEST_CASE("device availability is reported as a value") {
  const Result<int> count = cuda::device_count();
  const Status ok = cuda::available();
  CHECK(ok.ok() == count.ok());
  if (count.ok()) {
    CHECK(count.value() > 0);
    MESSAGE("CUDA devices: " << count.value());
    return;
  }
  MESSAGE("reported: " << ok.message());
  CHECK(ok.message().rfind("no CUDA device", 0) == 0);
  CHECK(count.message() == ok.message());
  CHECK(!cuda::Backend::available().ok());
}

TEST_CASE("without a device, using the backend throws tspipe::Error naming the cause") {
  if (cuda::available().ok()) return;  // a machine with a GPU checks this in the gpu suites
  auto message_of = [](auto&& f) -> std::string {
    try {
      f();
    } catch (const Error& e) {
      return e.what();
    }
    return "(no error)";
  };
  const std::string tensor = message_of([] { cuda::Tensor t({4}); });
  CHECK(tensor.find("no CUDA device") != std::string::npos);
  const std::string layer = message_of([] { auto l = cuda::Backend::linear(3, 2, true, 1, "fc"); });
  CHECK(layer.find("no CUDA device") != std::string::npos);
  CHECK_THROWS_AS(cuda::require_device(), Error);
  // The transport's boundary returns the failure as a value.
  auto transport = cuda::NcclTransport::create({0, 0});
  REQUIRE_FALSE(transport.ok());
  CHECK(transport.message().find("no CUDA device") != std::string::npos);
}

TEST_CASE("failed CUDA calls name the call, the error and the place") {
  std::string message;
  try {
    TSPIPE_CUDA_CHECK(cudaErrorInvalidValue);
  } catch (const Error& e) {
    message = e.what();
  }
  CHECK(message.find("cudaErrorInvalidValue failed") != std::string::npos);
  CHECK(message.find("test_no_device.cpp:") != std::string::npos);
}
