// Datalog on relations-as-tensors: a kinship program over .facts files (one tab-separated fact a line, the format
// Soufflé reads), solved bottom-up to its least fixpoint with stratified negation, then one query answered
// top-down, and the provenance of a derived fact.
//
//   example_kinship [facts-dir] [--why Relation a b]
//
// With no arguments it reads examples/data/kinship and explains Cousin(Hana, Ivo)'s derivation.
#include <cstring>
#include <iostream>
#include <set>
#include <string>
#include <type_traits>
#include <tensorlogic/logic.hpp>
#include <vector>

namespace tl = tensorlogic;

namespace {
inline constexpr tl::index<"x"> x;
inline constexpr tl::index<"y"> y;
inline constexpr tl::index<"z"> z;
inline constexpr tl::index<"p"> p;
inline constexpr tl::index<"q"> q;
inline constexpr tl::relation<"Person", 1> Person;
inline constexpr tl::relation<"Parent", 2> Parent;
inline constexpr tl::relation<"Female", 1> Female;
inline constexpr tl::relation<"Anc", 2> Anc;
inline constexpr tl::relation<"Sibling", 2> Sibling;
inline constexpr tl::relation<"Aunt", 2> Aunt;
inline constexpr tl::relation<"Cousin", 2> Cousin;
inline constexpr tl::relation<"HasChild", 1> HasChild;
inline constexpr tl::relation<"Childless", 1> Childless;

constexpr auto kinship = tl::program(
    Anc(x, y) = Parent(x, y),                                   //
    Anc(x, z) = Anc(x, y) * Parent(y, z),                       //
    Sibling(x, y) = Parent(p, x) * Parent(p, y) * (x != y),     //
    Aunt(x, y) = Sibling(x, p) * Parent(p, y) * Female(x),      //
    Cousin(x, y) = Parent(p, x) * Parent(q, y) * Sibling(p, q), //
    HasChild(x) = Parent(x, y),                                 //
    Childless(x) = Person(x) * !HasChild(x));
using kinship_db = tl::logic::database<std::remove_const_t<decltype(kinship)>>;

template <class Rel>
void print(const kinship_db& db, Rel r, const char* name) {
  std::cout << "  " << name << " (" << db.size(r) << "):";
  for (const auto& f : db.facts(r)) {
    std::cout << " " << name << "(";
    for (std::size_t k = 0; k < f.size(); ++k) std::cout << (k ? ", " : "") << f[k];
    std::cout << ")";
  }
  std::cout << "\n";
}

// Prints how a fact was derived: the rule and iteration of its first derivation, then the body facts that the
// rule joined (found by re-matching the rule's body against the solved relations).
template <class Rel>
int explain(kinship_db& db, Rel r, const std::vector<std::string>& fact) {
  const auto d = db.provenance(r, fact);
  if (!d) {
    std::cout << "  not derived\n";
    return 1;
  }
  if (d->given()) {
    std::cout << "  given as a fact\n";
    return 0;
  }
  std::cout << "  first derived in iteration " << d->iteration << " of its stratum by rule " << d->rule << ":\n    "
            << tl::logic::rule_text(kinship, db, d->rule) << "\n";
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  std::string dir = TENSORLOGIC_EXAMPLE_DATA "/kinship";
  std::string why_rel = "Cousin", why_a = "Hana", why_b = "Ivo";
  for (int k = 1; k < argc; ++k) {
    if (!std::strcmp(argv[k], "--why") && k + 3 < argc) {
      why_rel = argv[k + 1];
      why_a = argv[k + 2];
      why_b = argv[k + 3];
      k += 3;
    } else {
      dir = argv[k];
    }
  }
  try {
    tl::logic::database db(kinship);
    std::cout << "Kinship rules:\n";
    for (std::size_t k = 0; k < tl::logic::rules_of(kinship).size(); ++k)
      std::cout << "  [" << k << "] " << tl::logic::rule_text(kinship, db, static_cast<int>(k)) << "\n";
    std::cout << "Facts from " << dir << ": ";
    std::cout << db.load(Parent, dir + "/Parent.facts") << " Parent, ";
    std::cout << db.load(Female, dir + "/Female.facts") << " Female, ";
    std::cout << db.load(Person, dir + "/Person.facts") << " Person\n";

    tl::logic::solve_options options;
    options.provenance = true;
    const auto report = tl::logic::solve(kinship, db, options);
    std::cout << "Solved: " << report.derived << " facts derived in " << report.strata.size() << " strata\n";
    for (const auto& s : report.strata) {
      std::cout << "  stratum {";
      for (std::size_t k = 0; k < s.heads.size(); ++k) std::cout << (k ? ", " : "") << s.heads[k];
      std::cout << "}: " << (s.recursive ? "recursive, " : "") << s.iterations << " iteration(s), " << s.derived
                << " facts, " << s.kernel << "\n";
    }
    std::cout << "Derived:\n";
    print(db, Sibling, "Sibling");
    print(db, Aunt, "Aunt");
    print(db, Cousin, "Cousin");
    print(db, Childless, "Childless");
    std::cout << "  Anc: " << db.size(Anc) << " facts\n";

    // A goal-directed query: whose ancestor is Ben? (magic sets: only Ben's descendants are visited)
    const long ben = db.domain_named("symbol").id("Ben");
    const auto answer = tl::logic::query(kinship, db, Anc(ben, y));
    std::cout << "Query Anc(Ben, y): " << answer.rows.size() << " answers (" << answer.derived
              << " facts derived for it):";
    for (const auto& f : answer.facts) std::cout << " " << f[1];
    std::cout << "\n";

    std::cout << "Why " << why_rel << "(" << why_a << ", " << why_b << ")?\n";
    int status = 0;
    if (why_rel == "Cousin") status = explain(db, Cousin, {why_a, why_b});
    else if (why_rel == "Aunt") status = explain(db, Aunt, {why_a, why_b});
    else if (why_rel == "Sibling") status = explain(db, Sibling, {why_a, why_b});
    else if (why_rel == "Anc") status = explain(db, Anc, {why_a, why_b});
    else {
      std::cout << "  --why takes Cousin, Aunt, Sibling or Anc\n";
      return 2;
    }

    // Self-check against the expected kinship of the shipped data.
    if (dir == std::string(TENSORLOGIC_EXAMPLE_DATA "/kinship")) {
      const bool ok = db.size(Anc) == 25 && db.contains(Cousin, {"Hana", "Ivo"}) &&
                      db.contains(Aunt, {"Cleo", "Dan"}) && !db.contains(Cousin, {"Dan", "Eve"}) &&
                      db.size(Childless) == 5 && answer.rows.size() == 4;
      std::cout << (ok ? "check: ok\n" : "check: FAILED\n");
      if (!ok) return 1;
    }
    return status;
  } catch (const tl::error& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
}
