// The Datalog engine against brute-force fixpoints over std::set: transitive closure (three rule shapes, dense and
// sparse kernels, random graphs and chains), same generation, the kinship family, stratified negation, mutual
// recursion, Andersen-style points-to, n-ary relations with constants, OR-alternatives, provenance. Every case runs
// twice: on the host kernels (solve_in(w, prog, db, options)) and as Kokkos kernels in the default execution
// space (solve_in(w, prog, db, options, space): the bit matrices of dense_device.hpp, the hash joins of
// join_device.hpp).
#include <catch2/catch.hpp>
#include <map>
#include <string>
#include <tuple>

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
inline constexpr tl::index<"r"> r;
inline constexpr tl::index<"a"> a;
inline constexpr tl::index<"c"> c;
inline constexpr tl::relation<"Edge", 2> Edge;
inline constexpr tl::relation<"Path", 2> Path;
inline constexpr tl::relation<"Node", 1> Node;

tl::logic::solve_options kernel(bool dense) {
  tl::logic::solve_options o;
  o.dense = dense;
  return o;
}

// Where a case runs: the host kernels or the Kokkos kernels.
enum class where { host, kokkos };
template <class Prog, class Db>
tl::logic::solve_report solve_in(where w, const Prog& prog, Db& db, const tl::logic::solve_options& o = {}) {
  return w == where::host ? tl::logic::solve(prog, db, o)
                          : tl::logic::solve(prog, db, o, Kokkos::DefaultExecutionSpace{});
}
// The kernel a report names for a stratum, host or Kokkos.
std::string kernel_name(where w, bool dense) {
  const std::string k = dense ? "bit matrix" : "hash join";
  return w == where::host ? k : k + " (Kokkos)";
}
}  // namespace

TEST_CASE("transitive closure equals Warshall on random graphs and chains, both kernels, three rule shapes",
          "[logic]") {
  const where w = GENERATE(where::host, where::kokkos);
  INFO((w == where::host ? "host kernels" : "Kokkos kernels"));
  constexpr auto left = tl::program(Path(x, y) = Edge(x, y), Path(x, z) = Path(x, y) * Edge(y, z));
  constexpr auto right = tl::program(Path(x, y) = Edge(x, y), Path(x, z) = Edge(x, y) * Path(y, z));
  constexpr auto doubling = tl::program(Path(x, y) = Edge(x, y), Path(x, z) = Path(x, y) * Path(y, z));
  struct graph_case {
    std::uint32_t n;
    set2 edges;
  };
  std::vector<graph_case> graphs = {{60, random_graph(60, 70, 1)},   {60, random_graph(60, 150, 2)},
                                    {130, random_graph(130, 160, 3)}, {40, chain(40)},
                                    {1, {}},                          {5, {{0, 0}, {1, 2}, {2, 1}}}};
  auto check = [&](const auto& prog, const char* shape) {
    for (const auto& g : graphs)
      for (bool dense : {true, false}) {
        tl::logic::database db(prog);
        db.domain_named("symbol").add_numbered(g.n);
        insert_all(db, Edge, g.edges);
        const auto report = solve_in(w, prog, db, kernel(dense));
        INFO(shape << " n=" << g.n << " m=" << g.edges.size() << " dense=" << dense);
        CHECK(as_set(db, Path) == closure(g.edges));
        CHECK(report.derived == closure(g.edges).size());
        CHECK(std::string(report.strata.back().kernel) == kernel_name(w, dense));
      }
  };
  check(left, "left-linear");
  check(right, "right-linear");
  check(doubling, "doubling");
}

TEST_CASE("semi-naive iteration counts on a chain", "[logic]") {
  const where w = GENERATE(where::host, where::kokkos);
  INFO((w == where::host ? "host kernels" : "Kokkos kernels"));
  constexpr auto prog = tl::program(Path(x, y) = Edge(x, y), Path(x, z) = Path(x, y) * Edge(y, z));
  for (bool dense : {true, false}) {
    tl::logic::database db(prog);
    db.domain_named("symbol").add_numbered(12);
    insert_all(db, Edge, chain(12));
    const auto report = solve_in(w, prog, db, kernel(dense));
    // Bit matrices, and the Kokkos hash join (whose iterations see the relations as they were when the iteration
    // began): iteration k derives the paths of length k + 1 (1 .. 11), then one pass finds nothing new. The host
    // hash join: the first pass already joins the facts the first rule just added (lengths 1 and 2).
    CHECK(report.strata.back().iterations == (dense || w == where::kokkos ? 12 : 11));
    CHECK(db.size(Path) == 66);
  }
}

TEST_CASE("membership in the rule's own head; sorted indexes rebuilt for a second solve", "[logic]") {
  const where w = GENERATE(where::host, where::kokkos);
  INFO((w == where::host ? "host kernels" : "Kokkos kernels"));
  // Back(x, z): a path x -> z whose end leads back to x by a Back fact already known. The last atom is a membership
  // test in the head itself (the host kernel then inserts each derived tuple at once instead of in batches).
  constexpr tl::relation<"Back", 2> Back;
  constexpr auto prog = tl::program(Back(x, y) = Edge(x, y), Back(x, z) = Back(x, y) * Edge(y, z) * Back(z, x));
  const set2 edge = random_graph(40, 160, 11);
  set2 want = edge;
  for (bool changed = true; changed;) {
    changed = false;
    const set2 now = want;
    for (auto [a, b] : now)
      for (auto [b2, c2] : edge)
        if (b2 == b && want.count({c2, a})) changed |= want.insert({a, c2}).second;
  }
  REQUIRE(want.size() > edge.size() + 50);
  tl::logic::database db(prog);
  db.domain_named("symbol").add_numbered(40);
  insert_all(db, Edge, edge);
  solve_in(w, prog, db, kernel(false));
  CHECK(as_set(db, Back) == want);

  // Edge is read (not derived) by the closure's stratum, so the host kernel looks it up through a sorted index; new
  // Edge facts after a solve must reach the next solve (the index is rebuilt when its relation changed).
  constexpr auto closure_prog = tl::program(Path(x, y) = Edge(x, y), Path(x, z) = Path(x, y) * Edge(y, z));
  tl::logic::database cdb(closure_prog);
  cdb.domain_named("symbol").add_numbered(80);
  set2 first = random_graph(80, 60, 5), more = random_graph(80, 40, 6);
  insert_all(cdb, Edge, first);
  solve_in(w, closure_prog, cdb, kernel(false));
  CHECK(as_set(cdb, Path) == closure(first));
  insert_all(cdb, Edge, more);
  solve_in(w, closure_prog, cdb, kernel(false));
  set2 all = first;
  all.insert(more.begin(), more.end());
  REQUIRE(closure(all).size() > closure(first).size());
  CHECK(as_set(cdb, Path) == closure(all));
}

TEST_CASE("same generation (three-atom recursive rule with a comparison)", "[logic]") {
  const where w = GENERATE(where::host, where::kokkos);
  INFO((w == where::host ? "host kernels" : "Kokkos kernels"));
  constexpr tl::relation<"Par", 2> Par;
  constexpr tl::relation<"SG", 2> SG;
  constexpr auto prog = tl::program(SG(x, y) = Par(x, p) * Par(y, p) * (x != y),
                                    SG(x, y) = Par(x, p) * SG(p, q) * Par(y, q));
  for (std::uint64_t seed : {4u, 5u, 6u}) {
    const std::uint32_t n = 80;
    const set2 par = random_forest(n, 20, seed);
    tl::logic::database db(prog);
    db.domain_named("symbol").add_numbered(n);
    insert_all(db, Par, par);
    solve_in(w, prog, db);
    CHECK(as_set(db, SG) == same_generation(par));
  }
}

TEST_CASE("kinship: ancestor, sibling, aunt, cousin on named people", "[logic]") {
  const where w = GENERATE(where::host, where::kokkos);
  INFO((w == where::host ? "host kernels" : "Kokkos kernels"));
  constexpr tl::relation<"Parent", 2> Parent;
  constexpr tl::relation<"Female", 1> Female;
  constexpr tl::relation<"Anc", 2> Anc;
  constexpr tl::relation<"Sibling", 2> Sibling;
  constexpr tl::relation<"Aunt", 2> Aunt;
  constexpr tl::relation<"Cousin", 2> Cousin;
  constexpr auto prog = tl::program(Anc(x, y) = Parent(x, y), Anc(x, z) = Anc(x, y) * Parent(y, z),
                                    Sibling(x, y) = Parent(p, x) * Parent(p, y) * (x != y),
                                    Aunt(a, c) = Sibling(a, p) * Parent(p, c) * Female(a),
                                    Cousin(x, y) = Parent(p, x) * Parent(q, y) * Sibling(p, q));
  tl::logic::database db(prog);
  db.type(Parent, "person", "person");
  db.type(Female, "person");
  db.type(Anc, "person", "person");
  db.type(Sibling, "person", "person");
  db.type(Aunt, "person", "person");
  db.type(Cousin, "person", "person");
  const std::vector<std::pair<std::string, std::string>> parent = {
      {"Ada", "Ben"}, {"Ada", "Cleo"}, {"Ben", "Dan"}, {"Ben", "Eve"}, {"Cleo", "Finn"}, {"Cleo", "Gus"},
      {"Dan", "Hana"}, {"Finn", "Ivy"}};
  for (auto& [u, v] : parent) db.insert(Parent, {u, v});
  for (auto w : {"Ada", "Cleo", "Eve", "Hana", "Ivy"}) db.insert(Female, {w});
  solve_in(w, prog, db);

  // Reference by hand-written loops over the same pairs.
  std::set<std::pair<std::string, std::string>> par(parent.begin(), parent.end()), anc = par, sib, aunt, cousin;
  for (bool changed = true; changed;) {
    changed = false;
    for (auto [u, v] : std::set(anc))
      for (auto [v2, w] : par)
        if (v == v2) changed |= anc.insert({u, w}).second;
  }
  for (auto [pa, u] : par)
    for (auto [pb, v] : par)
      if (pa == pb && u != v) sib.insert({u, v});
  const std::set<std::string> female = {"Ada", "Cleo", "Eve", "Hana", "Ivy"};
  for (auto [s, pp] : sib)
    for (auto [pa, ch] : par)
      if (pa == pp && female.count(s)) aunt.insert({s, ch});
  for (auto [pa, u] : par)
    for (auto [pb, v] : par)
      if (sib.count({pa, pb})) cousin.insert({u, v});

  auto as_pairs = [&](auto rel) {
    std::set<std::pair<std::string, std::string>> out;
    for (auto& f : db.facts(rel)) out.insert({f[0], f[1]});
    return out;
  };
  CHECK(as_pairs(Anc) == anc);
  CHECK(as_pairs(Sibling) == sib);
  CHECK(as_pairs(Aunt) == aunt);
  CHECK(as_pairs(Cousin) == cousin);
  CHECK(db.contains(Aunt, {"Cleo", "Dan"}));
  CHECK(db.contains(Cousin, {"Dan", "Finn"}));
  CHECK_FALSE(db.contains(Cousin, {"Dan", "Eve"}));    // siblings, not cousins
  CHECK_FALSE(db.contains(Cousin, {"Hana", "Ivy"}));   // second cousins
  CHECK(aunt == std::set<std::pair<std::string, std::string>>{{"Cleo", "Dan"}, {"Cleo", "Eve"}, {"Eve", "Hana"}});
}

TEST_CASE("stratified negation: unreachable nodes and non-paths", "[logic]") {
  const where w = GENERATE(where::host, where::kokkos);
  INFO((w == where::host ? "host kernels" : "Kokkos kernels"));
  constexpr tl::relation<"Source", 1> Source;
  constexpr tl::relation<"Reach", 1> Reach;
  constexpr tl::relation<"Unreach", 1> Unreach;
  constexpr tl::relation<"NoPath", 2> NoPath;
  constexpr auto prog = tl::program(Reach(x) = Source(x), Reach(y) = Reach(x) * Edge(x, y),
                                    Unreach(x) = Node(x) * !Reach(x), Path(x, y) = Edge(x, y),
                                    Path(x, z) = Path(x, y) * Edge(y, z),
                                    NoPath(x, y) = Node(x) * Node(y) * tl::not_(Path(x, y)) * (x != y));
  static_assert(decltype(prog)::structure.n_strata >= 3);
  for (bool dense : {true, false}) {
    const std::uint32_t n = 50;
    const set2 edges = random_graph(n, 45, 7);
    tl::logic::database db(prog);
    db.domain_named("symbol").add_numbered(n);
    insert_all(db, Edge, edges);
    for (id_t k = 0; k < n; ++k) db.insert_ids(Node, {k});
    db.insert_ids(Source, {0});
    db.insert_ids(Source, {1});
    solve_in(w, prog, db, kernel(dense));
    const set2 path = closure(edges);
    std::set<id_t> reach = {0, 1};
    for (auto [u, v] : path)
      if (u == 0 || u == 1) reach.insert(v);
    std::set<id_t> got_unreach;
    const auto& t = db.tuples(Unreach);
    for (std::size_t k = 0; k < t.size(); ++k) got_unreach.insert(t.row(k)[0]);
    for (id_t k = 0; k < n; ++k) CHECK(got_unreach.count(k) == (reach.count(k) ? 0u : 1u));
    set2 nopath;
    for (id_t u = 0; u < n; ++u)
      for (id_t v = 0; v < n; ++v)
        if (u != v && !path.count({u, v})) nopath.insert({u, v});
    CHECK(as_set(db, NoPath) == nopath);
  }
}

TEST_CASE("mutual recursion: even and odd numbers through a successor relation", "[logic]") {
  const where w = GENERATE(where::host, where::kokkos);
  INFO((w == where::host ? "host kernels" : "Kokkos kernels"));
  constexpr tl::relation<"Zero", 1> Zero;
  constexpr tl::relation<"Succ", 2> Succ;
  constexpr tl::relation<"Even", 1> Even;
  constexpr tl::relation<"Odd", 1> Odd;
  constexpr auto prog =
      tl::program(Even(x) = Zero(x), Odd(y) = Even(x) * Succ(x, y), Even(y) = Odd(x) * Succ(x, y));
  static_assert(decltype(prog)::structure.n_strata == 1 && decltype(prog)::structure.recursive[0]);
  tl::logic::database db(prog);
  db.domain_named("symbol").add_numbered(21);
  db.insert_ids(Zero, {0});
  for (id_t k = 0; k < 20; ++k) db.insert_ids(Succ, {k, k + 1});
  const auto report = solve_in(w, prog, db);
  CHECK(db.size(Even) == 11);
  CHECK(db.size(Odd) == 10);
  for (id_t k = 0; k <= 20; ++k) {
    CHECK(db.contains(Even, {std::to_string(k)}) == (k % 2 == 0));
    CHECK(db.contains(Odd, {std::to_string(k)}) == (k % 2 == 1));
  }
  CHECK(report.derived == 21);
}

TEST_CASE("Andersen-style points-to analysis", "[logic]") {
  const where w = GENERATE(where::host, where::kokkos);
  INFO((w == where::host ? "host kernels" : "Kokkos kernels"));
  constexpr tl::relation<"AddressOf", 2> AddressOf;  // p = &a
  constexpr tl::relation<"Assign", 2> Assign;        // p = q
  constexpr tl::relation<"Load", 2> Load;            // p = *q
  constexpr tl::relation<"Store", 2> Store;          // *p = q
  constexpr tl::relation<"PointsTo", 2> PointsTo;
  constexpr auto prog = tl::program(PointsTo(p, a) = AddressOf(p, a), PointsTo(p, a) = Assign(p, q) * PointsTo(q, a),
                                    PointsTo(p, a) = Load(p, q) * PointsTo(q, r) * PointsTo(r, a),
                                    PointsTo(r, a) = Store(p, q) * PointsTo(p, r) * PointsTo(q, a));
  for (std::uint64_t seed : {11u, 12u, 13u}) {
    const std::uint32_t vars = 40;
    set2 addr = random_graph(vars, 25, seed), assign = random_graph(vars, 30, seed + 100),
         load = random_graph(vars, 12, seed + 200), store = random_graph(vars, 12, seed + 300);
    tl::logic::database db(prog);
    db.domain_named("symbol").add_numbered(vars);
    insert_all(db, AddressOf, addr);
    insert_all(db, Assign, assign);
    insert_all(db, Load, load);
    insert_all(db, Store, store);
    solve_in(w, prog, db);
    set2 pt = addr;
    for (bool changed = true; changed;) {
      changed = false;
      const set2 old = pt;
      for (auto [pp, qq] : assign)
        for (auto [q2, aa] : old)
          if (q2 == qq) changed |= pt.insert({pp, aa}).second;
      for (auto [pp, qq] : load)
        for (auto [q2, rr] : old)
          if (q2 == qq)
            for (auto [r2, aa] : old)
              if (r2 == rr) changed |= pt.insert({pp, aa}).second;
      for (auto [pp, qq] : store)
        for (auto [p2, rr] : old)
          if (p2 == pp)
            for (auto [q2, aa] : old)
              if (q2 == qq) changed |= pt.insert({rr, aa}).second;
    }
    CHECK(as_set(db, PointsTo) == pt);
  }
}

TEST_CASE("ternary and quaternary relations, constants in rules, OR-alternatives", "[logic]") {
  const where w = GENERATE(where::host, where::kokkos);
  INFO((w == where::host ? "host kernels" : "Kokkos kernels"));
  constexpr tl::relation<"Flight", 3> Flight;  // from, to, airline
  constexpr tl::relation<"Route", 3> Route;    // reachable on one airline
  constexpr tl::relation<"FromHub", 2> FromHub;
  constexpr tl::relation<"Pair", 4> Pair;
  constexpr tl::relation<"Either", 2> Either;
  constexpr tl::relation<"A", 2> A;
  constexpr tl::relation<"B", 2> B;
  tl::logic::domain* city = nullptr;
  // The constant is a run-time id, so the program is built after the domain is filled.
  std::mt19937_64 g(21);
  std::set<std::tuple<id_t, id_t, id_t>> flights;
  while (flights.size() < 60)
    flights.insert({static_cast<id_t>(g() % 25), static_cast<id_t>(g() % 25), static_cast<id_t>(g() % 3)});
  const long hub = 3;
  const auto prog = tl::program(Route(x, y, a) = Flight(x, y, a), Route(x, z, a) = Route(x, y, a) * Flight(y, z, a),
                                FromHub(y, a) = Route(hub, y, a),
                                Pair(x, y, p, q) = A(x, y) * B(p, q) * (y == p),
                                Either(x, y) = A(x, y) + B(y, x));
  tl::logic::database db(prog);
  db.type(Flight, "city", "city", "airline");
  db.type(Route, "city", "city", "airline");
  db.type(FromHub, "city", "airline");
  city = &db.domain_named("city");
  city->add_numbered(25);
  db.domain_named("airline").add_numbered(3);
  for (auto [u, v, l] : flights) db.insert_ids(Flight, {u, v, l});
  const set2 as = random_graph(10, 15, 30), bs = random_graph(10, 15, 31);
  db.domain_named("symbol").add_numbered(10);
  insert_all(db, A, as);
  insert_all(db, B, bs);
  solve_in(w, prog, db);

  std::set<std::tuple<id_t, id_t, id_t>> route = flights;
  for (bool changed = true; changed;) {
    changed = false;
    for (auto [u, v, l] : std::set(route))
      for (auto [v2, w, l2] : flights)
        if (v == v2 && l == l2) changed |= route.insert({u, w, l}).second;
  }
  CHECK(db.size(Route) == route.size());
  std::set<std::pair<id_t, id_t>> from_hub;
  for (auto [u, v, l] : route)
    if (u == hub) from_hub.insert({v, l});
  CHECK(as_set(db, FromHub) == from_hub);
  std::size_t pairs = 0;
  for (auto [u, v] : as)
    for (auto [s, t] : bs)
      if (v == s) ++pairs;
  CHECK(db.size(Pair) == pairs);
  const auto& pt = db.tuples(Pair);
  for (std::size_t k = 0; k < pt.size(); ++k) {
    CHECK(as.count({pt.row(k)[0], pt.row(k)[1]}));
    CHECK(bs.count({pt.row(k)[2], pt.row(k)[3]}));
    CHECK(pt.row(k)[1] == pt.row(k)[2]);
  }
  set2 either = as;
  for (auto [u, v] : bs) either.insert({v, u});
  CHECK(as_set(db, Either) == either);
}

TEST_CASE("provenance: the rule and iteration that first derived each fact", "[logic]") {
  const where w = GENERATE(where::host, where::kokkos);
  INFO((w == where::host ? "host kernels" : "Kokkos kernels"));
  constexpr auto prog = tl::program(Path(x, y) = Edge(x, y), Path(x, z) = Path(x, y) * Edge(y, z));
  tl::logic::database db(prog);
  for (auto [u, v] : {std::pair{"a", "b"}, {"b", "c"}, {"c", "d"}}) db.insert(Edge, {u, v});
  tl::logic::solve_options o;
  o.provenance = true;
  solve_in(w, prog, db, o);
  const auto ab = db.provenance(Path, {"a", "b"});
  REQUIRE(ab);
  CHECK(ab->rule == 0);
  CHECK(ab->iteration == 0);
  const auto ad = db.provenance(Path, {"a", "d"});
  REQUIRE(ad);
  // host: iteration 0 runs every rule once (a-b, b-c, c-d, then a-c, b-d); iteration 1 joins those new facts.
  // Kokkos: iteration 0's second rule sees Path as it was (empty), so a-c and b-d come in iteration 1, a-d in 2.
  CHECK(ad->rule == 1);
  CHECK(ad->iteration == (w == where::host ? 1 : 2));
  const auto ac = db.provenance(Path, {"a", "c"});
  REQUIRE(ac);
  CHECK(ac->rule == 1);
  CHECK(ac->iteration == (w == where::host ? 0 : 1));
  CHECK(tl::logic::rule_text(prog, db, ad->rule) == "Path(x, z) :- Path(x, y), Edge(y, z).");
  const auto given = db.provenance(Edge, {"a", "b"});
  REQUIRE(given);
  CHECK(given->given());
  CHECK_FALSE(db.provenance(Path, {"d", "a"}));
}
