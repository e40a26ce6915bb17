// expect: several_normalizers<tensorlogic::fixed_string<2>\{"H"\}>.*error: static assertion failed: tensorlogic: in the equation for tensor T, at most one softmax/log_softmax/lnorm per equation
// lnorm over a softmax in one equation: write two equations.
#include <tensorlogic/tensorlogic.hpp>

namespace tl = tensorlogic;

inline constexpr tl::index<"b"> b;
inline constexpr tl::index<"d"> d;
inline constexpr tl::tensor<"X", float, 2> X;
inline constexpr tl::tensor<"H", float, 2> H;

constexpr auto bad = (H(b, d) = tl::lnorm(d, tl::softmax(d, X(b, d))));

int main() {}
