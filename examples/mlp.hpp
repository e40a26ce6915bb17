// The one-equation multilayer perceptron of Tensor Logic (Domingos 2025, §4.1): X[l+1, j] = sig(W[l, j, k] X[l, k]),
// where l counts layers and j, k count units. The equation reads its own left-hand side, so the program is recursive
// and tl::fixpoint runs it to its fixpoint: each pass computes every layer from the previous pass's values (a
// Jacobi sweep), so layer l is final after l + 1 passes and one more pass changes nothing.
#pragma once
#include <cmath>
#include <cstddef>
#include <ostream>
#include <string>
#include <tensorlogic/tensorlogic.hpp>
#include <vector>

#include "common.hpp"

namespace mlp_example {
namespace tl = tensorlogic;
inline constexpr tl::index<"l"> l;  // layer
inline constexpr tl::index<"j"> j;  // unit of layer l + 1
inline constexpr tl::index<"k"> k;  // unit of layer l
inline constexpr tl::tensor<"W", double, 3> W;
inline constexpr tl::tensor<"X", double, 2> X;
inline constexpr tl::tensor<"In", double, 1> In;
}  // namespace mlp_example

inline int example_mlp(std::ostream& out) {
  using namespace mlp_example;
  // Every equation of a real tensor's group is recomputed on each pass and cells no equation writes become 0, so
  // the input layer X(0, k) is an equation of the program too.
  constexpr auto prog = tl::program(X(0, k) = In(k), X(l + 1, j) = tl::sigmoid(W(l, j, k) * X(l, k)));
  out << tl::to_string(prog);

  // Three weight layers of width 5 (layers of different widths would be padded with zeros to one width, as in the
  // paper). l ranges over the layers 0..3; X's first dimension is subscripted by the plain index l, so X has 4
  // layers, and the equation for l = 3 would write X(4, j), outside X: that write is dropped (closed world), so the
  // slice W(3, ., .) is never read.
  const std::size_t layers = 3, width = 5;
  examples::rng g(2025);
  xt::xarray<double> w = examples::random_array(g, {layers + 1, width, width}, -1.5, 1.5);
  xt::xarray<double> in = examples::random_array(g, {width}, 0.0, 1.0);

  tl::store s(prog, tl::extents(l = layers + 1, j = width, k = width));
  tl::bind(s, W, w);
  tl::bind(s, In, in);
  const long passes = tl::fixpoint(prog, s);
  const auto x = tl::to_xtensor(s[X]);
  out << "  fixpoint after " << passes << " passes (" << layers << " layers, then one pass that changes nothing)\n";
  examples::print_array(out, "X (row l = layer l)", x);

  // The naive loop: a forward pass, layer by layer.
  std::vector<std::vector<double>> ref(layers + 1, std::vector<double>(width));
  for (std::size_t u = 0; u < width; ++u) ref[0][u] = in(u);
  for (std::size_t a = 0; a < layers; ++a)
    for (std::size_t u = 0; u < width; ++u) {
      double z = 0;
      for (std::size_t v = 0; v < width; ++v) z += w(a, u, v) * ref[a][v];
      ref[a + 1][u] = 1.0 / (1.0 + std::exp(-z));
    }
  examples::checker check(out, "X");
  for (std::size_t a = 0; a <= layers; ++a)
    for (std::size_t u = 0; u < width; ++u)
      check(x(a, u), ref[a][u], examples::cell("X", a, u));
  if (passes != static_cast<long>(layers) + 2) {
    out << "  expected " << layers + 2 << " fixpoint passes, got " << passes << "\n";
    return 1;
  }
  return check.result();
}
