// Flat maps: an equation whose every tensor is read at the left-hand side's own subscripts (or is a scalar) walks
// the flat buffers, 4096 cells per work item on the host. Against naive loops: the STREAM triad, a rank-3 map with
// every elementwise function, sizes below, at and around the chunk, an empty extent, a same-left-hand-side group
// (assign then accumulate), a relation rule (logical or), the zero-factor rule, and equations that look alike but are
// not flat maps (a transposed read, a broadcast, a diagonal) so that they keep the coordinate kernel.
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
inline constexpr tl::tensor<"u", float, 1> u;
inline constexpr tl::tensor<"v", float, 1> v;
inline constexpr tl::tensor<"w", float, 1> w;
inline constexpr tl::scalar<"s", float> s;
inline constexpr tl::tensor<"X", double, 3> X;
inline constexpr tl::tensor<"G", double, 3> G;
inline constexpr tl::tensor<"Y", double, 3> Y;
inline constexpr tl::tensor<"A", double, 2> A;
inline constexpr tl::tensor<"B", double, 2> B;
inline constexpr tl::tensor<"C", double, 2> C;
inline constexpr tl::tensor<"b", double, 1> bias;
inline constexpr tl::tensor<"r0", double, 0> r0;

using tl::test::random_values;
}  // namespace

TEST_CASE("the triad as a flat map, at sizes around the 4096-cell chunk", "[exec][map]") {
  constexpr auto triad = tl::program(w(i) = u(i) + s * v(i));
  static_assert(tl::detail::is_flat_map<0>(triad));
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{3}, std::size_t{4095}, std::size_t{4096},
                        std::size_t{4097}, std::size_t{3 * 4096 + 17}}) {
    INFO("n = " << n);
    tl::store st(triad, tl::extents(i = n));
    const auto a = random_values<float>(n + 1, 1), c = random_values<float>(n + 1, 2);
    tl::bind(st, u, a.data(), n);
    tl::bind(st, v, c.data(), n);
    tl::bind(st, s, 3.0f);
    tl::eval(triad, st);
    for (std::size_t x = 0; x < n; ++x) REQUIRE(st[w](x) == a[x] + 3.0f * c[x]);
  }
}

TEST_CASE("every elementwise function in a rank-3 flat map", "[exec][map]") {
  constexpr tl::index<"n"> n;
  constexpr tl::index<"p"> p;
  constexpr tl::index<"e"> e;
  constexpr auto prog = tl::program(
      Y(n, p, e) = tl::relu(X(n, p, e)) * G(n, p, e) + tl::exp(-tl::abs(X(n, p, e))) - tl::sigmoid(G(n, p, e)) +
                   tl::tanh(X(n, p, e)) / (2.0 + tl::square(G(n, p, e))) + tl::sqrt(tl::abs(G(n, p, e))) * r0() +
                   tl::where(X(n, p, e), tl::step(G(n, p, e)), tl::clamp(G(n, p, e), -0.25, 0.25)) +
                   tl::max(X(n, p, e), G(n, p, e)) * tl::min(X(n, p, e), 0.5) + tl::log(2.0 + X(n, p, e)) +
                   tl::pow(1.5 + X(n, p, e), G(n, p, e)));
  static_assert(tl::detail::is_flat_map<0>(prog));
  const std::size_t nn = 3, np = 5, ne = 700;
  const auto x = random_values<double>(nn * np * ne, 3), g = random_values<double>(nn * np * ne, 4);
  tl::store st(prog, tl::extents(n = nn, p = np, e = ne));
  tl::bind(st, X, x.data(), x.size());
  tl::bind(st, G, g.data(), g.size());
  tl::bind(st, r0, 0.75);
  tl::eval(prog, st);
  for (std::size_t c = 0; c < x.size(); ++c) {
    const double a = x[c], b = g[c];
    const double want = (a > 0 ? a : 0) * b + std::exp(-std::abs(a)) - 1 / (1 + std::exp(-b)) +
                        std::tanh(a) / (2 + b * b) + std::sqrt(std::abs(b)) * 0.75 +
                        (a > 0 ? (b > 0 ? 1.0 : 0.0) : std::min(std::max(b, -0.25), 0.25)) +
                        std::max(a, b) * std::min(a, 0.5) + std::log(2 + a) + std::pow(1.5 + a, b);
    REQUIRE(st[Y].data()[c] == Approx(want).epsilon(1e-12));
  }
}

TEST_CASE("flat maps in a group accumulate, and a zero factor still skips a NaN", "[exec][map]") {
  constexpr auto group = tl::program(C(i, j) = A(i, j) * 2.0, C(i, j) = tl::exp(B(i, j)));
  static_assert(tl::detail::is_flat_map<0>(group) && tl::detail::is_flat_map<1>(group));
  const std::size_t ni = 70, nj = 90;
  const auto a = random_values<double>(ni * nj, 5), b = random_values<double>(ni * nj, 6);
  tl::store st(group, tl::extents(i = ni, j = nj));
  tl::bind(st, A, a.data(), a.size());
  tl::bind(st, B, b.data(), b.size());
  tl::eval(group, st);
  tl::eval(group, st);  // the first equation overwrites, the second adds once
  // exp is the kernels' polynomial (within 2 ulp of libm's): the sum is compared to 1e-14 of its terms' magnitudes,
  // since it may cancel
  for (std::size_t c = 0; c < a.size(); ++c)
    REQUIRE(st[C].data()[c] ==
            Approx(2 * a[c] + std::exp(b[c])).epsilon(1e-14).margin(1e-14 * (std::fabs(2 * a[c]) + std::exp(b[c]))));

  constexpr auto masked = tl::program(C(i, j) = A(i, j) * B(i, j));
  std::vector<double> mask(ni * nj, 0.0), nan(ni * nj, std::numeric_limits<double>::quiet_NaN());
  mask[5] = 1.0;
  nan[5] = 4.0;
  mask[7] = -0.0;  // a negative zero is a zero factor too
  nan[7] = std::numeric_limits<double>::infinity();
  nan[8] = -std::numeric_limits<double>::infinity();
  tl::store sm(masked, tl::extents(i = ni, j = nj));
  tl::bind(sm, A, mask.data(), mask.size());
  tl::bind(sm, B, nan.data(), nan.size());
  tl::eval(masked, sm);
  for (std::size_t c = 0; c < mask.size(); ++c) REQUIRE(sm[C].data()[c] == (c == 5 ? 4.0 : 0.0));
  // and in single precision, where the select works on 32-bit patterns: w = u v with u = 0 against Inf and NaN
  constexpr auto product = tl::program(w(i) = u(i) * v(i));
  static_assert(tl::detail::is_flat_map<0>(product));
  std::vector<float> uz = {0.0f, -0.0f, 2.0f, 0.0f, 1e-40f}, vz = {std::numeric_limits<float>::quiet_NaN(),
                                                                   std::numeric_limits<float>::infinity(), 3.0f,
                                                                   -std::numeric_limits<float>::infinity(), 1e30f};
  tl::store sp(product, tl::extents(i = uz.size()));
  tl::bind(sp, u, uz.data(), uz.size());
  tl::bind(sp, v, vz.data(), vz.size());
  tl::eval(product, sp);
  const float want[] = {0.0f, 0.0f, 6.0f, 0.0f, 1e-40f * 1e30f};  // a subnormal factor is not zero
  for (std::size_t c = 0; c < uz.size(); ++c) REQUIRE(sp[w](c) == want[c]);
}

TEST_CASE("a relation rule over the same subscripts is a flat map with logical or", "[exec][map][logic]") {
  constexpr tl::relation<"R", 2> R;
  constexpr tl::relation<"P", 2> P;
  constexpr tl::relation<"Q", 2> Q;
  constexpr auto rules = tl::program(R(i, j) = P(i, j), R(i, j) = Q(i, j));
  static_assert(tl::detail::is_flat_map<0>(rules) && tl::detail::is_flat_map<1>(rules));
  const std::size_t n = 60;
  std::vector<std::uint8_t> pv(n * n), qv(n * n);
  for (std::size_t c = 0; c < n * n; ++c) {
    pv[c] = c % 7 == 0;
    qv[c] = c % 11 == 0;
  }
  tl::store st(rules, tl::extents(i = n, j = n));
  tl::bind(st, P, pv.data(), pv.size());
  tl::bind(st, Q, qv.data(), qv.size());
  tl::eval(rules, st);
  for (std::size_t c = 0; c < n * n; ++c) REQUIRE(static_cast<bool>(st[R].data()[c]) == (c % 7 == 0 || c % 11 == 0));
}

TEST_CASE("look-alikes that are not flat maps keep the coordinate kernel", "[exec][map]") {
  const std::size_t ni = 9, nj = 13;
  const auto a = random_values<double>(nj * ni, 7), b = random_values<double>(ni * nj, 8), bv = random_values<double>(nj, 9);
  // a transposed read and a broadcast bias
  constexpr auto prog = tl::program(C(i, j) = A(j, i) + B(i, j) * bias(j));
  static_assert(!tl::detail::is_flat_map<0>(prog));
  static_assert(!tl::detail::is_flat_map<0>(tl::program(C(i, j) = B(i, j) * bias(j))));
  static_assert(!tl::detail::is_flat_map<0>(tl::program(C(i, j) = tl::sum(k, A(i, k) * B(k, j)))));
  static_assert(!tl::detail::is_flat_map<0>(tl::program(C(i, j) = tl::softmax(j, A(i, j)))));
  static_assert(!tl::detail::is_flat_map<0>(tl::program(C(i, j) = tl::where(i <= j, A(i, j), 0.0))));
  tl::store st(prog, tl::extents(i = ni, j = nj));
  tl::bind(st, A, a.data(), a.size());
  tl::bind(st, B, b.data(), b.size());
  tl::bind(st, bias, bv.data(), bv.size());
  tl::eval(prog, st);
  for (std::size_t r = 0; r < ni; ++r)
    for (std::size_t c = 0; c < nj; ++c)
      REQUIRE(st[C](r, c) == Approx(a[c * ni + r] + b[r * nj + c] * bv[c]).epsilon(1e-14));
  // a right-hand side reading the same tensor at a different subscript order than the left-hand side
  constexpr auto swapped = tl::program(C(i, j) = B(i, j) + A(i, j) * 0.5, B(j, i) = A(i, j) * 1.0);
  static_assert(tl::detail::is_flat_map<0>(swapped) && !tl::detail::is_flat_map<1>(swapped));
  const std::size_t n = 11;
  const auto sq = random_values<double>(n * n, 10);
  tl::store ss(swapped, tl::extents(i = n, j = n));
  tl::bind(ss, A, sq.data(), sq.size());
  tl::eval(swapped, ss);
  for (std::size_t r = 0; r < n; ++r)
    for (std::size_t c = 0; c < n; ++c) REQUIRE(ss[C](r, c) == Approx(sq[c * n + r] + 0.5 * sq[r * n + c]).epsilon(1e-14));
}
