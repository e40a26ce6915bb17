// The compute and memory model of LongCoT vs Delethink reasoning: (query, key) visits, forward FLOPs and peak KV bytes
// for n thinking tokens after a q-token query, given a model's shape. Relies on delethink.hpp for the budget and
// option checks. Standard library only.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>

#include <tensorlogic/core/error.hpp>
#include <tensorlogic/reasoning/delethink.hpp>

namespace tensorlogic::reasoning {

struct model_shape {
  std::size_t layers = 0;
  std::size_t heads = 0;     // n_h query heads
  std::size_t head_dim = 0;  // d_h
  std::size_t kv_heads = 0;  // n_kv
  double non_embedding_params = 0.0;
  std::size_t bytes_per_element = 2;  // bf16

  // kvb = 2 * L * n_kv * d_h * bytes.
  std::uint64_t kv_bytes_per_token() const {
    return 2ull * layers * kv_heads * head_dim * bytes_per_element;
  }
  // 2 * P_ne per processed token.
  double linear_flops_per_token() const { return 2.0 * non_embedding_params; }
  // 4 * n_h * d_h * L per (query, key) visit.
  double attention_flops_per_visit() const { return 4.0 * static_cast<double>(heads * head_dim * layers); }
};

// DeepSeek-R1-Distill-Qwen-1.5B, the Delethink paper's base model: 28 layers, 12 heads of 128, 2 KV heads,
// about 1.31e9 non-embedding parameters, bf16 (28 672 KV bytes per token).
inline constexpr model_shape r1_distill_qwen_1_5b{28, 12, 128, 2, 1.31e9, 2};

// V(p, g) = sum_{t = p + 1}^{p + g} t: key visits of g new tokens after p cached ones.
inline constexpr std::uint64_t decode_visits(std::uint64_t p, std::uint64_t g) {
  return (p + g) * (p + g + 1) / 2 - p * (p + 1) / 2;
}
// A request that prefills p tokens then generates g: p(p + 1)/2 + V(p, g) = (p + g)(p + g + 1)/2.
inline constexpr std::uint64_t request_visits(std::uint64_t p, std::uint64_t g) {
  return p * (p + 1) / 2 + decode_visits(p, g);
}

struct method_cost {
  std::size_t chunks = 0;                 // requests (1 for LongCoT)
  std::uint64_t key_visits = 0;           // prefill + decode
  std::uint64_t decode_key_visits = 0;    // generated tokens only (memory-bound KV reads)
  std::uint64_t tokens = 0;               // tokens processed: prefilled + generated
  double forward_flops = 0.0;             // tokens * 2 P_ne + key_visits * 4 n_h d_h L
  std::uint64_t peak_kv_tokens = 0;
  std::uint64_t peak_kv_bytes = 0;
};

struct cost_comparison {
  method_cost longcot;
  method_cost delethink;  // pinned_head_tail carryover (the demo layout holds keep_head more tokens per chunk)

  double visit_ratio() const { return double(longcot.key_visits) / double(delethink.key_visits); }
  double decode_visit_ratio() const { return double(longcot.decode_key_visits) / double(delethink.decode_key_visits); }
};

// LongCoT: one request, prefill q, generate n. Delethink: chunk 1 prefills q and generates g_1 = min(n, C); chunk
// l > 1 prefills q + m and generates g_l = min(C - m, what is left), so L = 1 + ceil((n - C)/(C - m)) for n > C.
// When n is a whole number of chunks (n = C + (L - 1)(C - m)) this is the model's closed form:
// visits = [q(q+1)/2 + V(q, C)] + (L - 1)[(q+m)(q+m+1)/2 + V(q+m, C-m)], tokens = L(q + C), peak KV = (q + C) kvb.
// A shorter last chunk is charged for the tokens it generates, not for a full chunk.
inline cost_comparison cost(const model_shape& shape, std::size_t chunk_size, std::size_t markovian_size,
                            std::size_t iteration_cap, std::size_t n, std::size_t q = 0) {
  detail::check_chunking("cost", chunk_size, markovian_size, iteration_cap);
  const std::size_t budget = thinking_budget(chunk_size, markovian_size, iteration_cap);
  if (n > budget)
    throw error("cost: thinking length n = " + std::to_string(n) +
                " exceeds the Delethink budget B = C + (I - 1)(C - m) = " + std::to_string(budget));
  const std::uint64_t kvb = shape.kv_bytes_per_token();
  const auto flops = [&](const method_cost& c) {
    return double(c.tokens) * shape.linear_flops_per_token() + double(c.key_visits) * shape.attention_flops_per_visit();
  };

  cost_comparison out;
  method_cost& a = out.longcot;
  a.chunks = 1;
  a.key_visits = request_visits(q, n);
  a.decode_key_visits = decode_visits(q, n);
  a.tokens = q + n;
  a.peak_kv_tokens = q + n;

  method_cost& d = out.delethink;
  std::uint64_t left = n;
  for (std::size_t l = 1; l == 1 || left > 0; ++l) {
    const std::uint64_t prefill = l == 1 ? q : q + markovian_size;
    const std::uint64_t generated = std::min<std::uint64_t>(left, l == 1 ? chunk_size : chunk_size - markovian_size);
    left -= generated;
    d.chunks = l;
    d.key_visits += request_visits(prefill, generated);
    d.decode_key_visits += decode_visits(prefill, generated);
    d.tokens += prefill + generated;
    d.peak_kv_tokens = std::max<std::uint64_t>(d.peak_kv_tokens, prefill + generated);
  }
  for (method_cost* c : {&a, &d}) {
    c->forward_flops = flops(*c);
    c->peak_kv_bytes = c->peak_kv_tokens * kvb;
  }
  return out;
}

}  // namespace tensorlogic::reasoning
