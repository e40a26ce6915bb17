// Reasoning in embedding space (Tensor Logic §5): a random relation over 64 objects is embedded as
// EmbR = R(x, y) Emb(x, i) Emb(y, j) (one pass over its tuples) and read back through D[x, y] = EmbR Emb Emb.
// Prints, for each embedding dimension, the RMS error of the scores against the Boolean relation, the largest
// score error, and how many of the 64 x 64 answers differ from the Boolean relation after the T = 0 threshold.
//
//   example_embedding_reasoning [max-dimension]      (default 512; the docs table uses 4096)
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <set>
#include <tensorlogic/logic.hpp>
#include <utility>

namespace tl = tensorlogic;

int main(int argc, char** argv) {
  const std::size_t max_dim = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 512;
  const std::size_t n = 64, tuples = 200;
  std::mt19937_64 g(2025);
  std::set<std::pair<tl::logic::id_t, tl::logic::id_t>> rel;
  while (rel.size() < tuples)
    rel.insert({static_cast<tl::logic::id_t>(g() % n), static_cast<tl::logic::id_t>(g() % n)});
  tl::logic::tuple_set r(2);
  for (auto [a, b] : rel) {
    const tl::logic::id_t t[2] = {a, b};
    r.insert(t);
  }
  std::printf("relation: %zu objects, %zu tuples\n", n, tuples);
  std::printf("%6s  %10s  %10s  %14s  %22s\n", "D", "rms error", "max error", "wrong at T=0", "sqrt(tuples / D)");
  int status = 0;
  double previous = 1e300;
  for (std::size_t dim = 64; dim <= max_dim; dim *= 2) {
    const tl::logic::embedding_space space(n, dim, 7);
    const auto scores = space.scores(space.embed(r));
    double sum = 0, worst = 0;
    std::size_t wrong = 0;
    for (std::size_t x = 0; x < n; ++x)
      for (std::size_t y = 0; y < n; ++y) {
        const double truth = rel.count({static_cast<tl::logic::id_t>(x), static_cast<tl::logic::id_t>(y)}) ? 1 : 0;
        const double e = scores(x, y) - truth;
        sum += e * e;
        worst = std::max(worst, std::abs(e));
        wrong += tl::logic::soft_truth(scores(x, y), 0.0) != truth;
      }
    const double rms = std::sqrt(sum / static_cast<double>(n * n));
    std::printf("%6zu  %10.4f  %10.4f  %14zu  %22.4f\n", dim, rms, worst, wrong,
                std::sqrt(static_cast<double>(tuples) / static_cast<double>(dim)));
    if (rms >= previous) status = 1;  // the error must fall as D grows
    previous = rms;
  }
  std::printf(status ? "check: FAILED (error did not fall)\n" : "check: ok\n");
  return status;
}
