// What every nn module shares: activations as function objects, reading the indices of a reference, parameter lists,
// seeded initialization (Xavier / He) and sharing trained parameters with another store.
//
// A module is an empty constexpr object whose type carries a name prefix (tl::nn::linear<"enc1">): its parameters
// and intermediates are tensors named "enc1.W", "enc1.b", ..., so two modules never collide. Calling it with
// references returns a program fragment (a tl::program); tl::compose joins fragments and equations into one program.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include <Kokkos_Core.hpp>

#include <tensorlogic/autodiff/gradient.hpp>
#include <tensorlogic/core/error.hpp>
#include <tensorlogic/core/program.hpp>
#include <tensorlogic/exec/bind.hpp>
#include <tensorlogic/exec/store.hpp>

namespace tensorlogic::nn {

// ---- activations: what a module applies to its projected sum ----
struct identity_fn {
  template <class E>
  constexpr auto operator()(const E& e) const {
    return e;
  }
};
struct relu_fn {
  template <class E>
  constexpr auto operator()(const E& e) const {
    return tensorlogic::relu(e);
  }
};
struct tanh_fn {
  template <class E>
  constexpr auto operator()(const E& e) const {
    return tensorlogic::tanh(e);
  }
};
struct sigmoid_fn {
  template <class E>
  constexpr auto operator()(const E& e) const {
    return tensorlogic::sigmoid(e);
  }
};
inline constexpr identity_fn identity{};
inline constexpr relu_fn relu{};
inline constexpr tanh_fn tanh{};
inline constexpr sigmoid_fn sigmoid{};

namespace detail {
using tensorlogic::detail::decimal;

template <class R>
struct ref_info;
template <class Sym, class... D>
struct ref_info<ref<Sym, D...>> {
  using symbol = Sym;
  static constexpr std::size_t rank = sizeof...(D);
  template <std::size_t K>
  using dim = std::tuple_element_t<K, std::tuple<D...>>;
};
template <class R>
using info = ref_info<std::remove_cvref_t<R>>;

// The K-th subscript from the end of a reference, which must be a plain index (a feature, a position).
template <class R, std::size_t K = 0>
constexpr auto back_index() {
  static_assert(info<R>::rank > K, "tensorlogic: an nn module's reference has too few subscripts");
  using D = typename info<R>::template dim<info<R>::rank - 1 - K>;
  static_assert(index_type<D>, "tensorlogic: an nn module's feature and position subscripts must be plain indices");
  return D{};
}
template <class R, std::size_t K = 0>
using back_index_t = decltype(back_index<R, K>());

// The leading subscripts of a reference (all but the last Drop), as a tuple of subscript values.
template <std::size_t Drop, class Sym, class... D>
constexpr auto leading(const ref<Sym, D...>& r) {
  static_assert(sizeof...(D) >= Drop, "tensorlogic: an nn module's reference has too few subscripts");
  return [&]<std::size_t... I>(std::index_sequence<I...>) {
    return std::tuple(tensorlogic::get<I>(r.dims)...);
  }(std::make_index_sequence<sizeof...(D) - Drop>{});
}

// sym(lead..., rest...): a reference with the given leading subscripts.
template <class Sym, class Tup, class... Rest>
constexpr auto at(const Sym& sym, const Tup& lead, const Rest&... rest) {
  return std::apply([&](const auto&... d) { return sym(d..., rest...); }, lead);
}

template <class... A, class... B>
constexpr wrt_list<A..., B...> join2(wrt_list<A...>, wrt_list<B...>) {
  return {};
}
constexpr wrt_list<> join_all() { return {}; }
template <class A, class... R>
constexpr auto join_all(A a, R... r) {
  return join2(a, join_all(r...));
}
template <class L>
constexpr auto params_of(const L& x) {
  if constexpr (requires { x.parameters(); })
    return x.parameters();
  else
    return x;
}
}  // namespace detail

// tl::nn::parameters(m1, m2, tl::wrt(Extra), ...): every parameter of the modules (and the listed tensors), in
// order, as one tl::wrt list for tl::gradient, the optimizers and tl::nn::share.
template <class... M>
constexpr auto parameters(const M&... m) {
  return detail::join_all(detail::params_of(m)...);
}

// tl::nn::tagged<"y">(m): the module m with its intermediates renamed (prefix "I@y" instead of "I") and the same
// parameters, so one module (a shared trunk) can be applied to two inputs in one program: both applications read one
// set of weights, and the gradient program sums both applications' contributions into each weight's gradient.
// A module without intermediates (linear, embedding, layer_norm, conv, rnn) is returned as it is.
template <fixed_string Tag, class M>
constexpr auto tagged(const M& m) {
  if constexpr (requires { typename M::template tagged<Tag>; })
    return typename M::template tagged<Tag>{};
  else
    return m;
}

// ---- initialization ----
enum class init_kind { xavier_uniform, he_normal };
inline constexpr init_kind xavier = init_kind::xavier_uniform;
inline constexpr init_kind he = init_kind::he_normal;

namespace detail {
// Fills a tensor of the store on the host and copies it to the store's memory space.
template <class Store, class Sym, class F>
void fill(Store& s, const Sym& sym, F&& value_of_flat) {
  auto& v = s[sym];
  auto h = Kokkos::create_mirror_view(v);
  for (std::size_t k = 0; k < h.span(); ++k) h.data()[k] = static_cast<typename Sym::value_type>(value_of_flat(k));
  Kokkos::deep_copy(v, h);
}
template <class Store, class Sym>
void fill_constant(Store& s, const Sym& sym, double value) {
  fill(s, sym, [&](std::size_t) { return value; });
}
// A weight with fan-in and fan-out: Xavier (Glorot) uniform U(-a, a), a = sqrt(6 / (fan_in + fan_out)), or He
// (Kaiming) normal N(0, 2 / fan_in).
template <class Store, class Sym>
void fill_weight(Store& s, const Sym& sym, double fan_in, double fan_out, std::mt19937_64& gen, init_kind kind) {
  if (kind == init_kind::xavier_uniform) {
    std::uniform_real_distribution<double> u(-1.0, 1.0);
    const double a = std::sqrt(6.0 / (fan_in + fan_out));
    fill(s, sym, [&](std::size_t) { return a * u(gen); });
  } else {
    std::normal_distribution<double> nd(0.0, std::sqrt(2.0 / fan_in));
    fill(s, sym, [&](std::size_t) { return nd(gen); });
  }
}
template <class Store, class Sym>
double extent(Store& s, const Sym& sym, std::size_t dim) {
  return static_cast<double>(s[sym].extent(dim));
}
}  // namespace detail

// tl::nn::init(store, seed, kind, modules...): seeded initialization of every module's parameters (weights Xavier
// or He, biases 0, norm gains 1) and constants; the same seed gives the same numbers.
template <class Store, class... M>
void init(Store& s, std::uint64_t seed, init_kind kind, const M&... m) {
  std::mt19937_64 gen(seed);
  (m.init(s, gen, kind), ...);
}
template <class Store, class... M>
void init(Store& s, std::uint64_t seed, const M&... m) {
  init(s, seed, xavier, m...);
}

// tl::nn::share(dst, src, modules...): dst adopts src's parameter views (no copy: a step on src is seen by dst) and
// takes the modules' constants; for evaluating a trained model at another batch size or on another program.
template <class Dst, class Src, class... M>
void share(Dst& dst, Src& src, const M&... m) {
  auto one = [&]<class... S>(wrt_list<S...>) { (tensorlogic::bind(dst, S{}, src[S{}]), ...); };
  (one(detail::params_of(m)), ...);
  auto constants = [&](const auto& x) {
    if constexpr (requires { x.prepare(dst); }) x.prepare(dst);
  };
  (constants(m), ...);
}

}  // namespace tensorlogic::nn
