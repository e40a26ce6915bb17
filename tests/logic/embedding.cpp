// Reasoning in embedding space: the one-pass embedding equals the Tensor Logic equation
// EmbR(i, j) = R(x, y) Emb(x, i) Emb(y, j) run by tl::eval; at T = 0 extraction gives back the Boolean relation and
// the Boolean program's answers exactly; the retrieval error falls as the dimension grows; chained rules with
// extract -> threshold -> re-embed reach the transitive closure.
#include <catch2/catch.hpp>
#include <tensorlogic/tensorlogic.hpp>

#include "reference.hpp"

namespace tl = tensorlogic;
using namespace logic_reference;
using tl::logic::id_t;

namespace {
inline constexpr tl::index<"x"> x;
inline constexpr tl::index<"y"> y;
inline constexpr tl::index<"i"> i;
inline constexpr tl::index<"j"> j;
inline constexpr tl::index<"a"> a;
inline constexpr tl::index<"b"> b;
inline constexpr tl::relation<"R", 2> R;
inline constexpr tl::tensor<"Emb", double, 2> Emb;
inline constexpr tl::tensor<"EmbR", double, 2> EmbR;
inline constexpr tl::tensor<"Q", double, 2> Q;
inline constexpr tl::scalar<"T", double> T;

tl::logic::tuple_set as_tuples(const set2& s) {
  tl::logic::tuple_set t(2);
  for (auto [u, v] : s) {
    const id_t row[2] = {u, v};
    t.insert(row);
  }
  return t;
}
set2 as_set2(const tl::logic::tuple_set& t) {
  set2 out;
  for (std::size_t k = 0; k < t.size(); ++k) out.insert({t.row(k)[0], t.row(k)[1]});
  return out;
}
}  // namespace

TEST_CASE("the one-pass embedding and its graded answers equal the Tensor Logic program run by tl::eval", "[logic]") {
  const std::size_t n = 24, dim = 48;
  const set2 rel = random_graph(n, 40, 5);
  const tl::logic::embedding_space space(n, dim, 3);
  const auto embedded = space.embed(as_tuples(rel));
  for (double temperature : {0.0, 0.05, 0.5}) {
    constexpr auto prog = tl::program(EmbR(i, j) = R(x, y) * Emb(x, i) * Emb(y, j),
                                      Q(a, b) = tl::sigmoid(EmbR(i, j) * Emb(a, i) * Emb(b, j) - 0.5, T));
    tl::store s(prog, tl::extents(x = n, y = n, a = n, b = n, i = dim, j = dim));
    std::vector<std::uint8_t> r(n * n, 0);
    for (auto [u, v] : rel) r[u * n + v] = 1;
    tl::bind(s, R, r.data(), r.size());
    tl::bind(s, Emb, space.vectors().v.data(), space.vectors().v.size());
    tl::bind(s, T, temperature);
    tl::eval(prog, s);
    const auto emb_r = tl::to_xtensor(s[EmbR]);
    const auto q = tl::to_xtensor(s[Q]);
    for (std::size_t p = 0; p < dim; ++p)
      for (std::size_t k = 0; k < dim; ++k) REQUIRE(emb_r(p, k) == Approx(embedded(p, k)).margin(1e-12));
    const auto truth = space.truth(embedded, temperature);
    for (std::size_t u = 0; u < n; ++u)
      for (std::size_t v = 0; v < n; ++v) REQUIRE(q(u, v) == Approx(truth(u, v)).margin(1e-9));
  }
}

TEST_CASE("at T = 0 extraction returns the Boolean relation and the Boolean program's answers exactly", "[logic]") {
  const std::size_t n = 40;
  const set2 edge = random_graph(n, 50, 12);
  const tl::logic::embedding_space space(n, 512, 9);
  const auto emb_edge = space.embed(as_tuples(edge));
  CHECK(as_set2(space.extract(emb_edge)) == edge);
  // The Gram matrix at T = 0 is the identity (every distinct pair has cosine below 1/2).
  const auto g = space.gram(0.0);
  for (std::size_t u = 0; u < n; ++u)
    for (std::size_t v = 0; v < n; ++v) CHECK(g(u, v) == (u == v ? 1.0 : 0.0));
  // A chain rule, Two(x, z) <- Edge(x, y), Edge(y, z), as a product of embedded relations (the product's noise
  // grows with the path counts, so a wider space).
  const set2 small = random_graph(24, 30, 13);
  const tl::logic::embedding_space wide(24, 1024, 10);
  const auto emb_small = wide.embed(as_tuples(small));
  set2 two;
  for (auto [u, v] : small)
    for (auto [v2, w] : small)
      if (v == v2) two.insert({u, w});
  CHECK(as_set2(wide.extract(wide.compose(emb_small, emb_small))) == two);
  // Graded answers: T > 0 keeps the order of the scores and tends to the step as T falls.
  const auto t1 = space.truth(emb_edge, 0.1), t2 = space.truth(emb_edge, 0.01);
  for (auto [u, v] : edge) CHECK(t2(u, v) >= t1(u, v));
  REQUIRE_THROWS_WITH(space.truth(emb_edge, -1.0), Catch::Matchers::Contains("temperature -1"));
  REQUIRE_THROWS_WITH(space.score(emb_edge, 40, 0), Catch::Matchers::Contains("object id 40 is outside"));
}

TEST_CASE("transitive closure in embedding space: compose, extract, threshold, re-embed", "[logic]") {
  const std::size_t n = 14;
  const set2 edge = random_graph(n, 16, 21);
  const tl::logic::embedding_space space(n, 512, 4);
  const auto emb_edge = space.embed(as_tuples(edge));
  auto path = emb_edge;
  for (int step = 0; step < static_cast<int>(n); ++step) {
    auto next = space.compose(path, emb_edge);
    for (std::size_t k = 0; k < next.v.size(); ++k) next.v[k] += emb_edge.v[k];
    next = space.reembed(next);
    const bool stable = as_set2(space.extract(next)) == as_set2(space.extract(path));
    path = std::move(next);
    if (stable) break;
  }
  CHECK(as_set2(space.extract(path)) == closure(edge));
}

TEST_CASE("retrieval error falls as the embedding dimension grows", "[logic]") {
  const std::size_t n = 64;
  const set2 rel = random_graph(n, 200, 33);
  std::vector<double> rms;
  for (std::size_t dim : {32u, 128u, 512u}) {
    const tl::logic::embedding_space space(n, dim, 17);
    const auto s = space.scores(space.embed(as_tuples(rel)));
    double sum = 0;
    for (std::size_t u = 0; u < n; ++u)
      for (std::size_t v = 0; v < n; ++v) {
        const double e = s(u, v) - (rel.count({static_cast<id_t>(u), static_cast<id_t>(v)}) ? 1.0 : 0.0);
        sum += e * e;
      }
    rms.push_back(std::sqrt(sum / static_cast<double>(n * n)));
  }
  CHECK(rms[1] < rms[0] * 0.7);
  CHECK(rms[2] < rms[1] * 0.7);
  CHECK(rms[2] < 0.2);
}
