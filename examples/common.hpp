// Shared by the examples: a deterministic random generator (the same numbers on every platform), a checker that
// compares the library's result with the example's own naive loop, and printing helpers.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <ostream>
#include <string>
#include <vector>
#include <xtensor/xarray.hpp>

namespace examples {

// splitmix64: fixed seed in, the same sequence out everywhere.
struct rng {
  std::uint64_t state;
  explicit rng(std::uint64_t seed) : state(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform(double lo, double hi) { return lo + (hi - lo) * static_cast<double>(next() >> 11) * 0x1.0p-53; }
};

// An array of the given shape filled with uniform numbers in [lo, hi).
inline xt::xarray<double> random_array(rng& g, const std::vector<std::size_t>& shape, double lo, double hi) {
  xt::xarray<double> a = xt::xarray<double>::from_shape(shape);
  for (auto& v : a) v = g.uniform(lo, hi);
  return a;
}

// Compares values with a relative tolerance, reports the first few mismatches, and gives the example's exit code.
class checker {
 public:
  checker(std::ostream& out, std::string what, double tolerance = 1e-12)
      : out_(out), what_(std::move(what)), tolerance_(tolerance) {}

  void operator()(double got, double want, const std::string& where) {
    ++checked_;
    const double err = std::abs(got - want);
    const bool bad = !(err <= tolerance_ * (1.0 + std::abs(want)));  // also catches NaN
    worst_ = err > worst_ ? err : worst_;
    if (bad) {
      if (++mismatches_ <= 5)
        out_ << "  MISMATCH " << what_ << " at " << where << ": library " << got << ", naive loop " << want << "\n";
    }
  }
  int result() const {
    char buf[160];
    if (mismatches_ == 0) {
      std::snprintf(buf, sizeof buf, "  check %s: %d values agree with the naive loop (max |error| %.1e)\n",
                    what_.c_str(), checked_, worst_);
      out_ << buf;
      return 0;
    }
    std::snprintf(buf, sizeof buf, "  check %s FAILED: %d of %d values differ from the naive loop\n", what_.c_str(),
                  mismatches_, checked_);
    out_ << buf;
    return 1;
  }

 private:
  std::ostream& out_;
  std::string what_;
  double tolerance_;
  int checked_ = 0;
  int mismatches_ = 0;
  double worst_ = 0;
};

// "name(a, b)", for messages. (Appending rather than `"(" + std::to_string(a)` keeps GCC 12's false -Wrestrict
// warning on string concatenation away.)
template <class... I>
std::string cell(const std::string& name, I... idx) {
  std::string s = name;
  s += '(';
  int k = 0;
  ((s += (k++ ? ", " : ""), s += std::to_string(idx)), ...);
  s += ')';
  return s;
}

inline std::string fixed(double v, int width = 7, int precision = 3) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%*.*f", width, precision, v);
  return buf;
}

// Prints a rank-1 or rank-2 array, one row per line, indented.
template <class A>
void print_array(std::ostream& out, const std::string& name, const A& a, int precision = 3) {
  out << "  " << name << " =\n";
  if (a.dimension() == 1) {
    out << "   ";
    for (std::size_t c = 0; c < a.shape()[0]; ++c) out << ' ' << fixed(static_cast<double>(a(c)), precision + 4, precision);
    out << "\n";
    return;
  }
  for (std::size_t r = 0; r < a.shape()[0]; ++r) {
    out << "   ";
    for (std::size_t c = 0; c < a.shape()[1]; ++c)
      out << ' ' << fixed(static_cast<double>(a(r, c)), precision + 4, precision);
    out << "\n";
  }
}

}  // namespace examples
