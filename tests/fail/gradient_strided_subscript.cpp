// expect: tensorlogic_gradient_of_T_solves_a_subscript_for_index_I_whose_coefficient_is_not_1_or_minus_1\(\) \[with .*Tensor = tensorlogic::fixed_string<2>\{"X"\}. .*Index = tensorlogic::fixed_string<2>\{"t"\}\]
// A strided box sum X(2 * t + u) over a window u of dynamic extent that no other factor reads: the subscript is solved
// for t, whose coefficient is 2 (a window of static extent, or a filter F(u), would be solved for instead).
#include <tensorlogic/tensorlogic.hpp>

namespace tl = tensorlogic;

inline constexpr tl::index<"t"> t;
inline constexpr tl::index<"u"> u;
inline constexpr tl::tensor<"X", float, 1> X;
inline constexpr tl::tensor<"Y", float, 1> Y;
inline constexpr tl::tensor<"L", float, 0> L;

constexpr auto model = tl::program(Y(t) = X(2 * t + u), L() = 1.0 * Y(t));
constexpr auto bad = tl::gradient(model, L, tl::wrt(X));

int main() {}
