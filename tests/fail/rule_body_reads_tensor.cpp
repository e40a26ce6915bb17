// expect: rule_body_reads_tensor<tensorlogic::fixed_string<2>\{"R"\}, tensorlogic::fixed_string<2>\{"W"\}>.*error: static assertion failed: tensorlogic: in the rule for relation H, T is a tensor, not a relation
// The Datalog engine runs rules over relations; W is a real-valued tensor.
#include <tensorlogic/logic.hpp>

namespace tl = tensorlogic;

inline constexpr tl::index<"x"> x;
inline constexpr tl::index<"y"> y;
inline constexpr tl::relation<"E", 2> E;
inline constexpr tl::relation<"R", 2> R;
inline constexpr tl::tensor<"W", float, 2> W;

int main() {
  constexpr auto prog = tl::program(R(x, y) = E(x, y) * W(x, y));
  tl::logic::database db(prog);
  tl::logic::solve(prog, db);
}
