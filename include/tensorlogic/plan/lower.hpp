// Lowering: front-end equation -> structural descriptor (plan/descriptor.hpp). The right-hand side is split into
// its outer function chain, its sum of terms, and each term's projection onto the left-hand side (DESIGN §1 rules
// 1-3): a term becomes d_project<sum, summed positions...> around its elementwise body.
#pragma once
#include <utility>

#include <tensorlogic/core/program.hpp>
#include <tensorlogic/plan/descriptor.hpp>

namespace tensorlogic::plan {

namespace detail {
using tensorlogic::detail::name_set;

struct position_list {
  int items[name_set::capacity]{};
  int size = 0;
};

template <class Prog>
constexpr position_list positions_of(const name_set& s) {
  position_list r;
  for (int k = 0; k < s.size; ++k) r.items[r.size++] = Prog::index_position(s.items[k].name);
  return r;
}

template <class Prog, class Lhs, class Node>
constexpr auto lower_sum(const Node& n);
template <class Prog, class Lhs, class Node>
constexpr auto lower_chain(const Node& n);
template <class Prog, bool Chain, class Lhs, op O, class... A>
constexpr auto lower_apply_with(const apply<O, A...>& n);

template <class Prog, class D>
constexpr auto lower_dim(const D& d) {
  if constexpr (index_type<D>) {
    return dim_var<Prog::index_position(D::name.view())>{};
  } else {
    return [&]<bool Dv, class... V>(const index_affine<Dv, V...>& a) {
      dim_affine<Prog::index_position(V::name.view())...> r{};
      if constexpr (sizeof...(V) > 0)  // a constant side (i - j >= 0) has no variables
        for (std::size_t k = 0; k < sizeof...(V); ++k) r.coef[k] = a.coef[k];
      r.offset = a.offset;
      r.divisor = a.divisor;
      return r;
    }(d);
  }
}

template <class Prog>
constexpr dims<> build_dims() {
  return {};
}
template <class Prog, class D, class... R>
constexpr auto build_dims(const D& d, const R&... r) {
  return dims<decltype(lower_dim<Prog>(d)), decltype(lower_dim<Prog>(r))...>{lower_dim<Prog>(d), build_dims<Prog>(r...)};
}

template <class Prog, class Sym, class... D>
constexpr auto lower_ref(const ref<Sym, D...>& r) {
  constexpr int slot = Prog::slot_of(Sym::name.view());
  return std::apply([](const auto&... d) { return d_ref<slot, decltype(build_dims<Prog>(d...))>{build_dims<Prog>(d...)}; },
                    r.dims);
}

// Everything below a term is elementwise; explicit projections loop inside.
template <class Prog, class Node>
constexpr auto lower_elementwise(const Node& n) {
  using tensorlogic::detail::is_apply;
  using tensorlogic::detail::is_comparison;
  using tensorlogic::detail::is_reduction;
  using tensorlogic::detail::is_ref;
  if constexpr (std::is_same_v<Node, constant>) {
    return d_const{n.value};
  } else if constexpr (is_ref<Node>) {
    return lower_ref<Prog>(n);
  } else if constexpr (requires { Node::kind; } ) {
    // a scalar symbol
    return d_ref<Prog::slot_of(Node::name.view()), dims<>>{};
  } else if constexpr (is_comparison<Node>) {
    auto a = lower_dim<Prog>(n.a);
    auto b = lower_dim<Prog>(n.b);
    return d_compare<Node::operation, decltype(a), decltype(b)>{a, b};
  } else if constexpr (is_reduction<Node>) {
    return [&]<reduce_op O, class Body, class... Idx>(const reduction<O, Body, Idx...>& r) {
      auto body = lower_elementwise<Prog>(r.body);
      return d_project<O, decltype(body), Prog::index_position(Idx::name.view())...>{body};
    }(n);
  } else if constexpr (tensorlogic::detail::is_normalization<Node>) {
    auto body = lower_elementwise<Prog>(n.body);
    return d_normalize<Node::operation, Prog::index_position(Node::normalized_index::name.view()), decltype(body)>{body};
  } else {
    static_assert(is_apply<Node>, "tensorlogic: internal: unexpected node in a term");
    return lower_apply_with<Prog, false, void>(n);
  }
}

template <class Prog, class Node, class Lhs>
constexpr auto lower_term(const Node& n) {
  auto body = lower_elementwise<Prog>(n);
  constexpr position_list summed = [] {
    name_set f;
    Node::free_indices(f);
    name_set lhs = tensorlogic::detail::lhs_indices<Lhs>();
    for (int k = 0; k < lhs.size; ++k) f.remove(lhs.items[k].name);
    return positions_of<Prog>(f);
  }();
  if constexpr (summed.size == 0) {
    return body;
  } else {
    return [&]<std::size_t... K>(std::index_sequence<K...>) {
      return d_project<reduce_op::sum, decltype(body), summed.items[K]...>{body};
    }(std::make_index_sequence<summed.size>{});
  }
}


template <class Prog, bool Chain, class Lhs, op O, class... A>
constexpr auto lower_apply_with(const apply<O, A...>& n) {
  auto sub = [](const auto& x) {
    if constexpr (Chain)
      return lower_chain<Prog, Lhs>(x);
    else
      return lower_elementwise<Prog>(x);
  };
  return std::apply(
      [&](const auto&... args) {
        if constexpr (sizeof...(A) == 1)
          return d_apply1<O, decltype(sub(args))...>{sub(args)...};
        else if constexpr (sizeof...(A) == 2)
          return d_apply2<O, decltype(sub(args))...>{sub(args)...};
        else
          return d_apply3<O, decltype(sub(args))...>{sub(args)...};
      },
      n.args);
}

// The sum of terms directly under the outer chain.
template <class Prog, class Lhs, class Node>
constexpr auto lower_sum(const Node& n) {
  using tensorlogic::detail::is_apply;
  if constexpr (is_apply<Node>) {
    if constexpr (Node::operation == op::add || Node::operation == op::sub || Node::operation == op::neg) {
      return std::apply(
          [&](const auto&... args) {
            if constexpr (sizeof...(args) == 1)
              return d_apply1<Node::operation, decltype(lower_sum<Prog, Lhs>(args))...>{lower_sum<Prog, Lhs>(args)...};
            else
              return d_apply2<Node::operation, decltype(lower_sum<Prog, Lhs>(args))...>{lower_sum<Prog, Lhs>(args)...};
          },
          n.args);
    } else {
      return lower_term<Prog, Node, Lhs>(n);
    }
  } else {
    return lower_term<Prog, Node, Lhs>(n);
  }
}

// The outer function chain: functions and normalizers applied after projection.
template <class Prog, class Lhs, class Node>
constexpr auto lower_chain(const Node& n) {
  using tensorlogic::detail::is_apply;
  using tensorlogic::detail::is_chain_function;
  using tensorlogic::detail::is_normalization;
  if constexpr (is_normalization<Node>) {
    auto body = lower_chain<Prog, Lhs>(n.body);
    return d_normalize<Node::operation, Prog::index_position(Node::normalized_index::name.view()), decltype(body)>{body};
  } else if constexpr (is_apply<Node>) {
    if constexpr (Node::operation == op::add || Node::operation == op::sub) {
      return lower_sum<Prog, Lhs>(n);
    } else if constexpr (Node::operation == op::neg || is_chain_function<Node::operation>) {
      return lower_apply_with<Prog, true, Lhs>(n);
    } else {
      return lower_term<Prog, Node, Lhs>(n);
    }
  } else {
    return lower_term<Prog, Node, Lhs>(n);
  }
}

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
    std::apply([&](const auto&... d) { fill_dims(out.subscripts, d...); }, n.dims);
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

// Whether lower_term wrapped the term in a projection (it has indices the left-hand side lacks).
template <class Node, class Lhs>
constexpr bool term_projects() {
  name_set f;
  Node::free_indices(f);
  name_set lhs = tensorlogic::detail::lhs_indices<Lhs>();
  for (int k = 0; k < lhs.size; ++k) f.remove(lhs.items[k].name);
  return f.size > 0;
}
template <class Lhs, class L, class Node>
constexpr void fill_term(L& out, const Node& n) {
  if constexpr (term_projects<Node, Lhs>())
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
  sub(out.a, std::get<0>(n.args));
  if constexpr (sizeof...(A) > 1) sub(out.b, std::get<1>(n.args));
  if constexpr (sizeof...(A) > 2) sub(out.c, std::get<2>(n.args));
}

template <class Lhs, class L, class Node>
constexpr void fill_sum(L& out, const Node& n) {
  using tensorlogic::detail::is_apply;
  if constexpr (is_apply<Node>) {
    if constexpr (Node::operation == op::add || Node::operation == op::sub || Node::operation == op::neg) {
      fill_sum<Lhs>(out.a, std::get<0>(n.args));
      if constexpr (std::tuple_size_v<decltype(n.args)> > 1) fill_sum<Lhs>(out.b, std::get<1>(n.args));
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

// The lowered right-hand side of an equation of program Prog (its type from the lowering functions, unevaluated; its
// values copied by the fill functions).
template <class Prog, class Eq>
using lowered_rhs_t = decltype(detail::lower_chain<Prog, typename Eq::lhs_type>(std::declval<const typename Eq::rhs_type&>()));
template <class Prog, class Eq>
constexpr lowered_rhs_t<Prog, Eq> lower_rhs(const Eq& eq) {
  lowered_rhs_t<Prog, Eq> out{};
  detail::fill_chain<typename Eq::lhs_type>(out, eq.rhs);
  return out;
}
// The lowered left-hand side (a d_ref).
template <class Prog, class Eq>
using lowered_lhs_t = decltype(detail::lower_ref<Prog>(std::declval<const typename Eq::lhs_type&>()));
template <class Prog, class Eq>
constexpr lowered_lhs_t<Prog, Eq> lower_lhs(const Eq& eq) {
  lowered_lhs_t<Prog, Eq> out{};
  detail::fill_elementwise(out, eq.lhs);
  return out;
}

}  // namespace tensorlogic::plan
