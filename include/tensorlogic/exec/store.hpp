// store: every tensor of a program as a Kokkos::View (LayoutRight) in one memory space, allocated from the bound
// index extents; each tensor's shape is derived from how the program subscripts it. Also tl::extents(i = n, ...).
#pragma once
#include <Kokkos_Core.hpp>
#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include <tensorlogic/core/program.hpp>

namespace tensorlogic {

// Run-time extents for a program's dynamic indices: tl::extents(i = 128, j = 64).
struct extents_list {
  struct entry {
    std::string_view name;
    std::size_t value;
    std::size_t static_extent;
  };
  std::vector<entry> entries;
};

template <class... I>
extents_list extents(extent_binding<I>... b) {
  return extents_list{{typename extents_list::entry{I::name.view(), b.value, I::extent}...}};
}

namespace detail {
template <class T, std::size_t R>
struct view_data {
  using type = typename view_data<T, R - 1>::type*;
};
template <class T>
struct view_data<T, 0> {
  using type = T;
};

// Visits every reference (left and right) of an equation's value, host side.
template <class F, class Node>
void for_each_ref(const Node& n, F&& f) {
  if constexpr (is_ref<Node>) {
    f(n);
  } else if constexpr (is_apply<Node>) {
    std::apply([&](const auto&... a) { (for_each_ref(a, f), ...); }, n.args);
  } else if constexpr (is_reduction<Node> || is_normalization<Node>) {
    for_each_ref(n.body, f);
  }
}
}  // namespace detail

template <class Prog, class MemorySpace = Kokkos::DefaultExecutionSpace::memory_space>
class store {
 public:
  using program_type = Prog;
  using memory_space = MemorySpace;
  static constexpr std::size_t n_slots = Prog::n_slots;
  static constexpr std::size_t n_indices = Prog::n_indices;
  template <std::size_t Slot>
  using symbol_at = typename Prog::template symbol_at<Slot>;
  template <class Sym>
  using view_type =
      Kokkos::View<typename detail::view_data<typename Sym::value_type, Sym::rank>::type, Kokkos::LayoutRight, MemorySpace>;

 private:
  template <class L>
  struct views_of;
  template <class... S>
  struct views_of<type_list<S...>> {
    using type = std::tuple<view_type<S>...>;
  };

 public:
  using views_tuple = typename views_of<typename Prog::symbols>::type;

  explicit store(const Prog& prog, const extents_list& ext = {}) {
    // Index extents: static ones from the type, dynamic ones from tl::extents(...).
    for (std::size_t k = 0; k < n_indices; ++k) {
      extent_[k] = Prog::indices.items[k].extent == dynamic_extent ? -1 : static_cast<long>(Prog::indices.items[k].extent);
    }
    std::array<bool, (n_indices > 0 ? n_indices : 1)> given{};
    for (const auto& e : ext.entries) {
      const int pos = Prog::index_position(e.name);
      if (pos < 0) throw error("extents: index " + std::string(e.name) + " is not used by the program");
      if (given[static_cast<std::size_t>(pos)]) throw error("extents: index " + std::string(e.name) + " is bound twice");
      given[static_cast<std::size_t>(pos)] = true;
      const long have = extent_[static_cast<std::size_t>(pos)];
      if (have >= 0 && have != static_cast<long>(e.value))
        throw error("extents: index " + std::string(e.name) + " has static extent " + std::to_string(have) +
                    " but was bound to " + std::to_string(e.value));
      extent_[static_cast<std::size_t>(pos)] = static_cast<long>(e.value);
    }
    for (std::size_t k = 0; k < n_indices; ++k)
      if (extent_[k] < 0)
        throw error("index " + std::string(Prog::indices.items[k].name) + " has no extent (bind it with tl::extents(" +
                    std::string(Prog::indices.items[k].name) + " = n))");
    derive_shapes(prog);
    allocate(std::make_index_sequence<n_slots>{});
  }

  // The view of a symbol; taking it marks the symbol as bound (its contents are the caller's).
  template <class Sym>
  auto& operator[](const Sym&) {
    constexpr int slot = slot_checked<Sym>();
    bound_[slot] = true;
    return std::get<slot>(views_);
  }
  template <class Sym>
  const auto& operator[](const Sym&) const {
    return std::get<slot_checked<Sym>()>(views_);
  }

  long index_extent(std::size_t pos) const { return extent_[pos]; }
  template <class I>
  long extent_of(const I&) const {
    return extent_[static_cast<std::size_t>(Prog::index_position(I::name.view()))];
  }
  const std::array<long, 8>& shape(std::size_t slot) const { return shape_[slot]; }
  const std::string& dim_index_name(std::size_t slot, std::size_t dim) const { return dim_name_[slot][dim]; }
  bool is_bound(std::size_t slot) const { return bound_[slot]; }
  void mark_bound(std::size_t slot) { bound_[slot] = true; }
  views_tuple& views() { return views_; }
  const views_tuple& views() const { return views_; }

  // A second buffer for a slot (Jacobi updates of self-reading groups, fixpoint change detection).
  template <std::size_t Slot>
  auto& scratch() {
    auto& s = std::get<Slot>(scratch_);
    if (s.data() == nullptr) s = make_view<Slot>("tensorlogic::scratch");
    return s;
  }

  template <class Sym>
  static constexpr int slot_checked() {
    constexpr int slot = Prog::slot_of(Sym::name.view());
    if constexpr (slot < 0) {
      (void)diagnostics::unknown_symbol<Sym::name>{};
      return 0;
    } else {
      return slot;
    }
  }


 private:
  template <std::size_t Slot>
  auto make_view(const char* what) const {
    using sym = symbol_at<Slot>;
    using V = view_type<sym>;
    const std::string label = std::string(what) + " " + std::string(sym::name.view());
    const auto& s = shape_[Slot];
    if constexpr (sym::rank == 0) return V(label);
    else if constexpr (sym::rank == 1) return V(label, s[0]);
    else if constexpr (sym::rank == 2) return V(label, s[0], s[1]);
    else if constexpr (sym::rank == 3) return V(label, s[0], s[1], s[2]);
    else if constexpr (sym::rank == 4) return V(label, s[0], s[1], s[2], s[3]);
    else if constexpr (sym::rank == 5) return V(label, s[0], s[1], s[2], s[3], s[4]);
    else if constexpr (sym::rank == 6) return V(label, s[0], s[1], s[2], s[3], s[4], s[5]);
    else if constexpr (sym::rank == 7) return V(label, s[0], s[1], s[2], s[3], s[4], s[5], s[6]);
    else {
      static_assert(sym::rank == 8, "tensorlogic: tensors have rank 8 at most");
      return V(label, s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]);
    }
  }

  template <std::size_t... S>
  void allocate(std::index_sequence<S...>) {
    ((std::get<S>(views_) = make_view<S>("tensorlogic")), ...);
  }

  // A dimension subscripted by a plain index has that index's extent (all such must agree); otherwise it is the
  // largest subscript value any index expression reaches, plus one.
  void derive_shapes(const Prog& prog) {
    std::array<std::array<bool, 8>, n_slots> plain{};
    for (auto& s : shape_) s.fill(0);
    auto visit = [&](const auto& r) {
      using R = std::remove_cvref_t<decltype(r)>;
      constexpr int slot = Prog::slot_of(R::symbol::name.view());
      std::size_t dim = 0;
      std::apply(
          [&](const auto&... d) {
            (
                [&](const auto& x) {
                  using D = std::remove_cvref_t<decltype(x)>;
                  auto& cur = shape_[slot][dim];
                  if constexpr (index_type<D>) {
                    const long n = extent_[static_cast<std::size_t>(Prog::index_position(D::name.view()))];
                    if (plain[slot][dim] && cur != n)
                      throw error("tensor " + std::string(R::symbol::name.view()) + " dimension " +
                                  std::to_string(dim) + ": index " + dim_name_[slot][dim] + " has extent " +
                                  std::to_string(cur) + " but index " + std::string(D::name.view()) + " has extent " +
                                  std::to_string(n));
                    plain[slot][dim] = true;
                    cur = n;
                    dim_name_[slot][dim] = std::string(D::name.view());
                  } else {
                    if (x.divisor < 1)
                      throw error("tensor " + std::string(R::symbol::name.view()) + " dimension " + std::to_string(dim) +
                                  ": an index expression divides by " + std::to_string(x.divisor) +
                                  "; divisors must be positive");
                  }
                  if constexpr (!index_type<D>) {
                    if (plain[slot][dim]) {
                      ++dim;
                      return;
                    }
                    long hi = x.offset;
                    [&]<bool Dv, class... V>(const index_affine<Dv, V...>& a) {
                      std::size_t k = 0;
                      ((hi += a.coef[k] > 0 ? a.coef[k] *
                                                  (extent_[static_cast<std::size_t>(Prog::index_position(V::name.view()))] - 1)
                                            : 0,
                        ++k),
                       ...);
                      if constexpr (sizeof...(V) > 0)
                        if (dim_name_[slot][dim].empty()) ((dim_name_[slot][dim] = std::string(V::name.view())), ...);
                    }(x);
                    const long n = (hi < 0 ? -1 : hi / x.divisor) + 1;
                    cur = n > cur ? n : cur;
                  }
                  ++dim;
                }(d),
                ...);
          },
          r.dims);
    };
    std::apply(
        [&](const auto&... eq) {
          ((visit(eq.lhs), detail::for_each_ref(eq.rhs, visit)), ...);
        },
        prog.equations);
    // A dimension reached only by index expressions holds at least one cell; a plain index may have extent 0.
    for (std::size_t s = 0; s < n_slots; ++s)
      for (std::size_t d = 0; d < 8; ++d)
        if (!plain[s][d] && shape_[s][d] < 1) shape_[s][d] = 1;
  }

  std::array<long, (n_indices > 0 ? n_indices : 1)> extent_{};
  std::array<std::array<long, 8>, n_slots> shape_{};
  std::array<std::array<std::string, 8>, n_slots> dim_name_{};
  std::array<bool, n_slots> bound_{};
  views_tuple views_;
  views_tuple scratch_;
};

template <class Prog>
store(const Prog&, const extents_list&) -> store<Prog>;
template <class Prog>
store(const Prog&) -> store<Prog>;

}  // namespace tensorlogic
