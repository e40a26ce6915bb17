// exec::fast_exp (the kernels' vectorizable float exp) against libm, and the normalizer rows that use it on rows
// longer than one block, masked and not, assigning and accumulating, against loops in double.
#include <catch2/catch.hpp>
#include <cmath>
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
  for (double x = -87.33; x <= 88.72; x += 1.7e-4) {
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
  CHECK(fast_exp(-87.3f) == Approx(std::exp(-87.3f)).epsilon(3e-7));
  CHECK(fast_exp(std::numeric_limits<float>::infinity()) == std::numeric_limits<float>::infinity());
  CHECK(fast_exp(88.73f) == std::numeric_limits<float>::infinity());
  CHECK(fast_exp(1e30f) == std::numeric_limits<float>::infinity());
  CHECK(std::isnan(fast_exp(std::numeric_limits<float>::quiet_NaN())));
  // double is libm's exp, bit for bit
  for (double x : {-800.0, -708.5, -3.25, 0.0, 1e-9, 2.5, 709.5, 710.0}) CHECK(fast_exp(x) == std::exp(x));
}

TEST_CASE("exp_shifted (the kernels' vector exp, the host's widest clone) agrees with expf", "[exec][exp]") {
  std::vector<float> x, t;
  for (double v = -90.0; v <= 90.0; v += 3.3e-4) x.push_back(static_cast<float>(v));
  x.push_back(-std::numeric_limits<float>::infinity());
  x.push_back(std::numeric_limits<float>::infinity());
  x.push_back(std::numeric_limits<float>::quiet_NaN());
  t = x;
  const float shift = 0.75f;
  tl::exec::exp_shifted(t.data(), static_cast<long>(t.size()), shift);
  double worst = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const float arg = x[i] - shift, want = std::exp(arg);
    if (std::isnan(arg)) {
      CHECK(std::isnan(t[i]));
    } else if (arg < -87.33f) {
      REQUIRE(t[i] == 0.0f);
    } else if (std::isinf(want)) {
      REQUIRE(t[i] == want);
    } else {
      worst = std::max(worst, ulps(t[i], want));
    }
  }
  CHECK(worst <= 2.0);
  std::vector<double> d = {-3.0, 0.0, 0.5, 700.0};
  tl::exec::exp_shifted(d.data(), 4L, 1.0);
  for (int i = 0; i < 4; ++i) CHECK(d[i] == std::exp(std::vector<double>{-3.0, 0.0, 0.5, 700.0}[i] - 1.0));
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
