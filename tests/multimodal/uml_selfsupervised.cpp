// UML with self-supervised next-embedding prediction (the reference's MultiBench setting): per-modality input
// projections into a shared width, one shared trunk applied to both sequences, per-modality decoders, and
// L = alpha_x MSE(dec(trunk(proj(x)))[t], x[t + 1]) + alpha_y (the same for y), the last position masked out.
// Checked: the masked loss against a naive loop over the store's predictions, finite differences for every
// parameter at two shapes, and that training lowers both losses.
#include <catch2/catch.hpp>
#include <cmath>
#include <random>
#include <tensorlogic/multimodal/uml.hpp>
#include <tensorlogic/tensorlogic.hpp>

#include "../support/finite_difference.hpp"

namespace tl = tensorlogic;
namespace nn = tensorlogic::nn;
namespace mm = tensorlogic::multimodal;

namespace {
inline constexpr tl::index<"n"> n;  // X sequences
inline constexpr tl::index<"m"> m;  // Y sequences
inline constexpr tl::index<"t"> t;  // time
inline constexpr tl::index<"f"> f;  // X features
inline constexpr tl::index<"g"> g;  // Y features
inline constexpr tl::index<"w"> w;  // shared width
inline constexpr tl::tensor<"X", double, 3> X;
inline constexpr tl::tensor<"Y", double, 3> Y;
inline constexpr tl::tensor<"M", double, 1> M;  // 1 where t + 1 exists
inline constexpr tl::tensor<"Zx", double, 3> Zx;
inline constexpr tl::tensor<"Zy", double, 3> Zy;
inline constexpr tl::tensor<"Hx", double, 3> Hx;
inline constexpr tl::tensor<"Hy", double, 3> Hy;
inline constexpr tl::tensor<"Px", double, 3> Px;
inline constexpr tl::tensor<"Py", double, 3> Py;

inline constexpr nn::linear<"projx", double> proj_x;
inline constexpr nn::linear<"projy", double> proj_y;
inline constexpr nn::mlp<"trunk", double, 1> trunk;
inline constexpr nn::linear<"decx", double> dec_x;
inline constexpr nn::linear<"decy", double> dec_y;
inline constexpr nn::mse<"mse", double> mse;
inline constexpr mm::objective<"uml", double> uml;

constexpr auto model = tl::compose(
    proj_x(Zx(n, t, w), X(n, t, f)), nn::tagged<"x">(trunk)(Hx(n, t, w), Zx(n, t, w), nn::tanh),
    dec_x(Px(n, t, f), Hx(n, t, w)), nn::tagged<"x">(mse)(uml.Lx(), Px(n, t, f), X(n, t + 1, f), M(t)),
    proj_y(Zy(m, t, w), Y(m, t, g)), nn::tagged<"y">(trunk)(Hy(m, t, w), Zy(m, t, w), nn::tanh),
    dec_y(Py(m, t, g), Hy(m, t, w)), nn::tagged<"y">(mse)(uml.Ly(), Py(m, t, g), Y(m, t + 1, g), M(t)), uml());
constexpr auto params = nn::parameters(proj_x, proj_y, trunk, dec_x, dec_y);
constexpr auto train = tl::gradient(model, uml.L, params);

// Smooth sequences: x(t) = sin(omega t + phase) per feature, so the next step is predictable from the current one.
template <class Store, class Sym>
void fill_sequences(Store& s, const Sym& sym, int rows, int steps, int features, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> phase(0.0, 6.28), omega(0.3, 0.9);
  for (int r = 0; r < rows; ++r)
    for (int k = 0; k < features; ++k) {
      const double p = phase(gen), o = omega(gen);
      for (int u = 0; u < steps; ++u) s[sym](r, u, k) = std::sin(o * u + p);
    }
}
template <class Store>
void prepare(Store& s, int nx, int ny, int T, int F, int G) {
  for (int u = 0; u < T; ++u) s[M](u) = u + 1 < T ? 1.0 : 0.0;
  nn::tagged<"x">(mse).normalize(s, nx * (T - 1) * F);
  nn::tagged<"y">(mse).normalize(s, ny * (T - 1) * G);
}
}  // namespace

TEST_CASE("uml self-supervised: the masked next-step loss equals a naive loop", "[multimodal][uml]") {
  const int nx = 3, ny = 4, T = 6, F = 2, G = 3;
  tl::store s(train, tl::extents(n = nx, m = ny, t = T, f = F, g = G, w = 4, trunk.h<0> = 5));
  nn::init(s, 3, proj_x, proj_y, trunk, dec_x, dec_y);
  fill_sequences(s, X, nx, T, F, 1);
  fill_sequences(s, Y, ny, T, G, 2);
  prepare(s, nx, ny, T, F, G);
  uml.weigh(s, 0.25, 2.0);
  tl::eval(train, s);
  double lx = 0, ly = 0;
  for (int a = 0; a < nx; ++a)
    for (int u = 0; u + 1 < T; ++u)
      for (int k = 0; k < F; ++k) lx += std::pow(s[Px](a, u, k) - s[X](a, u + 1, k), 2);
  for (int a = 0; a < ny; ++a)
    for (int u = 0; u + 1 < T; ++u)
      for (int k = 0; k < G; ++k) ly += std::pow(s[Py](a, u, k) - s[Y](a, u + 1, k), 2);
  lx /= nx * (T - 1) * F;
  ly /= ny * (T - 1) * G;
  CHECK(s[uml.Lx]() == Approx(lx).epsilon(1e-13));
  CHECK(s[uml.Ly]() == Approx(ly).epsilon(1e-13));
  CHECK(s[uml.L]() == Approx(0.25 * lx + 2.0 * ly).epsilon(1e-13));
}

TEST_CASE("uml self-supervised: gradients match finite differences", "[multimodal][uml]") {
  auto setup = [](auto& s) { tl::test::fill_all(s); };
  tl::test::check_parameters(model, train, uml.L, params,
                             tl::extents(n = 2, m = 3, t = 4, f = 2, g = 3, w = 3, trunk.h<0> = 4), setup);
  tl::test::check_parameters(model, train, uml.L, params,
                             tl::extents(n = 1, m = 2, t = 3, f = 3, g = 1, w = 2, trunk.h<0> = 2), setup);
}

TEST_CASE("uml self-supervised: unpaired training lowers both losses", "[multimodal][uml]") {
  const int nx = 8, ny = 8, T = 10, F = 3, G = 2;
  tl::store s(train, tl::extents(n = nx, m = ny, t = T, f = F, g = G, w = 8, trunk.h<0> = 16));
  nn::init(s, 4, proj_x, proj_y, trunk, dec_x, dec_y);
  prepare(s, nx, ny, T, F, G);
  std::uint64_t draw = 100;
  // Every step draws fresh, independent batches of each modality.
  auto fill_x = [&](auto& st) { fill_sequences(st, X, nx, T, F, ++draw); };
  auto fill_y = [&](auto& st) { fill_sequences(st, Y, ny, T, G, ++draw); };
  tl::adamw opt(s, params, {.lr = tl::schedule::constant(0.01), .weight_decay = 0.0});
  const mm::weights w1{};
  const auto first = mm::fit_epoch(train, s, opt, uml, params, w1, 0, 10, fill_x, fill_y);
  mm::epoch_report last{};
  for (int e = 1; e < 20; ++e) last = mm::fit_epoch(train, s, opt, uml, params, w1, e, 10, fill_x, fill_y);
  INFO("L_X " << first.loss_x << " -> " << last.loss_x << ", L_Y " << first.loss_y << " -> " << last.loss_y);
  CHECK(last.loss_x < 0.5 * first.loss_x);
  CHECK(last.loss_y < 0.5 * first.loss_y);
}
