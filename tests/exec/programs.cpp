// DESIGN §1 rules 4, 5, 8-11: same-left-hand-side groups, relations closed by a step, stop_grad/min/max/clamp/where,
// run-time scalars, index comparisons, negation; dependency order; recursive programs to a fixpoint.
#include <catch2/catch.hpp>
#include <cmath>
#include <set>
#include <tensorlogic/tensorlogic.hpp>

#include "../support/naive.hpp"

namespace tl = tensorlogic;
using tl::test::fill_bernoulli;
using tl::test::fill_random;

namespace {
inline constexpr tl::index<"i"> i;
inline constexpr tl::index<"x"> x;
inline constexpr tl::index<"y"> y;
inline constexpr tl::index<"z"> z;
inline constexpr tl::tensor<"A", double, 1> A;
inline constexpr tl::tensor<"B", double, 1> B;
inline constexpr tl::tensor<"C", double, 1> C;
inline constexpr tl::tensor<"Y", double, 1> Y;
inline constexpr tl::relation<"Edge", 2> Edge;
inline constexpr tl::relation<"Path", 2> Path;
inline constexpr tl::relation<"P", 1> Pr;
inline constexpr tl::relation<"Q", 1> Qr;
inline constexpr tl::relation<"R", 1> Rr;
inline constexpr tl::scalar<"eps", double> eps;
}  // namespace

TEST_CASE("rule 4: equations with the same left-hand side are summed", "[semantics][rule4]") {
  constexpr auto prog = tl::program(Y(i) = A(i), Y(i) = 2.0 * B(i), C(i) = Y(i) * Y(i));
  tl::store s(prog, tl::extents(i = 5));
  fill_random(s[A], 1);
  fill_random(s[B], 2);
  tl::eval(prog, s);
  tl::eval(prog, s);  // a second run recomputes, it does not accumulate
  for (int a = 0; a < 5; ++a) {
    const double yv = s[A](a) + 2 * s[B](a);
    CHECK(s[Y](a) == Approx(yv));
    CHECK(s[C](a) == Approx(yv * yv));
  }
}

TEST_CASE("dependency order: equations run after the ones they read, whatever their order", "[semantics]") {
  constexpr auto prog = tl::program(C(i) = Y(i) + 1.0, Y(i) = tl::exp(A(i)));
  tl::store s(prog, tl::extents(i = 3));
  fill_random(s[A], 3);
  tl::eval(prog, s);
  for (int a = 0; a < 3; ++a) CHECK(s[C](a) == Approx(std::exp(s[A](a)) + 1));
}

TEST_CASE("rule 5: a relation head closes its body with a step; several rules are OR-ed", "[semantics][rule5]") {
  constexpr auto prog = tl::program(Path(x, z) = Edge(x, y) * Edge(y, z), Path(x, y) = Edge(x, y));
  tl::store s(prog, tl::extents(x = 6, y = 6, z = 6));
  fill_bernoulli(s[Edge], 4, 0.4);
  tl::eval(prog, s);
  auto e = s[Edge];
  for (int a = 0; a < 6; ++a)
    for (int c = 0; c < 6; ++c) {
      bool two = false;
      for (int b = 0; b < 6; ++b) two = two || (e(a, b) && e(b, c));
      CHECK(int(s[Path](a, c)) == int(two || e(a, c)));
    }
}

TEST_CASE("transitive closure to the least fixpoint equals a brute-force closure", "[semantics][rule5][fixpoint]") {
  constexpr auto tc = tl::program(Path(x, y) = Edge(x, y), Path(x, z) = Path(x, y) * Edge(y, z));
  for (unsigned seed : {1u, 2u, 3u}) {
    const int n = 9;
    tl::store s(tc, tl::extents(x = n, y = n, z = n));
    fill_bernoulli(s[Edge], seed, 0.15);
    tl::fixpoint(tc, s);
    std::set<std::pair<int, int>> closure;
    for (int a = 0; a < n; ++a)
      for (int b = 0; b < n; ++b)
        if (s[Edge](a, b)) closure.insert({a, b});
    for (bool grew = true; grew;) {
      grew = false;
      auto snapshot = closure;
      for (auto [a, b] : snapshot)
        for (int c = 0; c < n; ++c)
          if (s[Edge](b, c) && closure.insert({a, c}).second) grew = true;
    }
    for (int a = 0; a < n; ++a)
      for (int b = 0; b < n; ++b) CHECK(int(s[Path](a, b)) == int(closure.count({a, b})));
  }
}

TEST_CASE("facts already in a relation head are kept (OR), not overwritten", "[semantics][rule5]") {
  constexpr auto prog = tl::program(Path(x, y) = Edge(x, y));
  tl::store s(prog, tl::extents(x = 3, y = 3));
  s[Edge](0, 1) = 1;
  s[Path](2, 2) = 1;
  tl::eval(prog, s);
  CHECK(s[Path](0, 1) == 1);
  CHECK(s[Path](2, 2) == 1);
  CHECK(s[Path](1, 0) == 0);
}

TEST_CASE("rule 8: stop_grad, min, max, clamp, where", "[semantics][rule8]") {
  constexpr auto prog = tl::program(Y(i) = tl::stop_grad(tl::min(A(i), B(i))) + tl::max(A(i), 0.25),
                                    C(i) = tl::clamp(A(i), -0.5, 0.5) + tl::where(B(i), A(i), 10.0));
  tl::store s(prog, tl::extents(i = 9));
  fill_random(s[A], 5);
  fill_random(s[B], 6);
  tl::eval(prog, s);
  for (int a = 0; a < 9; ++a) {
    const double av = s[A](a), bv = s[B](a);
    CHECK(s[Y](a) == Approx(std::min(av, bv) + std::max(av, 0.25)));
    CHECK(s[C](a) == Approx(std::clamp(av, -0.5, 0.5) + (bv > 0 ? av : 10.0)));
  }
}

TEST_CASE("elementwise functions", "[semantics][functions]") {
  constexpr tl::tensor<"D", double, 1> D;
  constexpr tl::tensor<"E", double, 1> E;
  constexpr auto prog = tl::program(Y(i) = tl::exp(A(i)) + tl::log(B(i)) + tl::sqrt(B(i)) + tl::abs(A(i)),
                                    C(i) = tl::sigmoid(A(i)) + tl::tanh(A(i)) + tl::relu(A(i)) + tl::step(A(i)),
                                    D(i) = tl::pow(B(i), 1.5) - A(i) / B(i) + (-A(i)),
                                    E(i) = tl::sigmoid(A(i), eps) + tl::square(A(i)));
  tl::store s(prog, tl::extents(i = 7));
  fill_random(s[A], 7);
  fill_random(s[B], 8, 0.1, 2.0);
  tl::bind(s, eps, 0.5);
  tl::eval(prog, s);
  for (int a = 0; a < 7; ++a) {
    const double av = s[A](a), bv = s[B](a);
    CHECK(s[Y](a) == Approx(std::exp(av) + std::log(bv) + std::sqrt(bv) + std::abs(av)));
    CHECK(s[C](a) == Approx(1 / (1 + std::exp(-av)) + std::tanh(av) + std::max(av, 0.0) + (av > 0 ? 1 : 0)));
    CHECK(s[D](a) == Approx(std::pow(bv, 1.5) - av / bv - av));
    CHECK(s[E](a) == Approx(1 / (1 + std::exp(-av / 0.5)) + av * av));
  }
}

TEST_CASE("sigmoid with temperature 0 is exactly the step (H(0) = 0)", "[semantics][rule9]") {
  constexpr auto prog = tl::program(Y(i) = tl::sigmoid(A(i), eps));
  tl::store s(prog, tl::extents(i = 5));
  const double vals[] = {-2, -1e-9, 0, 1e-9, 3};
  for (int a = 0; a < 5; ++a) s[A](a) = vals[a];
  tl::bind(s, eps, 0.0);
  tl::eval(prog, s);
  for (int a = 0; a < 5; ++a) CHECK(s[Y](a) == (vals[a] > 0 ? 1.0 : 0.0));
}

TEST_CASE("rule 10: index comparisons are Boolean factors", "[semantics][rule10]") {
  constexpr auto prog = tl::program(Y(x) = (x != y) * A(y), C(x) = (y < x) * A(y));
  tl::store s(prog, tl::extents(x = 5, y = 5));
  fill_random(s[A], 9);
  tl::eval(prog, s);
  double total = 0;
  for (int a = 0; a < 5; ++a) total += s[A](a);
  double prefix = 0;
  for (int a = 0; a < 5; ++a) {
    CHECK(s[Y](a) == Approx(total - s[A](a)));
    CHECK(s[C](a) == Approx(prefix).margin(1e-12));
    prefix += s[A](a);
  }
}

TEST_CASE("rule 11: negation of a relation across strata", "[semantics][rule11]") {
  constexpr auto prog = tl::program(Qr(x) = Pr(x) * !Rr(x), Rr(x) = Edge(x, y));
  tl::store s(prog, tl::extents(x = 6, y = 6));
  fill_bernoulli(s[Pr], 10, 0.6);
  fill_bernoulli(s[Edge], 11, 0.1);
  tl::eval(prog, s);
  for (int a = 0; a < 6; ++a) {
    bool has = false;
    for (int b = 0; b < 6; ++b) has = has || s[Edge](a, b);
    CHECK(int(s[Qr](a)) == int(s[Pr](a) && !has));
  }
}

TEST_CASE("a recursive real-valued program: a prefix sum by fixpoint", "[fixpoint]") {
  constexpr tl::index<"t"> t;
  constexpr tl::tensor<"S", double, 1> S;
  constexpr tl::tensor<"U", double, 1> U;
  constexpr auto prog = tl::program(S(t) = U(t), S(t + 1) = S(t));
  // S(t) = U(t) + S(t - 1): the cumulative sum
  tl::store s(prog, tl::extents(t = 6));
  fill_random(s[U], 12);
  const long iterations = tl::fixpoint(prog, s);
  CHECK(iterations <= 8);
  double acc = 0;
  for (int a = 0; a < 6; ++a) {
    acc += s[U](a);
    CHECK(s[S](a) == Approx(acc));
  }
}

namespace {
inline constexpr tl::index<"n"> n;
inline constexpr tl::index<"o"> o;
inline constexpr tl::tensor<"H0", double, 2> H0;
inline constexpr tl::tensor<"H1", double, 2> H1;
inline constexpr tl::tensor<"H2", double, 2> H2;
inline constexpr tl::tensor<"H3", double, 2> H3;
inline constexpr tl::tensor<"H4", double, 2> H4;
inline constexpr tl::tensor<"W1", double, 2> W1;
inline constexpr tl::tensor<"W2", double, 2> W2;
inline constexpr tl::tensor<"W3", double, 2> W3;
inline constexpr tl::tensor<"W4", double, 2> W4;
inline constexpr tl::tensor<"b1", double, 1> b1;
inline constexpr tl::tensor<"b2", double, 1> b2;
inline constexpr tl::tensor<"b3", double, 1> b3;
inline constexpr tl::tensor<"b4", double, 1> b4;
inline constexpr tl::tensor<"L", double, 0> L;
}  // namespace

// Kernels number the slots they read locally (exec/eval.hpp local_slots), so layers 1 and 3 and layers 2 and 4 below
// share their kernels; each must still read its own tensors, on every kernel path.
TEST_CASE("layers of one shape over different tensors share kernels and read their own tensors", "[semantics]") {
  constexpr auto prog = tl::program(H1(n, o) = tl::tanh(W1(o, i) * H0(n, i) + b1(o)),
                                    H2(n, i) = tl::sigmoid(W2(i, o) * H1(n, o) + b2(i)),
                                    H3(n, o) = tl::tanh(W3(o, i) * H2(n, i) + b3(o)),
                                    H4(n, i) = tl::sigmoid(W4(i, o) * H3(n, o) + b4(i)),
                                    L() = H4(n, i) * H4(n, i) * b4(i));
  const long nn = 5, ni = 7, no = 6;
  for (int mode = 0; mode < 3; ++mode) {
    tl::set_vendor_gemm(mode == 0);
    tl::set_tiled_gemm(mode == 1);
    tl::store s(prog, tl::extents(n = nn, i = ni, o = no));
    fill_random(s[H0], 1);
    fill_random(s[W1], 2);
    fill_random(s[W2], 3);
    fill_random(s[W3], 4);
    fill_random(s[W4], 5);
    fill_random(s[b1], 6);
    fill_random(s[b2], 7);
    fill_random(s[b3], 8);
    fill_random(s[b4], 9);
    tl::eval(prog, s);
    // naive layers: h_out(r, c) = f(sum_k W(c, k) h_in(r, k) + b(c))
    auto layer = [&](const auto& h, const auto& w, const auto& b, long in, long out, bool tanh_f) {
      std::vector<double> r(static_cast<std::size_t>(nn * out));
      for (long a = 0; a < nn; ++a)
        for (long c = 0; c < out; ++c) {
          double acc = b(c);
          for (long k = 0; k < in; ++k) acc += w(c, k) * h(a, k);
          r[static_cast<std::size_t>(a * out + c)] = tanh_f ? std::tanh(acc) : 1 / (1 + std::exp(-acc));
        }
      return r;
    };
    auto view = [](const std::vector<double>& v, long cols) {
      return [&v, cols](long a, long c) { return v[static_cast<std::size_t>(a * cols + c)]; };
    };
    const auto h1 = layer(s[H0], s[W1], s[b1], ni, no, true);
    const auto h2 = layer(view(h1, no), s[W2], s[b2], no, ni, false);
    const auto h3 = layer(view(h2, ni), s[W3], s[b3], ni, no, true);
    const auto h4 = layer(view(h3, no), s[W4], s[b4], no, ni, false);
    double loss = 0;
    for (long a = 0; a < nn; ++a)
      for (long c = 0; c < ni; ++c) {
        CHECK(s[H1](a, c < no ? c : 0) == Approx(h1[static_cast<std::size_t>(a * no + (c < no ? c : 0))]));
        CHECK(s[H2](a, c) == Approx(h2[static_cast<std::size_t>(a * ni + c)]));
        CHECK(s[H3](a, c < no ? c : 0) == Approx(h3[static_cast<std::size_t>(a * no + (c < no ? c : 0))]));
        CHECK(s[H4](a, c) == Approx(h4[static_cast<std::size_t>(a * ni + c)]));
        loss += h4[static_cast<std::size_t>(a * ni + c)] * h4[static_cast<std::size_t>(a * ni + c)] * s[b4](c);
      }
    CHECK(s[L]() == Approx(loss));
  }
  tl::set_vendor_gemm(true);
  tl::set_tiled_gemm(true);
}
