// Dense layers as equations: linear, MLP, embedding lookup, layer norm, RMS norm, kernel machine.
// Every module maps the last subscript of its input to the last subscript of its output; the leading subscripts
// (examples, positions, ...) are carried through unchanged, so one module serves any batch shape.
#pragma once
#include <tensorlogic/nn/module.hpp>

namespace tensorlogic::nn {

// Y(..., o) = act(W(o, i) X(..., i) + b(o)).
template <fixed_string P, class T = float>
struct linear {
  static constexpr tensor<cat<P, ".W">, T, 2> W{};
  static constexpr tensor<cat<P, ".b">, T, 1> b{};
  static constexpr auto parameters() { return wrt(W, b); }

  template <class Y, class X, class Act = identity_fn>
  constexpr auto operator()(const Y& y, const X& x, Act act = {}) const {
    using o = detail::back_index_t<Y>;
    using i = detail::back_index_t<X>;
    static_assert(o::name.view() != i::name.view(),
                  "tensorlogic: nn::linear needs different indices for its input and output features");
    return program(y = act(W(o{}, i{}) * x + b(o{})));
  }
  template <class Store>
  void init(Store& s, std::mt19937_64& gen, init_kind kind) const {
    detail::fill_weight(s, W, detail::extent(s, W, 1), detail::extent(s, W, 0), gen, kind);
    detail::fill_constant(s, b, 0.0);
  }
};

// A multilayer perceptron with `Hidden` hidden layers: layer k is linear<"P.k"> into the hidden tensor "I.Hk" over the
// hidden index "P.hk" (bind its width with tl::extents(m.h<k> = 64)); hidden layers use `act`, the last `out`.
// I names the intermediates (default P); tl::nn::tagged<"y">(m) is the same module with intermediates "P@y.Hk".
template <fixed_string P, class T = float, int Hidden = 1, fixed_string I = P>
struct mlp {
  template <fixed_string Tag>
  using tagged = mlp<P, T, Hidden, cat<I, "@", Tag>>;
  static_assert(Hidden >= 1 && Hidden <= 9, "tensorlogic: nn::mlp takes 1 to 9 hidden layers");
  template <int K>
  static constexpr linear<cat<P, ".", detail::decimal<K>()>, T> layer{};
  template <int K>
  static constexpr index<cat<P, ".h", detail::decimal<K>()>> h{};
  template <int K, std::size_t R>
  static constexpr tensor<cat<I, ".H", detail::decimal<K>()>, T, R> hidden{};

  static constexpr auto parameters() {
    return [&]<int... K>(std::integer_sequence<int, K...>) {
      return nn::parameters(layer<K>...);
    }(std::make_integer_sequence<int, Hidden + 1>{});
  }

  template <class Y, class X, class Act = relu_fn, class Out = identity_fn>
  constexpr auto operator()(const Y& y, const X& x, Act act = {}, Out out = {}) const {
    constexpr std::size_t R = detail::info<Y>::rank;
    const auto lead = detail::leading<1>(y);
    auto hid = [&]<int K>(std::integral_constant<int, K>) { return detail::at(hidden<K, R>, lead, h<K>); };
    auto step = [&]<int K>(std::integral_constant<int, K> k) {
      if constexpr (K == 0)
        return layer<0>(hid(k), x, act);
      else if constexpr (K == Hidden)
        return layer<K>(y, hid(std::integral_constant<int, K - 1>{}), out);
      else
        return layer<K>(hid(k), hid(std::integral_constant<int, K - 1>{}), act);
    };
    return [&]<int... K>(std::integer_sequence<int, K...>) {
      return compose(step(std::integral_constant<int, K>{})...);
    }(std::make_integer_sequence<int, Hidden + 1>{});
  }
  template <class Store>
  void init(Store& s, std::mt19937_64& gen, init_kind kind) const {
    [&]<int... K>(std::integer_sequence<int, K...>) {
      (layer<K>.init(s, gen, kind), ...);
    }(std::make_integer_sequence<int, Hidden + 1>{});
  }
};

// Embedding lookup: Y(..., d) = Tok(..., v) E(v, d), where Tok is a one-hot tensor (or a relation) of token ids
// (fill it with tl::nn::one_hot). The lookup is a contraction: it costs (positions x vocabulary x width), and its
// gradient scatters into the rows of E that were read.
template <fixed_string P, class T = float>
struct embedding {
  static constexpr tensor<cat<P, ".E">, T, 2> E{};
  static constexpr auto parameters() { return wrt(E); }

  template <class Y, class Tok>
  constexpr auto operator()(const Y& y, const Tok& tok) const {
    using d = detail::back_index_t<Y>;
    using v = detail::back_index_t<Tok>;
    return program(y = tok * E(v{}, d{}));
  }
  template <class Store>
  void init(Store& s, std::mt19937_64& gen, init_kind) const {
    std::normal_distribution<double> nd(0.0, 1.0 / std::sqrt(detail::extent(s, E, 1)));
    detail::fill(s, E, [&](std::size_t) { return nd(gen); });
  }
};

// One-hot encoding of token ids into a tensor whose last extent is the vocabulary: the ids are in the order of the
// tensor's leading subscripts (row-major). An id outside [0, vocabulary) is an error naming the position.
template <class Store, class Sym, class Ids>
void one_hot(Store& s, const Sym& sym, const Ids& ids) {
  auto& v = s[sym];
  const std::size_t vocab = v.extent(Sym::rank - 1);
  const std::size_t rows = v.span() / (vocab > 0 ? vocab : 1);
  if (static_cast<std::size_t>(std::size(ids)) != rows)
    throw error("one_hot: " + std::string(Sym::name.view()) + " has " + std::to_string(rows) + " positions, " +
                std::to_string(std::size(ids)) + " ids were given");
  auto h = Kokkos::create_mirror_view(v);
  for (std::size_t k = 0; k < h.span(); ++k) h.data()[k] = 0;
  std::size_t r = 0;
  for (auto id : ids) {
    if (id < 0 || static_cast<std::size_t>(id) >= vocab)
      throw error("one_hot: id " + std::to_string(static_cast<long>(id)) + " at position " + std::to_string(r) +
                  " of " + std::string(Sym::name.view()) + " is outside the vocabulary [0, " + std::to_string(vocab) +
                  ")");
    h.data()[r * vocab + static_cast<std::size_t>(id)] = 1;
    ++r;
  }
  Kokkos::deep_copy(v, h);
}

// Layer norm over the feature index: Y(..., d) = g(d) lnorm(d, X(..., d)) + b(d) (biased variance, eps 1e-5).
template <fixed_string P, class T = float>
struct layer_norm {
  static constexpr tensor<cat<P, ".g">, T, 1> g{};
  static constexpr tensor<cat<P, ".b">, T, 1> b{};
  static constexpr auto parameters() { return wrt(g, b); }

  template <class Y, class X>
  constexpr auto operator()(const Y& y, const X& x) const {
    using d = detail::back_index_t<Y>;
    static_assert(d::name.view() == detail::back_index_t<X>::name.view(),
                  "tensorlogic: nn::layer_norm reads and writes the same feature index");
    return program(y = g(d{}) * lnorm(d{}, x) + b(d{}));
  }
  template <class Store>
  void init(Store& s, std::mt19937_64&, init_kind) const {
    detail::fill_constant(s, g, 1.0);
    detail::fill_constant(s, b, 0.0);
  }
};

// RMS norm: R(...) = (sum_d X(..., d)^2 / |d| + eps)^(-1/2), Y(..., d) = g(d) X(..., d) R(...). The 1/|d| is the
// constant tensor "P.inv"(d), set by init and share.
template <fixed_string P, class T = float, fixed_string I = P>
struct rms_norm {
  template <fixed_string Tag>
  using tagged = rms_norm<P, T, cat<I, "@", Tag>>;
  static constexpr tensor<cat<P, ".g">, T, 1> g{};
  static constexpr tensor<cat<P, ".inv">, T, 1> inv{};
  template <std::size_t R>
  static constexpr tensor<cat<I, ".R">, T, R> rstd{};
  static constexpr auto parameters() { return wrt(g); }
  double eps = 1e-6;

  template <class Y, class X>
  constexpr auto operator()(const Y& y, const X& x) const {
    using d = detail::back_index_t<Y>;
    static_assert(d::name.view() == detail::back_index_t<X>::name.view(),
                  "tensorlogic: nn::rms_norm reads and writes the same feature index");
    constexpr std::size_t R = detail::info<Y>::rank - 1;
    const auto lead = detail::leading<1>(y);
    const auto r = detail::at(rstd<R>, lead);
    return program(r = pow(x * x * inv(d{}) + eps, -0.5), y = g(d{}) * x * r);
  }
  template <class Store>
  void prepare(Store& s) const {
    detail::fill_constant(s, inv, 1.0 / detail::extent(s, inv, 0));
  }
  template <class Store>
  void init(Store& s, std::mt19937_64&, init_kind) const {
    detail::fill_constant(s, g, 1.0);
    prepare(s);
  }
};

// A kernel machine with a Gaussian kernel over support points S(m, f) (data):
//   D(..., m) = (X(..., f) - S(m, f))^2 summed over f,  K(..., m) = exp(-gamma D(..., m)),  Y(...) = act(a(m) K + c())
// with the coefficients a and the offset c learned; gamma is the scalar "P.gamma" (tl::bind it, default 1 by init).
template <fixed_string P, class T = float, fixed_string I = P>
struct kernel_machine {
  template <fixed_string Tag>
  using tagged = kernel_machine<P, T, cat<I, "@", Tag>>;
  static constexpr tensor<cat<P, ".a">, T, 1> a{};
  static constexpr tensor<cat<P, ".c">, T, 0> c{};
  static constexpr scalar<cat<P, ".gamma">, T> gamma{};
  template <std::size_t R>
  static constexpr tensor<cat<I, ".D">, T, R> D{};
  template <std::size_t R>
  static constexpr tensor<cat<I, ".K">, T, R> K{};
  static constexpr auto parameters() { return wrt(a, c); }

  template <class Y, class X, class S, class Act = identity_fn>
  constexpr auto operator()(const Y& y, const X& x, const S& support, Act act = {}) const {
    using f = detail::back_index_t<X>;
    using m = detail::back_index_t<S, 1>;
    static_assert(f::name.view() == detail::back_index_t<S>::name.view(),
                  "tensorlogic: nn::kernel_machine's support points S(m, f) use the input's feature index");
    constexpr std::size_t R = detail::info<Y>::rank + 1;
    const auto lead = detail::leading<0>(y);
    const auto k = detail::at(K<R>, lead, m{});
    const auto dist = detail::at(D<R>, lead, m{});
    return program(dist = 1.0 * square(x - support), k = exp(-1.0 * gamma * dist), y = act(a(m{}) * k + c()));
  }
  template <class Store>
  void init(Store& s, std::mt19937_64&, init_kind) const {
    detail::fill_constant(s, a, 0.0);
    detail::fill_constant(s, c, 0.0);
    tensorlogic::bind(s, gamma, 1.0);
  }
};

}  // namespace tensorlogic::nn
