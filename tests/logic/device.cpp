// The bit-matrix strata as Kokkos kernels (tl::logic::solve(prog, db, options, space), logic/dense_device.hpp), in
// the default execution space, with one work item a row and (as on a device) one team a row, against naive
// fixpoints over std::set written here, and against the host kernels
// (bit matrices and hash joins) on the same inputs: closures in three shapes, transposed operands of a recursive
// head (the transposed delta), a transposed copy rule, two heads recursive through each other, a program whose
// negation stratum runs as a Kokkos hash join (logic/join_device.hpp), facts given before solving, an iteration
// limit; a rule larger than the Kokkos join takes (its stratum stays on the host) and an iteration limit on a
// Kokkos hash join; the Kokkos hash join in chunks (a bounded buffer of derived tuples). (Every other Datalog case runs
// on the Kokkos path in tests/logic/datalog.cpp.)
#include <catch2/catch.hpp>
#include <map>
#include <string>
#include <vector>

#include "reference.hpp"

namespace tl = tensorlogic;
using namespace logic_reference;
using tl::logic::id_t;

namespace {
inline constexpr tl::index<"x"> x;
inline constexpr tl::index<"y"> y;
inline constexpr tl::index<"z"> z;
inline constexpr tl::relation<"Edge", 2> Edge;
inline constexpr tl::relation<"Path", 2> Path;
inline constexpr tl::relation<"Rev", 2> Rev;
inline constexpr tl::relation<"Odd", 2> Odd;
inline constexpr tl::relation<"Even", 2> Even;
inline constexpr tl::relation<"Node", 1> Node;
inline constexpr tl::relation<"NoPath", 2> NoPath;

const char* const device_kernel = "bit matrix (Kokkos)";
const char* const join_kernel = "hash join (Kokkos)";

// Runs the Kokkos kernels as teams (one a row, as on a device) while it lives, else one work item a row (the host
// schedule of a host space).
struct teams_on_host {
  explicit teams_on_host(bool on) { tl::logic::detail::dense_teams_on_host = on; }
  ~teams_on_host() { tl::logic::detail::dense_teams_on_host = false; }
};

// {(x, z) : (x, y) in A, (y, z) in B}, with A given as (y, x) pairs when a_t and B as (z, y) pairs when b_t.
set2 compose(const set2& a, bool a_t, const set2& b, bool b_t) {
  std::map<std::uint32_t, std::vector<std::uint32_t>> b_by_y;
  for (auto [b0, b1] : b) b_by_y[b_t ? b1 : b0].push_back(b_t ? b0 : b1);
  set2 out;
  for (auto [a0, a1] : a) {
    const auto it = b_by_y.find(a_t ? a0 : a1);
    if (it == b_by_y.end()) continue;
    for (std::uint32_t bz : it->second) out.insert({a_t ? a1 : a0, bz});
  }
  return out;
}
set2 transpose(const set2& s) {
  set2 out;
  for (auto [u, v] : s) out.insert({v, u});
  return out;
}
bool add_all(set2& to, const set2& from) {
  const std::size_t before = to.size();
  to.insert(from.begin(), from.end());
  return to.size() != before;
}

struct graph_case {
  std::uint32_t n;
  set2 edges;
};
std::vector<graph_case> graphs() {
  return {{60, random_graph(60, 70, 11)}, {60, random_graph(60, 150, 12)}, {130, random_graph(130, 160, 13)},
          {200, random_graph(200, 260, 14)}, {40, chain(40)}, {1, {}}, {5, {{0, 0}, {1, 2}, {2, 1}}}};
}

// Solves prog four ways (Kokkos bit matrices a row per work item and a row per team, host bit matrices, host hash
// joins) on fresh databases filled by `fill`; checks that `head` gets `expected` every way, with the same derived
// count, and the same iterations as the host bit matrices on the Kokkos paths (the hash joins only without an
// iteration limit). Returns a Kokkos run's report.
template <class Prog, class Fill, class Sym>
tl::logic::solve_report solve_three_ways(const Prog& prog, Fill fill, Sym head, const set2& expected,
                                         tl::logic::solve_options options = {}) {
  tl::logic::database on_host(prog), by_hash(prog);
  fill(on_host);
  fill(by_hash);
  options.dense = true;
  const auto host = tl::logic::solve(prog, on_host, options);
  tl::logic::solve_report device;
  for (bool teams : {false, true}) {
    INFO("teams on the host: " << teams);
    tl::logic::database on_device(prog);
    fill(on_device);
    const teams_on_host schedule(teams);
    device = tl::logic::solve(prog, on_device, options, Kokkos::DefaultExecutionSpace{});
    CHECK(as_set(on_device, head) == expected);
    CHECK(device.derived == host.derived);
    REQUIRE(device.strata.size() == host.strata.size());
    for (std::size_t s = 0; s < device.strata.size(); ++s) {
      const bool dense = std::string(host.strata[s].kernel) == "bit matrix";
      // the Kokkos hash join's iterations each see the relations as they were when the iteration began (so never
      // fewer iterations than the host hash join, whose later rules see what earlier rules derived)
      if (dense || options.max_iterations < 0) CHECK(device.strata[s].derived == host.strata[s].derived);
      if (dense) CHECK(device.strata[s].iterations == host.strata[s].iterations);
      else CHECK(device.strata[s].iterations >= host.strata[s].iterations);
      CHECK(std::string(device.strata[s].kernel) == (dense ? device_kernel : join_kernel));
    }
  }
  CHECK(as_set(on_host, head) == expected);
  if (options.max_iterations < 0) {  // the hash joins' schedule reaches further in as many iterations
    options.dense = false;
    const auto hash = tl::logic::solve(prog, by_hash, options);
    CHECK(as_set(by_hash, head) == expected);
    CHECK(device.derived == hash.derived);
  }
  return device;
}
}  // namespace

TEST_CASE("Kokkos bit matrices: transitive closure in three shapes equals Warshall", "[logic][device]") {
  constexpr auto left = tl::program(Path(x, y) = Edge(x, y), Path(x, z) = Path(x, y) * Edge(y, z));
  constexpr auto right = tl::program(Path(x, y) = Edge(x, y), Path(x, z) = Edge(x, y) * Path(y, z));
  constexpr auto doubling = tl::program(Path(x, y) = Edge(x, y), Path(x, z) = Path(x, y) * Path(y, z));
  auto check = [](const auto& prog, const char* shape) {
    for (const graph_case& g : graphs()) {
      INFO(shape << " n=" << g.n << " m=" << g.edges.size());
      const auto report = solve_three_ways(
          prog,
          [&](auto& db) {
            db.domain_named("symbol").add_numbered(g.n);
            insert_all(db, Edge, g.edges);
          },
          Path, closure(g.edges));
      CHECK(std::string(report.strata.back().kernel) == device_kernel);
      CHECK(report.derived == closure(g.edges).size());
    }
  };
  check(left, "left-linear");
  check(right, "right-linear");
  check(doubling, "doubling");
}

TEST_CASE("Kokkos bit matrices: transposed operands of a recursive head and a transposed copy", "[logic][device]") {
  // P(x, y) <- E(y, x);  P(x, z) <- P(y, x), P(y, z): the first operand is the head read transposed (its transposed
  // delta), the second the head as it is.
  constexpr auto shared_source = tl::program(Path(x, y) = Edge(y, x), Path(x, z) = Path(y, x) * Path(y, z));
  // Rev(x, y) <- E(y, x) in a stratum of its own; P(x, y) <- Rev(x, y);  P(x, z) <- E(z, y), P(x, y): the head as
  // the first operand, a fixed relation transposed as the second.
  constexpr auto reversed = tl::program(Rev(x, y) = Edge(y, x), Path(x, y) = Rev(x, y),
                                        Path(x, z) = Path(x, y) * Edge(z, y));
  // P(x, y) <- E(x, y);  P(x, z) <- E(x, y), P(z, y): the head transposed as the second operand.
  constexpr auto second_t = tl::program(Path(x, y) = Edge(x, y), Path(x, z) = Edge(x, y) * Path(z, y));
  for (const graph_case& g : graphs()) {
    INFO("n=" << g.n << " m=" << g.edges.size());
    auto fill = [&](auto& db) {
      db.domain_named("symbol").add_numbered(g.n);
      insert_all(db, Edge, g.edges);
    };
    set2 p1 = transpose(g.edges);
    while (add_all(p1, compose(p1, true, p1, false))) {
    }
    solve_three_ways(shared_source, fill, Path, p1);

    set2 p2 = transpose(g.edges);
    while (add_all(p2, compose(p2, false, g.edges, true))) {
    }
    solve_three_ways(reversed, fill, Path, p2);

    set2 p3 = g.edges;
    while (add_all(p3, compose(g.edges, false, p3, true))) {
    }
    solve_three_ways(second_t, fill, Path, p3);
  }
}

TEST_CASE("Kokkos bit matrices: two heads recursive through each other", "[logic][device]") {
  // Odd / even path lengths: Odd(x, y) <- E(x, y);  Even(x, z) <- Odd(x, y), E(y, z);
  // Odd(x, z) <- Even(x, y), E(y, z).
  constexpr auto prog = tl::program(Odd(x, y) = Edge(x, y), Even(x, z) = Odd(x, y) * Edge(y, z),
                                    Odd(x, z) = Even(x, y) * Edge(y, z));
  for (const graph_case& g : graphs()) {
    INFO("n=" << g.n << " m=" << g.edges.size());
    set2 odd = g.edges, even;
    for (bool changed = true; changed;) {
      changed = add_all(even, compose(odd, false, g.edges, false));
      changed = add_all(odd, compose(even, false, g.edges, false)) || changed;
    }
    auto fill = [&](auto& db) {
      db.domain_named("symbol").add_numbered(g.n);
      insert_all(db, Edge, g.edges);
    };
    solve_three_ways(prog, fill, Odd, odd);
    solve_three_ways(prog, fill, Even, even);
  }
}

TEST_CASE("Kokkos bit matrices beside a Kokkos hash join: negation after a closure", "[logic][device]") {
  constexpr auto prog = tl::program(Path(x, y) = Edge(x, y), Path(x, z) = Path(x, y) * Edge(y, z),
                                    NoPath(x, y) = Node(x) * Node(y) * tl::not_(Path(x, y)) * (x != y));
  const std::uint32_t n = 70;
  const set2 edges = random_graph(n, 80, 21);
  const set2 path = closure(edges);
  set2 nopath;
  for (std::uint32_t u = 0; u < n; ++u)
    for (std::uint32_t v = 0; v < n; ++v)
      if (u != v && !path.count({u, v})) nopath.insert({u, v});
  auto fill = [&](auto& db) {
    db.domain_named("symbol").add_numbered(n);
    insert_all(db, Edge, edges);
    for (id_t k = 0; k < n; ++k) db.insert_ids(Node, {k});
  };
  const auto report = solve_three_ways(prog, fill, NoPath, nopath);
  bool saw_device = false, saw_join = false;
  for (const auto& s : report.strata) {
    saw_device = saw_device || std::string(s.kernel) == device_kernel;
    saw_join = saw_join || std::string(s.kernel) == join_kernel;
  }
  CHECK(saw_device);
  CHECK(saw_join);
  tl::logic::database db(prog);
  fill(db);
  tl::logic::solve(prog, db, {}, Kokkos::DefaultExecutionSpace{});
  CHECK(as_set(db, Path) == path);
}

TEST_CASE("Kokkos bit matrices: facts given before solving, and an iteration limit", "[logic][device]") {
  constexpr auto prog = tl::program(Path(x, y) = Edge(x, y), Path(x, z) = Path(x, y) * Edge(y, z));
  const set2 edges = random_graph(90, 100, 31);
  // Path facts present before the solve (some derivable, some not): they stay, take part, and are not counted.
  set2 given = {{0, 89}, {5, 6}};
  for (auto [u, v] : closure(edges))
    if ((u + v) % 7 == 0) given.insert({u, v});
  set2 expected = given;
  add_all(expected, edges);
  while (add_all(expected, compose(expected, false, edges, false))) {
  }
  auto fill = [&](auto& db) {
    db.domain_named("symbol").add_numbered(90);
    insert_all(db, Edge, edges);
    insert_all(db, Path, given);
  };
  const auto report = solve_three_ways(prog, fill, Path, expected);
  CHECK(report.derived == expected.size() - given.size());

  // At most 3 iterations on a chain: iteration k derives the paths of length k (the host bit-matrix kernel's
  // semi-naive schedule), so the facts are the paths of length 1 to 3.
  tl::logic::solve_options limited;
  limited.max_iterations = 3;
  set2 upto3;
  for (std::uint32_t k = 0; k < 20; ++k)
    for (std::uint32_t len = 1; len <= 3 && k + len < 20; ++len) upto3.insert({k, k + len});
  auto chain_fill = [](auto& db) {
    db.domain_named("symbol").add_numbered(20);
    insert_all(db, Edge, chain(20));
  };
  const auto d = solve_three_ways(prog, chain_fill, Path, upto3, limited);
  CHECK(d.strata.back().iterations == 3);
}

TEST_CASE("Kokkos hash join: a rule larger than the kernel takes keeps its stratum on the host; iteration limits",
          "[logic][device]") {
  // nine positive atoms (the Kokkos join takes eight): the walks of exactly nine edges
  constexpr tl::index<"a"> a;
  constexpr tl::index<"b"> b;
  constexpr tl::index<"c"> c;
  constexpr tl::index<"d"> d;
  constexpr tl::index<"e"> e;
  constexpr tl::index<"f"> f;
  constexpr tl::index<"g"> g;
  constexpr tl::relation<"Walk9", 2> Walk9;
  constexpr tl::relation<"Walk3", 2> Walk3;
  constexpr auto prog = tl::program(
      Walk9(x, z) = Edge(x, a) * Edge(a, b) * Edge(b, c) * Edge(c, d) * Edge(d, e) * Edge(e, f) * Edge(f, g) *
                    Edge(g, y) * Edge(y, z),
      Walk3(x, z) = Edge(x, a) * Edge(a, y) * Edge(y, z));
  const std::uint32_t n = 12;
  const set2 edges = random_graph(n, 20, 51);
  auto walks = [&](int length) {
    set2 w;
    for (std::uint32_t u = 0; u < n; ++u) w.insert({u, u});
    for (int k = 0; k < length; ++k) w = compose(w, false, edges, false);
    return w;
  };
  tl::logic::database db(prog);
  db.domain_named("symbol").add_numbered(n);
  insert_all(db, Edge, edges);
  const auto report = tl::logic::solve(prog, db, {}, Kokkos::DefaultExecutionSpace{});
  CHECK(as_set(db, Walk9) == walks(9));
  CHECK(as_set(db, Walk3) == walks(3));
  std::map<std::string, std::string> kernel_of;
  for (const auto& s : report.strata) kernel_of[s.heads.front()] = s.kernel;
  CHECK(kernel_of["Walk9"] == "hash join");
  CHECK(kernel_of["Walk3"] == join_kernel);

  // An iteration limit on a recursive hash-join stratum: on a chain, iteration k of the Kokkos join derives the node
  // k steps from the source (each iteration sees the relations as they were when it began; the host join would
  // already reach node 1 in iteration 0).
  constexpr tl::relation<"Source", 1> Source;
  constexpr tl::relation<"Reach", 1> Reach;
  constexpr auto reach = tl::program(Reach(x) = Source(x), Reach(y) = Reach(x) * Edge(x, y) * (x != y));
  tl::logic::database db2(reach);
  db2.domain_named("symbol").add_numbered(30);
  insert_all(db2, Edge, chain(30));
  db2.insert_ids(Source, {0});
  tl::logic::solve_options limited;
  limited.max_iterations = 4;
  const auto r2 = tl::logic::solve(reach, db2, limited, Kokkos::DefaultExecutionSpace{});
  CHECK(std::string(r2.strata.back().kernel) == join_kernel);
  CHECK(r2.strata.back().iterations == 4);
  CHECK(db2.size(Reach) == 4);  // nodes 0 .. 3
}

TEST_CASE("Kokkos hash join in chunks: a small solve_options::join_chunk_tuples gives the same facts and provenance",
          "[logic][device]") {
  // Transitive closure on the hash join (bit matrices off) and same generation (a three-atom recursive rule), each with
  // the derived-tuple buffer bounded to 1, 7 and 100 tuples against the default (no chunk): the same facts as the
  // reference, the same counts, iterations and provenance; the buffer never held more than the bound allows.
  constexpr tl::index<"p"> p;
  constexpr tl::index<"q"> q;
  constexpr tl::relation<"Par", 2> Par;
  constexpr tl::relation<"SG", 2> SG;
  constexpr auto tc = tl::program(Path(x, y) = Edge(x, y), Path(x, z) = Path(x, y) * Edge(y, z));
  constexpr auto sg = tl::program(SG(x, y) = Par(x, p) * Par(y, p) * (x != y),
                                  SG(x, y) = Par(x, p) * SG(p, q) * Par(y, q));
  const std::uint32_t people = 90;
  const set2 par = random_forest(people, 25, 8);

  auto check_program = [](const auto& prog, auto base, auto head, std::uint32_t n, const set2& given,
                          const set2& expected) {
    auto run = [&](std::size_t chunk, auto& db) {
      db.domain_named("symbol").add_numbered(n);
      insert_all(db, base, given);
      tl::logic::solve_options options;
      options.dense = false;
      options.provenance = true;
      if (chunk > 0) options.join_chunk_tuples = chunk;
      return tl::logic::solve(prog, db, options, Kokkos::DefaultExecutionSpace{});
    };
    tl::logic::database whole(prog);
    const auto unchunked = run(0, whole);
    REQUIRE(as_set(whole, head) == expected);
    const auto& w = unchunked.strata.back();
    CHECK(std::string(w.kernel) == join_kernel);
    CHECK(w.chunked_joins == 0);
    CHECK(w.peak_buffered > 100);  // so that every bound below splits some join
    for (std::size_t chunk : {1u, 7u, 100u}) {
      INFO("join_chunk_tuples = " << chunk);
      tl::logic::database db(prog);
      const auto report = run(chunk, db);
      const auto& s = report.strata.back();
      CHECK(as_set(db, head) == expected);
      CHECK(std::string(s.kernel) == join_kernel);
      CHECK(s.derived == w.derived);
      CHECK(s.iterations == w.iterations);
      CHECK(s.chunked_joins > 0);
      CHECK(s.peak_buffered < w.peak_buffered);
      // a chunk exceeds the bound only as a single work item's tuples: with a bound of 100, no row of these
      // relations derives that many in one join
      if (chunk == 100) CHECK(s.peak_buffered <= chunk);
      for (auto [u, v] : expected) {
        const std::vector<std::string> fact{std::to_string(u), std::to_string(v)};
        const auto a = db.provenance(head, fact), b = whole.provenance(head, fact);
        REQUIRE((a && b));
        CHECK(a->rule == b->rule);
        CHECK(a->iteration == b->iteration);
      }
    }
  };
  SECTION("transitive closure") {
    const set2 edges = random_graph(120, 170, 21);
    check_program(tc, Edge, Path, 120, edges, closure(edges));
  }
  SECTION("same generation") { check_program(sg, Par, SG, people, par, same_generation(par)); }
}
