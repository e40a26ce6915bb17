// A named program: a class derived from a program's type (`struct net_t : decltype(...) {};`) is a program
// everywhere — store, eval, fixpoint, compose, gradient, to_string, explain — and gives the same results as the
// unnamed one. Its point is compile time: the compiler spells the short name instead of every equation in each
// function it instantiates for the program (docs/performance.md, "Compile time"). As written, on GCC and Clang,
// `tl::program(...)` deduces such a short-named type itself (a keyed program, core/program.hpp); tested below too.
#include <catch2/catch.hpp>
#include <cmath>
#include <string>
#include <string_view>
#include <typeinfo>
#include <tensorlogic/tensorlogic.hpp>

#include "../support/naive.hpp"

namespace tl = tensorlogic;
using tl::test::fill_random;

namespace {
inline constexpr tl::index<"n"> n;
inline constexpr tl::index<"i"> i;
inline constexpr tl::index<"o"> o;
inline constexpr tl::tensor<"X", double, 2> X;
inline constexpr tl::tensor<"W1", double, 2> W1;
inline constexpr tl::tensor<"b1", double, 1> b1;
inline constexpr tl::tensor<"H", double, 2> H;
inline constexpr tl::tensor<"w2", double, 1> w2;
inline constexpr tl::tensor<"Y", double, 1> Y;
inline constexpr tl::tensor<"T", double, 1> T;
inline constexpr tl::tensor<"L", double, 0> L;
inline constexpr tl::tensor<"Z", double, 1> Z;
inline constexpr tl::relation<"Edge", 2> Edge;
inline constexpr tl::relation<"Path", 2> Path;
inline constexpr tl::index<"x"> x;
inline constexpr tl::index<"y"> y;
inline constexpr tl::index<"z"> z;
}  // namespace

constexpr auto mlp = tl::program(H(n, o) = tl::tanh(W1(o, i) * X(n, i) + b1(o)), Y(n) = w2(o) * H(n, o),
                                 L() = 0.5 * tl::square(Y(n) - T(n)));
struct mlp_t : std::remove_cvref_t<decltype(mlp)> {};
constexpr mlp_t named_mlp{mlp};

constexpr auto train = tl::gradient(named_mlp, L, tl::wrt(W1, b1, w2));
struct train_t : std::remove_cvref_t<decltype(train)> {};
constexpr train_t named_train{train};

constexpr auto closure = tl::program(Path(x, y) = Edge(x, y), Path(x, z) = Path(x, y) * Edge(y, z));
struct closure_t : std::remove_cvref_t<decltype(closure)> {};
constexpr closure_t named_closure{closure};

static_assert(tl::detail::is_program<mlp_t>::value && tl::detail::is_program<train_t>::value);
static_assert(mlp_t::size == 3 && mlp_t::n_slots == decltype(mlp)::n_slots);

#if TENSORLOGIC_KEYED_PROGRAMS
// tl::program(...) deduces program<program_key<H>>, derived from the spelled program<equations...>, H a hash of
// that spelling: the same equations give the same type, other equations another.
using mlp_keyed = std::remove_cvref_t<decltype(mlp)>;
using mlp_spelled = mlp_keyed::spelled_program;
static_assert(std::is_base_of_v<mlp_spelled, mlp_keyed> && !std::is_same_v<mlp_spelled, mlp_keyed>);
static_assert(std::is_same_v<std::remove_cvref_t<decltype(tl::program(H(n, o) = tl::tanh(W1(o, i) * X(n, i) + b1(o)),
                                                                      Y(n) = w2(o) * H(n, o),
                                                                      L() = 0.5 * tl::square(Y(n) - T(n))))>,
                             mlp_keyed>);
static_assert(!std::is_same_v<std::remove_cvref_t<decltype(tl::program(H(n, o) = tl::tanh(W1(o, i) * X(n, i) + b1(o)),
                                                                       Y(n) = w2(o) * H(n, o),
                                                                       L() = 0.5 * tl::square(Y(n) + T(n))))>,
                              mlp_keyed>);
static_assert(mlp_keyed::size == 3 && mlp_keyed::n_slots == mlp_spelled::n_slots);
static_assert(tl::detail::is_program<mlp_keyed>::value && tl::detail::is_program<mlp_spelled>::value);
constexpr mlp_spelled spelled_mlp{mlp};
#endif

namespace {
template <class Prog>
auto mlp_store(const Prog& prog) {
  tl::store s(prog, tl::extents(n = 5, i = 3, o = 4));
  fill_random(s[X], 1);
  fill_random(s[W1], 2);
  fill_random(s[b1], 3);
  fill_random(s[w2], 4);
  fill_random(s[T], 5);
  return s;
}
}  // namespace

TEST_CASE("a named program evaluates as the program it names, and as naive loops", "[exec][named]") {
  auto plain = mlp_store(mlp);
  auto named = mlp_store(named_mlp);
  STATIC_REQUIRE(std::is_same_v<typename decltype(named)::program_type, mlp_t>);
  tl::eval(mlp, plain);
  tl::eval(named_mlp, named);
  double loss = 0;
  for (int a = 0; a < 5; ++a) {
    double yv = 0;
    for (int q = 0; q < 4; ++q) {
      double pre = named[b1](q);
      for (int c = 0; c < 3; ++c) pre += named[W1](q, c) * named[X](a, c);
      const double h = std::tanh(pre);
      CHECK(named[H](a, q) == Approx(h).epsilon(1e-13));
      CHECK(named[H](a, q) == plain[H](a, q));
      yv += named[w2](q) * h;
    }
    CHECK(named[Y](a) == Approx(yv).epsilon(1e-13));
    loss += 0.5 * (yv - named[T](a)) * (yv - named[T](a));
  }
  CHECK(named[L]() == Approx(loss).epsilon(1e-13));
  CHECK(named[L]() == plain[L]());
  CHECK(tl::to_string(named_mlp) == tl::to_string(mlp));
  CHECK(tl::explain(named_mlp, named) == tl::explain(mlp, plain));
}

TEST_CASE("a named program composes, and its gradient program (named too) equals the unnamed one's", "[exec][named]") {
  constexpr auto more = tl::compose(named_mlp, Z(n) = 2.0 * Y(n));
  STATIC_REQUIRE(decltype(more)::size == 4);
  auto s = mlp_store(more);
  tl::eval(more, s);
  for (int a = 0; a < 5; ++a) CHECK(s[Z](a) == 2.0 * s[Y](a));

  constexpr auto plain_train = tl::gradient(mlp, L, tl::wrt(W1, b1, w2));
  auto ps = mlp_store(plain_train);
  auto ns = mlp_store(named_train);
  tl::eval(plain_train, ps);
  tl::eval(named_train, ns);
  constexpr auto gW1 = tl::grad(W1);
  constexpr auto gb1 = tl::grad(b1);
  constexpr auto gw2 = tl::grad(w2);
  for (int q = 0; q < 4; ++q) {
    CHECK(ns[gb1](q) == ps[gb1](q));
    CHECK(ns[gw2](q) == ps[gw2](q));
    for (int c = 0; c < 3; ++c) CHECK(ns[gW1](q, c) == ps[gW1](q, c));
  }
  // and against a finite difference of the named forward program, for one weight
  auto fwd = mlp_store(named_mlp);
  const double h = 1e-6, w = fwd[W1](1, 2);
  fwd[W1](1, 2) = w + h;
  tl::eval(named_mlp, fwd);
  const double up = fwd[L]();
  fwd[W1](1, 2) = w - h;
  tl::eval(named_mlp, fwd);
  const double down = fwd[L]();
  CHECK(ns[gW1](1, 2) == Approx((up - down) / (2 * h)).epsilon(1e-6));
  CHECK(tl::to_string(named_train) == tl::to_string(plain_train));
}

TEST_CASE("a named recursive program reaches the same fixpoint", "[exec][named]") {
  const long nodes = 9;
  auto run = [&](const auto& prog) {
    tl::store s(prog, tl::extents(x = nodes, y = nodes, z = nodes));
    Kokkos::deep_copy(s[Edge], 0);
    for (long a = 0; a + 1 < nodes; ++a) s[Edge](a, a + 1) = 1;
    s[Edge](nodes - 1, 3) = 1;  // a cycle through 3 .. 8
    tl::fixpoint(prog, s);
    return s;
  };
  auto plain = run(closure);
  auto named = run(named_closure);
  for (long a = 0; a < nodes; ++a)
    for (long b = 0; b < nodes; ++b) {
      const bool want = b > a || (a >= 3 && b >= 3);  // every later node; inside the cycle, every node of it
      CHECK(static_cast<bool>(named[Path](a, b)) == want);
      CHECK(named[Path](a, b) == plain[Path](a, b));
    }
}

#if TENSORLOGIC_KEYED_PROGRAMS
TEST_CASE("a program as written is keyed: a short type name, the spelled program's results", "[exec][named]") {
  // the names the compiler spells: a few dozen characters for the keyed type, every equation for the spelled one
  const std::string_view keyed = typeid(mlp_keyed).name(), spelled = typeid(mlp_spelled).name();
  CHECK(keyed.size() < 80);
  CHECK(spelled.size() > 400);
  const std::string_view train_name = typeid(std::remove_cvref_t<decltype(train)>).name();
  CHECK(train_name.size() < 80);

  auto k = mlp_store(mlp);
  auto sp = mlp_store(spelled_mlp);
  STATIC_REQUIRE(std::is_same_v<typename decltype(sp)::program_type, mlp_spelled>);
  tl::eval(mlp, k);
  tl::eval(spelled_mlp, sp);
  for (int a = 0; a < 5; ++a) {
    CHECK(k[Y](a) == sp[Y](a));
    for (int q = 0; q < 4; ++q) CHECK(k[H](a, q) == sp[H](a, q));
  }
  CHECK(k[L]() == sp[L]());
  CHECK(tl::to_string(mlp) == tl::to_string(spelled_mlp));
  CHECK(tl::explain(mlp, k) == tl::explain(spelled_mlp, sp));
}
#endif
