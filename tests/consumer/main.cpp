// A program outside the project: it needs only the package's target and the umbrella header.
#include <tensorlogic/tensorlogic.hpp>

#include <Kokkos_Core.hpp>

int main(int argc, char* argv[]) {
  Kokkos::ScopeGuard guard(argc, argv);
  return 0;
}
