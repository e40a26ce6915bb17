// The cost of UML's second modality: one training step (gradient program + AdamW, fp32) of a shared trunk trained on
// two unpaired modalities, against the same trunk trained on X alone and on Y alone, in one binary.
//
// Model: per-modality input projections (X: 512 features, Y: 384 features) into width 256, a shared relu MLP
// 256 -> 1024 -> 256 and a shared class head 256 -> 10 applied to each modality (tl::nn::tagged), cross-entropy per
// modality, L = alpha_x L_X + alpha_y L_Y; batches of 128 X rows and 128 Y rows. The unimodal programs are the same
// equations without the other modality. The overhead of the second modality should be its own forward and backward
// pass and nothing more: after the benchmarks, the binary prints step(UML) / (step(X only) + step(Y only)), which is
// at most 1 when nothing is added (the two unimodal steps each update the shared weights once more).
//
//   bench_uml_step
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <tensorlogic/exec/profile.hpp>
#include <tensorlogic/multimodal/uml.hpp>
#include <tensorlogic/tensorlogic.hpp>

namespace tl = tensorlogic;
namespace nn = tensorlogic::nn;
namespace mm = tensorlogic::multimodal;

namespace {
inline constexpr tl::index<"n"> n;
inline constexpr tl::index<"m"> m;
inline constexpr tl::index<"f"> f;
inline constexpr tl::index<"v"> v;
inline constexpr tl::index<"w"> w;
inline constexpr tl::index<"o"> o;
inline constexpr tl::index<"c"> c;
inline constexpr tl::tensor<"X", float, 2> X;
inline constexpr tl::tensor<"Y", float, 2> Y;
inline constexpr tl::tensor<"Zx", float, 2> Zx;
inline constexpr tl::tensor<"Zy", float, 2> Zy;
inline constexpr tl::tensor<"Hx", float, 2> Hx;
inline constexpr tl::tensor<"Hy", float, 2> Hy;
inline constexpr tl::tensor<"Ox", float, 2> Ox;
inline constexpr tl::tensor<"Oy", float, 2> Oy;
inline constexpr tl::tensor<"Tx", float, 2> Tx;
inline constexpr tl::tensor<"Ty", float, 2> Ty;

inline constexpr nn::linear<"projx"> proj_x;
inline constexpr nn::linear<"projy"> proj_y;
inline constexpr nn::mlp<"trunk", float, 1> trunk;
inline constexpr nn::linear<"head"> head;
inline constexpr nn::cross_entropy<"ce"> ce;
inline constexpr mm::objective<"uml"> uml;

constexpr auto x_part =
    tl::compose(proj_x(Zx(n, w), X(n, f)), nn::tagged<"x">(trunk)(Hx(n, o), Zx(n, w)), head(Ox(n, c), Hx(n, o)),
                nn::tagged<"x">(ce)(uml.Lx(), Ox(n, c), Tx(n, c)));
constexpr auto y_part =
    tl::compose(proj_y(Zy(m, w), Y(m, v)), nn::tagged<"y">(trunk)(Hy(m, o), Zy(m, w)), head(Oy(m, c), Hy(m, o)),
                nn::tagged<"y">(ce)(uml.Ly(), Oy(m, c), Ty(m, c)));
// Each gradient program under a name of its own: the compiler then spells `train_both_t`, not every equation, in
// each function it instantiates for the program (a third less compile time; docs/performance.md).
constexpr auto train_both_equations =
    tl::gradient(tl::compose(x_part, y_part, uml()), uml.L, nn::parameters(proj_x, proj_y, trunk, head));
struct train_both_t : std::remove_cvref_t<decltype(train_both_equations)> {};
constexpr train_both_t train_both{train_both_equations};
constexpr auto train_x_equations = tl::gradient(x_part, uml.Lx, nn::parameters(proj_x, trunk, head));
struct train_x_t : std::remove_cvref_t<decltype(train_x_equations)> {};
constexpr train_x_t train_x{train_x_equations};
constexpr auto train_y_equations = tl::gradient(y_part, uml.Ly, nn::parameters(proj_y, trunk, head));
struct train_y_t : std::remove_cvref_t<decltype(train_y_equations)> {};
constexpr train_y_t train_y{train_y_equations};

constexpr int rows = 128, fx = 512, fy = 384, width = 256, hidden = 1024, classes = 10;

template <class Store>
void prepare(Store& s) {
  using prog = typename Store::program_type;
  std::mt19937 gen(3);
  std::normal_distribution<float> x(0.0f, 1.0f);
  auto data = [&](auto in, auto target, auto loss) {
    if constexpr (prog::slot_of(decltype(in)::name.view()) >= 0) {
      for (std::size_t k = 0; k < s[in].span(); ++k) s[in].data()[k] = x(gen);
      for (int r = 0; r < rows; ++r) s[target](r, static_cast<int>(gen() % classes)) = 1.0f;
      loss.normalize(s, rows);
    }
  };
  data(X, Tx, nn::tagged<"x">(ce));
  data(Y, Ty, nn::tagged<"y">(ce));
}

std::map<std::string, double> seconds_per_step;

// One benchmark: `ext` are the program's extents; the measured seconds per step of its final run are kept.
// The shared modules are initialized first, from one seed, so all three programs start from the same trunk.
template <class Train, class... W, class... Private>
void run_steps(benchmark::State& state, const Train& train, tl::wrt_list<W...> params, const tl::extents_list& ext,
               const std::string& name, int rows_per_step, const Private&... own) {
  tl::store s(train, ext);
  prepare(s);
  nn::init(s, 1, trunk, head, own...);
  if constexpr (Train::slot_of("uml.alpha_x") >= 0) uml.weigh(s, 1.0, 1.0);
  tl::adamw opt(s, params, {.lr = tl::schedule::constant(1e-4)});
  tl::eval(train, s);  // warm-up
  Kokkos::fence();
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    tl::eval(train, s);
    opt.step(s);
    Kokkos::fence();
  }
  const std::chrono::duration<double> total = std::chrono::steady_clock::now() - start;
  seconds_per_step[name] = total.count() / static_cast<double>(state.iterations());
  state.counters["rows/s"] =
      benchmark::Counter(static_cast<double>(rows_per_step), benchmark::Counter::kIsIterationInvariantRate);
}

void uml_both_modalities(benchmark::State& state) {
  run_steps(state, train_both, nn::parameters(proj_x, proj_y, trunk, head),
            tl::extents(n = rows, m = rows, f = fx, v = fy, w = width, o = width, c = classes, trunk.h<0> = hidden),
            "both", 2 * rows, proj_x, proj_y);
}
void x_only(benchmark::State& state) {
  run_steps(state, train_x, nn::parameters(proj_x, trunk, head),
            tl::extents(n = rows, f = fx, w = width, o = width, c = classes, trunk.h<0> = hidden), "x", rows,
            proj_x);
}
void y_only(benchmark::State& state) {
  run_steps(state, train_y, nn::parameters(proj_y, trunk, head),
            tl::extents(m = rows, v = fy, w = width, o = width, c = classes, trunk.h<0> = hidden), "y", rows,
            proj_y);
}
BENCHMARK(x_only)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(y_only)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(uml_both_modalities)->Unit(benchmark::kMillisecond)->MinTime(2.0);
}  // namespace

// Where a step's time goes (tl::profile, 3 runs): the heaviest equation groups of each program.
template <class Train, class... Private>
void report_profile(const char* title, const Train& train, const tl::extents_list& ext, const Private&... own) {
  tl::store s(train, ext);
  prepare(s);
  nn::init(s, 1, trunk, head, own...);
  if constexpr (Train::slot_of("uml.alpha_x") >= 0) uml.weigh(s, 1.0, 1.0);
  tl::eval(train, s);
  auto times = tl::profile(train, s, 3);
  double total = 0;
  for (const auto& t : times) total += t.seconds;
  std::sort(times.begin(), times.end(), [](const auto& a, const auto& b) { return a.seconds > b.seconds; });
  std::printf("%s: %.1f ms per gradient evaluation, %zu groups; heaviest:", title, 1e3 * total / 3, times.size());
  for (std::size_t k = 0; k < times.size() && k < 6; ++k)
    std::printf(" %s %.1f ms;", times[k].head.c_str(), 1e3 * times[k].seconds / 3);
  std::printf("\n");
}

int main(int argc, char** argv) {
  Kokkos::ScopeGuard guard(argc, argv);
  report_profile("X only", train_x, tl::extents(n = rows, f = fx, w = width, o = width, c = classes, trunk.h<0> = hidden),
                 proj_x);
  report_profile("UML", train_both,
                 tl::extents(n = rows, m = rows, f = fx, v = fy, w = width, o = width, c = classes, trunk.h<0> = hidden),
                 proj_x, proj_y);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  if (seconds_per_step.size() == 3) {
    const double both = seconds_per_step["both"], x = seconds_per_step["x"], y = seconds_per_step["y"];
    std::printf("step: UML %.2f ms, X only %.2f ms, Y only %.2f ms; UML / (X only + Y only) = %.3f; "
                "UML - X only = %.2f ms for the second modality (Y only: %.2f ms)\n",
                1e3 * both, 1e3 * x, 1e3 * y, both / (x + y), 1e3 * (both - x), 1e3 * y);
  }
}
