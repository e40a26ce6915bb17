// The vendor GEMM path: an equation that is exactly one GEMM — C(i, k) = A(., .) * B(., .), two float (or two
// double) matrices sharing one contracted index, each contributing one kept index, in any subscript order — runs
// as KokkosBlas::gemm (OpenBLAS on the host, cuBLAS / rocBLAS on GPUs) with the transpositions read from the
// subscripts, instead of the generic kernel. Compiled in when Kokkos Kernels is found (CMake option
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

// How a GEMM-shaped equation maps onto C = op(X) op(Y): which factor comes first and whether each is transposed.
struct gemm_plan {
  bool ok = false;
  bool swap = false;  // C = op(B) op(A)
  bool trans_first = false, trans_second = false;
};

template <class T>
inline constexpr bool is_matrix_ref = false;
template <class S, class D1, class D2>
inline constexpr bool is_matrix_ref<ref<S, D1, D2>> = true;

template <class Eq>
constexpr gemm_plan plan_vendor_gemm() {
  gemm_plan plan;
  using L = typename Eq::lhs_type;
  using R = typename Eq::rhs_type;
  if constexpr (is_matrix_ref<L> && is_apply<R>) {
    if constexpr (R::operation == op::mul) {
      [&]<op O, class A, class B>(apply<O, A, B>*) {
        if constexpr (is_matrix_ref<A> && is_matrix_ref<B>) {
          [&]<class SC, class C1, class C2, class SA, class A1, class A2, class SB, class B1, class B2>(
              ref<SC, C1, C2>*, ref<SA, A1, A2>*, ref<SB, B1, B2>*) {
            if constexpr (index_type<C1> && index_type<C2> && index_type<A1> && index_type<A2> && index_type<B1> &&
                          index_type<B2> && SC::kind == symbol_kind::tensor && SA::kind == symbol_kind::tensor &&
                          SB::kind == symbol_kind::tensor &&
                          std::is_same_v<typename SC::value_type, typename SA::value_type> &&
                          std::is_same_v<typename SC::value_type, typename SB::value_type> &&
                          (std::is_same_v<typename SC::value_type, float> ||
                           std::is_same_v<typename SC::value_type, double>)) {
              constexpr std::string_view c1 = C1::name.view(), c2 = C2::name.view();
              constexpr std::string_view a1 = A1::name.view(), a2 = A2::name.view();
              constexpr std::string_view b1 = B1::name.view(), b2 = B2::name.view();
              if (SC::name.view() == SA::name.view() || SC::name.view() == SB::name.view()) return;
              if (c1 == c2 || a1 == a2 || b1 == b2) return;
              // X holds c1 and the contracted index, Y holds it and c2.
              auto fits = [&](std::string_view x1, std::string_view x2, std::string_view y1, std::string_view y2,
                              bool swapped) {
                const bool x_has_c1 = x1 == c1 || x2 == c1;
                const bool y_has_c2 = y1 == c2 || y2 == c2;
                if (!x_has_c1 || !y_has_c2) return false;
                const std::string_view kx = x1 == c1 ? x2 : x1;
                const std::string_view ky = y1 == c2 ? y2 : y1;
                if (kx != ky || kx == c1 || kx == c2) return false;
                plan = {true, swapped, x1 != c1, y1 != kx};
                return true;
              };
              if (!fits(a1, a2, b1, b2, false)) fits(b1, b2, a1, a2, true);
            }
          }(static_cast<L*>(nullptr), static_cast<A*>(nullptr), static_cast<B*>(nullptr));
        }
      }(static_cast<R*>(nullptr));
    }
  }
  return plan;
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
  auto matrix = [&]<class Ref>(Ref*) {
    constexpr int slot = Prog::slot_of(Ref::symbol::name.view());
    const auto& v = std::get<slot>(s.views());
    return view2(const_cast<T*>(v.data()), v.extent(0), v.extent(1));
  };
  constexpr int head_slot = Prog::slot_of(Eq::head::name.view());
  const view2 c(out, static_cast<std::size_t>(s.shape(head_slot)[0]), static_cast<std::size_t>(s.shape(head_slot)[1]));
  KokkosBlas::gemm(plan.trans_first ? "T" : "N", plan.trans_second ? "T" : "N", T(1),
                   matrix(static_cast<first*>(nullptr)), matrix(static_cast<second*>(nullptr)),
                   accumulate ? T(1) : T(0), c);
#else
  (void)s;
  (void)out;
  (void)accumulate;
#endif
}

}  // namespace detail
}  // namespace tensorlogic
