// Datalog benchmarks: transitive closure and same generation on random directed graphs (n nodes, m edges) and on
// chains, solved by tl::logic::solve (bit-matrix and hash-join kernels), with gringo (Debian's grounder, which
// evaluates stratified programs while grounding) on the same facts when it is on the PATH, and Soufflé when the
// SOUFFLE environment variable names its binary. Each case reports facts derived, seconds per solve (the
// benchmark's time), the database's bytes after solving, and the process's peak resident memory so far.
//
//   bench_logic_closure --benchmark_filter=closure
//
// One thread. Facts files for the baselines go to $TMPDIR (or /tmp).
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <tensorlogic/logic.hpp>
#include <utility>
#include <vector>

namespace tl = tensorlogic;

namespace {
inline constexpr tl::index<"x"> x;
inline constexpr tl::index<"y"> y;
inline constexpr tl::index<"z"> z;
inline constexpr tl::index<"p"> p;
inline constexpr tl::index<"q"> q;
inline constexpr tl::relation<"Edge", 2> Edge;
inline constexpr tl::relation<"Path", 2> Path;
inline constexpr tl::relation<"Par", 2> Par;
inline constexpr tl::relation<"SG", 2> SG;

constexpr auto closure = tl::program(Path(x, y) = Edge(x, y), Path(x, z) = Path(x, y) * Edge(y, z));
constexpr auto same_generation = tl::program(SG(x, y) = Par(x, p) * Par(y, p) * (x != y),
                                             SG(x, y) = Par(x, p) * SG(p, q) * Par(y, q));

using edges_t = std::vector<std::pair<std::uint32_t, std::uint32_t>>;

edges_t random_edges(std::uint32_t n, std::size_t m, std::uint64_t seed) {
  std::mt19937_64 g(seed);
  std::set<std::pair<std::uint32_t, std::uint32_t>> e;
  while (e.size() < m) e.insert({static_cast<std::uint32_t>(g() % n), static_cast<std::uint32_t>(g() % n)});
  return {e.begin(), e.end()};
}
edges_t chain_edges(std::uint32_t n) {
  edges_t e;
  for (std::uint32_t k = 0; k + 1 < n; ++k) e.push_back({k, k + 1});
  return e;
}
// A random forest plus a few cross links: node k's parent is below k.
edges_t random_parents(std::uint32_t n, std::uint64_t seed) {
  std::mt19937_64 g(seed);
  std::set<std::pair<std::uint32_t, std::uint32_t>> e;
  for (std::uint32_t k = 1; k < n; ++k) e.insert({k, static_cast<std::uint32_t>(g() % k)});
  for (std::uint32_t k = 0; k < n / 10; ++k)
    e.insert({static_cast<std::uint32_t>(g() % n), static_cast<std::uint32_t>(g() % n)});
  return {e.begin(), e.end()};
}

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

template <class Prog, class In, class Out>
void run_engine(benchmark::State& state, const Prog& prog, In in, Out out, const edges_t& edges, std::uint32_t n,
                bool dense) {
  std::size_t facts = 0, bytes = 0;
  const char* kernel = "";
  for (auto _ : state) {
    tl::logic::database db(prog);
    db.domain_named("symbol").add_numbered(n);
    for (auto [a, b] : edges) db.insert_ids(in, {a, b});
    tl::logic::solve_options o;
    o.dense = dense;
    const auto report = tl::logic::solve(prog, db, o);
    facts = db.size(out);
    bytes = report.bytes;
    kernel = report.strata.back().kernel;
    benchmark::DoNotOptimize(facts);
  }
  state.counters["facts"] = static_cast<double>(facts);
  state.counters["db_MB"] = static_cast<double>(bytes) / 1e6;
  state.counters["peak_rss_MB"] = peak_rss_mb();
  state.SetLabel(kernel);
}

std::string temp_dir() {
  const char* t = std::getenv("TMPDIR");
  return t ? t : "/tmp";
}

// Times one external command per iteration (wall clock); skips when the command cannot run.
void run_external(benchmark::State& state, const std::string& command) {
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    const int rc = std::system(command.c_str());
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (rc != 0) {
      state.SkipWithError(("failed: " + command).c_str());
      return;
    }
    state.SetIterationTime(seconds);
  }
}

bool on_path(const char* tool) {
  return std::system((std::string("command -v ") + tool + " >/dev/null 2>&1").c_str()) == 0;
}

// gringo: the closure as an ASP program whose atoms are all hidden (#show.), so it computes and prints nothing.
void gringo_case(benchmark::State& state, const edges_t& edges, const std::string& name) {
  const std::string file = temp_dir() + "/tensorlogic_bench_" + name + ".lp";
  {
    std::ofstream f(file);
    f << "path(X,Y) :- edge(X,Y).\npath(X,Z) :- path(X,Y), edge(Y,Z).\n#show.\n";
    for (auto [a, b] : edges) f << "edge(" << a << "," << b << ").\n";
  }
  run_external(state, "gringo --text " + file + " > /dev/null");
}

// Soufflé (interpreted unless SOUFFLE names a wrapper that compiles): counts the closure with .printsize.
void souffle_case(benchmark::State& state, const edges_t& edges, const std::string& name) {
  const char* souffle = std::getenv("SOUFFLE");
  const std::string dir = temp_dir() + "/tensorlogic_bench_" + name;
  std::system(("mkdir -p " + dir).c_str());
  {
    std::ofstream f(dir + "/Edge.facts");
    for (auto [a, b] : edges) f << a << "\t" << b << "\n";
    std::ofstream d(dir + "/closure.dl");
    d << ".decl Edge(x: number, y: number)\n.input Edge\n.decl Path(x: number, y: number)\n.printsize Path\n"
         "Path(x, y) :- Edge(x, y).\nPath(x, z) :- Path(x, y), Edge(y, z).\n";
  }
  run_external(state, std::string(souffle) + " -j1 -F " + dir + " " + dir + "/closure.dl > /dev/null");
}

struct graph_case {
  const char* name;
  std::uint32_t n;
  std::size_t m;  // 0: a chain
};
// The four cases with published Soufflé figures first, then the n = 1000 .. 10000, m = 1.25 n sweep and chains.
const graph_case graphs[] = {{"n2000_m3000", 2000, 3000},    {"n10000_m11000", 10000, 11000},
                             {"n2000_m6000", 2000, 6000},    {"n5000_m10000", 5000, 10000},
                             {"n1000_m1250", 1000, 1250},    {"n5000_m6250", 5000, 6250},
                             {"n10000_m12500", 10000, 12500}, {"chain1000", 1000, 0},
                             {"chain4000", 4000, 0}};

void register_all() {
  for (const graph_case& g : graphs) {
    const edges_t edges = g.m ? random_edges(g.n, g.m, 2026) : chain_edges(g.n);
    const std::uint32_t n = g.n;
    const std::string name = g.name;
    benchmark::RegisterBenchmark(("closure/bitmatrix/" + name).c_str(), [=](benchmark::State& s) {
      run_engine(s, closure, Edge, Path, edges, n, true);
    })->Unit(benchmark::kMillisecond)->Iterations(n >= 5000 ? 1 : 3);
    benchmark::RegisterBenchmark(("closure/hashjoin/" + name).c_str(), [=](benchmark::State& s) {
      run_engine(s, closure, Edge, Path, edges, n, false);
    })->Unit(benchmark::kMillisecond)->Iterations(1);
    if (on_path("gringo"))
      benchmark::RegisterBenchmark(("closure/gringo/" + name).c_str(), [=](benchmark::State& s) {
        gringo_case(s, edges, name);
      })->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(1);
    if (std::getenv("SOUFFLE"))
      benchmark::RegisterBenchmark(("closure/souffle/" + name).c_str(), [=](benchmark::State& s) {
        souffle_case(s, edges, name);
      })->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(1);
  }
  for (std::uint32_t n : {1000u, 2000u, 5000u}) {
    const edges_t par = random_parents(n, 7);
    benchmark::RegisterBenchmark(("same_generation/hashjoin/n" + std::to_string(n)).c_str(), [=](benchmark::State& s) {
      run_engine(s, same_generation, Par, SG, par, n, true);
    })->Unit(benchmark::kMillisecond)->Iterations(1);
  }
}
}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
