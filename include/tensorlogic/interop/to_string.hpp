// tl::to_string: an equation or a program printed as Tensor Logic text, e.g. `Y[i] = relu(W[i,j] X[j] + b[i])`.
// Relations print with parentheses (Datalog style), tensors with brackets.
#pragma once
#include <cstdio>
#include <string>
#include <tuple>

#include <tensorlogic/core/program.hpp>

namespace tensorlogic {

namespace detail {
inline std::string number_text(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

inline std::string parenthesized(const std::string& s) {
  std::string r;
  r.reserve(s.size() + 2);
  r.push_back('(');
  r.append(s);
  r.push_back(')');
  return r;
}

template <class D>
std::string subscript_text(const D& d) {
  if constexpr (index_type<D>) {
    return std::string(D::name.view());
  } else {
    std::string s;
    [&]<bool Dv, class... V>(const index_affine<Dv, V...>& a) {
      [[maybe_unused]] std::size_t k = 0;
      (
          [&] {
            const long c = a.coef[k++];
            if (c == 0) return;
            if (!s.empty()) s += c < 0 ? "-" : "+";
            else if (c < 0) s += "-";
            const long m = c < 0 ? -c : c;
            if (m != 1) s += std::to_string(m) + "*";
            s += std::string(V::name.view());
          }(),
          ...);
      if (a.offset != 0 || s.empty()) {
        if (!s.empty()) s += a.offset < 0 ? "-" : "+";
        s += std::to_string(s.empty() ? a.offset : (a.offset < 0 ? -a.offset : a.offset));
      }
      if (a.divisor != 1) {
        if (sizeof...(V) + (a.offset != 0 ? 1 : 0) > 1) s = parenthesized(s);
        s += '/';
        s += std::to_string(a.divisor);
      }
    }(d);
    return s;
  }
}

inline const char* op_name(op o) {
  switch (o) {
    case op::exp: return "exp";
    case op::log: return "log";
    case op::sqrt: return "sqrt";
    case op::abs: return "abs";
    case op::square: return "square";
    case op::relu: return "relu";
    case op::sigmoid: return "sigmoid";
    case op::sigmoid_t: return "sigmoid";
    case op::tanh: return "tanh";
    case op::step: return "step";
    case op::pow: return "pow";
    case op::min: return "min";
    case op::max: return "max";
    case op::clamp: return "clamp";
    case op::where: return "where";
    case op::stop_grad: return "sg";
    default: return "?";
  }
}
inline const char* reduce_name(reduce_op o) {
  switch (o) {
    case reduce_op::sum: return "sum";
    case reduce_op::max: return "max";
    case reduce_op::min: return "min";
    case reduce_op::mean: return "mean";
    case reduce_op::any: return "any";
    default: return "logsumexp";
  }
}
inline const char* norm_name(norm_op o) {
  return o == norm_op::softmax ? "softmax" : o == norm_op::log_softmax ? "log_softmax" : "lnorm";
}
inline const char* cmp_name(cmp_op o) {
  switch (o) {
    case cmp_op::eq: return "==";
    case cmp_op::ne: return "!=";
    case cmp_op::lt: return "<";
    case cmp_op::le: return "<=";
    case cmp_op::gt: return ">";
    default: return ">=";
  }
}

// Precedence: 0 sum, 1 product, 2 atom.
template <class Node>
std::string text(const Node& n, int& prec) {
  if constexpr (std::is_same_v<Node, constant>) {
    prec = 2;
    return number_text(n.value);
  } else if constexpr (is_ref<Node>) {
    prec = 2;
    using S = typename Node::symbol;
    const bool rel = S::kind == symbol_kind::relation;
    std::string s(S::name.view());
    if constexpr (S::rank == 0) return s;
    s += rel ? "(" : "[";
    std::size_t k = 0;
    // (appended piecewise: `"," + std::string&&` draws GCC 12's false -Wrestrict warning)
    tensorlogic::detail::apply_tuple([&](const auto&... d) { ((s += k++ ? "," : "", s += subscript_text(d)), ...); },
                                     n.dims);
    s += rel ? ")" : "]";
    return s;
  } else if constexpr (requires { Node::kind; }) {
    prec = 2;
    return std::string(Node::name.view());
  } else if constexpr (is_comparison<Node>) {
    prec = 2;
    return parenthesized(subscript_text(n.a) + " " + cmp_name(Node::operation) + " " + subscript_text(n.b));
  } else if constexpr (is_reduction<Node>) {
    prec = 2;
    return [&]<reduce_op O, class B, class... I>(const reduction<O, B, I...>& r) {
      int p = 0;
      std::string s = std::string(reduce_name(O)) + "(";
      ((s += std::string(I::name.view()) + ", "), ...);
      return s + text(r.body, p) + ")";
    }(n);
  } else if constexpr (is_normalization<Node>) {
    prec = 2;
    int p = 0;
    return std::string(norm_name(Node::operation)) + "(" + std::string(Node::normalized_index::name.view()) + ", " +
           text(n.body, p) + ")";
  } else {
    constexpr op o = Node::operation;
    std::string parts[3];
    int precs[3]{};
    std::size_t k = 0;
    tensorlogic::detail::apply_tuple([&](const auto&... a) { ((parts[k] = text(a, precs[k]), ++k), ...); }, n.args);
    auto wrap = [&](int i, int need) { return precs[i] < need ? parenthesized(parts[i]) : parts[i]; };
    if constexpr (o == op::add) { prec = 0; return parts[0] + " + " + parts[1]; }
    else if constexpr (o == op::sub) { prec = 0; return parts[0] + " - " + wrap(1, 1); }
    else if constexpr (o == op::mul) { prec = 1; return wrap(0, 1) + " " + wrap(1, 1); }
    else if constexpr (o == op::div) { prec = 1; return wrap(0, 1) + " / " + wrap(1, 2); }
    else if constexpr (o == op::neg) { prec = 1; return std::string("-") + wrap(0, 2); }
    else if constexpr (o == op::not_) { prec = 2; return "!" + parts[0]; }
    else {
      prec = 2;
      std::string s = std::string(op_name(o)) + "(";
      for (std::size_t i = 0; i < k; ++i) s += (i ? ", " : "") + parts[i];
      return s + ")";
    }
  }
}
}  // namespace detail

template <class L, class R>
std::string to_string(const equation<L, R>& eq) {
  int p = 0;
  return detail::text(eq.lhs, p) + " = " + detail::text(eq.rhs, p);
}

template <class... E>
std::string to_string(const program<E...>& prog) {
  std::string s;
  tensorlogic::detail::apply_tuple([&](const auto&... eq) { ((s += to_string(eq) + "\n"), ...); }, prog.equations);
  return s;
}

}  // namespace tensorlogic
