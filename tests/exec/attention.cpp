// Fused online-softmax attention against naive loops (no mask, causal, sink + window, decode with fewer queries
// than keys), against the unfused two-equation Tensor Logic program, and over a StreamingLLM cache: attention of
// the newest token over the cached (sink + window) keys equals full attention under the sink + window mask.
#include <catch2/catch.hpp>
#include <cmath>
#include <random>
#include <tensorlogic/reasoning.hpp>
#include <tensorlogic/tensorlogic.hpp>
#include <vector>

namespace tl = tensorlogic;

namespace {
using view3 = Kokkos::View<double***, Kokkos::LayoutRight, Kokkos::HostSpace>;

view3 make3(const char* name, long a, long b, long c) {
  return view3(std::string(name), static_cast<std::size_t>(a), static_cast<std::size_t>(b), static_cast<std::size_t>(c));
}

view3 random_view(const char* name, long a, long b, long c, std::uint64_t seed) {
  view3 v = make3(name, a, b, c);
  std::mt19937_64 g(seed);
  std::uniform_real_distribution<double> d(-1.0, 1.0);
  for (long x = 0; x < a; ++x)
    for (long y = 0; y < b; ++y)
      for (long z = 0; z < c; ++z) v(x, y, z) = d(g);
  return v;
}

bool allowed(tl::attention_mask mask, long i, long j, long sq, long sk, long sink, long window) {
  const long p = i + sk - sq;
  if (mask == tl::attention_mask::none) return true;
  if (j > p) return false;
  if (mask == tl::attention_mask::causal) return true;
  return j < sink || p - j < window;
}

// Softmax over the allowed keys, written out with two passes and no online trick.
view3 naive(const view3& q, const view3& k, const view3& v, tl::attention_mask mask, long sink, long window) {
  const long h = q.extent(0), sq = q.extent(1), sk = k.extent(1), d = q.extent(2), e = v.extent(2);
  view3 o = make3("naive", h, sq, e);
  for (long a = 0; a < h; ++a)
    for (long i = 0; i < sq; ++i) {
      std::vector<double> s(sk, -INFINITY);
      double mx = -INFINITY;
      for (long j = 0; j < sk; ++j) {
        if (!allowed(mask, i, j, sq, sk, sink, window)) continue;
        double dot = 0;
        for (long c = 0; c < d; ++c) dot += q(a, i, c) * k(a, j, c);
        s[j] = dot / std::sqrt(static_cast<double>(d));
        mx = std::max(mx, s[j]);
      }
      double z = 0;
      for (long j = 0; j < sk; ++j) z += std::isinf(s[j]) ? 0.0 : std::exp(s[j] - mx);
      for (long c = 0; c < e; ++c) {
        double acc = 0;
        for (long j = 0; j < sk; ++j)
          if (!std::isinf(s[j])) acc += std::exp(s[j] - mx) / z * v(a, j, c);
        o(a, i, c) = acc;
      }
    }
  return o;
}

void require_close(const view3& a, const view3& b) {
  for (std::size_t x = 0; x < a.extent(0); ++x)
    for (std::size_t y = 0; y < a.extent(1); ++y)
      for (std::size_t z = 0; z < a.extent(2); ++z) REQUIRE(a(x, y, z) == Approx(b(x, y, z)).margin(1e-12));
}

inline constexpr tl::index<"h"> h;
inline constexpr tl::index<"p"> p;
inline constexpr tl::index<"q"> q;
inline constexpr tl::index<"d"> d;
inline constexpr tl::index<"e"> e;
inline constexpr tl::tensor<"Qt", double, 3> Qt;
inline constexpr tl::tensor<"Kt", double, 3> Kt;
inline constexpr tl::tensor<"Vt", double, 3> Vt;
inline constexpr tl::tensor<"St", double, 3> St;
inline constexpr tl::tensor<"Ot", double, 3> Ot;
inline constexpr tl::scalar<"c", double> c;
}  // namespace

TEST_CASE("fused attention equals naive softmax attention for every mask", "[attention]") {
  const long heads = 2, sq = 9, sk = 9, dim = 4, ev = 3;
  const view3 qv = random_view("q", heads, sq, dim, 1), kv = random_view("k", heads, sk, dim, 2),
              vv = random_view("v", heads, sk, ev, 3);
  struct mask_case {
    tl::attention_mask mask;
    long sink, window;
  };
  for (auto m : {mask_case{tl::attention_mask::none, 0, 0}, mask_case{tl::attention_mask::causal, 0, 0},
                 mask_case{tl::attention_mask::sink_window, 2, 3}, mask_case{tl::attention_mask::sink_window, 0, 1},
                 mask_case{tl::attention_mask::sink_window, 4, 0}}) {
    view3 o = make3("o", heads, sq, ev);
    tl::attention(qv, kv, vv, o, {.mask = m.mask, .sink = m.sink, .window = m.window});
    require_close(o, naive(qv, kv, vv, m.mask, m.sink, m.window));
  }
  // Decoding: 3 queries at the end of 9 keys.
  const view3 q3 = random_view("q3", heads, 3, dim, 4);
  view3 o3 = make3("o3", heads, 3, ev);
  tl::attention(q3, kv, vv, o3, {.mask = tl::attention_mask::sink_window, .sink = 2, .window = 3});
  require_close(o3, naive(q3, kv, vv, tl::attention_mask::sink_window, 2, 3));
}

TEST_CASE("the host's tiled attention across query and key blocks, on both paths, in double and float",
          "[attention]") {
  // 128-row query blocks and 512-key blocks (64 and 256 for a sink + window): lengths that leave partial blocks, a
  // causal diagonal that cuts through a key block, a sink + window whose two key ranges fall in different blocks, and
  // decoding (fewer queries than keys)
  struct shape_case {
    long sq, sk;
    tl::attention_mask mask;
    long sink, window;
  };
  const long heads = 2, dim = 24, ev = 17;
  for (auto c : {shape_case{300, 300, tl::attention_mask::none, 0, 0}, shape_case{300, 300, tl::attention_mask::causal, 0, 0},
                 shape_case{70, 600, tl::attention_mask::causal, 0, 0},
                 shape_case{260, 1100, tl::attention_mask::none, 0, 0},
                 shape_case{260, 1100, tl::attention_mask::causal, 0, 0},
                 shape_case{300, 600, tl::attention_mask::sink_window, 4, 100},
                 shape_case{65, 513, tl::attention_mask::sink_window, 0, 257},
                 shape_case{1, 700, tl::attention_mask::sink_window, 3, 5}}) {
    const view3 qv = random_view("q", heads, c.sq, dim, 11), kv = random_view("k", heads, c.sk, dim, 12),
                vv = random_view("v", heads, c.sk, ev, 13);
    const view3 want = naive(qv, kv, vv, c.mask, c.sink, c.window);
    for (bool vendor : {true, false}) {
      tl::set_vendor_gemm(vendor);
      view3 o = make3("o", heads, c.sq, ev);
      tl::attention(qv, kv, vv, o, {.mask = c.mask, .sink = c.sink, .window = c.window});
      require_close(o, want);
    }
    tl::set_vendor_gemm(true);
    // single precision against the double reference
    using view3f = Kokkos::View<float***, Kokkos::LayoutRight, Kokkos::HostSpace>;
    view3f qf("qf", heads, c.sq, dim), kf("kf", heads, c.sk, dim), vf("vf", heads, c.sk, ev), of("of", heads, c.sq, ev);
    for (std::size_t x = 0; x < qv.size(); ++x) qf.data()[x] = static_cast<float>(qv.data()[x]);
    for (std::size_t x = 0; x < kv.size(); ++x) kf.data()[x] = static_cast<float>(kv.data()[x]);
    for (std::size_t x = 0; x < vv.size(); ++x) vf.data()[x] = static_cast<float>(vv.data()[x]);
    tl::attention(qf, kf, vf, of, {.mask = c.mask, .sink = c.sink, .window = c.window});
    for (std::size_t x = 0; x < of.size(); ++x) REQUIRE(of.data()[x] == Approx(want.data()[x]).margin(2e-5));
  }
}

TEST_CASE("fused attention equals the unfused Tensor Logic program", "[attention]") {
  const long heads = 2, n = 7, dim = 5, ev = 3;
  constexpr auto full = tl::program(St(h, p, q) = tl::softmax(q, tl::sum(d, Qt(h, p, d) * Kt(h, q, d)) * c),
                                    Ot(h, p, e) = St(h, p, q) * Vt(h, q, e));
  constexpr auto causal = tl::program(
      St(h, p, q) = tl::softmax(q, tl::where(q <= p, tl::sum(d, Qt(h, p, d) * Kt(h, q, d)) * c, -1e300)),
      Ot(h, p, e) = St(h, p, q) * Vt(h, q, e));
  const view3 qv = random_view("q", heads, n, dim, 5), kv = random_view("k", heads, n, dim, 6),
              vv = random_view("v", heads, n, ev, 7);
  // the program's two equations are recognized as attention and run fused (S is computed only when read); with the
  // fusion switched off they run as written and compute S
#if TENSORLOGIC_HAVE_KOKKOS_KERNELS
  static_assert(std::string_view(tl::detail::execution_path<1, decltype(full)>()) ==
                "fused attention (online softmax over key tiles)");
  static_assert(std::string_view(tl::detail::execution_path<0, decltype(causal)>()) ==
                "fused attention (scores, not materialized)");
#endif
  auto run = [&](const auto& prog, tl::attention_mask mask) {
    for (bool fuse : {true, false}) {
      INFO("fusion " << fuse);
      tl::set_attention_fusion(fuse);
      tl::store s(prog, tl::extents(h = heads, p = n, q = n, d = dim, e = ev));
      tl::bind(s, Qt, qv);
      tl::bind(s, Kt, kv);
      tl::bind(s, Vt, vv);
      tl::bind(s, c, 1.0 / std::sqrt(static_cast<double>(dim)));
      Kokkos::deep_copy(s[St], -7.0);
      tl::eval(prog, s);
      view3 fused = make3("fused", heads, n, ev);
      tl::attention(qv, kv, vv, fused, {.mask = mask});
      require_close(fused, s[Ot]);
      require_close(naive(qv, kv, vv, mask, 0, 0), s[Ot]);
      // fused: S was not computed by eval, it is computed now, on its first read
      CHECK(s.pending(St) == (fuse && tl::vendor_gemm_available()));
      const auto& scores = s[St];
      CHECK_FALSE(s.pending(St));
      for (long a = 0; a < heads; ++a)
        for (long i = 0; i < n; ++i) {
          double mx = -1e300, sum = 0;
          std::vector<double> z(static_cast<std::size_t>(n));
          for (long j = 0; j < n; ++j) {
            double dot = 0;
            for (long x = 0; x < dim; ++x) dot += qv(a, i, x) * kv(a, j, x);
            z[static_cast<std::size_t>(j)] = dot / std::sqrt(static_cast<double>(dim));
            if (mask == tl::attention_mask::none || j <= i) mx = std::max(mx, z[static_cast<std::size_t>(j)]);
          }
          for (long j = 0; j < n; ++j)
            if (mask == tl::attention_mask::none || j <= i) sum += std::exp(z[static_cast<std::size_t>(j)] - mx);
          for (long j = 0; j < n; ++j) {
            const bool seen = mask == tl::attention_mask::none || j <= i;
            REQUIRE(scores(a, i, j) == Approx(seen ? std::exp(z[static_cast<std::size_t>(j)] - mx) / sum : 0.0).margin(1e-12));
          }
        }
    }
    tl::set_attention_fusion(true);
  };
  run(full, tl::attention_mask::none);
  run(causal, tl::attention_mask::causal);
}

TEST_CASE("fused attention with the batch indices anywhere: nn::attention's layouts", "[attention]") {
  constexpr tl::index<"n"> nb;
  constexpr tl::tensor<"Q4", double, 4> Q4;
  constexpr tl::tensor<"K4", double, 4> K4;
  constexpr tl::tensor<"V4", double, 4> V4;
  constexpr tl::tensor<"S4", double, 4> S4;
  constexpr tl::tensor<"O4", double, 4> O4;
  // Q and K as nn::attention lays them out, V with its batch indices swapped and after q, O with p first
  constexpr auto prog = tl::program(
      S4(nb, h, p, q) = tl::softmax(q, tl::where(q <= p, Q4(nb, p, h, d) * K4(nb, q, h, d) * c, -1e30)),
      O4(p, nb, h, e) = S4(nb, h, p, q) * V4(h, q, nb, e));
  // not attention: d is not Q's last subscript; O drops a batch index (a sum over n)
  constexpr auto d_inside = tl::program(St(h, p, q) = tl::softmax(q, Q4(nb, p, d, h) * K4(nb, q, h, d) * c),
                                        Ot(h, p, e) = St(h, p, q) * Vt(h, q, e));
  constexpr tl::tensor<"O3", double, 3> O3;
  constexpr auto drops_batch = tl::program(S4(nb, h, p, q) = tl::softmax(q, Q4(nb, p, h, d) * K4(nb, q, h, d) * c),
                                           O3(p, h, e) = S4(nb, h, p, q) * V4(h, q, nb, e));
  static_assert(tl::detail::attention_pairs<decltype(d_inside)>::pairs.role[1] == 0);
  static_assert(tl::detail::attention_pairs<decltype(drops_batch)>::pairs.role[1] == 0);
#if TENSORLOGIC_HAVE_KOKKOS_KERNELS
  static_assert(std::string_view(tl::detail::execution_path<1, decltype(prog)>()) ==
                "fused attention (online softmax over key tiles)");
#endif
  const long batch = 2, heads = 3, n = 70, dim = 5, ev = 4;  // 70 queries: two blocks of query rows
  std::mt19937 gen(31);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  auto fill = [&](auto& view) {
    for (std::size_t k = 0; k < view.span(); ++k) view.data()[k] = u(gen);
  };
  for (bool fuse : {true, false}) {
    INFO("fusion " << fuse);
    tl::set_attention_fusion(fuse);
    gen.seed(31);
    tl::store s(prog, tl::extents(nb = batch, h = heads, p = n, q = n, d = dim, e = ev));
    fill(s[Q4]);
    fill(s[K4]);
    fill(s[V4]);
    tl::bind(s, c, 0.7);
    tl::eval(prog, s);
    // fused, S4 is neither computed nor allocated (the store allocates attention scores on first use)
    constexpr std::size_t s4 = static_cast<std::size_t>(decltype(s)::slot_checked<decltype(S4)>());
    static_assert(decltype(s)::on_demand(s4));
    CHECK(s.pending(S4) == (fuse && tl::vendor_gemm_available()));
    CHECK(s.allocated<s4>() == !(fuse && tl::vendor_gemm_available()));
    auto o = s[O4];
    auto qv = s[Q4], kv = s[K4], vv = s[V4];
    double worst = 0;
    for (long b = 0; b < batch; ++b)
      for (long a = 0; a < heads; ++a)
        for (long i = 0; i < n; ++i) {
          std::vector<double> z(static_cast<std::size_t>(i + 1));
          double mx = -1e300, sum = 0;
          for (long j = 0; j <= i; ++j) {
            double dot = 0;
            for (long x = 0; x < dim; ++x) dot += qv(b, i, a, x) * kv(b, j, a, x);
            z[static_cast<std::size_t>(j)] = 0.7 * dot;
            mx = std::max(mx, 0.7 * dot);
          }
          for (double& w : z) sum += w = std::exp(w - mx);
          for (long x = 0; x < ev; ++x) {
            double want = 0;
            for (long j = 0; j <= i; ++j) want += z[static_cast<std::size_t>(j)] / sum * vv(a, j, b, x);
            worst = std::max(worst, std::abs(o(i, b, a, x) - want));
          }
        }
    CHECK(worst < 1e-12);
    // the first read allocates and computes S4: causal rows summing to 1
    const auto& scores = s[S4];
    CHECK(s.allocated<s4>());
    double row_error = 0, hidden = 0;
    for (long b = 0; b < batch; ++b)
      for (long a = 0; a < heads; ++a)
        for (long i = 0; i < n; ++i) {
          double total = 0;
          for (long j = 0; j < n; ++j) (j <= i ? total : hidden) += std::abs(scores(b, a, i, j));
          row_error = std::max(row_error, std::abs(total - 1.0));
        }
    CHECK(row_error < 1e-12);
    CHECK(hidden == 0.0);
  }
  tl::set_attention_fusion(true);
}

TEST_CASE("attention in a program is not fused when S is read elsewhere or the mask is not causal", "[attention]") {
  constexpr tl::tensor<"R", double, 3> R;
  // S read by a second equation; a strict mask (q < p); a fill that does not vanish under exp
  constexpr auto reads_s = tl::program(St(h, p, q) = tl::softmax(q, Qt(h, p, d) * Kt(h, q, d) * c),
                                       Ot(h, p, e) = St(h, p, q) * Vt(h, q, e), R(h, p, q) = St(h, p, q) * 2.0);
  constexpr auto strict = tl::program(
      St(h, p, q) = tl::softmax(q, tl::where(q < p, Qt(h, p, d) * Kt(h, q, d) * c, -1e30)),
      Ot(h, p, e) = St(h, p, q) * Vt(h, q, e));
  constexpr auto soft_fill = tl::program(
      St(h, p, q) = tl::softmax(q, tl::where(q <= p, Qt(h, p, d) * Kt(h, q, d) * c, -1.0)),
      Ot(h, p, e) = St(h, p, q) * Vt(h, q, e));
  static_assert(tl::detail::attention_pairs<decltype(reads_s)>::pairs.role[1] == 0);
  static_assert(tl::detail::attention_pairs<decltype(strict)>::pairs.role[1] == 0);
  static_assert(tl::detail::attention_pairs<decltype(soft_fill)>::pairs.role[1] == 2);  // decided at run time
  const long heads = 2, n = 9, dim = 4, ev = 3;
  const view3 qv = random_view("q", heads, n, dim, 21), kv = random_view("k", heads, n, dim, 22),
              vv = random_view("v", heads, n, ev, 23);
  tl::store s(soft_fill, tl::extents(h = heads, p = n, q = n, d = dim, e = ev));
  tl::bind(s, Qt, qv);
  tl::bind(s, Kt, kv);
  tl::bind(s, Vt, vv);
  tl::bind(s, c, 0.5);
  tl::eval(soft_fill, s);
  // the fill -1 takes part in the softmax: O is S V with S computed as written
  for (long a = 0; a < heads; ++a)
    for (long i = 0; i < n; ++i) {
      std::vector<double> z(static_cast<std::size_t>(n));
      double mx = -1e300, sum = 0;
      for (long j = 0; j < n; ++j) {
        double dot = 0;
        for (long x = 0; x < dim; ++x) dot += qv(a, i, x) * kv(a, j, x);
        z[static_cast<std::size_t>(j)] = j <= i ? 0.5 * dot : -1.0;
        mx = std::max(mx, z[static_cast<std::size_t>(j)]);
      }
      for (long j = 0; j < n; ++j) sum += std::exp(z[static_cast<std::size_t>(j)] - mx);
      for (long x = 0; x < ev; ++x) {
        double want = 0;
        for (long j = 0; j < n; ++j) want += std::exp(z[static_cast<std::size_t>(j)] - mx) / sum * vv(a, j, x);
        REQUIRE(s[Ot](a, i, x) == Approx(want).margin(1e-12));
      }
    }
}

TEST_CASE("attention over a sink + window cache equals masked full attention", "[attention][reasoning]") {
  const long total = 40, dim = 8, ev = 8;
  const std::size_t sink = 4, window = 8;
  const view3 k_all = random_view("k", 1, total, dim, 8), v_all = random_view("v", 1, total, ev, 9);
  const view3 q_all = random_view("q", 1, total, dim, 10);
  tl::reasoning::token_cache<tl::reasoning::sink_window> cache({.sink = sink, .window = window});
  for (long t = 0; t < total; ++t) {
    cache.append();
    const auto kept = cache.kept();
    // the cache as a dense view of its kept rows, the newest token's query over it
    view3 kc = make3("kc", 1, static_cast<long>(kept.size()), dim);
    view3 vc = make3("vc", 1, static_cast<long>(kept.size()), ev);
    for (std::size_t r = 0; r < kept.size(); ++r) {
      for (long x = 0; x < dim; ++x) kc(0, static_cast<long>(r), x) = k_all(0, static_cast<long>(kept[r]), x);
      for (long x = 0; x < ev; ++x) vc(0, static_cast<long>(r), x) = v_all(0, static_cast<long>(kept[r]), x);
    }
    view3 qt = make3("qt", 1, 1, dim);
    view3 cached = make3("cached", 1, 1, ev);
    view3 masked = make3("masked", 1, 1, ev);
    for (long x = 0; x < dim; ++x) qt(0, 0, x) = q_all(0, t, x);
    tl::attention(qt, kc, vc, cached);
    const auto k_prefix = Kokkos::subview(k_all, Kokkos::ALL, std::make_pair(0L, t + 1), Kokkos::ALL);
    const auto v_prefix = Kokkos::subview(v_all, Kokkos::ALL, std::make_pair(0L, t + 1), Kokkos::ALL);
    tl::attention(qt, k_prefix, v_prefix, masked,
                  {.mask = tl::attention_mask::sink_window, .sink = static_cast<long>(sink),
                   .window = static_cast<long>(window)});
    REQUIRE(cache.size() <= sink + window);
    REQUIRE(cached(0, 0, 0) == Approx(masked(0, 0, 0)).margin(1e-12));
    for (long x = 0; x < ev; ++x) REQUIRE(cached(0, 0, x) == Approx(masked(0, 0, x)).margin(1e-12));
  }
}

TEST_CASE("attention rejects mismatched extents and empty masks before running", "[attention]") {
  const view3 qv = random_view("q", 1, 4, 3, 1), kv = random_view("k", 1, 4, 3, 2), vv = random_view("v", 1, 4, 2, 3);
  view3 o = make3("o", 1, 4, 2);
  view3 bad = make3("bad", 1, 4, 3);
  REQUIRE_THROWS_WITH(tl::attention(qv, kv, vv, bad), Catch::Matchers::Contains("attention: O is 4x3, expected 4x2"));
  const view3 k5 = random_view("k5", 1, 4, 5, 4);
  REQUIRE_THROWS_WITH(tl::attention(qv, k5, vv, o), Catch::Matchers::Contains("Q has dimension 3 but K has 5"));
  REQUIRE_THROWS_WITH(tl::attention(qv, kv, vv, o, {.mask = tl::attention_mask::sink_window}),
                      Catch::Matchers::Contains("sink + window > 0"));
  const view3 q6 = random_view("q6", 1, 6, 3, 5);
  view3 o6 = make3("o6", 1, 6, 2);
  REQUIRE_THROWS_WITH(tl::attention(q6, kv, vv, o6, {.mask = tl::attention_mask::causal}),
                      Catch::Matchers::Contains("6 queries but only 4 keys"));
}
