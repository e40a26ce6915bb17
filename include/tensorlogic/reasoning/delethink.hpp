// Delethink (the Markovian Thinker): `chunked_generate` runs a policy in chunks of at most C new tokens (C - m after
// the first), each from a fresh context holding the query and an m-token carryover, until EOS or I chunks; and the
// training hooks of its RL recipe (one reward per trace, GRPO advantages per prompt group, loss normalized by trace
// length) as per-chunk per-token weights. Standard library only.
#pragma once
#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <tensorlogic/core/error.hpp>

namespace tensorlogic::reasoning {

using token_id = std::int32_t;

// pinned_head_tail: the trainer's progressive trimmer (used for every RL run): with ans_1 = y_1 and
// ans_l = carry_{l-1} ++ y_l, carry_l = ans_l[:keep_head] ++ ans_l[-(m - keep_head):], so m tokens in all.
// demo: delethink_tracing_demo.py: after chunk 1 the query grows by y_1[:keep_head]; then x_{l+1} = q ++ y_l[-m:].
enum class carryover_layout { pinned_head_tail, demo };

// eos: the policy ended a chunk itself (its last token was EOS, or it returned fewer tokens than the chunk's budget,
// the engine's finish_reason "stop"); iteration_cap: I chunks ran to their budgets.
enum class stop_reason { eos, iteration_cap };

namespace detail {
inline void check_chunking(const char* where, std::size_t chunk_size, std::size_t markovian_size,
                           std::size_t iteration_cap) {
  if (markovian_size >= chunk_size)
    throw error(std::string(where) + ": markovian_size (m = " + std::to_string(markovian_size) +
                ") must be smaller than chunk_size (C = " + std::to_string(chunk_size) + ")");
  if (iteration_cap == 0) throw error(std::string(where) + ": iteration_cap (I) must be at least 1");
}
}  // namespace detail

// The thinking budget B = C + (I - 1)(C - m): the most tokens a trace can hold.
inline std::size_t thinking_budget(std::size_t chunk_size, std::size_t markovian_size, std::size_t iteration_cap) {
  detail::check_chunking("thinking_budget", chunk_size, markovian_size, iteration_cap);
  return chunk_size + (iteration_cap - 1) * (chunk_size - markovian_size);
}

// Defaults are delethink_tracing_demo.py's (C = 8192, m = 4096, I = 5: a 24K budget) with the trainer's head of 100.
struct delethink_options {
  std::size_t chunk_size = 8192;      // C
  std::size_t markovian_size = 4096;  // m
  std::size_t iteration_cap = 5;      // I
  std::size_t keep_head = 100;
  carryover_layout layout = carryover_layout::pinned_head_tail;
  std::optional<token_id> eos = std::nullopt;

  void validate() const {
    detail::check_chunking("delethink_options", chunk_size, markovian_size, iteration_cap);
    if (markovian_size == 0) throw error("delethink_options: markovian_size (m) must be at least 1");
    if (layout == carryover_layout::pinned_head_tail && keep_head >= markovian_size)
      throw error("delethink_options: keep_head (" + std::to_string(keep_head) +
                  ") must be smaller than markovian_size (m = " + std::to_string(markovian_size) +
                  ") for the pinned_head_tail carryover, whose keep_tail = m - keep_head must be positive");
  }
  std::size_t keep_tail() const { return markovian_size - keep_head; }
  // max_new_tokens of chunk l (1-based): C, then C - m.
  std::size_t chunk_budget(std::size_t l) const { return l <= 1 ? chunk_size : chunk_size - markovian_size; }
  std::size_t budget() const { return thinking_budget(chunk_size, markovian_size, iteration_cap); }
};

// A policy gets a context and a maximum number of new tokens and returns the tokens it generated (it may stop early).
template <class Policy>
concept chunk_policy = std::invocable<Policy&, const std::vector<token_id>&, std::size_t> &&
                       std::convertible_to<std::invoke_result_t<Policy&, const std::vector<token_id>&, std::size_t>,
                                           std::vector<token_id>>;

// (prompts[l], responses[l]) is chunk l + 1; trace = responses[0] ++ ... ++ responses[L - 1].
struct chunked_trace {
  std::vector<std::vector<token_id>> prompts;
  std::vector<std::vector<token_id>> responses;
  std::vector<token_id> trace;
  stop_reason stopped = stop_reason::iteration_cap;

  std::size_t chunks() const { return responses.size(); }
};

// The tracing loop of delethink_agent_loop.py: x_1 = q; chunk l generates y_l ~ policy(x_l) with at most C (l = 1)
// or C - m tokens; stop at EOS or after I chunks; otherwise x_{l+1} = q ++ carry_l, a fresh context.
template <chunk_policy Policy>
chunked_trace chunked_generate(Policy&& policy, const std::vector<token_id>& query, const delethink_options& options) {
  options.validate();
  const std::size_t head = options.keep_head;
  const std::size_t m = options.markovian_size;
  chunked_trace out;
  std::vector<token_id> prompt = query;
  std::vector<token_id> demo_query = query;  // demo layout: q ++ y_1[:keep_head]
  std::vector<token_id> carry;               // pinned_head_tail layout: carry_l
  for (std::size_t l = 1;; ++l) {
    const std::size_t budget = options.chunk_budget(l);
    std::vector<token_id> response = std::invoke(policy, std::as_const(prompt), budget);
    if (response.size() > budget)
      throw error("chunked_generate: chunk " + std::to_string(l) + ": the policy returned " +
                  std::to_string(response.size()) + " tokens, more than its budget of " + std::to_string(budget));
    out.trace.insert(out.trace.end(), response.begin(), response.end());
    out.prompts.push_back(prompt);
    const bool ended = response.size() < budget || (options.eos && !response.empty() && response.back() == *options.eos);
    if (l == 1 && options.layout == carryover_layout::demo)
      demo_query.insert(demo_query.end(), response.begin(),
                        response.begin() + static_cast<std::ptrdiff_t>(std::min(head, response.size())));
    if (ended || l == options.iteration_cap) {
      out.stopped = ended ? stop_reason::eos : stop_reason::iteration_cap;
      out.responses.push_back(std::move(response));
      break;
    }
    if (options.layout == carryover_layout::pinned_head_tail) {
      // ans_l = carry_{l-1} ++ y_l has C > m tokens here (the chunk ran to its budget), so head and tail never overlap.
      std::vector<token_id> answer = std::move(carry);
      answer.insert(answer.end(), response.begin(), response.end());
      const std::size_t tail = options.keep_tail();
      carry.assign(answer.begin(), answer.begin() + static_cast<std::ptrdiff_t>(head));
      carry.insert(carry.end(), answer.end() - static_cast<std::ptrdiff_t>(tail), answer.end());
      prompt = query;
      prompt.insert(prompt.end(), carry.begin(), carry.end());
    } else {
      prompt = demo_query;
      prompt.insert(prompt.end(), response.end() - static_cast<std::ptrdiff_t>(std::min(m, response.size())),
                    response.end());
    }
    out.responses.push_back(std::move(response));
  }
  return out;
}

// GRPO advantages of one prompt group (norm_adv_by_std_in_grpo): A_i = (R_i - mean R)/(std R + epsilon), std with
// Bessel's correction (torch.std); a group of one has mean 0 and std 1.
inline std::vector<double> group_advantages(std::span<const double> rewards, double epsilon = 1e-6) {
  std::vector<double> out(rewards.size());
  if (rewards.empty()) return out;
  double mean = 0.0, std_dev = 1.0;
  if (rewards.size() > 1) {
    for (const double r : rewards) mean += r;
    mean /= static_cast<double>(rewards.size());
    double squares = 0.0;
    for (const double r : rewards) squares += (r - mean) * (r - mean);
    std_dev = std::sqrt(squares / static_cast<double>(rewards.size() - 1));
  }
  for (std::size_t i = 0; i < rewards.size(); ++i) out[i] = (rewards[i] - mean) / (std_dev + epsilon);
  return out;
}

// What training needs of one trace: its chunk lengths |y_l|, its (single) reward and the prompt group it belongs to.
struct trace_outcome {
  std::vector<std::size_t> chunk_lengths;
  double reward = 0.0;
  std::size_t group = 0;
};

inline trace_outcome outcome(const chunked_trace& trace, double reward, std::size_t group) {
  trace_outcome o{{}, reward, group};
  for (const auto& y : trace.responses) o.chunk_lengths.push_back(y.size());
  return o;
}

// One training row (prompt x_l, response y_l) of trace `trace`. Every response token of the row carries `advantage`
// (the trace's A_i) and `token_weight` = 1/(B * ell_i), with B traces and ell_i = sum_l |y_l|, so that
// loss = sum over rows and tokens of token_weight * pg_t = (1/B) sum_i (1/ell_i) sum_l sum_t pg_t.
// row_divisor = ell_i * B / N_rows is the trainer's form: row_loss = sum_t pg_t / row_divisor, loss = mean of rows.
struct chunk_row {
  std::size_t trace = 0;
  std::size_t chunk = 0;  // 0-based
  std::size_t tokens = 0;
  double reward = 0.0;
  double advantage = 0.0;
  double token_weight = 0.0;  // 0 for a trace with no tokens
  double row_divisor = 0.0;
};

// Flattens traces into rows (trace by trace, chunk by chunk), with GRPO advantages computed per group.
inline std::vector<chunk_row> flatten_traces(std::span<const trace_outcome> traces, double epsilon = 1e-6) {
  std::map<std::size_t, std::vector<std::size_t>> members;
  for (std::size_t i = 0; i < traces.size(); ++i) members[traces[i].group].push_back(i);
  std::vector<double> advantage(traces.size());
  for (const auto& [group, idx] : members) {
    std::vector<double> rewards;
    for (const std::size_t i : idx) rewards.push_back(traces[i].reward);
    const std::vector<double> a = group_advantages(rewards, epsilon);
    for (std::size_t k = 0; k < idx.size(); ++k) advantage[idx[k]] = a[k];
  }
  std::size_t n_rows = 0;
  for (const auto& t : traces) n_rows += t.chunk_lengths.size();
  const double batch = static_cast<double>(traces.size());
  std::vector<chunk_row> rows;
  rows.reserve(n_rows);
  for (std::size_t i = 0; i < traces.size(); ++i) {
    std::size_t length = 0;
    for (const std::size_t n : traces[i].chunk_lengths) length += n;
    const double ell = static_cast<double>(length);
    for (std::size_t l = 0; l < traces[i].chunk_lengths.size(); ++l) {
      rows.push_back({i, l, traces[i].chunk_lengths[l], traces[i].reward, advantage[i],
                      length == 0 ? 0.0 : 1.0 / (batch * ell), ell * batch / static_cast<double>(n_rows)});
    }
  }
  return rows;
}

// The rows' per-token advantages and weights, concatenated in row order (one entry per response token).
struct token_weights {
  std::vector<double> advantages;
  std::vector<double> weights;
};

inline token_weights per_token(std::span<const chunk_row> rows) {
  token_weights out;
  for (const chunk_row& r : rows) {
    out.advantages.insert(out.advantages.end(), r.tokens, r.advantage);
    out.weights.insert(out.weights.end(), r.tokens, r.token_weight);
  }
  return out;
}

}  // namespace tensorlogic::reasoning
