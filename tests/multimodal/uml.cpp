// UML training step: one program with two modality encoders and a shared trunk applied to both (tl::nn::tagged).
// Checked here: the shared weights' gradients are alpha_x times the X-only gradient plus alpha_y times the Y-only
// gradient (separate programs); finite differences of the whole objective; alpha_y = 0 trains exactly like the
// X-only program (bit for bit, 25 AdamW steps); the warm start leaves the primary encoder untouched while only Y
// trains; the batch sampler and the weight schedule.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <random>
#include <set>
#include <vector>
#include <tensorlogic/multimodal/uml.hpp>
#include <tensorlogic/tensorlogic.hpp>

#include "../support/finite_difference.hpp"

namespace tl = tensorlogic;
namespace nn = tensorlogic::nn;
namespace mm = tensorlogic::multimodal;

namespace {
inline constexpr tl::index<"n"> n;  // X batch
inline constexpr tl::index<"m"> m;  // Y batch
inline constexpr tl::index<"f"> f;  // X features
inline constexpr tl::index<"v"> v;  // Y features
inline constexpr tl::index<"w"> w;  // shared width
inline constexpr tl::index<"c"> c;  // classes
inline constexpr tl::tensor<"X", double, 2> X;
inline constexpr tl::tensor<"Y", double, 2> Y;
inline constexpr tl::tensor<"Zx", double, 2> Zx;
inline constexpr tl::tensor<"Zy", double, 2> Zy;
inline constexpr tl::tensor<"Ox", double, 2> Ox;
inline constexpr tl::tensor<"Oy", double, 2> Oy;
inline constexpr tl::tensor<"Tx", double, 2> Tx;
inline constexpr tl::tensor<"Ty", double, 2> Ty;

inline constexpr nn::linear<"encx", double> enc_x;
inline constexpr nn::linear<"ency", double> enc_y;
inline constexpr nn::mlp<"trunk", double, 1> trunk;
inline constexpr nn::cross_entropy<"ce", double> ce;
inline constexpr mm::objective<"uml", double> uml;

constexpr auto x_part = tl::compose(enc_x(Zx(n, w), X(n, f), nn::tanh), nn::tagged<"x">(trunk)(Ox(n, c), Zx(n, w)),
                                    nn::tagged<"x">(ce)(uml.Lx(), Ox(n, c), Tx(n, c)));
constexpr auto y_part = tl::compose(enc_y(Zy(m, w), Y(m, v), nn::tanh), nn::tagged<"y">(trunk)(Oy(m, c), Zy(m, w)),
                                    nn::tagged<"y">(ce)(uml.Ly(), Oy(m, c), Ty(m, c)));
constexpr auto model = tl::compose(x_part, y_part, uml());
constexpr auto params = nn::parameters(enc_x, trunk, enc_y);
constexpr auto train = tl::gradient(model, uml.L, params);
constexpr auto train_x = tl::gradient(x_part, uml.Lx, nn::parameters(enc_x, trunk));
constexpr auto train_y = tl::gradient(y_part, uml.Ly, nn::parameters(enc_y, trunk));

const auto shape = tl::extents(n = 5, m = 7, f = 4, v = 6, w = 3, c = 3, trunk.h<0> = 4);
const auto shape_x = tl::extents(n = 5, f = 4, w = 3, c = 3, trunk.h<0> = 4);
const auto shape_y = tl::extents(m = 7, v = 6, w = 3, c = 3, trunk.h<0> = 4);

// Random inputs and one-hot targets (seeded), the same in every store that has them.
template <class Store>
void fill_data(Store& s, std::uint64_t seed) {
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  auto fill = [&](auto sym, auto target, auto loss, int rows, int cols, int classes) {
    std::mt19937_64 gen(seed + cols);  // one stream per modality
    if constexpr (Store::program_type::slot_of(decltype(sym)::name.view()) >= 0) {
      for (int r = 0; r < rows; ++r) {
        for (int k = 0; k < cols; ++k) s[sym](r, k) = u(gen);
        for (int k = 0; k < classes; ++k) s[target](r, k) = 0;
        s[target](r, static_cast<int>(gen() % classes)) = 1;
      }
      loss.normalize(s, rows);
    }
  };
  fill(X, Tx, nn::tagged<"x">(ce), 5, 4, 3);
  fill(Y, Ty, nn::tagged<"y">(ce), 7, 6, 3);
}
}  // namespace

TEST_CASE("uml: a tagged module shares its parameters and renames its intermediates", "[multimodal][uml]") {
  using tx = decltype(nn::tagged<"x">(trunk));
  STATIC_REQUIRE(decltype(tx::layer<0>.W)::name.view() == "trunk.0.W");
  STATIC_REQUIRE(decltype(tx::hidden<0, 2>)::name.view() == "trunk@x.H0");
  STATIC_REQUIRE(decltype(decltype(nn::tagged<"y">(trunk))::hidden<0, 2>)::name.view() == "trunk@y.H0");
  STATIC_REQUIRE(std::is_same_v<decltype(nn::tagged<"x">(enc_x)), nn::linear<"encx", double>>);
  using blk = decltype(nn::tagged<"a">(nn::transformer_block<"b", double>{}));
  STATIC_REQUIRE(decltype(blk::att.Wq)::name.view() == "b.att.Wq");
  STATIC_REQUIRE(decltype(blk::att.S<4>)::name.view() == "b@a.att.S");
  STATIC_REQUIRE(decltype(blk::ff.hidden<0, 3>)::name.view() == "b@a.mlp.H0");
  CHECK(tl::to_string(uml()) == "uml.L = uml.alpha_x uml.Lx + uml.alpha_y uml.Ly\n");
}

TEST_CASE("uml: shared gradients are alpha_x g_X + alpha_y g_Y", "[multimodal][uml]") {
  tl::store s(train, shape);
  tl::store sx(train_x, shape_x);
  tl::store sy(train_y, shape_y);
  nn::init(s, 11, enc_x, trunk, enc_y);
  nn::share(sx, s, enc_x, trunk);
  nn::share(sy, s, enc_y, trunk);
  fill_data(s, 3);
  fill_data(sx, 3);
  fill_data(sy, 3);
  const double ax = 0.7, ay = 1.3;
  uml.weigh(s, ax, ay);
  tl::eval(train, s);
  tl::eval(train_x, sx);
  tl::eval(train_y, sy);
  CHECK(s[uml.L]() == Approx(ax * sx[uml.Lx]() + ay * sy[uml.Ly]()).epsilon(1e-14));
  // expected(k): the k-th element of the gradient built from the one-modality programs.
  auto compare = [&](auto sym, auto expected) {
    INFO("gradient of " << decltype(sym)::name.view());
    auto g = s[tl::grad(sym)];
    double worst = 0, scale = 0;
    for (std::size_t k = 0; k < g.span(); ++k) {
      worst = std::max(worst, std::abs(g.data()[k] - expected(k)));
      scale = std::max(scale, std::abs(expected(k)));
    }
    CHECK(scale > 1e-6);  // a gradient that is zero everywhere proves nothing
    CHECK(worst <= 1e-13 * std::max(1.0, scale));
  };
  auto shared = [&](auto sym) {
    compare(sym, [&](std::size_t k) {
      return ax * sx[tl::grad(sym)].data()[k] + ay * sy[tl::grad(sym)].data()[k];
    });
  };
  shared(trunk.layer<0>.W);
  shared(trunk.layer<0>.b);
  shared(trunk.layer<1>.W);
  shared(trunk.layer<1>.b);
  compare(enc_x.W, [&](std::size_t k) { return ax * sx[tl::grad(enc_x.W)].data()[k]; });
  compare(enc_y.W, [&](std::size_t k) { return ay * sy[tl::grad(enc_y.W)].data()[k]; });
}

TEST_CASE("uml: the objective's gradient matches finite differences", "[multimodal][uml]") {
  auto setup = [](auto& s) { tl::test::fill_all(s); };
  tl::test::check_parameters(model, train, uml.L, params, shape, setup);
  tl::test::check_parameters(model, train, uml.L, params,
                             tl::extents(n = 2, m = 3, f = 2, v = 3, w = 4, c = 2, trunk.h<0> = 3), setup);
}

TEST_CASE("uml: alpha_y = 0 trains exactly like the X-only program", "[multimodal][uml]") {
  tl::store s(train, shape);
  tl::store sx(train_x, shape_x);
  nn::init(s, 5, enc_x, trunk, enc_y);
  nn::init(sx, 5, enc_x, trunk);
  fill_data(s, 8);
  fill_data(sx, 8);
  tl::adamw opt(s, params, {.lr = tl::schedule::constant(0.05), .weight_decay = 0.01});
  tl::adamw opt_x(sx, nn::parameters(enc_x, trunk), {.lr = tl::schedule::constant(0.05), .weight_decay = 0.01});
  const mm::weights only_x{.alpha_x = 1.0, .alpha_y = 0.0};
  std::mt19937_64 gen(1);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  // A fresh Y batch every step: with alpha_y = 0 it must not matter.
  auto fill_y = [&](auto& st) {
    for (int r = 0; r < 7; ++r)
      for (int k = 0; k < 6; ++k) st[Y](r, k) = 3 * u(gen);
  };
  const auto r = mm::fit_epoch(train, s, opt, uml, params, only_x, 0, 25, [](auto&) {}, fill_y);
  CHECK(r.steps == 25);
  CHECK(r.alpha_y == 0.0);
  double first_x = 0;
  for (int k = 0; k < 25; ++k) {
    tl::eval(train_x, sx);
    if (k == 0) first_x = sx[uml.Lx]();
    opt_x.step(sx);
  }
  CHECK(r.loss_x < first_x);  // it learned something
  auto same = [&](auto sym) {
    INFO(decltype(sym)::name.view());
    std::size_t differing = 0;
    for (std::size_t k = 0; k < s[sym].span(); ++k) differing += s[sym].data()[k] != sx[sym].data()[k];
    CHECK(differing == 0);
  };
  same(enc_x.W);
  same(enc_x.b);
  same(trunk.layer<0>.W);
  same(trunk.layer<0>.b);
  same(trunk.layer<1>.W);
  same(trunk.layer<1>.b);
}

TEST_CASE("uml: the warm start trains the shared weights on Y alone first", "[multimodal][uml]") {
  const mm::weights ws{.alpha_x = 1.0, .alpha_y = 0.5, .warm_start = 2};
  CHECK(ws.at(0) == std::pair{0.0, 0.5});
  CHECK(ws.at(1) == std::pair{0.0, 0.5});
  CHECK(ws.at(2) == std::pair{1.0, 0.5});
  CHECK(mm::weights{.alpha_x = 2.0}.at(0) == std::pair{2.0, 1.0});
  CHECK_THROWS_WITH(ws.at(-1), Catch::Contains("tensorlogic: multimodal::weights: epoch -1 is negative"));

  tl::store s(train, shape);
  nn::init(s, 9, enc_x, trunk, enc_y);
  fill_data(s, 4);
  tl::adamw opt(s, params, {.lr = tl::schedule::constant(0.02), .weight_decay = 0.0});
  auto snapshot = [&](auto sym) { return std::vector<double>(s[sym].data(), s[sym].data() + s[sym].span()); };
  const auto ex0 = snapshot(enc_x.W), t0 = snapshot(trunk.layer<0>.W), ey0 = snapshot(enc_y.W);
  auto none = [](auto&) {};
  for (int epoch = 0; epoch < 2; ++epoch) {
    const auto r = mm::fit_epoch(train, s, opt, uml, params, ws, epoch, 3, none, none);
    CHECK(r.alpha_x == 0.0);
    CHECK(r.loss == Approx(0.5 * r.loss_y).epsilon(1e-12));
  }
  CHECK(snapshot(enc_x.W) == ex0);  // its gradient was exactly zero
  CHECK(snapshot(trunk.layer<0>.W) != t0);
  CHECK(snapshot(enc_y.W) != ey0);
  const auto r = mm::fit_epoch(train, s, opt, uml, params, ws, 2, 3, none, none);
  CHECK(r.alpha_x == 1.0);
  CHECK(r.loss == Approx(r.loss_x + 0.5 * r.loss_y).epsilon(1e-12));
  CHECK(snapshot(enc_x.W) != ex0);
}

TEST_CASE("uml: bad weights, counts and losses are errors", "[multimodal][uml]") {
  tl::store s(train, shape);
  CHECK_THROWS_WITH(uml.weigh(s, -1.0, 1.0),
                    Catch::Contains("tensorlogic: multimodal::objective: alpha_x must be finite and non-negative"));
  CHECK_THROWS_WITH(uml.weigh(s, 1.0, std::nan("")),
                    Catch::Contains("tensorlogic: multimodal::objective: alpha_y must be finite and non-negative"));
  CHECK_THROWS_WITH(nn::tagged<"x">(ce).normalize(s, 0), Catch::Contains("ce@x.inv needs a positive count"));
  nn::init(s, 1, enc_x, trunk, enc_y);
  fill_data(s, 2);
  s[X](0, 0) = std::numeric_limits<double>::quiet_NaN();
  tl::adamw opt(s, params, {});
  const auto before = std::vector<double>(s[enc_x.W].data(), s[enc_x.W].data() + s[enc_x.W].span());
  auto none = [](auto&) {};
  CHECK_THROWS_WITH(mm::fit_epoch(train, s, opt, uml, params, mm::weights{}, 0, 2, none, none),
                    Catch::Contains("tensorlogic: multimodal::fit_epoch: at epoch 0, step 0") &&
                        Catch::Contains("gradient norm nan; no update was applied"));
  CHECK(std::vector<double>(s[enc_x.W].data(), s[enc_x.W].data() + s[enc_x.W].span()) == before);
  CHECK_THROWS_WITH(mm::fit_epoch(train, s, opt, uml, params, mm::weights{}, 0, 0, none, none),
                    Catch::Contains("steps must be positive"));
  CHECK_THROWS_WITH(mm::fit_epoch(train, s, opt, uml, params, mm::weights{}, 0, 1, none, none, 0.0),
                    Catch::Contains("max_grad_norm must be positive"));
}

TEST_CASE("uml: batch samplers draw every sample once per pass, independently", "[multimodal][uml]") {
  mm::batch_sampler a(10, 4, 1), b(10, 4, 2);
  std::multiset<std::size_t> seen;
  std::vector<std::size_t> first_a, first_b;
  for (int k = 0; k < 5; ++k) {  // 20 indices = two passes
    const auto& ba = a.next();
    CHECK(ba.size() == 4);
    seen.insert(ba.begin(), ba.end());
    if (k == 0) first_a = ba;
  }
  first_b = b.next();
  for (std::size_t i = 0; i < 10; ++i) CHECK(seen.count(i) == 2);
  CHECK(a.passes() == 1);  // the second pass was used up exactly, its reshuffle not yet needed
  CHECK(first_a != first_b);
  mm::batch_sampler small(3, 5, 7);  // a batch larger than the set wraps into the next pass
  const auto& bs = small.next();
  CHECK(bs.size() == 5);
  CHECK_THROWS_WITH(mm::batch_sampler(0, 1, 1), Catch::Contains("tensorlogic: multimodal::batch_sampler: no samples"));
  CHECK_THROWS_WITH(mm::batch_sampler(3, 0, 1), Catch::Contains("batch size 0"));
}

TEST_CASE("uml: accuracy reads the arg-max class of each row", "[multimodal][uml]") {
  tl::store s(train, shape);
  for (int r = 0; r < 5; ++r)
    for (int k = 0; k < 3; ++k) s[Ox](r, k) = (k == r % 3) ? 1.0 : 0.0;
  CHECK(mm::accuracy(s, Ox, std::vector<int>{0, 1, 2, 0, 0}) == Approx(0.8));
  CHECK_THROWS_WITH(mm::accuracy(s, Ox, std::vector<int>{0, 1}), Catch::Contains("Ox has 5 rows, 2 labels"));
}

TEST_CASE("uml: fit_epoch reports and clips the global gradient norm", "[multimodal][uml]") {
  tl::store s(train, shape);
  nn::init(s, 2, enc_x, trunk, enc_y);
  fill_data(s, 6);
  tl::sgd opt(s, params, {.lr = tl::schedule::constant(0.0)});
  auto none = [](auto&) {};
  const auto free = mm::fit_epoch(train, s, opt, uml, params, mm::weights{}, 0, 1, none, none);
  CHECK(free.grad_norm > 1e-3);
  CHECK(tl::clip_grad_norm(s, params, std::numeric_limits<double>::infinity()) == Approx(free.grad_norm));
  const auto clipped = mm::fit_epoch(train, s, opt, uml, params, mm::weights{}, 0, 1, none, none, 1e-3);
  CHECK(clipped.grad_norm == Approx(free.grad_norm));  // reported before clipping
  CHECK(tl::clip_grad_norm(s, params, std::numeric_limits<double>::infinity()) == Approx(1e-3));
}
