// The library's kernels against what users would use instead, in one binary: C(i,k) = A(i,j) B(j,k) in fp32 (the vendor
// path and the library's own tiled kernel) against OpenBLAS cblas_sgemm, Eigen Tensor contract and a naive loop; the fused Y = relu(W X + b) against sgemm followed
// by a separate elementwise pass; attention's batched scores S(n,h,p,q) = Q(n,p,h,d) K(n,q,h,d) s against one
// cblas_sgemm per (n, h) and the generic kernel; an elementwise equation and a row reduction over 16M floats against a
// STREAM-triad loop; a three-factor chain Y = A B C in the planner's order against two cblas_sgemm calls in the best
// order and left to right, and against the single loop. The library's cases are registered with tl::benchmark::add (FLOP/s and bytes/s from
// tl::estimate). After the run, a table gives each library case's time relative to its baseline.
//
// Fair OpenBLAS timings need the environment's OpenBLAS tuning variables unset and one thread:
//   env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 bench_contraction
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <tensorlogic/benchmark.hpp>
#include <tensorlogic/tensorlogic.hpp>
#include <vector>

#if TENSORLOGIC_BENCH_HAVE_OPENBLAS
#include <cblas.h>
#endif
#if TENSORLOGIC_BENCH_HAVE_EIGEN
#include <unsupported/Eigen/CXX11/Tensor>
#endif

namespace tl = tensorlogic;

namespace {
inline constexpr tl::index<"i"> i;
inline constexpr tl::index<"j"> j;
inline constexpr tl::index<"k"> k;
inline constexpr tl::tensor<"A", float, 2> A;
inline constexpr tl::tensor<"B", float, 2> B;
inline constexpr tl::tensor<"C", float, 2> C;
inline constexpr tl::tensor<"W", float, 2> W;
inline constexpr tl::tensor<"X", float, 2> X;
inline constexpr tl::tensor<"Y", float, 2> Y;
inline constexpr tl::tensor<"b", float, 1> bias;
inline constexpr tl::tensor<"u", float, 1> u;
inline constexpr tl::tensor<"v", float, 1> v;
inline constexpr tl::tensor<"w", float, 1> w;
inline constexpr tl::tensor<"r", float, 1> r;
inline constexpr tl::scalar<"s", float> s;

constexpr auto gemm = tl::program(C(i, k) = A(i, j) * B(j, k));
constexpr auto dense_layer = tl::program(Y(i, k) = tl::relu(W(i, j) * X(j, k) + bias(i)));
// The same layer as gradient programs and nn::linear write it: the pre-activation (a GEMM plus the bias: the vendor
// GEMM and an epilogue kernel), then the nonlinearity.
inline constexpr tl::tensor<"P", float, 2> Pre;
constexpr auto dense_layer_split =
    tl::program(Pre(i, k) = W(i, j) * X(j, k) + bias(i), Y(i, k) = tl::relu(Pre(i, k)));
constexpr auto triad = tl::program(w(i) = u(i) + s * v(i));
// Attention's scores with batch indices (n, h): one strided GEMM per (n, h) on the vendor path.
inline constexpr tl::index<"n"> n_;
inline constexpr tl::index<"h"> h_;
inline constexpr tl::index<"p"> p_;
inline constexpr tl::index<"q"> q_;
inline constexpr tl::index<"d"> d_;
inline constexpr tl::tensor<"Q", float, 4> Qt;
inline constexpr tl::tensor<"K", float, 4> Kt;
inline constexpr tl::tensor<"S", float, 4> St;
constexpr auto scores = tl::program(St(n_, h_, p_, q_) = Qt(n_, p_, h_, d_) * Kt(n_, q_, h_, d_) * s);
// A chain of three factors: the planner's pairwise order (here A (B C): two thin GEMMs) against two cblas_sgemm calls
// in the best order, the same calls left to right ((A B) C, what an einsum without a path search does), and the
// single loop over all four indices (tl::set_contraction_order(false)).
inline constexpr tl::index<"l"> l_;
constexpr auto chain = tl::program(Y(i, l_) = A(i, j) * B(j, k) * C(k, l_));
// Reductions: a row sum (the projected index is the contiguous one: lanes of accumulators) and a column sum (a bias
// gradient's shape: blocks of neighbouring cells per row).
constexpr auto row_sum = tl::program(r(i) = X(i, j));
constexpr auto column_sum = tl::program(r(j) = X(i, j));

// The data of every case; the stores adopt these buffers (no copy), so they live until the end of main.
std::vector<std::shared_ptr<std::vector<float>>> buffers;
std::shared_ptr<std::vector<float>> random_floats(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 g(seed);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  auto out = std::make_shared<std::vector<float>>(n);
  for (auto& x : *out) x = d(g);
  buffers.push_back(out);
  return out;
}

// Stores live for the whole run (tl::benchmark::add keeps a reference).
template <class Prog>
using store_of = tl::store<std::remove_const_t<Prog>>;

std::vector<std::unique_ptr<void, void (*)(void*)>> keep;
template <class T, class... Args>
T& kept(Args&&... args) {
  T* p = new T(std::forward<Args>(args)...);
  keep.emplace_back(p, [](void* q) { delete static_cast<T*>(q); });
  return *p;
}

// name of a library case -> name of its baseline, for the ratio table.
std::vector<std::pair<std::string, std::string>> pairs;

// A library case on the tiled GEMM kernel: the same store with the vendor path switched off while it runs.
template <class Prog, class Store>
void add_tiled(const std::string& name, const Prog& prog, Store& st, double flops, bool once) {
  auto* b = benchmark::RegisterBenchmark(name.c_str(), [&prog, &st, flops](benchmark::State& state) {
    tl::set_vendor_gemm(false);
    for (auto _ : state) {
      tl::eval(prog, st);
      Kokkos::fence();
    }
    tl::set_vendor_gemm(true);
    state.counters["FLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
  });
  b->Unit(benchmark::kMillisecond);
  if (once) b->Iterations(1);
}

void add_gemm(std::size_t n) {
  const std::string tag = std::to_string(n);
  auto a = random_floats(n * n, 1);
  auto bm = random_floats(n * n, 2);
  auto& st = kept<store_of<decltype(gemm)>>(gemm, tl::extents(i = n, j = n, k = n));
  tl::bind(st, A, a->data(), a->size());
  tl::bind(st, B, bm->data(), bm->size());
  auto* lib = tl::benchmark::add("gemm/tensorlogic/" + tag, gemm, st);
  lib->Unit(benchmark::kMillisecond);
  if (n >= 2048) lib->Iterations(1);
  add_tiled("gemm/tensorlogic_tiled/" + tag, gemm, st, 2.0 * n * n * n, n >= 2048);
#if TENSORLOGIC_BENCH_HAVE_OPENBLAS
  benchmark::RegisterBenchmark(("gemm/openblas/" + tag).c_str(), [=](benchmark::State& state) {
    std::vector<float> c(n * n);
    for (auto _ : state) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(n), static_cast<int>(n),
                  static_cast<int>(n), 1.0f, a->data(), static_cast<int>(n), bm->data(), static_cast<int>(n), 0.0f,
                  c.data(), static_cast<int>(n));
      benchmark::DoNotOptimize(c.data());
    }
    state.counters["FLOP/s"] = benchmark::Counter(2.0 * n * n * n, benchmark::Counter::kIsIterationInvariantRate);
  })->Unit(benchmark::kMillisecond);
  pairs.push_back({"gemm/tensorlogic/" + tag, "gemm/openblas/" + tag});
  pairs.push_back({"gemm/tensorlogic_tiled/" + tag, "gemm/openblas/" + tag});
#endif
#if TENSORLOGIC_BENCH_HAVE_EIGEN
  benchmark::RegisterBenchmark(("gemm/eigen_tensor/" + tag).c_str(), [=](benchmark::State& state) {
    Eigen::TensorMap<Eigen::Tensor<const float, 2, Eigen::RowMajor>> ea(a->data(), n, n), eb(bm->data(), n, n);
    Eigen::Tensor<float, 2, Eigen::RowMajor> ec(n, n);
    const Eigen::array<Eigen::IndexPair<int>, 1> dims = {Eigen::IndexPair<int>(1, 0)};
    for (auto _ : state) {
      ec = ea.contract(eb, dims);
      benchmark::DoNotOptimize(ec.data());
    }
    state.counters["FLOP/s"] = benchmark::Counter(2.0 * n * n * n, benchmark::Counter::kIsIterationInvariantRate);
  })->Unit(benchmark::kMillisecond);
  pairs.push_back({"gemm/tensorlogic/" + tag, "gemm/eigen_tensor/" + tag});
  pairs.push_back({"gemm/tensorlogic_tiled/" + tag, "gemm/eigen_tensor/" + tag});
#endif
  if (n <= 1024) {
    benchmark::RegisterBenchmark(("gemm/naive_loop/" + tag).c_str(), [=](benchmark::State& state) {
      std::vector<float> c(n * n);
      for (auto _ : state) {
        for (std::size_t x = 0; x < n; ++x)
          for (std::size_t z = 0; z < n; ++z) {
            float acc = 0;
            for (std::size_t y = 0; y < n; ++y) acc += (*a)[x * n + y] * (*bm)[y * n + z];
            c[x * n + z] = acc;
          }
        benchmark::DoNotOptimize(c.data());
      }
      state.counters["FLOP/s"] = benchmark::Counter(2.0 * n * n * n, benchmark::Counter::kIsIterationInvariantRate);
    })->Unit(benchmark::kMillisecond);
    pairs.push_back({"gemm/tensorlogic/" + tag, "gemm/naive_loop/" + tag});
  }
}

void add_dense_layer(std::size_t n) {
  const std::string tag = std::to_string(n);
  auto wm = random_floats(n * n, 3);
  auto xm = random_floats(n * n, 4);
  auto bv = random_floats(n, 5);
  auto& st = kept<store_of<decltype(dense_layer)>>(dense_layer, tl::extents(i = n, j = n, k = n));
  tl::bind(st, W, wm->data(), wm->size());
  tl::bind(st, X, xm->data(), xm->size());
  tl::bind(st, bias, bv->data(), bv->size());
  tl::benchmark::add("relu_wx_b/tensorlogic_fused/" + tag, dense_layer, st)->Unit(benchmark::kMillisecond);
  // the tiled kernel with the bias and relu in its store (one pass over Y)
  add_tiled("relu_wx_b/tensorlogic_tiled_fused/" + tag, dense_layer, st, 2.0 * n * n * n, false);
  auto& sp = kept<store_of<decltype(dense_layer_split)>>(dense_layer_split, tl::extents(i = n, j = n, k = n));
  tl::bind(sp, W, wm->data(), wm->size());
  tl::bind(sp, X, xm->data(), xm->size());
  tl::bind(sp, bias, bv->data(), bv->size());
  tl::benchmark::add("relu_wx_b/tensorlogic_gemm_epilogue/" + tag, dense_layer_split, sp)
      ->Unit(benchmark::kMillisecond);
#if TENSORLOGIC_BENCH_HAVE_OPENBLAS
  benchmark::RegisterBenchmark(("relu_wx_b/sgemm_then_pass/" + tag).c_str(), [=](benchmark::State& state) {
    std::vector<float> y(n * n);
    for (auto _ : state) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(n), static_cast<int>(n),
                  static_cast<int>(n), 1.0f, wm->data(), static_cast<int>(n), xm->data(), static_cast<int>(n), 0.0f,
                  y.data(), static_cast<int>(n));
      for (std::size_t x = 0; x < n; ++x)
        for (std::size_t z = 0; z < n; ++z) y[x * n + z] = std::max(0.0f, y[x * n + z] + (*bv)[x]);
      benchmark::DoNotOptimize(y.data());
    }
  })->Unit(benchmark::kMillisecond);
  pairs.push_back({"relu_wx_b/tensorlogic_fused/" + tag, "relu_wx_b/sgemm_then_pass/" + tag});
  pairs.push_back({"relu_wx_b/tensorlogic_gemm_epilogue/" + tag, "relu_wx_b/sgemm_then_pass/" + tag});
  pairs.push_back({"relu_wx_b/tensorlogic_tiled_fused/" + tag, "relu_wx_b/sgemm_then_pass/" + tag});
#endif
}

void add_batched(int nb, int nh, int np, int nd) {
  const std::string tag = std::to_string(nb) + "x" + std::to_string(nh) + "x" + std::to_string(np) + "x" +
                          std::to_string(np) + "x" + std::to_string(nd);
  const auto un = [](int x) { return static_cast<std::size_t>(x); };
  auto qm = random_floats(un(nb * np * nh * nd), 11);
  auto km = random_floats(un(nb * np * nh * nd), 12);
  const auto ext = tl::extents(n_ = un(nb), h_ = un(nh), p_ = un(np), q_ = un(np), d_ = un(nd));
  auto& st = kept<store_of<decltype(scores)>>(scores, ext);
  tl::bind(st, Qt, qm->data(), qm->size());
  tl::bind(st, Kt, km->data(), km->size());
  tl::bind(st, s, 0.125f);
  tl::benchmark::add("batched_scores/tensorlogic/" + tag, scores, st)->Unit(benchmark::kMillisecond);
  add_tiled("batched_scores/tensorlogic_tiled/" + tag, scores, st,
            2.0 * nb * nh * np * np * nd, false);
  // The generic kernel on the same store (the vendor path and the tiled kernel switched off while it runs).
  benchmark::RegisterBenchmark(("batched_scores/generic_kernel/" + tag).c_str(), [&st](benchmark::State& state) {
    tl::set_vendor_gemm(false);
    tl::set_tiled_gemm(false);
    for (auto _ : state) {
      tl::eval(scores, st);
      Kokkos::fence();
    }
    tl::set_tiled_gemm(true);
    tl::set_vendor_gemm(true);
  })->Unit(benchmark::kMillisecond)->Iterations(1);
#if TENSORLOGIC_BENCH_HAVE_OPENBLAS
  // What a user writes by hand: one cblas_sgemm per (n, h) on the strided blocks.
  benchmark::RegisterBenchmark(("batched_scores/sgemm_loop/" + tag).c_str(), [=](benchmark::State& state) {
    std::vector<float> out(un(nb * nh * np * np));
    for (auto _ : state) {
      for (int b = 0; b < nb; ++b)
        for (int h = 0; h < nh; ++h)
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, np, np, nd, 0.125f,
                      qm->data() + (un(b) * un(np) * un(nh) + un(h)) * un(nd), nh * nd,
                      km->data() + (un(b) * un(np) * un(nh) + un(h)) * un(nd), nh * nd, 0.0f,
                      out.data() + (un(b) * un(nh) + un(h)) * un(np) * un(np), np);
      benchmark::DoNotOptimize(out.data());
    }
  })->Unit(benchmark::kMillisecond);
  pairs.push_back({"batched_scores/tensorlogic/" + tag, "batched_scores/sgemm_loop/" + tag});
  pairs.push_back({"batched_scores/tensorlogic_tiled/" + tag, "batched_scores/sgemm_loop/" + tag});
  pairs.push_back({"batched_scores/generic_kernel/" + tag, "batched_scores/sgemm_loop/" + tag});
#endif
}

void add_memory_bound(std::size_t n) {
  const std::string tag = std::to_string(n);
  auto uv = random_floats(n, 6);
  auto vv = random_floats(n, 7);
  auto& t = kept<store_of<decltype(triad)>>(triad, tl::extents(i = n));
  tl::bind(t, u, uv->data(), uv->size());
  tl::bind(t, v, vv->data(), vv->size());
  tl::bind(t, s, 3.0f);
  tl::benchmark::add("triad/tensorlogic/" + tag, triad, t)->Unit(benchmark::kMillisecond);
  const std::size_t side = static_cast<std::size_t>(std::sqrt(static_cast<double>(n)));
  auto xm = random_floats(side * side, 8);
  auto& rs = kept<store_of<decltype(row_sum)>>(row_sum, tl::extents(i = side, j = side));
  tl::bind(rs, X, xm->data(), xm->size());
  tl::benchmark::add("row_sum/tensorlogic/" + tag, row_sum, rs)->Unit(benchmark::kMillisecond);
  auto& cs = kept<store_of<decltype(column_sum)>>(column_sum, tl::extents(i = side, j = side));
  tl::bind(cs, X, xm->data(), xm->size());
  tl::benchmark::add("column_sum/tensorlogic/" + tag, column_sum, cs)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark(("triad/stream_loop/" + tag).c_str(), [=](benchmark::State& state) {
    std::vector<float> out(n);
    for (auto _ : state) {
      const float* a = uv->data();
      const float* c = vv->data();
      float* o = out.data();
      for (std::size_t q = 0; q < n; ++q) o[q] = a[q] + 3.0f * c[q];
      benchmark::DoNotOptimize(out.data());
    }
    state.counters["bytes/s"] = benchmark::Counter(12.0 * n, benchmark::Counter::kIsIterationInvariantRate);
  })->Unit(benchmark::kMillisecond);
  pairs.push_back({"triad/tensorlogic/" + tag, "triad/stream_loop/" + tag});
  pairs.push_back({"row_sum/tensorlogic/" + tag, "triad/stream_loop/" + tag});
  pairs.push_back({"column_sum/tensorlogic/" + tag, "triad/stream_loop/" + tag});
}

void add_chain(std::size_t ni, std::size_t nj, std::size_t nk, std::size_t nl) {
  const std::string tag = std::to_string(ni) + "x" + std::to_string(nj) + "x" + std::to_string(nk) + "x" + std::to_string(nl);
  auto a = random_floats(ni * nj, 11);
  auto bm = random_floats(nj * nk, 12);
  auto c = random_floats(nk * nl, 13);
  auto& st = kept<store_of<decltype(chain)>>(chain, tl::extents(i = ni, j = nj, k = nk, l_ = nl));
  tl::bind(st, A, a->data(), a->size());
  tl::bind(st, B, bm->data(), bm->size());
  tl::bind(st, C, c->data(), c->size());
  tl::benchmark::add("chain3/tensorlogic/" + tag, chain, st)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark(("chain3/tensorlogic_single_loop/" + tag).c_str(), [&st](benchmark::State& state) {
    tl::set_contraction_order(false);
    for (auto _ : state) {
      tl::eval(chain, st);
      Kokkos::fence();
    }
    tl::set_contraction_order(true);
  })->Unit(benchmark::kMillisecond)->Iterations(1);
  pairs.push_back({"chain3/tensorlogic/" + tag, "chain3/tensorlogic_single_loop/" + tag});
#if TENSORLOGIC_BENCH_HAVE_OPENBLAS
  const int I = static_cast<int>(ni), J = static_cast<int>(nj), K = static_cast<int>(nk), L = static_cast<int>(nl);
  benchmark::RegisterBenchmark(("chain3/openblas_best/" + tag).c_str(), [=](benchmark::State& state) {
    std::vector<float> t(nj * nl), y(ni * nl);
    for (auto _ : state) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, J, L, K, 1.0f, bm->data(), K, c->data(), L, 0.0f, t.data(), L);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, I, L, J, 1.0f, a->data(), J, t.data(), L, 0.0f, y.data(), L);
      benchmark::DoNotOptimize(y.data());
    }
  })->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark(("chain3/openblas_left_to_right/" + tag).c_str(), [=](benchmark::State& state) {
    std::vector<float> t(ni * nk), y(ni * nl);
    for (auto _ : state) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, I, K, J, 1.0f, a->data(), J, bm->data(), K, 0.0f, t.data(), K);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, I, L, K, 1.0f, t.data(), K, c->data(), L, 0.0f, y.data(), L);
      benchmark::DoNotOptimize(y.data());
    }
  })->Unit(benchmark::kMillisecond);
  pairs.push_back({"chain3/tensorlogic/" + tag, "chain3/openblas_best/" + tag});
  pairs.push_back({"chain3/tensorlogic/" + tag, "chain3/openblas_left_to_right/" + tag});
#endif
}

// Console output as usual, then each library case's time over its baseline's (and bytes/s ratios for the
// memory-bound cases, where the two move different byte counts).
class ratio_reporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      seconds_[run.benchmark_name()] = run.GetAdjustedRealTime();
      auto it = run.counters.find("bytes/s");
      if (it != run.counters.end()) bytes_per_second_[run.benchmark_name()] = it->second.value;
    }
    ConsoleReporter::ReportRuns(runs);
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    std::printf("\n%-40s %-34s %14s %14s\n", "library case", "baseline", "time ratio", "bytes/s ratio");
    for (const auto& [lib, base] : pairs) {
      const auto find = [&](const std::string& prefix) -> std::string {
        for (const auto& [name, t] : seconds_)
          if (name.rfind(prefix, 0) == 0) return name;
        return {};
      };
      const std::string l = find(lib), b = find(base);
      if (l.empty() || b.empty()) continue;
      double bw = 0;
      if (bytes_per_second_.count(l) && bytes_per_second_.count(b))
        bw = bytes_per_second_[l] / bytes_per_second_[b];
      if (bw > 0)
        std::printf("%-40s %-34s %13.3fx %13.2fx\n", lib.c_str(), base.c_str(), seconds_[b] / seconds_[l], bw);
      else
        std::printf("%-40s %-34s %13.3fx %14s\n", lib.c_str(), base.c_str(), seconds_[b] / seconds_[l], "-");
    }
    std::printf("(time ratio = baseline time / library time: above 1 the library is faster)\n");
  }

 private:
  std::map<std::string, double> seconds_, bytes_per_second_;
};
}  // namespace

int main(int argc, char** argv) {
  Kokkos::ScopeGuard guard(argc, argv);
  for (std::size_t n : {256u, 1024u, 2048u}) add_gemm(n);
  add_dense_layer(1024);
  add_batched(8, 8, 256, 64);
  add_memory_bound(std::size_t{1} << 24);
  add_chain(1024, 64, 1024, 64);
  benchmark::Initialize(&argc, argv);
  ratio_reporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  keep.clear();
  buffers.clear();
  return 0;
}
