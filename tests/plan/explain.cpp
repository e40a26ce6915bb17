// Kernel classification and the FLOP / byte estimates of tl::explain, against counts worked out by hand.
#include <catch2/catch.hpp>
#include <tensorlogic/tensorlogic.hpp>

namespace tl = tensorlogic;

namespace {
inline constexpr tl::index<"i"> i;
inline constexpr tl::index<"j"> j;
inline constexpr tl::index<"k"> k;
inline constexpr tl::index<"l"> l;
inline constexpr tl::index<"b"> b;
inline constexpr tl::index<"p"> p;
inline constexpr tl::index<"q"> q;
inline constexpr tl::index<"d"> d;
inline constexpr tl::tensor<"A", float, 2> A;
inline constexpr tl::tensor<"B", float, 2> B;
inline constexpr tl::tensor<"C", float, 2> C;
inline constexpr tl::tensor<"D", float, 2> D;
inline constexpr tl::tensor<"G", float, 2> G;
inline constexpr tl::tensor<"v", float, 1> v;
inline constexpr tl::tensor<"y", float, 1> y;
inline constexpr tl::tensor<"u", float, 1> u;
inline constexpr tl::tensor<"z", float, 1> z;
inline constexpr tl::tensor<"Q", float, 3> Q;
inline constexpr tl::tensor<"K", float, 3> K;
inline constexpr tl::tensor<"S", float, 3> S;
inline constexpr tl::relation<"E", 2> E;
inline constexpr tl::relation<"P", 2> P;
}  // namespace

TEST_CASE("each equation's kernel class", "[plan]") {
  CHECK(tl::classify(C(i, k) = A(i, j) * B(j, k)) == tl::kernel_class::gemm);
  CHECK(tl::classify(C(i, k) = A(j, i) * B(k, j)) == tl::kernel_class::gemm);  // transposed operands
  CHECK(tl::classify(y(i) = A(i, j) * v(j)) == tl::kernel_class::gemm);        // matrix-vector
  CHECK(tl::classify(S(b, p, q) = Q(b, p, d) * K(b, q, d)) == tl::kernel_class::gemm);  // batched
  CHECK(tl::classify(y(i) = tl::relu(A(i, j) * v(j) + v(i))) == tl::kernel_class::gemm);
  CHECK(tl::classify(C(i, j) = A(i, j) * B(i, j)) == tl::kernel_class::map);
  CHECK(tl::classify(C(i, j) = A(i, j) + v(j)) == tl::kernel_class::broadcast);
  CHECK(tl::classify(y(i) = A(i, j)) == tl::kernel_class::reduce);
  CHECK(tl::classify(y(i) = tl::sum(j, tl::exp(A(i, j)))) == tl::kernel_class::reduce);
  CHECK(tl::classify(D(i, l) = A(i, j) * B(j, k) * C(k, l)) == tl::kernel_class::contraction);
  CHECK(tl::classify(y(i) = A(i, j) * B(i, j) * v(j)) == tl::kernel_class::contraction);
  CHECK(tl::classify(C(i, j) = tl::softmax(j, A(i, j))) == tl::kernel_class::normalizer);
  CHECK(tl::classify(P(i, k) = E(i, j) * E(j, k)) == tl::kernel_class::join);
}

TEST_CASE("FLOP and byte estimates with the store's extents", "[plan]") {
  constexpr auto prog = tl::program(C(i, k) = A(i, j) * B(j, k), y(i) = tl::relu(A(i, j) * v(j) + u(i)),
                                    D(i, l) = A(i, j) * B(j, k) * G(k, l));
  const long ni = 8, nj = 16, nk = 4, nl = 2;
  tl::store s(prog, tl::extents(i = ni, j = nj, k = nk, l = nl));
  const auto e = tl::estimate(prog, s);
  REQUIRE(e.size() == 3);
  // C = A B: ni nj nk multiply-adds.
  CHECK(e[0].flops == 2.0 * ni * nj * nk);
  CHECK(e[0].bytes == 4.0 * (ni * nj + nj * nk + ni * nk));
  // y = relu(A v + u): ni nj multiply-adds, then per output one add (two terms) and one relu; reads A, v, u.
  CHECK(e[1].flops == 2.0 * ni * nj + 2.0 * ni);
  CHECK(e[1].bytes == 4.0 * (ni * nj + nj + ni + ni));
  // D = A B G runs pairwise (plan/order.hpp): B G first (j k l points, contracting k: a multiplication and an
  // addition each), then A (B G) (i j l points, contracting j) -- 768 FLOP against 3 ni nj nk nl = 3072 for one loop.
  CHECK(e[2].order == "A (B G)");
  CHECK(e[2].flops == 2.0 * nj * nk * nl + 2.0 * ni * nj * nl);
  const std::string text = tl::explain(prog, s);
#if TENSORLOGIC_HAVE_KOKKOS_KERNELS
  CHECK_THAT(text, Catch::Matchers::Contains(
                       "C[i,k] = A[i,j] B[j,k]\n  [GEMM-shaped contraction; vendor GEMM] 1024 FLOP, 896 bytes"));
#else
  CHECK_THAT(text, Catch::Matchers::Contains(
                       "C[i,k] = A[i,j] B[j,k]\n  [GEMM-shaped contraction; tiled GEMM (team scratch tiles, register "
                       "blocks)] 1024 FLOP, 896 bytes"));
#endif
  CHECK_THAT(text, Catch::Matchers::Contains("[general contraction; pairwise A (B G)] 768 FLOP"));
}

TEST_CASE("a guarded sum is priced at the points its kernel walks", "[plan]") {
  // y(i) = sum_j (j <= i) A(i, j): the kernel walks j = 0..i, (n + 1) / 2 points per cell on average; the max pool's
  // gradient shape walks the one p whose window holds s; an unguarded sum keeps its full space
  constexpr tl::index<"s"> s_;
  constexpr auto prog = tl::program(y(i) = (j <= i) * A(i, j),                                   //
                                    v(s_) = (s_ >= 2 * j) * (s_ <= 2 * j + 1) * u(j),           //
                                    C(i, k) = A(i, j) * B(j, k) + D(i, k));
  const long n = 16;
  tl::store st(prog, tl::extents(i = n, j = n, k = n, s_ = 2 * n));
  const auto e = tl::estimate(prog, st);
  REQUIRE(e.size() == 3);
  // one addition per walked point (a comparison is a guard, not a factor): the sum over i of i + 1 points, not n^2
  CHECK(e[0].flops == Approx(n * (n + 1) / 2.0));
  // per cell of v: one point (j = s / 2), not n
  CHECK(e[1].flops == Approx(2.0 * n));
  CHECK(e[2].flops == 2.0 * n * n * n + n * n);
  const std::string text = tl::explain(prog, st);
  CHECK_THAT(text, Catch::Matchers::Contains("(s >= 2*j) (s <= 2*j+1) u[j]\n  [reduce; generic kernel] 32 FLOP"));
}

TEST_CASE("the kernel path of each equation, as tl::explain prints it", "[plan]") {
  // one equation per path: flat map, row reduction (with a function and a per-cell term around it), column
  // reduction, normalizer rows (with a causal comparison), the vendor paths, and the generic kernel (its last index on
  // lanes, and one cell at a time where a read puts that index under an affine subscript)
  constexpr auto prog = tl::program(C(i, j) = tl::exp(A(i, j)) * 2.0,                          // 0
                                    y(i) = tl::relu(tl::sum(j, A(i, j) * v(j)) + u(i)),        // 1
                                    u(j) = A(i, j) * B(i, j),                                  // 2
                                    D(i, j) = tl::softmax(j, tl::where(j <= i, A(i, j), -1e30)),  // 3
                                    S(b, p, q) = tl::softmax(q, Q(b, p, d) * K(b, q, d)),      // 4
                                    G(i, k) = A(i, j) * B(j, k) + C(i, k),                     // 5
                                    v(i) = A(i, j) * B(j, i),                                  // 6
                                    z(j) = A(j, j + 1));                                       // 7
  static_assert(std::string_view(tl::detail::execution_path<0, decltype(prog)>()) == "flat map");
  static_assert(std::string_view(tl::detail::execution_path<1, decltype(prog)>()) == "flat rows (row reduction)");
  static_assert(std::string_view(tl::detail::execution_path<2, decltype(prog)>()) == "column reduction");
  static_assert(std::string_view(tl::detail::execution_path<3, decltype(prog)>()) == "normalizer rows");
#if TENSORLOGIC_HAVE_KOKKOS_KERNELS
  static_assert(std::string_view(tl::detail::execution_path<4, decltype(prog)>()) ==
                "vendor GEMM + normalizer rows");
  static_assert(std::string_view(tl::detail::execution_path<5, decltype(prog)>()) ==
                "vendor GEMM + epilogue kernel");
#else
  static_assert(std::string_view(tl::detail::execution_path<5, decltype(prog)>()) == "tiled GEMM + fused epilogue");
#endif
  // with the vendor path off at run time, the library's tiled kernel
  static_assert(std::string_view(tl::detail::execution_path<5, decltype(prog), Kokkos::HostSpace, false>()) ==
                "tiled GEMM + fused epilogue");
  static_assert(std::string_view(tl::detail::execution_path<6, decltype(prog)>()) ==
                "generic kernel (last index on lanes)");
  static_assert(std::string_view(tl::detail::execution_path<7, decltype(prog)>()) == "generic kernel");
  tl::store s(prog, tl::extents(i = 4, j = 4, k = 4, b = 2, p = 3, q = 3, d = 5));
  const std::string text = tl::explain(prog, s);
  CHECK_THAT(text, Catch::Matchers::Contains("[map; flat map]"));
  CHECK_THAT(text, Catch::Matchers::Contains("; flat rows (row reduction)]"));
  CHECK_THAT(text, Catch::Matchers::Contains("; column reduction]"));
  CHECK_THAT(text, Catch::Matchers::Contains("[normalizer rows; normalizer rows]"));
  CHECK_THAT(text, Catch::Matchers::Contains("; generic kernel (last index on lanes)]"));
  CHECK_THAT(text, Catch::Matchers::Contains("; generic kernel]"));
}
