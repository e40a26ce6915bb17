// The backward pass of fused attention: from O = softmax_j(c Q K^T + mask) V and the adjoint dO of O, the adjoints
// dQ, dK, dV, without the score matrix (O(S d) working memory instead of O(Sq Sk)). With the softmax statistics of
// the forward pass, lse(i) = log sum_j exp(s_ij) (tl::attention(q, k, v, o, lse, options) writes them, or the
// backward pass recomputes them), each probability is recomputed where it is needed, p_ij = exp(s_ij - lse(i)), and
//   D(i)   = sum_e dO(i, e) O(i, e)                  (= sum_j p_ij dp_ij: the softmax adjoint's row dot)
//   dp_ij  = sum_e dO(i, e) V(j, e),     ds_ij = p_ij (dp_ij - D(i))
//   dV(j)  = sum_i p_ij dO(i),  dQ(i) = c sum_j ds_ij K(j),  dK(j) = c sum_i ds_ij Q(i)
// over the visible pairs only (masked pairs have p = 0). Two ways, as in the forward pass:
//  - every Kokkos backend: named functors, one work item per (head, query row) for dQ (and lse, D) and one per
//    (head, key row) for dK and dV (walking only the queries that see the key), so no two items write one row;
//  - the host with a vendor BLAS, contiguous float or double views: one work item per head, keys in blocks of 256 and
//    queries in blocks of 128; per pair of blocks the scores (one GEMM), the probabilities in place, dV += P^T dO, dP =
//    dO V^T, dS in place, dQ += c dS K and dK += c dS^T Q (four more GEMMs).
#pragma once
#include <Kokkos_Core.hpp>
#include <cstddef>
#include <string>
#include <type_traits>
#include <vector>

#include <tensorlogic/core/error.hpp>
#include <tensorlogic/exec/attention.hpp>
#include <tensorlogic/exec/math.hpp>
#include <tensorlogic/exec/vendor_gemm.hpp>

namespace tensorlogic {
namespace exec {

// lse(h, i) over the visible keys, and D(h, i) = dO(h, i, :) . O(h, i, :); lse only when `compute_lse`.
template <class ViewQ, class ViewK, class ViewO, class ViewG, class ViewL, class ViewD>
struct attention_row_statistics {
  ViewQ q;
  ViewK k;
  ViewO o;
  ViewG dout;
  ViewL lse;
  ViewD dots;
  double scale;
  int mask;
  long sink, window;
  bool compute_lse;

  KOKKOS_INLINE_FUNCTION void operator()(const long flat) const {
    const long sq = static_cast<long>(q.extent(1)), sk = static_cast<long>(k.extent(1));
    const long h = flat / sq, i = flat % sq;
    const long d = static_cast<long>(q.extent(2)), e = static_cast<long>(o.extent(2));
    double dot = 0.0;
    for (long c = 0; c < e; ++c) dot += static_cast<double>(dout(h, i, c)) * static_cast<double>(o(h, i, c));
    dots(h, i) = dot;
    if (!compute_lse) return;
    const key_ranges r = allowed_keys(mask, i, sq, sk, sink, window);
    double m = -1e308, l = 0.0;
    auto visit = [&](long j) {
      double s = 0.0;
      for (long c = 0; c < d; ++c) s += static_cast<double>(q(h, i, c)) * static_cast<double>(k(h, j, c));
      s *= scale;
      if (s > m) {
        l *= kmath::exp(m - s);
        m = s;
      }
      l += kmath::exp(s - m);
    };
    for (long j = 0; j < r.sink_end; ++j) visit(j);
    for (long j = r.window_begin; j < r.end; ++j) visit(j);
    lse(h, i) = static_cast<typename ViewL::non_const_value_type>(m + kmath::log(l));
  }
};

// The pieces of one visible pair (i, j) of head h: p_ij and ds_ij.
template <class ViewQ, class ViewK, class ViewV, class ViewG, class ViewL, class ViewD>
struct attention_pair {
  ViewQ q;
  ViewK k;
  ViewV v;
  ViewG dout;
  ViewL lse;
  ViewD dots;
  double scale;

  // p_ij, and ds_ij in `ds`
  KOKKOS_INLINE_FUNCTION double operator()(const long h, const long i, const long j, double& ds) const {
    const long d = static_cast<long>(q.extent(2)), e = static_cast<long>(v.extent(2));
    double s = 0.0, dp = 0.0;
    for (long c = 0; c < d; ++c) s += static_cast<double>(q(h, i, c)) * static_cast<double>(k(h, j, c));
    for (long c = 0; c < e; ++c) dp += static_cast<double>(dout(h, i, c)) * static_cast<double>(v(h, j, c));
    const double p = kmath::exp(s * scale - static_cast<double>(lse(h, i)));
    ds = p * (dp - static_cast<double>(dots(h, i)));
    return p;
  }
};

// dQ(h, i) = c sum_j ds_ij K(h, j): one work item per (head, query row).
template <class Pair, class ViewDQ>
struct attention_backward_queries {
  Pair pair;
  ViewDQ dq;
  int mask;
  long sink, window;

  using value_type = typename ViewDQ::non_const_value_type;

  KOKKOS_INLINE_FUNCTION void operator()(const long flat) const {
    const long sq = static_cast<long>(pair.q.extent(1)), sk = static_cast<long>(pair.k.extent(1));
    const long h = flat / sq, i = flat % sq, d = static_cast<long>(pair.q.extent(2));
    const key_ranges r = allowed_keys(mask, i, sq, sk, sink, window);
    for (long c = 0; c < d; ++c) dq(h, i, c) = value_type(0);
    auto visit = [&](long j) {
      double ds = 0.0;
      pair(h, i, j, ds);
      const double w = ds * pair.scale;
      for (long c = 0; c < d; ++c) dq(h, i, c) = static_cast<value_type>(dq(h, i, c) + w * pair.k(h, j, c));
    };
    for (long j = 0; j < r.sink_end; ++j) visit(j);
    for (long j = r.window_begin; j < r.end; ++j) visit(j);
  }
};

// dK(h, j) = c sum_i ds_ij Q(h, i) and dV(h, j) = sum_i p_ij dO(h, i): one work item per (head, key row), over the
// queries that see key j.
template <class Pair, class ViewDK, class ViewDV>
struct attention_backward_keys {
  Pair pair;
  ViewDK dk;
  ViewDV dv;
  int mask;
  long sink, window;

  using key_type = typename ViewDK::non_const_value_type;
  using value_type = typename ViewDV::non_const_value_type;

  KOKKOS_INLINE_FUNCTION void operator()(const long flat) const {
    const long sq = static_cast<long>(pair.q.extent(1)), sk = static_cast<long>(pair.k.extent(1));
    const long h = flat / sk, j = flat % sk;
    const long d = static_cast<long>(pair.q.extent(2)), e = static_cast<long>(pair.v.extent(2));
    for (long c = 0; c < d; ++c) dk(h, j, c) = key_type(0);
    for (long c = 0; c < e; ++c) dv(h, j, c) = value_type(0);
    const query_range r = allowed_queries(mask, j, sq, sk, sink, window);
    for (long i = r.begin; i < r.end; ++i) {
      double ds = 0.0;
      const double p = pair(h, i, j, ds);
      const double w = ds * pair.scale;
      for (long c = 0; c < d; ++c) dk(h, j, c) = static_cast<key_type>(dk(h, j, c) + w * pair.q(h, i, c));
      for (long c = 0; c < e; ++c) dv(h, j, c) = static_cast<value_type>(dv(h, j, c) + p * pair.dout(h, i, c));
    }
  }
};

#if TENSORLOGIC_HAVE_KOKKOS_KERNELS && defined(KOKKOSKERNELS_ENABLE_TPL_BLAS)
// C = alpha op(A) op(B) + beta C for row-major matrices (C m x n, row stride ldc), through the column-major BLAS:
// row-major C = A B is column-major C^T = B^T A^T.
template <class T>
inline void row_major_gemm(bool trans_a, bool trans_b, long m, long n, long k, T alpha, const T* a, long lda,
                           const T* b, long ldb, T beta, T* c, long ldc) {
  KokkosBlas::Impl::HostBlas<T>::gemm(trans_b ? 'T' : 'N', trans_a ? 'T' : 'N', static_cast<int>(n),
                                      static_cast<int>(m), static_cast<int>(k), alpha, b, static_cast<int>(ldb), a,
                                      static_cast<int>(lda), beta, c, static_cast<int>(ldc));
}

// The host's tiled backward pass; one work item per head. The heads' rows are found through `layout` as in
// tiled_attention (dims 0: contiguous [heads, length, width] buffers); dQ, dK, dV and dO are laid out as Q, K, V and
// O; lse is [heads, sq]. Host only.
template <class T>
struct tiled_attention_backward {
  static constexpr long rows = 128, keys = 256;
  const T* q;
  const T* k;
  const T* v;
  const T* o;
  const T* lse;
  const T* dout;
  T* dq;
  T* dk;
  T* dv;
  long sq, sk, d, e;
  T scale;
  int mask;
  long sink, window;
  attention_layout layout{};

  void operator()(const long h) const {
    const long oq = layout.head_offset(0, h, sq, sk, d, e), ok = layout.head_offset(1, h, sq, sk, d, e);
    const long ov = layout.head_offset(2, h, sq, sk, d, e), oo = layout.head_offset(3, h, sq, sk, d, e);
    const long lq = layout.row_stride(0, d, e), lk = layout.row_stride(1, d, e);
    const long lv = layout.row_stride(2, d, e), lo = layout.row_stride(3, d, e);
    const T* qh = q + oq;
    const T* kh = k + ok;
    const T* vh = v + ov;
    const T* oh = o + oo;
    const T* gh = dout + oo;
    const T* lh = lse + h * sq;
    T* dqh = dq + oq;
    T* dkh = dk + ok;
    T* dvh = dv + ov;
    std::vector<T> prob(static_cast<std::size_t>(rows * keys)), grad(static_cast<std::size_t>(rows * keys));
    std::vector<T> dots(static_cast<std::size_t>(sq));
    std::vector<key_ranges> range(static_cast<std::size_t>(sq));
    for (long i = 0; i < sq; ++i) {
      T dot = T(0);
      for (long c = 0; c < e; ++c) dot += gh[i * lo + c] * oh[i * lo + c];
      dots[static_cast<std::size_t>(i)] = dot;
      range[static_cast<std::size_t>(i)] = allowed_keys(mask, i, sq, sk, sink, window);
      for (long c = 0; c < d; ++c) dqh[i * lq + c] = T(0);
    }
    for (long j = 0; j < sk; ++j) {
      for (long c = 0; c < d; ++c) dkh[j * lk + c] = T(0);
      for (long c = 0; c < e; ++c) dvh[j * lv + c] = T(0);
    }
    for (long j0 = 0; j0 < sk; j0 += keys) {
      const long nk = sk - j0 < keys ? sk - j0 : keys;
      // the queries that see any key of the block: from the first that sees key j0 to the last that sees j0 + nk - 1
      const query_range first = allowed_queries(mask, j0, sq, sk, sink, window);
      const query_range last = allowed_queries(mask, j0 + nk - 1, sq, sk, sink, window);
      const long qbegin = first.begin < last.begin ? first.begin : last.begin;
      const long qend = first.end > last.end ? first.end : last.end;
      for (long i0 = qbegin; i0 < qend; i0 += rows) {
        const long nb = qend - i0 < rows ? qend - i0 : rows;
        bool any = false;
        for (long r = 0; r < nb && !any; ++r) {
          const key_ranges& a = range[static_cast<std::size_t>(i0 + r)];
          any = j0 < a.sink_end || (a.window_begin < j0 + nk && j0 < a.end);
        }
        if (!any) continue;
        // P = exp(c Q K^T - lse), the masked pairs 0
        row_major_gemm(false, true, nb, nk, d, scale, qh + i0 * lq, lq, kh + j0 * lk, lk, T(0), prob.data(), nk);
        for (long r = 0; r < nb; ++r) {
          const key_ranges& a = range[static_cast<std::size_t>(i0 + r)];
          T* t = prob.data() + r * nk;
          mask_row(t, nk, j0, a.sink_end, a.window_begin, a.end);
          exp_shifted(t, nk, lh[i0 + r]);
        }
        row_major_gemm(true, false, nk, e, nb, T(1), prob.data(), nk, gh + i0 * lo, lo, T(1), dvh + j0 * lv, lv);
        row_major_gemm(false, true, nb, nk, e, T(1), gh + i0 * lo, lo, vh + j0 * lv, lv, T(0), grad.data(), nk);
        for (long r = 0; r < nb; ++r) {
          const T* p = prob.data() + r * nk;
          T* g = grad.data() + r * nk;
          const T dot = dots[static_cast<std::size_t>(i0 + r)];
          for (long j = 0; j < nk; ++j) g[j] = p[j] * (g[j] - dot);
        }
        row_major_gemm(false, false, nb, d, nk, scale, grad.data(), nk, kh + j0 * lk, lk, T(1), dqh + i0 * lq, lq);
        row_major_gemm(true, false, nk, d, nb, scale, grad.data(), nk, qh + i0 * lq, lq, T(1), dkh + j0 * lk, lk);
      }
    }
  }
};
#endif

}  // namespace exec

namespace detail {
template <class ViewQ, class ViewK, class ViewV, class ViewO, class ViewL, class ViewG, class ViewDQ, class ViewDK,
          class ViewDV>
void attention_backward_pass(const ViewQ& q, const ViewK& k, const ViewV& v, const ViewO& o, const ViewL& given_lse,
                             const ViewG& dout, const ViewDQ& dq, const ViewDK& dk, const ViewDV& dv,
                             const attention_options& options) {
  const double scale = attention_checks(q, k, v, o, options);
  static_assert(ViewG::rank == 3 && ViewDQ::rank == 3 && ViewDK::rank == 3 && ViewDV::rank == 3,
                "tensorlogic: attention_backward takes rank-3 views [heads, length, dim]");
  const bool have_lse = given_lse.extent(0) > 0;
  if (have_lse) check_lse(given_lse, q);
  auto same_shape = [](const char* what, const auto& x, const char* like, const auto& y) {
    if (x.extent(0) != y.extent(0) || x.extent(1) != y.extent(1) || x.extent(2) != y.extent(2))
      throw error("attention_backward: " + std::string(what) + " is " + std::to_string(x.extent(0)) + "x" +
                  std::to_string(x.extent(1)) + "x" + std::to_string(x.extent(2)) + ", expected the shape of " +
                  like + " " + std::to_string(y.extent(0)) + "x" + std::to_string(y.extent(1)) + "x" +
                  std::to_string(y.extent(2)));
  };
  same_shape("dO", dout, "O", o);
  same_shape("dQ", dq, "Q", q);
  same_shape("dK", dk, "K", k);
  same_shape("dV", dv, "V", v);
  const long heads = static_cast<long>(q.extent(0)), sq = static_cast<long>(q.extent(1));
  const long sk = static_cast<long>(k.extent(1));
  // d and e go only to the vendor-GEMM path, which some instantiations compile out
  [[maybe_unused]] const long d = static_cast<long>(q.extent(2)), e = static_cast<long>(v.extent(2));
  const int mask = static_cast<int>(options.mask);
  using memory_space = typename ViewO::memory_space;
  using exec_space = typename ViewO::execution_space;
#if TENSORLOGIC_HAVE_KOKKOS_KERNELS && defined(KOKKOSKERNELS_ENABLE_TPL_BLAS)
  using T = typename ViewO::non_const_value_type;
  if constexpr (host_blas_views<T, ViewQ, ViewK, ViewV, ViewO, ViewG, ViewDQ, ViewDK, ViewDV>) {
    const bool dense = row_major_dense(q) && row_major_dense(k) && row_major_dense(v) && row_major_dense(o) &&
                       row_major_dense(dout) && row_major_dense(dq) && row_major_dense(dk) && row_major_dense(dv);
    if (vendor_gemm_flag() && dense && d > 0 && e > 0) {
      const T* lse = nullptr;
      if constexpr (host_blas_views<T, ViewL>) {
        if (have_lse && row_major_dense(given_lse)) lse = given_lse.data();
      }
      Kokkos::View<T**, Kokkos::LayoutRight, Kokkos::HostSpace> own;
      if (lse == nullptr && heads > 0) {
        own = decltype(own)(Kokkos::view_alloc(Kokkos::WithoutInitializing, "tensorlogic::attention lse"),
                            static_cast<std::size_t>(heads), static_cast<std::size_t>(sq));
        if (have_lse) {
          Kokkos::deep_copy(own, given_lse);
        } else {  // the forward pass again for its statistics (its output into a scratch buffer)
          Kokkos::View<T***, Kokkos::LayoutRight, Kokkos::HostSpace> scratch(
              Kokkos::view_alloc(Kokkos::WithoutInitializing, "tensorlogic::attention output"), o.extent(0),
              o.extent(1), o.extent(2));
          attention_forward(q, k, v, scratch, own, options);
        }
        lse = own.data();
      }
      exec::tiled_attention_backward<T> t{q.data(), k.data(), v.data(), o.data(), lse, dout.data(),
                                          dq.data(), dk.data(), dv.data(), sq, sk, d, e, static_cast<T>(scale),
                                          mask, options.sink, options.window};
      Kokkos::parallel_for("tensorlogic::attention_backward tiles",
                           Kokkos::RangePolicy<Kokkos::DefaultHostExecutionSpace>(0, heads), t);
      return;
    }
  }
#endif
  using stat_view = Kokkos::View<double**, Kokkos::LayoutRight, memory_space>;
  stat_view dots(Kokkos::view_alloc(Kokkos::WithoutInitializing, "tensorlogic::attention row dots"),
                 static_cast<std::size_t>(heads), static_cast<std::size_t>(sq));
  // the row dots, and the statistics into `own` when none were given
  const stat_view own(Kokkos::view_alloc(Kokkos::WithoutInitializing, "tensorlogic::attention lse"),
                      have_lse ? 0 : static_cast<std::size_t>(heads), have_lse ? 0 : static_cast<std::size_t>(sq));
  Kokkos::parallel_for("tensorlogic::attention_backward rows", Kokkos::RangePolicy<exec_space>(0, heads * sq),
                       exec::attention_row_statistics<ViewQ, ViewK, ViewO, ViewG, stat_view, stat_view>{
                           q, k, o, dout, own, dots, scale, mask, options.sink, options.window, !have_lse});
  auto run = [&](const auto& lse) {
    using LV = std::remove_cvref_t<decltype(lse)>;
    using pair_t = exec::attention_pair<ViewQ, ViewK, ViewV, ViewG, LV, stat_view>;
    const pair_t pair{q, k, v, dout, lse, dots, scale};
    Kokkos::parallel_for("tensorlogic::attention_backward queries", Kokkos::RangePolicy<exec_space>(0, heads * sq),
                         exec::attention_backward_queries<pair_t, ViewDQ>{pair, dq, mask, options.sink,
                                                                          options.window});
    Kokkos::parallel_for("tensorlogic::attention_backward keys", Kokkos::RangePolicy<exec_space>(0, heads * sk),
                         exec::attention_backward_keys<pair_t, ViewDK, ViewDV>{pair, dk, dv, mask, options.sink,
                                                                               options.window});
  };
  if (have_lse)
    run(given_lse);
  else
    run(own);
}
}  // namespace detail

// dQ, dK, dV of O = attention(Q, K, V) given dO, with the forward pass's statistics lse [heads, queries] (written by
// tl::attention(q, k, v, o, lse, options) with the same options). Every extent is checked before any kernel runs.
template <class ViewQ, class ViewK, class ViewV, class ViewO, class ViewL, class ViewG, class ViewDQ, class ViewDK,
          class ViewDV>
  requires(Kokkos::is_view<ViewL>::value && ViewL::rank == 2)
void attention_backward(const ViewQ& q, const ViewK& k, const ViewV& v, const ViewO& o, const ViewL& lse,
                        const ViewG& dout, const ViewDQ& dq, const ViewDK& dk, const ViewDV& dv,
                        const attention_options& options = {}) {
  detail::check_lse(lse, q);
  detail::attention_backward_pass(q, k, v, o, lse, dout, dq, dk, dv, options);
}

// The same without the statistics: the backward pass recomputes them (one more pass over the scores).
template <class ViewQ, class ViewK, class ViewV, class ViewO, class ViewG, class ViewDQ, class ViewDK, class ViewDV>
  requires(Kokkos::is_view<ViewG>::value && ViewG::rank == 3)
void attention_backward(const ViewQ& q, const ViewK& k, const ViewV& v, const ViewO& o, const ViewG& dout,
                        const ViewDQ& dq, const ViewDK& dk, const ViewDV& dv, const attention_options& options = {}) {
  using none = Kokkos::View<double**, Kokkos::LayoutRight, typename ViewO::memory_space>;
  detail::attention_backward_pass(q, k, v, o, none(), dout, dq, dk, dv, options);
}

}  // namespace tensorlogic
