// equation: `lhs = rhs` as a value. Building one runs the per-equation semantic checks of DESIGN §1 at compile
// time (safety, normalized index, projection scope, left-hand-side subscripts), each failing with one
// "tensorlogic:" line whose instantiation note names the tensor and the index.
#pragma once
#include <string_view>

#include <tensorlogic/core/expression.hpp>

namespace tensorlogic {

namespace detail {

// The indices of the left-hand side, in subscript order (constants contribute none).
template <class Lhs>
constexpr name_set lhs_indices() {
  name_set s;
  Lhs::indices(s);
  return s;
}

enum class check : int {
  ok,
  unsafe_index,
  normalized_index_not_on_lhs,
  normalizer_not_outer,
  ambiguous_projection,
  static_extent_conflict,
  repeated_lhs_index,
  unsupported_lhs_index_expression,
  reduced_index_not_in_body,
  reduced_index_on_lhs,
  normalized_lhs_not_plain,
  several_normalizers
};

struct check_result {
  check code = check::ok;
  std::string_view culprit{};
  std::size_t extent_a = 0, extent_b = 0;
};

template <op Op>
inline constexpr bool is_chain_function = !(Op == op::add || Op == op::sub || Op == op::mul || Op == op::div ||
                                            Op == op::neg || Op == op::not_);

struct walk_state {
  name_set lhs;
  name_set summed_under_function;
  bool relation_head = false;
  check_result result{};
  constexpr void fail(check c, std::string_view who) {
    if (result.code == check::ok) result = {c, who};
  }
};

// Checks inside a term or an explicit projection (everything below is elementwise).
template <class Node>
constexpr void walk_elementwise(walk_state& st) {
  if constexpr (is_reduction<Node>) {
    [&]<reduce_op O, class Body, class... Idx>(reduction<O, Body, Idx...>*) {
      name_set body_free;
      Body::free_indices(body_free);
      ((body_free.contains(Idx::name.view()) ? void() : st.fail(check::reduced_index_not_in_body, Idx::name.view())),
       ...);
      ((st.lhs.contains(Idx::name.view()) ? st.fail(check::reduced_index_on_lhs, Idx::name.view()) : void()), ...);
      walk_elementwise<Body>(st);
    }(static_cast<Node*>(nullptr));
  } else if constexpr (is_normalization<Node>) {
    // Inside a term a normalizer may only use left-hand-side indices (its statistics are per row).
    using Q = typename Node::normalized_index;
    if (!st.lhs.contains(Q::name.view())) st.fail(check::normalized_index_not_on_lhs, Q::name.view());
    name_set body_free;
    decltype(Node::body)::free_indices(body_free);
    for (int k = 0; k < body_free.size; ++k)
      if (!st.lhs.contains(body_free.items[k].name)) st.fail(check::normalizer_not_outer, body_free.items[k].name);
    walk_elementwise<decltype(Node::body)>(st);
  } else if constexpr (is_apply<Node>) {
    [&]<op O, class... A>(apply<O, A...>*) { (walk_elementwise<A>(st), ...); }(static_cast<Node*>(nullptr));
  }
}

template <class Node>
constexpr void walk_term(walk_state& st, bool under_function) {
  name_set f;
  Node::free_indices(f);
  if (under_function && !st.relation_head) {
    for (int k = 0; k < f.size; ++k) {
      if (st.lhs.contains(f.items[k].name)) continue;
      if (st.summed_under_function.contains(f.items[k].name))
        st.fail(check::ambiguous_projection, f.items[k].name);
      st.summed_under_function.add(f.items[k]);
    }
  }
  walk_elementwise<Node>(st);
}

template <class Node>
constexpr void walk_sum(walk_state& st, bool under_function) {
  if constexpr (is_apply<Node>) {
    if constexpr (Node::operation == op::add || Node::operation == op::sub || Node::operation == op::neg) {
      [&]<op O, class... A>(apply<O, A...>*) { (walk_sum<A>(st, under_function), ...); }(static_cast<Node*>(nullptr));
      return;
    }
  }
  walk_term<Node>(st, under_function);
}

// The outer function chain (DESIGN §1 rule 1): functions and normalizers above the sum of terms.
template <class Node>
constexpr void walk_chain(walk_state& st, bool under_function) {
  if constexpr (is_normalization<Node>) {
    using Q = typename Node::normalized_index;
    if (!st.lhs.contains(Q::name.view())) st.fail(check::normalized_index_not_on_lhs, Q::name.view());
    walk_chain<decltype(Node::body)>(st, true);
  } else if constexpr (is_apply<Node>) {
    if constexpr (Node::operation == op::add || Node::operation == op::sub) {
      walk_sum<Node>(st, under_function);
    } else if constexpr (Node::operation == op::neg) {
      [&]<op O, class A>(apply<O, A>*) { walk_chain<A>(st, under_function); }(static_cast<Node*>(nullptr));
    } else if constexpr (is_chain_function<Node::operation>) {
      [&]<op O, class... A>(apply<O, A...>*) { (walk_chain<A>(st, true), ...); }(static_cast<Node*>(nullptr));
    } else {
      walk_term<Node>(st, under_function);
    }
  } else {
    walk_term<Node>(st, under_function);
  }
}

template <class Lhs, class Rhs>
constexpr check_result check_equation() {
  walk_state st;
  using sym = typename Lhs::symbol;
  st.relation_head = sym::kind == symbol_kind::relation;
  // Left-hand side subscripts: plain indices, index + constant, index / constant, or constants; no repeats.
  name_set seen;
  bool plain = true;
  std::string_view not_plain{};
  [&]<class S, class... D>(ref<S, D...>*) {
    (
        [&] {
          if constexpr (index_type<D>) {
            if (seen.contains(D::name.view())) st.fail(check::repeated_lhs_index, D::name.view());
            seen.add({D::name.view(), D::extent});
          } else {
            [&]<bool Dv, class... V>(index_affine<Dv, V...>*) {
              if constexpr (sizeof...(V) > 1) {
                ((st.fail(check::unsupported_lhs_index_expression, V::name.view())), ...);
              } else if constexpr (sizeof...(V) == 1) {
                plain = false;
                ((not_plain = V::name.view()), ...);
                ((seen.contains(V::name.view()) ? st.fail(check::repeated_lhs_index, V::name.view()) : void()), ...);
                ((seen.add({V::name.view(), V::extent})), ...);
              }
            }(static_cast<D*>(nullptr));
          }
        }(),
        ...);
  }(static_cast<Lhs*>(nullptr));
  st.lhs = seen;

  // One extent per index name.
  index_use_list uses;
  Lhs::index_uses(uses);
  Rhs::index_uses(uses);
  for (int a = 0; a < uses.size; ++a)
    for (int b = a + 1; b < uses.size; ++b)
      if (uses.items[a].name == uses.items[b].name && uses.items[a].extent != uses.items[b].extent &&
          st.result.code == check::ok) {
        st.result = {check::static_extent_conflict, uses.items[a].name, uses.items[a].extent, uses.items[b].extent};
      }

  if (Rhs::normalizers > 1) st.fail(check::several_normalizers, sym::name.view());
  if (Rhs::normalizers > 0 && !plain) st.fail(check::normalized_lhs_not_plain, not_plain);

  walk_chain<Rhs>(st, false);

  // Datalog safety: every left-hand-side index occurs in some term.
  name_set rhs_free;
  Rhs::free_indices(rhs_free);
  for (int k = 0; k < st.lhs.size; ++k)
    if (!rhs_free.contains(st.lhs.items[k].name)) st.fail(check::unsafe_index, st.lhs.items[k].name);
  return st.result;
}

template <std::size_t N>
constexpr fixed_string<N + 1> to_fixed(std::string_view s) {
  char buf[N + 1]{};
  if constexpr (N > 0)
    for (std::size_t k = 0; k < N && k < s.size(); ++k) buf[k] = s[k];
  return fixed_string<N + 1>(buf);
}

template <class Lhs, class Rhs>
constexpr void diagnose_equation() {
  constexpr check_result r = check_equation<Lhs, Rhs>();
  if constexpr (r.code != check::ok) {
    constexpr auto who = to_fixed<r.culprit.size()>(r.culprit);
    constexpr auto tensor = Lhs::symbol::name;
    if constexpr (r.code == check::unsafe_index) (void)diagnostics::unsafe_index<tensor, who>{};
    if constexpr (r.code == check::normalized_index_not_on_lhs)
      (void)diagnostics::normalized_index_not_on_lhs<tensor, who>{};
    if constexpr (r.code == check::normalizer_not_outer) (void)diagnostics::normalizer_not_outer<tensor, who>{};
    if constexpr (r.code == check::ambiguous_projection) (void)diagnostics::ambiguous_projection<tensor, who>{};
    if constexpr (r.code == check::static_extent_conflict)
      (void)diagnostics::static_extent_conflict<who, r.extent_a, r.extent_b>{};
    if constexpr (r.code == check::repeated_lhs_index) (void)diagnostics::repeated_lhs_index<tensor, who>{};
    if constexpr (r.code == check::unsupported_lhs_index_expression)
      (void)diagnostics::unsupported_lhs_index_expression<tensor, who>{};
    if constexpr (r.code == check::reduced_index_not_in_body)
      (void)diagnostics::reduced_index_not_in_body<tensor, who>{};
    if constexpr (r.code == check::reduced_index_on_lhs) (void)diagnostics::reduced_index_on_lhs<tensor, who>{};
    if constexpr (r.code == check::normalized_lhs_not_plain)
      (void)diagnostics::normalized_lhs_not_plain<tensor, who>{};
    if constexpr (r.code == check::several_normalizers) (void)diagnostics::several_normalizers<tensor>{};
  }
}

}  // namespace detail

// An equation value: a left-hand-side reference and a right-hand-side expression.
template <class Lhs, class Rhs>
struct equation {
  using lhs_type = Lhs;
  using rhs_type = Rhs;
  using head = typename Lhs::symbol;
  Lhs lhs;
  Rhs rhs;
  static constexpr bool valid = detail::check_equation<Lhs, Rhs>().code == detail::check::ok;
  static constexpr bool is_relation = head::kind == symbol_kind::relation;
};

namespace detail {
template <class Lhs, class Rhs>
constexpr equation<Lhs, Rhs> make_equation(const Lhs& l, const Rhs& r) {
  diagnose_equation<Lhs, Rhs>();
  return {l, r};
}
}  // namespace detail

}  // namespace tensorlogic
