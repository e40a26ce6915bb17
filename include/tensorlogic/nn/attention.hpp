// Multi-head attention and the pre-norm transformer block, as equations.
#pragma once
#include <cmath>
#include <span>
#include <string>
#include <vector>

#include <tensorlogic/nn/layers.hpp>

namespace tensorlogic::nn {

// The attention's structure: the mask (none, causal, or StreamingLLM's sink + window -- reference mechanisms.md
// §5.2: key q is visible from query p when q <= p and (q < sink or p - q < window); the same rule as tl::attention's
// attention_mask::sink_window) and, optionally, a rotary position embedding of the queries and keys (RoPE, rotate-half
// pairing: element i of a head pairs with i + head_dim / 2; pair i turns by position * theta^(-2i / head_dim)). A
// structural value, so it is a template argument: nn::attention<"a", float, nn::mask::sink_window(4, 256)>,
// nn::transformer_block<"blk", float, nn::mask::causal.rope(16)> (head width 16, theta 10000).
struct mask_kind {
  int kind = 0;  // 0 none, 1 causal, 2 sink + window
  long sink = 0;
  long window = 0;
  long rope_dim = 0;  // the head width the rotary embedding turns (a static extent of "P.hd"); 0: no rotary embedding
  double rope_theta = 10000.0;
  constexpr bool operator==(const mask_kind&) const = default;
  // The same mask with a rotary embedding over heads of width head_dim (even) and base theta.
  constexpr mask_kind rope(long head_dim, double theta = 10000.0) const {
    mask_kind m = *this;
    m.rope_dim = head_dim;
    m.rope_theta = theta;
    return m;
  }
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
// With M.rope(d) the head width is the static extent d (H = d / 2) and the scores read rotated queries and keys:
//   Qr(..., p, head, hd) = cos(p, hd) Q(..., p, head, hd) + sin(p, hd) (Q(..., p, head, hd - H) - Q(..., p, head, hd + H))
// (reads outside the extent are 0, so the bracket is rotate_half(Q): -Q(hd + H) in the first half, Q(hd - H) in the
// second), likewise Kr over q with the same tables; the tables "P.cos" and "P.sin" [position, hd] hold
// cos / sin(position * theta^(-2 (hd mod H) / d)), filled by init / prepare for positions 0, 1, ... or by
// set_positions for any others (a cache's kept positions). The gradient reaches Q and K through the opposite shifts.
template <fixed_string P, class T = float, mask_kind M = mask::none, fixed_string I = P>
struct attention {
  template <fixed_string Tag>
  using tagged = attention<P, T, M, cat<I, "@", Tag>>;
  static constexpr index<cat<P, ".head">> head{};
  static constexpr bool rotary = M.rope_dim > 0;
  static_assert(M.rope_dim >= 0 && M.rope_dim % 2 == 0 && (!rotary || M.rope_theta > 1.0),
                "tensorlogic: nn::mask_kind::rope needs an even head width and theta > 1");
  static constexpr index<cat<P, ".hd">, rotary ? static_cast<std::size_t>(M.rope_dim) : dynamic_extent> hd{};
  static constexpr tensor<cat<P, ".cos">, T, 2> rope_cos{};
  static constexpr tensor<cat<P, ".sin">, T, 2> rope_sin{};
  template <std::size_t R>
  static constexpr tensor<cat<I, ".Qr">, T, R> Qrot{};
  template <std::size_t R>
  static constexpr tensor<cat<I, ".Kr">, T, R> Krot{};
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
    auto scores = [&](const auto& qs, const auto& ks) {
      if constexpr (M.kind == 1)
        return softmax(q, where(q <= p{}, qs * ks * scale, -1e30));
      else if constexpr (M.kind == 2)
        return softmax(q, where((q <= p{}) * ((q < M.sink) + (q + M.window > p{})), qs * ks * scale, -1e30));
      else
        return softmax(q, qs * ks * scale);
    };
    if constexpr (rotary) {
      constexpr long H = M.rope_dim / 2;
      const auto Qs = detail::at(Qrot<R>, b, p{}, head, hd);
      const auto Ks = detail::at(Krot<R>, b, q, head, hd);
      return program(Qr = Wq(head, hd, ei{}) * x, Kr = Wk(head, hd, ei{}) * xq, Vr = Wv(head, hd, ei{}) * xq,
                     Qs = rope_cos(p{}, hd) * Qr +
                          rope_sin(p{}, hd) * (detail::at(Qh<R>, b, p{}, head, hd - H) -
                                               detail::at(Qh<R>, b, p{}, head, hd + H)),
                     Ks = rope_cos(q, hd) * Kr +
                          rope_sin(q, hd) * (detail::at(Kh<R>, b, q, head, hd - H) - detail::at(Kh<R>, b, q, head, hd + H)),
                     Sr = scores(Qs, Ks), Or = Sr * Vr, y = Wo(e{}, head, hd) * Or + bo(e{}));
    } else {
      return program(Qr = Wq(head, hd, ei{}) * x, Kr = Wk(head, hd, ei{}) * xq, Vr = Wv(head, hd, ei{}) * xq,
                     Sr = scores(Qr, Kr), Or = Sr * Vr, y = Wo(e{}, head, hd) * Or + bo(e{}));
    }
  }
  // The rotary tables for the given positions (row r of "P.cos" / "P.sin" is position positions[r]); the tables'
  // first extent must equal positions.size(). Without a rotary embedding there is nothing to set.
  template <class Store>
  void set_positions(Store& s, std::span<const double> positions) const {
    if constexpr (rotary) {
      auto& cv = s[rope_cos];
      auto& sv = s[rope_sin];
      if (cv.extent(0) != positions.size() || cv.extent(1) != static_cast<std::size_t>(M.rope_dim))
        throw error("nn::attention " + std::string(P.view()) + ": the rotary tables have " +
                    std::to_string(cv.extent(0)) + " rows of " + std::to_string(cv.extent(1)) + ", " +
                    std::to_string(positions.size()) + " positions of head width " + std::to_string(M.rope_dim) +
                    " were given");
      auto ch = Kokkos::create_mirror_view(cv);
      auto sh = Kokkos::create_mirror_view(sv);
      constexpr long H = M.rope_dim / 2;
      for (std::size_t r = 0; r < positions.size(); ++r)
        for (long i = 0; i < M.rope_dim; ++i) {
          const double angle =
              positions[r] * std::pow(M.rope_theta, -2.0 * static_cast<double>(i % H) / static_cast<double>(M.rope_dim));
          ch(r, i) = static_cast<T>(std::cos(angle));
          sh(r, i) = static_cast<T>(std::sin(angle));
        }
      Kokkos::deep_copy(cv, ch);
      Kokkos::deep_copy(sv, sh);
    } else {
      (void)s;
      (void)positions;
    }
  }
  template <class Store>
  void prepare(Store& s) const {
    tensorlogic::bind(s, scale, 1.0 / std::sqrt(detail::extent(s, Wq, 1)));
    if constexpr (rotary) {
      std::vector<double> positions(s[rope_cos].extent(0));
      for (std::size_t r = 0; r < positions.size(); ++r) positions[r] = static_cast<double>(r);
      set_positions(s, positions);
    }
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
