// Pooling in Tensor Logic (Domingos 2025, §4.1), with stride 2.
//   Sum-pooling, scatter form: P[x/2, y/2] = F[x, y]. The left-hand side divides its indices, so every cell (x, y)
//   adds into cell (x/2, y/2): each pooled cell sums its 2x2 window (equations with the same destination cell sum).
//   Max-pooling, gather form: M[x, y] = max over dx, dy of F[2x + dx, 2y + dy], an explicit tl::max scope over two
//   indices with the static extent 2 (their loops are specialized for it).
// The two equations give x and y different ranges (feature-map coordinates, pooled coordinates), so they are two
// programs; the feature map is one array bound to both stores.
#pragma once
#include <algorithm>
#include <cstddef>
#include <ostream>
#include <string>
#include <tensorlogic/tensorlogic.hpp>

#include "common.hpp"

namespace pooling_example {
namespace tl = tensorlogic;
inline constexpr tl::index<"x"> x;
inline constexpr tl::index<"y"> y;
inline constexpr tl::index<"dx", 2> dx;
inline constexpr tl::index<"dy", 2> dy;
inline constexpr tl::tensor<"F", double, 2> F;
inline constexpr tl::tensor<"P", double, 2> P;
inline constexpr tl::tensor<"M", double, 2> M;
}  // namespace pooling_example

inline int example_pooling(std::ostream& out) {
  using namespace pooling_example;
  constexpr auto sum_pool = tl::program(P(x / 2, y / 2) = F(x, y));
  constexpr auto max_pool = tl::program(M(x, y) = tl::max(dx, dy, F(2 * x + dx, 2 * y + dy)));
  out << tl::to_string(sum_pool) << tl::to_string(max_pool);

  const std::size_t rows = 6, cols = 8;
  examples::rng g(3);
  xt::xarray<double> feat = examples::random_array(g, {rows, cols}, -1.0, 1.0);
  examples::print_array(out, "F", feat);

  // Sum-pooling: x, y range over the feature map; P's shape (3 x 4) follows from the subscripts x/2, y/2.
  tl::store sp(sum_pool, tl::extents(x = rows, y = cols));
  tl::bind(sp, F, feat);
  tl::eval(sum_pool, sp);
  const auto pooled = tl::to_xtensor(sp[P]);
  examples::print_array(out, "P (sum-pooled)", pooled);

  // Max-pooling: x, y range over the pooled map; F's shape (6 x 8) follows from 2x + dx, 2y + dy.
  tl::store mp(max_pool, tl::extents(x = rows / 2, y = cols / 2));
  tl::bind(mp, F, feat);
  tl::eval(max_pool, mp);
  const auto maxed = tl::to_xtensor(mp[M]);
  examples::print_array(out, "M (max-pooled)", maxed);

  // The naive loop.
  examples::checker check(out, "P and M");
  if (pooled.shape()[0] != rows / 2 || pooled.shape()[1] != cols / 2 || maxed.shape()[0] != rows / 2 ||
      maxed.shape()[1] != cols / 2) {
    out << "  unexpected pooled shape\n";
    return 1;
  }
  for (std::size_t r = 0; r < rows / 2; ++r)
    for (std::size_t c = 0; c < cols / 2; ++c) {
      double sum = 0, mx = feat(2 * r, 2 * c);
      for (std::size_t u = 0; u < 2; ++u)
        for (std::size_t v = 0; v < 2; ++v) {
          sum += feat(2 * r + u, 2 * c + v);
          mx = std::max(mx, feat(2 * r + u, 2 * c + v));
        }
      check(pooled(r, c), sum, examples::cell("P", r, c));
      check(maxed(r, c), mx, examples::cell("M", r, c));
    }
  return check.result();
}
