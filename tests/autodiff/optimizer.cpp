// Optimizers against hand-written update rules, clipping, schedules, and training runs that must learn.
#include <catch2/catch.hpp>
#include <cmath>
#include <tensorlogic/tensorlogic.hpp>

#include "../support/naive.hpp"

namespace tl = tensorlogic;

namespace {
inline constexpr tl::index<"i"> i;
inline constexpr tl::index<"n"> n;
inline constexpr tl::index<"f"> f;
inline constexpr tl::index<"h"> h;
inline constexpr tl::tensor<"W", double, 1> W;
inline constexpr tl::tensor<"T", double, 1> T;
inline constexpr tl::tensor<"L", double, 0> L;
}  // namespace

TEST_CASE("AdamW matches the reference update, with eps down to 1e-15", "[autodiff][optimizer]") {
  // L = sum_i (W_i - T_i)^2 / 2, so grad(W) = W - T
  constexpr auto model = tl::program(L() = 0.5 * tl::square(W(i) - T(i)));
  constexpr auto train = tl::gradient(model, L, tl::wrt(W));
  for (double eps : {1e-8, 1e-15}) {
    tl::store s(train, tl::extents(i = 5));
    tl::test::fill_random(s[W], 1);
    tl::test::fill_random(s[T], 2);
    std::vector<double> w(5), m(5, 0), v(5, 0), t(5);
    for (int k = 0; k < 5; ++k) {
      w[k] = s[W](k);
      t[k] = s[T](k);
    }
    tl::adamw opt(s, tl::wrt(W), {.lr = tl::schedule::constant(0.1), .eps = eps, .weight_decay = 0.05});
    for (int step = 1; step <= 7; ++step) {
      tl::eval(train, s);
      opt.step(s);
      for (int k = 0; k < 5; ++k) {
        const double g = w[k] - t[k];
        m[k] = 0.9 * m[k] + 0.1 * g;
        v[k] = 0.999 * v[k] + 0.001 * g * g;
        const double mh = m[k] / (1 - std::pow(0.9, step));
        const double vh = v[k] / (1 - std::pow(0.999, step));
        w[k] = w[k] * (1 - 0.1 * 0.05) - 0.1 * mh / (std::sqrt(vh) + eps);
      }
    }
    CHECK(opt.steps() == 7);
    for (int k = 0; k < 5; ++k) CHECK(s[W](k) == Approx(w[k]).epsilon(1e-12));
  }
}

TEST_CASE("SGD with momentum and Nesterov match the reference update", "[autodiff][optimizer]") {
  constexpr auto model = tl::program(L() = 0.5 * tl::square(W(i) - T(i)));
  constexpr auto train = tl::gradient(model, L, tl::wrt(W));
  for (bool nesterov : {false, true}) {
    tl::store s(train, tl::extents(i = 3));
    tl::test::fill_random(s[W], 3);
    tl::test::fill_random(s[T], 4);
    std::vector<double> w(3), vel(3, 0), t(3);
    for (int k = 0; k < 3; ++k) {
      w[k] = s[W](k);
      t[k] = s[T](k);
    }
    tl::sgd opt(s, tl::wrt(W), {.lr = tl::schedule::constant(0.2), .momentum = 0.9, .nesterov = nesterov});
    for (int step = 0; step < 5; ++step) {
      tl::eval(train, s);
      opt.step(s);
      for (int k = 0; k < 3; ++k) {
        const double g = w[k] - t[k];
        vel[k] = 0.9 * vel[k] + g;
        w[k] -= 0.2 * (nesterov ? g + 0.9 * vel[k] : vel[k]);
      }
    }
    for (int k = 0; k < 3; ++k) CHECK(s[W](k) == Approx(w[k]).epsilon(1e-12));
  }
}

TEST_CASE("global-norm clipping and schedules", "[autodiff][optimizer]") {
  constexpr auto model = tl::program(L() = 0.5 * tl::square(W(i) - T(i)));
  constexpr auto train = tl::gradient(model, L, tl::wrt(W));
  tl::store s(train, tl::extents(i = 2));
  s[W](0) = 3;
  s[W](1) = 4;
  s[T](0) = 0;
  s[T](1) = 0;
  tl::eval(train, s);
  CHECK(tl::clip_grad_norm(s, tl::wrt(W), 1.0) == Approx(5.0));
  CHECK(s[tl::grad(W)](0) == Approx(0.6));
  CHECK(s[tl::grad(W)](1) == Approx(0.8));
  CHECK(tl::clip_grad_norm(s, tl::wrt(W), 10.0) == Approx(1.0));  // below the limit: unchanged
  CHECK(s[tl::grad(W)](1) == Approx(0.8));

  auto warm = tl::schedule::linear_warmup(1.0, 4);
  CHECK(warm(0) == Approx(0.25));
  CHECK(warm(3) == Approx(1.0));
  CHECK(warm(10) == Approx(1.0));
  auto cos = tl::schedule::cosine(1.0, 10, 2, 0.1);
  CHECK(cos(0) == Approx(0.5));
  CHECK(cos(2) == Approx(1.0));
  CHECK(cos(6) == Approx(0.55));
  CHECK(cos(10) == Approx(0.1));
  CHECK(cos(20) == Approx(0.1));
}

TEST_CASE("an MLP learns XOR", "[autodiff][training]") {
  constexpr tl::tensor<"X", double, 2> X;
  constexpr tl::tensor<"Y", double, 1> Y;
  constexpr tl::tensor<"H", double, 2> H;
  constexpr tl::tensor<"W1", double, 2> W1;
  constexpr tl::tensor<"b1", double, 1> b1;
  constexpr tl::tensor<"W2", double, 1> W2;
  constexpr tl::tensor<"b2", double, 0> b2;
  constexpr tl::tensor<"Tg", double, 1> Tg;
  constexpr auto model = tl::program(H(n, h) = tl::tanh(W1(h, f) * X(n, f) + b1(h)),
                                     Y(n) = tl::sigmoid(W2(h) * H(n, h) + b2()),
                                     L() = 0.25 * tl::square(Y(n) - Tg(n)));
  constexpr auto train = tl::gradient(model, L, tl::wrt(W1, b1, W2, b2));
  tl::store s(train, tl::extents(n = 4, f = 2, h = 4));
  const double xs[4][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}};
  const double ts[4] = {0, 1, 1, 0};
  for (int a = 0; a < 4; ++a) {
    s[X](a, 0) = xs[a][0];
    s[X](a, 1) = xs[a][1];
    s[Tg](a) = ts[a];
  }
  tl::test::fill_random(s[W1], 7, -1, 1);
  tl::test::fill_random(s[b1], 8, -0.5, 0.5);
  tl::test::fill_random(s[W2], 9, -1, 1);
  s[b2]() = 0;
  tl::adamw opt(s, tl::wrt(W1, b1, W2, b2), {.lr = tl::schedule::constant(0.05), .weight_decay = 0.0});
  for (int step = 0; step < 1500; ++step) {
    tl::eval(train, s);
    opt.step(s);
  }
  tl::eval(train, s);
  int correct = 0;
  for (int a = 0; a < 4; ++a) correct += (s[Y](a) > 0.5) == (ts[a] > 0.5);
  CHECK(correct == 4);
  CHECK(s[L]() < 0.01);
}
