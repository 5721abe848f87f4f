#include <tspipe/cuda/check.hpp>
#include <tspipe/cuda/optim.hpp>

#include <cmath>
#include <set>
#include <unordered_map>

namespace tspipe::cuda {

void Optimizer::set_learning_rate(double learning_rate) {
  if (!(learning_rate >= 0.0) || !std::isfinite(learning_rate))
    throw Error(std::string("optimizer: learning rate must be finite and ≥ 0, got ") + std::to_string(learning_rate));
  learning_rate_ = learning_rate;
}

void Optimizer::step(const std::vector<Parameter>& params) {
  std::set<std::string_view> seen;
  for (const Parameter& p : params) {
    if (!p.value || !p.grad || p.value->numel() != p.grad->numel())
      throw Error(std::string(name()) + ": parameter '" + p.name + "' has " +
                  std::to_string(p.value ? p.value->numel() : 0) + " values but " +
                  std::to_string(p.grad ? p.grad->numel() : 0) + " gradients");
    if (!seen.insert(p.name).second)
      throw Error(std::string(name()) + ": parameter name '" + p.name + "' appears twice (state is keyed by name)");
  }
  for (const Parameter& p : params) update(p);
}

Tensor& Optimizer::state_for(const Parameter& p, std::string_view kind, int64_t size) {
  const std::string key = p.name + "/" + std::string(kind);
  auto it = state_.find(key);
  if (it == state_.end()) return state_.emplace(key, Tensor::zeros({size})).first->second;
  if (it->second.numel() != size)
    throw Error(std::string(name()) + ": state '" + key + "' has " + std::to_string(it->second.numel()) +
                " values but parameter '" + p.name + "' needs " + std::to_string(size));
  return it->second;
}

nn::OptimizerState Optimizer::export_state() const {
  nn::OptimizerState out;
  for (const auto& [key, t] : state_) out.emplace(key, t.to_vector());
  return out;
}

void Optimizer::import_state(const nn::OptimizerState& state) {
  const auto kinds = state_kinds();
  for (const auto& [key, values] : state) {
    const auto slash = key.rfind('/');
    const std::string_view kind =
        slash == std::string::npos ? std::string_view{} : std::string_view(key).substr(slash + 1);
    bool known = false;
    for (std::string_view k : kinds) known = known || k == kind;
    if (!known) throw Error(std::string(name()) + ": state entry '" + key + "' is not state this optimizer keeps");
  }
  std::map<std::string, Tensor> fresh;
  for (const auto& [key, values] : state)
    fresh.emplace(key, Tensor::from({static_cast<int64_t>(values.size())}, values));
  state_ = std::move(fresh);
  state_replaced();
}

Sgd::Sgd(const nn::SgdOptions& options) : Optimizer(options.learning_rate), options_(options) {
  if (!(options.momentum >= 0.0f && options.momentum < 1.0f))
    throw Error("SGD: momentum must be in [0, 1), got " + std::to_string(options.momentum));
  if (options.nesterov && options.momentum == 0.0f) throw Error("SGD: Nesterov needs a momentum > 0");
}

void Sgd::update(const Parameter& p) {
  const int64_t n = p.value->numel();
  Tensor& velocity = state_for(p, "momentum", n);
  const float wd = p.no_weight_decay ? 0.0f : options_.weight_decay;
  launch::sgd_step(p.value->data(), velocity.data(), p.grad->data(), n, lr(), options_.momentum, wd,
                   options_.nesterov, detail::stream());
}

AdamW::AdamW(const nn::AdamWOptions& options) : Optimizer(options.learning_rate), options_(options) {
  if (!(options.beta1 >= 0.0f && options.beta1 < 1.0f) || !(options.beta2 >= 0.0f && options.beta2 < 1.0f))
    throw Error("AdamW: betas must be in [0, 1), got " + std::to_string(options.beta1) + ", " +
                std::to_string(options.beta2));
  if (!(options.eps > 0.0f)) throw Error("AdamW: eps must be > 0, got " + std::to_string(options.eps));
}

void AdamW::update(const Parameter& p) {
  const int64_t n = p.value->numel();
  // The step count lives on the host (steps_) and is mirrored into the state map as one float,
  // as the host AdamW stores it; it is read from the device only after an import.
  Tensor& step_tensor = state_for(p, "step", 1);
  Tensor& first = state_for(p, "exp_avg", n);
  Tensor& second = state_for(p, "exp_avg_sq", n);
  auto known = steps_.find(p.name);
  if (known == steps_.end()) known = steps_.emplace(p.name, step_tensor.to_vector()[0]).first;
  const float step = known->second + 1.0f;
  known->second = step;
  step_tensor.fill(step);
  const auto c = kernels::adam_bias_correction(options_.beta1, options_.beta2, static_cast<long>(step));
  const float wd = p.no_weight_decay ? 0.0f : options_.weight_decay;
  launch::adamw_step(p.value->data(), first.data(), second.data(), p.grad->data(), n, lr(), options_.beta1,
                     options_.beta2, options_.eps, wd, c.first_moment, c.second_moment, detail::stream());
}

Lars::Lars(const nn::LarsOptions& options) : Optimizer(options.learning_rate), options_(options) {
  if (!(options.momentum >= 0.0f && options.momentum < 1.0f))
    throw Error("LARS: momentum must be in [0, 1), got " + std::to_string(options.momentum));
  if (!(options.eta > 0.0f)) throw Error("LARS: eta must be > 0, got " + std::to_string(options.eta));
}

float Lars::trust_ratio(const Parameter& p) const {
  const cudaStream_t s = detail::stream();
  const auto weight_norm = static_cast<float>(std::sqrt(launch::squared_norm(p.value->data(), p.value->numel(), s)));
  const auto grad_norm = static_cast<float>(std::sqrt(launch::squared_norm(p.grad->data(), p.grad->numel(), s)));
  return kernels::lars_trust_ratio(weight_norm, grad_norm, options_.eta, options_.weight_decay, p.no_weight_decay);
}

void Lars::update(const Parameter& p) {
  const int64_t n = p.value->numel();
  Tensor& velocity = state_for(p, "momentum", n);
  const float trust = p.no_weight_decay ? 1.0f : trust_ratio(p);
  launch::lars_step(p.value->data(), velocity.data(), p.grad->data(), n, lr(), options_.momentum,
                    options_.weight_decay, trust, p.no_weight_decay, detail::stream());
}

void MomentumTeacherUpdate::operator()(const std::vector<Parameter>& teacher, const std::vector<Parameter>& student,
                                       float tau) {
  if (!(tau >= 0.0f && tau <= 1.0f))
    throw Error("momentum teacher update: τ must be in [0, 1], got " + std::to_string(tau));
  std::unordered_map<std::string_view, const Parameter*> student_by_name;
  for (const Parameter& s : student)
    if (!student_by_name.emplace(s.name, &s).second)
      throw Error("momentum teacher update: student parameter '" + s.name + "' appears twice");
  std::set<std::string_view> teacher_names;
  for (const Parameter& t : teacher)
    if (!teacher_names.insert(t.name).second)
      throw Error("momentum teacher update: teacher parameter '" + t.name + "' appears twice");
  for (const Parameter& s : student)
    if (!teacher_names.count(s.name))
      throw Error("momentum teacher update: student parameter '" + s.name + "' has no teacher parameter of that name");
  std::vector<launch::EmaSegment> segments;
  std::vector<const float*> pointers;
  int64_t offset = 0;
  for (const Parameter& t : teacher) {
    const auto it = student_by_name.find(t.name);
    if (it == student_by_name.end())
      throw Error("momentum teacher update: teacher parameter '" + t.name + "' has no student parameter of that name");
    const Tensor& sv = *it->second->value;
    if (sv.numel() != t.value->numel())
      throw Error("momentum teacher update: parameter '" + t.name + "' has " + std::to_string(t.value->numel()) +
                  " values in the teacher but " + std::to_string(sv.numel()) + " in the student");
    if (t.value->numel() == 0) continue;
    segments.push_back({t.value->data(), sv.data(), offset, t.value->numel()});
    pointers.push_back(t.value->data());
    pointers.push_back(sv.data());
    offset += t.value->numel();
  }
  if (segments.empty()) return;
  const cudaStream_t s = detail::stream();
  if (pointers != cached_pointers_ || !table_.defined()) {
    const size_t bytes = segments.size() * sizeof(launch::EmaSegment);
    table_ = Tensor({static_cast<int64_t>((bytes + sizeof(float) - 1) / sizeof(float))});
    TSPIPE_CUDA_CHECK(cudaMemcpyAsync(table_.data(), segments.data(), bytes, cudaMemcpyHostToDevice, s));
    TSPIPE_CUDA_CHECK(cudaStreamSynchronize(s));  // `segments` is a host temporary
    cached_pointers_ = std::move(pointers);
    count_ = static_cast<int>(segments.size());
    total_ = offset;
  }
  launch::ema_fused(reinterpret_cast<const launch::EmaSegment*>(table_.data()), count_, total_, tau, s);
}

}  // namespace tspipe::cuda
