// Training that must learn (fixed seeds): an MLP on XOR and on the two-spirals set, built from nn modules, trained
// by the gradient program and AdamW; accuracy is computed here from the model's outputs.
#include <catch2/catch.hpp>
#include <cmath>
#include <iostream>
#include <random>
#include <vector>
#include <tensorlogic/tensorlogic.hpp>

namespace tl = tensorlogic;
namespace nn = tensorlogic::nn;

namespace {
inline constexpr tl::index<"n"> n;
inline constexpr tl::index<"f"> f;
inline constexpr tl::index<"c"> c;
inline constexpr tl::tensor<"X", float, 2> X;
inline constexpr tl::tensor<"T", float, 2> T;  // one-hot targets
inline constexpr tl::tensor<"Y", float, 2> Y;  // log-probabilities
inline constexpr tl::tensor<"L", float, 0> L;
inline constexpr tl::scalar<"inv_n", float> inv_n;

inline constexpr nn::mlp<"net", float, 2> net;
}  // namespace

namespace {
inline constexpr tl::tensor<"Z", float, 2> Z;
constexpr auto classifier = tl::compose(net(Z(n, c), X(n, f), nn::tanh), Y(n, c) = tl::log_softmax(c, 1.0 * Z(n, c)),
                                        L() = -1.0 * inv_n * T(n, c) * Y(n, c));
constexpr auto train = tl::gradient(classifier, L, nn::parameters(net));

// Trains on (points, labels) with full-batch AdamW; returns the training accuracy.
double fit(const std::vector<std::array<float, 2>>& pts, const std::vector<int>& labels, int hidden, int steps,
           double lr, std::uint64_t seed) {
  const int N = static_cast<int>(pts.size());
  tl::store s(train, tl::extents(n = N, f = 2, c = 2, net.h<0> = hidden, net.h<1> = hidden));
  for (int a = 0; a < N; ++a) {
    s[X](a, 0) = pts[a][0];
    s[X](a, 1) = pts[a][1];
    s[T](a, labels[a]) = 1;
  }
  tl::bind(s, inv_n, 1.0 / N);
  nn::init(s, seed, net);
  tl::adamw opt(s, nn::parameters(net), {.lr = tl::schedule::cosine(lr, steps, 20, lr / 20), .weight_decay = 0.0});
  for (int k = 0; k < steps; ++k) {
    tl::eval(train, s);
    opt.step(s);
  }
  tl::eval(train, s);
  int right = 0;
  for (int a = 0; a < N; ++a) right += (s[Y](a, 1) > s[Y](a, 0)) == (labels[a] == 1);
  return static_cast<double>(right) / N;
}
}  // namespace

TEST_CASE("an MLP learns XOR", "[nn][training]") {
  const std::vector<std::array<float, 2>> pts{{0, 0}, {0, 1}, {1, 0}, {1, 1}};
  const std::vector<int> labels{0, 1, 1, 0};
  CHECK(fit(pts, labels, 8, 300, 0.05, 1) == 1.0);
}

TEST_CASE("an MLP learns two spirals to 95%", "[nn][training]") {
  std::vector<std::array<float, 2>> pts;
  std::vector<int> labels;
  std::mt19937 gen(7);
  std::normal_distribution<float> noise(0.0f, 0.02f);
  const int per_class = 100;
  for (int k = 0; k < per_class; ++k) {
    const float r = 0.1f + 0.9f * k / per_class, a = 3.0f * 3.14159265f * k / per_class;
    for (int cls = 0; cls < 2; ++cls) {
      const float sign = cls == 0 ? 1.0f : -1.0f;
      pts.push_back({sign * r * std::cos(a) + noise(gen), sign * r * std::sin(a) + noise(gen)});
      labels.push_back(cls);
    }
  }
  const double acc = fit(pts, labels, 32, 1500, 0.02, 3);
  std::cout << "two spirals (200 points, 2-32-32-2 tanh MLP, 1500 AdamW steps): accuracy " << acc << "\n";
  CHECK(acc >= 0.95);
}
