// A program outside the project: it needs only the package's target and the umbrella header.
#include <Kokkos_Core.hpp>
#include <cstdio>
#include <tensorlogic/tensorlogic.hpp>

namespace tl = tensorlogic;

inline constexpr tl::index<"i"> i;
inline constexpr tl::index<"j"> j;
inline constexpr tl::tensor<"W", float, 2> W;
inline constexpr tl::tensor<"X", float, 1> X;
inline constexpr tl::tensor<"b", float, 1> b;
inline constexpr tl::tensor<"Y", float, 1> Y;

int main(int argc, char* argv[]) {
  Kokkos::ScopeGuard guard(argc, argv);
  constexpr auto prog = tl::program(Y(i) = tl::relu(W(i, j) * X(j) + b(i)));
  tl::store s(prog, tl::extents(i = 2, j = 2));
  Kokkos::View<float**, Kokkos::LayoutRight, Kokkos::HostSpace> w("w", 2, 2);
  w(0, 0) = 1;
  w(0, 1) = 2;
  w(1, 0) = -3;
  w(1, 1) = 1;
  auto host_x = Kokkos::create_mirror_view(s[X]);
  host_x(0) = 1;
  host_x(1) = 1;
  Kokkos::deep_copy(s[X], host_x);
  tl::bind(s, W, Kokkos::create_mirror_view_and_copy(Kokkos::DefaultExecutionSpace::memory_space{}, w));
  Kokkos::deep_copy(s[b], 0.5f);
  tl::eval(prog, s);
  auto y = tl::to_xtensor(s[Y]);
  std::printf("%s -> Y = [%g, %g]\n", tl::to_string(prog).c_str(), double(y(0)), double(y(1)));
  return (y(0) == 3.5f && y(1) == 0.0f) ? 0 : 1;
}
