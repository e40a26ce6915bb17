// program: a set of equations as one value. Its symbol table (name -> slot), index table (name -> position, static
// extent), same-left-hand-side groups, dependency graph and recursive strata are computed at compile time, and the
// whole-program checks (conflicting declarations, static extents, stratified negation) fire here, once.
#pragma once
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include <tensorlogic/core/equation.hpp>
#include <tensorlogic/core/tensor.hpp>

namespace tensorlogic {

namespace detail {

// Every whole-program table below is computed by constexpr loops over arrays filled by one pack expansion: a pack
// expansion over pairs (a fold inside a fold, or a recursion that re-tests a growing list) instantiates O(n^2)
// expressions, each with its own overload resolution, and makes large programs compile slowly.


template <std::size_t K, class L>
struct type_at;
template <std::size_t K, class... T>
struct type_at<K, type_list<T...>> {
  using type = pack_element_t<K, T...>;
};

template <class L>
struct list_size;
template <class... T>
struct list_size<type_list<T...>> : std::integral_constant<std::size_t, sizeof...(T)> {};

// Positions of the first element of each name, in order.
template <std::size_t N>
struct first_positions {
  std::size_t count = 0;
  std::size_t at[N > 0 ? N : 1]{};
};
template <class... T>
constexpr auto first_by_name() {
  constexpr std::size_t n = sizeof...(T);
  const std::string_view names[] = {T::name.view()..., std::string_view{}};
  first_positions<n> r;
  for (std::size_t i = 0; i + 1 < n + 1; ++i) {  // (not i < n: nvcc warns of a comparison with 0 at n = 0)
    bool seen = false;
    for (std::size_t j = 0; j < i && !seen; ++j) seen = names[j] == names[i];
    if (!seen) r.at[r.count++] = i;
  }
  return r;
}
template <class L>
struct unique_by_name;
template <class... T>
struct unique_by_name<type_list<T...>> {
  static constexpr auto first = first_by_name<T...>();
  template <std::size_t... K>
  static auto pick(std::index_sequence<K...>) -> type_list<pack_element_t<first.at[K], T...>...>;
  using type = decltype(pick(std::make_index_sequence<first.count>{}));
};

// A symbol's declaration as a value: name, kind, rank, and the address of a variable per value type.
template <class T>
inline constexpr char type_tag = 0;
struct declaration_key {
  std::string_view name{};
  int kind = 0;
  std::size_t rank = 0;
  const void* value_type = nullptr;
};
template <class S>
constexpr declaration_key declaration_of() {
  return {S::name.view(), static_cast<int>(S::kind), S::rank, &type_tag<typename S::value_type>};
}

// The first name declared twice differently (kind, rank or value type), or empty: the references sorted by name (then
// by position), so that each name's declarations are compared with its first one only (n log n, not n^2 comparisons:
// a large gradient program has thousands of references, and the pairwise loop exhausted Clang's constexpr budget).
template <class... S>
constexpr std::string_view conflicting_name(type_list<S...>) {
  constexpr std::size_t n = sizeof...(S);
  if constexpr (n < 2) {
    return {};
  } else {
    const declaration_key k[] = {declaration_of<S>()...};
    std::array<std::size_t, n> at{};
    for (std::size_t a = 0; a < n; ++a) at[a] = a;
    std::sort(at.begin(), at.end(),
              [&](std::size_t a, std::size_t b) { return k[a].name < k[b].name || (k[a].name == k[b].name && a < b); });
    std::size_t first_conflict = n;  // the smallest position declared differently from an earlier reference
    for (std::size_t g = 0; g < n;) {
      std::size_t end = g + 1;
      while (end < n && k[at[end]].name == k[at[g]].name) ++end;
      const declaration_key& head = k[at[g]];
      for (std::size_t j = g + 1; j < end; ++j) {
        const declaration_key& other = k[at[j]];
        if (other.kind != head.kind || other.rank != head.rank || other.value_type != head.value_type) {
          first_conflict = at[j] < first_conflict ? at[j] : first_conflict;
          break;
        }
      }
      g = end;
    }
    return first_conflict < n ? k[first_conflict].name : std::string_view{};
  }
}

// Same-LHS groups, dependency closure and strata, computed once per program type; sized by the number of equations
// (a program has at most as many same-LHS groups as equations), so there is no fixed ceiling on a program's size.
template <int max_groups>
struct program_structure {
  int n_equations = 0;
  int n_groups = 0;
  int group_of[max_groups]{};       // equation -> group
  int group_head[max_groups]{};     // group -> slot of its left-hand side
  bool reads[max_groups][max_groups]{};     // group g reads group h's head
  bool negates[max_groups][max_groups]{};   // ... under negation
  bool reach[max_groups][max_groups]{};     // transitive closure of reads
  int order[max_groups]{};          // groups in evaluation order
  int stratum_of[max_groups]{};     // group -> stratum
  int n_strata = 0;
  bool recursive[max_groups]{};     // stratum -> has a cycle
  bool self_read[max_groups]{};     // group reads its own head (directly)
  int bad_negated = -1, bad_head = -1;  // slots of a negation inside a cycle
};

}  // namespace detail


namespace detail {
template <class Prog>
constexpr void diagnose_program();
}

// tl::program(eqs...) (class template argument deduction) builds the program value; whole-program checks fire here.
template <class... Eqs>
struct program {
  // (an indexed tuple: std::get on a std::tuple costs compile time in the square of its size on every call)
  indexed_tuple<Eqs...> equations;

  constexpr program(const Eqs&... eqs) : equations{{{eqs}...}} { detail::diagnose_program<program>(); }

  static constexpr std::size_t size = sizeof...(Eqs);
  using all_symbols = typename detail::concat_all<
      typename detail::concat<type_list<typename Eqs::head>, typename Eqs::rhs_type::symbols>::type...>::type;
  // Every symbol of the program, one per name, in order of first appearance; a symbol's position is its slot.
  using symbols = typename detail::unique_by_name<all_symbols>::type;
  static constexpr std::size_t n_slots = detail::list_size<symbols>::value;
  template <std::size_t Slot>
  using symbol_at = typename detail::type_at<Slot, symbols>::type;

  static constexpr std::string_view slot_name(std::size_t slot) {
    return slot < n_slots ? slot_names[slot] : std::string_view{};
  }
  // (a loop over an array of names: a fold over the symbols cost every call a step per symbol and exhausted Clang's
  // constexpr step budget on programs of 64 equations)
  static constexpr auto slot_names = []<class... S>(type_list<S...>) {
    return std::array<std::string_view, sizeof...(S) + 1>{S::name.view()..., std::string_view{}};
  }(symbols{});
  static constexpr int slot_of(std::string_view name) {
    for (std::size_t k = 0; k + 1 < slot_names.size(); ++k)
      if (slot_names[k].size() == name.size() && slot_names[k] == name) return static_cast<int>(k);
    return -1;
  }
  static constexpr bool structure_is_relation(int slot) {
    bool r = false;
    int k = 0;
    [&]<class... S>(type_list<S...>) { ((k++ == slot ? void(r = S::kind == symbol_kind::relation) : void()), ...); }(symbols{});
    return r;
  }
  template <class Sym>
  static constexpr bool contains = slot_of(Sym::name.view()) >= 0;

  // The index table: every index name with its static extent (dynamic_extent if bound at run time).
  static constexpr detail::name_set indices = [] {
    detail::name_set s;
    (Eqs::lhs_type::indices(s), ...);
    (Eqs::rhs_type::indices(s), ...);
    return s;
  }();
  static constexpr std::size_t n_indices = static_cast<std::size_t>(indices.size);
  static constexpr int index_position(std::string_view name) { return indices.find(name); }

  static constexpr detail::program_structure<(sizeof...(Eqs) > 0 ? static_cast<int>(sizeof...(Eqs)) : 1)> structure = [] {
    detail::program_structure<(sizeof...(Eqs) > 0 ? static_cast<int>(sizeof...(Eqs)) : 1)> st;
    st.n_equations = static_cast<int>(sizeof...(Eqs));
    int e = 0;
    auto add_equation = [&]<class E>(E*) {
      int head = slot_of(E::head::name.view());
      int g = -1;
      for (int k = 0; k < st.n_groups; ++k)
        if (st.group_head[k] == head) g = k;
      if (g < 0) {
        g = st.n_groups++;
        st.group_head[g] = head;
      }
      st.group_of[e++] = g;
    };
    (add_equation(static_cast<Eqs*>(nullptr)), ...);
    e = 0;
    auto add_edges = [&]<class E>(E*) {
      int g = st.group_of[e++];
      auto edge = [&](std::string_view name, bool negated) {
        int slot = slot_of(name);
        for (int h = 0; h < st.n_groups; ++h)
          if (st.group_head[h] == slot) {
            st.reads[g][h] = true;
            if (negated) st.negates[g][h] = true;
          }
      };
      [&]<class... S>(type_list<S...>) { (edge(S::name.view(), false), ...); }(typename E::rhs_type::symbols{});
      [&]<class... S>(type_list<S...>) { (edge(S::name.view(), true), ...); }(typename E::rhs_type::negated{});
    };
    (add_edges(static_cast<Eqs*>(nullptr)), ...);
    const int n = st.n_groups;
    // transitive closure on 64-bit words (Warshall: row a takes row k wherever a reaches k), O(n^2 n/64)
    constexpr int N = sizeof...(Eqs) > 0 ? static_cast<int>(sizeof...(Eqs)) : 1;
    constexpr int words = (N + 63) / 64;
    std::uint64_t row[N][words]{};
    for (int a = 0; a < n; ++a)
      for (int b = 0; b < n; ++b)
        if (st.reads[a][b]) row[a][b / 64] |= std::uint64_t{1} << (b % 64);
    for (int k = 0; k < n; ++k)
      for (int a = 0; a < n; ++a)
        if ((row[a][k / 64] >> (k % 64)) & 1u)
          for (int w = 0; w < words; ++w) row[a][w] |= row[k][w];
    for (int a = 0; a < n; ++a)
      for (int b = 0; b < n; ++b) st.reach[a][b] = (row[a][b / 64] >> (b % 64)) & 1u;
    for (int g = 0; g < n; ++g) st.self_read[g] = st.reads[g][g];
    // Strata: strongly connected components, emitted so that every component follows those it reads: the first
    // unplaced group none of whose strictly-lower groups (reached, not reaching back) is unplaced goes next, with
    // its component. pending[g] counts g's unplaced strictly-lower groups, so the whole pass is O(n^2).
    bool placed[N]{};
    int pending[N]{};
    for (int g = 0; g < n; ++g)
      for (int h = 0; h < n; ++h)
        if (h != g && st.reach[g][h] && !st.reach[h][g]) ++pending[g];
    int count = 0;
    while (count < n) {
      int g = 0;
      while (placed[g] || pending[g] > 0) ++g;
      const int s = st.n_strata++;
      st.recursive[s] = st.reach[g][g];
      for (int h = 0; h < n; ++h)
        if (!placed[h] && (h == g || (st.reach[g][h] && st.reach[h][g]))) {
          placed[h] = true;
          st.stratum_of[h] = s;
          st.order[count++] = h;
          for (int a = 0; a < n; ++a)
            if (a != h && st.reach[a][h] && !st.reach[h][a]) --pending[a];
        }
    }
    for (int a = 0; a < n; ++a)
      for (int b = 0; b < n; ++b)
        if (st.negates[a][b] && st.reach[b][a] && st.bad_negated < 0) {
          st.bad_negated = st.group_head[b];
          st.bad_head = st.group_head[a];
        }
    return st;
  }();

  static constexpr bool valid = (Eqs::valid && ...) && structure.bad_negated < 0;
};

namespace detail {
struct extent_conflict {
  std::string_view name{};
  std::size_t a = 0, b = 0;
};
template <class... E>
constexpr extent_conflict find_extent_conflict(indexed_tuple<E...>*) {
  index_use_list u;
  (E::lhs_type::index_uses(u), ...);
  (E::rhs_type::index_uses(u), ...);
  extent_conflict r;
  for (int a = 0; a < u.size; ++a)
    for (int b = a + 1; b < u.size; ++b)
      if (r.name.empty() && u.items[a].extent != u.items[b].extent && u.items[a].name == u.items[b].name)
        r = {u.items[a].name, u.items[a].extent, u.items[b].extent};
  return r;
}

// Static members, each its own constant expression: Clang evaluates a constexpr local variable's initializer inside
// the caller's evaluation, so these checks would count against the budget of the expression constructing a program.
template <class Prog>
struct program_checks {
  static constexpr std::string_view dup = conflicting_name(typename Prog::all_symbols{});
  static constexpr extent_conflict conflict = find_extent_conflict(static_cast<decltype(Prog::equations)*>(nullptr));
};

template <class Prog>
constexpr void diagnose_program() {
  constexpr std::string_view dup = program_checks<Prog>::dup;
  if constexpr (!dup.empty()) {
    (void)diagnostics::conflicting_declarations<to_fixed<dup.size()>(dup)>{};
  }
  constexpr extent_conflict conflict = program_checks<Prog>::conflict;
  if constexpr (!conflict.name.empty()) {
    (void)diagnostics::static_extent_conflict<to_fixed<conflict.name.size()>(conflict.name), conflict.a, conflict.b>{};
  }
  if constexpr (Prog::structure.bad_negated >= 0) {
    constexpr std::string_view r = Prog::slot_name(Prog::structure.bad_negated);
    constexpr std::string_view h = Prog::slot_name(Prog::structure.bad_head);
    (void)diagnostics::negation_in_cycle<to_fixed<r.size()>(r), to_fixed<h.size()>(h)>{};
  }
}
}  // namespace detail

// The type `tl::program(eqs...)` deduces. A program's type spells every equation, and the compiler writes that
// spelling into the name of each function it instantiates for the program (tens of kilobytes each for a large
// program: a large share of its compile time). So on GCC and Clang the deduced type is program<program_key<H>>,
// H a 64-bit hash of the spelled type program<Eqs...>, which derives from program<Eqs...> and is a program
// everywhere a named program is; the spelled type is found from H through a friend function that instantiating
// program_registration<P, H> defines. Two different programs with one hash in a translation unit would define that
// function twice, a compile error (never a silent mix-up); the hash covers the whole spelling of library types only.
// Other front ends (nvcc's, EDG's: no type in __PRETTY_FUNCTION__ during constant evaluation) keep the spelled type;
// -DTENSORLOGIC_KEYED_PROGRAMS=0 does everywhere. A named program (`struct net : decltype(...) {};`) works either way.
#ifndef TENSORLOGIC_KEYED_PROGRAMS
#if defined(__GNUC__) && !defined(__EDG__) && !defined(__NVCOMPILER) && !defined(__INTEL_COMPILER) && \
    !(defined(__CUDACC__) && !defined(__clang__))
#define TENSORLOGIC_KEYED_PROGRAMS 1
#else
#define TENSORLOGIC_KEYED_PROGRAMS 0
#endif
#endif

#if TENSORLOGIC_KEYED_PROGRAMS
namespace detail {
template <std::uint64_t H>
struct program_key {
#if !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-template-friend"
#endif
  friend constexpr auto spelled_program_of(program_key);  // defined by program_registration<P, H>
#if !defined(__clang__)
#pragma GCC diagnostic pop
#endif
};
template <class P, std::uint64_t H>
struct program_registration {
  friend constexpr auto spelled_program_of(program_key<H>) { return std::type_identity<P>{}; }
};
// FNV-1a over the function's own signature, which spells P; eight characters per step (one expression: the
// constant-evaluation budgets count loop iterations and statements, and a gradient program's spelling is long).
template <class P>
constexpr std::uint64_t spelling_hash() {
  const std::string_view s = __PRETTY_FUNCTION__;
  using u8 = unsigned char;
  constexpr std::uint64_t p = 1099511628211ull;
  const char* d = s.data();
  std::uint64_t h = 14695981039346656037ull;
  std::size_t k = 0;
  for (; k + 8 <= s.size(); k += 8)
    h = ((((((((((((((((h ^ u8(d[k])) * p) ^ u8(d[k + 1])) * p) ^ u8(d[k + 2])) * p) ^ u8(d[k + 3])) * p) ^
                   u8(d[k + 4])) * p) ^ u8(d[k + 5])) * p) ^ u8(d[k + 6])) * p) ^ u8(d[k + 7])) * p);
  for (; k < s.size(); ++k) h = (h ^ u8(d[k])) * p;
  return h;
}
template <class P>
constexpr std::uint64_t program_key_of() {
  constexpr std::uint64_t h = spelling_hash<P>();
  static_assert(sizeof(program_registration<P, h>) > 0);
  return h;
}
template <std::uint64_t H>
using spelled_program_t = typename decltype(spelled_program_of(program_key<H>{}))::type;
}  // namespace detail

template <std::uint64_t H>
struct program<detail::program_key<H>> : detail::spelled_program_t<H> {
  using spelled_program = detail::spelled_program_t<H>;
  using spelled_program::spelled_program;
};

template <class... Eqs>
program(const Eqs&...) -> program<detail::program_key<detail::program_key_of<program<Eqs...>>()>>;
#else
template <class... Eqs>
program(const Eqs&...) -> program<Eqs...>;
#endif

namespace detail {
// A program, or a class derived from one (a named program: `struct net : decltype(tl::program(...)) {};`).
template <class... E>
std::true_type program_base(const program<E...>*);
std::false_type program_base(...);
template <class T>
struct is_program : decltype(program_base(static_cast<const T*>(nullptr))) {};
template <class P>
constexpr auto equations_of(const P& p) {
  if constexpr (is_program<P>::value)
    return apply_tuple([](const auto&... e) { return std::tuple(e...); }, p.equations);
  else
    return std::tuple<P>(p);
}
}  // namespace detail

// tl::compose(parts...) is one program made of programs (for example nn module fragments) and equations, in order.
template <class... Parts>
constexpr auto compose(const Parts&... parts) {
  return std::apply([](const auto&... e) { return program(e...); }, std::tuple_cat(detail::equations_of(parts)...));
}

}  // namespace tensorlogic
