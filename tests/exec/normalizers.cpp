// DESIGN §1 rule 7: softmax, log_softmax and lnorm over an index of the left-hand side, computed stably.
#include <catch2/catch.hpp>
#include <cmath>
#include <tensorlogic/tensorlogic.hpp>

#include "../support/naive.hpp"

namespace tl = tensorlogic;
using tl::test::fill_random;

namespace {
inline constexpr tl::index<"p"> p;
inline constexpr tl::index<"q"> q;
inline constexpr tl::index<"d"> d;
inline constexpr tl::tensor<"S", double, 2> S;
inline constexpr tl::tensor<"A", double, 2> A;
inline constexpr tl::tensor<"Q", double, 2> Q;
inline constexpr tl::tensor<"K", double, 2> K;
inline constexpr tl::scalar<"c", double> c;
}  // namespace

TEST_CASE("softmax rows sum to 1 and match a naive stable softmax", "[semantics][rule7]") {
  constexpr auto prog = tl::program(S(p, q) = tl::softmax(q, Q(p, d) * K(q, d) * c));
  for (auto [np, nq, nd] : {std::tuple{1, 1, 1}, std::tuple{3, 5, 4}, std::tuple{6, 9, 7}}) {
    tl::store s(prog, tl::extents(p = np, q = nq, d = nd));
    fill_random(s[Q], 1, -4, 4);
    fill_random(s[K], 2, -4, 4);
    tl::bind(s, c, 1.0 / std::sqrt(double(nd)));
    tl::eval(prog, s);
    for (int a = 0; a < np; ++a) {
      std::vector<double> z(nq);
      double mx = -1e300, sum = 0, rowsum = 0;
      for (int b = 0; b < nq; ++b) {
        z[b] = 0;
        for (int e = 0; e < nd; ++e) z[b] += s[Q](a, e) * s[K](b, e);
        z[b] /= std::sqrt(double(nd));
        mx = std::max(mx, z[b]);
      }
      for (int b = 0; b < nq; ++b) sum += std::exp(z[b] - mx);
      for (int b = 0; b < nq; ++b) {
        CHECK(s[S](a, b) == Approx(std::exp(z[b] - mx) / sum));
        rowsum += s[S](a, b);
      }
      CHECK(rowsum == Approx(1.0).margin(1e-12));
    }
  }
}

TEST_CASE("softmax with a causal mask and log_softmax stay stable for large inputs", "[semantics][rule7]") {
  constexpr auto masked = tl::program(S(p, q) = tl::softmax(q, A(p, q) * (q <= p)));
  tl::store s(masked, tl::extents(p = 4, q = 4));
  fill_random(s[A], 3, 500, 1000);
  tl::eval(masked, s);
  for (int a = 0; a < 4; ++a) {
    double sum = 0;
    for (int b = 0; b < 4; ++b) {
      CHECK(std::isfinite(s[S](a, b)));
      sum += s[S](a, b);
    }
    CHECK(sum == Approx(1.0));
  }
  constexpr auto logsm = tl::program(S(p, q) = tl::log_softmax(q, A(p, q)));
  tl::store l(logsm, tl::extents(p = 3, q = 5));
  fill_random(l[A], 4, 500, 1000);
  tl::eval(logsm, l);
  for (int a = 0; a < 3; ++a) {
    double mx = -1e300, sum = 0;
    for (int b = 0; b < 5; ++b) mx = std::max(mx, l[A](a, b));
    for (int b = 0; b < 5; ++b) sum += std::exp(l[A](a, b) - mx);
    for (int b = 0; b < 5; ++b) CHECK(l[S](a, b) == Approx(l[A](a, b) - mx - std::log(sum)));
  }
}

TEST_CASE("lnorm uses the biased variance and eps 1e-5; scale and shift are ordinary factors", "[semantics][rule7]") {
  constexpr tl::tensor<"g", double, 1> g;
  constexpr tl::tensor<"h", double, 1> h;
  constexpr auto prog = tl::program(S(p, d) = g(d) * tl::lnorm(d, A(p, d)) + h(d));
  tl::store s(prog, tl::extents(p = 3, d = 6));
  fill_random(s[A], 5, -2, 2);
  fill_random(s[g], 6);
  fill_random(s[h], 7);
  tl::eval(prog, s);
  (void)prog;
  for (int a = 0; a < 3; ++a) {
    double mean = 0, var = 0;
    for (int b = 0; b < 6; ++b) mean += s[A](a, b) / 6;
    for (int b = 0; b < 6; ++b) var += std::pow(s[A](a, b) - mean, 2) / 6;
    for (int b = 0; b < 6; ++b)
      CHECK(s[S](a, b) == Approx(s[g](b) * (s[A](a, b) - mean) / std::sqrt(var + 1e-5) + s[h](b)));
  }
}
