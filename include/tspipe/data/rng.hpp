#pragma once
// The random numbers of the data layer. Written here instead of using <random>'s distributions,
// whose output is implementation-defined: a seed must give the same crops, flips and shuffles
// with libstdc++, libc++ and MSVC alike, or runs cannot be compared across machines.
#include <cmath>
#include <cstdint>
#include <initializer_list>

namespace tspipe::data {

/// SplitMix64's output function: a bijective 64-bit mixer (Steele, Lea, Flood 2014).
constexpr std::uint64_t splitmix64_mix(std::uint64_t z) noexcept {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/// One seed for a stream identified by `keys` (e.g. {epoch, batch, example, view}). Streams with
/// different keys are unrelated, which is what lets any thread build any batch and still produce
/// the bytes a single thread would.
constexpr std::uint64_t derive_seed(std::uint64_t seed, std::initializer_list<std::uint64_t> keys) noexcept {
  constexpr std::uint64_t golden = 0x9e3779b97f4a7c15ULL;
  std::uint64_t h = splitmix64_mix(seed + golden);
  for (std::uint64_t k : keys) h = splitmix64_mix(h ^ splitmix64_mix(k + golden));
  return h;
}

/// xoshiro256** (Blackman, Vigna 2018), seeded through SplitMix64.
class Rng {
 public:
  explicit constexpr Rng(std::uint64_t seed) noexcept {
    for (std::uint64_t& word : state_) {
      seed += 0x9e3779b97f4a7c15ULL;
      word = splitmix64_mix(seed);
    }
  }

  constexpr std::uint64_t next_u64() noexcept {
    const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const std::uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }

  /// Uniform in [0, 1) with 24 random bits (every value exactly representable as a float).
  constexpr float uniform() noexcept { return static_cast<float>(next_u64() >> 40) * 0x1.0p-24f; }
  constexpr float uniform(float lo, float hi) noexcept { return lo + (hi - lo) * uniform(); }

  /// Uniform integer in [0, n), n > 0, without modulo bias.
  constexpr std::uint64_t below(std::uint64_t n) noexcept {
    const std::uint64_t threshold = (0 - n) % n;  // 2^64 mod n: the biased low values to skip
    for (;;) {
      const std::uint64_t r = next_u64();
      if (r >= threshold) return r % n;
    }
  }

  /// Uniform integer in [lo, hi], lo <= hi.
  constexpr int int_between(int lo, int hi) noexcept {
    return lo + static_cast<int>(below(static_cast<std::uint64_t>(hi - lo) + 1));
  }

  /// True with probability p.
  constexpr bool chance(float p) noexcept { return uniform() < p; }

  /// Standard normal (Box–Muller; the second value is discarded to keep the state simple).
  double normal() noexcept {
    const double u1 = static_cast<double>((next_u64() >> 11) + 1) * 0x1.0p-53;  // (0, 1]
    const double u2 = static_cast<double>(next_u64() >> 11) * 0x1.0p-53;        // [0, 1)
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  static constexpr std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }
  std::uint64_t state_[4]{};
};

}  // namespace tspipe::data
