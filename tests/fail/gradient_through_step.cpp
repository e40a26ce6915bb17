// expect: gradient_through_step<tensorlogic::fixed_string<2>\{"Y"\}>.*error: static assertion failed: tensorlogic: in the equation for tensor T, the gradient passes through step
// step has zero derivative: asking for a gradient through it needs a declared surrogate.
#include <tensorlogic/tensorlogic.hpp>

namespace tl = tensorlogic;

inline constexpr tl::index<"i"> i;
inline constexpr tl::tensor<"W", double, 1> W;
inline constexpr tl::tensor<"X", double, 1> X;
inline constexpr tl::tensor<"Y", double, 1> Y;
inline constexpr tl::tensor<"L", double, 0> L;

constexpr auto model = tl::program(Y(i) = 1.0 * tl::step(W(i) * X(i)), L() = 1.0 * Y(i));
constexpr auto bad = tl::gradient(model, L, tl::wrt(W));

int main() {}
