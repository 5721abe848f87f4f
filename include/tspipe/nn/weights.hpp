#pragma once
// One model's weights by name as a safetensors file (save_weights / load_weights over a block
// list), and the check behind every load of stored tensors into a model, tspipe checkpoints
// included: each tensor is matched by name, dtype and full shape, every mismatch is named in one
// error with both shapes, and nothing is copied unless everything fits.
//
// The files are a PyTorch state dict as safetensors stores one: plain F32 tensors named by the
// parameter and buffer names ("layer1.0.conv1.weight", "bn1.running_mean"), with the metadata
// {"format": "pt"} that safetensors.torch.save_file writes. safetensors.torch.load_file reads them
// into a state dict for a PyTorch model of the same names, and such a state dict saved as F32
// loads here (allow_unused skips what PyTorch keeps and tspipe does not, e.g. a BatchNorm's
// num_batches_tracked).
#include <tspipe/error.hpp>
#include <tspipe/nn/layer.hpp>
#include <tspipe/nn/safetensors.hpp>
#include <tspipe/nn/tensor.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <set>
#include <span>
#include <string>
#include <vector>

namespace tspipe::nn {

/// A tensor shape as safetensors stores it.
template <class Dims>
std::vector<std::uint64_t> stored_shape(const Dims& shape) {
  std::vector<std::uint64_t> out;
  for (auto d : shape) out.push_back(static_cast<std::uint64_t>(d));
  return out;
}

/// Every way stored tensors fail to fit what a model expects, collected so that one error names
/// them all.
class TensorFit {
 public:
  /// At most this many problems are spelled out in the error (the count says how many in all):
  /// a file of another model would otherwise make a message as long as the file's header.
  static constexpr std::size_t kListed = 64;

  /// Whether `stored` is an F32 tensor of `shape`; notes the problem under `name` when not.
  bool check(const std::string& name, const StoredTensor& stored, const std::vector<std::uint64_t>& shape) {
    if (stored.dtype == Dtype::F32 && stored.shape == shape) return true;
    note(name, "the file has " + describe(stored) + ", the model " + std::string(dtype_name(Dtype::F32)) + " " +
                   detail::shape_text(shape));
    return false;
  }
  /// The tensor `name` of `content` when it fits `shape`; null (and the problem noted) otherwise.
  const StoredTensor* require(const SafetensorsContent& content, const std::string& name,
                              const std::vector<std::uint64_t>& shape) {
    const auto it = content.tensors.find(name);
    if (it == content.tensors.end()) {
      missing(name, shape);
      return nullptr;
    }
    return check(name, it->second, shape) ? &it->second : nullptr;
  }
  void missing(const std::string& name, const std::vector<std::uint64_t>& shape) {
    note(name, "missing from the file (the model has F32 " + detail::shape_text(shape) + ")");
  }
  /// A stored tensor the model has no place for; `why` may say more.
  void unexpected(const std::string& name, const StoredTensor& stored, const std::string& why = "") {
    note(name, "the file has " + describe(stored) + " but the model has no such tensor" + (why.empty() ? "" : " (" + why + ")"));
  }
  /// Any other problem of a named tensor.
  void note(const std::string& name, const std::string& what) {
    ++count_;
    if (listed_.size() < kListed) listed_.push_back(quoted(name) + ": " + what);
  }

  bool fits() const { return count_ == 0; }
  /// Throws Error("<what>: N tensors do not fit: 'a': …; 'b': …") unless everything fit.
  void throw_unless_fits(const std::string& what) const {
    if (fits()) return;
    std::string text = what + ": " + std::to_string(count_) + (count_ == 1 ? " tensor does" : " tensors do") + " not fit: ";
    for (std::size_t i = 0; i < listed_.size(); ++i) text += (i ? "; " : "") + listed_[i];
    if (count_ > listed_.size()) text += "; and " + std::to_string(count_ - listed_.size()) + " more";
    throw Error(text);
  }

 private:
  static std::string describe(const StoredTensor& t) { return std::string(dtype_name(t.dtype)) + " " + detail::shape_text(t.shape); }
  /// Names come from files: a long one is cut so that the message stays readable.
  static std::string quoted(const std::string& name) {
    constexpr std::size_t kLongest = 120;
    return "'" + (name.size() > kLongest ? name.substr(0, kLongest) + "..." : name) + "'";
  }

  std::size_t count_ = 0;
  std::vector<std::string> listed_;
};

/// How a backend's tensor values reach the host and come back. Host tensors need nothing; a
/// device backend passes its own type with these two functions (runtime::TensorOps<Tensor> has
/// them).
template <class T>
struct HostValues;
template <>
struct HostValues<Tensor> {
  static Tensor to_host(const Tensor& t) { return t; }
  static void copy_from_host(Tensor& t, std::span<const float> values) { std::copy(values.begin(), values.end(), t.data()); }
};

/// How a model's tensors are named in a weights file.
struct WeightsOptions {
  /// Put before every name ("student." reads the student of a tspipe checkpoint). Tensors of the
  /// file outside the prefix belong to something else and are left alone.
  std::string prefix = "";
  /// Ignore tensors under the prefix that the model does not have, instead of refusing the file.
  bool allow_unused = false;
};

namespace detail {

template <class B>
struct NamedValue {
  std::string name;
  typename B::Tensor* value = nullptr;
};

/// Every parameter, then every buffer, of each block in turn, under its checkpoint name.
template <class B>
std::vector<NamedValue<B>> named_values(std::vector<LayerPtr<B>>& blocks, const std::string& prefix) {
  std::vector<NamedValue<B>> out;
  std::set<std::string> seen;
  const auto add = [&](const std::string& name, typename B::Tensor* value) {
    if (!seen.insert(prefix + name).second)
      throw Error("weights: two tensors of the model are named '" + prefix + name + "' (names must be unique to be saved)");
    out.push_back({prefix + name, value});
  };
  for (auto& block : blocks) {
    if (!block) throw Error("weights: the block list holds a null block");
    for (auto& p : block->parameters()) add(p.name, p.value);
    for (auto& b : block->buffers()) add(b.name, b.value);
  }
  return out;
}

}  // namespace detail

/// Writes the parameters and buffers of `blocks` to `path` (atomically: a crash leaves the old file).
template <class B, class Values = HostValues<typename B::Tensor>>
void save_weights(std::vector<LayerPtr<B>>& blocks, const std::filesystem::path& path, const WeightsOptions& options = {}) {
  SafetensorsContent content;
  content.metadata["format"] = "pt";
  for (const auto& [name, value] : detail::named_values<B>(blocks, options.prefix)) {
    const Tensor host = Values::to_host(*value);
    content.tensors[name] = StoredTensor::from_f32(stored_shape(host.shape()), host.span());
  }
  save_safetensors(path, content);
}

/// Reads every parameter and buffer of `blocks` from `path`. Throws Error naming the file and
/// every tensor that is missing, has another shape or dtype, or is not the model's; the blocks
/// are unchanged then.
template <class B, class Values = HostValues<typename B::Tensor>>
void load_weights(std::vector<LayerPtr<B>>& blocks, const std::filesystem::path& path, const WeightsOptions& options = {}) {
  const SafetensorsContent content = load_safetensors(path);
  const auto targets = detail::named_values<B>(blocks, options.prefix);
  TensorFit fit;
  std::vector<const StoredTensor*> sources;
  std::set<std::string> wanted;
  for (const auto& [name, value] : targets) {
    sources.push_back(fit.require(content, name, stored_shape(value->shape())));
    wanted.insert(name);
  }
  if (!options.allow_unused)
    for (const auto& [name, stored] : content.tensors)
      if (name.rfind(options.prefix, 0) == 0 && !wanted.count(name)) fit.unexpected(name, stored);
  fit.throw_unless_fits("weights '" + path.string() + "'");
  for (std::size_t i = 0; i < targets.size(); ++i) Values::copy_from_host(*targets[i].value, sources[i]->to_f32());
}

}  // namespace tspipe::nn
