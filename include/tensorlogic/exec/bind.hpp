// tl::bind: give a store's tensor its data. A Kokkos::View of the store's own type is adopted (no copy); any other
// view of the same rank is copied in after its extents are checked; a scalar takes a value.
#pragma once
#include <Kokkos_Core.hpp>
#include <string>
#include <type_traits>

#include <tensorlogic/exec/store.hpp>

namespace tensorlogic {

namespace detail {
template <class Store, class Sym, class Extent>
void check_extents(const Store& s, std::string_view what, const Extent& extent_of_dim) {
  constexpr int slot = Store::template slot_checked<Sym>();
  for (std::size_t k = 0; k < Sym::rank; ++k) {
    const long want = s.shape(slot)[k];
    const long have = static_cast<long>(extent_of_dim(k));
    if (want != have) {
      const std::string& idx = s.dim_index_name(slot, k);
      throw error(std::string(what) + " " + std::string(Sym::name.view()) + ": dimension " + std::to_string(k) +
                  (idx.empty() ? std::string() : " (index " + idx + ")") + " has extent " + std::to_string(want) +
                  " in the store but " + std::to_string(have) + " in the bound data");
    }
  }
}
}  // namespace detail

template <class Prog, class Mem, class Sym, class View>
  requires Kokkos::is_view<View>::value
void bind(store<Prog, Mem>& s, const Sym& sym, const View& v) {
  using store_t = store<Prog, Mem>;
  using target_t = typename store_t::template view_type<Sym>;
  static_assert(static_cast<std::size_t>(View::rank) == Sym::rank,
                "tensorlogic: tl::bind: the view's rank differs from the tensor's rank");
  detail::check_extents<store_t, Sym>(s, "bind", [&](std::size_t k) { return v.extent(k); });
  auto& dst = s[sym];
  if constexpr (std::is_same_v<typename View::value_type, typename target_t::value_type> &&
                std::is_same_v<typename View::array_layout, Kokkos::LayoutRight> &&
                std::is_same_v<typename View::memory_space, typename target_t::memory_space>) {
    dst = v;  // adopt: the store now shares the caller's allocation
  } else if constexpr (std::is_same_v<typename View::array_layout, Kokkos::LayoutRight> &&
                       std::is_same_v<typename View::non_const_value_type, typename target_t::value_type>) {
    Kokkos::deep_copy(dst, v);
  } else {
    // Different layout or element type: copy element by element through host mirrors.
    auto src = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace{}, v);
    auto host = Kokkos::create_mirror_view(dst);
    const std::size_t n = host.size();
    if constexpr (Sym::rank == 0) {
      host() = static_cast<typename target_t::value_type>(src());
    } else {
      std::size_t ext[8]{};
      for (std::size_t k = 0; k < Sym::rank; ++k) ext[k] = v.extent(k);
      for (std::size_t flat = 0; flat < n; ++flat) {
        std::size_t c[8]{}, rem = flat;
        for (std::size_t k = Sym::rank; k-- > 0;) {
          c[k] = rem % ext[k];
          rem /= ext[k];
        }
        auto read = [&]<std::size_t... K>(std::index_sequence<K...>) { return src(c[K]...); };
        host.data()[flat] = static_cast<typename target_t::value_type>(read(std::make_index_sequence<Sym::rank>{}));
      }
    }
    Kokkos::deep_copy(dst, host);
  }
}

// A scalar hyperparameter (or any rank-0 tensor) takes a value.
template <class Prog, class Mem, class Sym, class T>
  requires std::is_arithmetic_v<T>
void bind(store<Prog, Mem>& s, const Sym& sym, T value) {
  static_assert(Sym::rank == 0, "tensorlogic: tl::bind with a number needs a scalar or a rank-0 tensor");
  Kokkos::deep_copy(s[sym], static_cast<typename Sym::value_type>(value));
}

}  // namespace tensorlogic
