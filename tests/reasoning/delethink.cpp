// The Delethink driver: the reference's worked example (C = 8, m = 4, head = 1, I = 3) token by token for both
// carryover layouts, the budget identity, EOS handling, prompt-length bounds, option errors; and the training hooks
// (GRPO advantages per group, one reward per trace, loss normalized by trace length) against naive sums.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstddef>
#include <random>
#include <string>
#include <vector>

#include <tensorlogic/reasoning/delethink.hpp>

namespace tl = tensorlogic;
namespace rs = tl::reasoning;

using tokens = std::vector<rs::token_id>;

namespace {
// Token names of the worked example: Q = 0; chunk c's k-th token ("a1", "b3", ...) is 100 c + k.
std::string names(const tokens& ts) {
  std::string out;
  for (const rs::token_id t : ts) {
    if (!out.empty()) out += ' ';
    out += t == 0 ? std::string("Q") : std::string(1, char('a' + t / 100 - 1)) + std::to_string(t % 100);
  }
  return out;
}

// Chunk c (1-based) emits 100 c + 1, 100 c + 2, ... up to its budget, or `eos` after `eos_after` tokens of chunk
// `eos_chunk`. Records what it was given.
struct scripted_policy {
  std::size_t eos_chunk = 0;
  std::size_t eos_after = 0;
  rs::token_id eos = 99999;
  std::vector<tokens> contexts{};
  std::vector<std::size_t> budgets{};

  tokens operator()(const tokens& context, std::size_t max_new) {
    contexts.push_back(context);
    budgets.push_back(max_new);
    const auto c = static_cast<rs::token_id>(contexts.size());
    tokens out;
    for (std::size_t k = 1; k <= max_new; ++k) {
      if (c == rs::token_id(eos_chunk) && k == eos_after + 1) {
        out.push_back(eos);
        break;
      }
      out.push_back(100 * c + rs::token_id(k));
    }
    return out;
  }
};

std::vector<std::string> all_names(const std::vector<tokens>& v) {
  std::vector<std::string> out;
  for (const tokens& t : v) out.push_back(names(t));
  return out;
}
}  // namespace

TEST_CASE("worked example, trainer layout (pinned head + tail): C = 8, m = 4, head = 1, I = 3", "[reasoning][delethink]") {
  scripted_policy policy;
  const rs::chunked_trace t =
      rs::chunked_generate(policy, tokens{0}, rs::delethink_options{8, 4, 3, 1, rs::carryover_layout::pinned_head_tail});
  CHECK(all_names(t.prompts) == std::vector<std::string>{"Q", "Q a1 a6 a7 a8", "Q a1 b2 b3 b4"});
  CHECK(all_names(t.responses) ==
        std::vector<std::string>{"a1 a2 a3 a4 a5 a6 a7 a8", "b1 b2 b3 b4", "c1 c2 c3 c4"});
  CHECK(names(t.trace) == "a1 a2 a3 a4 a5 a6 a7 a8 b1 b2 b3 b4 c1 c2 c3 c4");
  CHECK(t.trace.size() == 16);  // B(8, 4, 3)
  CHECK(t.stopped == rs::stop_reason::iteration_cap);
  CHECK(t.chunks() == 3);
  // The policy saw exactly the prompts, with budgets C, C - m, C - m.
  CHECK(policy.contexts == t.prompts);
  CHECK(policy.budgets == std::vector<std::size_t>{8, 4, 4});
}

TEST_CASE("worked example, demo layout: C = 8, m = 4, head = 1, I = 3", "[reasoning][delethink]") {
  scripted_policy policy;
  const rs::chunked_trace t =
      rs::chunked_generate(policy, tokens{0}, rs::delethink_options{8, 4, 3, 1, rs::carryover_layout::demo});
  CHECK(all_names(t.prompts) == std::vector<std::string>{"Q", "Q a1 a5 a6 a7 a8", "Q a1 b1 b2 b3 b4"});
  CHECK(all_names(t.responses) ==
        std::vector<std::string>{"a1 a2 a3 a4 a5 a6 a7 a8", "b1 b2 b3 b4", "c1 c2 c3 c4"});
  CHECK(t.stopped == rs::stop_reason::iteration_cap);
  CHECK(policy.budgets == std::vector<std::size_t>{8, 4, 4});
}

TEST_CASE("budget identity B = C + (I - 1)(C - m)", "[reasoning][delethink]") {
  CHECK(rs::thinking_budget(8192, 4096, 5) == 24576);   // "24K"
  CHECK(rs::thinking_budget(8192, 4096, 23) == 98304);  // "96K": 8k + 22 x 4k
  CHECK(rs::thinking_budget(8, 4, 3) == 16);
  CHECK(rs::delethink_options{}.budget() == 24576);
  for (std::size_t C : {2u, 5u, 8u, 13u})
    for (std::size_t m = 1; m < C; ++m)
      for (std::size_t I : {1u, 2u, 5u})
        for (const auto layout : {rs::carryover_layout::pinned_head_tail, rs::carryover_layout::demo}) {
          CAPTURE(C, m, I);
          scripted_policy policy;
          const rs::chunked_trace t = rs::chunked_generate(policy, tokens{0, 1, 2}, rs::delethink_options{C, m, I, 0, layout});
          REQUIRE(t.trace.size() == C + (I - 1) * (C - m));
          REQUIRE(t.trace.size() == rs::thinking_budget(C, m, I));
          REQUIRE(t.chunks() == I);
          REQUIRE(t.stopped == rs::stop_reason::iteration_cap);
        }
}

TEST_CASE("prompt lengths stay within q + m (trainer) and q + head + m (demo); the trace within B",
          "[reasoning][delethink]") {
  const tokens query{0, 7, 7, 7, 7};
  for (std::size_t C : {6u, 9u, 16u})
    for (std::size_t m = 2; m < C; m += 3)
      for (std::size_t head = 0; head < m; ++head)
        for (const auto layout : {rs::carryover_layout::pinned_head_tail, rs::carryover_layout::demo})
          for (std::size_t eos_chunk : {0u, 1u, 2u, 3u}) {
            CAPTURE(C, m, head, eos_chunk);
            scripted_policy policy{eos_chunk, 0};
            const rs::delethink_options o{C, m, 4, head, layout, policy.eos};
            const rs::chunked_trace t = rs::chunked_generate(policy, query, o);
            const std::size_t bound = query.size() + m + (layout == rs::carryover_layout::demo ? head : 0);
            for (const tokens& p : t.prompts) REQUIRE(p.size() <= bound);
            for (std::size_t l = 1; l < t.prompts.size(); ++l) REQUIRE(tokens(t.prompts[l].begin(), t.prompts[l].begin() + 5) == query);
            REQUIRE(t.trace.size() <= o.budget());
            REQUIRE(t.chunks() == (eos_chunk == 0 ? 4 : eos_chunk));
          }
}

TEST_CASE("EOS in chunk 1 gives one chunk", "[reasoning][delethink]") {
  scripted_policy policy{1, 3};
  const rs::chunked_trace t =
      rs::chunked_generate(policy, tokens{0}, rs::delethink_options{8, 4, 3, 1, rs::carryover_layout::pinned_head_tail, 99999});
  CHECK(t.chunks() == 1);
  CHECK(t.prompts.size() == 1);
  CHECK(t.stopped == rs::stop_reason::eos);
  CHECK(t.responses[0] == tokens{101, 102, 103, 99999});
  CHECK(t.trace == t.responses[0]);
}

TEST_CASE("EOS as the last token of a full chunk, and EOS in chunk 2", "[reasoning][delethink]") {
  scripted_policy at_budget{1, 7};  // the 8th token of chunk 1 is EOS
  const rs::delethink_options o{8, 4, 3, 1, rs::carryover_layout::demo, 99999};
  const rs::chunked_trace t1 = rs::chunked_generate(at_budget, tokens{0}, o);
  CHECK(t1.chunks() == 1);
  CHECK(t1.responses[0].size() == 8);
  CHECK(t1.stopped == rs::stop_reason::eos);

  scripted_policy second{2, 2};
  const rs::chunked_trace t2 = rs::chunked_generate(second, tokens{0}, o);
  CHECK(t2.chunks() == 2);
  CHECK(names(t2.prompts[1]) == "Q a1 a5 a6 a7 a8");
  CHECK(t2.responses[1] == tokens{201, 202, 99999});
  CHECK(t2.stopped == rs::stop_reason::eos);
}

TEST_CASE("a policy that stops short of its budget ends the trace (finish_reason stop)", "[reasoning][delethink]") {
  const auto short_policy = [](const tokens&, std::size_t max_new) { return tokens(max_new / 2, 5); };
  const rs::chunked_trace t = rs::chunked_generate(short_policy, tokens{0}, rs::delethink_options{8, 4, 3, 1});
  CHECK(t.chunks() == 1);
  CHECK(t.trace.size() == 4);
  CHECK(t.stopped == rs::stop_reason::eos);
}

TEST_CASE("Delethink option errors name the option", "[reasoning][delethink][errors]") {
  scripted_policy p;
  REQUIRE_THROWS_WITH(rs::chunked_generate(p, tokens{0}, rs::delethink_options{8, 8, 3, 1}),
                      Catch::Contains("tensorlogic: delethink_options: markovian_size (m = 8) must be smaller than "
                                      "chunk_size (C = 8)"));
  REQUIRE_THROWS_WITH(rs::chunked_generate(p, tokens{0}, rs::delethink_options{8, 4, 0, 1}),
                      Catch::Contains("tensorlogic: delethink_options: iteration_cap (I) must be at least 1"));
  REQUIRE_THROWS_WITH(rs::chunked_generate(p, tokens{0}, rs::delethink_options{8, 0, 3, 0}),
                      Catch::Contains("delethink_options: markovian_size (m) must be at least 1"));
  REQUIRE_THROWS_WITH(rs::chunked_generate(p, tokens{0}, rs::delethink_options{8, 4, 3, 4}),
                      Catch::Contains("delethink_options: keep_head (4) must be smaller than markovian_size (m = 4)"));
  // The demo layout takes any head.
  CHECK_NOTHROW(rs::chunked_generate(p, tokens{0}, rs::delethink_options{8, 4, 3, 6, rs::carryover_layout::demo}));
  REQUIRE_THROWS_WITH(rs::thinking_budget(4, 5, 2), Catch::Contains("thinking_budget: markovian_size (m = 5)"));
  const auto greedy = [](const tokens&, std::size_t max_new) { return tokens(max_new + (max_new == 4 ? 1 : 0), 1); };
  REQUIRE_THROWS_WITH(rs::chunked_generate(greedy, tokens{0}, rs::delethink_options{8, 4, 3, 1}),
                      Catch::Contains("chunked_generate: chunk 2: the policy returned 5 tokens, more than its budget of 4"));
}

TEST_CASE("the policy concept", "[reasoning][delethink]") {
  const auto good = [](const tokens&, std::size_t) { return tokens{}; };
  const auto wrong_result = [](const tokens&, std::size_t) { return 3; };
  const auto wrong_args = [](int) { return tokens{}; };
  STATIC_REQUIRE(rs::chunk_policy<decltype(good)>);
  STATIC_REQUIRE(rs::chunk_policy<scripted_policy>);
  STATIC_REQUIRE_FALSE(rs::chunk_policy<decltype(wrong_result)>);
  STATIC_REQUIRE_FALSE(rs::chunk_policy<decltype(wrong_args)>);
}

TEST_CASE("GRPO advantages per group: (R - mean)/(sample std + 1e-6); a group of one has mean 0, std 1",
          "[reasoning][delethink]") {
  const std::vector<double> r{1, 0, 0, 1, 1, 0, 0, 0};
  const std::vector<double> a = rs::group_advantages(r);
  // mean 3/8, sample variance (3 * 25/64 + 5 * 9/64)/7 = 120/448.
  const double sd = std::sqrt(120.0 / 448.0);
  for (std::size_t i = 0; i < r.size(); ++i) CHECK(a[i] == Approx((r[i] - 0.375) / (sd + 1e-6)).epsilon(1e-12));
  CHECK(rs::group_advantages(std::vector<double>{1.0})[0] == Approx(1.0 / (1.0 + 1e-6)).epsilon(1e-15));
  CHECK(rs::group_advantages(std::vector<double>{0.0})[0] == 0.0);
  // All equal: every advantage is 0.
  for (const double x : rs::group_advantages(std::vector<double>{1, 1, 1})) CHECK(x == 0.0);
}

TEST_CASE("one reward per trace, shared by its chunks; loss normalized by trace length", "[reasoning][delethink]") {
  // Two prompts: group 0 has three traces, group 1 two; chunk lengths vary.
  const std::vector<rs::trace_outcome> traces{
      {{8, 4, 4}, 1.0, 0}, {{8, 2}, 0.0, 0}, {{5}, 1.0, 0}, {{8, 4, 4, 4}, 0.0, 1}, {{8, 4}, 1.0, 1}};
  const std::vector<rs::chunk_row> rows = rs::flatten_traces(traces);
  REQUIRE(rows.size() == 12);

  const std::vector<double> a0 = rs::group_advantages(std::vector<double>{1.0, 0.0, 1.0});
  const std::vector<double> a1 = rs::group_advantages(std::vector<double>{0.0, 1.0});
  const std::vector<double> advantage{a0[0], a0[1], a0[2], a1[0], a1[1]};
  std::size_t k = 0;
  for (std::size_t i = 0; i < traces.size(); ++i)
    for (std::size_t l = 0; l < traces[i].chunk_lengths.size(); ++l, ++k) {
      CHECK(rows[k].trace == i);
      CHECK(rows[k].chunk == l);
      CHECK(rows[k].tokens == traces[i].chunk_lengths[l]);
      CHECK(rows[k].reward == traces[i].reward);
      CHECK(rows[k].advantage == advantage[i]);
    }

  // Random per-token pg terms: three ways to the same loss.
  std::mt19937 gen(1);
  std::normal_distribution<double> dist;
  std::vector<std::vector<double>> pg;
  for (const rs::chunk_row& row : rows) {
    pg.emplace_back(row.tokens);
    for (double& x : pg.back()) x = dist(gen);
  }
  // (1/B) sum_traces (1/ell) sum_l sum_t pg_t.
  double naive = 0.0;
  k = 0;
  for (const auto& t : traces) {
    double ell = 0.0, sum = 0.0;
    for (const std::size_t n : t.chunk_lengths) ell += double(n);
    for (std::size_t l = 0; l < t.chunk_lengths.size(); ++l, ++k)
      for (const double x : pg[k]) sum += x;
    naive += sum / ell;
  }
  naive /= double(traces.size());
  // The trainer's row form: mean over rows of sum_t pg_t / (ell * B / N_rows).
  double trainer = 0.0;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    double sum = 0.0;
    for (const double x : pg[r]) sum += x;
    trainer += sum / rows[r].row_divisor;
  }
  trainer /= double(rows.size());
  // Per-token weights.
  const rs::token_weights w = rs::per_token(rows);
  REQUIRE(w.weights.size() == 8 + 4 + 4 + 8 + 2 + 5 + 8 + 4 + 4 + 4 + 8 + 4);
  double weighted = 0.0;
  std::size_t flat = 0;
  for (std::size_t r = 0; r < rows.size(); ++r)
    for (const double x : pg[r]) {
      REQUIRE(w.advantages[flat] == rows[r].advantage);
      weighted += w.weights[flat++] * x;
    }
  CHECK(trainer == Approx(naive).epsilon(1e-12));
  CHECK(weighted == Approx(naive).epsilon(1e-12));
  CHECK(rows[0].token_weight == Approx(1.0 / (5.0 * 16.0)));
}

TEST_CASE("outcome() reads chunk lengths off a chunked trace", "[reasoning][delethink]") {
  scripted_policy policy{3, 1};
  const rs::chunked_trace t = rs::chunked_generate(policy, tokens{0}, rs::delethink_options{8, 4, 5, 1, {}, 99999});
  const rs::trace_outcome o = rs::outcome(t, 1.0, 4);
  CHECK(o.chunk_lengths == std::vector<std::size_t>{8, 4, 2});
  CHECK(o.reward == 1.0);
  CHECK(o.group == 4);
}
