// tl::rl::fit_scaling and tl::rl::scaling_curve: the worked example of the reference (A = 0.645, B = 1.70,
// R0 = 0.30, C_mid = 8000), recovery of known parameters from noisy synthetic curves with bootstrap intervals that
// cover them, extrapolation, and every input error.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <random>
#include <tensorlogic/rl/scaling_fit.hpp>
#include <utility>
#include <vector>

namespace tl = tensorlogic;

namespace {

const tl::rl::scaling_curve worked{0.30, 0.645, 1.70, 8000.0};

struct curve_points {
  std::vector<double> compute, reward;
};

// Evaluations every `every` GPU-hours up to `last`, with Gaussian noise of standard deviation sigma drawn by
// Box-Muller from mt19937_64(seed), so the points are the same on every platform.
curve_points sample(const tl::rl::scaling_curve& curve, double every, double last, double sigma, std::uint64_t seed) {
  std::mt19937_64 generator(seed);
  const auto uniform = [&] { return static_cast<double>(generator() >> 11) * 0x1.0p-53; };
  curve_points p;
  for (double c = every; c <= last; c += every) {
    const double u1 = uniform(), u2 = uniform();
    const double z = std::sqrt(-2.0 * std::log(1.0 - u1)) * std::cos(2.0 * std::numbers::pi * u2);
    p.compute.push_back(c);
    p.reward.push_back(curve(c) + sigma * z);
  }
  return p;
}

}  // namespace

TEST_CASE("the sigmoid reproduces the reference's worked values", "[rl][scaling]") {
  CHECK(worked(2000.0) == Approx(0.32985).margin(5e-6));
  CHECK(worked(8000.0) == Approx(0.4725).margin(1e-15));
  CHECK(worked(8000.0) == Approx(worked.r0 + (worked.a - worked.r0) / 2).margin(1e-15));
  CHECK(worked(50000.0) == Approx(0.63035).margin(5e-6));
  CHECK(worked(100000.0) == Approx(0.64035).margin(5e-6));
  CHECK(worked.predict(0.0) == 0.30);
  // The linearised form equals C^B to machine precision.
  for (const double c : {500.0, 2000.0, 8000.0, 50000.0, 100000.0})
    CHECK(worked.linearized(worked(c)) == Approx(std::pow(c, 1.70)).epsilon(1e-12));
  CHECK(worked.compute_for(0.4725) == Approx(8000.0).epsilon(1e-12));
  CHECK(worked.compute_for(worked(50000.0)) == Approx(50000.0).epsilon(1e-10));
  // High-compute limit: R_C ~ A - D / C^B with D = (A - R0) C_mid^B.
  const double d = (worked.a - worked.r0) * std::pow(worked.c_mid, worked.b);
  CHECK(worked(1e7) == Approx(worked.a - d / std::pow(1e7, worked.b)).epsilon(1e-9));
}

TEST_CASE("clean samples of the worked example are recovered exactly", "[rl][scaling]") {
  const curve_points p = sample(worked, 500.0, 50000.0, 0.0, 1);
  const auto fit = tl::rl::fit_scaling(p.compute, p.reward, 0.30);
  // The default window drops the evaluations below 1.5k GPU-hours (500 and 1000).
  CHECK(fit.points_used == 98);
  CHECK(fit.r0 == 0.30);
  CHECK(fit.a == Approx(0.645).margin(1e-9));
  CHECK(fit.b == Approx(1.70).epsilon(1e-8));
  CHECK(fit.c_mid == Approx(8000.0).epsilon(1e-8));
  CHECK(fit.residual_rms < 1e-10);
  // The paper's grid alone: A = 0.645 is on the A grid; C_mid = 8000 falls between grid values 100 + k * 39900/99,
  // so the grid's best C_mid is within one spacing (403) and the refinement closes the gap.
  CHECK(fit.grid.a == Approx(0.645).margin(1e-12));
  CHECK(std::abs(fit.grid.c_mid - 8000.0) < 39900.0 / 99.0);
  CHECK(fit.grid.b == Approx(1.70).margin(0.1));
  CHECK(fit.predict(100000.0) == Approx(0.64035).margin(5e-6));
  // With noiseless data every residual replicate is the data itself.
  CHECK(fit.a_interval.low == Approx(0.645).margin(1e-9));
  CHECK(fit.a_interval.high == Approx(0.645).margin(1e-9));
}

TEST_CASE("the reference's fit windows give the same curve on clean data", "[rl][scaling]") {
  const curve_points p = sample(worked, 1000.0, 100000.0, 0.0, 1);
  for (const auto& [low, high] : {std::pair{1500.0, 50000.0}, std::pair{0.0, 100000.0}, std::pair{5000.0, 50000.0}}) {
    tl::rl::scaling_fit_options options;
    options.min_compute = low;
    options.max_compute = high;
    options.bootstrap_samples = 0;
    const auto fit = tl::rl::fit_scaling(p.compute, p.reward, 0.30, options);
    CHECK(fit.a == Approx(0.645).margin(1e-9));
    CHECK(fit.b == Approx(1.70).epsilon(1e-8));
    CHECK(fit.c_mid == Approx(8000.0).epsilon(1e-8));
    CHECK(std::isnan(fit.a_interval.low));
  }
}

TEST_CASE("noisy worked-example curve: parameters within tolerance, intervals cover the truth", "[rl][scaling]") {
  // 100 evaluations every 500 GPU-hours, noise 0.01 (about the paper's +-0.015 run-to-run spread of A).
  const curve_points p = sample(worked, 500.0, 50000.0, 0.01, 42);
  const auto fit = tl::rl::fit_scaling(p.compute, p.reward, 0.30);
  CHECK(fit.points_used == 98);
  // Tolerances: A within the paper's 0.02 margin, B within 10%, C_mid within 10%.
  CHECK(std::abs(fit.a - 0.645) < 0.02);
  CHECK(std::abs(fit.b - 1.70) < 0.17);
  CHECK(std::abs(fit.c_mid - 8000.0) < 800.0);
  CHECK(fit.residual_rms == Approx(0.01).epsilon(0.2));
  CHECK(fit.replicates.size() == 1000);
  CHECK(fit.a_interval.contains(0.645));
  CHECK(fit.b_interval.contains(1.70));
  CHECK(fit.c_mid_interval.contains(8000.0));
  CHECK(fit.a_interval.contains(fit.a));
  CHECK(fit.b_interval.contains(fit.b));
  CHECK(fit.c_mid_interval.contains(fit.c_mid));
  // Extrapolation to twice the fitted range: the forecast at 100k lies within the margin, and its interval covers
  // the true 0.64035.
  CHECK(std::abs(fit.predict(100000.0) - worked(100000.0)) < 0.02);
  const auto forecast = fit.prediction_interval(100000.0);
  CHECK(forecast.contains(worked(100000.0)));
  CHECK(forecast.contains(fit.predict(100000.0)));

  // Resampling points instead of residuals gives intervals that also cover the truth.
  tl::rl::scaling_fit_options by_points;
  by_points.resampling = tl::rl::bootstrap_resampling::points;
  const auto pairs = tl::rl::fit_scaling(p.compute, p.reward, 0.30, by_points);
  CHECK(pairs.a == fit.a);
  CHECK(pairs.a_interval.contains(0.645));
  CHECK(pairs.b_interval.contains(1.70));
  CHECK(pairs.c_mid_interval.contains(8000.0));
}

TEST_CASE("a second synthetic curve, with the asymptote inside the grid and an earlier midpoint", "[rl][scaling]") {
  const tl::rl::scaling_curve truth{0.25, 0.72, 1.2, 3000.0};
  const curve_points p = sample(truth, 250.0, 20000.0, 0.005, 7);
  const auto fit = tl::rl::fit_scaling(p.compute, p.reward, 0.25);
  CHECK(fit.points_used == 75);
  CHECK(std::abs(fit.a - 0.72) < 0.01);
  CHECK(std::abs(fit.b - 1.2) < 0.12);
  CHECK(std::abs(fit.c_mid - 3000.0) < 300.0);
  CHECK(fit.a_interval.contains(0.72));
  CHECK(fit.b_interval.contains(1.2));
  CHECK(fit.c_mid_interval.contains(3000.0));
  CHECK(fit.prediction_interval(40000.0).contains(truth(40000.0)));
}

TEST_CASE("the bootstrap is deterministic given the seed", "[rl][scaling]") {
  const curve_points p = sample(worked, 1000.0, 40000.0, 0.01, 3);
  tl::rl::scaling_fit_options options;
  options.bootstrap_samples = 200;
  const auto first = tl::rl::fit_scaling(p.compute, p.reward, 0.30, options);
  const auto second = tl::rl::fit_scaling(p.compute, p.reward, 0.30, options);
  CHECK(first.a_interval.low == second.a_interval.low);
  CHECK(first.b_interval.high == second.b_interval.high);
  CHECK(first.c_mid_interval.low == second.c_mid_interval.low);
  options.seed = 99;
  const auto other = tl::rl::fit_scaling(p.compute, p.reward, 0.30, options);
  CHECK(other.a == first.a);
  CHECK(other.b_interval.high != first.b_interval.high);
  // Narrower coverage gives a narrower interval inside the wider one.
  options.seed = tl::rl::scaling_fit_options{}.seed;
  options.confidence = 0.5;
  const auto narrow = tl::rl::fit_scaling(p.compute, p.reward, 0.30, options);
  CHECK(narrow.b_interval.low > first.b_interval.low);
  CHECK(narrow.b_interval.high < first.b_interval.high);
}

TEST_CASE("holding A fixed fits B and C_mid only", "[rl][scaling]") {
  const curve_points p = sample(worked, 500.0, 50000.0, 0.0, 1);
  tl::rl::scaling_fit_options options;
  options.fixed_a = 0.645;
  options.bootstrap_samples = 50;
  const auto fit = tl::rl::fit_scaling(p.compute, p.reward, 0.30, options);
  CHECK(fit.a == 0.645);
  CHECK(fit.b == Approx(1.70).epsilon(1e-8));
  CHECK(fit.c_mid == Approx(8000.0).epsilon(1e-8));
  CHECK(fit.a_interval.low == 0.645);
  CHECK(fit.a_interval.high == 0.645);
  // A wrong A gives a different B: the paper compares B between runs refitted at their common A.
  options.fixed_a = 0.66;
  const auto other = tl::rl::fit_scaling(p.compute, p.reward, 0.30, options);
  CHECK(other.a == 0.66);
  CHECK(std::abs(other.b - 1.70) > 0.01);
  CHECK(other.residual_rms > 1e-4);
}

TEST_CASE("the grid alone is the paper's procedure without the refinement", "[rl][scaling]") {
  const curve_points p = sample(worked, 500.0, 50000.0, 0.0, 1);
  tl::rl::scaling_fit_options options;
  options.refine = false;
  options.bootstrap_samples = 0;
  const auto fit = tl::rl::fit_scaling(p.compute, p.reward, 0.30, options);
  CHECK(fit.a == fit.grid.a);
  CHECK(fit.b == fit.grid.b);
  CHECK(fit.c_mid == fit.grid.c_mid);
  CHECK(fit.a == Approx(0.645).margin(1e-12));
  CHECK(fit.residual_rms < 2e-3);
}

TEST_CASE("bad input names the culprit", "[rl][scaling]") {
  const curve_points p = sample(worked, 1000.0, 20000.0, 0.0, 1);
  const std::vector<double> c = p.compute, r = p.reward;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  using Catch::Contains;

  std::vector<double> shorter(r.begin(), r.end() - 1);
  REQUIRE_THROWS_WITH(tl::rl::fit_scaling(c, shorter, 0.3),
                      Contains("tensorlogic: fit_scaling: compute and reward have different sizes (20 and 19)"));
  auto bad = c;
  bad[3] = -5.0;
  REQUIRE_THROWS_WITH(tl::rl::fit_scaling(bad, r, 0.3),
                      Contains("tensorlogic: fit_scaling: compute[3] = -5 is not positive"));
  bad[3] = 0.0;
  REQUIRE_THROWS_WITH(tl::rl::fit_scaling(bad, r, 0.3), Contains("compute[3] = 0 is not positive"));
  bad[3] = inf;
  REQUIRE_THROWS_WITH(tl::rl::fit_scaling(bad, r, 0.3),
                      Contains("tensorlogic: fit_scaling: compute[3] = inf is not finite"));
  auto bad_r = r;
  bad_r[5] = nan;
  REQUIRE_THROWS_WITH(tl::rl::fit_scaling(c, bad_r, 0.3),
                      Contains("tensorlogic: fit_scaling: reward[5] = nan is not finite"));
  REQUIRE_THROWS_WITH(tl::rl::fit_scaling(c, r, nan), Contains("tensorlogic: fit_scaling: r0 = nan is not finite"));
  REQUIRE_THROWS_WITH(tl::rl::fit_scaling(c, r, 0.7),
                      Contains("tensorlogic: fit_scaling: r0 = 0.7 is not below the largest reward in the fit window"));

  // Fewer than 3 points once the window is applied: 1000 is excluded, 2000 and 3000 remain.
  const std::vector<double> three_c{1000.0, 2000.0, 3000.0}, three_r{0.31, 0.33, 0.36};
  REQUIRE_THROWS_WITH(tl::rl::fit_scaling(three_c, three_r, 0.3),
                      Contains("tensorlogic: fit_scaling: only 2 of 3 points have compute in the fit window"));
  REQUIRE_THROWS_WITH(tl::rl::fit_scaling(std::vector<double>{}, std::vector<double>{}, 0.3),
                      Contains("only 0 of 0 points"));

  const auto with = [&](auto change) {
    tl::rl::scaling_fit_options o;
    change(o);
    return o;
  };
  REQUIRE_THROWS_WITH(tl::rl::fit_scaling(c, r, 0.3, with([](auto& o) { o.min_compute = -1.0; })),
                      Contains("tensorlogic: fit_scaling: options.min_compute = -1"));
  REQUIRE_THROWS_WITH(tl::rl::fit_scaling(c, r, 0.3, with([](auto& o) { o.max_compute = 1000.0; })),
                      Contains("tensorlogic: fit_scaling: options.max_compute = 1000 must exceed options.min_compute"));
  REQUIRE_THROWS_WITH(tl::rl::fit_scaling(c, r, 0.3, with([](auto& o) { o.a_step = 0.0; })),
                      Contains("tensorlogic: fit_scaling: options.a_step = 0 must be positive"));
  REQUIRE_THROWS_WITH(tl::rl::fit_scaling(c, r, 0.3, with([](auto& o) { o.a_min = 0.9; })),
                      Contains("tensorlogic: fit_scaling: options.a_min = 0.9 and options.a_max = 0.8"));
  REQUIRE_THROWS_WITH(tl::rl::fit_scaling(c, r, 0.3, with([](auto& o) { o.c_mid_min = 0.0; })),
                      Contains("tensorlogic: fit_scaling: options.c_mid_min = 0"));
  REQUIRE_THROWS_WITH(tl::rl::fit_scaling(c, r, 0.3, with([](auto& o) { o.c_mid_count = 0; })),
                      Contains("tensorlogic: fit_scaling: options.c_mid_count must be at least 1"));
  REQUIRE_THROWS_WITH(tl::rl::fit_scaling(c, r, 0.3, with([](auto& o) { o.confidence = 1.0; })),
                      Contains("tensorlogic: fit_scaling: options.confidence = 1 must lie strictly between 0 and 1"));
  REQUIRE_THROWS_WITH(tl::rl::fit_scaling(c, r, 0.3, with([](auto& o) { o.fixed_a = 0.2; })),
                      Contains("tensorlogic: fit_scaling: options.fixed_a = 0.2 is not above r0 = 0.3"));
  REQUIRE_THROWS_WITH(tl::rl::fit_scaling(c, r, 0.5, with([](auto& o) { o.a_max = 0.5; })),
                      Contains("tensorlogic: fit_scaling: the A grid (options.a_min = 0.45 to options.a_max = 0.5) "
                               "has no value above r0 = 0.5"));

  REQUIRE_THROWS_WITH(worked.predict(-1.0),
                      Contains("tensorlogic: scaling_curve::predict: compute -1 is not a finite value >= 0"));
  REQUIRE_THROWS_WITH(
      worked.compute_for(0.7),
      Contains("tensorlogic: scaling_curve::compute_for: reward 0.7 is not strictly between R0 = 0.3 and A = 0.645"));
}
