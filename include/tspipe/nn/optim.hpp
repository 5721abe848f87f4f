#pragma once
// Optimizers (SGD with momentum/Nesterov, AdamW, LARS) and the fused momentum-teacher update,
// over parameter slots borrowed from whatever owns the tensors. Optimizer state lives here, keyed
// by parameter name, so that it survives re-partitioning and can be checkpointed as a
// name → values map (the same shape safetensors stores).
//
// The element math is kernels/optim.hpp and kernels/ema.hpp, shared with the CUDA backend.
#include <tspipe/error.hpp>
#include <tspipe/kernels/ema.hpp>
#include <tspipe/kernels/optim.hpp>

#include <charconv>
#include <cmath>
#include <cstddef>
#include <map>
#include <ranges>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace tspipe::nn {

/// One parameter tensor as an optimizer sees it. `no_weight_decay` marks biases and
/// normalisation parameters: no weight decay, and no LARS trust-ratio adaptation.
struct ParamSlot {
  std::string name;
  std::span<float> value;
  std::span<float> grad;
  bool no_weight_decay = false;
};

/// Optimizer state for checkpoints: "<parameter name>/<what>" → values (e.g. "fc.weight/momentum").
using OptimizerState = std::map<std::string, std::vector<float>>;

// What every backend's optimizers check, written once so that they accept and reject the same.

/// The learning rate, once known to be finite and ≥ 0.
inline double checked_learning_rate(double learning_rate) {
  if (!(learning_rate >= 0.0) || !std::isfinite(learning_rate))
    throw Error(std::string("optimizer: learning rate must be finite and ≥ 0, got ") + std::to_string(learning_rate));
  return learning_rate;
}

/// The "<kind>" of a "<parameter>/<kind>" state key (empty when it has none).
inline std::string_view state_kind(std::string_view key) {
  const auto slash = key.rfind('/');
  return slash == std::string_view::npos ? std::string_view{} : key.substr(slash + 1);
}

/// Throws unless every "<parameter>/<kind>" key of `state` has a kind the optimizer keeps, so
/// that loading, say, AdamW state into SGD fails rather than silently restarting.
template <class State>
void check_state_kinds(std::string_view optimizer, const State& state, const std::vector<std::string_view>& kinds) {
  for (const auto& [key, values] : state) {
    const std::string_view kind = state_kind(key);
    bool known = false;
    for (std::string_view k : kinds) known = known || k == kind;
    if (!known)
      throw Error(std::string(optimizer) + ": state entry '" + key + "' is not state this optimizer keeps");
  }
}

/// Why `values` cannot be optimizer state of `kind` (empty when they can). Beyond finiteness,
/// which every loaded tensor is checked for: a "step" is a whole count a float holds exactly
/// (0 to 2²⁴; past it a float step count stops growing, and Adam's bias correction is 1 long
/// before), and a second moment ("exp_avg_sq") is never negative (its square root is taken).
/// The kinds are named alike on every backend, so a checkpoint is checked the same way on each.
inline std::string state_value_problem(std::string_view kind, std::span<const float> values) {
  constexpr float kMaxStep = 16777216.0f;
  const auto text = [](float v) {  // shortest round trip: 1.9e+31, not 32 digits
    char buffer[32];
    const auto end = std::to_chars(buffer, buffer + sizeof buffer, v).ptr;
    return std::string(buffer, end);
  };
  for (float v : values) {
    if (kind == "step" && !(v >= 0.0f && v <= kMaxStep && v == std::floor(v)))
      return "holds " + text(v) + ", not a step count (a whole number from 0 to 16777216)";
    if (kind == "exp_avg_sq" && !(v >= 0.0f)) return "holds " + text(v) + ", but a second moment is never negative";
  }
  return {};
}

/// Throws, naming the entry, unless every value of `state` is one its kind can hold.
template <class State>
void check_state_values(std::string_view optimizer, const State& state) {
  for (const auto& [key, values] : state) {
    const std::string_view kind = state_kind(key);
    if (const std::string why = state_value_problem(kind, values); !why.empty())
      throw Error(std::string(optimizer) + ": state entry '" + key + "' " + why);
  }
}

class Optimizer {
 public:
  explicit Optimizer(double learning_rate) { set_learning_rate(learning_rate); }
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = default;
  Optimizer& operator=(const Optimizer&) = default;

  virtual std::string_view name() const = 0;

  /// Applies one update to every slot from its accumulated gradient. Gradients are read, not
  /// zeroed: the caller zeroes them after OPT (gradients accumulate over a batch; docs/design.md).
  void step(std::span<const ParamSlot> params) {
    std::set<std::string_view> seen;
    for (const ParamSlot& p : params) {
      if (p.value.size() != p.grad.size())
        throw Error(std::string(name()) + ": parameter '" + p.name + "' has " +
                    std::to_string(p.value.size()) + " values but " +
                    std::to_string(p.grad.size()) + " gradients");
      if (!seen.insert(p.name).second)
        throw Error(std::string(name()) + ": parameter name '" + p.name +
                    "' appears twice (state is keyed by name)");
    }
    for (const ParamSlot& p : params) update(p);
  }

  /// For schedules: called before step() whenever the rate changes.
  void set_learning_rate(double learning_rate) { learning_rate_ = checked_learning_rate(learning_rate); }
  double learning_rate() const { return learning_rate_; }

  OptimizerState export_state() const { return state_; }

  /// Replaces the state (from a checkpoint). Entries of a kind this optimizer does not keep are
  /// rejected, so loading, say, AdamW state into SGD fails here rather than silently restarting.
  /// Sizes are checked against the parameters at the next step().
  void import_state(OptimizerState state) {
    check_state_kinds(name(), state, state_kinds());
    check_state_values(name(), state);
    state_ = std::move(state);
  }

 protected:
  virtual void update(const ParamSlot& p) = 0;
  /// The "<what>" suffixes of this optimizer's state keys.
  virtual std::vector<std::string_view> state_kinds() const = 0;

  /// The state vector `kind` of parameter p, created as zeros on first use.
  std::vector<float>& state_for(const ParamSlot& p, std::string_view kind, std::size_t size) {
    const std::string key = p.name + "/" + std::string(kind);
    auto [it, inserted] = state_.try_emplace(key, size, 0.0f);
    if (!inserted && it->second.size() != size)
      throw Error(std::string(name()) + ": state '" + key + "' has " +
                  std::to_string(it->second.size()) + " values but parameter '" + p.name +
                  "' needs " + std::to_string(size));
    return it->second;
  }

  float lr() const { return static_cast<float>(learning_rate_); }

 private:
  double learning_rate_ = 0.0;
  OptimizerState state_;
};

struct SgdOptions {
  double learning_rate = 0.1;
  float momentum = 0.9f;
  float weight_decay = 0.0f;
  bool nesterov = false;
};

inline const SgdOptions& checked(const SgdOptions& options) {
  if (!(options.momentum >= 0.0f && options.momentum < 1.0f))
    throw Error("SGD: momentum must be in [0, 1), got " + std::to_string(options.momentum));
  if (options.nesterov && options.momentum == 0.0f) throw Error("SGD: Nesterov needs a momentum > 0");
  return options;
}

/// SGD with momentum (heavy ball or Nesterov) and L2 weight decay; see kernels::sgd_update.
class Sgd final : public Optimizer {
 public:
  explicit Sgd(const SgdOptions& options) : Optimizer(options.learning_rate), options_(checked(options)) {}
  std::string_view name() const override { return "SGD"; }

 private:
  void update(const ParamSlot& p) override {
    auto& velocity = state_for(p, "momentum", p.value.size());
    const float wd = p.no_weight_decay ? 0.0f : options_.weight_decay;
    for (std::size_t i = 0; i < p.value.size(); ++i)
      kernels::sgd_update(p.value[i], velocity[i], p.grad[i], lr(), options_.momentum, wd,
                          options_.nesterov);
  }
  std::vector<std::string_view> state_kinds() const override { return {"momentum"}; }

  SgdOptions options_;
};

struct AdamWOptions {
  double learning_rate = 1e-3;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.01f;
};

inline const AdamWOptions& checked(const AdamWOptions& options) {
  if (!(options.beta1 >= 0.0f && options.beta1 < 1.0f) || !(options.beta2 >= 0.0f && options.beta2 < 1.0f))
    throw Error("AdamW: betas must be in [0, 1), got " + std::to_string(options.beta1) + ", " +
                std::to_string(options.beta2));
  if (!(options.eps > 0.0f)) throw Error("AdamW: eps must be > 0, got " + std::to_string(options.eps));
  return options;
}

/// AdamW with per-parameter step counts (so parameters that join later get their own bias
/// correction); see kernels::adamw_update. The step count is stored as a float in the state map,
/// exact up to 2^24 steps, beyond which the bias corrections are 1 anyway.
class AdamW final : public Optimizer {
 public:
  explicit AdamW(const AdamWOptions& options) : Optimizer(options.learning_rate), options_(checked(options)) {}
  std::string_view name() const override { return "AdamW"; }

 private:
  void update(const ParamSlot& p) override {
    auto& step_count = state_for(p, "step", 1);
    auto& first = state_for(p, "exp_avg", p.value.size());
    auto& second = state_for(p, "exp_avg_sq", p.value.size());
    step_count[0] += 1.0f;
    const auto correction = kernels::adam_bias_correction(options_.beta1, options_.beta2,
                                                          static_cast<long>(step_count[0]));
    const float wd = p.no_weight_decay ? 0.0f : options_.weight_decay;
    for (std::size_t i = 0; i < p.value.size(); ++i)
      kernels::adamw_update(p.value[i], first[i], second[i], p.grad[i], lr(), options_.beta1,
                            options_.beta2, options_.eps, wd, correction);
  }
  std::vector<std::string_view> state_kinds() const override {
    return {"step", "exp_avg", "exp_avg_sq"};
  }

  AdamWOptions options_;
};

struct LarsOptions {
  double learning_rate = 0.1;
  float momentum = 0.9f;
  float weight_decay = 1.5e-6f;  ///< BYOL's setting
  float eta = 1e-3f;             ///< trust coefficient η
};

inline const LarsOptions& checked(const LarsOptions& options) {
  if (!(options.momentum >= 0.0f && options.momentum < 1.0f))
    throw Error("LARS: momentum must be in [0, 1), got " + std::to_string(options.momentum));
  if (!(options.eta > 0.0f)) throw Error("LARS: eta must be > 0, got " + std::to_string(options.eta));
  return options;
}

/// LARS as BYOL's and MoCo-v3's code run it: the weight-decayed gradient d = g + wd·w is scaled
/// per tensor by the trust ratio η·‖w‖/‖d‖ and drives momentum SGD (v ← μ·v + trust·d,
/// w ← w − lr·v). Tensors marked no_weight_decay (biases, norm parameters) get neither weight
/// decay nor adaptation. See kernels::lars_trust_ratio and kernels::lars_update.
class Lars final : public Optimizer {
 public:
  explicit Lars(const LarsOptions& options) : Optimizer(options.learning_rate), options_(checked(options)) {}
  std::string_view name() const override { return "LARS"; }

  /// The trust ratio step() would use for p now (for logging and tests).
  float trust_ratio(const ParamSlot& p) const {
    if (p.no_weight_decay) return 1.0f;
    const long n = static_cast<long>(p.value.size());
    const auto weight_norm = static_cast<float>(std::sqrt(kernels::squared_norm(p.value.data(), n)));
    const auto update_norm = static_cast<float>(
        std::sqrt(kernels::decayed_grad_squared_norm(p.grad.data(), p.value.data(), options_.weight_decay, n)));
    return kernels::lars_trust_ratio(weight_norm, update_norm, options_.eta, p.no_weight_decay);
  }

 private:
  void update(const ParamSlot& p) override {
    auto& velocity = state_for(p, "momentum", p.value.size());
    const float trust = trust_ratio(p);
    for (std::size_t i = 0; i < p.value.size(); ++i)
      kernels::lars_update(p.value[i], velocity[i], p.grad[i], lr(), options_.momentum,
                           options_.weight_decay, trust, p.no_weight_decay);
  }
  std::vector<std::string_view> state_kinds() const override { return {"momentum"}; }

  LarsOptions options_;
};

/// A teacher parameter tensor, paired with the student's by name.
struct TeacherSlot {
  std::string name;
  std::span<float> value;
};

namespace detail {

/// What every backend's momentum-teacher update checks before it writes anything, so that a
/// mismatch leaves the teacher untouched: τ in [0, 1], names unique on each side, and for every
/// teacher parameter a student parameter of the same name (teacher and student are paired by name,
/// not position; docs/design.md) and size. Returns each teacher parameter's student partner, in
/// the teacher's order. `size(p)` is the number of values of parameter p.
template <class TeacherRange, class StudentRange, class Size>
std::vector<const std::ranges::range_value_t<StudentRange>*> momentum_update_partners(const TeacherRange& teacher,
                                                                                      const StudentRange& student,
                                                                                      float tau, Size size) {
  using StudentParam = std::ranges::range_value_t<StudentRange>;
  if (!(tau >= 0.0f && tau <= 1.0f))
    throw Error("momentum teacher update: τ must be in [0, 1], got " + std::to_string(tau));
  std::unordered_map<std::string_view, const StudentParam*> student_by_name;
  for (const StudentParam& s : student)
    if (!student_by_name.emplace(s.name, &s).second)
      throw Error("momentum teacher update: student parameter '" + s.name + "' appears twice");
  std::set<std::string_view> teacher_names;
  for (const auto& t : teacher)
    if (!teacher_names.insert(t.name).second)
      throw Error("momentum teacher update: teacher parameter '" + t.name + "' appears twice");
  for (const StudentParam& s : student)
    if (!teacher_names.count(s.name))
      throw Error("momentum teacher update: student parameter '" + s.name +
                  "' has no teacher parameter of that name");
  std::vector<const StudentParam*> partner;
  partner.reserve(std::ranges::size(teacher));
  for (const auto& t : teacher) {
    const auto it = student_by_name.find(t.name);
    if (it == student_by_name.end())
      throw Error("momentum teacher update: teacher parameter '" + t.name +
                  "' has no student parameter of that name");
    if (size(*it->second) != size(t))
      throw Error("momentum teacher update: parameter '" + t.name + "' has " + std::to_string(size(t)) +
                  " values in the teacher but " + std::to_string(size(*it->second)) + " in the student");
    partner.push_back(it->second);
  }
  return partner;
}

}  // namespace detail

/// The momentum-teacher update ξ ← τ·ξ + (1−τ)·θ over every teacher parameter, θ being the
/// student parameter of the same name; every pair is checked before anything is written
/// (detail::momentum_update_partners).
inline void momentum_teacher_update(std::span<const TeacherSlot> teacher,
                                    std::span<const ParamSlot> student, float tau) {
  const auto partner =
      detail::momentum_update_partners(teacher, student, tau, [](const auto& p) { return p.value.size(); });
  for (std::size_t i = 0; i < teacher.size(); ++i)
    kernels::ema_update(teacher[i].value.data(), partner[i]->value.data(),
                        static_cast<long>(teacher[i].value.size()), tau);
}

}  // namespace tspipe::nn
