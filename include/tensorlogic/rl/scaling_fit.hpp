// ScaleRL's sigmoidal compute-performance curve R_C = R0 + (A - R0) / (1 + (C_mid / C)^B): tl::rl::fit_scaling
// fits it to (compute, reward) points as the paper does (early points excluded, grid over A and C_mid with B fitted
// per grid point, then a joint refinement), adds bootstrap percentile intervals, and extrapolates. Host-only;
// relies on the standard library and tl::error.
#pragma once
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <tensorlogic/core/error.hpp>
#include <utility>
#include <vector>

namespace tensorlogic::rl {

namespace detail {
inline std::string scaling_number(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%g", v);
  return buffer;
}

}  // namespace detail

// The curve with its four parameters; R0 is held fixed, A, B and C_mid are fitted.
struct scaling_curve {
  double r0 = 0.0;     // starting pass rate R0
  double a = 0.0;      // asymptotic pass rate A
  double b = 0.0;      // scaling exponent B > 0; larger is more compute-efficient
  double c_mid = 0.0;  // compute at which half of the gain A - R0 has been reached

  // R_C at compute c >= 0 (R0 at c = 0), evaluated as R0 + (A - R0) * sigma(B (ln c - ln C_mid)).
  double predict(double c) const {
    if (!(c >= 0.0) || !std::isfinite(c))
      throw error("scaling_curve::predict: compute " + detail::scaling_number(c) + " is not a finite value >= 0");
    if (c == 0.0) return r0;
    const double z = b * (std::log(c) - std::log(c_mid));
    const double s = z >= 0.0 ? 1.0 / (1.0 + std::exp(-z)) : std::exp(z) / (1.0 + std::exp(z));
    return r0 + (a - r0) * s;
  }
  double operator()(double c) const { return predict(c); }

  // The linearised form F(R) = C_mid^B [(A - R0)/(R - R0) - 1]^{-1}; on the curve F(R_C) = C^B.
  double linearized(double r) const { return std::pow(c_mid, b) / ((a - r0) / (r - r0) - 1.0); }

  // The compute at which the curve reaches reward r, for R0 < r < A (the inverse of predict).
  double compute_for(double r) const {
    if (!(r > r0 && r < a))
      throw error("scaling_curve::compute_for: reward " + detail::scaling_number(r) + " is not strictly between R0 = " +
                  detail::scaling_number(r0) + " and A = " + detail::scaling_number(a));
    return c_mid * std::pow((a - r0) / (r - r0) - 1.0, -1.0 / b);
  }
};

// How bootstrap replicates are drawn.
enum class bootstrap_resampling {
  residuals,  // fitted curve plus residuals drawn with replacement (centred, scaled by sqrt(n / (n - 3)))
  points,     // (compute, reward) pairs drawn with replacement
};

struct scaling_fit_options {
  // Fit window: points with compute below min_compute or above max_compute are excluded. The paper starts every
  // fit after about 1.5k GPU-hours (the first epoch, where reward rises almost linearly).
  double min_compute = 1500.0;
  double max_compute = std::numeric_limits<double>::infinity();
  // A grid: a_min, a_min + a_step, ..., up to a_max (the paper: 0.450 to 0.800 in steps of 0.005).
  double a_min = 0.450;
  double a_max = 0.800;
  double a_step = 0.005;
  // C_mid grid: c_mid_count linearly spaced values from c_mid_min to c_mid_max (the paper: 100 values in
  // [100, 40000]).
  double c_mid_min = 100.0;
  double c_mid_max = 40000.0;
  std::size_t c_mid_count = 100;
  // Hold A at this value instead of searching it (the paper's way to compare B between runs: refit each run with
  // the runs' average A).
  std::optional<double> fixed_a = std::nullopt;
  // After the grid, refine A, B and C_mid jointly (Levenberg-Marquardt on A, B, ln C_mid) from the best grid point.
  bool refine = true;
  // Bootstrap replicates for the intervals (0: no intervals).
  std::size_t bootstrap_samples = 1000;
  bootstrap_resampling resampling = bootstrap_resampling::residuals;
  // Seeds std::mt19937_64, whose sequence the standard fixes: the same seed gives the same intervals everywhere.
  std::uint64_t seed = 0x5ca1e;
  // Central coverage of the percentile intervals.
  double confidence = 0.95;
  // Refit each replicate with the whole grid search and refinement instead of refining from the point estimate
  // (about as slow as one full fit per replicate).
  bool bootstrap_full_grid = false;
};

// A closed interval [low, high]; NaN bounds when there were no bootstrap replicates.
struct parameter_interval {
  double low = std::numeric_limits<double>::quiet_NaN();
  double high = std::numeric_limits<double>::quiet_NaN();
  bool contains(double v) const { return low <= v && v <= high; }
};

// The fitted curve (a, b, c_mid, r0 and predict() come from scaling_curve) with the fit's diagnostics.
struct scaling_fit_result : scaling_curve {
  scaling_curve grid;                     // best grid point, before the joint refinement
  double residual_rms = 0.0;              // sqrt(mean squared residual) over the points used
  std::size_t points_used = 0;            // points inside the fit window
  double confidence = 0.0;                // coverage of the intervals below
  parameter_interval a_interval;          // bootstrap percentile interval for A
  parameter_interval b_interval;          // ... for B
  parameter_interval c_mid_interval;      // ... for C_mid
  std::vector<scaling_curve> replicates;  // the bootstrap fits

  // Percentile interval of the bootstrap replicates' predictions at compute c.
  parameter_interval prediction_interval(double c) const;
};

namespace detail {

// The points inside the fit window, with ln C precomputed.
struct scaling_points {
  std::vector<double> log_c;
  std::vector<double> r;
};

inline double scaling_logistic(double z) {
  if (z >= 0.0) return 1.0 / (1.0 + std::exp(-z));
  const double e = std::exp(z);
  return e / (1.0 + e);
}

// Parameters in the form the solvers use: A, B, ln C_mid.
using scaling_params = std::array<double, 3>;

inline double scaling_sse(const scaling_points& p, double r0, const scaling_params& q) {
  double sse = 0.0;
  for (std::size_t i = 0; i < p.r.size(); ++i) {
    const double e = p.r[i] - (r0 + (q[0] - r0) * scaling_logistic(q[1] * (p.log_c[i] - q[2])));
    sse += e * e;
  }
  return sse;
}

// B for fixed A and C_mid: least squares through the origin on the linearised form
// ln((A - R0)/(R - R0) - 1) = B (ln C_mid - ln C) over the points with R0 < R < A (B = 1, SciPy curve_fit's default
// start, when none qualify), then Gauss-Newton on the actual squared residuals, as the paper's curve_fit does.
// Returns {B, SSE}.
inline std::pair<double, double> fit_scaling_exponent(const scaling_points& p, double r0, double a, double log_c_mid) {
  double sxy = 0.0, sxx = 0.0;
  for (std::size_t i = 0; i < p.r.size(); ++i) {
    if (!(p.r[i] > r0 && p.r[i] < a)) continue;
    const double x = log_c_mid - p.log_c[i];
    const double y = std::log((a - r0) / (p.r[i] - r0) - 1.0);
    sxy += x * y;
    sxx += x * x;
  }
  double b = sxx > 0.0 ? sxy / sxx : 1.0;
  if (!(b > 0.0) || !std::isfinite(b)) b = 1.0;
  // One pass gives the squared residuals at b and the Gauss-Newton step from b.
  const auto evaluate = [&](double at, double& step) {
    double sse = 0.0, num = 0.0, den = 0.0;
    for (std::size_t i = 0; i < p.r.size(); ++i) {
      const double x = p.log_c[i] - log_c_mid;
      const double s = scaling_logistic(at * x);
      const double e = p.r[i] - (r0 + (a - r0) * s);
      const double g = (a - r0) * s * (1.0 - s) * x;
      sse += e * e;
      num += e * g;
      den += g * g;
    }
    step = den > 0.0 ? num / den : 0.0;
    return sse;
  };
  double step = 0.0;
  double sse = evaluate(b, step);
  for (int iteration = 0; iteration < 50 && step != 0.0; ++iteration) {
    bool accepted = false;
    double b_new = b, sse_new = sse, step_new = 0.0;
    for (int halving = 0; halving < 40 && !accepted; ++halving, step *= 0.5) {
      b_new = b + step;
      if (!(b_new > 0.0) || !std::isfinite(b_new)) continue;
      sse_new = evaluate(b_new, step_new);
      accepted = sse_new <= sse;
    }
    if (!accepted) break;
    const bool converged = std::abs(b_new - b) <= 1e-8 * b;
    b = b_new;
    sse = sse_new;
    step = step_new;
    if (converged) break;
  }
  return {b, sse};
}

// Solves the n x n system m x = v (n <= 3) by Gaussian elimination with partial pivoting; false if singular.
inline bool scaling_solve(std::array<std::array<double, 3>, 3> m, std::array<double, 3> v, std::size_t n,
                          std::array<double, 3>& x) {
  for (std::size_t col = 0; col < n; ++col) {
    std::size_t pivot = col;
    for (std::size_t row = col + 1; row < n; ++row)
      if (std::abs(m[row][col]) > std::abs(m[pivot][col])) pivot = row;
    if (!(std::abs(m[pivot][col]) > 0.0)) return false;
    std::swap(m[pivot], m[col]);
    std::swap(v[pivot], v[col]);
    for (std::size_t row = col + 1; row < n; ++row) {
      const double f = m[row][col] / m[col][col];
      for (std::size_t k = col; k < n; ++k) m[row][k] -= f * m[col][k];
      v[row] -= f * v[col];
    }
  }
  for (std::size_t col = n; col-- > 0;) {
    double s = v[col];
    for (std::size_t k = col + 1; k < n; ++k) s -= m[col][k] * x[k];
    x[col] = s / m[col][col];
  }
  return std::isfinite(x[0]) && (n < 2 || std::isfinite(x[1])) && (n < 3 || std::isfinite(x[2]));
}

// Levenberg-Marquardt on (A, B, ln C_mid), or on (B, ln C_mid) with A held, keeping B > 0 and A > R0.
inline scaling_params refine_scaling(const scaling_points& p, double r0, scaling_params q, bool fit_a) {
  const std::array<std::size_t, 3> free =
      fit_a ? std::array<std::size_t, 3>{0, 1, 2} : std::array<std::size_t, 3>{1, 2, 0};
  const std::size_t n = fit_a ? 3 : 2;
  double sse = scaling_sse(p, r0, q);
  double lambda = 1e-3;
  for (int iteration = 0; iteration < 200 && sse > 0.0; ++iteration) {
    std::array<std::array<double, 3>, 3> jtj{};
    std::array<double, 3> jte{};
    for (std::size_t i = 0; i < p.r.size(); ++i) {
      const double x = p.log_c[i] - q[2];
      const double s = scaling_logistic(q[1] * x);
      const double e = p.r[i] - (r0 + (q[0] - r0) * s);
      const double ds = s * (1.0 - s);
      const std::array<double, 3> g{s, (q[0] - r0) * ds * x, -(q[0] - r0) * ds * q[1]};
      for (std::size_t j = 0; j < 3; ++j) {
        jte[j] += g[j] * e;
        for (std::size_t k = 0; k < 3; ++k) jtj[j][k] += g[j] * g[k];
      }
    }
    bool accepted = false;
    scaling_params next = q;
    double sse_next = sse;
    for (int attempt = 0; attempt < 30 && !accepted; ++attempt) {
      std::array<std::array<double, 3>, 3> m{};
      std::array<double, 3> v{};
      for (std::size_t j = 0; j < n; ++j) {
        v[j] = jte[free[j]];
        for (std::size_t k = 0; k < n; ++k) m[j][k] = jtj[free[j]][free[k]];
        m[j][j] += lambda * (jtj[free[j]][free[j]] + 1e-12);
      }
      std::array<double, 3> delta{};
      if (scaling_solve(m, v, n, delta)) {
        next = q;
        for (std::size_t j = 0; j < n; ++j) next[free[j]] += delta[j];
        if (next[1] > 0.0 && next[0] > r0 && std::isfinite(next[2])) {
          sse_next = scaling_sse(p, r0, next);
          accepted = sse_next < sse;
        }
      }
      if (!accepted) lambda *= 10.0;
    }
    if (!accepted) break;
    const double gain = sse - sse_next;
    q = next;
    sse = sse_next;
    lambda = std::max(lambda * 0.1, 1e-15);
    if (gain <= 1e-15 * sse) break;
  }
  return q;
}

// The paper's search: every (A, C_mid) grid pair, B fitted for each, smallest sum of squared residuals kept.
inline scaling_params grid_search_scaling(const scaling_points& p, double r0, const scaling_fit_options& o) {
  std::vector<double> as;
  if (o.fixed_a) {
    as.push_back(*o.fixed_a);
  } else {
    const auto steps = static_cast<std::size_t>(std::floor((o.a_max - o.a_min) / o.a_step + 1e-9));
    for (std::size_t i = 0; i <= steps; ++i) {
      const double a = o.a_min + static_cast<double>(i) * o.a_step;
      if (a > r0) as.push_back(a);
    }
  }
  scaling_params best{as.front(), 1.0, std::log(o.c_mid_min)};
  double best_sse = std::numeric_limits<double>::infinity();
  for (const double a : as) {
    for (std::size_t j = 0; j < o.c_mid_count; ++j) {
      const double c_mid = o.c_mid_count == 1 ? o.c_mid_min
                                              : o.c_mid_min + (o.c_mid_max - o.c_mid_min) * static_cast<double>(j) /
                                                                  static_cast<double>(o.c_mid_count - 1);
      const double log_c_mid = std::log(c_mid);
      const auto [b, sse] = fit_scaling_exponent(p, r0, a, log_c_mid);
      if (sse < best_sse) {
        best_sse = sse;
        best = {a, b, log_c_mid};
      }
    }
  }
  return best;
}

inline scaling_params fit_scaling_points(const scaling_points& p, double r0, const scaling_fit_options& o,
                                         scaling_params* grid_result = nullptr) {
  scaling_params q = grid_search_scaling(p, r0, o);
  if (grid_result) *grid_result = q;
  if (o.refine) q = refine_scaling(p, r0, q, !o.fixed_a);
  return q;
}

// Uniform integer in [0, n) from the generator's raw output (rejection keeps it exact and portable).
inline std::size_t scaling_uniform_below(std::mt19937_64& g, std::size_t n) {
  const std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
  const std::uint64_t limit = max - max % n;
  std::uint64_t x = g();
  while (x >= limit) x = g();
  return static_cast<std::size_t>(x % n);
}

// The q-quantile (0 <= q <= 1) of sorted values, interpolating linearly between order statistics.
inline double scaling_quantile(const std::vector<double>& sorted, double q) {
  const double h = q * static_cast<double>(sorted.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(h));
  const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (h - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

inline parameter_interval scaling_percentile_interval(std::vector<double> values, double confidence) {
  if (values.empty()) return {};
  std::sort(values.begin(), values.end());
  return {scaling_quantile(values, 0.5 * (1.0 - confidence)), scaling_quantile(values, 0.5 * (1.0 + confidence))};
}

inline void validate_scaling_options(const scaling_fit_options& o) {
  const auto fail = [](const std::string& what) { throw error("fit_scaling: " + what); };
  if (std::isnan(o.min_compute) || o.min_compute < 0.0 || o.min_compute == std::numeric_limits<double>::infinity())
    fail("options.min_compute = " + scaling_number(o.min_compute) + " must be a finite value >= 0");
  if (!(o.max_compute > o.min_compute))
    fail("options.max_compute = " + scaling_number(o.max_compute) +
         " must exceed options.min_compute = " + scaling_number(o.min_compute));
  if (o.fixed_a) {
    if (!std::isfinite(*o.fixed_a)) fail("options.fixed_a = " + scaling_number(*o.fixed_a) + " is not finite");
  } else {
    if (!std::isfinite(o.a_min) || !std::isfinite(o.a_max) || !(o.a_min <= o.a_max))
      fail("options.a_min = " + scaling_number(o.a_min) + " and options.a_max = " + scaling_number(o.a_max) +
           " must be finite with a_min <= a_max");
    if (!(o.a_step > 0.0) || !std::isfinite(o.a_step))
      fail("options.a_step = " + scaling_number(o.a_step) + " must be positive");
  }
  if (!(o.c_mid_min > 0.0) || !std::isfinite(o.c_mid_max) || !(o.c_mid_min <= o.c_mid_max))
    fail("options.c_mid_min = " + scaling_number(o.c_mid_min) +
         " and options.c_mid_max = " + scaling_number(o.c_mid_max) + " must be finite with 0 < c_mid_min <= c_mid_max");
  if (o.c_mid_count == 0) fail("options.c_mid_count must be at least 1");
  if (!(o.confidence > 0.0 && o.confidence < 1.0))
    fail("options.confidence = " + scaling_number(o.confidence) + " must lie strictly between 0 and 1");
}

}  // namespace detail

inline parameter_interval scaling_fit_result::prediction_interval(double c) const {
  std::vector<double> values;
  values.reserve(replicates.size());
  for (const auto& curve : replicates) values.push_back(curve.predict(c));
  return detail::scaling_percentile_interval(std::move(values), confidence);
}

// Fits R_C = R0 + (A - R0) / (1 + (C_mid / C)^B) with R0 held at r0.
//   compute: training compute of each evaluation (e.g. GPU-hours), each finite and > 0
//   reward:  mean pass rate measured at that compute, each finite
//   r0:      starting pass rate, held fixed; must lie below the largest reward in the fit window
//   options: fit window, grids, refinement and bootstrap settings (defaults are the paper's)
// Every input is checked before any work; a bad one throws tl::error naming it.
inline scaling_fit_result fit_scaling(std::span<const double> compute, std::span<const double> reward, double r0,
                                      const scaling_fit_options& options = {}) {
  using detail::scaling_number;
  if (compute.size() != reward.size())
    throw error("fit_scaling: compute and reward have different sizes (" + std::to_string(compute.size()) + " and " +
                std::to_string(reward.size()) + ")");
  for (std::size_t i = 0; i < compute.size(); ++i) {
    if (!std::isfinite(compute[i]))
      throw error("fit_scaling: compute[" + std::to_string(i) + "] = " + scaling_number(compute[i]) + " is not finite");
    if (!(compute[i] > 0.0))
      throw error("fit_scaling: compute[" + std::to_string(i) + "] = " + scaling_number(compute[i]) +
                  " is not positive");
    if (!std::isfinite(reward[i]))
      throw error("fit_scaling: reward[" + std::to_string(i) + "] = " + scaling_number(reward[i]) + " is not finite");
  }
  if (!std::isfinite(r0)) throw error("fit_scaling: r0 = " + scaling_number(r0) + " is not finite");
  detail::validate_scaling_options(options);

  detail::scaling_points points;
  double max_reward = -std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i < compute.size(); ++i) {
    if (compute[i] < options.min_compute || compute[i] > options.max_compute) continue;
    points.log_c.push_back(std::log(compute[i]));
    points.r.push_back(reward[i]);
    max_reward = std::max(max_reward, reward[i]);
  }
  if (points.r.size() < 3)
    throw error("fit_scaling: only " + std::to_string(points.r.size()) + " of " + std::to_string(compute.size()) +
                " points have compute in the fit window [" + scaling_number(options.min_compute) + ", " +
                scaling_number(options.max_compute) + "] (options.min_compute, options.max_compute); need 3");
  if (!(r0 < max_reward))
    throw error("fit_scaling: r0 = " + scaling_number(r0) + " is not below the largest reward in the fit window (" +
                scaling_number(max_reward) + ")");
  if (options.fixed_a && !(*options.fixed_a > r0))
    throw error("fit_scaling: options.fixed_a = " + scaling_number(*options.fixed_a) +
                " is not above r0 = " + scaling_number(r0));
  if (!options.fixed_a) {
    const double a_top =
        options.a_min + std::floor((options.a_max - options.a_min) / options.a_step + 1e-9) * options.a_step;
    if (!(a_top > r0))
      throw error("fit_scaling: the A grid (options.a_min = " + scaling_number(options.a_min) + " to options.a_max = " +
                  scaling_number(options.a_max) + ") has no value above r0 = " + scaling_number(r0));
  }

  detail::scaling_params grid{};
  const detail::scaling_params q = detail::fit_scaling_points(points, r0, options, &grid);
  const auto curve_of = [r0](const detail::scaling_params& p) { return scaling_curve{r0, p[0], p[1], std::exp(p[2])}; };

  scaling_fit_result result;
  static_cast<scaling_curve&>(result) = curve_of(q);
  result.grid = curve_of(grid);
  const std::size_t n = points.r.size();
  result.points_used = n;
  result.residual_rms = std::sqrt(detail::scaling_sse(points, r0, q) / static_cast<double>(n));
  result.confidence = options.confidence;

  if (options.bootstrap_samples > 0) {
    std::vector<double> fitted(n), residuals(n);
    double mean_residual = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
      fitted[i] = r0 + (q[0] - r0) * detail::scaling_logistic(q[1] * (points.log_c[i] - q[2]));
      residuals[i] = points.r[i] - fitted[i];
      mean_residual += residuals[i] / static_cast<double>(n);
    }
    // Least-squares residuals are smaller than the errors they estimate; sqrt(n / (n - p)) undoes that on average.
    const double inflation = n > 3 ? std::sqrt(static_cast<double>(n) / static_cast<double>(n - 3)) : 1.0;
    for (auto& e : residuals) e = (e - mean_residual) * inflation;

    std::mt19937_64 generator(options.seed);
    detail::scaling_points sample;
    sample.log_c.resize(n);
    sample.r.resize(n);
    std::vector<double> as, bs, c_mids;
    result.replicates.reserve(options.bootstrap_samples);
    for (std::size_t k = 0; k < options.bootstrap_samples; ++k) {
      for (std::size_t i = 0; i < n; ++i) {
        const std::size_t j = detail::scaling_uniform_below(generator, n);
        if (options.resampling == bootstrap_resampling::residuals) {
          sample.log_c[i] = points.log_c[i];
          sample.r[i] = fitted[i] + residuals[j];
        } else {
          sample.log_c[i] = points.log_c[j];
          sample.r[i] = points.r[j];
        }
      }
      const detail::scaling_params qk = options.bootstrap_full_grid
                                            ? detail::fit_scaling_points(sample, r0, options)
                                            : detail::refine_scaling(sample, r0, q, !options.fixed_a);
      result.replicates.push_back(curve_of(qk));
      as.push_back(qk[0]);
      bs.push_back(qk[1]);
      c_mids.push_back(std::exp(qk[2]));
    }
    result.a_interval = detail::scaling_percentile_interval(std::move(as), options.confidence);
    result.b_interval = detail::scaling_percentile_interval(std::move(bs), options.confidence);
    result.c_mid_interval = detail::scaling_percentile_interval(std::move(c_mids), options.confidence);
  }
  return result;
}

}  // namespace tensorlogic::rl
