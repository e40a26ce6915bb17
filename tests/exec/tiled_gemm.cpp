// The library's own tiled GEMM kernel (exec/tiled_gemm.hpp; tl::set_vendor_gemm(false)): every operand and subscript
// order, float and double, at extents of 0, 1, non-multiples of the 64 x 64 tiles and depths that cross the staged
// slices (256 floats, 128 doubles); scaling factors; the fused epilogues (a bias, a function around the product,
// both, accumulation into the head); a batched GEMM; against naive loops written here and against the generic
// kernel (tl::set_tiled_gemm(false)); which equations take which path, and what tl::explain prints.
#include <catch2/catch.hpp>
#include <cmath>
#include <random>
#include <string>
#include <tensorlogic/tensorlogic.hpp>
#include <vector>

#include "../support/naive.hpp"

namespace tl = tensorlogic;

namespace {
inline constexpr tl::index<"i"> i;
inline constexpr tl::index<"j"> j;
inline constexpr tl::index<"k"> k;
inline constexpr tl::index<"b"> bi;
template <class T>
struct syms {
  static constexpr tl::tensor<"A", T, 2> A{};
  static constexpr tl::tensor<"B", T, 2> B{};
  static constexpr tl::tensor<"C", T, 2> C{};
  static constexpr tl::tensor<"bias", T, 1> bias{};
  static constexpr tl::tensor<"R", T, 2> R{};
};

// at least one value, so that an empty operand still binds a real pointer
template <class T>
std::vector<T> random_values(std::size_t n, std::uint64_t seed) {
  return tl::test::random_values<T>(n > 0 ? n : 1, seed);
}

template <class T>
double tolerance(std::size_t depth) {
  return (std::is_same_v<T, float> ? 2e-6 : 1e-14) * static_cast<double>(depth + 8);
}

struct shape {
  std::size_t ni, nj, nk;
};
const shape shapes[] = {{1, 1, 1},       {5, 7, 3},     {64, 64, 64},    {65, 257, 67},
                        {130, 129, 1},   {3, 0, 4},     {1, 300, 70},    {300, 40, 520},
                        {270, 300, 260}};

enum class path { tiled, generic };

// Runs prog (which writes C(i, k) from A, B, bias(i), R(i, k)) on the tiled kernel and on the generic kernel and
// compares both with want(r, q, a, b, bias, rv).
template <class T, class Prog, class Want>
void check(const Prog& prog, bool a_transposed, bool b_transposed, const Want& want) {
  using S = syms<T>;
  for (const shape& sh : shapes) {
    const auto a = random_values<T>(sh.ni * sh.nj, 1), b = random_values<T>(sh.nj * sh.nk, 2),
               bias = random_values<T>(sh.ni, 3), rv = random_values<T>(sh.ni * sh.nk, 4);
    auto A_at = [&](std::size_t r, std::size_t c) { return a_transposed ? a[c * sh.ni + r] : a[r * sh.nj + c]; };
    auto B_at = [&](std::size_t r, std::size_t c) { return b_transposed ? b[c * sh.nj + r] : b[r * sh.nk + c]; };
    for (path p : {path::tiled, path::generic}) {
      INFO("extents " << sh.ni << " x " << sh.nj << " x " << sh.nk << (p == path::tiled ? ", tiled" : ", generic"));
      tl::set_vendor_gemm(false);
      tl::set_tiled_gemm(p == path::tiled);
      tl::store s(prog, tl::extents(i = sh.ni, j = sh.nj, k = sh.nk));
      tl::bind(s, S::A, a.data(), sh.ni * sh.nj);
      tl::bind(s, S::B, b.data(), sh.nj * sh.nk);
      if constexpr (Prog::slot_of("bias") >= 0) tl::bind(s, S::bias, bias.data(), sh.ni);
      if constexpr (Prog::slot_of("R") >= 0) tl::bind(s, S::R, rv.data(), sh.ni * sh.nk);
      tl::eval(prog, s);
      tl::eval(prog, s);  // twice: the first write must overwrite
      const T* c = s[S::C].data();
      for (std::size_t r = 0; r < sh.ni; ++r)
        for (std::size_t q = 0; q < sh.nk; ++q) {
          double dot = 0;
          for (std::size_t x = 0; x < sh.nj; ++x)
            dot += static_cast<double>(A_at(r, x)) * static_cast<double>(B_at(x, q));
          const double expected = want(dot, static_cast<double>(bias[r]), static_cast<double>(rv[r * sh.nk + q]));
          REQUIRE(static_cast<double>(c[r * sh.nk + q]) == Approx(expected).margin(tolerance<T>(sh.nj)));
        }
    }
  }
  tl::set_vendor_gemm(true);
  tl::set_tiled_gemm(true);
}

template <class T>
void all_orders() {
  using S = syms<T>;
  constexpr auto A = S::A;
  constexpr auto B = S::B;
  constexpr auto C = S::C;
  auto plain = [](double dot, double, double) { return dot; };
  check<T>(tl::program(C(i, k) = A(i, j) * B(j, k)), false, false, plain);
  check<T>(tl::program(C(i, k) = A(j, i) * B(j, k)), true, false, plain);
  check<T>(tl::program(C(i, k) = A(i, j) * B(k, j)), false, true, plain);
  check<T>(tl::program(C(i, k) = A(j, i) * B(k, j)), true, true, plain);
  check<T>(tl::program(C(i, k) = B(j, k) * A(i, j)), false, false, plain);
  check<T>(tl::program(C(i, k) = B(k, j) * A(j, i)), true, true, plain);
}
}  // namespace

TEST_CASE("the tiled GEMM kernel: every operand order, float and double, edges and slices", "[exec][gemm][tiled]") {
  // every host micro-kernel this processor runs: AVX-512, AVX2 + FMA, the portable loops
  for (int level = tl::exec::host_simd_supported(); level >= 0; --level) {
    INFO("host micro-kernel level " << level);
    tl::exec::limit_host_simd(level);
    all_orders<float>();
    all_orders<double>();
  }
  tl::exec::limit_host_simd(2);
}

TEST_CASE("the tiled GEMM kernel's epilogues: scale, bias, function, both, accumulation", "[exec][gemm][tiled]") {
  using S = syms<double>;
  constexpr auto A = S::A;
  constexpr auto B = S::B;
  constexpr auto C = S::C;
  constexpr auto bias = S::bias;
  constexpr auto R = S::R;
  check<double>(tl::program(C(i, k) = 0.5 * A(i, j) * B(j, k)), false, false,
                [](double dot, double, double) { return 0.5 * dot; });
  check<double>(tl::program(C(i, k) = A(i, j) * B(j, k) + bias(i)), false, false,
                [](double dot, double b, double) { return dot + b; });
  check<double>(tl::program(C(i, k) = bias(i) + A(j, i) * B(k, j)), true, true,
                [](double dot, double b, double) { return dot + b; });
  check<double>(tl::program(C(i, k) = tl::tanh(A(i, j) * B(j, k))), false, false,
                [](double dot, double, double) { return std::tanh(dot); });
  check<double>(tl::program(C(i, k) = tl::relu(A(i, j) * B(j, k) + bias(i))), false, false,
                [](double dot, double b, double) { return dot + b > 0 ? dot + b : 0.0; });
  check<double>(tl::program(C(i, k) = tl::sigmoid(A(i, j) * B(j, k) + tl::exp(R(i, k)) * bias(i))), false, false,
                [](double dot, double b, double r) { return 1.0 / (1.0 + std::exp(-(dot + std::exp(r) * b))); });
  // a same-left-hand-side group: the second equation accumulates its fused epilogue into the head
  check<double>(tl::program(C(i, k) = R(i, k), C(i, k) = tl::relu(A(i, j) * B(j, k) + bias(i))), false, false,
                [](double dot, double b, double r) { return r + (dot + b > 0 ? dot + b : 0.0); });
  check<double>(tl::program(C(i, k) = R(i, k), C(i, k) = A(i, j) * B(j, k)), false, false,
                [](double dot, double, double r) { return r + dot; });
}

TEST_CASE("the tiled GEMM kernel on a batched GEMM", "[exec][gemm][tiled]") {
  constexpr tl::tensor<"X", float, 3> X;
  constexpr tl::tensor<"Y", float, 3> Y;
  constexpr tl::tensor<"Z", float, 3> Z;
  constexpr auto prog = tl::program(Z(i, bi, k) = X(bi, i, j) * Y(bi, k, j));
  static_assert(tl::detail::tiled_form<std::remove_cvref_t<decltype(tl::get<0>(prog.equations))>>::kind == 1);
  for (const shape& sh : {shape{70, 33, 65}, shape{1, 1, 1}, shape{9, 300, 2}}) {
    const std::size_t nb = 3;
    const auto x = random_values<float>(nb * sh.ni * sh.nj, 5), y = random_values<float>(nb * sh.nk * sh.nj, 6);
    tl::set_vendor_gemm(false);
    tl::store s(prog, tl::extents(i = sh.ni, j = sh.nj, k = sh.nk, bi = nb));
    tl::bind(s, X, x.data(), x.size());
    tl::bind(s, Y, y.data(), y.size());
    tl::eval(prog, s);
    tl::set_vendor_gemm(true);
    const float* z = s[Z].data();
    for (std::size_t b = 0; b < nb; ++b)
      for (std::size_t r = 0; r < sh.ni; ++r)
        for (std::size_t q = 0; q < sh.nk; ++q) {
          double want = 0;
          for (std::size_t t = 0; t < sh.nj; ++t)
            want += static_cast<double>(x[(b * sh.ni + r) * sh.nj + t]) * y[(b * sh.nk + q) * sh.nj + t];
          REQUIRE(z[(r * nb + b) * sh.nk + q] == Approx(want).margin(tolerance<float>(sh.nj)));
        }
  }
}

TEST_CASE("the tiled GEMM kernel's epilogue at batch and multi-subscript coordinates", "[exec][gemm][tiled]") {
  constexpr tl::tensor<"X", double, 3> X;
  constexpr tl::tensor<"Y", double, 3> Y;
  constexpr tl::tensor<"Z", double, 3> Z;
  constexpr tl::tensor<"T", double, 3> T;
  // batch subscript b between C's row and column groups; the added term reads every coordinate
  constexpr auto batched = tl::program(Z(i, bi, k) = tl::tanh(X(bi, i, j) * Y(bi, k, j) + T(k, bi, i)));
  static_assert(tl::detail::tiled_form<std::remove_cvref_t<decltype(tl::get<0>(batched.equations))>>::kind == 4);
  const std::size_t ni = 70, nj = 33, nk = 260, nb = 3;
  const auto x = random_values<double>(nb * ni * nj, 7), y = random_values<double>(nb * nk * nj, 8),
             t = random_values<double>(nk * nb * ni, 9);
  {
    tl::set_vendor_gemm(false);
    tl::store s(batched, tl::extents(i = ni, j = nj, k = nk, bi = nb));
    tl::bind(s, X, x.data(), x.size());
    tl::bind(s, Y, y.data(), y.size());
    tl::bind(s, T, t.data(), t.size());
    tl::eval(batched, s);
    tl::set_vendor_gemm(true);
    const double* z = s[Z].data();
    for (std::size_t b = 0; b < nb; ++b)
      for (std::size_t r = 0; r < ni; ++r)
        for (std::size_t q = 0; q < nk; ++q) {
          double dot = 0;
          for (std::size_t u = 0; u < nj; ++u) dot += x[(b * ni + r) * nj + u] * y[(b * nk + q) * nj + u];
          REQUIRE(z[(r * nb + b) * nk + q] == Approx(std::tanh(dot + t[(q * nb + b) * ni + r])).margin(1e-12));
        }
  }
  // rows (n, p) and columns (h, d): two-subscript groups decoded in the epilogue
  constexpr tl::index<"n"> n;
  constexpr tl::index<"p"> p;
  constexpr tl::index<"h"> h;
  constexpr tl::index<"d"> d;
  constexpr tl::index<"e"> e;
  constexpr tl::tensor<"Wt", double, 3> Wt;
  constexpr tl::tensor<"Xt", double, 3> Xt;
  constexpr tl::tensor<"Qt", double, 4> Qt;
  constexpr tl::tensor<"bt", double, 2> bt;
  constexpr tl::tensor<"sc", double, 2> sc;
  constexpr auto heads = tl::program(Qt(n, p, h, d) = Wt(h, d, e) * Xt(n, p, e) + bt(h, d) * sc(n, p));
  static_assert(tl::detail::tiled_form<std::remove_cvref_t<decltype(tl::get<0>(heads.equations))>>::kind == 2);
  const std::size_t nn = 3, np = 5, nh = 2, nd = 7, ne = 9;
  const auto w = random_values<double>(nh * nd * ne, 10), xv = random_values<double>(nn * np * ne, 11),
             bv = random_values<double>(nh * nd, 12), sv = random_values<double>(nn * np, 13);
  tl::set_vendor_gemm(false);
  tl::store s(heads, tl::extents(n = nn, p = np, h = nh, d = nd, e = ne));
  tl::bind(s, Wt, w.data(), w.size());
  tl::bind(s, Xt, xv.data(), xv.size());
  tl::bind(s, bt, bv.data(), bv.size());
  tl::bind(s, sc, sv.data(), sv.size());
  tl::eval(heads, s);
  tl::set_vendor_gemm(true);
  const double* qv = s[Qt].data();
  for (std::size_t a = 0; a < nn * np; ++a)
    for (std::size_t c = 0; c < nh * nd; ++c) {
      double dot = 0;
      for (std::size_t u = 0; u < ne; ++u) dot += w[c * ne + u] * xv[a * ne + u];
      REQUIRE(qv[a * nh * nd + c] == Approx(dot + bv[c] * sv[a]).margin(1e-12));
    }
}

TEST_CASE("which equations take the tiled GEMM kernel, and what explain prints", "[exec][gemm][tiled]") {
  using S = syms<float>;
  constexpr auto A = S::A;
  constexpr auto B = S::B;
  constexpr auto C = S::C;
  constexpr auto bias = S::bias;
  using tl::detail::tiled_form;
  static_assert(tiled_form<decltype(C(i, k) = A(i, j) * B(j, k))>::kind == 1);
  static_assert(tiled_form<decltype(C(i, k) = A(i, j) * B(j, k) + bias(i))>::kind == 2);
  static_assert(tiled_form<decltype(C(i, k) = bias(i) + A(i, j) * B(j, k))>::side == 1);
  static_assert(tiled_form<decltype(C(i, k) = tl::relu(A(i, j) * B(j, k)))>::kind == 3);
  static_assert(tiled_form<decltype(C(i, k) = tl::relu(A(i, j) * B(j, k) + bias(i)))>::kind == 4);
  // not GEMMs: a Hadamard product, a product whose kept index is summed, a two-argument function around it
  static_assert(tiled_form<decltype(C(i, k) = A(i, k) * B(i, k))>::kind == 0);
  static_assert(tiled_form<decltype(C(i, k) = tl::sum(j, A(i, j)) * B(j, k))>::kind == 0);
  static_assert(tiled_form<decltype(C(i, k) = tl::max(A(i, j) * B(j, k), bias(i)))>::kind == 0);

  constexpr auto prog = tl::program(C(i, k) = tl::relu(A(i, j) * B(j, k) + bias(i)));
  tl::store s(prog, tl::extents(i = 4, j = 3, k = 5));
  tl::set_vendor_gemm(false);
  CHECK(tl::explain(prog, s).find("tiled GEMM + fused epilogue") != std::string::npos);
  tl::set_tiled_gemm(false);
  CHECK(tl::explain(prog, s).find("generic kernel") != std::string::npos);
  tl::set_vendor_gemm(true);
  tl::set_tiled_gemm(true);
  if (tl::vendor_gemm_available())
    CHECK(tl::explain(prog, s).find("vendor GEMM") != std::string::npos);
  else
    CHECK(tl::explain(prog, s).find("tiled GEMM + fused epilogue") != std::string::npos);
}
