// Independent references for the Datalog tests: relations as std::set of tuples, each program's rules written out
// as plain loops and iterated naively until nothing changes.
#pragma once
#include <cstdint>
#include <random>
#include <set>
#include <tensorlogic/logic.hpp>
#include <utility>
#include <vector>

namespace logic_reference {

using tuple2 = std::pair<std::uint32_t, std::uint32_t>;
using set2 = std::set<tuple2>;

inline set2 random_graph(std::uint32_t n, std::size_t m, std::uint64_t seed) {
  std::mt19937_64 g(seed);
  set2 e;
  while (e.size() < m) e.insert({static_cast<std::uint32_t>(g() % n), static_cast<std::uint32_t>(g() % n)});
  return e;
}

inline set2 chain(std::uint32_t n) {
  set2 e;
  for (std::uint32_t k = 0; k + 1 < n; ++k) e.insert({k, k + 1});
  return e;
}

// A random forest as (child, parent) pairs: node k's parent is some node below k; then `extra` random pairs.
inline set2 random_forest(std::uint32_t n, std::uint32_t extra, std::uint64_t seed) {
  std::mt19937_64 g(seed);
  set2 par;
  for (std::uint32_t k = 1; k < n; ++k) par.insert({k, static_cast<std::uint32_t>(g() % k)});
  for (std::uint32_t k = 0; k < extra; ++k)
    par.insert({static_cast<std::uint32_t>(g() % n), static_cast<std::uint32_t>(g() % n)});
  return par;
}

// Least fixpoint of Path = Edge ∪ Path ∘ Edge, by repetition until stable.
inline set2 closure(const set2& edge) {
  set2 path = edge;
  for (bool changed = true; changed;) {
    changed = false;
    for (auto [x, y] : set2(path))
      for (auto it = edge.lower_bound({y, 0}); it != edge.end() && it->first == y; ++it)
        changed |= path.insert({x, it->second}).second;
  }
  return path;
}

// SG(x, y) <- Par(x, p), Par(y, p), x != y;  SG(x, y) <- Par(x, p), SG(p, q), Par(y, q).
inline set2 same_generation(const set2& par) {
  set2 sg;
  for (auto [x, p] : par)
    for (auto [y, q] : par)
      if (p == q && x != y) sg.insert({x, y});
  for (bool changed = true; changed;) {
    changed = false;
    for (auto [x, p] : par)
      for (auto [y, q] : par)
        if (sg.count({p, q})) changed |= sg.insert({x, y}).second;
  }
  return sg;
}

// Relation contents of a database as a std::set (binary relations).
template <class Db, class Sym>
set2 as_set(const Db& db, Sym s) {
  set2 out;
  const auto& t = db.tuples(s);
  for (std::size_t r = 0; r < t.size(); ++r) out.insert({t.row(r)[0], t.row(r)[1]});
  return out;
}

template <class Db, class Sym>
void insert_all(Db& db, Sym s, const set2& facts) {
  for (auto [a, b] : facts) db.insert_ids(s, {a, b});
}

}  // namespace logic_reference
