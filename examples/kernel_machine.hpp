// A kernel machine in Tensor Logic (Domingos 2025, §4.2): Y[i] = A[j] K[i, j] + b, with
//   the Gaussian kernel   K[i, j] = exp(-sum_f (X[i, f] - X[j, f])^2 / s2)   and
//   the polynomial kernel P[i, j] = (X[i, f] X[j, f] + 1)^2.
// The two kernels put the projection over f in different places, and the language says which: inside a term every
// function is elementwise, so the Gaussian squares per f and sums with an explicit tl::sum scope, then the outer
// exp applies; in the polynomial kernel the term X[i, f] X[j, f] is projected onto the left-hand side first and the
// outer pow applies to the sum.
#pragma once
#include <cmath>
#include <cstddef>
#include <ostream>
#include <string>
#include <tensorlogic/tensorlogic.hpp>

#include "common.hpp"

namespace kernel_machine_example {
namespace tl = tensorlogic;
inline constexpr tl::index<"i"> i;  // query point
inline constexpr tl::index<"j"> j;  // support vector
inline constexpr tl::index<"f"> f;  // feature
inline constexpr tl::tensor<"X", double, 2> X;
inline constexpr tl::tensor<"K", double, 2> K;
inline constexpr tl::tensor<"P", double, 2> P;
inline constexpr tl::tensor<"A", double, 1> A;
inline constexpr tl::tensor<"b", double, 0> b;
inline constexpr tl::tensor<"Y", double, 1> Y;
inline constexpr tl::scalar<"s2", double> s2;  // the kernel's variance, bound at run time
}  // namespace kernel_machine_example

inline int example_kernel_machine(std::ostream& out) {
  using namespace kernel_machine_example;
  constexpr auto prog = tl::program(  //
      K(i, j) = tl::exp(-tl::sum(f, tl::square(X(i, f) - X(j, f))) / s2),
      P(i, j) = tl::pow(X(i, f) * X(j, f) + 1, 2),
      Y(i) = A(j) * K(i, j) + b());
  out << tl::to_string(prog);

  const std::size_t points = 6, features = 2;
  const double variance = 0.5, bias = 0.1;
  examples::rng g(11);
  xt::xarray<double> x = examples::random_array(g, {points, features}, -1.0, 1.0);
  xt::xarray<double> a = examples::random_array(g, {points}, -1.0, 1.0);

  tl::store s(prog, tl::extents(i = points, j = points, f = features));
  tl::bind(s, X, x);
  tl::bind(s, A, a);
  tl::bind(s, b, bias);
  tl::bind(s, s2, variance);
  tl::eval(prog, s);
  const auto k = tl::to_xtensor(s[K]);
  const auto poly = tl::to_xtensor(s[P]);
  const auto y = tl::to_xtensor(s[Y]);
  examples::print_array(out, "K (Gaussian, s2 = 0.5)", k);
  examples::print_array(out, "P (polynomial, degree 2)", poly);
  examples::print_array(out, "Y", y);

  // The naive loop.
  examples::checker check(out, "K, P and Y");
  for (std::size_t r = 0; r < points; ++r) {
    double pred = bias;
    for (std::size_t c = 0; c < points; ++c) {
      double dist = 0, dot = 0;
      for (std::size_t t = 0; t < features; ++t) {
        dist += (x(r, t) - x(c, t)) * (x(r, t) - x(c, t));
        dot += x(r, t) * x(c, t);
      }
      const double kv = std::exp(-dist / variance);
      check(k(r, c), kv, examples::cell("K", r, c));
      check(poly(r, c), (dot + 1) * (dot + 1), examples::cell("P", r, c));
      pred += a(c) * kv;
    }
    check(y(r), pred, examples::cell("Y", r));
  }
  return check.result();
}
