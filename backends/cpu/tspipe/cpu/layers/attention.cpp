#include <tspipe/cpu/layers/attention.hpp>

#include <tspipe/cpu/gemm.hpp>
#include <tspipe/kernels/softmax.hpp>

#include <cmath>
#include <vector>

namespace tspipe::cpu {

Tensor SelfAttention::attend(const Tensor& qkv_out, Tensor* probs) const {
  const int64_t n = qkv_out.size(0), t = qkv_out.size(1), hd = dim_ / heads_, ld = 3 * dim_;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  Tensor out({n, t, dim_});
  std::vector<float> scratch(probs ? 0 : static_cast<size_t>(t * t));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t h = 0; h < heads_; ++h) {
      const float* q = qkv_out.data() + i * t * ld + h * hd;
      const float* k = q + dim_;
      const float* v = q + 2 * dim_;
      float* p = probs ? probs->data() + (i * heads_ + h) * t * t : scratch.data();
      gemm(false, true, t, t, hd, scale, q, ld, k, ld, 0.0f, p, t);  // S = Q·Kᵀ/√hd
      for (int64_t r = 0; r < t; ++r) kernels::softmax_row(p + r * t, p + r * t, static_cast<int>(t));
      gemm(false, false, t, hd, t, 1.0f, p, t, v, ld, 0.0f, out.data() + i * t * dim_ + h * hd, dim_);
    }
  return out;
}

Tensor SelfAttention::attend_backward(const Tensor& qkv_out, const Tensor& probs, const Tensor& d_out) const {
  const int64_t n = qkv_out.size(0), t = qkv_out.size(1), hd = dim_ / heads_, ld = 3 * dim_;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  Tensor d_qkv(qkv_out.shape());
  std::vector<float> ds(static_cast<size_t>(t * t));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t h = 0; h < heads_; ++h) {
      const float* q = qkv_out.data() + i * t * ld + h * hd;
      const float* k = q + dim_;
      const float* v = q + 2 * dim_;
      const float* p = probs.data() + (i * heads_ + h) * t * t;
      const float* d_o = d_out.data() + i * t * dim_ + h * hd;
      float* dq = d_qkv.data() + i * t * ld + h * hd;
      float* dk = dq + dim_;
      float* dv = dq + 2 * dim_;
      gemm(true, false, t, hd, t, 1.0f, p, t, d_o, dim_, 0.0f, dv, ld);         // dV = Pᵀ·dO
      gemm(false, true, t, t, hd, 1.0f, d_o, dim_, v, ld, 0.0f, ds.data(), t);  // dP = dO·Vᵀ
      for (int64_t r = 0; r < t; ++r)                                          // dS = softmax'(dP)
        kernels::softmax_row_backward(p + r * t, ds.data() + r * t, ds.data() + r * t, static_cast<int>(t));
      gemm(false, false, t, hd, t, scale, ds.data(), t, k, ld, 0.0f, dq, ld);  // dQ = dS·K/√hd
      gemm(true, false, t, hd, t, scale, ds.data(), t, q, ld, 0.0f, dk, ld);   // dK = dSᵀ·Q/√hd
    }
  return d_qkv;
}

Tensor SelfAttention::core_forward(const Tensor& x, const Tensor& qkv_out, std::vector<Tensor>& saved) const {
  Tensor probs({x.size(0), heads_, x.size(1), x.size(1)});
  Tensor attended = attend(qkv_out, &probs);
  saved = {qkv_out, std::move(probs)};
  return attended;
}

}  // namespace tspipe::cpu
