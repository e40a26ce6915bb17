// Row and column reductions on flat addressing (exec/rows.hpp). A row reduction's body reads the left-hand side's
// subscripts followed by the projected ones (row sums, a matrix-vector product, a softmax's normalizer row), so each
// cell's row is contiguous and is summed in independent lanes; a column reduction reads the projected subscripts
// first (a bias gradient), so a work item walks a block of neighbouring cells per projected position. Against naive
// loops in double (a column sum bit for bit: the same order of additions): sums, means, maxima and minima, rows shorter and longer than the lanes, empty rows and empty
// outputs, several projected indices, a function around the reduction, groups that accumulate, relations (logical
// or), zero factors against NaN, and equations that must keep the coordinate kernel.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <tensorlogic/tensorlogic.hpp>
#include <vector>

#include "../support/naive.hpp"

namespace tl = tensorlogic;

namespace {
inline constexpr tl::index<"i"> i;
inline constexpr tl::index<"j"> j;
inline constexpr tl::index<"k"> k;
inline constexpr tl::tensor<"A", double, 2> A;
inline constexpr tl::tensor<"M", double, 2> M;
inline constexpr tl::tensor<"T", double, 3> T;
inline constexpr tl::tensor<"x", double, 1> x;
inline constexpr tl::tensor<"b", double, 1> b;
inline constexpr tl::tensor<"r", double, 1> r;
inline constexpr tl::tensor<"q", double, 1> q;
inline constexpr tl::tensor<"F", float, 2> F;
inline constexpr tl::tensor<"f", float, 1> f;
inline constexpr tl::tensor<"R2", double, 2> R2;
inline constexpr tl::tensor<"t0", double, 0> t0;
inline constexpr tl::scalar<"s", double> s;

using tl::test::random_values;
}  // namespace

TEST_CASE("row reductions: sum, mean, max and min over the last subscript, rows around the lane count",
          "[exec][reduce]") {
  constexpr auto sums = tl::program(r(i) = A(i, j));
  constexpr auto means = tl::program(r(i) = tl::mean(j, A(i, j)));
  constexpr auto maxima = tl::program(r(i) = tl::max(j, A(i, j)));
  constexpr auto minima = tl::program(r(i) = tl::min(j, A(i, j) * 2.0 - 1.0));
  static_assert(tl::detail::is_flat_map<0>(sums) && tl::detail::is_flat_map<0>(means));
  static_assert(tl::detail::is_flat_map<0>(maxima) && tl::detail::is_flat_map<0>(minima));
  for (std::size_t nj : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{8}, std::size_t{15},
                         std::size_t{16}, std::size_t{17}, std::size_t{100}, std::size_t{5000}}) {
    const std::size_t ni = 37;
    const auto a = random_values<double>(ni * nj + 1, 1 + nj);  // one spare value: an empty row still has an address
    tl::store s1(sums, tl::extents(i = ni, j = nj));
    tl::store s2(means, tl::extents(i = ni, j = nj));
    tl::store s3(maxima, tl::extents(i = ni, j = nj));
    tl::store s4(minima, tl::extents(i = ni, j = nj));
    tl::bind(s1, A, a.data(), ni * nj);
    tl::bind(s2, A, a.data(), ni * nj);
    tl::bind(s3, A, a.data(), ni * nj);
    tl::bind(s4, A, a.data(), ni * nj);
    tl::eval(sums, s1);
    tl::eval(means, s2);
    tl::eval(maxima, s3);
    tl::eval(minima, s4);
    for (std::size_t row = 0; row < ni; ++row) {
      double sum = 0, mx = -3.0e38, mn = 3.0e38;
      for (std::size_t c = 0; c < nj; ++c) {
        const double v = a[row * nj + c];
        sum += v;
        mx = v > mx ? v : mx;
        mn = 2.0 * v - 1.0 < mn ? 2.0 * v - 1.0 : mn;
      }
      REQUIRE(s1[r](row) == Approx(sum).margin(1e-12));
      REQUIRE(s2[r](row) == Approx(nj > 0 ? sum / static_cast<double>(nj) : 0.0).margin(1e-12));
      if (nj > 0) {
        REQUIRE(s3[r](row) == mx);
        REQUIRE(s4[r](row) == mn);
      }
    }
  }
}

TEST_CASE("a matrix-vector product with a bias and a function around it runs as one flat pass", "[exec][reduce]") {
  // the reduction's body reads M at (i, j) and x at the projected j alone; b and the function are per cell
  constexpr auto mv = tl::program(q(i) = tl::tanh(tl::sum(j, M(i, j) * x(j)) + b(i)) * s);
  static_assert(tl::detail::is_flat_map<0>(mv));
  const std::size_t ni = 301, nj = 259;
  const auto m = random_values<double>(ni * nj, 3), xv = random_values<double>(nj, 4), bv = random_values<double>(ni, 5);
  tl::store st(mv, tl::extents(i = ni, j = nj));
  tl::bind(st, M, m.data(), m.size());
  tl::bind(st, x, xv.data(), xv.size());
  tl::bind(st, b, bv.data(), bv.size());
  tl::bind(st, s, 0.5);
  tl::eval(mv, st);
  for (std::size_t row = 0; row < ni; ++row) {
    double acc = 0;
    for (std::size_t c = 0; c < nj; ++c) acc += m[row * nj + c] * xv[c];
    REQUIRE(st[q](row) == Approx(std::tanh(acc + bv[row]) * 0.5).margin(1e-13));
  }
}

TEST_CASE("row reductions over two projected indices, into a rank-0 tensor, and in a group", "[exec][reduce]") {
  // r(i) = T(i, j, k): the projected subscripts in the body's own order; t0 = A(i, j): every cell of A in one row
  constexpr auto two = tl::program(r(i) = T(i, k, j) * 3.0);
  constexpr auto total = tl::program(t0() = A(i, j) * A(i, j));
  constexpr auto group = tl::program(r(i) = A(i, j), r(i) = tl::max(j, A(i, j)), r(i) = b(i));
  static_assert(tl::detail::is_flat_map<0>(two) && tl::detail::is_flat_map<0>(total));
  static_assert(tl::detail::is_flat_map<0>(group) && tl::detail::is_flat_map<1>(group) &&
                tl::detail::is_flat_map<2>(group));
  const std::size_t ni = 5, nj = 19, nk = 23;
  const auto t = random_values<double>(ni * nj * nk, 6), a = random_values<double>(ni * nj, 7),
             bv = random_values<double>(ni, 8);
  tl::store s1(two, tl::extents(i = ni, j = nj, k = nk));
  tl::bind(s1, T, t.data(), t.size());
  tl::eval(two, s1);
  tl::store s2(total, tl::extents(i = ni, j = nj));
  tl::bind(s2, A, a.data(), a.size());
  tl::eval(total, s2);
  tl::store s3(group, tl::extents(i = ni, j = nj));
  tl::bind(s3, A, a.data(), a.size());
  tl::bind(s3, b, bv.data(), bv.size());
  tl::eval(group, s3);
  double all = 0;
  for (std::size_t row = 0; row < ni; ++row) {
    double acc = 0, sum = 0, mx = -3.0e38;
    for (std::size_t c = 0; c < nk * nj; ++c) acc += 3.0 * t[row * nk * nj + c];
    for (std::size_t c = 0; c < nj; ++c) {
      sum += a[row * nj + c];
      mx = a[row * nj + c] > mx ? a[row * nj + c] : mx;
      all += a[row * nj + c] * a[row * nj + c];
    }
    REQUIRE(s1[r](row) == Approx(acc).margin(1e-12));
    REQUIRE(s3[r](row) == Approx(sum + mx + bv[row]).margin(1e-12));
  }
  REQUIRE(s2[t0]() == Approx(all).margin(1e-12));
}

TEST_CASE("column reductions: a bias gradient over one and two projected indices, sums to max, in order",
          "[exec][reduce]") {
  constexpr auto col = tl::program(r(j) = A(i, j));
  constexpr auto col2 = tl::program(r(k) = T(i, j, k) * q(k) + A(i, j));
  constexpr auto colmax = tl::program(r(j) = tl::max(i, A(i, j)));
  constexpr auto colmean = tl::program(r(j) = tl::mean(i, A(i, j) * b(i)));
  static_assert(tl::detail::is_column_reduction<0>(col) && !tl::detail::is_flat_map<0>(col));
  static_assert(!tl::detail::is_column_reduction<0>(col2));  // A(i, j) does not read k: not a column layout
  static_assert(tl::detail::is_column_reduction<0>(colmax) && tl::detail::is_column_reduction<0>(colmean));
  // blocks of 1024 double accumulators per work item, eight rows per pass: widths around the block, 45 rows
  for (std::size_t nj : {std::size_t{1}, std::size_t{255}, std::size_t{1023}, std::size_t{1024}, std::size_t{1025},
                         std::size_t{2100}}) {
    const std::size_t ni = 45;
    const auto a = random_values<double>(ni * nj, 10 + nj), bv = random_values<double>(ni, 11);
    tl::store s1(col, tl::extents(i = ni, j = nj));
    tl::store s2(colmax, tl::extents(i = ni, j = nj));
    tl::store s3(colmean, tl::extents(i = ni, j = nj));
    tl::bind(s1, A, a.data(), a.size());
    tl::bind(s2, A, a.data(), a.size());
    tl::bind(s3, A, a.data(), a.size());
    tl::bind(s3, b, bv.data(), bv.size());
    tl::eval(col, s1);
    tl::eval(colmax, s2);
    tl::eval(colmean, s3);
    for (std::size_t c = 0; c < nj; ++c) {
      double sum = 0, mx = -3.0e38, wsum = 0;
      for (std::size_t row = 0; row < ni; ++row) {
        sum += a[row * nj + c];
        mx = a[row * nj + c] > mx ? a[row * nj + c] : mx;
        wsum += a[row * nj + c] * bv[row];
      }
      REQUIRE(s1[r](c) == sum);  // the same order of additions as the naive loop: bit for bit
      REQUIRE(s2[r](c) == mx);
      REQUIRE(s3[r](c) == Approx(wsum / static_cast<double>(ni)).margin(1e-14));
    }
  }
  // two projected indices: the bias gradient of a (batch, position, feature) tensor, with a same-LHS accumulate
  constexpr auto db = tl::program(r(k) = T(i, j, k), r(k) = b(k));
  static_assert(tl::detail::is_column_reduction<0>(db));
  const std::size_t ni = 3, nj = 50, nk = 300;
  const auto t = random_values<double>(ni * nj * nk, 12), bv = random_values<double>(nk, 13);
  tl::store st(db, tl::extents(i = ni, j = nj, k = nk));
  tl::bind(st, T, t.data(), t.size());
  tl::bind(st, b, bv.data(), bv.size());
  tl::eval(db, st);
  for (std::size_t c = 0; c < nk; ++c) {
    double sum = 0;
    for (std::size_t row = 0; row < ni * nj; ++row) sum += t[row * nk + c];
    REQUIRE(st[r](c) == Approx(sum + bv[c]).margin(1e-13));
  }
  // zero rows: every cell is the reduction's identity (sum 0)
  tl::store se(col, tl::extents(i = 0, j = 4));
  std::vector<double> none(1);
  tl::bind(se, A, none.data(), 0);
  tl::eval(col, se);
  for (std::size_t c = 0; c < 4; ++c) REQUIRE(se[r](c) == 0.0);
}

TEST_CASE("reductions in single precision, zero factors against NaN, and relations", "[exec][reduce]") {
  constexpr auto rows = tl::program(f(i) = F(i, j) * F(i, j));
  static_assert(tl::detail::is_flat_map<0>(rows));
  const std::size_t ni = 64, nj = 1000;
  auto fv = random_values<float>(ni * nj, 14);
  fv[3 * nj + 5] = 0.0f;
  tl::store st(rows, tl::extents(i = ni, j = nj));
  tl::bind(st, F, fv.data(), fv.size());
  tl::eval(rows, st);
  for (std::size_t row = 0; row < ni; ++row) {
    double acc = 0;
    for (std::size_t c = 0; c < nj; ++c) acc += static_cast<double>(fv[row * nj + c]) * fv[row * nj + c];
    REQUIRE(static_cast<double>(st[f](row)) == Approx(acc).epsilon(1e-5));
  }
  // a zero factor wins over NaN inside a row reduction, as everywhere else
  constexpr auto masked = tl::program(r(i) = M(i, j) * A(i, j));
  const std::size_t n = 20;
  auto m = random_values<double>(n * n, 15), a = random_values<double>(n * n, 16);
  for (std::size_t c = 0; c < n * n; c += 3) {
    m[c] = 0.0;
    a[c] = std::numeric_limits<double>::quiet_NaN();
  }
  tl::store sm(masked, tl::extents(i = n, j = n));
  tl::bind(sm, M, m.data(), m.size());
  tl::bind(sm, A, a.data(), a.size());
  tl::eval(masked, sm);
  for (std::size_t row = 0; row < n; ++row) {
    double acc = 0;
    for (std::size_t c = 0; c < n; ++c)
      if (m[row * n + c] != 0.0) acc += m[row * n + c] * a[row * n + c];
    REQUIRE(std::isfinite(sm[r](row)));
    REQUIRE(sm[r](row) == Approx(acc).margin(1e-13));
  }
  // a relation rule whose body projects: Has(x) <- Edge(x, y), as a row reduction written with logical or
  constexpr tl::relation<"Edge", 2> Edge;
  constexpr tl::relation<"Has", 1> Has;
  constexpr tl::relation<"Hit", 1> Hit;
  constexpr auto rules = tl::program(Has(i) = Edge(i, j), Hit(j) = Edge(i, j));
  static_assert(tl::detail::is_flat_map<0>(rules) && tl::detail::is_column_reduction<1>(rules));
  const std::size_t nv = 300;
  std::vector<std::uint8_t> e(nv * nv, 0);
  for (std::size_t c = 0; c < nv; c += 7) e[c * nv + (c * 3) % nv] = 1;
  tl::store sr(rules, tl::extents(i = nv, j = nv));
  tl::bind(sr, Edge, e.data(), e.size());
  tl::eval(rules, sr);
  for (std::size_t c = 0; c < nv; ++c) {
    bool out = false, in = false;
    for (std::size_t d = 0; d < nv; ++d) {
      out = out || e[c * nv + d] != 0;
      in = in || e[d * nv + c] != 0;
    }
    REQUIRE(static_cast<bool>(sr[Has](c)) == out);
    REQUIRE(static_cast<bool>(sr[Hit](c)) == in);
  }
}

TEST_CASE("reductions that keep the coordinate kernel", "[exec][reduce]") {
  // a GEMM-like body (B reads the projected index first, then the cell's), a transposed row, a diagonal, a masked
  // comparison of indices, a logsumexp, a projection under a normalizer
  constexpr auto gemm_like = tl::program(R2(i, k) = A(i, j) * M(j, k));
  static_assert(!tl::detail::is_flat_map<0>(gemm_like) && !tl::detail::is_column_reduction<0>(gemm_like));
  static_assert(!tl::detail::is_flat_map<0>(tl::program(r(i) = A(i, j) * M(j, i))));
  static_assert(!tl::detail::is_flat_map<0>(tl::program(r(i) = A(i, i))));
  static_assert(!tl::detail::is_flat_map<0>(tl::program(r(i) = tl::sum(j, tl::where(i <= j, A(i, j), 0.0)))));
  static_assert(!tl::detail::is_flat_map<0>(tl::program(r(i) = tl::logsumexp(j, A(i, j)))));
  static_assert(!tl::detail::is_column_reduction<0>(tl::program(r(j) = tl::logsumexp(i, A(i, j)))));
  // a row reduction whose body mixes row order (A(i, j)) and column order (M(j, i)) runs on the coordinate kernel
  constexpr auto mixed = tl::program(r(i) = A(i, j) * M(j, i));
  const std::size_t n = 33;
  const auto a = random_values<double>(n * n, 17), m = random_values<double>(n * n, 18);
  tl::store st(mixed, tl::extents(i = n, j = n));
  tl::bind(st, A, a.data(), a.size());
  tl::bind(st, M, m.data(), m.size());
  tl::eval(mixed, st);
  for (std::size_t row = 0; row < n; ++row) {
    double acc = 0;
    for (std::size_t c = 0; c < n; ++c) acc += a[row * n + c] * m[c * n + row];
    REQUIRE(st[r](row) == Approx(acc).margin(1e-13));
  }
}
