// kmath: Kokkos's device-callable math functions (Kokkos:: from 4.0, Kokkos::Experimental:: before).
#pragma once
#include <Kokkos_Core.hpp>

namespace tensorlogic::exec {
#if KOKKOS_VERSION >= 40000
namespace kmath = ::Kokkos;
#else
namespace kmath = ::Kokkos::Experimental;
#endif
}  // namespace tensorlogic::exec
