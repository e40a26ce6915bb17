// The perceptron of Tensor Logic (Domingos 2025, §3.1): Y = step(W[i] X[i]). Y is rank 0, written Y(); i is not on
// the left-hand side, so the join W(i) * X(i) is projected onto it (summed over i) and the step closes the sum.
#pragma once
#include <cstddef>
#include <ostream>
#include <string>
#include <tensorlogic/tensorlogic.hpp>

#include "common.hpp"

namespace perceptron_example {
namespace tl = tensorlogic;
inline constexpr tl::index<"i"> i;
inline constexpr tl::tensor<"W", double, 1> W;
inline constexpr tl::tensor<"X", double, 1> X;
inline constexpr tl::tensor<"Y", double, 0> Y;
}  // namespace perceptron_example

inline int example_perceptron(std::ostream& out) {
  using namespace perceptron_example;
  constexpr auto prog = tl::program(Y() = tl::step(W(i) * X(i)));
  out << tl::to_string(prog);

  // The paper's weights; every Boolean input of length 4.
  const std::size_t n = 4;
  xt::xarray<double> w = {0.2, 1.9, -0.7, 3.0};
  tl::store s(prog, tl::extents(i = n));
  tl::bind(s, W, w);
  examples::print_array(out, "W", w, 1);

  examples::checker check(out, "Y");
  out << "  X             Y   W.X\n";
  for (unsigned bits = 0; bits < (1u << n); ++bits) {
    xt::xarray<double> x = xt::xarray<double>::from_shape({n});
    for (std::size_t k = 0; k < n; ++k) x(k) = (bits >> (n - 1 - k)) & 1u;
    tl::bind(s, X, x);
    tl::eval(prog, s);
    const double y = tl::to_xtensor(s[Y])();

    double dot = 0;  // the naive loop
    for (std::size_t k = 0; k < n; ++k) dot += w(k) * x(k);
    const double want = dot > 0 ? 1.0 : 0.0;
    check(y, want, examples::cell("input", bits));
    out << "  [";
    for (std::size_t k = 0; k < n; ++k) out << (k ? " " : "") << x(k);
    out << "]     " << y << "  " << examples::fixed(dot, 5, 1) << "\n";
  }
  return check.result();
}
