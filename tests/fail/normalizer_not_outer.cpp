// expect: normalizer_not_outer<tensorlogic::fixed_string<2>\{"Y"\}, tensorlogic::fixed_string<2>\{"j"\}>.*error: static assertion failed: tensorlogic: in the equation for tensor T, a softmax/log_softmax/lnorm inside a term uses index I, which is not on the left-hand side. make the normalizer the outer function or project I inside it
// A layer norm used as a factor of a term: its body still carries j, which the left-hand side lacks.
#include <tensorlogic/tensorlogic.hpp>

namespace tl = tensorlogic;

inline constexpr tl::index<"i"> i;
inline constexpr tl::index<"j"> j;
inline constexpr tl::tensor<"W", float, 2> W;
inline constexpr tl::tensor<"X", float, 1> X;
inline constexpr tl::tensor<"G", float, 1> G;
inline constexpr tl::tensor<"Y", float, 1> Y;

constexpr auto bad = (Y(i) = tl::lnorm(i, W(i, j) * X(j)) * G(i));

int main() {}
