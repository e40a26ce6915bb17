// expect: reduced_index_not_in_body<tensorlogic::fixed_string<2>\{"Y"\}, tensorlogic::fixed_string<2>\{"j"\}>.*error: static assertion failed: tensorlogic: in the equation for tensor T, index I is projected by an explicit tl::sum/max/min/mean/any/logsumexp but does not occur in its expression
// tl::sum over j, but j does not occur in the summed expression.
#include <tensorlogic/tensorlogic.hpp>

namespace tl = tensorlogic;

inline constexpr tl::index<"i"> i;
inline constexpr tl::index<"j"> j;
inline constexpr tl::tensor<"X", float, 1> X;
inline constexpr tl::tensor<"Y", float, 1> Y;

constexpr auto bad = (Y(i) = tl::sum(j, X(i)));

int main() {}
