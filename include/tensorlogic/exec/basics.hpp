// What every generated kernel shares: the program's table of slots as kernels see it, the elementwise functions,
// and how a kernel writes its destination. Device code only: nothing from std that CUDA/HIP lack.
#pragma once
#include <Kokkos_Core.hpp>
#include <cstdint>
#include <type_traits>
#include <utility>

#include <tensorlogic/core/expression.hpp>
#include <tensorlogic/exec/math.hpp>

namespace tensorlogic::exec {

inline constexpr int max_rank = 8;

// One slot of the program's table as a kernel sees it: the data and the extents (LayoutRight).
template <class T, int Rank>
struct slot_data {
  using value_type = T;
  T* data = nullptr;
  long extent[Rank > 0 ? Rank : 1]{};
};

// A kernel's table of slots: slot K (the program's slot number) is the base slot_entry<K, S_K>, reached in one step
// by deducing S_K from the base. A kernel's table holds only the slots its equation reads (eval.hpp
// detail::table_for), so neither its size nor its type grows with the program. (A nested head/tail table of every
// slot made each read a chain of K inlined calls and O(K) instantiations, and every kernel's type name the whole
// program's, which made compile time grow with the square of the number of equations.)
template <int K, class S>
struct slot_entry {
  S value;
};

template <class Slots, class... S>
struct slot_table;
template <int... K, class... S>
struct slot_table<std::integer_sequence<int, K...>, S...> : slot_entry<K, S>... {};

template <int K, class S>
KOKKOS_INLINE_FUNCTION const S& slot_entry_of(const slot_entry<K, S>& e) {
  return e.value;
}
template <int K, class S>
KOKKOS_INLINE_FUNCTION S& slot_entry_of(slot_entry<K, S>& e) {
  return e.value;
}

template <int K>
struct table_get {
  template <class Table>
  KOKKOS_INLINE_FUNCTION static const auto& get(const Table& t) {
    return slot_entry_of<K>(t);
  }
  template <class Table>
  KOKKOS_INLINE_FUNCTION static auto& get(Table& t) {
    return slot_entry_of<K>(t);
  }
};

// The elementwise functions, shared by the evaluators.
template <class R>
struct elementwise {
  // x * y, or 0 when x is 0 (a zero factor wins over Inf and NaN). On the host the select is done on the bits, with
  // no branch: GCC does not speculate a floating-point multiplication that may trap, so a branch around it would
  // keep an elementwise loop scalar. (Not under nvcc, whose front end cannot evaluate __builtin_bit_cast here.)
  // Where the host's block loops are compiled per instruction set (exec/math.hpp TENSORLOGIC_HOST_CLONES), the zero
  // test is a floating-point comparison: a compare into a mask register and a masked multiplication with AVX-512,
  // a compare and an AND with AVX2 (the integer test of the bits costs five to seven vector instructions more per
  // product, which made a product-heavy loop compute-bound). The baseline clone then keeps such a product scalar.
  KOKKOS_INLINE_FUNCTION static R mul_or_zero(const R x, const R y) {
    const R p = x * y;
#if defined(TENSORLOGIC_EXP_CLONES)
    if constexpr (sizeof(R) == 4 || sizeof(R) == 8) {
      using U = std::conditional_t<sizeof(R) == 4, unsigned int, unsigned long long>;
      const U nonzero = x != R(0);
      return __builtin_bit_cast(R, __builtin_bit_cast(U, p) & (U(0) - nonzero));
    } else {
      return x == R(0) ? R(0) : p;
    }
#elif (defined(__GNUC__) || defined(__clang__)) && !defined(__CUDACC__) && !defined(__HIP_DEVICE_COMPILE__)
    if constexpr (sizeof(R) == 4) {
      using U = unsigned int;
      const U nonzero = (__builtin_bit_cast(U, x) & 0x7fffffffu) != 0u;
      return __builtin_bit_cast(R, __builtin_bit_cast(U, p) & (U(0) - nonzero));
    } else if constexpr (sizeof(R) == 8) {
      // the zero test on the two 32-bit halves: a 64-bit integer comparison needs SSE4.1, and without it GCC
      // keeps the loop scalar on baseline x86-64
      using U = unsigned long long;
      const U bits = __builtin_bit_cast(U, x);
      const U nonzero = ((static_cast<unsigned>(bits >> 32) & 0x7fffffffu) | static_cast<unsigned>(bits)) != 0u;
      return __builtin_bit_cast(R, __builtin_bit_cast(U, p) & (U(0) - nonzero));
    } else {
      return x == R(0) ? R(0) : p;
    }
#else
    return x == R(0) ? R(0) : p;
#endif
  }
  template <op Op>
  KOKKOS_INLINE_FUNCTION static R unary(const R x) {
    if constexpr (Op == op::neg) return -x;
    if constexpr (Op == op::exp) return fast_exp(x);
    if constexpr (Op == op::log) return kmath::log(x);
    if constexpr (Op == op::sqrt) return kmath::sqrt(x);
    if constexpr (Op == op::abs) return x < R(0) ? -x : x;
    if constexpr (Op == op::square) return x * x;
    if constexpr (Op == op::relu) return x > R(0) ? x : R(0);
    if constexpr (Op == op::sigmoid) return R(1) / (R(1) + kmath::exp(-x));
    if constexpr (Op == op::tanh) return kmath::tanh(x);
    if constexpr (Op == op::step) return x > R(0) ? R(1) : R(0);
    if constexpr (Op == op::stop_grad) return x;
    if constexpr (Op == op::not_) return x > R(0) ? R(0) : R(1);
  }
  template <op Op>
  KOKKOS_INLINE_FUNCTION static R binary(const R x, const R y) {
    if constexpr (Op == op::mul) return mul_or_zero(x, y);
    if constexpr (Op == op::add) return x + y;
    if constexpr (Op == op::sub) return x - y;
    if constexpr (Op == op::div) return x / y;
    if constexpr (Op == op::pow) return kmath::pow(x, y);
    if constexpr (Op == op::min) return x < y ? x : y;
    if constexpr (Op == op::max) return x > y ? x : y;
    if constexpr (Op == op::sigmoid_t) {
      if (y == R(0)) return x > R(0) ? R(1) : R(0);
      return R(1) / (R(1) + kmath::exp(-x / y));
    }
  }
  template <op Op>
  KOKKOS_INLINE_FUNCTION static R ternary(const R x, const R y, const R z) {
    if constexpr (Op == op::where) {
      return x > R(0) ? y : z;
    } else {
      static_assert(Op == op::clamp);
      return x < y ? y : (x > z ? z : x);
    }
  }
};

KOKKOS_INLINE_FUNCTION long floor_div(long a, long b) {
  if (b == 2) return a >> 1;  // pooling's stride: an arithmetic shift is the floor, without a division
  long q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

// An index comparison used as a Boolean factor.
template <cmp_op Op>
KOKKOS_INLINE_FUNCTION bool compare_indices(const long a, const long b) {
  if constexpr (Op == cmp_op::eq) return a == b;
  if constexpr (Op == cmp_op::ne) return a != b;
  if constexpr (Op == cmp_op::lt) return a < b;
  if constexpr (Op == cmp_op::le) return a <= b;
  if constexpr (Op == cmp_op::gt) return a > b;
  if constexpr (Op == cmp_op::ge) return a >= b;
}

// How a kernel combines its value with the destination cell.
enum class write_mode : int { assign, accumulate, logical_or };

}  // namespace tensorlogic::exec
