// expect: gradient_through_projection<tensorlogic::fixed_string<2>\{"Y"\}>.*error: static assertion failed: tensorlogic: in the equation for tensor T, the gradient passes through a projection it cannot route
// A max projection is routed to its arg-max only as the whole right-hand side of the one equation for its tensor.
#include <tensorlogic/tensorlogic.hpp>

namespace tl = tensorlogic;

inline constexpr tl::index<"i"> i;
inline constexpr tl::index<"j"> j;
inline constexpr tl::tensor<"W", double, 2> W;
inline constexpr tl::tensor<"Y", double, 1> Y;
inline constexpr tl::tensor<"L", double, 0> L;

constexpr auto model = tl::program(Y(i) = 2.0 * tl::max(j, W(i, j)), L() = 1.0 * Y(i));
constexpr auto bad = tl::gradient(model, L, tl::wrt(W));

int main() {}
