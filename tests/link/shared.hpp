#pragma once
#include <tensorlogic/tensorlogic.hpp>

namespace link_test {
inline constexpr tensorlogic::index<"i"> i;
inline constexpr tensorlogic::tensor<"X", double, 1> X;
inline constexpr tensorlogic::tensor<"Y", double, 1> Y;
inline constexpr auto prog = tensorlogic::program(Y(i) = 2.0 * X(i));
}  // namespace link_test
