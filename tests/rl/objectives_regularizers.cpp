// The objectives' optional parts (tl::rl::extras): the KL penalty against a reference policy (k1 and k3
// estimators), the entropy bonus from the logits, and the dual clip for negative advantages. Values against naive
// loops, grad(logp) and grad(logits) against central finite differences, coefficients of 0 reproducing the plain
// objective bit for bit, the dual clip at hand-computed values, masked tokens, and the input checks.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstddef>
#include <limits>
#include <random>
#include <tensorlogic/rl/objectives.hpp>
#include <tensorlogic/tensorlogic.hpp>
#include <type_traits>
#include <vector>

#include "objective_support.hpp"

namespace tl = tensorlogic;
namespace rl = tensorlogic::rl;
using Catch::Contains;
using rl_test::fill;
using rl_test::read;

namespace {

constexpr double not_a_number = std::numeric_limits<double>::quiet_NaN();

// Whether the program (type) has the symbol.
template <class Prog, const auto& Sym>
constexpr bool has = std::remove_cvref_t<Prog>::template contains<std::remove_cvref_t<decltype(Sym)>>;

// ScaleRL's objective with a k3 KL penalty and the entropy bonus.
constexpr auto cispo_reg = rl::objective<rl::loss_kind::cispo, rl::aggregation::prompt_average,
                                         rl::advantage_norm::batch_std, false,
                                         rl::extras{.kl = rl::kl_estimator::k3, .entropy = true}>();
// GRPO, sample average, given advantages, k1 KL penalty.
constexpr auto grpo_k1 = rl::objective<rl::loss_kind::grpo, rl::aggregation::sample_average, rl::advantage_norm::given,
                                       false, rl::extras{.kl = rl::kl_estimator::k1}>();
// DAPO with everything: group-std advantages, truncated IS, k3 KL, entropy bonus, dual clip; token average.
constexpr auto dapo_all = rl::objective<rl::loss_kind::dapo, rl::aggregation::token_average,
                                        rl::advantage_norm::group_std, true,
                                        rl::extras{.kl = rl::kl_estimator::k3, .entropy = true, .dual_clip = true}>();
// The plain objectives that the first two extend.
constexpr auto cispo_plain = rl::scalerl_objective();
constexpr auto grpo_plain =
    rl::objective<rl::loss_kind::grpo, rl::aggregation::sample_average, rl::advantage_norm::given>();

constexpr auto cispo_reg_train = tl::gradient(cispo_reg, rl::loss, tl::wrt(rl::logp, rl::logits));
constexpr auto grpo_k1_train = tl::gradient(grpo_k1, rl::loss, tl::wrt(rl::logp));
constexpr auto dapo_all_train = tl::gradient(dapo_all, rl::loss, tl::wrt(rl::logp, rl::logits));
constexpr auto cispo_plain_train = tl::gradient(cispo_plain, rl::loss, tl::wrt(rl::logp));
constexpr auto grpo_plain_train = tl::gradient(grpo_plain, rl::loss, tl::wrt(rl::logp));

// The dual clip alone, for the hand-computed values.
constexpr auto grpo_dual = rl::objective<rl::loss_kind::grpo, rl::aggregation::token_average,
                                         rl::advantage_norm::given, false, rl::extras{.dual_clip = true}>();
constexpr auto grpo_token = rl::objective<rl::loss_kind::grpo, rl::aggregation::token_average,
                                          rl::advantage_norm::given>();
constexpr auto dapo_dual = rl::objective<rl::loss_kind::dapo, rl::aggregation::token_average,
                                         rl::advantage_norm::given, false, rl::extras{.dual_clip = true}>();
constexpr auto grpo_dual_train = tl::gradient(grpo_dual, rl::loss, tl::wrt(rl::logp));
constexpr auto grpo_token_train = tl::gradient(grpo_token, rl::loss, tl::wrt(rl::logp));
constexpr auto dapo_dual_train = tl::gradient(dapo_dual, rl::loss, tl::wrt(rl::logp));

// A random ragged batch (rl_test::random_batch) plus reference log-probs within +-spread of logp and logits in
// [-3, 3] over a vocabulary of V entries.
struct batch : rl_test::random_batch {
  std::size_t V;
  std::vector<double> logp_ref, logits;

  batch(std::size_t np, std::size_t ng, std::size_t nt, std::size_t nv, unsigned seed)
      : random_batch(np, ng, nt, seed), V(nv) {
    std::mt19937 gen(seed + 1000);
    std::uniform_real_distribution<double> d(-0.6, 0.6), z(-3.0, 3.0);
    logp_ref.resize(logp.size());
    for (std::size_t k = 0; k < logp.size(); ++k) logp_ref[k] = std::min(logp[k] + d(gen), -0.01);
    logits.resize(logp.size() * V);
    for (double& x : logits) x = z(gen);
  }

  template <class Prog>
  tl::extents_list extents_for(const Prog&) const {
    if constexpr (Prog::template contains<std::remove_cvref_t<decltype(rl::logits)>>)
      return tl::extents(rl::p = P, rl::g = G, rl::t = T, rl::v = V);
    else
      return tl::extents(rl::p = P, rl::g = G, rl::t = T);
  }

  template <class Store>
  void bind(Store& s, const rl::hyperparameters& hp) const {
    using prog = typename Store::program_type;
    if constexpr (prog::template contains<std::remove_cvref_t<decltype(rl::logp_ref)>>) fill(s, rl::logp_ref, logp_ref);
    if constexpr (prog::template contains<std::remove_cvref_t<decltype(rl::logits)>>) fill(s, rl::logits, logits);
    random_batch::bind(s, hp);
  }
};

// What a naive evaluation needs to know about the objective.
struct setup {
  rl::loss_kind loss;
  rl::aggregation agg;
  rl::kl_estimator kl = rl::kl_estimator::none;
  bool entropy = false;
  bool dual_clip = false;
  bool tis = false;
};

// The naive loss and its parts, in double, from the batch and the advantages adv[p * G + g].
struct naive_result {
  double loss = 0, kl_mean = 0, entropy_mean = 0;
  std::vector<double> kl, entropy;
};

double naive_entropy(const std::vector<double>& z, std::size_t row, std::size_t V) {
  const double* r = z.data() + row * V;
  double m = r[0];
  for (std::size_t k = 1; k < V; ++k) m = std::max(m, r[k]);
  double sum = 0;
  for (std::size_t k = 0; k < V; ++k) sum += std::exp(r[k] - m);
  const double lse = m + std::log(sum);
  double h = 0;
  for (std::size_t k = 0; k < V; ++k) h -= std::exp(r[k] - lse) * (r[k] - lse);
  return h;
}

naive_result naive(const batch& b, const std::vector<double>& adv, const setup& o, const rl::hyperparameters& hp) {
  const std::size_t P = b.P, G = b.G, T = b.T;
  std::vector<double> len(P * G, 0.0), prompt_len(P, 0.0);
  double tokens = 0, present = 0, prompts = 0;
  for (std::size_t i = 0; i < P * G; ++i)
    for (std::size_t c = 0; c < T; ++c) len[i] += b.mask[i * T + c];
  for (std::size_t i = 0; i < P * G; ++i) {
    prompt_len[i / G] += len[i];
    tokens += len[i];
    present += len[i] > 0 ? 1 : 0;
  }
  for (std::size_t a = 0; a < P; ++a) prompts += prompt_len[a] > 0 ? 1 : 0;
  naive_result r;
  r.kl.assign(P * G * T, 0.0);
  r.entropy.assign(P * G * T, 0.0);
  for (std::size_t i = 0; i < P * G; ++i)
    for (std::size_t c = 0; c < T; ++c) {
      const std::size_t k = i * T + c;
      if (b.mask[k] == 0) continue;
      double w = 0;
      switch (o.agg) {
        case rl::aggregation::token_average: w = 1 / tokens; break;
        case rl::aggregation::sample_average: w = 1 / len[i] / present; break;
        case rl::aggregation::prompt_average: w = 1 / prompt_len[i / G] / prompts; break;
      }
      const double A = adv[i], rho = std::exp(b.logp[k] - b.logp_old[k]);
      double objective = 0;
      if (o.loss == rl::loss_kind::cispo) {
        objective = std::min(rho, hp.eps_max) * A * b.logp[k];
      } else {
        const double lo = o.loss == rl::loss_kind::grpo ? 1 - hp.clip_eps : 1 - hp.clip_low;
        const double hi = o.loss == rl::loss_kind::grpo ? 1 + hp.clip_eps : 1 + hp.clip_high;
        objective = std::min(rho * A, std::clamp(rho, lo, hi) * A);
        if (o.dual_clip && A < 0) objective = std::max(objective, hp.clip_ratio_c * A);
      }
      if (o.tis) objective *= std::min(std::exp(b.logp_old[k] - b.logp_gen[k]), hp.tis_cap);
      r.loss -= w * objective;
      if (o.kl != rl::kl_estimator::none) {
        const double d = b.logp_ref[k] - b.logp[k];
        r.kl[k] = o.kl == rl::kl_estimator::k1 ? -d : std::exp(d) - d - 1;
        r.kl_mean += w * r.kl[k];
      }
      if (o.entropy) {
        r.entropy[k] = naive_entropy(b.logits, k, b.V);
        r.entropy_mean += w * r.entropy[k];
      }
    }
  if (o.kl != rl::kl_estimator::none) r.loss += hp.kl_coef * r.kl_mean;
  if (o.entropy) r.loss -= hp.entropy_coef * r.entropy_mean;
  return r;
}

template <class Prog>
void check_against_naive(const Prog& prog, const batch& b, const setup& o, const rl::hyperparameters& hp) {
  tl::store s(prog, b.extents_for(prog));
  b.bind(s, hp);
  tl::eval(prog, s);
  const auto adv = read(s, rl::advantage);
  const auto want = naive(b, adv, o, hp);
  CHECK(s[rl::loss]() == Approx(want.loss).epsilon(1e-12).margin(1e-13));
  if constexpr (has<Prog, rl::kl>) {
    CHECK(s[rl::kl_mean]() == Approx(want.kl_mean).epsilon(1e-12).margin(1e-13));
    const auto got = read(s, rl::kl);
    for (std::size_t k = 0; k < got.size(); ++k) {
      INFO("kl cell " << k);
      CHECK(got[k] == Approx(want.kl[k]).epsilon(1e-12).margin(1e-14));
    }
  }
  if constexpr (has<Prog, rl::entropy>) {
    CHECK(s[rl::entropy_mean]() == Approx(want.entropy_mean).epsilon(1e-12).margin(1e-13));
    const auto got = read(s, rl::entropy);
    for (std::size_t k = 0; k < got.size(); ++k) {
      INFO("entropy cell " << k);
      CHECK(got[k] == Approx(want.entropy[k]).epsilon(1e-12).margin(1e-14));
    }
  }
}

// max over the cells of `sym` (logp or logits) of |grad - central difference| / max(1, |central difference|);
// with move_old, a difference in logp moves logp_old along (keeping CISPO's stop-gradient weight fixed). Cells of
// masked tokens must get exactly 0.
template <class Model, class Train, class Sym>
double max_gradient_error(const Model& model, const Train& train, const batch& b, const rl::hyperparameters& hp,
                          const Sym& sym, bool move_old, double h = 1e-6) {
  constexpr bool is_logits = std::is_same_v<Sym, std::remove_cvref_t<decltype(rl::logits)>>;
  tl::store gs(train, b.extents_for(train));
  b.bind(gs, hp);
  tl::eval(train, gs);
  const auto analytic = read(gs, tl::grad(sym));
  tl::store fs(model, b.extents_for(model));
  b.bind(fs, hp);
  auto w = fs[sym];
  auto old = fs[rl::logp_old];
  double worst = 0;
  for (std::size_t k = 0; k < w.size(); ++k) {
    const std::size_t token = is_logits ? k / b.V : k;
    const double w0 = w.data()[k], o0 = old.data()[token];
    auto at = [&](double delta) {
      w.data()[k] = w0 + delta;
      if (move_old && !is_logits) old.data()[token] = o0 + delta;
      tl::eval(model, fs);
      return fs[rl::loss]();
    };
    const double numeric = (at(h) - at(-h)) / (2 * h);
    w.data()[k] = w0, old.data()[token] = o0;
    worst = std::max(worst, std::abs(numeric - analytic[k]) / std::max(1.0, std::abs(numeric)));
    if (b.mask[token] == 0) CHECK(analytic[k] == 0.0);
  }
  return worst;
}

void near(const std::vector<double>& got, const std::vector<double>& want, double margin) {
  REQUIRE(got.size() == want.size());
  for (std::size_t k = 0; k < got.size(); ++k) {
    INFO("cell " << k);
    CHECK(got[k] == Approx(want[k]).margin(margin));
  }
}

const rl::hyperparameters cispo_hp{.eps_max = 1.3, .adv_eps = 1e-4, .kl_coef = 0.7, .entropy_coef = 0.3};
const rl::hyperparameters grpo_hp{.clip_eps = 0.2, .kl_coef = 0.5};
// clip_ratio_c = 1.5 so that the random ratios (up to about e^0.6) reach the dual clip
const rl::hyperparameters dapo_hp{
    .clip_low = 0.2, .clip_high = 0.28, .tis_cap = 1.4, .clip_ratio_c = 1.5, .kl_coef = 0.4, .entropy_coef = 0.25};

}  // namespace

TEST_CASE("regularized objectives against naive loops", "[rl][objectives][regularizers]") {
  for (unsigned seed : {1u, 2u, 3u}) {
    INFO("seed " << seed);
    const batch b(3, 3, 4, 5, seed);
    check_against_naive(cispo_reg, b,
                        {.loss = rl::loss_kind::cispo, .agg = rl::aggregation::prompt_average,
                         .kl = rl::kl_estimator::k3, .entropy = true},
                        cispo_hp);
    check_against_naive(grpo_k1, b,
                        {.loss = rl::loss_kind::grpo, .agg = rl::aggregation::sample_average,
                         .kl = rl::kl_estimator::k1},
                        grpo_hp);
    check_against_naive(dapo_all, b,
                        {.loss = rl::loss_kind::dapo, .agg = rl::aggregation::token_average,
                         .kl = rl::kl_estimator::k3, .entropy = true, .dual_clip = true, .tis = true},
                        dapo_hp);
  }
}

TEST_CASE("KL estimators and the entropy at hand-computed values", "[rl][objectives][regularizers]") {
  // one prompt, G = 2 (rewards 1 and 0), two tokens each; the second completion's second token is padding
  auto run = [](const auto& prog, const rl::hyperparameters& hp) {
    tl::store s(prog, tl::extents(rl::p = 1, rl::g = 2, rl::t = 2, rl::v = 4));
    fill(s, rl::mask, {1, 1, /**/ 1, 0});
    fill(s, rl::reward, {1, 0});
    fill(s, rl::logp, {-1.0, -0.2, /**/ -0.5, not_a_number});
    fill(s, rl::logp_old, {-1.0, -0.2, /**/ -0.5, not_a_number});
    fill(s, rl::logp_ref, {-1.5, -0.2, /**/ -0.3, not_a_number});
    // token 1: uniform over 4 entries (H = ln 4); token 2: all mass on one entry up to e^-40; token 3: [0, ln 2,
    // ln 3, ln 4] (probabilities 1/10, 2/10, 3/10, 4/10); the padding token's logits are finite but unused
    fill(s, rl::logits, {0.5, 0.5, 0.5, 0.5, /**/ 40, 0, 0, 0, /**/ 0, std::log(2.0), std::log(3.0), std::log(4.0),
                         /**/ 1, 2, 3, 4});
    rl::bind_hyperparameters(s, hp);
    rl::check_batch(s);
    tl::eval(prog, s);
    return s;
  };
  const double k3_first = std::exp(-0.5) + 0.5 - 1, k3_third = std::exp(0.2) - 0.2 - 1;
  const double h_third = -(0.1 * std::log(0.1) + 0.2 * std::log(0.2) + 0.3 * std::log(0.3) + 0.4 * std::log(0.4));
  auto s = run(cispo_reg_train, {.kl_coef = 1.0, .entropy_coef = 1.0});
  // k3 = exp(d) - d - 1 with d = logp_ref - logp: d = -0.5, 0, 0.2
  near(read(s, rl::kl), {k3_first, 0.0, k3_third, 0.0}, 1e-15);
  CHECK(k3_first == Approx(0.1065306597).margin(1e-10));
  CHECK(k3_third == Approx(0.0214027582).margin(1e-10));
  // token 2: pi = (1, e, e, e) / (1 + 3e) with e = e^-40, so H = (log1p(3e) + 3e (40 + log1p(3e))) / (1 + 3e)
  const double e40 = std::exp(-40.0);
  const double h_second = (std::log1p(3 * e40) + 3 * e40 * (40 + std::log1p(3 * e40))) / (1 + 3 * e40);
  near(read(s, rl::entropy), {std::log(4.0), h_second, h_third, 0.0}, 1e-14);
  CHECK(h_third == Approx(1.2798542258).margin(1e-10));
  // prompt average over one prompt of 3 tokens: every token has weight 1/3
  CHECK(s[rl::kl_mean]() == Approx((k3_first + k3_third) / 3).epsilon(1e-14));
  CHECK(s[rl::entropy_mean]() == Approx((std::log(4.0) + h_second + h_third) / 3).epsilon(1e-14));
  // dk3/dlogp = 1 - exp(d), times the weight 1/3 and kl_coef 1; the CISPO part adds -min(rho, eps_max) A / 3 with
  // rho = 1 and A = +-1 / batch std (population-free Bessel std of the centered rewards +-0.5 over 2: sqrt(0.5))
  const double a = 0.5 / (std::sqrt(0.5) + 1e-6);
  near(read(s, tl::grad(rl::logp)),
       {(1 - std::exp(-0.5)) / 3 - a / 3, -a / 3, (1 - std::exp(0.2)) / 3 + a / 3, 0.0}, 1e-14);
  // dH/dZ_v = -pi_v (log pi_v + H); the loss has -H / 3 per token, so grad(logits) = pi_v (log pi_v + H) / 3
  const auto gz = read(s, tl::grad(rl::logits));
  for (std::size_t k = 0; k < 4; ++k) {
    const double pi = (k + 1) / 10.0;
    INFO("entry " << k);
    CHECK(gz[8 + k] == Approx(pi * (std::log(pi) + h_third) / 3).margin(1e-15));
    CHECK(gz[k] == Approx(0.0).margin(1e-15));  // the uniform distribution is the entropy's maximum
    CHECK(gz[12 + k] == 0.0);                   // the padding token
  }

  // k1 = logp - logp_ref on the same tokens: negative where pi_ref > pi_theta
  tl::store s1(grpo_k1, tl::extents(rl::p = 1, rl::g = 2, rl::t = 2));
  fill(s1, rl::mask, {1, 1, /**/ 1, 0});
  fill(s1, rl::advantage, {1, -1});
  fill(s1, rl::logp, {-1.0, -0.2, /**/ -0.5, not_a_number});
  fill(s1, rl::logp_old, {-1.0, -0.2, /**/ -0.5, not_a_number});
  fill(s1, rl::logp_ref, {-1.5, -0.2, /**/ -0.3, not_a_number});
  rl::bind_hyperparameters(s1, {.clip_eps = 0.2, .kl_coef = 2.0});
  rl::check_batch(s1);
  tl::eval(grpo_k1, s1);
  near(read(s1, rl::kl), {0.5, 0.0, -0.2, 0.0}, 1e-15);
  // sample average: weights 1/4, 1/4, 1/2; the policy part is -(1/2)(1) + (1/2)(1) = 0 at rho = 1
  CHECK(s1[rl::kl_mean]() == Approx(0.5 / 4 - 0.2 / 2).epsilon(1e-14));
  CHECK(s1[rl::loss]() == Approx(2.0 * (0.5 / 4 - 0.2 / 2)).margin(1e-15));
}

TEST_CASE("regularizer gradients against finite differences", "[rl][objectives][regularizers][autodiff]") {
  for (unsigned seed : {1u, 2u, 3u}) {
    INFO("seed " << seed);
    const batch b(2, 3, 4, 5, seed);
    // CISPO: moving logp_old with logp keeps the stop-gradient weight fixed; the KL term reads logp only
    CHECK(max_gradient_error(cispo_reg, cispo_reg_train, b, cispo_hp, rl::logp, true) < 1e-7);
    CHECK(max_gradient_error(cispo_reg, cispo_reg_train, b, cispo_hp, rl::logits, false) < 1e-7);
    CHECK(max_gradient_error(grpo_k1, grpo_k1_train, b, grpo_hp, rl::logp, false) < 1e-7);
    CHECK(max_gradient_error(dapo_all, dapo_all_train, b, dapo_hp, rl::logp, false) < 1e-7);
    CHECK(max_gradient_error(dapo_all, dapo_all_train, b, dapo_hp, rl::logits, false) < 1e-7);
  }
}

TEST_CASE("some random tokens are in the dual clip's range", "[rl][objectives][regularizers]") {
  // so that the finite-difference check above covers the dual clip: tokens with A < 0 and rho > clip_ratio_c
  std::size_t dual_clipped = 0;
  for (unsigned seed : {1u, 2u, 3u}) {
    const batch b(2, 3, 4, 5, seed);
    tl::store s(dapo_all, b.extents_for(dapo_all));
    b.bind(s, dapo_hp);
    tl::eval(dapo_all, s);
    const auto adv = read(s, rl::advantage);
    for (std::size_t k = 0; k < b.mask.size(); ++k)
      if (b.mask[k] == 1 && adv[k / b.T] < 0 && std::exp(b.logp[k] - b.logp_old[k]) > dapo_hp.clip_ratio_c)
        ++dual_clipped;
  }
  CHECK(dual_clipped >= 2);
}

TEST_CASE("coefficients of 0 reproduce the plain objective exactly", "[rl][objectives][regularizers]") {
  for (unsigned seed : {1u, 2u}) {
    INFO("seed " << seed);
    const batch b(3, 3, 4, 5, seed);
    {
      tl::store plain(cispo_plain_train, b.extents_for(cispo_plain_train));
      b.bind(plain, {.eps_max = 1.3});
      tl::eval(cispo_plain_train, plain);
      tl::store reg(cispo_reg_train, b.extents_for(cispo_reg_train));
      b.bind(reg, {.eps_max = 1.3, .kl_coef = 0.0, .entropy_coef = 0.0});
      tl::eval(cispo_reg_train, reg);
      CHECK(reg[rl::kl_mean]() > 0);  // the terms are there, with weight 0
      CHECK(reg[rl::entropy_mean]() > 0);
      CHECK(reg[rl::loss]() == plain[rl::loss]());
      CHECK(read(reg, tl::grad(rl::logp)) == read(plain, tl::grad(rl::logp)));
      CHECK(read(reg, rl::token_loss) == read(plain, rl::token_loss));
      for (double x : read(reg, tl::grad(rl::logits))) CHECK(x == 0.0);
    }
    {
      tl::store plain(grpo_plain_train, b.extents_for(grpo_plain_train));
      b.bind(plain, {.clip_eps = 0.2});
      tl::eval(grpo_plain_train, plain);
      tl::store reg(grpo_k1_train, b.extents_for(grpo_k1_train));
      b.bind(reg, {.clip_eps = 0.2, .kl_coef = 0.0});
      tl::eval(grpo_k1_train, reg);
      CHECK(reg[rl::loss]() == plain[rl::loss]());
      CHECK(read(reg, tl::grad(rl::logp)) == read(plain, tl::grad(rl::logp)));
    }
    {
      // a dual clip bound above every ratio changes nothing either
      tl::store plain(grpo_token_train, b.extents_for(grpo_token_train));
      b.bind(plain, {.clip_eps = 0.2});
      tl::eval(grpo_token_train, plain);
      tl::store dual(grpo_dual_train, b.extents_for(grpo_dual_train));
      b.bind(dual, {.clip_eps = 0.2, .clip_ratio_c = 10.0});
      tl::eval(grpo_dual_train, dual);
      CHECK(dual[rl::loss]() == plain[rl::loss]());
      CHECK(read(dual, tl::grad(rl::logp)) == read(plain, tl::grad(rl::logp)));
    }
  }
}

TEST_CASE("the dual clip at hand-computed values", "[rl][objectives][regularizers]") {
  // One prompt, G = 2, token average over 5 tokens. Completion 1 (A = +1): rho = [1.1, 12]; completion 2 (A = -1):
  // rho = [12, 0.5, 5]. logp is -1 everywhere and logp_old = logp - ln(rho).
  auto run = [](const auto& train, const rl::hyperparameters& hp) {
    tl::store s(train, tl::extents(rl::p = 1, rl::g = 2, rl::t = 3));
    fill(s, rl::mask, {1, 1, 0, /**/ 1, 1, 1});
    fill(s, rl::advantage, {1, -1});
    const std::vector<double> rho = {1.1, 12.0, 1.0, /**/ 12.0, 0.5, 5.0};
    std::vector<double> lp(6, -1.0), old(6);
    for (std::size_t k = 0; k < 6; ++k) old[k] = lp[k] - std::log(rho[k]);
    fill(s, rl::logp, lp);
    fill(s, rl::logp_old, old);
    rl::bind_hyperparameters(s, hp);
    rl::check_batch(s);
    tl::eval(train, s);
    return s;
  };
  SECTION("GRPO, clip_eps = 0.2, clip_ratio_c = 10") {
    // objectives: 1.1 (inside), 1.2 (clipped above), max(-12, -10) = -10 (dual clip), -0.8 (clipped), -5 (inside)
    auto s = run(grpo_dual_train, {.clip_eps = 0.2, .clip_ratio_c = 10.0});
    near(read(s, rl::token_loss), {-1.1, -1.2, 0.0, /**/ 10.0, 0.8, 5.0}, 1e-13);
    CHECK(s[rl::loss]() == Approx(13.5 / 5).epsilon(1e-14));
    near(read(s, tl::grad(rl::logp)), {-1.1 / 5, 0.0, 0.0, /**/ 0.0, 0.0, 5.0 / 5}, 1e-14);
    // without the dual clip the third token's loss is 12, and its gradient -rho A / 5 = 2.4
    auto p = run(grpo_token_train, {.clip_eps = 0.2});
    near(read(p, rl::token_loss), {-1.1, -1.2, 0.0, /**/ 12.0, 0.8, 5.0}, 1e-13);
    CHECK(p[rl::loss]() == Approx(15.5 / 5).epsilon(1e-14));
    near(read(p, tl::grad(rl::logp)), {-1.1 / 5, 0.0, 0.0, /**/ 12.0 / 5, 0.0, 5.0 / 5}, 1e-14);
  }
  SECTION("GRPO, clip_ratio_c = 3 (verl's default)") {
    // now rho = 5 is above c as well: -3 for both, with no gradient
    auto s = run(grpo_dual_train, {.clip_eps = 0.2, .clip_ratio_c = 3.0});
    near(read(s, rl::token_loss), {-1.1, -1.2, 0.0, /**/ 3.0, 0.8, 3.0}, 1e-13);
    CHECK(s[rl::loss]() == Approx(4.5 / 5).epsilon(1e-14));
    near(read(s, tl::grad(rl::logp)), {-1.1 / 5, 0.0, 0.0, /**/ 0.0, 0.0, 0.0}, 1e-14);
  }
  SECTION("DAPO, 0.2 / 0.28, clip_ratio_c = 10") {
    // a positive advantage is clipped at 1 + clip_high = 1.28 and never dual-clipped
    auto s = run(dapo_dual_train, {.clip_low = 0.2, .clip_high = 0.28, .clip_ratio_c = 10.0});
    near(read(s, rl::token_loss), {-1.1, -1.28, 0.0, /**/ 10.0, 0.8, 5.0}, 1e-13);
    CHECK(s[rl::loss]() == Approx(13.42 / 5).epsilon(1e-14));
    near(read(s, tl::grad(rl::logp)), {-1.1 / 5, 0.0, 0.0, /**/ 0.0, 0.0, 5.0 / 5}, 1e-14);
  }
}

TEST_CASE("masked tokens' reference log-probs do not matter", "[rl][objectives][regularizers]") {
  const batch b(3, 3, 4, 5, 7);
  auto run = [&](bool garbage) {
    tl::store s(dapo_all_train, b.extents_for(dapo_all_train));
    b.bind(s, dapo_hp);
    if (garbage) {
      auto ref = s[rl::logp_ref];
      auto lp = s[rl::logp];
      for (std::size_t k = 0; k < b.mask.size(); ++k)
        if (b.mask[k] == 0) ref.data()[k] = not_a_number, lp.data()[k] = 1e300;
      rl::check_batch(s);
    }
    tl::eval(dapo_all_train, s);
    return s;
  };
  auto clean = run(false);
  auto dirty = run(true);
  CHECK(std::isfinite(dirty[rl::loss]()));
  CHECK(dirty[rl::loss]() == clean[rl::loss]());
  CHECK(read(dirty, tl::grad(rl::logp)) == read(clean, tl::grad(rl::logp)));
  CHECK(read(dirty, tl::grad(rl::logits)) == read(clean, tl::grad(rl::logits)));
  CHECK(read(dirty, rl::kl) == read(clean, rl::kl));
}

TEST_CASE("regularizers' inputs and hyperparameters are checked", "[rl][objectives][regularizers]") {
  const batch b(2, 3, 4, 5, 1);
  // b.mask: prompt 0's last completion is empty, so p=0, g=2 is masked everywhere; p=0, g=0, t=0 is a token
  auto expect = [&](auto edit, const std::string& message) {
    tl::store s(dapo_all, b.extents_for(dapo_all));
    b.bind(s, dapo_hp);
    edit(s);
    CHECK_THROWS_WITH(rl::check_batch(s), Contains("tensorlogic: rl::check_batch: " + message));
  };
  expect([](auto& s) { s[rl::logp_ref](0, 0, 0) = not_a_number; },
         "logp_ref[p=0, g=0, t=0] = nan is not a finite log-probability (<= 0)");
  expect([](auto& s) { s[rl::logp_ref](0, 0, 0) = 0.25; },
         "logp_ref[p=0, g=0, t=0] = 0.25 is not a finite log-probability (<= 0)");
  expect([](auto& s) { s[rl::logits](0, 0, 0, 3) = std::numeric_limits<double>::infinity(); },
         "logits[p=0, g=0, t=0, v=3] = inf is not finite");
  expect([](auto& s) { s[rl::logits](0, 2, 1, 0) = not_a_number; },
         "logits[p=0, g=2, t=1, v=0] = nan is not finite (masked tokens' logits are checked too");
  {
    // a masked token's reference log-prob is not checked
    tl::store s(dapo_all, b.extents_for(dapo_all));
    b.bind(s, dapo_hp);
    s[rl::logp_ref](0, 2, 1) = not_a_number;
    CHECK_NOTHROW(rl::check_batch(s));
  }

  tl::store s(dapo_all, b.extents_for(dapo_all));
  b.bind(s, dapo_hp);
  auto with = [](rl::hyperparameters hp, auto edit) {
    edit(hp);
    return hp;
  };
  CHECK_THROWS_WITH(rl::bind_hyperparameters(s, with(dapo_hp, [](auto& hp) { hp.kl_coef = not_a_number; })),
                    Contains("tensorlogic: rl::bind_hyperparameters: kl_coef = nan must be finite and >= 0 (it has no "
                             "default: set hyperparameters::kl_coef)"));
  CHECK_THROWS_WITH(rl::bind_hyperparameters(s, with(dapo_hp, [](auto& hp) { hp.kl_coef = -0.1; })),
                    Contains("kl_coef = -0.1 must be finite and >= 0"));
  CHECK_THROWS_WITH(rl::bind_hyperparameters(s, with(dapo_hp, [](auto& hp) { hp.entropy_coef = not_a_number; })),
                    Contains("entropy_coef = nan must be finite and >= 0 (it has no default: set "
                             "hyperparameters::entropy_coef)"));
  CHECK_THROWS_WITH(rl::bind_hyperparameters(s, with(dapo_hp, [](auto& hp) { hp.entropy_coef = -1.0; })),
                    Contains("entropy_coef = -1 must be finite and >= 0"));
  CHECK_THROWS_WITH(rl::bind_hyperparameters(s, with(dapo_hp, [](auto& hp) { hp.clip_ratio_c = 1.0; })),
                    Contains("clip_ratio_c = 1 must be finite and > 1"));
  CHECK_THROWS_WITH(rl::bind_hyperparameters(s, with(dapo_hp, [](auto& hp) { hp.clip_ratio_c = not_a_number; })),
                    Contains("clip_ratio_c = nan must be finite and > 1"));
  // a program without the terms does not read their (unset) coefficients
  tl::store plain(grpo_plain, b.extents_for(grpo_plain));
  CHECK_NOTHROW(rl::bind_hyperparameters(plain, {}));
  STATIC_REQUIRE(!has<decltype(grpo_plain), rl::kl_coef>);
  STATIC_REQUIRE(!has<decltype(grpo_plain), rl::clip_ratio_c>);
  STATIC_REQUIRE(has<decltype(grpo_k1), rl::kl_coef>);
  STATIC_REQUIRE(!has<decltype(grpo_k1), rl::entropy_coef>);
  STATIC_REQUIRE(!has<decltype(grpo_k1), rl::logits>);
}
