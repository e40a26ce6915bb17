// expect: normalized_lhs_not_plain<tensorlogic::fixed_string<2>\{"P"\}, tensorlogic::fixed_string<2>\{"q"\}>.*error: static assertion failed: tensorlogic: in the equation for tensor T, an equation with softmax/log_softmax/lnorm needs plain indices on its left-hand side. index I is not
// A softmax equation writes P(q + 1): its left-hand side must use plain indices.
#include <tensorlogic/tensorlogic.hpp>

namespace tl = tensorlogic;

inline constexpr tl::index<"q"> q;
inline constexpr tl::tensor<"S", float, 1> S;
inline constexpr tl::tensor<"P", float, 1> P;

constexpr auto bad = (P(q + 1) = tl::softmax(q, S(q)));

int main() {}
