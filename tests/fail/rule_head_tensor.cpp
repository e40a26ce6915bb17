// expect: datalog_head_not_relation<tensorlogic::fixed_string<2>\{"T"\}>.*error: static assertion failed: tensorlogic: tl::logic evaluates rules for relations only
// tl::logic::solve runs Datalog; an equation computing the tensor T belongs to tl::eval.
#include <tensorlogic/logic.hpp>

namespace tl = tensorlogic;

inline constexpr tl::index<"x"> x;
inline constexpr tl::index<"y"> y;
inline constexpr tl::relation<"E", 2> E;
inline constexpr tl::tensor<"T", float, 2> T;

int main() {
  constexpr auto prog = tl::program(T(x, y) = E(x, y));
  tl::logic::database db(prog);
  tl::logic::solve(prog, db);
}
