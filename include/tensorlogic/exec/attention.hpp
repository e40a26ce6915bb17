// Fused attention: O(h,p,e) = sum_q softmax_q(c Q(h,p,d) K(h,q,d) + mask) V(h,q,e) in one pass over the keys with an
// online softmax (running max m, running sum l, output rescaled by exp(m_old - m_new) when the max grows), never
// materializing the score matrix: O(Sq * d) working memory instead of O(Sq * Sk). Masks: none, causal, and the
// block-sparse sink + window of StreamingLLM (allow(i, j) = j <= p(i) && (j < sink || p(i) - j < window), with
// p(i) = i + Sk - Sq); masked keys are skipped, not visited, so sink + window attention costs O(Sq (sink + window) d).
// One named functor per (head, query row), usable on every Kokkos backend.
#pragma once
#include <Kokkos_Core.hpp>
#include <cmath>
#include <cstddef>
#include <string>

#include <tensorlogic/core/error.hpp>
#include <tensorlogic/exec/math.hpp>

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

template <class ViewQ, class ViewK, class ViewV, class ViewO>
struct online_attention {
  ViewQ q;
  ViewK k;
  ViewV v;
  ViewO o;
  double scale;
  int mask;
  long sink, window;

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
  }
};

}  // namespace exec

// O = attention(Q, K, V) for rank-3 views [heads, length, dim] in the same memory space. Extents are checked, and a
// query row with no visible key is an error, before the kernel launches.
template <class ViewQ, class ViewK, class ViewV, class ViewO>
void attention(const ViewQ& q, const ViewK& k, const ViewV& v, const ViewO& o, const attention_options& options = {}) {
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
  if (options.mask == attention_mask::sink_window && options.sink == 0 && options.window == 0)
    throw error("attention: empty mask");
  const double scale = options.scale != 0.0 ? options.scale : 1.0 / std::sqrt(static_cast<double>(d));
  using exec_space = typename ViewO::execution_space;
  Kokkos::parallel_for("tensorlogic::attention", Kokkos::RangePolicy<exec_space>(0, heads * sq),
                       exec::online_attention<ViewQ, ViewK, ViewV, ViewO>{q, k, v, o, scale,
                                                                          static_cast<int>(options.mask),
                                                                          options.sink, options.window});
}

}  // namespace tensorlogic
