// expect: loss_not_scalar<tensorlogic::fixed_string<2>\{"Y"\}>.*error: static assertion failed: tensorlogic: the loss L of tl::gradient must be a rank-0 tensor
// The loss must be rank 0.
#include <tensorlogic/tensorlogic.hpp>

namespace tl = tensorlogic;

inline constexpr tl::index<"i"> i;
inline constexpr tl::tensor<"W", double, 1> W;
inline constexpr tl::tensor<"Y", double, 1> Y;

constexpr auto model = tl::program(Y(i) = 2.0 * W(i));
constexpr auto bad = tl::gradient(model, Y, tl::wrt(W));

int main() {}
