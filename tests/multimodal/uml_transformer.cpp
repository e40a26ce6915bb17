// UML with a shared transformer trunk: per-modality linear encoders into the shared width, one
// nn::transformer_block (bidirectional) applied to both modalities' sequences with tl::nn::tagged, mean pooling over
// each modality's own positions, and a shared linear class head; cross-entropy per modality and
// L = alpha_x L_X + alpha_y L_Y. The two modalities have different feature widths and different sequence lengths
// (their own position and key indices); only the trunk's parameters and the head are shared.
// Checked: the shared weights' gradients equal alpha_x g_X + alpha_y g_Y, with g_X and g_Y the same gradient program's
// results at weights (1, 0) and (0, 1) (one program: a transformer's gradient program is expensive to compile, and
// tests/multimodal/uml.cpp already compares against separately compiled X-only and Y-only programs); central finite
// differences of the whole objective for shared trunk weights (attention, norms, feed-forward), the head and both
// encoders; and that a few dozen unpaired fit_epoch steps with a fixed seed lower the primary loss.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <random>
#include <utility>
#include <vector>
#include <tensorlogic/multimodal/uml.hpp>
#include <tensorlogic/tensorlogic.hpp>

#include "../support/finite_difference.hpp"  // tl::test::fill_all

namespace tl = tensorlogic;
namespace nn = tensorlogic::nn;
namespace mm = tensorlogic::multimodal;

namespace {
inline constexpr tl::index<"n"> n;  // X sequences
inline constexpr tl::index<"p"> p;  // X positions
inline constexpr tl::index<"q"> q;  // X key positions
inline constexpr tl::index<"m"> m;  // Y sequences
inline constexpr tl::index<"t"> t;  // Y positions
inline constexpr tl::index<"u"> u;  // Y key positions
inline constexpr tl::index<"f"> f;  // X features
inline constexpr tl::index<"v"> v;  // Y features
inline constexpr tl::index<"e"> e;  // shared width
inline constexpr tl::index<"c"> c;  // classes
inline constexpr tl::tensor<"X", double, 3> X;
inline constexpr tl::tensor<"Y", double, 3> Y;
inline constexpr tl::tensor<"Zx", double, 3> Zx;
inline constexpr tl::tensor<"Zy", double, 3> Zy;
inline constexpr tl::tensor<"Hx", double, 3> Hx;
inline constexpr tl::tensor<"Hy", double, 3> Hy;
inline constexpr tl::tensor<"Px", double, 2> Px;  // mean over positions
inline constexpr tl::tensor<"Py", double, 2> Py;
inline constexpr tl::tensor<"Ox", double, 2> Ox;
inline constexpr tl::tensor<"Oy", double, 2> Oy;
inline constexpr tl::tensor<"Tx", double, 2> Tx;
inline constexpr tl::tensor<"Ty", double, 2> Ty;
inline constexpr tl::scalar<"inv_p", double> inv_p;  // 1 / |p|
inline constexpr tl::scalar<"inv_t", double> inv_t;  // 1 / |t|

inline constexpr nn::linear<"encx", double> enc_x;
inline constexpr nn::linear<"ency", double> enc_y;
inline constexpr nn::transformer_block<"trunk", double, nn::mask::none> trunk;
inline constexpr nn::linear<"head", double> head;
inline constexpr nn::cross_entropy<"ce", double> ce;
inline constexpr mm::objective<"uml", double> uml;

constexpr auto x_part =
    tl::compose(enc_x(Zx(n, p, e), X(n, p, f)), nn::tagged<"x">(trunk)(Hx(n, p, e), Zx(n, p, e), q),
                Px(n, e) = inv_p * Hx(n, p, e), head(Ox(n, c), Px(n, e)),
                nn::tagged<"x">(ce)(uml.Lx(), Ox(n, c), Tx(n, c)));
constexpr auto y_part =
    tl::compose(enc_y(Zy(m, t, e), Y(m, t, v)), nn::tagged<"y">(trunk)(Hy(m, t, e), Zy(m, t, e), u),
                Py(m, e) = inv_t * Hy(m, t, e), head(Oy(m, c), Py(m, e)),
                nn::tagged<"y">(ce)(uml.Ly(), Oy(m, c), Ty(m, c)));
constexpr auto model = tl::compose(x_part, y_part, uml());
constexpr auto params = nn::parameters(enc_x, trunk, head, enc_y);
// The gradient program under a name of its own: the compiler then spells `train_t`, not every equation, in
// each function it instantiates for the program (a third less compile time; docs/performance.md).
constexpr auto train_equations = tl::gradient(model, uml.L, params);
struct train_t : std::remove_cvref_t<decltype(train_equations)> {};
constexpr train_t train{train_equations};

// X: 3 sequences of 4 positions x 3 features; Y: 4 sequences of 2 positions x 5 features; width 4 (2 heads of 2),
// feed-forward 5, 3 classes.
constexpr int NX = 3, PX = 4, FX = 3, NY = 4, PY = 2, FY = 5, E = 4, C = 3;
const auto shape = tl::extents(n = NX, p = PX, q = PX, f = FX, m = NY, t = PY, u = PY, v = FY, e = E, c = C,
                               trunk.att.head = 2, trunk.att.hd = 2, trunk.ff.h<0> = 5);

// Class-dependent sequences: every (class, position, feature) has a mean in [-1, 1] (drawn from `pattern_seed`), a
// sample is its class's means plus N(0, noise^2); one-hot targets. Each modality has its own means and stream.
struct modality {
  int rows, positions, features;
  std::vector<double> mean;  // [class][position][feature]
  std::mt19937_64 gen;
  modality(int r, int pos, int feat, std::uint64_t pattern_seed, std::uint64_t stream)
      : rows(r), positions(pos), features(feat), mean(static_cast<std::size_t>(C * pos * feat)), gen(stream) {
    std::mt19937_64 g(pattern_seed);
    std::uniform_real_distribution<double> uni(-1.0, 1.0);
    for (auto& x : mean) x = uni(g);
  }
  template <class Store, class In, class Target>
  void fill(Store& s, In in, Target target, double noise) {
    std::normal_distribution<double> nd(0.0, noise);
    for (int r = 0; r < rows; ++r) {
      const int label = static_cast<int>(gen() % C);
      for (int k = 0; k < C; ++k) s[target](r, k) = k == label ? 1.0 : 0.0;
      for (int a = 0; a < positions; ++a)
        for (int b = 0; b < features; ++b)
          s[in](r, a, b) = mean[static_cast<std::size_t>((label * positions + a) * features + b)] + nd(gen);
    }
  }
};

template <class Store>
void prepare(Store& s) {
  if constexpr (Store::program_type::slot_of("X") >= 0) {
    tl::bind(s, inv_p, 1.0 / PX);
    nn::tagged<"x">(ce).normalize(s, NX);
  }
  if constexpr (Store::program_type::slot_of("Y") >= 0) {
    tl::bind(s, inv_t, 1.0 / PY);
    nn::tagged<"y">(ce).normalize(s, NY);
  }
}
}  // namespace

TEST_CASE("uml transformer: shared gradients are alpha_x g_X + alpha_y g_Y", "[multimodal][uml]") {
  tl::store s(train, shape);
  nn::init(s, 21, enc_x, trunk, head, enc_y);
  // Non-trivial norm gains and biases, so every shared parameter has a gradient that depends on its value.
  std::mt19937_64 g(5);
  std::uniform_real_distribution<double> jitter(-0.3, 0.3);
  auto perturb = [&](auto sym) {
    for (std::size_t k = 0; k < s[sym].span(); ++k) s[sym].data()[k] += jitter(g);
  };
  perturb(trunk.ln1.g), perturb(trunk.ln1.b), perturb(trunk.ln2.g), perturb(trunk.ln2.b), perturb(trunk.att.bo);
  prepare(s);
  modality mx(NX, PX, FX, 1, 2), my(NY, PY, FY, 3, 4);
  mx.fill(s, X, Tx, 0.5);
  my.fill(s, Y, Ty, 0.5);
  // g_X and g_Y: the gradients at weights (1, 0) and (0, 1), copied out of the store.
  auto gradients = [&](double wx, double wy) {
    uml.weigh(s, wx, wy);
    tl::eval(train, s);
    std::vector<std::vector<double>> out;
    [&]<class... S>(tl::wrt_list<S...>) {
      (
          [&](auto sym) {
            const auto gr = s[tl::grad(sym)];
            out.emplace_back(gr.data(), gr.data() + gr.span());
          }(S{}),
          ...);
    }(params);
    return std::pair(s[uml.L](), out);
  };
  const auto [lx, gx] = gradients(1.0, 0.0);
  const auto [ly, gy] = gradients(0.0, 1.0);
  const double ax = 0.6, ay = 1.7;
  const auto [l, gxy] = gradients(ax, ay);
  CHECK(l == Approx(ax * lx + ay * ly).epsilon(1e-14));
  CHECK(lx > 0.1);
  CHECK(ly > 0.1);
  // parameter k of params: enc_x's (W, b), the trunk's, the head's, enc_y's (W, b)
  std::size_t k = 0;
  const std::size_t n_params = gxy.size();
  for (; k < n_params; ++k) {
    INFO("parameter " << k << " of " << n_params);
    double worst = 0, scale = 0, px = 0, py = 0;
    for (std::size_t z = 0; z < gxy[k].size(); ++z) {
      const double want = ax * gx[k][z] + ay * gy[k][z];
      worst = std::max(worst, std::abs(gxy[k][z] - want));
      scale = std::max(scale, std::abs(want));
      px = std::max(px, std::abs(gx[k][z]));
      py = std::max(py, std::abs(gy[k][z]));
    }
    CHECK(scale > 1e-6);  // a gradient that is zero everywhere proves nothing
    CHECK(worst <= 1e-13 * std::max(1.0, scale));
    if (k < 2) {
      CHECK(px > 1e-6);  // the X encoder: X's loss only
      CHECK(py == 0.0);
    } else if (k + 2 >= n_params) {
      CHECK(px == 0.0);  // the Y encoder: Y's loss only
      CHECK(py > 1e-6);
    } else {
      CHECK(px > 1e-6);  // shared: both modalities contribute
      CHECK(py > 1e-6);
    }
  }
}

TEST_CASE("uml transformer: the objective's gradient matches finite differences", "[multimodal][uml]") {
  // Central differences of uml.L, evaluated by the gradient program itself (its forward part computes uml.L), so
  // the test compiles no separate forward program. Every tensor of the store holds seeded values in [-0.9, 0.9].
  tl::store s(train, shape);
  tl::test::fill_all(s);
  trunk.prepare(s);  // the attention scale 1/sqrt(|hd|), the mean-pooling weights and 1/rows
  prepare(s);
  uml.weigh(s, 0.8, 1.3);
  const double h = 1e-6;
  auto check = [&](auto sym) {
    INFO("gradient of " << decltype(sym)::name.view());
    tl::eval(train, s);
    const auto g = s[tl::grad(sym)];
    const std::vector<double> analytic(g.data(), g.data() + g.span());
    auto x = s[sym];
    double worst = 0, scale = 0;
    for (std::size_t k = 0; k < x.span(); ++k) {
      const double x0 = x.data()[k];
      x.data()[k] = x0 + h;
      tl::eval(train, s);
      const double up = s[uml.L]();
      x.data()[k] = x0 - h;
      tl::eval(train, s);
      const double down = s[uml.L]();
      x.data()[k] = x0;
      const double numeric = (up - down) / (2 * h);
      worst = std::max(worst, std::abs(numeric - analytic[k]) / std::max(1.0, std::abs(numeric)));
      scale = std::max(scale, std::abs(numeric));
    }
    CHECK(scale > 1e-4);  // the objective does depend on this weight
    CHECK(worst < 1e-6);
  };
  // Shared trunk weights of every kind (attention projections and output bias, both norms, the feed-forward
  // layers) and the shared head, element by element; then one private encoder per modality.
  [&]<class... S>(tl::wrt_list<S...>) { (check(S{}), ...); }(
      tl::wrt(trunk.att.Wq, trunk.att.Wk, trunk.att.Wv, trunk.att.Wo, trunk.att.bo, trunk.ln1.g, trunk.ln2.b,
              trunk.ff.layer<0>.W, trunk.ff.layer<1>.b, head.W, enc_x.W, enc_y.W));
}

TEST_CASE("uml transformer: unpaired training lowers the primary loss", "[multimodal][uml]") {
  tl::store s(train, shape);
  nn::init(s, 7, enc_x, trunk, head, enc_y);
  prepare(s);
  modality mx(NX, PX, FX, 11, 12), my(NY, PY, FY, 13, 14);
  mx.fill(s, X, Tx, 0.3);  // the X batch is fixed: a few labelled sequences
  tl::adamw opt(s, params, {.lr = tl::schedule::constant(0.02), .weight_decay = 0.0});
  auto fill_y = [&](auto& st) { my.fill(st, Y, Ty, 0.3); };  // a fresh Y batch every step
  fill_y(s);
  auto losses = [&] {
    uml.weigh(s, 1.0, 1.0);
    tl::eval(train, s);
    return std::pair{s[uml.Lx](), s[uml.Ly]()};
  };
  const auto [lx0, ly0] = losses();
  const mm::weights w{.alpha_x = 1.0, .alpha_y = 0.5};
  mm::epoch_report last{};
  for (int epoch = 0; epoch < 4; ++epoch)
    last = mm::fit_epoch(train, s, opt, uml, params, w, epoch, 10, [](auto&) {}, fill_y);
  const auto [lx1, ly1] = losses();
  INFO("L_X " << lx0 << " -> " << lx1 << ", L_Y " << ly0 << " -> " << ly1 << " (last epoch's mean L_Y "
              << last.loss_y << ")");
  CHECK(last.steps == 10);
  CHECK(lx1 < 0.5 * lx0);
  CHECK(last.loss_y < ly0);
}
