// The training-loop utilities around the RL objectives: No-Positive-Resampling on a hand-made sequence of epochs under
// each pass-rate history, the zero-variance group filter on the reference's groups, DAPO/ScaleRL overlong shaping at
// the reference's boundaries, forced interruption of thinking, the truncation monitor, and their input errors.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstddef>
#include <limits>
#include <tensorlogic/rl/curriculum.hpp>
#include <tensorlogic/rl/length_control.hpp>
#include <vector>

namespace tl = tensorlogic;
using Catch::Contains;

namespace {

// Draws the whole epoch in batches of `batch`, checking that no batch is larger.
std::vector<std::size_t> draw_epoch(tl::rl::no_positive_resampling& pool, std::size_t batch) {
  std::vector<std::size_t> seen;
  for (auto b = pool.next_batch(batch); !b.empty(); b = pool.next_batch(batch)) {
    CHECK(b.size() <= batch);
    seen.insert(seen.end(), b.begin(), b.end());
  }
  return seen;
}

std::vector<std::size_t> sorted(std::vector<std::size_t> v) {
  std::sort(v.begin(), v.end());
  return v;
}

using indices = std::vector<std::size_t>;

// The hand-made sequence: five prompts over two epochs.
//   epoch 0: p0 16/16 (1.0), p1 9/10 (0.9, exactly the threshold), p2 2/4 (0.5), p3 0/16, p4 14/16 (0.875)
//   epoch 1: p2 40/40, p3 16/16, p4 not recorded
// After epoch 1 the histories differ: p2 pooled 42/44 = 0.955, latest 1.0, mean of epochs 0.75;
// p3 pooled 16/32 = 0.5, latest 1.0, mean 0.5.
indices run_two_epochs(tl::rl::no_positive_resampling& pool, indices& retired_first) {
  CHECK(sorted(draw_epoch(pool, 2)) == indices{0, 1, 2, 3, 4});
  pool.record(0, 16, 16);
  pool.record(1, 9, 10);
  pool.record(2, 2, 4);
  pool.record(3, 0, 16);
  pool.record(4, 14, 16);
  retired_first = pool.end_epoch();
  CHECK(sorted(draw_epoch(pool, 2)) == pool.active_prompts());
  pool.record(2, 30, 30);  // two records in one epoch add up: 40/40
  pool.record(2, 10, 10);
  pool.record(3, 16, 16);
  return pool.end_epoch();
}

}  // namespace

TEST_CASE("No-Positive-Resampling retires prompts at pass rate >= 0.9, permanently", "[rl][curriculum]") {
  tl::rl::no_positive_resampling pool(5);
  CHECK(pool.prompt_count() == 5);
  CHECK(pool.active_count() == 5);
  CHECK(pool.epoch() == 0);
  CHECK(std::isnan(pool.pass_rate(0)));
  indices first;
  const indices second = run_two_epochs(pool, first);
  CHECK(first == indices{0, 1});
  CHECK(second == indices{2});
  CHECK(pool.epoch() == 2);
  CHECK(pool.retired_count() == 3);
  CHECK(pool.active_count() == 2);
  CHECK(pool.active_prompts() == indices{3, 4});
  CHECK(pool.retired(0));
  CHECK(pool.retired(1));
  CHECK(!pool.retired(4));
  CHECK(pool.retired_after_epoch(0) == 0);
  CHECK(pool.retired_after_epoch(2) == 1);
  CHECK(pool.retired_after_epoch(3) == std::numeric_limits<std::size_t>::max());
  CHECK(pool.pass_rate(1) == 0.9);
  CHECK(pool.pass_rate(2) == Approx(42.0 / 44.0));
  CHECK(pool.pass_rate(3) == 0.5);
  CHECK(pool.pass_rate(4) == 0.875);

  // Later epochs sample only the remaining pool; an epoch with no records retires nobody.
  CHECK(pool.remaining_in_epoch() == 2);
  CHECK(sorted(draw_epoch(pool, 8)) == indices{3, 4});
  CHECK(pool.next_batch(8).empty());
  CHECK(pool.end_epoch().empty());
  CHECK(pool.retired_count() == 3);

  REQUIRE_THROWS_WITH(pool.record(0, 1, 16),
                      Contains("tensorlogic: no_positive_resampling::record: prompt 0 was retired after epoch 0"));
}

TEST_CASE("the pass-rate history decides which prompts leave", "[rl][curriculum]") {
  indices first;
  tl::rl::no_positive_resampling latest(5, {.threshold = 0.9, .history = tl::rl::pass_rate_history::latest_epoch});
  CHECK(run_two_epochs(latest, first) == indices{2, 3});
  CHECK(first == indices{0, 1});
  CHECK(latest.pass_rate(3) == 1.0);

  tl::rl::no_positive_resampling mean(5, {.threshold = 0.9, .history = tl::rl::pass_rate_history::mean_of_epochs});
  CHECK(run_two_epochs(mean, first).empty());
  CHECK(first == indices{0, 1});
  CHECK(mean.pass_rate(2) == 0.75);

  // A lower threshold retires p4 (0.875) after the first epoch as well.
  tl::rl::no_positive_resampling lower(5, {.threshold = 0.85});
  CHECK(run_two_epochs(lower, first) == indices{2});
  CHECK(first == indices{0, 1, 4});
}

TEST_CASE("epoch order is a seeded permutation of the active pool", "[rl][curriculum]") {
  tl::rl::no_positive_resampling a(50, {.seed = 7}), b(50, {.seed = 7}), c(50, {.seed = 8});
  const indices ea = draw_epoch(a, 16), eb = draw_epoch(b, 16), ec = draw_epoch(c, 16);
  CHECK(ea == eb);
  CHECK(ea != ec);
  indices all(50);
  for (std::size_t i = 0; i < 50; ++i) all[i] = i;
  CHECK(sorted(ea) == all);
  CHECK(sorted(ec) == all);
  // The next epoch is reshuffled.
  a.end_epoch();
  CHECK(draw_epoch(a, 16) != ea);
}

TEST_CASE("No-Positive-Resampling input errors", "[rl][curriculum]") {
  REQUIRE_THROWS_WITH(tl::rl::no_positive_resampling(0),
                      Contains("tensorlogic: no_positive_resampling: the prompt pool is empty"));
  REQUIRE_THROWS_WITH(tl::rl::no_positive_resampling(3, {.threshold = 1.5}),
                      Contains("tensorlogic: no_positive_resampling: threshold = 1.5 must lie in (0, 1]"));
  tl::rl::no_positive_resampling pool(3);
  REQUIRE_THROWS_WITH(pool.record(3, 1, 2),
                      Contains("tensorlogic: no_positive_resampling::record: prompt 3 is out of range (the pool has "
                               "3 prompts)"));
  REQUIRE_THROWS_WITH(pool.record(1, 3, 2),
                      Contains("tensorlogic: no_positive_resampling::record: prompt 1 has 3 passes in 2 attempts"));
  REQUIRE_THROWS_WITH(pool.record(2, 0, 0),
                      Contains("tensorlogic: no_positive_resampling::record: prompt 2 has 0 attempts"));
  REQUIRE_THROWS_WITH(pool.pass_rate(9), Contains("tensorlogic: no_positive_resampling::pass_rate: prompt 9"));
}

TEST_CASE("zero-variance groups are reported, not silently dropped", "[rl][curriculum]") {
  // The reference's groups A [1,0,0,0], B [1,1,1,0], C [1,1,1,1], and an all-wrong D.
  const std::vector<double> rewards{1, 0, 0, 0, 1, 1, 1, 0, 1, 1, 1, 1, 0, 0, 0, 0};
  const auto r = tl::rl::filter_zero_variance_groups(rewards, 4);
  CHECK(r.kept == indices{0, 1});
  CHECK(r.filtered == indices{2, 3});
  CHECK(r.filtered_rewards == std::vector<double>{1.0, 0.0});

  // +-1 rewards: "not all rewards in the group equal".
  const std::vector<double> signed_rewards{1, -1, -1, -1, -1, 1, 1, 1};
  const auto s = tl::rl::filter_zero_variance_groups(signed_rewards, 2);
  CHECK(s.kept == indices{0, 2});
  CHECK(s.filtered == indices{1, 3});
  CHECK(s.filtered_rewards == std::vector<double>{-1.0, 1.0});

  // Groups of different sizes; a group of one completion has zero variance.
  const std::vector<double> ragged{0.5, 0.5, 0.5, 0.2, 0.7, 1.0};
  const std::vector<std::size_t> offsets{0, 3, 5, 6};
  const auto g = tl::rl::filter_zero_variance_groups(ragged, offsets);
  CHECK(g.kept == indices{1});
  CHECK(g.filtered == indices{0, 2});
  CHECK(g.filtered_rewards == std::vector<double>{0.5, 1.0});

  REQUIRE_THROWS_WITH(tl::rl::filter_zero_variance_groups(rewards, 0),
                      Contains("tensorlogic: filter_zero_variance_groups: group_size is 0"));
  REQUIRE_THROWS_WITH(tl::rl::filter_zero_variance_groups(rewards, 5),
                      Contains("tensorlogic: filter_zero_variance_groups: 16 rewards do not form whole groups of "
                               "group_size = 5"));
  std::vector<double> with_nan = rewards;
  with_nan[6] = std::nan("");
  REQUIRE_THROWS_WITH(tl::rl::filter_zero_variance_groups(with_nan, 4),
                      Contains("tensorlogic: filter_zero_variance_groups: reward[6] is not finite"));
  REQUIRE_THROWS_WITH(tl::rl::filter_zero_variance_groups(ragged, std::vector<std::size_t>{1, 3, 6}),
                      Contains("tensorlogic: filter_zero_variance_groups: group_offsets[0] = 1 must be 0"));
  REQUIRE_THROWS_WITH(tl::rl::filter_zero_variance_groups(ragged, std::vector<std::size_t>{0, 3, 5}),
                      Contains("tensorlogic: filter_zero_variance_groups: group_offsets ends at 5 but there are 6"));
  REQUIRE_THROWS_WITH(tl::rl::filter_zero_variance_groups(ragged, std::vector<std::size_t>{0, 3, 3, 6}),
                      Contains("tensorlogic: filter_zero_variance_groups: group 1 is empty or reversed"));
  REQUIRE_THROWS_WITH(tl::rl::filter_zero_variance_groups(ragged, std::vector<std::size_t>{0}),
                      Contains("tensorlogic: filter_zero_variance_groups: group_offsets has 1 entries"));
}

TEST_CASE("overlong shaping at the reference's boundaries", "[rl][length]") {
  // DAPO defaults: L_max 20480, cache 4096, factor 1 (the reference's worked values).
  CHECK(tl::rl::overlong_penalty(0) == 0.0);
  CHECK(tl::rl::overlong_penalty(16383) == 0.0);
  CHECK(tl::rl::overlong_penalty(16384) == 0.0);
  CHECK(tl::rl::overlong_penalty(16385) == -1.0 / 4096.0);
  CHECK(tl::rl::overlong_penalty(18432) == -0.5);
  CHECK(tl::rl::overlong_penalty(20479) == -4095.0 / 4096.0);
  CHECK(tl::rl::overlong_penalty(20480) == -1.0);
  CHECK(tl::rl::overlong_penalty(30000) == -1.0);
  // verl's penalty_factor scales it.
  const tl::rl::overlong_shaping half{.penalty_factor = 0.5};
  CHECK(tl::rl::overlong_penalty(18432, half) == -0.25);
  CHECK(tl::rl::overlong_penalty(20480, half) == -0.5);

  // All samples (DAPO as verl adds it) versus correct samples only (ScaleRL).
  const tl::rl::overlong_shaping correct_only{.target = tl::rl::overlong_penalty_target::correct_only};
  CHECK(tl::rl::shape_overlong_reward(1.0, 18432, true) == 0.5);
  CHECK(tl::rl::shape_overlong_reward(-1.0, 18432, false) == -1.5);
  CHECK(tl::rl::shape_overlong_reward(1.0, 18432, true, correct_only) == 0.5);
  CHECK(tl::rl::shape_overlong_reward(-1.0, 18432, false, correct_only) == -1.0);
  CHECK(tl::rl::shape_overlong_reward(1.0, 16384, true, correct_only) == 1.0);
  CHECK(tl::rl::shape_overlong_reward(1.0, 20480, true, correct_only) == 0.0);

  // ScaleRL's Eq. 9, written as the paper does: clip((L_max - |y|)/L_cache - 1, -1, 0), L_max 14k, L_cache 2k.
  const auto eq9 = [](double length) { return std::clamp((14336.0 - length) / 2048.0 - 1.0, -1.0, 0.0); };
  for (const std::size_t length : {0, 12287, 12288, 12800, 13312, 14335, 14336, 16384})
    CHECK(tl::rl::overlong_penalty(length, tl::rl::scalerl_length_penalty) == eq9(static_cast<double>(length)));
  CHECK(tl::rl::overlong_penalty(13312, tl::rl::scalerl_length_penalty) == -0.5);
  CHECK(tl::rl::scalerl_length_penalty.target == tl::rl::overlong_penalty_target::correct_only);
  // The DAPO form and Eq. 9 agree at the DAPO defaults too.
  for (const std::size_t length : {16384, 17000, 18432, 20480})
    CHECK(tl::rl::overlong_penalty(length) ==
          Approx(std::clamp((20480.0 - static_cast<double>(length)) / 4096.0 - 1.0, -1.0, 0.0)).margin(1e-15));

  REQUIRE_THROWS_WITH(tl::rl::overlong_penalty(10, {.cache_length = 0}),
                      Contains("tensorlogic: overlong_penalty: cache_length is 0"));
  REQUIRE_THROWS_WITH(tl::rl::overlong_penalty(10, {.max_length = 100, .cache_length = 200}),
                      Contains("tensorlogic: overlong_penalty: cache_length = 200 exceeds max_length = 100"));
  REQUIRE_THROWS_WITH(tl::rl::overlong_penalty(10, {.penalty_factor = -1.0}),
                      Contains("tensorlogic: overlong_penalty: penalty_factor = -1 must be finite and >= 0"));
}

TEST_CASE("forced interruption cuts thinking at a random point in [10k, 12k] and appends the phrase", "[rl][length]") {
  CHECK(tl::rl::interruption_phrase ==
        "Okay, time is up. Let me stop thinking and formulate a final answer now. </think>");

  tl::rl::interruption_schedule schedule({.seed = 11}), same({.seed = 11});
  std::size_t lowest = 1u << 30, highest = 0;
  for (int i = 0; i < 2000; ++i) {
    const std::size_t point = schedule.next_point();
    CHECK(point == same.next_point());
    lowest = std::min(lowest, point);
    highest = std::max(highest, point);
  }
  CHECK(lowest >= 10240);
  CHECK(highest <= 12288);
  CHECK(lowest < 10300);  // 2000 uniform draws reach both ends of the 2049 values
  CHECK(highest > 12228);
  tl::rl::interruption_schedule fixed({.earliest = 5, .latest = 5});
  CHECK(fixed.next_point() == 5);

  // Tokens are ints here; 9 is the end-of-thinking token and the phrase tokenises to {7, 8, 9}.
  const std::vector<int> phrase{7, 8, 9};
  std::vector<int> ended{1, 2, 9, 3, 4, 5, 6};  // thinking ended at token 2, before the point
  CHECK(!tl::rl::interrupt_thinking(ended, 4, phrase, 9));
  CHECK(ended == std::vector<int>{1, 2, 9, 3, 4, 5, 6});
  std::vector<int> short_trace{1, 2, 3};  // not yet at the point
  CHECK(!tl::rl::interrupt_thinking(short_trace, 4, phrase, 9));
  CHECK(short_trace == std::vector<int>{1, 2, 3});
  std::vector<int> at_point{1, 2, 3, 4};
  CHECK(tl::rl::interrupt_thinking(at_point, 4, phrase, 9));
  CHECK(at_point == std::vector<int>{1, 2, 3, 4, 7, 8, 9});
  std::vector<int> past_point{1, 2, 3, 4, 5, 9, 6};  // thinking would have ended only after the point
  CHECK(tl::rl::interrupt_thinking(past_point, 4, phrase, 9));
  CHECK(past_point == std::vector<int>{1, 2, 3, 4, 7, 8, 9});
  // Already interrupted: the phrase's own end-of-thinking token lies inside the first point + 3 tokens.
  CHECK(!tl::rl::interrupt_thinking(past_point, 7, phrase, 9));

  REQUIRE_THROWS_WITH(tl::rl::interruption_schedule({.earliest = 12288, .latest = 10240}),
                      Contains("tensorlogic: interruption_schedule: earliest = 12288 exceeds latest = 10240"));
  REQUIRE_THROWS_WITH(tl::rl::interrupt_thinking(at_point, 2, std::vector<int>{}, 9),
                      Contains("tensorlogic: interrupt_thinking: phrase_tokens is empty"));
}

TEST_CASE("the truncation monitor flags ScaleRL's instability levels", "[rl][length]") {
  tl::rl::truncation_monitor monitor;
  CHECK(std::isnan(monitor.latest_rate()));
  CHECK(std::isnan(monitor.healthy_fraction()));
  CHECK(!monitor.unstable());
  // Batch 768: 38 truncated is 4.9% (healthy), 77 is 10.0% (unstable), 50 is 6.5% (neither).
  CHECK(monitor.record(38, 768) == Approx(38.0 / 768.0));
  CHECK(!monitor.unstable());
  CHECK(monitor.record(77, 768) == Approx(77.0 / 768.0));
  CHECK(monitor.unstable());
  monitor.record(50, 768);
  CHECK(!monitor.unstable());
  monitor.record(0, 768);
  CHECK(monitor.steps() == 4);
  CHECK(monitor.unstable_steps() == 1);
  CHECK(monitor.healthy_fraction() == 0.5);
  CHECK(monitor.latest_rate() == 0.0);

  REQUIRE_THROWS_WITH(monitor.record(1, 0), Contains("tensorlogic: truncation_monitor::record: batch_size is 0"));
  REQUIRE_THROWS_WITH(monitor.record(9, 8),
                      Contains("tensorlogic: truncation_monitor::record: truncated = 9 exceeds batch_size = 8"));
  REQUIRE_THROWS_WITH(tl::rl::truncation_monitor({.healthy_rate = 0.2, .unstable_rate = 0.1}),
                      Contains("tensorlogic: truncation_monitor: thresholds need 0 <= healthy_rate (0.2) <= "
                               "unstable_rate (0.1) <= 1"));
}
