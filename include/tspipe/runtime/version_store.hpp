#pragma once
// The teacher parameter versions one stage holds (docs/design.md §1, §4). The newest version lives in the
// teacher layers themselves; older versions that a stale teacher forward may still read are kept
// as copies, at most `capacity` versions in all (δ + 1 by default). Reading an older version
// swaps it into the layers; every swap and save is one parameter copy, cheap against a forward.
//
// Which versions to keep is the same on every backend; only how a copy is made differs, so the
// store is written once over a `Copies` policy: host copies here (HostVersionCopies), device
// copies in a device backend (cuda::DeviceVersionCopies, which never leave the GPU).
#include <tspipe/error.hpp>

#include <algorithm>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace tspipe::runtime {

/// Teacher versions of host parameters: a copy is a vector, which is also what checkpoints store.
struct HostVersionCopies {
  using Param = std::span<float>;  ///< a teacher parameter's storage in the layers
  using Copy = std::vector<float>;
  static Copy copy_out(const Param& param) { return Copy(param.begin(), param.end()); }
  static void copy_in(const Copy& copy, const Param& param) { std::copy(copy.begin(), copy.end(), param.begin()); }
  /// For checkpoints: a copy's values on the host, and a copy from values read back.
  static const std::vector<float>& to_host(const Copy& copy) { return copy; }
  static Copy from_host(std::vector<float> values, const Param&) { return values; }
};

template <class Copies>
class BasicVersionStore {
 public:
  using Param = typename Copies::Param;
  using Values = std::vector<typename Copies::Copy>;  ///< one copy per parameter, in a fixed order

  BasicVersionStore() = default;
  BasicVersionStore(int stage, int capacity) : stage_(stage), capacity_(std::max(1, capacity)) {}

  long active() const { return active_; }
  int capacity() const { return capacity_; }
  /// Versions held now: the active one plus saved copies of others.
  std::vector<long> held() const {
    std::vector<long> out{active_};
    for (const auto& [version, values] : saved_)
      if (version != active_) out.push_back(version);
    std::sort(out.begin(), out.end());
    return out;
  }
  const std::map<long, Values>& saved() const { return saved_; }

  /// Makes version r the one in `params` (the teacher layers' parameter storage).
  void activate(long r, const std::vector<Param>& params) {
    if (r == active_) return;
    const auto it = saved_.find(r);
    if (it == saved_.end())
      throw Error("stage " + std::to_string(stage_) + ": teacher version ξ_" + std::to_string(r) +
                  " is no longer held (active ξ_" + std::to_string(active_) + ", capacity " + std::to_string(capacity_) +
                  " versions); the schedule reads a version older than its staleness allows");
    if (!saved_.count(active_)) saved_.emplace(active_, copy_out(params));
    copy_in(it->second, params);
    active_ = r;
  }

  /// Before EMA(b) overwrites ξ_b with ξ_{b+1}: activate ξ_b and keep a copy of it when more than
  /// one version may be held. After the update call `updated(b + 1)`.
  void before_update(long b, const std::vector<Param>& params) {
    activate(b, params);
    if (capacity_ > 1 && !saved_.count(b)) saved_.emplace(b, copy_out(params));
  }
  void updated(long new_version) {
    active_ = new_version;
    saved_.erase(new_version);  // a stale copy of the same number (from a restored run) is void
    // Keep the newest `capacity` versions: ξ_{new−capacity+1} … ξ_new.
    while (!saved_.empty() && saved_.begin()->first <= new_version - capacity_) saved_.erase(saved_.begin());
  }

  /// For checkpoints: set the state exactly (the active version's values are in the layers).
  void restore(long active, std::map<long, Values> saved) {
    active_ = active;
    saved_ = std::move(saved);
  }

 private:
  static Values copy_out(const std::vector<Param>& params) {
    Values out;
    out.reserve(params.size());
    for (const auto& p : params) out.push_back(Copies::copy_out(p));
    return out;
  }
  static void copy_in(const Values& values, const std::vector<Param>& params) {
    for (std::size_t i = 0; i < params.size(); ++i) Copies::copy_in(values[i], params[i]);
  }

  int stage_ = 0;
  int capacity_ = 1;
  long active_ = 0;
  std::map<long, Values> saved_;
};

using VersionStore = BasicVersionStore<HostVersionCopies>;

}  // namespace tspipe::runtime
