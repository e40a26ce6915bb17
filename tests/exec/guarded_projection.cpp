// Guarded projections: a sum (or mean, or any) whose body has index comparisons (or reads at a dimension index's
// subscripts) as factors walks only the values of the summed index that they allow (exec/kernel.hpp, evaluator::narrow). Each program is checked against
// naive loops that evaluate every term: prefix and suffix sums with each comparison operator, window scatters with
// strides and negative offsets (a max pool's solved gradient), a comparison that also reads an inner summed index
// (not used to bound the outer one), a divided subscript (not used), a comparison that does not depend on the summed
// index, a mean, a max projection (whose zeros count, so it must not skip them), and reads at shifted or strided
// subscripts of a dimension index (0 outside the tensor) as factors, but not under a function.
#include <catch2/catch.hpp>
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <tensorlogic/tensorlogic.hpp>
#include <vector>

#include "../support/naive.hpp"

namespace tl = tensorlogic;

namespace {
inline constexpr tl::index<"i"> i;
inline constexpr tl::index<"j"> j;
inline constexpr tl::index<"k"> k;
inline constexpr tl::index<"p"> p;
inline constexpr tl::index<"x"> x;
inline constexpr tl::tensor<"a", double, 1> a;
inline constexpr tl::tensor<"g", double, 1> g;
inline constexpr tl::tensor<"h", double, 1> h;
inline constexpr tl::tensor<"w", double, 1> w;
inline constexpr tl::tensor<"A", double, 2> A;
inline constexpr tl::tensor<"r", double, 1> r;

using tl::test::random_values;

// r(i) for i < ni from prog, with a bound to av (length nj); r is compared with want(i) exactly.
template <class Prog, class Want>
void check_vector(const Prog& prog, long ni, long nj, const std::vector<double>& av, Want want) {
  tl::store st(prog, tl::extents(i = ni, j = nj));
  tl::bind(st, a, av.data(), av.size());
  tl::eval(prog, st);
  for (long c = 0; c < ni; ++c) {
    INFO("i = " << c);
    REQUIRE(st[r](c) == want(c));
  }
}
}  // namespace

TEST_CASE("prefix, suffix and diagonal sums through each comparison operator", "[exec][projection]") {
  const long ni = 37, nj = 29;
  const auto av = random_values<double>(nj, 3);
  const auto naive = [&](auto keep) {
    return [&, keep](long c) {
      double s = 0;
      for (long q = 0; q < nj; ++q) s += keep(c, q) ? av[q] : 0.0;
      return s;
    };
  };
  check_vector(tl::program(r(i) = (j <= i) * a(j)), ni, nj, av, naive([](long c, long q) { return q <= c; }));
  check_vector(tl::program(r(i) = (j < i) * a(j)), ni, nj, av, naive([](long c, long q) { return q < c; }));
  check_vector(tl::program(r(i) = (j >= i) * a(j)), ni, nj, av, naive([](long c, long q) { return q >= c; }));
  check_vector(tl::program(r(i) = (j > i - 5) * a(j)), ni, nj, av, naive([](long c, long q) { return q > c - 5; }));
  check_vector(tl::program(r(i) = (j == i) * a(j)), ni, nj, av, naive([](long c, long q) { return q == c; }));
  check_vector(tl::program(r(i) = (j != i) * a(j)), ni, nj, av, naive([](long c, long q) { return q != c; }));
  // the summed index on both sides, and with a negative coefficient
  check_vector(tl::program(r(i) = (2 * j - 3 <= j + i) * a(j)), ni, nj, av,
               naive([](long c, long q) { return 2 * q - 3 <= q + c; }));
  check_vector(tl::program(r(i) = (i - 2 * j >= -4) * (i - 2 * j < 3) * a(j)), ni, nj, av,
               naive([](long c, long q) { return c - 2 * q >= -4 && c - 2 * q < 3; }));
  // coefficient 0 after cancelling: a condition on i alone, inside the sum
  check_vector(tl::program(r(i) = (i + j - j >= 20) * a(j)), ni, nj, av,
               naive([](long c, long) { return c >= 20; }));
  // a divided subscript is not used to bound j (the product still applies it)
  check_vector(tl::program(r(i) = (j / 2 <= i) * a(j)), ni, nj, av, naive([](long c, long q) { return q / 2 <= c; }));
}

TEST_CASE("window scatters: the solved gradient of a max pool and of strided windows", "[exec][projection]") {
  // g(x) = sum_p (x - W p >= lo) (x - W p <= hi) a(p): each x reads the pooled cells whose window holds it
  const long np = 13;
  const auto av = random_values<double>(np, 5);
  const auto run = [&](const auto& prog, long nx, long stride, long lo, long hi) {
    tl::store st(prog, tl::extents(x = nx, p = np));
    tl::bind(st, a, av.data(), av.size());
    tl::eval(prog, st);
    for (long c = 0; c < nx; ++c) {
      double s = 0;
      for (long q = 0; q < np; ++q) s += (c - stride * q >= lo && c - stride * q <= hi) ? av[q] : 0.0;
      INFO("x = " << c << ", stride " << stride);
      REQUIRE(st[g](c) == s);
    }
  };
  run(tl::program(g(x) = (x - 2 * p >= 0) * (x - 2 * p <= 1) * a(p)), 27, 2, 0, 1);      // 2-wide pooling, past the end
  run(tl::program(g(x) = (x - 3 * p >= 0) * (x - 3 * p <= 4) * a(p)), 40, 3, 0, 4);      // overlapping windows
  run(tl::program(g(x) = (x - 4 * p >= -1) * (x - 4 * p <= 1) * a(p)), 50, 4, -1, 1);    // negative offsets
  run(tl::program(g(x) = (x - 5 * p >= 0) * (x - 5 * p <= 1) * a(p)), 70, 5, 0, 1);      // gaps between windows
}

TEST_CASE("a comparison that reads an inner summed index bounds only that index", "[exec][projection]") {
  const long ni = 11, nj = 7, nk = 9;
  const auto av = random_values<double>(nj * nk, 7);
  constexpr auto prog = tl::program(r(i) = (j + k <= i) * (k >= j) * A(j, k));
  tl::store st(prog, tl::extents(i = ni, j = nj, k = nk));
  tl::bind(st, A, av.data(), av.size());
  tl::eval(prog, st);
  for (long c = 0; c < ni; ++c) {
    double s = 0;
    for (long q = 0; q < nj; ++q)
      for (long t = 0; t < nk; ++t) s += (q + t <= c && t >= q) ? av[q * nk + t] : 0.0;
    INFO("i = " << c);
    REQUIRE(st[r](c) == Approx(s).epsilon(1e-14));
  }
}

TEST_CASE("mean and max projections with comparison factors", "[exec][projection]") {
  const long ni = 10, nj = 8;
  auto av = random_values<double>(nj, 9);
  for (auto& v : av) v = -1.0 - std::abs(v);  // all negative: a max over the whole range sees the masked zeros
  // the mean divides by |j| whichever terms the guard skips
  check_vector(tl::program(r(i) = tl::mean(j, (j <= i) * a(j))), ni, nj, av, [&](long c) {
    double s = 0;
    for (long q = 0; q < nj; ++q) s += q <= c ? av[q] : 0.0;
    return s / static_cast<double>(nj);
  });
  check_vector(tl::program(r(i) = tl::max(j, (j <= i) * a(j))), ni, nj, av, [&](long c) {
    double m = -1e300;
    for (long q = 0; q < nj; ++q) m = std::max(m, q <= c ? av[q] : 0.0);
    return m;
  });
}

TEST_CASE("reads at subscripts with a dimension index bound the summed index; other reads do not", "[exec][projection]") {
  // reads outside a tensor are 0, so a top-level factor h(x - j), x a dimension index (a solved gradient's subscript),
  // leaves only the j with 0 <= x - j < |h|; x runs along a's positions (its extent is a's, set by the store). |h| is
  // derived from the largest subscript; the smallest runs below 0.
  constexpr tl::dimension_index<std::remove_cvref_t<decltype(a)>, 0> ax;
  const long nj = 6;
  const auto av = random_values<double>(64, 10), hv = random_values<double>(64, 11), gv = random_values<double>(nj, 12);
  const auto run = [&](const auto& prog, long na, long nh, auto term, double tolerance) {
    tl::store st(prog, tl::extents(i = na, j = nj));  // a's extent from i (its second equation), then x's from a's
    tl::bind(st, a, av.data(), static_cast<std::size_t>(na));
    tl::bind(st, h, hv.data(), static_cast<std::size_t>(nh));
    tl::bind(st, g, gv.data(), gv.size());
    tl::eval(prog, st);
    REQUIRE(st[r].extent(0) == static_cast<std::size_t>(na));
    const auto at = [&](long v) { return v >= 0 && v < nh ? hv[v] : 0.0; };
    for (long c = 0; c < na; ++c) {
      double s = 0;
      for (long q = 0; q < nj; ++q) s += term(at, c, q);
      s *= av[c];
      INFO("x = " << c);
      if (tolerance == 0) REQUIRE(st[r](c) == s);
      else REQUIRE(st[r](c) == Approx(s).epsilon(tolerance));
    }
  };
  run(tl::program(r(ax) = a(ax) * tl::sum(j, g(j) * h(ax - j)), w(i) = 2.0 * a(i)), 11, 11,
      [&](auto at, long c, long q) { return gv[q] * at(c - q); }, 0);
  // stride 2 and a negative coefficient with an offset
  run(tl::program(r(ax) = a(ax) * tl::sum(j, h(2 * j - ax + 3) * g(j)), w(i) = 2.0 * a(i)), 14, 14,
      [&](auto at, long c, long q) { return at(2 * q - c + 3) * gv[q]; }, 0);
  // exp(0) = 1 outside h: the read under exp is not a factor, so every j counts (exp within 2 ulp of libm)
  run(tl::program(r(ax) = a(ax) * tl::sum(j, tl::exp(h(ax - j)) * g(j)), w(i) = 2.0 * a(i)), 12, 12,
      [&](auto at, long c, long q) { return std::exp(at(c - q)) * gv[q]; }, 1e-13);
  // a plain index i: the read is not examined (and the sum is the same)
  constexpr auto plain = tl::program(r(i) = h(i - j) * g(j));
  tl::store st(plain, tl::extents(i = 9, j = nj));
  tl::bind(st, h, hv.data(), 9);
  tl::bind(st, g, gv.data(), gv.size());
  tl::eval(plain, st);
  for (long c = 0; c < 9; ++c) {
    double s = 0;
    for (long q = 0; q < nj; ++q) s += (c - q >= 0 ? hv[c - q] : 0.0) * gv[q];
    REQUIRE(st[r](c) == s);
  }
}
