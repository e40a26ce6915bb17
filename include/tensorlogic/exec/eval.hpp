// tl::eval and tl::fixpoint: run a program's equations in dependency order, one generated kernel per equation,
// on any enabled execution space. Every run-time check (unbound inputs, left-hand-side subscripts) happens before
// the first kernel launches.
#pragma once
#include <Kokkos_Core.hpp>
#include <array>
#include <cstddef>
#include <string>
#include <type_traits>
#include <utility>

#include <tensorlogic/exec/fuse.hpp>
#include <tensorlogic/exec/kernel.hpp>
#include <tensorlogic/exec/store.hpp>
#include <tensorlogic/exec/tiled_gemm.hpp>
#include <tensorlogic/exec/vendor_gemm.hpp>
#include <tensorlogic/plan/inline.hpp>
#include <tensorlogic/plan/lower.hpp>
#include <tensorlogic/plan/order.hpp>

namespace tensorlogic {

struct fixpoint_options {
  long max_iterations = 1000000;
};

namespace detail {

template <class Prog, std::size_t... K>
constexpr auto static_extents_of(std::index_sequence<K...>) {
  return exec::static_extents<(Prog::indices.items[K].extent != dynamic_extent
                                   ? static_cast<long>(Prog::indices.items[K].extent)
                                   : (Prog::indices.items[K].derived ? -2L : -1L))...>{};
}

// One slot as a kernel sees it: the view's data and the store's shape (instantiated per view type, not per slot).
template <class View>
auto slot_view_data(const View& v, const std::array<long, 8>& shape) {
  exec::slot_data<typename View::value_type, static_cast<int>(View::rank)> d;
  d.data = v.data();
  // (rank 0: no loop at all; nvcc warns #186 on `k < 0u`)
  if constexpr (View::rank > 0)
    for (std::size_t k = 0; k < View::rank; ++k) d.extent[k] = shape[k];
  return d;
}

// A kernel's slots are local: the slots its lowered node reads, numbered 0, 1, ... in order of first appearance, so
// that two equations of the same shape over different tensors (the layers of a stack, the steps of an unrolled
// chain) instantiate one kernel type, compiled once, and never a kernel per equation. local_slots<Node> is that
// numbering, relabel<Map, Node> the node with its slots renumbered, make_table_for<Node> the kernel's table
// (local slot j holds the program's slot local_slots<Node>::global(j)).
template <class Node>
struct ref_count {
  static constexpr int value = 0;
};
template <int Slot, class Dims>
struct ref_count<plan::d_ref<Slot, Dims>> {
  static constexpr int value = 1;
};
template <op O, class A>
struct ref_count<plan::d_apply1<O, A>> {
  static constexpr int value = ref_count<A>::value;
};
template <op O, class A, class B>
struct ref_count<plan::d_apply2<O, A, B>> {
  static constexpr int value = ref_count<A>::value + ref_count<B>::value;
};
template <op O, class A, class B, class C>
struct ref_count<plan::d_apply3<O, A, B, C>> {
  static constexpr int value = ref_count<A>::value + ref_count<B>::value + ref_count<C>::value;
};
template <reduce_op Op, class Body, int... Pos>
struct ref_count<plan::d_project<Op, Body, Pos...>> {
  static constexpr int value = ref_count<Body>::value;
};
template <norm_op Op, int Pos, class Body>
struct ref_count<plan::d_normalize<Op, Pos, Body>> {
  static constexpr int value = ref_count<Body>::value;
};

template <class Node>
struct slot_walk {
  static constexpr void run(int*, int&) {}
};
template <int Slot, class Dims>
struct slot_walk<plan::d_ref<Slot, Dims>> {
  static constexpr void run(int* l, int& n) {
    for (int k = 0; k < n; ++k)
      if (l[k] == Slot) return;
    l[n++] = Slot;
  }
};
template <op O, class A>
struct slot_walk<plan::d_apply1<O, A>> {
  static constexpr void run(int* l, int& n) { slot_walk<A>::run(l, n); }
};
template <op O, class A, class B>
struct slot_walk<plan::d_apply2<O, A, B>> {
  static constexpr void run(int* l, int& n) {
    slot_walk<A>::run(l, n);
    slot_walk<B>::run(l, n);
  }
};
template <op O, class A, class B, class C>
struct slot_walk<plan::d_apply3<O, A, B, C>> {
  static constexpr void run(int* l, int& n) {
    slot_walk<A>::run(l, n);
    slot_walk<B>::run(l, n);
    slot_walk<C>::run(l, n);
  }
};
template <reduce_op Op, class Body, int... Pos>
struct slot_walk<plan::d_project<Op, Body, Pos...>> {
  static constexpr void run(int* l, int& n) { slot_walk<Body>::run(l, n); }
};
template <norm_op Op, int Pos, class Body>
struct slot_walk<plan::d_normalize<Op, Pos, Body>> {
  static constexpr void run(int* l, int& n) { slot_walk<Body>::run(l, n); }
};

template <class Node>
struct local_slots {
  struct walk_t {
    std::array<int, static_cast<std::size_t>(ref_count<Node>::value) + 1> list{};
    int count = 0;
  };
  static constexpr walk_t walk = [] {
    walk_t w;
    slot_walk<Node>::run(w.list.data(), w.count);
    return w;
  }();
  static constexpr int count = walk.count;
  static constexpr int global(int j) { return walk.list[static_cast<std::size_t>(j)]; }
  static constexpr int local(int slot) {
    for (int k = 0; k < count; ++k)
      if (walk.list[static_cast<std::size_t>(k)] == slot) return k;
    return -1;
  }
};

template <class Map, class Node>
struct relabel {  // numbers and subscripts: no slot
  using type = Node;
  static constexpr const Node& apply(const Node& n) { return n; }
};
template <class Map, int Slot, class Dims>
struct relabel<Map, plan::d_ref<Slot, Dims>> {
  static_assert(Map::local(Slot) >= 0, "tensorlogic: internal: a slot outside the kernel's table");
  using type = plan::d_ref<Map::local(Slot), Dims>;
  static constexpr type apply(const plan::d_ref<Slot, Dims>& n) { return {n.subscripts}; }
};
template <class Map, op O, class A>
struct relabel<Map, plan::d_apply1<O, A>> {
  using type = plan::d_apply1<O, typename relabel<Map, A>::type>;
  static constexpr type apply(const plan::d_apply1<O, A>& n) { return {relabel<Map, A>::apply(n.a)}; }
};
template <class Map, op O, class A, class B>
struct relabel<Map, plan::d_apply2<O, A, B>> {
  using type = plan::d_apply2<O, typename relabel<Map, A>::type, typename relabel<Map, B>::type>;
  static constexpr type apply(const plan::d_apply2<O, A, B>& n) {
    return {relabel<Map, A>::apply(n.a), relabel<Map, B>::apply(n.b)};
  }
};
template <class Map, op O, class A, class B, class C>
struct relabel<Map, plan::d_apply3<O, A, B, C>> {
  using type = plan::d_apply3<O, typename relabel<Map, A>::type, typename relabel<Map, B>::type,
                              typename relabel<Map, C>::type>;
  static constexpr type apply(const plan::d_apply3<O, A, B, C>& n) {
    return {relabel<Map, A>::apply(n.a), relabel<Map, B>::apply(n.b), relabel<Map, C>::apply(n.c)};
  }
};
template <class Map, reduce_op O, class Body, int... Pos>
struct relabel<Map, plan::d_project<O, Body, Pos...>> {
  using type = plan::d_project<O, typename relabel<Map, Body>::type, Pos...>;
  static constexpr type apply(const plan::d_project<O, Body, Pos...>& n) { return {relabel<Map, Body>::apply(n.body)}; }
};
template <class Map, norm_op O, int Pos, class Body>
struct relabel<Map, plan::d_normalize<O, Pos, Body>> {
  using type = plan::d_normalize<O, Pos, typename relabel<Map, Body>::type>;
  static constexpr type apply(const plan::d_normalize<O, Pos, Body>& n) { return {relabel<Map, Body>::apply(n.body)}; }
};
// (d_compare reads subscripts only: the primary template)

// Node with its slots numbered as in the table of the kernel that evaluates Whole (Node a part of Whole).
template <class Whole, class Node>
using local_t = typename relabel<local_slots<Whole>, Node>::type;
template <class Whole, class Node>
constexpr local_t<Whole, Node> to_local(const Node& n) {
  return relabel<local_slots<Whole>, Node>::apply(n);
}

template <class Node, class Views, std::size_t... J>
auto make_table_impl(const Views& views, const std::array<long, 8>* shapes, std::index_sequence<J...>) {
  using map = local_slots<Node>;
  exec::slot_table<std::integer_sequence<int, static_cast<int>(J)...>,
                   decltype(slot_view_data(tensorlogic::get<static_cast<std::size_t>(map::global(J))>(views), shapes[0]))...>
      t{};
  ((exec::table_get<static_cast<int>(J)>::get(t) = slot_view_data(
        tensorlogic::get<static_cast<std::size_t>(map::global(J))>(views), shapes[static_cast<std::size_t>(map::global(J))])),
   ...);
  return t;
}
// The table of the kernel evaluating Node (exec/basics.hpp slot_table): local slot j is the program's slot
// local_slots<Node>::global(j). Templated on the store's views, not on the store: its symbol does not spell the program.
template <class Node, class Views>
auto make_table_for(const Views& views, const std::array<long, 8>* shapes) {
  return make_table_impl<Node>(views, shapes,
                               std::make_index_sequence<static_cast<std::size_t>(local_slots<Node>::count)>{});
}
template <class Store, class Node>
using table_for = decltype(make_table_for<Node>(std::declval<const typename Store::views_tuple&>(),
                                                 static_cast<const std::array<long, 8>*>(nullptr)));

template <class T>
using compute_type = std::conditional_t<std::is_floating_point_v<T>, T, double>;

template <class L>
struct lhs_plain;
template <class S, class... D>
struct lhs_plain<ref<S, D...>> {
  static constexpr bool value = (index_type<D> && ...);
};

// A kernel's label for Kokkos's tools ("tensorlogic::map H"), built only while a tool is loaded: otherwise a launch
// skips the string (a heap allocation or two for most labels, a few percent of a small equation's evaluation).
inline std::string kernel_label(std::string_view what, std::string_view head, std::string_view and_what = {},
                                std::string_view and_head = {}) {
  if (!Kokkos::Tools::profileLibraryLoaded()) return {};
  std::string label("tensorlogic::");
  label.append(what).append(" ").append(head);
  if (!and_what.empty()) label.append(" + ").append(and_what).append(" ").append(and_head);
  return label;
}

inline void fill_lhs_dims(exec::lhs_dim*, const plan::dims<>&, const long*, std::string_view, int) {}
template <class D, class... R>
void fill_lhs_dims(exec::lhs_dim* out, const plan::dims<D, R...>& d, const long* shape, std::string_view who, int k) {
  exec::lhs_dim& o = out[k];
  o.extent = shape[k];
  if constexpr (requires { d.head.offset; }) {
    [&]<int... Pos>(const plan::dim_affine<Pos...>& a) {
      if constexpr (sizeof...(Pos) == 0) {
        o.kind = 2;
        o.offset = a.offset;
      } else {
        o.kind = 1;
        ((o.pos = Pos), ...);
        if (a.coef[0] != 1)
          throw error("in the equation for " + std::string(who) + ": left-hand-side subscript " +
                      std::to_string(k) + " scales its index by " + std::to_string(a.coef[0]) +
                      "; only index + c and (index + c) / n are allowed");
        if (a.divisor < 1)
          throw error("in the equation for " + std::string(who) + ": left-hand-side subscript " +
                      std::to_string(k) + " divides by " + std::to_string(a.divisor));
        o.offset = a.offset;
        o.divisor = a.divisor;
      }
    }(d.head);
  } else {
    [&]<int Pos>(const plan::dim_var<Pos>&) {
      o.kind = 0;
      o.pos = Pos;
    }(d.head);
  }
  fill_lhs_dims(out, d.tail, shape, who, k + 1);
}

// Whether equation Eq of program Prog runs on flat addressing (exec/rows.hpp): distinct plain left-hand-side
// subscripts, every tensor outside a projection read at exactly those subscripts or a scalar, and every projection a
// row reduction (its body reads the left-hand side's subscripts followed by the projected ones). Otherwise, whether
// it is one column reduction (the body reads the projected subscripts first).
template <class Rhs, class LhsDims>
struct kernel_shape {
  using rhs_t = Rhs;
  using lhs_dims_t = LhsDims;
  static constexpr bool value = exec::distinct_plain<lhs_dims_t>::value && exec::flat_map<rhs_t, lhs_dims_t>::value;
  static constexpr bool column =
      !value && exec::distinct_plain<lhs_dims_t>::value && exec::column_reduction<rhs_t, lhs_dims_t>::value;
  static constexpr bool normalizer =
      exec::distinct_plain<lhs_dims_t>::value && exec::normalizer_rows<rhs_t, lhs_dims_t>::value;
  // a map reading some tensors at a prefix or a suffix of the left-hand side's subscripts (exec/rows.hpp)
  static constexpr bool broadcast = !value && !column && !normalizer && exec::distinct_plain<lhs_dims_t>::value &&
                                    exec::broadcast_rows<rhs_t, lhs_dims_t>::value;
  // a rank-0 left-hand side reducing a body read at the projected subscripts, prefixes or suffixes of them
  static constexpr bool full = !value && !column && !normalizer && !broadcast &&
                               std::is_same_v<lhs_dims_t, plan::dims<>> && exec::full_reduction<rhs_t>::value;
  // the generic kernel on the host: the position of the last left-hand-side index when its stretches run on lanes
  // (exec/lanes.hpp), else -1
  static constexpr int lanes = !value && !column && !normalizer && !broadcast && !full &&
                                       exec::distinct_plain<lhs_dims_t>::value
                                   ? exec::lane_position<rhs_t, lhs_dims_t>::value
                                   : -1;
};
template <class Prog, class Eq, class Sub = plan::no_inlining>
struct flat_kernel
    : kernel_shape<std::remove_cvref_t<decltype(std::declval<const Sub&>()(plan::lower_rhs<Prog>(std::declval<const Eq&>())))>,
                   decltype(plan::lower_lhs<Prog>(std::declval<const Eq&>()).subscripts)> {};
template <class Eq>
using equation_at = std::remove_cvref_t<Eq>;
template <std::size_t E, class Prog>
constexpr bool is_flat_map(const Prog&) {
  return flat_kernel<Prog, equation_at<element_t<E, decltype(Prog::equations)>>>::value;
}
template <std::size_t E, class Prog>
constexpr bool is_column_reduction(const Prog&) {
  return flat_kernel<Prog, equation_at<element_t<E, decltype(Prog::equations)>>>::column;
}

// The library's own tiled GEMM kernel (exec/tiled_gemm.hpp) takes the GEMM-shaped equations the vendor path takes, with
// the epilogue fused into its store: kind 1 for C = P (P a GEMM-shaped product: plan_vendor_gemm), 2 for C = P + Rest
// (side: P's position), 3 for C = f(P), 4 for C = f(P + Rest), f a one-argument elementwise function; 0 otherwise.
// It runs when the vendor path does not (no Kokkos Kernels, tl::set_vendor_gemm(false), a batched GEMM in device
// memory, an accumulating dense layer); tl::set_tiled_gemm(false) sends these equations to the generic kernel.
inline bool& tiled_gemm_flag() {
  static bool enabled = true;
  return enabled;
}
template <class Eq>
struct tiled_form {
  static constexpr int kind = plan_vendor_gemm<Eq>().ok ? 1 : 0;
  static constexpr int side = -1;
};
template <class L, class A, class B>
struct tiled_form<equation<L, apply<op::add, A, B>>> {
  static constexpr int side = plan_vendor_gemm<equation<L, A>>().ok   ? 0
                              : plan_vendor_gemm<equation<L, B>>().ok ? 1
                                                                      : -1;
  static constexpr int kind = side >= 0 ? 2 : 0;
};
template <class L, op Op, class X>
  requires(gemm_outer_op<Op>)
struct tiled_form<equation<L, apply<Op, X>>> {
  static constexpr int side = tiled_form<equation<L, X>>::side;
  static constexpr int kind = plan_vendor_gemm<equation<L, X>>().ok ? 3 : tiled_form<equation<L, X>>::kind == 2 ? 4 : 0;
};

// Launches the generic kernel of equation eq (of program Prog) into the head's view or its scratch buffer.
// A lane-reducing functor's parallel_reduce into `value` with the Kokkos reducer of Op (Max, Min, else Sum).
template <reduce_op Op, class Policy, class F, class R>
void lane_reduce(const std::string& label, const Policy& policy, const F& f, R& value) {
  if constexpr (Op == reduce_op::max)
    Kokkos::parallel_reduce(label, policy, f, Kokkos::Max<R>(value));
  else if constexpr (Op == reduce_op::min)
    Kokkos::parallel_reduce(label, policy, f, Kokkos::Min<R>(value));
  else
    Kokkos::parallel_reduce(label, policy, f, Kokkos::Sum<R>(value));
}

// The generic, flat, column, normalizer, broadcast-row and whole-reduction launches of one lowered equation: templated
// on the lowered (locally numbered) right-hand side, the left-hand side's subscripts and the kernel context, not on the
// program, so equations of one shape share this code (launch_kernel below fills the context and calls it).
template <class R, class Ctx, class Rhs, class LhsDims, class Out, int Rank, bool LhsPlain, class Space>
void launch_lowered(const Ctx& ctx, const Rhs& rhs, const LhsDims& lhs_dims, Out* out, const long* shape,
                    std::string_view head_name, exec::write_mode mode, const Space& space) {
  using ctx_t = Ctx;
  using rhs_t = Rhs;
  using out_t = Out;
  using lhs_dims_t = LhsDims;
  using fk = kernel_shape<Rhs, LhsDims>;
  constexpr int rank = Rank;
  constexpr int nidx = Ctx::n_indices;
  constexpr bool flat = fk::value;
  constexpr bool host = Kokkos::SpaceAccessibility<Kokkos::HostSpace, typename Space::memory_space>::accessible;
  // the generic kernel's stretches on lanes (host, plain left-hand side; exec/lanes.hpp)
  constexpr int lane = host && LhsPlain ? fk::lanes : -1;
  using kernel_t = exec::equation_kernel<R, ctx_t, rhs_t, out_t, rank, nidx, LhsPlain,
                                         std::conditional_t<flat, lhs_dims_t, void>, lane>;
  kernel_t k{};
  k.ctx = ctx;
  k.rhs = rhs;
  k.out = out;
  k.mode = mode;
  fill_lhs_dims(k.dims, lhs_dims, shape, head_name, 0);
  long cells = 1;
  for (int d = 0; d < rank; ++d) {
    if (k.dims[d].kind == 2) {
      if (k.dims[d].offset < 0 || k.dims[d].offset >= k.dims[d].extent) return;  // writes outside are dropped
      continue;
    }
    if constexpr (exec::normalizer_of<rhs_t>::present) {
      if (k.dims[d].kind == 0 && k.dims[d].pos == exec::normalizer_of<rhs_t>::position) {
        k.norm_dim = d;
        continue;
      }
    }
    cells *= k.dims[d].extent;
  }
  // A normalizer over the last subscript with a flat body: one row per work item.
  if constexpr (fk::normalizer) {
    exec::normalizer_kernel<R, ctx_t, rhs_t, lhs_dims_t, out_t> nk{};
    nk.ctx = k.ctx;
    nk.body = k.rhs.body;
    nk.out = k.out;
    nk.mode = mode;
    for (int d = 0; d < rank; ++d) nk.extent[d] = k.dims[d].extent;
    nk.n = k.dims[rank - 1].extent;
    Kokkos::parallel_for(kernel_label("normalizer rows", head_name),
                         Kokkos::RangePolicy<Space, Kokkos::IndexType<long>>(space, 0, cells), nk);
    return;
  }
  // A column reduction: blocks of 8 KiB of accumulators (2048 floats) per work item on the host, one cell per item on
  // devices.
  if constexpr (fk::column) {
    using col_t = exec::column_reduction<rhs_t, lhs_dims_t>;
    constexpr int block = host ? static_cast<int>(8192 / sizeof(R)) : 1;
    exec::column_kernel<R, ctx_t, col_t, out_t, block> c{};
    c.ctx = k.ctx;
    c.body = k.rhs.body;
    c.out = k.out;
    c.mode = mode;
    c.cells = cells;
    c.length = col_t::length(k.ctx);
    Kokkos::parallel_for(kernel_label("column reduction", head_name),
                         Kokkos::RangePolicy<Space, Kokkos::IndexType<long>>(space, 0, (cells + block - 1) / block), c);
    return;
  }
  // Flat addressing walks the flat buffers: about 4096 values per work item on the host (fewer cells when each
  // reduces a row), one cell per work item on devices.
  if constexpr (flat) {
    k.total = cells;
    if constexpr (host) {
      const long row = exec::flat_row_length<rhs_t>::get(k.ctx);
      k.inner = row >= 4096 ? 1 : 4096 / (row > 0 ? row : 1);
    }
    Kokkos::parallel_for(kernel_label("map", head_name),
                         Kokkos::RangePolicy<Space, Kokkos::IndexType<long>>(space, 0, (cells + k.inner - 1) / k.inner),
                         k);
    return;
  }
  // Broadcast rows: whole rows of the extents L[split..] per work item on the host (about 4096 cells), one cell per
  // work item on devices.
  if constexpr (fk::broadcast) {
    using bk_t = exec::broadcast_kernel<R, ctx_t, rhs_t, lhs_dims_t, out_t>;
    constexpr int split = bk_t::split;
    bk_t b{};
    b.ctx = k.ctx;
    b.rhs = k.rhs;
    b.out = k.out;
    b.mode = mode;
    long ext[exec::max_subscripts]{};
    for (int d = 0; d < rank; ++d) ext[d] = k.dims[d].extent;
    const long row = exec::broadcast_split(ext, rank, split, b.per_row);
    if (cells == 0 || row == 0) return;
    b.row = row;
    b.total_rows = cells / row;
    const long items = exec::broadcast_items<host>(row, b.total_rows, b.rows);
    Kokkos::parallel_for(kernel_label("broadcast rows", head_name),
                         Kokkos::RangePolicy<Space, Kokkos::IndexType<long>>(space, 0, items), b);
    return;
  }
  // A whole reduction with per-row reads: rows of the projected extents S[split..], about 4096 cells per work item on
  // the host, one cell per work item on devices; the reduced value is then stored by one work item.
  if constexpr (fk::full) {
    using full_t = exec::full_reduction<rhs_t>;
    using body_t = typename full_t::body_t;
    using red_dims = typename full_t::red_dims;
    constexpr reduce_op op = full_t::operation;
    using fr_t = exec::full_reduction_kernel<R, ctx_t, body_t, red_dims, op>;
    constexpr int split = fr_t::split;
    constexpr int nred = exec::plain_positions<red_dims>::size;
    fr_t f{};
    f.ctx = k.ctx;
    f.body = rhs.body;
    long ext[exec::max_subscripts]{};
    long all = 1;
    for (int d = 0; d < nred; ++d) {
      ext[d] = ctx.extent[exec::plain_positions<red_dims>::at(d)];
      all *= ext[d];
    }
    const long row = exec::broadcast_split(ext, nred, split, f.per_row);
    R value = exec::lane_reducer<op, R>::init();
    if (all > 0 && row > 0) {
      f.row = row;
      f.total_rows = all / row;
      const long items = exec::broadcast_items<host>(row, f.total_rows, f.rows);
      lane_reduce<op>(kernel_label("full reduction", head_name),
                      Kokkos::RangePolicy<Space, Kokkos::IndexType<long>>(space, 0, items), f, value);
    }
    value = exec::lane_reducer<op, R>::finish(value, all);
    Kokkos::parallel_for(kernel_label("store", head_name),
                         Kokkos::RangePolicy<Space, Kokkos::IndexType<long>>(space, 0, 1),
                         exec::scalar_store<R, out_t>{k.out, value, mode});
    return;
  }
  // On the host, a plain left-hand side walks up to 256 cells of its last subscript inside each work item (on lanes,
  // each row split into stretches of at most 256 cells whose lengths differ by at most one, an item holding
  // consecutive stretches up to about 1024 cells; otherwise a divisor of that extent, so an item never crosses a row);
  // on devices every cell stays a work item, which keeps neighbouring threads on neighbouring cells.
  if constexpr (lane >= 0) {
    const long last = k.dims[rank - 1].extent;
    if (last == 0) return;
    k.chunks = (last + exec::max_lanes - 1) / exec::max_lanes;
    k.total = cells / last * k.chunks;
    const long stretch = (last + k.chunks - 1) / k.chunks;
    k.stretches = stretch >= exec::lane_item_cells ? 1 : exec::lane_item_cells / stretch;
    cells = (k.total + k.stretches - 1) / k.stretches;
  } else if constexpr (rank > 0 && LhsPlain && !exec::normalizer_of<rhs_t>::present &&
                host) {
    bool repeated = false;
    for (int d = 0; d + 1 < rank; ++d) repeated = repeated || k.dims[d].pos == k.dims[rank - 1].pos;
    const long last = k.dims[rank - 1].extent;
    long step = last < exec::max_lanes ? last : exec::max_lanes;
    while (step > 1 && last % step != 0) --step;
    if (!repeated && step > 1) {
      k.inner = step;
      cells /= step;
    }
  }
  Kokkos::parallel_for(kernel_label("equation", head_name),
                       Kokkos::RangePolicy<Space, Kokkos::IndexType<long>>(space, 0, cells), k);
}

template <class Prog, class Eq, class Store, class Space, class Sub = plan::no_inlining>
void launch_kernel(const Eq& eq, Store& s, const Space& space, bool to_scratch, exec::write_mode mode,
                   const Sub& sub = Sub{}) {
  using eq_t = Eq;
  using head = typename eq_t::head;
  constexpr std::size_t slot = static_cast<std::size_t>(Prog::slot_of(head::name.view()));
  constexpr int rank = static_cast<int>(head::rank);
  constexpr int nidx = static_cast<int>(Prog::n_indices);
  using R = compute_type<typename head::value_type>;
  using static_t = decltype(static_extents_of<Prog>(std::make_index_sequence<Prog::n_indices>{}));
  using fk = flat_kernel<Prog, Eq, Sub>;
  using global_t = typename fk::rhs_t;  // slots numbered as in the program; the kernel's are local
  using ctx_t = exec::kernel_context<table_for<Store, global_t>, static_t, nidx>;
  local_t<global_t, global_t> rhs = to_local<global_t>(sub(plan::lower_rhs<Prog>(eq)));
  auto lhs = plan::lower_lhs<Prog>(eq);
  using rhs_t = decltype(rhs);
  using out_t = typename head::value_type;
  using lhs_dims_t = typename fk::lhs_dims_t;
  using local_shape = kernel_shape<rhs_t, lhs_dims_t>;
  static_assert(local_shape::value == fk::value && local_shape::column == fk::column &&
                    local_shape::normalizer == fk::normalizer && local_shape::broadcast == fk::broadcast &&
                    local_shape::full == fk::full,
                "tensorlogic: internal: local slot numbering changed an equation's kernel class");
  ctx_t ctx{};
  ctx.table = make_table_for<global_t>(s.views(), s.shapes());
  for (int p = 0; p < nidx; ++p) ctx.extent[p] = s.index_extent(static_cast<std::size_t>(p));
  launch_lowered<R, ctx_t, rhs_t, lhs_dims_t, out_t, rank, lhs_plain<typename eq_t::lhs_type>::value>(
      ctx, rhs, lhs.subscripts, to_scratch ? s.template scratch<slot>().data() : tensorlogic::get<slot>(s.views()).data(),
      s.shape(slot).data(), head::name.view(), mode, space);
}

enum class path_kind {
  attention_scores,
  attention,
  attention_deferred,
  attention_training_forward,
  attention_backward,
  attention_backward_part,
  vendor_gemm,
  batched_vendor_gemm,
  gemm_epilogue,
  gemm_normalizer,
  gemm_outer,
  tiled_gemm,
  tiled_gemm_epilogue,
  flat_rows,
  flat_map,
  column,
  normalizer,
  broadcast,
  full_reduction,
  generic_lanes,
  generic
};
constexpr const char* path_name(path_kind k) {
  switch (k) {
    case path_kind::attention_scores: return "fused attention (scores, not materialized)";
    case path_kind::attention: return "fused attention (online softmax over key tiles)";
    case path_kind::attention_deferred: return "fused attention training (not materialized; computed on first read)";
    case path_kind::attention_training_forward:
      return "fused attention (online softmax over key tiles, with row statistics)";
    case path_kind::attention_backward: return "fused attention backward (dQ, dK, dV over key and query tiles)";
    case path_kind::attention_backward_part: return "fused attention backward (written by its first adjoint's kernel)";
    case path_kind::vendor_gemm: return "vendor GEMM";
    case path_kind::batched_vendor_gemm: return "batched vendor GEMM";
    case path_kind::gemm_epilogue: return "vendor GEMM + epilogue kernel";
    case path_kind::gemm_normalizer: return "vendor GEMM + normalizer rows";
    case path_kind::gemm_outer: return "vendor GEMM + epilogue + flat map";
    case path_kind::tiled_gemm: return "tiled GEMM (team scratch tiles, register blocks)";
    case path_kind::tiled_gemm_epilogue: return "tiled GEMM + fused epilogue";
    case path_kind::flat_rows: return "flat rows (row reduction)";
    case path_kind::flat_map: return "flat map";
    case path_kind::column: return "column reduction";
    case path_kind::normalizer: return "normalizer rows";
    case path_kind::broadcast: return "broadcast rows";
    case path_kind::full_reduction: return "full reduction (broadcast rows)";
    case path_kind::generic_lanes: return "generic kernel (last index on lanes)";
    default: return "generic kernel";
  }
}

// The kernel path equation E takes when it assigns its head in memory space Mem, its lowered right-hand side
// substituted by Sub: the vendor GEMM paths first (Kokkos Kernels; an accumulating or relation equation keeps the
// kernels below), then flat addressing, column reductions, normalizer rows, broadcast rows, whole reductions and the
// generic coordinate kernel.
template <std::size_t E, class Prog, class Mem, class Sub = plan::no_inlining, bool Vendor = true, bool Tiled = true>
constexpr path_kind kernel_path() {
  using eq_t = equation_at<element_t<E, decltype(Prog::equations)>>;
#if TENSORLOGIC_HAVE_KOKKOS_KERNELS && defined(KOKKOSKERNELS_ENABLE_TPL_BLAS)
  if constexpr (Vendor && attention_training<Prog>::table.role[E] != 0 &&
                Kokkos::SpaceAccessibility<Kokkos::HostSpace, Mem>::accessible) {
    constexpr path_kind kinds[] = {path_kind::generic, path_kind::attention_deferred,
                                   path_kind::attention_training_forward, path_kind::attention_backward,
                                   path_kind::attention_backward_part};
    return kinds[attention_training<Prog>::table.role[E]];
  }
  if constexpr (Vendor && attention_pairs<Prog>::pairs.role[E] != 0 &&
                Kokkos::SpaceAccessibility<Kokkos::HostSpace, Mem>::accessible) {
    return attention_pairs<Prog>::pairs.role[E] == 1 ? path_kind::attention_scores : path_kind::attention;
  }
#endif
#if TENSORLOGIC_HAVE_KOKKOS_KERNELS
  if constexpr (Vendor && vendor_gemm_runs<eq_t, Mem>()) {
    return plan_vendor_gemm<eq_t>().n_batch > 0 ? path_kind::batched_vendor_gemm : path_kind::vendor_gemm;
  } else if constexpr (Vendor && gemm_epilogue<eq_t, Mem>::side >= 0) {
    return path_kind::gemm_epilogue;
  } else if constexpr (Vendor && gemm_normalizer<eq_t, Mem>::value) {
    return path_kind::gemm_normalizer;
  } else if constexpr (Vendor && gemm_outer<eq_t, Mem>::kind > 0) {
    return path_kind::gemm_outer;
  }
#endif
  if constexpr (Tiled && tiled_form<eq_t>::kind == 1) {
    return path_kind::tiled_gemm;
  } else if constexpr (Tiled && tiled_form<eq_t>::kind > 1) {
    return path_kind::tiled_gemm_epilogue;
  }
  using fk = flat_kernel<Prog, eq_t, Sub>;
  if constexpr (fk::value) {
    if constexpr (exec::flat_row_reduces<typename fk::rhs_t>::value)
      return path_kind::flat_rows;
    else
      return path_kind::flat_map;
  } else if constexpr (fk::column) {
    return path_kind::column;
  } else if constexpr (fk::normalizer) {
    return path_kind::normalizer;
  } else if constexpr (fk::broadcast) {
    return path_kind::broadcast;
  } else if constexpr (fk::full) {
    return path_kind::full_reduction;
  } else if constexpr (fk::lanes >= 0 && Kokkos::SpaceAccessibility<Kokkos::HostSpace, Mem>::accessible) {
    return path_kind::generic_lanes;
  } else {
    return path_kind::generic;
  }
}

// Elementwise fusion (DESIGN §4: an intermediate used by its neighbours only is fused into them). A tensor T is
// inlined into the equations that read it -- its value recomputed inside their kernels from T's own right-hand side,
// never written to memory -- when:
//   - one equation defines T (a group of one), with distinct plain left-hand-side subscripts, a floating-point
//     element type, and an elementwise right-hand side (tensors at plain subscripts, constants, functions of these:
//     no projection, normalizer, comparison or index expression), not reading T;
//   - every equation that reads T reads it at exactly the subscripts T's equation writes, and there is at least one;
//   - no stratum of the program is recursive (every group runs once, so T's inputs are final when T is due);
//   - every reader runs on a flat, broadcast, column, normalizer or whole-reduction kernel, before and after the
//     substitution (no vendor GEMM, attention, pairwise order or generic kernel loses its path to it).
// T's own equation is then deferred: the store computes T on its first read through s[T], from the inputs as they
// are then (like the attention scores). tl::set_elementwise_fusion(false) turns the fusion off at run time.
inline bool& elementwise_fusion_flag() {
  static bool enabled = true;
  return enabled;
}

template <class Prog, std::size_t E>
using equation_of = equation_at<element_t<E, decltype(Prog::equations)>>;
template <class Prog, std::size_t E>
using lowered_rhs_of = decltype(plan::lower_rhs<Prog>(std::declval<const equation_of<Prog, E>&>()));
template <class Prog, std::size_t E>
using lowered_lhs_dims_of = decltype(plan::lower_lhs<Prog>(std::declval<const equation_of<Prog, E>&>()).subscripts);

// The references of every equation's right-hand side (plan/inline.hpp read_list), one pointer per equation.
template <class Prog>
struct equation_reads {
  template <std::size_t... E>
  static constexpr std::array<const plan::detail::read_list*, sizeof...(E)> make(std::index_sequence<E...>) {
    return {&plan::detail::reads_in<lowered_rhs_of<Prog, E>>...};
  }
  static constexpr auto lists = make(std::make_index_sequence<Prog::size>{});
};

// How many other equations read the tensor equation E defines, when that tensor may be inlined; 0 otherwise.
template <class Prog, std::size_t E>
constexpr int inline_candidate() {
  using eq_t = equation_of<Prog, E>;
  using head = typename eq_t::head;
  constexpr auto& st = Prog::structure;
  constexpr int slot = Prog::slot_of(head::name.view());
  if constexpr (eq_t::is_relation || head::rank == 0 || !std::is_floating_point_v<typename head::value_type>) {
    return 0;
  } else if constexpr (!exec::distinct_plain<lowered_lhs_dims_of<Prog, E>>::value ||
                       !plan::detail::elementwise_node<lowered_rhs_of<Prog, E>>) {
    return 0;
  } else {
    using pp = exec::plain_positions<lowered_lhs_dims_of<Prog, E>>;
    int pos[exec::max_subscripts + 1]{};
    for (int k = 0; k < pp::size; ++k) pos[k] = pp::at(k);
    int defining = 0;
    for (int e = 0; e < st.n_equations; ++e) defining += st.group_head[st.group_of[e]] == slot;
    if (defining != 1 || st.self_read[st.group_of[E]]) return 0;
    int readers = 0;
    bool exact = true;
    for (std::size_t r = 0; r < Prog::size; ++r) {
      const int how = equation_reads<Prog>::lists[r]->how(slot, pp::size, pos);
      if (r == E) {
        exact = exact && how == 0;
      } else {
        readers += how > 0;
        exact = exact && how <= 1;
      }
    }
    return exact ? readers : 0;
  }
}

template <class Prog, std::size_t... E>
constexpr std::array<int, Prog::n_slots> candidate_slots(std::index_sequence<E...>) {
  std::array<int, Prog::n_slots> d{};
  for (auto& x : d) x = -1;
  constexpr auto& st = Prog::structure;
  for (int k = 0; k < st.n_strata; ++k)
    if (st.recursive[k]) return d;
  const int readers[] = {inline_candidate<Prog, E>()..., 0};
  const int slots[] = {Prog::slot_of(equation_of<Prog, E>::head::name.view())..., 0};
  for (std::size_t e = 0; e < sizeof...(E); ++e)
    if (readers[e] > 0) d[static_cast<std::size_t>(slots[e])] = static_cast<int>(e);
  return d;
}

template <class Prog>
struct inline_candidates {
  static constexpr std::array<int, Prog::n_slots> defining =
      candidate_slots<Prog>(std::make_index_sequence<Prog::size>{});
};

// Whether equation e reads a slot that `defining` marks.
template <class Prog>
constexpr bool reads_marked(const std::array<int, Prog::n_slots>& defining, std::size_t e) {
  const auto& l = *equation_reads<Prog>::lists[e];
  if (l.overflow) return true;
  for (int k = 0; k < l.count; ++k)
    if (defining[static_cast<std::size_t>(l.items[k].slot)] >= 0) return true;
  return false;
}

// Whether a lowered expression computes a transcendental function or a division: recomputing it in every reader
// costs more than the memory traffic inlining saves on the host, so a tensor read by several equations stays
// materialized when its (substituted) right-hand side has one.
template <class Node>
inline constexpr bool costly_node = false;
template <op Op, class A>
inline constexpr bool costly_node<plan::d_apply1<Op, A>> =
    Op == op::exp || Op == op::log || Op == op::sqrt || Op == op::tanh || Op == op::sigmoid || costly_node<A>;
template <op Op, class A, class B>
inline constexpr bool costly_node<plan::d_apply2<Op, A, B>> =
    Op == op::div || Op == op::pow || Op == op::sigmoid_t || costly_node<A> || costly_node<B>;
template <op Op, class A, class B, class C>
inline constexpr bool costly_node<plan::d_apply3<Op, A, B, C>> = costly_node<A> || costly_node<B> || costly_node<C>;

constexpr bool fast_path(path_kind k) {
  return k == path_kind::flat_rows || k == path_kind::flat_map || k == path_kind::column ||
         k == path_kind::normalizer || k == path_kind::broadcast || k == path_kind::full_reduction;
}

// Whether equation E may read inlined tensors: a fast path before and after substituting every candidate.
template <class Prog, class Mem, std::size_t E>
constexpr bool inline_reader_ok() {
  using eq_t = equation_of<Prog, E>;
  if constexpr (contraction_order<eq_t>::count != 0) {
    return false;
  } else {
    return fast_path(kernel_path<E, Prog, Mem>()) &&
           fast_path(kernel_path<E, Prog, Mem, plan::inliner<Prog, inline_candidates<Prog>>>());
  }
}

// Multi-output fusion (DESIGN §4): a whole reduction into a rank-0 tensor (a loss) and a later map over the same
// index space (its gradient) run as one pass, exec/rows.hpp reduce_map_kernel, so the inputs they share are read once
// and the elementwise intermediates both read are inlined into that one kernel instead of written and read back.
// A pair (R, M) is formed when:
//   - each is the only equation of its group, assigns a floating-point head with distinct plain subscripts (not an
//     inlining candidate), reads neither its own head nor at a constant subscript, and no stratum is recursive;
//   - R runs on the whole-reduction kernel (or is a rank-0 flat row: a sum, mean, max or min over indices with no
//     per-row read) and M on flat-map or broadcast rows (with every inlining candidate substituted), neither on a
//     pairwise product order, and M's subscripts are R's projected indices in the same order;
//   - M comes after R in evaluation order and no group from R up to M (M included) reads R's head, directly or
//     through other tensors, so R's value may be computed at M's turn;
//   - with the final inlining plan, both keep those kernel paths and one broadcast layout serves both bodies.
// R's launch then does nothing and M's launch computes both. tl::set_elementwise_fusion(false) turns it off too.
// Whether equation E writes its head at a constant subscript (its group zeroes the head first).
template <class D>
inline constexpr bool constant_subscript = false;
template <bool Dv>
inline constexpr bool constant_subscript<index_affine<Dv>> = true;

template <std::size_t E, class Prog>
constexpr bool has_constant_lhs_dim() {
  using eq_t = element_t<E, decltype(Prog::equations)>;
  bool c = false;
  [&]<class S, class... D>(ref<S, D...>*) {
    ((c = c || constant_subscript<D>), ...);
  }(static_cast<typename eq_t::lhs_type*>(nullptr));
  return c;
}

struct pair_info {
  int kind = 0;  // 1: a whole reduction, 2: a map, 0: neither
  int n = 0;     // its index positions: the projected ones (1), the left-hand side's (2)
  int pos[exec::max_subscripts]{};
};

template <class Prog, std::size_t E>
constexpr int group_size_of() {
  constexpr auto& st = Prog::structure;
  int n = 0;
  for (int e = 0; e < st.n_equations; ++e) n += st.group_of[e] == st.group_of[E];
  return n;
}

template <class Prog, class Mem, class Sub, std::size_t E>
constexpr pair_info pair_info_of() {
  using eq_t = equation_of<Prog, E>;
  using head = typename eq_t::head;
  constexpr auto& st = Prog::structure;
  pair_info info;
  if constexpr (eq_t::is_relation || !std::is_floating_point_v<typename head::value_type> ||
                contraction_order<eq_t>::count != 0) {
    return info;
  } else {
    if (group_size_of<Prog, E>() != 1 || st.self_read[st.group_of[E]] || has_constant_lhs_dim<E, Prog>() ||
        inline_candidates<Prog>::defining[static_cast<std::size_t>(Prog::slot_of(head::name.view()))] ==
            static_cast<int>(E))
      return info;
    constexpr path_kind k = kernel_path<E, Prog, Mem, Sub>();
    using full_t = exec::full_reduction<typename flat_kernel<Prog, eq_t, Sub>::rhs_t, true>;
    if constexpr ((k == path_kind::full_reduction || (k == path_kind::flat_rows && head::rank == 0)) &&
                  full_t::value) {
      using rd = typename full_t::red_dims;
      using pp = exec::plain_positions<rd>;
      info.kind = 1;
      info.n = pp::size;
      for (int d = 0; d < pp::size; ++d) info.pos[d] = pp::at(d);
    } else if constexpr ((k == path_kind::flat_map || k == path_kind::broadcast) && head::rank > 0) {
      using pp = exec::plain_positions<lowered_lhs_dims_of<Prog, E>>;
      info.kind = 2;
      info.n = pp::size;
      for (int d = 0; d < pp::size; ++d) info.pos[d] = pp::at(d);
    }
    return info;
  }
}

template <std::size_t N>
struct pair_choice {
  std::array<int, N + 1> map_of{};        // reduction equation -> its map equation, or -1
  std::array<int, N + 1> reduction_of{};  // map equation -> its reduction equation, or -1
};

// Pairs by evaluation order from each equation's pair_info.
template <class Prog, std::size_t N>
constexpr pair_choice<N> choose_pairs(const pair_info* info) {
  constexpr auto& st = Prog::structure;
  pair_choice<N> c;
  for (auto& x : c.map_of) x = -1;
  for (auto& x : c.reduction_of) x = -1;
  for (int k = 0; k < st.n_strata; ++k)
    if (st.recursive[k]) return c;
  auto only = [&](int g) {
    int found = -1, count = 0;
    for (int e = 0; e < st.n_equations; ++e)
      if (st.group_of[e] == g) {
        found = e;
        ++count;
      }
    return count == 1 ? found : -1;
  };
  for (int a = 0; a < st.n_groups; ++a) {
    const int g1 = st.order[a];
    const int r = only(g1);
    if (r < 0 || info[r].kind != 1) continue;
    for (int b = a + 1; b < st.n_groups; ++b) {
      const int g = st.order[b];
      if (st.reach[g][g1]) break;  // g needs R's value: M must come before it
      const int m = only(g);
      if (m < 0 || info[m].kind != 2 || c.reduction_of[static_cast<std::size_t>(m)] >= 0 || info[m].n != info[r].n)
        continue;
      bool same = true;
      for (int d = 0; d < info[r].n; ++d) same = same && info[m].pos[d] == info[r].pos[d];
      if (!same) continue;
      c.map_of[static_cast<std::size_t>(r)] = m;
      c.reduction_of[static_cast<std::size_t>(m)] = r;
      break;
    }
  }
  return c;
}

template <class Prog, class Mem, class Sub>
struct pair_candidates {
  template <std::size_t... E>
  static constexpr pair_choice<sizeof...(E)> make(std::index_sequence<E...>) {
    const pair_info info[] = {pair_info_of<Prog, Mem, Sub, E>()..., pair_info{}};
    return choose_pairs<Prog, sizeof...(E)>(info);
  }
  static constexpr pair_choice<Prog::size> choice = make(std::make_index_sequence<Prog::size>{});
};

// The equations that read slot `slot`, directly or through inlining candidates (which are not themselves counted).
template <class Prog>
constexpr std::array<bool, Prog::size + 1> final_readers(int slot) {
  std::array<bool, Prog::size + 1> out{};
  std::array<bool, Prog::n_slots + 1> seen{};
  int stack[Prog::n_slots + 1]{};
  int top = 0;
  stack[top++] = slot;
  seen[static_cast<std::size_t>(slot)] = true;
  while (top > 0) {
    const int s = stack[--top];
    for (std::size_t r = 0; r < Prog::size; ++r) {
      const auto& l = *equation_reads<Prog>::lists[r];
      bool reads = l.overflow;
      for (int k = 0; k < l.count; ++k) reads = reads || l.items[k].slot == s;
      if (!reads) continue;
      const int h = Prog::structure.group_head[Prog::structure.group_of[r]];
      if (inline_candidates<Prog>::defining[static_cast<std::size_t>(h)] == static_cast<int>(r)) {
        if (!seen[static_cast<std::size_t>(h)]) {
          seen[static_cast<std::size_t>(h)] = true;
          stack[top++] = h;
        }
      } else {
        out[r] = true;
      }
    }
  }
  return out;
}

// Whether every equation that reads candidate slot S (through other candidates) is one of a candidate pair: the
// pair's single kernel computes S's right-hand side once per cell for all of them.
template <class Prog, class Mem, std::size_t S>
constexpr bool read_by_one_pair() {
  using pc = pair_candidates<Prog, Mem, plan::inliner<Prog, inline_candidates<Prog>>>;
  const auto readers = final_readers<Prog>(static_cast<int>(S));
  for (std::size_t r = 0; r < Prog::size; ++r) {
    if (pc::choice.map_of[r] < 0) continue;
    bool inside = true;
    for (std::size_t e = 0; e < Prog::size; ++e)
      inside = inside && (!readers[e] || e == r || static_cast<int>(e) == pc::choice.map_of[r]);
    if (inside) return true;
  }
  return false;
}

// Whether candidate S's right-hand side, with every candidate substituted, computes something costly.
template <class Prog, std::size_t S>
constexpr bool costly_candidate() {
  constexpr int e = inline_candidates<Prog>::defining[S];
  if constexpr (e < 0) {
    return false;
  } else {
    using sub_rhs = std::remove_cvref_t<decltype(std::declval<const plan::inliner<Prog, inline_candidates<Prog>>&>()(
        std::declval<const lowered_rhs_of<Prog, static_cast<std::size_t>(e)>&>()))>;
    return costly_node<sub_rhs>;
  }
}

// Whether candidate S is read by several equations and computes something costly.
// (Readers that form one reduce-and-map pair count as one.)
template <class Prog, class Mem, std::size_t S>
constexpr bool costly_shared() {
  if constexpr (!costly_candidate<Prog, S>())
    return false;
  else if constexpr (inline_candidate<Prog, static_cast<std::size_t>(inline_candidates<Prog>::defining[S])>() > 1)
    return !read_by_one_pair<Prog, Mem, S>();
  else
    return false;
}
// How many distinct indices equation R's cells and reads range over (its left-hand side's plain subscripts and every
// plain subscript it reads); -1 when it reads through an index expression (unknown).
template <class Prog, std::size_t R>
constexpr int index_span() {
  int seen[2 * exec::max_subscripts + plan::detail::read_list::capacity * 16]{};
  int n = 0;
  auto add = [&](int v) {
    for (int k = 0; k < n; ++k)
      if (seen[k] == v) return;
    seen[n++] = v;
  };
  if constexpr (exec::distinct_plain<lowered_lhs_dims_of<Prog, R>>::value) {
    using pp = exec::plain_positions<lowered_lhs_dims_of<Prog, R>>;
    for (int d = 0; d < pp::size; ++d) add(pp::at(d));
  }
  const auto& l = *equation_reads<Prog>::lists[R];
  if (l.overflow) return -1;
  for (int k = 0; k < l.count; ++k) {
    if (l.items[k].n < 0) return -1;
    for (int d = 0; d < l.items[k].n; ++d) add(l.items[k].pos[d]);
  }
  return n;
}

// Whether candidate S computes something costly and an equation reads it broadcast (ranging over more indices than
// S has): inlined, its right-hand side would be recomputed for every broadcast cell (a per-prompt weight
// 1 / (T_p n) inlined into a per-token product is a division per token instead of one per prompt).
template <class Prog, std::size_t S>
constexpr bool costly_broadcast() {
  if constexpr (!costly_candidate<Prog, S>()) {
    return false;
  } else {
    constexpr std::size_t e = static_cast<std::size_t>(inline_candidates<Prog>::defining[S]);
    using pp = exec::plain_positions<lowered_lhs_dims_of<Prog, e>>;
    int pos[exec::max_subscripts + 1]{};
    for (int k = 0; k < pp::size; ++k) pos[k] = pp::at(k);
    return [&]<std::size_t... R>(std::index_sequence<R...>) {
      return (... || (R != e && equation_reads<Prog>::lists[R]->how(static_cast<int>(S), pp::size, pos) > 0 &&
                      index_span<Prog, R>() > pp::size));
    }(std::make_index_sequence<Prog::size>{});
  }
}

// Whether equation E reads a candidate and would lose its kernel path to the substitution.
template <class Prog, class Mem, std::size_t E>
constexpr bool reader_blocks() {
  if constexpr (!reads_marked<Prog>(inline_candidates<Prog>::defining, E))
    return false;
  else
    return !inline_reader_ok<Prog, Mem, E>();
}

template <class Prog, class Mem>
struct inline_plan {
  template <std::size_t... S, std::size_t... E>
  static constexpr std::array<int, Prog::n_slots> decide(std::index_sequence<S...>, std::index_sequence<E...>) {
    std::array<int, Prog::n_slots> d = inline_candidates<Prog>::defining;
    // a tensor several equations read keeps its costly right-hand side computed once
    // and so does one read broadcast
    const bool costly[] = {(costly_shared<Prog, Mem, S>() || costly_broadcast<Prog, S>())..., false};
    for (std::size_t k = 0; k < sizeof...(S); ++k)
      if (costly[k]) d[k] = -1;
    // a reader that would lose its kernel path keeps every tensor it reads materialized
    const bool blocks[] = {reader_blocks<Prog, Mem, E>()..., false};
    for (std::size_t e = 0; e < sizeof...(E); ++e) {
      if (!blocks[e]) continue;
      const auto& l = *equation_reads<Prog>::lists[e];
      if (l.overflow)
        for (auto& x : d) x = -1;
      for (int k = 0; k < l.count; ++k) d[static_cast<std::size_t>(l.items[k].slot)] = -1;
    }
    return d;
  }
  static constexpr std::array<int, Prog::n_slots> defining =
      decide(std::make_index_sequence<Prog::n_slots>{}, std::make_index_sequence<Prog::size>{});
  static constexpr bool any = [] {
    for (int x : defining)
      if (x >= 0) return true;
    return false;
  }();
};

// The pairs that run as one kernel: the candidate pairs that keep their kernel paths under the final inlining plan.
template <class Prog, class Mem>
struct reduction_pairs {
  using sub_t = plan::inliner<Prog, inline_plan<Prog, Mem>>;
  template <std::size_t R>
  static constexpr bool valid() {
    constexpr int m = pair_candidates<Prog, Mem, plan::inliner<Prog, inline_candidates<Prog>>>::choice.map_of[R];
    if constexpr (m < 0) {
      return false;
    } else {
      constexpr std::size_t M = static_cast<std::size_t>(m);
      constexpr int slot = Prog::slot_of(equation_of<Prog, M>::head::name.view());
      constexpr path_kind kr = kernel_path<R, Prog, Mem, sub_t>();
      constexpr path_kind km = kernel_path<M, Prog, Mem, sub_t>();
      using full_t = exec::full_reduction<typename flat_kernel<Prog, equation_of<Prog, R>, sub_t>::rhs_t, true>;
      if constexpr ((kr != path_kind::full_reduction && kr != path_kind::flat_rows) || !full_t::value ||
                    (km != path_kind::flat_map && km != path_kind::broadcast) ||
                    inline_plan<Prog, Mem>::defining[static_cast<std::size_t>(slot)] == m) {
        return false;
      } else {
        using map_t = typename flat_kernel<Prog, equation_of<Prog, M>, sub_t>::rhs_t;
        return exec::broadcast_rows<plan::d_apply2<op::add, typename full_t::body_t, map_t>,
                                    typename full_t::red_dims, true>::value;
      }
    }
  }
  template <std::size_t... E>
  static constexpr pair_choice<sizeof...(E)> make(std::index_sequence<E...>) {
    constexpr auto& cand = pair_candidates<Prog, Mem, plan::inliner<Prog, inline_candidates<Prog>>>::choice;
    const bool ok[] = {valid<E>()..., false};
    pair_choice<sizeof...(E)> c;
    for (auto& x : c.map_of) x = -1;
    for (auto& x : c.reduction_of) x = -1;
    for (std::size_t r = 0; r < sizeof...(E); ++r)
      if (ok[r]) {
        c.map_of[r] = cand.map_of[r];
        c.reduction_of[static_cast<std::size_t>(cand.map_of[r])] = static_cast<int>(r);
      }
    return c;
  }
  static constexpr pair_choice<Prog::size> choice = make(std::make_index_sequence<Prog::size>{});
};

// Runs reduction R and map M (a reduction_pairs pair) as one reduce_map_kernel.
template <std::size_t R, std::size_t M, class Prog, class Store, class Space>
void launch_pair(const Prog& prog, Store& s, const Space& space) {
  using Mem = typename Store::memory_space;
  using sub_t = plan::inliner<Prog, inline_plan<Prog, Mem>>;
  const sub_t sub{&prog};
  using eq_r = equation_of<Prog, R>;
  using eq_m = equation_of<Prog, M>;
  constexpr std::size_t slot_r = static_cast<std::size_t>(Prog::slot_of(eq_r::head::name.view()));
  constexpr std::size_t slot_m = static_cast<std::size_t>(Prog::slot_of(eq_m::head::name.view()));
  using full_t = exec::full_reduction<typename flat_kernel<Prog, eq_r, sub_t>::rhs_t, true>;
  using body_t = typename full_t::body_t;
  using red_dims = typename full_t::red_dims;
  using map_t = typename flat_kernel<Prog, eq_m, sub_t>::rhs_t;
  using both_t = plan::d_apply2<op::add, body_t, map_t>;
  using R1 = compute_type<typename eq_r::head::value_type>;
  using R2 = compute_type<typename eq_m::head::value_type>;
  using out_r = typename eq_r::head::value_type;
  using out_m = typename eq_m::head::value_type;
  constexpr int nidx = static_cast<int>(Prog::n_indices);
  constexpr reduce_op rop = full_t::operation;
  constexpr int nred = exec::plain_positions<red_dims>::size;
  using static_t = decltype(static_extents_of<Prog>(std::make_index_sequence<Prog::n_indices>{}));
  using ctx_t = exec::kernel_context<table_for<Store, both_t>, static_t, nidx>;
  using kernel_t = exec::reduce_map_kernel<R1, R2, ctx_t, local_t<both_t, body_t>, local_t<both_t, map_t>, red_dims,
                                           rop, out_m>;
  constexpr bool host = Kokkos::SpaceAccessibility<Kokkos::HostSpace, typename Space::memory_space>::accessible;
  s.template ensure_allocated<slot_r>();
  s.template ensure_allocated<slot_m>();
  long ext[exec::max_subscripts]{};
  long all = 1;
  bool fits = true;
  for (int d = 0; d < nred; ++d) {
    ext[d] = s.index_extent(static_cast<std::size_t>(exec::plain_positions<red_dims>::at(d)));
    all *= ext[d];
    fits = fits && s.shape(slot_m)[static_cast<std::size_t>(d)] == ext[d];
  }
  if (!fits) {  // M's tensor is not exactly the index space (a view bound larger): the two kernels, one after the other
    launch_unfused<R>(prog, s, space, false, exec::write_mode::assign, sub);
    launch_unfused<M>(prog, s, space, false, exec::write_mode::assign, sub);
    return;
  }
  const auto& eqr = tensorlogic::get<R>(prog.equations);
  const auto& eqm = tensorlogic::get<M>(prog.equations);
  kernel_t k{};
  k.ctx.table = make_table_for<both_t>(s.views(), s.shapes());
  for (int p = 0; p < nidx; ++p) k.ctx.extent[p] = s.index_extent(static_cast<std::size_t>(p));
  k.body = to_local<both_t>(sub(plan::lower_rhs<Prog>(eqr)).body);
  k.rhs = to_local<both_t>(sub(plan::lower_rhs<Prog>(eqm)));
  k.out = tensorlogic::get<slot_m>(s.views()).data();
  const long row = exec::broadcast_split(ext, nred, kernel_t::split, k.per_row);
  R1 value = exec::lane_reducer<rop, R1>::init();
  if (all > 0 && row > 0) {
    k.row = row;
    k.total_rows = all / row;
    const long items = k.template items<host>();
    lane_reduce<rop>(kernel_label("full reduction", eq_r::head::name.view(), "map", eq_m::head::name.view()),
                     Kokkos::RangePolicy<Space, Kokkos::IndexType<long>>(space, 0, items), k, value);
  }
  value = exec::lane_reducer<rop, R1>::finish(value, all);
  Kokkos::parallel_for(kernel_label("store", eq_r::head::name.view()),
                       Kokkos::RangePolicy<Space, Kokkos::IndexType<long>>(space, 0, 1),
                       exec::scalar_store<R1, out_r>{tensorlogic::get<slot_r>(s.views()).data(), value, exec::write_mode::assign});
}

// Launches equation E: one vendor GEMM when the equation is exactly one, a vendor GEMM and an accumulating epilogue
// kernel when it is a GEMM plus other terms, the generic kernel otherwise.
template <std::size_t E, class Prog, class Store, class Space, class Sub = plan::no_inlining>
void launch_unfused(const Prog& prog, Store& s, const Space& space, bool to_scratch, exec::write_mode mode,
                    const Sub& sub = Sub{});

// Computes the tensors equation E reads that are still deferred (see store::operator[]).
template <std::size_t E, class Prog, class Store>
void materialize_reads(Store& s) {
  [&]<class... Sy>(type_list<Sy...>) {
    (s.materialize_slot(static_cast<std::size_t>(Prog::slot_of(Sy::name.view()))), ...);
  }(typename std::remove_cvref_t<element_t<E, decltype(Prog::equations)>>::rhs_type::symbols{});
}

template <std::size_t E, class Prog, class Store, class Space>
void launch_equation(const Prog& prog, Store& s, const Space& space, bool to_scratch, exec::write_mode mode) {
#if TENSORLOGIC_HAVE_KOKKOS_KERNELS && defined(KOKKOSKERNELS_ENABLE_TPL_BLAS)
  // attention in a gradient program (exec/fuse.hpp, attention_training): the output's equation runs the fused forward
  // pass with row statistics, the first adjoint equation the fused backward pass (all three adjoints), the S-sized
  // intermediates are deferred to their first read through the store
  if constexpr (attention_training<Prog>::table.role[E] != 0 &&
                Kokkos::SpaceAccessibility<Kokkos::HostSpace, typename Store::memory_space>::accessible) {
    using fusion = attention_training_fusion<Prog, E>;
    constexpr std::size_t slot =
        static_cast<std::size_t>(Prog::slot_of(element_t<E, decltype(Prog::equations)>::head::name.view()));
    if constexpr (fusion::role == 1) s.defer(slot, nullptr);
    if (mode == exec::write_mode::assign && !to_scratch && fusion::runs(prog, s)) {
      if constexpr (fusion::role == 1) {
        s.defer(slot, [prog, space](Store& st) {
          materialize_reads<E, Prog>(st);
          launch_unfused<E>(prog, st, space, false, exec::write_mode::assign);
          space.fence();
        });
      } else if constexpr (fusion::role == 2) {
        fusion::forward(prog, s);
      } else if constexpr (fusion::role == 3) {
        fusion::backward(prog, s);
      }
      return;
    }
  }
  // attention's two equations as one kernel (exec/fuse.hpp): the output's equation runs the fused kernel, the scores'
  // equation is deferred to the first read of S through the store (it is never computed if nothing reads it)
  if constexpr (attention_pairs<Prog>::pairs.role[E] != 0 &&
                Kokkos::SpaceAccessibility<Kokkos::HostSpace, typename Store::memory_space>::accessible) {
    using fusion = attention_fusion<Prog, E>;
    constexpr std::size_t slot =
        static_cast<std::size_t>(Prog::slot_of(element_t<E, decltype(Prog::equations)>::head::name.view()));
    if constexpr (fusion::role == 1) s.defer(slot, nullptr);
    if (mode == exec::write_mode::assign && !to_scratch && fusion::runs(prog, s)) {
      if constexpr (fusion::role == 2) {
        fusion::launch(prog, s);
      } else {
        s.defer(slot, [prog, space](Store& st) {
          launch_unfused<E>(prog, st, space, false, exec::write_mode::assign);
          space.fence();
        });
      }
      return;
    }
  }
#endif
  // a reduce-and-map pair: the reduction waits for its map, whose launch computes both
  using pairs_t = reduction_pairs<Prog, typename Store::memory_space>;
  if constexpr (pairs_t::choice.map_of[E] >= 0) {
    if (elementwise_fusion_flag() && mode == exec::write_mode::assign && !to_scratch) return;
  } else if constexpr (pairs_t::choice.reduction_of[E] >= 0) {
    if (elementwise_fusion_flag() && mode == exec::write_mode::assign && !to_scratch) {
      launch_pair<static_cast<std::size_t>(pairs_t::choice.reduction_of[E]), E>(prog, s, space);
      return;
    }
  }
  using plan_t = inline_plan<Prog, typename Store::memory_space>;
  if constexpr (plan_t::any) {
    constexpr std::size_t slot =
        static_cast<std::size_t>(Prog::slot_of(element_t<E, decltype(Prog::equations)>::head::name.view()));
    using sub_t = plan::inliner<Prog, plan_t>;
    constexpr bool reads = reads_marked<Prog>(plan_t::defining, E);
    constexpr bool inlined = plan_t::defining[slot] == static_cast<int>(E);
    if (elementwise_fusion_flag()) {
      if constexpr (inlined) {
        if (mode == exec::write_mode::assign && !to_scratch) {
          s.defer(slot, [prog, space](Store& st) {
            if constexpr (reads)
              launch_unfused<E>(prog, st, space, false, exec::write_mode::assign, sub_t{&prog});
            else
              launch_unfused<E>(prog, st, space, false, exec::write_mode::assign);
            space.fence();
          });
          return;
        }
      }
      if constexpr (reads) {
        launch_unfused<E>(prog, s, space, to_scratch, mode, sub_t{&prog});
        return;
      }
    }
    if constexpr (plan_t::defining[slot] == static_cast<int>(E)) s.defer(slot, nullptr);
  }
  launch_unfused<E>(prog, s, space, to_scratch, mode);
}

// A product of three or four tensors in the pairwise order plan/order.hpp chooses from the store's extents: the
// steps form a small program whose store shares the program's views and keeps the temporaries (allocated once per
// store, on the first run); each step then takes its own kernel path (a GEMM, a row reduction, ...). Returns false
// when the single loop is the cheapest (or a factor's view is larger than its subscripts' extents).
struct ordered_state {
  int choice = -1;
  std::shared_ptr<void> sub;
};

template <class Sub, class Prog, class SubStore, class Store, std::size_t... S>
void share_views(SubStore& sub, Store& s, bool to_scratch, std::index_sequence<S...>) {
  (
      [&] {
        using sym = typename SubStore::template symbol_at<S>;
        constexpr int slot = Prog::slot_of(sym::name.view());
        if constexpr (slot >= 0) {
          constexpr std::size_t at = static_cast<std::size_t>(slot);
          using head = typename element_t<Sub::size - 1, decltype(Sub::equations)>::head;
          if constexpr (sym::name.view() == head::name.view()) {
            if (to_scratch)
              sub.template share<S>(s.template scratch<at>());
            else
              sub.template share<S>(tensorlogic::get<at>(s.views()));
          } else {
            s.materialize_slot(at);
            sub.template share<S>(tensorlogic::get<at>(s.views()));
          }
        }
      }(),
      ...);
}
template <class Prog, class SubStore, std::size_t... S>
void allocate_temporaries(SubStore& sub, std::index_sequence<S...>) {
  ((Prog::slot_of(SubStore::template symbol_at<S>::name.view()) < 0 ? sub.template allocate_uninitialized<S>()
                                                                      : void()),
   ...);
}

template <class Prog, class Eq, class Store>
int contraction_choice(const Store& s) {
  using order = contraction_order<Eq>;
  auto extent = [&](int local) {
    return s.index_extent(static_cast<std::size_t>(Prog::index_position(order::term.name[local])));
  };
  // every factor's view is exactly its subscripts' extents (an index expression elsewhere may have made it larger)
  bool exact = true;
  auto check = [&](const auto& leaf) {
    using X = std::remove_cvref_t<decltype(leaf)>;
    if constexpr (order_tensor_leaf<X>) {
      constexpr std::size_t slot = static_cast<std::size_t>(Prog::slot_of(X::symbol::name.view()));
      std::size_t d = 0;
      tensorlogic::detail::apply_tuple(
          [&](const auto&... i) {
            ((exact = exact && s.shape(slot)[d++] == s.index_extent(static_cast<std::size_t>(
                                                          Prog::index_position(std::remove_cvref_t<decltype(i)>::name.view())))),
             ...);
          },
          leaf.dims);
    }
  };
  tensorlogic::detail::apply_tuple([&](const auto&... leaf) { (check(leaf), ...); }, typename order::leaves_t{});
  return exact ? order::choose(extent) : -1;
}

template <int K, class Prog, class Eq, class Store, class Space>
void launch_order(const Eq& eq, Store& s, ordered_state& state, const Space& space, bool to_scratch,
                  exec::write_mode mode) {
  using order = contraction_order<Eq>;
  auto sub = order::template program_of<K>(eq);
  using sub_t = decltype(sub);
  using sub_store = store<sub_t, typename Store::memory_space>;
  if (!state.sub) {
    extents_list ext;
    for (std::size_t k = 0; k < sub_t::n_indices; ++k) {
      const std::string_view name = sub_t::indices.items[k].name;
      ext.entries.push_back({name, static_cast<std::size_t>(s.index_extent(static_cast<std::size_t>(Prog::index_position(name)))),
                             sub_t::indices.items[k].extent});
    }
    auto made = std::make_shared<sub_store>(sub, ext, unallocated);
    allocate_temporaries<Prog>(*made, std::make_index_sequence<sub_store::n_slots>{});
    state.sub = made;
  }
  auto& st = *static_cast<sub_store*>(state.sub.get());
  share_views<sub_t, Prog>(st, s, to_scratch, std::make_index_sequence<sub_store::n_slots>{});
  [&]<std::size_t... S>(std::index_sequence<S...>) {
    ((launch_unfused<S>(sub, st, space, false, S + 1 < sizeof...(S) ? exec::write_mode::assign : mode)), ...);
  }(std::make_index_sequence<sub_t::size>{});
}

// The order equation E of the store's program last ran in: a tree of contraction_order (>= 0), -1 for the single
// loop, -2 when it has not run pairwise-eligible (or not at all).
template <std::size_t E, class Store>
int executed_order(Store& s) {
  const auto& state = s.equation_state(E);
  return state ? static_cast<const ordered_state*>(state.get())->choice : -2;
}

template <std::size_t E, class Prog, class Store, class Space>
bool launch_ordered(const Prog& prog, Store& s, const Space& space, bool to_scratch, exec::write_mode mode) {
  using eq_t = std::remove_cvref_t<decltype(tensorlogic::get<E>(prog.equations))>;
  using order = contraction_order<eq_t>;
  if constexpr (order::count == 0 || eq_t::is_relation) {
    return false;
  } else {
    if (mode == exec::write_mode::logical_or || !contraction_order_flag()) return false;
    auto& slot = s.equation_state(E);
    if (!slot) {
      auto made = std::make_shared<ordered_state>();
      made->choice = contraction_choice<Prog, eq_t>(s);
      slot = made;
    }
    auto& state = *static_cast<ordered_state*>(slot.get());
    if (state.choice < 0) return false;
    const auto& eq = tensorlogic::get<E>(prog.equations);
    [&]<int... K>(std::integer_sequence<int, K...>) {
      ((state.choice == K ? launch_order<K, Prog>(eq, s, state, space, to_scratch, mode) : void()), ...);
    }(std::make_integer_sequence<int, order::count>{});
    return true;
  }
}

// The positions (in the program's index list) of a plain left-hand side's subscripts.
template <int... P>
constexpr std::array<int, sizeof...(P) + 1> subscript_positions(const plan::dims<plan::dim_var<P>...>&) {
  return {P..., -1};
}

// The tiled kernel's launch for one GEMM plan, kernel context and epilogue: templated on those and the operands' view
// types, not on the program, so GEMM equations of one shape share it (run_tiled_gemm below gathers its arguments).
template <class T, gemm_plan Plan, class Ctx, class Epi, class VF, class VS, class Space>
void launch_tiled(const Ctx& ctx, const typename Epi::rest_t& rest, const VF& vf, const VS& vs, const long* c_shape,
                  const int* c_pos, T* out, T alpha, bool accumulate, std::string_view head_name,
                  const Space& space) {
  constexpr gemm_plan plan = Plan;
  using R = compute_type<T>;
  constexpr int nidx = Ctx::n_indices;
  constexpr bool host = Kokkos::SpaceAccessibility<Kokkos::HostSpace, typename Space::memory_space>::accessible;
  using tiles = exec::gemm_tiles<T, host>;
  using kernel_t = exec::tiled_gemm_kernel<T, R, Ctx, nidx, Epi, tiles>;
  const gemm_layout lay = gemm_layout_of<plan>(c_shape, vf, vs);
  if (lay.total_c == 0) return;
  kernel_t k{};
  exec::gemm_geometry& g = k.g;
  g.m = lay.m, g.n = lay.n, g.k = lay.k;
  // op(F)(m, k) and op(S)(k, n) of the row-major matrices F and S
  g.a_m = plan.trans_first ? 1 : lay.ld[1];
  g.a_k = plan.trans_first ? lay.ld[1] : 1;
  g.b_k = plan.trans_second ? 1 : lay.ld[2];
  g.b_n = plan.trans_second ? lay.ld[2] : 1;
  g.ldc = lay.ld[0];
  g.tiles_m = (g.m + tiles::mt - 1) / tiles::mt;
  g.tiles_n = (g.n + tiles::nt - 1) / tiles::nt;
  g.n_batch = plan.n_batch;
  for (int b = 0; b < plan.n_batch; ++b) {
    g.batch_ext[b] = lay.ext[0][plan.batch_pos[0][b]];
    for (int t = 0; t < 3; ++t) g.batch_stride[t][b] = lay.stride[t][plan.batch_pos[t][b]];
    g.batch_at[b] = plan.batch_pos[0][b];
  }
  g.row_lo = plan.m_lo, g.row_hi = plan.m_hi, g.col_lo = plan.n_lo, g.col_hi = plan.n_hi;
  g.c_rank = plan.rank[0];
  for (int d = 0; d < plan.rank[0]; ++d) {
    g.c_ext[d] = lay.ext[0][d];
    g.c_pos[d] = c_pos[d];
  }
  k.ctx = ctx;
  k.rest = rest;
  k.a = vf.data();
  k.b = vs.data();
  k.c = out;
  k.alpha = alpha;
  k.accumulate = accumulate;
  k.simd = exec::host_simd_level();
  const long league = g.tiles_m * g.tiles_n * lay.batches;
  if (league == 0) return;
  Kokkos::TeamPolicy<Space> policy(space, static_cast<int>(league), tiles::team);
  policy.set_scratch_size(0, Kokkos::PerTeam(static_cast<std::size_t>(kernel_t::shmem_bytes())));
  Kokkos::parallel_for(kernel_label("tiled gemm", head_name), policy, k);
}

// Runs C = f(P + Rest) (f and Rest optional, P the GEMM-shaped product of gemm_eq) on the tiled kernel into `out`.
template <class Prog, bool HasF, op F, class GemmEq, class Rest, class Store, class Space>
void run_tiled_gemm(const GemmEq& gemm_eq, const Rest& rest, Store& s, const Space& space,
                    typename GemmEq::head::value_type* out, bool accumulate) {
  constexpr gemm_plan plan = plan_vendor_gemm<GemmEq>();
  using T = typename GemmEq::head::value_type;
  using Rt = gemm_rhs_t<typename GemmEq::rhs_type>;
  using first = std::conditional_t<plan.swap, typename gemm_operands<Rt>::second, typename gemm_operands<Rt>::first>;
  using second = std::conditional_t<plan.swap, typename gemm_operands<Rt>::first, typename gemm_operands<Rt>::second>;
  constexpr int head_slot = Prog::slot_of(GemmEq::head::name.view());
  constexpr int nidx = static_cast<int>(Prog::n_indices);
  using static_t = decltype(static_extents_of<Prog>(std::make_index_sequence<Prog::n_indices>{}));
  using ctx_t = exec::kernel_context<table_for<Store, Rest>, static_t, nidx>;
  using epi = exec::gemm_epilogue_spec<local_t<Rest, Rest>, HasF, F>;
  constexpr auto pos = subscript_positions(decltype(plan::lower_lhs<Prog>(gemm_eq).subscripts){});
  ctx_t ctx{};
  ctx.table = make_table_for<Rest>(s.views(), s.shapes());
  for (int p = 0; p < nidx; ++p) ctx.extent[p] = s.index_extent(static_cast<std::size_t>(p));
  launch_tiled<T, plan, ctx_t, epi>(ctx, to_local<Rest>(rest),
                                    tensorlogic::get<Prog::slot_of(first::symbol::name.view())>(s.views()),
                                    tensorlogic::get<Prog::slot_of(second::symbol::name.view())>(s.views()),
                                    s.shape(head_slot).data(), pos.data(), out, gemm_alpha<T>(s, gemm_eq.rhs),
                                    accumulate, GemmEq::head::name.view(), space);
}

// C = P + Rest of a sum (P at form::side): P's equation and Rest lowered to the descriptor the epilogue evaluates at
// C's cells.
template <class Prog, bool HasF, op F, int Side, class Lhs, class Sum, class Store, class Space>
void run_tiled_gemm_sum(const Lhs& lhs, const Sum& sum, Store& s, const Space& space,
                        typename Lhs::symbol::value_type* out, bool accumulate) {
  constexpr std::size_t side = static_cast<std::size_t>(Side);
  using product_t = std::remove_cvref_t<decltype(tensorlogic::get<side>(sum.args))>;
  using rest_t = std::remove_cvref_t<decltype(tensorlogic::get<1 - side>(sum.args))>;
  run_tiled_gemm<Prog, HasF, F>(equation<Lhs, product_t>{lhs, tensorlogic::get<side>(sum.args)},
                                plan::lower_rhs<Prog>(equation<Lhs, rest_t>{lhs, tensorlogic::get<1 - side>(sum.args)}),
                                s, space, out, accumulate);
}

template <class Prog, class Eq, class Store, class Space>
void launch_tiled_gemm(const Eq& eq, Store& s, const Space& space, bool to_scratch, exec::write_mode mode) {
  using form = tiled_form<Eq>;
  using lhs_t = typename Eq::lhs_type;
  constexpr std::size_t slot = static_cast<std::size_t>(Prog::slot_of(Eq::head::name.view()));
  auto* out = to_scratch ? s.template scratch<slot>().data() : tensorlogic::get<slot>(s.views()).data();
  const bool acc = mode == exec::write_mode::accumulate;
  if constexpr (form::kind == 1) {
    run_tiled_gemm<Prog, false, op::neg>(eq, exec::no_gemm_rest{}, s, space, out, acc);
  } else if constexpr (form::kind == 2) {
    run_tiled_gemm_sum<Prog, false, op::neg, form::side>(eq.lhs, eq.rhs, s, space, out, acc);
  } else if constexpr (form::kind == 3) {
    using inner_t = std::remove_cvref_t<decltype(tensorlogic::get<0>(eq.rhs.args))>;
    run_tiled_gemm<Prog, true, Eq::rhs_type::operation>(
        equation<lhs_t, inner_t>{eq.lhs, tensorlogic::get<0>(eq.rhs.args)}, exec::no_gemm_rest{}, s, space, out, acc);
  } else {
    run_tiled_gemm_sum<Prog, true, Eq::rhs_type::operation, form::side>(eq.lhs, tensorlogic::get<0>(eq.rhs.args), s,
                                                                         space, out, acc);
  }
}

// f in place over the head's view (exec::in_place_map): about 4096 cells per work item on the host, one per work item
// on devices.
template <op F, class View, class Space>
void map_in_place(const View& v, std::string_view head_name, const Space& space) {
  using T = typename View::value_type;
  constexpr bool host = Kokkos::SpaceAccessibility<Kokkos::HostSpace, typename Space::memory_space>::accessible;
  exec::in_place_map<compute_type<T>, T, F> k{};
  k.data = v.data();
  k.total = static_cast<long>(v.size());
  k.inner = host ? 4096 : 1;
  Kokkos::parallel_for(kernel_label("map", head_name),
                       Kokkos::RangePolicy<Space, Kokkos::IndexType<long>>(space, 0, (k.total + k.inner - 1) / k.inner),
                       k);
}

template <std::size_t E, class Prog, class Store, class Space, class Sub>
void launch_unfused(const Prog& prog, Store& s, const Space& space, bool to_scratch, exec::write_mode mode,
                    const Sub& sub) {
  const auto& eq = tensorlogic::get<E>(prog.equations);
  using eq_t = std::remove_cvref_t<decltype(eq)>;
  // an attention-scores tensor the store allocates on first use (exec/store.hpp) is written here, so it needs memory
  s.template ensure_allocated<static_cast<std::size_t>(Prog::slot_of(eq_t::head::name.view()))>();
  if (launch_ordered<E>(prog, s, space, to_scratch, mode)) return;
#if TENSORLOGIC_HAVE_KOKKOS_KERNELS
  using head = typename eq_t::head;
  constexpr std::size_t slot = static_cast<std::size_t>(Prog::slot_of(head::name.view()));
  using memory = typename Store::memory_space;
  if constexpr (vendor_gemm_runs<eq_t, memory>()) {
    if (vendor_gemm_flag() && mode != exec::write_mode::logical_or) {
      auto* out = to_scratch ? s.template scratch<slot>().data() : tensorlogic::get<slot>(s.views()).data();
      vendor_gemm<eq_t>(s, space, eq, out, mode == exec::write_mode::accumulate);
      return;
    }
  } else if constexpr (gemm_epilogue<eq_t, memory>::side >= 0) {
    if (vendor_gemm_flag() && mode != exec::write_mode::logical_or) {
      constexpr std::size_t side = static_cast<std::size_t>(gemm_epilogue<eq_t, memory>::side);
      using lhs_t = typename eq_t::lhs_type;
      using product_t = std::remove_cvref_t<decltype(tensorlogic::get<side>(eq.rhs.args))>;
      using rest_t = std::remove_cvref_t<decltype(tensorlogic::get<1 - side>(eq.rhs.args))>;
      auto* out = to_scratch ? s.template scratch<slot>().data() : tensorlogic::get<slot>(s.views()).data();
      vendor_gemm(s, space, equation<lhs_t, product_t>{eq.lhs, tensorlogic::get<side>(eq.rhs.args)}, out,
                  mode == exec::write_mode::accumulate);
      launch_kernel<Prog>(equation<lhs_t, rest_t>{eq.lhs, tensorlogic::get<1 - side>(eq.rhs.args)}, s, space,
                          to_scratch,
                          exec::write_mode::accumulate);
      return;
    }
  } else if constexpr (gemm_normalizer<eq_t, memory>::value) {
    // the GEMM into the head, then the normalizer over the head's rows in place (the product is computed once,
    // not once for the row statistics and again for the values)
    if (vendor_gemm_flag() && mode == exec::write_mode::assign && !to_scratch) {
      using gn = gemm_normalizer<eq_t, memory>;
      using lhs_t = typename eq_t::lhs_type;
      vendor_gemm(s, space, equation<lhs_t, typename gn::product>{eq.lhs, gn::product_of(eq)},
                  tensorlogic::get<slot>(s.views()).data(), false);
      launch_kernel<Prog>(gn::rewritten(eq), s, space, false, exec::write_mode::assign);
      return;
    }
  } else if constexpr (gemm_outer<eq_t, memory>::kind > 0) {
    // f(P) or f(P + Rest): the GEMM into the head, Rest added into it, then f in place; the head doubles as the
    // GEMM's output, so only when the equation writes (not accumulates into) the head's own view.
    if (vendor_gemm_flag() && mode == exec::write_mode::assign && !to_scratch) {
      using lhs_t = typename eq_t::lhs_type;
      using inner_t = std::remove_cvref_t<decltype(tensorlogic::get<0>(eq.rhs.args))>;
      constexpr op f = eq_t::rhs_type::operation;
      const auto& inner = tensorlogic::get<0>(eq.rhs.args);
      auto* out = tensorlogic::get<slot>(s.views()).data();
      if constexpr (gemm_outer<eq_t, memory>::kind == 1) {
        vendor_gemm(s, space, equation<lhs_t, inner_t>{eq.lhs, inner}, out, false);
        map_in_place<f>(tensorlogic::get<slot>(s.views()), head::name.view(), space);
      } else {
        // the GEMM, Rest added by the epilogue kernel, then f as a flat map (vectorized, no coordinates): one pass
        // more than f(C + Rest) in one kernel, but that kernel would run f on the coordinate path
        constexpr std::size_t side = static_cast<std::size_t>(gemm_outer<eq_t, memory>::side);
        using product_t = std::remove_cvref_t<decltype(tensorlogic::get<side>(inner.args))>;
        using rest_t = std::remove_cvref_t<decltype(tensorlogic::get<1 - side>(inner.args))>;
        vendor_gemm(s, space, equation<lhs_t, product_t>{eq.lhs, tensorlogic::get<side>(inner.args)}, out, false);
        launch_kernel<Prog>(equation<lhs_t, rest_t>{eq.lhs, tensorlogic::get<1 - side>(inner.args)}, s, space, false,
                            exec::write_mode::accumulate);
        map_in_place<f>(tensorlogic::get<slot>(s.views()), head::name.view(), space);
      }
      return;
    }
  }
#endif
  if constexpr (tiled_form<eq_t>::kind > 0) {
    if (tiled_gemm_flag() && mode != exec::write_mode::logical_or) {
      launch_tiled_gemm<Prog>(eq, s, space, to_scratch, mode);
      return;
    }
  }
  launch_kernel<Prog>(eq, s, space, to_scratch, mode, sub);
}

// The kernel path equation E takes when it assigns its head in memory space Mem, its right-hand side read through
// the elementwise fusion plan of the program (tl::explain prints it; tl::set_elementwise_fusion(false) prints
// kernel_path<E, Prog, Mem>() instead).
// Vendor and Tiled: whether tl::set_vendor_gemm / tl::set_tiled_gemm are on.
template <std::size_t E, class Prog, class Mem = Kokkos::HostSpace, bool Vendor = true, bool Tiled = true>
constexpr const char* execution_path() {
  using plan_t = inline_plan<Prog, Mem>;
  using eq_t = equation_at<element_t<E, decltype(Prog::equations)>>;
  constexpr int slot = Prog::slot_of(eq_t::head::name.view());
  using pairs_t = reduction_pairs<Prog, Mem>;
#if TENSORLOGIC_HAVE_KOKKOS_KERNELS && defined(KOKKOSKERNELS_ENABLE_TPL_BLAS)
  constexpr bool training = Vendor && attention_training<Prog>::table.role[E] != 0 &&
                            Kokkos::SpaceAccessibility<Kokkos::HostSpace, Mem>::accessible;
#else
  constexpr bool training = false;
#endif
  if constexpr (training)
    return path_name(kernel_path<E, Prog, Mem, plan::no_inlining, Vendor, Tiled>());
  else if constexpr (plan_t::defining[static_cast<std::size_t>(slot)] == static_cast<int>(E))
    return "inlined into its readers (not materialized)";
  else if constexpr (pairs_t::choice.map_of[E] >= 0)
    return "full reduction, computed in its map's pass (multi-output)";
  else if constexpr (pairs_t::choice.reduction_of[E] >= 0)
    return "broadcast rows + a full reduction in one pass (multi-output)";
  else
    return path_name(kernel_path<E, Prog, Mem, plan::inliner<Prog, plan_t>, Vendor, Tiled>());
}
template <std::size_t E, class Prog, class Mem = Kokkos::HostSpace, bool Vendor = true, bool Tiled = true>
constexpr const char* unfused_execution_path() {
  return path_name(kernel_path<E, Prog, Mem, plan::no_inlining, Vendor, Tiled>());
}
// Every equation's path under the fusion, vendor and tiled switches (explain picks the array of the current ones).
template <class Prog, class Mem, bool Fused, bool Vendor, bool Tiled>
struct execution_paths {
  template <std::size_t... E>
  static constexpr std::array<const char*, sizeof...(E) + 1> make(std::index_sequence<E...>) {
    if constexpr (Fused)
      return {execution_path<E, Prog, Mem, Vendor, Tiled>()..., ""};
    else
      return {unfused_execution_path<E, Prog, Mem, Vendor, Tiled>()..., ""};
  }
  static constexpr auto value = make(std::make_index_sequence<Prog::size>{});
};
template <class Prog, class Mem>
const char* const* current_execution_paths() {
  const int key = (elementwise_fusion_flag() ? 4 : 0) + (vendor_gemm_flag() ? 2 : 0) + (tiled_gemm_flag() ? 1 : 0);
  switch (key) {
    case 0: return execution_paths<Prog, Mem, false, false, false>::value.data();
    case 1: return execution_paths<Prog, Mem, false, false, true>::value.data();
    case 2: return execution_paths<Prog, Mem, false, true, false>::value.data();
    case 3: return execution_paths<Prog, Mem, false, true, true>::value.data();
    case 4: return execution_paths<Prog, Mem, true, false, false>::value.data();
    case 5: return execution_paths<Prog, Mem, true, false, true>::value.data();
    case 6: return execution_paths<Prog, Mem, true, true, false>::value.data();
    default: return execution_paths<Prog, Mem, true, true, true>::value.data();
  }
}

// The number of cells of a view that differ from its scratch copy (fixpoint change detection).
template <class View, class Space>
long count_changed(const View& v, const View& scratch, const Space& space) {
  long n = 0;
  Kokkos::parallel_reduce("tensorlogic::fixpoint changes",
                          Kokkos::RangePolicy<Space, Kokkos::IndexType<long>>(space, 0, static_cast<long>(v.size())),
                          exec::count_changes<typename View::value_type>{v.data(), scratch.data()}, n);
  return n;
}

template <class Prog, class Store, class Space>
struct runner {
  using launch_fn = void (*)(const Prog&, Store&, const Space&, bool, exec::write_mode);

  template <std::size_t... E>
  static constexpr std::array<launch_fn, sizeof...(E)> launchers(std::index_sequence<E...>) {
    return {&launch_equation<E, Prog, Store, Space>...};
  }
  template <std::size_t... E>
  static constexpr std::array<bool, sizeof...(E)> constant_dims(std::index_sequence<E...>) {
    return {has_constant_lhs_dim<E, Prog>()...};
  }
  // Runs one same-LHS group; returns the number of changed cells when `detect` (fixpoint), else 0.
  static long run_group(const Prog& prog, Store& s, const Space& space, int g, bool detect) {
    constexpr auto& st = Prog::structure;
    static constexpr auto launch = launchers(std::make_index_sequence<Prog::size>{});
    static constexpr auto constant = constant_dims(std::make_index_sequence<Prog::size>{});
    const int slot = st.group_head[g];
    const bool relation = Prog::structure_is_relation(slot);
    const bool scratch = detect || st.self_read[g];
    bool first = true;
    const auto at = static_cast<std::size_t>(slot);
    if (scratch && relation) s.visit_slot(at, true, [](auto& v, auto& sc) { Kokkos::deep_copy(sc, v); });
    for (int e = 0; e < st.n_equations; ++e) {
      if (st.group_of[e] != g) continue;
      exec::write_mode mode = exec::write_mode::accumulate;
      if (relation) {
        mode = exec::write_mode::logical_or;
      } else if (first) {
        if (constant[e])
          s.visit_slot(at, scratch, [&](auto& v, auto& sc) { Kokkos::deep_copy(scratch ? sc : v, 0); });
        else
          mode = exec::write_mode::assign;
      }
      first = false;
      launch[e](prog, s, space, scratch, mode);
    }
    if (!scratch) return 0;
    long changed = 0;
    if (detect) s.visit_slot(at, true, [&](auto& v, auto& sc) { changed = count_changed(v, sc, space); });
    s.visit_slot(at, true, [](auto& v, auto& sc) { Kokkos::deep_copy(v, sc); });
    return changed;
  }

  // Left-hand-side subscripts of every equation, checked before any kernel launches.
  template <std::size_t... E>
  static void check_subscripts(const Prog& prog, const Store& s, std::index_sequence<E...>) {
    (
        [&] {
          const auto& eq = tensorlogic::get<E>(prog.equations);
          using head = typename std::remove_cvref_t<decltype(eq)>::head;
          constexpr std::size_t slot = static_cast<std::size_t>(Prog::slot_of(head::name.view()));
          exec::lhs_dim dims[head::rank > 0 ? head::rank : 1];
          fill_lhs_dims(dims, plan::lower_lhs<Prog>(eq).subscripts, s.shape(slot).data(), head::name.view(), 0);
        }(),
        ...);
  }

  // Inputs (symbols no equation defines) must be bound before anything runs, and every view must have the store's
  // extents: a view assigned through s[T] = v replaces the store's without its checks (tl::bind makes them), and the
  // kernels address a tensor by the store's shape.
  static void check_inputs(const Prog& prog, const Store& s) {
    check_subscripts(prog, s, std::make_index_sequence<Prog::size>{});
    constexpr auto& st = Prog::structure;
    for (std::size_t slot = 0; slot < Prog::n_slots; ++slot) {
      bool defined = false;
      for (int g = 0; g < st.n_groups; ++g) defined = defined || st.group_head[g] == static_cast<int>(slot);
      if (!defined && !s.is_bound(slot))
        throw error("tensor " + std::string(Prog::slot_name(slot)) +
                    " is read by the program but was never bound (use tl::bind or write s[" +
                    std::string(Prog::slot_name(slot)) + "])");
      const_cast<Store&>(s).visit_slot(slot, false, [&](const auto& v, const auto&) {
        constexpr std::size_t rank = static_cast<std::size_t>(std::remove_cvref_t<decltype(v)>::rank);
        if (v.data() == nullptr) return;  // an on-demand slot not allocated yet
        for (std::size_t d = 0; d + 1 < rank + 1; ++d)  // (not d < rank: nvcc warns of a comparison with 0 at rank 0)
          if (static_cast<long>(v.extent(d)) != s.shape(slot)[d]) {
            const std::string name(Prog::slot_name(slot)), idx = s.dim_index_name(slot, d);
            throw error("tensor " + name + ": dimension " + std::to_string(d) +
                        (idx.empty() ? std::string() : " (index " + idx + ")") + " of its view has extent " +
                        std::to_string(v.extent(d)) + " but the store's is " + std::to_string(s.shape(slot)[d]) +
                        " (a view assigned through s[" + name + "] must keep the store's extents; tl::bind copies " +
                        "data of another shape or layout)");
          }
      });
    }
  }
};

}  // namespace detail

// Turns elementwise fusion (intermediates inlined into their readers, see detail::inline_plan) on or off.
inline void set_elementwise_fusion(bool enabled) { detail::elementwise_fusion_flag() = enabled; }
// Turns the library's tiled GEMM kernel on or off (off: GEMM-shaped equations the vendor path does not take run on the
// generic kernel).
inline void set_tiled_gemm(bool enabled) { detail::tiled_gemm_flag() = enabled; }

// Runs every equation once, in dependency order (a recursive stratum gets one pass; see tl::fixpoint).
template <class Prog, class Mem, class Space = Kokkos::DefaultExecutionSpace>
void eval(const Prog& prog, store<Prog, Mem>& s, const Space& space = Space{}) {
  using run = detail::runner<Prog, store<Prog, Mem>, Space>;
  run::check_inputs(prog, s);
  constexpr auto& st = Prog::structure;
  for (int k = 0; k < st.n_groups; ++k) run::run_group(prog, s, space, st.order[k], false);
  space.fence();
}

// Iterates each recursive stratum to its least fixpoint (naive iteration); returns the iterations of the
// longest stratum. Throws tl::error if a stratum has not converged after options.max_iterations.
template <class Prog, class Mem, class Space = Kokkos::DefaultExecutionSpace>
long fixpoint(const Prog& prog, store<Prog, Mem>& s, const Space& space = Space{}, fixpoint_options options = {}) {
  using run = detail::runner<Prog, store<Prog, Mem>, Space>;
  run::check_inputs(prog, s);
  constexpr auto& st = Prog::structure;
  long most = 0;
  for (int stratum = 0; stratum < st.n_strata; ++stratum) {
    long iterations = 0;
    for (;;) {
      long changed = 0;
      for (int k = 0; k < st.n_groups; ++k) {
        const int g = st.order[k];
        if (st.stratum_of[g] != stratum) continue;
        changed += run::run_group(prog, s, space, g, st.recursive[stratum]);
      }
      ++iterations;
      if (!st.recursive[stratum] || changed == 0) break;
      if (iterations >= options.max_iterations)
        throw error("fixpoint: no convergence after " + std::to_string(iterations) + " iterations");
    }
    most = iterations > most ? iterations : most;
  }
  space.fence();
  return most;
}

}  // namespace tensorlogic
