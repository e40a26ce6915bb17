// Attention in a gradient program: tl::gradient of a program holding S = softmax(q, Q K c) (or causal) and O = S V runs
// the group as the fused forward pass (with row statistics) and the fused backward pass, with S and its adjoints
// neither allocated nor computed unless read. Checked against the same gradient program with the fusion off (every
// equation as written, S materialized), and against finite differences of the loss; with nn::attention's layouts
// (batch and head indices around p and d) in a two-block transformer; and the programs the recognition must refuse.
#include <catch2/catch.hpp>
#include <cmath>
#include <random>
#include <string_view>
#include <tensorlogic/tensorlogic.hpp>
#include <vector>

namespace tl = tensorlogic;

namespace {
inline constexpr tl::index<"h"> h;
inline constexpr tl::index<"p"> p;
inline constexpr tl::index<"q"> q;
inline constexpr tl::index<"d"> d;
inline constexpr tl::index<"e"> e;
inline constexpr tl::tensor<"Qt", double, 3> Qt;
inline constexpr tl::tensor<"Kt", double, 3> Kt;
inline constexpr tl::tensor<"Vt", double, 3> Vt;
inline constexpr tl::tensor<"St", double, 3> St;
inline constexpr tl::tensor<"Ot", double, 3> Ot;
inline constexpr tl::tensor<"Gt", double, 3> Gt;
inline constexpr tl::tensor<"Lt", double, 0> Lt;
inline constexpr tl::scalar<"c", double> c;

constexpr auto plain = tl::gradient(
    tl::program(St(h, p, q) = tl::softmax(q, Qt(h, p, d) * Kt(h, q, d) * c), Ot(h, p, e) = St(h, p, q) * Vt(h, q, e),
                Lt() = Ot(h, p, e) * Gt(h, p, e)),
    Lt, tl::wrt(Qt, Kt, Vt));
constexpr auto causal = tl::gradient(
    tl::program(St(h, p, q) = tl::softmax(q, tl::where(q <= p, Qt(h, p, d) * Kt(h, q, d) * c, -1e30)),
                Ot(h, p, e) = St(h, p, q) * Vt(h, q, e), Lt() = Ot(h, p, e) * Gt(h, p, e)),
    Lt, tl::wrt(Qt, Kt, Vt));
// the product written as a projection: no B2, the where over the product is B's right-hand side
constexpr auto causal_sum = tl::gradient(
    tl::program(St(h, p, q) = tl::softmax(q, tl::where(q <= p, tl::sum(d, Qt(h, p, d) * Kt(h, q, d)) * c, -1e30)),
                Ot(h, p, e) = St(h, p, q) * Vt(h, q, e), Lt() = Ot(h, p, e) * Gt(h, p, e)),
    Lt, tl::wrt(Qt, Kt, Vt));
// only Q's adjoint: the backward pass writes dK and dV into buffers of its own
constexpr auto queries_only = tl::gradient(
    tl::program(St(h, p, q) = tl::softmax(q, Qt(h, p, d) * Kt(h, q, d) * c), Ot(h, p, e) = St(h, p, q) * Vt(h, q, e),
                Lt() = Ot(h, p, e) * Gt(h, p, e)),
    Lt, tl::wrt(Qt));
// only V's adjoint: S carries none, so the scores are not split into their own tensors; not recognized (the
// gradient program reads S in grad(V)'s equation, so the forward pair is not fused either)
constexpr auto values_only = tl::gradient(
    tl::program(St(h, p, q) = tl::softmax(q, Qt(h, p, d) * Kt(h, q, d) * c), Ot(h, p, e) = St(h, p, q) * Vt(h, q, e),
                Lt() = Ot(h, p, e) * Gt(h, p, e)),
    Lt, tl::wrt(Vt));
// S read by the loss too: its adjoint has two sources, the group is not recognized
constexpr auto scores_read = tl::gradient(
    tl::program(St(h, p, q) = tl::softmax(q, Qt(h, p, d) * Kt(h, q, d) * c), Ot(h, p, e) = St(h, p, q) * Vt(h, q, e),
                Lt() = Ot(h, p, e) * Gt(h, p, e) + St(h, p, q) * St(h, p, q)),
    Lt, tl::wrt(Qt, Kt, Vt));
// Q read by another equation: grad(Q) has two equations
inline constexpr tl::tensor<"Rt", double, 3> Rt;
constexpr auto query_shared = tl::gradient(
    tl::program(St(h, p, q) = tl::softmax(q, Qt(h, p, d) * Kt(h, q, d) * c), Ot(h, p, e) = St(h, p, q) * Vt(h, q, e),
                Rt(h, p, d) = Qt(h, p, d) * Qt(h, p, d), Lt() = Ot(h, p, e) * Gt(h, p, e) + Rt(h, p, d)),
    Lt, tl::wrt(Qt, Kt, Vt));

template <class Prog>
constexpr int count_role(int role) {
  int k = 0;
  for (int x = 0; x < static_cast<int>(Prog::size); ++x)
    k += tl::detail::attention_training<Prog>::table.role[x] == role;
  return k;
}

template <class Prog>
constexpr int equation_of(std::string_view head) {
  int found = -1;
  [&]<std::size_t... E>(std::index_sequence<E...>) {
    ((found = std::remove_cvref_t<tl::detail::element_t<E, decltype(Prog::equations)>>::head::name.view() == head
                  ? static_cast<int>(E)
                  : found),
     ...);
  }(std::make_index_sequence<Prog::size>{});
  return found;
}

// The recognized groups: S, its body (and B2 when causal), grad(S), dot(S), grad(B) (and grad(B2)) deferred; O the
// forward pass; the first adjoint the backward pass, the two others written by it.
using plain_t = decltype(plain);
using causal_t = decltype(causal);
static_assert(count_role<plain_t>(1) == 5 && count_role<plain_t>(2) == 1 && count_role<plain_t>(3) == 1 &&
              count_role<plain_t>(4) == 2);
static_assert(count_role<causal_t>(1) == 7 && count_role<causal_t>(2) == 1 && count_role<causal_t>(3) == 1 &&
              count_role<causal_t>(4) == 2);
static_assert(count_role<decltype(causal_sum)>(1) == 5 && count_role<decltype(causal_sum)>(2) == 1 &&
              count_role<decltype(causal_sum)>(3) == 1 && count_role<decltype(causal_sum)>(4) == 2);
static_assert(tl::detail::attention_training<plain_t>::table.role[equation_of<plain_t>("Ot")] == 2);
static_assert(tl::detail::attention_training<plain_t>::table.role[equation_of<plain_t>("St")] == 1);
static_assert(tl::detail::attention_training<plain_t>::table.role[equation_of<plain_t>("grad(St)")] == 1);
static_assert(count_role<decltype(queries_only)>(1) == 5 && count_role<decltype(queries_only)>(3) == 1 &&
              count_role<decltype(queries_only)>(4) == 0);
static_assert(count_role<decltype(values_only)>(1) == 0 && count_role<decltype(values_only)>(2) == 0);
static_assert(count_role<decltype(scores_read)>(1) == 0 && count_role<decltype(scores_read)>(2) == 0);
static_assert(count_role<decltype(query_shared)>(1) == 0 && count_role<decltype(query_shared)>(2) == 0);
#if TENSORLOGIC_HAVE_KOKKOS_KERNELS
static_assert(std::string_view(tl::detail::execution_path<equation_of<causal_t>("Ot"), causal_t>()) ==
              "fused attention (online softmax over key tiles, with row statistics)");
static_assert(std::string_view(tl::detail::execution_path<equation_of<causal_t>("St"), causal_t>()) ==
              "fused attention training (not materialized; computed on first read)");
#endif

template <class Prog>
struct run_result {
  std::vector<double> o, dq, dk, dv, scores, scores_adjoint;
  bool pending = false;
};

// One eval of a gradient program over random inputs (the same for a given seed), fused or not.
template <class Prog>
run_result<Prog> run(const Prog& prog, bool fuse, long heads, long n, long dim, long ev, std::uint64_t seed) {
  tl::set_attention_fusion(fuse);
  tl::store s(prog, tl::extents(h = heads, p = n, q = n, d = dim, e = ev));
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  auto fill = [&](auto& view) {
    for (std::size_t k = 0; k < view.span(); ++k) view.data()[k] = u(gen);
  };
  fill(s[Qt]);
  fill(s[Kt]);
  fill(s[Vt]);
  fill(s[Gt]);
  tl::bind(s, c, 1.0 / std::sqrt(static_cast<double>(dim)));
  tl::eval(prog, s);
  run_result<Prog> r;
  r.pending = s.pending(St);
  auto copy = [](const auto& v) { return std::vector<double>(v.data(), v.data() + v.span()); };
  r.o = copy(s[Ot]);
  if constexpr (Prog::template contains<decltype(tl::grad(Qt))>) r.dq = copy(s[tl::grad(Qt)]);
  if constexpr (Prog::template contains<decltype(tl::grad(Kt))>) r.dk = copy(s[tl::grad(Kt)]);
  if constexpr (Prog::template contains<decltype(tl::grad(Vt))>) r.dv = copy(s[tl::grad(Vt)]);
  // read after the fact, S and its adjoint are computed on demand from the store as it is
  r.scores = copy(s[St]);
  r.scores_adjoint = copy(s[tl::grad(St)]);
  tl::set_attention_fusion(true);
  return r;
}

void require_same(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  for (std::size_t k = 0; k < a.size(); ++k) REQUIRE(a[k] == Approx(b[k]).margin(1e-11));
}
}  // namespace

TEST_CASE("attention in a gradient program runs as the fused forward and backward passes", "[attention][gradient]") {
  // 300 positions: three blocks of 128 query rows and two of 256 keys
  for (long n : {7L, 300L}) {
    INFO(n << " positions");
    auto check = [&](const auto& prog) {
      const auto fused = run(prog, true, 2, n, 6, 5, 17);
      const auto reference = run(prog, false, 2, n, 6, 5, 17);
      CHECK(fused.pending == tl::vendor_gemm_available());
      CHECK_FALSE(reference.pending);
      require_same(fused.o, reference.o);
      require_same(fused.dq, reference.dq);
      require_same(fused.dk, reference.dk);
      require_same(fused.dv, reference.dv);
      require_same(fused.scores, reference.scores);
      require_same(fused.scores_adjoint, reference.scores_adjoint);
    };
    check(plain);
    check(causal);
    check(causal_sum);
    check(queries_only);
  }
}

TEST_CASE("the fused attention gradient matches finite differences of the loss", "[attention][gradient]") {
  const long heads = 2, n = 5, dim = 3, ev = 2;
  tl::store s(causal, tl::extents(h = heads, p = n, q = n, d = dim, e = ev));
  std::mt19937_64 gen(5);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  for (auto* v : {&s[Qt], &s[Kt], &s[Vt], &s[Gt]})
    for (std::size_t k = 0; k < v->span(); ++k) v->data()[k] = u(gen);
  tl::bind(s, c, 0.8);
  tl::eval(causal, s);
  CHECK(s.pending(St) == tl::vendor_gemm_available());
  const std::vector<double> dq(s[tl::grad(Qt)].data(), s[tl::grad(Qt)].data() + s[tl::grad(Qt)].span());
  const std::vector<double> dk(s[tl::grad(Kt)].data(), s[tl::grad(Kt)].data() + s[tl::grad(Kt)].span());
  auto loss = [&] {
    tl::eval(causal, s);
    return s[Lt]();
  };
  auto check = [&](auto& view, const std::vector<double>& grad) {
    for (std::size_t k = 0; k < view.span(); ++k) {
      const double keep = view.data()[k], step = 1e-5;
      view.data()[k] = keep + step;
      const double up = loss();
      view.data()[k] = keep - step;
      const double down = loss();
      view.data()[k] = keep;
      REQUIRE(grad[k] == Approx((up - down) / (2 * step)).margin(1e-8));
    }
  };
  check(s[Qt], dq);
  check(s[Kt], dk);
}

TEST_CASE("nn::attention trains through the fused passes: two transformer blocks, batch and head indices",
          "[attention][gradient]") {
  constexpr tl::index<"n"> nb;
  constexpr tl::tensor<"X", double, 3> X;
  constexpr tl::tensor<"H", double, 3> H;
  constexpr tl::tensor<"Y", double, 3> Y;
  constexpr tl::tensor<"T", double, 3> T;
  constexpr tl::tensor<"L", double, 0> L;
  constexpr tl::nn::transformer_block<"b1", double, tl::nn::mask::causal> b1;
  constexpr tl::nn::transformer_block<"b2", double, tl::nn::mask::causal> b2;
  constexpr auto net = tl::compose(b1(H(nb, p, e), X(nb, p, e), q), b2(Y(nb, p, e), H(nb, p, e), q),
                                   tl::program(L() = (Y(nb, p, e) - T(nb, p, e)) * (Y(nb, p, e) - T(nb, p, e))));
  constexpr auto train = tl::gradient(net, L, tl::nn::parameters(b1, b2));
  using train_t = decltype(train);
  static_assert(count_role<train_t>(2) == 2 && count_role<train_t>(3) == 2 && count_role<train_t>(4) == 4 &&
                count_role<train_t>(1) == 14);
  auto run_net = [&](bool fuse) {
    tl::set_attention_fusion(fuse);
    tl::store s(train, tl::extents(nb = 2, p = 40, q = 40, e = 12, b1.att.head = 3, b1.att.hd = 4, b2.att.head = 2,
                                   b2.att.hd = 6, b1.ff.h<0> = 16, b2.ff.h<0> = 16));
    tl::nn::init(s, 7, b1, b2);
    std::mt19937_64 gen(8);
    std::uniform_real_distribution<double> u(-1.0, 1.0);
    for (auto* v : {&s[X], &s[T]})
      for (std::size_t k = 0; k < v->span(); ++k) v->data()[k] = u(gen);
    tl::eval(train, s);
    // fused, no S-sized tensor was allocated
    constexpr std::size_t scores = static_cast<std::size_t>(train_t::slot_of("b1.att.S"));
    CHECK(s.template allocated<scores>() == !(fuse && tl::vendor_gemm_available()));
    std::vector<double> out{s[L]()};
    for (const auto* v : {&s[tl::grad(b1.att.Wq)], &s[tl::grad(b1.att.Wk)], &s[tl::grad(b1.att.Wv)],
                          &s[tl::grad(b2.att.Wq)], &s[tl::grad(b2.att.Wk)], &s[tl::grad(b2.att.Wv)],
                          &s[tl::grad(b1.att.Wo)]})
      out.insert(out.end(), v->data(), v->data() + v->span());
    const auto& gain = s[tl::grad(b1.ln1.g)];
    out.insert(out.end(), gain.data(), gain.data() + gain.span());
    tl::set_attention_fusion(true);
    return out;
  };
  const auto fused = run_net(true);
  const auto reference = run_net(false);
  require_same(fused, reference);
}
