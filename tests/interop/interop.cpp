// tl::bind adopts Kokkos views and xtensor arrays without copying where it can; tl::to_xtensor copies back;
// tl::to_string prints Tensor Logic text.
#include <catch2/catch.hpp>
#include <tensorlogic/tensorlogic.hpp>
#include <xtensor/xarray.hpp>

#include "../support/naive.hpp"

namespace tl = tensorlogic;

namespace {
inline constexpr tl::index<"i"> i;
inline constexpr tl::index<"j"> j;
inline constexpr tl::index<"t"> t;
inline constexpr tl::index<"x"> x;
inline constexpr tl::index<"y"> y;
inline constexpr tl::index<"z"> z;
inline constexpr tl::tensor<"W", double, 2> W;
inline constexpr tl::tensor<"X", double, 1> X;
inline constexpr tl::tensor<"Y", double, 1> Y;
inline constexpr tl::tensor<"b", double, 1> b;
inline constexpr tl::relation<"Parent", 2> Parent;
inline constexpr tl::relation<"Anc", 2> Anc;
}  // namespace

TEST_CASE("bind adopts a LayoutRight view of the store's type without copying", "[interop]") {
  constexpr auto prog = tl::program(Y(i) = W(i, j) * X(j));
  tl::store s(prog, tl::extents(i = 2, j = 3));
  Kokkos::View<double**, Kokkos::LayoutRight, Kokkos::HostSpace> w("w", 2, 3);
  tl::test::fill_random(w, 1);
  tl::bind(s, W, w);
  CHECK(s[W].data() == w.data());
  Kokkos::View<double*, Kokkos::LayoutLeft, Kokkos::HostSpace> xl("x", 3);
  tl::test::fill_random(xl, 2);
  tl::bind(s, X, xl);  // a different layout is copied
  CHECK(s[X].data() != xl.data());
  tl::eval(prog, s);
  for (int a = 0; a < 2; ++a) {
    double r = 0;
    for (int c = 0; c < 3; ++c) r += w(a, c) * xl(c);
    CHECK(s[Y](a) == Approx(r));
  }
}

TEST_CASE("bind adopts a row-major xtensor array; to_xtensor copies a view back", "[interop]") {
  constexpr auto prog = tl::program(Y(i) = W(i, j) * X(j));
  tl::store s(prog, tl::extents(i = 2, j = 3));
  xt::xarray<double> w = {{1, 2, 3}, {4, 5, 6}};
  xt::xarray<float> xf = {1, 0, -1};  // another element type is converted
  tl::bind(s, W, w);
  tl::bind(s, X, xf);
  CHECK(s[W].data() == w.data());
  tl::eval(prog, s);
  xt::xarray<double> yv = tl::to_xtensor(s[Y]);
  REQUIRE(yv.shape().size() == 1);
  CHECK(yv(0) == -2.0);
  CHECK(yv(1) == -2.0);
  auto ws = tl::to_xtensor(s[W]);
  CHECK(ws(1, 2) == 6.0);
}

TEST_CASE("to_string prints Tensor Logic text", "[interop][to_string]") {
  CHECK(tl::to_string(Y(i) = tl::relu(W(i, j) * X(j) + b(i))) == "Y[i] = relu(W[i,j] X[j] + b[i])");
  CHECK(tl::to_string(Anc(x, z) = Anc(x, y) * Parent(y, z)) == "Anc(x,z) = Anc(x,y) Parent(y,z)");
  CHECK(tl::to_string(Y(t + 1) = X(t - 1) + X(t / 2) + X(2 * t + 1)) == "Y[t+1] = X[t-1] + X[t/2] + X[2*t+1]");
  CHECK(tl::to_string(W(i, j) = tl::softmax(j, 0.5 * W(i, j))) == "W[i,j] = softmax(j, 0.5 W[i,j])");
  CHECK(tl::to_string(Y(i) = tl::sum(j, tl::square(W(i, j) - b(j))) * (i != j)) ==
        "Y[i] = sum(j, square(W[i,j] - b[j])) (i != j)");
  constexpr auto prog = tl::program(Anc(x, y) = Parent(x, y), Anc(x, z) = Anc(x, y) * Parent(y, z));
  CHECK(tl::to_string(prog) == "Anc(x,y) = Parent(x,y)\nAnc(x,z) = Anc(x,y) Parent(y,z)\n");
}

TEST_CASE("bind adopts a raw buffer; a buffer too small is an error", "[interop][errors]") {
  constexpr auto prog = tl::program(Y(i) = W(i, j) * X(j));
  tl::store s(prog, tl::extents(i = 2, j = 3));
  std::vector<double> w = {1, 2, 3, 4, 5, 6};
  const std::vector<int> xs = {1, 1, 1};
  tl::bind(s, W, w.data(), w.size());
  tl::bind(s, X, xs.data(), xs.size());
  CHECK(s[W].data() == w.data());
  tl::eval(prog, s);
  CHECK(s[Y](0) == 6.0);
  CHECK(s[Y](1) == 15.0);
  CHECK_THROWS_WITH(tl::bind(s, W, w.data(), 5),
                    Catch::Contains("tensorlogic: bind W: the buffer holds 5 elements but the tensor needs 6"));
}
