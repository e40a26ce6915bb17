// Flat addressing for maps and reductions. A flat map reads every tensor at the left-hand side's own subscripts, so
// cell c reads element c of each buffer. A row reduction, r(L) = sum over S of body(L, S), whose body reads each
// tensor at L followed by S (or at L alone, S alone, or nothing) reads element c * |S| + k: the cells' rows are
// contiguous and the kernel walks them with independent accumulator lanes that the compiler vectorizes. A column
// reduction reads S followed by L (a bias gradient: db(o) = dY(n, o)); its kernel walks a block of neighbouring
// cells per projected position, so the innermost loop is again contiguous. Device code only.
#pragma once
#include <Kokkos_Core.hpp>

#include <tensorlogic/exec/basics.hpp>
#include <tensorlogic/plan/descriptor.hpp>

namespace tensorlogic::exec {

inline constexpr int max_subscripts = 16;

// The positions of a subscript list made only of plain indices.
template <class Dims>
struct plain_positions {
  static constexpr bool plain = false;
  static constexpr int size = 0;
  static constexpr int at(int) { return -1; }
};
template <int... P>
struct plain_positions<plan::dims<plan::dim_var<P>...>> {
  static constexpr bool plain = sizeof...(P) <= max_subscripts;
  static constexpr int size = static_cast<int>(sizeof...(P));
  static constexpr int at(int k) {
    constexpr int v[] = {P..., -1};
    return v[k];
  }
};

// How a reduction's body reads its tensors: L are the left-hand side's positions, S the projected ones; perm is the
// order in which the references read S (the first reference that reads S fixes it; every other must agree).
struct row_layout {
  bool ok = true;
  bool column = false;
  int nl = 0, nr = 0, np = -1;
  int lhs[max_subscripts]{}, red[max_subscripts]{}, perm[max_subscripts]{};

  constexpr bool same(const int* p, const int* q, int n) const {
    for (int k = 0; k < n; ++k)
      if (p[k] != q[k]) return false;
    return true;
  }
  // Whether q[0..nr) reads S in the layout's order; fixes the order the first time when `fix`.
  constexpr bool reads_red(const int* q, bool fix) {
    if (np >= 0) return same(q, perm, nr);
    if (!fix) return false;
    for (int a = 0; a < nr; ++a) {
      bool found = false;
      for (int b = 0; b < nr; ++b) found = found || q[a] == red[b];
      for (int b = 0; b < a; ++b)
        if (q[b] == q[a]) return false;
      if (!found) return false;
    }
    for (int a = 0; a < nr; ++a) perm[a] = q[a];
    np = nr;
    return true;
  }
  // 0: a scalar, 1: reads L (one value per cell), 2: reads L and S (the full body), 3: reads S; -1: none of these.
  constexpr int kind(const int* p, int n, bool fix) {
    if (n == 0) return 0;
    if (n == nl + nr) {
      if (!column && same(p, lhs, nl) && reads_red(p + nl, fix)) return 2;
      if (column && same(p + nr, lhs, nl) && reads_red(p, fix)) return 2;
    }
    if (n == nl && same(p, lhs, nl)) return 1;
    if (n == nr && reads_red(p, fix)) return 3;
    return -1;
  }
};

template <class Dims>
constexpr int read_kind(row_layout& r, bool fix) {
  using pp = plain_positions<Dims>;
  if constexpr (!pp::plain) {
    return -1;
  } else {
    int p[max_subscripts + 1]{};
    for (int k = 0; k < pp::size; ++k) p[k] = pp::at(k);
    return r.kind(p, pp::size, fix);
  }
}

// Visits every reference of an elementwise body; anything else (a nested projection, a normalizer, a comparison of
// indices, an index expression) makes the layout unusable.
template <class Node>
struct row_scan {
  static constexpr void run(row_layout& r) { r.ok = false; }
};
template <>
struct row_scan<plan::d_const> {
  static constexpr void run(row_layout&) {}
};
template <int Slot, class Dims>
struct row_scan<plan::d_ref<Slot, Dims>> {
  static constexpr void run(row_layout& r) {
    if (read_kind<Dims>(r, true) < 0) r.ok = false;
  }
};
template <op Op, class A>
struct row_scan<plan::d_apply1<Op, A>> {
  static constexpr void run(row_layout& r) { row_scan<A>::run(r); }
};
template <op Op, class A, class B>
struct row_scan<plan::d_apply2<Op, A, B>> {
  static constexpr void run(row_layout& r) {
    row_scan<A>::run(r);
    row_scan<B>::run(r);
  }
};
template <op Op, class A, class B, class C>
struct row_scan<plan::d_apply3<Op, A, B, C>> {
  static constexpr void run(row_layout& r) {
    row_scan<A>::run(r);
    row_scan<B>::run(r);
    row_scan<C>::run(r);
  }
};

// Left-hand-side subscripts that are distinct plain indices (no diagonal), or none (a rank-0 result).
template <class Dims>
struct distinct_plain {
  static constexpr bool value = false;
};
template <>
struct distinct_plain<plan::dims<>> {
  static constexpr bool value = true;
};
template <int... Pos>
constexpr bool distinct_positions() {
  const int p[] = {Pos..., -1};
  for (int a = 0; a < static_cast<int>(sizeof...(Pos)); ++a)
    for (int b = a + 1; b < static_cast<int>(sizeof...(Pos)); ++b)
      if (p[a] == p[b]) return false;
  return sizeof...(Pos) > 0;
}
template <int... Pos>
struct distinct_plain<plan::dims<plan::dim_var<Pos>...>> {
  static constexpr bool value = distinct_positions<Pos...>();
};

// The layout of the projection of Body over positions Red... into a left-hand side with subscripts LhsDims.
template <class LhsDims, bool Column, class Body, int... Red>
struct rows {
  static constexpr row_layout layout = [] {
    row_layout r;
    r.column = Column;
    using pl = plain_positions<LhsDims>;
    constexpr int red[] = {Red..., -1};
    r.nr = static_cast<int>(sizeof...(Red));
    if (!pl::plain || r.nr == 0 || r.nr > max_subscripts) {
      r.ok = false;
      return r;
    }
    r.nl = pl::size;
    for (int k = 0; k < r.nl; ++k) r.lhs[k] = pl::at(k);
    for (int k = 0; k < r.nr; ++k) r.red[k] = red[k];
    row_scan<Body>::run(r);
    if (r.np < 0) {
      for (int k = 0; k < r.nr; ++k) r.perm[k] = red[k];
      r.np = r.nr;
    }
    return r;
  }();
  static constexpr bool value = layout.ok;
  template <class Dims>
  static constexpr int kind() {
    row_layout r = layout;
    return read_kind<Dims>(r, false);
  }
  // as a constant (device code reads constants, not host constexpr functions)
  template <class Dims>
  static constexpr int kind_of = kind<Dims>();
};

// The projections this path runs: sums, means, maxima and minima.
template <reduce_op Op>
inline constexpr bool lane_reducible =
    Op == reduce_op::sum || Op == reduce_op::mean || Op == reduce_op::max || Op == reduce_op::min;

template <reduce_op Op, class R>
struct lane_reducer {
  KOKKOS_INLINE_FUNCTION static R init() {
    constexpr R big = R(3.0e38) > R(0) ? R(3.0e38) : R(1.0e300);
    if constexpr (Op == reduce_op::max) return -big;
    if constexpr (Op == reduce_op::min) return big;
    return R(0);
  }
  KOKKOS_INLINE_FUNCTION static R join(const R acc, const R v) {
    if constexpr (Op == reduce_op::max) return v > acc ? v : acc;
    if constexpr (Op == reduce_op::min) return v < acc ? v : acc;
    return acc + v;
  }
  KOKKOS_INLINE_FUNCTION static R finish(const R acc, const long count) {
    if constexpr (Op == reduce_op::mean) return count > 0 ? acc / R(count) : R(0);
    return acc;
  }
};

// Independent accumulators per row: one vector's worth on the host, one on devices (a thread per cell there).
template <class R>
KOKKOS_INLINE_FUNCTION constexpr int reduction_lanes() {
#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__)
  return 1;
#else
  return sizeof(R) <= 4 ? 16 : 8;
#endif
}

// Where a reference reads at a point of a reduction: the output cell, the body's flat position, the projected one.
struct row_point {
  long cell;
  long full;
  long k;
};

template <class Rows>
struct row_cells {
  using point = row_point;
  template <class Dims>
  KOKKOS_INLINE_FUNCTION static long offset(const point& p) {
    constexpr int kind = Rows::template kind_of<Dims>;
    if constexpr (kind == 0) return 0;
    if constexpr (kind == 1) return p.cell;
    if constexpr (kind == 2) return p.full;
    return p.k;
  }
};

template <class R, class Ctx, class Addr, bool Plain = false>
struct offset_evaluator;

// Flat addressing: a point is the cell itself; a projection inside is a row reduction over its own row.
template <class LhsDims>
struct flat_cells {
  using point = long;
  template <class Dims>
  KOKKOS_INLINE_FUNCTION static long offset(const point& cell) {
    if constexpr (std::is_same_v<Dims, plan::dims<>>)
      return 0;
    else
      return cell;
  }

  template <class Ctx, int... Red>
  KOKKOS_INLINE_FUNCTION static long row_length(const Ctx& c) {
    long n = 1;
    ((n *= c.template index_extent<Red>()), ...);
    return n;
  }

  template <class R, class Ctx, reduce_op Op, class Body, int... Red>
  KOKKOS_INLINE_FUNCTION static R project(const Body& body, const Ctx& c, const long cell) {
    using ev = offset_evaluator<R, Ctx, row_cells<rows<LhsDims, false, Body, Red...>>>;
    using red = lane_reducer<Op, R>;
    constexpr int W = reduction_lanes<R>();
    const long n = row_length<Ctx, Red...>(c);
    const long base = cell * n;
    R acc[W];
    for (int l = 0; l < W; ++l) acc[l] = red::init();
    long k = 0;
    for (; k + W <= n; k += W)
      for (int l = 0; l < W; ++l) acc[l] = red::join(acc[l], ev::eval(body, c, row_point{cell, base + k + l, k + l}));
    for (; k < n; ++k) acc[0] = red::join(acc[0], ev::eval(body, c, row_point{cell, base + k, k}));
    for (int w = W / 2; w > 0; w /= 2)
      for (int l = 0; l < w; ++l) acc[l] = red::join(acc[l], acc[l + w]);
    return red::finish(acc[0], n);
  }
};

// Elementwise evaluation of a lowered node at a point, each reference at the offset its addressing gives. Plain:
// products are plain multiplications, without the zero test of the left factor (see plain_products below).
template <class R, class Ctx, class Addr, bool Plain>
struct offset_evaluator {
  using point = typename Addr::point;
  KOKKOS_INLINE_FUNCTION static R eval(const plan::d_const& n, const Ctx&, const point&) {
    return static_cast<R>(n.value);
  }
  template <int Slot, class Dims>
  KOKKOS_INLINE_FUNCTION static R eval(const plan::d_ref<Slot, Dims>&, const Ctx& c, const point& p) {
    const auto& t = table_get<Slot>::get(c.table);
    if constexpr (requires { Addr::template cached<Slot, Dims, double>(); }) {
      using T = std::remove_cvref_t<decltype(t.data[0])>;
      constexpr int k = Addr::template cached<Slot, Dims, T>();
      if constexpr (k >= 0) return static_cast<R>(static_cast<T>(p.inv[k]));
    }
    return static_cast<R>(t.data[Addr::template offset<Dims>(p)]);
  }
  template <op Op, class A>
  KOKKOS_INLINE_FUNCTION static R eval(const plan::d_apply1<Op, A>& n, const Ctx& c, const point& p) {
    return elementwise<R>::template unary<Op>(eval(n.a, c, p));
  }
  template <op Op, class A, class B>
  KOKKOS_INLINE_FUNCTION static R eval(const plan::d_apply2<Op, A, B>& n, const Ctx& c, const point& p) {
    if constexpr (Plain && Op == op::mul)
      return eval(n.a, c, p) * eval(n.b, c, p);
    else
      return elementwise<R>::template binary<Op>(eval(n.a, c, p), eval(n.b, c, p));
  }
  template <op Op, class A, class B, class C>
  KOKKOS_INLINE_FUNCTION static R eval(const plan::d_apply3<Op, A, B, C>& n, const Ctx& c, const point& p) {
    return elementwise<R>::template ternary<Op>(eval(n.a, c, p), eval(n.b, c, p), eval(n.c, c, p));
  }
  template <int Pos>
  KOKKOS_INLINE_FUNCTION static long side(const plan::dim_var<Pos>&, const point& p) {
    return Addr::template coordinate<Pos>(p);
  }
  template <int Pos>
  KOKKOS_INLINE_FUNCTION static long side(const plan::dim_affine<Pos>& d, const point& p) {
    const long v = d.coef[0] * Addr::template coordinate<Pos>(p) + d.offset;
    return d.divisor == 1 ? v : floor_div(v, d.divisor);
  }
  template <cmp_op Op, class A, class B>
  KOKKOS_INLINE_FUNCTION static R eval(const plan::d_compare<Op, A, B>& n, const Ctx&, const point& p) {
    return compare_indices<Op>(side(n.a, p), side(n.b, p)) ? R(1) : R(0);
  }
  template <reduce_op Op, class Body, int... Red>
  KOKKOS_INLINE_FUNCTION static R eval(const plan::d_project<Op, Body, Red...>& n, const Ctx& c, const point& p) {
    return Addr::template project<R, Ctx, Op, Body, Red...>(n.body, c, p);
  }
};

// Whether a node runs on flat addressing: references at the left-hand side's subscripts or scalars, elementwise
// functions, and row reductions. With Coords (a normalizer's rows), comparisons of the left-hand side's indices
// instead of row reductions.
template <class Node, class LhsDims, bool Coords = false>
struct flat_map {
  static constexpr bool value = false;
};
template <class LhsDims, bool Coords>
struct flat_map<plan::d_const, LhsDims, Coords> {
  static constexpr bool value = true;
};
template <int Slot, class Dims, class LhsDims, bool Coords>
struct flat_map<plan::d_ref<Slot, Dims>, LhsDims, Coords> {
  static constexpr bool value = std::is_same_v<Dims, plan::dims<>> || std::is_same_v<Dims, LhsDims>;
};
template <op Op, class A, class LhsDims, bool Coords>
struct flat_map<plan::d_apply1<Op, A>, LhsDims, Coords> {
  static constexpr bool value = flat_map<A, LhsDims, Coords>::value;
};
template <op Op, class A, class B, class LhsDims, bool Coords>
struct flat_map<plan::d_apply2<Op, A, B>, LhsDims, Coords> {
  static constexpr bool value = flat_map<A, LhsDims, Coords>::value && flat_map<B, LhsDims, Coords>::value;
};
template <op Op, class A, class B, class C, class LhsDims, bool Coords>
struct flat_map<plan::d_apply3<Op, A, B, C>, LhsDims, Coords> {
  static constexpr bool value = flat_map<A, LhsDims, Coords>::value && flat_map<B, LhsDims, Coords>::value &&
                                flat_map<C, LhsDims, Coords>::value;
};
template <reduce_op Op, class Body, int... Red, class LhsDims>
struct flat_map<plan::d_project<Op, Body, Red...>, LhsDims, false> {
  static constexpr bool value = lane_reducible<Op> && rows<LhsDims, false, Body, Red...>::value;
};
// The subscript of position Pos in a plain subscript list, or -1.
template <class Dims, int Pos>
constexpr int subscript_of() {
  using pp = plain_positions<Dims>;
  for (int k = 0; k < pp::size; ++k)
    if (pp::at(k) == Pos) return k;
  return -1;
}
// One side of a comparison: a left-hand-side index, or an affine function of one.
template <class D, class LhsDims>
inline constexpr bool compared_side = false;
template <int Pos, class LhsDims>
inline constexpr bool compared_side<plan::dim_var<Pos>, LhsDims> = subscript_of<LhsDims, Pos>() >= 0;
template <int Pos, class LhsDims>
inline constexpr bool compared_side<plan::dim_affine<Pos>, LhsDims> = subscript_of<LhsDims, Pos>() >= 0;
template <cmp_op Op, class A, class B, class LhsDims>
struct flat_map<plan::d_compare<Op, A, B>, LhsDims, true> {
  static constexpr bool value = compared_side<A, LhsDims> && compared_side<B, LhsDims>;
};

// A normalizer's rows on flat addressing: a point is the cell, its position along the normalized (last) subscript
// and the coordinates of its row (for comparisons of indices).
template <class LhsDims>
struct norm_cells {
  struct point {
    long cell;
    long last;
    const long* row;
  };
  template <class Dims>
  KOKKOS_INLINE_FUNCTION static long offset(const point& p) {
    if constexpr (std::is_same_v<Dims, plan::dims<>>)
      return 0;
    else
      return p.cell;
  }
  template <int Pos>
  static constexpr int subscript = subscript_of<LhsDims, Pos>();
  template <int Pos>
  KOKKOS_INLINE_FUNCTION static long coordinate(const point& p) {
    constexpr int k = subscript<Pos>;
    if constexpr (k == plain_positions<LhsDims>::size - 1)
      return p.last;
    else
      return p.row[k];
  }
};

// A right-hand side that is one normalizer over the left-hand side's last subscript, its body on flat addressing
// with index comparisons (softmax(q, where(q <= p, S, -1e30)), lnorm(e, X)).
template <class Rhs, class LhsDims>
struct normalizer_rows {
  static constexpr bool value = false;
};
template <norm_op Op, int Pos, class Body, class LhsDims>
struct normalizer_rows<plan::d_normalize<Op, Pos, Body>, LhsDims> {
  static constexpr bool value = plain_positions<LhsDims>::size > 0 &&
                                subscript_of<LhsDims, Pos>() == plain_positions<LhsDims>::size - 1 &&
                                flat_map<Body, LhsDims, true>::value;
};

// The longest row a flat node reduces per cell (1 without reductions): sizes the host's work items.
template <class Node>
struct flat_row_length {
  template <class Ctx>
  static long get(const Ctx&) {
    return 1;
  }
};
template <op Op, class A>
struct flat_row_length<plan::d_apply1<Op, A>> : flat_row_length<A> {};
template <op Op, class A, class B>
struct flat_row_length<plan::d_apply2<Op, A, B>> {
  template <class Ctx>
  static long get(const Ctx& c) {
    return flat_row_length<A>::get(c) + flat_row_length<B>::get(c);
  }
};
template <op Op, class A, class B, class C>
struct flat_row_length<plan::d_apply3<Op, A, B, C>> {
  template <class Ctx>
  static long get(const Ctx& c) {
    return flat_row_length<A>::get(c) + flat_row_length<B>::get(c) + flat_row_length<C>::get(c);
  }
};
template <reduce_op Op, class Body, int... Red>
struct flat_row_length<plan::d_project<Op, Body, Red...>> {
  template <class Ctx>
  static long get(const Ctx& c) {
    long n = 1;
    ((n *= c.template index_extent<Red>()), ...);
    return n;
  }
};

// Whether a flat node contains a row reduction.
template <class Node>
struct flat_row_reduces {
  static constexpr bool value = false;
};
template <op Op, class A>
struct flat_row_reduces<plan::d_apply1<Op, A>> : flat_row_reduces<A> {};
template <op Op, class A, class B>
struct flat_row_reduces<plan::d_apply2<Op, A, B>> {
  static constexpr bool value = flat_row_reduces<A>::value || flat_row_reduces<B>::value;
};
template <op Op, class A, class B, class C>
struct flat_row_reduces<plan::d_apply3<Op, A, B, C>> {
  static constexpr bool value = flat_row_reduces<A>::value || flat_row_reduces<B>::value || flat_row_reduces<C>::value;
};
template <reduce_op Op, class Body, int... Red>
struct flat_row_reduces<plan::d_project<Op, Body, Red...>> {
  static constexpr bool value = true;
};

// A right-hand side that is one column reduction: a projection whose body reads S followed by L.
template <class Rhs, class LhsDims>
struct column_reduction {
  static constexpr bool value = false;
};
template <reduce_op Op, class Body, int... Red, class LhsDims>
struct column_reduction<plan::d_project<Op, Body, Red...>, LhsDims> {
  static constexpr bool value = lane_reducible<Op> && plain_positions<LhsDims>::size > 0 &&
                                rows<LhsDims, true, Body, Red...>::value &&
                                !rows<LhsDims, false, Body, Red...>::value;
  using rows_t = rows<LhsDims, true, Body, Red...>;
  using body_t = Body;
  static constexpr reduce_op operation = Op;
  template <class Ctx>
  KOKKOS_INLINE_FUNCTION static long length(const Ctx& c) {
    long n = 1;
    ((n *= c.template index_extent<Red>()), ...);
    return n;
  }
};


// Broadcast rows: a map whose tensors are read at the left-hand side's subscripts L, at a prefix of them (a per-row
// value: advantage(p, g) in token_loss(p, g, t)), at the suffix L[split..] (a bias b(o) in Y(n, o)), or not at all.
// The cells split into rows of the extents L[split..]; a work item walks whole rows, so a prefix read is one division
// per row and loop-invariant inside it, and a suffix read is the position in the row -- the inner loop is as
// contiguous as a flat map's.
struct broadcast_layout {
  bool ok = true;
  int nl = 0;
  int lhs[max_subscripts]{};
  int max_prefix = 0;   // longest prefix read
  int suffix = -1;      // start of the suffix read (all suffix reads agree), -1 when none
  bool any = false;     // some read is a prefix or a suffix
  int split = 0;        // rows are L[split..]

  // 0: a scalar, 1: L, 100 + a: the prefix L[0..a), 200 + b: the suffix L[b..); -1: none of these.
  constexpr int kind(const int* p, int n) const {
    if (n == 0) return 0;
    if (n > nl) return -1;
    bool prefix = true, suffix_match = true;
    for (int k = 0; k < n; ++k) {
      prefix = prefix && p[k] == lhs[k];
      suffix_match = suffix_match && p[k] == lhs[nl - n + k];
    }
    if (n == nl && prefix) return 1;
    if (prefix) return 100 + n;
    if (suffix_match) return 200 + (nl - n);
    return -1;
  }
  constexpr void add(const int* p, int n) {
    const int k = kind(p, n);
    if (k < 0) {
      ok = false;
    } else if (k >= 200) {
      any = true;
      if (suffix >= 0 && suffix != k - 200) ok = false;
      suffix = k - 200;
    } else if (k >= 100) {
      any = true;
      max_prefix = k - 100 > max_prefix ? k - 100 : max_prefix;
    }
  }
  // allow_flat: a layout with no prefix or suffix read is one row of all of L (the reduce-and-map pair kernel splits
  // long rows into chunks); otherwise such a layout is left to the flat paths.
  constexpr void finish(bool allow_flat = false) {
    split = suffix >= 0 ? suffix : max_prefix;
    if (max_prefix > split) ok = false;
    if ((!any && !allow_flat) || nl == 0) ok = false;
  }
};

template <class Node>
struct broadcast_scan {
  static constexpr void run(broadcast_layout& b) { b.ok = false; }
};
template <>
struct broadcast_scan<plan::d_const> {
  static constexpr void run(broadcast_layout&) {}
};
template <int Slot, class Dims>
struct broadcast_scan<plan::d_ref<Slot, Dims>> {
  static constexpr void run(broadcast_layout& b) {
    using pp = plain_positions<Dims>;
    if constexpr (!pp::plain) {
      if constexpr (!std::is_same_v<Dims, plan::dims<>>) b.ok = false;
    } else {
      int p[max_subscripts + 1]{};
      for (int k = 0; k < pp::size; ++k) p[k] = pp::at(k);
      b.add(p, pp::size);
    }
  }
};
template <op Op, class A>
struct broadcast_scan<plan::d_apply1<Op, A>> {
  static constexpr void run(broadcast_layout& b) { broadcast_scan<A>::run(b); }
};
template <op Op, class A, class B>
struct broadcast_scan<plan::d_apply2<Op, A, B>> {
  static constexpr void run(broadcast_layout& b) {
    broadcast_scan<A>::run(b);
    broadcast_scan<B>::run(b);
  }
};
template <op Op, class A, class B, class C>
struct broadcast_scan<plan::d_apply3<Op, A, B, C>> {
  static constexpr void run(broadcast_layout& b) {
    broadcast_scan<A>::run(b);
    broadcast_scan<B>::run(b);
    broadcast_scan<C>::run(b);
  }
};

// The row-invariant references of a broadcast layout, in first-read order; references past `capacity` are read per
// cell as before.
struct invariant_keys {
  static constexpr int capacity = 16;
  int n = 0;
  int slot[capacity]{};
  int kind[capacity]{};
  constexpr int find(int s, int k) const {
    for (int i = 0; i < n; ++i)
      if (slot[i] == s && kind[i] == k) return i;
    return -1;
  }
  constexpr void add(int s, int k) {
    if ((k == 0 || (k >= 100 && k < 200)) && find(s, k) < 0 && n < capacity) {
      slot[n] = s;
      kind[n] = k;
      ++n;
    }
  }
};

template <class Node>
struct invariant_scan {
  static constexpr void run(invariant_keys&, const broadcast_layout&) {}
};
template <int Slot, class Dims>
struct invariant_scan<plan::d_ref<Slot, Dims>> {
  static constexpr void run(invariant_keys& k, const broadcast_layout& b) {
    using pp = plain_positions<Dims>;
    if constexpr (!pp::plain) {
      if constexpr (std::is_same_v<Dims, plan::dims<>>) k.add(Slot, 0);
    } else {
      int p[max_subscripts + 1]{};
      for (int d = 0; d < pp::size; ++d) p[d] = pp::at(d);
      k.add(Slot, b.kind(p, pp::size));
    }
  }
};
template <op Op, class A>
struct invariant_scan<plan::d_apply1<Op, A>> {
  static constexpr void run(invariant_keys& k, const broadcast_layout& b) { invariant_scan<A>::run(k, b); }
};
template <op Op, class A, class B>
struct invariant_scan<plan::d_apply2<Op, A, B>> {
  static constexpr void run(invariant_keys& k, const broadcast_layout& b) {
    invariant_scan<A>::run(k, b);
    invariant_scan<B>::run(k, b);
  }
};
template <op Op, class A, class B, class C>
struct invariant_scan<plan::d_apply3<Op, A, B, C>> {
  static constexpr void run(invariant_keys& k, const broadcast_layout& b) {
    invariant_scan<A>::run(k, b);
    invariant_scan<B>::run(k, b);
    invariant_scan<C>::run(k, b);
  }
};

template <class Rhs, class LhsDims, bool AllowFlat = false>
struct broadcast_rows {
  static constexpr broadcast_layout layout = [] {
    broadcast_layout b;
    using pl = plain_positions<LhsDims>;
    if (!pl::plain || pl::size == 0) {
      b.ok = false;
      return b;
    }
    b.nl = pl::size;
    for (int k = 0; k < b.nl; ++k) b.lhs[k] = pl::at(k);
    broadcast_scan<Rhs>::run(b);
    b.finish(AllowFlat);
    return b;
  }();
  static constexpr bool value = layout.ok;
  // The row-invariant references (scalars and prefix reads), each (slot, kind) once: the host kernels load them once
  // per row into a local cache (broadcast_cache) instead of once per cell.
  static constexpr invariant_keys invariants = [] {
    invariant_keys k;
    if (layout.ok) invariant_scan<Rhs>::run(k, layout);
    return k;
  }();
  template <class Dims>
  static constexpr int kind() {
    using pp = plain_positions<Dims>;
    if constexpr (!pp::plain) {
      return 0;  // dims<>: a scalar
    } else {
      int p[max_subscripts + 1]{};
      for (int k = 0; k < pp::size; ++k) p[k] = pp::at(k);
      return layout.kind(p, pp::size);
    }
  }
  template <class Dims>
  static constexpr int kind_of = kind<Dims>();
};

// A point of a broadcast row: the cell, its position in the row, and the row's prefix offsets (pre[a] for the prefix
// of length a).
struct broadcast_point {
  long cell;
  long col;
  const long* pre;  // the row's prefix offsets (loop-invariant inside the row)
};
template <class Layout>
struct broadcast_cells {
  using point = broadcast_point;
  template <class Dims>
  KOKKOS_INLINE_FUNCTION static long offset(const point& p) {
    constexpr int kind = Layout::template kind_of<Dims>;
    if constexpr (kind == 0) return 0;
    if constexpr (kind == 1) return p.cell;
    if constexpr (kind >= 200) return p.col;
    return p.pre[kind >= 100 ? kind - 100 : 0];
  }
};

// Host rows with their row-invariant values cached: the point carries the cache, filled once per row by
// broadcast_cache::fill (floating-point tensors only; the others are read per cell). Reading the cache instead of the
// tensors lets a compiler hoist those values -- and the tests and broadcasts on them -- out of the inner loop, which
// the row's stores (that might alias any tensor) otherwise forbid.
struct broadcast_cached_point {
  long cell;
  long col;
  const long* pre;
  const double* inv;
};
template <class Layout>
struct broadcast_cached_cells {
  using point = broadcast_cached_point;
  template <class Dims>
  KOKKOS_INLINE_FUNCTION static long offset(const point& p) {
    return broadcast_cells<Layout>::template offset<Dims>(broadcast_point{p.cell, p.col, p.pre});
  }
  // The cache entry of a reference of `Slot` at `Dims` holding values of type T, or -1.
  template <int Slot, class Dims, class T>
  static constexpr int cached() {
    if constexpr (!std::is_floating_point_v<T> || sizeof(T) > sizeof(double))
      return -1;
    else
      return Layout::invariants.find(Slot, Layout::template kind_of<Dims>);
  }
};
template <class Layout, class Ctx>
struct broadcast_cache {
  static constexpr int size = Layout::invariants.n > 0 ? Layout::invariants.n : 1;
  template <std::size_t K>
  KOKKOS_INLINE_FUNCTION static void fill_one([[maybe_unused]] double* inv, const Ctx& c,
                                              [[maybe_unused]] const long* pre) {
    constexpr int slot = Layout::invariants.slot[K], kind = Layout::invariants.kind[K];
    const auto& t = table_get<slot>::get(c.table);
    using T = std::remove_cvref_t<decltype(t.data[0])>;
    if constexpr (std::is_floating_point_v<T> && sizeof(T) <= sizeof(double))
      inv[K] = static_cast<double>(t.data[kind == 0 ? 0 : pre[kind - 100]]);
  }
  template <std::size_t... K>
  KOKKOS_INLINE_FUNCTION static void fill([[maybe_unused]] double* inv, [[maybe_unused]] const Ctx& c,
                                          [[maybe_unused]] const long* pre, std::index_sequence<K...>) {
    (fill_one<K>(inv, c, pre), ...);
  }
  KOKKOS_INLINE_FUNCTION static void fill(double* inv, const Ctx& c, const long* pre) {
    fill(inv, c, pre, std::make_index_sequence<static_cast<std::size_t>(Layout::invariants.n)>{});
  }
};

// A broadcast layout's rows for extents[0..n): returns the cells per row (the product of extents[split..n)) and sets
// per_row[a], for each prefix length a in 1..split, to the rows per value of that prefix (the product of
// extents[a..split)).
inline long broadcast_split(const long* extent, int n, int split, long* per_row) {
  long row = 1;
  for (int d = split; d < n; ++d) row *= extent[d];
  for (int a = 1; a <= split; ++a) {
    long m = 1;
    for (int d = a; d < split; ++d) m *= extent[d];
    per_row[a] = m;
  }
  return row;
}
// The work items for total_rows rows of `row` cells: about 4096 cells each on the host (rows per item set in
// `rows`), one cell each on devices.
template <bool Host>
long broadcast_items(long row, long total_rows, long& rows) {
  if constexpr (Host) {
    rows = row >= 4096 ? 1 : 4096 / row;
    return (total_rows + rows - 1) / rows;
  } else {
    return total_rows * row;
  }
}

// The kernel: on the host a work item walks `rows` whole rows; on devices a work item is one cell.
template <class R, class Ctx, class Rhs, class LhsDims, class Out>
struct broadcast_kernel {
  using layout_t = broadcast_rows<Rhs, LhsDims>;
  using ev = offset_evaluator<R, Ctx, broadcast_cells<layout_t>>;
  static constexpr int split = layout_t::layout.split;
  Ctx ctx;
  Rhs rhs;
  Out* out;
  write_mode mode = write_mode::assign;
  long row = 1;        // cells per row: the product of the extents of L[split..]
  long rows = 1;       // rows per work item (host)
  long total_rows = 0;
  long per_row[max_subscripts + 1]{};  // per_row[a]: rows per value of the prefix of length a

  KOKKOS_INLINE_FUNCTION void store(const long c, const R v) const {
    if (mode == write_mode::assign)
      out[c] = static_cast<Out>(v);
    else if (mode == write_mode::accumulate)
      out[c] += static_cast<Out>(v);
    else if (v > R(0))
      out[c] = Out(1);
  }
  KOKKOS_INLINE_FUNCTION void prefixes(long* pre, const long r) const {
    for (int a = 1; a <= split; ++a) pre[a] = r / per_row[a];
  }
  TENSORLOGIC_HOST_CLONES KOKKOS_INLINE_FUNCTION void operator()(const long item) const {
    long pre[max_subscripts + 1]{};
#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__)
    const long r = item / row;
    prefixes(pre, r);
    store(item, ev::eval(rhs, ctx, broadcast_point{item, item - r * row, pre}));
#else
    using cev = offset_evaluator<R, Ctx, broadcast_cached_cells<layout_t>>;
    using cache = broadcast_cache<layout_t, Ctx>;
    double inv[cache::size];
    const long lo = item * rows;
    const long hi = lo + rows < total_rows ? lo + rows : total_rows;
    for (long r = lo; r < hi; ++r) {
      prefixes(pre, r);
      cache::fill(inv, ctx, pre);
      const long base = r * row;
      Out* o = out + base;
      if (mode == write_mode::assign) {
        for (long c = 0; c < row; ++c)
          o[c] = static_cast<Out>(cev::eval(rhs, ctx, broadcast_cached_point{base + c, c, pre, inv}));
      } else {
        for (long c = 0; c < row; ++c)
          store(base + c, cev::eval(rhs, ctx, broadcast_cached_point{base + c, c, pre, inv}));
      }
    }
#endif
  }
};


// A whole reduction into a rank-0 left-hand side, r = op over S of body(S), whose body reads tensors at S, at a
// prefix or a suffix of S (a per-row value: advantage(p, g) in a loss summed over (p, g, t)), or scalars: the rows of
// broadcast_rows<Body, S> with independent accumulator lanes per row. Sums, means, maxima and minima.
// AllowFlat: also a body with no per-row read (the flat-rows path runs those; a reduce-and-map pair takes them).
template <class Rhs, bool AllowFlat = false>
struct full_reduction {
  static constexpr bool value = false;
};
template <reduce_op Op, class Body, int... Red, bool AllowFlat>
struct full_reduction<plan::d_project<Op, Body, Red...>, AllowFlat> {
  using red_dims = plan::dims<plan::dim_var<Red>...>;
  static constexpr bool value =
      lane_reducible<Op> && distinct_plain<red_dims>::value && broadcast_rows<Body, red_dims, AllowFlat>::value;
  static constexpr reduce_op operation = Op;
  using body_t = Body;
};

// One work item reduces `rows` whole rows (host) or one cell (devices) into the value of a Kokkos reducer (Sum for
// sums and means, Max, Min).
template <class R, class Ctx, class Body, class RedDims, reduce_op Op>
struct full_reduction_kernel {
  using layout_t = broadcast_rows<Body, RedDims>;
  using ev = offset_evaluator<R, Ctx, broadcast_cells<layout_t>>;
  using red = lane_reducer<Op, R>;
  static constexpr int split = layout_t::layout.split;
  Ctx ctx;
  Body body;
  long row = 1;
  long rows = 1;
  long total_rows = 0;
  long per_row[max_subscripts + 1]{};

  KOKKOS_INLINE_FUNCTION void prefixes(long* pre, const long r) const {
    for (int a = 1; a <= split; ++a) pre[a] = r / per_row[a];
  }
  TENSORLOGIC_HOST_CLONES KOKKOS_INLINE_FUNCTION void operator()(const long item, R& acc) const {
    long pre[max_subscripts + 1]{};
#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__)
    const long r = item / row;
    prefixes(pre, r);
    acc = red::join(acc, ev::eval(body, ctx, broadcast_point{item, item - r * row, pre}));
#else
    constexpr int W = reduction_lanes<R>();
    R lane[W];
    for (int l = 0; l < W; ++l) lane[l] = red::init();
    const long lo = item * rows;
    const long hi = lo + rows < total_rows ? lo + rows : total_rows;
    for (long r = lo; r < hi; ++r) {
      prefixes(pre, r);
      const long base = r * row;
      long c = 0;
      for (; c + W <= row; c += W)
        for (int l = 0; l < W; ++l)
          lane[l] = red::join(lane[l], ev::eval(body, ctx, broadcast_point{base + c + l, c + l, pre}));
      for (; c < row; ++c) lane[0] = red::join(lane[0], ev::eval(body, ctx, broadcast_point{base + c, c, pre}));
    }
    for (int w = W / 2; w > 0; w /= 2)
      for (int l = 0; l < w; ++l) lane[l] = red::join(lane[l], lane[l + w]);
    acc = red::join(acc, lane[0]);
#endif
  }
};

// Whether a right-hand side may run with plain products and be checked afterwards (reduce_map_kernel's host rows).
// A plain product and the zero-tested one (elementwise::mul_or_zero) differ only where the left factor is 0: with an
// Inf or NaN on the right the plain one gives NaN where the tested one gives 0, and with a negative right factor it
// gives -0 where the tested one gives +0. A NaN that reaches the outputs is caught by the check; so plain products are
// allowed where no product's value reaches the outputs through an operation that can drop a NaN (min, max, relu,
// step, not, where, clamp, pow, sigmoid with a temperature) or tells -0 from +0 (a divisor: 1 / -0 is -Inf). Trees
// with projections or normalizers keep the tested products.
KOKKOS_INLINE_FUNCTION constexpr bool drops_nan(const op o) {
  return o == op::min || o == op::max || o == op::relu || o == op::step || o == op::not_ || o == op::where ||
         o == op::clamp || o == op::pow || o == op::sigmoid_t;
}
template <class Node, bool Under = false>
struct plain_products {
  static constexpr bool value = false;
};
template <bool Under>
struct plain_products<plan::d_const, Under> {
  static constexpr bool value = true;
};
template <int Slot, class Dims, bool Under>
struct plain_products<plan::d_ref<Slot, Dims>, Under> {
  static constexpr bool value = true;
};
template <cmp_op Op, class A, class B, bool Under>
struct plain_products<plan::d_compare<Op, A, B>, Under> {
  static constexpr bool value = true;
};
template <op Op, class A, bool Under>
struct plain_products<plan::d_apply1<Op, A>, Under> {
  static constexpr bool value = plain_products<A, Under || drops_nan(Op)>::value;
};
template <op Op, class A, class B, bool Under>
struct plain_products<plan::d_apply2<Op, A, B>, Under> {
  static constexpr bool value = !(Under && Op == op::mul) && plain_products<A, Under || drops_nan(Op)>::value &&
                                plain_products<B, Under || drops_nan(Op) || Op == op::div>::value;
};
template <op Op, class A, class B, class C, bool Under>
struct plain_products<plan::d_apply3<Op, A, B, C>, Under> {
  static constexpr bool value = plain_products<A, Under || drops_nan(Op)>::value &&
                                plain_products<B, Under || drops_nan(Op)>::value &&
                                plain_products<C, Under || drops_nan(Op)>::value;
};

// A whole reduction and a map over the same index space in one pass (multi-output fusion, exec/eval.hpp
// reduction_pairs): r = op over S of body(S) and M(S) = rhs(S), where M's subscripts are S in the reduction's order.
// Both read through one broadcast layout of S (body + rhs), so each cell's inputs are loaded once; the map's value is
// stored after both are computed, so a compiler may share their common subexpressions. On the host a work item walks
// `rows` whole rows, or one chunk of `chunk` cells of a longer row, with the full reduction's accumulator lanes; on
// devices a work item is one cell.
template <class R, class RM, class Ctx, class Body, class Rhs, class RedDims, reduce_op Op, class Out>
struct reduce_map_kernel {
  using layout_t = broadcast_rows<plan::d_apply2<op::add, Body, Rhs>, RedDims, true>;
  using ev = offset_evaluator<R, Ctx, broadcast_cells<layout_t>>;
  using ev_map = offset_evaluator<RM, Ctx, broadcast_cells<layout_t>>;
  using red = lane_reducer<Op, R>;
  static constexpr int split = layout_t::layout.split;
  Ctx ctx;
  Body body;
  Rhs rhs;
  Out* out;
  long row = 1;
  long rows = 1;    // host: whole rows per work item (when chunks == 1)
  long chunks = 1;  // host: work items per row (rows of more than `chunk` cells)
  long chunk = 4096;
  long total_rows = 0;
  long per_row[max_subscripts + 1]{};

  KOKKOS_INLINE_FUNCTION void prefixes(long* pre, const long r) const {
    for (int a = 1; a <= split; ++a) pre[a] = r / per_row[a];
  }
#if !defined(__CUDA_ARCH__) && !defined(__HIP_DEVICE_COMPILE__)
  // Plain products (plain_products above) for a sum or mean: a maximum or minimum would drop a NaN.
  static constexpr bool plain = (Op == reduce_op::sum || Op == reduce_op::mean) &&
                                plain_products<Body>::value && plain_products<Rhs>::value;
  // The cells [c0, c1) of the row at `base`: the map's values stored, the body's values joined into `lane`. Plain:
  // returns the sum of the stored values, which is finite unless one of them is NaN or infinite (or the sum
  // overflows).
  template <bool Plain>
  KOKKOS_FORCEINLINE_FUNCTION double segment(const Ctx& lctx, const Body& lbody, const Rhs& lrhs, const double* inv,
                                             const long* pre, const long base, const long c0, const long c1,
                                             R* lane) const {
    using cev = offset_evaluator<R, Ctx, broadcast_cached_cells<layout_t>, Plain>;
    using cev_map = offset_evaluator<RM, Ctx, broadcast_cached_cells<layout_t>, Plain>;
    constexpr int W = reduction_lanes<R>();
    Out* o = out + base;
    RM sum_map[W];
    for (int l = 0; l < W; ++l) sum_map[l] = RM(0);
    long c = c0;
    for (; c + W <= c1; c += W) {
      // W cells' values first, then their stores: the stores may alias the inputs, so interleaving them would
      // keep the lanes from being vectorized together
      RM v[W];
      for (int l = 0; l < W; ++l) {
        const broadcast_cached_point p{base + c + l, c + l, pre, inv};
        v[l] = cev_map::eval(lrhs, lctx, p);
        lane[l] = red::join(lane[l], cev::eval(lbody, lctx, p));
        if constexpr (Plain) sum_map[l] += v[l];
      }
      if constexpr (std::is_same_v<Out, RM>)
        __builtin_memcpy(o + c, v, sizeof v);
      else
        for (int l = 0; l < W; ++l) o[c + l] = static_cast<Out>(v[l]);
    }
    for (; c < c1; ++c) {
      const broadcast_cached_point p{base + c, c, pre, inv};
      const RM v = cev_map::eval(lrhs, lctx, p);
      lane[0] = red::join(lane[0], cev::eval(lbody, lctx, p));
      if constexpr (Plain) sum_map[0] += v;
      o[c] = static_cast<Out>(v);
    }
    double check = 0.0;
    if constexpr (Plain)
      for (int l = 0; l < W; ++l) check += static_cast<double>(sum_map[l]);
    return check;
  }
#endif
  TENSORLOGIC_HOST_CLONES KOKKOS_INLINE_FUNCTION void operator()(const long item, R& acc) const {
    long pre[max_subscripts + 1]{};
#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__)
    const long r = item / row;
    prefixes(pre, r);
    const broadcast_point p{item, item - r * row, pre};
    const RM v = ev_map::eval(rhs, ctx, p);
    acc = red::join(acc, ev::eval(body, ctx, p));
    out[item] = static_cast<Out>(v);
#else
    using cache = broadcast_cache<layout_t, Ctx>;
    double inv[cache::size];
    // local copies: the members' constants and tensor pointers would be reloaded after every store
    const Ctx lctx = ctx;
    const Body lbody = body;
    const Rhs lrhs = rhs;
    constexpr int W = reduction_lanes<R>();
    R lane[W];
    for (int l = 0; l < W; ++l) lane[l] = red::init();
    long lo = item * rows, hi = lo + rows < total_rows ? lo + rows : total_rows, c0 = 0, c1 = row;
    if (chunks > 1) {
      lo = item / chunks;
      hi = lo + 1;
      c0 = (item - lo * chunks) * chunk;
      c1 = c0 + chunk < row ? c0 + chunk : row;
    }
    for (long r = lo; r < hi; ++r) {
      prefixes(pre, r);
      cache::fill(inv, lctx, pre);
      const long base = r * row;
      if constexpr (plain) {
        // optimistic: plain products, the body's values added to a copy of the lanes (so that the sums are the
        // tested run's, addition for addition); kept when neither the stored values nor the lanes hold a NaN or an
        // Inf, else the row runs again with the tested products
        R row_lane[W];
        for (int l = 0; l < W; ++l) row_lane[l] = lane[l];
        double check = segment<true>(lctx, lbody, lrhs, inv, pre, base, c0, c1, row_lane);
        for (int l = 0; l < W; ++l) check += static_cast<double>(row_lane[l]);
        if (check - check == 0.0) {
          for (int l = 0; l < W; ++l) lane[l] = row_lane[l];
          continue;
        }
      }
      segment<false>(lctx, lbody, lrhs, inv, pre, base, c0, c1, lane);
    }
    for (int w = W / 2; w > 0; w /= 2)
      for (int l = 0; l < w; ++l) lane[l] = red::join(lane[l], lane[l + w]);
    acc = red::join(acc, lane[0]);
#endif
  }
  // The work items for the host (rows of at most `chunk` cells grouped, longer rows split) or devices (cells).
  template <bool Host>
  long items() {
    if constexpr (Host) {
      if (row > chunk) {
        chunks = (row + chunk - 1) / chunk;
        return total_rows * chunks;
      }
      rows = chunk / row;
      return (total_rows + rows - 1) / rows;
    } else {
      return total_rows * row;
    }
  }
};

// Writes a rank-0 result computed by a reduction (one work item).
template <class R, class Out>
struct scalar_store {
  Out* out;
  R value;
  write_mode mode = write_mode::assign;
  KOKKOS_INLINE_FUNCTION void operator()(const long) const {
    if (mode == write_mode::assign)
      out[0] = static_cast<Out>(value);
    else if (mode == write_mode::accumulate)
      out[0] += static_cast<Out>(value);
    else if (value > R(0))
      out[0] = Out(1);
  }
};

}  // namespace tensorlogic::exec
