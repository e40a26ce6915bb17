// expect: reduced_index_on_lhs<tensorlogic::fixed_string<2>\{"Y"\}, tensorlogic::fixed_string<2>\{"i"\}>.*error: static assertion failed: tensorlogic: in the equation for tensor T, index I is kept on the left-hand side but projected away inside the right-hand side
// i is kept on the left-hand side but summed away by tl::sum on the right.
#include <tensorlogic/tensorlogic.hpp>

namespace tl = tensorlogic;

inline constexpr tl::index<"i"> i;
inline constexpr tl::index<"j"> j;
inline constexpr tl::tensor<"W", float, 2> W;
inline constexpr tl::tensor<"X", float, 1> X;
inline constexpr tl::tensor<"Y", float, 1> Y;

constexpr auto bad = (Y(i) = tl::sum(i, W(i, j) * X(j)));

int main() {}
