// Broadcast rows (exec/rows.hpp): maps that read tensors at a prefix of the left-hand side's subscripts (per-row
// values), at a suffix (a bias), at all of them, or not at all, walk whole rows with flat addressing. Which equations
// qualify (static_asserts on the kernel path), and results against naive loops for every mix, write mode, element
// type and awkward extent (0, 1, rows longer and shorter than a work item).
#include <catch2/catch.hpp>
#include <algorithm>
#include <array>
#include <cmath>
#include <random>
#include <string_view>
#include <tensorlogic/tensorlogic.hpp>
#include <vector>

namespace tl = tensorlogic;

namespace {
inline constexpr tl::index<"i"> i;
inline constexpr tl::index<"j"> j;
inline constexpr tl::index<"k"> k;
inline constexpr tl::tensor<"X", double, 3> X;
inline constexpr tl::tensor<"Y", double, 3> Y;
inline constexpr tl::tensor<"u", double, 1> u;
inline constexpr tl::tensor<"w", double, 1> w;
inline constexpr tl::tensor<"wj", double, 1> wj;
inline constexpr tl::tensor<"Y2", double, 3> Y2;
inline constexpr tl::tensor<"Y3", double, 3> Y3;
inline constexpr tl::tensor<"N2", double, 2> N2;
inline constexpr tl::tensor<"N3", double, 2> N3;
inline constexpr tl::tensor<"P", double, 2> P;
inline constexpr tl::tensor<"V", double, 2> V;
inline constexpr tl::tensor<"M", double, 2> M;
inline constexpr tl::tensor<"N", double, 2> N;
inline constexpr tl::tensor<"b", double, 1> bias;
inline constexpr tl::tensor<"Mf", float, 2> Mf;
inline constexpr tl::tensor<"Nf", float, 2> Nf;
inline constexpr tl::tensor<"bf", float, 1> bf;
inline constexpr tl::scalar<"s", double> s;
inline constexpr tl::relation<"E", 2> E;
inline constexpr tl::relation<"R", 2> R;
inline constexpr tl::relation<"On", 1> On;
// eighteen per-row values: more than the row-invariant cache holds (16), so some are read per cell
inline constexpr tl::tensor<"c00", double, 1> c00;
inline constexpr tl::tensor<"c01", double, 1> c01;
inline constexpr tl::tensor<"c02", double, 1> c02;
inline constexpr tl::tensor<"c03", double, 1> c03;
inline constexpr tl::tensor<"c04", double, 1> c04;
inline constexpr tl::tensor<"c05", double, 1> c05;
inline constexpr tl::tensor<"c06", double, 1> c06;
inline constexpr tl::tensor<"c07", double, 1> c07;
inline constexpr tl::tensor<"c08", double, 1> c08;
inline constexpr tl::tensor<"c09", double, 1> c09;
inline constexpr tl::tensor<"c10", double, 1> c10;
inline constexpr tl::tensor<"c11", double, 1> c11;
inline constexpr tl::tensor<"c12", double, 1> c12;
inline constexpr tl::tensor<"c13", double, 1> c13;
inline constexpr tl::tensor<"c14", double, 1> c14;
inline constexpr tl::tensor<"c15", double, 1> c15;
inline constexpr tl::tensor<"c16", double, 1> c16;
inline constexpr tl::tensor<"c17", double, 1> c17;
inline constexpr tl::tensor<"Lr", double, 0> Lr;

template <class View>
void fill(View v, std::uint64_t seed) {
  std::mt19937_64 g(seed);
  std::uniform_real_distribution<double> d(-1.0, 1.0);
  for (std::size_t n = 0; n < v.size(); ++n) v.data()[n] = static_cast<typename View::value_type>(d(g));
}
}  // namespace

TEST_CASE("which maps run as broadcast rows", "[exec][broadcast]") {
  constexpr auto prog = tl::program(Y(i, j, k) = X(i, j, k) * P(i, j) + u(i),          // 0: prefixes 2 and 1
                                    N(i, j) = M(i, j) + bias(j),                      // 1: a bias (suffix)
                                    Y(i, j, k) = X(i, j, k) * u(i) + V(j, k) * s,     // 2: prefix 1, suffix from 1
                                    N(i, j) = tl::exp(M(i, j) - w(i)) * 2.0,          // 3: prefix with a function
                                    Y(i, j, k) = X(i, j, k) * P(i, j) + V(j, k),      // 4: prefix 2, suffix from 1
                                    N(i, j) = M(i, j) * bias(i) * w(j),               // 5: prefix and suffix
                                    N(i, j) = M(i, j) + P(j, i),                      // 6: transposed read
                                    N(i, j) = M(i, j) * 3.0);                         // 7: a flat map
  static_assert(tl::detail::execution_path<0, decltype(prog)>() == std::string_view("broadcast rows"));
  static_assert(tl::detail::execution_path<1, decltype(prog)>() == std::string_view("broadcast rows"));
  static_assert(tl::detail::execution_path<2, decltype(prog)>() == std::string_view("broadcast rows"));
  static_assert(tl::detail::execution_path<3, decltype(prog)>() == std::string_view("broadcast rows"));
  // a prefix longer than the row split cannot be a per-row value
  static_assert(tl::detail::execution_path<4, decltype(prog)>() ==
                std::string_view("generic kernel (last index on lanes)"));
  static_assert(tl::detail::execution_path<5, decltype(prog)>() == std::string_view("broadcast rows"));
  static_assert(tl::detail::execution_path<6, decltype(prog)>() ==
                std::string_view("generic kernel (last index on lanes)"));
  static_assert(tl::detail::execution_path<7, decltype(prog)>() == std::string_view("flat map"));
}

TEST_CASE("broadcast rows equal naive loops", "[exec][broadcast]") {
  // the program's equations write separate heads so each is checked on its own; u is read along i, wj along j, w
  // along k
  constexpr auto prog = tl::program(Y(i, j, k) = X(i, j, k) * P(i, j) + u(i),        //
                                    Y2(i, j, k) = X(i, j, k) * u(i) + V(j, k) * s,    //
                                    Y3(i, j, k) = tl::max(P(i, j), w(k)),             // prefix 2, suffix from 2
                                    N(i, j) = M(i, j) + bias(j),                      //
                                    N2(i, j) = tl::exp(M(i, j) - u(i)) * 2.0,         //
                                    N3(i, j) = M(i, j) * u(i) * wj(j));
  for (auto [ni, nj, nk] : std::vector<std::array<long, 3>>{{1, 1, 1}, {3, 5, 7}, {2, 1, 5000}, {700, 3, 2}, {0, 4, 4}, {4, 0, 3}, {5, 6, 0}}) {
    INFO("extents " << ni << " " << nj << " " << nk);
    tl::store st(prog, tl::extents(i = ni, j = nj, k = nk));
    fill(st[X], 1);
    fill(st[P], 2);
    fill(st[u], 3);
    fill(st[V], 4);
    fill(st[M], 5);
    fill(st[bias], 6);
    fill(st[w], 7);
    fill(st[wj], 8);
    tl::bind(st, s, 0.25);
    tl::eval(prog, st);
    const auto x = st[X];
    const auto pp = st[P];
    const auto uu = st[u];
    const auto vv = st[V];
    const auto m = st[M];
    const auto bb = st[bias];
    const auto ww = st[w];
    const auto wwj = st[wj];
    for (long a = 0; a < ni; ++a)
      for (long c = 0; c < nj; ++c) {
        for (long e = 0; e < nk; ++e) {
          REQUIRE(st[Y](a, c, e) == Approx(x(a, c, e) * pp(a, c) + uu(a)).epsilon(1e-15).margin(1e-15));
          REQUIRE(st[Y2](a, c, e) == Approx(x(a, c, e) * uu(a) + vv(c, e) * 0.25).epsilon(1e-15).margin(1e-15));
          REQUIRE(st[Y3](a, c, e) == std::max(pp(a, c), ww(e)));
        }
        REQUIRE(st[N](a, c) == Approx(m(a, c) + bb(c)).epsilon(1e-15).margin(1e-15));
        REQUIRE(st[N2](a, c) == Approx(std::exp(m(a, c) - uu(a)) * 2.0).epsilon(1e-14));
        REQUIRE(st[N3](a, c) == Approx(m(a, c) * uu(a) * wwj(c)).epsilon(1e-15).margin(1e-15));
      }
  }
}

TEST_CASE("broadcast rows accumulate in a same-left-hand-side group, in float, and into relations", "[exec][broadcast]") {
  SECTION("accumulate") {
    constexpr auto prog = tl::program(N(i, j) = M(i, j) * 2.0, N(i, j) = M(i, j) * bias(i) + w(j));
    tl::store st(prog, tl::extents(i = 9, j = 600));
    fill(st[M], 1);
    fill(st[bias], 2);
    fill(st[w], 3);
    tl::eval(prog, st);
    for (long a = 0; a < 9; ++a)
      for (long c = 0; c < 600; ++c)
        REQUIRE(st[N](a, c) ==
                Approx(st[M](a, c) * 2.0 + st[M](a, c) * st[bias](a) + st[w](c)).epsilon(1e-15).margin(1e-15));
  }
  SECTION("float") {
    constexpr auto prog = tl::program(Nf(i, j) = tl::relu(Mf(i, j) + bf(j)));
    static_assert(tl::detail::execution_path<0, decltype(prog)>() == std::string_view("broadcast rows"));
    tl::store st(prog, tl::extents(i = 33, j = 17));
    fill(st[Mf], 1);
    fill(st[bf], 2);
    tl::eval(prog, st);
    for (long a = 0; a < 33; ++a)
      for (long c = 0; c < 17; ++c) REQUIRE(st[Nf](a, c) == std::max(st[Mf](a, c) + st[bf](c), 0.0f));
  }
  SECTION("a relation rule") {
    constexpr auto prog = tl::program(R(i, j) = E(i, j) * On(i));
    static_assert(tl::detail::execution_path<0, decltype(prog)>() == std::string_view("broadcast rows"));
    tl::store st(prog, tl::extents(i = 6, j = 7));
    for (long a = 0; a < 6; ++a) {
      st[On](a) = a % 2;
      for (long c = 0; c < 7; ++c) st[E](a, c) = (a + c) % 3 == 0;
    }
    tl::eval(prog, st);
    for (long a = 0; a < 6; ++a)
      for (long c = 0; c < 7; ++c) REQUIRE(int(st[R](a, c)) == int((a + c) % 3 == 0 && a % 2 == 1));
  }
}

// The host kernels read row-invariant values (scalars, per-row tensors) once per row into a cache (exec/rows.hpp
// broadcast_cache); past its capacity, and for tensors that are not floating point, they read them per cell.
TEST_CASE("broadcast rows with many per-row values, mixed element types, and the cache's capacity", "[exec][broadcast]") {
  constexpr auto prog = tl::program(
      Y(i, j, k) = X(i, j, k) * (c00(i) + c01(i) + c02(i) + c03(i) + c04(i) + c05(i) + c06(i) + c07(i) + c08(i) + c09(i) + c10(i) + c11(i) + c12(i) + c13(i) + c14(i) + c15(i) + c16(i)) + c17(i) * Mf(i, j) * s - P(i, j) * s,
      Lr() = X(i, j, k) * c00(i) * c01(i) * Mf(i, j) * s,
      Y2(i, j, k) = X(i, j, k) * (c00(i) + c01(i) + c02(i) + c03(i) + c04(i) + c05(i) + c06(i) + c07(i) + c08(i) + c09(i) + c10(i) + c11(i) + c12(i) + c13(i) + c14(i) + c15(i) + c16(i)) * Mf(i, j) + c17(i));
  static_assert(tl::detail::execution_path<0, decltype(prog)>() == std::string_view("broadcast rows"));
  static_assert(tl::detail::execution_path<1, decltype(prog)>() ==
                std::string_view("full reduction, computed in its map's pass (multi-output)"));
  static_assert(tl::detail::execution_path<2, decltype(prog)>() ==
                std::string_view("broadcast rows + a full reduction in one pass (multi-output)"));
  const long shapes[][3] = {{1, 1, 1}, {3, 5, 7}, {2, 3, 4101}, {4, 1, 9000}};
  for (const auto& sh : shapes) {
    tl::store st(prog, tl::extents(i = sh[0], j = sh[1], k = sh[2]));
    fill(st[X], 1);
    fill(st[Mf], 2);
    fill(st[P], 3);
    fill(st[c00], 10);
    fill(st[c01], 11);
    fill(st[c02], 12);
    fill(st[c03], 13);
    fill(st[c04], 14);
    fill(st[c05], 15);
    fill(st[c06], 16);
    fill(st[c07], 17);
    fill(st[c08], 18);
    fill(st[c09], 19);
    fill(st[c10], 20);
    fill(st[c11], 21);
    fill(st[c12], 22);
    fill(st[c13], 23);
    fill(st[c14], 24);
    fill(st[c15], 25);
    fill(st[c16], 26);
    fill(st[c17], 27);
    tl::bind(st, s, 0.75);
    const std::array<const double*, 18> cs = {st[c00].data(), st[c01].data(), st[c02].data(), st[c03].data(), st[c04].data(), st[c05].data(), st[c06].data(), st[c07].data(), st[c08].data(), st[c09].data(), st[c10].data(), st[c11].data(), st[c12].data(), st[c13].data(), st[c14].data(), st[c15].data(), st[c16].data(), st[c17].data()};
    tl::eval(prog, st);
    double loss = 0;
    for (long a = 0; a < sh[0]; ++a)
      for (long b = 0; b < sh[1]; ++b)
        for (long c = 0; c < sh[2]; ++c) {
          double sum = 0;
          for (int q = 0; q < 17; ++q) sum += cs[q][a];
          const double x = st[X](a, b, c), mf = st[Mf](a, b);
          REQUIRE(st[Y](a, b, c) ==
                  Approx(x * sum + cs[17][a] * mf * 0.75 - st[P](a, b) * 0.75).epsilon(1e-13).margin(1e-13));
          REQUIRE(st[Y2](a, b, c) == Approx(x * sum * mf + cs[17][a]).epsilon(1e-13).margin(1e-13));
          loss += x * cs[0][a] * cs[1][a] * mf * 0.75;
        }
    REQUIRE(st[Lr]() == Approx(loss).epsilon(1e-12).margin(1e-12));
  }
}
