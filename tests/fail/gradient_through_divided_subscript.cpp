// expect: gradient_through_divided_subscript<tensorlogic::fixed_string<2>\{"X"\}, tensorlogic::fixed_string<2>\{"t"\}>.*error: static assertion failed: tensorlogic: the gradient of tensor T read at a subscript that combines indices and divides
// X((t + u) / 2): a subscript that combines indices and divides has no gradient equation.
#include <tensorlogic/tensorlogic.hpp>

namespace tl = tensorlogic;

inline constexpr tl::index<"t"> t;
inline constexpr tl::index<"u"> u;
inline constexpr tl::tensor<"X", float, 1> X;
inline constexpr tl::tensor<"F", float, 1> F;
inline constexpr tl::tensor<"Y", float, 1> Y;
inline constexpr tl::tensor<"L", float, 0> L;

constexpr auto model = tl::program(Y(t) = F(u) * X((t + u) / 2), L() = 1.0 * Y(t));
constexpr auto bad = tl::gradient(model, L, tl::wrt(X));

int main() {}
