// UML's linear-Gaussian theory measured: in the reference's synthetic setting (k_c = 4, k_x = k_y = 2, p = 8,
// N(0, 1) projections from seed 1, unit noise, n_x = 20) it prints, for n_y = 0, 20, 80, the predicted trace of
// I_eff^{-1} beside the Monte-Carlo trace of the stacked estimator's covariance, then identifiability and the
// exchange rate. Takes no arguments; returns non-zero if a measured trace misses the prediction by 5% or more, or
// the covariance does not shrink as unpaired Y samples are added.
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <limits>
#include <tensorlogic/multimodal/linear_gaussian.hpp>

namespace tl = tensorlogic;
namespace mm = tl::multimodal;

namespace {

int run() {
  int status = 0;
  const mm::linear_gaussian_model m =
      mm::random_linear_gaussian_model({.k_c = 4, .k_x = 2, .k_y = 2, .p_x = 8, .p_y = 8}, 1.0, 1.0, 1);
  const std::size_t n_x = 20;

  std::printf(
      "Covariance of the shared estimate, n_x = %zu (trace; MC: Monte Carlo with R repetitions, seeds 1 and 2)\n", n_x);
  std::printf(
      "| n_y | tr I_eff^-1 | MC tr, R = 2000 | error | 1 s.e. | MC tr, R = 20000 | error | Frobenius error |\n");
  std::printf(
      "|----:|------------:|----------------:|------:|-------:|-----------------:|------:|----------------:|\n");
  double previous = std::numeric_limits<double>::infinity();
  for (std::size_t n_y : {0u, 20u, 80u}) {
    const mm::monte_carlo_covariance small = mm::monte_carlo(m, n_x, n_y, 2000, 1);
    const mm::monte_carlo_covariance large = mm::monte_carlo(m, n_x, n_y, 20000, 2);
    std::printf("| %3zu | %11.5f | %15.5f | %+4.1f%% | %5.1f%% | %16.5f | %+4.1f%% | %14.1f%% |\n", n_y,
                small.predicted_trace(), small.trace(), 100.0 * small.relative_trace_error(),
                100.0 * small.trace_standard_error() / small.predicted_trace(), large.trace(),
                100.0 * large.relative_trace_error(), 100.0 * large.relative_frobenius_error());
    if (!(std::abs(small.relative_trace_error()) < 0.05) || !(std::abs(large.relative_trace_error()) < 0.05)) {
      std::printf("  the Monte-Carlo trace misses the prediction by 5%% or more\n");
      status = 1;
    }
    if (!(small.trace() < previous)) {
      std::printf("  the trace did not shrink\n");
      status = 1;
    }
    previous = small.trace();
  }

  std::printf(
      "\nSmallest eigenvalue of Cov(n_y = 0) - Cov(n_y = 20): %.3g; of Cov(20) - Cov(80): %.3g (predicted)\n",
      mm::symmetric_eigen(mm::asymptotic_covariance(m, n_x, 0) - mm::asymptotic_covariance(m, n_x, 20)).values.front(),
      mm::symmetric_eigen(mm::asymptotic_covariance(m, n_x, 20) - mm::asymptotic_covariance(m, n_x, 80))
          .values.front());

  // A_c u = 0 for one unit direction u: X alone cannot see u.
  mm::linear_gaussian_model blind = m;
  mm::vector u = {1.0, -2.0, 0.5, 1.0};
  const double norm = std::sqrt(mm::dot(u, u));
  for (double& x : u) x /= norm;
  mm::matrix projector = mm::matrix::identity(4);
  for (std::size_t i = 0; i < 4; ++i)
    for (std::size_t j = 0; j < 4; ++j) projector(i, j) -= u[i] * u[j];
  blind.a_c = blind.a_c * projector;
  const mm::identifiability_comparison id = mm::compare_identifiability(blind, n_x, 20);
  const mm::monte_carlo_covariance restored = mm::monte_carlo(blind, n_x, 20, 2000, 1);
  std::printf(
      "\nIdentifiability with A_c u = 0: rank of I_eff from X alone %zu of %zu, with 20 Y samples %zu of %zu;\n"
      "  variance of u^T theta_c with Y: predicted %.5f, Monte Carlo %.5f\n",
      id.x_only.rank, id.x_only.dimension, id.with_y.rank, id.with_y.dimension, restored.predicted_variance_along(u),
      restored.variance_along(u));
  if (!id.y_restores()) status = 1;

  std::printf("\nExchange rate rho(v) = v^T J_X v / v^T J_Y v (Y samples worth one X sample) along the axes:");
  for (std::size_t i = 0; i < 4; ++i) {
    mm::vector e(4, 0.0);
    e[i] = 1.0;
    std::printf(" %.3f", mm::exchange_rate(m, e));
  }
  std::printf("\n");

  // A scalar shared parameter (one private parameter per modality, p = 3): 20 X + 20 Y samples against the
  // n_x + n_y / rho X samples the exchange rate says they are worth.
  mm::linear_gaussian_model scalar =
      mm::random_linear_gaussian_model({.k_c = 1, .k_x = 1, .k_y = 1, .p_x = 3, .p_y = 3}, 0.5, 2.0, 7);
  const double rho = mm::exchange_rate(scalar, {1.0});
  scalar.b_c = std::sqrt(rho / 0.25) * scalar.b_c;
  const double equivalent = mm::equivalent_x_samples(scalar, 20, 20, {1.0});
  const mm::monte_carlo_covariance mixed = mm::monte_carlo(scalar, 20, 20, 20000, 21);
  const mm::monte_carlo_covariance x_only =
      mm::monte_carlo(scalar, static_cast<std::size_t>(std::lround(equivalent)), 0, 20000, 22);
  std::printf(
      "Scalar theta_c with B_c scaled to rho = %.3f: 20 X + 20 Y samples are worth %.1f X samples;\n"
      "  variance with 20 X + 20 Y: %.6f (MC), %.6f (predicted); with %.0f X alone: %.6f (MC), %.6f "
      "(predicted)\n",
      mm::exchange_rate(scalar, {1.0}), equivalent, mixed.covariance(0, 0), mixed.predicted(0, 0), equivalent,
      x_only.covariance(0, 0), x_only.predicted(0, 0));
  if (!(std::abs(mixed.covariance(0, 0) / x_only.covariance(0, 0) - 1.0) < 0.05)) status = 1;
  return status;
}

}  // namespace

int main() {
  try {
    return run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
