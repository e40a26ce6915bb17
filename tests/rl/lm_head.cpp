// The fused FP32 LM-head log-probability against an unfused reference in double (all logits materialized, log-
// softmax, analytic gradients, and a finite-difference check of that reference), for float, half_t and double
// storage, chunks that do and do not divide the vocabulary, both GEMM paths; and its input checks.
#include <catch2/catch.hpp>
#include <cmath>
#include <random>
#include <tensorlogic/rl/lm_head.hpp>
#include <vector>

namespace tl = tensorlogic;

namespace {
struct reference {
  std::vector<double> logp, dh, dw, entropy;
};

// Unfused, in double: logits, log-softmax, the entropy H[n] = -sum_v p log p, and the gradients of
// L = sum_n g[n] logp[n] + ge[n] H[n] (ge empty: no entropy term).
reference unfused(const std::vector<double>& h, const std::vector<double>& w, const std::vector<int>& tok,
                  const std::vector<double>& g, long n, long d, long v, const std::vector<double>& ge = {}) {
  reference r{std::vector<double>(n), std::vector<double>(n * d, 0.0), std::vector<double>(v * d, 0.0),
              std::vector<double>(n, 0.0)};
  std::vector<double> z(n * v);
  for (long a = 0; a < n; ++a)
    for (long b = 0; b < v; ++b) {
      double s = 0;
      for (long c = 0; c < d; ++c) s += h[a * d + c] * w[b * d + c];
      z[a * v + b] = s;
    }
  for (long a = 0; a < n; ++a) {
    double mx = -1e300, sum = 0;
    for (long b = 0; b < v; ++b) mx = std::max(mx, z[a * v + b]);
    for (long b = 0; b < v; ++b) sum += std::exp(z[a * v + b] - mx);
    const double lse = mx + std::log(sum);
    r.logp[a] = z[a * v + tok[a]] - lse;
    for (long b = 0; b < v; ++b) {
      const double lp = z[a * v + b] - lse;
      r.entropy[a] -= std::exp(lp) * lp;
    }
    for (long b = 0; b < v; ++b) {
      const double lp = z[a * v + b] - lse, p = std::exp(lp);
      // dH/dz_b = -p_b (log p_b + H)
      const double dz = g[a] * ((b == tok[a] ? 1.0 : 0.0) - p) + (ge.empty() ? 0.0 : -ge[a] * p * (lp + r.entropy[a]));
      for (long c = 0; c < d; ++c) {
        r.dh[a * d + c] += dz * w[b * d + c];
        r.dw[b * d + c] += dz * h[a * d + c];
      }
    }
  }
  return r;
}

template <class S>
void check_storage(long n, long d, long v, std::size_t chunk, bool vendor) {
  std::mt19937_64 gen(7);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<double> h(n * d), w(v * d), g(n);
  std::vector<int> tok(n);
  // Round the inputs through the storage type so the reference sees exactly what the kernel reads.
  for (auto& x : h) x = static_cast<double>(static_cast<float>(static_cast<S>(u(gen))));
  for (auto& x : w) x = static_cast<double>(static_cast<float>(static_cast<S>(u(gen))));
  for (auto& x : g) x = u(gen);
  for (auto& t : tok) t = static_cast<int>(gen() % static_cast<std::uint64_t>(v));
  Kokkos::View<S**, Kokkos::LayoutRight> hv("h", n, d), wv("w", v, d);
  Kokkos::View<int*> tv("tok", n);
  Kokkos::View<float*> logp("logp", n), lse("lse", n), gv("g", n);
  Kokkos::View<float**, Kokkos::LayoutRight> dh("dh", n, d), dw("dw", v, d);
  for (long a = 0; a < n; ++a) {
    tv(a) = tok[a];
    gv(a) = static_cast<float>(g[a]);
    for (long c = 0; c < d; ++c) hv(a, c) = static_cast<S>(h[a * d + c]);
  }
  for (long b = 0; b < v; ++b)
    for (long c = 0; c < d; ++c) wv(b, c) = static_cast<S>(w[b * d + c]);
  for (auto& x : g) x = static_cast<double>(static_cast<float>(x));
  tl::set_vendor_gemm(vendor);
  tl::rl::lm_head_logprob(hv, wv, tv, logp, lse, {.chunk = chunk});
  tl::rl::lm_head_logprob_backward(hv, wv, tv, lse, gv, dh, dw, {.chunk = chunk});
  tl::set_vendor_gemm(true);
  const reference r = unfused(h, w, tok, g, n, d, v);
  for (long a = 0; a < n; ++a) REQUIRE(logp(a) == Approx(r.logp[a]).margin(2e-5));
  for (long k = 0; k < n * d; ++k) REQUIRE(dh.data()[k] == Approx(r.dh[k]).margin(2e-5));
  for (long k = 0; k < v * d; ++k) REQUIRE(dw.data()[k] == Approx(r.dw[k]).margin(2e-5));
  // with the entropy and its own upstream gradient
  std::vector<double> ge(n);
  for (auto& x : ge) x = static_cast<double>(static_cast<float>(u(gen)));
  Kokkos::View<float*> ent("entropy", n), gev("ge", n), logp2("logp2", n), lse2("lse2", n);
  for (long a = 0; a < n; ++a) gev(a) = static_cast<float>(ge[a]);
  tl::set_vendor_gemm(vendor);
  tl::rl::lm_head_logprob_entropy(hv, wv, tv, logp2, lse2, ent, {.chunk = chunk});
  tl::rl::lm_head_logprob_entropy_backward(hv, wv, tv, lse2, ent, gv, gev, dh, dw, {.chunk = chunk});
  tl::set_vendor_gemm(true);
  const reference re = unfused(h, w, tok, g, n, d, v, ge);
  for (long a = 0; a < n; ++a) {
    REQUIRE(logp2(a) == logp(a));
    REQUIRE(lse2(a) == lse(a));
    REQUIRE(ent(a) == Approx(re.entropy[a]).margin(2e-5));
  }
  for (long k = 0; k < n * d; ++k) REQUIRE(dh.data()[k] == Approx(re.dh[k]).margin(3e-5));
  for (long k = 0; k < v * d; ++k) REQUIRE(dw.data()[k] == Approx(re.dw[k]).margin(3e-5));
}
}  // namespace

TEST_CASE("the unfused double reference's gradients agree with finite differences", "[rl][lm_head]") {
  const long n = 3, d = 4, v = 6;
  std::mt19937_64 gen(3);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<double> h(n * d), w(v * d), g(n);
  for (auto& x : h) x = u(gen);
  for (auto& x : w) x = u(gen);
  for (auto& x : g) x = u(gen);
  const std::vector<int> tok = {1, 5, 0};
  std::vector<double> ge(n);
  for (auto& x : ge) x = u(gen);
  // the entropy term included: L = sum g logp + ge H
  const reference r = unfused(h, w, tok, g, n, d, v, ge);
  auto loss = [&](const std::vector<double>& hh, const std::vector<double>& ww) {
    const reference q = unfused(hh, ww, tok, g, n, d, v, ge);
    double s = 0;
    for (long a = 0; a < n; ++a) s += g[a] * q.logp[a] + ge[a] * q.entropy[a];
    return s;
  };
  // the entropy itself against -sum p log p of a hand-computed uniform row: W = 0 gives log v
  {
    const std::vector<double> w0(v * d, 0.0);
    const reference q = unfused(h, w0, tok, g, n, d, v);
    for (long a = 0; a < n; ++a) CHECK(q.entropy[a] == Approx(std::log(double(v))).epsilon(1e-14));
  }
  const double eps = 1e-6;
  for (long k = 0; k < n * d; ++k) {
    auto hp = h, hm = h;
    hp[k] += eps;
    hm[k] -= eps;
    CHECK((loss(hp, w) - loss(hm, w)) / (2 * eps) == Approx(r.dh[k]).margin(1e-8));
  }
  for (long k = 0; k < v * d; ++k) {
    auto wp = w, wm = w;
    wp[k] += eps;
    wm[k] -= eps;
    CHECK((loss(h, wp) - loss(h, wm)) / (2 * eps) == Approx(r.dw[k]).margin(1e-8));
  }
}

TEST_CASE("fused LM-head log-probabilities and gradients equal the unfused reference", "[rl][lm_head]") {
  for (bool vendor : {true, false}) {
    check_storage<float>(13, 8, 37, 5, vendor);    // chunks of 5 over 37: the last is partial
    check_storage<float>(6, 16, 40, 8, vendor);    // chunks divide the vocabulary
    check_storage<float>(4, 8, 9, 100, vendor);    // one chunk larger than the vocabulary
    check_storage<float>(7, 32, 200, 48, vendor);  // chunks of whole 16-lane blocks, the last of 8 logits
    check_storage<float>(5, 16, 111, 37, vendor);  // two 16-lane blocks and a tail in each chunk
    check_storage<double>(5, 8, 21, 4, vendor);
    check_storage<Kokkos::Experimental::half_t>(5, 8, 21, 6, vendor);
#if KOKKOS_VERSION >= 40000
    check_storage<Kokkos::Experimental::bhalf_t>(5, 8, 21, 6, vendor);  // bf16: Kokkos 4 and later
#endif
  }
}

TEST_CASE("lm_head rejects bad inputs before running", "[rl][lm_head]") {
  {
    Kokkos::View<float**, Kokkos::LayoutRight> h("h", 3, 4), w("w", 5, 4);
    Kokkos::View<int*> tok("tok", 3);
    Kokkos::View<float*> logp("logp", 3), lse("lse", 3), ent("ent", 2);
    REQUIRE_THROWS_WITH(tl::rl::lm_head_logprob_entropy(h, w, tok, logp, lse, ent),
                        Catch::Matchers::Contains("lm_head: the entropy holds 2 values for 3 hidden states"));
  }
  Kokkos::View<float**, Kokkos::LayoutRight> h("h", 2, 4), w("w", 5, 4), w3("w3", 5, 3);
  Kokkos::View<int*> tok("tok", 2), tok3("tok3", 3);
  Kokkos::View<float*> logp("logp", 2), lse("lse", 2);
  tok(1) = 5;
  REQUIRE_THROWS_WITH(tl::rl::lm_head_logprob(h, w, tok, logp, lse),
                      Catch::Matchers::Contains("token 5 at position 1 is outside the vocabulary of 5"));
  tok(1) = 0;
  REQUIRE_THROWS_WITH(tl::rl::lm_head_logprob(h, w3, tok, logp, lse),
                      Catch::Matchers::Contains("H has width 4 but W has 3"));
  REQUIRE_THROWS_WITH(tl::rl::lm_head_logprob(h, w, tok3, logp, lse),
                      Catch::Matchers::Contains("3 tokens for 2 hidden states"));
  REQUIRE_THROWS_WITH(tl::rl::lm_head_logprob(h, w, tok, logp, lse, {.chunk = 0}),
                      Catch::Matchers::Contains("chunk must be at least 1"));
}
