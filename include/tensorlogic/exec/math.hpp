// kmath: Kokkos's device-callable math functions (Kokkos:: from 4.0, Kokkos::Experimental:: before).
#pragma once
#include <Kokkos_Core.hpp>
#include <cmath>
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

// exp on the host for float (see fast_exp), built as the double one below: n = round(x / ln 2) by the rounding
// constant, Cody-Waite reduction to |r| <= ln 2 / 2, a degree-6 polynomial (minimax for the relative error, 1.9e-9
// before its coefficients are rounded to float; Horner's scheme) of 2 exp(r), times 2^(n-1) from the rounding
// constant's low bits. 2^(n-1) is a normal number from x = -86.9 (n - 1 = -126) to x = 88.73 (n - 1 = 127, where the
// product overflows to +Inf); above 88.73 the result is +Inf and below -86.9 (results under 1.8e-38, near FLT_MIN =
// 1.2e-38) 0, both selected at the end as in the double version (7% less time than clamping x first, every result bit
// for bit the same). Within 1.35 ulp of the correctly rounded value (1.34 at worst over every float of [-86.9, 88.72],
// 2.2 billion, against double exp); 0.24 ns a value with AVX-512 here, against 0.37 ns for the degree-7 Taylor sum by
// Estrin's scheme and a two-factor scale it replaces (1.78 ulp at worst).
[[gnu::always_inline]] inline float exp_host(float x) {
  using U = unsigned int;
  constexpr float M = 12582912.0f;  // 1.5 * 2^23
  const U tiny = below_mask<U>(x, -86.9f);
  const U huge = below_mask<U>(88.73f, x);
  const float kd = x * 1.44269504088896341f + M;
  const float nf = kd - M;
  const float r = (x - nf * 0.693145751953125f) - nf * 1.428606765330187045e-06f;
  float p = 0.0027673691511154175f;
  p = p * r + 0.016749631613492966f;
  p = p * r + 0.08333645015954971f;
  p = p * r + 0.33332839608192444f;
  p = p * r + 0.9999998211860657f;
  p = p * r + 2.0f;
  p = p * r + 2.0f;
  // bits(kd) = bits(M) + n, so (bits(kd) - bits(M) + 126) << 23 is the bit pattern of 2^(n-1)
  const U m = __builtin_bit_cast(U, M);
  const float s = __builtin_bit_cast(float, (__builtin_bit_cast(U, kd) + (126u - m)) << 23);
  return select_bits(huge, __builtin_inff(), select_bits(tiny, 0.0f, p * s));
}

// exp on the host for double: n = round(x / ln 2) by the rounding constant, Cody-Waite reduction with fdlibm's split of
// ln 2 (its high part has 32 trailing zero bits, so n ln2_hi is exact) to |r| <= ln 2 / 2, a degree-11 polynomial
// (minimax for the relative error on that interval, 3.1e-18 before rounding) whose coefficients are doubled, times
// 2^(n-1) built from the rounding constant's low bits (one integer add and one shift): 2 exp(r) 2^(n-1) keeps the scale
// a normal number from x = -708 (n - 1 = -1022) up to x = 709.79 (n - 1 = 1023, where the product overflows to +Inf as
// exp does). Above 709.79 the result is +Inf, below -708 (results under 3.3e-308, near DBL_MIN = 2.2e-308) 0: two
// selects at the end, which discard what the lanes computed there (the scale is a power of two, 0 or +Inf, never a
// subnormal number). Selecting at the end instead of clamping x first keeps the comparisons off the dependent chain
// that every later step waits on: the CISPO pass over tokens in L2 ran 11% faster. The polynomial: its terms from r^2
// up by Estrin's scheme (pairs, then powers r^2, r^4, r^8: 4 dependent steps), the last two by Horner's (p r + 2,
// twice), which keeps the rounding of the large low-order terms as in Horner's scheme: 1.01 ulp at worst against long
// double with fused multiply-adds (the cloned loops), 1.28 without, on 8M points. 14 multiplications and fused
// multiply-adds where Horner's scheme takes 11, but 6 steps deep instead of 11: in a loop whose body is one long
// dependent chain (an RL loss and its gradient: the exponential, then the products), the out-of-order window holds more
// iterations at once, and the CISPO pass ran 10-15% faster on the Zen 5 VM. Estrin's scheme all the way (4 steps) ran a
// few percent faster still but reached 2.3 ulp. Within 1.3 ulp of the exact value; NaN stays NaN, +Inf gives +Inf, -Inf
// gives 0. It vectorizes where 64-bit masks exist (AVX2, AVX-512: the cloned host loops); on baseline SSE2 it runs
// scalar.
[[gnu::always_inline]] inline double exp_host(double x) {
  using U = unsigned long long;
  constexpr double M = 6755399441055744.0;  // 1.5 * 2^52: x log2(e) + M rounds to an integer n in the low bits
  const U tiny = below_mask<U>(x, -708.0);
  const U huge = below_mask<U>(709.79, x);
  const double kd = x * 1.44269504088896338700e+00 + M;
  const double nf = kd - M;
  const double r = (x - nf * 6.93147180369123816490e-01) - nf * 1.90821492927058770002e-10;
  const double r2 = r * r;
  const double r4 = r2 * r2;
  const double r8 = r4 * r4;
  const double p23 = (2 * 0.1666666666666617) * r + 2 * 0.5000000000000018;
  const double p45 = (2 * 0.00833333333355927) * r + 2 * 0.04166666666649277;
  const double p67 = (2 * 0.00019841269432679237) * r + 2 * 0.0013888888951223987;
  const double p89 = (2 * 2.7557622530872255e-06) * r + 2 * 2.4801486521427463e-05;
  const double pab = (2 * 2.4994304884817207e-08) * r + 2 * 2.7632293279459877e-07;
  const double q0 = p45 * r2 + p23;
  const double q1 = p89 * r2 + p67;
  double p = pab * r8 + (q1 * r4 + q0);
  p = p * r + 2.0;
  p = p * r + 2.0;
  // bits(kd) = bits(M) + n, so (bits(kd) - bits(M) + 1022) << 52 is the bit pattern of 2^(n-1)
  const U m = __builtin_bit_cast(U, M);
  const double s = __builtin_bit_cast(double, (__builtin_bit_cast(U, kd) + (1022ull - m)) << 52);
  return select_bits(huge, __builtin_inf(), select_bits(tiny, 0.0, p * s));
}
#endif
}  // namespace detail

// exp(x) for the kernels. On the host, for float and double, a branch-free polynomial (above; within 2 ulp of libm
// wherever the result is a normal number) that GCC and Clang vectorize inside a loop, where libm's exp is a call that
// keeps the loop scalar. A result at the bottom of the normal range is 0 (float: x < -86.9, double: x < -708; -Inf
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
// The largest of t[0..n) (-Inf for none), for the host's cloned loops (a fused attention tile's rows, a softmax's rows):
// on the host with GCC in one 64-byte vector of lanes (GCC's vector extension; written as sixteen scalar lanes, GCC
// keeps `m = x > m ? x : m` as one scalar maxss per lane, a chain of dependent comparisons), elsewhere in sixteen
// scalar lanes. A NaN is passed over, as by a one-lane loop.
#if defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__) && !defined(__HIP_DEVICE_COMPILE__)
#define TENSORLOGIC_VECTOR64 1
typedef float vector64_float __attribute__((vector_size(64)));
typedef double vector64_double __attribute__((vector_size(64)));
template <class T>
struct vector64;
template <>
struct vector64<float> {
  using type = vector64_float;
};
template <>
struct vector64<double> {
  using type = vector64_double;
};
#endif
template <class T>
KOKKOS_FORCEINLINE_FUNCTION T row_max(const T* t, const long n) {
  long j = 0;
  T best = T(-INFINITY);
#if defined(TENSORLOGIC_VECTOR64)
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
    using vec = typename vector64<T>::type;
    constexpr int L = static_cast<int>(64 / sizeof(T));
    vec acc;
    for (int u = 0; u < L; ++u) acc[u] = T(-INFINITY);
    for (; j + L <= n; j += L) {
      vec x;
      __builtin_memcpy(&x, t + j, sizeof x);
      acc = x > acc ? x : acc;
    }
    for (int u = 0; u < L; ++u) best = acc[u] > best ? acc[u] : best;
  } else
#endif
  {
    T lane[16];
    for (int u = 0; u < 16; ++u) lane[u] = T(-INFINITY);
    for (; j + 16 <= n; j += 16)
      for (int u = 0; u < 16; ++u) lane[u] = t[j + u] > lane[u] ? t[j + u] : lane[u];
    for (int u = 0; u < 16; ++u) best = lane[u] > best ? lane[u] : best;
  }
  for (; j < n; ++j) best = t[j] > best ? t[j] : best;
  return best;
}

}  // namespace tensorlogic::exec
