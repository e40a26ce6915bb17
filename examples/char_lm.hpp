// The character-level language model of example_char_transformer and example_delethink: token embedding plus
// learned positions, one pre-norm causal transformer block (nn::transformer_block), a final layer norm and a linear
// head, log-softmax over the vocabulary and the mean cross-entropy against one-hot targets; its gradient program with
// respect to every parameter (the positions included). Indices: n (sequence in the batch), p / q (query and key
// positions), e (model width), v (vocabulary).
#pragma once
#include <tensorlogic/tensorlogic.hpp>

namespace char_lm {
namespace tl = tensorlogic;
namespace nn = tensorlogic::nn;

inline constexpr tl::index<"n"> n;  // sequence in the batch
inline constexpr tl::index<"p"> p;  // position (queries)
inline constexpr tl::index<"q"> q;  // position (keys)
inline constexpr tl::index<"e"> e;  // model width
inline constexpr tl::index<"v"> v;  // token
inline constexpr tl::tensor<"Tok", float, 3> Tok;
inline constexpr tl::tensor<"Pos", float, 2> Pos;
inline constexpr tl::tensor<"Xe", float, 3> Xe;
inline constexpr tl::tensor<"X0", float, 3> X0;
inline constexpr tl::tensor<"X1", float, 3> X1;
inline constexpr tl::tensor<"X2", float, 3> X2;
inline constexpr tl::tensor<"Z", float, 3> Z;
inline constexpr tl::tensor<"Y", float, 3> Y;
inline constexpr tl::tensor<"T", float, 3> T;
inline constexpr tl::tensor<"L", float, 0> L;
inline constexpr tl::scalar<"inv_n", float> inv_n;

inline constexpr nn::embedding<"emb", float> emb;
inline constexpr nn::transformer_block<"blk", float> blk;
inline constexpr nn::layer_norm<"lnf", float> lnf;
inline constexpr nn::linear<"head", float> head;
inline constexpr auto lm = tl::compose(emb(Xe(n, p, e), Tok(n, p, v)), X0(n, p, e) = Xe(n, p, e) + Pos(p, e),
                                       blk(X1(n, p, e), X0(n, p, e), q), lnf(X2(n, p, e), X1(n, p, e)),
                                       head(Z(n, p, v), X2(n, p, e)), Y(n, p, v) = tl::log_softmax(v, 1.0 * Z(n, p, v)),
                                       L() = -1.0 * inv_n * T(n, p, v) * Y(n, p, v));
inline constexpr auto params = nn::parameters(emb, blk, lnf, head, tl::wrt(Pos));
inline constexpr auto train = tl::gradient(lm, L, params);
}  // namespace char_lm
