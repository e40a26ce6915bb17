// Elementwise intermediates inlined into their readers: the lowered right-hand side of an equation in which every
// read of a marked tensor T, at the subscripts T's own equation writes, is replaced by that equation's lowered
// right-hand side. Index positions are the program's, so the replacement reads the same cells T would have held;
// the replacement is itself substituted, so chains of marked tensors collapse into one expression. Which tensors
// are marked, and when, is decided in exec/eval.hpp (detail::inline_plan).
#pragma once
#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>

#include <tensorlogic/plan/descriptor.hpp>
#include <tensorlogic/plan/lower.hpp>

namespace tensorlogic::plan {

// Substitutes nothing.
struct no_inlining {
  template <class Node>
  constexpr const Node& operator()(const Node& n) const {
    return n;
  }
};

// Plan::defining[slot]: the equation of Prog whose right-hand side replaces reads of that slot, or -1.
template <class Prog, class Plan>
struct inliner {
  const Prog* prog = nullptr;

  template <std::size_t E>
  using equation_t = std::remove_cvref_t<tensorlogic::detail::element_t<E, decltype(Prog::equations)>>;
  template <std::size_t E>
  using lhs_dims_t = decltype(lower_lhs<Prog>(std::declval<const equation_t<E>&>()).subscripts);

  constexpr d_const operator()(const d_const& n) const { return n; }
  template <int Slot, class Dims>
  constexpr auto operator()(const d_ref<Slot, Dims>& n) const {
    constexpr int e = Slot >= 0 && static_cast<std::size_t>(Slot) < Plan::defining.size() ? Plan::defining[Slot] : -1;
    if constexpr (e >= 0) {
      if constexpr (std::is_same_v<Dims, lhs_dims_t<static_cast<std::size_t>(e)>>)
        return (*this)(lower_rhs<Prog>(tensorlogic::get<static_cast<std::size_t>(e)>(prog->equations)));
      else
        return n;
    } else {
      return n;
    }
  }
  template <op Op, class A>
  constexpr auto operator()(const d_apply1<Op, A>& n) const {
    auto a = (*this)(n.a);
    return d_apply1<Op, decltype(a)>{a};
  }
  template <op Op, class A, class B>
  constexpr auto operator()(const d_apply2<Op, A, B>& n) const {
    auto a = (*this)(n.a);
    auto b = (*this)(n.b);
    return d_apply2<Op, decltype(a), decltype(b)>{a, b};
  }
  template <op Op, class A, class B, class C>
  constexpr auto operator()(const d_apply3<Op, A, B, C>& n) const {
    auto a = (*this)(n.a);
    auto b = (*this)(n.b);
    auto c = (*this)(n.c);
    return d_apply3<Op, decltype(a), decltype(b), decltype(c)>{a, b, c};
  }
  template <reduce_op Op, class Body, int... Pos>
  constexpr auto operator()(const d_project<Op, Body, Pos...>& n) const {
    auto body = (*this)(n.body);
    return d_project<Op, decltype(body), Pos...>{body};
  }
  template <norm_op Op, int Pos, class Body>
  constexpr auto operator()(const d_normalize<Op, Pos, Body>& n) const {
    auto body = (*this)(n.body);
    return d_normalize<Op, Pos, decltype(body)>{body};
  }
  template <cmp_op Op, class A, class B>
  constexpr auto operator()(const d_compare<Op, A, B>& n) const {
    return n;
  }
};

namespace detail {
// Whether a lowered right-hand side is elementwise over plain subscripts: constants, references at plain subscripts,
// functions of those. (No projection, normalizer, comparison or index expression: its value at a cell reads only
// that cell's subscripts.)
template <class Node>
inline constexpr bool elementwise_node = false;
template <>
inline constexpr bool elementwise_node<d_const> = true;
template <int Slot>
inline constexpr bool elementwise_node<d_ref<Slot, dims<>>> = true;
template <int Slot, int... P>
inline constexpr bool elementwise_node<d_ref<Slot, dims<dim_var<P>...>>> = true;
template <op Op, class A>
inline constexpr bool elementwise_node<d_apply1<Op, A>> = elementwise_node<A>;
template <op Op, class A, class B>
inline constexpr bool elementwise_node<d_apply2<Op, A, B>> = elementwise_node<A> && elementwise_node<B>;
template <op Op, class A, class B, class C>
inline constexpr bool elementwise_node<d_apply3<Op, A, B, C>> =
    elementwise_node<A> && elementwise_node<B> && elementwise_node<C>;

// Every reference of a lowered expression, as one constexpr list: the slot and, for plain subscripts, their
// positions (n = -1 for subscripts with index expressions). Computed once per expression type, so the fusion plan's
// questions (who reads T, and where) are loops over arrays rather than a template per (equation, slot) pair.
struct read_site {
  int slot = -1;
  int n = -1;
  int pos[16]{};
};
struct read_list {
  static constexpr int capacity = 64;
  int count = 0;
  bool overflow = false;  // more references than capacity: every question gets the conservative answer
  read_site items[capacity]{};
  constexpr void add(const read_site& r) {
    if (count < capacity)
      items[count++] = r;
    else
      overflow = true;
  }
  // 0: slot is not read; 1: read only at the plain subscripts pos[0..n); 2: read otherwise too (or unknown).
  constexpr int how(int slot, int n, const int* pos) const {
    if (overflow) return 2;
    int r = 0;
    for (int k = 0; k < count; ++k) {
      if (items[k].slot != slot) continue;
      bool same = items[k].n == n;
      for (int d = 0; same && d < n; ++d) same = items[k].pos[d] == pos[d];
      r = same ? (r > 1 ? r : 1) : 2;
    }
    return r;
  }
};

template <class Node>
struct collect_reads {
  static constexpr void run(read_list&) {}
};
template <int Slot, class Dims>
struct collect_reads<d_ref<Slot, Dims>> {
  static constexpr void run(read_list& l) { l.add(read_site{Slot, -1, {}}); }
};
template <int Slot, int... P>
struct collect_reads<d_ref<Slot, dims<dim_var<P>...>>> {
  static constexpr void run(read_list& l) {
    if constexpr (sizeof...(P) > 16) {
      l.add(read_site{Slot, -1, {}});
    } else {
      read_site r{Slot, static_cast<int>(sizeof...(P)), {}};
      int k = 0;
      ((r.pos[k++] = P), ...);
      l.add(r);
    }
  }
};
template <op Op, class A>
struct collect_reads<d_apply1<Op, A>> {
  static constexpr void run(read_list& l) { collect_reads<A>::run(l); }
};
template <op Op, class A, class B>
struct collect_reads<d_apply2<Op, A, B>> {
  static constexpr void run(read_list& l) {
    collect_reads<A>::run(l);
    collect_reads<B>::run(l);
  }
};
template <op Op, class A, class B, class C>
struct collect_reads<d_apply3<Op, A, B, C>> {
  static constexpr void run(read_list& l) {
    collect_reads<A>::run(l);
    collect_reads<B>::run(l);
    collect_reads<C>::run(l);
  }
};
template <reduce_op Op, class Body, int... Pos>
struct collect_reads<d_project<Op, Body, Pos...>> {
  static constexpr void run(read_list& l) { collect_reads<Body>::run(l); }
};
template <norm_op Op, int Pos, class Body>
struct collect_reads<d_normalize<Op, Pos, Body>> {
  static constexpr void run(read_list& l) { collect_reads<Body>::run(l); }
};
template <class Node>
inline constexpr read_list reads_in = [] {
  read_list l;
  collect_reads<Node>::run(l);
  return l;
}();
}  // namespace detail

}  // namespace tensorlogic::plan
