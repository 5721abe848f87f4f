#pragma once
// The wire format of one activation or gradient between ranks: an int64 header
// [to_stage, consumer, batch, view, micro_batch, rank, dims…], then the float values. The header
// is all a receiving rank needs to file the message in the right stage's mailbox before anyone
// asks for it; the shape travels with the values, so the receiver needs no prior agreement on it.
#include <tspipe/error.hpp>
#include <tspipe/nn/tensor.hpp>
#include <tspipe/runtime/tensor_ops.hpp>
#include <tspipe/runtime/transport.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace tspipe::distributed::mpi {

/// Words of the header before the dims: to_stage, consumer, batch, view, micro_batch, rank.
inline constexpr std::size_t kTensorMessageFixedWords = 6;

template <class Tensor>
std::vector<std::byte> encode_tensor_message(int to_stage, const runtime::MessageKey& key, const Tensor& value) {
  const auto values = runtime::TensorOps<Tensor>::host(value);
  const auto& shape = value.shape();
  std::vector<std::int64_t> header{to_stage, static_cast<std::int64_t>(key.consumer), key.batch, key.view, key.micro_batch,
                                   static_cast<std::int64_t>(shape.size())};
  for (auto d : shape) header.push_back(static_cast<std::int64_t>(d));
  std::vector<std::byte> bytes(header.size() * sizeof(std::int64_t) + values.size() * sizeof(float));
  std::memcpy(bytes.data(), header.data(), header.size() * sizeof(std::int64_t));
  if (!values.empty()) std::memcpy(bytes.data() + header.size() * sizeof(std::int64_t), values.data(), values.size() * sizeof(float));
  return bytes;
}

/// The stage a tensor message is addressed to and its key (the header's first five words).
inline Result<std::pair<int, runtime::MessageKey>> tensor_message_address(const std::vector<std::byte>& bytes) {
  if (bytes.size() < kTensorMessageFixedWords * sizeof(std::int64_t))
    return Result<std::pair<int, runtime::MessageKey>>::failure("shorter than its header");
  std::int64_t h[5];
  std::memcpy(h, bytes.data(), sizeof h);
  runtime::MessageKey key{static_cast<schedule::ActionKind>(h[1]), static_cast<long>(h[2]), static_cast<int>(h[3]), static_cast<int>(h[4])};
  return std::make_pair(static_cast<int>(h[0]), key);
}

template <class Tensor>
Result<Tensor> decode_tensor_message(const std::vector<std::byte>& bytes) {
  constexpr std::size_t word = sizeof(std::int64_t), fixed = kTensorMessageFixedWords;
  const auto fail = [](const std::string& what) { return Result<Tensor>::failure("malformed tensor message: " + what); };
  if (bytes.size() < fixed * word) return fail("shorter than its header");
  std::int64_t rank = 0;
  std::memcpy(&rank, bytes.data() + (fixed - 1) * word, word);
  if (rank < 0 || bytes.size() < (fixed + static_cast<std::size_t>(rank)) * word) return fail("shape cut short");
  nn::Shape shape(static_cast<std::size_t>(rank));
  std::size_t count = 1;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    std::int64_t d = 0;
    std::memcpy(&d, bytes.data() + (fixed + i) * word, word);
    if (d < 0) return fail("negative extent");
    shape[i] = d;
    count *= static_cast<std::size_t>(d);
  }
  const std::size_t offset = (fixed + shape.size()) * word;
  if (bytes.size() - offset != count * sizeof(float))
    return fail(std::to_string(bytes.size() - offset) + " value bytes for shape " + nn::to_string(shape));
  // Copied straight into the tensor: the values start a whole number of int64 words into a buffer
  // from operator new (aligned for any scalar), so they are aligned for float.
  return runtime::TensorOps<Tensor>::from_rows(shape, reinterpret_cast<const float*>(bytes.data() + offset));
}

}  // namespace tspipe::distributed::mpi
