// expect: ambiguous_projection<tensorlogic::fixed_string<2>\{"L"\}, tensorlogic::fixed_string<2>\{"k"\}>.*error: static assertion failed: tensorlogic: in the equation for tensor T, index I is projected separately in two terms under an outer function. write tl::sum\(index, \.\.\.\) inside or outside the function
// DESIGN §1 rule 1: k is projected separately in Y(k) and T(k) under the outer square.
#include <tensorlogic/tensorlogic.hpp>

namespace tl = tensorlogic;

inline constexpr tl::index<"k"> k;
inline constexpr tl::tensor<"Y", float, 1> Y;
inline constexpr tl::tensor<"T", float, 1> T;
inline constexpr tl::tensor<"L", float, 0> L;

constexpr auto bad = (L() = tl::square(Y(k) - T(k)));

int main() {}
