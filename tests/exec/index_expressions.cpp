// DESIGN §1 rule 6: index expressions in subscripts (t + 1, x + dx, x / 2, constants); reads outside the extent
// are 0, writes outside are dropped; a left-hand side x / 2 sums every x that maps onto a cell.
#include <catch2/catch.hpp>
#include <tensorlogic/tensorlogic.hpp>

#include "../support/naive.hpp"

namespace tl = tensorlogic;
using tl::test::fill_random;

namespace {
inline constexpr tl::index<"t"> t;
inline constexpr tl::index<"x"> x;
inline constexpr tl::index<"dx"> dx;
inline constexpr tl::index<"j"> j;
inline constexpr tl::tensor<"X", double, 1> X;
inline constexpr tl::tensor<"Y", double, 1> Y;
inline constexpr tl::tensor<"K", double, 1> K;
inline constexpr tl::tensor<"M", double, 2> M;
}  // namespace

TEST_CASE("a shifted read outside the extent reads 0", "[semantics][rule6]") {
  // K(t) = X(t) subscripts X with the plain index t, so X has t's extent
  constexpr auto prog = tl::program(Y(t) = X(t + 1) - X(t - 1), K(t) = X(t));
  for (int n : {1, 2, 7}) {
    tl::store s(prog, tl::extents(t = n));
    REQUIRE(static_cast<int>(s[X].extent(0)) == n);
    fill_random(s[X], 1);
    tl::eval(prog, s);
    auto xv = s[X];
    for (int a = 0; a < n; ++a) {
      const double next = a + 1 < n ? xv(a + 1) : 0.0;
      const double prev = a - 1 >= 0 ? xv(a - 1) : 0.0;
      CHECK(s[Y](a) == Approx(next - prev));
    }
  }
}

TEST_CASE("without a plain subscript a tensor's extent is the largest subscript reached", "[semantics][rule6]") {
  constexpr auto prog = tl::program(Y(t) = X(t + 1) - X(t - 1));
  tl::store s(prog, tl::extents(t = 4));
  CHECK(s[X].extent(0) == 5);
  fill_random(s[X], 1);
  tl::eval(prog, s);
  CHECK(s[Y](0) == Approx(s[X](1)));
  CHECK(s[Y](3) == Approx(s[X](4) - s[X](2)));
}

TEST_CASE("a shifted write drops what falls outside and leaves cells it never reaches at 0", "[semantics][rule6]") {
  constexpr auto prog = tl::program(Y(t + 2) = X(t));
  tl::store s(prog, tl::extents(t = 6));
  fill_random(s[X], 2);
  tl::eval(prog, s);
  CHECK(s[Y](0) == 0.0);
  CHECK(s[Y](1) == 0.0);
  for (int a = 2; a < 6; ++a) CHECK(s[Y](a) == s[X](a - 2));
}

TEST_CASE("convolution: X(x + dx) with the input's extent derived from the program", "[semantics][rule6]") {
  constexpr auto prog = tl::program(Y(x) = K(dx) * X(x + dx));
  tl::store s(prog, tl::extents(x = 6, dx = 3));
  REQUIRE(s[X].extent(0) == 8);  // x + dx reaches 5 + 2
  fill_random(s[X], 3);
  fill_random(s[K], 4);
  tl::eval(prog, s);
  for (int a = 0; a < 6; ++a) {
    double r = 0;
    for (int d = 0; d < 3; ++d) r += s[K](d) * s[X](a + d);
    CHECK(s[Y](a) == Approx(r));
  }
}

TEST_CASE("sum-pooling: a left-hand side x / 2 sums the cells that map onto it", "[semantics][rule6]") {
  constexpr auto prog = tl::program(Y(x / 2) = X(x));
  for (int n : {1, 4, 7}) {
    tl::store s(prog, tl::extents(x = n));
    REQUIRE(static_cast<int>(s[Y].extent(0)) == (n + 1) / 2);
    fill_random(s[X], 5);
    tl::eval(prog, s);
    for (int p = 0; p < (n + 1) / 2; ++p) {
      double r = s[X](2 * p) + (2 * p + 1 < n ? s[X](2 * p + 1) : 0.0);
      CHECK(s[Y](p) == Approx(r));
    }
  }
}

TEST_CASE("max-pooling in gather form with a static window index", "[semantics][rule6]") {
  constexpr tl::index<"w", 2> w;
  constexpr auto prog = tl::program(Y(x) = tl::max(w, X(2 * x + w)));
  tl::store s(prog, tl::extents(x = 4));
  REQUIRE(s[X].extent(0) == 8);
  fill_random(s[X], 6);
  tl::eval(prog, s);
  for (int p = 0; p < 4; ++p) CHECK(s[Y](p) == std::max(s[X](2 * p), s[X](2 * p + 1)));
}

TEST_CASE("constant subscripts read and write one row", "[semantics][rule6]") {
  constexpr auto read = tl::program(Y(j) = M(1, j));
  tl::store s(read, tl::extents(j = 3));
  REQUIRE(s[M].extent(0) == 2);
  fill_random(s[M], 7);
  tl::eval(read, s);
  for (int a = 0; a < 3; ++a) CHECK(s[Y](a) == s[M](1, a));

  constexpr auto write = tl::program(M(0, j) = X(j), M(1, j) = 2.0 * X(j));
  tl::store w(write, tl::extents(j = 3));
  fill_random(w[X], 8);
  tl::eval(write, w);
  for (int a = 0; a < 3; ++a) {
    CHECK(w[M](0, a) == w[X](a));
    CHECK(w[M](1, a) == 2 * w[X](a));
  }
}
