// Multi-output fusion (exec/eval.hpp reduction_pairs, exec/rows.hpp reduce_map_kernel): a whole reduction into a
// rank-0 tensor and a later map over the same index space computed in one pass. Which pairs form and which
// intermediates that lets the plan inline (static_asserts on the plan and the printed paths); results against naive
// loops with the fusion on and off at several shapes (one cell, rows shorter than a vector, rows split into chunks,
// no per-row read at all); sums, means, maxima and minima; float; masked cells with non-finite values; programs that
// must not pair (a group that needs the reduction's value before the map, a map at other subscripts, a reduction over
// fewer indices, a three-factor product the pairwise planner may reorder); the pair in tl::rl's CISPO gradient
// program; and the kernels' labels as a Kokkos tool sees them.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <tensorlogic/rl/objectives.hpp>
#include <tensorlogic/tensorlogic.hpp>
#include <type_traits>
#include <utility>
#include <vector>

#include "../support/naive.hpp"

namespace tl = tensorlogic;

namespace {
inline constexpr tl::index<"p"> p;
inline constexpr tl::index<"g"> g;
inline constexpr tl::index<"t"> t;
inline constexpr tl::index<"i"> i;
inline constexpr tl::index<"j"> j;
inline constexpr tl::tensor<"a", double, 3> a;
inline constexpr tl::tensor<"b", double, 3> b;
inline constexpr tl::tensor<"m", double, 3> m;
inline constexpr tl::tensor<"c", double, 2> c;
inline constexpr tl::tensor<"n", double, 1> n;
inline constexpr tl::tensor<"e", double, 3> e;
inline constexpr tl::tensor<"L", double, 0> L;
inline constexpr tl::tensor<"G", double, 3> G;
inline constexpr tl::tensor<"H", double, 2> H;
inline constexpr tl::tensor<"x", double, 2> x;
inline constexpr tl::tensor<"y", double, 2> y;
inline constexpr tl::tensor<"r", double, 1> r;
inline constexpr tl::tensor<"K", double, 2> K;
inline constexpr tl::tensor<"S", double, 0> S;
inline constexpr tl::tensor<"Lf", float, 0> Lf;
inline constexpr tl::tensor<"Gf", float, 2> Gf;
inline constexpr tl::tensor<"xf", float, 2> xf;
inline constexpr tl::tensor<"rf", float, 1> rf;

using tl::test::random_values;

template <class Prog>
using pairs_of = tl::detail::reduction_pairs<std::remove_const_t<Prog>, Kokkos::HostSpace>;
template <class Prog>
using plan_of = tl::detail::inline_plan<std::remove_const_t<Prog>, Kokkos::HostSpace>;

template <class View>
void set(View v, const std::vector<double>& values) {
  REQUIRE(v.size() == values.size());
  for (std::size_t k = 0; k < values.size(); ++k) v.data()[k] = static_cast<typename View::value_type>(values[k]);
}

template <class View>
void check_close(const View& got, const std::vector<double>& want, double tol, const char* what) {
  INFO(what);
  REQUIRE(got.size() == want.size());
  for (std::size_t k = 0; k < want.size(); ++k) {
    INFO("cell " << k);
    REQUIRE(got.data()[k] == Approx(want[k]).epsilon(tol).margin(tol));
  }
}

// A loss and its gradient over (p, g, t): e is costly (exp) and read by both, so it is inlined into their one pass.
constexpr auto loss_prog = tl::program(e(p, g, t) = tl::exp(a(p, g, t) - b(p, g, t)),                // 0
                                       L() = -1.0 * m(p, g, t) * e(p, g, t) * c(p, g) * a(p, g, t) / n(p),  // 1
                                       G(p, g, t) = -1.0 * m(p, g, t) * e(p, g, t) * c(p, g) / n(p));       // 2
// The same, with a third reader of e (a row reduction): e stays materialized, the pair still forms.
constexpr auto shared_prog = tl::program(e(p, g, t) = tl::exp(a(p, g, t) - b(p, g, t)),  // 0
                                         L() = m(p, g, t) * e(p, g, t),                   // 1
                                         G(p, g, t) = e(p, g, t) * c(p, g),               // 2
                                         H(p, g) = e(p, g, t) * m(p, g, t));              // 3
}  // namespace

TEST_CASE("which reductions and maps run as one pass", "[exec][fusion][multi-output]") {
  using lp = pairs_of<decltype(loss_prog)>;
  static_assert(lp::choice.map_of[1] == 2 && lp::choice.reduction_of[2] == 1);
  static_assert(lp::choice.map_of[0] == -1 && lp::choice.map_of[2] == -1 && lp::choice.reduction_of[1] == -1);
  static_assert(plan_of<decltype(loss_prog)>::defining[std::remove_const_t<decltype(loss_prog)>::slot_of("e")] == 0);
  using loss_t = std::remove_const_t<decltype(loss_prog)>;
  static_assert(tl::detail::execution_path<1, loss_t>() ==
                std::string_view("full reduction, computed in its map's pass (multi-output)"));
  static_assert(tl::detail::execution_path<2, loss_t>() ==
                std::string_view("broadcast rows + a full reduction in one pass (multi-output)"));

  using sp = pairs_of<decltype(shared_prog)>;
  static_assert(sp::choice.map_of[1] == 2);
  static_assert(plan_of<decltype(shared_prog)>::defining[std::remove_const_t<decltype(shared_prog)>::slot_of("e")] == -1);

  // no per-row read at all: still a pair (one layout row, split into chunks on the host)
  constexpr auto flat = tl::program(S() = x(i, j) * y(i, j), K(i, j) = x(i, j) * 2.0 + y(i, j));
  static_assert(pairs_of<decltype(flat)>::choice.map_of[0] == 1);
  // the map needs the reduction's value (through another group): not a pair
  constexpr auto needs = tl::program(S() = x(i, j) * y(i, j), L() = S() * 2.0, K(i, j) = x(i, j) * L());
  static_assert(pairs_of<decltype(needs)>::choice.map_of[0] == -1 && pairs_of<decltype(needs)>::choice.map_of[1] == -1);
  // the map's subscripts in another order than the projected indices: not a pair
  constexpr auto transposed = tl::program(S() = x(i, j) * y(i, j), K(j, i) = x(i, j) + 1.0);
  static_assert(pairs_of<decltype(transposed)>::choice.map_of[0] == -1);
  // a map over fewer indices than the reduction: not a pair
  constexpr auto fewer = tl::program(S() = x(i, j) * y(i, j), r(i) = x(i, 0) + 1.0);
  static_assert(pairs_of<decltype(fewer)>::choice.map_of[0] == -1);
  // two equations defining the map's head (a group): not a pair
  constexpr auto group = tl::program(S() = x(i, j), K(i, j) = x(i, j) * 2.0, K(i, j) = y(i, j));
  static_assert(pairs_of<decltype(group)>::choice.map_of[0] == -1);
  // a reduction of a three-factor product (launch_ordered may run it in a pairwise order): not a pair
  constexpr auto three = tl::program(L() = m(p, g, t) * a(p, g, t) * c(p, g), G(p, g, t) = m(p, g, t) * a(p, g, t));
  static_assert(pairs_of<decltype(three)>::choice.map_of[0] == -1);
  // a recursive program pairs nothing
  constexpr auto recursive = tl::program(S() = x(i, j) * y(i, j), K(i, j) = x(i, j) + 0.5 * K(i, j));
  static_assert(pairs_of<decltype(recursive)>::choice.map_of[0] == -1);

  // the CISPO gradient of tl::rl: the loss runs in grad(logp)'s pass, with the importance and aggregation weights
  // inlined into it
  namespace rl = tl::rl;
  constexpr auto cispo = tl::gradient(rl::objective<rl::loss_kind::cispo, rl::aggregation::prompt_average,
                                                    rl::advantage_norm::given>(),
                                      rl::loss, tl::wrt(rl::logp));
  using cispo_t = std::remove_const_t<decltype(cispo)>;
  constexpr auto& cp = pairs_of<decltype(cispo)>::choice;
  constexpr int loss_eq = [] {
    for (std::size_t k = 0; k < cispo_t::size; ++k)
      if (cp.map_of[k] >= 0) return static_cast<int>(k);
    return -1;
  }();
  static_assert(loss_eq >= 0);
  static_assert(cispo_t::structure.group_head[cispo_t::structure.group_of[loss_eq]] == cispo_t::slot_of("loss"));
  static_assert(cispo_t::structure.group_head[cispo_t::structure.group_of[cp.map_of[loss_eq]]] ==
                cispo_t::slot_of("grad(logp)"));
  static_assert(plan_of<decltype(cispo)>::defining[cispo_t::slot_of("is_weight")] >= 0);
  static_assert(plan_of<decltype(cispo)>::defining[cispo_t::slot_of("agg_weight")] >= 0);
}

TEST_CASE("a loss and its gradient in one pass equal naive loops, fused and unfused", "[exec][fusion][multi-output]") {
  // rows of t: 1 cell, fewer than a vector, a vector and a remainder, longer than a host chunk (4096)
  const long shapes[][3] = {{1, 1, 1}, {2, 3, 5}, {3, 2, 17}, {2, 2, 4099}, {1, 1, 10000}, {4, 5, 64}};
  for (const auto& sh : shapes) {
    const long P = sh[0], Gn = sh[1], Tn = sh[2];
    const long cells = P * Gn * Tn;
    INFO("extents " << P << " x " << Gn << " x " << Tn);
    const auto av = random_values<double>(static_cast<std::size_t>(cells), 1, -2.0, 0.5);
    const auto bv = random_values<double>(static_cast<std::size_t>(cells), 2, -2.0, 0.5);
    auto mv = random_values<double>(static_cast<std::size_t>(cells), 3, 0.0, 1.0);
    const auto cv = random_values<double>(static_cast<std::size_t>(P * Gn), 4);
    const auto nv = random_values<double>(static_cast<std::size_t>(P), 5, 1.0, 3.0);
    for (std::size_t k = 0; k < mv.size(); k += 3) mv[k] = 0.0;  // masked cells
    std::vector<double> want_e(static_cast<std::size_t>(cells)), want_g(static_cast<std::size_t>(cells));
    double want_l = 0, scale = 0;
    for (long x0 = 0; x0 < P; ++x0)
      for (long x1 = 0; x1 < Gn; ++x1)
        for (long x2 = 0; x2 < Tn; ++x2) {
          const auto k = static_cast<std::size_t>((x0 * Gn + x1) * Tn + x2);
          const double cc = cv[static_cast<std::size_t>(x0 * Gn + x1)], nn = nv[static_cast<std::size_t>(x0)];
          want_e[k] = std::exp(av[k] - bv[k]);
          want_g[k] = -1.0 * mv[k] * want_e[k] * cc / nn;
          want_l += -1.0 * mv[k] * want_e[k] * cc * av[k] / nn;
          scale += std::abs(mv[k] * want_e[k] * cc * av[k] / nn);
        }
    for (const bool fused : {true, false}) {
      INFO("fusion " << fused);
      tl::set_elementwise_fusion(fused);
      tl::store s(loss_prog, tl::extents(p = P, g = Gn, t = Tn));
      set(s[a], av), set(s[b], bv), set(s[m], mv), set(s[c], cv), set(s[n], nv);
      for (int rep = 0; rep < 2; ++rep) {  // a second evaluation gives the same results
        tl::eval(loss_prog, s);
        CHECK(s.pending(e) == fused);
        REQUIRE(s[L]() == Approx(want_l).margin(1e-13 * (1.0 + scale)));
        check_close(s[G], want_g, 1e-13, "G");
      }
      check_close(s[e], want_e, 1e-13, "e, computed on its read");
      const std::string plan = tl::explain(loss_prog, s);
      CHECK((plan.find("(multi-output)") != std::string::npos) == fused);
    }
    tl::set_elementwise_fusion(true);
  }
}

TEST_CASE("a masked cell with a non-finite value contributes zero to both outputs", "[exec][fusion][multi-output]") {
  // m = 0 beats a = -Inf and b = NaN in the loss and the gradient (a zero factor wins, as in every kernel)
  const long P = 2, Gn = 2, Tn = 19, cells = P * Gn * Tn;
  auto av = random_values<double>(static_cast<std::size_t>(cells), 7, -1.0, 0.5);
  auto mv = random_values<double>(static_cast<std::size_t>(cells), 8, 0.5, 1.0);
  constexpr auto prog = tl::program(L() = m(p, g, t) * (a(p, g, t) + c(p, g)), G(p, g, t) = m(p, g, t) * a(p, g, t));
  static_assert(pairs_of<decltype(prog)>::choice.map_of[0] == 1);
  for (long k = 0; k < cells; k += 4) {
    mv[static_cast<std::size_t>(k)] = 0.0;
    av[static_cast<std::size_t>(k)] = k % 8 == 0 ? -std::numeric_limits<double>::infinity()
                                                 : std::numeric_limits<double>::quiet_NaN();
  }
  tl::store s(prog, tl::extents(p = P, g = Gn, t = Tn));
  set(s[a], av), set(s[m], mv), set(s[c], std::vector<double>(static_cast<std::size_t>(P * Gn), 1.5));
  tl::eval(prog, s);
  double want = 0;
  std::vector<double> want_g(static_cast<std::size_t>(cells));
  for (std::size_t k = 0; k < want_g.size(); ++k) {
    want_g[k] = mv[k] == 0.0 ? 0.0 : mv[k] * av[k];
    want += mv[k] == 0.0 ? 0.0 : mv[k] * (av[k] + 1.5);
  }
  REQUIRE(std::isfinite(s[L]()));
  REQUIRE(s[L]() == Approx(want).epsilon(1e-13));
  for (std::size_t k = 0; k < want_g.size(); ++k) REQUIRE(s[G].data()[k] == want_g[k]);
}

TEST_CASE("the host pass's plain products: a row with a non-finite value runs again, and no product feeds an "
          "operation that hides the difference", "[exec][fusion][multi-output]") {
  // The pass first runs each row with plain products (0 * NaN = NaN) and keeps it when its stored values and its sum
  // are finite; a row where a masked NaN or Inf came out runs again with zero-tested products. Rows here: 37 cells,
  // some clean, some with a masked NaN, one with an unmasked Inf (its results are Inf either way).
  const long P = 3, Gn = 4, Tn = 37, cells = P * Gn * Tn;
  auto av = random_values<double>(static_cast<std::size_t>(cells), 41, -1.0, 1.0);
  auto mv = random_values<double>(static_cast<std::size_t>(cells), 42, 0.5, 1.0);
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  for (long row = 0; row < P * Gn; row += 3) {  // rows 0, 3, 6, 9 hold a masked NaN and a masked -Inf
    mv[static_cast<std::size_t>(row * Tn + 5)] = 0.0, av[static_cast<std::size_t>(row * Tn + 5)] = nan;
    mv[static_cast<std::size_t>(row * Tn + 30)] = 0.0, av[static_cast<std::size_t>(row * Tn + 30)] = -inf;
  }
  av[static_cast<std::size_t>(7 * Tn + 11)] = inf;  // unmasked: row 7's loss and G are Inf
  const auto cv = random_values<double>(static_cast<std::size_t>(P * Gn), 43, 0.5, 2.0);
  auto ref = [&](auto&& term, const bool loss_reads_a) {  // zero-tested products, as the language defines them
    double sum = 0;
    std::vector<double> g(static_cast<std::size_t>(cells));
    for (std::size_t k = 0; k < g.size(); ++k) {
      const double cc = cv[k / static_cast<std::size_t>(Tn)];
      const double ma = mv[k] == 0.0 ? 0.0 : mv[k] * av[k];
      const double v = term(ma, cc);
      g[k] = v;
      sum += mv[k] == 0.0 ? 0.0 : mv[k] * ((loss_reads_a ? av[k] : 0.0) + cc);
    }
    return std::pair{sum, g};
  };
  // plain products allowed: the loss and G = m * a * c
  constexpr auto plain = tl::program(L() = m(p, g, t) * (a(p, g, t) + c(p, g)), G(p, g, t) = m(p, g, t) * a(p, g, t) * c(p, g));
  // min and max drop a NaN (min(NaN, c) is c, min(0, c) is 0): these products stay tested. (The losses below do not
  // read a, so a masked NaN could only show in G.)
  constexpr auto under_min = tl::program(L() = m(p, g, t) * c(p, g),
                                         G(p, g, t) = tl::min(m(p, g, t) * a(p, g, t), c(p, g)));
  constexpr auto under_max = tl::program(L() = m(p, g, t) * c(p, g),
                                         G(p, g, t) = tl::max(m(p, g, t) * a(p, g, t), -1.0 * c(p, g)));
  // a divisor tells -0 from +0: m = 0 times a < 0 is +0 tested, -0 plain; sigmoid(1 / -0) = 0 but sigmoid(1 / +0) = 1
  constexpr auto divisor = tl::program(L() = m(p, g, t) * c(p, g),
                                       G(p, g, t) = tl::sigmoid(1.0 / (m(p, g, t) * a(p, g, t))));
  static_assert(pairs_of<decltype(plain)>::choice.map_of[0] == 1 && pairs_of<decltype(under_min)>::choice.map_of[0] == 1 &&
                pairs_of<decltype(under_max)>::choice.map_of[0] == 1 && pairs_of<decltype(divisor)>::choice.map_of[0] == 1);
  auto run = [&](const auto& prog, auto&& term, const bool loss_reads_a, const char* what) {
    INFO(what);
    const auto [want_l, want_g] = ref(term, loss_reads_a);
    tl::store s(prog, tl::extents(p = P, g = Gn, t = Tn));
    set(s[a], av), set(s[m], mv), set(s[c], cv);
    tl::eval(prog, s);
    if (loss_reads_a)
      REQUIRE(s[L]() == want_l);  // +Inf from row 7; a masked NaN reaching the sum would make it NaN
    else
      REQUIRE(s[L]() == Approx(want_l).epsilon(1e-13));
    for (std::size_t k = 0; k < want_g.size(); ++k) {
      INFO("cell " << k << ": m " << mv[k] << ", a " << av[k]);
      if (std::isnan(want_g[k]))
        REQUIRE(std::isnan(s[G].data()[k]));
      else
        REQUIRE(s[G].data()[k] == Approx(want_g[k]).epsilon(1e-14));
    }
  };
  run(plain, [](double ma, double cc) { return ma == 0.0 ? 0.0 : ma * cc; }, true, "m a c");
  run(under_min, [](double ma, double cc) { return std::min(ma, cc); }, false, "min(m a, c)");
  run(under_max, [](double ma, double cc) { return ma > -cc ? ma : -cc; }, false, "max(m a, -c)");
  // cells with m = 0 and a < 0 decide this one: sigmoid(1 / +0) = 1
  for (std::size_t k = 0; k < mv.size(); k += 7) mv[k] = 0.0, av[k] = -std::abs(av[k]);
  run(divisor, [](double ma, double) { return 1.0 / (1.0 + std::exp(-1.0 / ma)); }, false, "sigmoid(1 / (m a))");
}

TEST_CASE("flat pairs, means, maxima, minima and float", "[exec][fusion][multi-output]") {
  constexpr auto sums = tl::program(S() = x(i, j) * y(i, j), K(i, j) = x(i, j) * 2.0 + y(i, j));
  constexpr auto means = tl::program(S() = tl::mean(i, j, x(i, j) * r(i)), K(i, j) = x(i, j) * r(i));
  constexpr auto maxima = tl::program(S() = tl::max(i, j, x(i, j) - r(i)), K(i, j) = tl::exp(x(i, j)));
  constexpr auto minima = tl::program(S() = tl::min(i, j, x(i, j) * y(i, j)), K(i, j) = y(i, j) - x(i, j));
  constexpr auto floats = tl::program(Lf() = xf(i, j) * rf(i), Gf(i, j) = xf(i, j) * rf(i) * 3.0f);
  static_assert(pairs_of<decltype(sums)>::choice.map_of[0] == 1 && pairs_of<decltype(means)>::choice.map_of[0] == 1 &&
                pairs_of<decltype(maxima)>::choice.map_of[0] == 1 && pairs_of<decltype(minima)>::choice.map_of[0] == 1 &&
                pairs_of<decltype(floats)>::choice.map_of[0] == 1);
  // a single row of 25000 cells (chunks of 4096 and a remainder), rows shorter than a vector, one cell
  const long shapes[][2] = {{1, 1}, {3, 7}, {5, 5000}, {64, 33}};
  for (const auto& sh : shapes) {
    const long I = sh[0], J = sh[1], cells = I * J;
    INFO("extents " << I << " x " << J);
    const auto xv = random_values<double>(static_cast<std::size_t>(cells), 11);
    const auto yv = random_values<double>(static_cast<std::size_t>(cells), 12);
    const auto rv = random_values<double>(static_cast<std::size_t>(I), 13);
    double sum = 0, abs_sum = 0, mean = 0, mx = -1e300, mn = 1e300, fsum = 0;
    std::vector<double> k_sum(static_cast<std::size_t>(cells)), k_mean(k_sum.size()), k_max(k_sum.size()),
        k_min(k_sum.size()), k_float(k_sum.size());
    for (long r0 = 0; r0 < I; ++r0)
      for (long c0 = 0; c0 < J; ++c0) {
        const auto k = static_cast<std::size_t>(r0 * J + c0);
        const double rr = rv[static_cast<std::size_t>(r0)];
        sum += xv[k] * yv[k];
        abs_sum += std::abs(xv[k] * yv[k]);
        mean += xv[k] * rr;
        mx = std::max(mx, xv[k] - rr);
        mn = std::min(mn, xv[k] * yv[k]);
        fsum += static_cast<double>(static_cast<float>(xv[k]) * static_cast<float>(rr));
        k_sum[k] = xv[k] * 2.0 + yv[k];
        k_mean[k] = xv[k] * rr;
        k_max[k] = std::exp(xv[k]);
        k_min[k] = yv[k] - xv[k];
        k_float[k] = static_cast<double>(static_cast<float>(xv[k]) * static_cast<float>(rr) * 3.0f);
      }
    mean /= static_cast<double>(cells);
    for (const bool fused : {true, false}) {
      INFO("fusion " << fused);
      tl::set_elementwise_fusion(fused);
      {
        tl::store s(sums, tl::extents(i = I, j = J));
        set(s[x], xv), set(s[y], yv);
        tl::eval(sums, s);
        REQUIRE(s[S]() == Approx(sum).margin(1e-13 * (1.0 + abs_sum)));
        check_close(s[K], k_sum, 1e-15, "sums: K");
      }
      {
        tl::store s(means, tl::extents(i = I, j = J));
        set(s[x], xv), set(s[r], rv);
        tl::eval(means, s);
        REQUIRE(s[S]() == Approx(mean).margin(1e-13));
        check_close(s[K], k_mean, 1e-15, "means: K");
      }
      {
        tl::store s(maxima, tl::extents(i = I, j = J));
        set(s[x], xv), set(s[r], rv);
        tl::eval(maxima, s);
        REQUIRE(s[S]() == mx);
        check_close(s[K], k_max, 1e-15, "maxima: K");
      }
      {
        tl::store s(minima, tl::extents(i = I, j = J));
        set(s[x], xv), set(s[y], yv);
        tl::eval(minima, s);
        REQUIRE(s[S]() == mn);
        check_close(s[K], k_min, 1e-15, "minima: K");
      }
      {
        tl::store s(floats, tl::extents(i = I, j = J));
        set(s[xf], xv), set(s[rf], rv);
        tl::eval(floats, s);
        REQUIRE(static_cast<double>(s[Lf]()) == Approx(fsum).margin(1e-5 * (1.0 + static_cast<double>(cells))));
        check_close(s[Gf], k_float, 1e-6, "floats: Gf");
      }
    }
    tl::set_elementwise_fusion(true);
  }
}

TEST_CASE("a reduction that another group reads before the map is computed in its own turn",
          "[exec][fusion][multi-output]") {
  constexpr auto needs = tl::program(S() = x(i, j) * y(i, j), L() = S() * 2.0, K(i, j) = x(i, j) * L());
  const long I = 4, J = 9;
  const auto xv = random_values<double>(static_cast<std::size_t>(I * J), 21);
  const auto yv = random_values<double>(static_cast<std::size_t>(I * J), 22);
  double sum = 0;
  for (std::size_t k = 0; k < xv.size(); ++k) sum += xv[k] * yv[k];
  tl::store s(needs, tl::extents(i = I, j = J));
  set(s[x], xv), set(s[y], yv);
  tl::eval(needs, s);
  REQUIRE(s[S]() == Approx(sum).epsilon(1e-14));
  for (std::size_t k = 0; k < xv.size(); ++k) REQUIRE(s[K].data()[k] == Approx(xv[k] * 2.0 * sum).epsilon(1e-14));
}

TEST_CASE("tl::profile of a pair charges both to the map's group", "[exec][fusion][multi-output]") {
  tl::store s(loss_prog, tl::extents(p = 2, g = 3, t = 50));
  set(s[a], random_values<double>(300, 31)), set(s[b], random_values<double>(300, 32));
  set(s[m], random_values<double>(300, 33, 0.0, 1.0)), set(s[c], random_values<double>(6, 34));
  set(s[n], random_values<double>(2, 35, 1.0, 2.0));
  tl::eval(loss_prog, s);
  const double l = s[L]();
  const auto times = tl::profile(loss_prog, s, 3);
  REQUIRE(times.size() == 3);
  CHECK(times[1].head == "L");
  CHECK(times[2].head == "G");
  REQUIRE(s[L]() == l);  // the profiled runs computed the same loss
}

namespace {
std::vector<std::string>& kernel_names() {
  static std::vector<std::string> names;
  return names;
}
void record_kernel(const char* name, const std::uint32_t, std::uint64_t*) { kernel_names().emplace_back(name); }
}  // namespace

TEST_CASE("kernels carry their labels while a Kokkos tool listens, and none are built otherwise",
          "[exec][multi-output]") {
  tl::store s(loss_prog, tl::extents(p = 2, g = 3, t = 50));
  set(s[a], random_values<double>(300, 31)), set(s[b], random_values<double>(300, 32));
  set(s[m], random_values<double>(300, 33, 0.0, 1.0)), set(s[c], random_values<double>(6, 34));
  set(s[n], random_values<double>(2, 35, 1.0, 2.0));
  REQUIRE_FALSE(Kokkos::Tools::profileLibraryLoaded());
  kernel_names().clear();
  Kokkos::Tools::Experimental::set_begin_parallel_for_callback(record_kernel);
  Kokkos::Tools::Experimental::set_begin_parallel_reduce_callback(record_kernel);
  REQUIRE(Kokkos::Tools::profileLibraryLoaded());
  tl::eval(loss_prog, s);
  Kokkos::Tools::Experimental::set_begin_parallel_for_callback(nullptr);
  Kokkos::Tools::Experimental::set_begin_parallel_reduce_callback(nullptr);
  REQUIRE_FALSE(Kokkos::Tools::profileLibraryLoaded());
  const auto& names = kernel_names();
  const auto has = [&](const std::string& label) {
    return std::find(names.begin(), names.end(), label) != names.end();
  };
  CHECK(has("tensorlogic::full reduction L + map G"));  // the pair's one pass
  CHECK(has("tensorlogic::store L"));
  for (const auto& name : names) CHECK(name.rfind("tensorlogic::", 0) == 0);
  // with no tool the launches pass an empty label, and the results are the same
  const double l = s[L]();
  tl::eval(loss_prog, s);
  CHECK(s[L]() == l);
  CHECK(tl::detail::kernel_label("map", "G").empty());
}
