// The generic kernel on the host runs a plain left-hand side's cells along its last index together ("last index on
// lanes", exec/lanes.hpp): each read bound once per stretch and per projection point, then read at a stride along
// the lanes. Every case below asserts that its equation takes that path, and checks it against naive loops written
// here: windowed guards with a projection (a max-pool gradient's shape), reads strided along the lane index, reads
// outside their tensor at the stretch's edges, max / min / mean projections with NaN and Inf, projections inside a
// function of the cell (a convolution's sum under its bias and relu), a zero factor before an Inf, same-left-hand-side
// sums (accumulate) and relation heads (logical or), with last extents that give one stretch (1, 7, 256) or several
// of nearly equal length (257: 129 + 128; 300: 2 x 150; 512: 2 x 256; 777: 195 + 3 x 194).
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <limits>
#include <string_view>
#include <tensorlogic/tensorlogic.hpp>
#include <vector>

#include "../support/naive.hpp"

namespace tl = tensorlogic;
using tl::test::random_values;

namespace {
inline constexpr tl::index<"n"> n;
inline constexpr tl::index<"s"> s;
inline constexpr tl::index<"p"> p;
inline constexpr tl::index<"o"> o;
inline constexpr tl::index<"t"> t;
inline constexpr tl::index<"c"> c;
inline constexpr tl::index<"i"> i;
inline constexpr tl::index<"j"> j;
inline constexpr tl::index<"w", 3> w;
inline constexpr tl::tensor<"G", float, 3> G;
inline constexpr tl::tensor<"M", float, 3> M;
inline constexpr tl::tensor<"X", float, 3> X;
inline constexpr tl::tensor<"Y", float, 3> Y;
inline constexpr tl::tensor<"A", double, 2> A;
inline constexpr tl::tensor<"B", double, 2> B;
inline constexpr tl::tensor<"v", double, 1> v;
inline constexpr tl::tensor<"D", double, 2> D;
inline constexpr tl::tensor<"Z", double, 2> Z;
inline constexpr tl::tensor<"E", double, 2> E;
inline constexpr tl::tensor<"F", float, 2> F;
inline constexpr tl::tensor<"Mx", double, 3> Mx;
inline constexpr tl::tensor<"Mn", double, 3> Mn;
inline constexpr tl::tensor<"Me", double, 3> Me;
inline constexpr tl::tensor<"W3", double, 3> W3;
inline constexpr tl::tensor<"W", double, 2> W;
inline constexpr tl::tensor<"X3", double, 3> X3;
inline constexpr tl::tensor<"b", double, 1> b;
inline constexpr tl::tensor<"Q", double, 3> Q;
inline constexpr tl::tensor<"Cv", double, 3> Cv;
inline constexpr tl::relation<"S", 2> S;
inline constexpr tl::relation<"R", 2> R;

constexpr std::string_view lanes_path = "generic kernel (last index on lanes)";
const std::vector<long> last_extents{1, 7, 256, 257, 300, 512, 777};

template <class View, class T>
void copy_in(View view, const std::vector<T>& values) {
  REQUIRE(view.span() == values.size());
  for (std::size_t k = 0; k < values.size(); ++k) view.data()[k] = static_cast<typename View::value_type>(values[k]);
}
}  // namespace

TEST_CASE("lanes: a windowed guard with a summed projection, the max-pool gradient's shape", "[exec][lanes]") {
  // Y(n, s, o) = sum_p [2p <= s <= 2p + 1] G(n, p, o) * (M(n, p, o) - X(n, s, o) <= 0)
  constexpr auto prog = tl::program(
      Y(n, s, o) = (s >= 2 * p) * (s <= 2 * p + 1) * G(n, p, o) * tl::where(M(n, p, o) - X(n, s, o), 0.0, 1.0));
  static_assert(tl::detail::execution_path<0, decltype(prog)>() == lanes_path);
  for (long no : last_extents) {
    INFO("|o| = " << no);
    const long nn = 2, np = 5, ns = 2 * np;
    tl::store st(prog, tl::extents(n = nn, s = ns, p = np, o = no));
    auto g = random_values<float>(nn * np * no, 1);
    auto m = random_values<float>(nn * np * no, 2);
    auto x = random_values<float>(nn * ns * no, 3);
    // make some window cells equal to their maximum, as a pooling's are
    for (long a = 0; a < nn; ++a)
      for (long q = 0; q < np; ++q)
        for (long k = 0; k < no; ++k) x[(a * ns + 2 * q + (k % 2)) * no + k] = m[(a * np + q) * no + k];
    copy_in(st[G], g);
    copy_in(st[M], m);
    copy_in(st[X], x);
    tl::eval(prog, st);
    for (long a = 0; a < nn; ++a)
      for (long b = 0; b < ns; ++b)
        for (long k = 0; k < no; ++k) {
          float want = 0.0f;
          for (long q = 0; q < np; ++q)
            if (b >= 2 * q && b <= 2 * q + 1 && g[(a * np + q) * no + k] != 0.0f)
              want += m[(a * np + q) * no + k] - x[(a * ns + b) * no + k] > 0.0f ? 0.0f : g[(a * np + q) * no + k];
          REQUIRE(st[Y](a, b, k) == want);
        }
  }
}

TEST_CASE("lanes: reads strided along the lane index, with a summed projection", "[exec][lanes]") {
  // D(i, j) = A(j, i) * B(i, j) + v(j): A is read with the lane index j first (stride |i|); Z sums over p with the
  // lane index j first in B's subscripts and absent from A's (one value for all lanes)
  constexpr auto prog = tl::program(D(i, j) = A(j, i) * B(i, j) + v(j), Z(i, j) = (p <= i) * A(p, i) * B(j, p));
  static_assert(tl::detail::execution_path<0, decltype(prog)>() == lanes_path);
  static_assert(tl::detail::execution_path<1, decltype(prog)>() == lanes_path);
  for (long nj : last_extents) {
    INFO("|i| = |j| = |p| = " << nj);
    const long ni = nj;
    tl::store st(prog, tl::extents(i = ni, j = nj, p = nj));
    const auto a = random_values<double>(ni * nj, 4), b = random_values<double>(ni * nj, 5);
    const auto vv = random_values<double>(nj, 6);
    copy_in(st[A], a);
    copy_in(st[B], b);
    copy_in(st[v], vv);
    tl::eval(prog, st);
    for (long r = 0; r < ni; ++r)
      for (long q = 0; q < nj; ++q) {
        REQUIRE(st[D](r, q) == a[q * ni + r] * b[r * nj + q] + vv[q]);
        double want = 0;
        for (long k = 0; k <= r; ++k) want += a[k * ni + r] * b[q * nj + k];
        REQUIRE(st[Z](r, q) == want);
      }
  }
}

TEST_CASE("lanes: reads outside their tensor at a stretch's edges read 0, in any element type", "[exec][lanes]") {
  // F (float) from A (double): the rows t + 1 and t - 1 fall outside A at the last and first t
  constexpr auto prog = tl::program(F(t, c) = A(t + 1, c) - 2.0 * A(t - 1, c) * v(c) + A(t, c) * B(t, c));
  static_assert(tl::detail::execution_path<0, decltype(prog)>() == lanes_path);
  for (long nc : last_extents) {
    INFO("|c| = " << nc);
    const long nt = 4;
    tl::store st(prog, tl::extents(t = nt, c = nc));
    const auto a = random_values<double>(nt * nc, 7), b = random_values<double>(nt * nc, 8);
    const auto vv = random_values<double>(nc, 9);
    copy_in(st[A], a);
    copy_in(st[B], b);
    copy_in(st[v], vv);
    tl::eval(prog, st);
    for (long r = 0; r < nt; ++r)
      for (long k = 0; k < nc; ++k) {
        const double next = r + 1 < nt ? a[(r + 1) * nc + k] : 0.0;
        const double prev = r >= 1 ? a[(r - 1) * nc + k] : 0.0;
        // computed in the head's type: each read converted to float first
        const float want = (static_cast<float>(next) - 2.0f * static_cast<float>(prev) * static_cast<float>(vv[k])) +
                           static_cast<float>(a[r * nc + k]) * static_cast<float>(b[r * nc + k]);
        REQUIRE(st[F](r, k) == want);
      }
  }
}

TEST_CASE("lanes: max, min and mean projections over a window, with NaN and Inf", "[exec][lanes]") {
  constexpr auto prog = tl::program(Mx(n, p, o) = tl::max(w, W3(n, 3 * p + w, o)),  //
                                    Mn(n, p, o) = tl::min(w, W3(n, 3 * p + w, o)),  //
                                    Me(n, p, o) = tl::mean(w, W3(n, 3 * p + w, o)));
  static_assert(tl::detail::execution_path<0, decltype(prog)>() == lanes_path);
  static_assert(tl::detail::execution_path<1, decltype(prog)>() == lanes_path);
  static_assert(tl::detail::execution_path<2, decltype(prog)>() == lanes_path);
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  for (long no : last_extents) {
    INFO("|o| = " << no);
    const long nn = 2, np = 3, nx = 3 * np;
    tl::store st(prog, tl::extents(n = nn, p = np, o = no));
    REQUIRE(st[W3].extent(1) == static_cast<std::size_t>(nx));
    auto x = random_values<double>(nn * nx * no, 10);
    for (std::size_t k = 0; k < x.size(); k += 11) x[k] = nan;
    for (std::size_t k = 5; k < x.size(); k += 13) x[k] = (k % 2) ? inf : -inf;
    copy_in(st[W3], x);
    tl::eval(prog, st);
    for (long a = 0; a < nn; ++a)
      for (long q = 0; q < np; ++q)
        for (long k = 0; k < no; ++k) {
          double mx = -3.0e38, mn = 3.0e38, sum = 0;
          for (long u = 0; u < 3; ++u) {
            const double e = x[(a * nx + 3 * q + u) * no + k];
            mx = e > mx ? e : mx;
            mn = e < mn ? e : mn;
            sum += e;
          }
          REQUIRE(st[Mx](a, q, k) == mx);
          REQUIRE(st[Mn](a, q, k) == mn);
          const double me = sum / 3.0;
          if (std::isnan(me))
            REQUIRE(std::isnan(st[Me](a, q, k)));
          else
            REQUIRE(st[Me](a, q, k) == me);
        }
  }
}

TEST_CASE("lanes: a zero left factor wins over Inf and NaN, as in every kernel", "[exec][lanes]") {
  // (E pins A's extent to |t|)
  constexpr auto prog =
      tl::program(D(t, c) = B(t, c) * A(t + 1, c), Z(t, c) = A(t + 1, c) * B(t, c), E(t, c) = A(t, c));
  static_assert(tl::detail::execution_path<0, decltype(prog)>() == lanes_path);
  static_assert(tl::detail::execution_path<1, decltype(prog)>() == lanes_path);
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  for (long nc : last_extents) {
    INFO("|c| = " << nc);
    const long nt = 3;
    tl::store st(prog, tl::extents(t = nt, c = nc));
    auto a = random_values<double>(nt * nc, 11), b = random_values<double>(nt * nc, 12);
    for (long k = 0; k < nc; k += 2) {
      a[nc + k] = (k % 4) ? inf : nan;  // row 1, read by t = 0
      b[k] = 0.0;
    }
    copy_in(st[A], a);
    copy_in(st[B], b);
    tl::eval(prog, st);
    for (long r = 0; r < nt; ++r)
      for (long k = 0; k < nc; ++k) {
        const double next = r + 1 < nt ? a[(r + 1) * nc + k] : 0.0, here = b[r * nc + k];
        const double left_b = here == 0.0 ? 0.0 : here * next;
        const double left_a = next == 0.0 ? 0.0 : next * here;
        const double got = st[D](r, k);
        REQUIRE(std::memcmp(&got, &left_b, sizeof(double)) == 0);
        if (std::isnan(left_a))
          REQUIRE(std::isnan(st[Z](r, k)));
        else
          REQUIRE(st[Z](r, k) == left_a);
      }
  }
}

TEST_CASE("lanes: a mask that is 0 over a whole stretch skips the projection it multiplies", "[exec][lanes]") {
  constexpr auto prog = tl::program(D(t, c) = B(t, c) * tl::sum(p, A(p, c) * v(p)));
  static_assert(tl::detail::execution_path<0, decltype(prog)>() == lanes_path);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (long nc : last_extents) {
    INFO("|c| = " << nc);
    const long nt = 3, np = 4;
    tl::store st(prog, tl::extents(t = nt, c = nc, p = np));
    auto a = random_values<double>(np * nc, 22), bm = random_values<double>(nt * nc, 23);
    const auto vv = random_values<double>(np, 24);
    for (long k = 0; k < nc; ++k) {
      bm[k] = 0.0;                          // row 0: the whole stretch masked
      if (k % 2 == 0) bm[nc + k] = 0.0;     // row 1: half of it
      if (k % 3 == 0) a[2 * nc + k] = nan;  // a NaN the mask hides where it is 0
    }
    copy_in(st[A], a);
    copy_in(st[B], bm);
    copy_in(st[v], vv);
    tl::eval(prog, st);
    for (long r = 0; r < nt; ++r)
      for (long k = 0; k < nc; ++k) {
        double sum = 0;
        for (long q = 0; q < np; ++q) sum += a[q * nc + k] == 0.0 ? 0.0 : a[q * nc + k] * vv[q];
        const double want = bm[r * nc + k] == 0.0 ? 0.0 : bm[r * nc + k] * sum;
        if (std::isnan(want))
          REQUIRE(std::isnan(st[D](r, k)));
        else
          REQUIRE(st[D](r, k) == want);
      }
  }
}

TEST_CASE("lanes: same-left-hand-side sums accumulate and relation heads take the logical or", "[exec][lanes]") {
  constexpr auto prog = tl::program(D(t, c) = A(t + 1, c), D(t, c) = A(t - 1, c) * v(c),  //
                                    R(t, c) = S(t + 1, c), R(t, c) = S(t - 2, c),          //
                                    E(t, c) = A(t, c) + S(t, c));
  static_assert(tl::detail::execution_path<0, decltype(prog)>() == lanes_path);
  static_assert(tl::detail::execution_path<1, decltype(prog)>() == lanes_path);
  static_assert(tl::detail::execution_path<2, decltype(prog)>() == lanes_path);
  static_assert(tl::detail::execution_path<3, decltype(prog)>() == lanes_path);
  for (long nc : last_extents) {
    INFO("|c| = " << nc);
    const long nt = 5;
    tl::store st(prog, tl::extents(t = nt, c = nc));
    const auto a = random_values<double>(nt * nc, 13);
    const auto vv = random_values<double>(nc, 14);
    const auto sv = random_values<double>(nt * nc, 15, 0.0, 1.0);
    copy_in(st[A], a);
    copy_in(st[v], vv);
    REQUIRE(st[S].span() == static_cast<std::size_t>(nt * nc));
    for (long k = 0; k < nt * nc; ++k) st[S].data()[k] = sv[k] < 0.3 ? 1 : 0;
    tl::eval(prog, st);
    for (long r = 0; r < nt; ++r)
      for (long k = 0; k < nc; ++k) {
        const double next = r + 1 < nt ? a[(r + 1) * nc + k] : 0.0;
        const double prev = r >= 1 ? a[(r - 1) * nc + k] * vv[k] : 0.0;
        REQUIRE(st[D](r, k) == next + prev);
        const bool later = r + 1 < nt && sv[(r + 1) * nc + k] < 0.3;
        const bool earlier = r >= 2 && sv[(r - 2) * nc + k] < 0.3;
        REQUIRE(int(st[R](r, k)) == int(later || earlier));
      }
  }
}

TEST_CASE("lanes: projections inside a function of the cell, a sum under a bias and relu, mean, min and any",
          "[exec][lanes]") {
  // Cv: a convolution's forward pass, relu(sum_c W(o, c) X(i, t + 1, c) + b(o)), the lane index o first in W;
  // Me: a guarded mean minus a min with a read the lanes share (Q at o = 0); E: a guarded any
  constexpr auto prog =
      tl::program(Cv(i, t, o) = tl::relu(W(o, c) * X3(i, t + 1, c) + b(o)),
                  Me(i, t, o) = tl::mean(p, (p <= t) * Q(i, p, o)) - tl::min(p, Q(i, p, o) * b(o) + Q(i, p, 0)),
                  E(t, o) = tl::any(p, (p <= t) * Q(0, p, o)));
  static_assert(tl::detail::execution_path<0, decltype(prog)>() == lanes_path);
  static_assert(tl::detail::execution_path<1, decltype(prog)>() == lanes_path);
  static_assert(tl::detail::execution_path<2, decltype(prog)>() == lanes_path);
  for (long no : last_extents) {
    INFO("|o| = " << no);
    const long ni = 2, nt = 4, nc = 3;
    tl::store st(prog, tl::extents(i = ni, t = nt, o = no, c = nc, p = nt));
    REQUIRE(st[X3].extent(1) == static_cast<std::size_t>(nt + 1));
    REQUIRE(st[W].extent(1) == static_cast<std::size_t>(nc));
    const auto wv = random_values<double>(no * nc, 18), xv = random_values<double>(ni * (nt + 1) * nc, 19);
    const auto bv = random_values<double>(no, 20), qv = random_values<double>(ni * nt * no, 21);
    copy_in(st[W], wv);
    copy_in(st[X3], xv);
    copy_in(st[b], bv);
    copy_in(st[Q], qv);
    tl::eval(prog, st);
    for (long a = 0; a < ni; ++a)
      for (long r = 0; r < nt; ++r)
        for (long k = 0; k < no; ++k) {
          double sum = 0;
          for (long q = 0; q < nc; ++q) sum += wv[k * nc + q] * xv[(a * (nt + 1) + r + 1) * nc + q];
          const double cv = sum + bv[k];
          REQUIRE(st[Cv](a, r, k) == (cv > 0 ? cv : 0.0));
          double mean = 0, mn = 3.0e38;
          for (long q = 0; q < nt; ++q) {
            if (q <= r) mean += qv[(a * nt + q) * no + k];
            const double e = qv[(a * nt + q) * no + k] * bv[k] + qv[(a * nt + q) * no];
            mn = e < mn ? e : mn;
          }
          REQUIRE(st[Me](a, r, k) == mean / nt - mn);
          if (a == 0) {
            bool any = false;
            for (long q = 0; q <= r; ++q) any = any || qv[q * no + k] > 0;
            REQUIRE(st[E](r, k) == (any ? 1.0 : 0.0));
          }
        }
  }
}

TEST_CASE("a left-hand side whose last index a read combines keeps one cell at a time", "[exec][lanes]") {
  // A(i, j + 1) puts the lane index under an affine subscript, A(j, j) twice: neither runs on lanes
  constexpr auto prog = tl::program(D(i, j) = A(i, j + 1) + B(j, j));
  static_assert(tl::detail::execution_path<0, decltype(prog)>() == std::string_view("generic kernel"));
  const long ni = 3, nj = 4;
  tl::store st(prog, tl::extents(i = ni, j = nj));
  REQUIRE(st[A].extent(1) == static_cast<std::size_t>(nj + 1));
  const auto a = random_values<double>(ni * (nj + 1), 16), b = random_values<double>(nj * nj, 17);
  copy_in(st[A], a);
  copy_in(st[B], b);
  tl::eval(prog, st);
  for (long r = 0; r < ni; ++r)
    for (long q = 0; q < nj; ++q) REQUIRE(st[D](r, q) == a[r * (nj + 1) + q + 1] + b[q * nj + q]);
}
