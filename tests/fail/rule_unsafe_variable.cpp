// expect: unsafe_rule_variable<tensorlogic::fixed_string<7>\{"Orphan"\}, tensorlogic::fixed_string<2>\{"x"\}>.*error: static assertion failed: tensorlogic: in the rule for relation H, variable V is in no positive atom
// Datalog safety: x occurs only under negation, so Orphan(x) would range over everything.
#include <tensorlogic/logic.hpp>

namespace tl = tensorlogic;

inline constexpr tl::index<"x"> x;
inline constexpr tl::relation<"HasParent", 1> HasParent;
inline constexpr tl::relation<"Orphan", 1> Orphan;

int main() {
  constexpr auto prog = tl::program(Orphan(x) = !HasParent(x));
  tl::logic::database db(prog);
  tl::logic::solve(prog, db);
}
