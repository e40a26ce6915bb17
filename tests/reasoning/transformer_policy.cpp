// The transformer chunk policy: its cached token-by-token decode gives the logits of the full-sequence forward pass of
// the same tl::nn program (causal mask) at every position, in float and double; a sink + window cache keeps exactly the
// rows token_cache<sink_window> keeps and stays at sink + window after warm-up, and its logits after eviction are the
// full forward pass of the program with nn::mask::sink_window; reset starts a fresh context without
// reallocating; chunked_generate with the policy produces the prompts of the pinned_head_tail layout; and the errors
// name the missing tensor, the position table and the cache capacity.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstddef>
#include <memory>
#include <random>
#include <string>
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

constexpr int vocab = 7, width = 8, heads = 2, hidden = 12, context = 12;

// emb + Pos -> blk0 -> blk1 -> lnf -> head: logits Z(n, p, v). M: the blocks' attention mask.
template <class T, nn::mask_kind M = nn::mask::causal>
struct model {
  static constexpr tl::tensor<"Tok", T, 3> Tok{};
  static constexpr tl::tensor<"Pos", T, 2> Pos{};
  static constexpr tl::tensor<"Xe", T, 3> Xe{};
  static constexpr tl::tensor<"X0", T, 3> X0{};
  static constexpr tl::tensor<"X1", T, 3> X1{};
  static constexpr tl::tensor<"X2", T, 3> X2{};
  static constexpr tl::tensor<"X3", T, 3> X3{};
  static constexpr tl::tensor<"Z", T, 3> Z{};
  static constexpr nn::embedding<"emb", T> emb{};
  static constexpr nn::transformer_block<"blk0", T, M> blk0{};
  static constexpr nn::transformer_block<"blk1", T, M> blk1{};
  static constexpr nn::layer_norm<"lnf", T> lnf{};
  static constexpr nn::linear<"head", T> head{};
};

template <class T, nn::mask_kind Mask = nn::mask::causal>
constexpr auto make_lm() {
  using M = model<T, Mask>;
  return tl::compose(M::emb(M::Xe(n, p, e), M::Tok(n, p, v)), M::X0(n, p, e) = M::Xe(n, p, e) + M::Pos(p, e),
                     M::blk0(M::X1(n, p, e), M::X0(n, p, e), q), M::blk1(M::X2(n, p, e), M::X1(n, p, e), q),
                     M::lnf(M::X3(n, p, e), M::X2(n, p, e)), M::head(M::Z(n, p, v), M::X3(n, p, e)));
}
constexpr auto lm_float = make_lm<float>();
constexpr auto lm_double = make_lm<double>();
// the same model with StreamingLLM's mask: key q visible from p when q < 2 or p - q < 4 -- what a cache of 2 sink
// tokens and a window of the 3 previous tokens shows the token it decodes
constexpr auto lm_sink_window = make_lm<double, nn::mask::sink_window(2, 4)>();

template <class T>
const auto& lm() {
  if constexpr (std::is_same_v<T, float>)
    return lm_float;
  else
    return lm_double;
}

// A store of the program with random weights (biases and norm parameters too, so every term is exercised); the
// weights depend on the seed only, not on the mask.
template <class T, class Prog = std::decay_t<decltype(lm<T>())>>
auto random_model(std::uint64_t seed, const Prog& prog = lm<T>()) {
  using M = model<T>;
  auto s = std::make_unique<tl::store<Prog>>(
      prog, tl::extents(n = 1, p = context, q = context, e = width, v = vocab, M::blk0.att.head = heads,
                           M::blk0.att.hd = width / heads, M::blk0.ff.template h<0> = hidden,
                           M::blk1.att.head = heads, M::blk1.att.hd = width / heads,
                           M::blk1.ff.template h<0> = hidden));
  nn::init(*s, seed, M::emb, M::blk0, M::blk1, M::lnf, M::head);
  std::mt19937_64 gen(seed + 1);
  tl::test::randomize(*s, M::Pos, gen, 0.0, 0.5);
  tl::test::randomize_block(*s, M::blk0, gen);
  tl::test::randomize_block(*s, M::blk1, gen);
  tl::test::randomize(*s, M::lnf.g, gen, 1.0, 0.2);
  tl::test::randomize(*s, M::lnf.b, gen, 0.0, 0.2);
  tl::test::randomize(*s, M::head.b, gen, 0.0, 0.2);
  return s;
}

rs::transformer_names names() { return {.blocks = {"blk0", "blk1"}}; }

// The full-sequence forward pass: logits[t][c] for every position t of `ids` (context tokens).
template <class T, class Store, class Prog = std::decay_t<decltype(lm<T>())>>
std::vector<std::vector<double>> full_logits(Store& s, const std::vector<int>& ids, const Prog& prog = lm<T>()) {
  nn::one_hot(s, model<T>::Tok, ids);
  tl::eval(prog, s);
  auto z = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace{}, s[model<T>::Z]);
  std::vector<std::vector<double>> out(ids.size(), std::vector<double>(vocab));
  for (std::size_t t = 0; t < ids.size(); ++t)
    for (int c = 0; c < vocab; ++c) out[t][static_cast<std::size_t>(c)] = z(0, t, c);
  return out;
}

template <class T>
double tolerance() {
  return std::is_same_v<T, float> ? 1e-5 : 1e-10;
}

std::vector<int> sequence(std::uint64_t seed) { return tl::test::random_tokens(seed, vocab, context); }
}  // namespace

TEMPLATE_TEST_CASE("cached decode equals the full causal forward pass at every position", "[reasoning][transformer]",
                   float, double) {
  using T = TestType;
  auto s = random_model<T>(11);
  const rs::transformer_weights<T> w = rs::read_transformer<T>(*s, names());
  CHECK(w.vocab == vocab);
  CHECK(w.width == width);
  CHECK(w.heads == heads);
  CHECK(w.head_dim == width / heads);
  CHECK(w.hidden == hidden);
  CHECK(w.context == context);
  CHECK(w.layers() == 2);
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    const std::vector<int> ids = sequence(seed);
    const auto full = full_logits<T>(*s, ids);
    rs::transformer_policy<T> policy(w, rs::full_context{context});
    double worst = 0.0;
    for (std::size_t t = 0; t < ids.size(); ++t) {
      const std::span<const T> logits = policy.step(ids[t]);
      REQUIRE(logits.size() == static_cast<std::size_t>(vocab));
      for (int c = 0; c < vocab; ++c)
        worst = std::max(worst, std::abs(static_cast<double>(logits[static_cast<std::size_t>(c)]) -
                                         full[t][static_cast<std::size_t>(c)]));
      CHECK(policy.size() == t + 1);
    }
    INFO("largest logit difference " << worst);
    CHECK(worst <= tolerance<T>());
    CHECK(policy.peak_size() == ids.size());
    CHECK(policy.peak_kv_bytes() == ids.size() * 2 * 2 * width * sizeof(T));
    // A reset starts a fresh context in the same storage: the same logits again, nothing reallocated.
    const T* storage = policy.key(0, 0, 0).data();
    policy.reset();
    CHECK(policy.size() == 0);
    CHECK(policy.seen() == 0);
    worst = 0.0;
    for (std::size_t t = 0; t < ids.size(); ++t) {
      const std::span<const T> logits = policy.step(ids[t]);
      for (int c = 0; c < vocab; ++c)
        worst = std::max(worst, std::abs(static_cast<double>(logits[static_cast<std::size_t>(c)]) -
                                         full[t][static_cast<std::size_t>(c)]));
    }
    CHECK(worst <= tolerance<T>());
    CHECK(policy.key(0, 0, 0).data() == storage);
  }
}

TEMPLATE_TEST_CASE("sink + window cache: the rows of token_cache<sink_window>, constant length after warm-up",
                   "[reasoning][transformer]", float, double) {
  using T = TestType;
  auto s = random_model<T>(5);
  const auto w = std::make_shared<const rs::transformer_weights<T>>(rs::read_transformer<T>(*s, names()));
  const rs::sink_window policy_window{2, 3};
  rs::transformer_policy<T, rs::sink_window> policy(w, policy_window);
  rs::transformer_policy<T> full(w, rs::full_context{context});
  rs::token_cache<rs::sink_window> book(policy_window);
  CHECK(policy.capacity() == 6);
  const std::vector<int> ids = sequence(9);
  for (std::size_t t = 0; t < ids.size(); ++t) {
    const std::span<const T> got = policy.step(ids[t]);
    const std::vector<T> mine(got.begin(), got.end());
    const std::span<const T> ref = full.step(ids[t]);
    book.append();
    // Until the first eviction the cache holds the whole prefix: the logits are the full context's.
    if (t < 2 + 3 + 1)
      for (int c = 0; c < vocab; ++c)
        CHECK(std::abs(static_cast<double>(mine[static_cast<std::size_t>(c)]) -
                       static_cast<double>(ref[static_cast<std::size_t>(c)])) <= tolerance<T>());
    const std::vector<std::size_t> kept(policy.kept().begin(), policy.kept().end());
    CHECK(kept == book.kept());
    CHECK(policy.size() == std::min<std::size_t>(t + 1, 5));
  }
  CHECK(policy.peak_size() == 6);
  CHECK(policy.peak_size() == book.peak_size());
  CHECK(policy.peak_kv_bytes() == 6 * policy.bytes_per_token());
}

TEST_CASE("sink + window cache after eviction equals the full forward pass with the sink + window mask",
          "[reasoning][transformer]") {
  // The cached keys and values of every layer were computed when their token was decoded, over what the cache showed
  // it then; the masked forward pass recomputes every position over the same keys. Absolute learned positions, so no
  // key is re-rotated.
  auto causal = random_model<double>(5);
  auto masked = random_model<double>(5, lm_sink_window);
  const auto w = std::make_shared<const rs::transformer_weights<double>>(rs::read_transformer<double>(*causal, names()));
  for (std::uint64_t seed : {9u, 10u}) {
    const std::vector<int> ids = sequence(seed);
    const auto want = full_logits<double>(*masked, ids, lm_sink_window);
    const auto causal_logits = full_logits<double>(*causal, ids);
    rs::transformer_policy<double, rs::sink_window> policy(w, rs::sink_window{2, 3});
    double worst = 0.0, apart = 0.0;
    for (std::size_t t = 0; t < ids.size(); ++t) {
      const std::span<const double> got = policy.step(ids[t]);
      for (int c = 0; c < vocab; ++c) {
        const auto k = static_cast<std::size_t>(c);
        worst = std::max(worst, std::abs(got[k] - want[t][k]));
        if (t >= 6) apart = std::max(apart, std::abs(got[k] - causal_logits[t][k]));
      }
    }
    INFO("largest logit difference " << worst << "; largest difference from the causal model after eviction "
                                     << apart);
    CHECK(worst <= 1e-10);
    CHECK(apart > 1e-3);  // the eviction matters: the unmasked causal forward differs
  }
}

TEST_CASE("chunked_generate with the transformer policy: prompts of the pinned_head_tail layout",
          "[reasoning][transformer]") {
  auto s = random_model<double>(21);
  const auto w = std::make_shared<const rs::transformer_weights<double>>(rs::read_transformer<double>(*s, names()));
  rs::transformer_policy<double> policy(w, rs::full_context{context});
  const std::vector<rs::token_id> query{1, 2};
  const rs::delethink_options options{.chunk_size = 6, .markovian_size = 3, .iteration_cap = 4, .keep_head = 1};
  const rs::chunked_trace trace = rs::chunked_generate(policy, query, options);
  REQUIRE(trace.chunks() == 4);
  CHECK(trace.stopped == rs::stop_reason::iteration_cap);
  CHECK(trace.trace.size() == options.budget());
  // x_1 = q; ans_l = carry_{l-1} ++ y_l; carry_l = ans_l[:1] ++ ans_l[-2:]; x_{l+1} = q ++ carry_l.
  std::vector<rs::token_id> carry;
  for (std::size_t l = 0; l < trace.chunks(); ++l) {
    std::vector<rs::token_id> expected = query;
    expected.insert(expected.end(), carry.begin(), carry.end());
    CHECK(trace.prompts[l] == expected);
    CHECK(trace.responses[l].size() == options.chunk_budget(l + 1));
    // Each chunk is a fresh context: a new policy decodes the same response from the same prompt.
    rs::transformer_policy<double> fresh(w, rs::full_context{context});
    CHECK(fresh(trace.prompts[l], options.chunk_budget(l + 1)) == trace.responses[l]);
    std::vector<rs::token_id> answer = carry;
    answer.insert(answer.end(), trace.responses[l].begin(), trace.responses[l].end());
    carry = {answer.front(), answer[answer.size() - 2], answer.back()};
  }
  // The cache never held more than one chunk: q + C - 1 tokens (the last generated token is not fed back).
  CHECK(policy.peak_size() == query.size() + options.chunk_size - 1);
  // Greedy decoding is deterministic; temperature sampling is reproducible from its seed.
  rs::transformer_policy<double> hot_a(w, rs::full_context{context}, {.temperature = 1.0, .seed = 3});
  rs::transformer_policy<double> hot_b(w, rs::full_context{context}, {.temperature = 1.0, .seed = 3});
  CHECK(hot_a(query, 8) == hot_b(query, 8));
  // EOS ends a chunk early, and with it the trace.
  const rs::token_id eos = trace.responses[0][2];
  rs::transformer_policy<double> stopper(w, rs::full_context{context}, {.eos = eos});
  const rs::chunked_trace short_trace = rs::chunked_generate(stopper, query, rs::delethink_options{
      .chunk_size = 6, .markovian_size = 3, .iteration_cap = 4, .keep_head = 1, .eos = eos});
  CHECK(short_trace.chunks() == 1);
  CHECK(short_trace.stopped == rs::stop_reason::eos);
  CHECK(short_trace.trace.back() == eos);
}

TEST_CASE("transformer policy errors name the culprit", "[reasoning][transformer]") {
  auto s = random_model<float>(4);
  CHECK_THROWS_WITH(rs::read_transformer<float>(*s, {.blocks = {"blk0", "blk7"}}),
                    Catch::Contains("blk7.att.Wq") && Catch::StartsWith("tensorlogic: "));
  CHECK_THROWS_WITH(rs::read_transformer<float>(*s, {.positions = "Position", .blocks = {"blk0"}}),
                    Catch::Contains("\"Position\""));
  CHECK_THROWS_WITH(rs::read_transformer<float>(*s, {.blocks = {"blk0"}, .rope_theta = 10000.0}),
                    Catch::Contains("block \"blk0\" has no rotary tables"));
  const auto w = std::make_shared<const rs::transformer_weights<float>>(rs::read_transformer<float>(*s, names()));
  rs::transformer_policy<float> small(w, rs::full_context{4});
  CHECK_THROWS_WITH(small(std::vector<rs::token_id>{1, 2, 3, 4, 5}, 1),
                    Catch::Contains("longer than the cache") && Catch::Contains("capacity 4"));
  rs::transformer_policy<float> big(w, rs::full_context{64});
  CHECK_THROWS_WITH(big(std::vector<rs::token_id>{1, 2, 3}, context), Catch::Contains("position table (12 rows)"));
  CHECK_THROWS_WITH(big(std::vector<rs::token_id>{}, 3), Catch::Contains("context is empty"));
  CHECK_THROWS_WITH(big.step(vocab), Catch::Contains("token 7 is outside the vocabulary"));
  CHECK_THROWS_WITH(rs::transformer_policy<float>(w, rs::full_context{0}), Catch::Contains("capacity"));
  CHECK_THROWS_WITH((rs::transformer_policy<float, rs::sink_window>(w, rs::sink_window{2, 0})),
                    Catch::Contains("window"));
}
