// expect: gradient_through_combined_subscript<tensorlogic::fixed_string<2>\{"X"\}, tensorlogic::fixed_string<2>\{"t"\}>.*error: static assertion failed: tensorlogic: the gradient of tensor T read at a subscript that combines indices
// X(t + u) summed into a scalar: neither t nor u is bounded by another factor, so the subscript cannot be solved.
#include <tensorlogic/tensorlogic.hpp>

namespace tl = tensorlogic;

inline constexpr tl::index<"t"> t;
inline constexpr tl::index<"u"> u;
inline constexpr tl::tensor<"X", float, 1> X;
inline constexpr tl::tensor<"L", float, 0> L;

constexpr auto model = tl::program(L() = 1.0 * X(t + u));
constexpr auto bad = tl::gradient(model, L, tl::wrt(X));

int main() {}
