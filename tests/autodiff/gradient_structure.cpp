// Gradient programs through normalizers, explicit sums, index expressions and outer chains, against central
// finite differences in double precision.
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

TEST_CASE("gradients through softmax, log_softmax and lnorm", "[autodiff]") {
  const auto ext = tl::extents(i = 3, j = 5, k = 4);
  constexpr auto sm = tl::program(Z(i, j) = tl::softmax(j, W(i, k) * V(j, k)), L() = 1.0 * Z(i, j) * Z(i, j) * T(j));
  TL_CHECK_GRADIENT(sm, W, ext);
  TL_CHECK_GRADIENT(sm, V, ext);
  const auto ext2 = tl::extents(i = 3, j = 5);
  constexpr auto lsm = tl::program(Z(i, j) = tl::log_softmax(j, W(i, j) * 2.0), L() = 1.0 * Z(i, j) * T(j));
  TL_CHECK_GRADIENT(lsm, W, ext2);
  constexpr auto ln = tl::program(Z(i, j) = tl::lnorm(j, W(i, j) + V(i, j) * X(j)), L() = 1.0 * Z(i, j) * Z(i, j) * T(j));
  TL_CHECK_GRADIENT(ln, W, ext2);
  TL_CHECK_GRADIENT(ln, X, ext2);
}

TEST_CASE("gradients through explicit sums and index expressions", "[autodiff]") {
  constexpr auto sums = tl::program(H(i) = tl::sum(j, tl::square(W(i, j) - X(j))), L() = 1.0 * H(i) * T(i));
  TL_CHECK_GRADIENT(sums, W, tl::extents(i = 3, j = 4));
  TL_CHECK_GRADIENT(sums, X, tl::extents(i = 3, j = 4));
  // a shift's adjoint is the opposite shift; a pooling x / 2 scatters back
  constexpr auto shift = tl::program(H(t) = X(t + 1) * b(t) + X(t / 2), L() = 1.0 * tl::square(H(t)), T(t) = X(t));
  TL_CHECK_GRADIENT(shift, X, tl::extents(t = 7));
  TL_CHECK_GRADIENT(shift, b, tl::extents(t = 7));
}

TEST_CASE("the gradient program is a program: it prints as Tensor Logic", "[autodiff][to_string]") {
  constexpr auto model = tl::program(H(i) = tl::tanh(W(i, j) * X(j)), L() = 0.5 * tl::square(H(i) - T(i)));
  constexpr auto train = tl::gradient(model, L, tl::wrt(W));
  const std::string text = tl::to_string(train);
  CHECK_THAT(text, Catch::Contains("grad(W)[i,j] = grad(pre0(H))[i] X[j]"));
  CHECK_THAT(text, Catch::Contains("grad(L) = 1"));
  STATIC_REQUIRE(train.contains<tl::grad_symbol<std::remove_cvref_t<decltype(W)>>>);
  STATIC_REQUIRE(!train.contains<tl::grad_symbol<std::remove_cvref_t<decltype(T)>>>);  // constants get no adjoint
}

TEST_CASE("outer chains: negation, functions over projections in any argument, nested normalizers", "[autodiff]") {
  constexpr tl::tensor<"G", double, 1> G;
  constexpr tl::tensor<"K", double, 2> Kt;
  const auto ext = tl::extents(i = 3, j = 4);
  // -tanh(sum_j W X): the negation is on the chain, the tanh applies after the projection
  constexpr auto neg = tl::program(H(i) = -tl::tanh(W(i, j) * X(j)), L() = 1.0 * H(i) * T(i));
  TL_CHECK_GRADIENT(neg, W, ext);
  // both arguments of max are projected
  constexpr auto both = tl::program(H(i) = tl::max(W(i, j) * X(j), V(i, k) * b(k)), L() = 1.0 * tl::square(H(i)));
  TL_CHECK_GRADIENT(both, W, tl::extents(i = 3, j = 4, k = 2));
  TL_CHECK_GRADIENT(both, V, tl::extents(i = 3, j = 4, k = 2));
  TL_CHECK_GRADIENT(both, b, tl::extents(i = 3, j = 4, k = 2));
  // a normalizer over a function of a projection, and a causal mask written with where
  constexpr auto soft = tl::program(Z(i, j) = tl::softmax(j, tl::tanh(W(i, k) * Kt(j, k))), L() = 1.0 * Z(i, j) * Z(i, j) * T(j));
  TL_CHECK_GRADIENT(soft, W, tl::extents(i = 3, j = 4, k = 2));
  constexpr auto causal = tl::program(Z(i, j) = tl::softmax(j, tl::where(j <= i, W(i, k) * Kt(j, k), -1e30)),
                                      L() = 1.0 * Z(i, j) * Z(i, j) * T(j));
  TL_CHECK_GRADIENT(causal, W, tl::extents(i = 4, j = 4, k = 3));
  TL_CHECK_GRADIENT(causal, Kt, tl::extents(i = 4, j = 4, k = 3));
  // layer norm with its scale as a factor of the same term
  constexpr auto ln = tl::program(Z(i, j) = G(j) * tl::lnorm(j, W(i, j)) + b(j), L() = 1.0 * Z(i, j) * Z(i, j) * T(j));
  TL_CHECK_GRADIENT(ln, W, tl::extents(i = 3, j = 5));
  TL_CHECK_GRADIENT(ln, G, tl::extents(i = 3, j = 5));
}

TEST_CASE("relations computed from tensors are constants of the gradient program", "[autodiff]") {
  constexpr tl::relation<"Big", 1> Big;
  constexpr auto m = tl::program(Big(i) = X(i) - 0.1, L() = 1.0 * Big(i) * tl::square(X(i)));
  TL_CHECK_GRADIENT(m, X, tl::extents(i = 6));
}

TEST_CASE("a computed tensor read only under stop_grad carries no adjoint; its gradient path is zero", "[autodiff]") {
  // H = exp(X) is read by the loss only under stop_grad, so grad(H) does not exist and grad(X) = T alone.
  constexpr auto model = tl::program(H(i) = tl::exp(X(i)), L() = tl::stop_grad(H(i)) * T(i) + X(i) * T(i));
  constexpr auto train = tl::gradient(model, L, tl::wrt(X));
  const std::string text = tl::to_string(train);
  CHECK(text.find("grad(H)") == std::string::npos);
  tl::store s(train, tl::extents(i = 4));
  const std::vector<double> x = {0.5, -1.0, 2.0, 0.25}, t = {1.0, 2.0, -3.0, 0.5};
  tl::bind(s, X, x.data(), x.size());
  tl::bind(s, T, t.data(), t.size());
  tl::eval(train, s);
  const auto g = tl::to_xtensor(s[tl::grad(X)]);
  for (std::size_t n = 0; n < 4; ++n) CHECK(g(n) == t[n]);
}
