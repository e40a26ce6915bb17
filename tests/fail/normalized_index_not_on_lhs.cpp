// expect: normalized_index_not_on_lhs<tensorlogic::fixed_string<2>\{"P"\}, tensorlogic::fixed_string<2>\{"k"\}>.*error: static assertion failed: tensorlogic: in the equation for tensor T, normalized index I is not on the left-hand side
// DESIGN §1 rule 7: softmax normalizes over k, which is not an index of the left-hand side.
#include <tensorlogic/tensorlogic.hpp>

namespace tl = tensorlogic;

inline constexpr tl::index<"q"> q;
inline constexpr tl::index<"k"> k;
inline constexpr tl::tensor<"S", float, 2> S;
inline constexpr tl::tensor<"P", float, 1> P;

constexpr auto bad = (P(q) = tl::softmax(k, S(q, k)));

int main() {}
