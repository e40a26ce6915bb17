// Backward chaining (magic sets) against the full bottom-up solve and brute-force references: bound and free
// arguments in every position, three-atom recursion, negation in the goal's cone, EDB goals, and the claim that a
// query touches only what it needs. Every case runs on the host kernels and as Kokkos kernels in the default
// execution space (tl::logic::query(prog, db, goal, options, space)).
#include <catch2/catch.hpp>
#include <string>

#include "reference.hpp"

namespace tl = tensorlogic;
using namespace logic_reference;
using tl::logic::id_t;

namespace {
inline constexpr tl::index<"x"> x;
inline constexpr tl::index<"y"> y;
inline constexpr tl::index<"z"> z;
inline constexpr tl::index<"p"> p;
inline constexpr tl::index<"q"> q;
inline constexpr tl::relation<"Edge", 2> Edge;
inline constexpr tl::relation<"Path", 2> Path;
inline constexpr tl::relation<"Node", 1> Node;
inline constexpr tl::relation<"Par", 2> Par;
inline constexpr tl::relation<"SG", 2> SG;

enum class where { host, kokkos };
template <class Prog, class Db, class Goal>
tl::logic::query_result ask(where w, const Prog& prog, Db& db, const Goal& goal) {
  return w == where::host ? tl::logic::query(prog, db, goal)
                          : tl::logic::query(prog, db, goal, {}, Kokkos::DefaultExecutionSpace{});
}
}  // namespace

TEST_CASE("queries on the transitive closure equal the closure's rows, for every binding pattern", "[logic]") {
  const where w = GENERATE(where::host, where::kokkos);
  INFO((w == where::host ? "host kernels" : "Kokkos kernels"));
  const std::uint32_t n = 70;
  const set2 edges = random_graph(n, 90, 41);
  const set2 path = closure(edges);
  const long c = 5, d = 17;
  const auto from = tl::program(Path(x, y) = Edge(x, y), Path(x, z) = Path(x, y) * Edge(y, z));
  tl::logic::database db(from);
  db.domain_named("symbol").add_numbered(n);
  insert_all(db, Edge, edges);

  auto rows_of = [](const tl::logic::query_result& r) {
    set2 out;
    for (auto& row : r.rows) out.insert({row[0], row[1]});
    return out;
  };
  set2 want_from, want_to;
  for (auto [u, v] : path) {
    if (u == c) want_from.insert({u, v});
    if (v == d) want_to.insert({u, v});
  }
  CHECK(rows_of(ask(w, from, db, Path(c, y))) == want_from);
  CHECK(rows_of(ask(w, from, db, Path(x, d))) == want_to);
  CHECK(rows_of(ask(w, from, db, Path(x, y))) == path);
  const auto both = ask(w, from, db, Path(c, d));
  CHECK(both.rows.size() == path.count({c, d}));
  set2 loops;
  for (auto [u, v] : path)
    if (u == v) loops.insert({u, v});
  CHECK(rows_of(ask(w, from, db, Path(x, x))) == loops);
  // The database's own Path is untouched: the query works in relations of its own.
  CHECK(db.size(Path) == 0);
  // symbols come back too
  const auto named = ask(w, from, db, Path(c, y));
  REQUIRE(named.facts.size() == want_from.size());
  if (!named.facts.empty()) CHECK(named.facts[0][0] == "5");
}

TEST_CASE("a query touches only what it needs: one component of a two-component graph", "[logic]") {
  const where w = GENERATE(where::host, where::kokkos);
  INFO((w == where::host ? "host kernels" : "Kokkos kernels"));
  // component A: nodes 0..99 (a chain), component B: nodes 100..1099 (a dense random graph)
  set2 edges = chain(100);
  const set2 big = random_graph(1000, 3000, 42);
  for (auto [u, v] : big) edges.insert({u + 100, v + 100});
  const auto prog = tl::program(Path(x, y) = Edge(x, y), Path(x, z) = Path(x, y) * Edge(y, z));
  tl::logic::database db(prog);
  db.domain_named("symbol").add_numbered(1100);
  insert_all(db, Edge, edges);
  const long start = 90;
  const auto answer = ask(w, prog, db, Path(start, y));
  CHECK(answer.rows.size() == 9);  // 91 .. 99
  CHECK(answer.subgoals == 1);     // left-linear: the only call is Path(90, _)
  CHECK(answer.derived < 20);
  // Right-linear, each step calls Path on the next node: Path(90, _) .. Path(99, _).
  const auto right = tl::program(Path(x, y) = Edge(x, y), Path(x, z) = Edge(x, y) * Path(y, z));
  tl::logic::database db2(right);
  db2.domain_named("symbol").add_numbered(1100);
  insert_all(db2, Edge, edges);
  const auto answer2 = ask(w, right, db2, Path(start, y));
  CHECK(answer2.rows == answer.rows);
  CHECK(answer2.subgoals == 10);
  CHECK(answer2.derived < 100);
  const auto full = tl::logic::solve(prog, db);
  CHECK(full.derived > 100000);
}

TEST_CASE("same generation by query, with a three-atom recursive rule", "[logic]") {
  const where w = GENERATE(where::host, where::kokkos);
  INFO((w == where::host ? "host kernels" : "Kokkos kernels"));
  constexpr auto prog = tl::program(SG(x, y) = Par(x, p) * Par(y, p) * (x != y),
                                    SG(x, y) = Par(x, p) * SG(p, q) * Par(y, q));
  const std::uint32_t n = 60;
  const set2 par = random_forest(n, 0, 8);
  const set2 sg = same_generation(par);
  tl::logic::database db(prog);
  db.domain_named("symbol").add_numbered(n);
  insert_all(db, Par, par);
  for (long who : {7L, 30L, 59L}) {
    const auto r = ask(w, prog, db, SG(who, y));
    set2 got, want;
    for (auto& row : r.rows) got.insert({row[0], row[1]});
    for (auto [u, v] : sg)
      if (u == static_cast<std::uint32_t>(who)) want.insert({u, v});
    CHECK(got == want);
  }
}

TEST_CASE("queries through negation solve the negated relations first; EDB goals are read directly", "[logic]") {
  const where w = GENERATE(where::host, where::kokkos);
  INFO((w == where::host ? "host kernels" : "Kokkos kernels"));
  constexpr tl::relation<"Source", 1> Source;
  constexpr tl::relation<"Reach", 1> Reach;
  constexpr tl::relation<"Cut", 2> Cut;  // edges leaving the reachable set
  constexpr auto prog = tl::program(Reach(x) = Source(x), Reach(y) = Reach(x) * Edge(x, y),
                                    Cut(x, y) = Edge(x, y) * Node(x) * !Reach(y));
  const std::uint32_t n = 40;
  const set2 edges = random_graph(n, 50, 9);
  tl::logic::database db(prog);
  db.domain_named("symbol").add_numbered(n);
  insert_all(db, Edge, edges);
  for (id_t k = 0; k < n; ++k) db.insert_ids(Node, {k});
  db.insert_ids(Source, {0});
  const set2 path = closure(edges);
  std::set<id_t> reach = {0};
  for (auto [u, v] : path)
    if (u == 0) reach.insert(v);
  const auto r = ask(w, prog, db, Cut(x, y));
  set2 got, want;
  for (auto& row : r.rows) got.insert({row[0], row[1]});
  for (auto [u, v] : edges)
    if (!reach.count(v)) want.insert({u, v});
  CHECK(got == want);
  CHECK(db.size(Reach) == reach.size());  // solved in full as a negated relation
  const long three = 3;
  const auto e = ask(w, prog, db, Edge(three, y));
  std::size_t out_of_three = 0;
  for (auto [u, v] : edges) out_of_three += u == 3;
  CHECK(e.rows.size() == out_of_three);
  const long bad = 1000;
  REQUIRE_THROWS_WITH(ask(w, prog, db, Edge(bad, y)),
                      Catch::Matchers::Contains("query Edge: constant 1000 in argument 1 is not an id of domain symbol"));
}
