// kmath: Kokkos's device-callable math functions (Kokkos:: from 4.0, Kokkos::Experimental:: before).
#pragma once
#include <Kokkos_Core.hpp>
#include <type_traits>

namespace tensorlogic::exec {
#if KOKKOS_VERSION >= 40000
namespace kmath = ::Kokkos;
#else
namespace kmath = ::Kokkos::Experimental;
#endif

namespace detail {
#if (defined(__GNUC__) || defined(__clang__)) && !defined(__CUDACC__) && !defined(__HIP_DEVICE_COMPILE__)
// The selects by bits, with no branch: GCC keeps a `x < lo ? lo : x` on floats as a branch when arithmetic follows,
// which stops the loop around it from vectorizing. A comparison with NaN is false, so NaN passes through.
template <class U, class R>
[[gnu::always_inline]] inline U below_mask(const R x, const R lo) {
  return U(0) - U(x < lo);
}
template <class U, class R>
[[gnu::always_inline]] inline R select_bits(const U mask, const R yes, const R no) {
  return __builtin_bit_cast(R, (__builtin_bit_cast(U, yes) & mask) | (__builtin_bit_cast(U, no) & ~mask));
}

// exp on the host for float (see fast_exp): clamp, n = round(x / ln 2) by the rounding constant, Cody-Waite reduction
// to |r| <= ln 2 / 2, the degree-7 Taylor sum evaluated by Estrin's scheme (a dependency chain of 6 operations
// instead of Horner's 14, which left the loop waiting on latency), times 2^n built as 2^n1 2^n2 (each factor normal)
[[gnu::always_inline]] inline float exp_host(float x) {
  using U = unsigned int;
  constexpr float M = 12582912.0f;  // 1.5 * 2^23
  const U tiny = below_mask<U>(x, -87.33f), huge = below_mask<U>(89.0f, x);
  x = select_bits(tiny, 0.0f, select_bits(huge, 89.0f, x));
  const float nf = (x * 1.44269504088896341f + M) - M;
  const float r = (x - nf * 0.693145751953125f) - nf * 1.428606765330187045e-06f;
  const float r2 = r * r, r4 = r2 * r2;
  const float lo = (1.0f + r) + r2 * (0.5f + r * (1.0f / 6.0f));
  const float hi = ((1.0f / 24.0f) + r * (1.0f / 120.0f)) + r2 * ((1.0f / 720.0f) + r * (1.0f / 5040.0f));
  const float p = lo + r4 * hi;
  const float n1 = (nf * 0.5f + M) - M, n2 = nf - n1;
  const U m = __builtin_bit_cast(U, M);
  const float s1 = __builtin_bit_cast(float, (__builtin_bit_cast(U, n1 + (M + 127.0f)) - m) << 23);
  const float s2 = __builtin_bit_cast(float, (__builtin_bit_cast(U, n2 + (M + 127.0f)) - m) << 23);
  return select_bits(tiny, 0.0f, p * s1 * s2);
}

// exp on the host for double, the same construction: Cody-Waite with fdlibm's split of ln 2 (its high part has 32
// trailing zero bits, so n ln2_hi is exact), the degree-13 Taylor sum by Estrin's scheme (truncation below 5e-18
// relative on |r| <= ln 2 / 2), 2^n as 2^n1 2^n2 from the exponent bits (64-bit integer adds and shifts). Within
// 2 ulp of libm's exp where the result is normal; results below DBL_MIN (x < -708.39) are 0. It vectorizes where
// 64-bit masks exist (AVX2, AVX-512: the cloned host loops); on baseline SSE2 it runs scalar at about libm's speed.
[[gnu::always_inline]] inline double exp_host(double x) {
  using U = unsigned long long;
  constexpr double M = 6755399441055744.0;  // 1.5 * 2^52
  const U tiny = below_mask<U>(x, -708.39), huge = below_mask<U>(710.0, x);
  x = select_bits(tiny, 0.0, select_bits(huge, 710.0, x));
  const double nf = (x * 1.44269504088896338700e+00 + M) - M;
  const double r = (x - nf * 6.93147180369123816490e-01) - nf * 1.90821492927058770002e-10;
  const double r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
  const double q0 = (1.0 + r) + r2 * (0.5 + r * (1.0 / 6.0));
  const double q1 = (1.0 / 24.0 + r * (1.0 / 120.0)) + r2 * (1.0 / 720.0 + r * (1.0 / 5040.0));
  const double q2 = (1.0 / 40320.0 + r * (1.0 / 362880.0)) + r2 * (1.0 / 3628800.0 + r * (1.0 / 39916800.0));
  const double q3 = 1.0 / 479001600.0 + r * (1.0 / 6227020800.0);
  const double p = (q0 + r4 * q1) + r8 * (q2 + r4 * q3);
  const double n1 = (nf * 0.5 + M) - M, n2 = nf - n1;
  const U m = __builtin_bit_cast(U, M);
  const double s1 = __builtin_bit_cast(double, (__builtin_bit_cast(U, n1 + (M + 1023.0)) - m) << 52);
  const double s2 = __builtin_bit_cast(double, (__builtin_bit_cast(U, n2 + (M + 1023.0)) - m) << 52);
  return select_bits(tiny, 0.0, p * s1 * s2);
}
#endif
}  // namespace detail

// exp(x) for the kernels. On the host, for float and double, a branch-free polynomial (above; within 2 ulp of libm
// wherever the result is a normal number) that GCC and Clang vectorize inside a loop, where libm's exp is a call that
// keeps the loop scalar. A result below the smallest normal number is 0 (float: x < -87.33, double: x < -708.39; -Inf
// gives 0): computing subnormal results costs microcode assists, which made masked softmax rows 2.5x slower.
// Overflow and +Inf give +Inf, NaN stays NaN. Everything else is Kokkos's exp: other types, the device (whose exp is
// already fast; and nvcc's front end cannot evaluate __builtin_bit_cast), and -ffast-math (which may fold the
// rounding (x + M) - M away).
template <class R>
KOKKOS_FORCEINLINE_FUNCTION R fast_exp(R x) {
#if (defined(__GNUC__) || defined(__clang__)) && !defined(__CUDACC__) && !defined(__HIP_DEVICE_COMPILE__) && \
    !defined(__SYCL_DEVICE_ONLY__) && !defined(__FAST_MATH__)
  if constexpr (std::is_same_v<R, float> || std::is_same_v<R, double>) {
    return detail::exp_host(x);
  } else {
    return kmath::exp(x);
  }
#else
  return kmath::exp(x);
#endif
}

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && \
    !defined(__CUDACC__) && !defined(__HIP_DEVICE_COMPILE__) && !defined(__FAST_MATH__)
#define TENSORLOGIC_EXP_CLONES 1
namespace detail {
// t[i] = exp(t[i] - shift), compiled three times (AVX-512, AVX2 + FMA, baseline) and picked at load time for the
// machine that runs it (GCC's target_clones, an ifunc): the loop vectorizes 16, 8 or 4 floats wide, where a Release
// build without -march gets only the baseline's 4 (SSE2).
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"))) inline void exp_shifted_block(
    float* t, const long n, const float shift) {
  for (long i = 0; i < n; ++i) t[i] = exp_host(t[i] - shift);
}
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"))) inline void exp_shifted_block(
    double* t, const long n, const double shift) {
  for (long i = 0; i < n; ++i) t[i] = exp_host(t[i] - shift);
}
}  // namespace detail
#endif

// Host loops over blocks of cells (flat maps, broadcast rows, whole reductions: thousands of cells per call) are
// compiled the same three ways and picked at load time, so a Release build without -march still runs them as wide
// as the host allows. Empty where exp_shifted_block is not cloned (device compilers, Clang, -ffast-math, non-x86).
#if defined(TENSORLOGIC_EXP_CLONES)
#define TENSORLOGIC_HOST_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define TENSORLOGIC_HOST_CLONES
#endif

// t[i] = exp(t[i] - shift) for i < n, a row or block at a time: the kernels' vector exp (fast_exp per element, through
// the widest vector unit of the host for float and double; see exp_shifted_block).
template <class R>
KOKKOS_INLINE_FUNCTION void exp_shifted(R* t, const long n, const R shift) {
#if defined(TENSORLOGIC_EXP_CLONES)
  if constexpr (std::is_same_v<R, float> || std::is_same_v<R, double>) {
    detail::exp_shifted_block(t, n, shift);
    return;
  }
#endif
  for (long i = 0; i < n; ++i) t[i] = fast_exp(t[i] - shift);
}
}  // namespace tensorlogic::exec
