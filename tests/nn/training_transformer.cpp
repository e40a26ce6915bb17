// Training that must learn (fixed seeds): a 2-layer causal transformer (nn::embedding, learned positions, two
// nn::transformer_block, a final layer norm and a linear head) on the copy task: after `a b c d SEP` it must emit
// `a b c d`. Token accuracy on held-out random sequences, computed here from the model's outputs.
#include <catch2/catch.hpp>
#include <iostream>
#include <random>
#include <vector>
#include <tensorlogic/tensorlogic.hpp>

namespace tl = tensorlogic;
namespace nn = tensorlogic::nn;

namespace {
inline constexpr tl::index<"n"> n;
inline constexpr tl::index<"p"> p;
inline constexpr tl::index<"q"> q;
inline constexpr tl::index<"e"> e;
inline constexpr tl::index<"v"> v;
inline constexpr tl::tensor<"Tok", float, 3> Tok;   // one-hot input tokens
inline constexpr tl::tensor<"Pos", float, 2> Pos;   // learned positions
inline constexpr tl::tensor<"Xe", float, 3> Xe;
inline constexpr tl::tensor<"X0", float, 3> X0;
inline constexpr tl::tensor<"X1", float, 3> X1;
inline constexpr tl::tensor<"X2", float, 3> X2;
inline constexpr tl::tensor<"X3", float, 3> X3;
inline constexpr tl::tensor<"Z", float, 3> Z;
inline constexpr tl::tensor<"Y", float, 3> Y;
inline constexpr tl::tensor<"T", float, 3> T;       // one-hot next tokens where the loss counts, 0 elsewhere
inline constexpr tl::tensor<"L", float, 0> L;
inline constexpr tl::scalar<"inv_n", float> inv_n;

inline constexpr nn::embedding<"emb", float> emb;
inline constexpr nn::transformer_block<"b1", float> b1;
inline constexpr nn::transformer_block<"b2", float> b2;
inline constexpr nn::layer_norm<"lnf", float> lnf;
inline constexpr nn::linear<"head", float> head;
constexpr auto model = tl::compose(emb(Xe(n, p, e), Tok(n, p, v)), X0(n, p, e) = Xe(n, p, e) + Pos(p, e), b1(X1(n, p, e), X0(n, p, e), q),
                                   b2(X2(n, p, e), X1(n, p, e), q), lnf(X3(n, p, e), X2(n, p, e)),
                                   head(Z(n, p, v), X3(n, p, e)), Y(n, p, v) = tl::log_softmax(v, 1.0 * Z(n, p, v)),
                                   L() = -1.0 * inv_n * T(n, p, v) * Y(n, p, v));
constexpr auto params = nn::parameters(emb, b1, b2, lnf, head, tl::wrt(Pos));
// The gradient program under a name of its own: the compiler then spells `train_t`, not every equation, in
// each function it instantiates for the program (a third less compile time; docs/performance.md).
constexpr auto train_equations = tl::gradient(model, L, params);
struct train_t : std::remove_cvref_t<decltype(train_equations)> {};
constexpr train_t train{train_equations};

constexpr int copy_len = 4, seq = 2 * copy_len, vocab = 7, sep = 0;  // tokens 1..6, SEP = 0

// A batch of sequences `a b c d SEP a b c`, targets `d`'s successors: positions copy_len .. seq-1 predict a b c d.
template <class Store>
void fill_batch(Store& s, int count, std::mt19937& gen) {
  std::uniform_int_distribution<int> tok(1, vocab - 1);
  std::vector<int> ids;
  auto& t = s[T];
  for (std::size_t k = 0; k < t.span(); ++k) t.data()[k] = 0;
  for (int a = 0; a < count; ++a) {
    int src[copy_len];
    for (int& x : src) x = tok(gen);
    for (int k = 0; k < copy_len; ++k) ids.push_back(src[k]);
    ids.push_back(sep);
    for (int k = 0; k + 1 < copy_len; ++k) ids.push_back(src[k]);
    for (int k = 0; k < copy_len; ++k) t(a, copy_len + k, src[k]) = 1;
  }
  nn::one_hot(s, Tok, ids);
  tl::bind(s, inv_n, 1.0 / (count * copy_len));
}
}  // namespace

TEST_CASE("a 2-layer transformer learns to copy", "[nn][training]") {
  const int batch = 32, steps = 400;
  auto ext = [&](int count) {
    return tl::extents(n = count, p = seq, q = seq, e = 32, v = vocab, b1.att.head = 2, b1.att.hd = 16,
                       b2.att.head = 2, b2.att.hd = 16, b1.ff.h<0> = 64, b2.ff.h<0> = 64);
  };
  tl::store s(train, ext(batch));
  nn::init(s, 17, emb, b1, b2, lnf, head);
  std::mt19937 gen(23);
  std::normal_distribution<double> w(0.0, 0.1);
  for (std::size_t k = 0; k < s[Pos].span(); ++k) s[Pos].data()[k] = static_cast<float>(w(gen));
  tl::adamw opt(s, params, {.lr = tl::schedule::cosine(0.003, steps, 20, 0.0003), .weight_decay = 0.0});
  for (int step = 0; step < steps; ++step) {
    fill_batch(s, batch, gen);
    tl::eval(train, s);
    opt.step(s);
  }
  const int held_out = 200;
  tl::store test(model, ext(held_out));
  fill_batch(test, held_out, gen);
  nn::share(test, s, emb, b1, b2, lnf, head, tl::wrt(Pos));
  tl::eval(model, test);
  int right = 0;
  for (int a = 0; a < held_out; ++a)
    for (int k = copy_len; k < seq; ++k) {
      int best = 0;
      for (int c = 1; c < vocab; ++c)
        if (test[Y](a, k, c) > test[Y](a, k, best)) best = c;
      right += test[T](a, k, best) > 0;
    }
  const double acc = static_cast<double>(right) / (held_out * copy_len);
  std::cout << "transformer copy task (2 blocks, width 32, 2 heads, " << steps << " AdamW steps of " << batch
            << " sequences): held-out token accuracy " << acc << "\n";
  CHECK(acc >= 0.95);
}
