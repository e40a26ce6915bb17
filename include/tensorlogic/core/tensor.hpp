// Symbols: tl::tensor<"W", T, rank>, tl::relation<"R", arity> (a Boolean tensor) and tl::scalar<"eps", T> (a run-time
// hyperparameter). A symbol has a name, an element type and a rank, and no data; calling it with subscripts makes
// a reference, the leaf of every equation.
#pragma once
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <tensorlogic/core/expression.hpp>

namespace tensorlogic {

namespace detail {
template <class D>
constexpr auto as_dim(D d) {
  if constexpr (index_type<D>)
    return d;
  else
    return as_affine(d);
}

template <class Sym, class... Ix>
constexpr auto make_ref(const Ix&... ix) {
  if constexpr (sizeof...(Ix) != Sym::rank) {
    (void)diagnostics::rank_mismatch<Sym::name, Sym::rank, sizeof...(Ix)>{};
  }
  return ref<Sym, decltype(as_dim(ix))...>(make_indexed_tuple(as_dim(ix)...));
}
}  // namespace detail

template <fixed_string Name, class T, std::size_t Rank>
struct tensor {
  static_assert(std::is_floating_point_v<T> || std::is_integral_v<T>,
                "tensorlogic: a tensor's element type must be arithmetic");
  using value_type = T;
  static constexpr auto name = Name;
  static constexpr std::size_t rank = Rank;
  static constexpr symbol_kind kind = symbol_kind::tensor;

  template <index_operand... Ix>
  constexpr auto operator()(const Ix&... ix) const {
    return detail::make_ref<tensor>(ix...);
  }
};

// A relation is a Boolean tensor; an equation with a relation on the left closes its right-hand side with a step.
template <fixed_string Name, std::size_t Arity>
struct relation {
  using value_type = std::uint8_t;
  static constexpr auto name = Name;
  static constexpr std::size_t rank = Arity;
  static constexpr symbol_kind kind = symbol_kind::relation;

  template <index_operand... Ix>
  constexpr auto operator()(const Ix&... ix) const {
    return detail::make_ref<relation>(ix...);
  }
};

namespace detail {
struct scalar_tag {};
}  // namespace detail

// A named hyperparameter bound at run time; usable anywhere a factor is (as `eps` or `eps()`).
template <fixed_string Name, class T>
struct scalar : detail::scalar_tag {
  using value_type = T;
  using symbol = scalar;
  static constexpr auto name = Name;
  static constexpr std::size_t rank = 0;
  static constexpr symbol_kind kind = symbol_kind::scalar;

  static constexpr void indices(detail::name_set&) {}
  static constexpr void index_uses(detail::index_use_list&) {}
  static constexpr void free_indices(detail::name_set&) {}
  using symbols = type_list<scalar>;
  using negated = type_list<>;
  static constexpr int normalizers = 0;

  constexpr scalar operator()() const { return {}; }
  template <class R>
  constexpr void operator=(const R&) const {
    (void)diagnostics::scalar_on_lhs<Name>{};
  }
};

namespace detail {
// (a base-class test: nvcc cannot match scalar<Name, T> against a class-type template argument)
template <class S>
  requires std::is_base_of_v<scalar_tag, S>
struct is_expression<S> : std::true_type {};
}  // namespace detail

// !R(x, y): negation of a relation (allowed across strata only).
template <class Sym, class... D>
constexpr auto operator!(const ref<Sym, D...>& r) {
  if constexpr (Sym::kind != symbol_kind::relation) {
    (void)diagnostics::negation_of_tensor<Sym::name>{};
  }
  return detail::negate_relation(r);
}
template <class Sym, class... D>
constexpr auto not_(const ref<Sym, D...>& r) {
  return !r;
}

}  // namespace tensorlogic
