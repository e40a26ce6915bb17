// The gradient of a convolution's input (a read X(t + u) whose subscript combines indices), strided convolutions
// (X(2 t + u), filter width dynamic) and windowed max pooling: against central finite differences (double), the
// printed gradient equations, and the extents of the gradients.
#include <catch2/catch.hpp>
#include <string>
#include <type_traits>
#include <tensorlogic/tensorlogic.hpp>

#include "../support/finite_difference.hpp"

namespace tl = tensorlogic;
namespace nn = tensorlogic::nn;

namespace {
inline constexpr tl::index<"n"> n;
inline constexpr tl::index<"t"> t;
inline constexpr tl::index<"s"> s;
inline constexpr tl::index<"x"> x;
inline constexpr tl::index<"y"> y;
inline constexpr tl::index<"a"> a;
inline constexpr tl::index<"b"> b;
inline constexpr tl::index<"c"> c;
inline constexpr tl::index<"o"> o;
inline constexpr tl::index<"m"> m;
inline constexpr tl::index<"p"> p;
inline constexpr tl::tensor<"X", double, 3> X;
inline constexpr tl::tensor<"H", double, 3> H;
inline constexpr tl::tensor<"C", double, 3> C;
inline constexpr tl::tensor<"M", double, 3> M;
inline constexpr tl::tensor<"G", double, 3> G;
inline constexpr tl::tensor<"I", double, 4> Img;
inline constexpr tl::tensor<"C2", double, 4> C2;
inline constexpr tl::tensor<"M2", double, 4> M2;
inline constexpr tl::tensor<"G2", double, 4> G2;
inline constexpr tl::tensor<"L", double, 0> L;
inline constexpr tl::index<"u"> u;
inline constexpr tl::index<"v"> v;
inline constexpr tl::tensor<"V", double, 1> V;
inline constexpr tl::tensor<"F", double, 1> F;
inline constexpr tl::tensor<"K", double, 1> K;
inline constexpr tl::tensor<"Y", double, 1> Y;
inline constexpr tl::tensor<"Z", double, 1> Z;
inline constexpr tl::tensor<"W", double, 1> W;
auto setup = [](auto& st) { tl::test::fill_all(st); };

inline constexpr nn::conv1d<"cv", double> conv;
inline constexpr nn::conv1d<"cw", double> conv_b;
inline constexpr nn::conv2d<"cv2", double> conv2;
inline constexpr nn::conv1d<"st", double, 2> conv_s2;
inline constexpr nn::conv1d<"s3", double, 3> conv_s3;
inline constexpr nn::conv2d<"sq", double, 2> conv2_s2;
}  // namespace

TEST_CASE("conv1d: the input's gradient, and its equation", "[nn]") {
  constexpr auto model = tl::compose(conv(C(n, t, o), X(n, t, c), nn::tanh), L() = 1.0 * G(n, t, o) * C(n, t, o));
  constexpr auto params = nn::parameters(conv, tl::wrt(X));
  constexpr auto train = tl::gradient(model, L, params);
  // the solved subscript: X(n, t + u, c) is differentiated along X#1, the positions of X, with u := X#1 - t (the
  // filter's read bounds t)
  const std::string text = tl::to_string(train);
  INFO(text);
  CHECK(text.find("grad(X)[n,X#1,c] = grad(pre0(C))[n,t,o] cv.F[o,c,X#1-t]") != std::string::npos);
  for (auto [nt, nu] : {std::pair{5, 2}, std::pair{4, 4}}) {
    const auto ext = tl::extents(n = 2, t = nt, c = 2, o = 3, conv.u = nu);
    tl::test::check_parameters(model, train, L, params, ext, setup);
    tl::store st(train, ext);
    CHECK(st[tl::grad(X)].extent(1) == static_cast<std::size_t>(nt + nu - 1));  // X's own extent
  }
  // X#1 takes X's extent from the store; binding it to another one is an error naming it
  constexpr tl::dimension_index<std::remove_cvref_t<decltype(X)>, 1> along_x;
  CHECK_THROWS_WITH(tl::store(train, tl::extents(n = 1, t = 3, c = 1, o = 1, conv.u = 2, along_x = 5)),
                    Catch::Contains("index X#1 runs along a dimension of extent 4 but was bound to 5"));
  CHECK_NOTHROW(tl::store(train, tl::extents(n = 1, t = 3, c = 1, o = 1, conv.u = 2, along_x = 4)));
}

TEST_CASE("conv2d: the input's gradient", "[nn]") {
  constexpr auto model =
      tl::compose(conv2(C2(n, x, y, o), Img(n, x, y, c), nn::relu), L() = 1.0 * G2(n, x, y, o) * C2(n, x, y, o));
  constexpr auto params = nn::parameters(conv2, tl::wrt(Img));
  constexpr auto train = tl::gradient(model, L, params);
  for (auto [nx, ny, nu, nv] : {std::tuple{3, 4, 2, 3}, std::tuple{4, 2, 3, 1}}) {
    const auto ext = tl::extents(n = 2, x = nx, y = ny, c = 2, o = 2, conv2.u = nu, conv2.v = nv);
    tl::test::check_parameters(model, train, L, params, ext, setup);
    tl::store st(train, ext);
    CHECK(st[tl::grad(Img)].extent(1) == static_cast<std::size_t>(nx + nu - 1));
    CHECK(st[tl::grad(Img)].extent(2) == static_cast<std::size_t>(ny + nv - 1));
  }
}

TEST_CASE("two stacked conv1d layers and 1-D max pooling: every gradient", "[nn]") {
  constexpr nn::max_pool1d<2> pool;
  // X (|t| + |cw.u| - 1 positions) -> H (|t|) -> C (|s|, |s| = |t| - |cv.u| + 1) -> M (|p| = |s| / 2); tanh, not
  // relu, so that no window holds a tie (every tied cell would get the whole gradient, and differences disagree)
  constexpr auto model = tl::compose(conv_b(H(n, t, m), X(n, t, c), nn::tanh), conv(C(n, s, o), H(n, s, m), nn::tanh),
                                     pool(M(n, p, o), C(n, s, o)), L() = 1.0 * G(n, p, o) * M(n, p, o));
  constexpr auto params = nn::parameters(conv_b, conv, tl::wrt(X));
  constexpr auto train = tl::gradient(model, L, params);
  const std::string text = tl::to_string(train);
  INFO(text);
  // the arg-max of each window gets the gradient; the window index w is solved for (0 <= w <= 1)
  CHECK(text.find("grad(C)[n,C#1,o] = (C#1-2*p >= 0) (C#1-2*p <= 1) grad(M)[n,p,o] where(M[n,p,o] - C[n,C#1,o], 0, 1)") !=
        std::string::npos);
  for (auto [nt, nu, nw] : {std::tuple{6, 3, 2}, std::tuple{7, 2, 3}}) {
    const int ns = nt - nu + 1;
    const auto ext = tl::extents(n = 2, t = nt, s = ns, p = ns / 2, c = 2, m = 3, o = 2, conv.u = nu, conv_b.u = nw);
    tl::test::check_parameters(model, train, L, params, ext, setup);
  }
  // by hand: M(0, 0, 0) = max(C(0, 0, 0), C(0, 1, 0)) sends grad(M) to the larger cell only
  tl::store st(train, tl::extents(n = 1, t = 4, s = 4, p = 2, c = 1, m = 1, o = 1, conv.u = 1, conv_b.u = 1));
  tl::test::fill_all(st);
  tl::eval(train, st);
  const int arg = st[C](0, 1, 0) > st[C](0, 0, 0) ? 1 : 0;
  CHECK(st[tl::grad(C)](0, arg, 0) == Approx(st[G](0, 0, 0)).epsilon(1e-12));
  CHECK(st[tl::grad(C)](0, 1 - arg, 0) == 0.0);
}

TEST_CASE("conv2d and 2-D max pooling: gradients", "[nn]") {
  constexpr nn::max_pool2d<2> pool;
  constexpr auto model = tl::compose(conv2(C2(n, x, y, o), Img(n, x, y, c), nn::tanh), pool(M2(n, a, b, o), C2(n, x, y, o)),
                                     L() = 1.0 * G2(n, a, b, o) * M2(n, a, b, o));
  constexpr auto params = nn::parameters(conv2, tl::wrt(Img));
  constexpr auto train = tl::gradient(model, L, params);
  for (auto [nx, ny] : {std::pair{4, 4}, std::pair{5, 6}}) {
    const auto ext = tl::extents(n = 2, x = nx, y = ny, a = nx / 2, b = ny / 2, c = 2, o = 2, conv2.u = 2, conv2.v = 3);
    tl::test::check_parameters(model, train, L, params, ext, setup);
  }
}

TEST_CASE("a tensor read by two convolutions, one output also read shifted: the subscript is solved for the filter", "[nn]") {
  // both reads are solved for the filter index (bounded by F(u), K(v)); Y is also read at s + 1, so grad(Y) has cells
  // beyond Y's and could not bound t.
  constexpr auto model = tl::program(Y(t) = F(u) * V(t + u), Z(s) = K(v) * V(s + v),
                                     L() = 1.0 * W(t) * Y(t) + 0.5 * Z(s) * Y(s + 1));
  constexpr auto train = tl::gradient(model, L, tl::wrt(V, F, K));
  const std::string text = tl::to_string(train);
  INFO(text);
  CHECK(text.find("grad(V)[V#0] = grad(Y)[t] F[V#0-t]") != std::string::npos);
  CHECK(text.find("grad(V)[V#0] = grad(Z)[s] K[V#0-s]") != std::string::npos);
  tl::test::check_parameters(model, train, L, tl::wrt(V, F, K), tl::extents(t = 5, u = 3, s = 6, v = 2), setup);
}

TEST_CASE("strided convolutions with a filter width of dynamic extent: every gradient", "[nn]") {
  // X(n, 2 t + u, c): solved for the filter index u (coefficient 1), not for t (coefficient 2); the store derives
  // |X| = 2 (|t| - 1) + |u| along positions
  constexpr auto model = tl::compose(conv_s2(C(n, t, o), X(n, t, c), nn::tanh), L() = 1.0 * G(n, t, o) * C(n, t, o));
  constexpr auto params = nn::parameters(conv_s2, tl::wrt(X));
  constexpr auto train = tl::gradient(model, L, params);
  const std::string text = tl::to_string(train);
  INFO(text);
  CHECK(text.find("grad(X)[n,X#1,c] = grad(pre0(C))[n,t,o] st.F[o,c,X#1-2*t]") != std::string::npos);
  for (auto [nt, nu] : {std::pair{4, 3}, std::pair{5, 2}, std::pair{3, 5}}) {
    const auto ext = tl::extents(n = 2, t = nt, c = 2, o = 3, conv_s2.u = nu);
    tl::test::check_parameters(model, train, L, params, ext, setup);
    tl::store st(train, ext);
    CHECK(st[tl::grad(X)].extent(1) == static_cast<std::size_t>(2 * (nt - 1) + nu));
  }
  // stride 3 with a filter narrower than the stride (positions no output reads get a zero gradient), then stride 3
  // stacked on stride 1
  constexpr auto stacked = tl::compose(conv_b(H(n, t, m), X(n, t, c), nn::tanh), conv_s3(C(n, s, o), H(n, s, m), nn::tanh),
                                       L() = 1.0 * G(n, s, o) * C(n, s, o));
  constexpr auto stacked_params = nn::parameters(conv_b, conv_s3, tl::wrt(X));
  constexpr auto stacked_train = tl::gradient(stacked, L, stacked_params);
  for (auto [ns, nu, nw] : {std::tuple{3, 2, 2}, std::tuple{2, 4, 3}}) {
    const long nt = 3 * (ns - 1) + nu;
    const auto ext = tl::extents(n = 1, t = nt, s = ns, c = 2, m = 2, o = 2, conv_s3.u = nu, conv_b.u = nw);
    tl::test::check_parameters(stacked, stacked_train, L, stacked_params, ext, setup);
  }
  // a narrow filter: the cells between windows get exactly zero
  tl::store st(stacked_train, tl::extents(n = 1, t = 7, s = 3, c = 1, m = 1, o = 1, conv_s3.u = 1, conv_b.u = 1));
  tl::test::fill_all(st);
  tl::eval(stacked_train, st);
  for (int q : {1, 2, 4, 5}) CHECK(st[tl::grad(H)](0, q, 0) == 0.0);
  for (int q : {0, 3, 6}) CHECK(st[tl::grad(H)](0, q, 0) != 0.0);
}

TEST_CASE("a strided conv2d: every gradient", "[nn]") {
  constexpr auto model =
      tl::compose(conv2_s2(C2(n, x, y, o), Img(n, x, y, c), nn::tanh), L() = 1.0 * G2(n, x, y, o) * C2(n, x, y, o));
  constexpr auto params = nn::parameters(conv2_s2, tl::wrt(Img));
  constexpr auto train = tl::gradient(model, L, params);
  for (auto [nx, ny, nu, nv] : {std::tuple{3, 2, 3, 2}, std::tuple{2, 3, 1, 4}}) {
    const auto ext = tl::extents(n = 1, x = nx, y = ny, c = 2, o = 2, conv2_s2.u = nu, conv2_s2.v = nv);
    tl::test::check_parameters(model, train, L, params, ext, setup);
    tl::store st(train, ext);
    CHECK(st[tl::grad(Img)].extent(1) == static_cast<std::size_t>(2 * (nx - 1) + nu));
    CHECK(st[tl::grad(Img)].extent(2) == static_cast<std::size_t>(2 * (ny - 1) + nv));
  }
}
