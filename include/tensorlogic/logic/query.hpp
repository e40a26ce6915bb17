// tl::logic::query: goal-directed (backward-chaining) evaluation of one atom, e.g. Anc(alice, y), by the magic-sets
// rewriting. Each relation the goal reaches is adorned with which arguments arrive bound (b) or free (f); a
// "magic" relation per adorned relation collects the bound argument values actually asked for (the subgoals), and
// every rule is guarded by its head's magic relation, so only facts relevant to some subgoal are derived. Subgoals
// propagate sideways through the body in a greedy order (most bound arguments first), each subgoal is derived once
// (the magic relations are the memo table), and the rewritten rules run semi-naively to their fixpoint.
// Relations the goal reaches through negation are solved in full first (their strata run on the database).
#pragma once
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <tensorlogic/logic/solve.hpp>

namespace tensorlogic::logic {

struct query_result {
  std::vector<std::vector<id_t>> rows;             // the goal's matching facts, sorted
  std::vector<std::vector<std::string>> facts;     // the same as symbols
  std::size_t derived = 0;     // facts derived to answer it (adorned and magic relations together)
  std::size_t subgoals = 0;    // magic facts: distinct bound calls made
  long iterations = 0;
  double seconds = 0;
};

namespace detail {

// A table of relations by slot: the database's, then the query's adorned and magic relations.
struct relation_table {
  std::vector<relation_data*> slots;
  std::vector<std::unique_ptr<relation_data>> owned;
  relation_data& slot_data(int s) const { return *slots[static_cast<std::size_t>(s)]; }
  int add(std::string name, std::vector<domain*> domains) {
    auto d = std::make_unique<relation_data>();
    d->name = std::move(name);
    d->slot = static_cast<int>(slots.size());
    d->tuples = std::make_unique<tuple_set>(static_cast<int>(domains.size()));
    d->domains = std::move(domains);
    slots.push_back(d.get());
    owned.push_back(std::move(d));
    return static_cast<int>(slots.size()) - 1;
  }
};

struct magic_rewriter {
  const std::vector<rule>& rules;
  relation_table& table;
  std::vector<bool> idb;  // by original slot
  std::map<std::pair<int, std::string>, std::pair<int, int>> adorned;  // (slot, adornment) -> (adorned, magic)
  std::vector<std::pair<int, std::string>> work;
  std::vector<rule> out;

  static bool all_free(const std::string& a) { return a.find('b') == std::string::npos; }

  // The adorned relation (and its magic relation, -1 when nothing is bound) for slot/adornment.
  std::pair<int, int> get(int slot, const std::string& adornment) {
    auto key = std::make_pair(slot, adornment);
    auto it = adorned.find(key);
    if (it != adorned.end()) return it->second;
    relation_data& base = table.slot_data(slot);
    const int a = table.add(base.name + "_" + adornment, base.domains);
    int m = -1;
    if (!all_free(adornment)) {
      std::vector<domain*> bound;
      for (std::size_t k = 0; k < adornment.size(); ++k)
        if (adornment[k] == 'b') bound.push_back(base.domains[k]);
      m = table.add("magic_" + base.name + "_" + adornment, bound);
    }
    adorned[key] = {a, m};
    work.push_back(key);
    return {a, m};
  }

  static atom magic_atom(int magic_slot, const atom& a, const std::string& adornment) {
    atom m;
    m.slot = magic_slot;
    for (int k = 0; k < a.arity; ++k)
      if (adornment[static_cast<std::size_t>(k)] == 'b') m.args[m.arity++] = a.args[k];
    return m;
  }

  void rewrite(int slot, const std::string& adornment) {
    const auto [head_slot, head_magic] = adorned.at({slot, adornment});
    for (const rule& r : rules) {
      if (r.head.slot != slot) continue;
      std::vector<bool> bound(r.variables.size(), false);
      for (int k = 0; k < r.head.arity; ++k)
        if (adornment[static_cast<std::size_t>(k)] == 'b' && r.head.args[k].kind == arg_kind::variable)
          bound[static_cast<std::size_t>(r.head.args[k].var)] = true;
      rule modified;
      modified.equation = r.equation;
      modified.alternative = r.alternative;
      modified.variables = r.variables;
      modified.head = r.head;
      modified.head.slot = head_slot;
      if (head_magic >= 0) modified.positive.push_back(magic_atom(head_magic, r.head, adornment));
      // Sideways information passing: most bound arguments first.
      std::vector<bool> used(r.positive.size(), false);
      for (std::size_t step = 0; step < r.positive.size(); ++step) {
        int pick = -1, best = -1;
        for (std::size_t k = 0; k < r.positive.size(); ++k) {
          if (used[k]) continue;
          int b = 0;
          for (int c = 0; c < r.positive[k].arity; ++c) {
            const argument& g = r.positive[k].args[c];
            b += g.kind == arg_kind::constant || bound[static_cast<std::size_t>(g.var)];
          }
          if (b > best) best = b, pick = static_cast<int>(k);
        }
        used[static_cast<std::size_t>(pick)] = true;
        atom a = r.positive[static_cast<std::size_t>(pick)];
        if (idb[static_cast<std::size_t>(a.slot)]) {
          std::string beta;
          for (int c = 0; c < a.arity; ++c) {
            const argument& g = a.args[c];
            beta += g.kind == arg_kind::constant || bound[static_cast<std::size_t>(g.var)] ? 'b' : 'f';
          }
          const auto [body_slot, body_magic] = get(a.slot, beta);
          if (body_magic >= 0) {
            // magic_q(bound args) :- magic_p(head's bound args), the atoms before this one.
            rule magic;
            magic.equation = r.equation;
            magic.alternative = r.alternative;
            magic.variables = r.variables;
            magic.head = magic_atom(body_magic, a, beta);
            magic.positive = modified.positive;
            if (magic.positive.empty()) {
              // nothing bound upstream: the subgoal's bound values are the constants alone
              bool constants_only = true;
              for (int c = 0; c < magic.head.arity; ++c)
                constants_only = constants_only && magic.head.args[c].kind == arg_kind::constant;
              if (!constants_only) throw error("query rewriting found an unsafe subgoal");
              seeds.push_back(magic.head);
            } else {
              out.push_back(std::move(magic));
            }
          }
          a.slot = body_slot;
        }
        for (int c = 0; c < a.arity; ++c)
          if (a.args[c].kind == arg_kind::variable) bound[static_cast<std::size_t>(a.args[c].var)] = true;
        modified.positive.push_back(a);
      }
      modified.negative = r.negative;  // over complete relations (solved beforehand)
      modified.constraints = r.constraints;
      out.push_back(std::move(modified));
    }
  }

  std::vector<atom> seeds;  // magic facts with constant arguments only
};

// query() in `*space` when Space is a Kokkos execution space (the negated relations' strata and the rewritten
// rules as Kokkos kernels), on the host when it is void.
template <class Prog, class Sym, class... D, class Space = void>
query_result query_in(const Prog& prog, database<Prog>& db, const ref<Sym, D...>& goal, const solve_options& options,
                      const Space* space = nullptr) {
  static_assert(Sym::kind == symbol_kind::relation, "tensorlogic: a query asks for facts of a relation");
  static_assert(Prog::template contains<Sym>, "tensorlogic: the queried relation is not a symbol of the program");
  const auto start = std::chrono::steady_clock::now();
  const std::vector<rule> rules = rules_of(prog);
  for (const rule& r : rules) detail::check_rule_types(r, db);
  constexpr auto& st = Prog::structure;
  constexpr int goal_slot = Prog::slot_of(Sym::name.view());

  // The goal as an atom.
  detail::rule_reader reader;
  const atom g = reader.template read_atom<Prog>(goal);
  const relation_data& goal_data = db.slot_data(goal_slot);
  for (int k = 0; k < g.arity; ++k)
    if (g.args[k].kind == arg_kind::constant &&
        (g.args[k].value < 0 || static_cast<std::size_t>(g.args[k].value) >= goal_data.domains[k]->size()))
      throw error("query " + goal_data.name + ": constant " + std::to_string(g.args[k].value) + " in argument " +
                  std::to_string(k + 1) + " is not an id of domain " + goal_data.domains[k]->name());

  // Relations negated anywhere the goal reaches are solved in full first.
  auto group_of_slot = [&](int slot) {
    for (int k = 0; k < st.n_groups; ++k)
      if (st.group_head[k] == slot) return k;
    return -1;
  };
  const int goal_group = group_of_slot(goal_slot);
  std::vector<bool> wanted(static_cast<std::size_t>(st.n_strata), false);
  bool any_negation = false;
  if (goal_group >= 0)
    for (int a = 0; a < st.n_groups; ++a)
      if (a == goal_group || st.reach[goal_group][a])
        for (int b = 0; b < st.n_groups; ++b)
          if (st.negates[a][b]) {
            any_negation = true;
            wanted[static_cast<std::size_t>(st.stratum_of[b])] = true;
            for (int c = 0; c < st.n_groups; ++c)
              if (st.reach[b][c]) wanted[static_cast<std::size_t>(st.stratum_of[c])] = true;
          }
  if (any_negation) detail::solve_strata(prog, db, options, &wanted, space);

  detail::relation_table table;
  for (std::size_t s = 0; s < Prog::n_slots; ++s)
    table.slots.push_back(db.is_relation_slot(static_cast<int>(s)) ? &db.slot_data(static_cast<int>(s)) : nullptr);
  detail::magic_rewriter rw{rules, table, std::vector<bool>(Prog::n_slots, false), {}, {}, {}, {}};
  for (const rule& r : rules) rw.idb[static_cast<std::size_t>(r.head.slot)] = true;

  query_result result;
  std::vector<std::vector<id_t>> rows;
  auto matches = [&](const id_t* row) {
    for (int k = 0; k < g.arity; ++k) {
      if (g.args[k].kind == arg_kind::constant && row[k] != static_cast<id_t>(g.args[k].value)) return false;
      for (int j = 0; j < k; ++j)  // a repeated variable, as in Anc(x, x)
        if (g.args[k].kind == arg_kind::variable && g.args[j].kind == arg_kind::variable &&
            g.args[j].var == g.args[k].var && row[j] != row[k])
          return false;
    }
    return true;
  };
  const tuple_set* answer = &*goal_data.tuples;
  if (rw.idb[static_cast<std::size_t>(goal_slot)]) {
    std::string alpha;
    for (int k = 0; k < g.arity; ++k) alpha += g.args[k].kind == arg_kind::constant ? 'b' : 'f';
    const auto [goal_adorned, goal_magic] = rw.get(goal_slot, alpha);
    if (goal_magic >= 0) rw.seeds.push_back(detail::magic_rewriter::magic_atom(goal_magic, g, alpha));
    for (std::size_t k = 0; k < rw.work.size(); ++k) rw.rewrite(rw.work[k].first, rw.work[k].second);
    for (const atom& seed : rw.seeds) {
      id_t t[max_arity];
      for (int c = 0; c < seed.arity; ++c) t[c] = static_cast<id_t>(seed.args[c].value);
      table.slot_data(seed.slot).tuples->insert(t);
    }
    // Every rewritten rule in one recursive stratum over the new relations (negations read complete relations).
    std::vector<bool> in_stratum(table.slots.size(), false);
    for (std::size_t s = Prog::n_slots; s < table.slots.size(); ++s) in_stratum[s] = true;
    std::vector<int> mine;
    for (std::size_t k = 0; k < rw.out.size(); ++k) mine.push_back(static_cast<int>(k));
    stratum_report rep;
    rep.recursive = true;
    solve_options o = options;
    o.provenance = false;
    bool on_space = false;
    if constexpr (!std::is_void_v<Space>) {
      auto plan = [&](const rule& r, int delta, std::size_t lo, std::size_t hi) {
        return detail::plan_rule(r, table, delta, lo, hi, false);
      };
      on_space = detail::run_join_stratum_on(*space, rw.out, mine, table, in_stratum, o, rep, plan);
    }
    if (!on_space) detail::run_stratum(rw.out, mine, table, in_stratum, o, rep);
    result.derived = rep.derived;
    result.iterations = rep.iterations;
    for (const auto& [key, slots] : rw.adorned)
      if (slots.second >= 0) result.subgoals += table.slot_data(slots.second).tuples->size();
    answer = &*table.slot_data(goal_adorned).tuples;
  }
  for (std::size_t r = 0; r < answer->size(); ++r)
    if (matches(answer->row(r))) rows.emplace_back(answer->row(r), answer->row(r) + g.arity);
  std::sort(rows.begin(), rows.end());
  for (const auto& row : rows) {
    std::vector<std::string> f;
    for (int k = 0; k < g.arity; ++k) f.push_back(goal_data.domains[k]->symbol(row[static_cast<std::size_t>(k)]));
    result.facts.push_back(std::move(f));
  }
  result.rows = std::move(rows);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace detail

// Answers `goal` (a reference such as Anc(alice, y), constants as ids of the argument's domain) without solving
// the whole program. Facts of the database's own relations are read, never changed, except that relations the
// goal reaches under negation are solved in full.
template <class Prog, class Sym, class... D>
query_result query(const Prog& prog, database<Prog>& db, const ref<Sym, D...>& goal,
                   const solve_options& options = {}) {
  return detail::query_in(prog, db, goal, options);
}

// The same, run as Kokkos kernels in `space` (Serial, OpenMP, CUDA, HIP): the strata of the negated relations as in
// solve(prog, db, options, space), the rewritten rules as one Kokkos hash-join stratum. Same answers.
template <class Prog, class Sym, class... D, class Space>
  requires Kokkos::is_execution_space<Space>::value
query_result query(const Prog& prog, database<Prog>& db, const ref<Sym, D...>& goal, const solve_options& options,
                   const Space& space) {
  return detail::query_in(prog, db, goal, options, &space);
}

}  // namespace tensorlogic::logic
