// Raw-pointer adoption: tl::bind(store, X, ptr, count) uses `count` elements at `ptr` as X's row-major data (no copy
// when the store's memory is host-accessible, else one copy to the device). Too few elements is an error.
#pragma once
#include <Kokkos_Core.hpp>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <type_traits>

#include <tensorlogic/exec/bind.hpp>

namespace tensorlogic {

namespace detail {
// The checks and the adoption or copy, templated on the view type and the element type only: tensors of one view
// type share this code.
inline std::size_t check_pointer(std::string_view name, const long* shape, std::size_t rank, const void* data,
                                 std::size_t count) {
  std::size_t need = 1;
  for (std::size_t k = 0; k < rank; ++k) need *= static_cast<std::size_t>(shape[k]);
  if (data == nullptr) throw error("bind " + std::string(name) + ": null pointer");
  if (count < need)
    throw error("bind " + std::string(name) + ": the buffer holds " + std::to_string(count) +
                " elements but the tensor needs " + std::to_string(need));
  return need;
}
template <class Target, class T>
void adopt_pointer(Target& dst, const long* shape, T* data, std::size_t need) {
  using V = typename Target::value_type;
  constexpr std::size_t rank = Target::rank;
  auto shaped = [&]<class P, std::size_t... K>(P* p, std::index_sequence<K...>) {
    return Kokkos::View<typename Target::data_type, Kokkos::LayoutRight, Kokkos::HostSpace,
                        Kokkos::MemoryTraits<Kokkos::Unmanaged>>(p, static_cast<std::size_t>(shape[K])...);
  };
  if constexpr (std::is_same_v<std::remove_cv_t<T>, V> && !std::is_const_v<T> &&
                Kokkos::SpaceAccessibility<Kokkos::HostSpace, typename Target::memory_space>::accessible) {
    dst = [&]<std::size_t... K>(std::index_sequence<K...>) {
      return Target(data, static_cast<std::size_t>(shape[K])...);
    }(std::make_index_sequence<rank>{});
  } else if constexpr (std::is_same_v<std::remove_cv_t<T>, V>) {
    Kokkos::deep_copy(dst, shaped(const_cast<V*>(data), std::make_index_sequence<rank>{}));
  } else {
    auto host = Kokkos::create_mirror_view(dst);
    for (std::size_t k = 0; k < need; ++k) host.data()[k] = static_cast<V>(data[k]);
    Kokkos::deep_copy(dst, host);
  }
}
}  // namespace detail

template <class Prog, class Mem, class Sym, class T>
  requires std::is_arithmetic_v<T>
void bind(store<Prog, Mem>& s, const Sym& sym, T* data, std::size_t count) {
  using store_t = store<Prog, Mem>;
  constexpr int slot = store_t::template slot_checked<Sym>();
  const long* shape = s.shape(slot).data();
  const std::size_t need = detail::check_pointer(Sym::name.view(), shape, Sym::rank, data, count);
  detail::adopt_pointer(s[sym], shape, data, need);
}

}  // namespace tensorlogic
