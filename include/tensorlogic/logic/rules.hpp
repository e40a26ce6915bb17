// Reading a program as Datalog. Every equation whose left-hand side is a relation is a rule: its right-hand side
// is a sum (OR) of products (joins) of relation atoms, negated atoms (!R) and index comparisons, optionally under
// tl::step or an explicit tl::any / tl::sum / tl::max projection (the step closes it anyway). The shape is checked
// at compile time (one "tensorlogic:" line naming the rule's head and the culprit); the rule table itself — atoms,
// variable numbers, the run-time values of constants — is read from the program value when the engine starts.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include <tensorlogic/core/program.hpp>
#include <tensorlogic/logic/tuples.hpp>

namespace tensorlogic {

namespace diagnostics {
template <fixed_string Head, fixed_string Tensor>
struct rule_body_reads_tensor {
  static_assert(always_false<rule_body_reads_tensor>,
                "tensorlogic: in the rule for relation H, T is a tensor, not a relation; a Datalog body joins "
                "relations, negated relations and index comparisons");
};
template <fixed_string Head>
struct rule_body_not_datalog {
  static_assert(always_false<rule_body_not_datalog>,
                "tensorlogic: the rule for relation H uses arithmetic, a number or a function; a Datalog body joins "
                "relations (*), ORs alternatives (+), negates relations (!R) and compares indices");
};
template <fixed_string Head, fixed_string Relation>
struct rule_argument_not_variable {
  static_assert(always_false<rule_argument_not_variable>,
                "tensorlogic: in the rule for relation H, an argument of R is an index expression; Datalog arguments "
                "are variables or constants");
};
template <fixed_string Head, fixed_string Variable>
struct unsafe_rule_variable {
  static_assert(always_false<unsafe_rule_variable>,
                "tensorlogic: in the rule for relation H, variable V is in no positive atom of one of the rule's "
                "alternatives (unsafe rule: it appears only on the left, under negation or in a comparison)");
};
template <fixed_string Tensor>
struct datalog_head_not_relation {
  static_assert(always_false<datalog_head_not_relation>,
                "tensorlogic: tl::logic evaluates rules for relations only; the equation for tensor T has a tensor "
                "on the left");
};
}  // namespace diagnostics

namespace logic {

enum class arg_kind : int { variable, constant };

struct argument {
  arg_kind kind = arg_kind::variable;
  int var = -1;       // variable number within the rule
  long value = 0;     // constant id
};

struct atom {
  int slot = -1;      // the relation's slot in the program
  int arity = 0;
  argument args[max_arity]{};
};

struct constraint {
  cmp_op op = cmp_op::ne;
  argument a, b;
};

// One rule: head :- positive atoms, negated atoms, constraints.
struct rule {
  int equation = -1;  // which equation of the program it came from
  int alternative = 0;  // which OR-alternative of that equation
  atom head;
  std::vector<atom> positive, negative;
  std::vector<constraint> constraints;
  std::vector<std::string> variables;  // variable number -> index name
};

namespace detail {
using tensorlogic::detail::is_apply;
using tensorlogic::detail::is_comparison;
using tensorlogic::detail::is_reduction;
using tensorlogic::detail::name_set;

enum class shape_error : int { ok, tensor, not_datalog, argument, unsafe };
struct shape_result {
  shape_error code = shape_error::ok;
  std::string_view culprit{};
};

// The variable names of one alternative: in positive atoms, and anywhere else (head, negations, comparisons).
struct alternative_vars {
  name_set positive, other;
};
inline constexpr int max_alternatives = 16;
struct alternatives {
  alternative_vars items[max_alternatives]{};
  int size = 1;
  shape_result result{};
  constexpr void fail(shape_error e, std::string_view who) {
    if (result.code == shape_error::ok) result = {e, who};
  }
};

template <class D>
constexpr bool plain_argument() {
  if constexpr (index_type<D>)
    return true;
  else
    return D::nvars == 0 && !D::divided;
}
template <class D>
constexpr void argument_name(name_set& out) {
  if constexpr (index_type<D>) {
    out.add({D::name.view(), D::extent});
  } else {
    [&]<bool Dv, class... V>(index_affine<Dv, V...>*) { (out.add({V::name.view(), V::extent}), ...); }(
        static_cast<D*>(nullptr));
  }
}
// A comparison's operands arrive as affine expressions: one variable (coefficient 1, checked at run time) or none.
template <class D>
constexpr bool plain_comparison_argument() {
  if constexpr (index_type<D>)
    return true;
  else
    return D::nvars <= 1 && !D::divided;
}

template <class Node>
constexpr alternatives body_shape() {
  alternatives r;
  if constexpr (tensorlogic::detail::is_ref<Node>) {
    [&]<class S, class... D>(ref<S, D...>*) {
      if constexpr (S::kind != symbol_kind::relation) {
        r.fail(shape_error::tensor, S::name.view());
      } else {
        if (!(plain_argument<D>() && ...)) r.fail(shape_error::argument, S::name.view());
        (argument_name<D>(r.items[0].positive), ...);
      }
    }(static_cast<Node*>(nullptr));
  } else if constexpr (is_comparison<Node>) {
    [&]<cmp_op O, class A, class B>(comparison<O, A, B>*) {
      if (!plain_comparison_argument<A>() || !plain_comparison_argument<B>())
        r.fail(shape_error::argument, "a comparison");
      argument_name<A>(r.items[0].other);
      argument_name<B>(r.items[0].other);
    }(static_cast<Node*>(nullptr));
  } else if constexpr (is_reduction<Node>) {
    [&]<reduce_op O, class B, class... I>(reduction<O, B, I...>*) {
      if constexpr (O == reduce_op::any || O == reduce_op::sum || O == reduce_op::max)
        r = body_shape<B>();
      else
        r.fail(shape_error::not_datalog, "");
    }(static_cast<Node*>(nullptr));
  } else if constexpr (is_apply<Node>) {
    [&]<op O, class... A>(apply<O, A...>*) {
      if constexpr (O == op::step && sizeof...(A) == 1) {
        ((r = body_shape<A>()), ...);
      } else if constexpr (O == op::not_) {
        [&]<class X>(X*) {
          alternatives inner = body_shape<X>();
          r.result = inner.result;
          r.items[0].other.add_all(inner.items[0].positive);
        }(static_cast<A*>(nullptr)...);
      } else if constexpr (O == op::add && sizeof...(A) == 2) {
        [&]<class X, class Y>(X*, Y*) {
          alternatives a = body_shape<X>(), b = body_shape<Y>();
          r = a;
          if (b.result.code != shape_error::ok) r.fail(b.result.code, b.result.culprit);
          for (int k = 0; k < b.size && r.size < max_alternatives; ++k) r.items[r.size++] = b.items[k];
        }(static_cast<A*>(nullptr)...);
      } else if constexpr (O == op::mul && sizeof...(A) == 2) {
        [&]<class X, class Y>(X*, Y*) {
          alternatives a = body_shape<X>(), b = body_shape<Y>();
          r.result = a.result;
          if (b.result.code != shape_error::ok) r.fail(b.result.code, b.result.culprit);
          r.size = 0;
          for (int p = 0; p < a.size; ++p)
            for (int q = 0; q < b.size && r.size < max_alternatives; ++q) {
              alternative_vars v = a.items[p];
              v.positive.add_all(b.items[q].positive);
              v.other.add_all(b.items[q].other);
              r.items[r.size++] = v;
            }
        }(static_cast<A*>(nullptr)...);
      } else {
        r.fail(shape_error::not_datalog, "");
      }
    }(static_cast<Node*>(nullptr));
  } else {
    r.fail(shape_error::not_datalog, "");
  }
  return r;
}

template <class Eq>
constexpr shape_result rule_shape() {
  alternatives a = body_shape<typename Eq::rhs_type>();
  if (a.result.code != shape_error::ok) return a.result;
  name_set head;
  Eq::lhs_type::indices(head);
  for (int k = 0; k < a.size; ++k) {
    name_set need = a.items[k].other;
    need.add_all(head);
    for (int v = 0; v < need.size; ++v)
      if (!a.items[k].positive.contains(need.items[v].name)) return {shape_error::unsafe, need.items[v].name};
  }
  [&]<class S, class... D>(ref<S, D...>*) {
    if (!(plain_argument<D>() && ...)) a.fail(shape_error::argument, S::name.view());
  }(static_cast<typename Eq::lhs_type*>(nullptr));
  return a.result;
}

template <class Eq>
constexpr void diagnose_rule() {
  using head = typename Eq::head;
  if constexpr (head::kind != symbol_kind::relation) {
    (void)diagnostics::datalog_head_not_relation<head::name>{};
  } else {
    constexpr shape_result r = rule_shape<Eq>();
    constexpr auto who = tensorlogic::detail::to_fixed<r.culprit.size()>(r.culprit);
    if constexpr (r.code == shape_error::tensor) (void)diagnostics::rule_body_reads_tensor<head::name, who>{};
    if constexpr (r.code == shape_error::not_datalog) (void)diagnostics::rule_body_not_datalog<head::name>{};
    if constexpr (r.code == shape_error::argument)
      (void)diagnostics::rule_argument_not_variable<head::name, who>{};
    if constexpr (r.code == shape_error::unsafe) (void)diagnostics::unsafe_rule_variable<head::name, who>{};
  }
}

template <class Prog>
constexpr bool diagnose_rules() {
  [&]<class... E>(indexed_tuple<E...>*) { (diagnose_rule<E>(), ...); }(static_cast<decltype(Prog::equations)*>(nullptr));
  return true;
}

// ---- run time: the rule table from the program value ----

struct body {
  std::vector<atom> positive, negative;
  std::vector<constraint> constraints;
};

struct rule_reader {
  std::vector<std::string> variables;

  int variable(std::string_view name) {
    for (std::size_t k = 0; k < variables.size(); ++k)
      if (variables[k] == name) return static_cast<int>(k);
    variables.emplace_back(name);
    return static_cast<int>(variables.size() - 1);
  }

  template <class D>
  argument read_argument(const D& d) {
    argument a;
    if constexpr (index_type<D>) {
      a.kind = arg_kind::variable;
      a.var = variable(D::name.view());
    } else if constexpr (D::nvars == 0) {
      a.kind = arg_kind::constant;
      a.value = d.offset;
    } else {
      [&]<bool Dv, class V>(const index_affine<Dv, V>& e) {
        if (e.coef[0] != 1 || e.offset != 0 || e.divisor != 1)
          throw error("comparison operand over index " + std::string(V::name.view()) +
                      " is an index expression; a Datalog comparison takes variables or constants");
        a.kind = arg_kind::variable;
        a.var = variable(V::name.view());
      }(d);
    }
    return a;
  }

  template <class Prog, class S, class... D>
  atom read_atom(const ref<S, D...>& r) {
    atom out;
    out.slot = Prog::slot_of(S::name.view());
    out.arity = static_cast<int>(sizeof...(D));
    [&]<std::size_t... K>(std::index_sequence<K...>) {
      ((out.args[K] = read_argument(tensorlogic::get<K>(r.dims))), ...);
    }(std::index_sequence_for<D...>{});
    return out;
  }

  template <class Prog, class Node>
  std::vector<body> read(const Node& n) {
    if constexpr (tensorlogic::detail::is_ref<Node>) {
      body b;
      b.positive.push_back(read_atom<Prog>(n));
      return {b};
    } else if constexpr (is_comparison<Node>) {
      body b;
      b.constraints.push_back({Node::operation, read_argument(n.a), read_argument(n.b)});
      return {b};
    } else if constexpr (is_reduction<Node>) {
      return read<Prog>(n.body);
    } else {
      static_assert(is_apply<Node>);
      if constexpr (Node::operation == op::step) {
        return read<Prog>(tensorlogic::get<0>(n.args));
      } else if constexpr (Node::operation == op::not_) {
        body b;
        b.negative.push_back(read_atom<Prog>(tensorlogic::get<0>(n.args)));
        return {b};
      } else if constexpr (Node::operation == op::add) {
        auto a = read<Prog>(tensorlogic::get<0>(n.args));
        auto c = read<Prog>(tensorlogic::get<1>(n.args));
        a.insert(a.end(), c.begin(), c.end());
        return a;
      } else {
        static_assert(Node::operation == op::mul);
        auto a = read<Prog>(tensorlogic::get<0>(n.args));
        auto c = read<Prog>(tensorlogic::get<1>(n.args));
        std::vector<body> out;
        for (const body& x : a)
          for (const body& y : c) {
            body z = x;
            z.positive.insert(z.positive.end(), y.positive.begin(), y.positive.end());
            z.negative.insert(z.negative.end(), y.negative.begin(), y.negative.end());
            z.constraints.insert(z.constraints.end(), y.constraints.begin(), y.constraints.end());
            out.push_back(std::move(z));
          }
        return out;
      }
    }
  }
};

}  // namespace detail

// The rules of a program, one per OR-alternative of each equation, in equation order.
template <class Prog>
std::vector<rule> rules_of(const Prog& prog) {
  static_assert(detail::diagnose_rules<Prog>());
  std::vector<rule> out;
  int e = 0;
  tensorlogic::detail::apply_tuple(
      [&](const auto&... eq) {
        auto one = [&](const auto& q) {
          using Eq = std::remove_cvref_t<decltype(q)>;
          if constexpr (Eq::head::kind == symbol_kind::relation) {
            detail::rule_reader reader;
            const atom head = reader.template read_atom<Prog>(q.lhs);
            auto bodies = reader.template read<Prog>(q.rhs);
            int alt = 0;
            for (auto& b : bodies) {
              rule r;
              r.equation = e;
              r.alternative = alt++;
              r.head = head;
              r.positive = std::move(b.positive);
              r.negative = std::move(b.negative);
              r.constraints = std::move(b.constraints);
              r.variables = reader.variables;
              out.push_back(std::move(r));
            }
          }
          ++e;
        };
        (one(eq), ...);
      },
      prog.equations);
  return out;
}

}  // namespace logic
}  // namespace tensorlogic
