// expect: scalar_on_lhs<tensorlogic::fixed_string<3>\{"lr"\}>.*error: static assertion failed: tensorlogic: scalar T is a run-time hyperparameter and cannot be the left-hand side of an equation
// A run-time hyperparameter cannot be computed by an equation.
#include <tensorlogic/tensorlogic.hpp>

namespace tl = tensorlogic;

inline constexpr tl::index<"i"> i;
inline constexpr tl::tensor<"G", float, 1> G;
inline constexpr tl::scalar<"lr", float> lr;

int main() { lr = 0.5 * tl::mean(i, G(i)); }
