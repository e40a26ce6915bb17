// Attention S = 1024 and 4096, d = 64, fp32, one head: the fused online-softmax kernel (tl::attention) against the
// unfused two-equation program St(p,q) = softmax(q, c Q(p,d) K(q,d)), O(p,e) = St(p,q) V(q,e) run by tl::eval
// (with tl::set_attention_fusion(false)), and the same program with the compiler's fusion of the pair;
// both causal and unmasked, plus sink + window (4 + 256) for the fused kernel. "bytes" is the memory each
// approach allocates for its tensors (the unfused program holds the S x S score matrix). Also nn::attention (causal,
// 4 heads of 64) inside a program at S = 1024 and 2048, with the pair fused and not.
// Training: the forward pass with its statistics plus the fused backward pass (tl::attention with lse, then
// tl::attention_backward: dQ, dK, dV from dO), and the gradient program of the two equations with the loss
// L = sum O G (tl::gradient(prog, L, tl::wrt(Qt, Kt, Vt)) run by tl::eval): with the compiler's recognition of the
// group (the same fused passes, S never allocated) and with tl::set_attention_fusion(false) (every equation as
// written: S and its adjoints materialized); "bytes" is every buffer each allocates (for the programs, the sum over
// the store's slots that hold memory after the run).
//
//   bench_attention
#include <benchmark/benchmark.h>

#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <tensorlogic/tensorlogic.hpp>
#include <vector>

namespace tl = tensorlogic;

namespace {
inline constexpr tl::index<"h"> h;
inline constexpr tl::index<"p"> p;
inline constexpr tl::index<"q"> q;
inline constexpr tl::index<"d"> d;
inline constexpr tl::index<"e"> e;
inline constexpr tl::tensor<"Qt", float, 3> Qt;
inline constexpr tl::tensor<"Kt", float, 3> Kt;
inline constexpr tl::tensor<"Vt", float, 3> Vt;
inline constexpr tl::tensor<"St", float, 3> St;
inline constexpr tl::tensor<"Ot", float, 3> Ot;
inline constexpr tl::scalar<"c", float> c;

constexpr auto unfused = tl::program(St(h, p, q) = tl::softmax(q, tl::sum(d, Qt(h, p, d) * Kt(h, q, d)) * c),
                                     Ot(h, p, e) = St(h, p, q) * Vt(h, q, e));
constexpr auto unfused_causal = tl::program(
    St(h, p, q) = tl::softmax(q, tl::where(q <= p, tl::sum(d, Qt(h, p, d) * Kt(h, q, d)) * c, -1e30f)),
    Ot(h, p, e) = St(h, p, q) * Vt(h, q, e));

inline constexpr tl::tensor<"Gt", float, 3> Gt;
inline constexpr tl::tensor<"Lt", float, 0> Lt;
constexpr auto trained = tl::gradient(
    tl::program(St(h, p, q) = tl::softmax(q, tl::sum(d, Qt(h, p, d) * Kt(h, q, d)) * c),
                Ot(h, p, e) = St(h, p, q) * Vt(h, q, e), Lt() = Ot(h, p, e) * Gt(h, p, e)),
    Lt, tl::wrt(Qt, Kt, Vt));
constexpr auto trained_causal = tl::gradient(
    tl::program(St(h, p, q) = tl::softmax(q, tl::where(q <= p, tl::sum(d, Qt(h, p, d) * Kt(h, q, d)) * c, -1e30f)),
                Ot(h, p, e) = St(h, p, q) * Vt(h, q, e), Lt() = Ot(h, p, e) * Gt(h, p, e)),
    Lt, tl::wrt(Qt, Kt, Vt));

using view3 = Kokkos::View<float***, Kokkos::LayoutRight>;

view3 random_view(const char* name, std::size_t s, std::size_t dim, std::uint64_t seed) {
  view3 v(std::string(name), 1, s, dim);
  auto host = Kokkos::create_mirror_view(v);
  std::mt19937_64 g(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (std::size_t k = 0; k < s * dim; ++k) host.data()[k] = u(g);
  Kokkos::deep_copy(v, host);
  return v;
}

void fused(benchmark::State& state, std::size_t s, tl::attention_mask mask) {
  const std::size_t dim = 64;
  const view3 qv = random_view("q", s, dim, 1), kv = random_view("k", s, dim, 2), vv = random_view("v", s, dim, 3);
  view3 o("o", 1, s, dim);
  tl::attention_options opt{.mask = mask, .sink = 4, .window = 256};
  for (auto _ : state) {
    tl::attention(qv, kv, vv, o, opt);
    Kokkos::fence();
  }
  state.counters["bytes"] = static_cast<double>(4 * s * dim * sizeof(float));
}

// One training step of attention's own part: forward with statistics, backward from dO.
void fused_training(benchmark::State& state, std::size_t s, tl::attention_mask mask) {
  const std::size_t dim = 64;
  const view3 qv = random_view("q", s, dim, 1), kv = random_view("k", s, dim, 2), vv = random_view("v", s, dim, 3);
  const view3 gv = random_view("g", s, dim, 4);
  view3 o("o", 1, s, dim), dq("dq", 1, s, dim), dk("dk", 1, s, dim), dv("dv", 1, s, dim);
  Kokkos::View<float**, Kokkos::LayoutRight> lse("lse", 1, s);
  tl::attention_options opt{.mask = mask};
  for (auto _ : state) {
    tl::attention(qv, kv, vv, o, lse, opt);
    tl::attention_backward(qv, kv, vv, o, lse, gv, dq, dk, dv, opt);
    Kokkos::fence();
  }
  state.counters["bytes"] = static_cast<double>((8 * s * dim + s) * sizeof(float));
}

template <class Prog>
void program_training(benchmark::State& state, const Prog& prog, std::size_t s, bool fuse) {
  tl::set_attention_fusion(fuse);
  const std::size_t dim = 64;
  tl::store st(prog, tl::extents(h = 1, p = s, q = s, d = dim, e = dim));
  tl::bind(st, Qt, random_view("q", s, dim, 1));
  tl::bind(st, Kt, random_view("k", s, dim, 2));
  tl::bind(st, Vt, random_view("v", s, dim, 3));
  tl::bind(st, Gt, random_view("g", s, dim, 4));
  tl::bind(st, c, 1.0f / 8.0f);
  tl::eval(prog, st);  // warm-up: the store allocates S-sized tensors on first use
  for (auto _ : state) {
    tl::eval(prog, st);
    Kokkos::fence();
  }
  double bytes = 0;
  for (std::size_t slot = 0; slot < Prog::n_slots; ++slot)
    st.visit_slot(slot, false, [&](auto& v, auto&) {
      bytes += static_cast<double>(v.span() * sizeof(typename std::remove_cvref_t<decltype(v)>::value_type));
    });
  state.counters["bytes"] = bytes;
  tl::set_attention_fusion(true);
}

// The two-equation program run by tl::eval: as written (fusion off: S materialized) or with the compiler's
// recognition of the pair (the same kernel as tl::attention, S never computed).
template <class Prog>
void unfused_run(benchmark::State& state, const Prog& prog, std::size_t s, bool fuse = false) {
  tl::set_attention_fusion(fuse);
  const std::size_t dim = 64;
  tl::store st(prog, tl::extents(h = 1, p = s, q = s, d = dim, e = dim));
  tl::bind(st, Qt, random_view("q", s, dim, 1));
  tl::bind(st, Kt, random_view("k", s, dim, 2));
  tl::bind(st, Vt, random_view("v", s, dim, 3));
  tl::bind(st, c, 1.0f / 8.0f);
  for (auto _ : state) {
    tl::eval(prog, st);
    Kokkos::fence();
  }
  state.counters["bytes"] = static_cast<double>((4 * s * dim + s * s) * sizeof(float));
  tl::set_attention_fusion(true);
}

// nn::attention (causal, 4 heads of 64 over width 256) as a module inside a program: its Q(n, p, head, hd) and
// S(n, head, p, q) layouts are recognized by the fusion (any batch-index order), so S is never computed; with the
// fusion off the program computes the heads x S x S scores.
inline constexpr tl::index<"n"> nb;
inline constexpr tl::tensor<"Xm", float, 3> Xm;
inline constexpr tl::tensor<"Ym", float, 3> Ym;
inline constexpr tl::nn::attention<"att", float, tl::nn::mask::causal> att;
constexpr auto module_prog = att(Ym(nb, p, e), Xm(nb, p, e), q);

void module_run(benchmark::State& state, std::size_t s, bool fuse) {
  tl::set_attention_fusion(fuse);
  const std::size_t width = 256, heads = 4;
  tl::store st(module_prog, tl::extents(nb = 1, p = s, q = s, e = width, att.head = heads, att.hd = width / heads));
  tl::nn::init(st, 1, att);
  auto x = st[Xm];
  std::mt19937_64 g(4);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (std::size_t k = 0; k < x.span(); ++k) x.data()[k] = u(g);
  for (auto _ : state) {
    tl::eval(module_prog, st);
    Kokkos::fence();
  }
  // fused, the store never allocates S (attention scores are allocated on first use)
  state.counters["bytes"] = static_cast<double>((6 * s * width + (fuse ? 0 : heads * s * s)) * sizeof(float));
  tl::set_attention_fusion(true);
}
}  // namespace

int main(int argc, char** argv) {
  Kokkos::ScopeGuard guard(argc, argv);
  for (std::size_t s : {1024u, 4096u}) {
    const std::string tag = std::to_string(s);
    benchmark::RegisterBenchmark(("attention/fused/none/" + tag).c_str(),
                                 [s](benchmark::State& st) { fused(st, s, tl::attention_mask::none); })
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("attention/unfused/none/" + tag).c_str(),
                                 [s](benchmark::State& st) { unfused_run(st, unfused, s); })
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("attention/fused/causal/" + tag).c_str(),
                                 [s](benchmark::State& st) { fused(st, s, tl::attention_mask::causal); })
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("attention/unfused/causal/" + tag).c_str(),
                                 [s](benchmark::State& st) { unfused_run(st, unfused_causal, s); })
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("attention/program_fused/none/" + tag).c_str(),
                                 [s](benchmark::State& st) { unfused_run(st, unfused, s, true); })
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("attention/program_fused/causal/" + tag).c_str(),
                                 [s](benchmark::State& st) { unfused_run(st, unfused_causal, s, true); })
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("attention/fused/sink4_window256/" + tag).c_str(),
                                 [s](benchmark::State& st) { fused(st, s, tl::attention_mask::sink_window); })
        ->Unit(benchmark::kMillisecond);
  }
  for (std::size_t s : {1024u, 4096u}) {
    const std::string tag = std::to_string(s);
    benchmark::RegisterBenchmark(("training/fused/none/" + tag).c_str(),
                                 [s](benchmark::State& st) { fused_training(st, s, tl::attention_mask::none); })
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("training/program/none/" + tag).c_str(),
                                 [s](benchmark::State& st) { program_training(st, trained, s, true); })
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("training/program_unfused/none/" + tag).c_str(),
                                 [s](benchmark::State& st) { program_training(st, trained, s, false); })
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("training/fused/causal/" + tag).c_str(),
                                 [s](benchmark::State& st) { fused_training(st, s, tl::attention_mask::causal); })
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("training/program/causal/" + tag).c_str(),
                                 [s](benchmark::State& st) { program_training(st, trained_causal, s, true); })
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("training/program_unfused/causal/" + tag).c_str(),
                                 [s](benchmark::State& st) { program_training(st, trained_causal, s, false); })
        ->Unit(benchmark::kMillisecond);
  }
  for (std::size_t s : {1024u, 2048u}) {
    const std::string tag = std::to_string(s);
    benchmark::RegisterBenchmark(("attention/nn_module_fused/causal/" + tag).c_str(),
                                 [s](benchmark::State& st) { module_run(st, s, true); })
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("attention/nn_module_unfused/causal/" + tag).c_str(),
                                 [s](benchmark::State& st) { module_run(st, s, false); })
        ->Unit(benchmark::kMillisecond);
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
