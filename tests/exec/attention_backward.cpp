// The fused attention backward pass (tl::attention_backward) against the adjoints written out over the materialized
// probability matrix, and against central finite differences of L = sum O * G; for every mask, lengths that leave
// partial query and key blocks, decoding (fewer queries than keys), both kernels (the host's BLAS tiles and the
// per-row functors), with the forward pass's statistics and without, in double and float, and LayoutLeft views.
// Also the forward pass's log-sum-exp output and the checks made before any kernel runs.
#include <catch2/catch.hpp>
#include <cmath>
#include <random>
#include <string>
#include <tensorlogic/exec/attention_backward.hpp>
#include <vector>

namespace tl = tensorlogic;

namespace {
using view3 = Kokkos::View<double***, Kokkos::LayoutRight, Kokkos::HostSpace>;
using view2 = Kokkos::View<double**, Kokkos::LayoutRight, Kokkos::HostSpace>;

view3 make3(const char* name, long a, long b, long c) {
  return view3(std::string(name), static_cast<std::size_t>(a), static_cast<std::size_t>(b),
               static_cast<std::size_t>(c));
}

view3 random_view(const char* name, long a, long b, long c, std::uint64_t seed) {
  view3 v = make3(name, a, b, c);
  std::mt19937_64 g(seed);
  std::uniform_real_distribution<double> d(-1.0, 1.0);
  for (std::size_t x = 0; x < v.size(); ++x) v.data()[x] = d(g);
  return v;
}

bool visible(tl::attention_mask mask, long i, long j, long sq, long sk, long sink, long window) {
  const long pos = i + sk - sq;
  if (mask == tl::attention_mask::none) return true;
  if (j > pos) return false;
  if (mask == tl::attention_mask::causal) return true;
  return j < sink || pos - j < window;
}

struct mask_case {
  tl::attention_mask mask;
  long sink = 0, window = 0;
  tl::attention_options options() const { return {.mask = mask, .sink = sink, .window = window}; }
};

// The reference: P materialized row by row (two passes, no online softmax), O = P V, lse, and the adjoints
// dV = P^T dO, dP = dO V^T, dS = P (dP - rowsum(P dP)), dQ = c dS K, dK = c dS^T Q.
struct reference {
  view3 o, dq, dk, dv;
  view2 lse;
};

reference naive(const view3& q, const view3& k, const view3& v, const view3& g, const mask_case& m) {
  const long heads = q.extent(0), sq = q.extent(1), sk = k.extent(1), d = q.extent(2), e = v.extent(2);
  const double c = 1.0 / std::sqrt(static_cast<double>(d));
  reference r{make3("o", heads, sq, e), make3("dq", heads, sq, d), make3("dk", heads, sk, d), make3("dv", heads, sk, e),
              view2("lse", heads, sq)};
  std::vector<double> P(static_cast<std::size_t>(sq * sk)), dP(P.size());
  for (long h = 0; h < heads; ++h) {
    for (long i = 0; i < sq; ++i) {
      double mx = -INFINITY;
      std::vector<double> s(static_cast<std::size_t>(sk), -INFINITY);
      for (long j = 0; j < sk; ++j) {
        if (!visible(m.mask, i, j, sq, sk, m.sink, m.window)) continue;
        double dot = 0;
        for (long x = 0; x < d; ++x) dot += q(h, i, x) * k(h, j, x);
        s[static_cast<std::size_t>(j)] = c * dot;
        mx = std::max(mx, c * dot);
      }
      double z = 0;
      for (long j = 0; j < sk; ++j) {
        const double x = s[static_cast<std::size_t>(j)];
        z += std::isinf(x) ? 0.0 : std::exp(x - mx);
      }
      r.lse(h, i) = mx + std::log(z);
      for (long j = 0; j < sk; ++j) {
        const double x = s[static_cast<std::size_t>(j)];
        P[static_cast<std::size_t>(i * sk + j)] = std::isinf(x) ? 0.0 : std::exp(x - mx) / z;
      }
    }
    for (long i = 0; i < sq; ++i)
      for (long x = 0; x < e; ++x) {
        double acc = 0;
        for (long j = 0; j < sk; ++j) acc += P[static_cast<std::size_t>(i * sk + j)] * v(h, j, x);
        r.o(h, i, x) = acc;
      }
    for (long i = 0; i < sq; ++i) {
      double row = 0;
      for (long j = 0; j < sk; ++j) {
        double acc = 0;
        for (long x = 0; x < e; ++x) acc += g(h, i, x) * v(h, j, x);
        dP[static_cast<std::size_t>(i * sk + j)] = acc;
        row += acc * P[static_cast<std::size_t>(i * sk + j)];
      }
      for (long j = 0; j < sk; ++j) {
        const auto at = static_cast<std::size_t>(i * sk + j);
        dP[at] = P[at] * (dP[at] - row);  // now dS
      }
    }
    for (long j = 0; j < sk; ++j) {
      for (long x = 0; x < e; ++x) {
        double acc = 0;
        for (long i = 0; i < sq; ++i) acc += P[static_cast<std::size_t>(i * sk + j)] * g(h, i, x);
        r.dv(h, j, x) = acc;
      }
      for (long x = 0; x < d; ++x) {
        double acc = 0;
        for (long i = 0; i < sq; ++i) acc += dP[static_cast<std::size_t>(i * sk + j)] * q(h, i, x);
        r.dk(h, j, x) = c * acc;
      }
    }
    for (long i = 0; i < sq; ++i)
      for (long x = 0; x < d; ++x) {
        double acc = 0;
        for (long j = 0; j < sk; ++j) acc += dP[static_cast<std::size_t>(i * sk + j)] * k(h, j, x);
        r.dq(h, i, x) = c * acc;
      }
  }
  return r;
}

template <class A, class B>
void require_close(const A& a, const B& b, double margin) {
  REQUIRE(a.extent(0) == b.extent(0));
  REQUIRE(a.extent(1) == b.extent(1));
  for (std::size_t x = 0; x < a.extent(0); ++x)
    for (std::size_t y = 0; y < a.extent(1); ++y) {
      if constexpr (A::rank == 3) {
        for (std::size_t z = 0; z < a.extent(2); ++z) REQUIRE(a(x, y, z) == Approx(b(x, y, z)).margin(margin));
      } else {
        REQUIRE(a(x, y) == Approx(b(x, y)).margin(margin));
      }
    }
}

template <class F, class View>
F convert(const View& v) {
  F out(std::string(v.label()) + "f", v.extent(0), v.extent(1), v.extent(2));
  for (std::size_t x = 0; x < v.extent(0); ++x)
    for (std::size_t y = 0; y < v.extent(1); ++y)
      for (std::size_t z = 0; z < v.extent(2); ++z) out(x, y, z) = static_cast<typename F::value_type>(v(x, y, z));
  return out;
}

struct shape_case {
  long heads, sq, sk, d, e;
  mask_case mask;
};
}  // namespace

TEST_CASE("fused attention backward equals the adjoints over the materialized probabilities", "[attention]") {
  // 128-query and 256-key blocks on the host's tiled path: partial blocks, a causal diagonal through a key block,
  // sink and window ranges in different blocks, a window of 0 (sink only), decoding, and a single key
  for (const auto& c :
       {shape_case{2, 9, 9, 4, 3, {tl::attention_mask::none}}, shape_case{2, 9, 9, 4, 3, {tl::attention_mask::causal}},
        shape_case{2, 9, 9, 4, 3, {tl::attention_mask::sink_window, 2, 3}},
        shape_case{1, 300, 300, 24, 17, {tl::attention_mask::causal}},
        shape_case{2, 70, 600, 16, 8, {tl::attention_mask::causal}},
        shape_case{1, 260, 530, 8, 12, {tl::attention_mask::none}},
        shape_case{2, 300, 600, 8, 5, {tl::attention_mask::sink_window, 4, 100}},
        shape_case{1, 65, 513, 6, 6, {tl::attention_mask::sink_window, 0, 257}},
        shape_case{1, 140, 140, 5, 4, {tl::attention_mask::sink_window, 3, 0}},
        shape_case{1, 1, 700, 8, 8, {tl::attention_mask::sink_window, 3, 5}},
        shape_case{3, 1, 1, 4, 2, {tl::attention_mask::causal}}}) {
    INFO("heads " << c.heads << ", " << c.sq << " queries, " << c.sk << " keys, mask "
                  << static_cast<int>(c.mask.mask) << " (" << c.mask.sink << ", " << c.mask.window << ")");
    const view3 q = random_view("q", c.heads, c.sq, c.d, 1), k = random_view("k", c.heads, c.sk, c.d, 2),
                v = random_view("v", c.heads, c.sk, c.e, 3), g = random_view("g", c.heads, c.sq, c.e, 4);
    const reference want = naive(q, k, v, g, c.mask);
    for (bool vendor : {true, false}) {
      INFO("vendor BLAS path " << vendor);
      tl::set_vendor_gemm(vendor);
      // the forward pass with its statistics
      view3 o = make3("o", c.heads, c.sq, c.e);
      view2 lse("lse", c.heads, c.sq);
      tl::attention(q, k, v, o, lse, c.mask.options());
      require_close(o, want.o, 1e-12);
      require_close(lse, want.lse, 1e-12);
      for (bool given : {true, false}) {
        INFO("statistics given " << given);
        view3 dq = make3("dq", c.heads, c.sq, c.d), dk = make3("dk", c.heads, c.sk, c.d),
              dv = make3("dv", c.heads, c.sk, c.e);
        Kokkos::deep_copy(dq, 7.0);  // every cell is written
        Kokkos::deep_copy(dk, 7.0);
        Kokkos::deep_copy(dv, 7.0);
        if (given)
          tl::attention_backward(q, k, v, o, lse, g, dq, dk, dv, c.mask.options());
        else
          tl::attention_backward(q, k, v, o, g, dq, dk, dv, c.mask.options());
        require_close(dq, want.dq, 1e-11);
        require_close(dk, want.dk, 1e-11);
        require_close(dv, want.dv, 1e-11);
      }
    }
    tl::set_vendor_gemm(true);
    // single precision (both paths) against the double reference
    using view3f = Kokkos::View<float***, Kokkos::LayoutRight, Kokkos::HostSpace>;
    const auto qf = convert<view3f>(q), kf = convert<view3f>(k), vf = convert<view3f>(v), gf = convert<view3f>(g);
    for (bool vendor : {true, false}) {
      tl::set_vendor_gemm(vendor);
      view3f of("of", c.heads, c.sq, c.e), dq("dqf", c.heads, c.sq, c.d), dk("dkf", c.heads, c.sk, c.d),
          dv("dvf", c.heads, c.sk, c.e);
      Kokkos::View<float**, Kokkos::LayoutRight, Kokkos::HostSpace> lse("lsef", c.heads, c.sq);
      tl::attention(qf, kf, vf, of, lse, c.mask.options());
      tl::attention_backward(qf, kf, vf, of, lse, gf, dq, dk, dv, c.mask.options());
      require_close(dq, want.dq, 2e-5);
      require_close(dk, want.dk, 2e-5);
      require_close(dv, want.dv, 2e-5);
    }
    tl::set_vendor_gemm(true);
  }
}

TEST_CASE("fused attention backward on LayoutLeft views takes the per-row kernels", "[attention]") {
  using left3 = Kokkos::View<double***, Kokkos::LayoutLeft, Kokkos::HostSpace>;
  const mask_case m{tl::attention_mask::sink_window, 2, 4};
  const view3 q = random_view("q", 2, 11, 5, 5), k = random_view("k", 2, 13, 5, 6), v = random_view("v", 2, 13, 3, 7),
              g = random_view("g", 2, 11, 3, 8);
  const reference want = naive(q, k, v, g, m);
  const auto ql = convert<left3>(q), kl = convert<left3>(k), vl = convert<left3>(v), gl = convert<left3>(g);
  left3 o("o", 2, 11, 3), dq("dq", 2, 11, 5), dk("dk", 2, 13, 5), dv("dv", 2, 13, 3);
  tl::attention(ql, kl, vl, o, m.options());
  require_close(o, want.o, 1e-12);
  tl::attention_backward(ql, kl, vl, o, gl, dq, dk, dv, m.options());
  require_close(dq, want.dq, 1e-11);
  require_close(dk, want.dk, 1e-11);
  require_close(dv, want.dv, 1e-11);
}

TEST_CASE("fused attention backward matches central finite differences of sum(O * G)", "[attention]") {
  const long heads = 2, sq = 6, sk = 8, dim = 3, ev = 2;
  const mask_case m{tl::attention_mask::causal};
  view3 q = random_view("q", heads, sq, dim, 21), k = random_view("k", heads, sk, dim, 22),
        v = random_view("v", heads, sk, ev, 23);
  const view3 g = random_view("g", heads, sq, ev, 24);
  auto loss = [&] {
    view3 o = make3("o", heads, sq, ev);
    tl::attention(q, k, v, o, m.options());
    double sum = 0;
    for (std::size_t x = 0; x < o.size(); ++x) sum += o.data()[x] * g.data()[x];
    return sum;
  };
  view3 o = make3("o", heads, sq, ev), dq = make3("dq", heads, sq, dim), dk = make3("dk", heads, sk, dim),
        dv = make3("dv", heads, sk, ev);
  tl::attention(q, k, v, o, m.options());
  tl::attention_backward(q, k, v, o, g, dq, dk, dv, m.options());
  auto check = [&](view3& x, const view3& grad) {
    for (std::size_t at = 0; at < x.size(); ++at) {
      const double keep = x.data()[at], step = 1e-5;
      x.data()[at] = keep + step;
      const double up = loss();
      x.data()[at] = keep - step;
      const double down = loss();
      x.data()[at] = keep;
      REQUIRE(grad.data()[at] == Approx((up - down) / (2 * step)).margin(1e-8));
    }
  };
  check(q, dq);
  check(k, dk);
  check(v, dv);
  // the last key is seen by the last query only (causal, as many keys as positions): its adjoint is not zero
  REQUIRE(std::abs(dv(0, sk - 1, 0)) > 0.0);
}

TEST_CASE("fused attention backward rejects mismatched adjoints and statistics before running", "[attention]") {
  const view3 q = random_view("q", 1, 4, 3, 1), k = random_view("k", 1, 5, 3, 2), v = random_view("v", 1, 5, 2, 3);
  view3 o = make3("o", 1, 4, 2), g = random_view("g", 1, 4, 2, 4);
  view3 dq = make3("dq", 1, 4, 3), dk = make3("dk", 1, 5, 3), dv = make3("dv", 1, 5, 2);
  tl::attention(q, k, v, o);
  view3 bad = make3("bad", 1, 4, 3);
  REQUIRE_THROWS_WITH(tl::attention_backward(q, k, v, o, bad, dq, dk, dv),
                      Catch::Matchers::Contains("attention_backward: dO is 1x4x3, expected the shape of O 1x4x2"));
  REQUIRE_THROWS_WITH(tl::attention_backward(q, k, v, o, g, dq, dq, dv),
                      Catch::Matchers::Contains("attention_backward: dK is 1x4x3, expected the shape of K 1x5x3"));
  view2 lse("lse", 1, 5);
  REQUIRE_THROWS_WITH(tl::attention_backward(q, k, v, o, lse, g, dq, dk, dv),
                      Catch::Matchers::Contains("attention: lse is 1x5, expected 1x4 (heads x queries)"));
  REQUIRE_THROWS_WITH(tl::attention(q, k, v, o, lse), Catch::Matchers::Contains("lse is 1x5, expected 1x4"));
  // nothing was written
  for (std::size_t x = 0; x < dq.size(); ++x) REQUIRE(dq.data()[x] == 0.0);
  const view3 q6 = random_view("q6", 1, 6, 3, 5);
  view3 o6 = make3("o6", 1, 6, 2), g6 = make3("g6", 1, 6, 2), dq6 = make3("dq6", 1, 6, 3);
  REQUIRE_THROWS_WITH(tl::attention_backward(q6, k, v, o6, g6, dq6, dk, dv, {.mask = tl::attention_mask::causal}),
                      Catch::Matchers::Contains("6 queries but only 5 keys"));
}
