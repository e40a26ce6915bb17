// Multi-operand contraction order: a term that multiplies three or four tensors, `D(i, l) = A(i, j) B(j, k) C(k, l)`,
// runs as a sequence of pairwise products through temporaries (`D~0(i, k) = A(i, j) B(j, k)`, then
// `D(i, l) = D~0(i, k) C(k, l)`), each of which the planner then classifies on its own (a GEMM, a row reduction, ...).
// Every binary contraction tree of the factors is enumerated at compile time (3 for three factors, 15 for four), each
// with the index sets and subscript order of its temporaries; an index shared by three or more factors (a hyperedge)
// or kept by the left-hand side stays in a temporary until no factor outside it reads it. Trees that cannot beat the
// single fused loop for any extents (every step iterates the whole index set) are dropped at compile time. At run
// time the store's extents price each remaining tree (the sum over its steps of the size of the step's iteration
// space, opt_einsum's "dp" cost) against the single loop ((factors - 1) times the whole index set), and the cheapest
// wins; ties keep the single loop. Scale factors (numbers, scalars, rank-0 tensors) ride on the last step.
#pragma once
#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>

#include <tensorlogic/core/program.hpp>

namespace tensorlogic {
namespace detail {
inline bool& contraction_order_flag() {
  static bool enabled = true;
  return enabled;
}
}  // namespace detail

// Whether products of three or four tensors run in the cheapest pairwise order (on by default); off, every such term
// is one loop over all its indices.
inline void set_contraction_order(bool enabled) { detail::contraction_order_flag() = enabled; }

namespace detail {

// Leaves of a product tree (nested op::mul), left to right, as an indexed tuple (its type is computed without
// instantiating a function per node: every equation's term asks for it).
template <class N>
struct product_leaf_list {
  using type = type_list<N>;
};
template <class... A>
struct product_leaf_list<apply<op::mul, A...>> {
  using type = typename concat_all<typename product_leaf_list<A>::type...>::type;
};
template <class L>
struct indexed_tuple_of;
template <class... X>
struct indexed_tuple_of<type_list<X...>> {
  using type = indexed_tuple<X...>;
};
template <class N>
using product_leaves_t = typename indexed_tuple_of<typename product_leaf_list<N>::type>::type;

template <class... A, class... B>
constexpr indexed_tuple<A..., B...> cat_indexed(const indexed_tuple<A...>& a, const indexed_tuple<B...>& b) {
  return tensorlogic::detail::apply_tuple(
      [&](const auto&... x) {
        return tensorlogic::detail::apply_tuple(
            [&](const auto&... y) { return indexed_tuple<A..., B...>{{{x}..., {y}...}}; }, b);
      },
      a);
}
template <class N>
inline constexpr bool is_product_node = false;
template <class... A>
inline constexpr bool is_product_node<apply<op::mul, A...>> = true;
template <class N>
constexpr product_leaves_t<N> product_leaves(const N& n) {
  if constexpr (is_product_node<N>) {
    static_assert(std::tuple_size_v<decltype(n.args)> == 2, "tensorlogic: a product node has two operands");
    return cat_indexed(product_leaves(tensorlogic::get<0>(n.args)), product_leaves(tensorlogic::get<1>(n.args)));
  } else {
    return make_indexed_tuple(n);
  }
}

// A tensor factor: a tensor of rank >= 1 subscripted by plain indices only. A scale factor: a number, a scalar, or a
// rank-0 tensor.
template <class X>
inline constexpr bool order_tensor_leaf = false;
template <class S, class D0, class... D>
inline constexpr bool order_tensor_leaf<ref<S, D0, D...>> =
    S::kind == symbol_kind::tensor && index_type<D0> && (index_type<D> && ...);
template <class X>
inline constexpr bool order_scale_leaf = std::is_same_v<X, constant> || std::is_base_of_v<scalar_tag, X>;
template <class S>
inline constexpr bool order_scale_leaf<ref<S>> = S::kind == symbol_kind::tensor;

template <class X, class T>
inline constexpr bool order_factor_of_type = true;
template <class S, class... D, class T>
inline constexpr bool order_factor_of_type<ref<S, D...>, T> = sizeof...(D) == 0 || std::is_same_v<typename S::value_type, T>;

template <class X>
struct order_dims {
  using type = type_list<>;
};
template <class S, class... D>
  requires(index_type<D> && ...)
struct order_dims<ref<S, D...>> {
  using type = type_list<D...>;
};

inline constexpr int order_max_factors = 4;
inline constexpr int order_max_trees = 15;
inline constexpr int order_max_indices = 32;

// One pairwise step: operands a and b (ids below n are the term's tensor factors, n + k is step k's temporary), the
// factors it covers, and the temporary's subscripts (local index ids, in order).
struct order_step {
  int a = 0, b = 0;
  unsigned leaves = 0;
  unsigned result = 0;
  unsigned space = 0;  // the step's iteration space
  int rank = 0;
  int idx[8]{};
};
struct order_tree {
  int steps = 0;
  order_step step[order_max_factors - 1]{};
  int root = 0;
  unsigned leaves = 0;
  unsigned mask = 0;
};
struct order_set {
  int count = 0;
  order_tree tree[order_max_trees]{};
};
// The term as index sets: local index ids are positions in the term's list of distinct indices (factors first, then
// the left-hand side's).
struct order_term {
  bool eligible = false;
  int n = 0;
  int n_idx = 0;
  std::string_view name[order_max_indices]{};
  unsigned mask[order_max_factors]{};
  int rank[order_max_factors]{};
  int idx[order_max_factors][8]{};
  unsigned lhs = 0;
  unsigned all = 0;  // factors and left-hand side
};

constexpr int order_popcount(unsigned x) {
  int c = 0;
  for (; x; x &= x - 1) ++c;
  return c;
}
constexpr int order_lowest(unsigned x) {
  int k = 0;
  while (!(x & 1u)) {
    x >>= 1;
    ++k;
  }
  return k;
}

struct order_list {
  int count = 0;
  order_tree tree[order_max_trees]{};
};

// The subscripts (local ids, in order) of operand id within a partial tree.
constexpr int order_operand(const order_term& t, const order_tree& p, int id, int* out) {
  if (id < t.n) {
    for (int k = 0; k < t.rank[id]; ++k) out[k] = t.idx[id][k];
    return t.rank[id];
  }
  const order_step& s = p.step[id - t.n];
  for (int k = 0; k < s.rank; ++k) out[k] = s.idx[k];
  return s.rank;
}

// Every binary tree over the factor set `set`; a step's operands are listed in factor order (the subset holding the
// lowest factor first). Returns false when a temporary would exceed rank 8.
constexpr order_list order_trees(const order_term& t, unsigned set) {
  order_list out;
  if (order_popcount(set) == 1) {
    const int f = order_lowest(set);
    out.tree[0].root = f;
    out.tree[0].leaves = set;
    out.tree[0].mask = t.mask[f];
    out.count = 1;
    return out;
  }
  const unsigned low = set & (~set + 1u);
  const unsigned full = (1u << t.n) - 1u;
  for (unsigned l = (set - 1u) & set; l; l = (l - 1u) & set) {
    if (!(l & low)) continue;
    const unsigned r = set & ~l;
    if (!r) continue;
    const order_list L = order_trees(t, l), R = order_trees(t, r);
    for (int x = 0; x < L.count; ++x)
      for (int y = 0; y < R.count; ++y) {
        const order_tree& a = L.tree[x];
        const order_tree& b = R.tree[y];
        order_tree p;
        for (int k = 0; k < a.steps; ++k) p.step[p.steps++] = a.step[k];
        auto shift = [&](int id) { return id >= t.n ? id + a.steps : id; };
        for (int k = 0; k < b.steps; ++k) {
          order_step s = b.step[k];
          s.a = shift(s.a);
          s.b = shift(s.b);
          p.step[p.steps++] = s;
        }
        order_step s;
        s.a = a.root;
        s.b = shift(b.root);
        s.leaves = set;
        unsigned outside = t.lhs;
        for (int f = 0; f < t.n; ++f)
          if (!(set & (1u << f))) outside |= t.mask[f];
        s.result = set == full ? t.lhs : ((a.mask | b.mask) & outside);
        s.space = a.mask | b.mask | s.result;
        // Subscripts: the left-hand side's own order for the last step; otherwise the indices both operands keep
        // (batch) in a's order, then a's other kept indices in a's order, then b's in b's order -- C = A B's layout.
        if (set != full) {
          int ia[8]{}, ib[8]{};
          const int ra = order_operand(t, p, s.a, ia), rb = order_operand(t, p, s.b, ib);
          auto add = [&](int id) {
            if (s.rank >= 8) {
              s.rank = 9;
              return;
            }
            s.idx[s.rank++] = id;
          };
          for (int k = 0; k < ra; ++k)
            if ((s.result >> ia[k] & 1u) && (b.mask >> ia[k] & 1u)) add(ia[k]);
          for (int k = 0; k < ra; ++k)
            if ((s.result >> ia[k] & 1u) && !(b.mask >> ia[k] & 1u)) add(ia[k]);
          for (int k = 0; k < rb; ++k)
            if ((s.result >> ib[k] & 1u) && !(a.mask >> ib[k] & 1u)) add(ib[k]);
          if (s.rank > 8) continue;
        }
        p.step[p.steps++] = s;
        p.root = t.n + p.steps - 1;
        p.leaves = set;
        p.mask = s.result;
        if (out.count < order_max_trees) out.tree[out.count++] = p;
      }
  }
  return out;
}

template <class Eq>
struct contraction_order {
  using lhs_t = typename Eq::lhs_type;
  using leaves_t = product_leaves_t<typename Eq::rhs_type>;
  using head = typename Eq::head;

  template <class L>
  struct split;
  template <class... X>
  struct split<indexed_tuple<X...>> {
    static constexpr int n = (0 + ... + (order_tensor_leaf<X> ? 1 : 0));
    static constexpr bool known = ((order_tensor_leaf<X> || order_scale_leaf<X>) && ...);
    static constexpr bool same_type = (order_factor_of_type<X, typename head::value_type> && ...);
    // positions of the tensor factors among the leaves
    static constexpr std::array<int, sizeof...(X) + 1> tensor_pos = [] {
      std::array<int, sizeof...(X) + 1> p{};
      int k = 0, j = 0;
      ((order_tensor_leaf<X> ? void(p[j++] = k++) : void(++k)), ...);
      return p;
    }();
    using dims = typename concat_all<typename order_dims<X>::type..., typename order_dims<lhs_t>::type>::type;
  };
  using parts = split<leaves_t>;
  static constexpr int n = parts::n;

  // Every index of the term, one per name, factors' first.
  using index_types = typename unique_by_name<typename parts::dims>::type;

  template <class L>
  struct names_of;
  template <class... I>
  struct names_of<type_list<I...>> {
    static constexpr std::array<std::string_view, sizeof...(I) + 1> value{I::name.view()..., std::string_view{}};
    static constexpr int size = static_cast<int>(sizeof...(I));
  };
  static constexpr int local_id(std::string_view name) {
    for (int k = 0; k < names_of<index_types>::size; ++k)
      if (names_of<index_types>::value[static_cast<std::size_t>(k)] == name) return k;
    return -1;
  }

  template <class R>
  static constexpr void describe_ref(order_term& t, int f) {
    [&]<class S, class... D>(ref<S, D...>*) {
      int k = 0;
      ((t.idx[f][k++] = local_id(D::name.view())), ...);
      t.rank[f] = k;
      for (int j = 0; j < k; ++j) t.mask[f] |= 1u << t.idx[f][j];
    }(static_cast<R*>(nullptr));
  }

  static constexpr order_term term = [] {
    order_term t;
    constexpr bool lhs_ok = [] {
      return []<class S, class... D>(ref<S, D...>*) {
        return S::kind == symbol_kind::tensor && (index_type<D> && ...) &&
               std::is_floating_point_v<typename S::value_type>;
      }(static_cast<lhs_t*>(nullptr));
    }();
    if constexpr (lhs_ok && parts::known && parts::same_type && n >= 3 && n <= order_max_factors &&
                  names_of<index_types>::size <= order_max_indices) {
      t.n = n;
      t.n_idx = names_of<index_types>::size;
      for (int k = 0; k < t.n_idx; ++k) t.name[k] = names_of<index_types>::value[static_cast<std::size_t>(k)];
      int f = 0;
      [&]<class... X>(indexed_tuple<X...>*) {
        (
            [&] {
              if constexpr (order_tensor_leaf<X>) {
                describe_ref<X>(t, f);
                t.all |= t.mask[f];
                ++f;
              }
            }(),
            ...);
      }(static_cast<leaves_t*>(nullptr));
      // distinct left-hand-side subscripts
      int lrank = 0;
      int lidx[8]{};
      [&]<class S, class... D>(ref<S, D...>*) { ((lidx[lrank++] = local_id(D::name.view())), ...); }(
          static_cast<lhs_t*>(nullptr));
      bool distinct = true;
      for (int a = 0; a < lrank; ++a) {
        for (int b = a + 1; b < lrank; ++b) distinct = distinct && lidx[a] != lidx[b];
        t.lhs |= 1u << lidx[a];
      }
      // distinct subscripts within each factor too (A(i, i) is a diagonal, not a matrix)
      for (int g = 0; g < t.n; ++g)
        for (int a = 0; a < t.rank[g]; ++a)
          for (int b = a + 1; b < t.rank[g]; ++b) distinct = distinct && t.idx[g][a] != t.idx[g][b];
      t.all |= t.lhs;
      // something to contract
      unsigned factors = 0;
      for (int g = 0; g < t.n; ++g) factors |= t.mask[g];
      t.eligible = distinct && (factors & ~t.lhs) != 0;
    }
    return t;
  }();

  // The trees that can beat the single loop: some step iterates fewer indices than the whole term.
  static constexpr order_set trees = [] {
    order_set out;
    if constexpr (term.eligible) {
      const order_list all = order_trees(term, (1u << term.n) - 1u);
      for (int k = 0; k < all.count; ++k) {
        bool smaller = false;
        for (int s = 0; s < all.tree[k].steps; ++s) smaller = smaller || all.tree[k].step[s].space != term.all;
        if (smaller) out.tree[out.count++] = all.tree[k];
      }
    }
    return out;
  }();
  static constexpr int count = trees.count;

  // The cost of tree k (or, for k < 0, of the single loop) with extent(local id) as the extents.
  template <class Extent>
  static double cost(int k, const Extent& extent) {
    auto size = [&](unsigned m) {
      double p = 1;
      for (int i = 0; i < term.n_idx; ++i)
        if (m >> i & 1u) p *= static_cast<double>(extent(i));
      return p;
    };
    if (k < 0) return static_cast<double>(term.n - 1) * size(term.all);
    double c = 0;
    for (int s = 0; s < trees.tree[k].steps; ++s) c += size(trees.tree[k].step[s].space);
    return c;
  }
  // The cheapest tree, or -1 for the single loop (ties keep the single loop, then the earlier tree).
  template <class Extent>
  static int choose(const Extent& extent) {
    int best = -1;
    double best_cost = cost(-1, extent);
    for (int k = 0; k < count; ++k) {
      const double c = cost(k, extent);
      if (c < best_cost) {
        best = k;
        best_cost = c;
      }
    }
    return best;
  }

  // Tree k as text: "(A B) C".
  static std::string_view factor_name(int f) {
    std::string_view r;
    int j = 0;
    [&]<class... X>(indexed_tuple<X...>*) {
      ((order_tensor_leaf<X> ? void(j++ == f ? void(r = X::symbol::name.view()) : void()) : void()), ...);
    }(static_cast<leaves_t*>(nullptr));
    return r;
  }
  static std::string describe(int k) {
    if (k < 0) return std::string();
    std::string text[order_max_factors + order_max_factors - 1];
    for (int f = 0; f < term.n; ++f) text[f] = std::string(factor_name(f));
    const order_tree& t = trees.tree[k];
    for (int s = 0; s < t.steps; ++s) {
      const std::string joined_text = text[t.step[s].a] + " " + text[t.step[s].b];
      text[term.n + s] = s + 1 == t.steps ? joined_text : "(" + joined_text + ")";
    }
    return text[term.n + t.steps - 1];
  }

  // ---- Tree K as a program of pairwise equations. ----
  template <int K, int S>
  static constexpr order_step step_of = trees.tree[K].step[S];

  template <int K, int S>
  struct temporary {
    static constexpr order_step st = step_of<K, S>;
    using symbol =
        tensor<joined<head::name, "~", decimal<static_cast<std::size_t>(S)>()>, typename head::value_type,
               static_cast<std::size_t>(st.rank)>;
    template <std::size_t... J>
    static auto make(std::index_sequence<J...>) {
      return ref<symbol, typename type_at<static_cast<std::size_t>(st.idx[J]), index_types>::type...>{};
    }
    using ref_type = decltype(make(std::make_index_sequence<static_cast<std::size_t>(st.rank)>{}));
  };

  template <int K, int Id>
  static constexpr auto operand(const leaves_t& leaves) {
    if constexpr (Id < n)
      return tensorlogic::get<static_cast<std::size_t>(parts::tensor_pos[static_cast<std::size_t>(Id)])>(leaves);
    else
      return typename temporary<K, Id - n>::ref_type{};
  }

  template <int K, int S>
  static constexpr auto step_equation(const Eq& eq, const leaves_t& leaves) {
    constexpr order_step st = step_of<K, S>;
    auto product = make_apply<op::mul>(operand<K, st.a>(leaves), operand<K, st.b>(leaves));
    if constexpr (S + 1 < trees.tree[K].steps) {
      using lhs_ref = typename temporary<K, S>::ref_type;
      return equation<lhs_ref, decltype(product)>{lhs_ref{}, product};
    } else {
      // the scale factors multiply the last product
      auto scaled = [&]<std::size_t... L>(std::index_sequence<L...>) {
        auto r = product;
        return scale_by(r, tensorlogic::get<L>(leaves)...);
      }(std::make_index_sequence<std::tuple_size_v<leaves_t>>{});
      return equation<lhs_t, decltype(scaled)>{eq.lhs, scaled};
    }
  }
  template <class P>
  static constexpr auto scale_by(const P& p) {
    return p;
  }
  template <class P, class X, class... R>
  static constexpr auto scale_by(const P& p, const X& x, const R&... rest) {
    if constexpr (order_tensor_leaf<X>)
      return scale_by(p, rest...);
    else
      return scale_by(make_apply<op::mul>(p, x), rest...);
  }

  template <int K>
  static auto program_of(const Eq& eq) {
    const leaves_t leaves = product_leaves(eq.rhs);
    return [&]<std::size_t... S>(std::index_sequence<S...>) {
      return program(step_equation<K, static_cast<int>(S)>(eq, leaves)...);
    }(std::make_index_sequence<static_cast<std::size_t>(trees.tree[K].steps)>{});
  }
};

}  // namespace detail
}  // namespace tensorlogic
