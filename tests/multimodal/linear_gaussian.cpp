// tl::multimodal's linear-Gaussian theory of UML: the dense linear algebra against naive Gauss-Jordan, the
// effective Fisher information against the Schur complement of the full stacked information, the stacked estimator
// against Monte Carlo (covariance = I_eff^{-1}) for n_y = 0, 20, 80, the shrinking covariance, identifiability
// restored by Y, the exchange rate against Monte Carlo, the reference's worked examples, and every input error.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <tensorlogic/multimodal/linear_gaussian.hpp>
#include <utility>
#include <vector>

namespace tl = tensorlogic;
namespace mm = tl::multimodal;

namespace {

// The reference's section 3.5 setting: k_c = 4, k_x = k_y = 2, p = 8, N(0, 1) projections, unit noise, n_x = 20.
const mm::linear_gaussian_model reference_model =
    mm::random_linear_gaussian_model({.k_c = 4, .k_x = 2, .k_y = 2, .p_x = 8, .p_y = 8}, 1.0, 1.0, 1);
constexpr std::size_t reference_n_x = 20;

mm::matrix random_matrix(std::size_t rows, std::size_t cols, std::uint64_t seed) {
  std::mt19937_64 engine(seed);
  mm::matrix m(rows, cols);
  mm::fill_standard_normal(engine, m.row(0), rows * cols);
  return m;
}

// G^T G + 0.1 I: symmetric positive definite, condition number up to a few hundred.
mm::matrix random_spd(std::size_t n, std::uint64_t seed) {
  const mm::matrix g = random_matrix(n, n, seed);
  return mm::transpose(g) * g + 0.1 * mm::matrix::identity(n);
}

// Gauss-Jordan elimination with partial pivoting on [A | B]: returns A^{-1} B.
mm::matrix naive_solve(mm::matrix a, mm::matrix b) {
  const std::size_t n = a.rows();
  for (std::size_t c = 0; c < n; ++c) {
    std::size_t pivot = c;
    for (std::size_t r = c + 1; r < n; ++r)
      if (std::abs(a(r, c)) > std::abs(a(pivot, c))) pivot = r;
    for (std::size_t j = 0; j < n; ++j) std::swap(a(c, j), a(pivot, j));
    for (std::size_t j = 0; j < b.cols(); ++j) std::swap(b(c, j), b(pivot, j));
    const double d = a(c, c);
    for (std::size_t j = 0; j < n; ++j) a(c, j) /= d;
    for (std::size_t j = 0; j < b.cols(); ++j) b(c, j) /= d;
    for (std::size_t r = 0; r < n; ++r) {
      if (r == c) continue;
      const double f = a(r, c);
      for (std::size_t j = 0; j < n; ++j) a(r, j) -= f * a(c, j);
      for (std::size_t j = 0; j < b.cols(); ++j) b(r, j) -= f * b(c, j);
    }
  }
  return b;
}

double relative_difference(const mm::matrix& a, const mm::matrix& b) {
  return mm::frobenius_norm(a - b) / mm::frobenius_norm(b);
}

double min_eigenvalue(const mm::matrix& a) { return mm::symmetric_eigen(a).values.front(); }

// The full Fisher information of (theta_c, theta_x, theta_y) for n_x X and n_y Y samples, written out block by
// block from M_X = [A_c A_x 0] and M_Y = [B_c 0 B_y].
mm::matrix full_information(const mm::linear_gaussian_model& m, std::size_t n_x, std::size_t n_y) {
  const std::size_t kc = m.k_c(), kx = m.k_x(), k = kc + kx + m.k_y();
  mm::matrix mx(m.p_x(), k), my(m.p_y(), k);
  for (std::size_t i = 0; i < m.p_x(); ++i) {
    for (std::size_t j = 0; j < kc; ++j) mx(i, j) = m.a_c(i, j);
    for (std::size_t j = 0; j < kx; ++j) mx(i, kc + j) = m.a_x(i, j);
  }
  for (std::size_t i = 0; i < m.p_y(); ++i) {
    for (std::size_t j = 0; j < kc; ++j) my(i, j) = m.b_c(i, j);
    for (std::size_t j = 0; j < m.k_y(); ++j) my(i, kc + kx + j) = m.b_y(i, j);
  }
  return (static_cast<double>(n_x) / m.sigma_x2) * (mm::transpose(mx) * mx) +
         (static_cast<double>(n_y) / m.sigma_y2) * (mm::transpose(my) * my);
}

// A model with a scalar shared parameter, one private parameter per modality, p = 3 and noise variances 0.5 (X)
// and 2 (Y), with B_c rescaled so that the exchange rate is exactly `rate` (J_Y scales with the square of B_c).
mm::linear_gaussian_model scalar_model_with_rate(double rate) {
  mm::linear_gaussian_model m =
      mm::random_linear_gaussian_model({.k_c = 1, .k_x = 1, .k_y = 1, .p_x = 3, .p_y = 3}, 0.5, 2.0, 7);
  const double current = mm::exchange_rate(m, {1.0});
  m.b_c = std::sqrt(current / rate) * m.b_c;
  return m;
}

}  // namespace

TEST_CASE("linear algebra: SPD solve and inverse agree with Gauss-Jordan", "[multimodal][linear_gaussian][linalg]") {
  for (std::size_t n = 1; n <= 8; ++n) {
    CAPTURE(n);
    const mm::matrix a = random_spd(n, 100 + n);
    const mm::matrix b = random_matrix(n, 1, 200 + n);
    const mm::vector x = mm::solve_spd(a, b.column(0));
    const mm::matrix naive = naive_solve(a, b);
    for (std::size_t i = 0; i < n; ++i) CHECK(x[i] == Approx(naive(i, 0)).epsilon(1e-9).margin(1e-12));
    // The residual is at rounding level relative to |A| |x|.
    const mm::vector ax = a * x;
    for (std::size_t i = 0; i < n; ++i) CHECK(std::abs(ax[i] - b(i, 0)) < 1e-11 * (1.0 + mm::frobenius_norm(a)));

    const mm::matrix inv = mm::inverse_spd(a);
    CHECK(relative_difference(inv, naive_solve(a, mm::matrix::identity(n))) < 1e-10);
    CHECK(mm::frobenius_norm(a * inv - mm::matrix::identity(n)) < 1e-10);
    CHECK(relative_difference(inv, mm::transpose(inv)) == 0.0);

    const mm::matrix l = mm::cholesky(a);
    CHECK(relative_difference(l * mm::transpose(l), a) < 1e-14);
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = i + 1; j < n; ++j) CHECK(l(i, j) == 0.0);
  }
}

TEST_CASE("linear algebra: Jacobi eigenvalues and orthonormal bases", "[multimodal][linear_gaussian][linalg]") {
  const mm::symmetric_eigensystem small = mm::symmetric_eigen(mm::matrix(2, 2, {2.0, 1.0, 1.0, 2.0}));
  CHECK(small.values[0] == Approx(1.0).epsilon(1e-14));
  CHECK(small.values[1] == Approx(3.0).epsilon(1e-14));
  CHECK(std::abs(small.vectors(0, 0)) == Approx(std::sqrt(0.5)).epsilon(1e-14));

  for (std::size_t n = 1; n <= 8; ++n) {
    CAPTURE(n);
    const mm::matrix a = random_spd(n, 300 + n);
    const mm::symmetric_eigensystem e = mm::symmetric_eigen(a);
    mm::matrix lambda(n, n);
    double sum = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
      lambda(i, i) = e.values[i];
      sum += e.values[i];
      if (i > 0) CHECK(e.values[i - 1] <= e.values[i]);
    }
    CHECK(relative_difference(e.vectors * lambda * mm::transpose(e.vectors), a) < 1e-12);
    CHECK(mm::frobenius_norm(mm::transpose(e.vectors) * e.vectors - mm::matrix::identity(n)) < 1e-12);
    CHECK(sum == Approx(mm::trace(a)).epsilon(1e-12));
  }

  // Three columns spanning a plane: the third is the sum of the first two.
  mm::matrix m = random_matrix(5, 3, 11);
  for (std::size_t i = 0; i < 5; ++i) m(i, 2) = m(i, 0) + m(i, 1);
  const mm::matrix q = mm::orthonormal_basis(m);
  REQUIRE(q.cols() == 2);
  CHECK(mm::frobenius_norm(mm::transpose(q) * q - mm::matrix::identity(2)) < 1e-14);
  // Q Q^T reproduces every column of m.
  CHECK(relative_difference(q * (mm::transpose(q) * m), m) < 1e-14);
}

TEST_CASE("linear algebra: a matrix that is not positive definite is refused",
          "[multimodal][linear_gaussian][linalg]") {
  REQUIRE_THROWS_WITH(mm::cholesky(mm::matrix(2, 2, {1.0, 2.0, 2.0, 1.0})),
                      Catch::StartsWith("tensorlogic: cholesky: matrix is not positive definite (pivot 1"));
  REQUIRE_THROWS_WITH(mm::inverse_spd(mm::matrix(2, 2, {1.0, 1.0, 1.0, 1.0})),
                      Catch::Contains("not positive definite"));
  REQUIRE_THROWS_WITH(mm::solve_spd(random_spd(3, 1), {1.0, 2.0}),
                      Catch::Contains("solve_spd: right-hand side has 2 entries, matrix is 3x3"));
  REQUIRE_THROWS_WITH(mm::cholesky(mm::matrix(2, 3)), Catch::Contains("cholesky: matrix is 2x3, not square"));
  REQUIRE_THROWS_WITH(mm::matrix(2, 2, {1.0, 2.0, 3.0}), Catch::Contains("3 entries given for a 2x2 matrix"));
  REQUIRE_THROWS_WITH(mm::matrix(2, 3) * mm::matrix(2, 3), Catch::Contains("matrix product: 2x3 times 2x3"));
}

TEST_CASE("I_eff is the Schur complement of the stacked Fisher information", "[multimodal][linear_gaussian][fisher]") {
  const mm::linear_gaussian_model& m = reference_model;
  for (const auto& [n_x, n_y] : {std::pair<std::size_t, std::size_t>{20, 20}, {20, 80}, {3, 1}}) {
    CAPTURE(n_x, n_y);
    // [I^{-1}]_cc inverted: eliminates theta_x and theta_y, written with Gauss-Jordan rather than projections.
    const mm::matrix full = full_information(m, n_x, n_y);
    const std::size_t k = full.rows();
    const mm::matrix full_inverse = naive_solve(full, mm::matrix::identity(k));
    mm::matrix block(m.k_c(), m.k_c());
    for (std::size_t i = 0; i < m.k_c(); ++i)
      for (std::size_t j = 0; j < m.k_c(); ++j) block(i, j) = full_inverse(i, j);
    CHECK(relative_difference(mm::asymptotic_covariance(m, n_x, n_y), block) < 1e-9);
    CHECK(relative_difference(mm::effective_information(m, n_x, n_y),
                              naive_solve(block, mm::matrix::identity(m.k_c()))) < 1e-9);
  }
  // X alone: the theta_y rows and columns are dropped before eliminating.
  const mm::matrix full = full_information(m, 20, 0);
  const std::size_t kcx = m.k_c() + m.k_x();
  mm::matrix cx(kcx, kcx);
  for (std::size_t i = 0; i < kcx; ++i)
    for (std::size_t j = 0; j < kcx; ++j) cx(i, j) = full(i, j);
  const mm::matrix cx_inverse = naive_solve(cx, mm::matrix::identity(kcx));
  mm::matrix block(m.k_c(), m.k_c());
  for (std::size_t i = 0; i < m.k_c(); ++i)
    for (std::size_t j = 0; j < m.k_c(); ++j) block(i, j) = cx_inverse(i, j);
  CHECK(relative_difference(mm::asymptotic_covariance(m, 20, 0), block) < 1e-9);
  // Per-sample information is additive over samples.
  CHECK(relative_difference(mm::effective_information(m, 20, 80),
                            20.0 * mm::information_per_x_sample(m) + 80.0 * mm::information_per_y_sample(m)) < 1e-15);
}

TEST_CASE("the stacked estimator recovers theta_c exactly from noise-free observations",
          "[multimodal][linear_gaussian][estimator]") {
  const mm::linear_gaussian_model& m = reference_model;
  const auto sum = [](mm::vector a, const mm::vector& b) {
    for (std::size_t i = 0; i < a.size(); ++i) a[i] += b[i];
    return a;
  };
  const mm::vector mean_x = sum(m.a_c * m.theta_c, m.a_x * m.theta_x);
  const mm::vector mean_y = sum(m.b_c * m.theta_c, m.b_y * m.theta_y);
  for (const auto& [n_x, n_y] : {std::pair<std::size_t, std::size_t>{20, 0}, {20, 20}, {1, 3}, {0, 5}}) {
    CAPTURE(n_x, n_y);
    mm::unpaired_samples s{mm::matrix(n_x, m.p_x()), mm::matrix(n_y, m.p_y())};
    for (std::size_t i = 0; i < n_x; ++i)
      for (std::size_t j = 0; j < m.p_x(); ++j) s.x(i, j) = mean_x[j];
    for (std::size_t i = 0; i < n_y; ++i)
      for (std::size_t j = 0; j < m.p_y(); ++j) s.y(i, j) = mean_y[j];
    const mm::vector estimate = mm::estimate_shared(m, s);
    REQUIRE(estimate.size() == m.k_c());
    for (std::size_t i = 0; i < m.k_c(); ++i) CHECK(estimate[i] == Approx(m.theta_c[i]).margin(1e-10));
  }
  // One noisy draw: the estimate is the projection-form GLS I_eff^{-1} sum_m n_m C_m^T (I - P_m) mean_m / sigma_m^2.
  const mm::unpaired_samples s = mm::sample(m, 20, 20, 5);
  const mm::vector estimate = mm::estimate_shared(m, s);
  const auto projected = [](const mm::matrix& c, const mm::matrix& own, const mm::matrix& obs, double variance) {
    const mm::matrix q = mm::orthonormal_basis(own);
    const mm::matrix r = c - q * (mm::transpose(q) * c);
    mm::vector total(obs.cols(), 0.0);
    for (std::size_t i = 0; i < obs.rows(); ++i)
      for (std::size_t j = 0; j < obs.cols(); ++j) total[j] += obs(i, j) / variance;
    return mm::transpose(r) * total;
  };
  const mm::vector gx = projected(m.a_c, m.a_x, s.x, m.sigma_x2), gy = projected(m.b_c, m.b_y, s.y, m.sigma_y2);
  mm::vector g(m.k_c());
  for (std::size_t i = 0; i < g.size(); ++i) g[i] = gx[i] + gy[i];
  const mm::vector profiled = mm::solve_spd(mm::effective_information(m, 20, 20), g);
  for (std::size_t i = 0; i < m.k_c(); ++i) CHECK(estimate[i] == Approx(profiled[i]).epsilon(1e-9).margin(1e-12));
}

TEST_CASE("Monte Carlo: Cov(theta_c estimate) matches the inverse effective information",
          "[multimodal][linear_gaussian][monte_carlo]") {
  const mm::linear_gaussian_model& m = reference_model;
  for (std::size_t n_y : {0u, 20u, 80u}) {
    CAPTURE(n_y);
    // Trace within 5% (the reference's criterion), every entry within 4 standard errors, and unbiased.
    DYNAMIC_SECTION("2000 repetitions, n_y = " << n_y) {
      const mm::monte_carlo_covariance r = mm::monte_carlo(m, reference_n_x, n_y, 2000, 1);
      REQUIRE(r.repetitions == 2000);
      CHECK(std::abs(r.relative_trace_error()) < 0.05);
      for (std::size_t i = 0; i < m.k_c(); ++i) {
        for (std::size_t j = 0; j < m.k_c(); ++j)
          CHECK(std::abs(r.covariance(i, j) - r.predicted(i, j)) < 4.0 * r.entry_standard_error(i, j));
        CHECK(std::abs(r.mean[i] - m.theta_c[i]) < 4.0 * std::sqrt(r.predicted(i, i) / 2000.0));
      }
    }
    // Relative Frobenius error and every diagonal entry within 5%.
    DYNAMIC_SECTION("20000 repetitions, n_y = " << n_y) {
      const mm::monte_carlo_covariance r = mm::monte_carlo(m, reference_n_x, n_y, 20000, 2);
      CHECK(r.relative_frobenius_error() < 0.05);
      CHECK(r.max_relative_diagonal_error() < 0.05);
      CHECK(std::abs(r.relative_trace_error()) < 0.05);
    }
  }
}

TEST_CASE("unpaired Y samples shrink the covariance of the shared estimate",
          "[multimodal][linear_gaussian][monte_carlo]") {
  const mm::linear_gaussian_model& m = reference_model;
  const mm::matrix p0 = mm::asymptotic_covariance(m, reference_n_x, 0);
  const mm::matrix p20 = mm::asymptotic_covariance(m, reference_n_x, 20);
  const mm::matrix p80 = mm::asymptotic_covariance(m, reference_n_x, 80);
  // Strictly in Loewner order: (I - P_{B_y}) B_c has full column rank, so every direction gains.
  CHECK(min_eigenvalue(p0 - p20) > 1e-4);
  CHECK(min_eigenvalue(p20 - p80) > 1e-4);
  CHECK(mm::trace(p80) < mm::trace(p20));
  CHECK(mm::trace(p20) < mm::trace(p0));

  // Measured: the same seed shares the X draws, so the empirical covariances are ordered as well.
  const mm::monte_carlo_covariance c0 = mm::monte_carlo(m, reference_n_x, 0, 2000, 3);
  const mm::monte_carlo_covariance c20 = mm::monte_carlo(m, reference_n_x, 20, 2000, 3);
  const mm::monte_carlo_covariance c80 = mm::monte_carlo(m, reference_n_x, 80, 2000, 3);
  CHECK(c20.trace() < 0.5 * c0.trace());
  CHECK(c80.trace() < 0.6 * c20.trace());
  CHECK(min_eigenvalue(c0.covariance - c20.covariance) > 0.0);
  CHECK(min_eigenvalue(c20.covariance - c80.covariance) > 0.0);
}

TEST_CASE("control: with B_c = 0 the Y samples change nothing", "[multimodal][linear_gaussian][monte_carlo]") {
  mm::linear_gaussian_model m = reference_model;
  m.b_c = mm::matrix(m.p_y(), m.k_c());
  CHECK(mm::frobenius_norm(mm::information_per_y_sample(m)) == 0.0);
  CHECK(relative_difference(mm::asymptotic_covariance(m, 20, 80), mm::asymptotic_covariance(m, 20, 0)) == 0.0);
  // The same X draws give the same estimate with or without the 80 Y samples.
  const mm::vector with_y = mm::estimate_shared(m, mm::sample(m, 20, 80, 9));
  const mm::vector x_only = mm::estimate_shared(m, mm::sample(m, 20, 0, 9));
  for (std::size_t i = 0; i < m.k_c(); ++i) CHECK(with_y[i] == Approx(x_only[i]).epsilon(1e-12).margin(1e-14));
  CHECK(mm::monte_carlo(m, 20, 80, 2000, 4).trace() ==
        Approx(mm::monte_carlo(m, 20, 0, 2000, 4).trace()).epsilon(1e-10));
  CHECK(std::isinf(mm::exchange_rate(m, {1.0, 0.0, 0.0, 0.0})));
}

TEST_CASE("worked example 2: a direction X cannot see becomes identifiable with Y",
          "[multimodal][linear_gaussian][identifiability]") {
  mm::linear_gaussian_model m;
  m.a_c = mm::matrix(1, 2, {1.0, 0.0});
  m.b_c = mm::matrix(1, 2, {0.0, 1.0});
  m.theta_c = {0.5, -1.5};
  const mm::identifiability_comparison id = mm::compare_identifiability(m, 10, 10);
  CHECK(id.x_only.rank == 1);
  CHECK_FALSE(id.x_only.identifiable());
  REQUIRE(id.x_only.unidentified.cols() == 1);
  CHECK(std::abs(id.x_only.unidentified(1, 0)) == Approx(1.0).epsilon(1e-14));
  CHECK(id.with_y.rank == 2);
  CHECK(id.with_y.identifiable());
  CHECK(id.y_restores());
  // J_X + J_Y = I.
  CHECK(relative_difference(mm::effective_information(m, 1, 1), mm::matrix::identity(2)) == 0.0);
  REQUIRE_THROWS_WITH(mm::estimate_shared(m, mm::sample(m, 10, 0, 1)),
                      Catch::Contains("theta_c is not identifiable from n_x = 10 X and n_y = 0 Y samples") &&
                          Catch::Contains("rank 1 < k_c = 2"));
  const mm::monte_carlo_covariance r = mm::monte_carlo(m, 10, 10, 20000, 1);
  CHECK(r.predicted(1, 1) == Approx(0.1).epsilon(1e-14));
  CHECK(r.covariance(1, 1) == Approx(0.1).epsilon(0.05));
}

TEST_CASE("Y restores a direction null in A_c or confounded with theta_x",
          "[multimodal][linear_gaussian][identifiability]") {
  SECTION("A_c u = 0") {
    mm::linear_gaussian_model m = reference_model;
    mm::vector u = {1.0, -2.0, 0.5, 1.0};
    const double norm = std::sqrt(mm::dot(u, u));
    for (double& x : u) x /= norm;
    mm::matrix projector = mm::matrix::identity(4);
    for (std::size_t i = 0; i < 4; ++i)
      for (std::size_t j = 0; j < 4; ++j) projector(i, j) -= u[i] * u[j];
    m.a_c = m.a_c * projector;
    const mm::identifiability_comparison id = mm::compare_identifiability(m, 20, 20);
    CHECK(id.x_only.rank == 3);
    REQUIRE(id.x_only.unidentified.cols() == 1);
    CHECK(std::abs(mm::dot(id.x_only.unidentified.column(0), u)) == Approx(1.0).epsilon(1e-9));
    CHECK(id.with_y.rank == 4);
    CHECK(id.y_restores());
    REQUIRE_THROWS_WITH(mm::monte_carlo(m, 20, 0), Catch::Contains("theta_c is not identifiable"));
    const mm::monte_carlo_covariance r = mm::monte_carlo(m, 20, 20, 2000, 5);
    CHECK(std::abs(r.relative_trace_error()) < 0.05);
    // Along u only Y informs: the variance is 1 / (n_y u^T J_Y u) when u is also an eigenvector of I_eff, and at
    // least that in general; measured and predicted agree within four standard errors.
    const double predicted = r.predicted_variance_along(u);
    CHECK(predicted >= 1.0 / (20.0 * mm::quadratic_form(mm::information_per_y_sample(m), u)) * (1.0 - 1e-12));
    CHECK(std::abs(r.variance_along(u) - predicted) < 4.0 * predicted * std::sqrt(2.0 / 1999.0));
  }
  SECTION("a column of A_c lies in range(A_x)") {
    mm::linear_gaussian_model m = reference_model;
    for (std::size_t i = 0; i < m.p_x(); ++i) m.a_c(i, 2) = 2.0 * m.a_x(i, 1) - m.a_x(i, 0);
    // A_c still has full column rank; the direction e_2 is confounded with the private parameter theta_x.
    CHECK(mm::orthonormal_basis(m.a_c).cols() == 4);
    const mm::identifiability_comparison id = mm::compare_identifiability(m, 20, 20);
    CHECK(id.x_only.rank == 3);
    REQUIRE(id.x_only.unidentified.cols() == 1);
    CHECK(std::abs(id.x_only.unidentified(2, 0)) == Approx(1.0).epsilon(1e-9));
    CHECK(id.y_restores());
    const mm::monte_carlo_covariance r = mm::monte_carlo(m, 20, 20, 2000, 6);
    CHECK(std::abs(r.relative_trace_error()) < 0.05);
  }
}

TEST_CASE("worked example 1: scalar variances and the exchange rate", "[multimodal][linear_gaussian][exchange_rate]") {
  mm::linear_gaussian_model m;
  m.a_c = mm::matrix(1, 1, {1.0});
  m.b_c = mm::matrix(1, 1, {2.0});
  m.sigma_x2 = 1.0;
  m.sigma_y2 = 4.0;  // sigma_y = 2: one Y sample carries information 1, like one X sample
  m.theta_c = {0.3};
  CHECK(mm::asymptotic_covariance(m, 10, 0)(0, 0) == Approx(0.1).epsilon(1e-14));
  CHECK(mm::asymptotic_covariance(m, 10, 10)(0, 0) == Approx(0.05).epsilon(1e-14));
  CHECK(mm::exchange_rate(m, {1.0}) == Approx(1.0).epsilon(1e-14));
  m.sigma_y2 = 1.0;  // sigma_y = 1: information 4 per Y sample
  CHECK(mm::exchange_rate(m, {1.0}) == Approx(0.25).epsilon(1e-14));
  CHECK(mm::exchange_rate(m, {-3.0}) == Approx(0.25).epsilon(1e-14));
  CHECK(mm::equivalent_x_samples(m, 10, 10, {1.0}) == Approx(50.0).epsilon(1e-14));
}

TEST_CASE("Monte Carlo: the exchange rate predicts the X samples that Y replaces",
          "[multimodal][linear_gaussian][exchange_rate]") {
  // A scalar shared parameter with private nuisances in both modalities: every direction is an eigendirection, so
  // n_x X and n_y Y samples should give the variance of n_x + n_y / rho X samples alone.
  SECTION("rho = 1/4: 20 X + 20 Y samples are worth 100 X samples") {
    const mm::linear_gaussian_model m = scalar_model_with_rate(0.25);
    REQUIRE(mm::exchange_rate(m, {1.0}) == Approx(0.25).epsilon(1e-12));
    REQUIRE(mm::equivalent_x_samples(m, 20, 20, {1.0}) == Approx(100.0).epsilon(1e-12));
    const mm::monte_carlo_covariance mixed = mm::monte_carlo(m, 20, 20, 20000, 21);
    const mm::monte_carlo_covariance x_only = mm::monte_carlo(m, 100, 0, 20000, 22);
    CHECK(mixed.covariance(0, 0) == Approx(x_only.covariance(0, 0)).epsilon(0.05));
    CHECK(mixed.covariance(0, 0) == Approx(x_only.predicted(0, 0)).epsilon(0.05));
    CHECK(mixed.predicted(0, 0) == Approx(x_only.predicted(0, 0)).epsilon(1e-12));
    // and clearly not the variance of 20 + 20 X samples
    CHECK(mixed.covariance(0, 0) < 0.5 * mm::asymptotic_covariance(m, 40, 0)(0, 0));
  }
  SECTION("rho = 2: 40 Y samples are worth 20 X samples") {
    const mm::linear_gaussian_model m = scalar_model_with_rate(2.0);
    const mm::monte_carlo_covariance mixed = mm::monte_carlo(m, 20, 40, 20000, 23);
    const mm::monte_carlo_covariance x_only = mm::monte_carlo(m, 40, 0, 20000, 24);
    CHECK(mixed.covariance(0, 0) == Approx(x_only.covariance(0, 0)).epsilon(0.05));
    CHECK(mixed.covariance(0, 0) == Approx(x_only.predicted(0, 0)).epsilon(0.05));
  }
  // B_c = 2 A_c, B_y = A_x, sigma_y^2 = 2: J_Y = 2 J_X, so every direction is an eigendirection of both.
  SECTION("k_c = 4, proportional geometry: rho = 1/2 along every direction") {
    mm::linear_gaussian_model m = reference_model;
    m.b_c = 2.0 * m.a_c;
    m.b_y = m.a_x;
    m.sigma_y2 = 2.0;
    const mm::vector v = {0.3, -1.0, 0.7, 0.2};
    REQUIRE(mm::exchange_rate(m, v) == Approx(0.5).epsilon(1e-12));
    REQUIRE(mm::exchange_rate(m, {0.0, 0.0, 1.0, 0.0}) == Approx(0.5).epsilon(1e-12));
    const mm::monte_carlo_covariance mixed = mm::monte_carlo(m, 20, 20, 20000, 25);
    const mm::monte_carlo_covariance x_only = mm::monte_carlo(m, 60, 0, 20000, 26);
    CHECK(mixed.variance_along(v) == Approx(x_only.variance_along(v)).epsilon(0.05));
    CHECK(mixed.variance_along(v) == Approx(x_only.predicted_variance_along(v)).epsilon(0.05));
    CHECK(relative_difference(mixed.predicted, x_only.predicted) < 1e-12);
  }
  SECTION("a generic model: rho depends on the direction") {
    const mm::linear_gaussian_model& m = reference_model;
    const mm::matrix jx = mm::information_per_x_sample(m), jy = mm::information_per_y_sample(m);
    for (std::size_t i = 0; i < m.k_c(); ++i) {
      mm::vector e(m.k_c(), 0.0);
      e[i] = 1.0;
      CHECK(mm::exchange_rate(m, e) == Approx(jx(i, i) / jy(i, i)).epsilon(1e-14));
    }
    CHECK(mm::exchange_rate(m, {1.0, 0.0, 0.0, 0.0}) < 0.5);
    CHECK(mm::exchange_rate(m, {0.0, 1.0, 0.0, 0.0}) > 2.0);
  }
}

TEST_CASE("samples are deterministic per seed and X draws do not depend on n_y", "[multimodal][linear_gaussian]") {
  const mm::unpaired_samples a = mm::sample(reference_model, 5, 3, 42), b = mm::sample(reference_model, 5, 30, 42);
  const mm::unpaired_samples c = mm::sample(reference_model, 5, 3, 43);
  CHECK(relative_difference(a.x, b.x) == 0.0);
  CHECK(a.y(2, 7) == b.y(2, 7));
  CHECK(a.x(0, 0) != c.x(0, 0));
  CHECK(a.x.rows() == 5);
  CHECK(a.y.rows() == 3);
  CHECK(a.x.cols() == 8);
}

TEST_CASE("input errors name the culprit", "[multimodal][linear_gaussian][errors]") {
  const mm::linear_gaussian_model good = reference_model;
  SECTION("dimension mismatches") {
    mm::linear_gaussian_model m = good;
    m.a_x = mm::matrix(7, 2);
    REQUIRE_THROWS_WITH(mm::validate(m), Catch::Contains("linear-Gaussian model: A_x has 7 rows but A_c has 8"));
    m = good;
    m.b_y = mm::matrix(5, 2);
    REQUIRE_THROWS_WITH(mm::effective_information(m, 1, 1), Catch::Contains("B_y has 5 rows but B_c has 8"));
    m = good;
    m.b_c = mm::matrix(8, 3);
    REQUIRE_THROWS_WITH(mm::information_per_y_sample(m), Catch::Contains("B_c has 3 columns but A_c has 4"));
    m = good;
    m.theta_c = {1.0, 2.0, 3.0};
    REQUIRE_THROWS_WITH(mm::sample(m, 1, 1, 1), Catch::Contains("theta_c has 3 entries but A_c has 4 columns"));
    m = good;
    m.theta_y = {1.0};
    REQUIRE_THROWS_WITH(mm::monte_carlo(m, 20, 20), Catch::Contains("theta_y has 1 entries but B_y has 2 columns"));
    m = good;
    m.a_c = mm::matrix(8, 0);
    REQUIRE_THROWS_WITH(mm::validate(m), Catch::Contains("A_c has no columns"));
    m = good;
    m.a_c(3, 1) = std::nan("");
    REQUIRE_THROWS_WITH(mm::validate(m), Catch::Contains("A_c(3, 1) is not finite"));

    mm::unpaired_samples s = mm::sample(good, 20, 20, 1);
    s.x = mm::matrix(20, 7);
    REQUIRE_THROWS_WITH(mm::estimate_shared(good, s),
                        Catch::Contains("X samples have 7 columns but the model's X observations have p_x = 8"));
    const mm::stacked_estimator estimator(good, 20, 20);
    REQUIRE_THROWS_WITH(estimator(mm::sample(good, 20, 19, 1)),
                        Catch::Contains("Y samples have 19 rows but the estimator was built for n_y = 20"));
    REQUIRE_THROWS_WITH(mm::exchange_rate(good, {1.0, 0.0, 0.0}),
                        Catch::Contains("exchange_rate: direction v has 3 entries but k_c = 4"));
    REQUIRE_THROWS_WITH(mm::exchange_rate(good, {0.0, 0.0, 0.0, 0.0}), Catch::Contains("direction v is zero"));
    mm::linear_gaussian_model blind;
    blind.a_c = mm::matrix(1, 2, {1.0, 0.0});
    blind.b_c = mm::matrix(1, 2, {1.0, 0.0});
    blind.theta_c = {0.0, 0.0};
    REQUIRE_THROWS_WITH(mm::exchange_rate(blind, {0.0, 1.0}),
                        Catch::Contains("neither X nor Y carries information along direction v"));
  }
  SECTION("non-positive noise variance") {
    mm::linear_gaussian_model m = good;
    m.sigma_x2 = 0.0;
    REQUIRE_THROWS_WITH(mm::asymptotic_covariance(m, 20, 0),
                        Catch::StartsWith("tensorlogic: linear-Gaussian model: noise variance sigma_x2 = 0 must be "
                                          "positive"));
    m = good;
    m.sigma_y2 = -1.5;
    REQUIRE_THROWS_WITH(mm::estimate_shared(m, mm::sample(good, 2, 2, 1)),
                        Catch::Contains("sigma_y2 = -1.5 must be positive and finite"));
    m.sigma_y2 = std::nan("");
    REQUIRE_THROWS_WITH(mm::validate(m), Catch::Contains("sigma_y2 = nan"));
  }
  SECTION("too few samples or repetitions") {
    REQUIRE_THROWS_WITH(mm::estimate_shared(good, mm::sample(good, 0, 0, 1)),
                        Catch::Contains("too few samples: n_x = 0 and n_y = 0"));
    REQUIRE_THROWS_WITH(mm::asymptotic_covariance(good, 0, 0), Catch::Contains("too few samples"));
    REQUIRE_THROWS_WITH(
        mm::monte_carlo(good, 20, 0, 1),
        Catch::Contains("monte_carlo: too few repetitions: 1; an empirical covariance needs at least 2"));
  }
  SECTION("a private parameter that its own modality cannot identify") {
    mm::linear_gaussian_model m = good;
    for (std::size_t i = 0; i < m.p_x(); ++i) m.a_x(i, 1) = -3.0 * m.a_x(i, 0);
    REQUIRE_THROWS_WITH(mm::stacked_estimator(m, 20, 0),
                        Catch::Contains("A_x has rank 1 < k_x = 2, so theta_x is not identifiable"));
  }
}
