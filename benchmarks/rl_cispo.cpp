// CISPO forward and backward (tl::rl, prompt average, given advantages) over 64 prompts x 16 completions x 1024
// tokens (1,048,576 tokens), against a STREAM-triad loop a[i] = b[i] + s c[i] over the same bytes in this binary.
// The bytes counted are the ones a fused kernel cannot avoid: reading logp, logp_old and mask and writing
// grad(logp), 32 bytes a token. Counters: bytes_per_second for each; for CISPO also triad_bytes_per_second and
// fraction_of_triad, the best of 5 evaluations' rate over the best of 10 triads' (both timed in this process).
//
//   bench_rl_cispo
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <random>
#include <tensorlogic/rl/objectives.hpp>
#include <tensorlogic/tensorlogic.hpp>
#include <vector>

namespace tl = tensorlogic;
namespace rl = tensorlogic::rl;

namespace {
constexpr std::size_t prompts = 64, completions = 16, tokens = 1024;
constexpr std::size_t cells = prompts * completions * tokens;
constexpr double bytes_per_token = 4 * sizeof(double);

constexpr auto cispo = rl::objective<rl::loss_kind::cispo, rl::aggregation::prompt_average, rl::advantage_norm::given>();
constexpr auto cispo_train = tl::gradient(cispo, rl::loss, tl::wrt(rl::logp));

// The best of 10 triads over arrays that together hold `bytes`, in bytes per second.
double triad_rate(double bytes) {
  const std::size_t n = static_cast<std::size_t>(bytes / (3 * sizeof(double)));
  std::vector<double> a(n, 0.0), b(n, 1.0), c(n, 2.0);
  double best = 1e300;
  for (int rep = 0; rep < 10; ++rep) {
    const auto start = std::chrono::steady_clock::now();
    const double s = 0.5 + rep;
    for (std::size_t i = 0; i < n; ++i) a[i] = b[i] + s * c[i];
    benchmark::DoNotOptimize(a.data());
    benchmark::ClobberMemory();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return static_cast<double>(3 * n * sizeof(double)) / best;
}

void BM_triad(benchmark::State& state) {
  const std::size_t n = static_cast<std::size_t>(cells * bytes_per_token / (3 * sizeof(double)));
  std::vector<double> a(n, 0.0), b(n, 1.0), c(n, 2.0);
  for (auto _ : state) {
    for (std::size_t i = 0; i < n; ++i) a[i] = b[i] + 3.0 * c[i];
    benchmark::DoNotOptimize(a.data());
    benchmark::ClobberMemory();
  }
  state.counters["bytes_per_second"] =
      benchmark::Counter(static_cast<double>(3 * n * sizeof(double)), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_cispo_forward_backward(benchmark::State& state) {
  tl::store s(cispo_train, tl::extents(rl::p = prompts, rl::g = completions, rl::t = tokens));
  std::mt19937 gen(1);
  std::uniform_real_distribution<double> lp(-3.0, -0.05), d(-0.5, 0.5), a(-1.5, 1.5);
  std::uniform_int_distribution<std::size_t> len(tokens / 4, tokens);
  auto logp = s[rl::logp];
  auto logp_old = s[rl::logp_old];
  auto mask = s[rl::mask];
  auto adv = s[rl::advantage];
  for (std::size_t i = 0; i < prompts * completions; ++i) {
    adv.data()[i] = a(gen);
    const std::size_t l = len(gen);
    for (std::size_t c = 0; c < tokens; ++c) {
      const std::size_t k = i * tokens + c;
      logp.data()[k] = lp(gen);
      logp_old.data()[k] = std::min(logp.data()[k] + d(gen), -0.01);
      mask.data()[k] = c < l ? 1.0 : 0.0;
    }
  }
  rl::bind_hyperparameters(s, {.eps_max = 4.0});
  rl::check_batch(s);
  for (auto _ : state) {
    tl::eval(cispo_train, s);
    benchmark::DoNotOptimize(s[tl::grad(rl::logp)].data());
  }
  // the ratio, from the best of 5 timed evaluations against the best of 10 triads over the same bytes
  const double bytes = cells * bytes_per_token;
  double best = 1e300;
  for (int rep = 0; rep < 5; ++rep) {
    const auto start = std::chrono::steady_clock::now();
    tl::eval(cispo_train, s);
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  const double triad = triad_rate(bytes);
  state.counters["bytes_per_second"] = benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["triad_bytes_per_second"] = triad;
  state.counters["fraction_of_triad"] = bytes / best / triad;
  state.counters["tokens"] = static_cast<double>(cells);
}
}  // namespace

BENCHMARK(BM_triad)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_cispo_forward_backward)->Unit(benchmark::kMillisecond);

int main(int argc, char** argv) {
  Kokkos::ScopeGuard guard(argc, argv);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
