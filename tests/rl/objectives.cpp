// The RL objectives' forward programs: the reference's aggregation example (1.75 / 1.25 / 1.1667), its advantage
// normalizations (§1.6) and random batches against naive loops, masked tokens and filtered groups contributing
// nothing, and the host-side input checks (tl::rl::check_batch, tl::rl::bind_hyperparameters).
#include <catch2/catch.hpp>
#include <cmath>
#include <cstddef>
#include <limits>
#include <random>
#include <span>
#include <tensorlogic/rl/curriculum.hpp>
#include <tensorlogic/rl/objectives.hpp>
#include <tensorlogic/tensorlogic.hpp>
#include <vector>

namespace tl = tensorlogic;
namespace rl = tensorlogic::rl;
using Catch::Contains;

namespace {

constexpr double not_a_number = std::numeric_limits<double>::quiet_NaN();

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

// The reference's aggregation example (§1.5), with a third prompt whose mask is 0 (a filtered group) and garbage in
// every masked token's loss.
struct aggregation_batch {
  static constexpr std::size_t P = 3, G = 2, T = 3;
  std::vector<double> mask = {1, 0, 0, /**/ 1, 1, 1,    // prompt A: A1 has 1 token, A2 has 3
                              1, 0, 0, /**/ 1, 0, 0,    // prompt B: 1 token each
                              0, 0, 0, /**/ 0, 0, 0};   // prompt C: filtered out
  std::vector<double> loss = {4, not_a_number, 1e9, /**/ 0, 0, 0,  //
                              3, -7, not_a_number, /**/ 0, 5, 5,   //
                              not_a_number, 8, 8, /**/ 1, 2, 3};
};

template <rl::aggregation Agg>
double aggregated(const aggregation_batch& b, std::size_t prompts) {
  constexpr auto prog = rl::aggregate<Agg>();
  tl::store s(prog, tl::extents(rl::p = prompts, rl::g = b.G, rl::t = b.T));
  const std::size_t n = prompts * b.G * b.T;
  fill(s, rl::mask, std::vector<double>(b.mask.begin(), b.mask.begin() + static_cast<std::ptrdiff_t>(n)));
  fill(s, rl::token_loss, std::vector<double>(b.loss.begin(), b.loss.begin() + static_cast<std::ptrdiff_t>(n)));
  tl::eval(prog, s);
  return s[rl::loss]();
}

// Naive advantages over present completions (at least one unmasked token), as the header documents them.
std::vector<double> naive_advantages(rl::advantage_norm norm, const std::vector<double>& r,
                                     const std::vector<double>& mask, std::size_t P, std::size_t G, std::size_t T,
                                     double ddof, double eps) {
  std::vector<double> present(P * G), centered(P * G), a(P * G);
  for (std::size_t i = 0; i < P * G; ++i) {
    double len = 0;
    for (std::size_t c = 0; c < T; ++c) len += mask[i * T + c];
    present[i] = len > 0 ? 1 : 0;
  }
  double sum_sq = 0, n_all = 0;
  std::vector<double> group_sd(P);
  for (std::size_t p = 0; p < P; ++p) {
    double n = 0, sum = 0;
    for (std::size_t g = 0; g < G; ++g) n += present[p * G + g], sum += present[p * G + g] * r[p * G + g];
    const double mean = n > 0 ? sum / n : 0;
    double sq = 0;
    for (std::size_t g = 0; g < G; ++g) {
      const std::size_t i = p * G + g;
      centered[i] = present[i] ? r[i] - mean : 0;
      sq += centered[i] * centered[i];
    }
    group_sd[p] = std::sqrt(sq / std::max(n - ddof, 1.0));
    sum_sq += sq;
    n_all += n;
  }
  const double batch_sd = std::sqrt(sum_sq / std::max(n_all - ddof, 1.0));
  for (std::size_t i = 0; i < P * G; ++i) {
    switch (norm) {
      case rl::advantage_norm::group_std: a[i] = group_sd[i / G] > 0 ? centered[i] / (group_sd[i / G] + eps) : 0; break;
      case rl::advantage_norm::batch_std: a[i] = batch_sd > 0 ? centered[i] / (batch_sd + eps) : 0; break;
      default: a[i] = centered[i]; break;
    }
  }
  return a;
}

template <rl::advantage_norm Norm>
std::vector<double> program_advantages(const std::vector<double>& r, const std::vector<double>& mask, std::size_t P,
                                       std::size_t G, std::size_t T, double ddof, double eps) {
  constexpr auto prog = rl::advantages<Norm>();
  tl::store s(prog, tl::extents(rl::p = P, rl::g = G, rl::t = T));
  fill(s, rl::reward, r);
  fill(s, rl::mask, mask);
  rl::bind_hyperparameters(s, {.adv_eps = eps, .std_ddof = ddof});
  rl::check_batch(s);
  tl::eval(prog, s);
  return read(s, rl::advantage);
}

template <rl::advantage_norm Norm>
void check_against_naive(const std::vector<double>& r, const std::vector<double>& mask, std::size_t P, std::size_t G,
                         std::size_t T, double ddof, double eps) {
  const auto got = program_advantages<Norm>(r, mask, P, G, T, ddof, eps);
  const auto want = naive_advantages(Norm, r, mask, P, G, T, ddof, eps);
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == Approx(want[i]).margin(1e-12));
}

}  // namespace

TEST_CASE("aggregation: the reference's worked example", "[rl][objectives]") {
  const aggregation_batch b;
  for (std::size_t prompts : {std::size_t{2}, std::size_t{3}}) {  // 3: with a prompt whose mask is 0
    INFO("prompts = " << prompts);
    CHECK(aggregated<rl::aggregation::sample_average>(b, prompts) == Approx(1.75).epsilon(1e-15));
    CHECK(aggregated<rl::aggregation::prompt_average>(b, prompts) == Approx(1.25).epsilon(1e-15));
    CHECK(aggregated<rl::aggregation::token_average>(b, prompts) == Approx(7.0 / 6.0).epsilon(1e-15));
  }
  CHECK(7.0 / 6.0 == Approx(1.1667).margin(5e-5));
}

TEST_CASE("advantages: the reference's §1.6 example", "[rl][objectives]") {
  const std::vector<double> r = {1, 0, 0, 0, /**/ 1, 1, 1, 0};
  const std::vector<double> m(8, 1.0);
  using N = rl::advantage_norm;
  auto near = [](const std::vector<double>& got, const std::vector<double>& want, double margin) {
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == Approx(want[i]).margin(margin));
  };
  near(program_advantages<N::centered>(r, m, 2, 4, 1, 1, 0), {0.75, -0.25, -0.25, -0.25, 0.25, 0.25, 0.25, -0.75},
       1e-15);
  near(program_advantages<N::group_std>(r, m, 2, 4, 1, 1, 0), {1.5, -0.5, -0.5, -0.5, 0.5, 0.5, 0.5, -1.5}, 1e-14);
  const auto group_pop = program_advantages<N::group_std>(r, m, 2, 4, 1, 0, 0);
  CHECK(group_pop[0] == Approx(1.7321).margin(5e-5));
  CHECK(group_pop[1] == Approx(-0.5774).margin(5e-5));
  near(program_advantages<N::batch_std>(r, m, 2, 4, 1, 0, 0),
       {1.7321, -0.5774, -0.5774, -0.5774, 0.5774, 0.5774, 0.5774, -1.7321}, 5e-5);
  near(program_advantages<N::batch_std>(r, m, 2, 4, 1, 1, 0),
       {1.6202, -0.5401, -0.5401, -0.5401, 0.5401, 0.5401, 0.5401, -1.6202}, 5e-5);
  // exact: population batch std = sqrt(1.5 / 8), Bessel = sqrt(1.5 / 7)
  const auto batch_bessel = program_advantages<N::batch_std>(r, m, 2, 4, 1, 1, 0);
  CHECK(batch_bessel[0] == Approx(0.75 / std::sqrt(1.5 / 7)).epsilon(1e-14));
}

TEST_CASE("advantages: random ragged batches against naive loops", "[rl][objectives]") {
  std::mt19937 gen(7);
  std::uniform_int_distribution<int> bit(0, 1);
  std::uniform_real_distribution<double> u(-1, 1);
  const std::size_t P = 5, G = 4, T = 3;
  for (int trial = 0; trial < 3; ++trial) {
    std::vector<double> r(P * G), m(P * G * T);
    for (auto& x : r) x = trial == 0 ? bit(gen) : u(gen);
    for (auto& x : m) x = bit(gen);
    m[2 * T] = 1;  // at least one token
    for (double ddof : {0.0, 1.0})
      for (double eps : {0.0, 1e-4}) {
        INFO("trial " << trial << ", ddof " << ddof << ", eps " << eps);
        check_against_naive<rl::advantage_norm::centered>(r, m, P, G, T, ddof, eps);
        check_against_naive<rl::advantage_norm::group_std>(r, m, P, G, T, ddof, eps);
        check_against_naive<rl::advantage_norm::batch_std>(r, m, P, G, T, ddof, eps);
      }
  }
}

TEST_CASE("advantages: a zero-variance group masked out counts in no statistic", "[rl][objectives]") {
  // Prompt C = [1,1,1,1] (every advantage 0): filter_zero_variance_groups reports it, its mask is zeroed, and the
  // batch std is then that of prompts A and B alone (the reference's 0.43301 / 0.46291).
  const std::vector<double> r = {1, 0, 0, 0, /**/ 1, 1, 1, 1, /**/ 1, 1, 1, 0};
  std::vector<double> m(12, 1.0);
  const auto filter = rl::filter_zero_variance_groups(std::span<const double>(r), std::size_t{4});
  REQUIRE(filter.filtered == std::vector<std::size_t>{1});
  for (std::size_t g = 0; g < 4; ++g) m[4 + g] = 0;
  const auto a = program_advantages<rl::advantage_norm::batch_std>(r, m, 3, 4, 1, 0, 0);
  CHECK(a[0] == Approx(1.7321).margin(5e-5));
  CHECK(a[4] == 0.0);
  CHECK(a[11] == Approx(-1.7321).margin(5e-5));
  // group-level std with adv_eps = 0: the zero-variance group's advantages are 0, not 0/0
  const auto group = program_advantages<rl::advantage_norm::group_std>(r, std::vector<double>(12, 1.0), 3, 4, 1, 1, 0);
  CHECK(group[0] == Approx(1.5).epsilon(1e-14));
  CHECK(group[4] == 0.0);
  CHECK(group[7] == 0.0);
  // left in (mask 1), the group's zeros would enlarge the count and shrink the std
  const auto kept = program_advantages<rl::advantage_norm::batch_std>(r, std::vector<double>(12, 1.0), 3, 4, 1, 0, 0);
  CHECK(kept[0] == Approx(0.75 / std::sqrt(1.5 / 12)).epsilon(1e-14));
}

TEST_CASE("ScaleRL objective: masked tokens contribute nothing", "[rl][objectives]") {
  constexpr auto prog = rl::scalerl_objective();
  const std::size_t P = 2, G = 2, T = 3;
  const std::vector<double> m = {1, 1, 0, /**/ 1, 0, 0, /**/ 1, 1, 1, /**/ 0, 0, 0};
  std::vector<double> r = {1, 0, /**/ 0.5, 0.25};
  std::vector<double> lp = {-0.5, -1.0, -3.0, /**/ -2.0, -4.0, -4.0, /**/ -0.1, -0.7, -1.3, /**/ -1, -1, -1};
  std::vector<double> lo = {-0.6, -0.2, -3.0, /**/ -2.5, -4.0, -4.0, /**/ -0.3, -2.7, -1.0, /**/ -1, -1, -1};
  auto run = [&](const std::vector<double>& logp, const std::vector<double>& logp_old) {
    tl::store s(prog, tl::extents(rl::p = P, rl::g = G, rl::t = T));
    fill(s, rl::mask, m);
    fill(s, rl::reward, r);
    fill(s, rl::logp, logp);
    fill(s, rl::logp_old, logp_old);
    rl::bind_hyperparameters(s, {.eps_max = 4.0, .adv_eps = 0.0, .std_ddof = 1.0});
    rl::check_batch(s);
    tl::eval(prog, s);
    return s[rl::loss]();
  };
  const double base = run(lp, lo);
  // naive: prompt-average CISPO with batch-std advantages over the 3 present completions
  const auto adv = naive_advantages(rl::advantage_norm::batch_std, r, m, P, G, T, 1.0, 0.0);
  double want = 0;
  for (std::size_t p = 0; p < P; ++p) {
    double sum = 0, tokens = 0;
    for (std::size_t i = p * G * T; i < (p + 1) * G * T; ++i)
      if (m[i] != 0) {
        sum += -std::min(std::exp(lp[i] - lo[i]), 4.0) * adv[i / T] * lp[i];
        tokens += 1;
      }
    want += sum / tokens / 2;
  }
  CHECK(base == Approx(want).epsilon(1e-13));
  // garbage (even NaN) in masked tokens and an absent completion's reward changes nothing
  for (std::size_t i : {2u, 4u, 5u, 9u, 10u, 11u}) lp[i] = not_a_number, lo[i] = 1e300;
  r[3] = 100;
  CHECK(run(lp, lo) == base);
}

TEST_CASE("check_batch and bind_hyperparameters name the culprit", "[rl][objectives]") {
  constexpr auto prog = rl::objective<rl::loss_kind::cispo, rl::aggregation::prompt_average,
                                      rl::advantage_norm::batch_std, true>();
  const std::size_t P = 2, G = 2, T = 2;
  auto make = [&](tl::store<std::remove_cvref_t<decltype(prog)>>& s) {
    fill(s, rl::mask, {1, 1, 1, 0, /**/ 1, 0, 1, 1});
    fill(s, rl::reward, {1, 0, 0, 0});
    fill(s, rl::logp, {-1, -1, -1, 5, /**/ -1, not_a_number, -1, -1});  // masked cells are not checked
    fill(s, rl::logp_old, std::vector<double>(8, -1.0));
    fill(s, rl::logp_gen, std::vector<double>(8, -1.0));
    rl::bind_hyperparameters(s, {.adv_eps = 0.0, .tis_cap = 2.0});
  };
  const auto ext = tl::extents(rl::p = P, rl::g = G, rl::t = T);
  {
    tl::store s(prog, ext);
    make(s);
    CHECK_NOTHROW(rl::check_batch(s));
    tl::eval(prog, s);
    CHECK(std::isfinite(s[rl::loss]()));
  }
  auto fails = [&](auto change, const char* message) {
    tl::store s(prog, ext);
    make(s);
    change(s);
    CHECK_THROWS_WITH(rl::check_batch(s), Contains(message) && Contains("tensorlogic: rl::check_batch: "));
  };
  fails([](auto& s) { s[rl::mask](0, 1, 1) = 0.5; }, "mask[p=0, g=1, t=1] = 0.5 is neither 0 nor 1");
  fails([](auto& s) { Kokkos::deep_copy(s[rl::mask], 0.0); }, "mask is 0 everywhere");
  fails([](auto& s) { s[rl::reward](1, 0) = not_a_number; }, "reward[p=1, g=0] is not finite");
  fails([](auto& s) { s[rl::logp](1, 1, 0) = 0.25; }, "logp[p=1, g=1, t=0] = 0.25 is not a finite log-probability");
  fails([](auto& s) { s[rl::logp_old](0, 0, 1) = -std::numeric_limits<double>::infinity(); },
        "logp_old[p=0, g=0, t=1] = -inf is not a finite log-probability");
  fails([](auto& s) { s[rl::logp_gen](0, 0, 0) = not_a_number; }, "logp_gen[p=0, g=0, t=0] = nan");

  tl::store s(prog, ext);
  CHECK_THROWS_WITH(rl::bind_hyperparameters(s, {.eps_max = 0.0, .tis_cap = 2.0}),
                    "tensorlogic: rl::bind_hyperparameters: eps_max = 0 must be positive");
  CHECK_THROWS_WITH(rl::bind_hyperparameters(s, {.std_ddof = 2.0, .tis_cap = 2.0}),
                    Contains("std_ddof = 2 must be 0 (population) or 1 (Bessel)"));
  CHECK_THROWS_WITH(rl::bind_hyperparameters(s, {}), Contains("tis_cap = nan must be positive"));
  // a program without the truncated-IS correction has no tis_cap to set
  constexpr auto plain = rl::objective<rl::loss_kind::dapo, rl::aggregation::token_average,
                                       rl::advantage_norm::given>();
  tl::store s2(plain, tl::extents(rl::p = 1, rl::g = 1, rl::t = 1));
  CHECK_NOTHROW(rl::bind_hyperparameters(s2, {}));
  CHECK_THROWS_WITH(rl::bind_hyperparameters(s2, {.clip_low = 1.0}), Contains("clip_low = 1 must lie in [0, 1)"));
}
