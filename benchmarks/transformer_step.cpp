// One training step of a pre-norm causal transformer block (nn::transformer_block: layer norms, 4-head attention,
// a relu MLP, residuals): forward + backward (the gradient program) + AdamW, fp32, batch 8 x 128 positions, width
// 128, MLP width 512, with a squared-error loss on the block's output. Reports tokens/s; before the benchmarks run,
// prints each equation group's share of the step's time (tl::profile), heaviest first, next to the planner's
// estimated FLOPs for the group (tl::estimate). The step runs twice: with attention's fused forward and backward
// passes (the default) and with the recognition off (tl::set_attention_fusion(false)).
//
//   bench_transformer_step
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <tensorlogic/exec/profile.hpp>
#include <tensorlogic/tensorlogic.hpp>
#include <vector>

namespace tl = tensorlogic;
namespace nn = tensorlogic::nn;

namespace {
inline constexpr tl::index<"n"> n;
inline constexpr tl::index<"p"> p;
inline constexpr tl::index<"q"> q;
inline constexpr tl::index<"e"> e;
inline constexpr tl::tensor<"X", float, 3> X;
inline constexpr tl::tensor<"Y", float, 3> Y;
inline constexpr tl::tensor<"G", float, 3> G;  // regression target
inline constexpr tl::tensor<"L", float, 0> L;
inline constexpr nn::transformer_block<"blk", float> blk;
constexpr auto model = tl::compose(blk(Y(n, p, e), X(n, p, e), q), L() = 0.5 * tl::square(Y(n, p, e) - G(n, p, e)));
// The gradient program under a name of its own: the compiler then spells `train_t`, not every equation, in
// each function it instantiates for the program (a third less compile time; docs/performance.md).
constexpr auto train_equations = tl::gradient(model, L, nn::parameters(blk));
struct train_t : std::remove_cvref_t<decltype(train_equations)> {};
constexpr train_t train{train_equations};

constexpr int batch = 8, positions = 128, width = 128;

template <class Store>
void prepare(Store& s) {
  std::mt19937 gen(5);
  std::normal_distribution<float> x(0.0f, 1.0f);
  for (std::size_t k = 0; k < s[X].span(); ++k) s[X].data()[k] = x(gen);
  for (std::size_t k = 0; k < s[G].span(); ++k) s[G].data()[k] = x(gen);
  nn::init(s, 1, blk);
}

auto make_store() {
  return tl::store(train, tl::extents(n = batch, p = positions, q = positions, e = width, blk.att.head = 4,
                                      blk.att.hd = width / 4, blk.ff.h<0> = 4 * width));
}

// fused: attention's forward and backward passes as the fused kernels (S never materialized); unfused: with
// tl::set_attention_fusion(false), every equation of the gradient program as written (S and its adjoints per head)
void training_step(benchmark::State& state, bool fused) {
  tl::set_attention_fusion(fused);
  auto s = make_store();
  prepare(s);
  tl::adamw opt(s, nn::parameters(blk), {.lr = tl::schedule::constant(1e-4)});
  for (auto _ : state) {
    tl::eval(train, s);
    opt.step(s);
    Kokkos::fence();
  }
  state.counters["tokens/s"] =
      benchmark::Counter(static_cast<double>(batch * positions), benchmark::Counter::kIsIterationInvariantRate);
  tl::set_attention_fusion(true);
}
BENCHMARK_CAPTURE(training_step, fused_attention, true)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK_CAPTURE(training_step, unfused_attention, false)->Unit(benchmark::kMillisecond)->MinTime(2.0);

void report_profile() {
  auto s = make_store();
  prepare(s);
  tl::eval(train, s);  // warm-up
  const auto times = tl::profile(train, s, 3);
  std::map<std::string, double> flops;
  const auto est = tl::estimate(train, s);
  const std::string text = tl::to_string(train);
  std::size_t line_start = 0;
  for (const auto& x : est) {  // estimates are per equation, in program order; the heads are the text's lines
    const std::size_t end = text.find('\n', line_start);
    const std::string line = text.substr(line_start, end - line_start);
    line_start = end + 1;
    const std::string head = line.substr(0, line.find_first_of("[ "));
    flops[head] += x.flops;
  }
  double total = 0;
  for (const auto& t : times) total += t.seconds;
  auto sorted = times;
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.seconds > b.seconds; });
  std::printf("training step of nn::transformer_block (batch %d x %d positions, width %d): %zu equation groups, "
              "%.1f ms per step (profiled, 3 runs)\n", batch, positions, width, times.size(), 1e3 * total / 3);
  std::printf("%-34s %8s %9s %12s\n", "group (head)", "share", "ms/step", "est. GFLOP");
  double shown = 0;
  for (std::size_t k = 0; k < sorted.size() && k < 15; ++k) {
    shown += sorted[k].seconds;
    std::printf("%-34s %7.1f%% %9.2f %12.3f\n", sorted[k].head.c_str(), 100 * sorted[k].seconds / total,
                1e3 * sorted[k].seconds / 3, flops[sorted[k].head] * 1e-9);
  }
  std::printf("%-34s %7.1f%%\n", "(the other groups)", 100 * (total - shown) / total);
}
}  // namespace

int main(int argc, char** argv) {
  Kokkos::ScopeGuard guard(argc, argv);
  report_profile();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
}
