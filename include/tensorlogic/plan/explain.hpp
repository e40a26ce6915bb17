// tl::classify / tl::estimate / tl::explain: what kind of kernel each equation is and what it costs.
// Classification is compile-time (from the equation's type): map (every factor indexed by the whole left-hand
// side), broadcast (a factor lacks some left-hand-side index), reduce (one factor, projected indices), GEMM-shaped
// contraction (two factors, A[kept_a, contracted] B[contracted, kept_b] with optional batch indices in all three;
// a matrix-vector product, with no kept index on one side, counts),
// general contraction (otherwise), relation join (a relation on the left), and normalizer rows. The estimates use
// the store's extents: FLOPs = for each term, the size of its iteration space (the union of the left-hand side's
// and the term's indices) times its multiplications and additions, plus one operation per output element for each
// elementwise function; bytes = every tensor read once plus the output written once (the compulsory traffic). A
// guarded sum's space is scaled by the share of it the kernel walks (detail::guarded_share).
#pragma once
#include <array>
#include <cstddef>
#include <cstdio>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include <tensorlogic/core/program.hpp>
#include <tensorlogic/exec/eval.hpp>
#include <tensorlogic/interop/to_string.hpp>

namespace tensorlogic {

enum class kernel_class : int { map, broadcast, reduce, gemm, contraction, join, normalizer };

inline const char* kernel_class_name(kernel_class k) {
  switch (k) {
    case kernel_class::map: return "map";
    case kernel_class::broadcast: return "broadcast";
    case kernel_class::reduce: return "reduce";
    case kernel_class::gemm: return "GEMM-shaped contraction";
    case kernel_class::contraction: return "general contraction";
    case kernel_class::join: return "relation join";
    case kernel_class::normalizer: return "normalizer rows";
  }
  return "?";
}

namespace detail {

// One term of a right-hand side: its factors (references: symbol name and index names) and its function count.
struct term_info {
  std::vector<std::pair<std::string, std::vector<std::string>>> factors;
  std::vector<std::string> reduced;  // indices projected by explicit reductions inside the term
  int functions = 0;
};

struct rhs_info {
  std::vector<term_info> terms;
  int outer_functions = 0;
  bool normalizer = false;
};

template <class D>
void subscript_names(std::vector<std::string>& out) {
  name_set s;
  dim_indices<D>(s);
  for (int k = 0; k < s.size; ++k) out.emplace_back(s.items[k].name);
}

template <class Node>
void collect_factors(term_info& t) {
  if constexpr (is_ref<Node>) {
    [&]<class S, class... D>(ref<S, D...>*) {
      std::vector<std::string> names;
      (subscript_names<D>(names), ...);
      t.factors.emplace_back(std::string(S::name.view()), names);
    }(static_cast<Node*>(nullptr));
  } else if constexpr (is_reduction<Node>) {
    [&]<reduce_op O, class B, class... I>(reduction<O, B, I...>*) {
      (t.reduced.emplace_back(I::name.view()), ...);
      collect_factors<B>(t);
    }(static_cast<Node*>(nullptr));
  } else if constexpr (is_normalization<Node>) {
    ++t.functions;
    collect_factors<decltype(Node::body)>(t);
  } else if constexpr (is_apply<Node>) {
    [&]<op O, class... A>(apply<O, A...>*) {
      if constexpr (O != op::mul && O != op::div && O != op::add && O != op::sub && O != op::neg) ++t.functions;
      (collect_factors<A>(t), ...);
    }(static_cast<Node*>(nullptr));
  }
}

template <class Node>
void collect_terms(rhs_info& r) {
  if constexpr (is_apply<Node>) {
    if constexpr (Node::operation == op::add || Node::operation == op::sub) {
      [&]<op O, class... A>(apply<O, A...>*) { (collect_terms<A>(r), ...); }(static_cast<Node*>(nullptr));
      return;
    } else if constexpr (Node::operation == op::neg) {
      [&]<op O, class A>(apply<O, A>*) { collect_terms<A>(r); }(static_cast<Node*>(nullptr));
      return;
    } else if constexpr (is_chain_function<Node::operation> && Node::operation != op::not_) {
      ++r.outer_functions;
      [&]<op O, class A, class... Rest>(apply<O, A, Rest...>*) {
        collect_terms<A>(r);
        (collect_terms<Rest>(r), ...);
      }(static_cast<Node*>(nullptr));
      return;
    }
  } else if constexpr (is_normalization<Node>) {
    r.normalizer = true;
    collect_terms<decltype(Node::body)>(r);
    return;
  }
  term_info t;
  collect_factors<Node>(t);
  r.terms.push_back(std::move(t));
}

inline bool has(const std::vector<std::string>& v, const std::string& s) {
  for (const auto& x : v)
    if (x == s) return true;
  return false;
}

inline kernel_class classify_term(const term_info& t, const std::vector<std::string>& lhs) {
  std::vector<std::string> all;
  for (const auto& [name, idx] : t.factors)
    for (const auto& i : idx)
      if (!has(all, i)) all.push_back(i);
  std::vector<std::string> projected;
  for (const auto& i : all)
    if (!has(lhs, i)) projected.push_back(i);
  if (projected.empty()) {
    for (const auto& [name, idx] : t.factors)
      for (const auto& i : lhs)
        if (!has(idx, i)) return kernel_class::broadcast;
    return kernel_class::map;
  }
  if (t.factors.size() == 1) return kernel_class::reduce;
  if (t.factors.size() == 2) {
    const auto& a = t.factors[0].second;
    const auto& b = t.factors[1].second;
    // Every index is batch (in A, B and the output), contracted (A and B only), or kept (one operand and output).
    bool gemm = true;
    int kept_a = 0, kept_b = 0, contracted = 0;
    for (const auto& i : all) {
      const bool in_a = has(a, i), in_b = has(b, i), in_c = has(lhs, i);
      if (in_a && in_b && in_c) continue;
      if (in_a && in_b && !in_c) ++contracted;
      else if (in_a && !in_b && in_c) ++kept_a;
      else if (!in_a && in_b && in_c) ++kept_b;
      else gemm = false;
    }
    if (gemm && contracted > 0 && kept_a + kept_b > 0) return kernel_class::gemm;
  }
  return kernel_class::contraction;
}

}  // namespace detail

// The kernel class of an equation (the heaviest class among its terms).
template <class Eq>
kernel_class classify(const Eq&) {
  if constexpr (Eq::is_relation) {
    return kernel_class::join;
  } else {
    detail::rhs_info r;
    detail::collect_terms<typename Eq::rhs_type>(r);
    if (r.normalizer) return kernel_class::normalizer;
    std::vector<std::string> lhs;
    [&]<class S, class... D>(ref<S, D...>*) { (detail::subscript_names<D>(lhs), ...); }(
        static_cast<typename Eq::lhs_type*>(nullptr));
    kernel_class worst = kernel_class::map;
    for (const auto& t : r.terms) {
      const kernel_class k = detail::classify_term(t, lhs);
      if (static_cast<int>(k) > static_cast<int>(worst)) worst = k;
    }
    return worst;
  }
}

namespace detail {
// A guarded sum (exec/kernel.hpp evaluator::narrow): a sum, mean or any projection at the top of the right-hand side.
template <class Node>
inline constexpr bool guarded_projection = false;
template <reduce_op Op, class Body, int... Red>
inline constexpr bool guarded_projection<plan::d_project<Op, Body, Red...>> =
    (Op == reduce_op::sum || Op == reduce_op::mean || Op == reduce_op::any) && sizeof...(Red) > 0;

// The points of a projection the kernels walk at one cell (frame f): each summed index bounded by the guards as the
// kernels bound it; budget counts down the points visited, and the count stops (returns -1) when it runs out.
template <class R, class Ctx, class F, class Body, int Q, int... Rest>
double walked_points(const Body& body, const Ctx& c, F& f, long& budget) {
  long lo = 0, hi = c.template index_extent<Q>();
  exec::evaluator<R, Ctx, F>::template narrow<Q, Rest...>(body, c, f, lo, hi);
  if (hi <= lo) return 0;
  if constexpr (sizeof...(Rest) == 0) {
    return static_cast<double>(hi - lo);
  } else {
    double n = 0;
    for (long v = lo; v < hi; ++v) {
      if (--budget < 0) return -1;
      f.idx[Q] = v;
      const double inner = walked_points<R, Ctx, F, Body, Rest...>(body, c, f, budget);
      if (inner < 0) return -1;
      n += inner;
    }
    return n;
  }
}

// The share of a guarded sum's index space that its kernel walks, averaged over up to 64 cells of the left-hand side
// spread over its extent (1 for any other equation, a left-hand side that is not plain, or a walk of more than 2^20
// points).
template <class Prog, class Eq, class Store>
double guarded_share(const Eq& eq, const Store& s) {
  using rhs_t = std::remove_cvref_t<decltype(plan::lower_rhs<Prog>(eq))>;
  using lhs_dims_t = std::remove_cvref_t<decltype(plan::lower_lhs<Prog>(eq).subscripts)>;
  if constexpr (!guarded_projection<rhs_t> || !exec::distinct_plain<lhs_dims_t>::value) {
    return 1.0;
  } else {
    using head = typename Eq::head;
    using R = compute_type<typename head::value_type>;
    constexpr int nidx = static_cast<int>(Prog::n_indices);
    using static_t = decltype(static_extents_of<Prog>(std::make_index_sequence<Prog::n_indices>{}));
    using ctx_t = exec::kernel_context<table_for<Store, rhs_t>, static_t, nidx>;
    using frame_t = exec::frame<R, nidx>;
    const local_t<rhs_t, rhs_t> rhs = to_local<rhs_t>(plan::lower_rhs<Prog>(eq));
    ctx_t ctx{};
    ctx.table = make_table_for<rhs_t>(s.views(), s.shapes());
    for (int p = 0; p < nidx; ++p) ctx.extent[p] = s.index_extent(static_cast<std::size_t>(p));
    using pp = exec::plain_positions<lhs_dims_t>;
    long cells = 1;
    for (int k = 0; k < pp::size; ++k) cells *= ctx.extent[pp::at(k)];
    if (cells <= 0) return 1.0;
    return [&]<reduce_op Op, class Body, int... Red>(const plan::d_project<Op, Body, Red...>& p) {
      double full = 1;
      ((full *= static_cast<double>(ctx.template index_extent<Red>())), ...);
      if (full <= 0) return 1.0;
      const long samples = cells < 64 ? cells : 64;
      long budget = 1L << 20;
      double walked = 0;
      for (long k = 0; k < samples; ++k) {
        frame_t f{};
        long rem = k * cells / samples;
        for (int d = pp::size - 1; d >= 0; --d) {
          const long n = ctx.extent[pp::at(d)];
          f.idx[pp::at(d)] = rem % n;
          rem /= n;
        }
        const double w = walked_points<R, ctx_t, frame_t, Body, Red...>(p.body, ctx, f, budget);
        if (w < 0) return 1.0;
        walked += w;
      }
      return walked / (static_cast<double>(samples) * full);
    }(rhs);
  }
}
}  // namespace detail

struct equation_estimate {
  std::string text;
  kernel_class kind = kernel_class::map;
  double flops = 0;
  double bytes = 0;
  const char* path = "";  // the kernel path the equation takes in the store's memory space (exec/eval.hpp)
  std::string order;      // the pairwise order of a product of three or four tensors ("(A B) C"), when not one loop
};

// FLOPs and compulsory bytes of each equation with the store's extents.
template <class Prog, class Store>
std::vector<equation_estimate> estimate(const Prog& prog, const Store& s) {
  std::vector<equation_estimate> out;
  auto extent = [&](const std::string& name) {
    const int pos = Prog::index_position(name);
    return pos < 0 ? 1.0 : static_cast<double>(s.index_extent(static_cast<std::size_t>(pos)));
  };
  auto rank_of = [&](int slot) {
    std::size_t r = 0, k = 0;
    [&]<class... S>(type_list<S...>) { ((k++ == static_cast<std::size_t>(slot) ? void(r = S::rank) : void()), ...); }(
        typename Prog::symbols{});
    return r;
  };
  auto elements = [&](int slot) {
    double n = 1;
    for (std::size_t k = 0; k < rank_of(slot); ++k)
      n *= static_cast<double>(s.shape(static_cast<std::size_t>(slot))[k]);
    return n;
  };
  auto element_bytes = [&](int slot) {
    std::size_t b = 0, k = 0;
    [&]<class... S>(type_list<S...>) {
      ((k++ == static_cast<std::size_t>(slot) ? void(b = sizeof(typename S::value_type)) : void()), ...);
    }(typename Prog::symbols{});
    return static_cast<double>(b);
  };
  const char* const* paths = detail::current_execution_paths<Prog, typename Store::memory_space>();
  std::size_t index = 0;
  tensorlogic::detail::apply_tuple(
      [&](const auto&... eq) {
        auto one = [&](const auto& q) {
          using Eq = std::remove_cvref_t<decltype(q)>;
          equation_estimate e;
          e.text = to_string(q);
          e.kind = classify(q);
          e.path = paths[index++];
          detail::rhs_info r;
          detail::collect_terms<typename Eq::rhs_type>(r);
          std::vector<std::string> lhs;
          [&]<class S, class... D>(ref<S, D...>*) { (detail::subscript_names<D>(lhs), ...); }(
              static_cast<typename Eq::lhs_type*>(nullptr));
          double out_elems = 1;
          for (const auto& i : lhs) out_elems *= extent(i);
          // a guarded sum's kernel walks only the points its guards allow (exec/kernel.hpp evaluator::narrow)
          const double share = r.terms.size() == 1 ? detail::guarded_share<Prog>(q, s) : 1.0;
          std::vector<std::string> read;
          for (const auto& t : r.terms) {
            std::vector<std::string> space = lhs;
            for (const auto& [name, idx] : t.factors) {
              for (const auto& i : idx)
                if (!detail::has(space, i)) space.push_back(i);
              if (!detail::has(read, name)) read.push_back(name);
            }
            double points = 1;
            for (const auto& i : space) points *= extent(i);
            const double mults = t.factors.empty() ? 0.0 : static_cast<double>(t.factors.size() - 1);
            const bool projects = space.size() > lhs.size();
            if (projects) points *= share;
            e.flops += points * (mults + (projects ? 1.0 : 0.0)) + points * t.functions;
          }
          e.flops += out_elems * (static_cast<double>(r.terms.size()) - 1.0 + r.outer_functions +
                                  (r.normalizer ? 4.0 : 0.0));
          // a product of three or four tensors run pairwise (plan/order.hpp): each step's space, times a
          // multiplication and, when the step contracts, an addition
          using order = detail::contraction_order<Eq>;
          if constexpr (order::count > 0) {
            const int choice = detail::contraction_choice<Prog, Eq>(s);
            if (choice >= 0) {
              e.order = order::describe(choice);
              e.flops = 0;
              const auto& tree = order::trees.tree[choice];
              for (int k = 0; k < tree.steps; ++k) {
                double points = 1;
                for (int i = 0; i < order::term.n_idx; ++i)
                  if (tree.step[k].space >> i & 1u) points *= extent(std::string(order::term.name[i]));
                e.flops += points * (tree.step[k].space != tree.step[k].result ? 2.0 : 1.0);
              }
            }
          }
          for (const auto& name : read) {
            const int slot = Prog::slot_of(name);
            if (slot >= 0 && rank_of(slot) > 0) e.bytes += elements(slot) * element_bytes(slot);
          }
          const int head = Prog::slot_of(Eq::head::name.view());
          e.bytes += out_elems * element_bytes(head);
          out.push_back(std::move(e));
        };
        (one(eq), ...);
      },
      prog.equations);
  return out;
}

// One line per equation: the equation, its kernel class and kernel path, estimated FLOPs and bytes, and their ratio.
template <class Prog, class Store>
std::string explain(const Prog& prog, const Store& s) {
  std::string out;
  char buf[256];
  for (const auto& e : estimate(prog, s)) {
    const std::string path = e.order.empty() ? std::string(e.path) : "pairwise " + e.order;
    std::snprintf(buf, sizeof buf, "  [%s; %s] %.4g FLOP, %.4g bytes, %.3g FLOP/byte\n", kernel_class_name(e.kind),
                  path.c_str(), e.flops, e.bytes, e.bytes > 0 ? e.flops / e.bytes : 0.0);
    out += e.text + "\n" + buf;
  }
  return out;
}

}  // namespace tensorlogic
