// expect: negation_of_tensor<tensorlogic::fixed_string<6>\{"Score"\}>.*error: static assertion failed: tensorlogic: negation !R\(\.\.\.\) applies to relations only. tensor T is not a relation
// Score is a real tensor; only relations can be negated.
#include <tensorlogic/tensorlogic.hpp>

namespace tl = tensorlogic;

inline constexpr tl::index<"x"> x;
inline constexpr tl::relation<"Node", 1> Node;
inline constexpr tl::relation<"Keep", 1> Keep;
inline constexpr tl::tensor<"Score", float, 1> Score;

constexpr auto bad = (Keep(x) = Node(x) * !Score(x));

int main() {}
