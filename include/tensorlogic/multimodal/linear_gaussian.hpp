// The linear-Gaussian theory of UML ("Better Together", arXiv 2510.08492): a shared parameter theta_c seen through
// two modalities X and Y with private nuisances theta_x, theta_y; the stacked least-squares (GLS) estimator, the
// effective Fisher information of theta_c, identifiability, the modality exchange rate and a Monte-Carlo driver.
// Host-only; relies on the standard library, tl::error and the small dense linear algebra written below.
//
// Model, for i <= n_x and j <= n_y, with eps, eta ~ N(0, I) independent (unpaired):
//   x_i = A_c theta_c + A_x theta_x + sigma_x eps_i,    y_j = B_c theta_c + B_y theta_y + sigma_y eta_j
// Per-sample information of theta_c once the private parameters are eliminated (a Schur complement):
//   J_X = A_c^T (I - P_{A_x}) A_c / sigma_x^2,  J_Y = B_c^T (I - P_{B_y}) B_c / sigma_y^2,  P_M = M (M^T M)^+ M^T
//   I_eff(theta_c) = n_x J_X + n_y J_Y;  Cov(theta_c estimate) = I_eff^{-1}, exactly, for the stacked GLS estimator.
// Exchange rate along a direction v (the reference's definition): rho(v) = v^T J_X v / v^T J_Y v, the number of Y
// samples worth one X sample; rho < 1 means a Y sample is worth more. It equates the information along v; it also
// equates the variance of v^T theta_c estimates when v is an eigenvector of both J_X and J_Y (always when k_c = 1):
// then n_x X and n_y Y samples estimate v^T theta_c as well as n_x + n_y / rho(v) X samples alone.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <limits>
#include <random>
#include <string>
#include <tensorlogic/core/error.hpp>
#include <utility>
#include <vector>

namespace tensorlogic::multimodal {

using vector = std::vector<double>;

namespace detail {
inline std::string linear_gaussian_number(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%g", v);
  return buffer;
}
inline std::string linear_gaussian_shape(std::size_t rows, std::size_t cols) {
  return std::to_string(rows) + "x" + std::to_string(cols);
}
}  // namespace detail

// A dense row-major matrix of doubles; a matrix may have zero rows or columns (k_x = 0: no private X parameter).
class matrix {
 public:
  matrix() = default;
  matrix(std::size_t rows, std::size_t cols, double fill = 0.0) : rows_(rows), cols_(cols), data_(rows * cols, fill) {}
  // Entries row by row.
  matrix(std::size_t rows, std::size_t cols, std::initializer_list<double> row_major)
      : rows_(rows), cols_(cols), data_(row_major) {
    if (data_.size() != rows * cols)
      throw error("matrix: " + std::to_string(row_major.size()) + " entries given for a " +
                  detail::linear_gaussian_shape(rows, cols) + " matrix");
  }
  static matrix identity(std::size_t n) {
    matrix m(n, n);
    for (std::size_t i = 0; i < n; ++i) m(i, i) = 1.0;
    return m;
  }

  std::size_t rows() const { return rows_; }
  std::size_t cols() const { return cols_; }
  double& operator()(std::size_t i, std::size_t j) { return data_[i * cols_ + j]; }
  double operator()(std::size_t i, std::size_t j) const { return data_[i * cols_ + j]; }
  double* row(std::size_t i) { return data_.data() + i * cols_; }
  const double* row(std::size_t i) const { return data_.data() + i * cols_; }
  vector column(std::size_t j) const {
    vector c(rows_);
    for (std::size_t i = 0; i < rows_; ++i) c[i] = (*this)(i, j);
    return c;
  }

 private:
  std::size_t rows_ = 0, cols_ = 0;
  vector data_;
};

inline std::string shape(const matrix& m) { return detail::linear_gaussian_shape(m.rows(), m.cols()); }

inline matrix transpose(const matrix& a) {
  matrix t(a.cols(), a.rows());
  for (std::size_t i = 0; i < a.rows(); ++i)
    for (std::size_t j = 0; j < a.cols(); ++j) t(j, i) = a(i, j);
  return t;
}

inline matrix operator*(const matrix& a, const matrix& b) {
  if (a.cols() != b.rows()) throw error("matrix product: " + shape(a) + " times " + shape(b));
  matrix c(a.rows(), b.cols());
  for (std::size_t i = 0; i < a.rows(); ++i)
    for (std::size_t k = 0; k < a.cols(); ++k) {
      const double aik = a(i, k);
      for (std::size_t j = 0; j < b.cols(); ++j) c(i, j) += aik * b(k, j);
    }
  return c;
}

inline vector operator*(const matrix& a, const vector& v) {
  if (a.cols() != v.size())
    throw error("matrix-vector product: " + shape(a) + " times a vector of " + std::to_string(v.size()));
  vector r(a.rows(), 0.0);
  for (std::size_t i = 0; i < a.rows(); ++i)
    for (std::size_t j = 0; j < a.cols(); ++j) r[i] += a(i, j) * v[j];
  return r;
}

inline matrix operator*(double s, matrix a) {
  for (std::size_t i = 0; i < a.rows(); ++i)
    for (std::size_t j = 0; j < a.cols(); ++j) a(i, j) *= s;
  return a;
}

namespace detail {
template <class Op>
matrix linear_gaussian_elementwise(const matrix& a, const matrix& b, const char* what, Op op) {
  if (a.rows() != b.rows() || a.cols() != b.cols())
    throw error(std::string("matrix ") + what + ": " + shape(a) + " and " + shape(b));
  matrix c(a.rows(), a.cols());
  for (std::size_t i = 0; i < a.rows(); ++i)
    for (std::size_t j = 0; j < a.cols(); ++j) c(i, j) = op(a(i, j), b(i, j));
  return c;
}
}  // namespace detail

inline matrix operator+(const matrix& a, const matrix& b) {
  return detail::linear_gaussian_elementwise(a, b, "sum", [](double x, double y) { return x + y; });
}
inline matrix operator-(const matrix& a, const matrix& b) {
  return detail::linear_gaussian_elementwise(a, b, "difference", [](double x, double y) { return x - y; });
}

inline double dot(const vector& a, const vector& b) {
  if (a.size() != b.size())
    throw error("dot: vectors of " + std::to_string(a.size()) + " and " + std::to_string(b.size()) + " entries");
  double s = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

inline double trace(const matrix& a) {
  if (a.rows() != a.cols()) throw error("trace: matrix is " + shape(a) + ", not square");
  double t = 0.0;
  for (std::size_t i = 0; i < a.rows(); ++i) t += a(i, i);
  return t;
}

inline double frobenius_norm(const matrix& a) {
  double s = 0.0;
  for (std::size_t i = 0; i < a.rows(); ++i)
    for (std::size_t j = 0; j < a.cols(); ++j) s += a(i, j) * a(i, j);
  return std::sqrt(s);
}

// v^T A v.
inline double quadratic_form(const matrix& a, const vector& v) { return dot(v, a * v); }

// The lower Cholesky factor L of a symmetric positive definite A = L L^T; reads the lower triangle. A pivot at or
// below 1e-13 times the largest diagonal entry counts as singular (condition number beyond about 1e13).
inline matrix cholesky(const matrix& a) {
  if (a.rows() != a.cols()) throw error("cholesky: matrix is " + shape(a) + ", not square");
  const std::size_t n = a.rows();
  double scale = 0.0;
  for (std::size_t i = 0; i < n; ++i) scale = std::max(scale, std::abs(a(i, i)));
  matrix l(n, n);
  for (std::size_t j = 0; j < n; ++j) {
    double d = a(j, j);
    for (std::size_t k = 0; k < j; ++k) d -= l(j, k) * l(j, k);
    if (!(d > 1e-13 * scale))
      throw error("cholesky: matrix is not positive definite (pivot " + std::to_string(j) + " is " +
                  detail::linear_gaussian_number(d) + ")");
    const double ljj = std::sqrt(d);
    l(j, j) = ljj;
    for (std::size_t i = j + 1; i < n; ++i) {
      double s = a(i, j);
      for (std::size_t k = 0; k < j; ++k) s -= l(i, k) * l(j, k);
      l(i, j) = s / ljj;
    }
  }
  return l;
}

// Solves L L^T x = b given the Cholesky factor L.
inline vector cholesky_solve(const matrix& l, vector b) {
  if (l.rows() != l.cols() || l.rows() != b.size())
    throw error("cholesky_solve: factor is " + shape(l) + ", right-hand side has " + std::to_string(b.size()) +
                " entries");
  const std::size_t n = b.size();
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t k = 0; k < i; ++k) b[i] -= l(i, k) * b[k];
    b[i] /= l(i, i);
  }
  for (std::size_t i = n; i-- > 0;) {
    for (std::size_t k = i + 1; k < n; ++k) b[i] -= l(k, i) * b[k];
    b[i] /= l(i, i);
  }
  return b;
}

// x with A x = b for a symmetric positive definite A.
inline vector solve_spd(const matrix& a, const vector& b) {
  if (a.rows() != b.size())
    throw error("solve_spd: right-hand side has " + std::to_string(b.size()) + " entries, matrix is " + shape(a));
  return cholesky_solve(cholesky(a), b);
}

// A^{-1} for a symmetric positive definite A, symmetrized.
inline matrix inverse_spd(const matrix& a) {
  const matrix l = cholesky(a);
  const std::size_t n = a.rows();
  matrix inv(n, n);
  for (std::size_t j = 0; j < n; ++j) {
    vector e(n, 0.0);
    e[j] = 1.0;
    const vector c = cholesky_solve(l, std::move(e));
    for (std::size_t i = 0; i < n; ++i) inv(i, j) = c[i];
  }
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = i + 1; j < n; ++j) inv(i, j) = inv(j, i) = 0.5 * (inv(i, j) + inv(j, i));
  return inv;
}

struct symmetric_eigensystem {
  vector values;   // ascending
  matrix vectors;  // column i is the unit eigenvector of values[i]
};

// Eigenvalues and eigenvectors of a symmetric matrix by cyclic Jacobi rotations (accurate for small matrices,
// including tiny eigenvalues relative to the largest). Uses (A + A^T) / 2.
inline symmetric_eigensystem symmetric_eigen(const matrix& input) {
  if (input.rows() != input.cols()) throw error("symmetric_eigen: matrix is " + shape(input) + ", not square");
  const std::size_t n = input.rows();
  matrix a(n, n);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j) a(i, j) = 0.5 * (input(i, j) + input(j, i));
  matrix v = matrix::identity(n);
  const double norm = frobenius_norm(a);
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0.0;
    for (std::size_t p = 0; p < n; ++p)
      for (std::size_t q = p + 1; q < n; ++q) off += a(p, q) * a(p, q);
    if (std::sqrt(off) <= 1e-16 * norm) break;
    for (std::size_t p = 0; p < n; ++p)
      for (std::size_t q = p + 1; q < n; ++q) {
        if (a(p, q) == 0.0) continue;
        // The rotation that zeroes a(p, q); t is the smaller root of t^2 + 2 theta t - 1 = 0.
        const double theta = (a(q, q) - a(p, p)) / (2.0 * a(p, q));
        const double t = std::abs(theta) > 1e150
                             ? 0.5 / theta
                             : std::copysign(1.0, theta) / (std::abs(theta) + std::hypot(theta, 1.0));
        const double c = 1.0 / std::sqrt(t * t + 1.0), s = t * c;
        for (std::size_t k = 0; k < n; ++k) {
          const double akp = a(k, p), akq = a(k, q);
          a(k, p) = c * akp - s * akq;
          a(k, q) = s * akp + c * akq;
        }
        for (std::size_t k = 0; k < n; ++k) {
          const double apk = a(p, k), aqk = a(q, k);
          a(p, k) = c * apk - s * aqk;
          a(q, k) = s * apk + c * aqk;
        }
        for (std::size_t k = 0; k < n; ++k) {
          const double vkp = v(k, p), vkq = v(k, q);
          v(k, p) = c * vkp - s * vkq;
          v(k, q) = s * vkp + c * vkq;
        }
      }
  }
  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) { return a(x, x) < a(y, y); });
  symmetric_eigensystem e{vector(n), matrix(n, n)};
  for (std::size_t i = 0; i < n; ++i) {
    e.values[i] = a(order[i], order[i]);
    for (std::size_t k = 0; k < n; ++k) e.vectors(k, i) = v(k, order[i]);
  }
  return e;
}

// An orthonormal basis (as columns) of the column space of M, by modified Gram-Schmidt with a second
// orthogonalization pass; a column whose remainder is at most `tolerance` times the largest column norm of M is
// taken as dependent.
inline matrix orthonormal_basis(const matrix& m, double tolerance = 1e-10) {
  double largest = 0.0;
  for (std::size_t j = 0; j < m.cols(); ++j) largest = std::max(largest, std::sqrt(dot(m.column(j), m.column(j))));
  std::vector<vector> basis;
  for (std::size_t j = 0; j < m.cols(); ++j) {
    vector r = m.column(j);
    for (int pass = 0; pass < 2; ++pass)
      for (const vector& q : basis) {
        const double c = dot(q, r);
        for (std::size_t i = 0; i < r.size(); ++i) r[i] -= c * q[i];
      }
    const double norm = std::sqrt(dot(r, r));
    if (norm > tolerance * largest && norm > 0.0) {
      for (double& x : r) x /= norm;
      basis.push_back(std::move(r));
    }
  }
  matrix q(m.rows(), basis.size());
  for (std::size_t j = 0; j < basis.size(); ++j)
    for (std::size_t i = 0; i < m.rows(); ++i) q(i, j) = basis[j][i];
  return q;
}

// The linear-Gaussian model of the reference. p_x = A_c.rows(), k_c = A_c.cols(), k_x = A_x.cols(), and so on.
// A modality without a private parameter has a p x 0 projection (or a default-constructed one) and an empty theta.
struct linear_gaussian_model {
  matrix a_c, a_x;                        // X's projections of theta_c and theta_x
  matrix b_c, b_y;                        // Y's projections of theta_c and theta_y
  double sigma_x2 = 1.0, sigma_y2 = 1.0;  // noise variances
  vector theta_c, theta_x, theta_y;

  std::size_t k_c() const { return a_c.cols(); }
  std::size_t k_x() const { return a_x.cols(); }
  std::size_t k_y() const { return b_y.cols(); }
  std::size_t p_x() const { return a_c.rows(); }
  std::size_t p_y() const { return b_c.rows(); }
};

namespace detail {
inline void linear_gaussian_finite(const matrix& m, const char* name) {
  for (std::size_t i = 0; i < m.rows(); ++i)
    for (std::size_t j = 0; j < m.cols(); ++j)
      if (!std::isfinite(m(i, j)))
        throw error(std::string("linear-Gaussian model: ") + name + "(" + std::to_string(i) + ", " + std::to_string(j) +
                    ") is not finite");
}
inline void linear_gaussian_finite(const vector& v, const char* name) {
  for (std::size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i]))
      throw error(std::string("linear-Gaussian model: ") + name + "[" + std::to_string(i) + "] is not finite");
}
}  // namespace detail

// Throws tl::error naming the first inconsistent part of the model.
inline void validate(const linear_gaussian_model& m) {
  using detail::linear_gaussian_shape;
  const auto fail = [](const std::string& what) { throw error("linear-Gaussian model: " + what); };
  if (m.k_c() == 0) fail("A_c has no columns; the shared parameter theta_c needs k_c >= 1");
  if (m.p_x() == 0) fail("A_c has no rows; an X sample needs p_x >= 1");
  if (m.p_y() == 0) fail("B_c has no rows; a Y sample needs p_y >= 1");
  if (m.b_c.cols() != m.k_c())
    fail("B_c has " + std::to_string(m.b_c.cols()) + " columns but A_c has " + std::to_string(m.k_c()) +
         " (both act on theta_c, k_c)");
  if (m.k_x() > 0 && m.a_x.rows() != m.p_x())
    fail("A_x has " + std::to_string(m.a_x.rows()) + " rows but A_c has " + std::to_string(m.p_x()) +
         " (both map into X, p_x)");
  if (m.k_y() > 0 && m.b_y.rows() != m.p_y())
    fail("B_y has " + std::to_string(m.b_y.rows()) + " rows but B_c has " + std::to_string(m.p_y()) +
         " (both map into Y, p_y)");
  if (m.theta_c.size() != m.k_c())
    fail("theta_c has " + std::to_string(m.theta_c.size()) + " entries but A_c has " + std::to_string(m.k_c()) +
         " columns");
  if (m.theta_x.size() != m.k_x())
    fail("theta_x has " + std::to_string(m.theta_x.size()) + " entries but A_x has " + std::to_string(m.k_x()) +
         " columns");
  if (m.theta_y.size() != m.k_y())
    fail("theta_y has " + std::to_string(m.theta_y.size()) + " entries but B_y has " + std::to_string(m.k_y()) +
         " columns");
  if (!(m.sigma_x2 > 0.0) || !std::isfinite(m.sigma_x2))
    fail("noise variance sigma_x2 = " + detail::linear_gaussian_number(m.sigma_x2) + " must be positive and finite");
  if (!(m.sigma_y2 > 0.0) || !std::isfinite(m.sigma_y2))
    fail("noise variance sigma_y2 = " + detail::linear_gaussian_number(m.sigma_y2) + " must be positive and finite");
  detail::linear_gaussian_finite(m.a_c, "A_c");
  detail::linear_gaussian_finite(m.a_x, "A_x");
  detail::linear_gaussian_finite(m.b_c, "B_c");
  detail::linear_gaussian_finite(m.b_y, "B_y");
  detail::linear_gaussian_finite(m.theta_c, "theta_c");
  detail::linear_gaussian_finite(m.theta_x, "theta_x");
  detail::linear_gaussian_finite(m.theta_y, "theta_y");
}

// Fills [first, first + count) with N(0, 1) draws: Marsaglia's polar method on 53-bit uniforms taken straight from
// the engine's output, so a seed gives the same numbers with every standard library.
inline void fill_standard_normal(std::mt19937_64& engine, double* first, std::size_t count) {
  const auto uniform = [&] { return static_cast<double>(engine() >> 11) * 0x1.0p-52 - 1.0; };  // in [-1, 1)
  for (std::size_t i = 0; i < count; i += 2) {
    double u, v, s;
    do {
      u = uniform();
      v = uniform();
      s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    const double f = std::sqrt(-2.0 * std::log(s) / s);
    first[i] = u * f;
    if (i + 1 < count) first[i + 1] = v * f;
  }
}

// The sizes of a model drawn by random_linear_gaussian_model.
struct linear_gaussian_dimensions {
  std::size_t k_c = 4, k_x = 2, k_y = 2, p_x = 8, p_y = 8;
};

// The reference's synthetic setting (section 3.5): A_c, A_x, B_c, B_y and theta with i.i.d. N(0, 1) entries from
// std::mt19937_64(seed).
inline linear_gaussian_model random_linear_gaussian_model(linear_gaussian_dimensions d, double sigma_x2 = 1.0,
                                                          double sigma_y2 = 1.0, std::uint64_t seed = 1) {
  std::mt19937_64 engine(seed);
  const auto draw = [&](std::size_t rows, std::size_t cols) {
    matrix m(rows, cols);
    if (rows * cols > 0) fill_standard_normal(engine, m.row(0), rows * cols);
    return m;
  };
  const auto draw_vector = [&](std::size_t n) {
    vector v(n);
    if (n > 0) fill_standard_normal(engine, v.data(), n);
    return v;
  };
  linear_gaussian_model m;
  m.a_c = draw(d.p_x, d.k_c);
  m.a_x = draw(d.p_x, d.k_x);
  m.b_c = draw(d.p_y, d.k_c);
  m.b_y = draw(d.p_y, d.k_y);
  m.sigma_x2 = sigma_x2;
  m.sigma_y2 = sigma_y2;
  m.theta_c = draw_vector(d.k_c);
  m.theta_x = draw_vector(d.k_x);
  m.theta_y = draw_vector(d.k_y);
  validate(m);
  return m;
}

// One draw of the unpaired data: row i of x is x_i (n_x x p_x), row j of y is y_j (n_y x p_y).
struct unpaired_samples {
  matrix x, y;
};

namespace detail {
inline matrix linear_gaussian_draw(const matrix& shared, const matrix& own, const vector& theta_c,
                                   const vector& theta_own, double variance, std::size_t n, std::mt19937_64& engine) {
  vector mean = shared * theta_c;
  if (own.cols() > 0) {
    const vector m2 = own * theta_own;
    for (std::size_t i = 0; i < mean.size(); ++i) mean[i] += m2[i];
  }
  matrix out(n, mean.size());
  if (n == 0) return out;
  fill_standard_normal(engine, out.row(0), n * mean.size());
  const double sigma = std::sqrt(variance);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < mean.size(); ++j) out(i, j) = mean[j] + sigma * out(i, j);
  return out;
}
// A second, independent stream for Y, so the X draws of a seed do not depend on n_y.
inline std::uint64_t linear_gaussian_y_seed(std::uint64_t seed) {
  std::uint64_t z = seed + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
}  // namespace detail

// n_x X samples drawn from the engine.
inline matrix sample_x(const linear_gaussian_model& m, std::size_t n_x, std::mt19937_64& engine) {
  validate(m);
  return detail::linear_gaussian_draw(m.a_c, m.a_x, m.theta_c, m.theta_x, m.sigma_x2, n_x, engine);
}
// n_y Y samples drawn from the engine.
inline matrix sample_y(const linear_gaussian_model& m, std::size_t n_y, std::mt19937_64& engine) {
  validate(m);
  return detail::linear_gaussian_draw(m.b_c, m.b_y, m.theta_c, m.theta_y, m.sigma_y2, n_y, engine);
}
// X from std::mt19937_64(seed), Y from a second engine seeded from `seed`: the X samples of a seed are the same
// whatever n_y is.
inline unpaired_samples sample(const linear_gaussian_model& m, std::size_t n_x, std::size_t n_y, std::uint64_t seed) {
  std::mt19937_64 x_engine(seed), y_engine(detail::linear_gaussian_y_seed(seed));
  return {sample_x(m, n_x, x_engine), sample_y(m, n_y, y_engine)};
}

namespace detail {
// C^T (I - P_N) C / variance with P_N the orthogonal projection onto range(N); a PSD matrix, symmetric exactly.
inline matrix linear_gaussian_information(const matrix& c, const matrix& nuisance, double variance) {
  matrix r = c;
  if (nuisance.cols() > 0) {
    const matrix q = orthonormal_basis(nuisance);
    const matrix qt = transpose(q);
    r = c - q * (qt * c);
    // A second pass removes what rounding left in range(N).
    r = r - q * (qt * r);
  }
  matrix j(c.cols(), c.cols());
  for (std::size_t a = 0; a < c.cols(); ++a)
    for (std::size_t b = a; b < c.cols(); ++b) {
      double s = 0.0;
      for (std::size_t i = 0; i < r.rows(); ++i) s += r(i, a) * r(i, b);
      j(a, b) = j(b, a) = s / variance;
    }
  return j;
}
}  // namespace detail

// J_X: the Fisher information of theta_c carried by one X sample once theta_x is eliminated.
inline matrix information_per_x_sample(const linear_gaussian_model& m) {
  validate(m);
  return detail::linear_gaussian_information(m.a_c, m.a_x, m.sigma_x2);
}
// J_Y: the same for one Y sample, theta_y eliminated.
inline matrix information_per_y_sample(const linear_gaussian_model& m) {
  validate(m);
  return detail::linear_gaussian_information(m.b_c, m.b_y, m.sigma_y2);
}
// I_eff(theta_c) = n_x J_X + n_y J_Y (log-likelihoods of unpaired samples add).
inline matrix effective_information(const linear_gaussian_model& m, std::size_t n_x, std::size_t n_y) {
  return static_cast<double>(n_x) * information_per_x_sample(m) +
         static_cast<double>(n_y) * information_per_y_sample(m);
}

// Rank and null space of I_eff(theta_c): an eigenvalue at most `tolerance` times the largest one counts as zero.
struct identifiability {
  std::size_t dimension = 0;  // k_c
  std::size_t rank = 0;       // rank of I_eff
  vector eigenvalues;         // of I_eff, ascending
  matrix unidentified;        // k_c x (k_c - rank): orthonormal directions of theta_c the data cannot see
  bool identifiable() const { return rank == dimension; }
};

inline identifiability shared_identifiability(const linear_gaussian_model& m, std::size_t n_x, std::size_t n_y,
                                              double tolerance = 1e-10) {
  const symmetric_eigensystem e = symmetric_eigen(effective_information(m, n_x, n_y));
  identifiability r;
  r.dimension = m.k_c();
  r.eigenvalues = e.values;
  const double largest = e.values.back();
  std::size_t null_count = 0;
  for (double lambda : e.values)
    if (!(largest > 0.0) || lambda <= tolerance * largest) ++null_count;
  r.rank = r.dimension - null_count;
  r.unidentified = matrix(r.dimension, null_count);
  for (std::size_t j = 0; j < null_count; ++j)
    for (std::size_t i = 0; i < r.dimension; ++i) r.unidentified(i, j) = e.vectors(i, j);
  return r;
}

// Identifiability of theta_c from the n_x X samples alone and from them together with n_y unpaired Y samples.
struct identifiability_comparison {
  identifiability x_only, with_y;
  // Y makes identifiable what X alone leaves unidentified (the reference's Thm 2).
  bool y_restores() const { return !x_only.identifiable() && with_y.identifiable(); }
};

inline identifiability_comparison compare_identifiability(const linear_gaussian_model& m, std::size_t n_x,
                                                          std::size_t n_y, double tolerance = 1e-10) {
  return {shared_identifiability(m, n_x, 0, tolerance), shared_identifiability(m, n_x, n_y, tolerance)};
}

namespace detail {
inline void linear_gaussian_require_identifiable(const linear_gaussian_model& m, std::size_t n_x, std::size_t n_y,
                                                 const char* who) {
  if (n_x == 0 && n_y == 0)
    throw error(std::string(who) + ": too few samples: n_x = 0 and n_y = 0; theta_c needs at least one sample");
  const identifiability id = shared_identifiability(m, n_x, n_y);
  if (!id.identifiable())
    throw error(std::string(who) + ": theta_c is not identifiable from n_x = " + std::to_string(n_x) +
                " X and n_y = " + std::to_string(n_y) + " Y samples: the effective Fisher information has rank " +
                std::to_string(id.rank) + " < k_c = " + std::to_string(id.dimension));
}
}  // namespace detail

// Cov(theta_c estimate) = I_eff^{-1}: the asymptotic covariance, which the stacked GLS estimator attains exactly in
// this linear-Gaussian model. Throws when theta_c is not identifiable from these sample counts.
inline matrix asymptotic_covariance(const linear_gaussian_model& m, std::size_t n_x, std::size_t n_y) {
  detail::linear_gaussian_require_identifiable(m, n_x, n_y, "asymptotic_covariance");
  return inverse_spd(effective_information(m, n_x, n_y));
}

// The exchange rate along v, rho(v) = v^T J_X v / v^T J_Y v: how many Y samples are worth one X sample for
// estimating v^T theta_c. Infinite when Y carries no information along v.
inline double exchange_rate(const linear_gaussian_model& m, const vector& v) {
  if (v.size() != m.k_c())
    throw error("exchange_rate: direction v has " + std::to_string(v.size()) +
                " entries but k_c = " + std::to_string(m.k_c()));
  const double norm2 = dot(v, v);
  if (!(norm2 > 0.0)) throw error("exchange_rate: direction v is zero");
  const matrix jx = information_per_x_sample(m), jy = information_per_y_sample(m);
  // Information below this counts as none: rounding in J_X or J_Y reaches about 1e-15 of their traces.
  const double floor = 1e-12 * std::max(trace(jx), trace(jy)) * norm2;
  const double x_info = quadratic_form(jx, v), y_info = quadratic_form(jy, v);
  if (y_info <= floor) {
    if (x_info <= floor) throw error("exchange_rate: neither X nor Y carries information along direction v");
    return std::numeric_limits<double>::infinity();
  }
  return std::max(x_info, 0.0) / y_info;
}

// How many X samples alone carry the information along v of n_x X and n_y Y samples: n_x + n_y / rho(v).
inline double equivalent_x_samples(const linear_gaussian_model& m, std::size_t n_x, std::size_t n_y, const vector& v) {
  const double rho = exchange_rate(m, v);
  return static_cast<double>(n_x) + (std::isinf(rho) ? 0.0 : static_cast<double>(n_y) / rho);
}

// The reference's stacked least squares: with M_X = [A_c A_x 0] and M_Y = [B_c 0 B_y] it solves
//   (n_x M_X^T M_X / sigma_x^2 + n_y M_Y^T M_Y / sigma_y^2) theta
//       = M_X^T sum_i x_i / sigma_x^2 + M_Y^T sum_j y_j / sigma_y^2
// and returns the theta_c block. theta_x is left out when n_x = 0, theta_y when n_y = 0 (X-only: n_y = 0). The
// normal matrix depends on n_x and n_y only, so it is factored once here and reused for every draw.
class stacked_estimator {
 public:
  stacked_estimator(const linear_gaussian_model& m, std::size_t n_x, std::size_t n_y) : m_(m), n_x_(n_x), n_y_(n_y) {
    validate(m_);
    detail::linear_gaussian_require_identifiable(m_, n_x, n_y, "stacked_estimator");
    if (n_x_ > 0 && orthonormal_basis(m_.a_x).cols() < m_.k_x())
      throw error("stacked_estimator: A_x has rank " + std::to_string(orthonormal_basis(m_.a_x).cols()) + " < k_x = " +
                  std::to_string(m_.k_x()) + ", so theta_x is not identifiable; remove its dependent columns");
    if (n_y_ > 0 && orthonormal_basis(m_.b_y).cols() < m_.k_y())
      throw error("stacked_estimator: B_y has rank " + std::to_string(orthonormal_basis(m_.b_y).cols()) + " < k_y = " +
                  std::to_string(m_.k_y()) + ", so theta_y is not identifiable; remove its dependent columns");
    const std::size_t kc = m_.k_c(), kx = n_x_ > 0 ? m_.k_x() : 0, ky = n_y_ > 0 ? m_.k_y() : 0;
    x_offset_ = kc;
    y_offset_ = kc + kx;
    matrix normal(kc + kx + ky, kc + kx + ky);
    if (n_x_ > 0) add_block(normal, stacked_design(m_.a_c, m_.a_x, x_offset_, kc + kx + ky), n_x_, m_.sigma_x2);
    if (n_y_ > 0) add_block(normal, stacked_design(m_.b_c, m_.b_y, y_offset_, kc + kx + ky), n_y_, m_.sigma_y2);
    factor_ = cholesky(normal);
  }

  std::size_t n_x() const { return n_x_; }
  std::size_t n_y() const { return n_y_; }

  // The estimate of theta_c from one draw with exactly n_x X and n_y Y samples.
  vector operator()(const unpaired_samples& s) const {
    check(s.x, n_x_, m_.p_x(), "X", "x");
    check(s.y, n_y_, m_.p_y(), "Y", "y");
    vector rhs(factor_.rows(), 0.0);
    if (n_x_ > 0) accumulate(rhs, s.x, m_.a_c, m_.a_x, x_offset_, m_.sigma_x2);
    if (n_y_ > 0) accumulate(rhs, s.y, m_.b_c, m_.b_y, y_offset_, m_.sigma_y2);
    vector theta = cholesky_solve(factor_, std::move(rhs));
    theta.resize(m_.k_c());
    return theta;
  }

 private:
  // [C | own] placed into the stacked parameter layout (theta_c, theta_x, theta_y).
  static matrix stacked_design(const matrix& c, const matrix& own, std::size_t offset, std::size_t width) {
    matrix d(c.rows(), width);
    for (std::size_t i = 0; i < c.rows(); ++i) {
      for (std::size_t j = 0; j < c.cols(); ++j) d(i, j) = c(i, j);
      for (std::size_t j = 0; j < own.cols(); ++j) d(i, offset + j) = own(i, j);
    }
    return d;
  }
  static void add_block(matrix& normal, const matrix& design, std::size_t n, double variance) {
    const double w = static_cast<double>(n) / variance;
    for (std::size_t a = 0; a < normal.rows(); ++a)
      for (std::size_t b = 0; b < normal.cols(); ++b) {
        double s = 0.0;
        for (std::size_t i = 0; i < design.rows(); ++i) s += design(i, a) * design(i, b);
        normal(a, b) += w * s;
      }
  }
  static void accumulate(vector& rhs, const matrix& obs, const matrix& c, const matrix& own, std::size_t offset,
                         double variance) {
    vector total(obs.cols(), 0.0);
    for (std::size_t i = 0; i < obs.rows(); ++i)
      for (std::size_t j = 0; j < obs.cols(); ++j) total[j] += obs(i, j);
    for (std::size_t j = 0; j < c.cols(); ++j) rhs[j] += dot(c.column(j), total) / variance;
    for (std::size_t j = 0; j < own.cols(); ++j) rhs[offset + j] += dot(own.column(j), total) / variance;
  }
  // `modality` is "X" or "Y", `suffix` the "x" or "y" of n_x, p_x.
  static void check(const matrix& obs, std::size_t n, std::size_t p, const char* modality, const char* suffix) {
    const std::string name = std::string("stacked_estimator: ") + modality + " samples have ";
    if (obs.rows() != n)
      throw error(name + std::to_string(obs.rows()) + " rows but the estimator was built for n_" + suffix + " = " +
                  std::to_string(n));
    if (n > 0 && obs.cols() != p)
      throw error(name + std::to_string(obs.cols()) + " columns but the model's " + modality + " observations have p_" +
                  suffix + " = " + std::to_string(p));
  }

  linear_gaussian_model m_;
  std::size_t n_x_, n_y_, x_offset_ = 0, y_offset_ = 0;
  matrix factor_;
};

// The stacked estimate of theta_c from one draw (X-only when s.y has no rows).
inline vector estimate_shared(const linear_gaussian_model& m, const unpaired_samples& s) {
  return stacked_estimator(m, s.x.rows(), s.y.rows())(s);
}

// What monte_carlo measured: the empirical mean and covariance of the theta_c estimate over `repetitions` draws
// and the prediction I_eff^{-1}, with the summary numbers used to compare them.
struct monte_carlo_covariance {
  std::size_t n_x = 0, n_y = 0, repetitions = 0;
  vector mean;        // empirical mean of the estimates
  matrix covariance;  // empirical covariance, divided by repetitions - 1
  matrix predicted;   // I_eff^{-1}

  double trace() const { return tensorlogic::multimodal::trace(covariance); }
  double predicted_trace() const { return tensorlogic::multimodal::trace(predicted); }
  // (tr C - tr P) / tr P.
  double relative_trace_error() const { return (trace() - predicted_trace()) / predicted_trace(); }
  // ||C - P||_F / ||P||_F.
  double relative_frobenius_error() const { return frobenius_norm(covariance - predicted) / frobenius_norm(predicted); }
  // max_i |C_ii - P_ii| / P_ii.
  double max_relative_diagonal_error() const {
    double worst = 0.0;
    for (std::size_t i = 0; i < predicted.rows(); ++i)
      worst = std::max(worst, std::abs(covariance(i, i) - predicted(i, i)) / predicted(i, i));
    return worst;
  }
  // Standard deviation of C_ij when the estimates are N(theta_c, P): sqrt((P_ij^2 + P_ii P_jj) / (R - 1)).
  double entry_standard_error(std::size_t i, std::size_t j) const {
    return std::sqrt((predicted(i, j) * predicted(i, j) + predicted(i, i) * predicted(j, j)) /
                     static_cast<double>(repetitions - 1));
  }
  // Standard deviation of tr C under the same law: sqrt(2 ||P||_F^2 / (R - 1)).
  double trace_standard_error() const {
    const double f = frobenius_norm(predicted);
    return std::sqrt(2.0 * f * f / static_cast<double>(repetitions - 1));
  }
  // Empirical and predicted variance of v^T theta_c.
  double variance_along(const vector& v) const { return quadratic_form(covariance, v); }
  double predicted_variance_along(const vector& v) const { return quadratic_form(predicted, v); }
};

// Draws `repetitions` independent data sets of n_x X and n_y Y samples (X from std::mt19937_64(seed), Y from a
// second engine seeded from it, so runs with the same seed share their X draws whatever n_y is), estimates theta_c
// by stacked least squares on each, and compares the empirical covariance with I_eff^{-1}.
inline monte_carlo_covariance monte_carlo(const linear_gaussian_model& m, std::size_t n_x, std::size_t n_y,
                                          std::size_t repetitions = 2000, std::uint64_t seed = 1) {
  validate(m);
  if (repetitions < 2)
    throw error("monte_carlo: too few repetitions: " + std::to_string(repetitions) +
                "; an empirical covariance needs at least 2");
  const stacked_estimator estimate(m, n_x, n_y);
  monte_carlo_covariance r;
  r.n_x = n_x;
  r.n_y = n_y;
  r.repetitions = repetitions;
  r.predicted = asymptotic_covariance(m, n_x, n_y);
  const std::size_t k = m.k_c();
  std::mt19937_64 x_engine(seed), y_engine(detail::linear_gaussian_y_seed(seed));
  std::vector<vector> estimates;
  estimates.reserve(repetitions);
  for (std::size_t rep = 0; rep < repetitions; ++rep) {
    const unpaired_samples s{sample_x(m, n_x, x_engine), sample_y(m, n_y, y_engine)};
    estimates.push_back(estimate(s));
  }
  r.mean.assign(k, 0.0);
  for (const vector& e : estimates)
    for (std::size_t i = 0; i < k; ++i) r.mean[i] += e[i];
  for (double& x : r.mean) x /= static_cast<double>(repetitions);
  r.covariance = matrix(k, k);
  for (const vector& e : estimates)
    for (std::size_t i = 0; i < k; ++i)
      for (std::size_t j = 0; j <= i; ++j) r.covariance(i, j) += (e[i] - r.mean[i]) * (e[j] - r.mean[j]);
  for (std::size_t i = 0; i < k; ++i)
    for (std::size_t j = 0; j <= i; ++j)
      r.covariance(j, i) = r.covariance(i, j) = r.covariance(i, j) / static_cast<double>(repetitions - 1);
  return r;
}

}  // namespace tensorlogic::multimodal
