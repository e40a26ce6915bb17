// Training that must learn (fixed seeds): a CNN (conv2d 3x3 + relu, 2x2 average pooling, a linear classifier) on a
// synthetic pattern set of 8x8 images: a horizontal bar, a vertical bar, a diagonal or a square outline, each at a
// random place, with noise. Accuracy on held-out images, computed here from the model's outputs.
#include <catch2/catch.hpp>
#include <iostream>
#include <random>
#include <vector>
#include <tensorlogic/tensorlogic.hpp>

#include "../support/patterns.hpp"

namespace tl = tensorlogic;
namespace nn = tensorlogic::nn;

namespace {
inline constexpr tl::index<"n"> n;
inline constexpr tl::index<"x"> x;
inline constexpr tl::index<"y"> y;
inline constexpr tl::index<"a"> a;
inline constexpr tl::index<"b"> b;
inline constexpr tl::index<"ch"> ch;
inline constexpr tl::index<"o"> o;
inline constexpr tl::index<"k"> k;
inline constexpr tl::tensor<"Img", float, 4> Img;
inline constexpr tl::tensor<"C", float, 4> C;
inline constexpr tl::tensor<"P", float, 4> P;
inline constexpr tl::tensor<"Wc", float, 4> Wc;
inline constexpr tl::tensor<"bc", float, 1> bc;
inline constexpr tl::tensor<"Z", float, 2> Z;
inline constexpr tl::tensor<"Y", float, 2> Y;
inline constexpr tl::tensor<"T", float, 2> T;
inline constexpr tl::tensor<"L", float, 0> L;
inline constexpr tl::scalar<"inv_n", float> inv_n;

inline constexpr nn::conv2d<"conv", float> conv;
inline constexpr nn::avg_pool2d<2> pool;
constexpr auto model = tl::compose(conv(C(n, x, y, o), Img(n, x, y, ch), nn::relu), pool(P(n, x, y, o), C(n, x, y, o)),
                                   Z(n, k) = Wc(k, a, b, o) * P(n, a, b, o) + bc(k),
                                   Y(n, k) = tl::log_softmax(k, 1.0 * Z(n, k)), L() = -1.0 * inv_n * T(n, k) * Y(n, k));
constexpr auto params = nn::parameters(conv, tl::wrt(Wc, bc));
constexpr auto train = tl::gradient(model, L, params);

constexpr int classes = tl::test::pattern_classes;
}  // namespace

TEST_CASE("a CNN learns a synthetic pattern set", "[nn][training]") {
  const int N = 200, held_out = 200;
  std::mt19937 gen(11);
  auto fill = [&](auto& s, int count) { tl::test::fill_patterns(s, Img, T, inv_n, count, gen); };
  // conv output 6x6 (input 8x8, filter 3x3), pooled to 3x3 (indices a, b)
  auto ext = [](int count) {
    return tl::extents(n = count, x = 6, y = 6, a = 3, b = 3, ch = 1, o = 6, k = classes, conv.u = 3, conv.v = 3);
  };
  tl::store s(train, ext(N));
  fill(s, N);
  nn::init(s, 5, nn::he, conv);
  std::normal_distribution<double> w(0.0, 0.2);
  for (std::size_t e = 0; e < s[Wc].span(); ++e) s[Wc].data()[e] = static_cast<float>(w(gen));
  tl::adamw opt(s, params, {.lr = tl::schedule::cosine(0.02, 300, 10, 0.001), .weight_decay = 0.0});
  for (int step = 0; step < 300; ++step) {
    tl::eval(train, s);
    opt.step(s);
  }
  // held-out images through the forward program, sharing the trained parameters
  tl::store test(model, ext(held_out));
  fill(test, held_out);
  nn::share(test, s, conv);
  tl::bind(test, Wc, s[Wc]);
  tl::bind(test, bc, s[bc]);
  tl::eval(model, test);
  int right = 0;
  for (int e = 0; e < held_out; ++e) {
    int best = 0;
    for (int c = 1; c < classes; ++c)
      if (test[Y](e, c) > test[Y](e, best)) best = c;
    right += best == e % classes;
  }
  const double acc = static_cast<double>(right) / held_out;
  std::cout << "CNN on 4 synthetic 8x8 patterns (200 training images, 300 AdamW steps): held-out accuracy " << acc
            << "\n";
  CHECK(acc >= 0.95);
}
