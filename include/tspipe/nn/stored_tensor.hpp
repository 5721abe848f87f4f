#pragma once
// The content of a safetensors file in memory: dtypes, one stored tensor (shape and raw
// little-endian bytes, with conversion to float) and a whole file's tensors and metadata.
// safetensors.hpp reads and writes it.
#include <tspipe/error.hpp>
#include <tspipe/kernels/reduced_precision.hpp>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

// Tensor bytes are copied to and from memory as is; safetensors data is little-endian.
static_assert(std::endian::native == std::endian::little,
              "tspipe safetensors support assumes a little-endian host");

namespace tspipe::nn {

enum class Dtype { F16, BF16, F32, F64, I64 };

inline std::string_view dtype_name(Dtype dtype) {
  switch (dtype) {
    case Dtype::F16: return "F16";
    case Dtype::BF16: return "BF16";
    case Dtype::F32: return "F32";
    case Dtype::F64: return "F64";
    case Dtype::I64: return "I64";
  }
  return "?";
}

inline std::size_t dtype_size(Dtype dtype) {
  switch (dtype) {
    case Dtype::F16:
    case Dtype::BF16: return 2;
    case Dtype::F32: return 4;
    case Dtype::F64:
    case Dtype::I64: return 8;
  }
  return 0;
}

inline std::optional<Dtype> parse_dtype(std::string_view name) {
  for (Dtype d : {Dtype::F16, Dtype::BF16, Dtype::F32, Dtype::F64, Dtype::I64})
    if (dtype_name(d) == name) return d;
  return std::nullopt;
}

/// One tensor of a safetensors file: dtype, shape and its raw little-endian bytes.
struct StoredTensor {
  Dtype dtype = Dtype::F32;
  std::vector<std::uint64_t> shape;
  std::vector<std::byte> data;

  /// An F32 tensor holding `values`; throws when the shape does not hold exactly that many.
  static StoredTensor from_f32(std::vector<std::uint64_t> shape, std::span<const float> values);

  /// Number of elements the shape describes (1 for a scalar, shape []); nullopt on overflow.
  static std::optional<std::uint64_t> element_count(std::span<const std::uint64_t> shape) {
    std::uint64_t count = 1;
    for (std::uint64_t d : shape) {
      if (d != 0 && count > std::numeric_limits<std::uint64_t>::max() / d) return std::nullopt;
      count *= d;
    }
    return count;
  }
  std::size_t size() const { return data.size() / dtype_size(dtype); }

  /// The values converted to float (F64 and I64 round to the nearest float).
  std::vector<float> to_f32() const;

  bool operator==(const StoredTensor&) const = default;
};

/// A whole safetensors file: tensors by name and the optional string metadata.
struct SafetensorsContent {
  std::map<std::string, StoredTensor> tensors;
  std::map<std::string, std::string> metadata;
  bool operator==(const SafetensorsContent&) const = default;
};

namespace detail {

template <class T>
T load_unaligned(const std::byte* p) {
  T value;
  std::memcpy(&value, p, sizeof(T));
  return value;
}

inline std::string shape_text(std::span<const std::uint64_t> shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

}  // namespace detail

inline StoredTensor StoredTensor::from_f32(std::vector<std::uint64_t> shape,
                                           std::span<const float> values) {
  const auto count = element_count(shape);
  if (!count || *count != values.size())
    throw Error("safetensors: shape " + detail::shape_text(shape) + " does not hold " +
                std::to_string(values.size()) + " values");
  StoredTensor t;
  t.dtype = Dtype::F32;
  t.shape = std::move(shape);
  t.data.resize(values.size_bytes());
  if (!values.empty()) std::memcpy(t.data.data(), values.data(), values.size_bytes());
  return t;
}

inline std::vector<float> StoredTensor::to_f32() const {
  const std::size_t n = size();
  std::vector<float> out(n);
  const std::byte* p = data.data();
  for (std::size_t i = 0; i < n; ++i) {
    switch (dtype) {
      case Dtype::F16: out[i] = kernels::half_to_float(detail::load_unaligned<std::uint16_t>(p + 2 * i)); break;
      case Dtype::BF16: out[i] = kernels::bf16_to_float(detail::load_unaligned<std::uint16_t>(p + 2 * i)); break;
      case Dtype::F32: out[i] = detail::load_unaligned<float>(p + 4 * i); break;
      case Dtype::F64: out[i] = static_cast<float>(detail::load_unaligned<double>(p + 8 * i)); break;
      case Dtype::I64: out[i] = static_cast<float>(detail::load_unaligned<std::int64_t>(p + 8 * i)); break;
    }
  }
  return out;
}

}  // namespace tspipe::nn
