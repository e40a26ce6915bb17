// index: a named loop variable, with an optional static extent; index expressions (t + 1, x + dx, x / 2, 0) and
// index comparisons. An index expression is affine in its indices, then floor-divided by a positive constant;
// the constants live in the value, the indices in the type.
#pragma once
#include <concepts>
#include <cstddef>
#include <string_view>
#include <type_traits>

#include <tensorlogic/core/fixed_string.hpp>

namespace tensorlogic {

inline constexpr std::size_t dynamic_extent = static_cast<std::size_t>(-1);

template <class Index>
struct extent_binding {
  std::size_t value;
};

namespace detail {
// Traits test this base instead of matching index<Name, E>: nvcc cannot deduce a class-type template argument.
struct index_tag {};
}  // namespace detail

template <fixed_string Name, std::size_t Extent = dynamic_extent>
struct index : detail::index_tag {
  static constexpr auto name = Name;
  static constexpr std::size_t extent = Extent;
  // `i = 128` inside tl::extents(...) binds the extent at run time.
  constexpr extent_binding<index> operator=(std::size_t n) const { return {n}; }
};

// An index that runs along dimension Dim of tensor Sym and has that dimension's extent: the store reads it off Sym's
// shape (nothing to bind; a tl::extents binding of another value is an error). A gradient program uses one where a
// read's subscript combines indices: the gradient of X(t + u) is written at X#0 = t + u (autodiff/gradient.hpp).
template <class Sym, std::size_t Dim>
struct dimension_index : index<detail::joined<Sym::name, "#", detail::decimal<Dim>()>> {
  using index<detail::joined<Sym::name, "#", detail::decimal<Dim>()>>::operator=;
  using extent_source = Sym;
  static constexpr std::size_t extent_dimension = Dim;
};

namespace detail {
template <class T>
struct is_index : std::is_base_of<index_tag, T> {};
template <class T>
concept derived_extent_index = requires { T::extent_dimension; };
}  // namespace detail

template <class T>
concept index_type = detail::is_index<std::remove_cvref_t<T>>::value;

// floor((sum_k coef[k] * Vars_k + offset) / divisor); Divided says a division was applied (then nothing may be added).
template <bool Divided, class... Vars>
struct index_affine {
  long coef[sizeof...(Vars) > 0 ? sizeof...(Vars) : 1]{};
  long offset = 0;
  long divisor = 1;
  static constexpr bool divided = Divided;
  static constexpr std::size_t nvars = sizeof...(Vars);
};

namespace detail {
template <class T>
struct is_affine : std::false_type {};
template <bool D, class... V>
struct is_affine<index_affine<D, V...>> : std::true_type {};

template <class T, class... Ts>
inline constexpr bool contains_type = (std::is_same_v<T, Ts> || ...);

template <class Out, class... In>
struct unique_types {
  using type = Out;
};
template <class... Out, class T, class... In>
struct unique_types<index_affine<false, Out...>, T, In...> {
  using type = typename std::conditional_t<contains_type<T, Out...>, unique_types<index_affine<false, Out...>, In...>,
                                           unique_types<index_affine<false, Out..., T>, In...>>::type;
};

template <class T, class... Vars>
constexpr int position_of() {
  int k = 0, found = -1;
  ((std::is_same_v<T, Vars> ? (found = k, ++k) : ++k), ...);
  return found;
}
}  // namespace detail

template <class T>
concept affine_type = detail::is_affine<std::remove_cvref_t<T>>::value;
template <class T>
concept index_like = index_type<T> || affine_type<T>;
template <class T>
concept index_operand = index_like<T> || std::integral<std::remove_cvref_t<T>>;

// Turns an index, an affine expression or an integer constant into an affine expression.
template <class I>
constexpr auto as_affine(I i) {
  if constexpr (index_type<I>) {
    index_affine<false, I> a;
    a.coef[0] = 1;
    return a;
  } else if constexpr (affine_type<I>) {
    return i;
  } else {
    index_affine<false> a;
    a.offset = static_cast<long>(i);
    return a;
  }
}

namespace detail {
template <class A, class B>
constexpr auto affine_add(A a, B b, long sign_b) {
  static_assert(!A::divided && !B::divided,
                "tensorlogic: an index expression divided by a constant cannot be added to; write (x + c) / n");
  return [&]<bool DA, class... VA, bool DB, class... VB>(index_affine<DA, VA...> x, index_affine<DB, VB...> y) {
    using R = typename unique_types<index_affine<false>, VA..., VB...>::type;
    R r;
    [&]<class... VR>(index_affine<false, VR...>*) {
      int k = 0;
      ((r.coef[k] = (position_of<VR, VA...>() >= 0 ? x.coef[position_of<VR, VA...>()] : 0) +
                    sign_b * (position_of<VR, VB...>() >= 0 ? y.coef[position_of<VR, VB...>()] : 0),
        ++k),
       ...);
    }(static_cast<R*>(nullptr));
    r.offset = x.offset + sign_b * y.offset;
    return r;
  }(a, b);
}
}  // namespace detail

template <index_operand A, index_operand B>
  requires(index_like<A> || index_like<B>)
constexpr auto operator+(A a, B b) {
  return detail::affine_add(as_affine(a), as_affine(b), 1);
}
template <index_operand A, index_operand B>
  requires(index_like<A> || index_like<B>)
constexpr auto operator-(A a, B b) {
  return detail::affine_add(as_affine(a), as_affine(b), -1);
}
template <index_like A, std::integral N>
constexpr auto operator*(N n, A a) {
  auto r = as_affine(a);
  static_assert(!decltype(r)::divided, "tensorlogic: an index expression divided by a constant cannot be scaled");
  for (auto& c : r.coef) c *= static_cast<long>(n);
  r.offset *= static_cast<long>(n);
  return r;
}
template <index_like A, std::integral N>
constexpr auto operator*(A a, N n) {
  return n * a;
}
template <index_like A, std::integral N>
constexpr auto operator/(A a, N n) {
  return [&]<bool D, class... V>(index_affine<D, V...> x) {
    index_affine<true, V...> r;
    for (std::size_t k = 0; k < sizeof...(V); ++k) r.coef[k] = x.coef[k];
    r.offset = x.offset;
    r.divisor = x.divisor * static_cast<long>(n);
    return r;
  }(as_affine(a));
}

}  // namespace tensorlogic
