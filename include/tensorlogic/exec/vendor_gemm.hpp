// The vendor GEMM path: an equation that is exactly one GEMM — C = A * B, two float (or two double) tensors whose
// subscripts form groups (A's kept indices, B's kept indices, the contracted indices), each group contiguous and in
// one order wherever it appears, no batch index — runs as KokkosBlas::gemm (OpenBLAS on the host, cuBLAS / rocBLAS
// on GPUs) on the row-major tensors viewed as matrices, with the transpositions read from the subscripts, instead of
// the generic kernel: C(i, k) = A(j, i) B(k, j), and also Q(n, p, h, d) = W(h, d, e) X(n, p, e) (rows n p, columns
// h d) or dW(h, d, e) = G(n, p, h, d) X(n, p, e) (contracting n p). Compiled in when Kokkos Kernels is found (CMake option
// TENSORLOGIC_ENABLE_KOKKOS_KERNELS); tl::set_vendor_gemm(false) turns it off at run time (the tests run both).
#pragma once
#include <Kokkos_Core.hpp>
#include <string_view>
#include <type_traits>

#include <tensorlogic/core/program.hpp>

#if TENSORLOGIC_HAVE_KOKKOS_KERNELS
#include <KokkosBlas3_gemm.hpp>
#include <KokkosKernels_config.h>
#if defined(KOKKOSKERNELS_ENABLE_TPL_BLAS)
#include <KokkosBlas_Host_tpl.hpp>
#endif
#endif

namespace tensorlogic {

namespace detail {
inline bool& vendor_gemm_flag() {
  static bool enabled = true;
  return enabled;
}
}  // namespace detail

// Whether GEMM-shaped equations go to the vendor BLAS (when it is compiled in); on by default.
inline void set_vendor_gemm(bool enabled) { detail::vendor_gemm_flag() = enabled; }
inline bool vendor_gemm_available() {
#if TENSORLOGIC_HAVE_KOKKOS_KERNELS
  return true;
#else
  return false;
#endif
}

namespace detail {

// How a GEMM-shaped equation maps onto C = op(X) op(Y), one GEMM per batch coordinate: which factor comes first,
// whether each is transposed, and, per tensor (0 = C, 1 = the first factor, 2 = the second), where its subscripts
// split into the two matrix groups. A tensor stored row-major is, for each batch coordinate, the matrix whose rows
// are its outer group (ending at position outer_last, whose stride is the leading dimension) and whose columns are
// its inner group (ending at its last subscript, stride 1); batch subscripts may sit anywhere before the inner group.
struct gemm_plan {
  bool ok = false;
  bool swap = false;  // C = op(B) op(A)
  bool trans_first = false, trans_second = false;
  // Without batch subscripts each tensor is exactly its two groups: the matrix (first `split` extents) x (the rest).
  int split_first = 1, split_second = 1, split_c = 1;
  int rank[3]{};
  int outer_last[3]{};
  // C's rows (M) and columns (N) as position ranges of C, the contracted group (K) as a range of the first factor.
  int m_lo = 0, m_hi = 0, n_lo = 0, n_hi = 0, k_lo = 0, k_hi = 0;
  int n_batch = 0;
  int batch_pos[3][8]{};  // position of batch subscript b in each tensor
};

// The subscript names of a reference whose subscripts are all plain indices (at most 8).
struct gemm_dims {
  std::string_view name[8]{};
  int rank = 0;
  bool plain = false;
};
template <class Ref>
struct gemm_dims_of {
  static constexpr gemm_dims value{};
};
template <class S, class... D>
struct gemm_dims_of<ref<S, D...>> {
  static constexpr gemm_dims value = [] {
    gemm_dims g;
    if constexpr (sizeof...(D) >= 1 && sizeof...(D) <= 8 && (index_type<D> && ...) &&
                  S::kind == symbol_kind::tensor) {
      g.rank = static_cast<int>(sizeof...(D));
      int k = 0;
      ((g.name[k++] = D::name.view()), ...);
      g.plain = true;
    }
    return g;
  }();
};

constexpr int gemm_find(const gemm_dims& d, std::string_view x) {
  for (int k = 0; k < d.rank; ++k)
    if (d.name[k] == x) return k;
  return -1;
}
constexpr bool gemm_has(const gemm_dims& d, std::string_view x) { return gemm_find(d, x) >= 0; }
// The subscripts of d that are (in = true) or are not (in = false) subscripts of other, in d's order.
constexpr gemm_dims gemm_filter(const gemm_dims& d, const gemm_dims& other, bool in) {
  gemm_dims out;
  out.plain = true;
  for (int k = 0; k < d.rank; ++k)
    if (gemm_has(other, d.name[k]) == in) out.name[out.rank++] = d.name[k];
  return out;
}
constexpr bool gemm_distinct(const gemm_dims& d) {
  for (int a = 0; a < d.rank; ++a)
    for (int b = a + 1; b < d.rank; ++b)
      if (d.name[a] == d.name[b]) return false;
  return true;
}
// Where group g sits in d: its first position when its subscripts are consecutive in d and in g's order, else -1.
constexpr int gemm_block(const gemm_dims& d, const gemm_dims& g) {
  const int at = g.rank > 0 ? gemm_find(d, g.name[0]) : -1;
  if (at < 0 || at + g.rank > d.rank) return -1;
  for (int k = 0; k < g.rank; ++k)
    if (d.name[at + k] != g.name[k]) return -1;
  return at;
}

// C = A B, one GEMM per coordinate of the batch subscripts (those in all three): the subscripts of A only (kept by A),
// of B only (kept by B) and of A and B only (contracted) each form a group that is consecutive and in one order
// wherever it appears; C holds exactly the batch and kept subscripts; in every tensor the later of its two groups
// ends at its last subscript (unit stride), so each batch coordinate's block is a strided row-major matrix.
constexpr gemm_plan plan_gemm_dims(const gemm_dims& c, const gemm_dims& a, const gemm_dims& b) {
  gemm_plan plan;
  if (!c.plain || !a.plain || !b.plain || !gemm_distinct(c) || !gemm_distinct(a) || !gemm_distinct(b)) return plan;
  const gemm_dims kept_a = gemm_filter(gemm_filter(a, b, false), c, true);
  const gemm_dims kept_b = gemm_filter(gemm_filter(b, a, false), c, true);
  const gemm_dims ka = gemm_filter(gemm_filter(a, b, true), c, false);
  const gemm_dims batch = gemm_filter(gemm_filter(a, b, true), c, true);
  if (kept_a.rank == 0 || kept_b.rank == 0 || ka.rank == 0) return plan;
  // Nothing else: every subscript of A and B is batch, kept or contracted, and C holds batch and kept ones only.
  if (a.rank != kept_a.rank + ka.rank + batch.rank || b.rank != kept_b.rank + ka.rank + batch.rank ||
      c.rank != kept_a.rank + kept_b.rank + batch.rank)
    return plan;
  const int pa = gemm_block(a, kept_a), pka = gemm_block(a, ka);
  const int pb = gemm_block(b, kept_b), pkb = gemm_block(b, ka);
  const int ca = gemm_block(c, kept_a), cb = gemm_block(c, kept_b);
  if (pa < 0 || pka < 0 || pb < 0 || pkb < 0 || ca < 0 || cb < 0) return plan;
  // The inner group of each tensor ends at its last subscript.
  auto inner_ends = [](const gemm_dims& d, int p1, int r1, int p2, int r2) {
    return p1 < p2 ? p2 + r2 == d.rank : p1 + r1 == d.rank;
  };
  if (!inner_ends(a, pa, kept_a.rank, pka, ka.rank) || !inner_ends(b, pb, kept_b.rank, pkb, ka.rank) ||
      !inner_ends(c, ca, kept_a.rank, cb, kept_b.rank))
    return plan;
  const bool swap = cb < ca;         // C's rows are B's kept subscripts
  const bool trans_a = pka < pa;     // A stored as (contracted) x (kept)
  const bool trans_b = pb < pkb;     // B stored as (kept) x (contracted)
  plan.ok = true;
  plan.swap = swap;
  // C = op(A) op(B) or, swapped, C = op(B) op(A) with each operand transposed the other way round.
  plan.trans_first = swap ? !trans_b : trans_a;
  plan.trans_second = swap ? !trans_a : trans_b;
  const int split_a = trans_a ? ka.rank : kept_a.rank, split_b = trans_b ? kept_b.rank : ka.rank;
  plan.split_first = swap ? split_b : split_a;
  plan.split_second = swap ? split_a : split_b;
  plan.split_c = swap ? kept_b.rank : kept_a.rank;
  const gemm_dims& first = swap ? b : a;
  const gemm_dims& second = swap ? a : b;
  const gemm_dims* t[3] = {&c, &first, &second};
  const int c_rows = swap ? cb : ca, c_cols = swap ? ca : cb;
  const gemm_dims& rows = swap ? kept_b : kept_a;
  const gemm_dims& cols = swap ? kept_a : kept_b;
  plan.m_lo = c_rows, plan.m_hi = c_rows + rows.rank;
  plan.n_lo = c_cols, plan.n_hi = c_cols + cols.rank;
  plan.k_lo = gemm_block(first, ka), plan.k_hi = plan.k_lo + ka.rank;
  const int outer_start[3] = {c_rows, swap ? (trans_b ? pb : pkb) : (trans_a ? pka : pa),
                              swap ? (trans_a ? pka : pa) : (trans_b ? pb : pkb)};
  const int outer_size[3] = {rows.rank, swap ? (trans_b ? kept_b.rank : ka.rank) : (trans_a ? ka.rank : kept_a.rank),
                             swap ? (trans_a ? ka.rank : kept_a.rank) : (trans_b ? kept_b.rank : ka.rank)};
  for (int k = 0; k < 3; ++k) {
    plan.rank[k] = t[k]->rank;
    plan.outer_last[k] = outer_start[k] + outer_size[k] - 1;
  }
  plan.n_batch = batch.rank;
  for (int x = 0; x < batch.rank; ++x)
    for (int k = 0; k < 3; ++k) plan.batch_pos[k][x] = gemm_find(*t[k], batch.name[x]);
  return plan;
}

// The factors of a product tree (nested multiplications flattened, in order of appearance).
template <class E>
struct gemm_leaves {
  using type = type_list<E>;
};
template <class... A>
struct gemm_leaves<apply<op::mul, A...>> {
  using type = typename concat_all<typename gemm_leaves<A>::type...>::type;
};
// A factor that scales the product: a number, a scalar hyperparameter, a rank-0 tensor.
template <class X>
inline constexpr bool gemm_scale_leaf = std::is_same_v<X, constant> || std::is_base_of_v<scalar_tag, X>;
template <class S>
inline constexpr bool gemm_scale_leaf<ref<S>> = S::rank == 0;
template <class X>
inline constexpr bool gemm_matrix_leaf = false;
template <class S, class D0, class... D>
inline constexpr bool gemm_matrix_leaf<ref<S, D0, D...>> = S::kind == symbol_kind::tensor;

template <class List>
struct gemm_matrices {
  using type = type_list<>;
};
template <class X, class... R>
struct gemm_matrices<type_list<X, R...>> {
  using rest = typename gemm_matrices<type_list<R...>>::type;
  using type = std::conditional_t<gemm_matrix_leaf<X>, typename concat<type_list<X>, rest>::type, rest>;
};
template <class List>
inline constexpr bool gemm_leaves_known = false;
template <class... X>
inline constexpr bool gemm_leaves_known<type_list<X...>> = ((gemm_matrix_leaf<X> || gemm_scale_leaf<X>) && ...);

template <class List>
struct gemm_pair {
  static constexpr bool ok = false;
  using first = void;
  using second = void;
};
template <class M0, class M1>
struct gemm_pair<type_list<M0, M1>> {
  static constexpr bool ok = true;
  using first = M0;
  using second = M1;
};

// The two tensor factors of a GEMM-shaped product: A B times any number of scaling factors (alpha).
template <class R>
struct gemm_operands {
  static constexpr bool ok = false;
};
template <class... A>
  requires(gemm_leaves_known<typename gemm_leaves<apply<op::mul, A...>>::type>)
struct gemm_operands<apply<op::mul, A...>> {
  using matrices = typename gemm_matrices<typename gemm_leaves<apply<op::mul, A...>>::type>::type;
  static constexpr bool ok = gemm_pair<matrices>::ok;
  using first = typename gemm_pair<matrices>::first;
  using second = typename gemm_pair<matrices>::second;
};

// An explicit sum around the whole product is the GEMM's own contraction: sum(d, Q K) c is Q K c. Only when the sum
// holds every tensor factor (sum(j, A(i, j)) B(j, k) sums A's rows first, and is no GEMM).
template <class R>
struct gemm_strip {
  using type = R;
};
template <class Body, class... Idx>
struct gemm_strip<reduction<reduce_op::sum, Body, Idx...>> {
  using type = Body;
};
template <class... A>
inline constexpr bool gemm_strips_one =
    ((std::is_same_v<typename gemm_strip<A>::type, A> ? gemm_scale_leaf<A> : true) && ...) &&
    ((std::is_same_v<typename gemm_strip<A>::type, A> ? 0 : 1) + ... + 0) == 1;
template <class... A>
  requires(gemm_strips_one<A...>)
struct gemm_strip<apply<op::mul, A...>> {
  using type = apply<op::mul, typename gemm_strip<A>::type...>;
};
template <class R>
using gemm_rhs_t = typename gemm_strip<R>::type;

template <class Eq>
constexpr gemm_plan plan_vendor_gemm() {
  using L = typename Eq::lhs_type;
  using R = gemm_rhs_t<typename Eq::rhs_type>;
  if constexpr (is_apply<R> && is_ref<L>) {
    if constexpr (gemm_operands<R>::ok) {
      using A = typename gemm_operands<R>::first;
      using B = typename gemm_operands<R>::second;
      using SC = typename L::symbol;
      using SA = typename A::symbol;
      using SB = typename B::symbol;
      if constexpr (std::is_same_v<typename SC::value_type, typename SA::value_type> &&
                    std::is_same_v<typename SC::value_type, typename SB::value_type> &&
                    (std::is_same_v<typename SC::value_type, float> ||
                     std::is_same_v<typename SC::value_type, double>)) {
        if (SC::name.view() == SA::name.view() || SC::name.view() == SB::name.view()) return {};
        return plan_gemm_dims(gemm_dims_of<L>::value, gemm_dims_of<A>::value, gemm_dims_of<B>::value);
      }
    }
  }
  return {};
}

// The product of a GEMM term's scaling factors, read from the expression and the store (on the host). The walk is
// templated on the expression only, and reads scalars through the store by name: its symbols do not spell the program.
struct scalar_source {
  const void* store;
  double (*read)(const void*, std::string_view);
};
template <class T, class Node>
T gemm_alpha_of(const scalar_source& src, const Node& node) {
  if constexpr (is_apply<Node>) {
    return tensorlogic::detail::apply_tuple(
        [&](const auto&... a) { return (T(1) * ... * gemm_alpha_of<T>(src, a)); }, node.args);
  } else if constexpr (is_reduction<Node>) {
    return gemm_alpha_of<T>(src, node.body);
  } else if constexpr (std::is_same_v<Node, constant>) {
    return static_cast<T>(node.value);
  } else if constexpr (gemm_scale_leaf<Node>) {
    return static_cast<T>(src.read(src.store, Node::symbol::name.view()));
  } else {
    return T(1);
  }
}
template <class T, class Store, class Node>
T gemm_alpha(Store& s, const Node& node) {
  return gemm_alpha_of<T>(scalar_source{&s, &Store::read_host_scalar}, node);
}

#if TENSORLOGIC_HAVE_KOKKOS_KERNELS && defined(KOKKOSKERNELS_ENABLE_TPL_BLAS)
inline constexpr bool host_blas = true;
#else
inline constexpr bool host_blas = false;
#endif

// Whether equation Eq runs on the vendor BLAS (when it is compiled in) for a store in memory space Mem: one GEMM (no
// batch subscript) anywhere KokkosBlas::gemm runs; batched GEMMs through the host BLAS on host-accessible memory.
template <class Eq, class Mem>
constexpr bool vendor_gemm_runs() {
  constexpr gemm_plan plan = plan_vendor_gemm<Eq>();
  if constexpr (!plan.ok) {
    return false;
  } else if constexpr (plan.n_batch == 0) {
    return true;
  } else {
    return host_blas && Kokkos::SpaceAccessibility<Kokkos::HostSpace, Mem>::accessible;
  }
}

// An equation C(i, k) = P + Rest whose term P is one GEMM that runs on the vendor BLAS (vendor_gemm_runs of C = P):
// P runs there and Rest follows as the epilogue, a kernel that adds into C (the bias of a linear layer: C = W X + b).
// side is the position of P in the sum, -1 when the equation has no such split.
template <class Eq, class Mem>
struct gemm_epilogue_of {
  static constexpr int side = -1;
};
template <class L, class A, class B, class Mem>
struct gemm_epilogue_of<equation<L, apply<op::add, A, B>>, Mem> {
  static constexpr int side = vendor_gemm_runs<equation<L, A>, Mem>()   ? 0
                              : vendor_gemm_runs<equation<L, B>, Mem>() ? 1
                                                                        : -1;
};
template <class Eq, class Mem>
struct gemm_epilogue : gemm_epilogue_of<std::remove_cvref_t<Eq>, Mem> {};

// An equation C(i, k) = f(P) or C(i, k) = f(P + Rest) with f a one-argument elementwise function and P a GEMM term that
// runs on the vendor BLAS (the one-equation dense layer relu(W X + b)): P runs there into C, then one kernel applies
// C = f(C + Rest) in place. kind is 1 for f(P), 2 for f(P + Rest) (side: P's position in the sum), 0 otherwise.
template <op Op>
inline constexpr bool gemm_outer_op = Op != op::not_ && Op != op::add && Op != op::sub && Op != op::mul &&
                                      Op != op::div && Op != op::pow && Op != op::min && Op != op::max &&
                                      Op != op::clamp && Op != op::where && Op != op::sigmoid_t;
template <class Eq, class Mem>
struct gemm_outer_of {
  static constexpr int kind = 0;
  static constexpr int side = -1;
};
template <class L, op Op, class X, class Mem>
  requires(gemm_outer_op<Op>)
struct gemm_outer_of<equation<L, apply<Op, X>>, Mem> {
  static constexpr int side = gemm_epilogue<equation<L, X>, Mem>::side;
  static constexpr int kind = vendor_gemm_runs<equation<L, X>, Mem>() ? 1 : side >= 0 ? 2 : 0;
};
template <class Eq, class Mem>
struct gemm_outer : gemm_outer_of<std::remove_cvref_t<Eq>, Mem> {};

// A normalizer around a GEMM: S = softmax(q, Q K c), or with a mask of index comparisons and a constant,
// S = softmax(q, where(q <= p, Q K c, -1e30)) (attention's scores). The GEMM writes the head, then the normalizer
// runs over the head in place: `product` is the GEMM, `body(eq)` the normalizer's new body over the head.
template <class Eq, class Mem>
struct gemm_normalizer_of {
  static constexpr bool value = false;
};
template <class L, norm_op Op, class Q, class P, class Mem>
struct gemm_normalizer_of<equation<L, normalization<Op, Q, P>>, Mem> {
  static constexpr bool value = vendor_gemm_runs<equation<L, P>, Mem>();
  using product = P;
  static constexpr const P& product_of(const equation<L, normalization<Op, Q, P>>& eq) { return eq.rhs.body; }
  static constexpr auto rewritten(const equation<L, normalization<Op, Q, P>>& eq) {
    return equation<L, normalization<Op, Q, L>>{eq.lhs, {eq.lhs}};
  }
};
template <class L, norm_op Op, class Q, cmp_op C, class A, class B, class P, class Mem>
struct gemm_normalizer_of<equation<L, normalization<Op, Q, apply<op::where, comparison<C, A, B>, P, constant>>>, Mem> {
  using eq_t = equation<L, normalization<Op, Q, apply<op::where, comparison<C, A, B>, P, constant>>>;
  static constexpr bool value = vendor_gemm_runs<equation<L, P>, Mem>();
  using product = P;
  static constexpr const P& product_of(const eq_t& eq) { return tensorlogic::get<1>(eq.rhs.body.args); }
  static constexpr auto rewritten(const eq_t& eq) {
    using body_t = apply<op::where, comparison<C, A, B>, L, constant>;
    const auto& args = eq.rhs.body.args;
    return equation<L, normalization<Op, Q, body_t>>{
        eq.lhs, {body_t{detail::make_indexed_tuple(tensorlogic::get<0>(args), eq.lhs, tensorlogic::get<2>(args))}}};
  }
};
template <class Eq, class Mem>
struct gemm_normalizer : gemm_normalizer_of<std::remove_cvref_t<Eq>, Mem> {};

// Extents and row-major strides of C, the first and the second factor of a GEMM plan; the matrix sizes M, N, K, the
// leading dimensions and the number of batch coordinates.
struct gemm_layout {
  long ext[3][8]{}, stride[3][8]{};
  long m = 0, n = 0, k = 0, total_c = 0, batches = 1;
  long ld[3]{};
};
template <gemm_plan Plan, class VF, class VS>
gemm_layout gemm_layout_of(const long* shape, const VF& vf, const VS& vs) {
  gemm_layout l;
  for (int d = 0; d < Plan.rank[0]; ++d) l.ext[0][d] = shape[d];
  for (int d = 0; d < Plan.rank[1]; ++d) l.ext[1][d] = static_cast<long>(vf.extent(static_cast<unsigned>(d)));
  for (int d = 0; d < Plan.rank[2]; ++d) l.ext[2][d] = static_cast<long>(vs.extent(static_cast<unsigned>(d)));
  for (int t = 0; t < 3; ++t) {
    long st = 1;
    for (int d = Plan.rank[t] - 1; d >= 0; --d) {
      l.stride[t][d] = st;
      st *= l.ext[t][d];
    }
    if (t == 0) l.total_c = st;
    const long ld = l.stride[t][Plan.outer_last[t]];
    l.ld[t] = ld > 1 ? ld : 1;
  }
  auto product = [](const long* e, int lo, int hi) {
    long p = 1;
    for (int d = lo; d < hi; ++d) p *= e[d];
    return p;
  };
  l.m = product(l.ext[0], Plan.m_lo, Plan.m_hi);
  l.n = product(l.ext[0], Plan.n_lo, Plan.n_hi);
  l.k = product(l.ext[1], Plan.k_lo, Plan.k_hi);
  for (int b = 0; b < Plan.n_batch; ++b) l.batches *= l.ext[0][Plan.batch_pos[0][b]];
  return l;
}

// Runs the equation as GEMMs into `out` (the head's buffer): beta = 0 assigns, beta = 1 accumulates.
template <class Eq, class Store, class Space>
void vendor_gemm(Store& s, const Space& space, const Eq& eq, typename Eq::head::value_type* out, bool accumulate) {
#if TENSORLOGIC_HAVE_KOKKOS_KERNELS
  constexpr gemm_plan plan = plan_vendor_gemm<Eq>();
  using T = typename Eq::head::value_type;
  using Prog = typename Store::program_type;
  using memory = typename Store::memory_space;
  using R = gemm_rhs_t<typename Eq::rhs_type>;
  using first = std::conditional_t<plan.swap, typename gemm_operands<R>::second, typename gemm_operands<R>::first>;
  using second = std::conditional_t<plan.swap, typename gemm_operands<R>::first, typename gemm_operands<R>::second>;
  constexpr int head_slot = Prog::slot_of(Eq::head::name.view());
  const auto& shape = s.shape(head_slot);
  auto view_of = [&]<class Ref>(Ref*) -> const auto& {
    return tensorlogic::get<Prog::slot_of(Ref::symbol::name.view())>(s.views());
  };
  const auto& vf = view_of(static_cast<first*>(nullptr));
  const auto& vs = view_of(static_cast<second*>(nullptr));
  const T alpha = gemm_alpha<T>(s, eq.rhs);
  if constexpr (host_blas && Kokkos::SpaceAccessibility<Kokkos::HostSpace, memory>::accessible) {
#if defined(KOKKOSKERNELS_ENABLE_TPL_BLAS)
    const gemm_layout lay = gemm_layout_of<plan>(shape.data(), vf, vs);
    const long m = lay.m, n = lay.n, k = lay.k, total_c = lay.total_c;
    space.fence();
    if (total_c == 0) return;
    if (k == 0) {  // an empty sum
      if (!accumulate)
        for (long x = 0; x < total_c; ++x) out[x] = T(0);
      return;
    }
    const int ldc = static_cast<int>(lay.ld[0]), ldf = static_cast<int>(lay.ld[1]), lds = static_cast<int>(lay.ld[2]);
    const long batches = lay.batches;
    const auto& ext = lay.ext;
    const auto& stride = lay.stride;
    const T* pf = vf.data();
    const T* ps = vs.data();
    long coord[8]{};
    for (long x = 0; x < batches; ++x) {
      long off[3]{};
      for (int b = 0; b < plan.n_batch; ++b)
        for (int t = 0; t < 3; ++t) off[t] += coord[b] * stride[t][plan.batch_pos[t][b]];
      // Row-major C = op(F) op(S) is column-major C^T = op(S)^T op(F)^T: the same flags, the factors swapped.
      KokkosBlas::Impl::HostBlas<T>::gemm(plan.trans_second ? 'T' : 'N', plan.trans_first ? 'T' : 'N',
                                          static_cast<int>(n), static_cast<int>(m), static_cast<int>(k), alpha,
                                          ps + off[2], lds, pf + off[1], ldf, accumulate ? T(1) : T(0),
                                          out + off[0], ldc);
      for (int b = plan.n_batch - 1; b >= 0; --b) {
        if (++coord[b] < ext[0][plan.batch_pos[0][b]]) break;
        coord[b] = 0;
      }
    }
#endif
  } else {
    static_assert(plan.n_batch == 0, "tensorlogic: batched vendor GEMM needs host-accessible memory");
    (void)space;
    using view2 = Kokkos::View<T**, Kokkos::LayoutRight, memory, Kokkos::MemoryTraits<Kokkos::Unmanaged>>;
    // A row-major tensor as the matrix (first `split` extents) x (the rest).
    auto as_matrix = [](T* data, const auto& extent_of, int rank, int split) {
      std::size_t rows = 1, cols = 1;
      for (int d = 0; d < rank; ++d) (d < split ? rows : cols) *= static_cast<std::size_t>(extent_of(d));
      return view2(data, rows, cols);
    };
    auto matrix = [&](const auto& v, int split) {
      return as_matrix(const_cast<T*>(v.data()), [&](int d) { return v.extent(static_cast<unsigned>(d)); },
                       static_cast<int>(v.rank), split);
    };
    const view2 c = as_matrix(out, [&](int d) { return shape[static_cast<std::size_t>(d)]; },
                              static_cast<int>(Eq::head::rank), plan.split_c);
    KokkosBlas::gemm(plan.trans_first ? "T" : "N", plan.trans_second ? "T" : "N", alpha, matrix(vf, plan.split_first),
                     matrix(vs, plan.split_second), accumulate ? T(1) : T(0), c);
  }
#else
  (void)s;
  (void)space;
  (void)eq;
  (void)out;
  (void)accumulate;
#endif
}

}  // namespace detail
}  // namespace tensorlogic
