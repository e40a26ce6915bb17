// tl::logic::solve: bottom-up evaluation of a Datalog program to its least fixpoint, stratum by stratum (the
// program's compile-time strata: every stratum follows the strata it reads, negation only across strata).
// Recursive strata run semi-naively: iteration k joins, for each rule and each of its atoms over a relation of the
// stratum, only the facts derived in iteration k-1 against everything else. Joins are index nested loops: atoms
// in a greedy order (most bound columns first), each looked up on its bound columns (a hash index for a relation
// the stratum derives, a sorted CSR index for one it only reads) or by a membership test when all are bound;
// negations and comparisons run as soon as their variables are bound.
// Binary rules of the closure shape H(x,z) <- A(x,y), B(y,z) (any argument order) over small enough domains run
// on bit-packed matrices instead, with word-parallel OR of rows (see dense.hpp).
#pragma once
#include <chrono>
#include <cstddef>
#include <string>
#include <type_traits>
#include <vector>

#include <tensorlogic/logic/database.hpp>
#include <tensorlogic/logic/dense.hpp>
#include <tensorlogic/logic/dense_device.hpp>
#include <tensorlogic/logic/join_device.hpp>
#include <tensorlogic/logic/rules.hpp>

namespace tensorlogic::logic {

struct solve_options {
  bool provenance = false;                // record which rule and iteration first derived each fact
  long max_iterations = -1;               // per recursive stratum; < 0: until the fixpoint
  bool dense = true;                      // allow the bit-matrix kernel for closure-shaped strata
  std::size_t dense_max_bytes = std::size_t{1} << 30;  // the most memory the bit matrices of one stratum may take
  // Kokkos hash join: the most derived head tuples (duplicates not yet removed) one rule's join writes before they are
  // inserted; a larger join runs in chunks of work items (a single item's tuples are never split). 0: 65,536 in a
  // host space (the chunk stays in cache between its write and its insertion), 4,194,304 on a device.
  std::size_t join_chunk_tuples = 0;
};

struct stratum_report {
  std::vector<std::string> heads;
  bool recursive = false;
  long iterations = 0;
  std::size_t derived = 0;
  const char* kernel = "hash join";
  // Kokkos hash join: the most derived tuples held at once before their insertion (its buffer's size in tuples), and
  // the joins that ran in more than one chunk (solve_options::join_chunk_tuples)
  std::size_t peak_buffered = 0;
  std::size_t chunked_joins = 0;
};

struct solve_report {
  std::vector<stratum_report> strata;
  std::size_t derived = 0;
  double seconds = 0;
  std::size_t bytes = 0;  // the database's storage after solving
};

namespace detail {

// A rule's text in Datalog syntax, for messages and provenance.
// (Db: a database, or any table of relations by slot with slot_data(slot).)
template <class Db>
std::string rule_text(const rule& r, const Db& db) {
  auto arg_text = [&](const argument& a, const atom& at, int k) {
    if (a.kind == arg_kind::variable) return r.variables[static_cast<std::size_t>(a.var)];
    const domain& d = *db.slot_data(at.slot).domains[static_cast<std::size_t>(k)];
    if (a.value >= 0 && static_cast<std::size_t>(a.value) < d.size()) return d.symbol(static_cast<id_t>(a.value));
    return std::to_string(a.value);
  };
  auto atom_text = [&](const atom& at) {
    std::string s = db.slot_data(at.slot).name + "(";
    for (int k = 0; k < at.arity; ++k) {
      if (k) s += ", ";  // (appended piecewise: `", " + std::string&&` draws GCC 12's false -Wrestrict warning)
      s += arg_text(at.args[k], at, k);
    }
    return s + ")";
  };
  static const char* const cmp[] = {" == ", " != ", " < ", " <= ", " > ", " >= "};
  std::string s = atom_text(r.head) + " :- ";
  bool first = true;
  auto sep = [&] {
    if (!first) s += ", ";
    first = false;
  };
  for (const atom& a : r.positive) sep(), s += atom_text(a);
  for (const atom& a : r.negative) {
    sep();
    s += '!';
    s += atom_text(a);
  }
  for (const constraint& c : r.constraints) {
    sep();
    auto side = [&](const argument& a) {
      return a.kind == arg_kind::variable ? r.variables[static_cast<std::size_t>(a.var)] : std::to_string(a.value);
    };
    s += side(c.a) + cmp[static_cast<int>(c.op)] + side(c.b);
  }
  return s + ".";
}

// Each variable's domain must agree across its occurrences; constants must lie in their argument's domain.
template <class Db>
void check_rule_types(const rule& r, const Db& db) {
  std::vector<const domain*> var_domain(r.variables.size(), nullptr);
  std::vector<std::string> first_use(r.variables.size());
  auto visit = [&](const atom& at) {
    const relation_data& d = db.slot_data(at.slot);
    for (int k = 0; k < at.arity; ++k) {
      const argument& a = at.args[k];
      const domain* dom = d.domains[static_cast<std::size_t>(k)];
      const std::string where = "argument " + std::to_string(k + 1) + " of " + d.name;
      if (a.kind == arg_kind::constant) {
        if (a.value < 0 || static_cast<std::size_t>(a.value) >= dom->size())
          throw error("in rule " + rule_text(r, db) + ": constant " + std::to_string(a.value) + " in " + where +
                      " is not an id of domain " + dom->name() + " (size " + std::to_string(dom->size()) + ")");
        continue;
      }
      const auto v = static_cast<std::size_t>(a.var);
      if (!var_domain[v]) {
        var_domain[v] = dom;
        first_use[v] = where;
      } else if (var_domain[v] != dom) {
        throw error("in rule " + rule_text(r, db) + ": variable " + r.variables[v] + " joins " + first_use[v] +
                    " (domain " + var_domain[v]->name() + ") with " + where + " (domain " + dom->name() + ")");
      }
    }
  };
  for (const atom& a : r.positive) visit(a);
  for (const atom& a : r.negative) visit(a);
  visit(r.head);
}

// One positive atom's place in a join order.
struct join_step {
  relation_data* rel = nullptr;
  bool scan = false;        // iterate rows [lo, hi)
  bool membership = false;  // every column bound: a set lookup
  std::size_t lo = 0, hi = 0;
  column_index* index = nullptr;         // a relation the stratum derives: hash index, synced per iteration
  const sorted_index* sorted = nullptr;  // a relation it only reads: sorted CSR index
  unsigned mask = 0;
  int arity = 0;
  // per column: 0 constant, 1 bound variable (check), 2 bind variable
  int action[max_arity]{};
  int var[max_arity]{};
  id_t value[max_arity]{};
  std::vector<int> negations, constraints;  // filters ready after this step
};

struct rule_runner {
  const rule* r = nullptr;
  relation_data* head = nullptr;
  std::vector<relation_data*> negated;
  std::vector<join_step> steps;
  std::vector<int> early_constraints;  // constraints with constants only
  std::vector<id_t> vars;
  bool record = false;
  int rule_index = 0, iteration = 0;
  std::size_t derived = 0;

  id_t value_of(const argument& a) const {
    return a.kind == arg_kind::constant ? static_cast<id_t>(a.value) : vars[static_cast<std::size_t>(a.var)];
  }
  bool constraint_holds(int k) const {
    const constraint& c = r->constraints[static_cast<std::size_t>(k)];
    return compare_ids(c.op, value_of(c.a), value_of(c.b));
  }
  bool negation_holds(int k) const {
    const atom& at = r->negative[static_cast<std::size_t>(k)];
    id_t t[max_arity];
    for (int c = 0; c < at.arity; ++c) t[c] = value_of(at.args[c]);
    return !negated[static_cast<std::size_t>(k)]->tuples->contains(t);
  }
  bool filters_hold(const join_step& s) const {
    for (int k : s.constraints)
      if (!constraint_holds(k)) return false;
    for (int k : s.negations)
      if (!negation_holds(k)) return false;
    return true;
  }

  // Head tuples wait in a batch, their hash-table slots prefetched, and are inserted a batch at a time so that the
  // insertions' cache misses overlap. Unbatched when a step tests membership in the head itself (it must see every
  // tuple as soon as it is derived).
  static constexpr int batch = 16;
  bool batched = true;
  int pending_count = 0;
  id_t pending[batch][max_arity]{};
  std::uint64_t pending_hash[batch]{};

  void emit() {
    id_t* t = pending[pending_count];
    for (int c = 0; c < r->head.arity; ++c) t[c] = value_of(r->head.args[c]);
    const std::uint64_t h = head->tuples->hash_of(t);
    head->tuples->prefetch(h);
    pending_hash[pending_count++] = h;
    if (pending_count == batch || !batched) flush();
  }
  void flush() {
    for (int k = 0; k < pending_count; ++k)
      if (head->tuples->insert_hashed(pending[k], pending_hash[k])) {
        ++derived;
        if (record) {
          head->provenance.resize(head->tuples->size() - 1);
          head->provenance.push_back({rule_index, iteration});
        }
      }
    pending_count = 0;
  }
  // Runs the whole join and inserts every tuple it derives.
  void execute() {
    run(0);
    flush();
  }

  // Binds the row's free columns; false if a constant or bound variable does not match.
  bool match(const join_step& s, const id_t* row) {
    for (int c = 0; c < s.arity; ++c) {
      switch (s.action[c]) {
        case 0:
          if (row[c] != s.value[c]) return false;
          break;
        case 1:
          if (row[c] != vars[static_cast<std::size_t>(s.var[c])]) return false;
          break;
        default:
          vars[static_cast<std::size_t>(s.var[c])] = row[c];
      }
    }
    return true;
  }

  void run(std::size_t depth) {
    if (depth == steps.size()) {
      emit();
      return;
    }
    const join_step& s = steps[depth];
    const tuple_set& set = *s.rel->tuples;
    if (s.scan) {
      for (std::size_t row = s.lo; row < s.hi; ++row)
        if (match(s, set.row(row)) && filters_hold(s)) run(depth + 1);
    } else if (s.membership) {
      id_t key[max_arity];
      for (int c = 0; c < s.arity; ++c)
        key[c] = s.action[c] == 0 ? s.value[c] : vars[static_cast<std::size_t>(s.var[c])];
      if (set.contains(key) && filters_hold(s)) run(depth + 1);
    } else {
      id_t key[max_arity]{};
      for (int c = 0; c < s.arity; ++c)
        if (s.mask & (1u << c)) key[c] = s.action[c] == 0 ? s.value[c] : vars[static_cast<std::size_t>(s.var[c])];
      if (s.sorted) {
        s.sorted->for_each(key, [&](const id_t* row) {
          if (match(s, row) && filters_hold(s)) run(depth + 1);
          return true;
        });
      } else {
        s.index->for_each(key, [&](std::size_t row) {
          if (match(s, set.row(row)) && filters_hold(s)) run(depth + 1);
          return true;
        });
      }
    }
  }
};

// Plans rule `r` with atom `delta` (or -1) restricted to rows [lo, hi); all other atoms see every row. With
// host_indexes false the steps that look up bound columns get no host index (the Kokkos join builds its own); else
// an atom over a relation flagged (by slot) in `derived` looks up a hash index, kept up to date as the relation
// grows, and any other atom (its relation fixed while the stratum runs) a sorted CSR index.
template <class Db>
rule_runner plan_rule(const rule& r, Db& db, int delta, std::size_t lo, std::size_t hi, bool host_indexes = true,
                      const std::vector<bool>* derived = nullptr) {
  rule_runner run;
  run.r = &r;
  run.head = &db.slot_data(r.head.slot);
  for (const atom& a : r.negative) run.negated.push_back(&db.slot_data(a.slot));
  run.vars.assign(r.variables.size(), 0);
  std::vector<bool> bound(r.variables.size(), false), used(r.positive.size(), false);
  auto bound_columns = [&](const atom& a) {
    int n = 0;
    for (int c = 0; c < a.arity; ++c)
      if (a.args[c].kind == arg_kind::constant || bound[static_cast<std::size_t>(a.args[c].var)]) ++n;
    return n;
  };
  for (std::size_t k = 0; k < r.positive.size(); ++k) {
    int pick = -1;
    if (k == 0 && delta >= 0) {
      pick = delta;
    } else {
      long best_bound = -1;
      std::size_t best_size = 0;
      for (std::size_t a = 0; a < r.positive.size(); ++a) {
        if (used[a]) continue;
        const long b = bound_columns(r.positive[a]);
        const std::size_t size = db.slot_data(r.positive[a].slot).tuples->size();
        if (b > best_bound || (b == best_bound && size < best_size)) {
          pick = static_cast<int>(a);
          best_bound = b;
          best_size = size;
        }
      }
    }
    used[static_cast<std::size_t>(pick)] = true;
    const atom& a = r.positive[static_cast<std::size_t>(pick)];
    join_step s;
    s.rel = &db.slot_data(a.slot);
    s.arity = a.arity;
    for (int c = 0; c < a.arity; ++c) {
      const argument& g = a.args[c];
      if (g.kind == arg_kind::constant) {
        s.action[c] = 0;
        s.value[c] = static_cast<id_t>(g.value);
        s.mask |= 1u << c;
      } else if (bound[static_cast<std::size_t>(g.var)]) {
        s.action[c] = 1;
        s.var[c] = g.var;
        // a variable bound earlier in this same atom is checked, not looked up
        bool same_atom = false;
        for (int p = 0; p < c; ++p)
          if (a.args[p].kind == arg_kind::variable && a.args[p].var == g.var && s.action[p] == 2) same_atom = true;
        if (!same_atom) s.mask |= 1u << c;
      } else {
        s.action[c] = 2;
        s.var[c] = g.var;
        bound[static_cast<std::size_t>(g.var)] = true;
      }
    }
    const unsigned full = (1u << a.arity) - 1u;
    if (pick == delta) {
      s.scan = true;
      s.lo = lo;
      s.hi = hi;
    } else if (s.mask == full) {
      s.membership = true;
    } else if (s.mask == 0) {
      s.scan = true;
      s.lo = 0;
      s.hi = s.rel->tuples->size();
    } else if (host_indexes && derived && !(*derived)[static_cast<std::size_t>(a.slot)]) {
      s.sorted = &s.rel->sorted_index_on(s.mask);
    } else if (host_indexes) {
      s.index = &s.rel->index(s.mask);
      s.index->sync();
    }
    if (s.membership && s.rel == run.head) run.batched = false;
    run.steps.push_back(std::move(s));
  }
  // Filters go after the first step that binds all their variables.
  auto ready_at = [&](auto vars_of) {
    std::vector<bool> b(r.variables.size(), false);
    for (std::size_t k = 0; k < run.steps.size(); ++k) {
      for (int c = 0; c < run.steps[k].arity; ++c)
        if (run.steps[k].action[c] == 2) b[static_cast<std::size_t>(run.steps[k].var[c])] = true;
      bool all = true;
      vars_of([&](int v) { all = all && b[static_cast<std::size_t>(v)]; });
      if (all) return static_cast<int>(k);
    }
    return static_cast<int>(run.steps.size()) - 1;
  };
  for (std::size_t k = 0; k < r.negative.size(); ++k) {
    const atom& a = r.negative[k];
    const int at = ready_at([&](auto f) {
      for (int c = 0; c < a.arity; ++c)
        if (a.args[c].kind == arg_kind::variable) f(a.args[c].var);
    });
    run.steps[static_cast<std::size_t>(at)].negations.push_back(static_cast<int>(k));
  }
  for (std::size_t k = 0; k < r.constraints.size(); ++k) {
    const constraint& c = r.constraints[k];
    const int at = ready_at([&](auto f) {
      if (c.a.kind == arg_kind::variable) f(c.a.var);
      if (c.b.kind == arg_kind::variable) f(c.b.var);
    });
    run.steps[static_cast<std::size_t>(at)].constraints.push_back(static_cast<int>(k));
  }
  return run;
}

// Runs the rules `mine` (indices into `rules`) whose heads are the relations flagged in `in_stratum` (by slot):
// once if the stratum is not recursive, else semi-naively to the fixpoint.
template <class Options, class Db>
void run_stratum(const std::vector<rule>& rules, const std::vector<int>& mine, Db& db,
                 const std::vector<bool>& in_stratum, const Options& options, stratum_report& rep) {
  auto sizes = [&](std::vector<std::size_t>& out) {
    for (std::size_t slot = 0; slot < in_stratum.size(); ++slot)
      if (in_stratum[slot]) out[slot] = db.slot_data(static_cast<int>(slot)).tuples->size();
  };
  auto launch = [&](int k, int delta, std::size_t lo, std::size_t hi, int iteration, const auto&) {
    auto run = detail::plan_rule(rules[static_cast<std::size_t>(k)], db, delta, lo, hi, true, &in_stratum);
    run.record = options.provenance;
    run.rule_index = k;
    run.iteration = iteration;
    run.execute();
    rep.derived += run.derived;
  };
  semi_naive_rules(rules, mine, in_stratum, options, rep, sizes, launch);
}

}  // namespace detail

namespace detail {
// solve() restricted to the strata flagged in `wanted` (all when null); every stratum runs in `*space` when Space is
// a Kokkos execution space (bit matrices: dense_device.hpp, hash joins: join_device.hpp; a rule larger than the
// Kokkos join takes keeps its stratum on the host), on the host (dense.hpp, run_stratum) when it is void.
template <class Prog, class Space = void>
solve_report solve_strata(const Prog& prog, database<Prog>& db, const solve_options& options,
                          const std::vector<bool>* wanted, const Space* space = nullptr) {
  const auto start = std::chrono::steady_clock::now();
  const std::vector<rule> rules = rules_of(prog);
  for (const rule& r : rules) detail::check_rule_types(r, db);
  db.set_recording(options.provenance);
  constexpr auto& st = Prog::structure;
  solve_report report;

  // The rules of each stratum (by the head's group).
  auto stratum_of_rule = [&](const rule& r) {
    for (int g = 0; g < st.n_groups; ++g)
      if (st.group_head[g] == r.head.slot) return st.stratum_of[g];
    return -1;
  };
  for (int s = 0; s < st.n_strata; ++s) {
    if (wanted && !(*wanted)[static_cast<std::size_t>(s)]) continue;
    stratum_report rep;
    rep.recursive = st.recursive[s];
    std::vector<bool> in_stratum(Prog::n_slots, false);
    for (int g = 0; g < st.n_groups; ++g)
      if (st.stratum_of[g] == s) {
        in_stratum[static_cast<std::size_t>(st.group_head[g])] = true;
        rep.heads.push_back(db.slot_data(st.group_head[g]).name);
      }
    std::vector<int> mine;
    for (std::size_t k = 0; k < rules.size(); ++k)
      if (stratum_of_rule(rules[k]) == s) mine.push_back(static_cast<int>(k));
    if (mine.empty()) continue;

    if (options.dense && !options.provenance) {
      bool dense = false;
      if constexpr (std::is_void_v<Space>) {
        dense = detail::try_dense_stratum(rules, mine, db, in_stratum, options, rep);
      } else {
        detail::dense_stratum ds;
        dense = detail::plan_dense_stratum(rules, mine, db, in_stratum, options, ds);
        if (dense) detail::run_dense_stratum_on(*space, ds, options, rep);
      }
      if (dense) {
        report.derived += rep.derived;
        report.strata.push_back(std::move(rep));
        continue;
      }
    }

    bool on_space = false;
    if constexpr (!std::is_void_v<Space>) {
      auto plan = [&](const rule& r, int delta, std::size_t lo, std::size_t hi) {
        return detail::plan_rule(r, db, delta, lo, hi, false);
      };
      on_space = detail::run_join_stratum_on(*space, rules, mine, db, in_stratum, options, rep, plan);
    }
    if (!on_space) detail::run_stratum(rules, mine, db, in_stratum, options, rep);
    report.derived += rep.derived;
    report.strata.push_back(std::move(rep));
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  report.bytes = db.bytes();
  return report;
}
}  // namespace detail

// Evaluates every rule of `prog` over `db` to the least fixpoint. Facts already in a relation (given, or from an
// earlier solve) stay and take part.
template <class Prog>
solve_report solve(const Prog& prog, database<Prog>& db, const solve_options& options = {}) {
  return detail::solve_strata(prog, db, options, nullptr);
}

// The same, with the strata run as Kokkos kernels in `space` (its memory space holds their matrices and tuples;
// Serial, OpenMP, CUDA, HIP): bit matrices for the closure-shaped strata, hash joins for the others. Same facts as
// solve(prog, db, options); a hash-join stratum's iterations each see the relations as they stood when the
// iteration began, so it may take more iterations than on the host (and provenance counts those iterations).
template <class Prog, class Space>
  requires Kokkos::is_execution_space<Space>::value
solve_report solve(const Prog& prog, database<Prog>& db, const solve_options& options, const Space& space) {
  return detail::solve_strata(prog, db, options, nullptr, &space);
}

// The rules of `prog` as Datalog text, one a line (for printing provenance).
template <class Prog>
std::string rule_text(const Prog& prog, const database<Prog>& db, int rule_index) {
  const auto rules = rules_of(prog);
  if (rule_index < 0 || static_cast<std::size_t>(rule_index) >= rules.size())
    throw error("no rule " + std::to_string(rule_index) + " (the program has " + std::to_string(rules.size()) +
                " rules)");
  return detail::rule_text(rules[static_cast<std::size_t>(rule_index)], db);
}

}  // namespace tensorlogic::logic
