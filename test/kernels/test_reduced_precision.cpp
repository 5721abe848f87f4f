// bf16 and fp16 conversions against a reference built independently of the bit manipulation: every
// finite 16-bit value computed with ldexp from its fields, the nearest one found by search, ties
// to the even pattern. Checked on a stride through every float bit pattern, on every midpoint
// between neighbouring 16-bit values and one float step either side of it, and on the special
// values; 16 bits → float → 16 bits is the identity for every non-NaN pattern.
#include <tspipe/kernels/reduced_precision.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

using namespace tspipe::kernels;

namespace {

struct Format {
  int mantissa_bits;   // 10 for fp16, 7 for bf16
  int exponent_bias;   // 15, 127
  std::uint16_t max_finite;  // 0x7bff, 0x7f7f
  std::uint16_t infinity;    // 0x7c00, 0x7f80

  /// The value of a non-negative finite pattern, from its fields.
  double value(std::uint16_t bits) const {
    const int exponent = bits >> mantissa_bits;
    const int mantissa = bits & ((1 << mantissa_bits) - 1);
    if (exponent == 0) return std::ldexp(mantissa, 1 - exponent_bias - mantissa_bits);
    return std::ldexp((1 << mantissa_bits) + mantissa, exponent - exponent_bias - mantissa_bits);
  }
};
constexpr Format kHalf{10, 15, 0x7bff, 0x7c00};
constexpr Format kBf16{7, 127, 0x7f7f, 0x7f80};

/// Round-to-nearest-even by search over every non-negative finite value of `f`.
std::uint16_t reference(const Format& f, const std::vector<double>& values, float x) {
  const std::uint16_t sign = std::signbit(x) ? 0x8000 : 0;
  const double a = std::fabs(static_cast<double>(x));
  if (std::isinf(a)) return sign | f.infinity;
  // Past the largest finite value, the next step up would be the infinity pattern's value.
  const double step = f.value(f.max_finite) - f.value(f.max_finite - 1);
  const double overflow = f.value(f.max_finite) + step / 2;
  if (a >= overflow) return sign | f.infinity;  // the tie goes to inf, the even pattern
  const auto above = std::lower_bound(values.begin(), values.end(), a);
  if (above == values.begin()) return sign;
  if (above == values.end()) return sign | f.max_finite;
  const auto hi = static_cast<std::uint16_t>(above - values.begin());
  const auto lo = static_cast<std::uint16_t>(hi - 1);
  const double down = a - values[lo], up = values[hi] - a;
  if (down < up) return sign | lo;
  if (up < down) return sign | hi;
  return sign | ((lo & 1) ? hi : lo);
}

std::vector<double> finite_values(const Format& f) {
  std::vector<double> values;
  for (std::uint32_t b = 0; b <= f.max_finite; ++b) values.push_back(f.value(static_cast<std::uint16_t>(b)));
  return values;
}

template <class ToBits>
void check_rounding(const Format& f, ToBits to_bits) {
  const auto values = finite_values(f);
  const auto check = [&](float x) {
    if (std::isnan(x)) return;
    const std::uint16_t expected = reference(f, values, x);
    const std::uint16_t got = to_bits(x);
    if (got != expected) {
      CAPTURE(x);
      CAPTURE(float_bits(x));
      CHECK(got == expected);
    }
  };
  std::uint64_t checked = 0;
  for (std::uint64_t b = 0; b <= 0xffffffffu; b += 4093, ++checked) check(float_from_bits(static_cast<std::uint32_t>(b)));
  // Every midpoint between neighbours (exact in float: one bit more than the 16-bit mantissa),
  // and one float step either side; for both signs.
  for (std::uint32_t b = 0; b < f.max_finite; ++b) {
    const float mid = static_cast<float>((values[b] + values[b + 1]) / 2);
    for (float x : {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, std::numeric_limits<float>::infinity())}) {
      check(x);
      check(-x);
      checked += 2;
    }
  }
  for (float x : {0.0f, -0.0f, std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                  std::numeric_limits<float>::max(), std::numeric_limits<float>::min(),
                  std::numeric_limits<float>::denorm_min(), 65504.0f, 65519.996f, 65520.0f, 1e-8f, 2.98e-8f})
    check(x);
  CHECK(checked > 1000000);
}

}  // namespace

TEST_CASE("fp16: every pattern converts to float exactly and back to itself") {
  for (std::uint32_t b = 0; b <= 0xffff; ++b) {
    const auto bits = static_cast<std::uint16_t>(b);
    const float x = half_to_float(bits);
    const bool nan = (b & 0x7c00) == 0x7c00 && (b & 0x3ff) != 0;
    if (nan) {
      REQUIRE(std::isnan(x));
      REQUIRE((float_to_half(x) & 0x7e00) == 0x7e00);  // still a (quiet) NaN
      REQUIRE((float_to_half(x) & 0x8000) == (b & 0x8000));
      continue;
    }
    if ((b & 0x7fff) <= kHalf.max_finite) REQUIRE(std::fabs(static_cast<double>(x)) == kHalf.value(static_cast<std::uint16_t>(b & 0x7fff)));
    REQUIRE(float_to_half(x) == bits);
  }
}

TEST_CASE("bf16: every pattern converts to float exactly and back to itself") {
  for (std::uint32_t b = 0; b <= 0xffff; ++b) {
    const auto bits = static_cast<std::uint16_t>(b);
    const float x = bf16_to_float(bits);
    if (std::isnan(x)) {
      REQUIRE((float_to_bf16(x) & 0x7fc0) == 0x7fc0);
      continue;
    }
    if ((b & 0x7fff) <= kBf16.max_finite) REQUIRE(std::fabs(static_cast<double>(x)) == kBf16.value(static_cast<std::uint16_t>(b & 0x7fff)));
    REQUIRE(float_to_bf16(x) == bits);
  }
}

TEST_CASE("fp16: float rounds to the nearest half, ties to even, overflow to inf, underflow through subnormals") {
  check_rounding(kHalf, [](float x) { return float_to_half(x); });
  // Hand-checked anchors.
  CHECK(float_to_half(1.0f) == 0x3c00);
  CHECK(float_to_half(65504.0f) == 0x7bff);
  CHECK(float_to_half(65520.0f) == 0x7c00);               // the tie between 65504 and 2¹⁶ goes to inf
  CHECK(float_to_half(std::ldexp(1.0f, -24)) == 0x0001);  // the smallest subnormal
  CHECK(float_to_half(std::ldexp(1.0f, -25)) == 0x0000);  // half of it ties to 0
  CHECK(float_to_half(std::ldexp(3.0f, -26)) == 0x0001);  // 0.75 of it rounds up
  CHECK(float_to_half(1.0f + std::ldexp(1.0f, -11)) == 0x3c00);  // tie between 1 and 1 + 2⁻¹⁰: even
  CHECK(float_to_half(1.0f + 3 * std::ldexp(1.0f, -11)) == 0x3c02);
}

TEST_CASE("bf16: float rounds to the nearest bf16, ties to even, overflow to inf") {
  check_rounding(kBf16, [](float x) { return float_to_bf16(x); });
  CHECK(float_to_bf16(1.0f) == 0x3f80);
  CHECK(float_to_bf16(1.0f + std::ldexp(1.0f, -8)) == 0x3f80);      // tie: even
  CHECK(float_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)) == 0x3f82);  // tie: even, upwards
  CHECK(float_to_bf16(std::numeric_limits<float>::max()) == 0x7f80);
}
