// CISPO forward and backward (tl::rl, prompt average, given advantages) over 64 prompts x 16 completions x 1024 tokens
// (1,048,576 tokens), against a STREAM-triad loop a[i] = b[i] + s c[i] over the same bytes in this binary, and against
// hand-written loops over the same inputs that make the library's two passes over memory: the mask's row sums (then the
// per-prompt weights), then one pass over logp, logp_old and mask that adds up the loss and stores grad(logp), with the
// kernels' exp (fast_exp) and 8 accumulator lanes per sum, compiled per instruction set as the kernels are. The loops
// are checked against the library before timing, at eps_max = 4 and at 1.2 (which caps tokens here, 4 none): loss and
// each grad(logp) within 1e-12 and 1e-13 relative. The bytes counted are the ones a fused kernel cannot avoid: reading
// logp, logp_old and mask and writing grad(logp), 32 bytes a token. Counters: bytes_per_second for each; for CISPO and
// the loops also triad_bytes_per_second and fraction_of_triad, the best of 10 evaluations' rate over the best of 10
// triads', the two run in turn (evaluation, triad, evaluation, ...) so that both see the machine's memory bandwidth
// of the same moment; for CISPO also fraction_of_loops, the best of 10 runs of the loops over the best of 10
// evaluations, in the same rotation (evaluation, loops, triad); and for CISPO stream_triad_bytes_per_second and
// fraction_of_stream_triad, against the triad on arrays sized by STREAM's rule (each 4x the last-level cache).
// BM_triad repeats the triad over its own 32 MB back to back: part of that stays in the L3 between runs.
// BM_cispo_in_cache times the arithmetic alone: one prompt (16,384 tokens, 512 KB) whose data stay in the L2, the
// library and the loops in turn, 200 rounds; ns_per_token and loops_ns_per_token are the best of each.
// Built against an OpenMP Kokkos, the triads and both passes of the loops run on OpenMP's threads (OMP_NUM_THREADS),
// as many as the library's kernels use, so every ratio compares the same number of cores.
//
//   bench_rl_cispo
#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <random>
#include <tensorlogic/rl/objectives.hpp>
#include <tensorlogic/tensorlogic.hpp>
#include <vector>

namespace tl = tensorlogic;
namespace rl = tensorlogic::rl;

namespace {
constexpr std::size_t completions = 16, tokens = 1024;
constexpr double bytes_per_token = 4 * sizeof(double);
constexpr double eps_max = 4.0;

constexpr auto cispo =
    rl::objective<rl::loss_kind::cispo, rl::aggregation::prompt_average, rl::advantage_norm::given>();
constexpr auto cispo_train = tl::gradient(cispo, rl::loss, tl::wrt(rl::logp));

template <class F>
double seconds(F&& f) {
  const auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The STREAM triad a[i] = b[i] + s c[i] over arrays that together hold `bytes`, allocated (and touched) once.
struct triad_loop {
  std::size_t n;
  std::vector<double> a, b, c;
  explicit triad_loop(double bytes)
      : n(static_cast<std::size_t>(bytes / (3 * sizeof(double)))), a(n, 0.0), b(n, 1.0), c(n, 2.0) {}
  void run(const double s = 3.0) {
    double* __restrict x = a.data();
    const double* __restrict y = b.data();
    const double* __restrict z = c.data();
#if defined(KOKKOS_ENABLE_OPENMP)
#pragma omp parallel for schedule(static)
#endif
    for (std::size_t i = 0; i < n; ++i) x[i] = y[i] + s * z[i];
    benchmark::DoNotOptimize(a.data());
    benchmark::ClobberMemory();
  }
  double bytes() const { return static_cast<double>(3 * n * sizeof(double)); }
};

// STREAM's own sizing: arrays of 128 MiB each, four times the 32 MiB L3 of a Zen 5 core complex (the rule: each array
// at least 4x the last-level cache), so that no run finds its data in a cache; the best of 10, in bytes per second.
double stream_triad_rate() {
  triad_loop big(3.0 * 128 * 1024 * 1024);
  double best = 1e300;
  for (int rep = 0; rep < 10; ++rep) best = std::min(best, seconds([&] { big.run(0.5 + rep); }));
  return big.bytes() / best;
}

// The store for cispo_train with the benchmark's batch: lengths from a quarter of the row to all of it, logp in
// [-3, -0.05], logp_old within 0.5 of it (at most -0.01), advantages in [-1.5, 1.5]; eps_max = 4.
auto make_batch(const std::size_t prompts) {
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
  rl::bind_hyperparameters(s, {.eps_max = eps_max});
  rl::check_batch(s);
  return s;
}

// The same computation by hand, in the library's two passes: comp_len[p,g] = sum_t mask, then prompt_len,
// prompt_count and prompt_weight; then over every token w = min(exp(logp - logp_old), eps_max), the loss
// sum of mask prompt_weight token_loss and grad(logp) = mask prompt_weight -(mask w advantage). Returns the loss.
TENSORLOGIC_HOST_CLONES __attribute__((noinline)) double cispo_loops(
    const double* __restrict logp, const double* __restrict logp_old, const double* __restrict mask,
    const double* __restrict adv, const double cap, const std::size_t prompts, double* __restrict comp_len,
    double* __restrict prompt_weight, double* __restrict grad) {
  constexpr std::size_t L = 8;
#if defined(KOKKOS_ENABLE_OPENMP)
#pragma omp parallel for schedule(static)
#endif
  for (std::size_t r = 0; r < prompts * completions; ++r) {
    const double* m = mask + r * tokens;
    double lane[L] = {};
    std::size_t t = 0;
    for (; t + L <= tokens; t += L)
      for (std::size_t l = 0; l < L; ++l) lane[l] += m[t + l];
    for (; t < tokens; ++t) lane[0] += m[t];
    double sum = 0.0;
    for (std::size_t l = 0; l < L; ++l) sum += lane[l];
    comp_len[r] = sum;
  }
  double count = 0.0;
  for (std::size_t p = 0; p < prompts; ++p) {
    double len = 0.0;
    for (std::size_t g = 0; g < completions; ++g) len += comp_len[p * completions + g];
    count += std::min(len, 1.0);
    prompt_weight[p] = std::max(len, 1.0);
  }
  count = std::max(count, 1.0);
  for (std::size_t p = 0; p < prompts; ++p) prompt_weight[p] = 1.0 / (prompt_weight[p] * count);

  double loss = 0.0;
#if defined(KOKKOS_ENABLE_OPENMP)
#pragma omp parallel for schedule(static) reduction(+ : loss)
#endif
  for (std::size_t r = 0; r < prompts * completions; ++r) {
    double lane[L] = {};
    const double a = adv[r], pw = prompt_weight[r / completions];
    const double* lp = logp + r * tokens;
    const double* lo = logp_old + r * tokens;
    const double* m = mask + r * tokens;
    double* g = grad + r * tokens;
    std::size_t t = 0;
    for (; t + L <= tokens; t += L)
      for (std::size_t l = 0; l < L; ++l) {
        const double mwa = m[t + l] * std::min(tl::exec::fast_exp(lp[t + l] - lo[t + l]), cap) * a;
        const double agg = m[t + l] * pw;
        lane[l] += agg * -(mwa * lp[t + l]);
        g[t + l] = agg * -mwa;
      }
    for (; t < tokens; ++t) {
      const double mwa = m[t] * std::min(tl::exec::fast_exp(lp[t] - lo[t]), cap) * a;
      const double agg = m[t] * pw;
      lane[0] += agg * -(mwa * lp[t]);
      g[t] = agg * -mwa;
    }
    for (std::size_t w = L / 2; w > 0; w /= 2)
      for (std::size_t l = 0; l < w; ++l) lane[l] += lane[l + w];
    loss += lane[0];
  }
  return loss;
}

// The loops' buffers and a call on a store's inputs.
struct loops {
  std::size_t prompts;
  std::vector<double> comp_len = std::vector<double>(prompts * completions);
  std::vector<double> prompt_weight = std::vector<double>(prompts);
  std::vector<double> grad = std::vector<double>(prompts * completions * tokens);
  double loss = 0.0;
  template <class Store>
  void run(Store& s, const double cap = eps_max) {
    loss = cispo_loops(s[rl::logp].data(), s[rl::logp_old].data(), s[rl::mask].data(), s[rl::advantage].data(), cap,
                       prompts, comp_len.data(), prompt_weight.data(), grad.data());
    benchmark::DoNotOptimize(grad.data());
    benchmark::ClobberMemory();
  }
};

// A case's batch (the benchmark's argument is the number of prompts) and loops, and its timed evaluations.
struct cispo_case {
  std::size_t prompts, cells;
  decltype(make_batch(1)) s;
  loops h;
  explicit cispo_case(const benchmark::State& state)
      : prompts(static_cast<std::size_t>(state.range(0))),
        cells(prompts * completions * tokens),
        s(make_batch(prompts)),
        h{prompts} {}
  void evaluate() { tl::eval(cispo_train, s); }
  void time(benchmark::State& state) {
    for (auto _ : state) {
      evaluate();
      benchmark::DoNotOptimize(s[tl::grad(rl::logp)].data());
    }
  }
};

void BM_triad(benchmark::State& state) {
  triad_loop triad(static_cast<double>(state.range(0) * completions * tokens) * bytes_per_token);
  for (auto _ : state) triad.run();
  state.counters["bytes_per_second"] = benchmark::Counter(triad.bytes(), benchmark::Counter::kIsIterationInvariantRate);
}

// The best of `reps` runs of each of `fs`, run in turn (f0, f1, ..., f0, f1, ...), so that each sees the machine as
// the others do: this VM's memory bandwidth drifts by a third from one minute to the next.
template <class... F>
std::array<double, sizeof...(F)> best_alternated(const int reps, F&&... fs) {
  std::array<double, sizeof...(F)> best;
  best.fill(1e300);
  for (int rep = 0; rep < reps; ++rep) {
    std::size_t k = 0;
    ((best[k] = std::min(best[k], seconds(fs)), ++k), ...);
  }
  return best;
}

void BM_cispo_forward_backward(benchmark::State& state) {
  cispo_case c(state);
  auto& s = c.s;
  auto& h = c.h;
  const std::size_t cells = c.cells;
  c.time(state);
  // the ratios, from the best of 10 timed evaluations, runs of the loops and triads over the same bytes, alternated
  const double bytes = cells * bytes_per_token;
  triad_loop triad(bytes);
  const auto [best, best_loops, best_triad] =
      best_alternated(10, [&] { tl::eval(cispo_train, s); }, [&] { h.run(s); }, [&] { triad.run(); });
  const double triad_rate = triad.bytes() / best_triad;
  state.counters["bytes_per_second"] = benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["triad_bytes_per_second"] = triad_rate;
  state.counters["fraction_of_triad"] = bytes / best / triad_rate;
  state.counters["fraction_of_loops"] = best_loops / best;
  const double stream = stream_triad_rate();
  state.counters["stream_triad_bytes_per_second"] = stream;
  state.counters["fraction_of_stream_triad"] = bytes / best / stream;
  state.counters["tokens"] = static_cast<double>(cells);
}

void BM_cispo_loops(benchmark::State& state) {
  cispo_case c(state);
  auto& s = c.s;
  auto& h = c.h;
  const std::size_t cells = c.cells;
  // once against the library, at the benchmark's eps_max and at 1.2 (4 is never reached here: |logp - logp_old| <=
  // 0.5; 1.2 caps about a third of the tokens): the loss, and grad(logp) cell by cell
  for (const double cap : {eps_max, 1.2}) {
    rl::bind_hyperparameters(s, {.eps_max = cap});
    tl::eval(cispo_train, s);
    h.run(s, cap);
    const double loss = s[rl::loss]();
    const double* want = s[tl::grad(rl::logp)].data();
    double worst = 0.0;
    std::size_t at = 0;
    for (std::size_t i = 0; i < cells; ++i) {
      const double d = std::abs(h.grad[i] - want[i]), e = d == 0.0 ? 0.0 : d / std::abs(want[i]);
      if (!(e <= worst)) worst = e, at = i;
    }
    if (!(std::abs(h.loss - loss) <= 1e-12 * std::abs(loss)) || !(worst <= 1e-13)) {
      char what[200];
      std::snprintf(what, sizeof what,
                    "the loops disagree with the library at eps_max = %g: loss %.17g against %.17g, grad(logp) %.3g "
                    "relative at cell %zu",
                    cap, h.loss, loss, worst, at);
      state.SkipWithError(what);
      return;
    }
  }
  rl::bind_hyperparameters(s, {.eps_max = eps_max});
  for (auto _ : state) h.run(s);
  const double bytes = cells * bytes_per_token;
  triad_loop triad(bytes);
  const auto [best, best_triad] = best_alternated(10, [&] { h.run(s); }, [&] { triad.run(); });
  const double triad_rate = triad.bytes() / best_triad;
  state.counters["bytes_per_second"] = benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["triad_bytes_per_second"] = triad_rate;
  state.counters["fraction_of_triad"] = bytes / best / triad_rate;
  state.counters["tokens"] = static_cast<double>(cells);
}

// The arithmetic alone: one prompt (16,384 tokens, 512 KB read and written) whose data stay in the L2 between runs,
// the library and the loops in turn, 200 rounds: ns_per_token and loops_ns_per_token (the best of each), and
// fraction_of_loops.
void BM_cispo_in_cache(benchmark::State& state) {
  cispo_case c(state);
  c.time(state);
  const auto [best, best_loops] = best_alternated(200, [&] { c.evaluate(); }, [&] { c.h.run(c.s); });
  const auto cells = static_cast<double>(c.cells);
  state.counters["ns_per_token"] = best * 1e9 / cells;
  state.counters["loops_ns_per_token"] = best_loops * 1e9 / cells;
  state.counters["fraction_of_loops"] = best_loops / best;
  state.counters["tokens"] = cells;
}
}  // namespace

BENCHMARK(BM_triad)->Arg(64)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_cispo_forward_backward)->Arg(64)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_cispo_loops)->Arg(64)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_cispo_in_cache)->Arg(1)->Unit(benchmark::kMicrosecond);

int main(int argc, char** argv) {
  Kokkos::ScopeGuard guard(argc, argv);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
