// The attention and layer-norm gradient programs against the hand-derived formulas (written here as loops), in
// double precision: an independent check beside the finite differences.
#include <catch2/catch.hpp>
#include <cmath>
#include <vector>
#include <tensorlogic/tensorlogic.hpp>

#include "../support/finite_difference.hpp"

namespace tl = tensorlogic;

namespace {
inline constexpr tl::index<"p"> p;
inline constexpr tl::index<"q"> q;
inline constexpr tl::index<"d"> d;
inline constexpr tl::index<"e"> e;
inline constexpr tl::index<"n"> n;
inline constexpr tl::tensor<"Q", double, 2> Q;
inline constexpr tl::tensor<"K", double, 2> K;
inline constexpr tl::tensor<"V", double, 2> V;
inline constexpr tl::tensor<"S", double, 2> S;
inline constexpr tl::tensor<"O", double, 2> O;
inline constexpr tl::tensor<"G", double, 2> G;
inline constexpr tl::tensor<"X", double, 2> X;
inline constexpr tl::tensor<"Y", double, 2> Y;
inline constexpr tl::tensor<"L", double, 0> L;
inline constexpr tl::scalar<"c", double> c;
}  // namespace

TEST_CASE("attention gradients equal the hand-derived formulas", "[nn]") {
  constexpr auto model = tl::program(S(p, q) = tl::softmax(q, Q(p, d) * K(q, d) * c), O(p, e) = S(p, q) * V(q, e),
                                     L() = 1.0 * G(p, e) * O(p, e));
  constexpr auto train = tl::gradient(model, L, tl::wrt(Q, K, V));
  const int P = 5, Qn = 4, D = 3, E = 2;
  tl::store s(train, tl::extents(p = P, q = Qn, d = D, e = E));
  tl::test::fill_all(s);
  tl::bind(s, c, 0.7);
  tl::eval(train, s);
  // forward and backward by hand: A = c Q K^T, S = softmax_q(A), dS = G V^T, dA = S (dS - rowsum(S dS)),
  // dQ = c dA K, dK = c dA^T Q, dV = S^T G
  std::vector<double> Sh(P * Qn), dA(P * Qn);
  for (int a = 0; a < P; ++a) {
    double mx = -1e300;
    std::vector<double> z(Qn);
    for (int k = 0; k < Qn; ++k) {
      z[k] = 0;
      for (int j = 0; j < D; ++j) z[k] += 0.7 * s[Q](a, j) * s[K](k, j);
      mx = std::max(mx, z[k]);
    }
    double sum = 0;
    for (int k = 0; k < Qn; ++k) sum += std::exp(z[k] - mx);
    for (int k = 0; k < Qn; ++k) Sh[a * Qn + k] = std::exp(z[k] - mx) / sum;
    double dot = 0;
    std::vector<double> dS(Qn);
    for (int k = 0; k < Qn; ++k) {
      dS[k] = 0;
      for (int j = 0; j < E; ++j) dS[k] += s[G](a, j) * s[V](k, j);
      dot += Sh[a * Qn + k] * dS[k];
    }
    for (int k = 0; k < Qn; ++k) dA[a * Qn + k] = Sh[a * Qn + k] * (dS[k] - dot);
  }
  double worst = 0;
  for (int a = 0; a < P; ++a)
    for (int j = 0; j < D; ++j) {
      double dq = 0;
      for (int k = 0; k < Qn; ++k) dq += 0.7 * dA[a * Qn + k] * s[K](k, j);
      worst = std::max(worst, std::abs(dq - s[tl::grad(Q)](a, j)));
    }
  for (int k = 0; k < Qn; ++k)
    for (int j = 0; j < D; ++j) {
      double dk = 0;
      for (int a = 0; a < P; ++a) dk += 0.7 * dA[a * Qn + k] * s[Q](a, j);
      worst = std::max(worst, std::abs(dk - s[tl::grad(K)](k, j)));
    }
  for (int k = 0; k < Qn; ++k)
    for (int j = 0; j < E; ++j) {
      double dv = 0;
      for (int a = 0; a < P; ++a) dv += Sh[a * Qn + k] * s[G](a, j);
      worst = std::max(worst, std::abs(dv - s[tl::grad(V)](k, j)));
    }
  CHECK(worst < 1e-12);
}

TEST_CASE("layer-norm gradients equal the hand-derived formulas", "[nn]") {
  constexpr tl::nn::layer_norm<"ln", double> ln;
  constexpr auto model = tl::compose(ln(Y(n, d), X(n, d)), L() = 1.0 * G(n, d) * Y(n, d));
  constexpr auto train = tl::gradient(model, L, tl::nn::parameters(ln, tl::wrt(X)));
  const int N = 3, D = 6;
  tl::store s(train, tl::extents(n = N, d = D));
  tl::test::fill_all(s);
  tl::eval(train, s);
  // x^ = (x - mean) / sqrt(var + 1e-5); dx^ = G g; dx = (dx^ - mean(dx^) - x^ mean(dx^ x^)) / sigma;
  // dg = sum_n G x^, db = sum_n G
  double worst = 0;
  std::vector<double> dg(D, 0.0), db(D, 0.0);
  for (int a = 0; a < N; ++a) {
    double mean = 0, var = 0;
    for (int j = 0; j < D; ++j) mean += s[X](a, j) / D;
    for (int j = 0; j < D; ++j) var += (s[X](a, j) - mean) * (s[X](a, j) - mean) / D;
    const double sigma = std::sqrt(var + 1e-5);
    std::vector<double> xh(D), dxh(D);
    double m1 = 0, m2 = 0;
    for (int j = 0; j < D; ++j) {
      xh[j] = (s[X](a, j) - mean) / sigma;
      dxh[j] = s[G](a, j) * s[ln.g](j);
      m1 += dxh[j] / D;
      m2 += dxh[j] * xh[j] / D;
      dg[j] += s[G](a, j) * xh[j];
      db[j] += s[G](a, j);
    }
    for (int j = 0; j < D; ++j)
      worst = std::max(worst, std::abs((dxh[j] - m1 - xh[j] * m2) / sigma - s[tl::grad(X)](a, j)));
  }
  for (int j = 0; j < D; ++j) {
    worst = std::max(worst, std::abs(dg[j] - s[tl::grad(ln.g)](j)));
    worst = std::max(worst, std::abs(db[j] - s[tl::grad(ln.b)](j)));
  }
  CHECK(worst < 1e-10);
}
