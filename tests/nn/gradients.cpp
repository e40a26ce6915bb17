// nn modules: every module's gradient program against central finite differences of its forward program (double
// precision, two shapes each), and the module equations against naive loops written here.
#include <catch2/catch.hpp>
#include <cmath>
#include <tensorlogic/tensorlogic.hpp>

#include "../support/finite_difference.hpp"

// Every parameter of `params` (a tl::wrt list) against finite differences of `model` (L and setup in scope).
#define TL_CHECK_PARAMETERS(model, params, ext)                                     \
  do {                                                                              \
    constexpr auto train_ = tensorlogic::gradient(model, L, params);                \
    tensorlogic::test::check_parameters(model, train_, L, params, ext, setup);      \
  } while (0)

namespace tl = tensorlogic;
namespace nn = tensorlogic::nn;
using tl::test::max_gradient_error;

namespace {
inline constexpr tl::index<"n"> n;
inline constexpr tl::index<"p"> p;
inline constexpr tl::index<"q"> q;
inline constexpr tl::index<"e"> e;
inline constexpr tl::index<"f"> f;
inline constexpr tl::index<"o"> o;
inline constexpr tl::index<"v"> v;
inline constexpr tl::index<"m"> m;
inline constexpr tl::index<"t"> t;
inline constexpr tl::index<"x"> x;
inline constexpr tl::index<"y"> y;
inline constexpr tl::index<"c"> c;
inline constexpr tl::tensor<"X", double, 2> X;
inline constexpr tl::tensor<"X3", double, 3> X3;
inline constexpr tl::tensor<"X4", double, 4> X4;
inline constexpr tl::tensor<"Y", double, 2> Y;
inline constexpr tl::tensor<"Y1", double, 1> Y1;
inline constexpr tl::tensor<"Y3", double, 3> Y3;
inline constexpr tl::tensor<"Y4", double, 4> Y4;
inline constexpr tl::tensor<"G", double, 2> G;
inline constexpr tl::tensor<"G3", double, 3> G3;
inline constexpr tl::tensor<"Z3", double, 3> Z3;
inline constexpr tl::tensor<"W3", double, 3> W3;
inline constexpr tl::tensor<"S", double, 2> Sup;
inline constexpr tl::relation<"Neig", 2> Neig;
inline constexpr tl::tensor<"L", double, 0> L;

auto setup = [](auto& s) { tl::test::fill_all(s); };

}  // namespace

TEST_CASE("nn names: prefixes make parameter names", "[nn]") {
  constexpr nn::linear<"enc1", double> enc1;
  STATIC_REQUIRE(decltype(enc1.W)::name.view() == "enc1.W");
  STATIC_REQUIRE(decltype(nn::mlp<"m", double, 2>::layer<1>.b)::name.view() == "m.1.b");
  STATIC_REQUIRE(decltype(nn::transformer_block<"blk">::att.Wq)::name.view() == "blk.att.Wq");
  constexpr auto prog = enc1(Y(n, o), X(n, f));
  CHECK(tl::to_string(prog) == "Y[n,o] = enc1.W[o,f] X[n,f] + enc1.b[o]\n");
}

TEST_CASE("nn gradients: linear and mlp", "[nn]") {
  constexpr nn::linear<"l", double> lin;
  constexpr auto m1 = tl::compose(lin(Y(n, o), X(n, f), nn::tanh), L() = 1.0 * G(n, o) * Y(n, o));
  constexpr nn::mlp<"m", double, 2> net;
  constexpr auto m2 = tl::compose(net(Y(n, o), X(n, f)), L() = 0.5 * tl::square(Y(n, o) - G(n, o)));
  for (auto [nn_, nf, no] : {std::tuple{1, 2, 3}, std::tuple{4, 3, 2}}) {
    const auto ext = tl::extents(n = nn_, f = nf, o = no);
    TL_CHECK_PARAMETERS(m1, nn::parameters(lin), ext);
    const auto ext2 = tl::extents(n = nn_, f = nf, o = no, net.h<0> = 3, net.h<1> = 2);
    TL_CHECK_PARAMETERS(m2, nn::parameters(net), ext2);
  }
}

TEST_CASE("nn gradients: embedding, layer norm, rms norm", "[nn]") {
  constexpr nn::embedding<"emb", double> emb;
  constexpr nn::layer_norm<"ln", double> ln;
  constexpr nn::rms_norm<"rms", double> rms;
  constexpr auto model = tl::compose(emb(X3(n, p, e), Y3(n, p, v)), ln(G3(n, p, e), X3(n, p, e)),
                                     rms(Z3(n, p, e), G3(n, p, e)), L() = 1.0 * tl::square(Z3(n, p, e)) * W3(n, p, e));
  for (auto [np, ne] : {std::pair{2, 3}, std::pair{3, 5}}) {
    const auto ext = tl::extents(n = 2, p = np, e = ne, v = 4);
    TL_CHECK_PARAMETERS(model, nn::parameters(emb, ln, rms), ext);
  }
}
