// expect: gradient_through_projection<tensorlogic::fixed_string<2>\{"Y"\}>.*error: static assertion failed: tensorlogic: in the equation for tensor T, the gradient passes through a tl::max/min/mean/any/logsumexp projection
// Only tl::sum projections are differentiated.
#include <tensorlogic/tensorlogic.hpp>

namespace tl = tensorlogic;

inline constexpr tl::index<"i"> i;
inline constexpr tl::index<"j"> j;
inline constexpr tl::tensor<"W", double, 2> W;
inline constexpr tl::tensor<"Y", double, 1> Y;
inline constexpr tl::tensor<"L", double, 0> L;

constexpr auto model = tl::program(Y(i) = tl::max(j, W(i, j)), L() = 1.0 * Y(i));
constexpr auto bad = tl::gradient(model, L, tl::wrt(W));

int main() {}
