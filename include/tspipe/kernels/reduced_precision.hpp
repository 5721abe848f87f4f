#pragma once
// bfloat16 and IEEE half (fp16) as 16-bit patterns, converted to and from float on either side
// of the CUDA boundary. float → 16 bits rounds to nearest, ties to even, as the hardware's
// conversions and PyTorch's .to(torch.bfloat16 / torch.half) do; NaN stays a (quiet) NaN with its
// sign; fp16 overflows to ±inf from 65520 up (the first value nearer to inf than to 65504) and
// underflows through the subnormals to ±0. 16 bits → float is exact.
#include <tspipe/kernels/config.hpp>

#include <cstdint>
#include <cstring>

namespace tspipe::kernels {

TSPIPE_HOST_DEVICE TSPIPE_FORCEINLINE std::uint32_t float_bits(float value) {
  std::uint32_t bits;
  memcpy(&bits, &value, sizeof bits);
  return bits;
}

TSPIPE_HOST_DEVICE TSPIPE_FORCEINLINE float float_from_bits(std::uint32_t bits) {
  float value;
  memcpy(&value, &bits, sizeof value);
  return value;
}

/// bfloat16 is the top half of a float: sign, the same 8-bit exponent, 7 mantissa bits.
TSPIPE_HOST_DEVICE TSPIPE_FORCEINLINE float bf16_to_float(std::uint16_t bits) {
  return float_from_bits(static_cast<std::uint32_t>(bits) << 16);
}

TSPIPE_HOST_DEVICE TSPIPE_FORCEINLINE std::uint16_t float_to_bf16(float value) {
  const std::uint32_t bits = float_bits(value);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((bits >> 16) | 0x0040u);  // quiet NaN
  // Adding 0x7fff plus the lowest kept bit rounds the dropped half to nearest, ties to even; a
  // carry out of the mantissa moves the exponent up, and past the largest finite value to inf.
  const std::uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<std::uint16_t>((bits + rounding) >> 16);
}

TSPIPE_HOST_DEVICE TSPIPE_FORCEINLINE float half_to_float(std::uint16_t bits) {
  const std::uint32_t sign = static_cast<std::uint32_t>(bits & 0x8000u) << 16;
  const std::uint32_t exponent = (bits >> 10) & 0x1fu;
  std::uint32_t mantissa = bits & 0x3ffu;
  if (exponent == 0x1fu) return float_from_bits(sign | 0x7f800000u | (mantissa << 13));  // inf, NaN
  if (exponent != 0) return float_from_bits(sign | ((exponent + 112u) << 23) | (mantissa << 13));
  if (mantissa == 0) return float_from_bits(sign);  // ±0
  // A subnormal m·2⁻²⁴ is a normal float: shift the leading 1 into the implicit bit.
  int shift = 0;
  while ((mantissa & 0x400u) == 0) {
    mantissa <<= 1;
    ++shift;
  }
  return float_from_bits(sign | ((113u - static_cast<std::uint32_t>(shift)) << 23) | ((mantissa & 0x3ffu) << 13));
}

TSPIPE_HOST_DEVICE TSPIPE_FORCEINLINE std::uint16_t float_to_half(float value) {
  const std::uint32_t bits = float_bits(value);
  const auto sign = static_cast<std::uint16_t>((bits >> 16) & 0x8000u);
  const std::uint32_t magnitude = bits & 0x7fffffffu;
  if (magnitude > 0x7f800000u) return static_cast<std::uint16_t>(sign | 0x7e00u);  // quiet NaN
  if (magnitude >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);  // ≥ 65520: inf
  if (magnitude < 0x38800000u) {  // below 2⁻¹⁴, the smallest normal half: a subnormal or zero
    if (magnitude <= 0x33000000u) return sign;  // ≤ 2⁻²⁵: half-way to 2⁻²⁴ or less rounds to 0
    const std::uint32_t exponent = magnitude >> 23;
    const std::uint32_t mantissa = (magnitude & 0x7fffffu) | 0x800000u;
    const std::uint32_t shift = 126u - exponent;  // 14 … 24: float mantissa units to 2⁻²⁴ units
    std::uint32_t half = mantissa >> shift;
    const std::uint32_t dropped = mantissa & ((1u << shift) - 1u), halfway = 1u << (shift - 1u);
    if (dropped > halfway || (dropped == halfway && (half & 1u))) ++half;
    return static_cast<std::uint16_t>(sign | half);
  }
  // Normal: rebias the exponent (127 → 15) and keep 10 mantissa bits, rounding the other 13; a
  // carry moves the exponent up (65504 + less than half a step stays below the inf threshold).
  std::uint32_t half = (magnitude - 0x38000000u) >> 13;
  const std::uint32_t dropped = magnitude & 0x1fffu;
  if (dropped > 0x1000u || (dropped == 0x1000u && (half & 1u))) ++half;
  return static_cast<std::uint16_t>(sign | half);
}

}  // namespace tspipe::kernels
