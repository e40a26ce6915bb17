// Gradients of the full ScaleRL objective (CISPO, prompt average, batch-std advantages), GSPO's sequence-level ratio
// and DAPO with the truncated importance-sampling correction, each against central finite differences on random
// ragged batches, and GSPO's loss against a naive loop.
#include <catch2/catch.hpp>
#include <cmath>
#include <tensorlogic/rl/objectives.hpp>
#include <tensorlogic/tensorlogic.hpp>
#include <vector>

#include "objective_support.hpp"

namespace tl = tensorlogic;
namespace rl = tensorlogic::rl;

namespace {
constexpr auto scalerl = rl::scalerl_objective();
constexpr auto scalerl_train = tl::gradient(scalerl, rl::loss, tl::wrt(rl::logp));
constexpr auto gspo = rl::objective<rl::loss_kind::gspo, rl::aggregation::sample_average, rl::advantage_norm::given>();
constexpr auto gspo_train = tl::gradient(gspo, rl::loss, tl::wrt(rl::logp));
constexpr auto dapo_tis = rl::objective<rl::loss_kind::dapo, rl::aggregation::prompt_average,
                                        rl::advantage_norm::group_std, true>();
constexpr auto dapo_tis_train = tl::gradient(dapo_tis, rl::loss, tl::wrt(rl::logp));
}  // namespace

TEST_CASE("ScaleRL, GSPO and truncated-IS DAPO gradients against finite differences", "[rl][objectives][autodiff]") {
  for (unsigned seed : {4u, 5u}) {
    INFO("seed " << seed);
    const rl_test::random_batch b(3, 3, 4, seed);
    CHECK(rl_test::max_logp_gradient_error(scalerl, scalerl_train, b, {.eps_max = 1.3}, true) < 1e-7);
    // GSPO's sequence ratio stays near 1: a clip of 0.05 / 0.08 catches some sequences and not others
    CHECK(rl_test::max_logp_gradient_error(gspo, gspo_train, b, {.clip_low = 0.05, .clip_high = 0.08}, false) < 1e-7);
    CHECK(rl_test::max_logp_gradient_error(dapo_tis, dapo_tis_train, b,
                                           {.clip_low = 0.2, .clip_high = 0.28, .tis_cap = 1.2}, false) < 1e-7);
  }
}

TEST_CASE("GSPO's loss against a naive loop", "[rl][objectives]") {
  const rl_test::random_batch b(3, 3, 4, 9);
  tl::store s(gspo, b.extents());
  b.bind(s, {.clip_low = 0.05, .clip_high = 0.08});
  tl::eval(gspo, s);
  double sum = 0, samples = 0;
  int clipped = 0;
  for (std::size_t i = 0; i < b.P * b.G; ++i) {
    double len = 0, log_ratio = 0;
    for (std::size_t c = 0; c < b.T; ++c)
      if (b.mask[i * b.T + c] != 0) len += 1, log_ratio += b.logp[i * b.T + c] - b.logp_old[i * b.T + c];
    if (len == 0) continue;
    const double ratio = std::exp(log_ratio / len), a = b.advantage[i];
    const double clip = std::clamp(ratio, 0.95, 1.08);
    clipped += clip != ratio;
    sum += -std::min(ratio * a, clip * a);
    samples += 1;
  }
  CHECK(clipped > 0);
  CHECK(s[rl::loss]() == Approx(sum / samples).epsilon(1e-13));
}
