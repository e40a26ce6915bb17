// Fused attention: O(h,p,e) = sum_q softmax_q(c Q(h,p,d) K(h,q,d) + mask) V(h,q,e) in one pass over the keys with an
// online softmax (running max m, running sum l, output rescaled by exp(m_old - m_new) when the max grows), never
// materializing the score matrix: O(Sq * d) working memory instead of O(Sq * Sk). Masks: none, causal, and the
// block-sparse sink + window of StreamingLLM (allow(i, j) = j <= p(i) && (j < sink || p(i) - j < window), with
// p(i) = i + Sk - Sq); masked keys are skipped, not visited, so sink + window attention costs O(Sq (sink + window) d).
// One named functor per (head, query row), usable on every Kokkos backend. On the host, with a vendor BLAS, contiguous
// float or double views take a tiled path instead (tiled_attention): 128 query rows at a time, keys in blocks of 512
// (64 and 256 under a sink + window mask), each block's scores one GEMM into a scratch tile, the online softmax over
// the tile's rows, then the tile times the block's values one GEMM accumulating into the output rows — the score
// matrix still never exists whole.
#pragma once
#include <Kokkos_Core.hpp>
#include <cmath>
#include <cstddef>
#include <string>

#include <tensorlogic/core/error.hpp>
#include <tensorlogic/exec/math.hpp>
#include <tensorlogic/exec/vendor_gemm.hpp>
#include <type_traits>
#include <vector>

namespace tensorlogic {

enum class attention_mask : int { none, causal, sink_window };

struct attention_options {
  double scale = 0.0;  // c; 0 means 1 / sqrt(d)
  attention_mask mask = attention_mask::none;
  long sink = 0;       // sink_window: the first `sink` keys are always visible (up to p(i))
  long window = 0;     // sink_window: the `window` most recent keys up to p(i)
};

namespace exec {

// The keys row i may attend to: [0, sink_end) and [window_begin, end).
struct key_ranges {
  long sink_end, window_begin, end;
};

KOKKOS_INLINE_FUNCTION key_ranges allowed_keys(int mask, long i, long sq, long sk, long sink, long window) {
  const long pos = i + sk - sq;  // the query's position among the keys
  if (mask == static_cast<int>(attention_mask::none)) return {0, 0, sk};
  const long end = pos + 1 < sk ? pos + 1 : sk;
  if (mask == static_cast<int>(attention_mask::causal)) return {0, 0, end};
  long sink_end = sink < end ? sink : end;
  long begin = pos - window + 1;
  if (begin < sink_end) begin = sink_end;
  return {sink_end, begin, end};
}

// The other direction, for the backward pass: the queries that see key j are [begin, end).
struct query_range {
  long begin, end;
};

KOKKOS_INLINE_FUNCTION query_range allowed_queries(int mask, long j, long sq, long sk, long sink, long window) {
  const long shift = sk - sq;  // query i sits at key position i + shift
  if (mask == static_cast<int>(attention_mask::none)) return {0, sq};
  long begin = j - shift;
  if (begin < 0) begin = 0;
  if (mask == static_cast<int>(attention_mask::causal) || j < sink) return {begin, begin < sq ? sq : begin};
  long end = j + window - shift;  // position - j < window
  if (end > sq) end = sq;
  return {begin, end > begin ? end : begin};
}

// With a rank-2 view lse [heads, queries] of positive extent, each row's log-sum-exp of its visible scores is written
// too (the backward pass's softmax statistics).
template <class ViewQ, class ViewK, class ViewV, class ViewO,
          class ViewL = Kokkos::View<double**, Kokkos::LayoutRight, typename ViewO::memory_space>>
struct online_attention {
  ViewQ q;
  ViewK k;
  ViewV v;
  ViewO o;
  double scale;
  int mask;
  long sink, window;
  ViewL lse{};

  using value_type = typename ViewO::non_const_value_type;

  KOKKOS_INLINE_FUNCTION void operator()(const long flat) const {
    const long sq = static_cast<long>(q.extent(1)), sk = static_cast<long>(k.extent(1));
    const long h = flat / sq, i = flat % sq;
    const long d = static_cast<long>(q.extent(2)), e = static_cast<long>(v.extent(2));
    const key_ranges r = allowed_keys(mask, i, sq, sk, sink, window);
    double m = -1e308, l = 0.0;
    for (long c = 0; c < e; ++c) o(h, i, c) = value_type(0);
    auto visit = [&](long j) {
      double s = 0.0;
      for (long c = 0; c < d; ++c) s += static_cast<double>(q(h, i, c)) * static_cast<double>(k(h, j, c));
      s *= scale;
      if (s > m) {
        const double alpha = kmath::exp(m - s);
        for (long c = 0; c < e; ++c) o(h, i, c) = static_cast<value_type>(o(h, i, c) * alpha);
        l *= alpha;
        m = s;
      }
      const double w = kmath::exp(s - m);
      l += w;
      for (long c = 0; c < e; ++c) o(h, i, c) = static_cast<value_type>(o(h, i, c) + w * v(h, j, c));
    };
    for (long j = 0; j < r.sink_end; ++j) visit(j);
    for (long j = r.window_begin; j < r.end; ++j) visit(j);
    const double inv = l > 0.0 ? 1.0 / l : 0.0;
    for (long c = 0; c < e; ++c) o(h, i, c) = static_cast<value_type>(o(h, i, c) * inv);
    if (lse.extent(0) > 0) lse(h, i) = static_cast<typename ViewL::non_const_value_type>(m + kmath::log(l));
  }
};

// Where the tiled path finds each head's rows when Q, K, V and O are not contiguous [heads, length, dim] buffers (the
// fused equations of a program: Q(n, p, head, d) has its rows H d apart and its heads d apart). A head is a
// coordinate of up to six batch dimensions (row-major over ext); tensor x (0 Q, 1 K, 2 V, 3 O) steps stride[x][k]
// along batch dimension k and ld[x] from one position to the next; the last subscript is contiguous.
struct attention_layout {
  static constexpr int max_dims = 6;
  int dims = 0;  // 0: contiguous [heads, length, dim]
  long ext[max_dims]{};
  long stride[4][max_dims]{};
  long ld[4]{};

  // The offset of head h in tensor x (of sq or sk rows of width d or e), and x's row stride.
  long head_offset(int x, long h, long sq, long sk, long d, long e) const {
    if (dims == 0) {
      const long len = x == 0 || x == 3 ? sq : sk, width = x <= 1 ? d : e;
      return h * len * width;
    }
    long off = 0;
    for (int k = dims - 1; k >= 0; --k) {
      off += (h % ext[k]) * stride[x][k];
      h /= ext[k];
    }
    return off;
  }
  long row_stride(int x, long d, long e) const { return dims == 0 ? (x <= 1 ? d : e) : ld[x]; }
};

#if TENSORLOGIC_HAVE_KOKKOS_KERNELS && defined(KOKKOSKERNELS_ENABLE_TPL_BLAS)
// The largest score of a tile row t[0..n) (keys j0 .. j0 + n), after setting the keys the row may not see (outside
// [0, sink_end) and [window_begin, end)) to -Inf when the block holds any. In one 64-byte vector of lanes: a single
// running maximum is a chain of dependent comparisons (a scalar loop of 4-cycle maxss), which took a third of the
// unmasked fused kernel's time at S = 4096. A NaN score is passed over, as by the one-lane loop.
template <class T>
[[gnu::always_inline]] inline void mask_row(T* t, const long n, const long j0, const long sink_end,
                                            const long window_begin, const long end) {
  const bool all_visible = j0 + n <= sink_end || (window_begin <= j0 && j0 + n <= end);
  if (!all_visible)
    for (long j = 0; j < n; ++j) {
      const long key = j0 + j;
      const bool allowed = key < sink_end || (key >= window_begin && key < end);
      t[j] = allowed ? t[j] : T(-INFINITY);
    }
}
template <class T>
[[gnu::always_inline]] inline T masked_row_max_impl(T* t, const long n, const long j0, const long sink_end,
                                                    const long window_begin, const long end) {
  mask_row(t, n, j0, sink_end, window_begin, end);
  return row_max(t, n);
}
TENSORLOGIC_HOST_CLONES inline float masked_row_max(float* t, const long n, const long j0, const long sink_end,
                                                    const long window_begin, const long end) {
  return masked_row_max_impl(t, n, j0, sink_end, window_begin, end);
}
TENSORLOGIC_HOST_CLONES inline double masked_row_max(double* t, const long n, const long j0, const long sink_end,
                                                     const long window_begin, const long end) {
  return masked_row_max_impl(t, n, j0, sink_end, window_begin, end);
}

// The host's tiled path; one work item per (head, block of query rows). Host only (it calls the host BLAS).
template <class T>
struct tiled_attention {
  static constexpr long max_rows = 128;
  const T* q;
  const T* k;
  const T* v;
  T* o;
  long sq, sk, d, e;
  T scale;
  int mask;
  long sink, window;
  attention_layout layout{};
  T* lse = nullptr;  // when set, each row's log-sum-exp of its visible scores, [heads, sq] (heads numbered as h)

  // The tile: 128 query rows by 512 keys; for a sink + window mask 64 by 256, since a larger block of keys would hold
  // mostly masked ones (every row of a 128-row block sees at most window + sink keys, yet its block of keys is
  // computed whole). Larger tiles make the two GEMMs per tile larger and cut the passes over K and V: the unmasked
  // kernel ran 5-12% faster at S = 1024 and 4096 with 128 x 512 than with 64 x 256, while sink 4 + window 256 ran 40%
  // slower at S = 4096.
  long rows_per_tile() const { return mask == static_cast<int>(attention_mask::sink_window) ? 64 : max_rows; }
  long keys_per_tile() const { return mask == static_cast<int>(attention_mask::sink_window) ? 256 : 512; }
  long blocks() const { return (sq + rows_per_tile() - 1) / rows_per_tile(); }

  long head_offset(int x, long h) const { return layout.head_offset(x, h, sq, sk, d, e); }
  long row_stride(int x) const { return layout.row_stride(x, d, e); }

  void operator()(const long item) const {
    const long rows = rows_per_tile(), keys = keys_per_tile();
    const long h = item / blocks(), i0 = (item % blocks()) * rows;
    const long nb = sq - i0 < rows ? sq - i0 : rows;
    const long ldq = row_stride(0), ldk = row_stride(1), ldv = row_stride(2), ldo = row_stride(3);
    const T* qh = q + head_offset(0, h) + i0 * ldq;
    const T* kh = k + head_offset(1, h);
    const T* vh = v + head_offset(2, h);
    T* oh = o + head_offset(3, h) + i0 * ldo;
    std::vector<T> tile(static_cast<std::size_t>(rows * keys));
    T m[max_rows], l[max_rows];
    key_ranges range[max_rows];
    long first = sk, last = 0;
    for (long r = 0; r < nb; ++r) {
      m[r] = -INFINITY;
      l[r] = T(0);
      range[r] = allowed_keys(mask, i0 + r, sq, sk, sink, window);
      if (range[r].sink_end > 0) first = 0;
      if (range[r].window_begin < range[r].end && range[r].window_begin < first) first = range[r].window_begin;
      if (range[r].end > last) last = range[r].end;
    }
    for (long r = 0; r < nb; ++r)
      for (long c = 0; c < e; ++c) oh[r * ldo + c] = T(0);
    for (long j0 = first - first % keys; j0 < last; j0 += keys) {
      const long nk = last - j0 < keys ? last - j0 : keys;
      bool any = false;
      for (long r = 0; r < nb && !any; ++r)
        any = j0 < range[r].sink_end || (range[r].window_begin < j0 + nk && j0 < range[r].end);
      if (!any) continue;
      // tile(r, j) = scale Q(i0 + r, :) . K(j0 + j, :): row-major tile = Q K^T is column-major tile^T = K Q^T
      KokkosBlas::Impl::HostBlas<T>::gemm('T', 'N', static_cast<int>(nk), static_cast<int>(nb), static_cast<int>(d),
                                          scale, kh + j0 * ldk, static_cast<int>(ldk), qh, static_cast<int>(ldq), T(0),
                                          tile.data(), static_cast<int>(nk));
      for (long r = 0; r < nb; ++r) {
        T* t = tile.data() + r * nk;
        const key_ranges& a = range[r];
        const T mb = masked_row_max(t, nk, j0, a.sink_end, a.window_begin, a.end);
        if (mb == -INFINITY) {
          for (long j = 0; j < nk; ++j) t[j] = T(0);
          continue;
        }
        const T mn = mb > m[r] ? mb : m[r];
        if (mn > m[r]) {
          const T alpha = kmath::exp(m[r] - mn);
          l[r] *= alpha;
          for (long c = 0; c < e; ++c) oh[r * ldo + c] *= alpha;
          m[r] = mn;
        }
        // the exponentials in a loop of their own (it vectorizes), then the sum in eight lanes
        exp_shifted(t, nk, mn);
        T lane[8] = {T(0), T(0), T(0), T(0), T(0), T(0), T(0), T(0)};
        long j = 0;
        for (; j + 8 <= nk; j += 8)
          for (int u = 0; u < 8; ++u) lane[u] += t[j + u];
        for (; j < nk; ++j) lane[0] += t[j];
        l[r] += ((lane[0] + lane[4]) + (lane[1] + lane[5])) + ((lane[2] + lane[6]) + (lane[3] + lane[7]));
      }
      // O rows += tile V(j0 .. j0 + nk, :): column-major O^T += V^T tile^T
      KokkosBlas::Impl::HostBlas<T>::gemm('N', 'N', static_cast<int>(e), static_cast<int>(nb), static_cast<int>(nk),
                                          T(1), vh + j0 * ldv, static_cast<int>(ldv), tile.data(), static_cast<int>(nk),
                                          T(1), oh, static_cast<int>(ldo));
    }
    for (long r = 0; r < nb; ++r) {
      const T inv = l[r] > T(0) ? T(1) / l[r] : T(0);
      for (long c = 0; c < e; ++c) oh[r * ldo + c] *= inv;
      if (lse != nullptr) lse[h * sq + i0 + r] = m[r] + kmath::log(l[r]);
    }
  }
};
#endif

}  // namespace exec

namespace detail {
// The checks shared by the forward and backward passes, before any kernel runs; returns the scale c.
template <class ViewQ, class ViewK, class ViewV, class ViewO>
double attention_checks(const ViewQ& q, const ViewK& k, const ViewV& v, const ViewO& o,
                        const attention_options& options) {
  static_assert(ViewQ::rank == 3 && ViewK::rank == 3 && ViewV::rank == 3 && ViewO::rank == 3,
                "tensorlogic: attention takes rank-3 views [heads, length, dim]");
  const long heads = static_cast<long>(q.extent(0)), sq = static_cast<long>(q.extent(1));
  const long sk = static_cast<long>(k.extent(1)), d = static_cast<long>(q.extent(2));
  auto text = [](auto x) { return std::to_string(static_cast<long>(x)); };
  if (static_cast<long>(k.extent(0)) != heads || static_cast<long>(v.extent(0)) != heads ||
      static_cast<long>(o.extent(0)) != heads)
    throw error("attention: heads differ: Q " + text(heads) + ", K " + text(k.extent(0)) + ", V " +
                text(v.extent(0)) + ", O " + text(o.extent(0)));
  if (static_cast<long>(k.extent(2)) != d)
    throw error("attention: Q has dimension " + text(d) + " but K has " + text(k.extent(2)));
  if (static_cast<long>(v.extent(1)) != sk)
    throw error("attention: K has " + text(sk) + " keys but V has " + text(v.extent(1)) + " rows");
  if (static_cast<long>(o.extent(1)) != sq || o.extent(2) != v.extent(2))
    throw error("attention: O is " + text(o.extent(1)) + "x" + text(o.extent(2)) + ", expected " + text(sq) + "x" +
                text(v.extent(2)));
  if (sk == 0) throw error("attention: no keys");
  if (options.mask == attention_mask::sink_window && (options.sink < 0 || options.window < 0 ||
                                                      options.sink + options.window == 0))
    throw error("attention: sink_window needs sink >= 0, window >= 0 and sink + window > 0 (sink " +
                text(options.sink) + ", window " + text(options.window) + ")");
  if (options.mask != attention_mask::none && sq > sk)
    throw error("attention: query row 0 sees no key (" + text(sq) + " queries but only " + text(sk) +
                " keys under a causal mask)");
  return options.scale != 0.0 ? options.scale : 1.0 / std::sqrt(static_cast<double>(d));
}

// lse [heads, queries] for Q [heads, queries, d].
template <class ViewL, class ViewQ>
void check_lse(const ViewL& lse, const ViewQ& q) {
  static_assert(ViewL::rank == 2, "tensorlogic: attention's log-sum-exp is a rank-2 view [heads, queries]");
  if (lse.extent(0) != q.extent(0) || lse.extent(1) != q.extent(1))
    throw error("attention: lse is " + std::to_string(lse.extent(0)) + "x" + std::to_string(lse.extent(1)) +
                ", expected " + std::to_string(q.extent(0)) + "x" + std::to_string(q.extent(1)) +
                " (heads x queries)");
}

// Whether a view is one contiguous row-major buffer (LayoutRight strides, whatever its declared layout).
template <class View>
bool row_major_dense(const View& x) {
  if (!x.span_is_contiguous()) return false;
  std::size_t step = 1;
  for (int r = static_cast<int>(View::rank) - 1; r >= 0; --r) {
    if (x.extent(static_cast<std::size_t>(r)) > 1 && x.stride(static_cast<std::size_t>(r)) != step) return false;
    step *= x.extent(static_cast<std::size_t>(r));
  }
  return true;
}

// Whether the host's BLAS path can take these views: float or double throughout, host memory.
template <class T, class... Views>
inline constexpr bool host_blas_views =
    (std::is_same_v<T, float> || std::is_same_v<T, double>) &&
    (std::is_same_v<typename Views::non_const_value_type, T> && ...) &&
    (Kokkos::SpaceAccessibility<Kokkos::HostSpace, typename Views::memory_space>::accessible && ...);

template <class ViewQ, class ViewK, class ViewV, class ViewO, class ViewL>
void attention_forward(const ViewQ& q, const ViewK& k, const ViewV& v, const ViewO& o, const ViewL& lse,
                       const attention_options& options) {
  const double scale = attention_checks(q, k, v, o, options);
  const bool with_lse = lse.extent(0) > 0;
  if (with_lse) check_lse(lse, q);
  const long heads = static_cast<long>(q.extent(0)), sq = static_cast<long>(q.extent(1));
  using exec_space = typename ViewO::execution_space;
#if TENSORLOGIC_HAVE_KOKKOS_KERNELS && defined(KOKKOSKERNELS_ENABLE_TPL_BLAS)
  using T = typename ViewO::non_const_value_type;
  if constexpr (host_blas_views<T, ViewQ, ViewK, ViewV, ViewO, ViewL>) {
    const long sk = static_cast<long>(k.extent(1)), d = static_cast<long>(q.extent(2));
    const long e = static_cast<long>(v.extent(2));
    const bool dense = row_major_dense(q) && row_major_dense(k) && row_major_dense(v) && row_major_dense(o) &&
                       (!with_lse || row_major_dense(lse));
    if (vendor_gemm_flag() && dense && d > 0 && e > 0) {
      exec::tiled_attention<T> t{q.data(), k.data(), v.data(), o.data(), sq, sk, d, e,
                                 static_cast<T>(scale), static_cast<int>(options.mask), options.sink, options.window};
      if (with_lse) t.lse = lse.data();
      Kokkos::parallel_for("tensorlogic::attention tiles",
                           Kokkos::RangePolicy<Kokkos::DefaultHostExecutionSpace>(0, heads * t.blocks()), t);
      return;
    }
  }
#endif
  Kokkos::parallel_for("tensorlogic::attention", Kokkos::RangePolicy<exec_space>(0, heads * sq),
                       exec::online_attention<ViewQ, ViewK, ViewV, ViewO, ViewL>{
                           q, k, v, o, scale, static_cast<int>(options.mask), options.sink, options.window, lse});
}
}  // namespace detail

// O = attention(Q, K, V) for rank-3 views [heads, length, dim] in the same memory space. Extents are checked, and a
// query row with no visible key is an error, before the kernel launches.
template <class ViewQ, class ViewK, class ViewV, class ViewO>
void attention(const ViewQ& q, const ViewK& k, const ViewV& v, const ViewO& o, const attention_options& options = {}) {
  using none = Kokkos::View<typename ViewO::non_const_value_type**, Kokkos::LayoutRight, typename ViewO::memory_space>;
  detail::attention_forward(q, k, v, o, none(), options);
}

// The same, also writing each query row's log-sum-exp of its visible scores, lse(h, i) = log sum_j exp(s_ij) (a rank-2
// view [heads, queries]): the statistics tl::attention_backward reads.
template <class ViewQ, class ViewK, class ViewV, class ViewO, class ViewL>
  requires(Kokkos::is_view<ViewL>::value)
void attention(const ViewQ& q, const ViewK& k, const ViewV& v, const ViewO& o, const ViewL& lse,
               const attention_options& options = {}) {
  detail::check_lse(lse, q);
  detail::attention_forward(q, k, v, o, lse, options);
}

}  // namespace tensorlogic
