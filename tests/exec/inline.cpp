// Elementwise fusion (exec/eval.hpp detail::inline_plan, plan/inline.hpp): which intermediates are inlined into
// their readers and which stay materialized (static_asserts on the plan and the kernel paths), results against naive
// loops with the fusion on and off, the deferred computation of an inlined tensor on its first read, and whole
// reductions with per-row reads (the loss of a program: sum over (p, g, t) of a body that reads c(p, g) and n(p)).
#include <catch2/catch.hpp>
#include <cmath>
#include <random>
#include <string>
#include <string_view>
#include <tensorlogic/tensorlogic.hpp>
#include <vector>

namespace tl = tensorlogic;

namespace {
inline constexpr tl::index<"p"> p;
inline constexpr tl::index<"g"> g;
inline constexpr tl::index<"t"> t;
inline constexpr tl::index<"i"> i;
inline constexpr tl::index<"j"> j;
inline constexpr tl::index<"k"> k;
inline constexpr tl::tensor<"a", double, 3> a;
inline constexpr tl::tensor<"b", double, 3> b;
inline constexpr tl::tensor<"m", double, 3> m;
inline constexpr tl::tensor<"c", double, 2> c;
inline constexpr tl::tensor<"n", double, 1> n;
inline constexpr tl::tensor<"w", double, 3> w;     // costly, read by u and G: inlined (L and G are one pass)
inline constexpr tl::tensor<"u", double, 3> u;     // read once: inlined
inline constexpr tl::tensor<"v", double, 3> v;     // cheap, read twice: inlined
inline constexpr tl::tensor<"q", double, 3> q;     // reads v (inlined), read once: inlined (a chain)
inline constexpr tl::tensor<"L", double, 0> L;     // whole reduction with per-row reads, computed with G
inline constexpr tl::tensor<"G", double, 3> G;     // broadcast rows reading v and w
inline constexpr tl::tensor<"H", double, 2> H;     // row reduction reading v
inline constexpr tl::tensor<"X", double, 2> X;
inline constexpr tl::tensor<"W", double, 2> W;
inline constexpr tl::tensor<"Y", double, 2> Y;
inline constexpr tl::tensor<"T", double, 2> T;
inline constexpr tl::tensor<"x", double, 1> x;
inline constexpr tl::tensor<"r", double, 1> r;
inline constexpr tl::tensor<"h", double, 1> h;
inline constexpr tl::tensor<"Lf", float, 0> Lf;
inline constexpr tl::tensor<"Af", float, 3> Af;
inline constexpr tl::tensor<"cf", float, 2> cf;

template <class View>
void fill(View view, std::uint64_t seed, double lo = -1.0, double hi = 1.0) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> d(lo, hi);
  for (std::size_t e = 0; e < view.size(); ++e) view.data()[e] = static_cast<typename View::value_type>(d(gen));
}

constexpr auto prog = tl::program(w(p, g, t) = tl::exp(a(p, g, t) - b(p, g, t)),                 // 0
                                  u(p, g, t) = -1.0 * m(p, g, t) * w(p, g, t) * c(p, g) * a(p, g, t),  // 1
                                  v(p, g, t) = m(p, g, t) * 2.0 + a(p, g, t),                   // 2
                                  q(p, g, t) = v(p, g, t) * c(p, g),                            // 3
                                  L() = u(p, g, t) * m(p, g, t) / n(p),                         // 4
                                  G(p, g, t) = q(p, g, t) * w(p, g, t) + v(p, g, t),            // 5
                                  H(p, g) = v(p, g, t) * m(p, g, t));                           // 6
using prog_t = std::remove_const_t<decltype(prog)>;
using plan_t = tl::detail::inline_plan<prog_t, Kokkos::HostSpace>;

struct naive {
  std::vector<double> w, u, v, q, G, H;
  double L = 0;
};

template <class Store>
naive reference(Store& s, long P, long Gn, long Tn) {
  naive r;
  const long cells = P * Gn * Tn;
  r.w.resize(cells), r.u.resize(cells), r.v.resize(cells), r.q.resize(cells), r.G.resize(cells);
  r.H.assign(static_cast<std::size_t>(P * Gn), 0.0);
  const double* A = s[a].data();
  const double* B = s[b].data();
  const double* M = s[m].data();
  const double* C = s[c].data();
  const double* N = s[n].data();
  for (long x0 = 0; x0 < P; ++x0)
    for (long x1 = 0; x1 < Gn; ++x1)
      for (long x2 = 0; x2 < Tn; ++x2) {
        const long e = (x0 * Gn + x1) * Tn + x2;
        r.w[e] = std::exp(A[e] - B[e]);
        r.u[e] = -1.0 * M[e] * r.w[e] * C[x0 * Gn + x1] * A[e];
        r.v[e] = M[e] * 2.0 + A[e];
        r.q[e] = r.v[e] * C[x0 * Gn + x1];
        r.L += r.u[e] * M[e] / N[x0];
        r.G[e] = r.q[e] * r.w[e] + r.v[e];
        r.H[x0 * Gn + x1] += r.v[e] * M[e];
      }
  return r;
}

template <class View>
void check_close(const View& got, const std::vector<double>& want, const char* what) {
  INFO(what);
  REQUIRE(got.size() == want.size());
  for (std::size_t e = 0; e < want.size(); ++e) REQUIRE(got.data()[e] == Approx(want[e]).epsilon(1e-12).margin(1e-12));
}
}  // namespace

TEST_CASE("which intermediates are inlined", "[exec][inline]") {
  constexpr std::size_t sw = prog_t::slot_of("w"), su = prog_t::slot_of("u"), sv = prog_t::slot_of("v"),
                        sq = prog_t::slot_of("q"), sl = prog_t::slot_of("L"), sg = prog_t::slot_of("G");
  // exp, read by u (inlined into L) and by G: L and G run as one multi-output pass, which computes it once per cell
  static_assert(plan_t::defining[sw] == 0);
  static_assert(plan_t::defining[su] == 1);   // read by L only
  static_assert(plan_t::defining[sv] == 2);   // cheap, read by q, G and H
  static_assert(plan_t::defining[sq] == 3);   // read by G; itself reads v (a chain)
  static_assert(plan_t::defining[sl] == -1 && plan_t::defining[sg] == -1);  // nobody reads them
  static_assert(tl::detail::execution_path<1, prog_t>() == std::string_view("inlined into its readers (not materialized)"));
  static_assert(tl::detail::execution_path<2, prog_t>() == std::string_view("inlined into its readers (not materialized)"));
  static_assert(tl::detail::execution_path<4, prog_t>() ==
                std::string_view("full reduction, computed in its map's pass (multi-output)"));
  static_assert(tl::detail::execution_path<5, prog_t>() ==
                std::string_view("broadcast rows + a full reduction in one pass (multi-output)"));
  static_assert(tl::detail::execution_path<6, prog_t>() == std::string_view("flat rows (row reduction)"));
  static_assert(tl::detail::unfused_execution_path<4, prog_t>() == std::string_view("full reduction (broadcast rows)"));
  static_assert(tl::detail::unfused_execution_path<1, prog_t>() == std::string_view("broadcast rows"));

  // a tensor read at other subscripts (transposed) stays
  constexpr auto transposed = tl::program(T(i, j) = X(i, j) * 2.0, Y(i, j) = T(j, i) + X(i, j));
  static_assert(tl::detail::inline_plan<std::remove_const_t<decltype(transposed)>, Kokkos::HostSpace>::defining[0] == -1);
  static_assert(!tl::detail::inline_plan<std::remove_const_t<decltype(transposed)>, Kokkos::HostSpace>::any);
  // a tensor a contraction reads (vendor GEMM or the generic kernel) stays
  constexpr auto product = tl::program(T(i, j) = tl::relu(X(i, j)), Y(i, k) = T(i, j) * W(j, k));
  static_assert(!tl::detail::inline_plan<std::remove_const_t<decltype(product)>, Kokkos::HostSpace>::any);
  // a recursive program inlines nothing
  constexpr auto recursive = tl::program(r(i) = x(i) * 2.0, h(i) = r(i) + 0.5 * h(i));
  static_assert(!tl::detail::inline_plan<std::remove_const_t<decltype(recursive)>, Kokkos::HostSpace>::any);
  // the same program without the self-reading equation inlines r
  constexpr auto plain = tl::program(r(i) = x(i) * 2.0, h(i) = r(i) + 0.5 * x(i));
  static_assert(tl::detail::inline_plan<std::remove_const_t<decltype(plain)>, Kokkos::HostSpace>::defining[0] == 0);
  // a costly tensor read broadcast (by an equation over more indices) stays: inlined, its division would run once
  // per cell of the reader instead of once per cell of its own
  constexpr auto weight = tl::program(r(i) = 1.0 / (x(i) + 2.0), Y(i, j) = X(i, j) * r(i));
  static_assert(tl::detail::inline_plan<std::remove_const_t<decltype(weight)>, Kokkos::HostSpace>::defining[0] == -1);
  static_assert(tl::detail::execution_path<0, std::remove_const_t<decltype(weight)>>() == std::string_view("flat map"));
  // ... and so does one whose reader is a reduction over more indices
  constexpr auto summed = tl::program(r(i) = tl::exp(x(i)), h(i) = X(i, j) * r(i));
  static_assert(tl::detail::inline_plan<std::remove_const_t<decltype(summed)>, Kokkos::HostSpace>::defining[0] == -1);
  // a cheap one read broadcast is inlined, and so is a costly one read at its own indices only
  constexpr auto cheap = tl::program(r(i) = x(i) * 2.0, Y(i, j) = X(i, j) * r(i));
  static_assert(tl::detail::inline_plan<std::remove_const_t<decltype(cheap)>, Kokkos::HostSpace>::defining[0] == 0);
  constexpr auto same = tl::program(r(i) = tl::exp(x(i)), h(i) = r(i) * x(i));
  static_assert(tl::detail::inline_plan<std::remove_const_t<decltype(same)>, Kokkos::HostSpace>::defining[0] == 0);
  {
    tl::store st(weight, tl::extents(i = 5, j = 37));
    fill(st[x], 7, 0.0, 1.0);
    fill(st[X], 8);
    tl::eval(weight, st);
    for (long a = 0; a < 5; ++a) {
      REQUIRE(st[r](a) == 1.0 / (st[x](a) + 2.0));
      for (long b = 0; b < 37; ++b) REQUIRE(st[Y](a, b) == st[X](a, b) * (1.0 / (st[x](a) + 2.0)));
    }
  }
  // a tensor defined by two equations (a same-left-hand-side group) stays
  constexpr auto group = tl::program(r(i) = x(i) * 2.0, r(i) = x(i) + 1.0, h(i) = r(i) * 3.0);
  static_assert(!tl::detail::inline_plan<std::remove_const_t<decltype(group)>, Kokkos::HostSpace>::any);
}

TEST_CASE("inlined programs equal naive loops, with the fusion on and off", "[exec][inline]") {
  const long shapes[][3] = {{1, 1, 1}, {2, 3, 5}, {3, 2, 4099}, {5, 7, 33}};
  for (const auto& sh : shapes) {
    const long P = sh[0], Gn = sh[1], Tn = sh[2];
    INFO("extents " << P << " x " << Gn << " x " << Tn);
    for (const bool fused : {true, false}) {
      INFO("fusion " << fused);
      tl::set_elementwise_fusion(fused);
      tl::store s(prog, tl::extents(p = P, g = Gn, t = Tn));
      fill(s[a], 1, -2.0, 0.5);
      fill(s[b], 2, -2.0, 0.5);
      fill(s[m], 3, 0.0, 1.0);
      fill(s[c], 4);
      fill(s[n], 5, 1.0, 3.0);
      for (std::size_t e = 0; e < s[m].size(); e += 3) s[m].data()[e] = 0.0;  // masked tokens
      tl::eval(prog, s);
      const naive want = reference(s, P, Gn, Tn);
      CHECK(s.pending(u) == fused);
      CHECK(s.pending(v) == fused);
      CHECK(s.pending(w) == fused);
      REQUIRE(s[L]() == Approx(want.L).epsilon(1e-11).margin(1e-12));
      check_close(s[G], want.G, "G");
      check_close(s[H], want.H, "H");
      check_close(s[w], want.w, "w");
      // an inlined tensor is computed on its first read
      check_close(s[u], want.u, "u");
      check_close(s[q], want.q, "q");
      check_close(s[v], want.v, "v");
      CHECK_FALSE(s.pending(u));
      // a second evaluation gives the same results
      tl::eval(prog, s);
      REQUIRE(s[L]() == Approx(want.L).epsilon(1e-11).margin(1e-12));
      check_close(s[G], want.G, "G again");
    }
  }
  tl::set_elementwise_fusion(true);
}

TEST_CASE("an inlined tensor read after its inputs change is computed from them", "[exec][inline]") {
  tl::store s(prog, tl::extents(p = 2, g = 2, t = 3));
  fill(s[a], 11), fill(s[b], 12), fill(s[m], 13, 0.0, 1.0), fill(s[c], 14), fill(s[n], 15, 1.0, 2.0);
  tl::eval(prog, s);
  REQUIRE(s.pending(v));
  for (std::size_t e = 0; e < s[a].size(); ++e) s[a].data()[e] += 1.0;
  // v = m * 2 + a, from a as it is at the read (the documented semantics of a deferred tensor)
  for (std::size_t e = 0; e < s[v].size(); ++e)
    REQUIRE(s[v].data()[e] == Approx(s[m].data()[e] * 2.0 + s[a].data()[e]).epsilon(1e-14));
}

TEST_CASE("tl::explain names inlined tensors and whole reductions", "[exec][inline]") {
  tl::store s(prog, tl::extents(p = 2, g = 3, t = 4));
  fill(s[a], 1), fill(s[b], 2), fill(s[m], 3), fill(s[c], 4), fill(s[n], 5, 1.0, 2.0);
  const std::string on = tl::explain(prog, s);
  CHECK(on.find("inlined into its readers (not materialized)") != std::string::npos);
  CHECK(on.find("full reduction, computed in its map's pass (multi-output)") != std::string::npos);
  tl::set_elementwise_fusion(false);
  const std::string off = tl::explain(prog, s);
  tl::set_elementwise_fusion(true);
  CHECK(off.find("inlined into its readers") == std::string::npos);
  CHECK(off.find("multi-output") == std::string::npos);
  CHECK(off.find("full reduction (broadcast rows)") != std::string::npos);
}

TEST_CASE("whole reductions with per-row reads", "[exec][inline][reduction]") {
  // sums, means, maxima and minima over (p, g, t) of bodies reading prefixes and suffixes, float and double
  constexpr auto sums = tl::program(L() = (a(p, g, t) + n(p)) * c(p, g));
  constexpr auto maxima = tl::program(L() = tl::max(p, g, t, a(p, g, t) * c(p, g)));
  constexpr auto minima = tl::program(L() = tl::min(p, g, t, a(p, g, t) - n(p)));
  constexpr auto means = tl::program(L() = tl::mean(p, g, t, a(p, g, t) * c(g, t)));
  constexpr auto floats = tl::program(Lf() = Af(p, g, t) * cf(p, g));
  static_assert(tl::detail::execution_path<0, std::remove_const_t<decltype(sums)>>() ==
                std::string_view("full reduction (broadcast rows)"));
  static_assert(tl::detail::execution_path<0, std::remove_const_t<decltype(maxima)>>() ==
                std::string_view("full reduction (broadcast rows)"));
  static_assert(tl::detail::execution_path<0, std::remove_const_t<decltype(means)>>() ==
                std::string_view("full reduction (broadcast rows)"));
  static_assert(tl::detail::execution_path<0, std::remove_const_t<decltype(floats)>>() ==
                std::string_view("full reduction (broadcast rows)"));
  const long shapes[][3] = {{1, 1, 1}, {2, 3, 5}, {4, 3, 5000}, {3, 1, 7}};
  for (const auto& sh : shapes) {
    const long P = sh[0], Gn = sh[1], Tn = sh[2];
    INFO("extents " << P << " x " << Gn << " x " << Tn);
    std::vector<double> A(static_cast<std::size_t>(P * Gn * Tn)), C(static_cast<std::size_t>(P * Gn)),
        N(static_cast<std::size_t>(P)), CT(static_cast<std::size_t>(Gn * Tn));
    std::mt19937_64 gen(static_cast<std::uint64_t>(P * 131 + Tn));
    std::uniform_real_distribution<double> d(-1.0, 1.0);
    for (auto* vec : {&A, &C, &N, &CT})
      for (auto& e : *vec) e = d(gen);
    double sum = 0, mx = -1e300, mn = 1e300, mean = 0;
    for (long x0 = 0; x0 < P; ++x0)
      for (long x1 = 0; x1 < Gn; ++x1)
        for (long x2 = 0; x2 < Tn; ++x2) {
          const long e = (x0 * Gn + x1) * Tn + x2;
          sum += (A[e] + N[x0]) * C[x0 * Gn + x1];
          mx = std::max(mx, A[e] * C[x0 * Gn + x1]);
          mn = std::min(mn, A[e] - N[x0]);
          mean += A[e] * CT[x1 * Tn + x2];
        }
    mean /= static_cast<double>(P * Gn * Tn);
    auto load_a = [&](auto& s) {
      for (std::size_t e = 0; e < A.size(); ++e) s[a].data()[e] = A[e];
    };
    auto load_c = [&](auto& s) {
      for (std::size_t e = 0; e < C.size(); ++e) s[c].data()[e] = C[e];
    };
    auto load_n = [&](auto& s) {
      for (std::size_t e = 0; e < N.size(); ++e) s[n].data()[e] = N[e];
    };
    tl::store s1(sums, tl::extents(p = P, g = Gn, t = Tn));
    load_a(s1), load_c(s1), load_n(s1);
    tl::eval(sums, s1);
    CHECK(s1[L]() == Approx(sum).epsilon(1e-12).margin(1e-12));
    tl::store s2(maxima, tl::extents(p = P, g = Gn, t = Tn));
    load_a(s2), load_c(s2);
    tl::eval(maxima, s2);
    CHECK(s2[L]() == mx);
    tl::store s3(minima, tl::extents(p = P, g = Gn, t = Tn));
    load_a(s3), load_n(s3);
    tl::eval(minima, s3);
    CHECK(s3[L]() == mn);
    tl::store s4(means, tl::extents(p = P, g = Gn, t = Tn));
    for (std::size_t e = 0; e < A.size(); ++e) s4[a].data()[e] = A[e];
    for (std::size_t e = 0; e < CT.size(); ++e) s4[c].data()[e] = CT[e];
    tl::eval(means, s4);
    CHECK(s4[L]() == Approx(mean).epsilon(1e-12).margin(1e-12));
    tl::store s5(floats, tl::extents(p = P, g = Gn, t = Tn));
    double fsum = 0;
    for (std::size_t e = 0; e < A.size(); ++e) s5[Af].data()[e] = static_cast<float>(A[e]);
    for (std::size_t e = 0; e < C.size(); ++e) s5[cf].data()[e] = static_cast<float>(C[e]);
    for (std::size_t e = 0; e < A.size(); ++e)
      fsum += static_cast<double>(s5[Af].data()[e]) * static_cast<double>(s5[cf].data()[e / static_cast<std::size_t>(Tn)]);
    tl::eval(floats, s5);
    CHECK(static_cast<double>(s5[Lf]()) == Approx(fsum).epsilon(2e-5).margin(1e-4));
    // accumulating into the result: a second equation of the same left-hand side adds to it
    constexpr auto twice = tl::program(L() = (a(p, g, t) + n(p)) * c(p, g), L() = (a(p, g, t) + n(p)) * c(p, g));
    tl::store s6(twice, tl::extents(p = P, g = Gn, t = Tn));
    load_a(s6), load_c(s6), load_n(s6);
    tl::eval(twice, s6);
    CHECK(s6[L]() == Approx(2 * sum).epsilon(1e-12).margin(1e-12));
  }
}
