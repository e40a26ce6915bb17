// The fused FP32 LM-head log-probability (tl::rl::lm_head_logprob, chunks of the vocabulary with an online
// logsumexp) against the unfused program that materializes the n x v logits — Z(n,v) = H(n,d) W(v,d) (vendor GEMM),
// LSE(n) = logsumexp(v, Z(n,v)), logp(n) = Z(n,v) Tok(n,v) - LSE(n) with Tok a one-hot relation — at n = 4096
// tokens, d = 512, v = 32000, fp32. Reports time and the bytes each allocates beyond H and W. The fused backward
// (dH and dW) is timed too.
//
//   bench_lm_head
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <tensorlogic/rl/lm_head.hpp>
#include <tensorlogic/tensorlogic.hpp>

namespace tl = tensorlogic;

namespace {
constexpr long n_tokens = 4096, width = 512, vocab = 32000;
inline constexpr tl::index<"n"> n;
inline constexpr tl::index<"d"> d;
inline constexpr tl::index<"v"> v;
inline constexpr tl::tensor<"H", float, 2> H;
inline constexpr tl::tensor<"W", float, 2> W;
inline constexpr tl::tensor<"Z", float, 2> Z;
inline constexpr tl::tensor<"LSE", float, 1> LSE;
inline constexpr tl::tensor<"logp", float, 1> logp;
inline constexpr tl::relation<"Tok", 2> Tok;
constexpr auto unfused = tl::program(Z(n, v) = H(n, d) * W(v, d), LSE(n) = tl::logsumexp(v, Z(n, v)),
                                     logp(n) = Z(n, v) * Tok(n, v) - LSE(n));

using mat = Kokkos::View<float**, Kokkos::LayoutRight>;
mat random_matrix(const char* name, long rows, long cols, std::uint64_t seed) {
  mat m(std::string(name), rows, cols);
  auto h = Kokkos::create_mirror_view(m);
  std::mt19937_64 g(seed);
  std::uniform_real_distribution<float> u(-0.05f, 0.05f);
  for (std::size_t k = 0; k < h.size(); ++k) h.data()[k] = u(g);
  Kokkos::deep_copy(m, h);
  return m;
}
Kokkos::View<int*> random_tokens() {
  Kokkos::View<int*> t("tok", n_tokens);
  std::mt19937_64 g(3);
  for (long k = 0; k < n_tokens; ++k) t(k) = static_cast<int>(g() % vocab);
  return t;
}

void fused_forward(benchmark::State& state) {
  const mat h = random_matrix("H", n_tokens, width, 1), w = random_matrix("W", vocab, width, 2);
  const auto tok = random_tokens();
  Kokkos::View<float*> out("logp", n_tokens), lse("lse", n_tokens);
  for (auto _ : state) {
    tl::rl::lm_head_logprob(h, w, tok, out, lse);
    Kokkos::fence();
  }
  const double chunk = static_cast<double>(tl::rl::lm_head_options{}.chunk);
  state.counters["extra_MB"] = (n_tokens * width + chunk * width + n_tokens * chunk + 5.0 * n_tokens) * 4 / 1e6;
}

void fused_backward(benchmark::State& state) {
  const mat h = random_matrix("H", n_tokens, width, 1), w = random_matrix("W", vocab, width, 2);
  const auto tok = random_tokens();
  Kokkos::View<float*> out("logp", n_tokens), lse("lse", n_tokens), g("g", n_tokens);
  Kokkos::deep_copy(g, 1.0f);
  mat dh("dH", n_tokens, width), dw("dW", vocab, width);
  tl::rl::lm_head_logprob(h, w, tok, out, lse);
  for (auto _ : state) {
    tl::rl::lm_head_logprob_backward(h, w, tok, lse, g, dh, dw);
    Kokkos::fence();
  }
}

void unfused_forward(benchmark::State& state) {
  tl::store s(unfused, tl::extents(n = n_tokens, d = width, v = vocab));
  tl::bind(s, H, random_matrix("H", n_tokens, width, 1));
  tl::bind(s, W, random_matrix("W", vocab, width, 2));
  const auto tok = random_tokens();
  Kokkos::View<std::uint8_t**, Kokkos::LayoutRight> onehot("Tok", n_tokens, vocab);
  for (long k = 0; k < n_tokens; ++k) onehot(k, tok(k)) = 1;
  tl::bind(s, Tok, onehot);
  for (auto _ : state) {
    tl::eval(unfused, s);
    Kokkos::fence();
  }
  state.counters["extra_MB"] = (static_cast<double>(n_tokens) * vocab * (4 + 1) + 2.0 * n_tokens * 4) / 1e6;
}
}  // namespace

int main(int argc, char** argv) {
  Kokkos::ScopeGuard guard(argc, argv);
  benchmark::RegisterBenchmark("lm_head/fused_forward", fused_forward)->Unit(benchmark::kMillisecond)->Iterations(2);
  benchmark::RegisterBenchmark("lm_head/unfused_forward", unfused_forward)->Unit(benchmark::kMillisecond)->Iterations(2);
  benchmark::RegisterBenchmark("lm_head/fused_backward", fused_backward)->Unit(benchmark::kMillisecond)->Iterations(1);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
