// expect: rule_body_not_datalog<tensorlogic::fixed_string<2>\{"R"\}>.*error: static assertion failed: tensorlogic: the rule for relation H uses arithmetic, a number or a function
// A Datalog body is joins, ORs, negations and comparisons; tl::exp is a real-valued function.
#include <tensorlogic/logic.hpp>

namespace tl = tensorlogic;

inline constexpr tl::index<"x"> x;
inline constexpr tl::index<"y"> y;
inline constexpr tl::relation<"E", 2> E;
inline constexpr tl::relation<"R", 2> R;

int main() {
  constexpr auto prog = tl::program(R(x, y) = tl::exp(E(x, y)));
  tl::logic::database db(prog);
  tl::logic::solve(prog, db);
}
