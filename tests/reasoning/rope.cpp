// Contiguous ("shrink") RoPE vs "append": kept positions are 0..|K|-1, shrink equals append before any eviction, the
// reference's worked examples; the rotation against a complex-number rotation written here, norm preservation and
// the relative-position property, for both channel layouts.
#include <catch2/catch.hpp>

#include <cmath>
#include <complex>
#include <cstddef>
#include <random>
#include <vector>

#include <tensorlogic/reasoning/kv_policy.hpp>
#include <tensorlogic/reasoning/rope.hpp>

namespace tl = tensorlogic;
namespace rs = tl::reasoning;

using positions = std::vector<std::size_t>;

namespace {
std::vector<float> random_vector(std::mt19937& gen, std::size_t n) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}
double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0.0;
  for (std::size_t k = 0; k < a.size(); ++k) s += double(a[k]) * double(b[k]);
  return s;
}
std::vector<float> rotated(const rs::rope& r, std::vector<float> x, std::size_t position) {
  r.rotate(x, position);
  return x;
}
}  // namespace

TEST_CASE("exclusive cumulative sum over the keep mask", "[reasoning][rope]") {
  const std::vector<bool> keep{true, false, true, true, false, false, true};
  CHECK(rs::exclusive_cumsum(keep) == positions{0, 1, 1, 2, 3, 3, 3});
  CHECK(rs::kept_positions(keep, rs::position_mode::shrink) == positions{0, 1, 2, 3});
  CHECK(rs::kept_positions(keep, rs::position_mode::append) == positions{0, 2, 3, 6});
  CHECK(rs::next_position(keep, rs::position_mode::shrink) == 4);
  CHECK(rs::next_position(keep, rs::position_mode::append) == 7);
}

TEST_CASE("worked examples: cache-relative positions", "[reasoning][rope]") {
  // StreamingLLM: start 4, recent 4, tokens 0..9: ids [0,1,2,3,6,7,8,9] at positions 0..7, next query at 8.
  rs::token_cache llm(rs::sink_window{4, 4});
  for (int t = 0; t < 10; ++t) llm.append();
  CHECK(rs::kept_positions(llm.keep_mask(), rs::position_mode::shrink) == positions{0, 1, 2, 3, 4, 5, 6, 7});
  CHECK(rs::kept_positions(llm.keep_mask(), rs::position_mode::append) == positions{0, 1, 2, 3, 6, 7, 8, 9});
  CHECK(rs::next_position(llm.keep_mask(), rs::position_mode::shrink) == 8);
  // StreamingVLM text: 3 sinks + 2 window of 10 tokens: append [0,1,2,8,9], shrink [0,1,2,3,4], next query 5.
  rs::token_cache vlm(rs::sink_window{3, 2});
  for (int t = 0; t < 10; ++t) vlm.append();
  CHECK(rs::kept_positions(vlm.keep_mask(), rs::position_mode::append) == positions{0, 1, 2, 8, 9});
  CHECK(rs::kept_positions(vlm.keep_mask(), rs::position_mode::shrink) == positions{0, 1, 2, 3, 4});
  CHECK(rs::next_position(vlm.keep_mask(), rs::position_mode::shrink) == 5);
  CHECK(rs::next_position(vlm.keep_mask(), rs::position_mode::append) == 10);
}

TEST_CASE("kept positions are 0..|K|-1", "[reasoning][rope]") {
  std::mt19937 gen(7);
  std::bernoulli_distribution coin(0.4);
  for (std::size_t n : {0u, 1u, 5u, 64u, 300u}) {
    std::vector<bool> keep(n);
    std::size_t kept = 0;
    for (std::size_t p = 0; p < n; ++p) kept += (keep[p] = coin(gen)) ? 1 : 0;
    positions expected(kept);
    for (std::size_t k = 0; k < kept; ++k) expected[k] = k;
    CHECK(rs::kept_positions(keep, rs::position_mode::shrink) == expected);
  }
  // And for a cache after many evictions.
  rs::token_cache cache(rs::sink_window{4, 9});
  for (int t = 0; t < 100; ++t) {
    cache.append();
    const positions shrink = rs::kept_positions(cache.keep_mask(), rs::position_mode::shrink);
    REQUIRE(shrink.size() == cache.size());
    for (std::size_t k = 0; k < shrink.size(); ++k) REQUIRE(shrink[k] == k);
  }
}

TEST_CASE("shrink equals append before any eviction", "[reasoning][rope]") {
  constexpr std::size_t heads = 2, dim = 8;
  std::mt19937 gen(11);
  rs::token_cache cache(rs::sink_window{4, 12});
  rs::kv_store store(heads, dim);
  const rs::rope r{dim};
  for (std::size_t t = 0; t < 16; ++t) {
    const std::size_t p = cache.append();
    store.append(p, random_vector(gen, heads * dim), random_vector(gen, heads * dim));
    store.retain(cache.kept());
    REQUIRE(cache.evicted().empty());
    const positions shrink = rs::kept_positions(cache.keep_mask(), rs::position_mode::shrink);
    const positions append = rs::kept_positions(cache.keep_mask(), rs::position_mode::append);
    REQUIRE(shrink == append);
    REQUIRE(rs::next_position(cache.keep_mask(), rs::position_mode::shrink) ==
            rs::next_position(cache.keep_mask(), rs::position_mode::append));
    REQUIRE(r.rotated(store.keys(), heads, shrink) == r.rotated(store.keys(), heads, append));
  }
  // The first eviction separates them.
  cache.append();
  CHECK(rs::kept_positions(cache.keep_mask(), rs::position_mode::shrink) !=
        rs::kept_positions(cache.keep_mask(), rs::position_mode::append));
}

TEST_CASE("the rotation matches complex multiplication by e^{i pos theta^(-2k/d)}", "[reasoning][rope]") {
  constexpr std::size_t d = 16;
  std::mt19937 gen(3);
  for (const rs::rope_layout layout : {rs::rope_layout::rotate_half, rs::rope_layout::interleaved}) {
    for (const double theta : {10000.0, 1e6}) {
      const rs::rope r{d, theta, layout};
      for (const std::size_t pos : {0u, 1u, 7u, 1000u, 65535u}) {
        const std::vector<float> x = random_vector(gen, d);
        const std::vector<float> y = rotated(r, x, pos);
        for (std::size_t k = 0; k < d / 2; ++k) {
          const std::size_t a = layout == rs::rope_layout::rotate_half ? k : 2 * k;
          const std::size_t b = layout == rs::rope_layout::rotate_half ? k + d / 2 : 2 * k + 1;
          const double angle = double(pos) * std::pow(theta, -2.0 * double(k) / double(d));
          const std::complex<double> z = std::complex<double>(x[a], x[b]) * std::polar(1.0, angle);
          REQUIRE(y[a] == Approx(z.real()).margin(1e-5));
          REQUIRE(y[b] == Approx(z.imag()).margin(1e-5));
        }
      }
    }
  }
  CHECK(rs::rope{}.theta == 10000.0);
  CHECK(rs::rope{}.layout == rs::rope_layout::rotate_half);
  CHECK(rs::rope{8}.frequency(0) == 1.0);
  CHECK(rs::rope{8}.frequency(2) == Approx(0.01));  // 10000^(-4/8)
}

TEST_CASE("rotation preserves norms and q.k depends only on the position difference", "[reasoning][rope]") {
  constexpr std::size_t d = 64;
  std::mt19937 gen(5);
  for (const rs::rope_layout layout : {rs::rope_layout::rotate_half, rs::rope_layout::interleaved}) {
    const rs::rope r{d, 10000.0, layout};
    const std::vector<float> q = random_vector(gen, d), k = random_vector(gen, d);
    for (const std::size_t pos : {0u, 3u, 511u, 100000u})
      CHECK(dot(rotated(r, q, pos), rotated(r, q, pos)) == Approx(dot(q, q)).epsilon(1e-5));
    for (const auto& [qp, kp] : {std::pair<std::size_t, std::size_t>{5, 2}, {9, 9}, {40, 1}}) {
      const double base = dot(rotated(r, q, qp), rotated(r, k, kp));
      for (const std::size_t shift : {1u, 17u, 1000u, 20000u}) {
        CAPTURE(qp, kp, shift);
        CHECK(dot(rotated(r, q, qp + shift), rotated(r, k, kp + shift)) == Approx(base).margin(1e-3));
      }
    }
    // Different differences give different scores.
    CHECK(dot(rotated(r, q, 5), rotated(r, k, 2)) != Approx(dot(rotated(r, q, 6), rotated(r, k, 2))).margin(1e-3));
  }
}

TEST_CASE("rotating a cache's keys with contiguous positions", "[reasoning][rope]") {
  constexpr std::size_t heads = 3, dim = 4;
  std::mt19937 gen(9);
  rs::token_cache cache(rs::sink_window{2, 3});
  rs::kv_store store(heads, dim);
  for (int t = 0; t < 9; ++t) {
    const std::size_t p = cache.append();
    store.append(p, random_vector(gen, heads * dim), random_vector(gen, heads * dim));
    store.retain(cache.kept());
  }
  const rs::rope r{dim};
  const std::vector<float> keys = r.rotated_contiguous(store.keys(), heads);
  REQUIRE(keys.size() == store.keys().size());
  for (std::size_t row = 0; row < store.rows(); ++row)
    for (std::size_t h = 0; h < heads; ++h) {
      const std::vector<float> raw(store.key(row, h).begin(), store.key(row, h).end());
      const std::vector<float> expected = rotated(r, raw, row);
      for (std::size_t j = 0; j < dim; ++j) CHECK(keys[(row * heads + h) * dim + j] == expected[j]);
    }
}

TEST_CASE("RoPE errors name the culprit", "[reasoning][rope][errors]") {
  std::vector<float> x(6);
  REQUIRE_THROWS_WITH(rs::rope{5}.rotate(x, 1), Catch::Contains("tensorlogic: rope: head_dim = 5 must be even"));
  REQUIRE_THROWS_WITH(rs::rope{4}.rotate(x, 1),
                      Catch::Contains("tensorlogic: rope: vector has 6 elements, expected head_dim = 4"));
  REQUIRE_THROWS_WITH((rs::rope{4, 1.0}.rotate(x, 1)), Catch::Contains("rope: theta = 1.000000 must be greater than 1"));
  const positions pos{0, 1};
  REQUIRE_THROWS_WITH(rs::rope{2}.rotated(x, 2, pos),
                      Catch::Contains("rope: rows hold 6 floats, expected positions (2) * heads (2) * head_dim (2)"));
  REQUIRE_THROWS_WITH(rs::rope{4}.rotated_contiguous(x, 1), Catch::Contains("not a multiple of heads * head_dim = 4"));
}
