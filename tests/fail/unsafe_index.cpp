// expect: unsafe_index<tensorlogic::fixed_string<2>\{"Y"\}, tensorlogic::fixed_string<2>\{"k"\}>.*error: static assertion failed: tensorlogic: in the equation for tensor T, index I is on the left-hand side but in no term \(unsafe rule\)
// Datalog safety (DESIGN §1 rule 3): k is on the left-hand side but occurs in no term.
#include <tensorlogic/tensorlogic.hpp>

namespace tl = tensorlogic;

inline constexpr tl::index<"i"> i;
inline constexpr tl::index<"j"> j;
inline constexpr tl::index<"k"> k;
inline constexpr tl::tensor<"W", float, 2> W;
inline constexpr tl::tensor<"X", float, 1> X;
inline constexpr tl::tensor<"Y", float, 2> Y;

constexpr auto bad = (Y(i, k) = W(i, j) * X(j));

int main() {}
