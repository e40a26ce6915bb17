// KV keep policies: StreamingLLM sinks + window (the reference's worked examples, constant length after warm-up,
// evict_for_space, evict_range), StreamingVLM's split policy (eviction order in each of its three round regimes,
// worked by hand below), and the float KV store that follows a cache.
#include <catch2/catch.hpp>

#include <cstddef>
#include <numeric>
#include <vector>

#include <tensorlogic/reasoning/kv_policy.hpp>

namespace tl = tensorlogic;
namespace rs = tl::reasoning;

using positions = std::vector<std::size_t>;

namespace {
positions iota(std::size_t first, std::size_t last) {
  positions out;
  for (std::size_t p = first; p < last; ++p) out.push_back(p);
  return out;
}
positions concat(positions a, const positions& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}
}  // namespace

TEST_CASE("StreamingLLM worked example: sink 4, window 4, tokens 0..9", "[reasoning][kv_policy]") {
  rs::token_cache cache(rs::sink_window{4, 4});
  for (int t = 0; t < 10; ++t) cache.append();
  CHECK(cache.kept() == positions{0, 1, 2, 3, 6, 7, 8, 9});
  CHECK(cache.evicted() == positions{4, 5});
  CHECK(cache.size() == 8);
  CHECK(cache.seen() == 10);
  CHECK(cache.keep_mask() == std::vector<bool>{true, true, true, true, false, false, true, true, true, true});
}

TEST_CASE("contiguous-RoPE worked example: 3 sinks + 2 window tokens of a 10-token stream", "[reasoning][kv_policy]") {
  rs::token_cache cache(rs::sink_window{3, 2});
  for (int t = 0; t < 10; ++t) cache.append();
  CHECK(cache.kept() == positions{0, 1, 2, 8, 9});
  // One token leaves per append once the cache is full, oldest non-sink first.
  CHECK(cache.evicted() == positions{3, 4, 5, 6, 7});
}

TEST_CASE("sink + window cache length is constant after warm-up", "[reasoning][kv_policy]") {
  for (const auto& [sink, window] : {std::pair<std::size_t, std::size_t>{4, 8}, {0, 5}, {1, 1}, {6, 1}, {3, 17}}) {
    CAPTURE(sink, window);
    rs::token_cache cache(rs::sink_window{sink, window});
    for (std::size_t t = 0; t < 60; ++t) {
      cache.append();
      const std::size_t seen = t + 1;
      if (seen >= sink + window) {
        REQUIRE(cache.size() == sink + window);
        // Naive: the first `sink` positions and the last `window` ones.
        REQUIRE(cache.kept() == concat(iota(0, sink), iota(seen - window, seen)));
        REQUIRE(cache.evicted() == iota(sink, seen - window));
      } else {
        REQUIRE(cache.size() == seen);
        REQUIRE(cache.kept() == iota(0, seen));
        REQUIRE(cache.evicted().empty());
      }
    }
    // The appended token is cached before the policy trims it back.
    CHECK(cache.peak_size() == sink + window + 1);
  }
}

TEST_CASE("evict_for_space keeps [0, sink) ++ [len - window + k, len)", "[reasoning][kv_policy]") {
  rs::token_cache cache(rs::sink_window{4, 4});
  for (int t = 0; t < 8; ++t) cache.append();
  cache.make_room(1);  // 8 + 1 > 8
  CHECK(cache.kept() == positions{0, 1, 2, 3, 5, 6, 7});
  cache.make_room(2);  // 7 + 2 > 8: keep [0, 4) ++ [7 - 4 + 2, 7)
  CHECK(cache.kept() == positions{0, 1, 2, 3, 6, 7});
  cache.make_room(2);  // fits
  CHECK(cache.size() == 6);
  cache.make_room(9);  // more than the window: only the sinks stay
  CHECK(cache.kept() == positions{0, 1, 2, 3});
  CHECK(cache.evicted() == positions{4, 5, 6, 7});
}

TEST_CASE("evict_range drops cache slots [first, last)", "[reasoning][kv_policy]") {
  rs::token_cache cache(rs::sink_window{2, 10});
  for (int t = 0; t < 8; ++t) cache.append();
  cache.evict_range(3, 5);
  CHECK(cache.kept() == positions{0, 1, 2, 5, 6, 7});
  cache.evict_range(0, 1);
  CHECK(cache.kept() == positions{1, 2, 5, 6, 7});
  CHECK(cache.evicted() == positions{3, 4, 0});
  REQUIRE_THROWS_WITH(cache.evict_range(4, 9), Catch::Contains("tensorlogic: token_cache: evict_range [4, 9)") &&
                                                   Catch::Contains("5 slots"));
}

namespace {
// One StreamingVLM round: `user_text` "Time=..." tokens, then `vision` tokens, then `assistant` tokens.
void append_round(rs::token_cache<rs::streaming_vlm>& cache, std::size_t round, std::size_t user_text,
                  std::size_t vision, std::size_t assistant) {
  for (std::size_t k = 0; k < user_text; ++k) cache.append({rs::modality::text, rs::speaker::user, round});
  for (std::size_t k = 0; k < vision; ++k) cache.append({rs::modality::vision, rs::speaker::user, round});
  for (std::size_t k = 0; k < assistant; ++k) cache.append({rs::modality::text, rs::speaker::assistant, round});
}
void append_context(rs::token_cache<rs::streaming_vlm>& cache, std::size_t n) {
  for (std::size_t k = 0; k < n; ++k) cache.append({rs::modality::text, rs::speaker::context, 0});
}
}  // namespace

// Rounds of 5 tokens: u (user text), v v (vision), a a (assistant).
TEST_CASE("StreamingVLM eviction order, text_rounds = vision_rounds = 2, sink 2, window 2", "[reasoning][kv_policy]") {
  // Context 0 1 2; round r holds u = 3 + 5r, v = 4 + 5r, 5 + 5r, a = 6 + 5r, 7 + 5r.
  rs::token_cache cache(rs::streaming_vlm{.text_sink = 2, .text_window = 2, .text_rounds = 2, .vision_rounds = 2});
  append_context(cache, 3);
  append_round(cache, 0, 1, 2, 2);
  CHECK(cache.size() == 8);
  // Before round 1: older text 0 1 2 is within sink + window; nothing leaves.
  append_round(cache, 1, 1, 2, 2);
  CHECK(cache.evicted().empty());
  CHECK(cache.size() == 13);
  // Before round 2: a_0 = 6 7 moves to the older text (0 1 2 6 7); round 0's user block 3 4 5 leaves; the older
  // text is cut to 0 1 | 6 7, evicting 2.
  append_round(cache, 2, 1, 2, 2);
  CHECK(cache.evicted() == positions{3, 4, 5, 2});
  CHECK(cache.kept() == concat({0, 1, 6, 7}, iota(8, 18)));
  // Before round 3: a_1 = 11 12 moves (0 1 6 7 11 12); user block 8 9 10 leaves; the cut evicts 6 7.
  append_round(cache, 3, 1, 2, 2);
  CHECK(cache.evicted() == positions{3, 4, 5, 2, 8, 9, 10, 6, 7});
  CHECK(cache.kept() == concat({0, 1, 11, 12}, iota(13, 23)));
  CHECK(cache.size() == 14);
  // Constant from here on: 2 + 2 older text, two rounds of 5.
  for (std::size_t r = 4; r < 12; ++r) {
    append_round(cache, r, 1, 2, 2);
    REQUIRE(cache.size() == 14);
  }
}

TEST_CASE("StreamingVLM eviction order, vision_rounds 3 > text_rounds 1, sink 1, window 1", "[reasoning][kv_policy]") {
  // Context 0 1; round r holds u = 2 + 5r, v = 3 + 5r, 4 + 5r, a = 5 + 5r, 6 + 5r.
  rs::token_cache cache(rs::streaming_vlm{.text_sink = 1, .text_window = 1, .text_rounds = 1, .vision_rounds = 3});
  append_context(cache, 2);
  append_round(cache, 0, 1, 2, 2);
  // Before round 1: a_0 = 5 6 moves (older 0 1 5 6); u_0 = 2 leaves at once (vision kept longer than text); the cut
  // keeps 0 | 6 and evicts 1 5. Round 0's vision 3 4 now sits after the older text.
  append_round(cache, 1, 1, 2, 2);
  CHECK(cache.evicted() == positions{2, 1, 5});
  CHECK(cache.kept() == positions{0, 6, 3, 4, 7, 8, 9, 10, 11});
  // Before round 2: a_1 = 10 11 moves (older 0 6 10 11); u_1 = 7 leaves; the cut evicts 6 10.
  append_round(cache, 2, 1, 2, 2);
  CHECK(cache.evicted() == positions{2, 1, 5, 7, 6, 10});
  CHECK(cache.kept() == positions{0, 11, 3, 4, 8, 9, 12, 13, 14, 15, 16});
  // Before round 3: a_2 = 15 16 moves; u_2 = 12 leaves; round 0's user block (its vision 3 4) leaves; cut 11 15.
  append_round(cache, 3, 1, 2, 2);
  CHECK(cache.evicted() == positions{2, 1, 5, 7, 6, 10, 12, 3, 4, 11, 15});
  CHECK(cache.kept() == positions{0, 16, 8, 9, 13, 14, 17, 18, 19, 20, 21});
}

TEST_CASE("StreamingVLM eviction order, vision_rounds 1 < text_rounds 2, sink 1, window 1", "[reasoning][kv_policy]") {
  rs::token_cache cache(rs::streaming_vlm{.text_sink = 1, .text_window = 1, .text_rounds = 2, .vision_rounds = 1});
  append_context(cache, 2);
  append_round(cache, 0, 1, 2, 2);
  // Before round 1: round 0's vision 3 4 leaves; the older text 0 1 fits.
  append_round(cache, 1, 1, 2, 2);
  CHECK(cache.evicted() == positions{3, 4});
  CHECK(cache.kept() == positions{0, 1, 2, 5, 6, 7, 8, 9, 10, 11});
  // Before round 2: a_0 = 5 6 moves (older 0 1 5 6); round 1's vision 8 9 leaves; round 0's user block (u_0 = 2)
  // leaves; the cut evicts 1 5.
  append_round(cache, 2, 1, 2, 2);
  CHECK(cache.evicted() == positions{3, 4, 8, 9, 2, 1, 5});
  CHECK(cache.kept() == positions{0, 6, 7, 10, 11, 12, 13, 14, 15, 16});
}

TEST_CASE("StreamingVLM: a round with no tokens still runs its eviction step", "[reasoning][kv_policy]") {
  rs::token_cache a(rs::streaming_vlm{.text_sink = 1, .text_window = 1, .text_rounds = 1, .vision_rounds = 1});
  rs::token_cache b = a;
  append_round(a, 0, 1, 1, 1);
  append_round(b, 0, 1, 1, 1);
  a.start_round(1);
  append_round(a, 2, 1, 1, 1);
  append_round(b, 2, 1, 1, 1);  // start_round(2) runs rounds 1 and 2
  CHECK(a.kept() == b.kept());
  CHECK(a.evicted() == b.evicted());
}

TEST_CASE("kv_store follows a cache: un-rotated rows, compacted, peak bytes", "[reasoning][kv_policy]") {
  constexpr std::size_t heads = 2, dim = 3;
  const auto row = [](std::size_t position, float offset) {
    std::vector<float> r(heads * dim);
    for (std::size_t k = 0; k < r.size(); ++k) r[k] = float(position) * 100.0f + float(k) + offset;
    return r;
  };
  rs::token_cache cache(rs::sink_window{2, 3});
  rs::kv_store store(heads, dim);
  for (std::size_t t = 0; t < 12; ++t) {
    const std::size_t p = cache.append();
    store.append(p, row(p, 0.0f), row(p, 0.5f));
    store.retain(cache.kept());
    REQUIRE(store.positions() == cache.kept());
  }
  CHECK(store.rows() == 5);
  CHECK(store.keys().size() == 5 * heads * dim);
  for (std::size_t r = 0; r < store.rows(); ++r) {
    const std::size_t p = store.positions()[r];
    for (std::size_t h = 0; h < heads; ++h)
      for (std::size_t j = 0; j < dim; ++j) {
        CHECK(store.key(r, h)[j] == row(p, 0.0f)[h * dim + j]);
        CHECK(store.value(r, h)[j] == row(p, 0.5f)[h * dim + j]);
      }
  }
  CHECK(store.bytes_per_token() == 2 * heads * dim * sizeof(float));
  CHECK(store.bytes() == 5 * store.bytes_per_token());
  CHECK(store.peak_bytes() == 6 * store.bytes_per_token());  // sink + window + the token before trimming

  // A StreamingVLM move reorders rows; retain gathers them.
  store.retain(positions{11, 0, 10});
  CHECK(store.positions() == positions{11, 0, 10});
  CHECK(store.key(0, 1)[2] == row(11, 0.0f)[dim + 2]);
  CHECK(store.value(1, 0)[0] == row(0, 0.5f)[0]);
  CHECK(store.key(2, 0)[1] == row(10, 0.0f)[1]);
  CHECK(store.peak_bytes() == 6 * store.bytes_per_token());
}

TEST_CASE("kv_store follows a StreamingVLM cache through a reorder", "[reasoning][kv_policy]") {
  rs::token_cache cache(rs::streaming_vlm{.text_sink = 1, .text_window = 1, .text_rounds = 1, .vision_rounds = 3});
  rs::kv_store store(1, 2);
  const auto add = [&](rs::token_meta meta) {
    const std::size_t p = cache.append(meta);
    store.append(p, std::vector<float>{float(p), -float(p)}, std::vector<float>{2.0f * float(p), 0.0f});
    store.retain(cache.kept());
  };
  for (int k = 0; k < 2; ++k) add({rs::modality::text, rs::speaker::context, 0});
  for (std::size_t r = 0; r < 4; ++r) {
    add({rs::modality::text, rs::speaker::user, r});
    add({rs::modality::vision, rs::speaker::user, r});
    add({rs::modality::vision, rs::speaker::user, r});
    add({rs::modality::text, rs::speaker::assistant, r});
    add({rs::modality::text, rs::speaker::assistant, r});
  }
  REQUIRE(store.positions() == cache.kept());
  CHECK(store.positions() == positions{0, 16, 8, 9, 13, 14, 17, 18, 19, 20, 21});
  for (std::size_t r = 0; r < store.rows(); ++r) {
    CHECK(store.key(r, 0)[0] == float(store.positions()[r]));
    CHECK(store.key(r, 0)[1] == -float(store.positions()[r]));
    CHECK(store.value(r, 0)[0] == 2.0f * float(store.positions()[r]));
  }
}

TEST_CASE("KV policy errors name the culprit", "[reasoning][kv_policy][errors]") {
  REQUIRE_THROWS_WITH(rs::token_cache(rs::sink_window{4, 0}),
                      Catch::Contains("tensorlogic: sink_window: window must be at least 1"));
  REQUIRE_THROWS_WITH(rs::token_cache(rs::streaming_vlm{.text_rounds = 0}),
                      Catch::Contains("tensorlogic: streaming_vlm: text_rounds must be at least 1"));
  REQUIRE_THROWS_WITH(rs::token_cache(rs::streaming_vlm{.vision_rounds = 0}),
                      Catch::Contains("tensorlogic: streaming_vlm: vision_rounds must be at least 1"));

  rs::token_cache vlm(rs::streaming_vlm{});
  vlm.append({rs::modality::text, rs::speaker::user, 3});
  REQUIRE_THROWS_WITH(vlm.append({rs::modality::text, rs::speaker::user, 2}),
                      Catch::Contains("tensorlogic: token_cache: a token of round 2 arrived after round 3 began"));
  REQUIRE_THROWS_WITH(vlm.append({rs::modality::text, rs::speaker::context, 0}),
                      Catch::Contains("a context token (position 1) arrived after round 3 began"));
  CHECK(vlm.seen() == 1);  // a rejected token takes no position

  rs::kv_store store(2, 4);
  REQUIRE_THROWS_WITH(store.append(0, std::vector<float>(7), std::vector<float>(8)),
                      Catch::Contains("tensorlogic: kv_store: key has 7 floats, expected heads * head_dim = 8"));
  REQUIRE_THROWS_WITH(store.append(0, std::vector<float>(8), std::vector<float>(9)),
                      Catch::Contains("kv_store: value has 9 floats"));
  store.append(0, std::vector<float>(8), std::vector<float>(8));
  REQUIRE_THROWS_WITH(store.append(0, std::vector<float>(8), std::vector<float>(8)),
                      Catch::Contains("kv_store: position 0 is already cached"));
  REQUIRE_THROWS_WITH(store.retain(positions{5}), Catch::Contains("kv_store: retain: position 5 is not cached"));
  REQUIRE_THROWS_WITH(store.retain(positions{0, 0}), Catch::Contains("kv_store: retain: position 0 is not cached"));
  REQUIRE_THROWS_WITH(store.key(1, 0), Catch::Contains("kv_store: row 1, head 0 is outside [1 rows, 2 heads]"));
  REQUIRE_THROWS_WITH(rs::kv_store(0, 4), Catch::Contains("kv_store: heads must be at least 1"));
}
