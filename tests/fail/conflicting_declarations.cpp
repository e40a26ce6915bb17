// expect: conflicting_declarations<tensorlogic::fixed_string<2>\{"Y"\}>.*error: static assertion failed: tensorlogic: tensor T is declared twice with different kinds, element types or ranks
// Two symbols named "Y" with different element types in one program.
#include <tensorlogic/tensorlogic.hpp>

namespace tl = tensorlogic;

inline constexpr tl::index<"i"> i;
inline constexpr tl::tensor<"X", float, 1> X;
inline constexpr tl::tensor<"Y", float, 1> Y;
inline constexpr tl::tensor<"Y", double, 1> Y64;

constexpr auto bad = tl::program(Y(i) = X(i), Y64(i) = 2.0 * X(i));

int main() {}
