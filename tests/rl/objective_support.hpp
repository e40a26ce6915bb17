// Test support for the RL objectives: filling a store's inputs from vectors, a random ragged batch, and a central
// finite-difference check of grad(logp) that can move logp_old along with logp (which keeps the ratio, and so a
// stop-gradient weight of it, fixed).
#pragma once
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstddef>
#include <random>
#include <tensorlogic/rl/objectives.hpp>
#include <tensorlogic/tensorlogic.hpp>
#include <vector>

namespace rl_test {
namespace tl = tensorlogic;
namespace rl = tensorlogic::rl;

template <class Store, class Sym>
void fill(Store& s, const Sym& sym, const std::vector<double>& values) {
  auto v = s[sym];
  REQUIRE(v.size() == values.size());
  for (std::size_t k = 0; k < values.size(); ++k) v.data()[k] = values[k];
}

template <class Store, class Sym>
std::vector<double> read(Store& s, const Sym& sym) {
  auto v = s[sym];
  return std::vector<double>(v.data(), v.data() + v.size());
}

// A random batch of P prompts, G completions and T token slots: ragged masks (every completion but the last of
// prompt 0 has a token; that one is empty), 0/1 rewards with at least one mixed group, log-probs in [-2, -0.05],
// and old / generator log-probs within +-spread of them.
struct random_batch {
  std::size_t P, G, T;
  std::vector<double> mask, reward, advantage, logp, logp_old, logp_gen;

  random_batch(std::size_t np, std::size_t ng, std::size_t nt, unsigned seed, double spread = 0.6)
      : P(np), G(ng), T(nt) {
    std::mt19937 gen(seed);
    std::uniform_real_distribution<double> lp(-2.0, -0.05), d(-spread, spread), a(-1.5, 1.5);
    std::uniform_int_distribution<std::size_t> len(1, T);
    std::uniform_int_distribution<int> bit(0, 1);
    const std::size_t n = P * G * T;
    mask.assign(n, 0.0);
    for (std::size_t i = 0; i < P * G; ++i) {
      const std::size_t l = (i == G - 1) ? 0 : len(gen);
      for (std::size_t c = 0; c < l; ++c) mask[i * T + c] = 1;
    }
    reward.resize(P * G);
    advantage.resize(P * G);
    for (std::size_t i = 0; i < P * G; ++i) reward[i] = bit(gen), advantage[i] = a(gen);
    reward[0] = 1, reward[1] = 0;
    logp.resize(n), logp_old.resize(n), logp_gen.resize(n);
    for (std::size_t k = 0; k < n; ++k) {
      logp[k] = lp(gen);
      logp_old[k] = std::min(logp[k] + d(gen), -0.01);
      logp_gen[k] = std::min(logp_old[k] + d(gen), -0.01);
    }
  }

  tl::extents_list extents() const { return tl::extents(rl::p = P, rl::g = G, rl::t = T); }

  // Fills whichever inputs the store's program has.
  template <class Store>
  void bind(Store& s, const rl::hyperparameters& hp) const {
    using prog = typename Store::program_type;
    fill(s, rl::mask, mask);
    fill(s, rl::logp_old, logp_old);
    if constexpr (prog::template contains<std::remove_cvref_t<decltype(rl::logp_gen)>>) fill(s, rl::logp_gen, logp_gen);
    if constexpr (prog::template contains<std::remove_cvref_t<decltype(rl::reward)>>) fill(s, rl::reward, reward);
    else fill(s, rl::advantage, advantage);
    fill(s, rl::logp, logp);
    rl::bind_hyperparameters(s, hp);
    rl::check_batch(s);
  }
};

// max over the cells of logp of |grad(logp) - central difference| / max(1, |central difference|). With
// move_old, each difference moves logp and logp_old together.
template <class Model, class Train>
double max_logp_gradient_error(const Model& model, const Train& train, const random_batch& b,
                               const rl::hyperparameters& hp, bool move_old, double h = 1e-6) {
  tl::store gs(train, b.extents());
  b.bind(gs, hp);
  tl::eval(train, gs);
  const auto analytic = read(gs, tl::grad(rl::logp));
  tl::store fs(model, b.extents());
  b.bind(fs, hp);
  auto w = fs[rl::logp];
  auto old = fs[rl::logp_old];
  double worst = 0;
  for (std::size_t k = 0; k < w.size(); ++k) {
    const double w0 = w.data()[k], o0 = old.data()[k];
    auto at = [&](double delta) {
      w.data()[k] = w0 + delta;
      if (move_old) old.data()[k] = o0 + delta;
      tl::eval(model, fs);
      return fs[rl::loss]();
    };
    const double numeric = (at(h) - at(-h)) / (2 * h);
    w.data()[k] = w0, old.data()[k] = o0;
    worst = std::max(worst, std::abs(numeric - analytic[k]) / std::max(1.0, std::abs(numeric)));
    if (b.mask[k] == 0) CHECK(analytic[k] == 0.0);
  }
  return worst;
}

}  // namespace rl_test
