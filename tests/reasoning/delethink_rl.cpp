// Delethink RL end to end (fixed seeds): a rotary transformer written with tl::nn samples chunked traces through
// reasoning::transformer_policy and chunked_generate (pinned_head_tail carryover, temperature 1); each trace gets one
// reward, shared by all its chunks; flatten_traces gives every (prompt x_l, response y_l) row its trace's GRPO
// advantage and the trace-length weight 1/(B ell_i); the rows feed the reference's loss -- rl::loss_kind::dapo with
// clips 0.2 / 0.26 and the dual clip c = 3 (rl::token_loss_equations), aggregated as
// loss = sum_rows sum_t weight * pg_t -- whose gradient through the model comes from tl::gradient; AdamW takes the
// reference's two optimizer steps per batch, the second off-policy (rho != 1, the clips active).
// Checked: the program's loss equals the reference formula computed here by loops at every step (rho = 1 on a batch's
// first step, off-policy on its second, where ratios leave the clip range); the reward (the fraction of trace tokens that follow the rule next = previous + 1 mod V) rises from chance
// to >= 0.9 for sampled traces and >= 0.95 for greedy Delethink traces on new queries.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <memory>
#include <random>
#include <tuple>
#include <vector>

#include <tensorlogic/tensorlogic.hpp>

namespace tl = tensorlogic;
namespace nn = tensorlogic::nn;
namespace rs = tensorlogic::reasoning;
namespace rl = tensorlogic::rl;

namespace {
using rl::g;  // a row (one chunk of one trace)
using rl::p;  // the batch's one prompt coordinate (extent 1: the rows' groups are handled by flatten_traces)
using rl::t;  // a position of the row
using rl::v;  // vocabulary
inline constexpr tl::index<"k"> k;  // key position
inline constexpr tl::index<"e"> e;

constexpr int vocab = 5, width = 16, heads = 2, head_dim = 8, hidden = 32;
constexpr std::size_t query_len = 2, C = 6, m = 3, I = 3, keep_head = 1;
constexpr int context = static_cast<int>(query_len + m + C - 1);  // the longest row input: |x_l| + |y_l| - 1
constexpr int prompts = 4, group = 4, traces = prompts * group, rows = traces * static_cast<int>(I);

inline constexpr tl::tensor<"Tok", double, 4> Tok;  // one-hot row inputs (p, g, t, v)
inline constexpr tl::tensor<"Tgt", double, 4> Tgt;  // one-hot next tokens
inline constexpr tl::tensor<"X0", double, 4> X0;
inline constexpr tl::tensor<"X1", double, 4> X1;
inline constexpr tl::tensor<"X2", double, 4> X2;
inline constexpr tl::tensor<"Z", double, 4> Z;
inline constexpr tl::tensor<"LP", double, 4> LP;
inline constexpr tl::tensor<"weight", double, 3> weight;  // 1/(B ell_i) on response tokens
inline constexpr nn::embedding<"emb", double> emb;
inline constexpr nn::transformer_block<"blk", double, nn::mask::causal.rope(head_dim)> blk;
inline constexpr nn::layer_norm<"lnf", double> lnf;
inline constexpr nn::linear<"head", double> head;

// logp(p, g, t) = log pi(Tgt | row prefix); the reference's clipped loss; loss = sum weight * token_loss.
constexpr auto objective = std::apply(
    [](const auto&... loss_eqs) {
      return tl::compose(emb(X0(p, g, t, e), Tok(p, g, t, v)), blk(X1(p, g, t, e), X0(p, g, t, e), k),
                         lnf(X2(p, g, t, e), X1(p, g, t, e)), head(Z(p, g, t, v), X2(p, g, t, e)),
                         LP(p, g, t, v) = tl::log_softmax(v, 1.0 * Z(p, g, t, v)),
                         rl::logp(p, g, t) = Tgt(p, g, t, v) * LP(p, g, t, v), loss_eqs...,
                         rl::loss() = weight(p, g, t) * rl::token_loss(p, g, t));
    },
    rl::token_loss_equations<rl::loss_kind::dapo, false, true>());
constexpr auto params = nn::parameters(emb, blk, lnf, head);
// The gradient program under a name of its own: the compiler then spells `train_t`, not every equation, in
// each function it instantiates for the program (a third less compile time; docs/performance.md).
constexpr auto train_equations = tl::gradient(objective, rl::loss, params);
struct train_t : std::remove_cvref_t<decltype(train_equations)> {};
constexpr train_t train{train_equations};

int rule(int previous) { return (previous + 1) % vocab; }

// The fraction of trace tokens that follow the rule (the first one follows the query's last token).
double reward(const std::vector<rs::token_id>& query, const std::vector<rs::token_id>& trace) {
  int right = 0, previous = query.back();
  for (const rs::token_id y : trace) {
    right += y == rule(previous);
    previous = y;
  }
  return trace.empty() ? 0.0 : static_cast<double>(right) / static_cast<double>(trace.size());
}

rs::delethink_options chunking() {
  return {.chunk_size = C, .markovian_size = m, .iteration_cap = I, .keep_head = keep_head};
}

rs::transformer_names names() { return {.positions = "", .blocks = {"blk"}, .rope_theta = 10000.0}; }

std::vector<rs::token_id> random_query(std::mt19937_64& gen) {
  std::uniform_int_distribution<int> d(0, vocab - 1);
  return {d(gen), d(gen)};
}

struct batch {
  std::vector<rs::chunked_trace> traces;
  std::vector<std::vector<rs::token_id>> queries;
  std::vector<rs::chunk_row> rows;
  double mean_reward = 0.0;
};

// Loops: (1/B) sum_i (1/ell_i) sum_l sum_t pg_t with pg_t = max(-A rho, -A clip(rho, 0.8, 1.26)), then
// min(pg_t, -3 A) where A < 0 -- the reference's formula, from the program's logp and the bound logp_old.
template <class Store>
double reference_loss(Store& s, const batch& b, long& clipped) {
  auto lp = s[rl::logp];
  auto old = s[rl::logp_old];
  double total = 0.0;
  for (std::size_t r = 0; r < b.rows.size(); ++r) {
    const rs::chunk_row& row = b.rows[r];
    const std::size_t prompt = b.traces[row.trace].prompts[row.chunk].size();
    for (std::size_t j = 0; j < row.tokens; ++j) {
      const std::size_t at = prompt - 1 + j;  // the input position that predicts response token j
      const double rho = std::exp(lp(0, r, at) - old(0, r, at)), a = row.advantage;
      clipped += (rho < 0.8 || rho > 1.26) && a != 0.0;
      double pg = std::max(-a * rho, -a * std::clamp(rho, 0.8, 1.26));
      if (a < 0) pg = std::min(pg, -3.0 * a);
      total += row.token_weight * pg;
    }
  }
  return total;
}
}  // namespace

TEST_CASE("Delethink RL: chunked traces, one reward per trace, trace-length loss, two clipped steps per batch",
          "[reasoning][rl][training]") {
  tl::store s(train, tl::extents(p = 1, g = rows, t = context, k = context, e = width, v = vocab,
                                 blk.att.head = heads, blk.ff.h<0> = hidden));
  nn::init(s, 5, emb, blk, lnf, head);
  rl::bind_hyperparameters(s, {.clip_low = 0.2, .clip_high = 0.26, .clip_ratio_c = 3.0});
  const int iterations = 100;
  tl::adamw opt(s, params, {.lr = tl::schedule::constant(0.01), .weight_decay = 0.0});
  std::mt19937_64 gen(17);
  std::vector<double> history;
  double worst_loss = 0.0;  // |program's loss - the reference formula by loops|, over every step
  long clipped = 0;         // tokens whose ratio left [1 - 0.2, 1 + 0.26] (second steps only: the first has rho = 1)
  for (int it = 0; it < iterations; ++it) {
    // Rollouts with the current weights.
    const auto weights = std::make_shared<const rs::transformer_weights<double>>(rs::read_transformer<double>(s, names()));
    rs::transformer_policy<double> policy(weights, rs::full_context{32},
                                          {.temperature = 1.0, .seed = static_cast<std::uint64_t>(1000 + it)});
    batch b;
    std::vector<rs::trace_outcome> outcomes;
    for (int pr = 0; pr < prompts; ++pr) {
      const std::vector<rs::token_id> query = random_query(gen);
      for (int member = 0; member < group; ++member) {
        b.traces.push_back(rs::chunked_generate(policy, query, chunking()));
        b.queries.push_back(query);
        const double r = reward(query, b.traces.back().trace);
        b.mean_reward += r / traces;
        outcomes.push_back(rs::outcome(b.traces.back(), r, static_cast<std::size_t>(pr)));
      }
    }
    history.push_back(b.mean_reward);
    b.rows = rs::flatten_traces(outcomes);
    REQUIRE(b.rows.size() == static_cast<std::size_t>(rows));
    // The rows: inputs x_l ++ y_l without its last token, targets shifted by one, the loss on response tokens only.
    std::vector<int> ids(static_cast<std::size_t>(rows * context), 0);
    auto tgt = s[Tgt];
    auto mask = s[rl::mask];
    auto w = s[weight];
    auto adv = s[rl::advantage];
    Kokkos::deep_copy(tgt, 0.0);
    Kokkos::deep_copy(mask, 0.0);
    Kokkos::deep_copy(w, 0.0);
    for (std::size_t r = 0; r < b.rows.size(); ++r) {
      const rs::chunk_row& row = b.rows[r];
      std::vector<rs::token_id> seq = b.traces[row.trace].prompts[row.chunk];
      const std::size_t prompt = seq.size();
      const auto& y = b.traces[row.trace].responses[row.chunk];
      seq.insert(seq.end(), y.begin(), y.end());
      REQUIRE(seq.size() - 1 <= static_cast<std::size_t>(context));
      for (std::size_t j = 0; j + 1 < seq.size(); ++j) {
        ids[r * context + j] = seq[j];
        tgt(0, r, j, seq[j + 1]) = 1.0;
        if (j + 1 >= prompt) {
          mask(0, r, j) = 1.0;
          w(0, r, j) = row.token_weight;
        }
      }
      adv(0, r) = row.advantage;
    }
    nn::one_hot(s, Tok, ids);
    // logp_old: the policy that sampled (these weights), from a first evaluation (logp does not read logp_old);
    // then two optimizer steps on the batch.
    Kokkos::deep_copy(s[rl::logp_old], 0.0);
    tl::eval(train, s);
    Kokkos::deep_copy(s[rl::logp_old], s[rl::logp]);
    for (int step = 0; step < 2; ++step) {
      tl::eval(train, s);
      const double want = reference_loss(s, b, clipped);
      worst_loss = std::max(worst_loss, std::abs(s[rl::loss]() - want));
      opt.step(s);
    }
  }
  double late = 0.0;
  for (int it = iterations - 5; it < iterations; ++it) late += history[it] / 5.0;
  // Greedy Delethink traces on new queries.
  const auto weights = std::make_shared<const rs::transformer_weights<double>>(rs::read_transformer<double>(s, names()));
  rs::transformer_policy<double> greedy(weights, rs::full_context{32});
  double held_out = 0.0;
  std::mt19937_64 fresh(99);
  for (int q = 0; q < 20; ++q) {
    const std::vector<rs::token_id> query = random_query(fresh);
    const rs::chunked_trace trace = rs::chunked_generate(greedy, query, chunking());
    CHECK(trace.chunks() == I);
    held_out += reward(query, trace.trace) / 20.0;
  }
  std::cout << "Delethink RL (C = " << C << ", m = " << m << ", I = " << I << ", " << prompts << " prompts x " << group
            << " traces, " << iterations << " iterations x 2 AdamW steps): sampled reward " << history.front()
            << " -> " << late << " (mean of the last 5), greedy held-out reward " << held_out << "\n";
  std::cout << "  loss vs the reference formula: largest difference " << worst_loss << " over " << 2 * iterations
            << " steps; " << clipped << " token ratios outside the clip range\n";
  CHECK(worst_loss < 1e-12);
  CHECK(clipped > 0);  // the clipped branch of the formula was exercised
  CHECK(history.front() < 0.5);
  CHECK(late >= 0.9);
  CHECK(held_out >= 0.95);
}
