// Gradients through index expressions, fp32. Max pooling: the program tl::gradient derives for nn::max_pool1d<2> /
// max_pool2d<2> (forward pool, a loss L = G . M, grad(C) routed to each window's arg-max) against hand-written loops
// doing the same work. Its gradient equation solves the read C(n, 2 p + w, o) for w and sums over p under the guards
// 0 <= C#1 - 2 p <= 1; the kernel bounds p by those guards, so each cell of grad(C) visits one window, not all |p|.
// Convolution: the input gradient of nn::conv1d (stride 1 and 2, filter width 5, 16 -> 16 channels), the equation
// grad(X)(n, X#1, c) = grad(C)(n, t, o) F(o, c, X#1 - S t) whose sum over t the filter's read bounds, against a
// hand-written loop over (o, u); both also compute the forward convolution and the loss. "cells" counts the
// gradient's cells.
//
//   bench_conv
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <tensorlogic/tensorlogic.hpp>
#include <vector>

namespace tl = tensorlogic;

namespace {
inline constexpr tl::index<"n"> n;
inline constexpr tl::index<"s"> s;
inline constexpr tl::index<"p"> p;
inline constexpr tl::index<"o"> o;
inline constexpr tl::index<"x"> x;
inline constexpr tl::index<"y"> y;
inline constexpr tl::index<"a"> a;
inline constexpr tl::index<"b"> b;
inline constexpr tl::tensor<"C", float, 3> C;
inline constexpr tl::tensor<"M", float, 3> M;
inline constexpr tl::tensor<"G", float, 3> G;
inline constexpr tl::tensor<"C2", float, 4> C2;
inline constexpr tl::tensor<"M2", float, 4> M2;
inline constexpr tl::tensor<"G2", float, 4> G2;
inline constexpr tl::tensor<"L", float, 0> L;
inline constexpr tl::index<"c"> ch;
inline constexpr tl::tensor<"X", float, 3> X;
inline constexpr tl::tensor<"Y", float, 3> Y;
inline constexpr tl::tensor<"GY", float, 3> GY;

constexpr tl::nn::max_pool1d<2> pool1;
constexpr tl::nn::max_pool2d<2> pool2;
constexpr auto train1 =
    tl::gradient(tl::compose(pool1(M(n, p, o), C(n, s, o)), L() = G(n, p, o) * M(n, p, o)), L, tl::wrt(C));
constexpr auto train2 = tl::gradient(
    tl::compose(pool2(M2(n, a, b, o), C2(n, x, y, o)), L() = G2(n, a, b, o) * M2(n, a, b, o)), L, tl::wrt(C2));

constexpr tl::nn::conv1d<"c1", float> conv_1;
constexpr tl::nn::conv1d<"c2", float, 2> conv_2;
template <class Conv>
constexpr auto conv_train(const Conv& conv) {
  return tl::gradient(tl::compose(conv(Y(n, s, o), X(n, s, ch)), L() = GY(n, s, o) * Y(n, s, o)), L, tl::wrt(X));
}
constexpr auto conv_train1 = conv_train(conv_1);
constexpr auto conv_train2 = conv_train(conv_2);

void fill(float* v, std::size_t count, std::uint64_t seed) {
  std::mt19937_64 g(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (std::size_t k = 0; k < count; ++k) v[k] = u(g);
}

void program_1d(benchmark::State& state, long ns) {
  const long nn_ = 16, no = 16;
  tl::store st(train1, tl::extents(n = nn_, p = ns / 2, o = no));
  if (st[C].extent(1) != static_cast<std::size_t>(ns)) state.SkipWithError("C's derived extent is not |s|");
  fill(st[C].data(), st[C].span(), 1);
  fill(st[G].data(), st[G].span(), 2);
  for (auto _ : state) {
    tl::eval(train1, st);
    Kokkos::fence();
  }
  state.counters["cells"] = static_cast<double>(nn_ * ns * no);
}

// The same work by hand: M = max of each window, grad(C) = G at the window's maximal cells, 0 elsewhere.
void loops_1d(benchmark::State& state, long ns) {
  const long nn_ = 16, no = 16, np = ns / 2;
  std::vector<float> c(nn_ * ns * no), g(nn_ * np * no), m(g.size()), gc(c.size());
  fill(c.data(), c.size(), 1);
  fill(g.data(), g.size(), 2);
  for (auto _ : state) {
    float loss = 0;
    for (long i = 0; i < nn_; ++i)
      for (long q = 0; q < np; ++q)
        for (long k = 0; k < no; ++k) {
          const float* cw = &c[(i * ns + 2 * q) * no + k];
          const float v = cw[0] > cw[no] ? cw[0] : cw[no];
          const long mo = (i * np + q) * no + k;
          m[mo] = v;
          loss += g[mo] * v;
          gc[(i * ns + 2 * q) * no + k] = cw[0] == v ? g[mo] : 0.0f;
          gc[(i * ns + 2 * q + 1) * no + k] = cw[no] == v ? g[mo] : 0.0f;
        }
    benchmark::DoNotOptimize(loss);
    benchmark::DoNotOptimize(gc.data());
  }
  state.counters["cells"] = static_cast<double>(nn_ * ns * no);
}

void program_2d(benchmark::State& state, long side) {
  const long nn_ = 8, no = 16;
  tl::store st(train2, tl::extents(n = nn_, a = side / 2, b = side / 2, o = no));
  if (st[C2].extent(1) != static_cast<std::size_t>(side)) state.SkipWithError("C2's derived extent is not |x|");
  fill(st[C2].data(), st[C2].span(), 3);
  fill(st[G2].data(), st[G2].span(), 4);
  for (auto _ : state) {
    tl::eval(train2, st);
    Kokkos::fence();
  }
  state.counters["cells"] = static_cast<double>(nn_ * side * side * no);
}

void loops_2d(benchmark::State& state, long side) {
  const long nn_ = 8, no = 16, h = side / 2;
  std::vector<float> c(nn_ * side * side * no), g(nn_ * h * h * no), m(g.size()), gc(c.size());
  fill(c.data(), c.size(), 3);
  fill(g.data(), g.size(), 4);
  const auto at = [&](long i, long u, long v, long k) { return ((i * side + u) * side + v) * no + k; };
  for (auto _ : state) {
    float loss = 0;
    for (long i = 0; i < nn_; ++i)
      for (long qa = 0; qa < h; ++qa)
        for (long qb = 0; qb < h; ++qb)
          for (long k = 0; k < no; ++k) {
            float v = c[at(i, 2 * qa, 2 * qb, k)];
            for (long w = 0; w < 2; ++w)
              for (long z = 0; z < 2; ++z) v = c[at(i, 2 * qa + w, 2 * qb + z, k)] > v ? c[at(i, 2 * qa + w, 2 * qb + z, k)] : v;
            const long mo = ((i * h + qa) * h + qb) * no + k;
            m[mo] = v;
            loss += g[mo] * v;
            for (long w = 0; w < 2; ++w)
              for (long z = 0; z < 2; ++z) gc[at(i, 2 * qa + w, 2 * qb + z, k)] = c[at(i, 2 * qa + w, 2 * qb + z, k)] == v ? g[mo] : 0.0f;
          }
    benchmark::DoNotOptimize(loss);
    benchmark::DoNotOptimize(gc.data());
  }
  state.counters["cells"] = static_cast<double>(nn_ * side * side * no);
}
// grad(X) of a conv1d with stride S, filter width 5, 16 -> 16 channels, batch 8, |t| output positions.
template <int S, class Prog, class Conv>
void conv_program(benchmark::State& state, const Prog& prog, const Conv& conv, long nt) {
  tl::store st(prog, tl::extents(n = 8, s = nt, ch = 16, o = 16, conv.u = 5));
  fill(st[X].data(), st[X].span(), 5);
  fill(st[GY].data(), st[GY].span(), 6);
  fill(st[conv.F].data(), st[conv.F].span(), 7);
  fill(st[conv.b].data(), st[conv.b].span(), 8);
  for (auto _ : state) {
    tl::eval(prog, st);
    Kokkos::fence();
  }
  state.counters["cells"] = static_cast<double>(st[tl::grad(X)].span());
}
template <int S>
void conv_loops(benchmark::State& state, long nt) {
  const long nb = 8, nc = 16, no = 16, nu = 5, nx = S * (nt - 1) + nu;
  std::vector<float> x(nb * nx * nc), y(nb * nt * no), gy(y.size()), f(no * nc * nu), gx(x.size());
  fill(x.data(), x.size(), 5);
  fill(gy.data(), gy.size(), 6);
  fill(f.data(), f.size(), 7);
  for (auto _ : state) {
    // the forward pass and the loss, as the program computes them
    float loss = 0;
    for (long i = 0; i < nb; ++i)
      for (long t = 0; t < nt; ++t)
        for (long k = 0; k < no; ++k) {
          float a = 0;
          for (long c = 0; c < nc; ++c)
            for (long u = 0; u < nu; ++u) a += f[(k * nc + c) * nu + u] * x[(i * nx + S * t + u) * nc + c];
          y[(i * nt + t) * no + k] = a;
          loss += gy[(i * nt + t) * no + k] * a;
        }
    benchmark::DoNotOptimize(loss);
    for (auto& v : gx) v = 0;
    for (long i = 0; i < nb; ++i)
      for (long t = 0; t < nt; ++t)
        for (long k = 0; k < no; ++k) {
          const float g = gy[(i * nt + t) * no + k];
          for (long c = 0; c < nc; ++c)
            for (long u = 0; u < nu; ++u) gx[(i * nx + S * t + u) * nc + c] += g * f[(k * nc + c) * nu + u];
        }
    benchmark::DoNotOptimize(gx.data());
  }
  state.counters["cells"] = static_cast<double>(gx.size());
}
}  // namespace

int main(int argc, char** argv) {
  Kokkos::ScopeGuard guard(argc, argv);
  for (long ns : {256L, 2048L}) {
    const std::string tag = std::to_string(ns);
    benchmark::RegisterBenchmark(("max_pool1d_gradient/program/" + tag).c_str(),
                                 [ns](benchmark::State& st) { program_1d(st, ns); })
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("max_pool1d_gradient/loops/" + tag).c_str(),
                                 [ns](benchmark::State& st) { loops_1d(st, ns); })
        ->Unit(benchmark::kMillisecond);
  }
  benchmark::RegisterBenchmark("max_pool2d_gradient/program/64", [](benchmark::State& st) { program_2d(st, 64); })
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("max_pool2d_gradient/loops/64", [](benchmark::State& st) { loops_2d(st, 64); })
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("conv1d_input_gradient/program/stride1",
                               [](benchmark::State& st) { conv_program<1>(st, conv_train1, conv_1, 512); })
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("conv1d_input_gradient/loops/stride1", [](benchmark::State& st) { conv_loops<1>(st, 512); })
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("conv1d_input_gradient/program/stride2",
                               [](benchmark::State& st) { conv_program<2>(st, conv_train2, conv_2, 256); })
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("conv1d_input_gradient/loops/stride2", [](benchmark::State& st) { conv_loops<2>(st, 256); })
      ->Unit(benchmark::kMillisecond);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
