#pragma once
// Backend-independent layer configurations, used by the model builders and every backend's
// layer factories.
#include <cstdint>

namespace tspipe::nn {

struct Conv2dOptions {
  int64_t in_channels = 0, out_channels = 0;
  int64_t kernel = 3, stride = 1, padding = 0, dilation = 1;
  bool bias = false;
};

struct Pool2dOptions {
  int64_t kernel = 2, stride = 2, padding = 0;
};

/// ViT patch embedding: [N, C, H, W] → [N, 1 + (H/p)·(W/p), dim] (class token first, plus the
/// learned position embedding).
struct PatchEmbedOptions {
  int64_t in_channels = 3, image_size = 224, patch = 16, dim = 768;
  bool class_token = true;
};

/// Deterministic per-layer seeds: a model seed and a running counter, so the same model seed
/// gives bit-identical initial weights.
class SeedSequence {
 public:
  explicit SeedSequence(uint64_t seed) : seed_(seed) {}
  uint64_t next() { return seed_ * 0x9E3779B97F4A7C15ull + (++counter_) * 0xD1B54A32D192ED03ull; }

 private:
  uint64_t seed_;
  uint64_t counter_ = 0;
};

}  // namespace tspipe::nn
