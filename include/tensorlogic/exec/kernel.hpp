// The generated kernels: named functors instantiated on lowered descriptors (plan/descriptor.hpp). One equation is
// one kernel: a parallel loop over the cells of its left-hand side; each cell evaluates the fused expression tree,
// with every projection as an inner loop. Device code only: no Hana, nothing from std that CUDA/HIP lack.
#pragma once
#include <Kokkos_Core.hpp>
#include <cstdint>
#include <type_traits>

#include <tensorlogic/exec/basics.hpp>
#include <tensorlogic/exec/lanes.hpp>
#include <tensorlogic/exec/rows.hpp>
#include <tensorlogic/plan/descriptor.hpp>

namespace tensorlogic::exec {

// Static extents of the program's indices (dynamic_extent -> -1; a dimension index, whose extent the store derives
// from a tensor's, -2), known to every kernel at compile time.
template <long... E>
struct static_extents {
  static constexpr int count = sizeof...(E);
  KOKKOS_INLINE_FUNCTION static constexpr bool derived(int pos) { return get(pos) == -2; }
  KOKKOS_INLINE_FUNCTION static constexpr long get(int pos) {
    constexpr long v[] = {E..., -1};
    return v[pos];
  }
};

// What a kernel reads: the table, the run-time extents of all indices.
template <class Table, class Static, int NIdx>
struct kernel_context {
  using static_type = Static;
  static constexpr int n_indices = NIdx;
  Table table;
  long extent[NIdx > 0 ? NIdx : 1]{};

  template <int Pos>
  KOKKOS_INLINE_FUNCTION long index_extent() const {
    if constexpr (Static::get(Pos) >= 0)
      return Static::get(Pos);
    else
      return extent[Pos];
  }
};

// Row statistics of a normalizer (softmax: max and sum of exp; lnorm: mean and 1/sqrt(var + eps)).
template <class R>
struct row_stats {
  R a{};
  R b{};
};

// Per-cell state: the current value of every index, and the row statistics of the equation's normalizer.
template <class R, int NIdx>
struct frame {
  long idx[NIdx > 0 ? NIdx : 1];
  row_stats<R> stats;
};

// Evaluation of a lowered node at the index values in the frame (positions are program index positions).
template <class R, class Ctx, class F>
struct evaluator {
  template <int Pos>
  KOKKOS_INLINE_FUNCTION static long coordinate(const plan::dim_var<Pos>&, const Ctx&, const F& f) {
    return f.idx[Pos];
  }
  template <int... Pos>
  KOKKOS_INLINE_FUNCTION static long coordinate(const plan::dim_affine<Pos...>& d, const Ctx&, const F& f) {
    long v = d.offset;
    int k = 0;
    ((v += d.coef[k++] * f.idx[Pos]), ...);
    return d.divisor == 1 ? v : floor_div(v, d.divisor);
  }
  template <class D>
  KOKKOS_INLINE_FUNCTION static constexpr bool always_in_range(const D*) {
    return false;
  }
  template <int Pos>
  KOKKOS_INLINE_FUNCTION static constexpr bool always_in_range(const plan::dim_var<Pos>*) {
    return true;
  }

  // Linear offset of the subscripts in a LayoutRight tensor, or -1 when a subscript is out of range (reads 0).
  template <class S>
  KOKKOS_INLINE_FUNCTION static long offset_of(const plan::dims<>&, const S&, const Ctx&, const F&, int, long acc) {
    return acc;
  }
  template <class S, class D, class... Rest>
  KOKKOS_INLINE_FUNCTION static long offset_of(const plan::dims<D, Rest...>& d, const S& slot, const Ctx& c,
                                               const F& f, int k, long acc) {
    const long x = coordinate(d.head, c, f);
    if (!always_in_range(static_cast<const D*>(nullptr)) && (x < 0 || x >= slot.extent[k])) return -1;
    return offset_of(d.tail, slot, c, f, k + 1, acc * slot.extent[k] + x);
  }

  KOKKOS_INLINE_FUNCTION static R eval(const plan::d_const& n, const Ctx&, F&) { return static_cast<R>(n.value); }

  template <int Slot, class Dims>
  KOKKOS_INLINE_FUNCTION static R eval(const plan::d_ref<Slot, Dims>& n, const Ctx& c, F& f) {
    const auto& slot = table_get<Slot>::get(c.table);
    const long off = offset_of(n.subscripts, slot, c, f, 0, 0);
    return off < 0 ? R(0) : static_cast<R>(slot.data[off]);
  }

  template <cmp_op Op, class A, class B>
  KOKKOS_INLINE_FUNCTION static R eval(const plan::d_compare<Op, A, B>& n, const Ctx& c, F& f) {
    return compare_indices<Op>(coordinate(n.a, c, f), coordinate(n.b, c, f)) ? R(1) : R(0);
  }

  template <op Op, class A>
  KOKKOS_INLINE_FUNCTION static R eval(const plan::d_apply1<Op, A>& n, const Ctx& c, F& f) {
    return elementwise<R>::template unary<Op>(eval(n.a, c, f));
  }

  template <op Op, class A, class B>
  KOKKOS_INLINE_FUNCTION static R eval(const plan::d_apply2<Op, A, B>& n, const Ctx& c, F& f) {
    const R x = eval(n.a, c, f);
    if constexpr (Op == op::mul) {
      // A zero factor skips the rest of the product (relations, masks, out-of-range reads).
      if (x == R(0)) return R(0);
      return x * eval(n.b, c, f);
    } else {
      return elementwise<R>::template binary<Op>(x, eval(n.b, c, f));
    }
  }

  template <op Op, class A, class B, class C>
  KOKKOS_INLINE_FUNCTION static R eval(const plan::d_apply3<Op, A, B, C>& n, const Ctx& c, F& f) {
    if constexpr (Op == op::where) {
      return eval(n.a, c, f) > R(0) ? eval(n.b, c, f) : eval(n.c, c, f);
    } else {
      static_assert(Op == op::clamp);
      const R x = eval(n.a, c, f), lo = eval(n.b, c, f), hi = eval(n.c, c, f);
      return x < lo ? lo : (x > hi ? hi : x);
    }
  }

  // Guards. A projection that adds its values (sum, mean, any) skips the values of its index P that a factor of its
  // body's top-level product rules out: a comparison (a OP b), or a read T(..., c P + r, ...) (0 outside T) at a
  // subscript with a dimension index X#k, whose subscripts are linear in P and otherwise use only indices already
  // fixed (not the projection's inner indices Rest), bounds P to an interval. So a solved gradient such as grad(C)(C#1) = (C#1 - 2 p >= 0) (C#1 - 2 p <= 1)
  // grad(M)(p) ... walks the one p of each window, and grad(X)(X#1) = grad(Y)(t) F(X#1 - 2 t) the |F| / 2 values
  // of t whose filter tap exists, not all of them. The skipped terms are products with a zero factor, which the
  // product already ends at that factor; the sums are unchanged bit for bit (a NaN or Inf in another factor of a
  // skipped term does not reach the sum, as for masked terms).
  struct linear_part {
    long coef;
    long rest;
    bool exact;
  };
  template <int P, int Q>
  KOKKOS_INLINE_FUNCTION static linear_part linear_in(const plan::dim_var<Q>&, const F& f) {
    if constexpr (Q == P) return {1, 0, true};
    else return {0, f.idx[Q], true};
  }
  template <int P, int... Q>
  KOKKOS_INLINE_FUNCTION static linear_part linear_in(const plan::dim_affine<Q...>& d, const F& f) {
    linear_part r{0, d.offset, d.divisor == 1};
    int k = 0;
    ((Q == P ? (r.coef += d.coef[k]) : (r.rest += d.coef[k] * f.idx[Q]), ++k), ...);
    return r;
  }
  template <int P, int Q>
  KOKKOS_INLINE_FUNCTION static constexpr bool mentions(const plan::dim_var<Q>*) {
    return Q == P;
  }
  template <int P, int... Q>
  KOKKOS_INLINE_FUNCTION static constexpr bool mentions(const plan::dim_affine<Q...>*) {
    return ((Q == P) || ...);
  }
  // Whether a subscript reads a dimension index (X#k: a solved gradient's subscript, which runs off the tensors it
  // reads by design; a forward read such as X(t + u) stays inside X and is not examined).
  template <class D>
  KOKKOS_INLINE_FUNCTION static constexpr bool reads_dimension_index(const D*) {
    return false;
  }
  template <int... Q>
  KOKKOS_INLINE_FUNCTION static constexpr bool reads_dimension_index(const plan::dim_affine<Q...>*) {
    if constexpr (requires { Ctx::static_type::derived(0); }) return (Ctx::static_type::derived(Q) || ...);
    else return false;
  }
  // v such that coef * v + rest >= 0, intersected with [lo, hi)
  KOKKOS_INLINE_FUNCTION static void keep_nonnegative(const long coef, const long rest, long& lo, long& hi) {
    if (coef == 1) {  // the common cases (shifts, filter taps) without a division
      lo = -rest > lo ? -rest : lo;
    } else if (coef == -1) {
      hi = rest + 1 < hi ? rest + 1 : hi;
    } else if (coef > 0) {
      const long b = -floor_div(rest, coef);
      lo = b > lo ? b : lo;
    } else if (coef < 0) {
      const long b = floor_div(rest, -coef) + 1;
      hi = b < hi ? b : hi;
    } else if (rest < 0) {
      hi = 0;
    }
  }
  template <int P, int... Rest, class Node>
  KOKKOS_INLINE_FUNCTION static void narrow(const Node&, const Ctx&, const F&, long&, long&) {}
  template <int P, int... Rest, class A, class B>
  KOKKOS_INLINE_FUNCTION static void narrow(const plan::d_apply2<op::mul, A, B>& n, const Ctx& c, const F& f, long& lo,
                                            long& hi) {
    narrow<P, Rest...>(n.a, c, f, lo, hi);
    narrow<P, Rest...>(n.b, c, f, lo, hi);
  }
  // A read's affine subscripts that involve a dimension index: 0 <= c P + r <= extent - 1.
  template <int P, int... Rest>
  KOKKOS_INLINE_FUNCTION static void narrow_dims(const plan::dims<>&, const long*, int, const F&, long&, long&) {}
  template <int P, int... Rest, class D, class... More>
  KOKKOS_INLINE_FUNCTION static void narrow_dims(const plan::dims<D, More...>& d, const long* extent, int k, const F& f,
                                                 long& lo, long& hi) {
    if constexpr (reads_dimension_index(static_cast<const D*>(nullptr)) && mentions<P>(static_cast<const D*>(nullptr)) &&
                  !(mentions<Rest>(static_cast<const D*>(nullptr)) || ...)) {
      const linear_part a = linear_in<P>(d.head, f);
      if (a.exact) {
        keep_nonnegative(a.coef, a.rest, lo, hi);
        keep_nonnegative(-a.coef, extent[k] - 1 - a.rest, lo, hi);
      }
    }
    narrow_dims<P, Rest...>(d.tail, extent, k + 1, f, lo, hi);
  }
  template <int P, int... Rest, int Slot, class Dims>
  KOKKOS_INLINE_FUNCTION static void narrow(const plan::d_ref<Slot, Dims>& n, const Ctx& c, const F& f, long& lo,
                                            long& hi) {
    narrow_dims<P, Rest...>(n.subscripts, table_get<Slot>::get(c.table).extent, 0, f, lo, hi);
  }
  template <int P, int... Rest, cmp_op Op, class A, class B>
  KOKKOS_INLINE_FUNCTION static void narrow(const plan::d_compare<Op, A, B>& n, const Ctx&, const F& f, long& lo,
                                            long& hi) {
    constexpr bool inner = ((mentions<Rest>(static_cast<const A*>(nullptr)) ||
                             mentions<Rest>(static_cast<const B*>(nullptr))) || ...);
    if constexpr (Op != cmp_op::ne && !inner &&
                  (mentions<P>(static_cast<const A*>(nullptr)) || mentions<P>(static_cast<const B*>(nullptr)))) {
      const linear_part a = linear_in<P>(n.a, f), b = linear_in<P>(n.b, f);
      if (!a.exact || !b.exact) return;
      const long coef = a.coef - b.coef, rest = a.rest - b.rest;  // a - b = coef * P + rest
      if constexpr (Op == cmp_op::ge || Op == cmp_op::eq) keep_nonnegative(coef, rest, lo, hi);
      if constexpr (Op == cmp_op::le || Op == cmp_op::eq) keep_nonnegative(-coef, -rest, lo, hi);
      if constexpr (Op == cmp_op::gt) keep_nonnegative(coef, rest - 1, lo, hi);
      if constexpr (Op == cmp_op::lt) keep_nonnegative(-coef, -rest - 1, lo, hi);
    }
  }

  // Projection: nested loops over the projected indices (static extents known at compile time).
  template <reduce_op Op, class Body>
  KOKKOS_INLINE_FUNCTION static void project_loop(const Body& body, const Ctx& c, F& f, R& acc, R& aux) {
    const R v = eval(body, c, f);
    if constexpr (Op == reduce_op::sum || Op == reduce_op::mean) acc += v;
    if constexpr (Op == reduce_op::max) acc = v > acc ? v : acc;
    if constexpr (Op == reduce_op::min) acc = v < acc ? v : acc;
    if constexpr (Op == reduce_op::any) acc = (v > R(0) || acc > R(0)) ? R(1) : R(0);
    if constexpr (Op == reduce_op::logsumexp) {
      // online: acc is the running max, aux the sum of exp(v - acc)
      if (v > acc) {
        aux = aux * kmath::exp(acc - v) + R(1);
        acc = v;
      } else {
        aux += kmath::exp(v - acc);
      }
    }
  }
  template <reduce_op Op, class Body, int P, int... Rest>
  KOKKOS_INLINE_FUNCTION static void project_loop(const Body& body, const Ctx& c, F& f, R& acc, R& aux) {
    // an inner projection may reuse an index the term also sums outside it (sum(j, A(i, j)) B(j, k)): restore it
    const long n = c.template index_extent<P>();
    const long outer = f.idx[P];
    long lo = 0, hi = n;
    if constexpr (Op == reduce_op::sum || Op == reduce_op::mean || Op == reduce_op::any) narrow<P, Rest...>(body, c, f, lo, hi);
    for (long v = lo; v < hi; ++v) {
      f.idx[P] = v;
      project_loop<Op, Body, Rest...>(body, c, f, acc, aux);
    }
    f.idx[P] = outer;
  }

  template <reduce_op Op, class Body, int... Pos>
  KOKKOS_INLINE_FUNCTION static R eval(const plan::d_project<Op, Body, Pos...>& n, const Ctx& c, F& f) {
    R acc = R(0), aux = R(0);
    constexpr R big = R(3.0e38) > R(0) ? R(3.0e38) : R(1.0e300);
    if constexpr (Op == reduce_op::max || Op == reduce_op::logsumexp) acc = -big;
    if constexpr (Op == reduce_op::min) acc = big;
    project_loop<Op, Body, Pos...>(n.body, c, f, acc, aux);
    if constexpr (Op == reduce_op::mean) {
      long count = 1;
      ((count *= c.template index_extent<Pos>()), ...);
      return count > 0 ? acc / R(count) : R(0);
    }
    if constexpr (Op == reduce_op::logsumexp) return aux > R(0) ? acc + kmath::log(aux) : -big;
    return acc;
  }

  // A normalizer reads the statistics of its row, computed by the kernel beforehand (stats_of below).
  template <norm_op Op, int Pos, class Body>
  KOKKOS_INLINE_FUNCTION static R eval(const plan::d_normalize<Op, Pos, Body>& n, const Ctx& c, F& f) {
    const R x = eval(n.body, c, f);
    const row_stats<R>& st = f.stats;
    if constexpr (Op == norm_op::softmax) return kmath::exp(x - st.a) / st.b;
    if constexpr (Op == norm_op::log_softmax) return x - st.a - kmath::log(st.b);
    if constexpr (Op == norm_op::lnorm) return (x - st.a) * st.b;
  }
};


// The normalizer inside a lowered right-hand side (at most one per equation), found at compile time.
template <class N>
struct normalizer_of {
  static constexpr bool present = false;
};
template <norm_op Op, int Pos, class Body>
struct normalizer_of<plan::d_normalize<Op, Pos, Body>> {
  static constexpr bool present = true;
  static constexpr norm_op operation = Op;
  static constexpr int position = Pos;
  using type = plan::d_normalize<Op, Pos, Body>;
  KOKKOS_INLINE_FUNCTION static const type& get(const type& n) { return n; }
};
template <op Op, class A>
struct normalizer_of<plan::d_apply1<Op, A>> : normalizer_of<A> {
  KOKKOS_INLINE_FUNCTION static const auto& get(const plan::d_apply1<Op, A>& n) { return normalizer_of<A>::get(n.a); }
};
template <op Op, class A, class B>
struct normalizer_of<plan::d_apply2<Op, A, B>>
    : std::conditional_t<normalizer_of<A>::present, normalizer_of<A>, normalizer_of<B>> {
  KOKKOS_INLINE_FUNCTION static const auto& get(const plan::d_apply2<Op, A, B>& n) {
    if constexpr (normalizer_of<A>::present)
      return normalizer_of<A>::get(n.a);
    else
      return normalizer_of<B>::get(n.b);
  }
};
template <op Op, class A, class B, class C>
struct normalizer_of<plan::d_apply3<Op, A, B, C>>
    : std::conditional_t<normalizer_of<A>::present, normalizer_of<A>,
                         std::conditional_t<normalizer_of<B>::present, normalizer_of<B>, normalizer_of<C>>> {
  KOKKOS_INLINE_FUNCTION static const auto& get(const plan::d_apply3<Op, A, B, C>& n) {
    if constexpr (normalizer_of<A>::present)
      return normalizer_of<A>::get(n.a);
    else if constexpr (normalizer_of<B>::present)
      return normalizer_of<B>::get(n.b);
    else
      return normalizer_of<C>::get(n.c);
  }
};

template <reduce_op Op, class Body, int... Pos>
struct normalizer_of<plan::d_project<Op, Body, Pos...>> : normalizer_of<Body> {
  KOKKOS_INLINE_FUNCTION static const auto& get(const plan::d_project<Op, Body, Pos...>& n) {
    return normalizer_of<Body>::get(n.body);
  }
};

// One subscript of the left-hand side: a plain index, index + c or (index + c) / n, or a constant.
struct lhs_dim {
  int kind = 0;  // 0: plain index, 1: affine in one index, 2: constant
  int pos = 0;
  long offset = 0;
  long divisor = 1;
  long extent = 1;  // extent of the destination dimension
};

// The kernel of one equation: parallel over the cells of its left-hand side (over rows when it normalizes).
// FlatDims: the left-hand side's subscripts when the equation runs on flat addressing (a flat map, row reductions).
// Lane: on the host, the position of a plain left-hand side's last index when each work item's stretch along it runs
// on lanes (exec/lanes.hpp lane_position), else -1.
template <class R, class Ctx, class Rhs, class Out, int Rank, int NIdx, bool Plain, class FlatDims = void, int Lane = -1>
struct equation_kernel {
  using frame_t = frame<R, NIdx>;
  using eval_t = evaluator<R, Ctx, frame_t>;
  using norm = normalizer_of<Rhs>;

  Ctx ctx;
  Rhs rhs;
  Out* out;
  lhs_dim dims[Rank > 0 ? Rank : 1];
  int norm_dim = -1;
  write_mode mode = write_mode::assign;
  // Cells per work item along the last left-hand-side subscript (plain left-hand sides on the host; a divisor of that
  // extent): the item's coordinates are decoded once and the loop walks that stretch of the row, instead of one
  // integer division per subscript per cell.
  long inner = 1;
  // On lanes: work items per row of the last subscript, which split it into stretches of at most max_lanes cells whose
  // lengths differ by at most one (any extent, prime or not).
  long chunks = 1;
  // On lanes: stretches per work item (so that an item holds about lane_item_cells cells).
  long stretches = 1;
  long total = 0;  // cells of the left-hand side (flat maps); on lanes, the stretches of the left-hand side

  // A flat map: the cells [item * inner, item * inner + inner) of the flat buffers, one loop per write mode.
  TENSORLOGIC_HOST_CLONES KOKKOS_INLINE_FUNCTION void flat(const long item) const {
    using fe = offset_evaluator<R, Ctx, flat_cells<FlatDims>>;
    const long lo = item * inner;
    const long hi = lo + inner < total ? lo + inner : total;
    if (mode == write_mode::assign) {
      for (long c = lo; c < hi; ++c) out[c] = static_cast<Out>(fe::eval(rhs, ctx, c));
    } else if (mode == write_mode::accumulate) {
      for (long c = lo; c < hi; ++c) out[c] += static_cast<Out>(fe::eval(rhs, ctx, c));
    } else {
      for (long c = lo; c < hi; ++c)
        if (fe::eval(rhs, ctx, c) > R(0)) out[c] = Out(1);
    }
  }

  KOKKOS_INLINE_FUNCTION void write(const long* coord, R v, bool hit) const {
    long off = 0;
    for (int k = 0; k < Rank; ++k) off = off * dims[k].extent + coord[k];
    if (mode == write_mode::logical_or) {
      if (hit && v > R(0)) out[off] = Out(1);
    } else if (mode == write_mode::accumulate) {
      if (hit) out[off] += static_cast<Out>(v);
    } else {
      out[off] = hit ? static_cast<Out>(v) : Out(0);
    }
  }

  KOKKOS_INLINE_FUNCTION void row(frame_t& f, long* coord) const {
    if constexpr (norm::present) {
      constexpr int q = norm::position;
      const auto& nz = norm::get(rhs);
      const long n = ctx.template index_extent<q>();
      R a = R(0), b = R(0);
      if constexpr (norm::operation == norm_op::lnorm) {
        // Welford: mean and biased variance over the row
        for (long v = 0; v < n; ++v) {
          f.idx[q] = v;
          const R x = eval_t::eval(nz.body, ctx, f);
          const R d = x - a;
          a += d / R(v + 1);
          b += d * (x - a);
        }
        f.stats.a = a;
        f.stats.b = R(1) / kmath::sqrt((n > 0 ? b / R(n) : R(0)) + R(1e-5));
      } else {
        a = -R(3.0e38 > 1 ? 3.0e38 : 1e300);
        for (long v = 0; v < n; ++v) {
          f.idx[q] = v;
          const R x = eval_t::eval(nz.body, ctx, f);
          if (x > a) {
            b = b * kmath::exp(a - x) + R(1);
            a = x;
          } else {
            b += kmath::exp(x - a);
          }
        }
        f.stats.a = a;
        f.stats.b = b;
      }
      for (long v = 0; v < n; ++v) {
        f.idx[q] = v;
        coord[norm_dim] = v;
        write(coord, eval_t::eval(rhs, ctx, f), true);
      }
    }
  }

  // The coordinates of a work item's first cell.
  KOKKOS_FORCEINLINE_FUNCTION void decode(const long item, long* coord) const {
    long rem = item * inner;
    for (int k = Rank - 1; k >= 0; --k) {
      if (dims[k].kind == 2) {
        coord[k] = dims[k].offset;
      } else if (k != norm_dim) {
        coord[k] = rem % dims[k].extent;
        rem /= dims[k].extent;
      }
    }
  }

  // A work item of a plain left-hand side on lanes: `stretches` consecutive stretches (row-major over the other
  // subscripts), each stretch's cells along the last subscript evaluated together, each read bound once per stretch
  // and per projection point (exec/lanes.hpp). The item's first stretch is decoded with divisions, the next ones by
  // stepping the coordinates like an odometer (a division per stretch cost as much as a 16-cell stretch's arithmetic).
  // Host only.
  TENSORLOGIC_HOST_CLONES KOKKOS_INLINE_FUNCTION void lanes(const long item) const {
#if !defined(__CUDA_ARCH__) && !defined(__HIP_DEVICE_COMPILE__)
    if constexpr (Lane >= 0 && Rank > 0) {
      frame_t f{};
      long coord[Rank]{};
      const long first = item * stretches;
      const long end = first + stretches < total ? first + stretches : total;
      long row = first / chunks, c = first - row * chunks;
      const long base = dims[Rank - 1].extent / chunks, extra = dims[Rank - 1].extent - base * chunks;
      for (int k = Rank - 2; k >= 0; --k) {
        coord[k] = row % dims[k].extent;
        row /= dims[k].extent;
      }
      for (long piece = first; piece < end; ++piece) {
        const long n = base + (c < extra ? 1 : 0);
        coord[Rank - 1] = c * base + (c < extra ? c : extra);
        long off = 0;
        for (int k = 0; k < Rank; ++k) {
          f.idx[dims[k].pos] = coord[k];
          off = off * dims[k].extent + coord[k];
        }
        Out* o = out + off;
        using value_t = lane_value<R, Ctx, frame_t, Rhs, Lane>;
        if constexpr (lane_projects_only<Rhs> && std::is_same_v<Out, R>) {
          if (mode == write_mode::assign) {  // a projection straight into the output row
            value_t::bind_into(rhs, ctx, f, n, o);
            advance(c, coord);
            continue;
          }
        }
        value_t v;
        v.bind(rhs, ctx, f, n);
        if (mode == write_mode::assign) {
          for (long l = 0; l < n; ++l) o[l] = static_cast<Out>(v.at(l));
        } else if (mode == write_mode::accumulate) {
          for (long l = 0; l < n; ++l) o[l] += static_cast<Out>(v.at(l));
        } else {
          for (long l = 0; l < n; ++l)
            if (v.at(l) > R(0)) o[l] = Out(1);
        }
        advance(c, coord);
      }
    }
#endif
  }
  // The next stretch: chunk c of the row, else the next row's first (the coordinates stepped like an odometer).
  KOKKOS_FORCEINLINE_FUNCTION void advance(long& c, long* coord) const {
    if (++c == chunks) {
      c = 0;
      for (int k = Rank - 2; k >= 0 && ++coord[k] == dims[k].extent; --k) coord[k] = 0;
    }
  }

  KOKKOS_INLINE_FUNCTION void operator()(const long item) const {
    if constexpr (!std::is_void_v<FlatDims>) {
      flat(item);
      return;
    }
    if constexpr (Lane >= 0) {
      lanes(item);
      return;
    }
    frame_t f{};
    long coord[Rank > 0 ? Rank : 1]{};
    decode(item, coord);
    if constexpr (norm::present) {
      for (int k = 0; k < Rank; ++k)
        if (dims[k].kind == 0) f.idx[dims[k].pos] = coord[k];
      row(f, coord);
    } else if constexpr (Plain) {
      for (int k = 0; k < Rank; ++k)
        if (dims[k].kind == 0) f.idx[dims[k].pos] = coord[k];
      if constexpr (Rank > 0) {
        const int last = dims[Rank - 1].pos;
        const long start = coord[Rank - 1];
        for (long v = start; v < start + inner; ++v) {
          f.idx[last] = v;
          coord[Rank - 1] = v;
          write(coord, eval_t::eval(rhs, ctx, f), true);
        }
      } else {
        write(coord, eval_t::eval(rhs, ctx, f), true);
      }
    } else {
      // Each destination cell sums the values of every index assignment that maps onto it.
      long lo[Rank > 0 ? Rank : 1]{}, hi[Rank > 0 ? Rank : 1]{};
      bool hit = true;
      for (int k = 0; k < Rank; ++k) {
        if (dims[k].kind == 2) continue;
        if (dims[k].kind == 0) {
          lo[k] = coord[k];
          hi[k] = coord[k] + 1;
        } else {
          lo[k] = coord[k] * dims[k].divisor - dims[k].offset;
          hi[k] = lo[k] + dims[k].divisor;
          const long n = ctx.extent[dims[k].pos];
          lo[k] = lo[k] < 0 ? 0 : lo[k];
          hi[k] = hi[k] > n ? n : hi[k];
        }
        if (lo[k] >= hi[k]) hit = false;
      }
      R acc = R(0);
      if (hit) {
        for (int k = 0; k < Rank; ++k)
          if (dims[k].kind != 2) f.idx[dims[k].pos] = lo[k];
        for (;;) {
          acc += eval_t::eval(rhs, ctx, f);
          int k = Rank - 1;
          for (; k >= 0; --k) {
            if (dims[k].kind == 2) continue;
            if (++f.idx[dims[k].pos] < hi[k]) break;
            f.idx[dims[k].pos] = lo[k];
          }
          if (k < 0) break;
        }
      }
      write(coord, acc, hit);
    }
  }
};

// A column reduction (rows.hpp): each work item owns Block neighbouring cells and walks the projected positions,
// adding row k's stretch of those cells into its accumulators, so the innermost loop reads contiguous memory. Each
// cell sums in the order of the projected positions, as the generic kernel does.
template <class R, class Ctx, class Col, class Out, int Block>
struct column_kernel {
  using body_t = typename Col::body_t;
  using ev = offset_evaluator<R, Ctx, row_cells<typename Col::rows_t>>;
  using red = lane_reducer<Col::operation, R>;
  Ctx ctx;
  body_t body;
  Out* out = nullptr;
  write_mode mode = write_mode::assign;
  long cells = 0;
  long length = 0;

  TENSORLOGIC_HOST_CLONES KOKKOS_INLINE_FUNCTION void operator()(const long item) const {
    const long lo = item * Block;
    const long n = lo + Block < cells ? Block : cells - lo;
    R acc[Block];
    for (long c = 0; c < n; ++c) acc[c] = red::init();
    // eight rows per pass over the block: each accumulator stays in a register for eight additions, in their order
    long k = 0;
    for (; k + 8 <= length; k += 8) {
      const long base = k * cells + lo;
      for (long c = 0; c < n; ++c) {
        R a = acc[c];
        for (int u = 0; u < 8; ++u) a = red::join(a, ev::eval(body, ctx, row_point{lo + c, base + u * cells + c, k + u}));
        acc[c] = a;
      }
    }
    for (; k < length; ++k) {
      const long base = k * cells + lo;
      for (long c = 0; c < n; ++c) acc[c] = red::join(acc[c], ev::eval(body, ctx, row_point{lo + c, base + c, k}));
    }
    for (long c = 0; c < n; ++c) {
      const R v = red::finish(acc[c], length);
      if (mode == write_mode::assign)
        out[lo + c] = static_cast<Out>(v);
      else if (mode == write_mode::accumulate)
        out[lo + c] += static_cast<Out>(v);
      else if (v > R(0))
        out[lo + c] = Out(1);
    }
  }
};

// A normalizer's rows on flat addressing (rows.hpp, normalizer_rows): one row per work item, the normalized index the
// last subscript, so a row is contiguous. Softmax: the maximum in vector lanes, then exp(x - max) once per cell (written
// into the destination when the equation assigns it, then divided by the sum in place); log-softmax the same without
// the store; layer norm: the mean, then the variance about it (two passes), then (x - mean) / sqrt(var + 1e-5).
template <class R, class Ctx, class Norm, class LhsDims, class Out>
struct normalizer_kernel;
template <class R, class Ctx, norm_op Op, int Pos, class Body, class LhsDims, class Out>
struct normalizer_kernel<R, Ctx, plan::d_normalize<Op, Pos, Body>, LhsDims, Out> {
  using addr = norm_cells<LhsDims>;
  using ev = offset_evaluator<R, Ctx, addr>;
  using point = typename addr::point;
  static constexpr int rank = plain_positions<LhsDims>::size;
  static constexpr int W = reduction_lanes<R>();

  Ctx ctx;
  Body body;
  Out* out = nullptr;
  write_mode mode = write_mode::assign;
  long n = 0;                    // the row's length
  long extent[rank > 0 ? rank : 1]{};  // extents of the left-hand side's subscripts

  KOKKOS_INLINE_FUNCTION R at(const long lo, const long c, const long* row) const {
    return ev::eval(body, ctx, point{lo + c, c, row});
  }
  KOKKOS_INLINE_FUNCTION static R combine(R* acc) {
    for (int w = W / 2; w > 0; w /= 2)
      for (int l = 0; l < w; ++l) acc[l] = acc[l] + acc[l + w];
    return acc[0];
  }
  KOKKOS_INLINE_FUNCTION void put(const long cell, const R v) const {
    if (mode == write_mode::assign)
      out[cell] = static_cast<Out>(v);
    else if (mode == write_mode::accumulate)
      out[cell] += static_cast<Out>(v);
    else if (v > R(0))
      out[cell] = Out(1);
  }

  TENSORLOGIC_HOST_CLONES KOKKOS_INLINE_FUNCTION void operator()(const long r) const {
    long row[rank > 0 ? rank : 1]{};
    long rem = r;
    for (int k = rank - 2; k >= 0; --k) {
      row[k] = rem % extent[k];
      rem /= extent[k];
    }
    const long lo = r * n;
    R acc[W];
    long c = 0;
    if constexpr (Op == norm_op::lnorm) {
      for (int l = 0; l < W; ++l) acc[l] = R(0);
      for (c = 0; c + W <= n; c += W)
        for (int l = 0; l < W; ++l) acc[l] += at(lo, c + l, row);
      for (; c < n; ++c) acc[0] += at(lo, c, row);
      const R mean = n > 0 ? combine(acc) / R(n) : R(0);
      for (int l = 0; l < W; ++l) acc[l] = R(0);
      for (c = 0; c + W <= n; c += W)
        for (int l = 0; l < W; ++l) {
          const R d = at(lo, c + l, row) - mean;
          acc[l] += d * d;
        }
      for (; c < n; ++c) {
        const R d = at(lo, c, row) - mean;
        acc[0] += d * d;
      }
      const R rstd = R(1) / kmath::sqrt((n > 0 ? combine(acc) / R(n) : R(0)) + R(1e-5));
      for (c = 0; c < n; ++c) put(lo + c, (at(lo, c, row) - mean) * rstd);
    } else {
      constexpr R big = R(3.0e38) > R(0) ? R(3.0e38) : R(1.0e300);
      // the maximum a block at a time: the block's values into a buffer, its maximum in one vector of lanes (row_max)
      constexpr int B = 4 * W;
      R buf[B];
      R m = -big;
      for (c = 0; c < n; c += B) {
        const int nb = n - c < B ? static_cast<int>(n - c) : B;
        for (int j = 0; j < nb; ++j) buf[j] = at(lo, c + j, row);
        const R bm = row_max(buf, nb);
        m = bm > m ? bm : m;
      }
      for (int l = 0; l < W; ++l) acc[l] = R(0);
      // the exponentials a block at a time: the block's values into a buffer (the body may branch, a masked score
      // does), exp over the buffer in a loop of its own, which vectorizes, the sum in lanes, and the exponentials
      // stored when a softmax assigns (then divided in place below)
      constexpr bool can_store = Op == norm_op::softmax && std::is_same_v<Out, R>;
      [[maybe_unused]] const bool store = can_store && mode == write_mode::assign;
      for (c = 0; c < n; c += B) {
        const int nb = n - c < B ? static_cast<int>(n - c) : B;
        for (int j = 0; j < nb; ++j) buf[j] = at(lo, c + j, row);
        exp_shifted(buf, nb, m);
        int j = 0;
        for (; j + W <= nb; j += W)
          for (int l = 0; l < W; ++l) acc[l] += buf[j + l];
        for (; j < nb; ++j) acc[0] += buf[j];
        if constexpr (can_store)
          if (store)
            for (j = 0; j < nb; ++j) out[lo + c + j] = buf[j];
      }
      const R sum = combine(acc);
      if constexpr (can_store) {
        if (store) {
          for (c = 0; c < n; ++c) out[lo + c] = out[lo + c] / sum;
          return;
        }
      }
      for (c = 0; c < n; ++c) {
        const R x = at(lo, c, row);
        if constexpr (Op == norm_op::softmax)
          put(lo + c, kmath::exp(x - m) / sum);
        else
          put(lo + c, x - m - kmath::log(sum));
      }
    }
  }
};

// A one-argument function applied in place to a whole buffer, `inner` cells per work item: the head of f(P) or
// f(P + Rest) after the vendor GEMM (and the epilogue kernel) wrote P there. Templated on the types and f only, so the
// equations of a program that apply one f share it and instantiate no kernel of their own.
template <class R, class T, op F>
struct in_place_map {
  T* data = nullptr;
  long total = 0;
  long inner = 1;
  TENSORLOGIC_HOST_CLONES KOKKOS_INLINE_FUNCTION void operator()(const long item) const {
    const long lo = item * inner;
    const long hi = lo + inner < total ? lo + inner : total;
    for (long c = lo; c < hi; ++c)
      data[c] = static_cast<T>(elementwise<R>::template unary<F>(static_cast<R>(data[c])));
  }
};

// Number of cells that differ between two buffers (the fixpoint's convergence test).
template <class T>
struct count_changes {
  const T* a;
  const T* b;
  KOKKOS_INLINE_FUNCTION void operator()(const long k, long& n) const {
    if (a[k] != b[k]) ++n;
  }
};

}  // namespace tensorlogic::exec
