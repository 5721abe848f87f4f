#pragma once
// A view pipeline: a geometry (which pixels, at what size — geometry.hpp) followed by float ops
// (augment_ops.hpp), turning one stored 8-bit image into one float view. Its randomness comes from
// one Rng, so a view is a pure function of (image, seed); the loader seeds it from
// (seed, epoch, example, view).
//
// The geometry is drawn in its own step, plan(), from the image size alone: the loader draws the
// windows of all views of an example, decodes the image once at the smallest size they allow, and
// then finish()es each view.
#include <tspipe/data/augment_ops.hpp>
#include <tspipe/data/geometry.hpp>
#include <tspipe/data/image.hpp>
#include <tspipe/data/rng.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <span>
#include <utility>
#include <vector>

namespace tspipe::data {

using AugmentOp = std::function<void(Image&, Rng&)>;

class ViewPipeline {
 public:
  /// The stored image as floats in [0, 1].
  ViewPipeline() = default;
  /// The stored image at its own size, then `ops`.
  ViewPipeline(std::initializer_list<AugmentOp> ops) : ops_(ops) {}
  /// `geometry`, then `ops`.
  explicit ViewPipeline(Geometry geometry, std::initializer_list<AugmentOp> ops = {})
      : geometry_(std::move(geometry)), ops_(ops) {}

  ViewPipeline& then(AugmentOp op) {
    ops_.push_back(std::move(op));
    return *this;
  }
  const Geometry& geometry() const noexcept { return geometry_; }
  std::size_t size() const noexcept { return ops_.size(); }

  /// Step 1: the window of an image of h × w pixels.
  ViewWindow plan(int h, int w, Rng& rng) const { return plan_window(geometry_, h, w, rng); }
  /// Step 2: the view from `src` (the image of full_h × full_w, possibly decoded smaller), with the
  /// same Rng, continued.
  void finish(const PixelView& src, const ViewWindow& window, int full_h, int full_w, Rng& rng, Image& out) const {
    render_window(src, window, full_h, full_w, out);
    for (const AugmentOp& op : ops_) op(out, rng);
  }
  /// Both steps on an image held at full size.
  Image view(const PixelView& src, Rng& rng) const {
    Image out;
    finish(src, plan(src.height, src.width, rng), src.height, src.width, rng, out);
    return out;
  }
  /// The view of planar C×H×W bytes.
  Image view(std::span<const std::uint8_t> bytes, int c, int h, int w, Rng& rng) const {
    return view(PixelView::planar(bytes.data(), c, h, w), rng);
  }

 private:
  Geometry geometry_ = KeepSize{};
  std::vector<AugmentOp> ops_;
};

/// V views per example: one pipeline per view (SSL: two random views, possibly asymmetric as in
/// BYOL; KD and evaluation: one).
struct MultiView {
  std::vector<ViewPipeline> views;
  int count() const noexcept { return static_cast<int>(views.size()); }
};

}  // namespace tspipe::data
