#include <tspipe/cuda/check.hpp>
#include <tspipe/cuda/optim.hpp>

#include <cmath>
#include <set>

namespace tspipe::cuda {

void Optimizer::set_learning_rate(double learning_rate) { learning_rate_ = nn::checked_learning_rate(learning_rate); }

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
  nn::check_state_kinds(name(), state, state_kinds());
  nn::check_state_values(name(), state);
  std::map<std::string, Tensor> fresh;
  for (const auto& [key, values] : state)
    fresh.emplace(key, Tensor::from({static_cast<int64_t>(values.size())}, values));
  state_ = std::move(fresh);
  state_replaced();
}

Sgd::Sgd(const nn::SgdOptions& options) : Optimizer(options.learning_rate), options_(nn::checked(options)) {}

void Sgd::update(const Parameter& p) {
  const int64_t n = p.value->numel();
  Tensor& velocity = state_for(p, "momentum", n);
  const float wd = p.no_weight_decay ? 0.0f : options_.weight_decay;
  launch::sgd_step(p.value->data(), velocity.data(), p.grad->data(), n, lr(), options_.momentum, wd,
                   options_.nesterov, detail::stream());
}

AdamW::AdamW(const nn::AdamWOptions& options) : Optimizer(options.learning_rate), options_(nn::checked(options)) {}

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

Lars::Lars(const nn::LarsOptions& options) : Optimizer(options.learning_rate), options_(nn::checked(options)) {}

float Lars::trust_ratio(const Parameter& p) const {
  if (p.no_weight_decay) return 1.0f;
  const cudaStream_t s = detail::stream();
  const auto weight_norm = static_cast<float>(std::sqrt(launch::squared_norm(p.value->data(), p.value->numel(), s)));
  const auto update_norm = static_cast<float>(std::sqrt(
      launch::decayed_grad_squared_norm(p.grad->data(), p.value->data(), options_.weight_decay, p.value->numel(), s)));
  return kernels::lars_trust_ratio(weight_norm, update_norm, options_.eta, p.no_weight_decay);
}

void Lars::update(const Parameter& p) {
  const int64_t n = p.value->numel();
  Tensor& velocity = state_for(p, "momentum", n);
  const float trust = trust_ratio(p);
  launch::lars_step(p.value->data(), velocity.data(), p.grad->data(), n, lr(), options_.momentum,
                    options_.weight_decay, trust, p.no_weight_decay, detail::stream());
}

void MomentumTeacherUpdate::operator()(const std::vector<Parameter>& teacher, const std::vector<Parameter>& student,
                                       float tau) {
  const auto partner = nn::detail::momentum_update_partners(teacher, student, tau,
                                                            [](const Parameter& p) { return p.value->numel(); });
  std::vector<launch::EmaSegment> segments;
  std::vector<const float*> pointers;
  int64_t offset = 0;
  for (size_t i = 0; i < teacher.size(); ++i) {
    Tensor& tv = *teacher[i].value;
    const Tensor& sv = *partner[i]->value;
    if (tv.numel() == 0) continue;
    segments.push_back({tv.data(), sv.data(), offset, tv.numel()});
    pointers.push_back(tv.data());
    pointers.push_back(sv.data());
    offset += tv.numel();
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
