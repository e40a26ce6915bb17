// expect: rank_mismatch<tensorlogic::fixed_string<2>\{"W"\}, 2, 1>.*error: static assertion failed: tensorlogic: rank mismatch: tensor T is referenced with the wrong number of indices
// W has rank 2 but is referenced with one index.
#include <tensorlogic/tensorlogic.hpp>

namespace tl = tensorlogic;

inline constexpr tl::index<"i"> i;
inline constexpr tl::tensor<"W", float, 2> W;
inline constexpr tl::tensor<"X", float, 1> X;
inline constexpr tl::tensor<"Y", float, 1> Y;

constexpr auto bad = (Y(i) = W(i) * X(i));

int main() {}
