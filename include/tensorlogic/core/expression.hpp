// Expression nodes of the right-hand side: references W(i, j), numeric constants, elementwise functions, explicit
// projections, normalizers, index comparisons and negation. The tree's shape and its names are the type; numeric
// constants live in the value. Each node answers, at compile time, which indices it uses, which are free (not
// projected inside it) and which symbols it reads.
#pragma once
#include <cstddef>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include <tensorlogic/core/error.hpp>
#include <tensorlogic/core/index.hpp>

namespace tensorlogic {

template <class... T>
struct type_list {};

namespace detail {
// The K-th type of a pack in O(1) instantiations: the pack becomes the bases of one class, and overload resolution
// picks the base numbered K.
template <std::size_t K, class T>
struct indexed_type {
  using type = T;
};
template <class Seq, class... T>
struct type_indexer;
template <std::size_t... K, class... T>
struct type_indexer<std::index_sequence<K...>, T...> : indexed_type<K, T>... {};
template <std::size_t K, class T>
indexed_type<K, T> select_indexed(const indexed_type<K, T>*);
template <std::size_t K, class... T>
using pack_element_t = typename decltype(select_indexed<K>(
    static_cast<const type_indexer<std::index_sequence_for<T...>, T...>*>(nullptr)))::type;

// A tuple whose K-th element is reached in O(1) deductions: std::get on a std::tuple deduces its base
// _Tuple_impl<K, Head, Tail...> by walking a recursive hierarchy, a cost in the number of elements on every call; a
// store's views (one per symbol) are read that way in every kernel launch, so on a 64-equation program each std::get
// cost tens of milliseconds of compile time. Here each element is a direct base numbered K (tensorlogic::get). It is
// an aggregate: constructing or copying one chooses no constructor, where each std::tuple construction overload-
// resolves among a dozen constrained constructors (a tree of __and_ / is_constructible instantiations per new node
// type); expression nodes hold their operands and subscripts in one for that reason.
template <std::size_t K, class T>
struct tuple_leaf {
  T value{};
};
template <class Seq, class... T>
struct indexed_tuple_base;
template <std::size_t... K, class... T>
struct indexed_tuple_base<std::index_sequence<K...>, T...> : tuple_leaf<K, T>... {};
}  // namespace detail

// A tuple of an expression node's operands (apply::args), a reference's subscripts (ref::dims), a program's equations
// and a store's views (store::views()): tensorlogic::get<K>(t) is its K-th element.
template <class... T>
struct indexed_tuple : detail::indexed_tuple_base<std::index_sequence_for<T...>, T...> {
  static constexpr std::size_t size = sizeof...(T);
};
template <std::size_t K, class T>
constexpr T& get(detail::tuple_leaf<K, T>& leaf) noexcept {
  return leaf.value;
}
template <std::size_t K, class T>
constexpr const T& get(const detail::tuple_leaf<K, T>& leaf) noexcept {
  return leaf.value;
}
namespace detail {
// The K-th element type of an indexed tuple, and f(elements...) of one.
template <std::size_t K, class Tuple>
using element_t = std::remove_cvref_t<decltype(tensorlogic::get<K>(std::declval<const Tuple&>()))>;
template <class F, class... T>
constexpr decltype(auto) apply_tuple(F&& f, const indexed_tuple<T...>& t) {
  return [&]<std::size_t... K>(std::index_sequence<K...>) -> decltype(auto) {
    return f(tensorlogic::get<K>(t)...);
  }(std::index_sequence_for<T...>{});
}
// An indexed tuple of copies of its arguments (aggregate initialization: no constructor to choose among).
template <class... T>
constexpr indexed_tuple<T...> make_indexed_tuple(const T&... v) {
  return indexed_tuple<T...>{{{v}...}};
}
}  // namespace detail

// Elementwise operations. Kernels receive these as enum template arguments.
enum class op : int {
  add, sub, mul, div, neg,
  exp, log, sqrt, abs, square, relu, sigmoid, tanh, step,
  pow, sigmoid_t, min, max, clamp, where, stop_grad, not_
};
enum class reduce_op : int { sum, max, min, mean, any, logsumexp };
enum class norm_op : int { softmax, log_softmax, lnorm };
enum class cmp_op : int { eq, ne, lt, le, gt, ge };
enum class symbol_kind : int { tensor, relation, scalar };

namespace detail {

struct name_info {
  std::string_view name;
  std::size_t extent = dynamic_extent;
  bool derived = false;  // a tl::dimension_index: its extent is a tensor's, set by the store
};

// A small constexpr set of names (insertion order kept); name_set holds index names, bigger ones tensor names.
template <int Capacity>
struct basic_name_set {
  static constexpr int capacity = Capacity;
  name_info items[capacity]{};
  int size = 0;
  constexpr int find(std::string_view n) const {
    for (int k = 0; k < size; ++k)
      if (items[k].name == n) return k;
    return -1;
  }
  constexpr bool contains(std::string_view n) const { return find(n) >= 0; }
  constexpr void add(name_info n) {
    if (!contains(n.name)) items[size++] = n;
  }
  constexpr void add_all(const basic_name_set& o) {
    for (int k = 0; k < o.size; ++k) add(o.items[k]);
  }
  constexpr void remove(std::string_view n) {
    int k = find(n);
    if (k < 0) return;
    for (int m = k; m + 1 < size; ++m) items[m] = items[m + 1];
    --size;
  }
};
using name_set = basic_name_set<48>;

template <class D>
constexpr void dim_indices(name_set& out) {
  if constexpr (index_type<D>) {
    out.add({D::name.view(), D::extent, derived_extent_index<D>});
  } else {
    [&]<bool Dv, class... V>(index_affine<Dv, V...>*) { (out.add({V::name.view(), V::extent, derived_extent_index<V>}), ...); }(
        static_cast<D*>(nullptr));
  }
}

// Every index occurrence with its static extent, including repeats (for extent-conflict checks).
struct index_use_list {
  static constexpr int capacity = 128;
  name_info items[capacity]{};
  int size = 0;
  constexpr void add(name_info n) {
    if (size < capacity) items[size++] = n;
  }
};
template <class D>
constexpr void dim_uses(index_use_list& out) {
  if constexpr (index_type<D>) {
    out.add({D::name.view(), D::extent, derived_extent_index<D>});
  } else {
    [&]<bool Dv, class... V>(index_affine<Dv, V...>*) { (out.add({V::name.view(), V::extent, derived_extent_index<V>}), ...); }(
        static_cast<D*>(nullptr));
  }
}

template <class A, class B>
struct concat;
template <class... A, class... B>
struct concat<type_list<A...>, type_list<B...>> {
  using type = type_list<A..., B...>;
};
template <class... L>
struct concat_all {
  using type = type_list<>;
};
template <class L, class... R>
struct concat_all<L, R...> {
  using type = typename concat<L, typename concat_all<R...>::type>::type;
};

template <class T>
struct is_expression : std::false_type {};
}  // namespace detail

template <class T>
concept expression = detail::is_expression<std::remove_cvref_t<T>>::value;
template <class T>
concept operand = expression<T> || std::is_arithmetic_v<std::remove_cvref_t<T>>;

// A numeric constant in an expression.
struct constant {
  double value;
  static constexpr void indices(detail::name_set&) {}
  static constexpr void index_uses(detail::index_use_list&) {}
  static constexpr void free_indices(detail::name_set&) {}
  using symbols = type_list<>;
  using negated = type_list<>;
  static constexpr int normalizers = 0;
};

template <class T>
constexpr auto as_expression(T t) {
  if constexpr (std::is_arithmetic_v<T>)
    return constant{static_cast<double>(t)};
  else
    return t;
}

template <class L, class R>
struct equation;

namespace detail {
template <class Lhs, class Rhs>
constexpr equation<Lhs, Rhs> make_equation(const Lhs& l, const Rhs& r);
}

// A reference to a symbol with subscripts: W(i, j), X(i, t + 1), M(0, j).
template <class Sym, class... Dims>
struct ref {
  using symbol = Sym;
  indexed_tuple<Dims...> dims;

  constexpr ref() = default;
  constexpr ref(const ref&) = default;
  constexpr explicit ref(const indexed_tuple<Dims...>& d) : dims(d) {}
  constexpr explicit ref(const std::tuple<Dims...>& d)
      : dims(std::apply([](const auto&... x) { return detail::make_indexed_tuple<Dims...>(x...); }, d)) {}

  static constexpr void indices(detail::name_set& out) { (detail::dim_indices<Dims>(out), ...); }
  static constexpr void index_uses(detail::index_use_list& out) { (detail::dim_uses<Dims>(out), ...); }
  static constexpr void free_indices(detail::name_set& out) { indices(out); }
  using symbols = type_list<Sym>;
  using negated = type_list<>;
  static constexpr int normalizers = 0;

  // `Y(i) = rhs` builds an equation value; nothing runs.
  // The return types are spelled out so that type traits (is_assignable) never instantiate the checks.
  template <operand Rhs>
  constexpr equation<ref, decltype(as_expression(std::declval<Rhs>()))> operator=(const Rhs& rhs) const {
    return detail::make_equation(*this, as_expression(rhs));
  }
  constexpr equation<ref, ref> operator=(const ref& rhs) const { return detail::make_equation(*this, rhs); }
};

// An elementwise operation over its arguments.
template <op Op, class... Args>
struct apply {
  static constexpr tensorlogic::op operation = Op;
  indexed_tuple<Args...> args;
  static constexpr void indices(detail::name_set& out) { (Args::indices(out), ...); }
  static constexpr void index_uses(detail::index_use_list& out) { (Args::index_uses(out), ...); }
  static constexpr void free_indices(detail::name_set& out) { (Args::free_indices(out), ...); }
  using symbols = typename detail::concat_all<typename Args::symbols...>::type;
  using negated = std::conditional_t<Op == op::not_, typename detail::concat_all<typename Args::symbols...>::type,
                                     typename detail::concat_all<typename Args::negated...>::type>;
  static constexpr int normalizers = (0 + ... + Args::normalizers);
};

// An explicit projection: tl::sum(j, e), tl::max(j, k, e), ...
template <reduce_op Op, class Body, class... Idx>
struct reduction {
  static constexpr reduce_op operation = Op;
  Body body;
  static constexpr void indices(detail::name_set& out) {
    Body::indices(out);
    (out.add({Idx::name.view(), Idx::extent}), ...);
  }
  static constexpr void index_uses(detail::index_use_list& out) {
    Body::index_uses(out);
    (out.add({Idx::name.view(), Idx::extent}), ...);
  }
  static constexpr void free_indices(detail::name_set& out) {
    detail::name_set inner;
    Body::free_indices(inner);
    (inner.remove(Idx::name.view()), ...);
    out.add_all(inner);
  }
  using symbols = typename Body::symbols;
  using negated = typename Body::negated;
  static constexpr int normalizers = Body::normalizers;
};

// A normalizer over one index of the left-hand side: softmax, log_softmax, lnorm.
template <norm_op Op, class Idx, class Body>
struct normalization {
  static constexpr norm_op operation = Op;
  using normalized_index = Idx;
  Body body;
  static constexpr void indices(detail::name_set& out) {
    Body::indices(out);
    out.add({Idx::name.view(), Idx::extent});
  }
  static constexpr void index_uses(detail::index_use_list& out) {
    Body::index_uses(out);
    out.add({Idx::name.view(), Idx::extent});
  }
  static constexpr void free_indices(detail::name_set& out) {
    Body::free_indices(out);
    out.add({Idx::name.view(), Idx::extent});
  }
  using symbols = typename Body::symbols;
  using negated = typename Body::negated;
  static constexpr int normalizers = Body::normalizers + 1;
};

// An index comparison used as a Boolean factor: (x != y), (q <= p).
template <cmp_op Op, class A, class B>
struct comparison {
  static constexpr cmp_op operation = Op;
  A a;
  B b;
  static constexpr void indices(detail::name_set& out) {
    detail::dim_indices<A>(out);
    detail::dim_indices<B>(out);
  }
  static constexpr void index_uses(detail::index_use_list& out) {
    detail::dim_uses<A>(out);
    detail::dim_uses<B>(out);
  }
  static constexpr void free_indices(detail::name_set& out) { indices(out); }
  using symbols = type_list<>;
  using negated = type_list<>;
  static constexpr int normalizers = 0;
};

namespace detail {
template <>
struct is_expression<constant> : std::true_type {};
template <class S, class... D>
struct is_expression<ref<S, D...>> : std::true_type {};
template <op O, class... A>
struct is_expression<apply<O, A...>> : std::true_type {};
template <reduce_op O, class B, class... I>
struct is_expression<reduction<O, B, I...>> : std::true_type {};
template <norm_op O, class I, class B>
struct is_expression<normalization<O, I, B>> : std::true_type {};
template <cmp_op O, class A, class B>
struct is_expression<comparison<O, A, B>> : std::true_type {};

template <class T>
inline constexpr bool is_apply = false;
template <op O, class... A>
inline constexpr bool is_apply<apply<O, A...>> = true;
template <class T>
inline constexpr bool is_reduction = false;
template <reduce_op O, class B, class... I>
inline constexpr bool is_reduction<reduction<O, B, I...>> = true;
template <class T>
inline constexpr bool is_normalization = false;
template <norm_op O, class I, class B>
inline constexpr bool is_normalization<normalization<O, I, B>> = true;
template <class T>
inline constexpr bool is_comparison = false;
template <cmp_op O, class A, class B>
inline constexpr bool is_comparison<comparison<O, A, B>> = true;
template <class T>
inline constexpr bool is_constant = std::is_same_v<T, constant>;
template <class T>
inline constexpr bool is_ref = false;
template <class S, class... D>
inline constexpr bool is_ref<ref<S, D...>> = true;

template <op Op, class... Args>
constexpr auto make_apply(const Args&... args) {
  return apply<Op, decltype(as_expression(args))...>{{{{as_expression(args)}...}}};
}
}  // namespace detail

// Arithmetic between expressions and numbers.
template <operand A, operand B>
  requires(expression<A> || expression<B>)
constexpr auto operator+(const A& a, const B& b) {
  return detail::make_apply<op::add>(a, b);
}
template <operand A, operand B>
  requires(expression<A> || expression<B>)
constexpr auto operator-(const A& a, const B& b) {
  return detail::make_apply<op::sub>(a, b);
}
template <operand A, operand B>
  requires(expression<A> || expression<B>)
constexpr auto operator*(const A& a, const B& b) {
  return detail::make_apply<op::mul>(a, b);
}
template <operand A, operand B>
  requires(expression<A> || expression<B>)
constexpr auto operator/(const A& a, const B& b) {
  return detail::make_apply<op::div>(a, b);
}
template <expression A>
constexpr auto operator-(const A& a) {
  return detail::make_apply<op::neg>(a);
}

// Index comparisons are Boolean factors.
#define TENSORLOGIC_INDEX_COMPARISON(sym, code)                                 \
  template <index_operand A, index_operand B>                                   \
    requires(index_like<A> || index_like<B>)                                    \
  constexpr auto operator sym(A a, B b) {                                       \
    auto x = as_affine(a);                                                      \
    auto y = as_affine(b);                                                      \
    return comparison<cmp_op::code, decltype(x), decltype(y)>{x, y};            \
  }
TENSORLOGIC_INDEX_COMPARISON(==, eq)
TENSORLOGIC_INDEX_COMPARISON(!=, ne)
TENSORLOGIC_INDEX_COMPARISON(<, lt)
TENSORLOGIC_INDEX_COMPARISON(<=, le)
TENSORLOGIC_INDEX_COMPARISON(>, gt)
TENSORLOGIC_INDEX_COMPARISON(>=, ge)
#undef TENSORLOGIC_INDEX_COMPARISON

// Elementwise functions.
#define TENSORLOGIC_UNARY_FUNCTION(name)                 \
  template <expression E>                                \
  constexpr auto name(const E& e) {                      \
    return detail::make_apply<op::name>(e);              \
  }
TENSORLOGIC_UNARY_FUNCTION(exp)
TENSORLOGIC_UNARY_FUNCTION(log)
TENSORLOGIC_UNARY_FUNCTION(sqrt)
TENSORLOGIC_UNARY_FUNCTION(abs)
TENSORLOGIC_UNARY_FUNCTION(square)
TENSORLOGIC_UNARY_FUNCTION(relu)
TENSORLOGIC_UNARY_FUNCTION(tanh)
TENSORLOGIC_UNARY_FUNCTION(step)
TENSORLOGIC_UNARY_FUNCTION(stop_grad)
#undef TENSORLOGIC_UNARY_FUNCTION

template <expression E>
constexpr auto sigmoid(const E& e) {
  return detail::make_apply<op::sigmoid>(e);
}
// sigmoid(e / T); at T = 0 it is exactly step(e) (H(0) = 0).
template <expression E, operand T>
constexpr auto sigmoid(const E& e, const T& temperature) {
  return detail::make_apply<op::sigmoid_t>(e, temperature);
}
template <expression E, operand P>
constexpr auto pow(const E& e, const P& p) {
  return detail::make_apply<op::pow>(e, p);
}
template <operand E, operand L, operand H>
  requires expression<E>
constexpr auto clamp(const E& e, const L& lo, const H& hi) {
  return detail::make_apply<op::clamp>(e, lo, hi);
}
// where(c, a, b): a where c > 0, else b.
template <operand C, operand A, operand B>
  requires(expression<C> || expression<A> || expression<B>)
constexpr auto where(const C& c, const A& a, const B& b) {
  return detail::make_apply<op::where>(c, a, b);
}

namespace detail {
template <class R>
constexpr auto negate_relation(const R& r) {
  return make_apply<op::not_>(r);
}
}  // namespace detail

// Explicit projections: tl::sum(j, e), tl::sum(j, k, e), tl::max(j, e), ...
namespace detail {
template <reduce_op Op, class... Args, std::size_t... I>
constexpr auto make_reduction(std::index_sequence<I...>, const indexed_tuple<Args...>& t) {
  using body_t = std::remove_cvref_t<pack_element_t<sizeof...(Args) - 1, Args...>>;
  static_assert(expression<body_t>, "tensorlogic: a projection's last argument must be an expression");
  static_assert((index_type<pack_element_t<I, Args...>> && ...),
                "tensorlogic: a projection's leading arguments must be plain indices");
  return reduction<Op, body_t, std::remove_cvref_t<pack_element_t<I, Args...>>...>{
      tensorlogic::get<sizeof...(Args) - 1>(t)};
}
template <reduce_op Op, class... Args>
constexpr auto reduce(const Args&... args) {
  static_assert(sizeof...(Args) >= 2, "tensorlogic: a projection needs at least one index and an expression");
  return make_reduction<Op>(std::make_index_sequence<sizeof...(Args) - 1>{}, make_indexed_tuple(args...));
}
template <class First, class... Rest>
inline constexpr bool leading_index = index_type<First>;
}  // namespace detail

template <class... Args>
constexpr auto sum(const Args&... args) {
  return detail::reduce<reduce_op::sum>(args...);
}
template <class... Args>
constexpr auto mean(const Args&... args) {
  return detail::reduce<reduce_op::mean>(args...);
}
template <class... Args>
constexpr auto any(const Args&... args) {
  return detail::reduce<reduce_op::any>(args...);
}
template <class... Args>
constexpr auto logsumexp(const Args&... args) {
  return detail::reduce<reduce_op::logsumexp>(args...);
}
// tl::max(j, e) projects with max; tl::max(a, b) is the elementwise maximum.
template <class A, class... Args>
constexpr auto max(const A& a, const Args&... args) {
  if constexpr (index_type<A>)
    return detail::reduce<reduce_op::max>(a, args...);
  else
    return detail::make_apply<op::max>(a, args...);
}
template <class A, class... Args>
constexpr auto min(const A& a, const Args&... args) {
  if constexpr (index_type<A>)
    return detail::reduce<reduce_op::min>(a, args...);
  else
    return detail::make_apply<op::min>(a, args...);
}

// Normalizers over an index of the left-hand side (DESIGN §1 rule 7).
template <index_type Q, expression E>
constexpr auto softmax(Q, const E& e) {
  return normalization<norm_op::softmax, Q, E>{e};
}
template <index_type Q, expression E>
constexpr auto log_softmax(Q, const E& e) {
  return normalization<norm_op::log_softmax, Q, E>{e};
}
template <index_type Q, expression E>
constexpr auto lnorm(Q, const E& e) {
  return normalization<norm_op::lnorm, Q, E>{e};
}

}  // namespace tensorlogic

// An indexed tuple is tuple-like: std::tuple_size and std::tuple_element name its size and element types.
template <class... T>
struct std::tuple_size<tensorlogic::indexed_tuple<T...>> : std::integral_constant<std::size_t, sizeof...(T)> {};
template <std::size_t K, class... T>
struct std::tuple_element<K, tensorlogic::indexed_tuple<T...>> {
  using type = tensorlogic::detail::pack_element_t<K, T...>;
};

#include <tensorlogic/core/equation.hpp>
