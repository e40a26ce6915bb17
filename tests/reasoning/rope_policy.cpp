// The transformer chunk policy on a model with rotary positions (nn::mask_kind::rope, no position table): keys are
// cached un-rotated and rotated at attention time. Full context: the cached decode gives the full causal forward pass
// of the tl::nn program at every position. Sink + window, append mode (each key keeps its context position): the
// forward pass with the sink + window mask. Sink + window, shrink mode (contiguous RoPE, StreamingVLM): for a one-block
// model, whose cached keys and values depend on their token only, the logits after eviction are the causal forward pass
// over the kept tokens laid out at 0..|K|, and the two modes differ after the first eviction. Errors name the culprit.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstddef>
#include <memory>
#include <random>
#include <vector>

#include <tensorlogic/tensorlogic.hpp>

#include "../support/language_model.hpp"

namespace tl = tensorlogic;
namespace nn = tensorlogic::nn;
namespace rs = tensorlogic::reasoning;

namespace {
inline constexpr tl::index<"n"> n;
inline constexpr tl::index<"p"> p;
inline constexpr tl::index<"q"> q;
inline constexpr tl::index<"e"> e;
inline constexpr tl::index<"v"> v;

constexpr int vocab = 7, width = 8, heads = 2, head_dim = 4, hidden = 12, context = 12;
constexpr double theta = 100.0;  // a small base, so every pair turns visibly over a dozen positions

inline constexpr tl::tensor<"Tok", double, 3> Tok{};
inline constexpr tl::tensor<"X0", double, 3> X0{};
inline constexpr tl::tensor<"X1", double, 3> X1{};
inline constexpr tl::tensor<"X2", double, 3> X2{};
inline constexpr tl::tensor<"X3", double, 3> X3{};
inline constexpr tl::tensor<"Z", double, 3> Z{};
inline constexpr nn::embedding<"emb", double> emb{};
inline constexpr nn::layer_norm<"lnf", double> lnf{};
inline constexpr nn::linear<"head", double> head{};

template <nn::mask_kind M>
struct blocks {
  static constexpr nn::transformer_block<"blk0", double, M.rope(head_dim, theta)> blk0{};
  static constexpr nn::transformer_block<"blk1", double, M.rope(head_dim, theta)> blk1{};
};

// emb -> blk0 [-> blk1] -> lnf -> head: logits Z(n, p, v); no position table.
template <nn::mask_kind M, int Layers>
constexpr auto make_lm() {
  using B = blocks<M>;
  if constexpr (Layers == 2)
    return tl::compose(emb(X0(n, p, e), Tok(n, p, v)), B::blk0(X1(n, p, e), X0(n, p, e), q),
                       B::blk1(X2(n, p, e), X1(n, p, e), q), lnf(X3(n, p, e), X2(n, p, e)), head(Z(n, p, v), X3(n, p, e)));
  else
    return tl::compose(emb(X0(n, p, e), Tok(n, p, v)), B::blk0(X2(n, p, e), X0(n, p, e), q),
                       lnf(X3(n, p, e), X2(n, p, e)), head(Z(n, p, v), X3(n, p, e)));
}
constexpr auto lm_causal = make_lm<nn::mask::causal, 2>();
constexpr auto lm_sink_window = make_lm<nn::mask::sink_window(2, 4), 2>();
constexpr auto lm_one_block = make_lm<nn::mask::causal, 1>();

// Random weights (norms and biases too) that depend on the seed only, not on the mask.
template <nn::mask_kind M, int Layers, class Prog>
auto random_model(std::uint64_t seed, const Prog& prog) {
  using B = blocks<M>;
  auto s = std::make_unique<tl::store<Prog>>(
      prog, Layers == 2 ? tl::extents(n = 1, p = context, q = context, e = width, v = vocab, B::blk0.att.head = heads,
                                      B::blk0.ff.template h<0> = hidden, B::blk1.att.head = heads,
                                      B::blk1.ff.template h<0> = hidden)
                        : tl::extents(n = 1, p = context, q = context, e = width, v = vocab, B::blk0.att.head = heads,
                                      B::blk0.ff.template h<0> = hidden));
  std::mt19937_64 gen(seed + 1);
  if constexpr (Layers == 2) {
    nn::init(*s, seed, emb, B::blk0, B::blk1, lnf, head);
    tl::test::randomize_block(*s, B::blk0, gen);
    tl::test::randomize_block(*s, B::blk1, gen);
  } else {
    nn::init(*s, seed, emb, B::blk0, lnf, head);
    tl::test::randomize_block(*s, B::blk0, gen);
  }
  tl::test::randomize(*s, lnf.g, gen, 1.0, 0.2);
  tl::test::randomize(*s, lnf.b, gen, 0.0, 0.2);
  tl::test::randomize(*s, head.b, gen, 0.0, 0.2);
  return s;
}

rs::transformer_names names(int layers) {
  rs::transformer_names out{.positions = "", .blocks = {"blk0"}, .rope_theta = theta};
  if (layers == 2) out.blocks.push_back("blk1");
  return out;
}

// The forward pass: logits[t][c] at every position of `ids` (padded to the context with token 0; causal models
// do not read the padding at earlier positions).
template <class Store, class Prog>
std::vector<std::vector<double>> full_logits(Store& s, std::vector<int> ids, const Prog& prog) {
  const std::size_t used = ids.size();
  ids.resize(context, 0);
  nn::one_hot(s, Tok, ids);
  tl::eval(prog, s);
  auto z = s[Z];
  std::vector<std::vector<double>> out(used, std::vector<double>(vocab));
  for (std::size_t t = 0; t < used; ++t)
    for (int c = 0; c < vocab; ++c) out[t][static_cast<std::size_t>(c)] = z(0, t, c);
  return out;
}

std::vector<int> sequence(std::uint64_t seed) { return tl::test::random_tokens(seed, vocab, context); }

double distance(std::span<const double> a, const std::vector<double>& b) { return tl::test::max_difference(a, b); }
}  // namespace

TEST_CASE("rotary model: cached decode equals the full causal forward pass at every position", "[reasoning][rope]") {
  auto s = random_model<nn::mask::causal, 2>(11, lm_causal);
  const rs::transformer_weights<double> w = rs::read_transformer<double>(*s, names(2));
  CHECK(w.rope_theta == theta);
  CHECK(w.context == 0);
  CHECK(w.head_dim == head_dim);
  for (std::uint64_t seed : {1u, 2u}) {
    const std::vector<int> ids = sequence(seed);
    const auto full = full_logits(*s, ids, lm_causal);
    for (const rs::position_mode mode : {rs::position_mode::shrink, rs::position_mode::append}) {
      rs::transformer_policy<double> policy(w, rs::full_context{context}, {.rope_positions = mode});
      double worst = 0.0;
      for (std::size_t t = 0; t < ids.size(); ++t) worst = std::max(worst, distance(policy.step(ids[t]), full[t]));
      INFO("largest logit difference " << worst);
      CHECK(worst <= 1e-10);
      std::vector<std::size_t> expected(ids.size());
      for (std::size_t t = 0; t < ids.size(); ++t) expected[t] = t;
      CHECK(policy.rotary_positions() == expected);
      // the cache holds the keys as computed, before any rotation: row 5's key is not row 5's rotated key
      CHECK(policy.key(0, 5, 0).size() == static_cast<std::size_t>(head_dim));
    }
  }
}

TEST_CASE("rotary model, sink + window, append positions: the forward pass with the sink + window mask",
          "[reasoning][rope]") {
  auto causal = random_model<nn::mask::causal, 2>(5, lm_causal);
  auto masked = random_model<nn::mask::sink_window(2, 4), 2>(5, lm_sink_window);
  const auto w = std::make_shared<const rs::transformer_weights<double>>(rs::read_transformer<double>(*causal, names(2)));
  for (std::uint64_t seed : {9u, 10u}) {
    const std::vector<int> ids = sequence(seed);
    const auto want = full_logits(*masked, ids, lm_sink_window);
    const auto unmasked = full_logits(*causal, ids, lm_causal);
    rs::transformer_policy<double, rs::sink_window> policy(w, rs::sink_window{2, 3},
                                                           {.rope_positions = rs::position_mode::append});
    double worst = 0.0, apart = 0.0;
    for (std::size_t t = 0; t < ids.size(); ++t) {
      const std::span<const double> got = policy.step(ids[t]);
      worst = std::max(worst, distance(got, want[t]));
      if (t >= 6) apart = std::max(apart, distance(got, unmasked[t]));
    }
    INFO("largest logit difference " << worst << "; from the unmasked model after eviction " << apart);
    CHECK(worst <= 1e-10);
    CHECK(apart > 1e-3);
    // append: the kept rows keep their context positions 0, 1, then the window
    CHECK(policy.rotary_positions() == std::vector<std::size_t>{0, 1, 9, 10, 11});
  }
}

TEST_CASE("rotary model, sink + window, shrink positions: contiguous RoPE over the kept tokens", "[reasoning][rope]") {
  auto s = random_model<nn::mask::causal, 1>(7, lm_one_block);
  const auto w = std::make_shared<const rs::transformer_weights<double>>(rs::read_transformer<double>(*s, names(1)));
  const std::vector<int> ids = sequence(12);
  rs::transformer_policy<double, rs::sink_window> shrink(w, rs::sink_window{2, 3});
  rs::transformer_policy<double, rs::sink_window> append(w, rs::sink_window{2, 3},
                                                         {.rope_positions = rs::position_mode::append});
  double worst = 0.0, apart = 0.0;
  for (std::size_t t = 0; t < ids.size(); ++t) {
    // what the cache shows token t: the rows kept after the previous token, then t itself, at 0..|K|
    std::vector<int> visible;
    for (const std::size_t k : shrink.kept()) visible.push_back(ids[k]);
    visible.push_back(ids[t]);
    const auto want = full_logits(*s, visible, lm_one_block);
    const std::span<const double> got = shrink.step(ids[t]);
    worst = std::max(worst, distance(got, want.back()));
    const std::span<const double> other = append.step(ids[t]);
    if (t >= 6) apart = std::max(apart, distance(other, want.back()));
    std::vector<std::size_t> contiguous(shrink.size());
    for (std::size_t r = 0; r < contiguous.size(); ++r) contiguous[r] = r;
    CHECK(shrink.rotary_positions() == contiguous);
    CHECK(shrink.size() == std::min<std::size_t>(t + 1, 5));
  }
  INFO("largest logit difference " << worst << "; append mode's after eviction " << apart);
  CHECK(worst <= 1e-10);
  CHECK(apart > 1e-3);  // the modes part after the first eviction
}

TEST_CASE("rotary model errors name the culprit", "[reasoning][rope]") {
  auto s = random_model<nn::mask::causal, 1>(3, lm_one_block);
  CHECK_THROWS_WITH(rs::read_transformer<double>(*s, {.positions = "", .blocks = {"blk0"}}),
                    Catch::Contains("\"blk0\" has rotary tables") && Catch::Contains("rope_theta"));
  CHECK_THROWS_WITH(rs::read_transformer<double>(*s, {.positions = "", .blocks = {"blk0"}, .rope_theta = 1.0}),
                    Catch::Contains("set transformer_names::rope_theta to its base (> 1)"));
}
