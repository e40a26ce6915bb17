// expect: rule_argument_not_variable<tensorlogic::fixed_string<5>\{"Next"\}, tensorlogic::fixed_string<2>\{"E"\}>.*error: static assertion failed: tensorlogic: in the rule for relation H, an argument of R is an index expression
// Datalog atoms take variables and constants; x + 1 is arithmetic on an index.
#include <tensorlogic/logic.hpp>

namespace tl = tensorlogic;

inline constexpr tl::index<"x"> x;
inline constexpr tl::index<"y"> y;
inline constexpr tl::relation<"E", 2> E;
inline constexpr tl::relation<"Next", 2> Next;

int main() {
  constexpr auto prog = tl::program(Next(x, y) = E(x + 1, y));
  tl::logic::database db(prog);
  tl::logic::solve(prog, db);
}
