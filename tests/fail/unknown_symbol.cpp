// expect: unknown_symbol<tensorlogic::fixed_string<2>\{"Z"\}>.*error: static assertion failed: tensorlogic: tensor T is not part of the program this store was made for
// The store was made for a program that does not mention Z.
#include <tensorlogic/tensorlogic.hpp>

namespace tl = tensorlogic;

inline constexpr tl::index<"i"> i;
inline constexpr tl::tensor<"X", double, 1> X;
inline constexpr tl::tensor<"Y", double, 1> Y;
inline constexpr tl::tensor<"Z", double, 1> Z;

int main(int argc, char** argv) {
  Kokkos::ScopeGuard guard(argc, argv);
  constexpr auto prog = tl::program(Y(i) = 2.0 * X(i));
  tl::store s(prog, tl::extents(i = 3));
  auto z = s[Z];
  (void)z;
}
