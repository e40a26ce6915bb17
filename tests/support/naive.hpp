// Test support: seeded random fills and host access for views, shared by the numeric tests.
#pragma once
#include <Kokkos_Core.hpp>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace tensorlogic::test {

// Fills a host-accessible view with uniform values in [lo, hi) from a fixed seed.
template <class View>
void fill_random(View v, unsigned seed, double lo = -1.0, double hi = 1.0) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  auto* p = v.data();
  for (std::size_t k = 0; k < v.size(); ++k) p[k] = static_cast<typename View::non_const_value_type>(dist(gen));
}

// n values uniform in [lo, hi) from a fixed seed (64-bit Mersenne Twister).
template <class T>
std::vector<T> random_values(std::size_t n, std::uint64_t seed, double lo = -1.0, double hi = 1.0) {
  std::mt19937_64 g(seed);
  std::uniform_real_distribution<double> d(lo, hi);
  std::vector<T> out(n);
  for (auto& x : out) x = static_cast<T>(d(g));
  return out;
}

// Fills a relation (uint8 view) with 1s at density p.
template <class View>
void fill_bernoulli(View v, unsigned seed, double p) {
  std::mt19937 gen(seed);
  std::bernoulli_distribution dist(p);
  auto* d = v.data();
  for (std::size_t k = 0; k < v.size(); ++k) d[k] = dist(gen) ? 1 : 0;
}

inline double tolerance(float) { return 1e-4; }
inline double tolerance(double) { return 1e-10; }

}  // namespace tensorlogic::test
