// The fused FP32 LM-head log-probability of sampled tokens: logp[n] = (H W^T)[n, tok[n]] - logsumexp_v (H W^T)[n, v]
// for hidden states H[n, d] and an LM head W[v, d] stored in any precision (float, Kokkos half_t, double), computed
// in FP32 in chunks of the vocabulary with an online logsumexp, so the n x v logits are never materialized (working
// memory n x chunk). The backward pass recomputes each chunk's logits from the saved logsumexp and accumulates
// dH = dZ W and dW = dZ^T H with dZ[n, v] = g[n] (delta(v, tok[n]) - softmax[n, v]). Chunk products go to
// KokkosBlas::gemm when Kokkos Kernels is available (the vendor BLAS), else to a named-functor kernel.
// lm_head_logprob_entropy also returns each row's full-distribution entropy from the same pass (one more running
// sum), and lm_head_logprob_entropy_backward takes an upstream gradient for it (an entropy bonus at the head).
#pragma once
#include <Kokkos_Core.hpp>
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include <tensorlogic/core/error.hpp>
#include <tensorlogic/exec/math.hpp>
#include <tensorlogic/exec/vendor_gemm.hpp>

namespace tensorlogic::rl {

struct lm_head_options {
  std::size_t chunk = 2048;  // vocabulary rows per chunk: working memory is n x chunk floats
};

namespace detail {

template <class Space>
using fview2 = Kokkos::View<float**, Kokkos::LayoutRight, Space>;
template <class Space>
using fview1 = Kokkos::View<float*, Kokkos::LayoutRight, Space>;

// dst[r, c] = float(src[r0 + r, c]) for r < rows.
template <class Src, class Dst>
struct to_float_rows {
  Src src;
  Dst dst;
  long r0, cols;
  KOKKOS_INLINE_FUNCTION void operator()(const long flat) const {
    const long r = flat / cols, c = flat % cols;
    dst(r, c) = static_cast<float>(src(r0 + r, c));
  }
};

// C = alpha op(A) op(B) + beta C on float matrices; op = transpose when the flag is set.
template <class Space>
struct gemm_kernel {
  fview2<Space> a, b, c;
  bool ta, tb;
  float alpha, beta;
  long inner;
  KOKKOS_INLINE_FUNCTION void operator()(const long flat) const {
    const long cols = static_cast<long>(c.extent(1));
    const long i = flat / cols, j = flat % cols;
    float acc = 0.0f;
    for (long k = 0; k < inner; ++k) acc += (ta ? a(k, i) : a(i, k)) * (tb ? b(j, k) : b(k, j));
    c(i, j) = alpha * acc + (beta == 0.0f ? 0.0f : beta * c(i, j));
  }
};

template <class Space>
void gemm(bool ta, bool tb, float alpha, const fview2<Space>& a, const fview2<Space>& b, float beta,
          const fview2<Space>& c) {
#if TENSORLOGIC_HAVE_KOKKOS_KERNELS
  if (tensorlogic::detail::vendor_gemm_flag()) {
    KokkosBlas::gemm(ta ? "T" : "N", tb ? "T" : "N", alpha, a, b, beta, c);
    return;
  }
#endif
  const long inner = static_cast<long>(ta ? a.extent(0) : a.extent(1));
  Kokkos::parallel_for("tensorlogic::lm_head gemm",
                       Kokkos::RangePolicy<typename Space::execution_space>(0, static_cast<long>(c.size())),
                       gemm_kernel<Space>{a, b, c, ta, tb, alpha, beta, inner});
}

// One row's chunk of logits z[0, rows) folded into the running maximum mx, the running sum l = sum exp(z - mx) and,
// with the entropy, t = sum exp(z - mx) z: the chunk's maximum first (exec::row_max), so the sums are rescaled once
// per chunk rather than at every new maximum and the exponentials are independent of each other, summed in 16 lanes
// (the kernels' fast_exp: a loop the host's cloned builds vectorize, where a running maximum kept the loop scalar,
// one libm expf call per logit). A NaN logit makes the sums NaN; -Inf logits add 0.
template <bool Entropy>
KOKKOS_FORCEINLINE_FUNCTION void fold_lse_row(const float* z, const long rows, float& mx, float& l, float& t) {
  const float chunk_max = exec::row_max(z, rows);
  const float next = chunk_max > mx ? chunk_max : mx;
  const float scale = exec::fast_exp(mx - next);
  float ls[16], ts[16];
  for (int u = 0; u < 16; ++u) ls[u] = ts[u] = 0.0f;
  long j = 0;
  for (; j + 16 <= rows; j += 16)
    for (int u = 0; u < 16; ++u) {
      const float e = exec::fast_exp(z[j + u] - next);
      ls[u] += e;
      if constexpr (Entropy) ts[u] += e * z[j + u];
    }
  for (; j < rows; ++j) {
    const float e = exec::fast_exp(z[j] - next);
    ls[0] += e;
    if constexpr (Entropy) ts[0] += e * z[j];
  }
  for (int w = 8; w > 0; w /= 2)
    for (int u = 0; u < w; ++u) {
      ls[u] += ls[u + w];
      ts[u] += ts[u + w];
    }
  l = l * scale + ls[0];
  if constexpr (Entropy) t = t * scale + ts[0];
  mx = next;
}
#if defined(TENSORLOGIC_EXP_CLONES)
// The host's rows, compiled per instruction set (exec/math.hpp TENSORLOGIC_HOST_CLONES).
TENSORLOGIC_HOST_CLONES inline void fold_lse_row_host(const float* z, const long rows, float& mx, float& l, float& t,
                                                      const bool entropy) {
  if (entropy)
    fold_lse_row<true>(z, rows, mx, l, t);
  else
    fold_lse_row<false>(z, rows, mx, l, t);
}
#endif

// Online logsumexp over one chunk of logits, and the sampled token's logit when it falls in the chunk. With the
// entropy, also the running sum t = sum_v exp(z_v - max) z_v (rescaled with the sum when the maximum moves), so that
// E_p[z] = t / l and the entropy is lse - E_p[z].
template <class Space, class Tokens>
struct chunk_lse {
  fview2<Space> z;  // [n, rows]
  Tokens tok;
  fview1<Space> m, l, picked, t;
  long v0;
  bool with_entropy = false;
  KOKKOS_INLINE_FUNCTION void operator()(const long n) const {
    const long rows = static_cast<long>(z.extent(1));
    float mx = m(n), sum = l(n), tz = with_entropy ? t(n) : 0.0f;
    const float* row = &z(n, 0);
#if defined(TENSORLOGIC_EXP_CLONES)
    fold_lse_row_host(row, rows, mx, sum, tz, with_entropy);
#else
    if (with_entropy)
      fold_lse_row<true>(row, rows, mx, sum, tz);
    else
      fold_lse_row<false>(row, rows, mx, sum, tz);
#endif
    const long k = static_cast<long>(tok(n)) - v0;
    if (k >= 0 && k < rows) picked(n) = row[k];
    m(n) = mx;
    l(n) = sum;
    if (with_entropy) t(n) = tz;
  }
};

// One row's dz[v] = g (delta(v, tok) - p) [- ge p (z - c)] with p = exp(z - lse) and c = lse - H, its exponentials
// by the kernels' fast_exp in a loop the host's cloned builds vectorize (one libm expf call per logit before); the
// token's g is added afterwards.
template <bool Entropy>
KOKKOS_FORCEINLINE_FUNCTION void dlogits_row(float* z, const long rows, const float lse, const float g, const float ge,
                                             const float c) {
  for (long v = 0; v < rows; ++v) {
    const float zz = z[v], p = exec::fast_exp(zz - lse);
    float dz = g * -p;
    if constexpr (Entropy) dz -= ge * p * (zz - c);
    z[v] = dz;
  }
}
#if defined(TENSORLOGIC_EXP_CLONES)
TENSORLOGIC_HOST_CLONES inline void dlogits_row_host(float* z, const long rows, const float lse, const float g,
                                                     const float ge, const float c, const bool entropy) {
  if (entropy)
    dlogits_row<true>(z, rows, lse, g, ge, c);
  else
    dlogits_row<false>(z, rows, lse, g, ge, c);
}
#endif

// dZ[n, v] = g[n] (delta(v0 + v, tok[n]) - p) with p = exp(z[n, v] - lse[n]), in place; with the entropy's upstream
// gradient ge[n] also + ge[n] dH/dz = - ge[n] p (z[n, v] - (lse[n] - H[n])). Rows: a row per work item (host spaces,
// the row's loop vectorized), else a cell per work item (devices).
template <class Space, class Tokens, class Lse, class Grad, bool Rows>
struct chunk_dlogits {
  fview2<Space> z;
  Tokens tok;
  Lse lse;
  Grad g;
  long v0;
  Lse entropy;
  Grad ge;
  bool with_entropy = false;
  KOKKOS_INLINE_FUNCTION void operator()(const long item) const {
    const long rows = static_cast<long>(z.extent(1));
    const long n = Rows ? item : item / rows;
    const float ls = static_cast<float>(lse(n)), gn = static_cast<float>(g(n));
    const float gen = with_entropy ? static_cast<float>(ge(n)) : 0.0f;
    const float c = with_entropy ? ls - static_cast<float>(entropy(n)) : 0.0f;
    if constexpr (Rows) {
      float* row = &z(n, 0);
#if defined(TENSORLOGIC_EXP_CLONES)
      dlogits_row_host(row, rows, ls, gn, gen, c, with_entropy);
#else
      if (with_entropy)
        dlogits_row<true>(row, rows, ls, gn, gen, c);
      else
        dlogits_row<false>(row, rows, ls, gn, gen, c);
#endif
      const long k = static_cast<long>(tok(n)) - v0;
      if (k >= 0 && k < rows) row[k] += gn;
    } else {
      const long v = item % rows;
      const float zz = z(n, v);
      const float p = exec::kmath::exp(zz - ls);
      float dz = gn * ((static_cast<long>(tok(n)) == v0 + v ? 1.0f : 0.0f) - p);
      if (with_entropy) dz -= gen * p * (zz - c);
      z(n, v) = dz;
    }
  }
};

template <class Out, class Src>
struct store_rows {
  Out out;
  Src src;
  long r0, cols;
  KOKKOS_INLINE_FUNCTION void operator()(const long flat) const {
    const long r = flat / cols, c = flat % cols;
    out(r0 + r, c) = static_cast<typename Out::non_const_value_type>(src(r, c));
  }
};

template <class H, class W, class Tokens>
void check_lm_head(const H& h, const W& w, const Tokens& tok, std::size_t chunk) {
  if (h.extent(1) != w.extent(1))
    throw error("lm_head: H has width " + std::to_string(h.extent(1)) + " but W has " + std::to_string(w.extent(1)));
  if (tok.extent(0) != h.extent(0))
    throw error("lm_head: " + std::to_string(tok.extent(0)) + " tokens for " + std::to_string(h.extent(0)) +
                " hidden states");
  if (w.extent(0) == 0) throw error("lm_head: the vocabulary is empty");
  if (chunk == 0) throw error("lm_head: chunk must be at least 1");
  auto host = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace{}, tok);
  for (std::size_t n = 0; n < host.extent(0); ++n)
    if (host(n) < 0 || static_cast<std::size_t>(host(n)) >= w.extent(0))
      throw error("lm_head: token " + std::to_string(static_cast<long>(host(n))) + " at position " +
                  std::to_string(n) + " is outside the vocabulary of " + std::to_string(w.extent(0)));
}

}  // namespace detail

namespace detail {
template <class H, class W, class Tokens, class Out>
void lm_head_forward(const H& h, const W& w, const Tokens& tok, const Out& logp, const Out& lse, const Out* entropy,
                     const lm_head_options& options) {
  using space = typename Out::memory_space;
  using exec_space = typename Out::execution_space;
  detail::check_lm_head(h, w, tok, options.chunk);
  const long n = static_cast<long>(h.extent(0)), d = static_cast<long>(h.extent(1));
  const long v = static_cast<long>(w.extent(0));
  if (entropy && static_cast<long>(entropy->extent(0)) != n)
    throw error("lm_head: the entropy holds " + std::to_string(entropy->extent(0)) + " values for " +
                std::to_string(n) + " hidden states");
  const long chunk = std::min<long>(static_cast<long>(options.chunk), v);
  detail::fview2<space> hf("tensorlogic::lm_head H", n, d), wf("tensorlogic::lm_head W chunk", chunk, d),
      z("tensorlogic::lm_head logits chunk", n, chunk);
  Kokkos::parallel_for("tensorlogic::lm_head H to fp32", Kokkos::RangePolicy<exec_space>(0, n * d),
                       detail::to_float_rows<H, detail::fview2<space>>{h, hf, 0, d});
  detail::fview1<space> m("tensorlogic::lm_head max", n), l("tensorlogic::lm_head sum", n),
      picked("tensorlogic::lm_head picked", n), t("tensorlogic::lm_head weighted sum", entropy ? n : 0);
  Kokkos::deep_copy(m, -3.0e38f);
  for (long v0 = 0; v0 < v; v0 += chunk) {
    const long rows = std::min(chunk, v - v0);
    const detail::fview2<space> wcv(wf.data(), rows, d);
    Kokkos::parallel_for("tensorlogic::lm_head W to fp32", Kokkos::RangePolicy<exec_space>(0, rows * d),
                         detail::to_float_rows<W, detail::fview2<space>>{w, wcv, v0, d});
    const detail::fview2<space> zv(z.data(), n, rows);
    detail::gemm<space>(false, true, 1.0f, hf, wcv, 0.0f, zv);
    Kokkos::parallel_for("tensorlogic::lm_head logsumexp", Kokkos::RangePolicy<exec_space>(0, n),
                         detail::chunk_lse<space, Tokens>{zv, tok, m, l, picked, t, v0, entropy != nullptr});
  }
  auto mh = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace{}, m);
  auto lh = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace{}, l);
  auto ph = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace{}, picked);
  auto th = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace{}, t);
  auto out = Kokkos::create_mirror_view(logp);
  auto lse_h = Kokkos::create_mirror_view(lse);
  for (long k = 0; k < n; ++k) {
    lse_h(k) = mh(k) + std::log(lh(k));
    out(k) = ph(k) - lse_h(k);
  }
  Kokkos::deep_copy(logp, out);
  Kokkos::deep_copy(lse, lse_h);
  if (entropy) {
    auto ent = Kokkos::create_mirror_view(*entropy);
    for (long k = 0; k < n; ++k) ent(k) = lse_h(k) - th(k) / lh(k);
    Kokkos::deep_copy(*entropy, ent);
  }
}
}  // namespace detail

// logp[n] and lse[n] (FP32) for H [n, d], W [v, d], tokens [n] (integers).
template <class H, class W, class Tokens, class Out>
void lm_head_logprob(const H& h, const W& w, const Tokens& tok, const Out& logp, const Out& lse,
                     const lm_head_options& options = {}) {
  detail::lm_head_forward(h, w, tok, logp, lse, static_cast<const Out*>(nullptr), options);
}

// The same pass also gives each row's full-distribution entropy, H[n] = lse[n] - sum_v softmax[n, v] z[n, v] (the
// entropy bonus of an RL objective at the head), from one more running sum per row: still never n x v logits.
template <class H, class W, class Tokens, class Out>
void lm_head_logprob_entropy(const H& h, const W& w, const Tokens& tok, const Out& logp, const Out& lse,
                             const Out& entropy, const lm_head_options& options = {}) {
  detail::lm_head_forward(h, w, tok, logp, lse, &entropy, options);
}

namespace detail {
template <class H, class W, class Tokens, class Vec, class DH, class DW>
void lm_head_backward(const H& h, const W& w, const Tokens& tok, const Vec& lse, const Vec& grad, const Vec* entropy,
                      const Vec* grad_entropy, const DH& dh, const DW& dw, const lm_head_options& options) {
  using space = typename DH::memory_space;
  using exec_space = typename DH::execution_space;
  detail::check_lm_head(h, w, tok, options.chunk);
  const long n = static_cast<long>(h.extent(0)), d = static_cast<long>(h.extent(1));
  const long v = static_cast<long>(w.extent(0));
  if (static_cast<long>(dh.extent(0)) != n || static_cast<long>(dh.extent(1)) != d ||
      static_cast<long>(dw.extent(0)) != v || static_cast<long>(dw.extent(1)) != d)
    throw error("lm_head backward: dH must be " + std::to_string(n) + "x" + std::to_string(d) + " and dW " +
                std::to_string(v) + "x" + std::to_string(d));
  if (static_cast<long>(lse.extent(0)) != n || static_cast<long>(grad.extent(0)) != n ||
      (entropy && (static_cast<long>(entropy->extent(0)) != n || static_cast<long>(grad_entropy->extent(0)) != n)))
    throw error("lm_head backward: lse, the gradients and the entropy must hold one value per hidden state (" +
                std::to_string(n) + ")");
  const long chunk = std::min<long>(static_cast<long>(options.chunk), v);
  detail::fview2<space> hf("tensorlogic::lm_head H", n, d), wf("tensorlogic::lm_head W chunk", chunk, d),
      z("tensorlogic::lm_head logits chunk", n, chunk), dhf("tensorlogic::lm_head dH", n, d),
      dwf("tensorlogic::lm_head dW chunk", chunk, d);
  Kokkos::parallel_for("tensorlogic::lm_head H to fp32", Kokkos::RangePolicy<exec_space>(0, n * d),
                       detail::to_float_rows<H, detail::fview2<space>>{h, hf, 0, d});
  for (long v0 = 0; v0 < v; v0 += chunk) {
    const long rows = std::min(chunk, v - v0);
    const detail::fview2<space> wcv(wf.data(), rows, d), zv(z.data(), n, rows), dwv(dwf.data(), rows, d);
    Kokkos::parallel_for("tensorlogic::lm_head W to fp32", Kokkos::RangePolicy<exec_space>(0, rows * d),
                         detail::to_float_rows<W, detail::fview2<space>>{w, wcv, v0, d});
    detail::gemm<space>(false, true, 1.0f, hf, wcv, 0.0f, zv);
    constexpr bool by_rows = Kokkos::SpaceAccessibility<Kokkos::HostSpace, space>::accessible;
    Kokkos::parallel_for("tensorlogic::lm_head dlogits", Kokkos::RangePolicy<exec_space>(0, by_rows ? n : n * rows),
                         detail::chunk_dlogits<space, Tokens, Vec, Vec, by_rows>{zv, tok, lse, grad, v0,
                                                                                entropy ? *entropy : lse,
                                                                                grad_entropy ? *grad_entropy : grad,
                                                                                entropy != nullptr});
    detail::gemm<space>(false, false, 1.0f, zv, wcv, v0 == 0 ? 0.0f : 1.0f, dhf);  // dH += dZ W
    detail::gemm<space>(true, false, 1.0f, zv, hf, 0.0f, dwv);                      // dW[chunk] = dZ^T H
    Kokkos::parallel_for("tensorlogic::lm_head store dW", Kokkos::RangePolicy<exec_space>(0, rows * d),
                         detail::store_rows<DW, detail::fview2<space>>{dw, dwv, v0, d});
  }
  Kokkos::parallel_for("tensorlogic::lm_head store dH", Kokkos::RangePolicy<exec_space>(0, n * d),
                       detail::store_rows<DH, detail::fview2<space>>{dh, dhf, 0, d});
}
}  // namespace detail

// dH [n, d] and dW [v, d] (overwritten) for the upstream gradient g[n] = dLoss/dlogp[n], from the forward lse.
template <class H, class W, class Tokens, class Vec, class DH, class DW>
void lm_head_logprob_backward(const H& h, const W& w, const Tokens& tok, const Vec& lse, const Vec& grad,
                              const DH& dh, const DW& dw, const lm_head_options& options = {}) {
  detail::lm_head_backward(h, w, tok, lse, grad, static_cast<const Vec*>(nullptr), static_cast<const Vec*>(nullptr),
                           dh, dw, options);
}

// dH and dW for upstream gradients of both outputs of lm_head_logprob_entropy: g[n] = dLoss/dlogp[n] and
// ge[n] = dLoss/dentropy[n] (an entropy bonus's -coefficient times its aggregation weight); dZ gains
// -ge[n] p (z - E_p[z]) with E_p[z] = lse[n] - entropy[n].
template <class H, class W, class Tokens, class Vec, class DH, class DW>
void lm_head_logprob_entropy_backward(const H& h, const W& w, const Tokens& tok, const Vec& lse, const Vec& entropy,
                                      const Vec& grad, const Vec& grad_entropy, const DH& dh, const DW& dw,
                                      const lm_head_options& options = {}) {
  detail::lm_head_backward(h, w, tok, lse, grad, &entropy, &grad_entropy, dh, dw, options);
}

}  // namespace tensorlogic::rl
