// Convolutions, average and max pooling as equations with index expressions. A convolution is "valid": the store
// derives the input's extent along a position from the reads, S (|t| - 1) + |u| for X(S t + u) (stride S), so bind
// the output positions and the filter width and the input is the length they need (a bound input of another length is
// an extent error). Its input's gradient is a convolution too: grad(X)(X#1, c) = grad(Y)(t, o) F(o, c, X#1 - S t),
// X#1 running along X's positions (autodiff/gradient.hpp), and the kernel visits only the t whose filter tap
// X#1 - S t exists (about |u| / S of them), so stacked and strided convolutions train.
#pragma once
#include <tensorlogic/nn/module.hpp>

namespace tensorlogic::nn {

namespace detail {
// S t as an index expression (t itself when S is 1, so unstrided programs print as before).
template <int S, class I>
constexpr auto strided(I i) {
  if constexpr (S == 1) return i;
  else return S * i;
}
}  // namespace detail

// Y(..., t, o) = act(F(o, c, u) X(..., Stride t + u, c) + b(o)); the filter width is the extent of the index "P.u"
// (any width, also with a stride).
template <fixed_string P, class T = float, int Stride = 1>
struct conv1d {
  static_assert(Stride >= 1, "tensorlogic: a convolution's stride must be at least 1");
  static constexpr index<cat<P, ".u">> u{};
  static constexpr tensor<cat<P, ".F">, T, 3> F{};
  static constexpr tensor<cat<P, ".b">, T, 1> b{};
  static constexpr auto parameters() { return wrt(F, b); }

  template <class Y, class X, class Act = identity_fn>
  constexpr auto operator()(const Y& y, const X& x, Act act = {}) const {
    using o = detail::back_index_t<Y>;
    using t = detail::back_index_t<Y, 1>;
    using c = detail::back_index_t<X>;
    const auto xs = detail::at(typename detail::info<X>::symbol{}, detail::leading<2>(x), detail::strided<Stride>(t{}) + u, c{});
    return program(y = act(F(o{}, c{}, u) * xs + b(o{})));
  }
  template <class Store>
  void init(Store& s, std::mt19937_64& gen, init_kind kind) const {
    const double k = detail::extent(s, F, 2);
    detail::fill_weight(s, F, detail::extent(s, F, 1) * k, detail::extent(s, F, 0) * k, gen, kind);
    detail::fill_constant(s, b, 0.0);
  }
};

// Y(..., x, y, o) = act(F(o, c, u, v) X(..., Stride x + u, Stride y + v, c) + b(o)); filter extents "P.u" x "P.v".
template <fixed_string P, class T = float, int Stride = 1>
struct conv2d {
  static_assert(Stride >= 1, "tensorlogic: a convolution's stride must be at least 1");
  static constexpr index<cat<P, ".u">> u{};
  static constexpr index<cat<P, ".v">> v{};
  static constexpr tensor<cat<P, ".F">, T, 4> F{};
  static constexpr tensor<cat<P, ".b">, T, 1> b{};
  static constexpr auto parameters() { return wrt(F, b); }

  template <class Y, class X, class Act = identity_fn>
  constexpr auto operator()(const Y& y, const X& x, Act act = {}) const {
    using o = detail::back_index_t<Y>;
    using py = detail::back_index_t<Y, 1>;
    using px = detail::back_index_t<Y, 2>;
    using c = detail::back_index_t<X>;
    const auto xs = detail::at(typename detail::info<X>::symbol{}, detail::leading<3>(x), detail::strided<Stride>(px{}) + u,
                               detail::strided<Stride>(py{}) + v, c{});
    return program(y = act(F(o{}, c{}, u, v) * xs + b(o{})));
  }
  template <class Store>
  void init(Store& s, std::mt19937_64& gen, init_kind kind) const {
    const double k = detail::extent(s, F, 2) * detail::extent(s, F, 3);
    detail::fill_weight(s, F, detail::extent(s, F, 1) * k, detail::extent(s, F, 0) * k, gen, kind);
    detail::fill_constant(s, b, 0.0);
  }
};

// Average pooling by a factor W over the last positional subscripts: Y(..., x / W, c) = X(..., x, c) / W, and in
// 2-D Y(..., x / W, y / W, c) = X(..., x, y, c) / W^2 (the output extent along x is ceil(n / W)). The gradient
// spreads each pooled cell's gradient evenly over the cells it averaged.
template <int W>
struct avg_pool1d {
  template <class Y, class X>
  constexpr auto operator()(const Y& y, const X& x) const {
    using t = detail::back_index_t<X, 1>;
    using c = detail::back_index_t<X>;
    const auto yl = detail::at(typename detail::info<Y>::symbol{}, detail::leading<2>(y), t{} / W, c{});
    return program(yl = (1.0 / W) * x);
  }
  static constexpr auto parameters() { return wrt(); }
  template <class Store>
  void init(Store&, std::mt19937_64&, init_kind) const {}
};
template <int W>
struct avg_pool2d {
  template <class Y, class X>
  constexpr auto operator()(const Y& y, const X& x) const {
    using py = detail::back_index_t<X, 1>;
    using px = detail::back_index_t<X, 2>;
    using c = detail::back_index_t<X>;
    const auto yl = detail::at(typename detail::info<Y>::symbol{}, detail::leading<3>(y), px{} / W, py{} / W, c{});
    return program(yl = (1.0 / (W * W)) * x);
  }
  static constexpr auto parameters() { return wrt(); }
  template <class Store>
  void init(Store&, std::mt19937_64&, init_kind) const {}
};

// Max pooling over windows of W (stride W) of the last positional subscripts, written with the pooled tensor's own
// indices: Y(..., a, c) = max_w X(..., W a + w, c), and in 2-D Y(..., a, b, c) = max_{w, v} X(..., W a + w, W b + v, c).
// The window indices have static extent W ("max_pool<W>.w", "max_pool<W>.v"); bind the pooled extents (|a| = |x| / W
// keeps every window inside X; a window reaching past X's end also compares the 0 read there). The gradient goes to
// the arg-max of each window (to every tied cell).
template <int W>
struct max_pool1d {
  static constexpr index<cat<"max_pool<", detail::decimal<W>(), ">.w">, W> w{};
  template <class Y, class X>
  constexpr auto operator()(const Y& y, const X& x) const {
    using a = detail::back_index_t<Y, 1>;
    using c = detail::back_index_t<Y>;
    const auto xs = detail::at(typename detail::info<X>::symbol{}, detail::leading<2>(x), W * a{} + w, c{});
    return program(y = tensorlogic::max(w, xs));
  }
  static constexpr auto parameters() { return wrt(); }
  template <class Store>
  void init(Store&, std::mt19937_64&, init_kind) const {}
};
template <int W>
struct max_pool2d {
  static constexpr index<cat<"max_pool<", detail::decimal<W>(), ">.w">, W> w{};
  static constexpr index<cat<"max_pool<", detail::decimal<W>(), ">.v">, W> v{};
  template <class Y, class X>
  constexpr auto operator()(const Y& y, const X& x) const {
    using b = detail::back_index_t<Y, 1>;
    using a = detail::back_index_t<Y, 2>;
    using c = detail::back_index_t<Y>;
    const auto xs = detail::at(typename detail::info<X>::symbol{}, detail::leading<3>(x), W * a{} + w, W * b{} + v, c{});
    return program(y = tensorlogic::max(w, v, xs));
  }
  static constexpr auto parameters() { return wrt(); }
  template <class Store>
  void init(Store&, std::mt19937_64&, init_kind) const {}
};

}  // namespace tensorlogic::nn
