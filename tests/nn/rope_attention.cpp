// nn::attention with a rotary position embedding (nn::mask_kind::rope): the program's output against a naive
// reference that rotates each query and key row with reasoning::rope (rotate-half pairing) and attends with a causal
// softmax; the scores depend on relative positions only (shifting every position leaves the output unchanged, other
// positions change it); a second base theta; and the tables' error names the module.
#include <catch2/catch.hpp>

#include <cmath>
#include <span>
#include <vector>

#include <tensorlogic/tensorlogic.hpp>

namespace tl = tensorlogic;
namespace nn = tensorlogic::nn;
namespace rs = tensorlogic::reasoning;

namespace {
inline constexpr tl::index<"n"> n;
inline constexpr tl::index<"p"> p;
inline constexpr tl::index<"q"> q;
inline constexpr tl::index<"e"> e;
inline constexpr tl::tensor<"X", double, 3> X;
inline constexpr tl::tensor<"Y", double, 3> Y;

constexpr long batch = 2, len = 6, width = 5, heads = 2, hd = 4;

template <class Att, class Store>
void fill_input(Store& s, const Att&) {
  auto x = s[X];
  for (long b = 0; b < batch; ++b)
    for (long t = 0; t < len; ++t)
      for (long c = 0; c < width; ++c) x(b, t, c) = std::sin(0.7 * static_cast<double>(b * 31 + t * 7 + c) + 0.3);
}

// Y from the store's weights by loops: Q, K, V per head, rows rotated to `positions` by reasoning::rope, causal.
template <class Att, class Store>
std::vector<double> reference(Store& s, const Att& att, const rs::rope& rope, const std::vector<std::size_t>& positions) {
  auto x = s[X];
  auto wq = s[att.Wq], wk = s[att.Wk], wv = s[att.Wv], wo = s[att.Wo];
  auto bo = s[att.bo];
  const double scale = s[att.scale]();
  std::vector<double> y(batch * len * width, 0.0);
  for (long b = 0; b < batch; ++b)
    for (long h = 0; h < heads; ++h) {
      std::vector<float> qr(len * hd), kr(len * hd);  // reasoning::rope rotates float rows
      std::vector<double> qd(len * hd), kd(len * hd), vd(len * hd);
      for (long t = 0; t < len; ++t)
        for (long d = 0; d < hd; ++d) {
          double sq = 0, sk = 0, sv = 0;
          for (long c = 0; c < width; ++c) {
            sq += wq(h, d, c) * x(b, t, c);
            sk += wk(h, d, c) * x(b, t, c);
            sv += wv(h, d, c) * x(b, t, c);
          }
          qd[t * hd + d] = sq;
          kd[t * hd + d] = sk;
          vd[t * hd + d] = sv;
        }
      // rotate in double: the same pairing and frequencies as rope::rotate, which the float rows cross-check
      auto rotate = [&](std::vector<double>& rows) {
        for (long t = 0; t < len; ++t)
          for (long i = 0; i < hd / 2; ++i) {
            const double angle = static_cast<double>(positions[t]) * rope.frequency(i);
            const double a = rows[t * hd + i], c = rows[t * hd + i + hd / 2];
            rows[t * hd + i] = a * std::cos(angle) - c * std::sin(angle);
            rows[t * hd + i + hd / 2] = c * std::cos(angle) + a * std::sin(angle);
          }
      };
      for (long k = 0; k < len * hd; ++k) {
        qr[k] = static_cast<float>(qd[k]);
        kr[k] = static_cast<float>(kd[k]);
      }
      rotate(qd);
      rotate(kd);
      rope.rotate_rows(qr, 1, positions);
      for (long k = 0; k < len * hd; ++k) REQUIRE(std::abs(qr[k] - qd[k]) < 1e-5);
      for (long t = 0; t < len; ++t) {
        std::vector<double> w(t + 1);
        double mx = -1e300, total = 0;
        for (long u = 0; u <= t; ++u) {
          double dot = 0;
          for (long d = 0; d < hd; ++d) dot += qd[t * hd + d] * kd[u * hd + d];
          w[u] = dot * scale;
          mx = std::max(mx, w[u]);
        }
        for (double& v : w) total += v = std::exp(v - mx);
        for (long c = 0; c < width; ++c) {
          double acc = 0;
          for (long d = 0; d < hd; ++d) {
            double o = 0;
            for (long u = 0; u <= t; ++u) o += w[u] / total * vd[u * hd + d];
            acc += wo(c, h, d) * o;
          }
          y[(b * len + t) * width + c] += acc;
        }
      }
    }
  for (long b = 0; b < batch; ++b)
    for (long t = 0; t < len; ++t)
      for (long c = 0; c < width; ++c) y[(b * len + t) * width + c] += bo(c);
  return y;
}

template <class Store>
double max_difference(Store& s, const std::vector<double>& ref) {
  auto y = s[Y];
  double worst = 0;
  for (long b = 0; b < batch; ++b)
    for (long t = 0; t < len; ++t)
      for (long c = 0; c < width; ++c)
        worst = std::max(worst, std::abs(y(b, t, c) - ref[(b * len + t) * width + c]));
  return worst;
}
}  // namespace

TEST_CASE("rotary attention equals rotated rows attended by loops; relative positions only", "[nn][rope]") {
  constexpr nn::attention<"ra", double, nn::mask::causal.rope(hd)> att;
  static_assert(decltype(att.hd)::extent == hd, "the rotary head width is a static extent");
  constexpr auto prog = att(Y(n, p, e), X(n, p, e), q);
  tl::store s(prog, tl::extents(n = batch, p = len, q = len, e = width, att.head = heads));
  nn::init(s, 7, att);  // prepare fills the tables for positions 0..len-1
  fill_input(s, att);
  {
    auto bo = s[att.bo];
    for (long c = 0; c < width; ++c) bo(c) = 0.1 * static_cast<double>(c) - 0.2;
  }
  const rs::rope rope{static_cast<std::size_t>(hd), 10000.0, rs::rope_layout::rotate_half};
  std::vector<std::size_t> base(len);
  for (long t = 0; t < len; ++t) base[t] = static_cast<std::size_t>(t);

  tl::eval(prog, s);
  const std::vector<double> ref = reference(s, att, rope, base);
  CHECK(max_difference(s, ref) < 1e-12);

  // every position shifted by 9: the same output (q K depends on p - q only)
  std::vector<double> shifted(len);
  for (long t = 0; t < len; ++t) shifted[t] = static_cast<double>(t + 9);
  att.set_positions(s, shifted);
  tl::eval(prog, s);
  CHECK(max_difference(s, ref) < 1e-12);

  // positions 0, 2, 4, ...: a different output, equal to the reference at those positions
  std::vector<double> spread(len);
  std::vector<std::size_t> spread_ids(len);
  for (long t = 0; t < len; ++t) spread_ids[t] = static_cast<std::size_t>(2 * t), spread[t] = static_cast<double>(2 * t);
  att.set_positions(s, spread);
  tl::eval(prog, s);
  CHECK(max_difference(s, ref) > 1e-4);
  CHECK(max_difference(s, reference(s, att, rope, spread_ids)) < 1e-12);

  // a table for the wrong number of positions is refused, naming the module
  std::vector<double> short_list(len - 1, 0.0);
  CHECK_THROWS_WITH(att.set_positions(s, short_list), Catch::Contains("nn::attention ra") &&
                                                          Catch::Contains("5 positions of head width 4"));
}

TEST_CASE("rotary attention with another base theta", "[nn][rope]") {
  constexpr nn::attention<"rb", double, nn::mask::causal.rope(hd, 500.0)> att;
  constexpr auto prog = att(Y(n, p, e), X(n, p, e), q);
  tl::store s(prog, tl::extents(n = batch, p = len, q = len, e = width, att.head = heads));
  nn::init(s, 3, att);
  fill_input(s, att);
  tl::eval(prog, s);
  std::vector<std::size_t> base(len);
  for (long t = 0; t < len; ++t) base[t] = static_cast<std::size_t>(t);
  const rs::rope rope{static_cast<std::size_t>(hd), 500.0, rs::rope_layout::rotate_half};
  CHECK(max_difference(s, reference(s, att, rope, base)) < 1e-12);
  const rs::rope other{static_cast<std::size_t>(hd), 10000.0, rs::rope_layout::rotate_half};
  CHECK(max_difference(s, reference(s, att, other, base)) > 1e-4);
}
