#include <tspipe/cuda/gemm.hpp>
#include <tspipe/cuda/launchers.hpp>
#include <tspipe/cuda/layers/attention.hpp>

#include <cmath>

namespace tspipe::cuda {

Tensor SelfAttention::attend(const Tensor& qkv_out, Tensor& heads, Tensor& probs) const {
  const int64_t n = qkv_out.size(0), t = qkv_out.size(1), hd = dim_ / heads_, bh = n * heads_;
  const int64_t part = bh * t * hd;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const Stream s = current_stream();
  heads = Tensor({3, bh, t, hd});
  for (int64_t which = 0; which < 3; ++which)
    launch::tokens_to_heads(qkv_out.data() + which * dim_, 3 * dim_, heads.data() + which * part, n, t, heads_, hd,
                            s.handle);
  const float* q = heads.data();
  const float* k = q + part;
  const float* v = k + part;
  probs = Tensor({bh, t, t});
  // S = Q·Kᵀ/√hd, then softmax per row (in place).
  gemm_strided_batched(s, false, true, t, t, hd, scale, q, hd, t * hd, k, hd, t * hd, 0.0f, probs.data(), t, t * t,
                       bh);
  launch::softmax_forward(probs.data(), probs.data(), bh * t, t, 1.0f, s.handle);
  Tensor o({bh, t, hd});
  gemm_strided_batched(s, false, false, t, hd, t, 1.0f, probs.data(), t, t * t, v, hd, t * hd, 0.0f, o.data(), hd,
                       t * hd, bh);
  Tensor out({n, t, dim_});
  launch::heads_to_tokens(o.data(), out.data(), dim_, n, t, heads_, hd, s.handle);
  return out;
}

Tensor SelfAttention::attend_backward(const Tensor& heads, const Tensor& probs, const Tensor& d_attended, int64_t n,
                                      int64_t t) const {
  const int64_t hd = dim_ / heads_, bh = n * heads_, part = bh * t * hd;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const Stream s = current_stream();
  const float* q = heads.data();
  const float* k = q + part;
  const float* v = k + part;
  const float* p = probs.data();
  Tensor d_o({bh, t, hd});
  launch::tokens_to_heads(d_attended.data(), dim_, d_o.data(), n, t, heads_, hd, s.handle);
  Tensor d_heads({3, bh, t, hd});
  float* dq = d_heads.data();
  float* dk = dq + part;
  float* dv = dk + part;
  Tensor ds({bh, t, t});
  gemm_strided_batched(s, true, false, t, hd, t, 1.0f, p, t, t * t, d_o.data(), hd, t * hd, 0.0f, dv, hd, t * hd,
                       bh);  // dV = Pᵀ·dO
  gemm_strided_batched(s, false, true, t, t, hd, 1.0f, d_o.data(), hd, t * hd, v, hd, t * hd, 0.0f, ds.data(), t,
                       t * t, bh);  // dP = dO·Vᵀ
  launch::softmax_backward(p, ds.data(), ds.data(), bh * t, t, s.handle);  // dS
  gemm_strided_batched(s, false, false, t, hd, t, scale, ds.data(), t, t * t, k, hd, t * hd, 0.0f, dq, hd, t * hd,
                       bh);  // dQ = dS·K/√hd
  gemm_strided_batched(s, true, false, t, hd, t, scale, ds.data(), t, t * t, q, hd, t * hd, 0.0f, dk, hd, t * hd,
                       bh);  // dK = dSᵀ·Q/√hd
  Tensor d_qkv({n, t, 3 * dim_});
  for (int64_t which = 0; which < 3; ++which)
    launch::heads_to_tokens(d_heads.data() + which * part, d_qkv.data() + which * dim_, 3 * dim_, n, t, heads_, hd,
                            s.handle);
  return d_qkv;
}

Tensor SelfAttention::core_forward(const Tensor& x, const Tensor& qkv_out, std::vector<Tensor>& saved) const {
  Tensor heads, probs;
  Tensor attended = attend(qkv_out, heads, probs);
  saved = {std::move(heads), std::move(probs), x};
  return attended;
}

}  // namespace tspipe::cuda
