// expect: unsupported_lhs_index_expression<tensorlogic::fixed_string<2>\{"Y"\}, tensorlogic::fixed_string<2>\{"x"\}>.*error: static assertion failed: tensorlogic: in the equation for tensor T, a left-hand-side subscript must be an index, index \+ constant, index / constant or a constant. index I is used otherwise
// A scatter through x + dx on the left-hand side: a subscript with two indices.
#include <tensorlogic/tensorlogic.hpp>

namespace tl = tensorlogic;

inline constexpr tl::index<"x"> x;
inline constexpr tl::index<"dx"> dx;
inline constexpr tl::tensor<"X", float, 1> X;
inline constexpr tl::tensor<"K", float, 1> K;
inline constexpr tl::tensor<"Y", float, 1> Y;

constexpr auto bad = (Y(x + dx) = X(x) * K(dx));

int main() {}
