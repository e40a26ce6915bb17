// Test support for the decoding tests of small tl::nn language models: random weights drawn so that every term of a
// transformer block is exercised (norm gains near 1, nonzero norm shifts and biases), random token sequences, and the
// largest difference between two rows of logits.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include <tensorlogic/tensorlogic.hpp>

namespace tensorlogic::test {

// Fills a tensor of the store with normal(mean, spread) draws.
template <class Store, class Sym>
void randomize(Store& s, const Sym& sym, std::mt19937_64& gen, double mean, double spread) {
  auto& view = s[sym];
  auto host = Kokkos::create_mirror_view(view);
  std::normal_distribution<double> nd(mean, spread);
  for (std::size_t k = 0; k < host.span(); ++k) host.data()[k] = static_cast<typename Sym::value_type>(nd(gen));
  Kokkos::deep_copy(view, host);
}

// A transformer block's norms and biases, which nn::init sets to 1 and 0.
template <class Store, class Block>
void randomize_block(Store& s, const Block& b, std::mt19937_64& gen) {
  randomize(s, b.ln1.g, gen, 1.0, 0.2);
  randomize(s, b.ln1.b, gen, 0.0, 0.2);
  randomize(s, b.ln2.g, gen, 1.0, 0.2);
  randomize(s, b.ln2.b, gen, 0.0, 0.2);
  randomize(s, b.att.bo, gen, 0.0, 0.2);
  randomize(s, b.ff.template layer<0>.b, gen, 0.0, 0.2);
  randomize(s, b.ff.template layer<1>.b, gen, 0.0, 0.2);
}

// `count` tokens drawn uniformly from [0, vocab).
inline std::vector<int> random_tokens(std::uint64_t seed, int vocab, int count) {
  std::mt19937_64 gen(seed);
  std::uniform_int_distribution<int> d(0, vocab - 1);
  std::vector<int> ids(static_cast<std::size_t>(count));
  for (int& t : ids) t = d(gen);
  return ids;
}

// max_c |a[c] - b[c]| over b's entries.
template <class T>
double max_difference(std::span<const T> a, const std::vector<double>& b) {
  double worst = 0.0;
  for (std::size_t c = 0; c < b.size(); ++c) worst = std::max(worst, std::abs(static_cast<double>(a[c]) - b[c]));
  return worst;
}

}  // namespace tensorlogic::test
