// Lowering: front-end equation -> structural descriptor (plan/descriptor.hpp). The right-hand side is split into
// its outer function chain, its sum of terms, and each term's projection onto the left-hand side (DESIGN §1 rules
// 1-3): a term becomes d_project<sum, summed positions...> around its elementwise body.
#pragma once
#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>

#include <tensorlogic/core/program.hpp>
#include <tensorlogic/plan/descriptor.hpp>

namespace tensorlogic::plan {

namespace detail {
using tensorlogic::detail::name_set;

// The lowered types, computed by class templates only: a function template (even constexpr, even only named in
// decltype) becomes a symbol of its own with the program's type in its mangled name, and lowering every equation
// through functions made compile time grow with the square of the program's length.
template <class Prog, class D>
struct dim_of {  // a plain index
  using type = dim_var<Prog::index_position(D::name.view())>;
};
template <class Prog, bool Dv, class... V>
struct dim_of<Prog, index_affine<Dv, V...>> {  // (a constant side, i - j >= 0, has no variables)
  using type = dim_affine<Prog::index_position(V::name.view())...>;
};

template <class Prog, class Node>
struct elementwise_of;
template <class Prog, class Node>
  requires(requires { Node::kind; })
struct elementwise_of<Prog, Node> {  // a scalar symbol
  using type = d_ref<Prog::slot_of(Node::name.view()), dims<>>;
};
template <class Prog>
struct elementwise_of<Prog, constant> {
  using type = d_const;
};
template <class Prog, class S, class... D>
struct elementwise_of<Prog, ref<S, D...>> {
  using type = d_ref<Prog::slot_of(S::name.view()), dims<typename dim_of<Prog, D>::type...>>;
};
template <class Prog, cmp_op O, class A, class B>
struct elementwise_of<Prog, comparison<O, A, B>> {
  using type = d_compare<O, typename dim_of<Prog, A>::type, typename dim_of<Prog, B>::type>;
};
// Everything below a term is elementwise; explicit projections loop inside.
template <class Prog, reduce_op O, class Body, class... Idx>
struct elementwise_of<Prog, reduction<O, Body, Idx...>> {
  using type = d_project<O, typename elementwise_of<Prog, Body>::type, Prog::index_position(Idx::name.view())...>;
};
template <class Prog, norm_op O, class Idx, class Body>
struct elementwise_of<Prog, normalization<O, Idx, Body>> {
  using type = d_normalize<O, Prog::index_position(Idx::name.view()), typename elementwise_of<Prog, Body>::type>;
};

template <class Prog, class Lhs, class Node>
struct chain_of;
template <class Prog, bool Chain, class Lhs, class A>
struct arg_of {
  using type = typename elementwise_of<Prog, A>::type;
};
template <class Prog, class Lhs, class A>
struct arg_of<Prog, true, Lhs, A> {
  using type = typename chain_of<Prog, Lhs, A>::type;
};
template <op O, class... A>
struct applied;
template <op O, class A>
struct applied<O, A> {
  using type = d_apply1<O, A>;
};
template <op O, class A, class B>
struct applied<O, A, B> {
  using type = d_apply2<O, A, B>;
};
template <op O, class A, class B, class C>
struct applied<O, A, B, C> {
  using type = d_apply3<O, A, B, C>;
};
template <class Prog, bool Chain, class Lhs, class Node>
struct apply_of;
template <class Prog, bool Chain, class Lhs, op O, class... A>
struct apply_of<Prog, Chain, Lhs, apply<O, A...>> {
  using type = typename applied<O, typename arg_of<Prog, Chain, Lhs, A>::type...>::type;
};
template <class Prog, op O, class... A>
struct elementwise_of<Prog, apply<O, A...>> {
  using type = typename apply_of<Prog, false, void, apply<O, A...>>::type;
};

// The indices a term sums over: its free indices the left-hand side lacks (a term with some is wrapped in a
// projection over them).
template <class Node, class Lhs>
constexpr name_set summed_names() {
  name_set f;
  Node::free_indices(f);
  name_set lhs = tensorlogic::detail::lhs_indices<Lhs>();
  for (int k = 0; k < lhs.size; ++k) f.remove(lhs.items[k].name);
  return f;
}
template <class Prog, class Lhs, class Node>
struct term_of {
  using body = typename elementwise_of<Prog, Node>::type;
  static constexpr name_set summed = summed_names<Node, Lhs>();
  template <std::size_t... K>
  static auto projected(std::index_sequence<K...>)
      -> d_project<reduce_op::sum, body, Prog::index_position(summed.items[K].name)...>;
  using type = std::conditional_t<summed.size == 0, body,
                                  decltype(projected(std::make_index_sequence<static_cast<std::size_t>(summed.size)>{}))>;
};

// The sum of terms directly under the outer chain.
template <class Prog, class Lhs, class Node>
struct sum_of {
  using type = typename term_of<Prog, Lhs, Node>::type;
};
template <class Prog, class Lhs, op O, class... A>
  requires(O == op::add || O == op::sub || O == op::neg)
struct sum_of<Prog, Lhs, apply<O, A...>> {
  using type = typename applied<O, typename sum_of<Prog, Lhs, A>::type...>::type;
};

// The outer function chain: functions and normalizers applied after projection.
template <class Prog, class Lhs, class Node>
struct chain_of {
  using type = typename term_of<Prog, Lhs, Node>::type;
};
template <class Prog, class Lhs, norm_op O, class Idx, class Body>
struct chain_of<Prog, Lhs, normalization<O, Idx, Body>> {
  using type = d_normalize<O, Prog::index_position(Idx::name.view()), typename chain_of<Prog, Lhs, Body>::type>;
};
template <class Prog, class Lhs, op O, class... A>
struct chain_of<Prog, Lhs, apply<O, A...>> {
  static constexpr bool sum = O == op::add || O == op::sub;
  static constexpr bool function = O == op::neg || tensorlogic::detail::is_chain_function<O>;
  using type = typename std::conditional_t<
      sum, sum_of<Prog, Lhs, apply<O, A...>>,
      std::conditional_t<function, apply_of<Prog, true, Lhs, apply<O, A...>>, term_of<Prog, Lhs, apply<O, A...>>>>::type;
};

// The values a lowered node holds (numbers, index-expression coefficients), copied from the front-end node it lowers.
// The functions above give the lowered type (in unevaluated contexts only); these fill a value of it and mirror them
// step by step, without the program's type: instantiated per front-end node, their symbols do not spell the whole
// program (lowering at run time through the functions above instantiated a dozen functions per equation whose
// mangled names each held the program's type, and the compile time of a long program grew with its square).
template <class L, class X>
constexpr void fill_dim(L& out, const X& x) {
  if constexpr (!index_type<X>) {
    [&]<bool Dv, class... V>(const index_affine<Dv, V...>& a) {
      if constexpr (sizeof...(V) > 0)
        for (std::size_t k = 0; k < sizeof...(V); ++k) out.coef[k] = a.coef[k];
      out.offset = a.offset;
      out.divisor = a.divisor;
    }(x);
  }
}
inline constexpr void fill_dims(dims<>&) {}
template <class D, class... R, class X, class... Y>
constexpr void fill_dims(dims<D, R...>& out, const X& x, const Y&... y) {
  fill_dim(out.head, x);
  fill_dims(out.tail, y...);
}

template <class Lhs, class L, class Node>
constexpr void fill_sum(L& out, const Node& n);
template <class Lhs, class L, class Node>
constexpr void fill_chain(L& out, const Node& n);
template <bool Chain, class Lhs, class L, op O, class... A>
constexpr void fill_apply(L& out, const apply<O, A...>& n);

template <class L, class Node>
constexpr void fill_elementwise(L& out, const Node& n) {
  using tensorlogic::detail::is_apply;
  using tensorlogic::detail::is_comparison;
  using tensorlogic::detail::is_reduction;
  using tensorlogic::detail::is_ref;
  if constexpr (std::is_same_v<Node, constant>) {
    out.value = n.value;
  } else if constexpr (is_ref<Node>) {
    tensorlogic::detail::apply_tuple([&](const auto&... d) { fill_dims(out.subscripts, d...); }, n.dims);
  } else if constexpr (requires { Node::kind; }) {
    // a scalar symbol: nothing to copy
  } else if constexpr (is_comparison<Node>) {
    fill_dim(out.a, n.a);
    fill_dim(out.b, n.b);
  } else if constexpr (is_reduction<Node> || tensorlogic::detail::is_normalization<Node>) {
    fill_elementwise(out.body, n.body);
  } else {
    fill_apply<false, void>(out, n);
  }
}

template <class Lhs, class L, class Node>
constexpr void fill_term(L& out, const Node& n) {
  if constexpr (summed_names<Node, Lhs>().size > 0)
    fill_elementwise(out.body, n);
  else
    fill_elementwise(out, n);
}

template <bool Chain, class Lhs, class L, op O, class... A>
constexpr void fill_apply(L& out, const apply<O, A...>& n) {
  auto sub = [](auto& o, const auto& x) {
    if constexpr (Chain)
      fill_chain<Lhs>(o, x);
    else
      fill_elementwise(o, x);
  };
  sub(out.a, tensorlogic::get<0>(n.args));
  if constexpr (sizeof...(A) > 1) sub(out.b, tensorlogic::get<1>(n.args));
  if constexpr (sizeof...(A) > 2) sub(out.c, tensorlogic::get<2>(n.args));
}

template <class Lhs, class L, class Node>
constexpr void fill_sum(L& out, const Node& n) {
  using tensorlogic::detail::is_apply;
  if constexpr (is_apply<Node>) {
    if constexpr (Node::operation == op::add || Node::operation == op::sub || Node::operation == op::neg) {
      fill_sum<Lhs>(out.a, tensorlogic::get<0>(n.args));
      if constexpr (std::tuple_size_v<decltype(n.args)> > 1) fill_sum<Lhs>(out.b, tensorlogic::get<1>(n.args));
    } else {
      fill_term<Lhs>(out, n);
    }
  } else {
    fill_term<Lhs>(out, n);
  }
}

template <class Lhs, class L, class Node>
constexpr void fill_chain(L& out, const Node& n) {
  using tensorlogic::detail::is_apply;
  using tensorlogic::detail::is_chain_function;
  using tensorlogic::detail::is_normalization;
  if constexpr (is_normalization<Node>) {
    fill_chain<Lhs>(out.body, n.body);
  } else if constexpr (is_apply<Node>) {
    if constexpr (Node::operation == op::add || Node::operation == op::sub) {
      fill_sum<Lhs>(out, n);
    } else if constexpr (Node::operation == op::neg || is_chain_function<Node::operation>) {
      fill_apply<true, Lhs>(out, n);
    } else {
      fill_term<Lhs>(out, n);
    }
  } else {
    fill_term<Lhs>(out, n);
  }
}
}  // namespace detail

// The lowered right-hand side of an equation of program Prog (its type from the class templates above; its values
// copied by the fill functions).
template <class Prog, class Eq>
using lowered_rhs_t = typename detail::chain_of<Prog, typename Eq::lhs_type, typename Eq::rhs_type>::type;
template <class Prog, class Eq>
constexpr lowered_rhs_t<Prog, Eq> lower_rhs(const Eq& eq) {
  lowered_rhs_t<Prog, Eq> out{};
  detail::fill_chain<typename Eq::lhs_type>(out, eq.rhs);
  return out;
}
// The lowered left-hand side (a d_ref).
template <class Prog, class Eq>
using lowered_lhs_t = typename detail::elementwise_of<Prog, typename Eq::lhs_type>::type;
template <class Prog, class Eq>
constexpr lowered_lhs_t<Prog, Eq> lower_lhs(const Eq& eq) {
  lowered_lhs_t<Prog, Eq> out{};
  detail::fill_elementwise(out, eq.lhs);
  return out;
}

}  // namespace tensorlogic::plan
