// A recurrent layer over a virtual time index, and a graph layer over a relation.
#pragma once
#include <tensorlogic/nn/module.hpp>

namespace tensorlogic::nn {

namespace detail {
// The subscripts of a reference between the first and the last.
template <class Sym, class... D>
constexpr auto middle(const ref<Sym, D...>& r) {
  static_assert(sizeof...(D) >= 2, "tensorlogic: an nn::rnn reference needs a time and a feature subscript");
  return [&]<std::size_t... I>(std::index_sequence<I...>) {
    return std::tuple(tensorlogic::get<I + 1>(r.dims)...);
  }(std::make_index_sequence<sizeof...(D) - 2>{});
}
template <class Sym, class First, class Mid, class Last>
constexpr auto around(const Sym& sym, const First& first, const Mid& mid, const Last& last) {
  return std::apply([&](const auto&... d) { return sym(first, d..., last); }, mid);
}
}  // namespace detail

// An Elman RNN over time t (the first subscript), state H(t, ..., j), input X(t, ..., i):
//   H(t + 1, ..., j) = act(Wh(j, k) H(t, ..., k) + Wx(j, i) X(t, ..., i) + b(j))
// H(0, ...) is the initial state (zero). The equation reads its own head, so the program is recursive: run it with
// tl::fixpoint, which computes one time step per pass; tl::fixpoint on the gradient program is backpropagation
// through time. Bind the time extent to T + 1 (H(T) is the last state) and the index "P.k" to the state width.
template <fixed_string P, class T = float>
struct rnn {
  static constexpr index<cat<P, ".k">> k{};
  static constexpr tensor<cat<P, ".Wh">, T, 2> Wh{};
  static constexpr tensor<cat<P, ".Wx">, T, 2> Wx{};
  static constexpr tensor<cat<P, ".b">, T, 1> b{};
  static constexpr auto parameters() { return wrt(Wh, Wx, b); }

  template <class H, class X, class Act = tanh_fn>
  constexpr auto operator()(const H& h, const X& x, Act act = {}) const {
    using t = std::remove_cvref_t<std::tuple_element_t<0, decltype(h.dims)>>;
    static_assert(index_type<t>, "tensorlogic: nn::rnn's time subscript must be a plain index");
    using j = detail::back_index_t<H>;
    using i = detail::back_index_t<X>;
    using Hs = typename detail::info<H>::symbol;
    const auto mid = detail::middle(h);
    return program(detail::around(Hs{}, t{} + 1, mid, j{}) =
                       act(Wh(j{}, k) * detail::around(Hs{}, t{}, mid, k) + Wx(j{}, i{}) * x + b(j{})));
  }
  template <class Store>
  void init(Store& s, std::mt19937_64& gen, init_kind kind) const {
    detail::fill_weight(s, Wh, detail::extent(s, Wh, 1), detail::extent(s, Wh, 0), gen, kind);
    detail::fill_weight(s, Wx, detail::extent(s, Wx, 1), detail::extent(s, Wx, 0), gen, kind);
    detail::fill_constant(s, b, 0.0);
  }
};

// A graph layer over a relation Neig(x, y) (sum aggregation over neighbours, plus a self connection):
//   A(x, o) = Wn(o, i) Neig(x, y) X(y, i) + Ws(o, i) X(x, i) + b(o),   Y(x, o) = act(A(x, o))
// (A is the tensor "P.A"; both terms sum i, so the pre-activation is an equation of its own.)
// The relation is a constant 0/1 factor of the gradient; it may be the result of a Datalog fixpoint.
template <fixed_string P, class T = float, fixed_string I = P>
struct graph_layer {
  template <fixed_string Tag>
  using tagged = graph_layer<P, T, cat<I, "@", Tag>>;
  static constexpr tensor<cat<P, ".Wn">, T, 2> Wn{};
  static constexpr tensor<cat<P, ".Ws">, T, 2> Ws{};
  static constexpr tensor<cat<P, ".b">, T, 1> b{};
  template <std::size_t R>
  static constexpr tensor<cat<I, ".A">, T, R> A{};
  static constexpr auto parameters() { return wrt(Wn, Ws, b); }

  template <class Y, class X, class N, class Act = relu_fn>
  constexpr auto operator()(const Y& y, const X& x, const N& neig, Act act = {}) const {
    using o = detail::back_index_t<Y>;
    using i = detail::back_index_t<X>;
    using ny = detail::back_index_t<N>;
    const auto xn = detail::at(typename detail::info<X>::symbol{}, detail::leading<2>(x), ny{}, i{});
    const auto a = detail::at(A<detail::info<Y>::rank>, detail::leading<1>(y), o{});
    return program(a = Wn(o{}, i{}) * neig * xn + Ws(o{}, i{}) * x + b(o{}), y = act(a));
  }
  template <class Store>
  void init(Store& s, std::mt19937_64& gen, init_kind kind) const {
    detail::fill_weight(s, Wn, detail::extent(s, Wn, 1), detail::extent(s, Wn, 0), gen, kind);
    detail::fill_weight(s, Ws, detail::extent(s, Ws, 1), detail::extent(s, Ws, 0), gen, kind);
    detail::fill_constant(s, b, 0.0);
  }
};

}  // namespace tensorlogic::nn
