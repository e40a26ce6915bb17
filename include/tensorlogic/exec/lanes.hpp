// Stretches of the generic kernel (host): the cells of one work item that differ only in the left-hand side's last
// index P, evaluated together. Every read is bound once per stretch (and per point of a projection) — its offset and
// range check computed by the coordinate evaluator at the stretch's first cell — and the cells then read at that
// offset plus the lane times the read's stride along P (0 where the read does not mention P), so the per-cell cost is
// the arithmetic of the expression, in a loop over lanes that the compiler vectorizes, instead of the coordinate
// walk of every subscript of every read. The operations are the coordinate evaluator's, in the same order: the same
// elementwise functions, products with the same zero test, a projection's points in the same order; the values are
// equal except where the per-ISA compilation (TENSORLOGIC_HOST_CLONES) fuses a multiplication and an addition, as
// inside exp or in x * x + y with FMA, which can change the last bit (as in every cloned block loop).
#pragma once
#include <Kokkos_Core.hpp>
#include <type_traits>

#include <tensorlogic/exec/basics.hpp>
#include <tensorlogic/plan/descriptor.hpp>

namespace tensorlogic::exec {

template <class R, class Ctx, class F>
struct evaluator;

// The most cells a stretch holds (a stretch covers at most 256 cells of the last subscript; eval.hpp).
inline constexpr long max_lanes = 256;
// About as many cells per work item on lanes: an item holds consecutive stretches (rows of 16 cells: 64 of them), so
// that the divisions finding an item's first row are paid once per item, not once per stretch.
inline constexpr long lane_item_cells = 1024;

template <int P, class D>
inline constexpr bool subscript_mentions = false;
template <int P, int Q>
inline constexpr bool subscript_mentions<P, plan::dim_var<Q>> = P == Q;
template <int P, int... Q>
inline constexpr bool subscript_mentions<P, plan::dim_affine<Q...>> = ((P == Q) || ...);

// Where a read's subscripts mention P: -2 nowhere, k when subscript k is P itself and no other subscript mentions it,
// -1 otherwise (P under an affine subscript, or in two: such a read does not run on lanes).
template <int P, class... D>
constexpr int lane_subscript(const plan::dims<D...>*) {
  constexpr bool mentions[] = {false, subscript_mentions<P, D>...};
  constexpr bool plain[] = {false, std::is_same_v<D, plan::dim_var<P>>...};
  int found = -2;
  for (int k = 0; k < static_cast<int>(sizeof...(D)); ++k) {
    if (!mentions[k + 1]) continue;
    if (!plain[k + 1] || found != -2) return -1;
    found = k;
  }
  return found;
}

// Whether a node evaluates on lanes along P: constants, reads (above), elementwise functions, comparisons that do not
// mention P, projections (below); no normalizer or logsumexp inside.
template <class Node, int P>
struct lane_node_ok : std::false_type {};
template <int P>
struct lane_node_ok<plan::d_const, P> : std::true_type {};
template <int Slot, class Dims, int P>
struct lane_node_ok<plan::d_ref<Slot, Dims>, P>
    : std::bool_constant<lane_subscript<P>(static_cast<const Dims*>(nullptr)) != -1> {};
template <op Op, class A, int P>
struct lane_node_ok<plan::d_apply1<Op, A>, P> : lane_node_ok<A, P> {};
template <op Op, class A, class B, int P>
struct lane_node_ok<plan::d_apply2<Op, A, B>, P> : std::bool_constant<lane_node_ok<A, P>::value && lane_node_ok<B, P>::value> {};
template <op Op, class A, class B, class C, int P>
struct lane_node_ok<plan::d_apply3<Op, A, B, C>, P>
    : std::bool_constant<lane_node_ok<A, P>::value && lane_node_ok<B, P>::value && lane_node_ok<C, P>::value> {};
template <cmp_op Op, class A, class B, int P>
struct lane_node_ok<plan::d_compare<Op, A, B>, P>
    : std::bool_constant<!subscript_mentions<P, A> && !subscript_mentions<P, B>> {};

// A projection runs on lanes when its operation joins values one at a time (sum, mean, max, min, any), it does not
// project P, and its body runs on lanes: its values are computed for all lanes at bind time, a point at a time, with
// the points bounded by the same guards as in the coordinate evaluator (evaluator::narrow, which then never mentions P).
template <reduce_op Op, class Body, int... Red, int P>
struct lane_node_ok<plan::d_project<Op, Body, Red...>, P>
    : std::bool_constant<(Op == reduce_op::sum || Op == reduce_op::mean || Op == reduce_op::max ||
                          Op == reduce_op::min || Op == reduce_op::any) &&
                         lane_node_ok<Body, P>::value && ((Red != P) && ...)> {};

// The position P of a left-hand side's last subscript when the kernel may run its stretches on lanes (a plain index
// that no other left-hand-side subscript repeats, and a right-hand side as above), else -1.
template <class D>
inline constexpr int lane_var_of = -1;
template <int Q>
inline constexpr int lane_var_of<plan::dim_var<Q>> = Q;
template <class... D>
consteval int last_lane_var() {
  const int vars[] = {lane_var_of<D>...};  // a local array: Clang 14 rejects indexing a static member array of the
  return vars[sizeof...(D) - 1];           // class being defined in a constant expression (no known bound yet)
}
template <class Rhs, class LhsDims>
struct lane_position {
  static constexpr int value = -1;
};
template <class Rhs, class... D>
  requires(sizeof...(D) > 0)
struct lane_position<Rhs, plan::dims<D...>> {
  static constexpr int p = last_lane_var<D...>();
  static constexpr int repeats = ((std::is_same_v<D, plan::dim_var<p>> ? 1 : 0) + ...);
  static constexpr int value = p >= 0 && repeats == 1 && lane_node_ok<Rhs, p>::value ? p : -1;
};

#if !defined(__CUDA_ARCH__) && !defined(__HIP_DEVICE_COMPILE__)
// Zeros for a read whose whole stretch lies outside its tensor (the coordinate evaluator reads 0 there).
template <class T>
struct zero_lanes {
  alignas(64) static inline const T value[max_lanes]{};
};
#endif

// A node bound to one stretch: bind() once (frame at the stretch's first cell), then at(l) per lane.
template <class R, class Ctx, class F, class Node, int P>
struct lane_value;
template <class R, class Ctx, class F, int P, reduce_op Op, class Body, int... Red>
KOKKOS_FORCEINLINE_FUNCTION void lane_points(const Body& body, const Ctx& c, F& f, R* acc, long lanes);

template <class Dims>
inline constexpr int dims_rank = 0;
template <class... D>
inline constexpr int dims_rank<plan::dims<D...>> = static_cast<int>(sizeof...(D));

template <class R, class Ctx, class F, int P>
struct lane_value<R, Ctx, F, plan::d_const, P> {
  R v;
  KOKKOS_INLINE_FUNCTION void bind(const plan::d_const& n, const Ctx&, const F&, long) {
    v = static_cast<R>(n.value);
  }
  KOKKOS_FORCEINLINE_FUNCTION R at(long) const { return v; }
};

template <class R, class Ctx, class F, int Slot, class Dims, int P>
struct lane_value<R, Ctx, F, plan::d_ref<Slot, Dims>, P> {
  static constexpr int k = lane_subscript<P>(static_cast<const Dims*>(nullptr));
  static constexpr bool invariant = k == -2;
  static constexpr bool contiguous = k >= 0 && k + 1 == dims_rank<Dims>;
  using T = std::remove_cvref_t<decltype(table_get<Slot>::get(std::declval<Ctx&>().table).data[0])>;
  R v{};
  const T* p = nullptr;
  long stride = 0;
  KOKKOS_INLINE_FUNCTION void bind(const plan::d_ref<Slot, Dims>& n, const Ctx& c, const F& f, long) {
    const auto& slot = table_get<Slot>::get(c.table);
    const long off = evaluator<R, Ctx, F>::offset_of(n.subscripts, slot, c, f, 0, 0);
    if constexpr (invariant) {
      v = off < 0 ? R(0) : static_cast<R>(slot.data[off]);
    } else {
#if !defined(__CUDA_ARCH__) && !defined(__HIP_DEVICE_COMPILE__)
      stride = 1;
      for (int d = k + 1; d < dims_rank<Dims>; ++d) stride *= slot.extent[d];
      p = off < 0 ? zero_lanes<T>::value : slot.data + off;
      if (off < 0) stride = contiguous ? 1 : 0;
#endif
    }
  }
  KOKKOS_FORCEINLINE_FUNCTION R at(long l) const {
    if constexpr (invariant)
      return v;
    else if constexpr (contiguous)
      return static_cast<R>(p[l]);
    else
      return static_cast<R>(p[l * stride]);
  }
};

template <class R, class Ctx, class F, op Op, class A, int P>
struct lane_value<R, Ctx, F, plan::d_apply1<Op, A>, P> {
  lane_value<R, Ctx, F, A, P> a;
  KOKKOS_INLINE_FUNCTION void bind(const plan::d_apply1<Op, A>& n, const Ctx& c, const F& f, const long lanes) {
    a.bind(n.a, c, f, lanes);
  }
  KOKKOS_FORCEINLINE_FUNCTION R at(long l) const { return elementwise<R>::template unary<Op>(a.at(l)); }
};

template <class Node>
inline constexpr bool lane_projects = false;
template <reduce_op Op, class Body, int... Red>
inline constexpr bool lane_projects<plan::d_project<Op, Body, Red...>> = true;
template <op Op, class A>
inline constexpr bool lane_projects<plan::d_apply1<Op, A>> = lane_projects<A>;
template <op Op, class A, class B>
inline constexpr bool lane_projects<plan::d_apply2<Op, A, B>> = lane_projects<A> || lane_projects<B>;
template <op Op, class A, class B, class C>
inline constexpr bool lane_projects<plan::d_apply3<Op, A, B, C>> = lane_projects<A> || lane_projects<B> || lane_projects<C>;

// Whether the node is itself a projection (the lanes kernel then binds it straight into the output row).
template <class Node>
inline constexpr bool lane_projects_only = false;
template <reduce_op Op, class Body, int... Red>
inline constexpr bool lane_projects_only<plan::d_project<Op, Body, Red...>> = true;

// A product whose right factor holds a projection skips that projection when the left factor is 0 in every lane (a
// mask over the whole stretch), as the coordinate evaluator skips it cell by cell.
template <class R, class Ctx, class F, op Op, class A, class B, int P>
struct lane_value<R, Ctx, F, plan::d_apply2<Op, A, B>, P> {
  static constexpr bool may_skip = Op == op::mul && lane_projects<B>;
  lane_value<R, Ctx, F, A, P> a;
  lane_value<R, Ctx, F, B, P> b;
  bool skip = false;
  KOKKOS_INLINE_FUNCTION void bind(const plan::d_apply2<Op, A, B>& n, const Ctx& c, const F& f, const long lanes) {
    a.bind(n.a, c, f, lanes);
    if constexpr (may_skip) {
      skip = true;
      for (long l = 0; l < lanes; ++l) skip = skip && a.at(l) == R(0);
      if (skip) return;
    }
    b.bind(n.b, c, f, lanes);
  }
  KOKKOS_FORCEINLINE_FUNCTION R at(long l) const {
    if constexpr (may_skip)
      if (skip) return R(0);
    return elementwise<R>::template binary<Op>(a.at(l), b.at(l));
  }
};

template <class R, class Ctx, class F, op Op, class A, class B, class C, int P>
struct lane_value<R, Ctx, F, plan::d_apply3<Op, A, B, C>, P> {
  lane_value<R, Ctx, F, A, P> a;
  lane_value<R, Ctx, F, B, P> b;
  lane_value<R, Ctx, F, C, P> c;
  KOKKOS_INLINE_FUNCTION void bind(const plan::d_apply3<Op, A, B, C>& n, const Ctx& ctx, const F& f,
                                    const long lanes) {
    a.bind(n.a, ctx, f, lanes);
    b.bind(n.b, ctx, f, lanes);
    c.bind(n.c, ctx, f, lanes);
  }
  KOKKOS_FORCEINLINE_FUNCTION R at(long l) const {
    return elementwise<R>::template ternary<Op>(a.at(l), b.at(l), c.at(l));
  }
};

template <class R, class Ctx, class F, cmp_op Op, class A, class B, int P>
struct lane_value<R, Ctx, F, plan::d_compare<Op, A, B>, P> {
  R v;
  KOKKOS_INLINE_FUNCTION void bind(const plan::d_compare<Op, A, B>& n, const Ctx& c, const F& f, long) {
    using ev = evaluator<R, Ctx, F>;
    v = compare_indices<Op>(ev::coordinate(n.a, c, f), ev::coordinate(n.b, c, f)) ? R(1) : R(0);
  }
  KOKKOS_FORCEINLINE_FUNCTION R at(long) const { return v; }
};

// A projection: its values for every lane, computed at bind time.
template <class R, class Ctx, class F, reduce_op Op, class Body, int... Red, int P>
struct lane_value<R, Ctx, F, plan::d_project<Op, Body, Red...>, P> {
  R v[max_lanes];
  KOKKOS_INLINE_FUNCTION void bind(const plan::d_project<Op, Body, Red...>& n, const Ctx& c, const F& f,
                                    const long lanes) {
    bind_into(n, c, f, lanes, v);
  }
  // The lanes' values into acc[0 .. lanes) (the kernel's output row itself when the projection is the whole
  // right-hand side, which saves the copy).
  KOKKOS_INLINE_FUNCTION static void bind_into(const plan::d_project<Op, Body, Red...>& n, const Ctx& c, const F& f,
                                               const long lanes, R* acc) {
    constexpr R big = R(3.0e38) > R(0) ? R(3.0e38) : R(1.0e300);
    const R init = Op == reduce_op::max ? -big : (Op == reduce_op::min ? big : R(0));
    for (long l = 0; l < lanes; ++l) acc[l] = init;
    F g = f;
    lane_points<R, Ctx, F, P, Op, Body, Red...>(n.body, c, g, acc, lanes);
    if constexpr (Op == reduce_op::mean) {
      long count = 1;
      ((count *= c.template index_extent<Red>()), ...);
      for (long l = 0; l < lanes; ++l) acc[l] = count > 0 ? acc[l] / R(count) : R(0);
    }
  }
  KOKKOS_FORCEINLINE_FUNCTION R at(long l) const { return v[l]; }
};

// acc[l] joined with the bound node's lane l, for l < lanes, as the coordinate evaluator's projection loop joins.
template <reduce_op Op, class R, class V>
KOKKOS_FORCEINLINE_FUNCTION void join_lanes(R* acc, const V& v, const long lanes) {
  for (long l = 0; l < lanes; ++l) {
    const R x = v.at(l);
    if constexpr (Op == reduce_op::sum || Op == reduce_op::mean) acc[l] += x;
    if constexpr (Op == reduce_op::max) acc[l] = x > acc[l] ? x : acc[l];
    if constexpr (Op == reduce_op::min) acc[l] = x < acc[l] ? x : acc[l];
    if constexpr (Op == reduce_op::any) acc[l] = (x > R(0) || acc[l] > R(0)) ? R(1) : R(0);
  }
}

// A projection's points: the same loops and bounds as evaluator::project_loop, the body bound at each point.
template <class R, class Ctx, class F, int P, reduce_op Op, class Body, int Q, int... Red>
KOKKOS_FORCEINLINE_FUNCTION void lane_points_from(const Body& body, const Ctx& c, F& f, R* acc, const long lanes) {
  long lo = 0, hi = c.template index_extent<Q>();
  if constexpr (Op == reduce_op::sum || Op == reduce_op::mean || Op == reduce_op::any)
    evaluator<R, Ctx, F>::template narrow<Q, Red...>(body, c, f, lo, hi);
  for (long v = lo; v < hi; ++v) {
    f.idx[Q] = v;
    lane_points<R, Ctx, F, P, Op, Body, Red...>(body, c, f, acc, lanes);
  }
}
template <class R, class Ctx, class F, int P, reduce_op Op, class Body, int... Red>
KOKKOS_FORCEINLINE_FUNCTION void lane_points(const Body& body, const Ctx& c, F& f, R* acc, const long lanes) {
  if constexpr (sizeof...(Red) == 0) {
    lane_value<R, Ctx, F, Body, P> v;
    v.bind(body, c, f, lanes);
    join_lanes<Op>(acc, v, lanes);
  } else {
    lane_points_from<R, Ctx, F, P, Op, Body, Red...>(body, c, f, acc, lanes);
  }
}

}  // namespace tensorlogic::exec
