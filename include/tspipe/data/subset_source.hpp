#pragma once
// A contiguous range of another source's examples: the smoke-test subsets of examples and
// benchmarks (--train-subset N) for any source, without copying what it holds.
#include <tspipe/data/image_source.hpp>
#include <tspipe/error.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

namespace tspipe::data {

class SubsetSource final : public ImageSource {
 public:
  SubsetSource(std::shared_ptr<const ImageSource> base, std::int64_t first, std::int64_t count)
      : base_(std::move(base)), first_(first), count_(count) {
    if (!base_) throw Error("SubsetSource: no source");
    if (first < 0 || count < 0 || first > base_->size() - count)
      throw Error(base_->name() + ": subset [" + std::to_string(first) + ", " + std::to_string(first + count) +
                  ") lies outside its " + std::to_string(base_->size()) + " examples");
  }

  std::int64_t size() const noexcept override { return count_; }
  int label(std::int64_t i) const noexcept override { return base_->label(first_ + i); }
  int num_classes() const noexcept override { return base_->num_classes(); }
  ImageShape shape() const noexcept override { return base_->shape(); }
  std::string name() const override { return base_->name(); }
  std::string describe(std::int64_t i) const override { return base_->describe(first_ + i); }
  void read(std::int64_t i, SampleBuffer& buffer) const override { base_->read(first_ + i, buffer); }
  PixelView decode(std::int64_t i, SampleBuffer& buffer, int shrink) const override {
    return base_->decode(first_ + i, buffer, shrink);
  }

 private:
  std::shared_ptr<const ImageSource> base_;
  std::int64_t first_, count_;
};

/// Examples [first, first + count) of `base`.
inline std::shared_ptr<const ImageSource> subset_source(std::shared_ptr<const ImageSource> base, std::int64_t first,
                                                        std::int64_t count) {
  return std::make_shared<const SubsetSource>(std::move(base), first, count);
}

}  // namespace tspipe::data
