// Mixed programs: a Datalog fixpoint (reachability) feeds a tensor equation (GNN-style aggregation over the
// derived relation) run by tl::eval, and a relation computed densely by tl::eval feeds the Datalog engine.
#include <catch2/catch.hpp>
#include <tensorlogic/tensorlogic.hpp>

#include "reference.hpp"

namespace tl = tensorlogic;
using namespace logic_reference;

namespace {
inline constexpr tl::index<"x"> x;
inline constexpr tl::index<"y"> y;
inline constexpr tl::index<"z"> z;
inline constexpr tl::index<"d"> d;
inline constexpr tl::relation<"Neig", 2> Neig;
inline constexpr tl::relation<"Reach", 2> Reach;
inline constexpr tl::relation<"Close", 2> Close;
inline constexpr tl::tensor<"F", double, 2> F;
inline constexpr tl::tensor<"H", double, 2> H;
inline constexpr tl::tensor<"Dist", double, 2> Dist;
}  // namespace

TEST_CASE("a Datalog fixpoint is an ordinary tensor for the rest of a program", "[logic]") {
  const std::uint32_t n = 30;
  const std::size_t dims = 5;
  const set2 neig = random_graph(n, 40, 17);
  constexpr auto rules = tl::program(Reach(x, y) = Neig(x, y), Reach(x, z) = Reach(x, y) * Neig(y, z));
  tl::logic::database db(rules);
  db.domain_named("symbol").add_numbered(n);
  insert_all(db, Neig, neig);
  tl::logic::solve(rules, db);

  // H(x, d) = sum over y reachable from x of F(y, d).
  constexpr auto aggregate = tl::program(H(x, d) = Reach(x, y) * F(y, d));
  tl::store s(aggregate, tl::extents(x = n, y = n, d = dims));
  tl::logic::to_tensor(db, Reach, s);
  std::vector<double> f(n * dims);
  for (std::size_t k = 0; k < f.size(); ++k) f[k] = 0.25 * static_cast<double>(k % 7) - 0.5;
  tl::bind(s, F, f.data(), f.size());
  tl::eval(aggregate, s);
  const auto h = tl::to_xtensor(s[H]);
  const set2 reach = closure(neig);
  for (std::uint32_t u = 0; u < n; ++u)
    for (std::size_t e = 0; e < dims; ++e) {
      double want = 0;
      for (std::uint32_t v = 0; v < n; ++v)
        if (reach.count({u, v})) want += f[v * dims + e];
      CHECK(h(u, e) == Approx(want).margin(1e-12));
    }

  // Extents that disagree with the domain are an error naming the relation and the argument.
  tl::store wrong(aggregate, tl::extents(x = n + 1, y = n, d = dims));
  REQUIRE_THROWS_WITH(tl::logic::to_tensor(db, Reach, wrong),
                      Catch::Matchers::Contains("to_tensor Reach: argument 1 has domain symbol of 30 symbols but the "
                                                "store's extent is 31"));
}

TEST_CASE("a relation computed by tl::eval becomes facts for the Datalog engine", "[logic]") {
  // Close(x, y) = step(0.5 - Dist(x, y)): points within distance 1/2, computed densely; then its closure by rules.
  const std::uint32_t n = 20;
  constexpr auto dense = tl::program(Close(x, y) = tl::step(0.5 - Dist(x, y)));
  tl::store s(dense, tl::extents(x = n, y = n));
  std::vector<double> pos(n), dist(n * n);
  for (std::uint32_t k = 0; k < n; ++k) pos[k] = 0.37 * k * ((k % 3) ? 1.0 : 0.5);
  for (std::uint32_t u = 0; u < n; ++u)
    for (std::uint32_t v = 0; v < n; ++v) dist[u * n + v] = std::abs(pos[u] - pos[v]);
  tl::bind(s, Dist, dist.data(), dist.size());
  tl::eval(dense, s);

  constexpr auto rules = tl::program(Reach(x, y) = Close(x, y), Reach(x, z) = Reach(x, y) * Close(y, z));
  tl::logic::database db(rules);
  db.domain_named("symbol").add_numbered(n);
  const std::size_t added = tl::logic::from_tensor(s, Close, db);
  set2 close;
  for (std::uint32_t u = 0; u < n; ++u)
    for (std::uint32_t v = 0; v < n; ++v)
      if (dist[u * n + v] < 0.5) close.insert({u, v});
  CHECK(added == close.size());
  CHECK(as_set(db, Close) == close);
  tl::logic::solve(rules, db);
  CHECK(as_set(db, Reach) == closure(close));
}
