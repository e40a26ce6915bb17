// nn convolution, pooling, graph and kernel-machine modules: gradients against central finite differences (double),
// and the forward equations against naive loops written here.
#include <catch2/catch.hpp>
#include <cmath>
#include <tensorlogic/tensorlogic.hpp>

#include "../support/finite_difference.hpp"

namespace tl = tensorlogic;
namespace nn = tensorlogic::nn;

namespace {
inline constexpr tl::index<"n"> n;
inline constexpr tl::index<"t"> t;
inline constexpr tl::index<"x"> x;
inline constexpr tl::index<"y"> y;
inline constexpr tl::index<"c"> c;
inline constexpr tl::index<"o"> o;
inline constexpr tl::index<"m"> m;
inline constexpr tl::index<"f"> f;
inline constexpr tl::tensor<"X", double, 3> X;
inline constexpr tl::tensor<"C", double, 3> C;
inline constexpr tl::tensor<"P", double, 3> P;
inline constexpr tl::tensor<"G", double, 3> G;
inline constexpr tl::tensor<"I", double, 4> Img;
inline constexpr tl::tensor<"C2", double, 4> C2;
inline constexpr tl::tensor<"P2", double, 4> P2;
inline constexpr tl::tensor<"G2", double, 4> G2;
inline constexpr tl::tensor<"V", double, 2> V;
inline constexpr tl::tensor<"Z", double, 2> Z;
inline constexpr tl::tensor<"Gz", double, 2> Gz;
inline constexpr tl::tensor<"S", double, 2> Sup;
inline constexpr tl::tensor<"K1", double, 1> K1;
inline constexpr tl::tensor<"Gk", double, 1> Gk;
inline constexpr tl::relation<"Neig", 2> Neig;
inline constexpr tl::tensor<"M", double, 2> M;
inline constexpr tl::tensor<"Wm", double, 2> Wm;
inline constexpr tl::tensor<"L", double, 0> L;
auto setup = [](auto& s) { tl::test::fill_all(s); };

}  // namespace

TEST_CASE("nn conv1d and average pooling: values and gradients", "[nn]") {
  constexpr nn::conv1d<"cv", double> conv;
  constexpr nn::avg_pool1d<2> pool;
  constexpr auto model = tl::compose(conv(C(n, t, o), X(n, t, c), nn::relu), pool(P(n, t, o), C(n, t, o)),
                                     L() = 1.0 * G(n, x, o) * P(n, x, o));
  constexpr auto train = tl::gradient(model, L, nn::parameters(conv));
  for (auto [nt, nu] : {std::pair{5, 2}, std::pair{6, 3}}) {
    const auto ext = tl::extents(n = 2, t = nt, x = (nt + 1) / 2, c = 2, o = 3, conv.u = nu);
    tl::test::check_parameters(model, train, L, nn::parameters(conv), ext, setup);
    tl::store s(model, ext);
    tl::test::fill_all(s);
    tl::eval(model, s);
    CHECK(s[P].extent(1) == static_cast<std::size_t>((nt + 1) / 2));
    CHECK(s[X].extent(1) == static_cast<std::size_t>(nt + nu - 1));  // a valid convolution's input
    double worst = 0;
    for (int a = 0; a < 2; ++a)
      for (int b = 0; b < (nt + 1) / 2; ++b)
        for (int k = 0; k < 3; ++k) {
          double pooled = 0;
          for (int tt = 2 * b; tt < std::min(2 * b + 2, nt); ++tt) {
            double z = s[conv.b](k);
            for (int ch = 0; ch < 2; ++ch)
              for (int u = 0; u < nu; ++u)
                z += s[conv.F](k, ch, u) * s[X](a, tt + u, ch);
            pooled += 0.5 * std::max(z, 0.0);
          }
          worst = std::max(worst, std::abs(pooled - s[P](a, b, k)));
        }
    CHECK(worst < 1e-12);
  }
}

TEST_CASE("nn conv2d and 2-D average pooling: gradients", "[nn]") {
  constexpr nn::conv2d<"cv2", double> conv;
  constexpr nn::avg_pool2d<2> pool;
  constexpr auto model = tl::compose(conv(C2(n, x, y, o), Img(n, x, y, c), nn::tanh), pool(P2(n, x, y, o), C2(n, x, y, o)),
                                     L() = 1.0 * G2(n, t, m, o) * P2(n, t, m, o));
  constexpr auto train = tl::gradient(model, L, nn::parameters(conv));
  tl::test::check_parameters(model, train, L, nn::parameters(conv),
                   tl::extents(n = 2, x = 4, y = 5, t = 2, m = 3, c = 2, o = 2, conv.u = 2, conv.v = 3), setup);
}

TEST_CASE("nn graph layer over a relation and a kernel machine: gradients", "[nn]") {
  constexpr nn::graph_layer<"g", double> gl;
  constexpr auto graph = tl::compose(gl(Z(x, o), V(x, f), Neig(x, y), nn::tanh), L() = 1.0 * Gz(x, o) * Z(x, o));
  constexpr auto graph_train = tl::gradient(graph, L, nn::parameters(gl, tl::wrt(V)));
  const auto gext = tl::extents(x = 5, y = 5, f = 3, o = 2);
  auto graph_setup = [](auto& s) {
    tl::test::fill_all(s);
    for (int a = 0; a < 5; ++a)
      for (int b = 0; b < 5; ++b) s[Neig](a, b) = (a + 2 * b) % 3 == 0;
  };
  tl::test::check_parameters(graph, graph_train, L, nn::parameters(gl, tl::wrt(V)), gext, graph_setup);
  constexpr nn::kernel_machine<"km", double> km;
  constexpr auto kernel = tl::compose(km(K1(n), Z(n, f), Sup(m, f), nn::sigmoid), L() = 1.0 * Gk(n) * K1(n));
  constexpr auto kernel_train = tl::gradient(kernel, L, nn::parameters(km, tl::wrt(Z)));
  tl::test::check_parameters(kernel, kernel_train, L, nn::parameters(km, tl::wrt(Z)), tl::extents(n = 3, m = 4, f = 2), setup);
}

TEST_CASE("max, min and logsumexp projections route their gradients", "[nn]") {
  // a text-CNN shape: conv1d + relu, global max pooling over time, a linear score
  constexpr nn::conv1d<"cv", double> conv;
  constexpr auto pooled = tl::compose(conv(C(n, t, o), X(n, t, c), nn::tanh), M(n, o) = tl::max(t, C(n, t, o)),
                                      L() = 1.0 * Wm(n, o) * M(n, o));
  constexpr auto pooled_train = tl::gradient(pooled, L, nn::parameters(conv));
  tl::test::check_parameters(pooled, pooled_train, L, nn::parameters(conv), tl::extents(n = 2, t = 5, c = 2, o = 3, conv.u = 2), setup);
  constexpr auto low = tl::program(Z(n, o) = tl::min(f, V(n, f) * Sup(o, f)), L() = 1.0 * Gz(n, o) * Z(n, o));
  constexpr auto low_train = tl::gradient(low, L, tl::wrt(V, Sup));
  tl::test::check_parameters(low, low_train, L, tl::wrt(V, Sup), tl::extents(n = 3, o = 2, f = 4), setup);
  constexpr auto soft = tl::program(Z(n, o) = tl::logsumexp(f, V(n, f) * Sup(o, f)), L() = 1.0 * Gz(n, o) * Z(n, o));
  constexpr auto soft_train = tl::gradient(soft, L, tl::wrt(V, Sup));
  tl::test::check_parameters(soft, soft_train, L, tl::wrt(V, Sup), tl::extents(n = 3, o = 2, f = 4), setup);
  // the arg-max gets the whole gradient: a hand check on one row
  tl::store s(pooled_train, tl::extents(n = 1, t = 4, c = 1, o = 1, conv.u = 1));
  tl::test::fill_all(s);
  tl::eval(pooled_train, s);
  int arg = 0;
  for (int k = 1; k < 4; ++k)
    if (s[C](0, k, 0) > s[C](0, arg, 0)) arg = k;
  // dL/dF = Wm * tanh'(pre) * X at the arg-max only
  const double y = s[C](0, arg, 0);
  CHECK(s[tl::grad(conv.F)](0, 0, 0) == Approx(s[Wm](0, 0) * (1 - y * y) * s[X](0, arg, 0)).epsilon(1e-12));
}
