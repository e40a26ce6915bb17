// The LongCoT vs Delethink cost model: the reference's worked table (R1-Distill-Qwen-1.5B, q = 0, C = 8192, m = 4096,
// 24K and 96K budgets), the one-chunk identity, and small cases against a token-by-token count of causal attention.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include <tensorlogic/reasoning/cost.hpp>

namespace tl = tensorlogic;
namespace rs = tl::reasoning;

namespace {
// Causal attention, one token at a time: the t-th token of a request (1-based) visits t keys.
std::uint64_t counted_visits(std::uint64_t prefill, std::uint64_t generated) {
  std::uint64_t v = 0;
  for (std::uint64_t t = 1; t <= prefill + generated; ++t) v += t;
  return v;
}
// The same for generated tokens only.
std::uint64_t counted_decode_visits(std::uint64_t prefill, std::uint64_t generated) {
  std::uint64_t v = 0;
  for (std::uint64_t t = prefill + 1; t <= prefill + generated; ++t) v += t;
  return v;
}
}  // namespace

TEST_CASE("model shape of R1-Distill-Qwen-1.5B: 28 672 KV bytes per token", "[reasoning][cost]") {
  CHECK(rs::r1_distill_qwen_1_5b.kv_bytes_per_token() == 28672);
  CHECK(rs::r1_distill_qwen_1_5b.attention_flops_per_visit() == 4.0 * 12 * 128 * 28);
  CHECK(rs::r1_distill_qwen_1_5b.linear_flops_per_token() == 2.62e9);
}

TEST_CASE("worked table, 24K budget (I = 5)", "[reasoning][cost]") {
  const rs::cost_comparison c = rs::cost(rs::r1_distill_qwen_1_5b, 8192, 4096, 5, 24576);
  CHECK(c.longcot.key_visits == 302002176);
  CHECK(c.delethink.key_visits == 167792640);
  CHECK(c.delethink.chunks == 5);
  CHECK(c.visit_ratio() == Approx(1.80).margin(0.005));
  CHECK(c.decode_visit_ratio() == Approx(2.25).margin(0.005));
  CHECK(c.longcot.decode_key_visits == 24576ull * 24577 / 2);
  CHECK(c.delethink.decode_key_visits == 8192ull * 8193 / 2 + 4 * (8192ull * 8193 / 2 - 4096ull * 4097 / 2));
  CHECK(c.longcot.peak_kv_bytes == 24576ull * 28672);  // 0.70 GB
  CHECK(c.delethink.peak_kv_bytes == 8192ull * 28672);  // 0.23 GB
  CHECK(double(c.longcot.peak_kv_bytes) / 1e9 == Approx(0.70).margin(0.005));
  CHECK(double(c.delethink.peak_kv_bytes) / 1e9 == Approx(0.23).margin(0.005));
  CHECK(c.longcot.tokens == 24576);
  CHECK(c.delethink.tokens == 5 * 8192);
  CHECK(c.longcot.forward_flops == Approx(1.16e14).epsilon(0.005));
  CHECK(c.delethink.forward_flops == Approx(1.36e14).epsilon(0.005));
}

TEST_CASE("worked table, 96K budget (I = 23)", "[reasoning][cost]") {
  const rs::cost_comparison c = rs::cost(rs::r1_distill_qwen_1_5b, 8192, 4096, 23, 98304);
  CHECK(c.longcot.key_visits == 4831887360);
  CHECK(c.delethink.key_visits == 771846144);
  CHECK(c.delethink.chunks == 23);
  CHECK(c.visit_ratio() == Approx(6.26).margin(0.005));
  CHECK(c.decode_visit_ratio() == Approx(8.23).margin(0.005));
  CHECK(double(c.longcot.peak_kv_bytes) / 1e9 == Approx(2.82).margin(0.005));
  CHECK(double(c.delethink.peak_kv_bytes) / 1e9 == Approx(0.23).margin(0.005));
  CHECK(c.longcot.forward_flops == Approx(1.09e15).epsilon(0.005));
  CHECK(c.delethink.forward_flops == Approx(6.26e14).epsilon(0.005));
}

TEST_CASE("one chunk with a full-context prefill costs exactly C(C+1)/2 visits", "[reasoning][cost]") {
  for (std::uint64_t C : {1u, 2u, 7u, 8192u})
    for (std::uint64_t p : {std::uint64_t{0}, C / 3, C / 2, C - 1}) {
      CHECK(rs::request_visits(p, C - p) == C * (C + 1) / 2);
      if (C < 100) CHECK(rs::request_visits(p, C - p) == counted_visits(p, C - p));
    }
  // Every Delethink chunk after the first prefills q + m and generates C - m: at q = 0 each costs C(C+1)/2.
  const rs::cost_comparison c = rs::cost(rs::r1_distill_qwen_1_5b, 10, 6, 4, rs::thinking_budget(10, 6, 4));
  CHECK(c.delethink.key_visits == 4 * 55);
}

TEST_CASE("small cases against a token-by-token count", "[reasoning][cost]") {
  const rs::model_shape shape{2, 4, 8, 2, 1000.0, 4};
  for (std::size_t C : {3u, 8u, 11u})
    for (std::size_t m = 0; m < C; ++m)
      for (std::size_t q : {0u, 5u})
        for (std::size_t n = 0; n <= rs::thinking_budget(C, m, 4); ++n) {
          CAPTURE(C, m, q, n);
          const rs::cost_comparison c = rs::cost(shape, C, m, 4, n, q);
          REQUIRE(c.longcot.key_visits == counted_visits(q, n));
          REQUIRE(c.longcot.decode_key_visits == counted_decode_visits(q, n));
          REQUIRE(c.longcot.peak_kv_bytes == (q + n) * shape.kv_bytes_per_token());
          // Delethink, request by request.
          std::uint64_t visits = 0, decode = 0, tokens = 0, peak = 0, left = n;
          std::size_t chunks = 0;
          do {
            const std::uint64_t prefill = chunks == 0 ? q : q + m;
            const std::uint64_t generated = std::min<std::uint64_t>(left, chunks == 0 ? C : C - m);
            visits += counted_visits(prefill, generated);
            decode += counted_decode_visits(prefill, generated);
            tokens += prefill + generated;
            peak = std::max(peak, prefill + generated);
            left -= generated;
            ++chunks;
          } while (left > 0);
          REQUIRE(c.delethink.chunks == chunks);
          REQUIRE(c.delethink.chunks == (n <= C ? 1 : 1 + (n - C + (C - m) - 1) / (C - m)));
          REQUIRE(c.delethink.key_visits == visits);
          REQUIRE(c.delethink.decode_key_visits == decode);
          REQUIRE(c.delethink.tokens == tokens);
          REQUIRE(c.delethink.peak_kv_bytes == peak * shape.kv_bytes_per_token());
          REQUIRE(c.delethink.forward_flops ==
                  Approx(double(tokens) * 2000.0 + double(visits) * 4.0 * 4 * 8 * 2).epsilon(1e-12));
          // Up to one chunk the two methods are the same computation.
          if (n <= C) REQUIRE(c.delethink.key_visits == c.longcot.key_visits);
        }
}

TEST_CASE("the closed form holds at whole chunks with a query", "[reasoning][cost]") {
  const std::uint64_t q = 300, C = 8192, m = 4096;
  for (std::uint64_t L = 1; L <= 23; ++L) {
    const rs::cost_comparison c = rs::cost(rs::r1_distill_qwen_1_5b, C, m, 23, C + (L - 1) * (C - m), q);
    const std::uint64_t closed = q * (q + 1) / 2 + rs::decode_visits(q, C) +
                                 (L - 1) * ((q + m) * (q + m + 1) / 2 + rs::decode_visits(q + m, C - m));
    CHECK(c.delethink.key_visits == closed);
    CHECK(c.delethink.tokens == L * (q + C));
    CHECK(c.delethink.peak_kv_bytes == (q + C) * 28672);
  }
}

TEST_CASE("cost errors name the culprit", "[reasoning][cost][errors]") {
  REQUIRE_THROWS_WITH(rs::cost(rs::r1_distill_qwen_1_5b, 8192, 4096, 5, 24577),
                      Catch::Contains("tensorlogic: cost: thinking length n = 24577 exceeds the Delethink budget "
                                      "B = C + (I - 1)(C - m) = 24576"));
  REQUIRE_THROWS_WITH(rs::cost(rs::r1_distill_qwen_1_5b, 4096, 4096, 5, 1),
                      Catch::Contains("tensorlogic: cost: markovian_size (m = 4096) must be smaller than chunk_size (C = 4096)"));
  REQUIRE_THROWS_WITH(rs::cost(rs::r1_distill_qwen_1_5b, 8192, 4096, 0, 1),
                      Catch::Contains("tensorlogic: cost: iteration_cap (I) must be at least 1"));
}
