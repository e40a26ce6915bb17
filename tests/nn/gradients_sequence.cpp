// nn sequence modules: attention (plain, causal, sink + window, rotary), the transformer block at two shapes, and the RNN
// (backpropagation through time by tl::fixpoint on the gradient program), against central finite differences in
// double precision.
#include <catch2/catch.hpp>
#include <cmath>
#include <tensorlogic/tensorlogic.hpp>

#include "../support/finite_difference.hpp"

namespace tl = tensorlogic;
namespace nn = tensorlogic::nn;

namespace {
inline constexpr tl::index<"n"> n;
inline constexpr tl::index<"p"> p;
inline constexpr tl::index<"q"> q;
inline constexpr tl::index<"e"> e;
inline constexpr tl::index<"i"> i;
inline constexpr tl::index<"j"> j;
inline constexpr tl::index<"t"> t;
inline constexpr tl::tensor<"X", double, 3> X;
inline constexpr tl::tensor<"Y", double, 3> Y;
inline constexpr tl::tensor<"G", double, 3> G;
inline constexpr tl::tensor<"H", double, 3> H;
inline constexpr tl::tensor<"U", double, 3> U;
inline constexpr tl::tensor<"L", double, 0> L;
auto setup = [](auto& s) { tl::test::fill_all(s); };

}  // namespace

TEST_CASE("nn gradients: attention, plain and causal", "[nn]") {
  constexpr nn::attention<"a", double> att;
  constexpr auto plain = tl::compose(att(Y(n, p, e), X(n, p, e), q), L() = 1.0 * G(n, p, e) * Y(n, p, e));
  constexpr nn::attention<"c", double, nn::mask::causal> catt;
  constexpr auto causal = tl::compose(catt(Y(n, p, e), X(n, p, e), q), L() = 1.0 * G(n, p, e) * Y(n, p, e));
  constexpr auto plain_train = tl::gradient(plain, L, nn::parameters(att, tl::wrt(X)));
  constexpr auto causal_train = tl::gradient(causal, L, nn::parameters(catt, tl::wrt(X)));
  for (auto [np, nh, nd] : {std::tuple{3, 1, 2}, std::tuple{4, 2, 3}}) {
    tl::test::check_parameters(plain, plain_train, L, nn::parameters(att, tl::wrt(X)),
                     tl::extents(n = 2, p = np, q = np, e = 3, att.head = nh, att.hd = nd), setup);
    tl::test::check_parameters(causal, causal_train, L, nn::parameters(catt, tl::wrt(X)),
                     tl::extents(n = 2, p = np, q = np, e = 3, catt.head = nh, catt.hd = nd), setup);
  }
}

TEST_CASE("nn gradients: attention with a sink + window mask", "[nn]") {
  // key q visible from p when q <= p and (q < 1 or p - q < 2): at p = 4 the keys 0, 3, 4
  constexpr nn::attention<"w", double, nn::mask::sink_window(1, 2)> watt;
  constexpr auto windowed = tl::compose(watt(Y(n, p, e), X(n, p, e), q), L() = 1.0 * G(n, p, e) * Y(n, p, e));
  constexpr auto windowed_train = tl::gradient(windowed, L, nn::parameters(watt, tl::wrt(X)));
  for (auto [np, nh, nd] : {std::tuple{5, 1, 2}, std::tuple{6, 2, 3}})
    tl::test::check_parameters(windowed, windowed_train, L, nn::parameters(watt, tl::wrt(X)),
                               tl::extents(n = 2, p = np, q = np, e = 3, watt.head = nh, watt.hd = nd), setup);
}

TEST_CASE("nn gradients: attention with a rotary position embedding", "[nn]") {
  // head width 4 (static), rotate-half pairs (0, 2) and (1, 3); the tables are random constants here (fill_all)
  constexpr nn::attention<"r", double, nn::mask::causal.rope(4)> ratt;
  constexpr auto rotary = tl::compose(ratt(Y(n, p, e), X(n, p, e), q), L() = 1.0 * G(n, p, e) * Y(n, p, e));
  constexpr auto rotary_train = tl::gradient(rotary, L, nn::parameters(ratt, tl::wrt(X)));
  for (auto [np, nh] : {std::tuple{3, 1}, std::tuple{5, 2}})
    tl::test::check_parameters(rotary, rotary_train, L, nn::parameters(ratt, tl::wrt(X)),
                               tl::extents(n = 2, p = np, q = np, e = 3, ratt.head = nh), setup);
}

TEST_CASE("nn gradients: transformer block", "[nn]") {
  constexpr nn::transformer_block<"blk", double> blk;
  constexpr auto model = tl::compose(blk(Y(n, p, e), X(n, p, e), q), L() = 1.0 * G(n, p, e) * Y(n, p, e));
  constexpr auto train = tl::gradient(model, L, nn::parameters(blk, tl::wrt(X)));
  // two shapes: a second batch size, sequence length, width, head count and hidden width
  tl::test::check_parameters(model, train, L, nn::parameters(blk, tl::wrt(X)),
                   tl::extents(n = 2, p = 3, q = 3, e = 4, blk.att.head = 2, blk.att.hd = 2, blk.ff.h<0> = 5), setup);
  tl::test::check_parameters(model, train, L, nn::parameters(blk, tl::wrt(X)),
                   tl::extents(n = 1, p = 5, q = 5, e = 6, blk.att.head = 3, blk.att.hd = 2, blk.ff.h<0> = 7), setup);
}

TEST_CASE("nn gradients: rnn through time", "[nn]") {
  constexpr nn::rnn<"r", double> cell;
  // every state feeds the loss, so the gradient of each step flows back through all earlier ones
  constexpr auto model = tl::compose(cell(H(t, n, j), X(t, n, i)), L() = 1.0 * U(t, n, j) * H(t, n, j));
  constexpr auto train = tl::gradient(model, L, nn::parameters(cell, tl::wrt(X)));
  for (int steps : {1, 4}) {
    const auto ext = tl::extents(t = steps + 1, n = 2, i = 3, j = 2, cell.k = 2);
    tl::test::check_parameters<true>(model, train, L, nn::parameters(cell, tl::wrt(X)), ext, setup);
  }
}
