// Losses as equations: mean cross-entropy against one-hot (or soft) targets, and mean squared error.
// The mean's 1/count is the scalar "I.inv" of the loss (bind it with loss.normalize(store, count)): a loss does not
// guess which subscripts are examples, and a padding row of a cross-entropy target (all zeros) adds nothing.
#pragma once
#include <string>
#include <tuple>

#include <tensorlogic/nn/module.hpp>

namespace tensorlogic::nn {

namespace detail {
// sum over every subscript of the reference r of e.
template <class R, class E>
constexpr auto over(const R& r, const E& e) {
  return std::apply([&](const auto&... d) { return sum(d..., e); }, leading<0>(r));
}
template <class Store, class Sym>
void bind_inverse_count(Store& s, const Sym& inv, double count, const char* what) {
  if (!(count > 0))
    throw error(std::string(what) + ": " + std::string(Sym::name.view()) + " needs a positive count, got " +
                std::to_string(count));
  tensorlogic::bind(s, inv, 1.0 / count);
}
}  // namespace detail

// LP(..., c) = log_softmax(c, Z(..., c)),   L() = -inv * Tgt(..., c) LP(..., c)
// over the last subscript of the logits (the classes). LP is the tensor "I.logp"; inv = 1 / rows.
template <fixed_string P, class T = float, fixed_string I = P>
struct cross_entropy {
  template <fixed_string Tag>
  using tagged = cross_entropy<P, T, cat<I, "@", Tag>>;
  static constexpr scalar<cat<I, ".inv">, T> inv{};
  template <std::size_t R>
  static constexpr tensor<cat<I, ".logp">, T, R> logp{};
  static constexpr auto parameters() { return wrt(); }

  template <class L, class Z, class Tgt>
  constexpr auto operator()(const L& l, const Z& z, const Tgt& target) const {
    static_assert(detail::info<L>::rank == 0, "tensorlogic: nn::cross_entropy writes a scalar loss L()");
    using c = detail::back_index_t<Z>;
    static_assert(c::name.view() == detail::back_index_t<Tgt>::name.view(),
                  "tensorlogic: nn::cross_entropy's logits and targets share their last (class) index");
    const auto lp = detail::at(logp<detail::info<Z>::rank>, detail::leading<1>(z), c{});
    return program(lp = log_softmax(c{}, 1.0 * z), l = -1.0 * inv * target * lp);
  }
  // inv = 1 / rows (the number of labelled rows the sum runs over).
  template <class Store>
  void normalize(Store& s, double rows) const {
    detail::bind_inverse_count(s, inv, rows, "nn::cross_entropy");
  }
  template <class Store>
  void init(Store&, std::mt19937_64&, init_kind) const {}
};

// L() = inv * (Pred(...) - Target(...))^2 summed over every subscript of Pred; inv = 1 / elements. Target may read
// shifted positions (X(b, t + 1, d) for next-step prediction); the optional weight (a 0/1 mask such as M(t) that
// drops the last position, or per-element weights) multiplies each squared difference.
template <fixed_string P, class T = float, fixed_string I = P>
struct mse {
  template <fixed_string Tag>
  using tagged = mse<P, T, cat<I, "@", Tag>>;
  static constexpr scalar<cat<I, ".inv">, T> inv{};
  static constexpr auto parameters() { return wrt(); }

  template <class L, class Pred, class Target>
  constexpr auto operator()(const L& l, const Pred& pred, const Target& target) const {
    static_assert(detail::info<L>::rank == 0, "tensorlogic: nn::mse writes a scalar loss L()");
    return program(l = inv * detail::over(pred, square(pred - target)));
  }
  template <class L, class Pred, class Target, class Weight>
  constexpr auto operator()(const L& l, const Pred& pred, const Target& target, const Weight& weight) const {
    static_assert(detail::info<L>::rank == 0, "tensorlogic: nn::mse writes a scalar loss L()");
    return program(l = inv * detail::over(pred, weight * square(pred - target)));
  }
  template <class Store>
  void normalize(Store& s, double elements) const {
    detail::bind_inverse_count(s, inv, elements, "nn::mse");
  }
  template <class Store>
  void init(Store&, std::mt19937_64&, init_kind) const {}
};

}  // namespace tensorlogic::nn
