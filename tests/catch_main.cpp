#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <Kokkos_Core.hpp>
int main(int argc, char* argv[]) { Kokkos::ScopeGuard guard(argc, argv); return Catch::Session().run(argc, argv); }
