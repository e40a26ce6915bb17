// tl::benchmark::add: registers a Google Benchmark case that evaluates a program on a store, fences the execution
// space after every evaluation (so device kernels are timed to completion on every backend), and reports
// FLOP/s and bytes/s counters from tl::estimate. Include it in a program linked with Google Benchmark.
//
//   tl::store s(prog, tl::extents(i = 1024, j = 1024, k = 1024));  // bind the inputs
//   tl::benchmark::add("gemm/1024", prog, s);
//   ::benchmark::Initialize(&argc, argv);
//   ::benchmark::RunSpecifiedBenchmarks();
#pragma once
#include <benchmark/benchmark.h>

#include <Kokkos_Core.hpp>
#include <string>

#include <tensorlogic/exec/eval.hpp>
#include <tensorlogic/plan/explain.hpp>

namespace tensorlogic::benchmark {

// The store must outlive the benchmark run; the program is copied.
template <class Prog, class Store>
::benchmark::internal::Benchmark* add(const std::string& name, const Prog& prog, Store& store) {
  double flops = 0, bytes = 0;
  for (const auto& e : estimate(prog, store)) {
    flops += e.flops;
    bytes += e.bytes;
  }
  return ::benchmark::RegisterBenchmark(name.c_str(), [prog, &store, flops, bytes](::benchmark::State& state) {
    for (auto _ : state) {
      eval(prog, store);
      Kokkos::fence();
    }
    state.counters["FLOP/s"] = ::benchmark::Counter(flops, ::benchmark::Counter::kIsIterationInvariantRate);
    state.counters["bytes/s"] = ::benchmark::Counter(bytes, ::benchmark::Counter::kIsIterationInvariantRate);
  });
}

}  // namespace tensorlogic::benchmark
