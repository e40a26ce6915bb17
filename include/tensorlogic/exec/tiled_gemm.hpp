// The library's own contraction kernel for GEMM-shaped equations (the ones the vendor path takes: C = alpha op(A)
// op(B) per coordinate of the batch subscripts), for builds and memory spaces without a vendor BLAS or with
// tl::set_vendor_gemm(false): a Kokkos TeamPolicy with one team per (batch, MT x NT tile of C); the team stages
// KT-deep slices of A and B in team scratch memory (zero-padded at the edges, so any extents work), register blocks
// of RM x RN accumulate over each slice with the tile sizes known at compile time (the micro-kernel's loops unroll; on
// x86-64 hosts an AVX-512 or AVX2 micro-kernel is picked at run time), and the epilogue -- alpha, a term added to the product (a
// bias), a one-argument function around it (relu), accumulation into the head -- runs on the registers before the
// one store. Device code: a named functor, no lambdas, nothing from std.
#pragma once
#include <Kokkos_Core.hpp>
#include <type_traits>
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(__CUDACC__) && !defined(__HIPCC__)
#include <immintrin.h>
#endif

#include <tensorlogic/exec/basics.hpp>
#include <tensorlogic/exec/kernel.hpp>

namespace tensorlogic::exec {

// Host micro-kernels in AVX-512 / AVX2+FMA, chosen at run time from the processor (x86-64 with GCC or Clang; CUDA
// and HIP translation units, other compilers and other processors keep the portable loops).
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(__CUDACC__) && !defined(__HIPCC__) && \
    !defined(__SYCL_DEVICE_ONLY__)
#define TENSORLOGIC_X86_MICROKERNELS 1
#else
#define TENSORLOGIC_X86_MICROKERNELS 0
#endif

// Tile shapes. Host (one thread per team, Goto's blocking): a team owns a 256 x 256 tile of C and walks K in
// 256-deep slices (128 for double) packed into scratch as micro-panels: A in strips of RM = 8 rows (kk-major), B in
// strips of RN = 32 floats (16 doubles) -- one B strip (32 KiB) stays in L1 while the A strips of the tile (L2) pass
// it; the tile's partial sums wait in scratch between slices. Devices: 64 x 64 tiles, 16-deep slices (8 KiB of shared
// memory for float, k-major rows), 256 threads each holding a 4 x 4 block in registers.
template <class T, bool Host>
struct gemm_tiles {
  static constexpr int mt = 64, nt = 64, kt = 16, rm = 4, rn = 4, team = 256;
};
template <class T>
struct gemm_tiles<T, true> {
  static constexpr int mt = 256, nt = 256, kt = sizeof(T) == 4 ? 256 : 128, rm = 8, rn = sizeof(T) == 4 ? 32 : 16,
                       team = 1;
};

// The best host micro-kernel this processor runs: 2 AVX-512F, 1 AVX2 + FMA, 0 the portable loops.
inline int host_simd_supported() {
#if TENSORLOGIC_X86_MICROKERNELS
  static const int level = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
    return 0;
  }();
  return level;
#else
  return 0;
#endif
}
// An upper bound on the level used (tl::exec::limit_host_simd(0) runs the portable loops: tests, comparisons).
inline int& host_simd_limit() {
  static int limit = 2;
  return limit;
}
inline void limit_host_simd(int level) { host_simd_limit() = level; }
// The micro-kernel the tiled GEMM runs on this host.
inline int host_simd_level() {
  const int s = host_simd_supported(), l = host_simd_limit();
  return s < l ? s : l;
}

// The portable micro-kernel: acc (SRM x SRN) += A-strip (x) B-strip over `depth` steps; element (kk, i) of the A strip
// at ap[kk * a_step + i], (kk, j) of the B strip at bp[kk * b_step + j]. The fixed trip counts unroll.
template <class T, int SRM, int SRN>
KOKKOS_INLINE_FUNCTION void gemm_micro(const T* ap, int a_step, const T* bp, int b_step, int depth,
                                       T (&acc)[SRM][SRN]) {
  for (int kk = 0; kk < depth; ++kk) {
    T bv[SRN];
    for (int j = 0; j < SRN; ++j) bv[j] = bp[kk * b_step + j];
    for (int i = 0; i < SRM; ++i) {
      const T av = ap[kk * a_step + i];
      for (int j = 0; j < SRN; ++j) acc[i][j] += av * bv[j];
    }
  }
}

#if TENSORLOGIC_X86_MICROKERNELS
// C block (RM x RN at c, row stride ldc) = (first ? 0 : C block) + A strip (depth x RM) (x) B strip (depth x RN).
__attribute__((target("avx512f"))) inline void gemm_micro_avx512(const float* a, const float* b, int depth, float* c,
                                                                 long ldc, bool first) {
  __m512 acc[8][2];
  for (int i = 0; i < 8; ++i)
    for (int h = 0; h < 2; ++h) acc[i][h] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(c + i * ldc + 16 * h);
  for (int kk = 0; kk < depth; ++kk) {
    const __m512 b0 = _mm512_loadu_ps(b + kk * 32), b1 = _mm512_loadu_ps(b + kk * 32 + 16);
    for (int i = 0; i < 8; ++i) {
      const __m512 av = _mm512_set1_ps(a[kk * 8 + i]);
      acc[i][0] = _mm512_fmadd_ps(av, b0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(av, b1, acc[i][1]);
    }
  }
  for (int i = 0; i < 8; ++i)
    for (int h = 0; h < 2; ++h) _mm512_storeu_ps(c + i * ldc + 16 * h, acc[i][h]);
}
__attribute__((target("avx512f"))) inline void gemm_micro_avx512(const double* a, const double* b, int depth,
                                                                 double* c, long ldc, bool first) {
  __m512d acc[8][2];
  for (int i = 0; i < 8; ++i)
    for (int h = 0; h < 2; ++h) acc[i][h] = first ? _mm512_setzero_pd() : _mm512_loadu_pd(c + i * ldc + 8 * h);
  for (int kk = 0; kk < depth; ++kk) {
    const __m512d b0 = _mm512_loadu_pd(b + kk * 16), b1 = _mm512_loadu_pd(b + kk * 16 + 8);
    for (int i = 0; i < 8; ++i) {
      const __m512d av = _mm512_set1_pd(a[kk * 8 + i]);
      acc[i][0] = _mm512_fmadd_pd(av, b0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_pd(av, b1, acc[i][1]);
    }
  }
  for (int i = 0; i < 8; ++i)
    for (int h = 0; h < 2; ++h) _mm512_storeu_pd(c + i * ldc + 8 * h, acc[i][h]);
}
// AVX2: the 8 x RN block as four 4-row x (RN / 2)-column quarters, eight accumulators each.
__attribute__((target("avx2,fma"))) inline void gemm_micro_avx2(const float* a, const float* b, int depth, float* c,
                                                               long ldc, bool first) {
  for (int qi = 0; qi < 8; qi += 4)
    for (int qj = 0; qj < 32; qj += 16) {
      __m256 acc[4][2];
      for (int i = 0; i < 4; ++i)
        for (int h = 0; h < 2; ++h)
          acc[i][h] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(c + (qi + i) * ldc + qj + 8 * h);
      for (int kk = 0; kk < depth; ++kk) {
        const __m256 b0 = _mm256_loadu_ps(b + kk * 32 + qj), b1 = _mm256_loadu_ps(b + kk * 32 + qj + 8);
        for (int i = 0; i < 4; ++i) {
          const __m256 av = _mm256_broadcast_ss(a + kk * 8 + qi + i);
          acc[i][0] = _mm256_fmadd_ps(av, b0, acc[i][0]);
          acc[i][1] = _mm256_fmadd_ps(av, b1, acc[i][1]);
        }
      }
      for (int i = 0; i < 4; ++i)
        for (int h = 0; h < 2; ++h) _mm256_storeu_ps(c + (qi + i) * ldc + qj + 8 * h, acc[i][h]);
    }
}
__attribute__((target("avx2,fma"))) inline void gemm_micro_avx2(const double* a, const double* b, int depth,
                                                               double* c, long ldc, bool first) {
  for (int qi = 0; qi < 8; qi += 4)
    for (int qj = 0; qj < 16; qj += 8) {
      __m256d acc[4][2];
      for (int i = 0; i < 4; ++i)
        for (int h = 0; h < 2; ++h)
          acc[i][h] = first ? _mm256_setzero_pd() : _mm256_loadu_pd(c + (qi + i) * ldc + qj + 4 * h);
      for (int kk = 0; kk < depth; ++kk) {
        const __m256d b0 = _mm256_loadu_pd(b + kk * 16 + qj), b1 = _mm256_loadu_pd(b + kk * 16 + qj + 4);
        for (int i = 0; i < 4; ++i) {
          const __m256d av = _mm256_broadcast_sd(a + kk * 8 + qi + i);
          acc[i][0] = _mm256_fmadd_pd(av, b0, acc[i][0]);
          acc[i][1] = _mm256_fmadd_pd(av, b1, acc[i][1]);
        }
      }
      for (int i = 0; i < 4; ++i)
        for (int h = 0; h < 2; ++h) _mm256_storeu_pd(c + (qi + i) * ldc + qj + 4 * h, acc[i][h]);
    }
}
#endif

// Where C = op(A) op(B) lives: element (m, k) of op(A) at a[m * a_m + k * a_k], (k, n) of op(B) at
// b[k * b_k + n * b_n], (m, n) of C at c[m * ldc + n], each plus its batch offset; C's extents for the epilogue.
struct gemm_geometry {
  long m = 0, n = 0, k = 0;
  long a_m = 0, a_k = 0, b_k = 0, b_n = 0, ldc = 0;
  long tiles_m = 0, tiles_n = 0;
  int n_batch = 0;
  long batch_ext[8]{};
  long batch_stride[3][8]{};  // C, A, B
  int c_rank = 0;
  long c_ext[8]{};
  int c_pos[8]{};  // program index position of each subscript of C
  // C's subscripts: rows [row_lo, row_hi), columns [col_lo, col_hi), batch subscript b at batch_at[b]
  int row_lo = 0, row_hi = 0, col_lo = 0, col_hi = 0;
  int batch_at[8]{};
};

// What follows the product in the one store: v = f(alpha * acc + rest) (rest and f optional), then C = v or C += v.
struct no_gemm_rest {};
template <class Rest, bool HasF, op F>
struct gemm_epilogue_spec {
  using rest_t = Rest;
  static constexpr bool has_rest = !std::is_same_v<Rest, no_gemm_rest>;
  static constexpr bool has_f = HasF;
  static constexpr op function = F;
};

// The host tile's product, apart from the kernel: templated on the element type and the tile shapes only, so every
// tiled GEMM kernel of one element type (whatever its epilogue, context or program) calls one compiled copy of the
// staging and the micro-kernels instead of inlining its own (out of line on the host compilers that take the
// attribute; the call is once per tile, against 2 x 256^3 flops).
#if defined(__GNUC__) && !defined(__CUDACC__) && !defined(__HIPCC__) && !defined(__SYCL_DEVICE_ONLY__)
#define TENSORLOGIC_HOST_NOINLINE __attribute__((noinline))
#else
#define TENSORLOGIC_HOST_NOINLINE
#endif
template <class T, class Tiles>
struct tiled_host_core {
  static constexpr int MT = Tiles::mt, NT = Tiles::nt, KT = Tiles::kt, RM = Tiles::rm, RN = Tiles::rn;

  // Host staging into micro-panels: rows m0 .. m0 + rows of op(A) and columns n0 .. n0 + cols of op(B), k0 .. k0 +
  // depth; whole strips (zeros past the edge), each copy loop running along a contiguous source.
  KOKKOS_INLINE_FUNCTION static void stage_host(const gemm_geometry& g, T* As, T* Bs, const T* pa, const T* pb, long m0,
                                                long n0, long k0, int rows, int cols, int depth) {
    for (int s0 = 0; s0 < rows; s0 += RM) {
      T* dst = As + (s0 / RM) * (KT * RM);
      if (g.a_m == 1 && s0 + RM <= rows) {
        // op(A) = A^T: the strip's RM values of each k are contiguous
        const T* src = pa + k0 * g.a_k + m0 + s0;
        for (int kk = 0; kk < depth; ++kk)
          for (int i = 0; i < RM; ++i) dst[kk * RM + i] = src[kk * g.a_k + i];
        continue;
      }
      if (g.a_k == 1 && s0 + RM <= rows) {
        // rows of A contiguous along k: RM read streams, contiguous writes
        const T* src = pa + (m0 + s0) * g.a_m + k0;
        for (int kk = 0; kk < depth; ++kk)
          for (int i = 0; i < RM; ++i) dst[kk * RM + i] = src[i * g.a_m + kk];
        continue;
      }
      for (int i = 0; i < RM; ++i) {
        if (s0 + i >= rows) {
          for (int kk = 0; kk < depth; ++kk) dst[kk * RM + i] = T(0);
        } else if (g.a_k == 1) {
          const T* src = pa + (m0 + s0 + i) * g.a_m + k0;
          for (int kk = 0; kk < depth; ++kk) dst[kk * RM + i] = src[kk];
        } else {
          const T* src = pa + (m0 + s0 + i) * g.a_m + k0 * g.a_k;
          for (int kk = 0; kk < depth; ++kk) dst[kk * RM + i] = src[kk * g.a_k];
        }
      }
    }
    for (int s0 = 0; s0 < cols; s0 += RN) {
      T* dst = Bs + (s0 / RN) * (KT * RN);
      const int width = cols - s0 < RN ? cols - s0 : RN;
      if (g.b_n == 1) {
        for (int kk = 0; kk < depth; ++kk) {
          const T* src = pb + (k0 + kk) * g.b_k + n0 + s0;
          T* row = dst + kk * RN;
          for (int j = 0; j < width; ++j) row[j] = src[j];
          for (int j = width; j < RN; ++j) row[j] = T(0);
        }
      } else {
        for (int j = 0; j < RN; ++j) {
          if (j >= width) {
            for (int kk = 0; kk < depth; ++kk) dst[kk * RN + j] = T(0);
          } else {
            const T* src = pb + (n0 + s0 + j) * g.b_n + k0 * g.b_k;
            for (int kk = 0; kk < depth; ++kk) dst[kk * RN + j] = src[kk * g.b_k];
          }
        }
      }
    }
  }

  // Host: Cs block (RM x RN, row stride NT) = (first ? 0 : Cs block) + A strip (x) B strip.
  KOKKOS_INLINE_FUNCTION static void micro_host(int simd, const T* ap, const T* bp, int depth, T* cs, bool first) {
#if TENSORLOGIC_X86_MICROKERNELS
    if (simd == 2) {
      gemm_micro_avx512(ap, bp, depth, cs, NT, first);
      return;
    }
    if (simd == 1) {
      gemm_micro_avx2(ap, bp, depth, cs, NT, first);
      return;
    }
#endif
    // portable: 4 x (16 bytes x 2) sub-blocks, eight 16-byte accumulators each
    constexpr int QM = 4, QN = 32 / static_cast<int>(sizeof(T));
    static_assert(RM % QM == 0 && RN % QN == 0);
    for (int qi = 0; qi < RM; qi += QM)
      for (int qj = 0; qj < RN; qj += QN) {
        T acc[QM][QN];
        for (int i = 0; i < QM; ++i)
          for (int j = 0; j < QN; ++j) acc[i][j] = first ? T(0) : cs[(qi + i) * NT + qj + j];
        gemm_micro<T, QM, QN>(ap + qi, RM, bp + qj, RN, depth, acc);
        for (int i = 0; i < QM; ++i)
          for (int j = 0; j < QN; ++j) cs[(qi + i) * NT + qj + j] = acc[i][j];
      }
  }

  // Cs (rows x cols of the tile at m0, n0; row stride NT) = op(A) op(B) over all of K, one KT-deep slice at a time.
  TENSORLOGIC_HOST_NOINLINE KOKKOS_FUNCTION static void product(const gemm_geometry& g, int simd, const T* pa,
                                                                const T* pb, T* As, T* Bs, T* Cs, long m0, long n0,
                                                                int rows, int cols) {
    if (g.k == 0)
      for (int x = 0; x < MT * NT; ++x) Cs[x] = T(0);
    for (long k0 = 0; k0 < g.k; k0 += KT) {
      const int depth = static_cast<int>(g.k - k0 < KT ? g.k - k0 : KT);
      stage_host(g, As, Bs, pa, pb, m0, n0, k0, rows, cols, depth);
      for (int j0 = 0; j0 < cols; j0 += RN)
        for (int i0 = 0; i0 < rows; i0 += RM)
          micro_host(simd, As + (i0 / RM) * (KT * RM), Bs + (j0 / RN) * (KT * RN), depth, Cs + i0 * NT + j0, k0 == 0);
    }
  }
};

template <class T, class R, class Ctx, int NIdx, class Epi, class Tiles>
struct tiled_gemm_kernel {
  static constexpr int MT = Tiles::mt, NT = Tiles::nt, KT = Tiles::kt, RM = Tiles::rm, RN = Tiles::rn;
  static constexpr int SM = MT / RM, SN = NT / RN, NSUB = SM * SN;
  static constexpr bool host = Tiles::team == 1;
  static_assert(MT % RM == 0 && NT % RN == 0, "tensorlogic: tile sizes must be multiples of the register block");
  static_assert(host || Tiles::team >= NSUB, "tensorlogic: a device team holds one register block per thread");

  Ctx ctx;
  typename Epi::rest_t rest;
  gemm_geometry g;
  const T* a = nullptr;
  const T* b = nullptr;
  T* c = nullptr;
  T alpha = T(1);
  bool accumulate = false;
  int simd = 0;  // host_simd_level() of the launching host

  static constexpr long shmem_bytes() {
    return static_cast<long>(sizeof(T)) * (KT * MT + KT * NT + (host ? MT * NT : 0));
  }

  // Scratch layouts: on the host, micro-panels (strip s of RM rows holds (kk, i) at s * KT * RM + kk * RM + i, and
  // likewise for B's strips of RN columns); on devices, k-major rows ((kk, m) at kk * MT + m).
  KOKKOS_INLINE_FUNCTION static int a_slot(int kk, int mm) {
    if constexpr (host)
      return (mm / RM) * (KT * RM) + kk * RM + mm % RM;
    else
      return kk * MT + mm;
  }
  KOKKOS_INLINE_FUNCTION static int b_slot(int kk, int nn) {
    if constexpr (host)
      return (nn / RN) * (KT * RN) + kk * RN + nn % RN;
    else
      return kk * NT + nn;
  }

  // The team copies the k-slice [k0, k0 + KT) of its rows of op(A) and its columns of op(B) into scratch, zeros
  // outside the extents; the loop runs along whichever operand index is contiguous in memory.
  KOKKOS_INLINE_FUNCTION void stage(T* As, T* Bs, const T* pa, const T* pb, long m0, long n0, long k0, int tid,
                                    int ts) const {
    const bool a_rows = g.a_k == 1, b_rows = g.b_n == 1;  // contiguous along k (A), along n (B)
    for (int x = tid; x < KT * MT; x += ts) {
      const int kk = a_rows ? x % KT : x / MT, mm = a_rows ? x / KT : x % MT;
      const long gm = m0 + mm, gk = k0 + kk;
      As[a_slot(kk, mm)] = (gm < g.m && gk < g.k) ? pa[gm * g.a_m + gk * g.a_k] : T(0);
    }
    for (int x = tid; x < KT * NT; x += ts) {
      const int kk = b_rows ? x / NT : x % KT, nn = b_rows ? x % NT : x / KT;
      const long gn = n0 + nn, gk = k0 + kk;
      Bs[b_slot(kk, nn)] = (gn < g.n && gk < g.k) ? pb[gk * g.b_k + gn * g.b_n] : T(0);
    }
  }

  using frame_t = frame<R, NIdx>;

  // The epilogue's frame: C's coordinates as the program's index values (batch ones once per team, row ones once per
  // row, column ones per cell; a one-subscript group is its matrix index, no division).
  KOKKOS_INLINE_FUNCTION void set_group(frame_t& f, long x, int lo, int hi) const {
    if (hi - lo == 1) {
      f.idx[g.c_pos[lo]] = x;
      return;
    }
    for (int d = hi - 1; d >= lo; --d) {
      f.idx[g.c_pos[d]] = x % g.c_ext[d];
      x /= g.c_ext[d];
    }
  }

  // f(v + rest at the frame's cell)
  KOKKOS_INLINE_FUNCTION R finish(R v, frame_t& f) const {
    if constexpr (Epi::has_rest) v += evaluator<R, Ctx, frame_t>::eval(rest, ctx, f);
    if constexpr (Epi::has_f) v = elementwise<R>::template unary<Epi::function>(v);
    return v;
  }

  // The epilogue and the store of C(m, n) = acc (the frame holds the cell's row and batch coordinates).
  KOKKOS_INLINE_FUNCTION void store(T accv, T* pc, frame_t& f, long gm, long gn) const {
    R v = static_cast<R>(alpha * accv);
    if constexpr (Epi::has_rest) set_group(f, gn, g.col_lo, g.col_hi);
    if constexpr (Epi::has_rest || Epi::has_f) v = finish(v, f);
    T& out = pc[gm * g.ldc + gn];
    out = accumulate ? static_cast<T>(out + static_cast<T>(v)) : static_cast<T>(v);
  }

  // Host: the epilogue and store of one row of the tile, a pass at a time over the row (in place in the scratch row):
  // alpha and the added term, then the function alone in its own loop (a branch-free, vectorizable loop: relu's select
  // becomes a max instead of a branch that random signs mispredict), then the assignment or accumulation.
  KOKKOS_INLINE_FUNCTION void store_row_host(T* row, int cols, T* out, frame_t& f, long gn0) const {
    if constexpr ((Epi::has_rest || Epi::has_f) && !std::is_same_v<R, T>) {
      for (int j = 0; j < cols; ++j) store(row[j], out - gn0, f, 0, gn0 + j);  // a wider compute type: per cell
    } else if constexpr (Epi::has_rest || Epi::has_f) {
      R* v = row;
      if constexpr (Epi::has_rest) {
        for (int j = 0; j < cols; ++j) {
          set_group(f, gn0 + j, g.col_lo, g.col_hi);
          v[j] = static_cast<R>(alpha * row[j]) + evaluator<R, Ctx, frame_t>::eval(rest, ctx, f);
        }
      } else {
        for (int j = 0; j < cols; ++j) v[j] = static_cast<R>(alpha * row[j]);
      }
      if constexpr (Epi::has_f)
        for (int j = 0; j < cols; ++j) v[j] = elementwise<R>::template unary<Epi::function>(v[j]);
      if (accumulate)
        for (int j = 0; j < cols; ++j) out[j] = static_cast<T>(out[j] + static_cast<T>(v[j]));
      else
        for (int j = 0; j < cols; ++j) out[j] = static_cast<T>(v[j]);
    } else {
      if (accumulate)
        for (int j = 0; j < cols; ++j) out[j] = static_cast<T>(out[j] + static_cast<T>(alpha * row[j]));
      else
        for (int j = 0; j < cols; ++j) out[j] = static_cast<T>(alpha * row[j]);
    }
  }

  template <class Member>
  KOKKOS_INLINE_FUNCTION void operator()(const Member& team) const {
    long item = team.league_rank();
    const long tn = item % g.tiles_n;
    item /= g.tiles_n;
    const long tm = item % g.tiles_m;
    item /= g.tiles_m;
    long off[3] = {0, 0, 0};
    frame_t f{};
    for (int bi = g.n_batch - 1; bi >= 0; --bi) {
      const long x = item % g.batch_ext[bi];
      item /= g.batch_ext[bi];
      for (int t = 0; t < 3; ++t) off[t] += x * g.batch_stride[t][bi];
      f.idx[g.c_pos[g.batch_at[bi]]] = x;
    }
    const T* pa = a + off[1];
    const T* pb = b + off[2];
    T* pc = c + off[0];
    const int tid = team.team_rank(), ts = team.team_size();
    T* As = static_cast<T*>(team.team_scratch(0).get_shmem(sizeof(T) * KT * MT));
    T* Bs = static_cast<T*>(team.team_scratch(0).get_shmem(sizeof(T) * KT * NT));
    const long m0 = tm * MT, n0 = tn * NT;
    if constexpr (host) {
      // the tile's partial sums in scratch; strips wholly outside C are skipped
      T* Cs = static_cast<T*>(team.team_scratch(0).get_shmem(sizeof(T) * MT * NT));
      const int rows = static_cast<int>(g.m - m0 < MT ? g.m - m0 : MT);
      const int cols = static_cast<int>(g.n - n0 < NT ? g.n - n0 : NT);
      tiled_host_core<T, Tiles>::product(g, simd, pa, pb, As, Bs, Cs, m0, n0, rows, cols);
      for (int i = 0; i < rows; ++i) {
        if constexpr (Epi::has_rest) set_group(f, m0 + i, g.row_lo, g.row_hi);
        store_row_host(Cs + i * NT, cols, pc + (m0 + i) * g.ldc + n0, f, n0);
      }
    } else {
      // one register block per thread, kept in registers across the slices
      T acc[RM][RN];
      for (int i = 0; i < RM; ++i)
        for (int j = 0; j < RN; ++j) acc[i][j] = T(0);
      const int i0 = (tid / SN) * RM, j0 = (tid % SN) * RN;
      for (long k0 = 0; k0 < g.k; k0 += KT) {
        stage(As, Bs, pa, pb, m0, n0, k0, tid, ts);
        team.team_barrier();
        const int depth = static_cast<int>(g.k - k0 < KT ? g.k - k0 : KT);
        if (tid < NSUB) gemm_micro<T, RM, RN>(As + i0, MT, Bs + j0, NT, depth, acc);
        team.team_barrier();
      }
      if (tid < NSUB)
        for (int i = 0; i < RM && m0 + i0 + i < g.m; ++i) {
          if constexpr (Epi::has_rest) set_group(f, m0 + i0 + i, g.row_lo, g.row_hi);
          for (int j = 0; j < RN && n0 + j0 + j < g.n; ++j) store(acc[i][j], pc, f, m0 + i0 + i, n0 + j0 + j);
        }
    }
  }
};

}  // namespace tensorlogic::exec
