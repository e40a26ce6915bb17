// expect: static_extent_conflict<tensorlogic::fixed_string<2>\{"d"\}, 64, 32>.*error: static assertion failed: tensorlogic: static extent conflict: index I is declared with two different static extents
// Within one equation, index d is declared with static extents 64 and 32.
#include <tensorlogic/tensorlogic.hpp>

namespace tl = tensorlogic;

inline constexpr tl::index<"i"> i;
inline constexpr tl::index<"d", 64> d64;
inline constexpr tl::index<"d", 32> d32;
inline constexpr tl::tensor<"W", float, 2> W;
inline constexpr tl::tensor<"X", float, 1> X;
inline constexpr tl::tensor<"Y", float, 1> Y;

constexpr auto bad = (Y(i) = W(i, d64) * X(d32));

int main() {}
