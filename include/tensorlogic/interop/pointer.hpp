// Raw-pointer adoption: tl::bind(store, X, ptr, count) uses `count` elements at `ptr` as X's row-major data (no copy
// when the store's memory is host-accessible, else one copy to the device). Too few elements is an error.
#pragma once
#include <Kokkos_Core.hpp>
#include <cstddef>
#include <string>
#include <type_traits>

#include <tensorlogic/exec/bind.hpp>

namespace tensorlogic {

template <class Prog, class Mem, class Sym, class T>
  requires std::is_arithmetic_v<T>
void bind(store<Prog, Mem>& s, const Sym& sym, T* data, std::size_t count) {
  using store_t = store<Prog, Mem>;
  using target_t = typename store_t::template view_type<Sym>;
  using V = typename target_t::value_type;
  constexpr int slot = store_t::template slot_checked<Sym>();
  std::size_t need = 1;
  for (std::size_t k = 0; k < Sym::rank; ++k) need *= static_cast<std::size_t>(s.shape(slot)[k]);
  if (data == nullptr) throw error("bind " + std::string(Sym::name.view()) + ": null pointer");
  if (count < need)
    throw error("bind " + std::string(Sym::name.view()) + ": the buffer holds " + std::to_string(count) +
                " elements but the tensor needs " + std::to_string(need));
  auto& dst = s[sym];
  auto shaped = [&]<class P, std::size_t... K>(P* p, std::index_sequence<K...>) {
    return Kokkos::View<typename target_t::data_type, Kokkos::LayoutRight, Kokkos::HostSpace,
                        Kokkos::MemoryTraits<Kokkos::Unmanaged>>(p, static_cast<std::size_t>(s.shape(slot)[K])...);
  };
  if constexpr (std::is_same_v<std::remove_cv_t<T>, V> && !std::is_const_v<T> &&
                Kokkos::SpaceAccessibility<Kokkos::HostSpace, typename target_t::memory_space>::accessible) {
    dst = [&]<std::size_t... K>(std::index_sequence<K...>) {
      return target_t(data, static_cast<std::size_t>(s.shape(slot)[K])...);
    }(std::make_index_sequence<Sym::rank>{});
  } else if constexpr (std::is_same_v<std::remove_cv_t<T>, V>) {
    Kokkos::deep_copy(dst, shaped(const_cast<V*>(data), std::make_index_sequence<Sym::rank>{}));
  } else {
    auto host = Kokkos::create_mirror_view(dst);
    for (std::size_t k = 0; k < need; ++k) host.data()[k] = static_cast<V>(data[k]);
    Kokkos::deep_copy(dst, host);
  }
}

}  // namespace tensorlogic
