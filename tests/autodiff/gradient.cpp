// Gradient programs (tensor-logic.md §1.3): every node type is checked against central finite differences in double
// precision, at several shapes.
#include <catch2/catch.hpp>
#include <functional>
#include <string_view>
#include <tensorlogic/tensorlogic.hpp>

#include "../support/finite_difference.hpp"
#include "../support/naive.hpp"
#include "symbols.hpp"

namespace tl = tensorlogic;
using tl::test::fill_random;
using tl::test::max_gradient_error;

using namespace gradient_test;

TEST_CASE("gradient of a tanh layer with a squared loss", "[autodiff]") {
  constexpr auto model = tl::program(H(i) = tl::tanh(W(i, j) * X(j) + b(i)), L() = 0.5 * tl::square(H(i) - T(i)));
  constexpr auto train = tl::gradient(model, L, tl::wrt(W, b, X));
  for (auto [ni, nj] : {std::pair{1, 1}, std::pair{3, 4}, std::pair{5, 2}}) {
    const auto ext = tl::extents(i = ni, j = nj);
    auto setup = [](auto& s) { tl::test::fill_all(s); };
    CHECK(max_gradient_error(model, train, L, W, ext, setup) < 1e-7);
    CHECK(max_gradient_error(model, train, L, b, ext, setup) < 1e-7);
    CHECK(max_gradient_error(model, train, L, X, ext, setup) < 1e-7);
  }
}


TEST_CASE("gradients through every elementwise function", "[autodiff]") {
  const auto ext = tl::extents(i = 4, j = 3);
  constexpr auto m1 = tl::program(H(i) = tl::exp(W(i, j) * X(j)) + tl::sigmoid(T(i)) * tl::relu(b(i) - 0.1),
                                  L() = tl::sum(i, tl::square(H(i))));
  TL_CHECK_GRADIENT(m1, W, ext);
  TL_CHECK_GRADIENT(m1, X, ext);
  TL_CHECK_GRADIENT(m1, b, ext);
  constexpr auto m2 = tl::program(H(i) = tl::log(2.0 + tl::abs(W(i, j))) * tl::sqrt(1.5 + X(j)) / (2.0 + b(i)),
                                  L() = 1.0 * H(i));
  TL_CHECK_GRADIENT(m2, W, ext);
  TL_CHECK_GRADIENT(m2, X, ext);
  TL_CHECK_GRADIENT(m2, b, ext);
  constexpr auto m3 = tl::program(H(i) = tl::pow(1.5 + X(i), 1.7) - tl::sigmoid(b(i), tau) + -X(i),
                                  L() = 1.0 * tl::square(H(i)));
  TL_CHECK_GRADIENT(m3, X, tl::extents(i = 5));
  TL_CHECK_GRADIENT(m3, b, tl::extents(i = 5));
}

TEST_CASE("gradients route through min, max, clamp and where, and stop at stop_grad", "[autodiff]") {
  const auto ext = tl::extents(i = 6);
  constexpr auto m = tl::program(H(i) = tl::min(X(i), b(i)) + tl::max(X(i), 0.2) + tl::clamp(b(i), -0.3, 0.4) +
                                            tl::where(X(i), b(i), 2.0 * b(i)) + tl::stop_grad(b(i)) * X(i),
                                 L() = 1.0 * tl::square(H(i)));
  TL_CHECK_GRADIENT(m, X, ext);  // stop_grad(b) X: X's path is ordinary
  constexpr auto mb = tl::program(H(i) = tl::min(X(i), b(i)) + tl::clamp(b(i), -0.3, 0.4) +
                                             tl::where(X(i), b(i), 2.0 * b(i)),
                                  L() = 1.0 * tl::square(H(i)));
  TL_CHECK_GRADIENT(mb, b, ext);
  // b under stop_grad only: no gradient equation reaches b
  constexpr auto cut = tl::program(H(i) = tl::stop_grad(b(i)) * X(i), L() = 1.0 * H(i));
  // (no type alias of the program: nvcc's generated host code loses it)
  constexpr auto cut_train = tl::gradient(cut, L, tl::wrt(b, X));
  STATIC_REQUIRE(!cut_train.contains<tl::grad_symbol<std::remove_cvref_t<decltype(b)>>>);
  STATIC_REQUIRE(cut_train.contains<tl::grad_symbol<std::remove_cvref_t<decltype(X)>>>);
}

TEST_CASE("gradients through an outer function chain and same-LHS sums", "[autodiff]") {
  const auto ext = tl::extents(i = 3, j = 4, k = 2);
  constexpr auto m = tl::program(H(i) = tl::sigmoid(W(i, j) * X(j)), H(i) = tl::relu(V(i, k) * b(k)) - 0.05,
                                 L() = 1.0 * tl::square(H(i) - T(i)));
  TL_CHECK_GRADIENT(m, W, ext);
  TL_CHECK_GRADIENT(m, V, ext);
  TL_CHECK_GRADIENT(m, X, ext);
}

