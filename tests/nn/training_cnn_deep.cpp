// Training that must learn (fixed seeds): a CNN with two convolutions (conv2d 3x3 + relu, conv2d 3x3 + relu, 2x2 max
// pooling, a linear classifier) on the synthetic pattern set of training_cnn.cpp: 8x8 images of a horizontal bar, a
// vertical bar, a diagonal or a square outline at a random place, with noise. The second convolution reads a learned
// feature map, so the first one trains through the second's input gradient. Accuracy on held-out images.
#include <catch2/catch.hpp>
#include <algorithm>
#include <cmath>
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
inline constexpr tl::index<"x2"> x2;
inline constexpr tl::index<"y2"> y2;
inline constexpr tl::index<"a"> a;
inline constexpr tl::index<"b"> b;
inline constexpr tl::index<"ch"> ch;
inline constexpr tl::index<"h"> h;
inline constexpr tl::index<"o"> o;
inline constexpr tl::index<"k"> k;
inline constexpr tl::tensor<"Img", float, 4> Img;
inline constexpr tl::tensor<"H", float, 4> H;
inline constexpr tl::tensor<"C", float, 4> C;
inline constexpr tl::tensor<"P", float, 4> P;
inline constexpr tl::tensor<"Wc", float, 4> Wc;
inline constexpr tl::tensor<"bc", float, 1> bc;
inline constexpr tl::tensor<"Z", float, 2> Z;
inline constexpr tl::tensor<"Y", float, 2> Y;
inline constexpr tl::tensor<"T", float, 2> T;
inline constexpr tl::tensor<"L", float, 0> L;
inline constexpr tl::scalar<"inv_n", float> inv_n;

inline constexpr nn::conv2d<"conv1", float> conv1;
inline constexpr nn::conv2d<"conv2", float> conv2;
inline constexpr nn::max_pool2d<2> pool;
constexpr auto model = tl::compose(conv1(H(n, x, y, h), Img(n, x, y, ch), nn::relu),
                                   conv2(C(n, x2, y2, o), H(n, x2, y2, h), nn::relu), pool(P(n, a, b, o), C(n, x2, y2, o)),
                                   Z(n, k) = Wc(k, a, b, o) * P(n, a, b, o) + bc(k),
                                   Y(n, k) = tl::log_softmax(k, 1.0 * Z(n, k)), L() = -1.0 * inv_n * T(n, k) * Y(n, k));
constexpr auto params = nn::parameters(conv1, conv2, tl::wrt(Wc, bc));
constexpr auto train = tl::gradient(model, L, params);

constexpr int classes = tl::test::pattern_classes;
}  // namespace

TEST_CASE("a CNN with two convolutions and max pooling learns a synthetic pattern set", "[nn][training]") {
  const int N = 200, held_out = 200;
  std::mt19937 gen(11);
  auto fill = [&](auto& s, int count) { tl::test::fill_patterns(s, Img, T, inv_n, count, gen); };
  // 8x8 input -> 6x6 (conv1, 3x3) -> 4x4 (conv2, 3x3) -> 2x2 (max pooling, indices a, b)
  auto ext = [](int count) {
    return tl::extents(n = count, x = 6, y = 6, x2 = 4, y2 = 4, a = 2, b = 2, ch = 1, h = 6, o = 8, k = classes,
                       conv1.u = 3, conv1.v = 3, conv2.u = 3, conv2.v = 3);
  };
  tl::store s(train, ext(N));
  fill(s, N);
  nn::init(s, 5, nn::he, conv1, conv2);
  std::normal_distribution<double> w(0.0, 0.2);
  for (std::size_t e = 0; e < s[Wc].span(); ++e) s[Wc].data()[e] = static_cast<float>(w(gen));
  // the first convolution learns only through the second one's input gradient
  std::vector<float> first(s[conv1.F].data(), s[conv1.F].data() + s[conv1.F].span());
  tl::adamw opt(s, params, {.lr = tl::schedule::cosine(0.01, 300, 10, 0.001), .weight_decay = 0.0});
  for (int step = 0; step < 300; ++step) {
    tl::eval(train, s);
    opt.step(s);
  }
  double moved = 0;
  for (std::size_t e = 0; e < first.size(); ++e) moved = std::max(moved, std::abs(double(s[conv1.F].data()[e]) - first[e]));
  CHECK(moved > 0.05);
  // held-out images through the forward program, sharing the trained parameters
  tl::store test(model, ext(held_out));
  fill(test, held_out);
  nn::share(test, s, conv1, conv2);
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
  std::cout << "CNN with two convolutions and 2x2 max pooling on 4 synthetic 8x8 patterns (200 training images, 300 "
               "AdamW steps): held-out accuracy "
            << acc << "\n";
  CHECK(acc >= 0.95);
}
