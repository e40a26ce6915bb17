// The host kernel walks stretches of the last left-hand-side subscript inside one work item (a divisor of its
// extent, at most 256): elementwise maps, broadcasts and reductions over shapes whose last extent is small, a
// multiple of 256, larger with a divisor below 256, and prime above 256 (one cell per item), against naive loops.
#include <catch2/catch.hpp>
#include <cmath>
#include <random>
#include <tensorlogic/tensorlogic.hpp>
#include <vector>

namespace tl = tensorlogic;

namespace {
inline constexpr tl::index<"i"> i;
inline constexpr tl::index<"j"> j;
inline constexpr tl::index<"k"> k;
inline constexpr tl::tensor<"A", double, 2> A;
inline constexpr tl::tensor<"B", double, 2> B;
inline constexpr tl::tensor<"v", double, 1> v;
inline constexpr tl::tensor<"Y", double, 2> Y;
inline constexpr tl::tensor<"Z", double, 3> Z;
inline constexpr tl::tensor<"X3", double, 3> X3;

constexpr auto map = tl::program(Y(i, j) = tl::tanh(A(i, j)) * B(i, j) + v(j));
constexpr auto transpose_sum = tl::program(Y(i, j) = A(j, i) + 2.0 * B(i, j));
constexpr auto reduce_middle = tl::program(Y(i, k) = X3(i, j, k) * v(j));
constexpr auto broadcast = tl::program(Z(i, j, k) = A(i, j) * v(k));

std::vector<double> random_values(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 g(seed);
  std::uniform_real_distribution<double> d(-1.0, 1.0);
  std::vector<double> out(n);
  for (auto& x : out) x = d(g);
  return out;
}
}  // namespace

TEST_CASE("row walks give the same cells as one cell per work item", "[exec]") {
  for (long last : {1L, 7L, 256L, 300L, 512L, 257L}) {
    INFO("last extent " << last);
    const long rows = 3;
    {
      tl::store s(map, tl::extents(i = rows, j = last));
      const auto a = random_values(rows * last, 1), b = random_values(rows * last, 2), vv = random_values(last, 3);
      tl::bind(s, A, a.data(), a.size());
      tl::bind(s, B, b.data(), b.size());
      tl::bind(s, v, vv.data(), vv.size());
      tl::eval(map, s);
      for (long r = 0; r < rows; ++r)
        for (long c = 0; c < last; ++c)
          REQUIRE(s[Y](r, c) == Approx(std::tanh(a[r * last + c]) * b[r * last + c] + vv[c]).epsilon(1e-14));
    }
    {
      tl::store s(transpose_sum, tl::extents(i = last, j = last));
      const auto a = random_values(last * last, 4), b = random_values(last * last, 5);
      tl::bind(s, A, a.data(), a.size());
      tl::bind(s, B, b.data(), b.size());
      tl::eval(transpose_sum, s);
      for (long r = 0; r < last; ++r)
        for (long c = 0; c < last; ++c)
          REQUIRE(s[Y](r, c) == Approx(a[c * last + r] + 2.0 * b[r * last + c]).epsilon(1e-14));
    }
    {
      const long mid = 5;
      tl::store s(reduce_middle, tl::extents(i = rows, j = mid, k = last));
      const auto x = random_values(rows * mid * last, 6), vv = random_values(mid, 7);
      tl::bind(s, X3, x.data(), x.size());
      tl::bind(s, v, vv.data(), vv.size());
      tl::eval(reduce_middle, s);
      for (long r = 0; r < rows; ++r)
        for (long c = 0; c < last; ++c) {
          double want = 0;
          for (long m = 0; m < mid; ++m) want += x[(r * mid + m) * last + c] * vv[m];
          REQUIRE(s[Y](r, c) == Approx(want).epsilon(1e-13));
        }
    }
    {
      tl::store s(broadcast, tl::extents(i = 2, j = 3, k = last));
      const auto a = random_values(6, 8), vv = random_values(last, 9);
      tl::bind(s, A, a.data(), a.size());
      tl::bind(s, v, vv.data(), vv.size());
      tl::eval(broadcast, s);
      for (long r = 0; r < 2; ++r)
        for (long m = 0; m < 3; ++m)
          for (long c = 0; c < last; ++c) REQUIRE(s[Z](r, m, c) == Approx(a[r * 3 + m] * vv[c]).epsilon(1e-14));
    }
  }
}
