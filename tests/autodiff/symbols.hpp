// The symbols shared by the gradient tests (double precision, for finite differences).
#pragma once
#include <tensorlogic/tensorlogic.hpp>

namespace gradient_test {
namespace tl = tensorlogic;
inline constexpr tl::index<"i"> i;
inline constexpr tl::index<"j"> j;
inline constexpr tl::index<"k"> k;
inline constexpr tl::index<"t"> t;
inline constexpr tl::tensor<"W", double, 2> W;
inline constexpr tl::tensor<"V", double, 2> V;
inline constexpr tl::tensor<"X", double, 1> X;
inline constexpr tl::tensor<"b", double, 1> b;
inline constexpr tl::tensor<"H", double, 1> H;
inline constexpr tl::tensor<"Z", double, 2> Z;
inline constexpr tl::tensor<"T", double, 1> T;
inline constexpr tl::tensor<"L", double, 0> L;
inline constexpr tl::scalar<"tau", double> tau;
}  // namespace gradient_test
