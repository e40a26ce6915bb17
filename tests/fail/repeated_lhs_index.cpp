// expect: repeated_lhs_index<tensorlogic::fixed_string<2>\{"D"\}, tensorlogic::fixed_string<2>\{"i"\}>.*error: static assertion failed: tensorlogic: in the equation for tensor T, index I appears twice on the left-hand side
// A diagonal written as D(i, i) on the left-hand side.
#include <tensorlogic/tensorlogic.hpp>

namespace tl = tensorlogic;

inline constexpr tl::index<"i"> i;
inline constexpr tl::tensor<"X", float, 1> X;
inline constexpr tl::tensor<"D", float, 2> D;

constexpr auto bad = (D(i, i) = X(i));

int main() {}
