// Datalog benchmarks: transitive closure on random directed graphs (n nodes, m edges) and on chains, same generation
// on random directed graphs and on random forests, solved by tl::logic::solve (bit-matrix and hash-join kernels;
// bitmatrix_kokkos, hashjoin_kokkos: the same kernels as Kokkos kernels in the default execution space;
// hashjoin_kokkos_whole: that hash join with each join's derived tuples buffered whole instead of in chunks), with
// gringo (Debian's grounder, which evaluates stratified programs while grounding) on the same facts when it is on the
// PATH, and Soufflé when the SOUFFLE environment variable names its binary. Each engine case reports facts derived,
// seconds per solve (the benchmark's time), the database's bytes after solving, and the process's peak resident
// memory so far.
//
//   bench_logic_closure --benchmark_filter=closure
//   SOUFFLE=/path/to/souffle bench_logic_closure --benchmark_filter=closure
//   SOUFFLE=/path/to/souffle SOUFFLE_COMPILED=1 bench_logic_closure --benchmark_filter='^(closure|same_generation)/'
//
// Soufflé gets the same facts (Edge.facts, Par.facts) and the same rules, with .printsize on the derived relation,
// so it counts it and writes nothing. <program>/souffle/<graph> times one interpreted run,
// `souffle -j1 -F dir program.dl`; with SOUFFLE_COMPILED set (any value), <program>/souffle_compiled/<graph> also
// times the program compiled by Soufflé: `souffle -o binary program.dl` once per process and program, untimed, then
// `binary -j1 -F dir` per iteration. Both times are the whole process (start, reading the facts, the fixpoint), wall
// clock; "cpu_ms" is that process's user + system time (the figure to compare with the engine cases' CPU column on a
// busy machine), "facts" the size Soufflé printed and "peak_rss_MB" that process's own peak resident memory (each
// Soufflé process is started and measured by a fresh copy of this program,
// `bench_logic_closure --measure program args...`).
//
// One thread. Facts files and the compiled Soufflé programs go to $TMPDIR (or /tmp).
#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
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

// kokkos: the strata as Kokkos kernels in the default execution space (tl::logic::solve with a space): bit matrices
// when dense, else the Kokkos hash join, its derived tuples buffered in chunks of at most `chunk` (0: the default,
// solve_options::join_chunk_tuples). Counter buffered_tuples: the most derived tuples the Kokkos join held at once.
template <class Prog, class In, class Out>
void run_engine(benchmark::State& state, const Prog& prog, In in, Out out, const edges_t& edges, std::uint32_t n,
                bool dense, bool kokkos = false, std::size_t chunk = 0) {
  std::size_t facts = 0, bytes = 0, buffered = 0;
  const char* kernel = "";
  for (auto _ : state) {
    tl::logic::database db(prog);
    db.domain_named("symbol").add_numbered(n);
    for (auto [a, b] : edges) db.insert_ids(in, {a, b});
    tl::logic::solve_options o;
    o.dense = dense;
    if (chunk > 0) o.join_chunk_tuples = chunk;
    const auto report =
        kokkos ? tl::logic::solve(prog, db, o, Kokkos::DefaultExecutionSpace{}) : tl::logic::solve(prog, db, o);
    facts = db.size(out);
    bytes = report.bytes;
    kernel = report.strata.back().kernel;
    for (const auto& st : report.strata) buffered = std::max(buffered, st.peak_buffered);
    benchmark::DoNotOptimize(facts);
  }
  state.counters["facts"] = static_cast<double>(facts);
  state.counters["db_MB"] = static_cast<double>(bytes) / 1e6;
  state.counters["peak_rss_MB"] = peak_rss_mb();
  if (kokkos) state.counters["buffered_tuples"] = static_cast<double>(buffered);
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

// A program as the external engines get it: Soufflé's text (.printsize on the output relation) and gringo's (all
// atoms hidden with #show., so gringo computes the model and prints nothing), with the input relation's name.
struct external_program {
  const char* stem;     // file names: closure, same_generation
  const char* input;    // Soufflé's input relation, read from <input>.facts
  const char* output;   // the relation whose size Soufflé prints
  const char* souffle;  // Soufflé's declarations and rules
  const char* asp;      // gringo's rules
  const char* asp_fact; // gringo's name for the input relation
};
constexpr external_program closure_text{
    "closure", "Edge", "Path",
    ".decl Edge(x: number, y: number)\n.input Edge\n.decl Path(x: number, y: number)\n.printsize Path\n"
    "Path(x, y) :- Edge(x, y).\nPath(x, z) :- Path(x, y), Edge(y, z).\n",
    "path(X,Y) :- edge(X,Y).\npath(X,Z) :- path(X,Y), edge(Y,Z).\n#show.\n", "edge"};
constexpr external_program same_generation_text{
    "same_generation", "Par", "SG",
    ".decl Par(x: number, y: number)\n.input Par\n.decl SG(x: number, y: number)\n.printsize SG\n"
    "SG(x, y) :- Par(x, p), Par(y, p), x != y.\nSG(x, y) :- Par(x, p), SG(p, q), Par(y, q).\n",
    "sg(X,Y) :- par(X,P), par(Y,P), X != Y.\nsg(X,Y) :- par(X,P), sg(P,Q), par(Y,Q).\n#show.\n", "par"};

void gringo_case(benchmark::State& state, const external_program& prog, const edges_t& edges,
                 const std::string& name) {
  const std::string file = temp_dir() + "/tensorlogic_bench_" + prog.stem + "_" + name + ".lp";
  {
    std::ofstream f(file);
    f << prog.asp;
    for (auto [a, b] : edges) f << prog.asp_fact << "(" << a << "," << b << ").\n";
  }
  run_external(state, "gringo --text " + file + " > /dev/null");
}

struct process_result {
  bool ok = false;
  std::string out;         // its standard output
  double seconds = 0;      // wall clock, start to exit
  double cpu_seconds = 0;  // its user + system time
  double peak_rss_mb = 0;  // its own peak resident memory
};

// Starts argv[0] with argv, waits for it and returns its exit status, wall-clock seconds and rusage.
int spawn_and_wait(char* const* argv, double& seconds, rusage& u) {
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = fork();
  if (pid == 0) {
    execvp(argv[0], argv);
    _exit(127);
  }
  if (pid < 0) return -1;
  int status = 0;
  while (wait4(pid, &status, 0, &u) < 0 && errno == EINTR) {
  }
  seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// `bench_logic_closure --measure program args...`: runs the program and appends its measurements to its output.
// A child forked straight from the benchmark would count the benchmark's resident pages at the fork in its peak,
// so the benchmark starts a fresh copy of itself (a few MB) to fork and measure the program.
int measure_main(char** argv) {
  double seconds = 0;
  rusage u{};
  const int rc = spawn_and_wait(argv, seconds, u);
  const double cpu = static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
                     static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
  std::printf("\ntensorlogic_measure %.6f %.6f %ld\n", seconds, cpu, static_cast<long>(u.ru_maxrss));
  return rc;
}

// Runs a program (no shell) through measure_main, with its standard output captured.
process_result run_process(const std::vector<std::string>& args) {
  std::vector<std::string> all{"/proc/self/exe", "--measure"};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (const std::string& a : all) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  process_result r;
  int fd[2];
  if (pipe(fd) != 0) return r;
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fd[1], STDOUT_FILENO);
    close(fd[0]);
    close(fd[1]);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(fd[1]);
  if (pid < 0) {
    close(fd[0]);
    return r;
  }
  std::string out;
  char buffer[4096];
  for (;;) {
    const ssize_t k = read(fd[0], buffer, sizeof buffer);
    if (k > 0)
      out.append(buffer, static_cast<std::size_t>(k));
    else if (k == 0 || errno != EINTR)
      break;
  }
  close(fd[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  const bool exited_0 = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  const std::size_t at = out.rfind("\ntensorlogic_measure ");
  if (at == std::string::npos) return r;
  long maxrss_kb = 0;
  if (std::sscanf(out.c_str() + at, "\ntensorlogic_measure %lf %lf %ld", &r.seconds, &r.cpu_seconds, &maxrss_kb) != 3)
    return r;
  r.out = out.substr(0, at);
  r.peak_rss_mb = static_cast<double>(maxrss_kb) / 1024.0;
  r.ok = exited_0;
  return r;
}

std::string joined(const std::vector<std::string>& args) {
  std::string s;
  for (const std::string& a : args) s += (s.empty() ? "" : " ") + a;
  return s;
}

// Soufflé on the same facts: counts the output relation with .printsize (see the header comment).
void souffle_case(benchmark::State& state, const external_program& prog, const edges_t& edges,
                  const std::string& name, bool compiled) {
  const std::string souffle = std::getenv("SOUFFLE");
  const std::string stem = prog.stem;
  const std::string dir = temp_dir() + "/tensorlogic_bench_" + stem + "_" + name;
  const std::string source = dir + "/" + stem + ".dl";
  std::system(("mkdir -p " + dir).c_str());
  {
    std::ofstream f(dir + "/" + prog.input + ".facts");
    for (auto [a, b] : edges) f << a << "\t" << b << "\n";
    std::ofstream d(source);
    d << prog.souffle;
  }
  std::vector<std::string> command{souffle, "-j1", "-F", dir, source};
  if (compiled) {
    // The program text is the same for every graph: compile it once per process.
    const std::string binary = temp_dir() + "/tensorlogic_bench_" + stem + "_souffle";
    static std::map<std::string, bool> built;
    if (!built.count(stem)) built[stem] = run_process({souffle, "-o", binary, source}).ok;
    if (!built[stem]) {
      state.SkipWithError(("failed: " + souffle + " -o " + binary + " " + source).c_str());
      return;
    }
    command = {binary, "-j1", "-F", dir};
  }
  double facts = 0, cpu = 0, peak = 0;
  for (auto _ : state) {
    const process_result r = run_process(command);
    if (!r.ok) {
      state.SkipWithError(("failed: " + joined(command)).c_str());
      break;
    }
    state.SetIterationTime(r.seconds);
    const std::string label = std::string(prog.output) + "\t";
    const std::size_t at = r.out.find(label);
    facts = at == std::string::npos ? -1 : std::strtod(r.out.c_str() + at + label.size(), nullptr);
    cpu = r.cpu_seconds;
    peak = r.peak_rss_mb;
  }
  state.counters["facts"] = facts;
  state.counters["cpu_ms"] = cpu * 1e3;
  state.counters["peak_rss_MB"] = peak;
}

// gringo (when on the PATH) and Soufflé (when SOUFFLE names it; compiled too when SOUFFLE_COMPILED is set) on the
// same facts, as <stem>/gringo/<name>, <stem>/souffle/<name>, <stem>/souffle_compiled/<name>.
void register_external(const external_program& prog, const edges_t& edges, const std::string& name) {
  const std::string family = std::string(prog.stem) + "/";
  if (on_path("gringo"))
    benchmark::RegisterBenchmark((family + "gringo/" + name).c_str(), [=, &prog](benchmark::State& s) {
      gringo_case(s, prog, edges, name);
    })->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(1);
  if (!std::getenv("SOUFFLE")) return;
  for (bool compiled : {false, true}) {
    if (compiled && !std::getenv("SOUFFLE_COMPILED")) continue;
    benchmark::RegisterBenchmark((family + (compiled ? "souffle_compiled/" : "souffle/") + name).c_str(),
                                 [=, &prog](benchmark::State& s) { souffle_case(s, prog, edges, name, compiled); })
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond)
        ->Iterations(1);
  }
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
    benchmark::RegisterBenchmark(("closure/bitmatrix_kokkos/" + name).c_str(), [=](benchmark::State& s) {
      run_engine(s, closure, Edge, Path, edges, n, true, true);
    })->Unit(benchmark::kMillisecond)->Iterations(n >= 5000 ? 1 : 3);
    benchmark::RegisterBenchmark(("closure/hashjoin/" + name).c_str(), [=](benchmark::State& s) {
      run_engine(s, closure, Edge, Path, edges, n, false);
    })->Unit(benchmark::kMillisecond)->Iterations(1);
    benchmark::RegisterBenchmark(("closure/hashjoin_kokkos/" + name).c_str(), [=](benchmark::State& s) {
      run_engine(s, closure, Edge, Path, edges, n, false, true);
    })->Unit(benchmark::kMillisecond)->Iterations(1);
    benchmark::RegisterBenchmark(("closure/hashjoin_kokkos_whole/" + name).c_str(), [=](benchmark::State& s) {
      run_engine(s, closure, Edge, Path, edges, n, false, true, std::size_t{1} << 40);
    })->Unit(benchmark::kMillisecond)->Iterations(1);
    register_external(closure_text, edges, name);
  }
  // Same generation on the sweep's random directed graphs (m = 1.25 n, the closure's edges as Par), then on random
  // forests with a few cross links.
  auto same_generation_cases = [](const std::string& name, const edges_t& par, std::uint32_t n) {
    benchmark::RegisterBenchmark(("same_generation/hashjoin/" + name).c_str(), [=](benchmark::State& s) {
      run_engine(s, same_generation, Par, SG, par, n, true);
    })->Unit(benchmark::kMillisecond)->Iterations(1);
    benchmark::RegisterBenchmark(("same_generation/hashjoin_kokkos/" + name).c_str(), [=](benchmark::State& s) {
      run_engine(s, same_generation, Par, SG, par, n, true, true);
    })->Unit(benchmark::kMillisecond)->Iterations(1);
    register_external(same_generation_text, par, name);
  };
  for (std::uint32_t n : {1000u, 2000u, 5000u, 10000u}) {
    const std::size_t m = std::size_t{n} * 5 / 4;
    same_generation_cases("n" + std::to_string(n) + "_m" + std::to_string(m), random_edges(n, m, 2026), n);
  }
  for (std::uint32_t n : {1000u, 2000u, 5000u})
    same_generation_cases("forest" + std::to_string(n), random_parents(n, 7), n);
}
}  // namespace

int main(int argc, char** argv) {
  if (argc > 2 && std::string(argv[1]) == "--measure") return measure_main(argv + 2);
  Kokkos::ScopeGuard guard(argc, argv);
  register_all();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
