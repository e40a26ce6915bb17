// The vendor GEMM path: every subscript order and operand order of a GEMM-shaped equation, float and double, a
// same-left-hand-side group (assign, then accumulate), against a naive loop and against the generic kernel
// (tl::set_vendor_gemm(false)); and which equations qualify, including tensors whose index groups form a GEMM and a
// GEMM with an epilogue.
#include <algorithm>
#include <cmath>
#include <catch2/catch.hpp>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <tensorlogic/tensorlogic.hpp>
#include <vector>

#include "../support/naive.hpp"

namespace tl = tensorlogic;

namespace {
inline constexpr tl::index<"i"> i;
inline constexpr tl::index<"j"> j;
inline constexpr tl::index<"k"> k;
// the subscripts of the tensor-shaped cases (attention's layouts)
inline constexpr tl::index<"n"> n;
inline constexpr tl::index<"h"> h;
inline constexpr tl::index<"p"> p;
inline constexpr tl::index<"q"> q;
inline constexpr tl::index<"d"> d;
inline constexpr tl::index<"e"> e;
inline constexpr tl::tensor<"Q", double, 4> Q;
inline constexpr tl::tensor<"K", double, 4> K;
inline constexpr tl::tensor<"V", double, 4> V;
inline constexpr tl::tensor<"S", double, 4> S4;
inline constexpr tl::tensor<"O", double, 4> O;
template <class T>
struct syms {
  static constexpr tl::tensor<"A", T, 2> A{};
  static constexpr tl::tensor<"B", T, 2> B{};
  static constexpr tl::tensor<"C", T, 2> C{};
  static constexpr tl::tensor<"D", T, 2> D{};
  static constexpr tl::tensor<"E", T, 2> E{};
};

using tl::test::random_values;

// Runs prog with A stored as [a0, a1] and B as [b0, b1]; `at(a, r, c)` reads the logical A(i=r, j=c) etc.
template <class T, class Prog>
void check(const Prog& prog, bool a_transposed, bool b_transposed) {
  using S = syms<T>;
  const std::size_t ni = 5, nj = 7, nk = 3;
  const auto a = random_values<T>(ni * nj, 1), b = random_values<T>(nj * nk, 2);
  auto A_at = [&](std::size_t r, std::size_t c) { return a_transposed ? a[c * ni + r] : a[r * nj + c]; };
  auto B_at = [&](std::size_t r, std::size_t c) { return b_transposed ? b[c * nj + r] : b[r * nk + c]; };
  std::vector<std::vector<T>> results;
  for (bool vendor : {true, false}) {
    tl::set_vendor_gemm(vendor);
    tl::store s(prog, tl::extents(i = ni, j = nj, k = nk));
    tl::bind(s, S::A, a.data(), a.size());
    tl::bind(s, S::B, b.data(), b.size());
    tl::eval(prog, s);
    const auto c = tl::to_xtensor(s[S::C]);
    std::vector<T> flat;
    for (std::size_t r = 0; r < ni; ++r)
      for (std::size_t q = 0; q < nk; ++q) {
        double want = 0;
        for (std::size_t x = 0; x < nj; ++x) want += static_cast<double>(A_at(r, x)) * static_cast<double>(B_at(x, q));
        REQUIRE(static_cast<double>(c(r, q)) == Approx(want).epsilon(std::is_same_v<T, float> ? 1e-5 : 1e-12));
        flat.push_back(c(r, q));
      }
    results.push_back(flat);
  }
  tl::set_vendor_gemm(true);
  for (std::size_t n = 0; n < results[0].size(); ++n)
    CHECK(static_cast<double>(results[0][n]) ==
          Approx(static_cast<double>(results[1][n])).epsilon(std::is_same_v<T, float> ? 1e-5 : 1e-12));
}

template <class T>
void all_orders() {
  using S = syms<T>;
  constexpr auto A = S::A;
  constexpr auto B = S::B;
  constexpr auto C = S::C;
  check<T>(tl::program(C(i, k) = A(i, j) * B(j, k)), false, false);
  check<T>(tl::program(C(i, k) = A(j, i) * B(j, k)), true, false);
  check<T>(tl::program(C(i, k) = A(i, j) * B(k, j)), false, true);
  check<T>(tl::program(C(i, k) = A(j, i) * B(k, j)), true, true);
  check<T>(tl::program(C(i, k) = B(j, k) * A(i, j)), false, false);
  check<T>(tl::program(C(i, k) = B(k, j) * A(j, i)), true, true);
}
}  // namespace

TEST_CASE("GEMM-shaped equations give the same result on the vendor path and the generic kernel", "[exec][gemm]") {
  all_orders<float>();
  all_orders<double>();
}

TEST_CASE("a same-left-hand-side group of GEMMs assigns, then accumulates", "[exec][gemm]") {
  using S = syms<double>;
  constexpr auto prog = tl::program(S::C(i, k) = S::A(i, j) * S::B(j, k), S::C(i, k) = S::D(i, j) * S::E(j, k));
  const std::size_t ni = 4, nj = 6, nk = 5;
  const auto a = random_values<double>(ni * nj, 3), b = random_values<double>(nj * nk, 4),
             d = random_values<double>(ni * nj, 5), e = random_values<double>(nj * nk, 6);
  for (bool vendor : {true, false}) {
    tl::set_vendor_gemm(vendor);
    tl::store s(prog, tl::extents(i = ni, j = nj, k = nk));
    tl::bind(s, S::A, a.data(), a.size());
    tl::bind(s, S::B, b.data(), b.size());
    tl::bind(s, S::D, d.data(), d.size());
    tl::bind(s, S::E, e.data(), e.size());
    tl::eval(prog, s);
    tl::eval(prog, s);  // twice: the first equation must overwrite, not add to, the previous result
    const auto c = tl::to_xtensor(s[S::C]);
    for (std::size_t r = 0; r < ni; ++r)
      for (std::size_t q = 0; q < nk; ++q) {
        double want = 0;
        for (std::size_t x = 0; x < nj; ++x) want += a[r * nj + x] * b[x * nk + q] + d[r * nj + x] * e[x * nk + q];
        REQUIRE(c(r, q) == Approx(want).epsilon(1e-12));
      }
  }
  tl::set_vendor_gemm(true);
}

TEST_CASE("which equations take the vendor path", "[exec][gemm]") {
  using S = syms<float>;
  using tl::detail::plan_vendor_gemm;
  constexpr auto plain = S::C(i, k) = S::A(i, j) * S::B(j, k);
  static_assert(plan_vendor_gemm<decltype(plain)>().ok);
  constexpr auto swapped = S::C(i, k) = S::B(k, j) * S::A(j, i);
  static_assert(plan_vendor_gemm<decltype(swapped)>().swap);
  constexpr auto scaled = S::C(i, k) = 2.0 * S::A(i, j) * S::B(j, k);  // alpha = 2
  static_assert(plan_vendor_gemm<decltype(scaled)>().ok);
  constexpr auto three = S::C(i, k) = S::A(i, j) * S::B(j, k) * S::D(i, k);
  static_assert(!plan_vendor_gemm<decltype(three)>().ok);
  constexpr auto hadamard = S::C(i, k) = S::A(i, k) * S::B(i, k);
  static_assert(!plan_vendor_gemm<decltype(hadamard)>().ok);
  constexpr auto nonlinear = S::C(i, k) = tl::relu(S::A(i, j) * S::B(j, k));
  static_assert(!plan_vendor_gemm<decltype(nonlinear)>().ok);
  constexpr tl::tensor<"M", double, 2> M;
  constexpr auto mixed = S::C(i, k) = S::A(i, j) * M(j, k);
  static_assert(!plan_vendor_gemm<decltype(mixed)>().ok);
#if TENSORLOGIC_HAVE_KOKKOS_KERNELS
  CHECK(tl::vendor_gemm_available());
#else
  CHECK_FALSE(tl::vendor_gemm_available());
#endif
}

TEST_CASE("matrix-vector and other non-GEMM products keep the generic kernel", "[exec][gemm]") {
  using S = syms<double>;
  constexpr tl::tensor<"x", double, 1> x;
  constexpr tl::tensor<"y", double, 1> y;
  constexpr auto mv = y(i) = S::A(i, j) * x(j);
  static_assert(!tl::detail::plan_vendor_gemm<decltype(mv)>().ok);
  constexpr auto vm = y(j) = x(i) * S::A(i, j);
  static_assert(!tl::detail::plan_vendor_gemm<decltype(vm)>().ok);
  constexpr auto outer = S::C(i, k) = x(i) * y(k);
  CHECK_FALSE(tl::detail::plan_vendor_gemm<decltype(outer)>().ok);
}

TEST_CASE("a GEMM plus other terms runs the GEMM on the vendor path and the rest as its epilogue", "[exec][gemm]") {
  using S = syms<double>;
  constexpr tl::tensor<"b", double, 1> b;
  constexpr auto bias = S::C(i, k) = S::A(i, j) * S::B(j, k) + b(k);
  constexpr auto bias_first = S::C(i, k) = b(k) + S::B(k, j) * S::A(j, i);
  constexpr auto two = S::C(i, k) = S::A(i, j) * S::B(j, k) + tl::tanh(S::D(i, k)) * S::E(k, i);
  constexpr auto nested = S::C(i, k) = S::A(i, j) * S::B(j, k) + (b(k) + S::D(i, k));
  static_assert(tl::detail::gemm_epilogue<decltype(bias), Kokkos::HostSpace>::side == 0);
  static_assert(tl::detail::gemm_epilogue<decltype(bias_first), Kokkos::HostSpace>::side == 1);
  static_assert(tl::detail::gemm_epilogue<decltype(two), Kokkos::HostSpace>::side == 0);
  constexpr auto no_gemm = S::C(i, k) = S::A(i, k) * S::B(i, k) + b(k);
  static_assert(tl::detail::gemm_epilogue<decltype(no_gemm), Kokkos::HostSpace>::side == -1);
  constexpr auto outer_function = S::C(i, k) = tl::relu(S::A(i, j) * S::B(j, k) + b(k));
  static_assert(tl::detail::gemm_epilogue<decltype(outer_function), Kokkos::HostSpace>::side == -1);
  static_assert(tl::detail::gemm_outer<decltype(outer_function), Kokkos::HostSpace>::kind == 2);

  const std::size_t ni = 4, nj = 6, nk = 5;
  const auto a = random_values<double>(ni * nj, 7), bb = random_values<double>(nj * nk, 8),
             d = random_values<double>(ni * nk, 9), e = random_values<double>(nk * ni, 10),
             bv = random_values<double>(nk, 11);
  auto product = [&](std::size_t r, std::size_t q, bool transposed) {  // (A B)(r, q), or (B^T A^T)(r, q) read as such
    double sum = 0;
    for (std::size_t x = 0; x < nj; ++x)
      sum += transposed ? bb[q * nj + x] * a[x * ni + r] : a[r * nj + x] * bb[x * nk + q];
    return sum;
  };
  auto run = [&](const auto& prog, const tl::extents_list& ext, auto expected) {
    for (bool vendor : {true, false}) {
      INFO("vendor path " << vendor);
      tl::set_vendor_gemm(vendor);
      tl::store s(prog, ext);
      using prog_t = std::remove_cvref_t<decltype(prog)>;
      tl::bind(s, S::A, a.data(), a.size());
      tl::bind(s, S::B, bb.data(), bb.size());
      if constexpr (prog_t::slot_of("D") >= 0) tl::bind(s, S::D, d.data(), d.size());
      if constexpr (prog_t::slot_of("E") >= 0) tl::bind(s, S::E, e.data(), e.size());
      if constexpr (prog_t::slot_of("b") >= 0) tl::bind(s, b, bv.data(), bv.size());
      tl::eval(prog, s);
      tl::eval(prog, s);  // twice: the GEMM must overwrite, the epilogue add once
      const auto c = tl::to_xtensor(s[S::C]);
      for (std::size_t r = 0; r < ni; ++r)
        for (std::size_t q = 0; q < nk; ++q) REQUIRE(c(r, q) == Approx(expected(r, q)).epsilon(1e-12));
    }
    tl::set_vendor_gemm(true);
  };
  const auto ext = tl::extents(i = ni, j = nj, k = nk);
  run(tl::program(bias), ext, [&](std::size_t r, std::size_t q) { return product(r, q, false) + bv[q]; });
  // A stored as (j, i) and B as (k, j): the same numbers read transposed.
  run(tl::program(bias_first), ext, [&](std::size_t r, std::size_t q) { return product(r, q, true) + bv[q]; });
  run(tl::program(two), ext, [&](std::size_t r, std::size_t q) {
    return product(r, q, false) + std::tanh(d[r * nk + q]) * e[q * ni + r];
  });
  run(tl::program(nested), ext, [&](std::size_t r, std::size_t q) { return product(r, q, false) + bv[q] + d[r * nk + q]; });
  // a scaled GEMM term: the number becomes alpha, the bias still follows once
  run(tl::program(S::C(i, k) = b(k) + S::A(i, j) * (S::B(j, k) * -1.5)), ext,
      [&](std::size_t r, std::size_t q) { return -1.5 * product(r, q, false) + bv[q]; });
  // A same-left-hand-side group: the second equation's GEMM accumulates, then its epilogue.
  run(tl::program(S::C(i, k) = S::D(i, k) * 2.0, S::C(i, k) = S::A(i, j) * S::B(j, k) + b(k)), ext,
      [&](std::size_t r, std::size_t q) { return 2.0 * d[r * nk + q] + product(r, q, false) + bv[q]; });
}

namespace {
// Runs prog on both paths with every input filled from a seed; returns the head's values from each.
template <class Prog, class Head>
std::pair<std::vector<double>, std::vector<double>> both_paths(const Prog& prog, const Head& head,
                                                               const tl::extents_list& ext) {
  std::vector<double> out[2];
  for (int path = 0; path < 2; ++path) {
    tl::set_vendor_gemm(path == 0);
    tl::store s(prog, ext);
    [&]<std::size_t... K>(std::index_sequence<K...>) {
      (
          [&] {
            auto& v = tensorlogic::get<K>(s.views());
            const auto values = random_values<double>(v.span(), 100 + K);
            for (std::size_t x = 0; x < v.span(); ++x) v.data()[x] = values[x];
            s.mark_bound(K);
          }(),
          ...);
    }(std::make_index_sequence<std::remove_cvref_t<decltype(s)>::n_slots>{});
    tl::eval(prog, s);
    out[path].assign(s[head].data(), s[head].data() + s[head].span());
  }
  tl::set_vendor_gemm(true);
  return {out[0], out[1]};
}
}  // namespace

TEST_CASE("tensors whose index groups form a GEMM take the vendor path as matrices", "[exec][gemm]") {
  constexpr tl::tensor<"W", double, 3> W;
  constexpr tl::tensor<"X", double, 3> X;
  constexpr tl::tensor<"G", double, 4> G;
  constexpr tl::tensor<"dW", double, 3> dW;
  using tl::detail::plan_vendor_gemm;
  // rows (n, p), columns (h, d), contracting e: C = X W^T
  constexpr auto project = Q(n, p, h, d) = W(h, d, e) * X(n, p, e);
  constexpr auto pq = plan_vendor_gemm<decltype(project)>();
  static_assert(pq.ok && pq.swap && !pq.trans_first && pq.trans_second && pq.split_first == 2 && pq.split_c == 2);
  // the weight gradient contracts the group (n, p): C = G^T X
  constexpr auto weight_grad = dW(h, d, e) = G(n, p, h, d) * X(n, p, e);
  constexpr auto pw = plan_vendor_gemm<decltype(weight_grad)>();
  static_assert(pw.ok && !pw.swap && pw.trans_first && !pw.trans_second && pw.split_first == 2 && pw.split_c == 2);
  // the input gradient: rows (n, p), contracting (h, d)
  constexpr auto input_grad = X(n, p, e) = G(n, p, h, d) * W(h, d, e);
  static_assert(plan_vendor_gemm<decltype(input_grad)>().ok);
  // batch indices (n, h in all three): one GEMM per (n, h), the matrices strided
  constexpr auto batched = O(n, p, h, d) = S4(n, h, p, e) * V(n, e, h, d);
  static_assert(plan_vendor_gemm<decltype(batched)>().ok && plan_vendor_gemm<decltype(batched)>().n_batch == 2);
  // not a GEMM: groups out of order, a contracted group in two orders
  constexpr auto interleaved = Q(n, h, p, d) = W(h, d, e) * X(n, p, e);
  static_assert(!plan_vendor_gemm<decltype(interleaved)>().ok);
  constexpr auto two_orders = dW(h, d, e) = G(n, p, h, d) * X(p, n, e);
  static_assert(!plan_vendor_gemm<decltype(two_orders)>().ok);

  const auto ext = tl::extents(n = 3, p = 4, h = 2, d = 5, e = 6);
  auto same = [](const auto& r) {
    REQUIRE(r.first.size() == r.second.size());
    for (std::size_t x = 0; x < r.first.size(); ++x) REQUIRE(r.first[x] == Approx(r.second[x]).epsilon(1e-12));
  };
  same(both_paths(tl::program(project), Q, ext));
  same(both_paths(tl::program(weight_grad), dW, ext));
  same(both_paths(tl::program(input_grad), X, ext));
  // and with an epilogue, the way gradient programs write a layer with a bias
  constexpr tl::tensor<"bias", double, 2> bias;
  same(both_paths(tl::program(Q(n, p, h, d) = W(h, d, e) * X(n, p, e) + bias(h, d)), Q, ext));
  // one naive loop for the projection
  constexpr auto projection = tl::program(project);
  tl::store s(projection, ext);
  const auto wv = random_values<double>(2 * 5 * 6, 1), xv = random_values<double>(3 * 4 * 6, 2);
  tl::bind(s, W, wv.data(), wv.size());
  tl::bind(s, X, xv.data(), xv.size());
  tl::eval(projection, s);
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 4; ++b)
      for (int c = 0; c < 2; ++c)
        for (int f = 0; f < 5; ++f) {
          double want = 0;
          for (int g = 0; g < 6; ++g) want += wv[(c * 5 + f) * 6 + g] * xv[(a * 4 + b) * 6 + g];
          REQUIRE(s[Q](a, b, c, f) == Approx(want).epsilon(1e-12));
        }
}

namespace {
// A naive einsum over named subscripts (one character each): c[C] = sum over the rest of a[A] b[B], row-major.
std::vector<double> naive_einsum(std::string_view cs, std::string_view as, std::string_view bs,
                                 const std::map<char, int>& extent, const std::vector<double>& a,
                                 const std::vector<double>& b) {
  std::string all;
  for (std::string_view part : {cs, as, bs})
    for (char x : part)
      if (all.find(x) == std::string::npos) all += x;
  auto offset = [&](std::string_view sub, const std::map<char, int>& at) {
    long o = 0;
    for (char x : sub) o = o * extent.at(x) + at.at(x);
    return o;
  };
  long size_c = 1;
  for (char x : cs) size_c *= extent.at(x);
  std::vector<double> c(static_cast<std::size_t>(size_c), 0.0);
  std::map<char, int> at;
  for (char x : all) at[x] = 0;
  long total = 1;
  for (char x : all) total *= extent.at(x);
  for (long n = 0; n < total; ++n) {
    long r = n;
    for (auto it = all.rbegin(); it != all.rend(); ++it) {
      at[*it] = static_cast<int>(r % extent.at(*it));
      r /= extent.at(*it);
    }
    c[static_cast<std::size_t>(offset(cs, at))] +=
        a[static_cast<std::size_t>(offset(as, at))] * b[static_cast<std::size_t>(offset(bs, at))];
  }
  return c;
}

// Runs C = A B on the vendor path and the generic kernel and compares both with the naive einsum.
template <class Eq, class CT, class AT, class BT>
void check_batched(const Eq& eq, const CT& C, const AT& A, const BT& B, std::string_view cs, std::string_view as,
                   std::string_view bs, const tl::extents_list& ext, const std::map<char, int>& extent) {
  const auto prog = tl::program(eq);
  long na = 1, nb = 1;
  for (char x : as) na *= extent.at(x);
  for (char x : bs) nb *= extent.at(x);
  // at least one value each, so that an empty operand still binds a real pointer
  const auto av = random_values<double>(static_cast<std::size_t>(std::max(na, 1L)), 31),
             bv = random_values<double>(static_cast<std::size_t>(std::max(nb, 1L)), 32);
  const auto want = naive_einsum(cs, as, bs, extent, av, bv);
  tl::extents_list used;  // the extents of this equation's subscripts only
  for (const auto& entry : ext.entries)
    if ((std::string(cs) + std::string(as) + std::string(bs)).find(entry.name) != std::string::npos)
      used.entries.push_back(entry);
  for (bool vendor : {true, false}) {
    INFO(cs << " = " << as << " " << bs << ", vendor path " << vendor);
    tl::set_vendor_gemm(vendor);
    tl::store s(prog, used);
    tl::bind(s, A, av.data(), static_cast<std::size_t>(na));
    tl::bind(s, B, bv.data(), static_cast<std::size_t>(nb));
    tl::eval(prog, s);
    tl::eval(prog, s);  // twice: every batch's GEMM must overwrite
    REQUIRE(s[C].span() == want.size());
    for (std::size_t x = 0; x < want.size(); ++x) REQUIRE(s[C].data()[x] == Approx(want[x]).margin(1e-12));
  }
  tl::set_vendor_gemm(true);
}
}  // namespace

TEST_CASE("batch indices: one strided GEMM per batch coordinate, against a naive einsum", "[exec][gemm]") {
  constexpr tl::tensor<"A3", double, 3> A3;
  constexpr tl::tensor<"B3", double, 3> B3;
  constexpr tl::tensor<"C3", double, 3> C3;
  constexpr tl::tensor<"A5", double, 5> A5;
  constexpr tl::tensor<"B4", double, 4> B4;
  constexpr tl::tensor<"C4", double, 4> C4;
  using tl::detail::plan_vendor_gemm;
  const std::map<char, int> extent{{'n', 2}, {'h', 3}, {'p', 5}, {'q', 4}, {'d', 6}, {'e', 7}};
  const auto ext = tl::extents(n = 2, h = 3, p = 5, q = 4, d = 6, e = 7);

  // attention's products, in the layouts nn::attention uses: scores, output, and the three gradients
  constexpr auto scores = S4(n, h, p, q) = Q(n, p, h, d) * K(n, q, h, d);
  static_assert(plan_vendor_gemm<decltype(scores)>().ok && plan_vendor_gemm<decltype(scores)>().n_batch == 2);
  check_batched(scores, S4, Q, K, "nhpq", "nphd", "nqhd", ext, extent);
  constexpr auto output = O(n, p, h, e) = S4(n, h, p, q) * V(n, q, h, e);
  check_batched(output, O, S4, V, "nphe", "nhpq", "nqhe", ext, extent);
  constexpr auto grad_v = V(n, q, h, e) = S4(n, h, p, q) * O(n, p, h, e);  // contracts p, S read transposed
  static_assert(plan_vendor_gemm<decltype(grad_v)>().ok);
  check_batched(grad_v, V, S4, O, "nqhe", "nhpq", "nphe", ext, extent);
  constexpr auto grad_q = Q(n, p, h, d) = S4(n, h, p, q) * K(n, q, h, d);
  check_batched(grad_q, Q, S4, K, "nphd", "nhpq", "nqhd", ext, extent);
  constexpr auto grad_k = K(n, q, h, d) = S4(n, h, p, q) * Q(n, p, h, d);
  check_batched(grad_k, K, S4, Q, "nqhd", "nhpq", "nphd", ext, extent);
  // the batch index between the groups, and C's rows from the second factor
  constexpr auto between = C3(p, n, q) = A3(n, d, q) * B3(p, n, d);
  static_assert(plan_vendor_gemm<decltype(between)>().ok && plan_vendor_gemm<decltype(between)>().swap);
  check_batched(between, C3, A3, B3, "pnq", "ndq", "pnd", ext, extent);
  // groups of two subscripts each, two batch subscripts in different places
  constexpr auto groups = C4(h, p, q, e) = A5(p, q, h, d, n) * B4(d, n, h, e);
  static_assert(plan_vendor_gemm<decltype(groups)>().ok && plan_vendor_gemm<decltype(groups)>().n_batch == 1);
  check_batched(groups, C4, A5, B4, "hpqe", "pqhdn", "dnhe", ext, extent);

  // a batch subscript between each tensor's groups
  constexpr auto batch_mid = C4(p, n, q, e) = A3(p, n, d) * B4(n, d, q, e);
  static_assert(plan_vendor_gemm<decltype(batch_mid)>().ok && plan_vendor_gemm<decltype(batch_mid)>().n_batch == 1);
  check_batched(batch_mid, C4, A3, B4, "pnqe", "pnd", "ndqe", ext, extent);

  // not GEMMs: a batch subscript last in a tensor (no unit-stride group), a kept group split by a batch subscript
  constexpr auto batch_last = C3(p, q, n) = A3(p, d, n) * B3(d, q, n);
  static_assert(!plan_vendor_gemm<decltype(batch_last)>().ok);
  check_batched(batch_last, C3, A3, B3, "pqn", "pdn", "dqn", ext, extent);  // the generic kernel, both times
  constexpr auto split_kept = C4(q, n, e, p) = A3(p, n, d) * B4(n, d, q, e);
  static_assert(!plan_vendor_gemm<decltype(split_kept)>().ok);
  check_batched(split_kept, C4, A3, B4, "qnep", "pnd", "ndqe", ext, extent);
  constexpr auto matvec = C3(n, h, p) = A3(n, p, d) * B3(n, h, d);
  static_assert(plan_vendor_gemm<decltype(matvec)>().ok);  // kept (p) and (h), batch n: small GEMMs
  check_batched(matvec, C3, A3, B3, "nhp", "npd", "nhd", ext, extent);

  // empty extents: a zero-size batch, and an empty contraction that must still overwrite with zeros
  check_batched(scores, S4, Q, K, "nhpq", "nphd", "nqhd", tl::extents(n = 0, h = 3, p = 5, q = 4, d = 6),
                {{'n', 0}, {'h', 3}, {'p', 5}, {'q', 4}, {'d', 6}});
  check_batched(scores, S4, Q, K, "nhpq", "nphd", "nqhd", tl::extents(n = 2, h = 3, p = 5, q = 4, d = 0),
                {{'n', 2}, {'h', 3}, {'p', 5}, {'q', 4}, {'d', 0}});
}

TEST_CASE("scaling factors (numbers, scalars, rank-0 tensors) become the GEMM's alpha", "[exec][gemm]") {
  constexpr tl::scalar<"scale", double> scale;
  constexpr tl::tensor<"r", double, 0> r;
  using tl::detail::plan_vendor_gemm;
  // attention's scores with its scale, and the same with the factors spread through the product
  constexpr auto scores = S4(n, h, p, q) = Q(n, p, h, d) * K(n, q, h, d) * scale;
  constexpr auto spread = S4(n, h, p, q) = 0.5 * (Q(n, p, h, d) * r()) * (scale * K(n, q, h, d));
  static_assert(plan_vendor_gemm<decltype(scores)>().ok && plan_vendor_gemm<decltype(spread)>().ok);
  const std::map<char, int> extent{{'n', 2}, {'h', 3}, {'p', 5}, {'q', 4}, {'d', 6}};
  const auto ext = tl::extents(n = 2, h = 3, p = 5, q = 4, d = 6);
  const auto qv = random_values<double>(2 * 5 * 3 * 6, 41), kv = random_values<double>(2 * 4 * 3 * 6, 42);
  const auto base = naive_einsum("nhpq", "nphd", "nqhd", extent, qv, kv);
  auto run = [&](const auto& prog, double factor, bool with_r) {
    for (bool vendor : {true, false}) {
      INFO("vendor path " << vendor << ", factor " << factor);
      tl::set_vendor_gemm(vendor);
      tl::store s(prog, ext);
      tl::bind(s, Q, qv.data(), qv.size());
      tl::bind(s, K, kv.data(), kv.size());
      tl::bind(s, scale, 0.25);
      if (with_r) {
        if constexpr (std::remove_cvref_t<decltype(prog)>::slot_of("r") >= 0) tl::bind(s, r, -3.0);
      }
      tl::eval(prog, s);
      for (std::size_t x = 0; x < base.size(); ++x) REQUIRE(s[S4].data()[x] == Approx(factor * base[x]).margin(1e-12));
    }
    tl::set_vendor_gemm(true);
  };
  run(tl::program(scores), 0.25, false);
  run(tl::program(spread), 0.5 * -3.0 * 0.25, true);
  // an explicit sum around the whole product is the GEMM's contraction; the scale inside or outside it is alpha
  constexpr auto summed = S4(n, h, p, q) = tl::sum(d, Q(n, p, h, d) * K(n, q, h, d)) * scale;
  constexpr auto inside = S4(n, h, p, q) = tl::sum(d, Q(n, p, h, d) * K(n, q, h, d) * scale);
  static_assert(plan_vendor_gemm<decltype(summed)>().ok && plan_vendor_gemm<decltype(inside)>().ok);
  run(tl::program(summed), 0.25, false);
  run(tl::program(inside), 0.25, false);
}

TEST_CASE("a sum that does not hold the whole product is no GEMM", "[exec][gemm]") {
  using S = syms<double>;
  using tl::detail::plan_vendor_gemm;
  // sum(j, A(i, j)) B(j, k): A's row sums times B's column sums (j is summed twice, once per factor)
  constexpr auto rows_first = S::C(i, k) = tl::sum(j, S::A(i, j)) * S::B(j, k);
  constexpr auto max_inside = S::C(i, k) = tl::max(j, S::A(i, j) * S::B(j, k));
  static_assert(!plan_vendor_gemm<decltype(rows_first)>().ok && !plan_vendor_gemm<decltype(max_inside)>().ok);
  const std::size_t ni = 4, nj = 5, nk = 3;
  const auto a = random_values<double>(ni * nj, 51), b = random_values<double>(nj * nk, 52);
  constexpr auto prog = tl::program(rows_first);
  tl::store st(prog, tl::extents(i = ni, j = nj, k = nk));
  tl::bind(st, S::A, a.data(), a.size());
  tl::bind(st, S::B, b.data(), b.size());
  tl::eval(prog, st);
  for (std::size_t r = 0; r < ni; ++r)
    for (std::size_t c = 0; c < nk; ++c) {
      double ra = 0, cb = 0;
      for (std::size_t x = 0; x < nj; ++x) {
        ra += a[r * nj + x];
        cb += b[x * nk + c];
      }
      REQUIRE(st[S::C](r, c) == Approx(ra * cb).margin(1e-12));
    }
}

TEST_CASE("a softmax of a GEMM runs the GEMM, then the normalizer rows over the head in place", "[exec][gemm]") {
  // attention's scores, plain and with the causal mask, on both paths against naive loops
  constexpr tl::scalar<"scale", double> scale;
  constexpr auto plain = tl::program(S4(n, h, p, q) = tl::softmax(q, Q(n, p, h, d) * K(n, q, h, d) * scale));
  constexpr auto causal = tl::program(
      S4(n, h, p, q) = tl::softmax(q, tl::where(q <= p, Q(n, p, h, d) * K(n, q, h, d) * scale, -1e30)));
  constexpr auto logs = tl::program(S4(n, h, p, q) = tl::log_softmax(q, tl::sum(d, Q(n, p, h, d) * K(n, q, h, d))));
#if TENSORLOGIC_HAVE_KOKKOS_KERNELS
  static_assert(std::string_view(tl::detail::execution_path<0, decltype(plain)>()) == "vendor GEMM + normalizer rows");
  static_assert(std::string_view(tl::detail::execution_path<0, decltype(causal)>()) == "vendor GEMM + normalizer rows");
  static_assert(std::string_view(tl::detail::execution_path<0, decltype(logs)>()) == "vendor GEMM + normalizer rows");
#endif
  const std::size_t nn = 2, nh = 3, np = 37, nd = 6;
  const std::map<char, int> extent{{'n', 2}, {'h', 3}, {'p', 37}, {'q', 37}, {'d', 6}};
  const auto qv = random_values<double>(nn * np * nh * nd, 61), kv = random_values<double>(nn * np * nh * nd, 62);
  const auto z = naive_einsum("nhpq", "nphd", "nqhd", extent, qv, kv);
  auto run = [&](const auto& prog, int kind) {
    for (bool vendor : {true, false}) {
      INFO("vendor path " << vendor << ", kind " << kind);
      tl::set_vendor_gemm(vendor);
      tl::store st(prog, tl::extents(n = nn, h = nh, p = np, q = np, d = nd));
      tl::bind(st, Q, qv.data(), qv.size());
      tl::bind(st, K, kv.data(), kv.size());
      if constexpr (std::remove_cvref_t<decltype(prog)>::slot_of("scale") >= 0) tl::bind(st, scale, 0.25);
      tl::eval(prog, st);
      for (std::size_t row = 0; row < nn * nh * np; ++row) {
        const std::size_t pr = row % np;
        const double c = kind == 2 ? 1.0 : 0.25;
        double mx = -1e300, sum = 0;
        for (std::size_t x = 0; x < np; ++x)
          if (kind != 1 || x <= pr) mx = std::max(mx, c * z[row * np + x]);
        for (std::size_t x = 0; x < np; ++x)
          if (kind != 1 || x <= pr) sum += std::exp(c * z[row * np + x] - mx);
        for (std::size_t x = 0; x < np; ++x) {
          const double v = c * z[row * np + x];
          const double want = kind == 2 ? v - mx - std::log(sum) : (kind == 1 && x > pr ? 0.0 : std::exp(v - mx) / sum);
          REQUIRE(st[S4].data()[row * np + x] == Approx(want).margin(1e-12));
        }
      }
    }
    tl::set_vendor_gemm(true);
  };
  run(plain, 0);
  run(causal, 1);
  run(logs, 2);
}

TEST_CASE("an elementwise function of a GEMM plus a bias runs the GEMM, then the function in place", "[exec][gemm]") {
  using S = syms<double>;
  constexpr tl::tensor<"b", double, 1> b;
  using tl::detail::gemm_outer;
  constexpr auto dense = S::C(i, k) = tl::relu(S::A(i, j) * S::B(j, k) + b(k));
  constexpr auto bare = S::C(i, k) = tl::tanh(S::B(k, j) * S::A(j, i));
  constexpr auto scaled = S::C(i, k) = tl::sigmoid(b(k) + 2.0 * S::A(i, j) * S::B(j, k));
  static_assert(gemm_outer<decltype(dense), Kokkos::HostSpace>::kind == 2);
  static_assert(gemm_outer<decltype(bare), Kokkos::HostSpace>::kind == 1);
  static_assert(gemm_outer<decltype(scaled), Kokkos::HostSpace>::side == 1);
  // not this path: a two-argument function, a function of a non-GEMM sum
  constexpr auto clamp = S::C(i, k) = tl::max(S::A(i, j) * S::B(j, k), 0.0);
  static_assert(gemm_outer<decltype(clamp), Kokkos::HostSpace>::kind == 0);
  constexpr auto hadamard = S::C(i, k) = tl::relu(S::A(i, k) * S::B(i, k) + b(k));
  static_assert(gemm_outer<decltype(hadamard), Kokkos::HostSpace>::kind == 0);

  const std::size_t ni = 6, nj = 5, nk = 7;
  const auto ext = tl::extents(i = ni, j = nj, k = nk);
  auto same = [](const auto& r) {
    REQUIRE(r.first.size() == r.second.size());
    for (std::size_t x = 0; x < r.first.size(); ++x) REQUIRE(r.first[x] == Approx(r.second[x]).margin(1e-12));
  };
  same(both_paths(tl::program(dense), S::C, ext));
  same(both_paths(tl::program(bare), S::C, ext));
  same(both_paths(tl::program(scaled), S::C, ext));
  // the second equation of a group accumulates: the generic kernel (the head is not free to hold the GEMM)
  same(both_paths(tl::program(S::C(i, k) = S::D(i, k) * 1.0, dense), S::C, ext));
  // and a naive loop, run twice (the GEMM overwrites the previous result before f reads it)
  const auto a = random_values<double>(ni * nj, 3), bb = random_values<double>(nj * nk, 4),
             bv = random_values<double>(nk, 5);
  constexpr auto prog = tl::program(dense);
  tl::store s(prog, ext);
  tl::bind(s, S::A, a.data(), a.size());
  tl::bind(s, S::B, bb.data(), bb.size());
  tl::bind(s, b, bv.data(), bv.size());
  tl::eval(prog, s);
  tl::eval(prog, s);
  for (std::size_t r = 0; r < ni; ++r)
    for (std::size_t q = 0; q < nk; ++q) {
      double want = bv[q];
      for (std::size_t x = 0; x < nj; ++x) want += a[r * nj + x] * bb[x * nk + q];
      REQUIRE(s[S::C](r, q) == Approx(want > 0 ? want : 0.0).margin(1e-12));
    }
}
