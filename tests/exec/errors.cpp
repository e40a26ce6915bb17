// Bad run-time input throws tl::error naming the culprit, before any kernel runs (nothing half-written).
#include <catch2/catch.hpp>
#include <tensorlogic/tensorlogic.hpp>
#include <xtensor/xarray.hpp>

namespace tl = tensorlogic;

namespace {
inline constexpr tl::index<"i"> i;
inline constexpr tl::index<"j"> j;
inline constexpr tl::index<"k", 4> k;
inline constexpr tl::tensor<"W", double, 2> W;
inline constexpr tl::tensor<"X", double, 1> X;
inline constexpr tl::tensor<"Y", double, 1> Y;
inline constexpr tl::tensor<"Z", double, 1> Z;
inline constexpr tl::scalar<"eps", double> eps;
constexpr auto prog = tl::program(Y(i) = W(i, j) * X(j) * eps, Z(k) = X(k));
}  // namespace

TEST_CASE("an index without an extent is named", "[errors]") {
  CHECK_THROWS_WITH(tl::store(prog, tl::extents(i = 3)), Catch::Contains("tensorlogic: index j has no extent"));
}

TEST_CASE("an index unknown to the program is named", "[errors]") {
  constexpr tl::index<"q"> q;
  CHECK_THROWS_WITH(tl::store(prog, tl::extents(i = 3, j = 4, q = 2)),
                    Catch::Contains("tensorlogic: extents: index q is not used by the program"));
}

TEST_CASE("a static extent cannot be rebound", "[errors]") {
  CHECK_THROWS_WITH(tl::store(prog, tl::extents(i = 3, j = 4, k = 5)),
                    Catch::Contains("index k has static extent 4 but was bound to 5"));
}

TEST_CASE("conflicting extents on one dimension are named", "[errors]") {
  // X is subscripted by j and by k (static 4): j = 3 conflicts
  CHECK_THROWS_WITH(tl::store(prog, tl::extents(i = 2, j = 3)),
                    Catch::Contains("tensor X dimension 0") && Catch::Contains("index k has extent 4"));
}

TEST_CASE("an unbound input is named and nothing runs", "[errors]") {
  tl::store s(prog, tl::extents(i = 2, j = 4));
  s[W](0, 0) = 1;
  tl::bind(s, eps, 1.0);
  s[Y](0) = 42;  // must survive the failed eval
  const auto xs = s[X];  // const access does not bind
  (void)xs;
  tl::store<std::remove_cvref_t<decltype(prog)>>* p = &s;
  (void)p;
  tl::store t(prog, tl::extents(i = 2, j = 4));
  t[W](0, 0) = 1;
  t[Y](0) = 42;
  tl::bind(t, eps, 1.0);
  CHECK_THROWS_WITH(tl::eval(prog, t), Catch::Contains("tensorlogic: tensor X is read by the program but was never bound"));
  CHECK(t[Y](0) == 42);
}

TEST_CASE("a view of another shape assigned through s[T] is named and nothing runs", "[errors]") {
  // s[T] = v replaces the store's view without tl::bind's checks; tl::eval refuses it before any kernel writes
  tl::store s(prog, tl::extents(i = 2, j = 4));
  tl::bind(s, eps, 1.0);
  s[W](0, 0) = 1;
  s[X](0) = 1;
  using view_t = std::remove_cvref_t<decltype(s[Y])>;
  view_t bigger("Y, larger", 3);
  for (int a = 0; a < 3; ++a) bigger(a) = 42;
  s[Y] = bigger;
  CHECK_THROWS_WITH(tl::eval(prog, s), Catch::Contains("tensorlogic: tensor Y: dimension 0 (index i) of its view has "
                                                       "extent 3 but the store's is 2"));
  for (int a = 0; a < 3; ++a) CHECK(bigger(a) == 42);
  Kokkos::View<double**, Kokkos::LayoutRight, Kokkos::HostSpace> w("w", 2, 5);
  s[W] = w;  // an input too
  s[Y] = view_t("Y", 2);
  CHECK_THROWS_WITH(tl::eval(prog, s), Catch::Contains("tensor W: dimension 1 (index j) of its view has extent 5"));
  s[W] = Kokkos::View<double**, Kokkos::LayoutRight, Kokkos::HostSpace>("W", 2, 4);
  CHECK_NOTHROW(tl::eval(prog, s));  // the store's extents again
}

TEST_CASE("binding a view of the wrong extent names tensor, dimension and index", "[errors]") {
  tl::store s(prog, tl::extents(i = 2, j = 4));
  Kokkos::View<double**, Kokkos::LayoutRight, Kokkos::HostSpace> w("w", 2, 5);
  CHECK_THROWS_WITH(tl::bind(s, W, w), Catch::Contains("tensorlogic: bind W: dimension 1 (index j) has extent 4 in "
                                                       "the store but 5 in the bound data"));
  xt::xarray<double> xa = xt::zeros<double>({3});
  CHECK_THROWS_WITH(tl::bind(s, X, xa), Catch::Contains("bind X: dimension 0"));
}
