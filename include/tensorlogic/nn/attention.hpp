// Multi-head attention and the pre-norm transformer block, as equations.
#pragma once
#include <cmath>

#include <tensorlogic/nn/layers.hpp>

namespace tensorlogic::nn {

// The attention mask of nn::attention and nn::transformer_block: none, causal, or StreamingLLM's sink + window
// (reference mechanisms.md §5.2: key q is visible from query p when q <= p and (q < sink or p - q < window); the same
// rule as tl::attention's attention_mask::sink_window). A structural value, so it is a template argument:
// nn::attention<"a", float, nn::mask::sink_window(4, 256)>.
struct mask_kind {
  int kind = 0;  // 0 none, 1 causal, 2 sink + window
  long sink = 0;
  long window = 0;
  constexpr bool operator==(const mask_kind&) const = default;
};
namespace mask {
inline constexpr mask_kind none{0, 0, 0};
inline constexpr mask_kind causal{1, 0, 0};
constexpr mask_kind sink_window(long sink, long window) { return {2, sink, window}; }
}  // namespace mask

// Multi-head self-attention over the sequence index p of X(..., p, e), with a second index q for key positions
// (the caller's, with the same extent as p). Heads "P.head" and head width "P.hd" are indices (bind both):
//   Q(..., p, head, hd) = Wq(head, hd, e) X(..., p, e)         (likewise K and V over q)
//   S(..., head, p, q)  = softmax(q, Q K * scale)             (causal: where(q <= p, Q K * scale, -1e30); sink +
//                         window: where((q <= p) ((q < sink) + (q + window > p)), Q K * scale, -1e30))
//   O(..., p, head, hd) = S V,    Y(..., p, e) = Wo(e, head, hd) O + bo(e)
// scale is the scalar "P.scale" = 1/sqrt(|hd|), set by init and share. The attention matrix S is a tensor of the
// program, as the gradient needs it; tl::attention is the fused forward kernel for inference.
template <fixed_string P, class T = float, mask_kind M = mask::none, fixed_string I = P>
struct attention {
  template <fixed_string Tag>
  using tagged = attention<P, T, M, cat<I, "@", Tag>>;
  static constexpr index<cat<P, ".head">> head{};
  static constexpr index<cat<P, ".hd">> hd{};
  static constexpr tensor<cat<P, ".Wq">, T, 3> Wq{};
  static constexpr tensor<cat<P, ".Wk">, T, 3> Wk{};
  static constexpr tensor<cat<P, ".Wv">, T, 3> Wv{};
  static constexpr tensor<cat<P, ".Wo">, T, 3> Wo{};
  static constexpr tensor<cat<P, ".bo">, T, 1> bo{};
  static constexpr scalar<cat<P, ".scale">, T> scale{};
  template <std::size_t R>
  static constexpr tensor<cat<I, ".Q">, T, R> Qh{};
  template <std::size_t R>
  static constexpr tensor<cat<I, ".K">, T, R> Kh{};
  template <std::size_t R>
  static constexpr tensor<cat<I, ".V">, T, R> Vh{};
  template <std::size_t R>
  static constexpr tensor<cat<I, ".S">, T, R> S{};
  template <std::size_t R>
  static constexpr tensor<cat<I, ".O">, T, R> O{};
  static constexpr auto parameters() { return wrt(Wq, Wk, Wv, Wo, bo); }

  template <class Y, class X, class Qi>
  constexpr auto operator()(const Y& y, const X& x, Qi q) const {
    using e = detail::back_index_t<Y>;
    using p = detail::back_index_t<Y, 1>;
    using ei = detail::back_index_t<X>;
    static_assert(p::name.view() == detail::back_index_t<X, 1>::name.view(),
                  "tensorlogic: nn::attention reads X(..., p, e) and writes Y(..., p, e) over the same position index");
    static_assert(p::name.view() != Qi::name.view(),
                  "tensorlogic: nn::attention needs a key-position index different from the query position index");
    constexpr std::size_t R = detail::info<Y>::rank + 1;  // (..., p, head, hd) and (..., head, p, q)
    const auto b = detail::leading<2>(y);
    const auto xq = detail::at(typename detail::info<X>::symbol{}, detail::leading<2>(x), q, ei{});
    const auto Qr = detail::at(Qh<R>, b, p{}, head, hd);
    const auto Kr = detail::at(Kh<R>, b, q, head, hd);
    const auto Vr = detail::at(Vh<R>, b, q, head, hd);
    const auto Sr = detail::at(S<R>, b, head, p{}, q);
    const auto Or = detail::at(O<R>, b, p{}, head, hd);
    static_assert(M.kind != 2 || (M.sink >= 0 && M.window >= 0 && M.sink + M.window > 0),
                  "tensorlogic: nn::mask::sink_window needs sink >= 0, window >= 0 and at least one visible key");
    auto scores = [&] {
      if constexpr (M == mask::causal)
        return softmax(q, where(q <= p{}, Qr * Kr * scale, -1e30));
      else if constexpr (M.kind == 2)
        return softmax(q, where((q <= p{}) * ((q < M.sink) + (q + M.window > p{})), Qr * Kr * scale, -1e30));
      else
        return softmax(q, Qr * Kr * scale);
    };
    return program(Qr = Wq(head, hd, ei{}) * x, Kr = Wk(head, hd, ei{}) * xq, Vr = Wv(head, hd, ei{}) * xq,
                   Sr = scores(), Or = Sr * Vr, y = Wo(e{}, head, hd) * Or + bo(e{}));
  }
  template <class Store>
  void prepare(Store& s) const {
    tensorlogic::bind(s, scale, 1.0 / std::sqrt(detail::extent(s, Wq, 1)));
  }
  template <class Store>
  void init(Store& s, std::mt19937_64& gen, init_kind kind) const {
    const double model = detail::extent(s, Wq, 2), inner = detail::extent(s, Wq, 0) * detail::extent(s, Wq, 1);
    detail::fill_weight(s, Wq, model, inner, gen, kind);
    detail::fill_weight(s, Wk, model, inner, gen, kind);
    detail::fill_weight(s, Wv, model, inner, gen, kind);
    detail::fill_weight(s, Wo, inner, model, gen, kind);
    detail::fill_constant(s, bo, 0.0);
    prepare(s);
  }
};

// A pre-norm transformer block over X(..., p, e):
//   A = ln1(X);  R1 = X + attention(A);  B = ln2(R1);  Y = R1 + mlp(B)   (relu MLP with hidden index "P.mlp.h0")
// Residuals are second equations with the same left-hand side (language rule 4).
template <fixed_string P, class T = float, mask_kind M = mask::causal, fixed_string I = P>
struct transformer_block {
  template <fixed_string Tag>
  using tagged = transformer_block<P, T, M, cat<I, "@", Tag>>;
  static constexpr layer_norm<cat<P, ".ln1">, T> ln1{};
  static constexpr attention<cat<P, ".att">, T, M, cat<I, ".att">> att{};
  static constexpr layer_norm<cat<P, ".ln2">, T> ln2{};
  static constexpr mlp<cat<P, ".mlp">, T, 1, cat<I, ".mlp">> ff{};
  template <std::size_t R>
  static constexpr tensor<cat<I, ".A">, T, R> A{};
  template <std::size_t R>
  static constexpr tensor<cat<I, ".R1">, T, R> R1{};
  template <std::size_t R>
  static constexpr tensor<cat<I, ".B">, T, R> B{};
  static constexpr auto parameters() { return nn::parameters(ln1, att, ln2, ff); }

  template <class Y, class X, class Qi>
  constexpr auto operator()(const Y& y, const X& x, Qi q) const {
    constexpr std::size_t R = detail::info<Y>::rank;
    const auto lead = detail::leading<1>(y);
    using e = detail::back_index_t<Y>;
    const auto a = detail::at(A<R>, lead, e{});
    const auto r1 = detail::at(R1<R>, lead, e{});
    const auto bb = detail::at(B<R>, lead, e{});
    return compose(ln1(a, x), att(r1, a, q), r1 = x, ln2(bb, r1), ff(y, bb), y = r1);
  }
  template <class Store>
  void prepare(Store& s) const {
    att.prepare(s);
  }
  template <class Store>
  void init(Store& s, std::mt19937_64& gen, init_kind kind) const {
    ln1.init(s, gen, kind);
    att.init(s, gen, kind);
    ln2.init(s, gen, kind);
    ff.init(s, gen, kind);
  }
};

}  // namespace tensorlogic::nn
