// Augmentations: shapes, determinism for a seed, and the identities that pin each op's geometry.
#include "idx_files.hpp"

#include <tspipe/data/augment.hpp>
#include <tspipe/data/rng.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <set>

using namespace tspipe::data;
using namespace tspipe::data::testing;

namespace {

/// A c×h×w image with distinct values in [0, 1).
Image ramp(int c, int h, int w) {
  Image img(c, h, w);
  for (std::size_t i = 0; i < img.px.size(); ++i) img.px[i] = static_cast<float>(i) / static_cast<float>(img.px.size());
  return img;
}

Image run(const ViewPipeline& pipeline, Image img, std::uint64_t seed) {
  Rng rng(seed);
  pipeline(img, rng);
  return img;
}

}  // namespace

TEST_CASE("Rng: same seed same stream, bounded helpers stay in range") {
  Rng a(42), b(42), c(43);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    const auto x = a.next_u64();
    CHECK(x == b.next_u64());
    differs = differs || x != c.next_u64();
  }
  CHECK(differs);
  // Pinned values: the stream is part of the reproducibility contract, across platforms.
  Rng pinned(0);
  CHECK(pinned.next_u64() == 0x99ec5f36cb75f2b4ULL);
  Rng r(7);
  std::set<int> seen;
  for (int i = 0; i < 1000; ++i) {
    const float u = r.uniform();
    CHECK((u >= 0.0f && u < 1.0f));
    const int k = r.int_between(-2, 2);
    CHECK((k >= -2 && k <= 2));
    seen.insert(k);
  }
  CHECK(seen.size() == 5);
  CHECK(derive_seed(1, {2, 3}) != derive_seed(1, {3, 2}));
  CHECK(derive_seed(1, {2, 3}) == derive_seed(1, {2, 3}));
}

TEST_CASE("flip twice is the identity; flip mirrors rows") {
  const Image img = ramp(2, 3, 4);
  Image flipped = img;
  flip_horizontal(flipped);
  CHECK(flipped.at(1, 2, 0) == img.at(1, 2, 3));
  CHECK(flipped.px != img.px);
  flip_horizontal(flipped);
  CHECK(flipped.px == img.px);

  CHECK(run(ViewPipeline{HorizontalFlip(1.0f), HorizontalFlip(1.0f)}, img, 5).px == img.px);
  CHECK(run(ViewPipeline{HorizontalFlip(0.0f)}, img, 5).px == img.px);
}

TEST_CASE("crop with zero padding and no offset is the identity; offsets shift in zeros") {
  const Image img = ramp(1, 4, 5);
  CHECK(crop_padded(img, 0, 0, 0).px == img.px);
  CHECK(crop_padded(img, 2, 2, 2).px == img.px);  // centred window of the padded image
  CHECK(run(ViewPipeline{RandomCrop(0)}, img, 9).px == img.px);

  const Image shifted = crop_padded(img, 1, 0, 0);  // moves content down-right by one
  CHECK(shifted.at(0, 0, 0) == 0.0f);
  CHECK(shifted.at(0, 1, 1) == img.at(0, 0, 0));
  CHECK(shifted.at(0, 3, 4) == img.at(0, 2, 3));
}

TEST_CASE("normalise known values, one statistic for all channels or one per channel") {
  Image img(2, 1, 2);
  img.px = {0.5f, 1.0f, 0.0f, 0.25f};
  Rng rng(0);
  Image shared = img;
  Normalize({{0.5f}, {0.25f}})(shared, rng);
  CHECK(shared.px == std::vector<float>{0.0f, 2.0f, -2.0f, -1.0f});
  Normalize({{0.0f, 0.25f}, {1.0f, 0.5f}})(img, rng);
  CHECK(img.px == std::vector<float>{0.5f, 1.0f, -0.5f, 0.0f});

  Image three(3, 1, 1);
  CHECK(error_of([&] { Normalize({{0.f, 0.f}, {1.f, 1.f}})(three, rng); }).find("2 channel statistics") !=
        std::string::npos);
  CHECK(!error_of([] { Normalize({{0.f}, {0.f}}); }).empty());
}

TEST_CASE("bilinear resize: identity at equal size, exact on a linear ramp") {
  const Image img = ramp(1, 4, 4);
  CHECK(resize_region_bilinear(img, 0, 0, 4, 4, 4, 4).px == img.px);
  // Downscaling 4 → 2 samples at source 0.5 and 2.5: the mean of each 2×2 block for a ramp.
  const Image small = resize_region_bilinear(img, 0, 0, 4, 4, 2, 2);
  CHECK(small.at(0, 0, 0) == doctest::Approx((img.at(0, 0, 0) + img.at(0, 1, 1)) / 2));
  CHECK(small.at(0, 1, 1) == doctest::Approx((img.at(0, 2, 2) + img.at(0, 3, 3)) / 2));
}

TEST_CASE("every op keeps or sets the shape, is deterministic for a seed and differs across seeds") {
  const Image img = ramp(3, 12, 12);
  const Normalization norm{{0.5f}, {0.25f}};
  struct Case {
    const char* name;
    ViewPipeline pipeline;
    int h, w;
  };
  const Case cases[] = {
      {"RandomCrop", ViewPipeline{RandomCrop(3)}, 12, 12},
      {"HorizontalFlip", ViewPipeline{HorizontalFlip(0.5f)}, 12, 12},
      {"RandomResizedCrop", ViewPipeline{RandomResizedCrop(8, 10, 0.2f, 0.9f)}, 8, 10},
      {"ColorJitter", ViewPipeline{ColorJitter(0.4f, 0.4f)}, 12, 12},
      {"GaussianBlur", ViewPipeline{GaussianBlur(5, 0.5f, 2.0f, 1.0f)}, 12, 12},
      {"GaussianNoise", ViewPipeline{GaussianNoise(0.1f)}, 12, 12},
      {"ssl", ssl_views(norm, 10).views[0], 10, 10},
      {"kd", kd_views(norm).views[0], 12, 12},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    const Image a = run(c.pipeline, img, 1), again = run(c.pipeline, img, 1);
    CHECK(a.c == 3);
    CHECK(a.h == c.h);
    CHECK(a.w == c.w);
    CHECK(a.px.size() == std::size_t{3} * c.h * c.w);
    CHECK(a.px == again.px);
    bool some_seed_differs = false;  // a flip with p = 0.5 may agree for one seed, not for ten
    for (std::uint64_t seed = 2; seed < 12 && !some_seed_differs; ++seed)
      some_seed_differs = run(c.pipeline, img, seed).px != a.px;
    CHECK(some_seed_differs);
    for (float v : a.px) CHECK(std::isfinite(v));
  }
}

TEST_CASE("colour jitter keeps pixels in [0, 1]; blur keeps a constant image constant") {
  Image img = ramp(1, 8, 8);
  Rng rng(3);
  for (int i = 0; i < 20; ++i) {
    Image j = img;
    ColorJitter(0.9f, 0.9f)(j, rng);
    for (float v : j.px) CHECK((v >= 0.0f && v <= 1.0f));
  }
  Image flat(1, 5, 5, 0.3f);
  gaussian_blur(flat, 5, 1.5f);
  for (float v : flat.px) CHECK(v == doctest::Approx(0.3f));
}

TEST_CASE("op parameters are checked when the op is made") {
  CHECK(!error_of([] { RandomCrop(-1); }).empty());
  CHECK(!error_of([] { HorizontalFlip(1.5f); }).empty());
  CHECK(!error_of([] { RandomResizedCrop(0, 4); }).empty());
  CHECK(error_of([] { RandomResizedCrop(4, 4, 0.5f, 0.2f); }).find("scale range") != std::string::npos);
  CHECK(error_of([] { GaussianBlur(4); }).find("must be odd") != std::string::npos);
  CHECK(!error_of([] { GaussianNoise(-1.0f); }).empty());
  CHECK(!error_of([] { ColorJitter(-0.1f, 0.0f); }).empty());
}

TEST_CASE("multi-view presets: SSL gives two different views of one image, KD and eval one") {
  const Normalization norm = fashion_mnist_normalization();
  const MultiView ssl = ssl_views(norm, 28);
  REQUIRE(ssl.count() == 2);
  CHECK(kd_views(norm).count() == 1);
  CHECK(eval_views(norm).count() == 1);
  const Image img = ramp(1, 28, 28);
  CHECK(run(ssl.views[0], img, 1).px != run(ssl.views[1], img, 2).px);

  const Image eval = run(eval_views(norm).views[0], img, 1);
  CHECK(eval.px[0] == doctest::Approx((0.0f - 0.2860f) / 0.3530f));
}
