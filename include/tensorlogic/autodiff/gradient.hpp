// tl::gradient(prog, L, tl::wrt(W, b)): the gradient of a program is a program (tensor-logic.md §1.3). The result
// holds the forward equations (an outer function chain is split off into "pre" tensors so its derivative can read
// them), the seed grad(L)() = 1, and one equation per (equation, right-hand-side occurrence) pair:
//   grad(T)(subscripts of T) = grad(Y)(lhs) * d(term)/d(occurrence)
// whose projection sums everything not on T's subscripts; same-left-hand-side gradient equations add (rule 4).
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include <tensorlogic/core/program.hpp>

namespace tensorlogic {

// The symbol of dL/dT in a gradient program's store.
template <class Sym>
using grad_symbol = tensor<detail::joined<"grad(", Sym::name, ")">, typename Sym::value_type, Sym::rank>;
template <class Sym>
constexpr auto grad(const Sym&) {
  static_assert(Sym::kind != symbol_kind::relation, "tensorlogic: relations are not differentiable");
  return grad_symbol<Sym>{};
}

template <class... S>
struct wrt_list {};
template <class... S>
constexpr wrt_list<S...> wrt(const S&...) {
  static_assert(((S::kind == symbol_kind::tensor) && ...),
                "tensorlogic: tl::wrt takes tensors; relations are not differentiable and scalars are hyperparameters");
  return {};
}

namespace diagnostics {
template <fixed_string Tensor>
struct gradient_through_step {
  static_assert(always_false<gradient_through_step>,
                "tensorlogic: in the equation for tensor T, the gradient passes through step, whose derivative is "
                "zero; declare a surrogate: tl::sigmoid(e, T) (or tl::stop_grad to cut the path)");
};
template <fixed_string Tensor>
struct gradient_through_projection {
  static_assert(always_false<gradient_through_projection>,
                "tensorlogic: in the equation for tensor T, the gradient passes through a projection it cannot route: "
                "tl::max/min/logsumexp only as the whole right-hand side of the one equation for T, tl::mean/any "
                "never (write a mean as a tl::sum times a constant, and a nested max as an equation of its own)");
};
template <fixed_string Tensor>
struct gradient_through_nested_normalizer {
  static_assert(always_false<gradient_through_nested_normalizer>,
                "tensorlogic: in the equation for tensor T, the gradient passes through a softmax/log_softmax/lnorm "
                "that is not the outermost function; give the normalizer an equation of its own");
};
template <fixed_string Tensor, fixed_string Index>
struct gradient_through_combined_subscript {
  static_assert(always_false<gradient_through_combined_subscript>,
                "tensorlogic: the gradient of tensor T read at a subscript that combines indices (X(t + u)) is written "
                "along a fresh index and needs one of the subscript's indices to solve for: one used by no other "
                "subscript of the read, of static extent, or a plain subscript of the equation's left-hand side or of "
                "another factor; index I is none of these");
};
template <fixed_string Tensor, fixed_string Index>
struct gradient_through_divided_subscript {
  static_assert(always_false<gradient_through_divided_subscript>,
                "tensorlogic: the gradient of tensor T read at a subscript that combines indices and divides "
                "((t + u) / n) is not derived; index I is used so");
};
// A coefficient is a value, not a type: this check runs while the gradient program is computed. The function is not
// constexpr, so reaching it during constant evaluation is the compile error, its name and arguments the message
// (tensor T, index I); outside constant evaluation it throws.
template <fixed_string Tensor, fixed_string Index>
void tensorlogic_gradient_of_T_solves_a_subscript_for_index_I_whose_coefficient_is_not_1_or_minus_1() {
  throw error("the gradient of tensor " + std::string(Tensor.view()) + " solves a subscript for index " +
              std::string(Index.view()) +
              ", whose coefficient is not 1 or -1 (a strided read X(2 * s + w) needs w of static extent or read at a plain "
              "subscript by another factor, as a filter F(w) is)");
}
template <fixed_string Loss>
struct loss_not_scalar {
  static_assert(always_false<loss_not_scalar>, "tensorlogic: the loss L of tl::gradient must be a rank-0 tensor");
};
}  // namespace diagnostics

namespace detail::ad {

// A factor equal to one, dropped when multiplied (the derivative of an occurrence by itself).
struct unit {};
template <class A, class B>
constexpr auto times(const A& a, const B& b) {
  if constexpr (std::is_same_v<A, unit>)
    return b;
  else if constexpr (std::is_same_v<B, unit>)
    return a;
  else
    return a * b;
}
template <class A>
constexpr auto negated(const A& a) {
  if constexpr (std::is_same_v<A, unit>)
    return constant{-1.0};
  else
    return -a;
}

template <int... P>
using path = std::integer_sequence<int, P...>;

// Occurrences of differentiable references in a node: (path, symbol) pairs; stop_grad cuts a path.
template <class Path, class Sym>
struct occurrence {};

template <class Node, class Path>
struct occurrences_of {
  using type = type_list<>;
};
template <class Seq, class Path, class... Args>
struct apply_occurrences;
template <std::size_t... K, int... P, class... Args>
struct apply_occurrences<std::index_sequence<K...>, path<P...>, Args...> {
  using type = typename concat_all<typename occurrences_of<Args, path<P..., static_cast<int>(K)>>::type...>::type;
};
template <class S, class... D, int... P>
struct occurrences_of<ref<S, D...>, path<P...>> {
  using type = std::conditional_t<S::kind == symbol_kind::tensor, type_list<occurrence<path<P...>, S>>, type_list<>>;
};
template <op O, class... Args, int... P>
struct occurrences_of<apply<O, Args...>, path<P...>> {
  using type = std::conditional_t<O == op::stop_grad || O == op::not_, type_list<>,
                                  typename apply_occurrences<std::index_sequence_for<Args...>, path<P...>, Args...>::type>;
};
template <reduce_op O, class B, class... I, int... P>
struct occurrences_of<reduction<O, B, I...>, path<P...>> {
  using type = typename occurrences_of<B, path<P..., 0>>::type;
};
template <norm_op O, class I, class B, int... P>
struct occurrences_of<normalization<O, I, B>, path<P...>> {
  using type = typename occurrences_of<B, path<P..., 0>>::type;
};

template <class D>
constexpr auto as_operand(const D& d) {
  if constexpr (std::is_same_v<D, unit>)
    return constant{1.0};
  else
    return d;
}
template <class D, class B>
constexpr auto over(const D& d, const B& b) {
  return as_operand(d) / b;
}

// d(node)/d(the occurrence at path), an elementwise expression (DESIGN §1 rule 2: inside a term all is elementwise).
template <fixed_string Head, class Node, int... P>
constexpr auto diff(const Node& n, path<P...>);

template <fixed_string Head, op O, class... Args, int K, int... Rest>
constexpr auto diff_apply(const apply<O, Args...>& n, path<K, Rest...>) {
  const auto& child = tensorlogic::get<K>(n.args);
  const auto dc = diff<Head>(child, path<Rest...>{});
  if constexpr (O == op::add) {
    return dc;
  } else if constexpr (O == op::sub) {
    if constexpr (K == 0) return dc; else return negated(dc);
  } else if constexpr (O == op::neg) {
    return negated(dc);
  } else if constexpr (O == op::mul) {
    if constexpr (K == 0) return times(dc, tensorlogic::get<1>(n.args));
    else return times(tensorlogic::get<0>(n.args), dc);
  } else if constexpr (O == op::div) {
    const auto& a = tensorlogic::get<0>(n.args);
    const auto& b = tensorlogic::get<1>(n.args);
    if constexpr (K == 0) return over(dc, b); else return negated(times(a, dc)) / tensorlogic::square(b);
  } else {
    const auto& a = tensorlogic::get<0>(n.args);
    if constexpr (O == op::exp) return times(tensorlogic::exp(a), dc);
    else if constexpr (O == op::log) return over(dc, a);
    else if constexpr (O == op::sqrt) return over(dc, 2.0 * tensorlogic::sqrt(a));
    else if constexpr (O == op::square) return times(2.0 * a, dc);
    else if constexpr (O == op::abs) return times(tensorlogic::where(a, 1.0, -1.0), dc);
    else if constexpr (O == op::relu) return times(tensorlogic::step(a), dc);
    else if constexpr (O == op::sigmoid) return times(tensorlogic::sigmoid(a) * (1.0 - tensorlogic::sigmoid(a)), dc);
    else if constexpr (O == op::tanh) return times(1.0 - tensorlogic::square(tensorlogic::tanh(a)), dc);
    else if constexpr (O == op::step) {
      (void)diagnostics::gradient_through_step<Head>{};
      return constant{0.0};
    } else if constexpr (O == op::sigmoid_t) {
      const auto& t = tensorlogic::get<1>(n.args);
      const auto s = tensorlogic::sigmoid(a, t);
      if constexpr (K == 0) return times(s * (1.0 - s) / t, dc);
      else return times(-(s * (1.0 - s)) * a / tensorlogic::square(t), dc);
    } else if constexpr (O == op::pow) {
      const auto& b = tensorlogic::get<1>(n.args);
      if constexpr (K == 0) return times(b * tensorlogic::pow(a, b - 1.0), dc);
      else return times(tensorlogic::pow(a, b) * tensorlogic::log(a), dc);
    } else if constexpr (O == op::min || O == op::max) {
      const auto& b = tensorlogic::get<1>(n.args);
      // min picks a where b - a > 0; max picks a where a - b > 0 (the kernel's tie rule)
      const auto picks_a = [&] {
        if constexpr (O == op::min) return b - a; else return a - b;
      }();
      if constexpr (K == 0) return tensorlogic::where(picks_a, as_operand(dc), 0.0);
      else return tensorlogic::where(picks_a, 0.0, as_operand(dc));
    } else if constexpr (O == op::clamp) {
      const auto& lo = tensorlogic::get<1>(n.args);
      const auto& hi = tensorlogic::get<2>(n.args);
      if constexpr (K == 0) return tensorlogic::where(a - lo, tensorlogic::where(hi - a, as_operand(dc), 0.0), 0.0);
      else if constexpr (K == 1) return tensorlogic::where(lo - a, as_operand(dc), 0.0);
      else return tensorlogic::where(a - hi, as_operand(dc), 0.0);
    } else {
      static_assert(O == op::where);
      if constexpr (K == 1) return tensorlogic::where(a, as_operand(dc), 0.0);
      else if constexpr (K == 2) return tensorlogic::where(a, 0.0, as_operand(dc));
      else return constant{0.0};
    }
  }
}

template <fixed_string Head, class Node, int... P>
constexpr auto diff(const Node& n, path<P...>) {
  if constexpr (sizeof...(P) == 0) {
    return unit{};
  } else if constexpr (is_apply<Node>) {
    return diff_apply<Head>(n, path<P...>{});
  } else if constexpr (is_reduction<Node>) {
    if constexpr (Node::operation != reduce_op::sum) (void)diagnostics::gradient_through_projection<Head>{};
    // d/dT of sum_j e = de/dT with j freed: kept when it is one of T's subscripts, else projected by the equation
    return [&]<int K, int... Rest>(path<K, Rest...>) { return diff<Head>(n.body, path<Rest...>{}); }(path<P...>{});
  } else {
    static_assert(is_normalization<Node>);
    (void)diagnostics::gradient_through_nested_normalizer<Head>{};
    return constant{0.0};
  }
}

template <class Node, int... P>
constexpr const auto& node_at(const Node& n, path<P...>) {
  if constexpr (sizeof...(P) == 0) {
    return n;
  } else {
    return [&]<int K, int... Rest>(path<K, Rest...>) -> const auto& {
      if constexpr (is_apply<Node>) return node_at(tensorlogic::get<K>(n.args), path<Rest...>{});
      else return node_at(n.body, path<Rest...>{});
    }(path<P...>{});
  }
}

template <class O>
struct occurrence_symbol;
template <class P, class S>
struct occurrence_symbol<occurrence<P, S>> {
  using type = S;
};

// ---- which tensors carry an adjoint: those that depend on a wrt tensor and that the loss depends on, both through
// differentiable reads (a read under tl::stop_grad or a negation carries no gradient).
// Computed once per (program, loss, wrt) and then looked up: the two closures below.
template <class Tup, class Loss, class Wrt>
struct adjoint_sets;
template <class... Eqs, class Loss, class... W>
struct adjoint_sets<std::tuple<Eqs...>, Loss, wrt_list<W...>> {
  static constexpr std::size_t n = sizeof...(Eqs);
  // every name that can enter a set: heads, occurrences, wrt tensors, the loss
  static constexpr std::size_t names =
      (std::size_t{0} + ... + (1 + list_size<typename occurrences_of<typename Eqs::rhs_type, path<>>::type>::value));
  static constexpr int capacity = static_cast<int>(names + sizeof...(W)) + 1;
  using set = basic_name_set<capacity>;
  struct sets {
    set dep, used;
  };
  static constexpr sets value = [] {
    std::string_view heads[n > 0 ? n : 1] = {Eqs::head::name.view()...};
    // depends on wrt: fixpoint over equations
    set dep;
    (dep.add({W::name.view(), 0}), ...);
    for (bool grew = true; grew;) {
      grew = false;
      std::size_t e = 0;
      auto visit = [&]<class E>(E*) {
        bool reads = false;
        [&]<class... O>(type_list<O...>) {
          ((reads = reads || dep.contains(occurrence_symbol<O>::type::name.view())), ...);
        }(typename occurrences_of<typename E::rhs_type, path<>>::type{});
        if (reads && !dep.contains(heads[e])) {
          dep.add({heads[e], 0});
          grew = true;
        }
        ++e;
      };
      (visit(static_cast<Eqs*>(nullptr)), ...);
    }
    // the loss depends on: backward closure from L
    set used;
    used.add({Loss::name.view(), 0});
    for (bool grew = true; grew;) {
      grew = false;
      std::size_t e = 0;
      auto visit = [&]<class E>(E*) {
        if (used.contains(heads[e])) {
          [&]<class... O>(type_list<O...>) {
            ((!used.contains(occurrence_symbol<O>::type::name.view())
                  ? (used.add({occurrence_symbol<O>::type::name.view(), 0}), grew = true)
                  : false),
             ...);
          }(typename occurrences_of<typename E::rhs_type, path<>>::type{});
        }
        ++e;
      };
      (visit(static_cast<Eqs*>(nullptr)), ...);
    }
    return sets{dep, used};
  }();
};

template <class... Eqs, class Loss, class... W>
constexpr bool needs_adjoint(std::string_view name, std::tuple<Eqs...>*, Loss*, wrt_list<W...>*) {
  constexpr const auto& s = adjoint_sets<std::tuple<Eqs...>, Loss, wrt_list<W...>>::value;
  return s.dep.contains(name) && s.used.contains(name);
}

// ---- forward rewrite. A derivative is elementwise, so the gradient program needs, as tensors of their own:
// every projected unit under an outer function (pre tensors), every normalizer that is not the whole right-hand
// side (nrm tensors) and every normalizer body that is not already a tensor (pre tensors).
template <class Node>
constexpr bool is_chain_apply() {
  if constexpr (is_apply<Node>) return is_chain_function<Node::operation> || Node::operation == op::neg;
  else return false;
}

template <int... P>
constexpr auto path_suffix(path<P...>) {
  // the common case, the first argument of the root, keeps the short name preE(Y)
  if constexpr (sizeof...(P) == 1 && ((P == 0) && ...)) return fixed_string("");
  else return joined<"_", decimal<static_cast<std::size_t>(P)>()...>;
}
template <fixed_string Tag, std::size_t E, class Path, class Sym>
using derived_symbol = tensor<joined<Tag, decimal<E>(), path_suffix(Path{}), "(", Sym::name, ")">,
                              typename Sym::value_type, Sym::rank>;
template <fixed_string Tag, std::size_t E, class Sym>
using row_symbol = tensor<joined<Tag, decimal<E>(), "(", Sym::name, ")">, typename Sym::value_type, Sym::rank - 1>;

template <class NewSym, class S, class... D>
constexpr auto retarget(const ref<S, D...>& r) {
  return ref<NewSym, D...>(r.dims);
}
// The left-hand side without the normalized index Q (its row), as a reference to NewSym.
template <class NewSym, class Q, class S, class... D>
constexpr auto row_of(const ref<S, D...>& r) {
  return tensorlogic::detail::apply_tuple(
      [](const auto&... d) {
        auto kept = std::tuple_cat([&] {
          if constexpr (std::is_same_v<std::remove_cvref_t<decltype(d)>, Q>) return std::tuple<>{};
          else return std::tuple<std::remove_cvref_t<decltype(d)>>{d};
        }()...);
        return std::apply(
            [](const auto&... k) { return ref<NewSym, std::remove_cvref_t<decltype(k)>...>(make_indexed_tuple(k...)); },
            kept);
      },
      r.dims);
}

template <class Lhs, class Node>
constexpr bool sums_an_index() {
  name_set f;
  Node::free_indices(f);
  const name_set lhs = lhs_indices<Lhs>();
  for (int k = 0; k < f.size; ++k)
    if (!lhs.contains(f.items[k].name)) return true;
  return false;
}

template <class Node>
constexpr bool is_tensor_ref() {
  if constexpr (is_ref<Node>) return Node::symbol::kind == symbol_kind::tensor;
  else return false;
}

template <std::size_t E, class Eq, class Node, int... P>
constexpr auto rewrite_chain(const Eq& eq, const Node& n, path<P...>);

// Inside a term: every normalizer becomes a tensor over the left-hand side (its body uses only those indices).
template <std::size_t E, class Eq, class Node, int... P>
constexpr auto rewrite_term(const Eq& eq, const Node& n, path<P...>);

// A normalizer whose body is a tensor reference (a pre tensor unless it already was one).
template <std::size_t E, class Eq, class Node, int... P>
constexpr auto normalizer_over_tensor(const Eq& eq, const Node& n, path<P...>) {
  using body_t = std::remove_cvref_t<decltype(n.body)>;
  if constexpr (is_tensor_ref<body_t>()) {
    return std::pair(n, std::tuple<>{});
  } else {
    auto [body, eqs] = rewrite_chain<E>(eq, n.body, path<P..., 0>{});
    using new_body_t = std::remove_cvref_t<decltype(body)>;
    if constexpr (is_tensor_ref<new_body_t>()) {
      // the body was a projected unit: its pre tensor is already the normalizer's argument
      return std::pair(normalization<Node::operation, typename Node::normalized_index, new_body_t>{body}, eqs);
    } else {
      const auto pre = retarget<derived_symbol<"pre", E, path<P..., 0>, typename Eq::head>>(eq.lhs);
      return std::pair(
          normalization<Node::operation, typename Node::normalized_index, std::remove_cvref_t<decltype(pre)>>{pre},
          std::tuple_cat(eqs, std::tuple(pre = body)));
    }
  }
}

// A normalizer that is not the whole right-hand side becomes an nrm tensor of its own.
template <std::size_t E, class Eq, class Node, int... P>
constexpr auto extract_normalizer(const Eq& eq, const Node& n, path<P...>) {
  auto [norm, eqs] = normalizer_over_tensor<E>(eq, n, path<P...>{});
  const auto nrm = retarget<derived_symbol<"nrm", E, path<P...>, typename Eq::head>>(eq.lhs);
  return std::pair(nrm, std::tuple_cat(eqs, std::tuple(nrm = norm)));
}

template <std::size_t E, class Eq, class Node, int... P>
constexpr auto rewrite_term(const Eq& eq, const Node& n, path<P...>) {
  if constexpr (is_normalization<Node>) {
    return extract_normalizer<E>(eq, n, path<P...>{});
  } else if constexpr (is_apply<Node>) {
    return [&]<std::size_t... K>(std::index_sequence<K...>) {
      auto parts =
          std::make_tuple(rewrite_term<E>(eq, tensorlogic::get<K>(n.args), path<P..., static_cast<int>(K)>{})...);
      return std::pair(make_apply<Node::operation>(std::get<K>(parts).first...),
                       std::tuple_cat(std::get<K>(parts).second...));
    }(std::make_index_sequence<std::tuple_size_v<decltype(n.args)>>{});
  } else if constexpr (is_reduction<Node>) {
    // (a named pair, not a structured binding: Clang before 16 cannot capture structured bindings in a lambda)
    const auto parts = rewrite_term<E>(eq, n.body, path<P..., 0>{});
    return [&]<reduce_op O, class B, class... I>(const reduction<O, B, I...>*) {
      return std::pair(reduction<O, std::remove_cvref_t<decltype(parts.first)>, I...>{parts.first}, parts.second);
    }(static_cast<const Node*>(nullptr));
  } else {
    return std::pair(n, std::tuple<>{});
  }
}

// The outer chain: functions (and negation) above the projected units. Below a function, a unit that sums an
// index becomes a pre tensor, so the function's derivative is taken after the projection.
template <std::size_t E, class Eq, class Node, int... P>
constexpr auto rewrite_chain(const Eq& eq, const Node& n, path<P...>) {
  if constexpr (is_normalization<Node>) {
    if constexpr (sizeof...(P) == 0)
      return normalizer_over_tensor<E>(eq, n, path<P...>{});
    else
      return extract_normalizer<E>(eq, n, path<P...>{});
  } else if constexpr (is_chain_apply<Node>()) {
    return [&]<std::size_t... K>(std::index_sequence<K...>) {
      auto parts =
          std::make_tuple(rewrite_chain<E>(eq, tensorlogic::get<K>(n.args), path<P..., static_cast<int>(K)>{})...);
      return std::pair(make_apply<Node::operation>(std::get<K>(parts).first...),
                       std::tuple_cat(std::get<K>(parts).second...));
    }(std::make_index_sequence<std::tuple_size_v<decltype(n.args)>>{});
  } else {
    auto [unit, eqs] = rewrite_term<E>(eq, n, path<P...>{});
    using unit_t = std::remove_cvref_t<decltype(unit)>;
    if constexpr (sizeof...(P) > 0 && sums_an_index<typename Eq::lhs_type, unit_t>()) {
      const auto pre = retarget<derived_symbol<"pre", E, path<P...>, typename Eq::head>>(eq.lhs);
      return std::pair(pre, std::tuple_cat(eqs, std::tuple(pre = unit)));
    } else {
      return std::pair(unit, eqs);
    }
  }
}

// Needed: the head carries an adjoint (only then is the equation rewritten).
template <std::size_t E, bool Needed, class Eq>
constexpr auto rewrite_forward(const Eq& eq) {
  if constexpr (Needed) {
    auto [rhs, eqs] = rewrite_chain<E>(eq, eq.rhs, path<>{});
    return std::tuple_cat(eqs, std::tuple(eq.lhs = rhs));
  } else {
    return std::tuple(eq);
  }
}

template <class D>
struct vars_of {
  using type = type_list<D>;
};
template <bool Dv, class... V>
struct vars_of<index_affine<Dv, V...>> {
  using type = type_list<V...>;
};
template <class L>
struct lhs_vars;
template <class S, class... D>
struct lhs_vars<ref<S, D...>> {
  using type = typename concat_all<typename vars_of<D>::type...>::type;
};

// Presence factors (v == v) for the indices of T's subscripts that the derivative lost, so that the gradient
// equation stays safe and broadcasts over them.
template <class Rhs>
constexpr auto fold_presence(const Rhs& r) {
  return r;
}
template <class Rhs, class V, class... Vs>
constexpr auto fold_presence(const Rhs& r, V*, Vs*... vs) {
  constexpr bool present = [] {
    name_set g;
    Rhs::free_indices(g);
    return g.contains(V::name.view());
  }();
  if constexpr (present) {
    return fold_presence(r, vs...);
  } else {
    const auto next = r * (V{} == V{});
    return fold_presence(next, vs...);
  }
}
template <class Lhs, class Rhs>
constexpr auto with_presence(const Rhs& rhs) {
  return [&]<class... V>(type_list<V...>) { return fold_presence(rhs, static_cast<V*>(nullptr)...); }(
      typename lhs_vars<Lhs>::type{});
}

// One gradient equation per occurrence of an adjoint-carrying tensor in the right-hand side.
template <class Occ>
struct occurrence_parts;
template <class Path, class Sym>
struct occurrence_parts<occurrence<Path, Sym>> {
  using path_type = Path;
  using symbol = Sym;
};

// ---- a read at a subscript that combines indices, X(t + u) (a convolution's input, a pooling window): no left-hand
// side can write grad(X)(t + u), so the gradient is written along a fresh index X#k (a tl::dimension_index with X's
// extent there), and the subscript is solved for one of its indices everywhere in the gradient's right-hand side:
// t := X#k - u. The equation then projects out the other indices, u: grad(X)(X#k) = sum_u grad(Y)(X#k - u) F(u).
// Reads outside a tensor are 0, so the sum is exact when a factor bounds the solved index to its range; in order of
// preference:
//   1. an index of static extent E: the factors (0 <= t') (t' <= E - 1) are added, t' being its solved expression;
//   2. a plain subscript of another factor of the term (the filter F(o, c, u)): u := X#k - t, and the read
//      F(o, c, X#k - t) bounds t;
//   3. a plain subscript of the equation's left-hand side, bounded by the adjoint grad(Y)(.., t, ..), when every
//      read of Y is plain or combines indices there (so grad(Y) has Y's extent there, not more).
// The solved index must be used by no other subscript of the read and have coefficient 1 or -1. The window or filter
// index comes first because a stride is its partner's coefficient: X(2 t + u) solves for u, never for t. The kernel
// then walks only the t that the guards or the read F(.., X#k - 2 t) leave (exec/kernel.hpp, evaluator::narrow), so
// the gradient costs |X| x |u| / 2 terms, not |X| x |t|.

template <class D>
constexpr bool combines_indices() {
  if constexpr (affine_type<D>) return D::nvars > 1;
  else return false;
}
template <class Ref>
inline constexpr bool any_combined_subscript = false;
template <class S, class... D>
inline constexpr bool any_combined_subscript<ref<S, D...>> = (combines_indices<D>() || ...);
template <class D, class V>
constexpr bool dim_uses() {
  if constexpr (index_type<D>) return std::is_same_v<D, V>;
  else
    return []<bool Dv, class... W>(index_affine<Dv, W...>*) { return (std::is_same_v<W, V> || ...); }(
        static_cast<D*>(nullptr));
}
template <class V, class Ref>
constexpr int subscripts_using() {
  return []<class S, class... D>(ref<S, D...>*) { return (0 + ... + (dim_uses<D, V>() ? 1 : 0)); }(
      static_cast<Ref*>(nullptr));
}
template <class Ref, class V>
constexpr int plain_position() {
  return []<class S, class... D>(ref<S, D...>*) {
    int k = 0, found = -1;
    ((std::is_same_v<D, V> && found < 0 ? (found = k, ++k) : ++k), ...);
    return found;
  }(static_cast<Ref*>(nullptr));
}
// Whether a projection or normalizer inside Node binds V.
template <class Node, class V>
constexpr bool binds() {
  if constexpr (is_reduction<Node>)
    return []<reduce_op O, class B, class... I>(reduction<O, B, I...>*) {
      return (std::is_same_v<I, V> || ...) || binds<B, V>();
    }(static_cast<Node*>(nullptr));
  else if constexpr (is_normalization<Node>)
    return std::is_same_v<typename Node::normalized_index, V> || binds<decltype(Node::body), V>();
  else if constexpr (is_apply<Node>)
    return []<op O, class... A>(apply<O, A...>*) { return (binds<A, V>() || ...); }(static_cast<Node*>(nullptr));
  else
    return false;
}
// Whether a factor of the top-level product Node is a reference that Pred accepts.
template <class Node, class Pred>
constexpr bool some_factor() {
  if constexpr (is_apply<Node>) {
    if constexpr (Node::operation == op::mul)
      return []<class A, class B>(apply<op::mul, A, B>*) { return some_factor<A, Pred>() || some_factor<B, Pred>(); }(
          static_cast<Node*>(nullptr));
    else
      return false;
  } else if constexpr (is_ref<Node>) {
    return Pred::template test<Node>();
  } else {
    return false;
  }
}
template <class V, class Excluded>
struct plain_in_other_tensor {
  template <class R>
  static constexpr bool test() {
    return !std::is_same_v<typename R::symbol, Excluded> && plain_position<R, V>() >= 0;
  }
};
// grad(Head) has Head's extent along dimension P: every differentiable read of Head there is a plain index or combines
// indices (a read at t + 1 or t / 2 would write its gradient beyond).
template <class R, class Occ, class Head, std::size_t P>
constexpr bool read_keeps_extent() {
  using parts = occurrence_parts<Occ>;
  if constexpr (parts::symbol::name.view() != Head::name.view()) {
    return true;
  } else {
    using ref_t = std::remove_cvref_t<decltype(node_at(std::declval<const R&>(), typename parts::path_type{}))>;
    using D = std::tuple_element_t<P, decltype(ref_t::dims)>;
    if constexpr (index_type<D>) return true;
    else return combines_indices<D>() && !D::divided;
  }
}
template <class R, class Occs, class Head, std::size_t P>
struct reads_keep_extent;
template <class R, class... O, class Head, std::size_t P>
struct reads_keep_extent<R, type_list<O...>, Head, P> {
  static constexpr bool value = (read_keeps_extent<R, O, Head, P>() && ...);
};
template <class Fwd, class Head, std::size_t P>
struct adjoint_keeps_extent;
template <class... E, class Head, std::size_t P>
struct adjoint_keeps_extent<std::tuple<E...>, Head, P> {
  static constexpr bool value =
      (reads_keep_extent<typename E::rhs_type, typename occurrences_of<typename E::rhs_type, path<>>::type, Head,
                         P>::value &&
       ...);
};
template <class Fwd, class Eq, class V>
constexpr bool bounded_by_adjoint() {
  constexpr int p = plain_position<typename Eq::lhs_type, V>();
  if constexpr (p < 0) return false;
  else return adjoint_keeps_extent<Fwd, typename Eq::head, static_cast<std::size_t>(p)>::value;
}

struct solve_choice {
  int pick = -1;
  bool guard = false;
};
template <class Fwd, class Eq, class Lhs, class Rhs, bool Dv, class... W>
constexpr solve_choice solve_for(index_affine<Dv, W...>*) {
  using adjoint = grad_symbol<typename Eq::head>;
  constexpr int n = static_cast<int>(sizeof...(W));
  constexpr bool eligible[] = {(subscripts_using<W, Lhs>() == 1 && !binds<Rhs, W>())...};
  constexpr bool fixed[] = {(W::extent != dynamic_extent)...};
  constexpr bool by_adjoint[] = {bounded_by_adjoint<Fwd, Eq, W>()...};
  constexpr bool by_factor[] = {some_factor<Rhs, plain_in_other_tensor<W, adjoint>>()...};
  solve_choice c;
  for (int k = 0; k < n && c.pick < 0; ++k)
    if (eligible[k] && fixed[k]) c = {k, true};
  for (int k = 0; k < n && c.pick < 0; ++k)
    if (eligible[k] && by_factor[k]) c = {k, false};
  for (int k = 0; k < n && c.pick < 0; ++k)
    if (eligible[k] && by_adjoint[k]) c = {k, false};
  return c;
}

// Affine-expression arithmetic on values whose variable lists are types.
template <class V, class Out, class... In>
struct without_var {
  using type = Out;
};
template <class V, class... Out, class T, class... In>
struct without_var<V, index_affine<false, Out...>, T, In...> {
  using type = typename without_var<V, std::conditional_t<std::is_same_v<T, V>, index_affine<false, Out...>,
                                                          index_affine<false, Out..., T>>,
                                    In...>::type;
};
// The expression without V's term and without its division.
template <class V, bool Dv, class... Vs>
constexpr auto drop_var(const index_affine<Dv, Vs...>& a) {
  using R = typename without_var<V, index_affine<false>, Vs...>::type;
  R r;
  [&]<class... Rv>(index_affine<false, Rv...>*) {
    int k = 0;
    ((r.coef[k++] = a.coef[position_of<Rv, Vs...>()]), ...);
  }(static_cast<R*>(nullptr));
  r.offset = a.offset;
  return r;
}
template <bool Dv, class... Vs>
constexpr auto scaled(index_affine<Dv, Vs...> a, long c) {
  for (auto& x : a.coef) x *= c;
  a.offset *= c;
  return a;
}
template <class... Vs>
constexpr auto divided_by(const index_affine<false, Vs...>& a, long divisor) {
  index_affine<true, Vs...> r;
  for (std::size_t k = 0; k < sizeof...(Vs); ++k) r.coef[k] = a.coef[k];
  r.offset = a.offset;
  r.divisor = divisor;
  return r;
}

// A subscript with V replaced by the expression Rep (exact: V's coefficient there times Rep, added inside a division).
template <class V, class D, class Rep>
constexpr auto substitute_dim(const D& d, const Rep& rep) {
  if constexpr (!dim_uses<D, V>()) {
    return d;
  } else if constexpr (index_type<D>) {
    return rep;
  } else {
    const long c = [&]<bool Dv, class... Vs>(const index_affine<Dv, Vs...>& a) { return a.coef[position_of<V, Vs...>()]; }(d);
    const auto sum = affine_add(drop_var<V>(d), scaled(rep, c), 1);
    if constexpr (D::divided) return divided_by(sum, d.divisor);
    else return sum;
  }
}
template <class V, class Node, class Rep>
constexpr auto substitute(const Node& n, const Rep& rep) {
  if constexpr (is_ref<Node>) {
    return tensorlogic::detail::apply_tuple(
        [&](const auto&... d) {
          return ref<typename Node::symbol, decltype(substitute_dim<V>(d, rep))...>(
              make_indexed_tuple(substitute_dim<V>(d, rep)...));
        },
        n.dims);
  } else if constexpr (is_apply<Node>) {
    return tensorlogic::detail::apply_tuple(
        [&](const auto&... a) { return make_apply<Node::operation>(substitute<V>(a, rep)...); }, n.args);
  } else if constexpr (is_reduction<Node>) {
    const auto body = substitute<V>(n.body, rep);
    return [&]<reduce_op O, class B, class... I>(const reduction<O, B, I...>*) {
      return reduction<O, std::remove_cvref_t<decltype(body)>, I...>{body};
    }(static_cast<const Node*>(nullptr));
  } else if constexpr (is_normalization<Node>) {
    const auto body = substitute<V>(n.body, rep);
    return normalization<Node::operation, typename Node::normalized_index, std::remove_cvref_t<decltype(body)>>{body};
  } else if constexpr (is_comparison<Node>) {
    const auto a = substitute_dim<V>(n.a, rep);
    const auto b = substitute_dim<V>(n.b, rep);
    return comparison<Node::operation, std::remove_cvref_t<decltype(a)>, std::remove_cvref_t<decltype(b)>>{a, b};
  } else {
    return n;
  }
}

template <std::size_t K, class New, class S, class... D>
constexpr auto replace_dim(const ref<S, D...>& r, New fresh) {
  return [&]<std::size_t... J>(std::index_sequence<J...>) {
    const auto pick = [&]<std::size_t I>(std::integral_constant<std::size_t, I>) {
      if constexpr (I == K) return fresh;
      else return tensorlogic::get<I>(r.dims);
    };
    return ref<S, decltype(pick(std::integral_constant<std::size_t, J>{}))...>(
        make_indexed_tuple(pick(std::integral_constant<std::size_t, J>{})...));
  }(std::index_sequence_for<D...>{});
}

template <std::size_t K, class Affine>
struct var_at;
template <std::size_t K, bool Dv, class... Vs>
struct var_at<K, index_affine<Dv, Vs...>> {
  using type = typename type_at<K, type_list<Vs...>>::type;
};
template <class Affine>
struct first_var;
template <bool Dv, class V, class... Vs>
struct first_var<index_affine<Dv, V, Vs...>> {
  using type = V;
};

// grad(T)(lhs) = rhs with every subscript of lhs from K on that combines indices replaced by a fresh index.
template <class Fwd, class Eq, class T, std::size_t K, class Lhs, class Rhs>
constexpr auto solve_subscripts(const Lhs& lhs, const Rhs& rhs) {
  constexpr std::size_t rank = std::tuple_size_v<decltype(lhs.dims)>;
  if constexpr (K == rank) {
    return std::pair(lhs, rhs);
  } else {
    using D = std::remove_cvref_t<std::tuple_element_t<K, decltype(lhs.dims)>>;
    if constexpr (!combines_indices<D>()) {
      return solve_subscripts<Fwd, Eq, T, K + 1>(lhs, rhs);
    } else {
      using fresh = dimension_index<T, K>;
      const auto new_lhs = replace_dim<K>(lhs, fresh{});
      if constexpr (D::divided) {
        (void)diagnostics::gradient_through_divided_subscript<T::name, first_var<D>::type::name>{};
        return solve_subscripts<Fwd, Eq, T, K + 1>(new_lhs, rhs);
      } else {
        constexpr solve_choice choice = solve_for<Fwd, Eq, Lhs, Rhs>(static_cast<D*>(nullptr));
        if constexpr (choice.pick < 0) {
          (void)diagnostics::gradient_through_combined_subscript<T::name, first_var<D>::type::name>{};
          return solve_subscripts<Fwd, Eq, T, K + 1>(new_lhs, rhs);
        } else {
          using V = typename var_at<static_cast<std::size_t>(choice.pick), D>::type;
          const D& d = tensorlogic::get<K>(lhs.dims);
          const long a = d.coef[choice.pick];
          if (a != 1 && a != -1)
            diagnostics::tensorlogic_gradient_of_T_solves_a_subscript_for_index_I_whose_coefficient_is_not_1_or_minus_1<
                T::name, V::name>();
          // d = a V + rest, so V = a (fresh - rest)
          const auto rep = affine_add(scaled(as_affine(fresh{}), a), scaled(drop_var<V>(d), -a), 1);
          const auto new_rhs = substitute<V>(rhs, rep);
          if constexpr (choice.guard) {
            const auto bounded = ((rep >= 0) * (rep <= static_cast<long>(V::extent) - 1)) * new_rhs;
            return solve_subscripts<Fwd, Eq, T, K + 1>(new_lhs, bounded);
          } else {
            return solve_subscripts<Fwd, Eq, T, K + 1>(new_lhs, new_rhs);
          }
        }
      }
    }
  }
}

// For y = f(x) with f in {tanh, sigmoid, exp, relu}, f'(x) is read from the forward output y (kept by the program)
// instead of recomputing f.
template <class R>
constexpr bool is_routed_projection() {
  if constexpr (is_reduction<R>)
    return R::operation == reduce_op::max || R::operation == reduce_op::min || R::operation == reduce_op::logsumexp;
  else
    return false;
}

template <bool Sole, class Eq, class Path>
constexpr auto local_derivative(const Eq& eq, Path p) {
  using R = typename Eq::rhs_type;
  if constexpr (Sole && is_routed_projection<R>()) {
    // Y = max_j e (min, logsumexp) as the whole right-hand side, Y being that projection itself: the gradient goes
    // to the cells where e equals Y (every tied cell), or with the weights exp(e - Y) for logsumexp.
    const auto& y = eq.lhs;
    const auto& body = eq.rhs.body;
    return [&]<int K, int... Rest>(path<K, Rest...>) {
      const auto d = as_operand(diff<Eq::head::name>(body, path<Rest...>{}));
      if constexpr (R::operation == reduce_op::max) return tensorlogic::where(y - body, 0.0, d);
      else if constexpr (R::operation == reduce_op::min) return tensorlogic::where(body - y, 0.0, d);
      else return times(tensorlogic::exp(body - y), d);
    }(p);
  } else if constexpr (Sole && is_apply<R> && std::is_same_v<Path, path<0>>) {
    const auto& y = eq.lhs;
    if constexpr (R::operation == op::tanh) return 1.0 - tensorlogic::square(y);
    else if constexpr (R::operation == op::sigmoid) return y * (1.0 - y);
    else if constexpr (R::operation == op::exp) return 1.0 * y;
    else if constexpr (R::operation == op::relu) return tensorlogic::step(y);
    else return diff<Eq::head::name>(eq.rhs, p);
  } else {
    return diff<Eq::head::name>(eq.rhs, p);
  }
}

// Sole: the equation is the only one defining its head, so its left-hand side is f(x) itself. Fwd: the forward
// equations of the gradient program (a std::tuple type).
template <bool Sole, class Fwd, class Eq, class Needs>
constexpr auto gradient_equations(const Eq& eq, Needs needs) {
  using head = typename Eq::head;
  const auto g = retarget<grad_symbol<head>>(eq.lhs);
  using R = typename Eq::rhs_type;
  if constexpr (is_normalization<R>) {
    return std::tuple<>{};  // handled by normalizer_gradient
  } else {
    return [&]<class... Occ>(type_list<Occ...>) {
      // each occurrence through a parameter (Clang 14 does not expand a pack named only inside a lambda's body)
      return std::tuple_cat([&]<class O>(type_list<O>) {
        using parts = occurrence_parts<O>;
        using T = typename parts::symbol;
        if constexpr (!needs(static_cast<T*>(nullptr))) {
          return std::tuple<>{};
        } else {
          const auto& occ = node_at(eq.rhs, typename parts::path_type{});
          const auto lhs0 = retarget<grad_symbol<T>>(occ);
          const auto rhs0 = times(g, local_derivative<Sole>(eq, typename parts::path_type{}));
          if constexpr (any_combined_subscript<std::remove_cvref_t<decltype(occ)>>) {
            const auto solved = solve_subscripts<Fwd, Eq, T, 0>(lhs0, rhs0);
            const auto& lhs = solved.first;
            const auto rhs = with_presence<std::remove_cvref_t<decltype(lhs)>>(solved.second);
            return std::tuple(lhs = rhs);
          } else {
            const auto rhs = with_presence<std::remove_cvref_t<decltype(lhs0)>>(rhs0);
            return std::tuple(lhs0 = rhs);
          }
        }
      }(type_list<Occ>{})...);
    }(typename occurrences_of<R, path<>>::type{});
  }
}

// softmax / log_softmax / lnorm as the whole right-hand side over a "pre" tensor: their row-wise adjoints.
template <std::size_t E, class Eq, class Needs>
constexpr auto normalizer_gradient(const Eq& eq, Needs needs) {
  using R = typename Eq::rhs_type;
  if constexpr (!is_normalization<R>) {
    return std::tuple<>{};
  } else if constexpr (!needs(static_cast<typename std::remove_cvref_t<decltype(R::body)>::symbol*>(nullptr))) {
    return std::tuple<>{};
  } else {
    using head = typename Eq::head;
    using Q = typename R::normalized_index;
    const auto y = eq.lhs;
    const auto g = retarget<grad_symbol<head>>(eq.lhs);
    const auto& pre = eq.rhs.body;  // a tensor reference (the forward rewrite made it so)
    using pre_sym = typename std::remove_cvref_t<decltype(pre)>::symbol;
    const auto gp = retarget<grad_symbol<pre_sym>>(pre);
    if constexpr (R::operation == norm_op::softmax) {
      const auto dot = row_of<row_symbol<"dot", E, head>, Q>(eq.lhs);
      return std::tuple(dot = g * y, gp = y * (g - dot));
    } else if constexpr (R::operation == norm_op::log_softmax) {
      const auto sg = row_of<row_symbol<"gsum", E, head>, Q>(eq.lhs);
      return std::tuple(sg = 1.0 * g, gp = g - tensorlogic::exp(y) * sg);
    } else {
      const auto m1 = row_of<row_symbol<"gmean", E, head>, Q>(eq.lhs);
      const auto m2 = row_of<row_symbol<"gymean", E, head>, Q>(eq.lhs);
      const auto mu = row_of<row_symbol<"mean", E, head>, Q>(eq.lhs);
      const auto rs = row_of<row_symbol<"rstd", E, head>, Q>(eq.lhs);
      const Q q{};
      return std::tuple(m1 = tensorlogic::mean(q, g), m2 = tensorlogic::mean(q, g * y), mu = tensorlogic::mean(q, pre),
                        rs = 1.0 / tensorlogic::sqrt(tensorlogic::mean(q, tensorlogic::square(pre - mu)) + 1e-5),
                        gp = rs * (g - m1 - y * m2));
    }
  }
}

}  // namespace detail::ad

// The gradient program of `prog` for the rank-0 loss L with respect to the listed tensors: the forward equations,
// the seed grad(L)() = 1 and the gradient equations. Evaluate it once to get L and every grad(W).
template <class Prog, class Loss, class... W>
constexpr auto gradient(const Prog& prog, const Loss& loss, wrt_list<W...> w) {
  (void)loss;
  (void)w;
  if constexpr (Loss::rank != 0) {
    (void)diagnostics::loss_not_scalar<Loss::name>{};
    return prog;  // stops here: one error, not a cascade
  } else {
  // forward equations, with outer chains over projections split into pre tensors
  using original_t = decltype(detail::equations_of(prog));  // a std::tuple
  const auto forward = [&]<std::size_t... E>(std::index_sequence<E...>) {
    return std::tuple_cat(detail::ad::rewrite_forward<
                          E,
                          detail::ad::needs_adjoint(std::tuple_element_t<E, original_t>::head::name.view(),
                                                    static_cast<original_t*>(nullptr), static_cast<Loss*>(nullptr),
                                                    static_cast<wrt_list<W...>*>(nullptr))>(tensorlogic::get<E>(prog.equations))...);
  }(std::make_index_sequence<Prog::size>{});
  using forward_t = std::remove_cvref_t<decltype(forward)>;
  // relations are not differentiable: they carry no adjoint and their equations are constants here
  constexpr auto needs = []<class T>(T*) {
    return T::kind == symbol_kind::tensor && detail::ad::needs_adjoint(T::name.view(), static_cast<forward_t*>(nullptr), static_cast<Loss*>(nullptr),
                                     static_cast<wrt_list<W...>*>(nullptr));
  };
  const auto seed = std::tuple(grad_symbol<Loss>{}() = 1.0);
  const auto backward = [&]<std::size_t... E>(std::index_sequence<E...>) {
    return std::tuple_cat([&] {
      const auto& eq = std::get<E>(forward);
      using eq_t = std::remove_cvref_t<decltype(eq)>;
      if constexpr (!needs(static_cast<typename eq_t::head*>(nullptr))) {
        return std::tuple<>{};
      } else {
        constexpr bool sole = [] {
          int n = 0;
          [&]<class... F>(std::tuple<F...>*) {
            ((n += F::head::name.view() == eq_t::head::name.view() ? 1 : 0), ...);
          }(static_cast<forward_t*>(nullptr));
          return n == 1;
        }();
        return std::tuple_cat(detail::ad::gradient_equations<sole, forward_t>(eq, needs), detail::ad::normalizer_gradient<E>(eq, needs));
      }
    }()...);
  }(std::make_index_sequence<std::tuple_size_v<forward_t>>{});
  return std::apply([](const auto&... eqs) { return program(eqs...); }, std::tuple_cat(forward, seed, backward));
  }
}

}  // namespace tensorlogic
