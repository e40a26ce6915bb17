// Attention in Tensor Logic (Domingos 2025, §4.1), unfused: the score matrix S is a tensor of its own.
//   S[p, q] = softmax over q of (Q[p, d] K[q, d] / sqrt(Dk)),   O[p, e] = S[p, q] V[q, e].
// The softmax normalizes over q, an index of the left-hand side; d is summed inside it (projection first, then the
// outer function). The causal variant keeps only keys q <= p: the comparison (q <= p) is a Boolean factor, and a
// where() gives the masked scores the value -1e30, whose exponential is 0. (Multiplying the score by the mask inside
// the softmax would not do: a masked score of 0 still gets weight exp(0).)
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <ostream>
#include <string>
#include <tensorlogic/tensorlogic.hpp>
#include <vector>

#include "common.hpp"

namespace attention_example {
namespace tl = tensorlogic;
inline constexpr tl::index<"p"> p;  // query position
inline constexpr tl::index<"q"> q;  // key position
inline constexpr tl::index<"d"> d;  // query/key feature
inline constexpr tl::index<"e"> e;  // value feature
inline constexpr tl::tensor<"Q", double, 2> Q;
inline constexpr tl::tensor<"K", double, 2> K;
inline constexpr tl::tensor<"V", double, 2> V;
inline constexpr tl::tensor<"S", double, 2> S;
inline constexpr tl::tensor<"O", double, 2> O;
inline constexpr tl::scalar<"c", double> c;  // 1 / sqrt(Dk), bound at run time

// The naive loop: softmax(Q K^T c) V, keys restricted to q <= p when causal.
inline void naive_attention(const xt::xarray<double>& qm, const xt::xarray<double>& km, const xt::xarray<double>& vm,
                            double scale, bool causal, std::vector<double>& s, std::vector<double>& o) {
  const std::size_t n = qm.shape()[0], dk = qm.shape()[1], dv = vm.shape()[1];
  s.assign(n * n, 0.0);
  o.assign(n * dv, 0.0);
  for (std::size_t a = 0; a < n; ++a) {
    const std::size_t keys = causal ? a + 1 : n;
    double mx = -1e300;
    for (std::size_t b = 0; b < keys; ++b) {
      double z = 0;
      for (std::size_t f = 0; f < dk; ++f) z += qm(a, f) * km(b, f);
      s[a * n + b] = z * scale;
      mx = std::max(mx, s[a * n + b]);
    }
    double total = 0;
    for (std::size_t b = 0; b < keys; ++b) total += (s[a * n + b] = std::exp(s[a * n + b] - mx));
    for (std::size_t b = 0; b < keys; ++b) s[a * n + b] /= total;
    for (std::size_t b = 0; b < n; ++b)
      for (std::size_t f = 0; f < dv; ++f) o[a * dv + f] += s[a * n + b] * vm(b, f);
  }
}

template <class Prog>
int run_attention(std::ostream& out, const Prog& prog, const char* name, bool causal, xt::xarray<double>& qm,
                  xt::xarray<double>& km, xt::xarray<double>& vm) {
  const std::size_t n = qm.shape()[0], dk = qm.shape()[1], dv = vm.shape()[1];
  out << tl::to_string(prog);
  tl::store st(prog, tl::extents(p = n, q = n, d = dk, e = dv));
  // Host arrays are adopted without a copy (device memory gets a copy); they outlive the store's use of them.
  tl::bind(st, Q, qm);
  tl::bind(st, K, km);
  tl::bind(st, V, vm);
  const double scale = 1.0 / std::sqrt(static_cast<double>(dk));
  tl::bind(st, c, scale);
  tl::eval(prog, st);
  const auto sv = tl::to_xtensor(st[S]);
  const auto ov = tl::to_xtensor(st[O]);
  examples::print_array(out, std::string("S (") + name + ")", sv);
  examples::print_array(out, std::string("O (") + name + ")", ov);

  std::vector<double> s_ref, o_ref;
  naive_attention(qm, km, vm, scale, causal, s_ref, o_ref);
  examples::checker check(out, std::string(name) + " S and O");
  for (std::size_t a = 0; a < n; ++a)
    for (std::size_t b = 0; b < n; ++b)
      check(sv(a, b), s_ref[a * n + b], examples::cell("S", a, b));
  for (std::size_t a = 0; a < n; ++a)
    for (std::size_t f = 0; f < dv; ++f)
      check(ov(a, f), o_ref[a * dv + f], examples::cell("O", a, f));
  return check.result();
}
}  // namespace attention_example

inline int example_attention(std::ostream& out) {
  using namespace attention_example;
  constexpr auto attention = tl::program(S(p, q) = tl::softmax(q, Q(p, d) * K(q, d) * c),  //
                                         O(p, e) = S(p, q) * V(q, e));
  constexpr auto causal = tl::program(S(p, q) = tl::softmax(q, tl::where(q <= p, Q(p, d) * K(q, d) * c, -1e30)),
                                      O(p, e) = S(p, q) * V(q, e));

  const std::size_t n = 5, dk = 4, dv = 3;
  examples::rng g(7);
  xt::xarray<double> qm = examples::random_array(g, {n, dk}, -1.0, 1.0);
  xt::xarray<double> km = examples::random_array(g, {n, dk}, -1.0, 1.0);
  xt::xarray<double> vm = examples::random_array(g, {n, dv}, -1.0, 1.0);

  int failed = run_attention(out, attention, "full", false, qm, km, vm);
  failed |= run_attention(out, causal, "causal", true, qm, km, vm);
  return failed;
}
