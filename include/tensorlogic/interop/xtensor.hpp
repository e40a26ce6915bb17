// xtensor interop: tl::bind(store, X, xarray) adopts a row-major xtensor array on the host without copying (the
// array must outlive the store's use of it) or copies it to device memory; tl::to_xtensor copies a view back.
#pragma once
#include <Kokkos_Core.hpp>
#include <algorithm>
#include <type_traits>
#include <vector>
#include <xtensor/xarray.hpp>
#include <xtensor/xtensor.hpp>

#include <tensorlogic/exec/bind.hpp>

namespace tensorlogic {

namespace detail {
template <class T>
concept xexpression_container = requires(T& t) {
  t.data();
  t.shape();
  t.dimension();
  typename T::value_type;
  t.layout();
};
}  // namespace detail

template <class Prog, class Mem, class Sym, class X>
  requires(!Kokkos::is_view<std::remove_cvref_t<X>>::value && detail::xexpression_container<std::remove_cvref_t<X>>)
void bind(store<Prog, Mem>& s, const Sym& sym, X& x) {
  using store_t = store<Prog, Mem>;
  using target_t = typename store_t::template view_type<Sym>;
  using T = typename target_t::value_type;
  if (x.dimension() != Sym::rank)
    throw error("bind " + std::string(Sym::name.view()) + ": the array has rank " + std::to_string(x.dimension()) +
                " but the tensor has rank " + std::to_string(Sym::rank));
  detail::check_extents<store_t, Sym>(s, "bind", [&](std::size_t k) { return x.shape()[k]; });
  auto& dst = s[sym];
  const bool row_major = x.layout() == xt::layout_type::row_major;
  if constexpr (std::is_same_v<typename std::remove_cvref_t<X>::value_type, T> &&
                Kokkos::SpaceAccessibility<Kokkos::HostSpace, typename target_t::memory_space>::accessible) {
    if (row_major) {
      // adopt the array's memory: same element type, host-accessible memory, row-major
      auto adopt = [&]<std::size_t... K>(std::index_sequence<K...>) {
        return target_t(x.data(), static_cast<std::size_t>(x.shape()[K])...);
      };
      dst = adopt(std::make_index_sequence<Sym::rank>{});
      return;
    }
  }
  auto host = Kokkos::create_mirror_view(dst);
  std::size_t flat = 0;
  for (auto it = x.template begin<xt::layout_type::row_major>(); it != x.template end<xt::layout_type::row_major>(); ++it)
    host.data()[flat++] = static_cast<T>(*it);
  Kokkos::deep_copy(dst, host);
}

// A host copy of a view as an xt::xarray (row-major, same shape).
template <class View>
  requires Kokkos::is_view<View>::value
auto to_xtensor(const View& v) {
  using T = typename View::non_const_value_type;
  auto host = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace{}, v);
  std::vector<std::size_t> shape(View::rank);
  for (std::size_t k = 0; k < View::rank; ++k) shape[k] = v.extent(k);
  xt::xarray<T> out(shape);
  // the host mirror of a LayoutRight view is contiguous and row-major
  if constexpr (std::is_same_v<typename View::array_layout, Kokkos::LayoutRight>) {
    std::copy(host.data(), host.data() + host.size(), out.data());
  } else {
    using right_t = Kokkos::View<typename View::non_const_data_type, Kokkos::LayoutRight, Kokkos::HostSpace>;
    auto deep = [&]<std::size_t... K>(std::index_sequence<K...>) { return right_t("to_xtensor", v.extent(K)...); }(
        std::make_index_sequence<View::rank>{});
    Kokkos::deep_copy(deep, host);
    std::copy(deep.data(), deep.data() + deep.size(), out.data());
  }
  return out;
}

}  // namespace tensorlogic
