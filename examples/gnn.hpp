// One graph-neural-network layer in Tensor Logic (Domingos 2025, §4.1, Table 1). Neig is a Boolean relation (the
// graph), Z the node features. Aggregation joins the relation with the features and sums over the neighbour m; the
// update mixes the aggregate and the node's own features through two weight matrices, then a readout classifies
// each node:
//   Agg[n, d] = Neig(n, m) Z[m, d]
//   H[n, e]   = relu(W[e, d] Agg[n, d] + U[e, d] Z[n, d])
//   Y[n]      = sigmoid(Wout[e] H[n, e])
// Both terms of the update sum over d under the relu. Written as above, that is a compile error ("index d is
// projected separately in two terms under an outer function"): the sums are scoped explicitly with tl::sum(d, ...).
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <tensorlogic/tensorlogic.hpp>
#include <utility>
#include <vector>

#include "common.hpp"

namespace gnn_example {
namespace tl = tensorlogic;
inline constexpr tl::index<"n"> n;  // node
inline constexpr tl::index<"m"> m;  // neighbour
inline constexpr tl::index<"d"> d;  // input feature
inline constexpr tl::index<"e"> e;  // hidden feature
inline constexpr tl::relation<"Neig", 2> Neig;
inline constexpr tl::tensor<"Z", double, 2> Z;
inline constexpr tl::tensor<"Agg", double, 2> Agg;
inline constexpr tl::tensor<"W", double, 2> W;
inline constexpr tl::tensor<"U", double, 2> U;
inline constexpr tl::tensor<"H", double, 2> H;
inline constexpr tl::tensor<"Wout", double, 1> Wout;
inline constexpr tl::tensor<"Y", double, 1> Y;
}  // namespace gnn_example

inline int example_gnn(std::ostream& out) {
  using namespace gnn_example;
  constexpr auto prog = tl::program(  //
      Agg(n, d) = Neig(n, m) * Z(m, d),
      H(n, e) = tl::relu(tl::sum(d, W(e, d) * Agg(n, d)) + tl::sum(d, U(e, d) * Z(n, d))),
      Y(n) = tl::sigmoid(Wout(e) * H(n, e)));
  out << tl::to_string(prog);

  // A ring of six nodes with one chord, undirected.
  const std::size_t nodes = 6, din = 3, dhid = 4;
  const std::vector<std::pair<std::size_t, std::size_t>> edges = {{0, 1}, {1, 2}, {2, 3}, {3, 4},
                                                                  {4, 5}, {5, 0}, {0, 3}};
  xt::xarray<std::uint8_t> neig = xt::xarray<std::uint8_t>::from_shape({nodes, nodes});
  neig.fill(0);
  for (auto [a, b] : edges) neig(a, b) = neig(b, a) = 1;
  out << "  edges:";
  for (auto [a, b] : edges) out << " " << a << "-" << b;
  out << "\n";

  examples::rng g(42);
  xt::xarray<double> z = examples::random_array(g, {nodes, din}, -1.0, 1.0);
  xt::xarray<double> w = examples::random_array(g, {dhid, din}, -1.0, 1.0);
  xt::xarray<double> u = examples::random_array(g, {dhid, din}, -1.0, 1.0);
  xt::xarray<double> wout = examples::random_array(g, {dhid}, -1.0, 1.0);

  tl::store s(prog, tl::extents(n = nodes, m = nodes, d = din, e = dhid));
  tl::bind(s, Neig, neig);
  tl::bind(s, Z, z);
  tl::bind(s, W, w);
  tl::bind(s, U, u);
  tl::bind(s, Wout, wout);
  tl::eval(prog, s);
  const auto agg = tl::to_xtensor(s[Agg]);
  const auto h = tl::to_xtensor(s[H]);
  const auto y = tl::to_xtensor(s[Y]);
  examples::print_array(out, "Agg (row n)", agg);
  examples::print_array(out, "H (row n)", h);
  examples::print_array(out, "Y", y);

  // The naive loop.
  examples::checker check(out, "Agg, H and Y");
  for (std::size_t a = 0; a < nodes; ++a) {
    std::vector<double> ag(din, 0.0), hid(dhid, 0.0);
    for (std::size_t f = 0; f < din; ++f) {
      for (std::size_t b = 0; b < nodes; ++b)
        if (neig(a, b)) ag[f] += z(b, f);
      check(agg(a, f), ag[f], examples::cell("Agg", a, f));
    }
    double logit = 0;
    for (std::size_t o = 0; o < dhid; ++o) {
      double v = 0;
      for (std::size_t f = 0; f < din; ++f) v += w(o, f) * ag[f] + u(o, f) * z(a, f);
      hid[o] = v > 0 ? v : 0;
      check(h(a, o), hid[o], examples::cell("H", a, o));
      logit += wout(o) * hid[o];
    }
    check(y(a), 1.0 / (1.0 + std::exp(-logit)), examples::cell("Y", a));
  }
  return check.result();
}
