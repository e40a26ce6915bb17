// Gradients of CISPO, DAPO and GRPO: the reference's worked token example (§1.10: losses 1.18333 / -0.52667 /
// -0.175 and dloss/dlogp per token), no gradient into logp_old through CISPO's stop-gradient weight, and grad(logp)
// against central finite differences on random ragged batches.
#include <catch2/catch.hpp>
#include <cmath>
#include <tensorlogic/rl/objectives.hpp>
#include <tensorlogic/tensorlogic.hpp>
#include <type_traits>
#include <vector>

#include "objective_support.hpp"

namespace tl = tensorlogic;
namespace rl = tensorlogic::rl;
using rl_test::fill;
using rl_test::read;

namespace {

constexpr auto cispo = rl::objective<rl::loss_kind::cispo, rl::aggregation::token_average, rl::advantage_norm::given>();
constexpr auto dapo = rl::objective<rl::loss_kind::dapo, rl::aggregation::token_average, rl::advantage_norm::given>();
constexpr auto grpo = rl::objective<rl::loss_kind::grpo, rl::aggregation::sample_average, rl::advantage_norm::given>();

// logp_old is also in wrt: CISPO reads it only under the stop-gradient, so it gets no gradient equation.
constexpr auto cispo_train = tl::gradient(cispo, rl::loss, tl::wrt(rl::logp, rl::logp_old));
constexpr auto dapo_train = tl::gradient(dapo, rl::loss, tl::wrt(rl::logp));
constexpr auto grpo_train = tl::gradient(grpo, rl::loss, tl::wrt(rl::logp));

// §1.10: one prompt, G = 2; completion 1 has 2 tokens with advantage +1, completion 2 has 1 token with advantage -1
// (the fourth slot is padding). logp = [-0.5, -1.0, -2.0], ratios [1.1, 5.0, 0.5], logp_old = logp - ln(ratio).
template <class Train>
auto worked_example(const Train& train, const rl::hyperparameters& hp) {
  tl::store s(train, tl::extents(rl::p = 1, rl::g = 2, rl::t = 2));
  fill(s, rl::mask, {1, 1, /**/ 1, 0});
  fill(s, rl::advantage, {1, -1});
  const std::vector<double> lp = {-0.5, -1.0, /**/ -2.0, -9.0};
  const std::vector<double> rho = {1.1, 5.0, /**/ 0.5, 1.0};
  std::vector<double> old(4);
  for (std::size_t k = 0; k < 4; ++k) old[k] = lp[k] - std::log(rho[k]);
  CHECK(old[0] == Approx(-0.59531).margin(5e-6));
  CHECK(old[1] == Approx(-2.60944).margin(5e-6));
  CHECK(old[2] == Approx(-1.30685).margin(5e-6));
  fill(s, rl::logp, lp);
  fill(s, rl::logp_old, old);
  rl::bind_hyperparameters(s, hp);
  rl::check_batch(s);
  tl::eval(train, s);
  return s;
}

void near(const std::vector<double>& got, const std::vector<double>& want, double margin) {
  REQUIRE(got.size() == want.size());
  for (std::size_t k = 0; k < got.size(); ++k) {
    INFO("cell " << k);
    CHECK(got[k] == Approx(want[k]).margin(margin));
  }
}

}  // namespace

TEST_CASE("CISPO, DAPO and GRPO on the reference's worked token example", "[rl][objectives][autodiff]") {
  SECTION("CISPO, eps_max = 4, token average") {
    auto s = worked_example(cispo_train, {.eps_max = 4.0});
    near(read(s, rl::is_weight), {1.1, 4.0, 0.5, 1.0}, 1e-14);  // min(rho, 4); the padding cell is unused
    CHECK(s[rl::loss]() == Approx(3.55 / 3).epsilon(1e-14));
    CHECK(s[rl::loss]() == Approx(1.18333).margin(5e-6));
    near(read(s, tl::grad(rl::logp)), {-1.1 / 3, -4.0 / 3, 0.5 / 3, 0.0}, 1e-14);
    near(read(s, tl::grad(rl::logp)), {-0.36667, -1.33333, 0.16667, 0.0}, 5e-6);
  }
  SECTION("DAPO, clip_low = 0.2, clip_high = 0.28, token average") {
    auto s = worked_example(dapo_train, {.clip_low = 0.2, .clip_high = 0.28});
    near(read(s, rl::token_loss), {-1.1, -1.28, 0.8, 0.0}, 1e-14);  // minus min(rho A, clip(rho) A)
    CHECK(s[rl::loss]() == Approx(-1.58 / 3).epsilon(1e-14));
    CHECK(s[rl::loss]() == Approx(-0.52667).margin(5e-6));
    near(read(s, tl::grad(rl::logp)), {-1.1 / 3, 0.0, 0.0, 0.0}, 1e-14);  // tokens 2 and 3 are clipped
  }
  SECTION("GRPO, clip_eps = 0.2, sample average") {
    auto s = worked_example(grpo_train, {.clip_eps = 0.2});
    near(read(s, rl::token_loss), {-1.1, -1.2, 0.8, 0.0}, 1e-14);
    CHECK(s[rl::loss]() == Approx(-0.175).epsilon(1e-14));
    near(read(s, tl::grad(rl::logp)), {-0.275, 0.0, 0.0, 0.0}, 1e-14);
  }
  SECTION("inside the clip range CISPO and DAPO agree token by token") {
    // token 1 (rho = 1.1) gets rho A / T under both; they differ only on out-of-range tokens
    auto c = worked_example(cispo_train, {.eps_max = 4.0});
    auto d = worked_example(dapo_train, {.clip_low = 0.2, .clip_high = 0.28});
    CHECK(c[tl::grad(rl::logp)](0, 0, 0) == Approx(d[tl::grad(rl::logp)](0, 0, 0)).epsilon(1e-14));
  }
}

TEST_CASE("CISPO's weight is a stop-gradient: no gradient reaches logp_old", "[rl][objectives][autodiff]") {
  STATIC_REQUIRE(cispo_train.contains<tl::grad_symbol<std::remove_cvref_t<decltype(rl::logp)>>>);
  STATIC_REQUIRE(!cispo_train.contains<tl::grad_symbol<std::remove_cvref_t<decltype(rl::logp_old)>>>);
  STATIC_REQUIRE(!cispo_train.contains<tl::grad_symbol<std::remove_cvref_t<decltype(rl::is_weight)>>>);
}

TEST_CASE("CISPO, DAPO and GRPO gradients against finite differences", "[rl][objectives][autodiff]") {
  for (unsigned seed : {1u, 2u, 3u}) {
    INFO("seed " << seed);
    const rl_test::random_batch b(2, 3, 4, seed);
    // CISPO: moving logp and logp_old together keeps rho, hence the stop-gradient weight, fixed
    CHECK(rl_test::max_logp_gradient_error(cispo, cispo_train, b, {.eps_max = 1.3}, true) < 1e-7);
    CHECK(rl_test::max_logp_gradient_error(dapo, dapo_train, b, {.clip_low = 0.2, .clip_high = 0.28}, false) < 1e-7);
    CHECK(rl_test::max_logp_gradient_error(grpo, grpo_train, b, {.clip_eps = 0.2}, false) < 1e-7);
  }
}
