// Contraction order for products of three or four tensors (plan/order.hpp): the chosen order's cost equals the
// optimum found by brute force over every pairwise merge sequence (written here independently, on index-name sets),
// for chains, batch indices, hyperedges and cycles at random extents; results equal naive loops with the order on
// and off, with the vendor GEMM path on and off, scaled, accumulated, at sizes including 1; tl::explain prints the
// order and its FLOPs.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <tensorlogic/tensorlogic.hpp>
#include <vector>

namespace tl = tensorlogic;

namespace {
inline constexpr tl::index<"b"> b;
inline constexpr tl::index<"i"> i;
inline constexpr tl::index<"j"> j;
inline constexpr tl::index<"k"> k;
inline constexpr tl::index<"l"> l;
inline constexpr tl::index<"m"> m;
inline constexpr tl::tensor<"A", double, 2> A;
inline constexpr tl::tensor<"B", double, 2> B;
inline constexpr tl::tensor<"C", double, 2> C;
inline constexpr tl::tensor<"D", double, 2> D;
inline constexpr tl::tensor<"Y", double, 2> Y;
inline constexpr tl::tensor<"y", double, 1> y;
inline constexpr tl::tensor<"x", double, 1> x;
inline constexpr tl::tensor<"z", double, 1> z;
inline constexpr tl::tensor<"A3", double, 3> A3;
inline constexpr tl::tensor<"B3", double, 3> B3;
inline constexpr tl::tensor<"C3", double, 3> C3;
inline constexpr tl::tensor<"Y3", double, 3> Y3;
inline constexpr tl::tensor<"s", double, 0> s0;
inline constexpr tl::scalar<"alpha", double> alpha;
inline constexpr tl::tensor<"Af", float, 2> Af;
inline constexpr tl::tensor<"Bf", float, 2> Bf;
inline constexpr tl::tensor<"Cf", float, 2> Cf;
inline constexpr tl::tensor<"Yf", float, 2> Yf;

using names = std::vector<std::string>;

// Brute force: every sequence of pairwise merges; a merge keeps the indices the left-hand side or any other operand
// still reads (the last merge keeps exactly the left-hand side's) and costs the size of the union of both operands'
// and its result's indices. The single loop costs (factors - 1) times the size of all indices.
double brute_force(std::vector<std::set<std::string>> ops, const std::set<std::string>& lhs,
                   const std::map<std::string, double>& ext) {
  auto size = [&](const std::set<std::string>& s) {
    double p = 1;
    for (const auto& n : s) p *= ext.at(n);
    return p;
  };
  if (ops.size() == 1) return 0;
  double best = 1e300;
  for (std::size_t a = 0; a < ops.size(); ++a)
    for (std::size_t c = a + 1; c < ops.size(); ++c) {
      std::set<std::string> keep = lhs, uni = ops[a];
      uni.insert(ops[c].begin(), ops[c].end());
      for (std::size_t o = 0; o < ops.size(); ++o)
        if (o != a && o != c) keep.insert(ops[o].begin(), ops[o].end());
      std::set<std::string> result;
      if (ops.size() == 2) {
        result = lhs;
      } else {
        for (const auto& n : uni)
          if (keep.count(n)) result.insert(n);
      }
      std::set<std::string> space = uni;
      space.insert(result.begin(), result.end());
      std::vector<std::set<std::string>> rest;
      for (std::size_t o = 0; o < ops.size(); ++o)
        if (o != a && o != c) rest.push_back(ops[o]);
      rest.push_back(result);
      best = std::min(best, size(space) + brute_force(rest, lhs, ext));
    }
  return best;
}

template <class Eq>
void check_optimum(const Eq&, const std::vector<names>& factors, const names& lhs, std::uint64_t seed) {
  using order = tl::detail::contraction_order<Eq>;
  std::mt19937_64 g(seed);
  std::uniform_int_distribution<int> pick(1, 64);
  for (int draw = 0; draw < 40; ++draw) {
    std::map<std::string, double> ext;
    for (int t = 0; t < order::term.n_idx; ++t) ext[std::string(order::term.name[t])] = pick(g);
    auto extent = [&](int t) { return static_cast<long>(ext[std::string(order::term.name[t])]); };
    std::vector<std::set<std::string>> ops;
    std::set<std::string> all(lhs.begin(), lhs.end());
    for (const auto& f : factors) {
      ops.emplace_back(f.begin(), f.end());
      all.insert(f.begin(), f.end());
    }
    double single = static_cast<double>(factors.size() - 1);
    for (const auto& n : all) single *= ext[n];
    const double optimum = std::min(single, brute_force(ops, std::set<std::string>(lhs.begin(), lhs.end()), ext));
    const int chosen = order::choose(extent);
    INFO("draw " << draw << " chosen " << chosen << " " << order::describe(chosen));
    CHECK(order::cost(chosen, extent) == optimum);
    CHECK(order::cost(-1, extent) == single);
  }
}

std::vector<double> random_values(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 g(seed);
  std::uniform_real_distribution<double> d(-1.0, 1.0);
  std::vector<double> out(n);
  for (auto& v : out) v = d(g);
  return out;
}

template <class View>
void fill(View v, std::uint64_t seed) {
  const auto vals = random_values(v.size(), seed);
  std::copy(vals.begin(), vals.end(), v.data());
}
}  // namespace

TEST_CASE("candidate trees are enumerated at compile time; trees that cannot beat one loop are dropped", "[plan][order]") {
  // (A C) B would start with an outer product over all four indices: dropped
  using chain3 = decltype(Y(i, l) = A(i, j) * B(j, k) * C(k, l));
  static_assert(tl::detail::contraction_order<chain3>::count == 2);
  using chain4 = decltype(Y(i, m) = A(i, j) * B(j, k) * C(k, l) * D(l, m));
  static_assert(tl::detail::contraction_order<chain4>::count == 15);
  // elementwise products summed over one index: every step would iterate (i, j) -> no tree
  using hadamard = decltype(y(i) = A(i, j) * B(i, j) * C(i, j));
  static_assert(tl::detail::contraction_order<hadamard>::count == 0);
  // nothing contracted, two factors, index expressions, a relation: not ordered
  using outer = decltype(Y3(i, j, k) = x(i) * y(j) * z(k));
  static_assert(tl::detail::contraction_order<outer>::count == 0);
  using two = decltype(Y(i, k) = A(i, j) * B(j, k));
  static_assert(tl::detail::contraction_order<two>::count == 0);
  using shifted = decltype(Y(i, l) = A(i, j + 1) * B(j, k) * C(k, l));
  static_assert(tl::detail::contraction_order<shifted>::count == 0);
  // five factors: one loop (documented limit)
  using five = decltype(y(i) = A(i, j) * B(j, k) * C(k, l) * D(l, m) * x(m));
  static_assert(tl::detail::contraction_order<five>::count == 0);
  // scale factors do not count as factors
  using scaled = decltype(Y(i, l) = 2.0 * A(i, j) * alpha * B(j, k) * s0() * C(k, l));
  static_assert(tl::detail::contraction_order<scaled>::count == 2);
}

TEST_CASE("the chosen order's cost equals the brute-force optimum", "[plan][order]") {
  check_optimum(Y(i, l) = A(i, j) * B(j, k) * C(k, l), {{"i", "j"}, {"j", "k"}, {"k", "l"}}, {"i", "l"}, 1);
  check_optimum(Y(i, m) = A(i, j) * B(j, k) * C(k, l) * D(l, m), {{"i", "j"}, {"j", "k"}, {"k", "l"}, {"l", "m"}},
                {"i", "m"}, 2);
  // batch index in every factor and the output
  check_optimum(Y3(b, i, l) = A3(b, i, j) * B3(b, j, k) * C3(b, k, l),
                {{"b", "i", "j"}, {"b", "j", "k"}, {"b", "k", "l"}}, {"b", "i", "l"}, 3);
  // hyperedge: j in three factors
  check_optimum(y(i) = A(i, j) * B(j, k) * C(j, k), {{"i", "j"}, {"j", "k"}, {"j", "k"}}, {"i"}, 4);
  check_optimum(y(i) = A(i, j) * x(j) * B(i, k) * z(k), {{"i", "j"}, {"j"}, {"i", "k"}, {"k"}}, {"i"}, 5);
  // a cycle (trace of a product) and a star around i
  check_optimum(s0() = A(i, j) * B(j, k) * C(k, i), {{"i", "j"}, {"j", "k"}, {"k", "i"}}, {}, 6);
  check_optimum(Y(i, m) = A(i, j) * B(i, k) * C(i, l) * D(l, m), {{"i", "j"}, {"i", "k"}, {"i", "l"}, {"l", "m"}},
                {"i", "m"}, 7);
  // a bilinear form x^T A z with a kept index and a repeated operand symbol
  check_optimum(y(i) = x(j) * A(j, k) * z(k) * B(i, j), {{"j"}, {"j", "k"}, {"k"}, {"i", "j"}}, {"i"}, 8);
}

TEST_CASE("the order follows the extents", "[plan][order]") {
  using chain3 = decltype(Y(i, l) = A(i, j) * B(j, k) * C(k, l));
  using order = tl::detail::contraction_order<chain3>;
  auto by = [](std::map<std::string, long> e) {
    return [e](int t) { return e.at(std::string(order::term.name[t])); };
  };
  // narrow j and l: B C first is 800 against 40,000 for A B first and 80,000 for one loop
  CHECK(order::describe(order::choose(by({{"i", 100}, {"j", 2}, {"k", 100}, {"l", 2}}))) == "A (B C)");
  CHECK(order::describe(order::choose(by({{"i", 2}, {"j", 100}, {"k", 2}, {"l", 100}}))) == "(A B) C");
  // all extents 1: every order costs what the single loop costs; the single loop stays
  CHECK(order::choose(by({{"i", 1}, {"j", 1}, {"k", 1}, {"l", 1}})) == -1);
}

namespace {
// Y(i, l) = sum_jk A(i,j) B(j,k) C(k,l) by loops.
template <class Get>
std::vector<double> naive_chain(long ni, long nj, long nk, long nl, Get a, Get bb, Get c) {
  std::vector<double> out(static_cast<std::size_t>(ni * nl), 0.0);
  for (long r = 0; r < ni; ++r)
    for (long q = 0; q < nl; ++q) {
      double acc = 0;
      for (long u = 0; u < nj; ++u)
        for (long w = 0; w < nk; ++w) acc += a(r, u) * bb(u, w) * c(w, q);
      out[static_cast<std::size_t>(r * nl + q)] = acc;
    }
  return out;
}
}  // namespace

TEST_CASE("a three-factor chain equals the naive loops in every order and path", "[plan][order]") {
  const auto prog = tl::program(Y(i, l) = 2.0 * A(i, j) * alpha * B(j, k) * C(k, l));
  for (auto [ni, nj, nk, nl] : std::vector<std::array<long, 4>>{
           {1, 1, 1, 1}, {7, 2, 9, 3}, {3, 17, 2, 19}, {13, 11, 5, 1}, {1, 30, 30, 1}, {33, 5, 65, 4}}) {
    for (bool vendor : {true, false})
      for (bool ordered : {true, false}) {
        tl::set_vendor_gemm(vendor);
        tl::set_contraction_order(ordered);
        tl::store st(prog, tl::extents(i = ni, j = nj, k = nk, l = nl));
        fill(st[A], 11);
        fill(st[B], 12);
        fill(st[C], 13);
        tl::bind(st, alpha, 0.75);
        tl::eval(prog, st);
        using order = tl::detail::contraction_order<std::remove_cvref_t<decltype(tl::get<0>(prog.equations))>>;
        const auto ext = [&, ni = ni, nj = nj, nk = nk, nl = nl](int t) {  // init-captures: Clang 14 cannot
          const std::string name(order::term.name[t]);                      // capture structured bindings
          return name == "i" ? ni : name == "j" ? nj : name == "k" ? nk : nl;
        };
        // the tree that ran is the one chosen from these extents (the single loop when ordering is off)
        CHECK(tl::detail::executed_order<0>(st) == (ordered ? order::choose(ext) : -2));
        if (ordered && ni * nj * nk * nl > 1) CHECK(order::choose(ext) >= 0);
        const auto a = st[A];
        const auto bb = st[B];
        const auto c = st[C];
        const auto want = naive_chain(
            ni, nj, nk, nl, std::function<double(long, long)>([&](long r, long q) { return a(r, q); }),
            std::function<double(long, long)>([&](long r, long q) { return bb(r, q); }),
            std::function<double(long, long)>([&](long r, long q) { return c(r, q); }));
        const auto got = st[Y];
        INFO("extents " << ni << " " << nj << " " << nk << " " << nl << " vendor " << vendor << " ordered " << ordered);
        for (long r = 0; r < ni; ++r)
          for (long q = 0; q < nl; ++q)
            REQUIRE(got(r, q) == Approx(1.5 * want[static_cast<std::size_t>(r * nl + q)]).epsilon(1e-12).margin(1e-13));
      }
  }
  tl::set_vendor_gemm(true);
  tl::set_contraction_order(true);
}

TEST_CASE("batch indices, hyperedges, four factors and a same-left-hand-side group", "[plan][order]") {
  const long nb = 3, ni = 5, nj = 4, nk = 6, nl = 7, nm = 2;
  SECTION("batched chain") {
    const auto prog = tl::program(Y3(b, i, l) = A3(b, i, j) * B3(b, j, k) * C3(b, k, l));
    tl::store st(prog, tl::extents(b = nb, i = ni, j = nj, k = nk, l = nl));
    fill(st[A3], 1);
    fill(st[B3], 2);
    fill(st[C3], 3);
    tl::eval(prog, st);
    const auto a = st[A3];
    const auto bb = st[B3];
    const auto c = st[C3];
    const auto got = st[Y3];
    for (long t = 0; t < nb; ++t)
      for (long r = 0; r < ni; ++r)
        for (long q = 0; q < nl; ++q) {
          double want = 0;
          for (long u = 0; u < nj; ++u)
            for (long w = 0; w < nk; ++w) want += a(t, r, u) * bb(t, u, w) * c(t, w, q);
          REQUIRE(got(t, r, q) == Approx(want).epsilon(1e-12).margin(1e-13));
        }
  }
  SECTION("hyperedge and four factors") {
    const auto prog = tl::program(y(i) = A(i, j) * B(j, k) * C(j, k), Y(i, m) = A(i, j) * B(j, k) * C(k, l) * D(l, m));
    tl::store st(prog, tl::extents(i = ni, j = nj, k = nj, l = nj, m = nm));
    fill(st[A], 4);
    fill(st[B], 5);
    fill(st[C], 6);
    fill(st[D], 7);
    tl::eval(prog, st);
    const auto a = st[A];
    const auto bb = st[B];
    const auto c = st[C];
    const auto dd = st[D];
    for (long r = 0; r < ni; ++r) {
      double want = 0;
      for (long u = 0; u < nj; ++u)
        for (long w = 0; w < nj; ++w) want += a(r, u) * bb(u, w) * c(u, w);
      REQUIRE(st[y](r) == Approx(want).epsilon(1e-12).margin(1e-13));
      for (long q = 0; q < nm; ++q) {
        double w4 = 0;
        for (long u = 0; u < nj; ++u)
          for (long w = 0; w < nj; ++w)
            for (long v = 0; v < nj; ++v) w4 += a(r, u) * bb(u, w) * c(w, v) * dd(v, q);
        REQUIRE(st[Y](r, q) == Approx(w4).epsilon(1e-12).margin(1e-13));
      }
    }
  }
  SECTION("a same-left-hand-side group accumulates the ordered term") {
    const auto prog = tl::program(Y(i, l) = A(i, j) * B(j, k) * C(k, l), Y(i, l) = D(i, l));
    tl::store st(prog, tl::extents(i = ni, j = 30, k = 30, l = nl));
    fill(st[A], 8);
    fill(st[B], 9);
    fill(st[C], 10);
    fill(st[D], 11);
    tl::eval(prog, st);
    for (long r = 0; r < ni; ++r)
      for (long q = 0; q < nl; ++q) {
        double want = st[D](r, q);
        for (long u = 0; u < 30; ++u)
          for (long w = 0; w < 30; ++w) want += st[A](r, u) * st[B](u, w) * st[C](w, q);
        REQUIRE(st[Y](r, q) == Approx(want).epsilon(1e-12).margin(1e-13));
      }
    // evaluating again reuses the temporaries and gives the same values
    const double first = st[Y](1, 2);
    tl::eval(prog, st);
    CHECK(st[Y](1, 2) == first);
  }
  SECTION("float") {
    const auto prog = tl::program(Yf(i, l) = Af(i, j) * Bf(j, k) * Cf(k, l));
    tl::store st(prog, tl::extents(i = 40, j = 3, k = 50, l = 2));
    const auto va = random_values(120, 1), vb = random_values(150, 2), vc = random_values(100, 3);
    std::copy(va.begin(), va.end(), st[Af].data());
    std::copy(vb.begin(), vb.end(), st[Bf].data());
    std::copy(vc.begin(), vc.end(), st[Cf].data());
    tl::eval(prog, st);
    for (long r = 0; r < 40; ++r)
      for (long q = 0; q < 2; ++q) {
        double want = 0;
        for (long u = 0; u < 3; ++u)
          for (long w = 0; w < 50; ++w)
            want += double(st[Af](r, u)) * double(st[Bf](u, w)) * double(st[Cf](w, q));
        REQUIRE(double(st[Yf](r, q)) == Approx(want).epsilon(1e-4).margin(1e-5));
      }
  }
}

TEST_CASE("tl::explain prints the pairwise order and its FLOPs", "[plan][order]") {
  const auto prog = tl::program(Y(i, l) = A(i, j) * B(j, k) * C(k, l));
  tl::store st(prog, tl::extents(i = 100, j = 2, k = 100, l = 2));
  const auto text = tl::explain(prog, st);
  INFO(text);
  CHECK(text.find("pairwise A (B C)") != std::string::npos);
  const auto est = tl::estimate(prog, st);
  REQUIRE(est.size() == 1);
  CHECK(est[0].order == "A (B C)");
  // B C: j k l = 400 points, contracting (2 FLOP each); A (B C): i j l = 400 points, contracting
  CHECK(est[0].flops == 1600.0);
  tl::set_contraction_order(false);
  // estimates describe the order the store would use; the switch only affects evaluation
  CHECK(tl::estimate(prog, st)[0].order == "A (B C)");
  tl::set_contraction_order(true);
}
