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

// How a GEMM-shaped equation maps onto C = op(X) op(Y): which factor comes first, whether each is transposed, and
// where each tensor's subscripts split into the two groups that become its matrix's rows and columns (a tensor of
// rank r stored row-major is the matrix (product of the first `split` extents) x (product of the rest)).
struct gemm_plan {
  bool ok = false;
  bool swap = false;  // C = op(B) op(A)
  bool trans_first = false, trans_second = false;
  int split_first = 1, split_second = 1, split_c = 1;
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

constexpr bool gemm_has(const gemm_dims& d, std::string_view x) {
  for (int k = 0; k < d.rank; ++k)
    if (d.name[k] == x) return true;
  return false;
}
// The subscripts of d that are (in = true) or are not (in = false) subscripts of other, in d's order.
constexpr gemm_dims gemm_filter(const gemm_dims& d, const gemm_dims& other, bool in) {
  gemm_dims out;
  out.plain = true;
  for (int k = 0; k < d.rank; ++k)
    if (gemm_has(other, d.name[k]) == in) out.name[out.rank++] = d.name[k];
  return out;
}
// Whether d is the sequence g1 followed by g2.
constexpr bool gemm_concat(const gemm_dims& d, const gemm_dims& g1, const gemm_dims& g2) {
  if (d.rank != g1.rank + g2.rank) return false;
  for (int k = 0; k < g1.rank; ++k)
    if (d.name[k] != g1.name[k]) return false;
  for (int k = 0; k < g2.rank; ++k)
    if (d.name[g1.rank + k] != g2.name[k]) return false;
  return true;
}
constexpr bool gemm_distinct(const gemm_dims& d) {
  for (int a = 0; a < d.rank; ++a)
    for (int b = a + 1; b < d.rank; ++b)
      if (d.name[a] == d.name[b]) return false;
  return true;
}

// C = A B with C's subscripts the kept subscripts of A then those of B (or B's then A's), A's subscripts its kept ones
// and the contracted ones as two contiguous groups (in either order), likewise B's, each group in the same order
// wherever it appears, and no subscript in all three (no batch index).
constexpr gemm_plan plan_gemm_dims(const gemm_dims& c, const gemm_dims& a, const gemm_dims& b) {
  gemm_plan plan;
  if (!c.plain || !a.plain || !b.plain || !gemm_distinct(c) || !gemm_distinct(a) || !gemm_distinct(b)) return plan;
  const gemm_dims kept_a = gemm_filter(a, b, false), kept_b = gemm_filter(b, a, false);
  const gemm_dims ka = gemm_filter(a, b, true), kb = gemm_filter(b, a, true);
  if (kept_a.rank == 0 || kept_b.rank == 0 || ka.rank == 0) return plan;
  for (int k = 0; k < ka.rank; ++k)
    if (gemm_has(c, ka.name[k])) return plan;  // a batch index
  if (!gemm_concat(ka, kb, gemm_dims{})) return plan;  // the contracted group in one order in both
  bool swap;
  if (gemm_concat(c, kept_a, kept_b))
    swap = false;
  else if (gemm_concat(c, kept_b, kept_a))
    swap = true;
  else
    return plan;
  bool trans_a, trans_b;
  if (gemm_concat(a, kept_a, ka))
    trans_a = false;
  else if (gemm_concat(a, ka, kept_a))
    trans_a = true;
  else
    return plan;
  if (gemm_concat(b, kb, kept_b))
    trans_b = false;
  else if (gemm_concat(b, kept_b, kb))
    trans_b = true;
  else
    return plan;
  const int split_a = trans_a ? ka.rank : kept_a.rank, split_b = trans_b ? kept_b.rank : kb.rank;
  // C = op(A) op(B) or, swapped, C = op(B) op(A) with each operand transposed the other way round.
  if (!swap)
    plan = {true, false, trans_a, trans_b, split_a, split_b, kept_a.rank};
  else
    plan = {true, true, !trans_b, !trans_a, split_b, split_a, kept_b.rank};
  return plan;
}

template <class Eq>
constexpr gemm_plan plan_vendor_gemm() {
  using L = typename Eq::lhs_type;
  using R = typename Eq::rhs_type;
  if constexpr (is_apply<R>) {
    if constexpr (R::operation == op::mul && std::tuple_size_v<decltype(R::args)> == 2) {
      using A = std::remove_cvref_t<std::tuple_element_t<0, decltype(R::args)>>;
      using B = std::remove_cvref_t<std::tuple_element_t<1, decltype(R::args)>>;
      if constexpr (is_ref<L> && is_ref<A> && is_ref<B>) {
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
  }
  return {};
}

// An equation C(i, k) = P + Rest whose term P is one GEMM (plan_vendor_gemm of C = P): P runs on the vendor BLAS and
// Rest follows as the epilogue, a kernel that adds into C (the bias of a linear layer: C = W X + b). side is the
// position of P in the sum, -1 when the equation has no such split.
template <class Eq>
struct gemm_epilogue_of {
  static constexpr int side = -1;
};
template <class L, class A, class B>
struct gemm_epilogue_of<equation<L, apply<op::add, A, B>>> {
  static constexpr int side = plan_vendor_gemm<equation<L, A>>().ok ? 0 : plan_vendor_gemm<equation<L, B>>().ok ? 1 : -1;
};
template <class Eq>
struct gemm_epilogue : gemm_epilogue_of<std::remove_cvref_t<Eq>> {};

// Runs the equation as one GEMM into `out` (the head's buffer): beta = 0 assigns, beta = 1 accumulates.
template <class Eq, class Store>
void vendor_gemm(Store& s, typename Eq::head::value_type* out, bool accumulate) {
#if TENSORLOGIC_HAVE_KOKKOS_KERNELS
  constexpr gemm_plan plan = plan_vendor_gemm<Eq>();
  using T = typename Eq::head::value_type;
  using Prog = typename Store::program_type;
  using memory = typename Store::memory_space;
  using view2 = Kokkos::View<T**, Kokkos::LayoutRight, memory, Kokkos::MemoryTraits<Kokkos::Unmanaged>>;
  using R = typename Eq::rhs_type;
  using first = std::conditional_t<plan.swap, std::tuple_element_t<1, decltype(R::args)>,
                                   std::tuple_element_t<0, decltype(R::args)>>;
  using second = std::conditional_t<plan.swap, std::tuple_element_t<0, decltype(R::args)>,
                                    std::tuple_element_t<1, decltype(R::args)>>;
  // A row-major tensor as the matrix (first `split` extents) x (the rest).
  auto as_matrix = [](T* data, const auto& extent_of, int rank, int split) {
    std::size_t rows = 1, cols = 1;
    for (int d = 0; d < rank; ++d) (d < split ? rows : cols) *= static_cast<std::size_t>(extent_of(d));
    return view2(data, rows, cols);
  };
  auto matrix = [&]<class Ref>(Ref*, int split) {
    constexpr int slot = Prog::slot_of(Ref::symbol::name.view());
    const auto& v = std::get<slot>(s.views());
    return as_matrix(const_cast<T*>(v.data()), [&](int d) { return v.extent(static_cast<unsigned>(d)); },
                     static_cast<int>(Ref::symbol::rank), split);
  };
  constexpr int head_slot = Prog::slot_of(Eq::head::name.view());
  const auto& shape = s.shape(head_slot);
  const view2 c = as_matrix(out, [&](int d) { return shape[static_cast<std::size_t>(d)]; },
                            static_cast<int>(Eq::head::rank), plan.split_c);
  KokkosBlas::gemm(plan.trans_first ? "T" : "N", plan.trans_second ? "T" : "N", T(1),
                   matrix(static_cast<first*>(nullptr), plan.split_first),
                   matrix(static_cast<second*>(nullptr), plan.split_second), accumulate ? T(1) : T(0), c);
#else
  (void)s;
  (void)out;
  (void)accumulate;
#endif
}

}  // namespace detail
}  // namespace tensorlogic
