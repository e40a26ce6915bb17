// Reasoning in embedding space (Tensor Logic §5). Each object x of a domain gets a random unit vector Emb[x, :] of
// dimension D. A binary relation becomes a D x D matrix (a tensor-product representation)
//     EmbR[i, j] = R(x, y) Emb[x, i] Emb[y, j]
// built in one pass over R's tuples; a query is a bilinear form
//     D[A, B] = EmbR[i, j] Emb[A, i] Emb[B, j]  ~  R(A, B)       (noise ~ sqrt(|R| / D))
// and D[A, y] scores every y at once. A chain rule H(x, z) <- P(x, y), Q(y, z) becomes the matrix product
// EmbH = EmbP EmbQ (the sum over y of Emb[y, j] Emb[y, j'] is ~ the identity). Answers are read out through
// sigma((score - 1/2) / T): at T = 0 a step at one half, so extraction is deductive and, while the noise stays below
// one half, exact; larger T gives graded (analogical) answers. extract -> threshold -> re-embed removes the noise
// that chained rules accumulate.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <tensorlogic/core/error.hpp>
#include <tensorlogic/logic/tuples.hpp>

namespace tensorlogic::logic {

// A dense row-major matrix of doubles.
struct dense_matrix {
  std::size_t rows = 0, cols = 0;
  std::vector<double> v;
  dense_matrix() = default;
  dense_matrix(std::size_t r, std::size_t c) : rows(r), cols(c), v(r * c, 0.0) {}
  double& operator()(std::size_t r, std::size_t c) { return v[r * cols + c]; }
  double operator()(std::size_t r, std::size_t c) const { return v[r * cols + c]; }
};

// C = A B (cache-blocked i-k-j loops).
inline dense_matrix multiply(const dense_matrix& a, const dense_matrix& b) {
  if (a.cols != b.rows)
    throw error("embedding: matrix product of " + std::to_string(a.rows) + "x" + std::to_string(a.cols) + " by " +
                std::to_string(b.rows) + "x" + std::to_string(b.cols));
  dense_matrix c(a.rows, b.cols);
  constexpr std::size_t block = 64;
  for (std::size_t k0 = 0; k0 < a.cols; k0 += block)
    for (std::size_t i = 0; i < a.rows; ++i) {
      double* ci = &c.v[i * c.cols];
      const std::size_t k1 = std::min(a.cols, k0 + block);
      for (std::size_t k = k0; k < k1; ++k) {
        const double aik = a(i, k);
        if (aik == 0.0) continue;
        const double* bk = &b.v[k * b.cols];
        for (std::size_t j = 0; j < b.cols; ++j) ci[j] += aik * bk[j];
      }
    }
  return c;
}

// sigma((s - 1/2) / T), with T = 0 the step H(s - 1/2) (H(0) = 0).
inline double soft_truth(double score, double temperature) {
  const double s = score - 0.5;
  if (temperature == 0.0) return s > 0.0 ? 1.0 : 0.0;
  return 1.0 / (1.0 + std::exp(-s / temperature));
}

// Random unit embeddings of a domain's objects, and the operations of embedding-space reasoning.
class embedding_space {
 public:
  // `objects` objects in `dimension` dimensions; Gaussian directions normalized to unit length, from `seed`.
  embedding_space(std::size_t objects, std::size_t dimension, std::uint64_t seed = 1) : emb_(objects, dimension) {
    if (objects == 0) throw error("embedding_space: the domain has no objects");
    if (dimension == 0) throw error("embedding_space: dimension must be at least 1");
    std::mt19937_64 g(seed);
    std::normal_distribution<double> normal(0.0, 1.0);
    for (std::size_t x = 0; x < objects; ++x) {
      double norm = 0;
      for (std::size_t d = 0; d < dimension; ++d) norm += (emb_(x, d) = normal(g)) * emb_(x, d);
      norm = std::sqrt(norm);
      for (std::size_t d = 0; d < dimension; ++d) emb_(x, d) /= norm;
    }
  }

  std::size_t objects() const { return emb_.rows; }
  std::size_t dimension() const { return emb_.cols; }
  const dense_matrix& vectors() const { return emb_; }

  // EmbR[i, j] = sum over R's tuples (x, y) of Emb[x, i] Emb[y, j]: one pass over the tuples.
  dense_matrix embed(const tuple_set& r) const {
    if (r.arity() != 2) throw error("embedding_space::embed: relation of arity " + std::to_string(r.arity()) +
                                    "; binary relations embed as matrices");
    const std::size_t d = dimension();
    dense_matrix out(d, d);
    for (std::size_t k = 0; k < r.size(); ++k) {
      const id_t x = r.row(k)[0], y = r.row(k)[1];
      check_object(x);
      check_object(y);
      const double* ex = &emb_.v[x * d];
      const double* ey = &emb_.v[y * d];
      for (std::size_t i = 0; i < d; ++i) {
        const double a = ex[i];
        double* oi = &out.v[i * d];
        for (std::size_t j = 0; j < d; ++j) oi[j] += a * ey[j];
      }
    }
    return out;
  }

  // The embedded chain rule H(x, z) <- P(x, y), Q(y, z): EmbH = EmbP EmbQ.
  static dense_matrix compose(const dense_matrix& p, const dense_matrix& q) { return multiply(p, q); }

  // D[A, B] = EmbR[i, j] Emb[A, i] Emb[B, j].
  double score(const dense_matrix& embedded, id_t a, id_t b) const {
    check_object(a);
    check_object(b);
    const std::size_t d = dimension();
    double s = 0;
    for (std::size_t i = 0; i < d; ++i) {
      double row = 0;
      for (std::size_t j = 0; j < d; ++j) row += embedded(i, j) * emb_(b, j);
      s += emb_(a, i) * row;
    }
    return s;
  }

  // Every D[x, y] at once: Emb EmbR Emb^T (objects x objects).
  dense_matrix scores(const dense_matrix& embedded) const {
    const std::size_t n = objects(), d = dimension();
    if (embedded.rows != d || embedded.cols != d)
      throw error("embedding_space::scores: embedded relation is " + std::to_string(embedded.rows) + "x" +
                  std::to_string(embedded.cols) + ", the space has dimension " + std::to_string(d));
    dense_matrix et(d, n);
    for (std::size_t x = 0; x < n; ++x)
      for (std::size_t i = 0; i < d; ++i) et(i, x) = emb_(x, i);
    return multiply(multiply(emb_, embedded), et);
  }

  // The relation read out of an embedding: (x, y) whenever sigma((D[x, y] - 1/2) / T) > 1/2, i.e. D[x, y] > 1/2
  // (T only grades the answers; see truth()). Returns the tuples in row order.
  tuple_set extract(const dense_matrix& embedded) const {
    const dense_matrix s = scores(embedded);
    tuple_set out(2);
    for (std::size_t x = 0; x < objects(); ++x)
      for (std::size_t y = 0; y < objects(); ++y)
        if (soft_truth(s(x, y), 0.0) > 0.5) {
          const id_t t[2] = {static_cast<id_t>(x), static_cast<id_t>(y)};
          out.insert(t);
        }
    return out;
  }

  // The graded answers sigma((D[x, y] - 1/2) / T) for every pair.
  dense_matrix truth(const dense_matrix& embedded, double temperature) const {
    if (!(temperature >= 0.0) || !std::isfinite(temperature))
      throw error("embedding_space::truth: temperature " + std::to_string(temperature) + " is not finite and >= 0");
    dense_matrix s = scores(embedded);
    for (double& v : s.v) v = soft_truth(v, temperature);
    return s;
  }

  // The similarity of objects after the temperature: sigma((Emb_x . Emb_x' - 1/2) / T). At T = 0 it is the
  // identity whenever every pair of distinct embeddings has cosine below one half.
  dense_matrix gram(double temperature) const {
    const std::size_t n = objects(), d = dimension();
    dense_matrix g(n, n);
    for (std::size_t a = 0; a < n; ++a)
      for (std::size_t b = 0; b < n; ++b) {
        double s = 0;
        for (std::size_t i = 0; i < d; ++i) s += emb_(a, i) * emb_(b, i);
        g(a, b) = soft_truth(s, temperature);
      }
    return g;
  }

  // Extract, threshold and re-embed: the embedding of the relation the noisy one denotes.
  dense_matrix reembed(const dense_matrix& embedded) const { return embed(extract(embedded)); }

 private:
  void check_object(id_t x) const {
    if (x >= objects())
      throw error("embedding_space: object id " + std::to_string(x) + " is outside the space's " +
                  std::to_string(objects()) + " objects");
  }
  dense_matrix emb_;
};

}  // namespace tensorlogic::logic
