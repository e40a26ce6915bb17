// Attention recognized across equations. In a program holding
//   S(B..., p, q) = softmax(q, Q(B..., p, d) K(B..., q, d) c)            (or softmax(q, where(q <= p, ..., -1e30)))
//   O(B..., p, e) = S(B..., p, q) V(B..., q, e)
// where S is read by no other equation, the pair runs as one online-softmax kernel (exec::tiled_attention: the
// scores of a block of queries against a block of keys, one GEMM into a scratch tile, never the whole S), and the
// equation for S is deferred: the store computes S when it is first read through s[S] (from Q and K as they are
// then), so a program whose S nobody reads never computes it. A program that reads S in another equation (a gradient
// program does) keeps both equations. Host memory with a vendor BLAS; float or double; the batch indices
// B... in the same order in all five tensors, leading; the causal mask only with as many queries as keys.
// tl::set_attention_fusion(false) turns it off at run time.
#pragma once
#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>

#include <tensorlogic/core/program.hpp>
#include <tensorlogic/exec/attention.hpp>
#include <tensorlogic/exec/vendor_gemm.hpp>

namespace tensorlogic {
namespace detail {
inline bool& attention_fusion_flag() {
  static bool enabled = true;
  return enabled;
}
}  // namespace detail

inline void set_attention_fusion(bool enabled) { detail::attention_fusion_flag() = enabled; }

namespace detail {

// The subscript names of a reference whose subscripts are all plain indices.
template <class R>
struct plain_subscripts {
  static constexpr bool ok = false;
  static constexpr int n = 0;
  static constexpr std::array<std::string_view, 1> names{};
};
template <class S, class... D>
  requires(index_type<D> && ...)
struct plain_subscripts<ref<S, D...>> {
  static constexpr bool ok = true;
  static constexpr int n = static_cast<int>(sizeof...(D));
  static constexpr std::array<std::string_view, sizeof...(D) + 1> names{D::name.view()..., std::string_view{}};
};

template <class A, class B>
constexpr bool same_prefix(int n) {
  for (int k = 0; k < n; ++k)
    if (plain_subscripts<A>::names[k] != plain_subscripts<B>::names[k]) return false;
  return true;
}

template <class A>
struct affine_vars;
template <bool Dv, class... V>
struct affine_vars<index_affine<Dv, V...>> {
  using type = std::tuple<V...>;
};

template <class T>
inline constexpr bool fusable_value = std::is_same_v<T, float> || std::is_same_v<T, double>;

// O(B..., p, e) = S(B..., p, q) V(B..., q, e).
template <class Eq>
struct attention_output {
  static constexpr bool value = false;
};
template <class LO, class RS, class RV>
  requires(plain_subscripts<LO>::ok && plain_subscripts<RS>::ok && plain_subscripts<RV>::ok)
struct attention_output<equation<LO, apply<op::mul, RS, RV>>> {
  using o = plain_subscripts<LO>;
  using s = plain_subscripts<RS>;
  using v = plain_subscripts<RV>;
  using scores = typename RS::symbol;
  using values = typename RV::symbol;
  using T = typename LO::symbol::value_type;
  static constexpr bool value = [] {
    constexpr int n = o::n;
    if (n < 2 || s::n != n || v::n != n) return false;
    if (!same_prefix<LO, RS>(n - 2) || !same_prefix<LO, RV>(n - 2)) return false;
    const auto p = o::names[n - 2], e = o::names[n - 1], q = s::names[n - 1];
    if (s::names[n - 2] != p || v::names[n - 2] != q || v::names[n - 1] != e) return false;
    if (p == q || p == e || q == e) return false;
    for (int k = 0; k < n - 2; ++k)
      if (o::names[k] == p || o::names[k] == q || o::names[k] == e) return false;
    return fusable_value<T> && std::is_same_v<typename RS::symbol::value_type, T> &&
           std::is_same_v<typename RV::symbol::value_type, T>;
  }();
};

// The body of the softmax: the product, or where(q <= p, product, constant).
template <class Body>
struct scores_body {
  static constexpr bool masked = false;
  using product = Body;
  static constexpr const Body& product_of(const Body& b) { return b; }
};
template <class A, class B, class P>
struct scores_body<apply<op::where, comparison<cmp_op::le, A, B>, P, constant>> {
  static constexpr bool masked = true;
  using product = P;
  using body_t = apply<op::where, comparison<cmp_op::le, A, B>, P, constant>;
  static constexpr const P& product_of(const body_t& b) { return std::get<1>(b.args); }
};

// S(B..., p, q) = softmax(q, Q(B..., p, d) K(B..., q, d) c) with the mask above.
template <class Eq>
struct attention_scores {
  static constexpr bool value = false;
};
template <class LS, class Qi, class Body>
  requires(plain_subscripts<LS>::ok && gemm_operands<gemm_rhs_t<typename scores_body<Body>::product>>::ok)
struct attention_scores<equation<LS, normalization<norm_op::softmax, Qi, Body>>> {
  using body = scores_body<Body>;
  using ops = gemm_operands<gemm_rhs_t<typename body::product>>;
  using F = typename ops::first;
  using G = typename ops::second;
  using T = typename LS::symbol::value_type;
  // whether the first factor is Q (reads p); then the second is K
  static constexpr bool q_first = [] {
    constexpr int n = plain_subscripts<LS>::n;
    return n >= 2 && plain_subscripts<F>::ok && plain_subscripts<F>::n == n &&
           plain_subscripts<F>::names[n - 2] == plain_subscripts<LS>::names[n - 2];
  }();
  using Qr = std::conditional_t<q_first, F, G>;
  using Kr = std::conditional_t<q_first, G, F>;
  static constexpr bool value = [] {
    using s = plain_subscripts<LS>;
    using qn = plain_subscripts<Qr>;
    using kn = plain_subscripts<Kr>;
    constexpr int n = s::n;
    if (n < 2 || !qn::ok || !kn::ok || qn::n != n || kn::n != n) return false;
    if (Qi::name.view() != s::names[n - 1]) return false;
    if (!same_prefix<LS, Qr>(n - 2) || !same_prefix<LS, Kr>(n - 2)) return false;
    const auto p = s::names[n - 2], q = s::names[n - 1], d = qn::names[n - 1];
    if (qn::names[n - 2] != p || kn::names[n - 2] != q || kn::names[n - 1] != d) return false;
    if (d == p || d == q) return false;
    for (int k = 0; k < n - 2; ++k)
      if (s::names[k] == d) return false;
    return fusable_value<T> && std::is_same_v<typename Qr::symbol::value_type, T> &&
           std::is_same_v<typename Kr::symbol::value_type, T>;
  }();
};

// For equation E of Prog: 1 when it is the scores of a fusable pair, 2 when it is the output; partner: the other.
template <class Prog>
struct attention_pairs {
  static constexpr int n = static_cast<int>(Prog::size);
  template <std::size_t E>
  using eq_at = std::remove_cvref_t<std::tuple_element_t<E, decltype(Prog::equations)>>;

  template <std::size_t E>
  static constexpr std::string_view scores_name() {
    if constexpr (attention_output<eq_at<E>>::value)
      return attention_output<eq_at<E>>::scores::name.view();
    else
      return {};
  }
  template <std::size_t E>
  static constexpr bool reads(std::string_view name) {
    bool r = false;
    [&]<class... S>(type_list<S...>) { ((r = r || S::name.view() == name), ...); }(typename eq_at<E>::rhs_type::symbols{});
    return r;
  }

  struct table {
    int role[n > 0 ? n : 1]{};
    int partner[n > 0 ? n : 1]{};
  };
  static constexpr table pairs = []<std::size_t... E>(std::index_sequence<E...>) {
    table t{};
    const std::string_view heads[] = {eq_at<E>::head::name.view()..., std::string_view{}};
    const std::string_view scores[] = {scores_name<E>()..., std::string_view{}};
    const bool is_scores[] = {attention_scores<eq_at<E>>::value..., false};
    constexpr auto& st = Prog::structure;
    auto plain_group = [&](int e) {
      const int g = st.group_of[e];
      return !st.self_read[g] && !st.recursive[st.stratum_of[g]];
    };
    for (int e2 = 0; e2 < n; ++e2) {
      if (scores[e2].empty()) continue;
      int e1 = -1, defs = 0, outs = 0, readers = 0;
      for (int e = 0; e < n; ++e) {
        if (heads[e] == scores[e2]) {
          e1 = e;
          ++defs;
        }
        if (heads[e] == heads[e2]) ++outs;
      }
      const bool read[] = {reads<E>(scores[e2])..., false};
      for (int e = 0; e < n; ++e) readers += read[e] ? 1 : 0;
      if (defs != 1 || outs != 1 || readers != 1 || !is_scores[e1] || !plain_group(e1) || !plain_group(e2)) continue;
      t.role[e1] = 1;
      t.partner[e1] = e2;
      t.role[e2] = 2;
      t.partner[e2] = e1;
    }
    return t;
  }(std::make_index_sequence<Prog::size>{});
};

// The fused pair around equation E (either role): whether it runs with this store, and the launch.
template <class Prog, std::size_t E>
struct attention_fusion {
  static constexpr int role = attention_pairs<Prog>::pairs.role[E];
  static constexpr std::size_t scores_eq = role == 1 ? E : static_cast<std::size_t>(attention_pairs<Prog>::pairs.partner[E]);
  static constexpr std::size_t output_eq = role == 2 ? E : static_cast<std::size_t>(attention_pairs<Prog>::pairs.partner[E]);
  using se = typename attention_pairs<Prog>::template eq_at<scores_eq>;
  using oe = typename attention_pairs<Prog>::template eq_at<output_eq>;
  using sc = attention_scores<se>;
  using out = attention_output<oe>;
  using T = typename sc::T;

  template <class Sym, class Store>
  static auto* data(Store& s) {
    return std::get<Prog::slot_of(Sym::name.view())>(s.views()).data();
  }
  template <class Sym, class Store>
  static long extent(const Store& s, int dim) {
    return static_cast<long>(s.shape(static_cast<std::size_t>(Prog::slot_of(Sym::name.view())))[static_cast<std::size_t>(dim)]);
  }

  // Run-time conditions: the switches, and for the causal mask q <= p exactly, a fill of -1e30 or below, and as many
  // queries as keys.
  template <class Store>
  static bool runs(const Prog& prog, const Store& s) {
    if (!attention_fusion_flag() || !vendor_gemm_flag()) return false;
    if constexpr (sc::body::masked) {
      constexpr int n = plain_subscripts<typename oe::lhs_type>::n;
      const auto& body = std::get<scores_eq>(prog.equations).rhs.body;
      const auto& cmp = std::get<0>(body.args);
      const double fill = std::get<2>(body.args).value;
      using A = std::remove_cvref_t<decltype(cmp.a)>;
      using B = std::remove_cvref_t<decltype(cmp.b)>;
      constexpr int n_s = plain_subscripts<typename se::lhs_type>::n;
      bool exact = false;
      if constexpr (A::nvars == 1 && B::nvars == 1 && !A::divided && !B::divided) {
        using qa = std::tuple_element_t<0, typename affine_vars<A>::type>;
        using pb = std::tuple_element_t<0, typename affine_vars<B>::type>;
        exact = qa::name.view() == plain_subscripts<typename se::lhs_type>::names[n_s - 1] &&
                pb::name.view() == plain_subscripts<typename se::lhs_type>::names[n_s - 2] && cmp.a.coef[0] == 1 &&
                cmp.b.coef[0] == 1 && cmp.a.offset == 0 && cmp.b.offset == 0 && cmp.a.divisor == 1 &&
                cmp.b.divisor == 1;
      }
      using V = typename out::values;
      if (!exact || !(fill <= -1e30) || extent<typename oe::head>(s, n - 2) != extent<V>(s, n - 2)) return false;
    }
    return true;
  }

#if TENSORLOGIC_HAVE_KOKKOS_KERNELS && defined(KOKKOSKERNELS_ENABLE_TPL_BLAS)
  template <class Store>
  static void launch(const Prog& prog, Store& s) {
    using O = typename oe::head;
    using V = typename out::values;
    using Q = typename sc::Qr::symbol;
    using K = typename sc::Kr::symbol;
    constexpr int n = plain_subscripts<typename oe::lhs_type>::n;
    long heads = 1;
    for (int k = 0; k < n - 2; ++k) heads *= extent<O>(s, k);
    const auto& scores = std::get<scores_eq>(prog.equations);
    const T scale = gemm_alpha<T>(s, sc::body::product_of(scores.rhs.body));
    exec::tiled_attention<T> t{data<Q>(s),
                               data<K>(s),
                               data<V>(s),
                               data<O>(s),
                               extent<O>(s, n - 2),
                               extent<V>(s, n - 2),
                               extent<Q>(s, n - 1),
                               extent<O>(s, n - 1),
                               scale,
                               static_cast<int>(sc::body::masked ? attention_mask::causal : attention_mask::none),
                               0,
                               0};
    Kokkos::parallel_for("tensorlogic::attention (fused equations " + std::string(se::head::name.view()) + ", " +
                             std::string(O::name.view()) + ")",
                         Kokkos::RangePolicy<Kokkos::DefaultHostExecutionSpace>(0, heads * t.blocks()), t);
  }
#endif
};

}  // namespace detail
}  // namespace tensorlogic
