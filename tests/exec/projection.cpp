// DESIGN §1 rules 1-3: projection onto the left-hand side, the outer function after projection, elementwise
// functions inside terms, explicit projections, broadcast; checked against naive loops on random data.
#include <catch2/catch.hpp>
#include <cmath>
#include <tensorlogic/tensorlogic.hpp>

#include "../support/naive.hpp"

namespace tl = tensorlogic;
using tl::test::fill_random;

namespace {
inline constexpr tl::index<"i"> i;
inline constexpr tl::index<"j"> j;
inline constexpr tl::index<"k"> k;

template <class T>
struct syms {
  static constexpr tl::tensor<"W", T, 2> W{};
  static constexpr tl::tensor<"X", T, 1> X{};
  static constexpr tl::tensor<"b", T, 1> b{};
  static constexpr tl::tensor<"Y", T, 1> Y{};
  static constexpr tl::tensor<"M", T, 2> M{};
  static constexpr tl::tensor<"L", T, 0> L{};
  static constexpr tl::tensor<"T", T, 1> Tg{};
};
}  // namespace

TEMPLATE_TEST_CASE("rule 1: the outer function applies after projection", "[semantics][rule1]", float, double) {
  using S = syms<TestType>;
  constexpr auto prog = tl::program(S::Y(i) = tl::relu(S::W(i, j) * S::X(j) + S::b(i)));
  for (auto [ni, nj] : {std::pair{1, 1}, std::pair{3, 5}, std::pair{17, 9}, std::pair{64, 33}}) {
    tl::store s(prog, tl::extents(i = ni, j = nj));
    fill_random(s[S::W], 1);
    fill_random(s[S::X], 2);
    fill_random(s[S::b], 3);
    tl::eval(prog, s);
    auto w = s[S::W];
    auto x = s[S::X];
    auto bb = s[S::b];
    auto y = s[S::Y];
    for (int a = 0; a < ni; ++a) {
      double r = bb(a);
      for (int c = 0; c < nj; ++c) r += double(w(a, c)) * double(x(c));
      CHECK(double(y(a)) == Approx(r > 0 ? r : 0).margin(tl::test::tolerance(TestType{})));
    }
  }
}

TEST_CASE("rule 1: square over a projected term squares the sum; inside a term it is elementwise", "[semantics][rule1]") {
  using S = syms<double>;
  constexpr auto outer = tl::program(S::L() = tl::square(S::X(k)));
  constexpr auto inner = tl::program(S::L() = 0.5 * tl::square(S::Y(k) - S::Tg(k)));
  constexpr auto scoped = tl::program(S::L() = tl::sum(k, tl::square(S::Y(k) - S::Tg(k))));
  const int n = 7;
  tl::store a(outer, tl::extents(k = n));
  fill_random(a[S::X], 5);
  tl::eval(outer, a);
  double sum = 0;
  for (int c = 0; c < n; ++c) sum += a[S::X](c);
  CHECK(a[S::L]() == Approx(sum * sum));

  tl::store b(inner, tl::extents(k = n));
  fill_random(b[S::Y], 6);
  fill_random(b[S::Tg], 7);
  tl::eval(inner, b);
  double se = 0;
  for (int c = 0; c < n; ++c) se += 0.5 * std::pow(b[S::Y](c) - b[S::Tg](c), 2);
  CHECK(b[S::L]() == Approx(se));

  tl::store c(scoped, tl::extents(k = n));
  fill_random(c[S::Y], 6);
  fill_random(c[S::Tg], 7);
  tl::eval(scoped, c);
  CHECK(c[S::L]() == Approx(2 * se));
}

TEST_CASE("rule 1: an index kept on the left is not summed (Hadamard)", "[semantics][rule1]") {
  using S = syms<double>;
  constexpr auto prog = tl::program(S::Y(i) = S::b(i) * S::X(i));
  tl::store s(prog, tl::extents(i = 11));
  fill_random(s[S::b], 1);
  fill_random(s[S::X], 2);
  tl::eval(prog, s);
  for (int a = 0; a < 11; ++a) CHECK(s[S::Y](a) == Approx(s[S::b](a) * s[S::X](a)));
}

TEST_CASE("rule 2: functions inside a term are elementwise; explicit projections", "[semantics][rule2]") {
  using S = syms<double>;
  constexpr tl::tensor<"D", double, 2> D;
  constexpr tl::tensor<"R", double, 1> R;
  // as a factor of a term the square is elementwise and j is projected outside it
  constexpr auto dist = tl::program(D(i, k) = 1.0 * tl::square(S::M(i, j) - S::M(k, j)));
  const int n = 5, m = 4;
  tl::store s(dist, tl::extents(i = n, j = m, k = n));
  fill_random(s[S::M], 9);
  tl::eval(dist, s);
  auto mm = s[S::M];
  for (int a = 0; a < n; ++a)
    for (int c = 0; c < n; ++c) {
      double r = 0;
      for (int q = 0; q < m; ++q) r += std::pow(mm(a, q) - mm(c, q), 2);
      CHECK(s[D](a, c) == Approx(r));
    }

  constexpr auto reductions = tl::program(R(i) = tl::max(j, S::M(i, j)) + tl::min(j, S::M(i, j)),
                                          S::Y(i) = tl::mean(j, S::M(i, j)) * tl::any(j, S::M(i, j)),
                                          S::b(i) = tl::logsumexp(j, S::M(i, j)));
  tl::store r(reductions, tl::extents(i = n, j = m));
  fill_random(r[S::M], 10, -3, 3);
  tl::eval(reductions, r);
  auto x = r[S::M];
  for (int a = 0; a < n; ++a) {
    double mx = -1e300, mn = 1e300, sum = 0, any = 0;
    for (int q = 0; q < m; ++q) {
      mx = std::max(mx, x(a, q));
      mn = std::min(mn, x(a, q));
      sum += x(a, q);
      any = any > 0 || x(a, q) > 0 ? 1 : 0;
    }
    double lse = 0;
    for (int q = 0; q < m; ++q) lse += std::exp(x(a, q) - mx);
    CHECK(r[R](a) == Approx(mx + mn));
    CHECK(r[S::Y](a) == Approx(sum / m * any));
    CHECK(r[S::b](a) == Approx(mx + std::log(lse)));
  }
}

TEST_CASE("rule 2: a projection over several indices at once", "[semantics][rule2]") {
  constexpr tl::tensor<"A", double, 3> A;
  constexpr tl::tensor<"Z", double, 1> Z;
  constexpr auto prog = tl::program(Z(i) = tl::sum(j, k, A(i, j, k)));
  tl::store s(prog, tl::extents(i = 3, j = 4, k = 5));
  fill_random(s[A], 3);
  tl::eval(prog, s);
  for (int a = 0; a < 3; ++a) {
    double r = 0;
    for (int c = 0; c < 4; ++c)
      for (int d = 0; d < 5; ++d) r += s[A](a, c, d);
    CHECK(s[Z](a) == Approx(r));
  }
}

TEST_CASE("rule 3: an index absent from a term broadcasts it", "[semantics][rule3]") {
  using S = syms<double>;
  constexpr auto prog = tl::program(S::M(i, j) = S::X(i) + 2.0 * S::b(j));
  tl::store s(prog, tl::extents(i = 3, j = 2));
  fill_random(s[S::X], 1);
  fill_random(s[S::b], 2);
  tl::eval(prog, s);
  for (int a = 0; a < 3; ++a)
    for (int c = 0; c < 2; ++c) CHECK(s[S::M](a, c) == Approx(s[S::X](a) + 2 * s[S::b](c)));
}

TEST_CASE("a hyperedge: an index shared by three factors", "[semantics][rule1]") {
  constexpr tl::tensor<"A", double, 2> A;
  constexpr tl::tensor<"B", double, 2> B;
  constexpr tl::tensor<"C", double, 2> C;
  constexpr tl::tensor<"D", double, 1> D;
  constexpr auto prog = tl::program(D(i) = A(i, j) * B(i, j) * C(i, k));
  tl::store s(prog, tl::extents(i = 4, j = 3, k = 5));
  fill_random(s[A], 1);
  fill_random(s[B], 2);
  fill_random(s[C], 3);
  tl::eval(prog, s);
  for (int a = 0; a < 4; ++a) {
    double r = 0;
    for (int c = 0; c < 3; ++c)
      for (int d = 0; d < 5; ++d) r += s[A](a, c) * s[B](a, c) * s[C](a, d);
    CHECK(s[D](a) == Approx(r));
  }
}

TEST_CASE("static, dynamic and mixed extents agree", "[semantics][extents]") {
  constexpr tl::index<"i", 5> is;
  constexpr tl::index<"j", 3> js;
  constexpr tl::tensor<"W", double, 2> W;
  constexpr tl::tensor<"X", double, 1> X;
  constexpr tl::tensor<"Y", double, 1> Y;
  constexpr auto dyn = tl::program(Y(i) = tl::tanh(W(i, j) * X(j)));
  constexpr auto stat = tl::program(Y(is) = tl::tanh(W(is, js) * X(js)));
  constexpr auto mixed = tl::program(Y(i) = tl::tanh(W(i, js) * X(js)));
  tl::store a(dyn, tl::extents(i = 5, j = 3));
  tl::store b(stat);
  tl::store c(mixed, tl::extents(i = 5));
  for (auto* w : {&a[W], &b[W], &c[W]}) fill_random(*w, 4);
  for (auto* x : {&a[X], &b[X], &c[X]}) fill_random(*x, 5);
  tl::eval(dyn, a);
  tl::eval(stat, b);
  tl::eval(mixed, c);
  for (int r = 0; r < 5; ++r) {
    CHECK(a[Y](r) == b[Y](r));
    CHECK(a[Y](r) == c[Y](r));
  }
}
