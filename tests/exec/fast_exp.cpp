// exec::fast_exp (the kernels' vectorizable float and double exp) against libm, the normalizer rows that use it on
// rows longer than one block, masked and not, assigning and accumulating, against loops in double, and the cloned
// host loops (flat maps, broadcast rows, whole reductions) computing exp against libm.
#include <catch2/catch.hpp>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <tensorlogic/tensorlogic.hpp>

#include "../support/naive.hpp"

namespace tl = tensorlogic;
using tl::test::fill_random;

namespace {
inline constexpr tl::index<"p"> p;
inline constexpr tl::index<"q"> q;
inline constexpr tl::index<"d"> d;
inline constexpr tl::tensor<"Sf", float, 2> Sf;
inline constexpr tl::tensor<"Lf", float, 2> Lf;
inline constexpr tl::tensor<"Qf", float, 2> Qf;
inline constexpr tl::tensor<"Kf", float, 2> Kf;
inline constexpr tl::tensor<"Sd", double, 2> Sd;
inline constexpr tl::tensor<"Xd", double, 2> Xd;

// distance in units in the last place of the float result
double ulps(const float got, const float want) {
  const float step = std::nextafter(std::fabs(want), std::numeric_limits<float>::infinity()) - std::fabs(want);
  return std::fabs(static_cast<double>(got) - static_cast<double>(want)) / static_cast<double>(step);
}
// and of the double result
double ulps(const double got, const double want) {
  const double step = std::nextafter(std::fabs(want), std::numeric_limits<double>::infinity()) - std::fabs(want);
  return static_cast<double>(static_cast<long double>(std::fabs(got - want)) / static_cast<long double>(step));
}
inline constexpr tl::index<"t"> t;
inline constexpr tl::tensor<"A3", double, 3> A3;
inline constexpr tl::tensor<"B3", double, 3> B3;
inline constexpr tl::tensor<"V2", double, 2> V2;
inline constexpr tl::tensor<"E3", double, 3> E3;
inline constexpr tl::tensor<"W3", double, 3> W3;
inline constexpr tl::tensor<"Tot", double, 0> Tot;

// softmax (or log-softmax) of row a of z over the keys allowed by the mask, in double
std::vector<double> reference_row(const std::vector<double>& z, const int a, const bool causal, const bool log) {
  double mx = -1e300, sum = 0.0;
  const int n = static_cast<int>(z.size());
  for (int b = 0; b < n; ++b)
    if (!causal || b <= a) mx = std::max(mx, z[b]);
  for (int b = 0; b < n; ++b)
    if (!causal || b <= a) sum += std::exp(z[b] - mx);
  std::vector<double> out(n);
  for (int b = 0; b < n; ++b) {
    const double x = (!causal || b <= a) ? z[b] : -1e30;
    out[b] = log ? x - mx - std::log(sum) : std::exp(x - mx) / sum;
  }
  return out;
}
}  // namespace

TEST_CASE("fast_exp is within 2 ulp of expf for normal results and exact at the edges", "[exec][exp]") {
  using tl::exec::fast_exp;
  double worst = 0.0;
  for (double x = -86.9; x <= 88.72; x += 1.7e-4) {
    const float xf = static_cast<float>(x);
    worst = std::max(worst, ulps(fast_exp(xf), std::exp(xf)));
  }
  for (float x = -1e-3f; x <= 1e-3f; x += 3.1e-7f) worst = std::max(worst, ulps(fast_exp(x), std::exp(x)));
  CHECK(worst <= 2.0);
  CHECK(fast_exp(0.0f) == 1.0f);
  CHECK(fast_exp(-0.0f) == 1.0f);
  CHECK(fast_exp(-std::numeric_limits<float>::infinity()) == 0.0f);
  CHECK(fast_exp(-1e30f) == 0.0f);
  CHECK(fast_exp(-87.34f) == 0.0f);  // a subnormal result is flushed to 0
  CHECK(fast_exp(-86.91f) == 0.0f);  // and so is one below exp(-86.9) = 1.8e-38
  CHECK(fast_exp(-86.9f) == Approx(std::exp(-86.9f)).epsilon(3e-7));
  CHECK(fast_exp(-86.5f) == Approx(std::exp(-86.5f)).epsilon(3e-7));
  CHECK(fast_exp(88.7f) == Approx(std::exp(88.7f)).epsilon(3e-7));
  CHECK(fast_exp(std::numeric_limits<float>::infinity()) == std::numeric_limits<float>::infinity());
  CHECK(fast_exp(88.73f) == std::numeric_limits<float>::infinity());
  CHECK(fast_exp(1e30f) == std::numeric_limits<float>::infinity());
  CHECK(std::isnan(fast_exp(std::numeric_limits<float>::quiet_NaN())));
}

TEST_CASE("fast_exp for double is within 1.5 ulp of libm's exp above 3.3e-308 and exact at the edges", "[exec][exp]") {
  using tl::exec::fast_exp;
  double worst = 0.0;
  for (double x = -708.0; x <= 709.78; x += 1.3e-3) worst = std::max(worst, ulps(fast_exp(x), std::exp(x)));
  for (double x = -1e-3; x <= 1e-3; x += 2.9e-7) worst = std::max(worst, ulps(fast_exp(x), std::exp(x)));
  for (double x = -1.0; x <= 1.0; x += 1.7e-6) worst = std::max(worst, ulps(fast_exp(x), std::exp(x)));
  CHECK(worst <= 1.5);
  CHECK(fast_exp(0.0) == 1.0);
  CHECK(fast_exp(-0.0) == 1.0);
  CHECK(fast_exp(1e-300) == 1.0);
  CHECK(fast_exp(-std::numeric_limits<double>::infinity()) == 0.0);
  CHECK(fast_exp(-800.0) == 0.0);
  CHECK(fast_exp(-708.5) == 0.0);    // a subnormal result is flushed to 0
  CHECK(fast_exp(-708.001) == 0.0);  // and so is one below exp(-708) = 3.3e-308
  CHECK(fast_exp(-708.0) == Approx(std::exp(-708.0)).epsilon(1e-15));
  CHECK(fast_exp(-707.9) == Approx(std::exp(-707.9)).epsilon(1e-15));
  CHECK(fast_exp(-707.703) == Approx(std::exp(-707.703)).epsilon(1e-15));  // 2^(n-1) = DBL_MIN
  CHECK(fast_exp(709.7) == Approx(std::exp(709.7)).epsilon(1e-15));
  CHECK(fast_exp(709.782) == Approx(std::exp(709.782)).epsilon(1e-15));      // DBL_MAX is exp(709.7827)
  CHECK(fast_exp(709.78) == Approx(std::exp(709.78)).epsilon(1e-15));
  CHECK(fast_exp(709.79) == std::numeric_limits<double>::infinity());
  CHECK(fast_exp(std::numeric_limits<double>::infinity()) == std::numeric_limits<double>::infinity());
  CHECK(std::isnan(fast_exp(std::numeric_limits<double>::quiet_NaN())));
}

TEST_CASE("exp_shifted (the kernels' vector exp, the host's widest clone) agrees with expf", "[exec][exp]") {
  std::vector<float> x, t;
  for (double v = -90.0; v <= 90.0; v += 3.3e-4) x.push_back(static_cast<float>(v));
  x.push_back(-std::numeric_limits<float>::infinity());
  x.push_back(std::numeric_limits<float>::infinity());
  x.push_back(std::numeric_limits<float>::quiet_NaN());
  // far outside the range, where the lanes' reduction and scale are meaningless and only the selects at the end hold
  for (const float big : {3e6f, 1e20f, 1e30f, std::numeric_limits<float>::max()}) {
    x.push_back(big);
    x.push_back(-big);
  }
  t = x;
  const float shift = 0.75f;
  tl::exec::exp_shifted(t.data(), static_cast<long>(t.size()), shift);
  double worst = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const float arg = x[i] - shift, want = std::exp(arg);
    if (std::isnan(arg)) {
      CHECK(std::isnan(t[i]));
    } else if (arg < -86.9f) {
      REQUIRE(t[i] == 0.0f);
    } else if (std::isinf(want)) {
      REQUIRE(t[i] == want);
    } else {
      worst = std::max(worst, ulps(t[i], want));
    }
  }
  CHECK(worst <= 2.0);
  // double: the clone's loop over a block, against libm
  std::vector<double> xd, td;
  for (double v = -712.0; v <= 712.0; v += 1.1e-2) xd.push_back(v);
  xd.push_back(-std::numeric_limits<double>::infinity());
  xd.push_back(std::numeric_limits<double>::infinity());
  xd.push_back(std::numeric_limits<double>::quiet_NaN());
  for (const double big : {5e15, 1e20, 1e300, std::numeric_limits<double>::max()}) {
    xd.push_back(big);
    xd.push_back(-big);
  }
  // and 100,000 random bit patterns: every magnitude, subnormal numbers, NaNs with payloads
  std::uint64_t bits = 0x9e3779b97f4a7c15ull;
  for (int i = 0; i < 100000; ++i) {
    bits ^= bits << 13;
    bits ^= bits >> 7;
    bits ^= bits << 17;
    xd.push_back(std::bit_cast<double>(bits));
  }
  td = xd;
  tl::exec::exp_shifted(td.data(), static_cast<long>(td.size()), 1.0);
  double worst_d = 0.0;
  for (std::size_t i = 0; i < xd.size(); ++i) {
    const double arg = xd[i] - 1.0, want = std::exp(arg);
    if (std::isnan(arg)) {
      CHECK(std::isnan(td[i]));
    } else if (arg < -708.0) {
      REQUIRE(td[i] == 0.0);
    } else if (std::isinf(want)) {
      REQUIRE(td[i] == want);
    } else {
      worst_d = std::max(worst_d, ulps(td[i], want));
    }
  }
  CHECK(worst_d <= 1.5);
}

TEST_CASE("the cloned host loops compute exp and products as libm and loops do", "[exec][exp]") {
  // a flat map with exp, broadcast rows with a per-row factor, a whole reduction with a per-row factor: the three
  // host loops that are compiled per instruction set; 3 x 5 x 1000 cells (rows longer than a vector, a ragged end)
  const auto prog = tl::program(E3(p, q, t) = tl::exp(A3(p, q, t) - B3(p, q, t)),
                                W3(p, q, t) = A3(p, q, t) * B3(p, q, t) * V2(p, q),
                                Tot() = -1.0 * A3(p, q, t) * V2(p, q) * E3(p, q, t));
  tl::store s(prog, tl::extents(p = 3, q = 5, t = 1000));
  fill_random(s[A3], 11, -3.0, 3.0);
  fill_random(s[B3], 12, -3.0, 3.0);
  fill_random(s[V2], 13);
  s[A3](1, 2, 7) = 0.0;  // a zero factor wins over the Inf that exp gives below
  s[B3](1, 2, 7) = -1000.0;
  tl::eval(prog, s);
  double worst = 0.0, total = 0.0;
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 5; ++b)
      for (int c = 0; c < 1000; ++c) {
        const double x = s[A3](a, b, c), y = s[B3](a, b, c), v = s[V2](a, b), e = std::exp(x - y);
        if (std::isinf(e)) {
          REQUIRE(s[E3](a, b, c) == e);
        } else {
          worst = std::max(worst, ulps(s[E3](a, b, c), e));
        }
        REQUIRE(s[W3](a, b, c) == x * y * v);
        if (x != 0.0) total += -1.0 * x * v * e;
      }
  CHECK(worst <= 2.0);
  CHECK(s[Tot]() == Approx(total).epsilon(1e-13));
}

TEST_CASE("float softmax rows longer than a block, masked and not, assign and accumulate", "[exec][exp][rule7]") {
  constexpr auto scores = tl::program(Sf(p, q) = tl::softmax(q, Qf(p, d) * Kf(q, d) * 0.25));
  constexpr auto causal =
      tl::program(Sf(p, q) = tl::softmax(q, tl::where(q <= p, Qf(p, d) * Kf(q, d) * 0.25, -1e30)));
  constexpr auto logits = tl::program(Lf(p, q) = tl::log_softmax(q, Qf(p, d) * Kf(q, d) * 0.25));
  for (const int n : {1, 63, 64, 65, 200}) {
    const int nd = 16;
    for (int variant = 0; variant < 3; ++variant) {
      auto run = [&](const auto& prog, const auto& out) {
        tl::store s(prog, tl::extents(p = n, q = n, d = nd));
        fill_random(s[Qf], 11, -3, 3);
        fill_random(s[Kf], 12, -3, 3);
        tl::eval(prog, s);
        std::vector<double> z(n);
        for (int a = 0; a < n; ++a) {
          for (int b = 0; b < n; ++b) {
            double acc = 0.0;
            for (int e = 0; e < nd; ++e) acc += double(s[Qf](a, e)) * double(s[Kf](b, e));
            z[b] = acc * 0.25;
          }
          const auto want = reference_row(z, a, variant == 1, variant == 2);
          for (int b = 0; b < n; ++b) REQUIRE(double(s[out](a, b)) == Approx(want[b]).epsilon(2e-5).margin(1e-6));
        }
      };
      if (variant == 0) run(scores, Sf);
      if (variant == 1) run(causal, Sf);
      if (variant == 2) run(logits, Lf);
    }
  }
}

TEST_CASE("double softmax rows accumulate into a sum of rules over several blocks", "[exec][exp][rule7]") {
  // two rules for the same head: the second softmax adds to the first (the non-assigning path)
  constexpr auto prog = tl::program(Sd(p, q) = tl::softmax(q, Xd(p, q)), Sd(p, q) = tl::softmax(q, 2.0 * Xd(p, q)));
  const int n = 70;
  tl::store s(prog, tl::extents(p = 3, q = n));
  fill_random(s[Xd], 5, -6, 6);
  tl::eval(prog, s);
  for (int a = 0; a < 3; ++a) {
    std::vector<double> x(n), x2(n);
    for (int b = 0; b < n; ++b) {
      x[b] = s[Xd](a, b);
      x2[b] = 2.0 * x[b];
    }
    const auto one = reference_row(x, a, false, false), two = reference_row(x2, a, false, false);
    double total = 0.0;
    for (int b = 0; b < n; ++b) {
      REQUIRE(s[Sd](a, b) == Approx(one[b] + two[b]).epsilon(1e-13).margin(1e-16));
      total += s[Sd](a, b);
    }
    CHECK(total == Approx(2.0).epsilon(1e-13));
  }
}
