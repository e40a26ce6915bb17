// Attention recognized across equations. In a program holding
//   S(B..., p, q) = softmax(q, Q(B..., p, d) K(B..., q, d) c)            (or softmax(q, where(q <= p, ..., -1e30)))
//   O(B..., p, e) = S(B..., p, q) V(B..., q, e)
// where S is read by no other equation, the pair runs as one online-softmax kernel (exec::tiled_attention: the
// scores of a block of queries against a block of keys, one GEMM into a scratch tile, never the whole S), and the
// equation for S is deferred: the store computes S when it is first read through s[S] (from Q and K as they are
// then), so a program whose S nobody reads never computes it. A program that reads S in another equation (a gradient
// program does) keeps both equations. Host memory with a vendor BLAS; float or double; the batch indices B... the
// same set in all five tensors, in any order and position (nn::attention's Q(n, p, head, d) and S(n, head, p, q)
// qualify), d last in Q and K, e last in V and O; the causal mask only with as many queries as keys.
// tl::set_attention_fusion(false) turns it off at run time.
#pragma once
#include <array>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <vector>

#include <tensorlogic/core/program.hpp>
#include <tensorlogic/exec/attention.hpp>
#include <tensorlogic/exec/attention_backward.hpp>
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

// The position of `name` among a reference's plain subscripts, or -1.
template <class R>
constexpr int position_in(std::string_view name) {
  for (int k = 0; k < plain_subscripts<R>::n; ++k)
    if (plain_subscripts<R>::names[k] == name) return k;
  return -1;
}

// The one subscript of A that B does not have and C has (has_c) or has not, or an empty name when there is not
// exactly one.
template <class A, class B, class C>
constexpr std::string_view only_index(bool has_c) {
  std::string_view found{};
  int count = 0;
  for (int k = 0; k < plain_subscripts<A>::n; ++k) {
    const auto x = plain_subscripts<A>::names[k];
    if (position_in<B>(x) < 0 && (position_in<C>(x) >= 0) == has_c) {
      found = x;
      ++count;
    }
  }
  return count == 1 ? found : std::string_view{};
}

// Whether A's subscripts other than a1, a2 are B's other than b1, b2 (as sets; all distinct).
template <class A, class B>
constexpr bool same_batch(std::string_view a1, std::string_view a2, std::string_view b1, std::string_view b2) {
  int na = 0, nb = 0;
  for (int k = 0; k < plain_subscripts<A>::n; ++k) {
    const auto x = plain_subscripts<A>::names[k];
    if (x == a1 || x == a2) continue;
    ++na;
    if (x == b1 || x == b2 || position_in<B>(x) < 0) return false;
  }
  for (int k = 0; k < plain_subscripts<B>::n; ++k) {
    const auto x = plain_subscripts<B>::names[k];
    if (x != b1 && x != b2) ++nb;
  }
  return na == nb;
}

template <class R>
constexpr bool distinct_subscripts() {
  for (int a = 0; a < plain_subscripts<R>::n; ++a)
    for (int b = a + 1; b < plain_subscripts<R>::n; ++b)
      if (plain_subscripts<R>::names[a] == plain_subscripts<R>::names[b]) return false;
  return true;
}

// O(B..., p, e) = S(B..., p, q) V(B..., q, e): the batch indices B... in any order and position in each tensor, the
// same set in all three; e last in O and V (their rows are contiguous); p and q anywhere.
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
  using scores_ref = RS;
  using values_ref = RV;
  using out_ref = LO;
  using T = typename LO::symbol::value_type;
  static constexpr std::string_view p = only_index<LO, RV, RS>(true);  // in O and S, not in V
  static constexpr std::string_view q = only_index<RS, LO, RV>(true);  // in S and V, not in O
  static constexpr std::string_view e = o::n > 0 ? o::names[o::n > 0 ? o::n - 1 : 0] : std::string_view{};
  static constexpr bool value = [] {
    constexpr int n = o::n;
    if (n < 2 || s::n != n || v::n != n) return false;
    if (p.empty() || q.empty() || e.empty() || p == e || q == e) return false;
    if (!distinct_subscripts<LO>() || !distinct_subscripts<RS>() || !distinct_subscripts<RV>()) return false;
    if (v::names[n > 0 ? n - 1 : 0] != e || position_in<RS>(e) >= 0) return false;  // (n >= 2 here)
    if (!same_batch<LO, RS>(p, e, p, q) || !same_batch<LO, RV>(p, e, q, e)) return false;
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
  static constexpr const P& product_of(const body_t& b) { return tensorlogic::get<1>(b.args); }
};

// S(B..., p, q) = softmax(q, Q(B..., p, d) K(B..., q, d) c) with the mask above: the batch indices in any order and
// position, the same set in all three; d last in Q and K; p and q anywhere in S.
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
  static constexpr std::string_view q = Qi::name.view();
  // the first factor is Q when it does not read the key index q; then the second is K
  static constexpr bool q_first = plain_subscripts<F>::ok && position_in<F>(q) < 0;
  using Qr = std::conditional_t<q_first, F, G>;
  using Kr = std::conditional_t<q_first, G, F>;
  static constexpr std::string_view d = plain_subscripts<Qr>::ok && plain_subscripts<Qr>::n > 0
                                            ? plain_subscripts<Qr>::names[plain_subscripts<Qr>::n - 1]
                                            : std::string_view{};
  static constexpr std::string_view p = only_index<Qr, Kr, LS>(true);  // in Q and S, not in K
  static constexpr bool value = [] {
    using s = plain_subscripts<LS>;
    using qn = plain_subscripts<Qr>;
    using kn = plain_subscripts<Kr>;
    constexpr int n = s::n;
    if (n < 2 || !qn::ok || !kn::ok || qn::n != n || kn::n != n) return false;
    if (position_in<LS>(q) < 0 || p.empty() || d.empty() || d == p || d == q || position_in<LS>(d) >= 0) return false;
    if (!distinct_subscripts<LS>() || !distinct_subscripts<Qr>() || !distinct_subscripts<Kr>()) return false;
    if (kn::names[n > 0 ? n - 1 : 0] != d || position_in<Kr>(q) < 0) return false;  // (n >= 2 here)
    if (!same_batch<LS, Qr>(p, q, p, d) || !same_batch<LS, Kr>(p, q, q, d)) return false;
    return fusable_value<T> && std::is_same_v<typename Qr::symbol::value_type, T> &&
           std::is_same_v<typename Kr::symbol::value_type, T>;
  }();
};

// Whether output equation O reads the scores S at S's own subscripts and names the same query and key indices.
template <class SE, class OE>
constexpr bool consistent_pair() {
  using out = attention_output<OE>;
  using sc = attention_scores<SE>;
  using ls = plain_subscripts<typename SE::lhs_type>;
  using rs = plain_subscripts<typename out::scores_ref>;
  if (ls::n != rs::n) return false;
  for (int k = 0; k < ls::n; ++k)
    if (ls::names[k] != rs::names[k]) return false;
  return out::p == sc::p && out::q == sc::q;
}

// For equation E of Prog: 1 when it is the scores of a fusable pair, 2 when it is the output; partner: the other.
template <class Prog>
struct attention_pairs {
  static constexpr int n = static_cast<int>(Prog::size);
  template <std::size_t E>
  using eq_at = std::remove_cvref_t<element_t<E, decltype(Prog::equations)>>;

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
  template <std::size_t S, std::size_t O>
  static constexpr bool consistent() {
    if constexpr (attention_scores<eq_at<S>>::value && attention_output<eq_at<O>>::value)
      return consistent_pair<eq_at<S>, eq_at<O>>();
    else
      return false;
  }
  // (instantiated over every output equation only for the equations that are attention scores)
  template <std::size_t S>
  static constexpr bool consistent_with(int o) {
    if constexpr (!attention_scores<eq_at<S>>::value) {
      return false;
    } else {
      bool r = false;
      [&]<std::size_t... O>(std::index_sequence<O...>) {
        ((r = r || (static_cast<int>(O) == o && consistent<S, O>())), ...);
      }(std::make_index_sequence<Prog::size>{});
      return r;
    }
  }
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
      const bool fits[] = {consistent_with<E>(e2)..., false};
      if (!fits[e1]) continue;
      t.role[e1] = 1;
      t.partner[e1] = e2;
      t.role[e2] = 2;
      t.partner[e2] = e1;
    }
    return t;
  }(std::make_index_sequence<Prog::size>{});
};

// Where the fused kernels find attention's tensors: the scores' structure Sc (attention_scores of an equation) and
// the output's Out (attention_output). Run-time conditions and the heads' layout, shared by the forward pair and the
// training group below.
template <class Prog, class Sc, class Out>
struct attention_site {
  using QR = typename Sc::Qr;
  using KR = typename Sc::Kr;
  using VR = typename Out::values_ref;
  using OR = typename Out::out_ref;
  using Q = typename QR::symbol;
  using K = typename KR::symbol;
  using V = typename VR::symbol;
  using O = typename OR::symbol;
  using T = typename Sc::T;

  template <class Sym, class Store>
  static auto* data(Store& s) {
    return tensorlogic::get<Prog::slot_of(Sym::name.view())>(s.views()).data();
  }
  template <class Sym, class Store>
  static long extent(const Store& s, int dim) {
    return static_cast<long>(s.shape(static_cast<std::size_t>(Prog::slot_of(Sym::name.view())))[static_cast<std::size_t>(dim)]);
  }
  template <class Store>
  static long queries(const Store& s) {
    return extent<O>(s, position_in<OR>(Sc::p));
  }
  template <class Store>
  static long keys(const Store& s) {
    return extent<V>(s, position_in<VR>(Sc::q));
  }

  // The switches, and for the causal mask: q <= p exactly, a fill of -1e30 or below, as many queries as keys.
  template <class Cmp, class Store>
  static bool runs(const Cmp& cmp, double fill, const Store& s) {
    if (!attention_fusion_flag() || !vendor_gemm_flag()) return false;
    if constexpr (Sc::body::masked) {
      using A = std::remove_cvref_t<decltype(cmp.a)>;
      using B = std::remove_cvref_t<decltype(cmp.b)>;
      bool exact = false;
      if constexpr (A::nvars == 1 && B::nvars == 1 && !A::divided && !B::divided) {
        using qa = std::tuple_element_t<0, typename affine_vars<A>::type>;
        using pb = std::tuple_element_t<0, typename affine_vars<B>::type>;
        exact = qa::name.view() == Sc::q && pb::name.view() == Sc::p && cmp.a.coef[0] == 1 &&
                cmp.b.coef[0] == 1 && cmp.a.offset == 0 && cmp.b.offset == 0 && cmp.a.divisor == 1 &&
                cmp.b.divisor == 1;
      }
      if (!exact || !(fill <= -1e30) || queries(s) != keys(s)) return false;
    }
    return true;
  }

  // Each tensor's strides (the store's views are LayoutRight) along its subscripts.
  template <class Ref, class Store>
  static std::array<long, 8> strides(const Store& s) {
    using Sym = typename Ref::symbol;
    constexpr int n = plain_subscripts<Ref>::n;
    std::array<long, 8> out{};
    long step = 1;
    for (int k = n - 1; k >= 0; --k) {
      out[static_cast<std::size_t>(k)] = step;
      step *= extent<Sym>(s, k);
    }
    return out;
  }

  struct geometry {
    exec::attention_layout layout;
    long heads = 1;
  };
  // The batch indices (every subscript of O but p and e) as the layout's head dimensions.
  template <class Store>
  static geometry heads_of(const Store& s) {
    constexpr int n = plain_subscripts<OR>::n;
    static_assert(n - 2 <= exec::attention_layout::max_dims, "tensorlogic: fused attention takes at most six batch indices");
    const std::array<long, 8> st[4] = {strides<QR>(s), strides<KR>(s), strides<VR>(s), strides<OR>(s)};
    geometry g;
    exec::attention_layout& layout = g.layout;
    for (int k = 0; k < n; ++k) {
      const auto name = plain_subscripts<OR>::names[k];
      if (name == Sc::p || name == Out::e) continue;
      const int at[4] = {position_in<QR>(name), position_in<KR>(name), position_in<VR>(name), k};
      layout.ext[layout.dims] = extent<O>(s, k);
      for (int x = 0; x < 4; ++x) layout.stride[x][layout.dims] = st[x][static_cast<std::size_t>(at[x])];
      g.heads *= layout.ext[layout.dims];
      ++layout.dims;
    }
    if (layout.dims == 0) {  // no batch index: one head
      layout.dims = 1;
      layout.ext[0] = 1;
    }
    layout.ld[0] = st[0][static_cast<std::size_t>(position_in<QR>(Sc::p))];
    layout.ld[1] = st[1][static_cast<std::size_t>(position_in<KR>(Sc::q))];
    layout.ld[2] = st[2][static_cast<std::size_t>(position_in<VR>(Sc::q))];
    layout.ld[3] = st[3][static_cast<std::size_t>(position_in<OR>(Sc::p))];
    return g;
  }

#if TENSORLOGIC_HAVE_KOKKOS_KERNELS && defined(KOKKOSKERNELS_ENABLE_TPL_BLAS)
  // O from Q, K, V (the product's scalar factors are the scale); with `lse`, also each row's log-sum-exp.
  template <class Product, class Store>
  static void forward(const Product& product, Store& s, T* lse, std::string_view label) {
    const geometry g = heads_of(s);
    const T scale = gemm_alpha<T>(s, product);
    exec::tiled_attention<T> t{data<Q>(s),
                               data<K>(s),
                               data<V>(s),
                               data<O>(s),
                               queries(s),
                               keys(s),
                               extent<Q>(s, plain_subscripts<QR>::n - 1),
                               extent<O>(s, plain_subscripts<OR>::n - 1),
                               scale,
                               static_cast<int>(Sc::body::masked ? attention_mask::causal : attention_mask::none),
                               0,
                               0,
                               g.layout,
                               lse};
    Kokkos::parallel_for(std::string(label),
                         Kokkos::RangePolicy<Kokkos::DefaultHostExecutionSpace>(0, g.heads * t.blocks()), t);
  }
#endif
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
  using site = attention_site<Prog, sc, attention_output<oe>>;

  template <class Store>
  static bool runs(const Prog& prog, const Store& s) {
    if constexpr (sc::body::masked) {
      const auto& body = tensorlogic::get<scores_eq>(prog.equations).rhs.body;
      return site::runs(tensorlogic::get<0>(body.args), tensorlogic::get<2>(body.args).value, s);
    } else {
      return site::runs(0, 0.0, s);
    }
  }

#if TENSORLOGIC_HAVE_KOKKOS_KERNELS && defined(KOKKOSKERNELS_ENABLE_TPL_BLAS)
  template <class Store>
  static void launch(const Prog& prog, Store& s) {
    const auto& scores = tensorlogic::get<scores_eq>(prog.equations);
    site::forward(sc::body::product_of(scores.rhs.body), s, nullptr,
                  "tensorlogic::attention (fused equations " + std::string(se::head::name.view()) + ", " +
                      std::string(oe::head::name.view()) + ")");
  }
#endif
};

// ---- Attention in a gradient program (tl::gradient of a program holding the pair above). The generated program
// holds, for scores S over a body B (a "pre" tensor; causal: B = where(q <= p, B2, -1e30) over another, B2, or
// where(q <= p, Q K c, -1e30) itself when the product was already a projection):
//   B2 = Q K c,  B = where(...),  S = softmax(q, B),  O = S V,
//   grad(S) = grad(O) V,  dot(S) = grad(S) S,  grad(B) = S (grad(S) - dot(S)),  grad(B2) = grad(B) where(q <= p, 1, 0),
//   grad(V) = grad(O) S,  grad(Q) = grad(B2) K c,  grad(K) = grad(B2) Q c
// (any of grad(Q), grad(K), grad(V) absent when not needed). Recognized here, the group runs as two kernels: O's
// equation runs the fused forward pass, writing each row's log-sum-exp too; the first of the adjoint equations in
// evaluation order runs the fused backward pass (exec/attention_backward.hpp), writing grad(Q), grad(K) and grad(V) at
// once; the S-sized tensors (S, B, B2, grad(S), grad(B), grad(B2) and dot(S): the "intermediates") are allocated on
// first use and computed only when read through the store, as the forward pair's scores are. Conditions: every
// intermediate has one equation, outside recursion, and is read only by the group's equations; each adjoint of Q, K
// and V has one equation; the forward pair's conditions (layout, mask, element type).

// S = softmax(q, B(subscripts of S)): B's symbol.
template <class Eq>
struct softmax_over_ref {
  static constexpr bool value = false;
};
template <class LS, class Qi, class BS, class... D>
  requires(plain_subscripts<LS>::ok && plain_subscripts<ref<BS, D...>>::ok)
struct softmax_over_ref<equation<LS, normalization<norm_op::softmax, Qi, ref<BS, D...>>>> {
  static constexpr bool value = true;
  using body = BS;
  using index = Qi;
};

// B = where(q <= p, B2(...), constant): B2's symbol, and the same where over another argument.
template <class R>
struct where_over_ref {
  static constexpr bool value = false;
};
template <class A, class B, class S2, class... D>
struct where_over_ref<apply<op::where, comparison<cmp_op::le, A, B>, ref<S2, D...>, constant>> {
  static constexpr bool value = true;
  using inner = S2;
  template <class P>
  using replaced = apply<op::where, comparison<cmp_op::le, A, B>, P, constant>;
};

template <class W, class P>
struct where_replaced {
  using type = typename W::template replaced<P>;
};

template <class A, class B>
constexpr bool same_subscripts() {
  if (plain_subscripts<A>::n != plain_subscripts<B>::n) return false;
  for (int k = 0; k < plain_subscripts<A>::n; ++k)
    if (plain_subscripts<A>::names[k] != plain_subscripts<B>::names[k]) return false;
  return true;
}

constexpr bool adjoint_of(std::string_view adj, std::string_view x) {
  return adj.size() == x.size() + 6 && adj.substr(0, 5) == "grad(" && adj.substr(5, x.size()) == x && adj.back() == ')';
}

template <class Prog>
struct attention_training {
  static constexpr int n = static_cast<int>(Prog::size);
  static constexpr int slots = static_cast<int>(Prog::n_slots);
  template <std::size_t E>
  using eq_at = std::remove_cvref_t<element_t<E, decltype(Prog::equations)>>;

  static constexpr auto heads = []<std::size_t... E>(std::index_sequence<E...>) {
    return std::array<std::string_view, sizeof...(E) + 1>{eq_at<E>::head::name.view()..., std::string_view{}};
  }(std::make_index_sequence<Prog::size>{});
  static constexpr int unique_def(std::string_view name) {
    int found = -1, count = 0;
    for (int e = 0; e < n; ++e)
      if (heads[static_cast<std::size_t>(e)] == name) {
        found = e;
        ++count;
      }
    return count == 1 ? found : -1;
  }

  // The scores' equation S and its body's (B) and, when masked, B2's; the output's; and the structure the fused
  // kernels read (the scores' equation with B and B2 substituted).
  template <std::size_t S>
  struct candidate {
    using se = eq_at<S>;
    using so = softmax_over_ref<se>;
    static constexpr int body_eq = unique_def(so::body::name.view());
    static constexpr std::size_t b = body_eq < 0 ? S : static_cast<std::size_t>(body_eq);
    using be = eq_at<b>;
    using wo = where_over_ref<typename be::rhs_type>;
    static constexpr int body2_eq = [] {
      if constexpr (wo::value)
        return unique_def(wo::inner::name.view());
      else
        return -1;
    }();
    static constexpr std::size_t b2 = body2_eq < 0 ? b : static_cast<std::size_t>(body2_eq);
    using pe = eq_at<b2>;  // the product's equation
    using body_type = typename std::conditional_t<wo::value, where_replaced<wo, typename pe::rhs_type>,
                                                  std::type_identity<typename be::rhs_type>>::type;
    using synthetic = equation<typename se::lhs_type, normalization<norm_op::softmax, typename so::index, body_type>>;
    using sc = attention_scores<synthetic>;
    static constexpr bool scores_ok = [] {
      if constexpr (body_eq < 0 || body_eq == static_cast<int>(S) || (wo::value && body2_eq < 0) || !sc::value)
        return false;
      else
        return same_subscripts<typename se::lhs_type, typename be::lhs_type>() &&
               (!wo::value || (same_subscripts<typename se::lhs_type, typename pe::lhs_type>() && sc::body::masked));
    }();
    template <std::size_t O>
    static constexpr bool output_fits() {
      if constexpr (!scores_ok || !attention_output<eq_at<O>>::value) {
        return false;
      } else {
        using out = attention_output<eq_at<O>>;
        return out::scores::name.view() == se::head::name.view() && consistent_pair<synthetic, eq_at<O>>();
      }
    }
    static constexpr int output_eq = []<std::size_t... O>(std::index_sequence<O...>) {
      int found = -1;
      ((found = found < 0 && output_fits<O>() ? static_cast<int>(O) : found), ...);
      return found;
    }(std::make_index_sequence<Prog::size>{});
    static constexpr std::size_t o = output_eq < 0 ? S : static_cast<std::size_t>(output_eq);
    using out = attention_output<eq_at<o>>;
  };

  template <std::size_t S>
  static constexpr bool softmax_candidate() {
    return softmax_over_ref<eq_at<S>>::value;
  }
  // (names of S, B, B2, Q, K, V, O and the equation numbers, for the table; empty when not a candidate)
  struct names {
    int body = -1, body2 = -1, output = -1;
    std::string_view s, b, b2, q, k, v, o;
  };
  template <std::size_t S>
  static constexpr names names_of() {
    names r{};
    if constexpr (softmax_candidate<S>()) {
      using c = candidate<S>;
      if constexpr (c::scores_ok && c::output_eq >= 0) {
        r.body = c::body_eq;
        r.body2 = c::body2_eq;
        r.output = c::output_eq;
        r.s = c::se::head::name.view();
        r.b = c::be::head::name.view();
        r.b2 = c::body2_eq >= 0 ? c::pe::head::name.view() : std::string_view{};
        r.q = c::sc::Qr::symbol::name.view();
        r.k = c::sc::Kr::symbol::name.view();
        r.v = c::out::values::name.view();
        r.o = c::out::out_ref::symbol::name.view();
      }
    }
    return r;
  }

  static constexpr bool maybe = [] {
    bool adjoints = false;
    for (int x = 0; x < slots; ++x)
      adjoints = adjoints || Prog::slot_name(static_cast<std::size_t>(x)).starts_with("grad(");
    return adjoints;
  }() && []<std::size_t... E>(std::index_sequence<E...>) {
    return (softmax_candidate<E>() || ...);
  }(std::make_index_sequence<Prog::size>{});

  // role: 1 an intermediate, 2 the output (forward pass), 3 the adjoint equation that runs the backward pass, 4 the
  // other adjoint equations; group: the scores' equation of the equation's group.
  struct table_t {
    int role[n > 0 ? n : 1]{};
    int group[n > 0 ? n : 1]{};
    int output[n > 0 ? n : 1]{};       // per scores equation: the output's equation
    int adjoint[n > 0 ? n : 1][3]{};   // per scores equation: grad(Q), grad(K), grad(V)'s equations, or -1
    int body[n > 0 ? n : 1]{};         // per scores equation: B's equation
    int body2[n > 0 ? n : 1]{};        // per scores equation: B2's equation, or -1
    int grad_output[n > 0 ? n : 1]{};  // per scores equation: the slot of grad(O)
    bool on_demand[slots > 0 ? slots : 1]{};
  };

  // Whether equation E reads the tensor `name`.
  template <std::size_t E>
  static constexpr bool reads(std::string_view name) {
    bool r = false;
    [&]<class... Sy>(type_list<Sy...>) {
      ((r = r || Sy::name.view() == name), ...);
    }(typename eq_at<E>::rhs_type::symbols{});
    return r;
  }
  static constexpr int max_intermediates = 8;

  // (Names, not slot-indexed tables: the work stays linear in the program's size, within Clang's constexpr budget
  // for a gradient program of two transformer blocks.)
  static constexpr table_t table = [] {
    table_t t{};
    if constexpr (maybe) {
      constexpr auto all = []<std::size_t... E>(std::index_sequence<E...>) {
        return std::array<names, sizeof...(E) + 1>{names_of<E>()..., names{}};
      }(std::make_index_sequence<Prog::size>{});
      constexpr auto& st = Prog::structure;
      auto plain_group = [&](int e) {
        const int g = st.group_of[e];
        return !st.self_read[g] && !st.recursive[st.stratum_of[g]];
      };
      auto adjoint_name = [&](std::string_view x) {
        for (int sl = 0; sl < slots; ++sl) {
          const auto name = Prog::slot_name(static_cast<std::size_t>(sl));
          if (adjoint_of(name, x)) return name;
        }
        return std::string_view{};
      };
      auto readers = [&](std::string_view name, bool (&out)[n > 0 ? n : 1]) {
        []<std::size_t... E>(std::index_sequence<E...>, std::string_view nm, bool (&o)[n > 0 ? n : 1]) {
          ((o[E] = reads<E>(nm)), ...);
        }(std::make_index_sequence<Prog::size>{}, name, out);
      };
      for (int e = 0; e < n; ++e) {
        const names& c = all[static_cast<std::size_t>(e)];
        if (c.output < 0) continue;
        // the intermediates: S, B, B2, their adjoints, and the other readers of grad(S) (the softmax's row dot)
        std::string_view in[max_intermediates]{};
        int count = 0;
        auto add = [&](std::string_view x) {
          for (int k = 0; k < count; ++k)
            if (in[k] == x) return true;
          if (x.empty() || count == max_intermediates) return false;
          in[count++] = x;
          return true;
        };
        const std::string_view gs = adjoint_name(c.s), gb = adjoint_name(c.b);
        const std::string_view gb2 = c.b2.empty() ? std::string_view{} : adjoint_name(c.b2);
        bool ok = !gs.empty() && !gb.empty() && (c.b2.empty() || !gb2.empty());
        ok = ok && add(c.s) && add(c.b) && add(gs) && add(gb);
        if (ok && !c.b2.empty()) ok = add(c.b2) && add(gb2);
        const std::string_view adj[3] = {adjoint_name(c.q), adjoint_name(c.k), adjoint_name(c.v)};
        const std::string_view go = adjoint_name(c.o);
        auto is_adjoint = [&](std::string_view x) { return !x.empty() && (x == adj[0] || x == adj[1] || x == adj[2]); };
        bool read[n > 0 ? n : 1]{};
        if (ok) {
          readers(gs, read);
          for (int x = 0; x < n && ok; ++x) {
            const auto h = heads[static_cast<std::size_t>(x)];
            if (read[x] && h != gb && !is_adjoint(h)) ok = add(h);
          }
        }
        // every intermediate has one equation, outside recursion, and only the group's equations read it
        for (int k = 0; k < count && ok; ++k) {
          const int def = unique_def(in[k]);
          ok = def >= 0 && plain_group(def) && in[k] != c.q && in[k] != c.k && in[k] != c.v && in[k] != c.o &&
               in[k] != go && !is_adjoint(in[k]);
          if (!ok) break;
          readers(in[k], read);
          for (int x = 0; x < n && ok; ++x) {
            if (!read[x] || x == c.output) continue;
            const auto h = heads[static_cast<std::size_t>(x)];
            bool member = is_adjoint(h);
            for (int j = 0; j < count; ++j) member = member || h == in[j];
            ok = member;
          }
        }
        int adj_eq[3] = {-1, -1, -1};
        for (int a = 0; a < 3 && ok; ++a) {
          if (adj[a].empty()) continue;
          adj_eq[a] = unique_def(adj[a]);
          ok = adj_eq[a] >= 0 && plain_group(adj_eq[a]);
        }
        ok = ok && !go.empty() && (adj_eq[0] >= 0 || adj_eq[1] >= 0 || adj_eq[2] >= 0) && plain_group(c.output);
        // an equation already in another group
        for (int k = 0; k < count && ok; ++k) ok = t.role[unique_def(in[k])] == 0;
        ok = ok && t.role[c.output] == 0;
        if (!ok) continue;
        // the backward pass runs at the adjoint equation evaluated first, which must come after O's (the backward
        // pass reads O and the statistics its forward pass writes)
        auto position = [&](int eq) {
          int pos = 0;
          while (st.order[pos] != st.group_of[eq]) ++pos;
          return pos;
        };
        int launcher = -1, best = n + 1;
        for (int a = 0; a < 3; ++a) {
          if (adj_eq[a] < 0) continue;
          if (position(adj_eq[a]) < best) {
            best = position(adj_eq[a]);
            launcher = adj_eq[a];
          }
        }
        if (best < position(c.output)) continue;
        for (int k = 0; k < count; ++k) {
          const int def = unique_def(in[k]);
          t.on_demand[Prog::slot_of(in[k])] = true;
          t.role[def] = 1;
          t.group[def] = e;
        }
        t.role[c.output] = 2;
        t.group[c.output] = e;
        for (int a = 0; a < 3; ++a) {
          t.adjoint[e][a] = adj_eq[a];
          if (adj_eq[a] < 0) continue;
          t.role[adj_eq[a]] = adj_eq[a] == launcher ? 3 : 4;
          t.group[adj_eq[a]] = e;
        }
        t.output[e] = c.output;
        t.grad_output[e] = Prog::slot_of(go);
        t.body[e] = c.body;
        t.body2[e] = c.body2;
      }
    }
    return t;
  }();
};

// The training group of equation E: whether it runs fused with this store, the forward and the backward launches.
template <class Prog, std::size_t E>
struct attention_training_fusion {
  using tr = attention_training<Prog>;
  static constexpr int role = tr::table.role[E];
  static constexpr std::size_t scores_eq = static_cast<std::size_t>(tr::table.group[E]);
  using cand = typename tr::template candidate<scores_eq>;
  static constexpr std::size_t output_eq = static_cast<std::size_t>(tr::table.output[scores_eq]);
  static constexpr std::size_t body_eq = static_cast<std::size_t>(tr::table.body[scores_eq]);
  static constexpr bool split = tr::table.body2[scores_eq] >= 0;  // B = where(q <= p, B2, fill), B2 the product
  static constexpr std::size_t product_eq = split ? static_cast<std::size_t>(tr::table.body2[scores_eq]) : body_eq;
  using sc = typename cand::sc;
  using site = attention_site<Prog, sc, typename cand::out>;
  using T = typename site::T;

  template <class Store>
  static bool runs(const Prog& prog, const Store& s) {
    if constexpr (sc::body::masked) {
      const auto& where = tensorlogic::get<body_eq>(prog.equations).rhs;
      return site::runs(tensorlogic::get<0>(where.args), tensorlogic::get<2>(where.args).value, s);
    } else {
      return site::runs(0, 0.0, s);
    }
  }

  // The scores' product Q K c: B2's right-hand side, or B's (under its where when masked)
  static const auto& product(const Prog& prog) {
    if constexpr (split)
      return tensorlogic::get<product_eq>(prog.equations).rhs;
    else
      return sc::body::product_of(tensorlogic::get<body_eq>(prog.equations).rhs);
  }

#if TENSORLOGIC_HAVE_KOKKOS_KERNELS && defined(KOKKOSKERNELS_ENABLE_TPL_BLAS)
  // The rows' log-sum-exp, kept between the forward and the backward pass in the output equation's state.
  template <class Store>
  static std::vector<T>& statistics(Store& s) {
    auto& state = s.equation_state(output_eq);
    if (!state) state = std::make_shared<std::vector<T>>();
    return *static_cast<std::vector<T>*>(state.get());
  }

  template <class Store>
  static void forward(const Prog& prog, Store& s) {
    const auto g = site::heads_of(s);
    auto& lse = statistics(s);
    lse.resize(static_cast<std::size_t>(g.heads * site::queries(s)));
    site::forward(product(prog), s, lse.data(),
                  "tensorlogic::attention (fused training group of " +
                      std::string(tr::heads[scores_eq]) + ", forward with row statistics)");
  }

  template <int A, class Store>
  static T* adjoint_data(Store& s, std::vector<T>& spare, long size) {
    constexpr int eq = tr::table.adjoint[scores_eq][A];
    if constexpr (eq >= 0) {
      using head = typename tr::template eq_at<static_cast<std::size_t>(eq)>::head;
      static_assert(std::is_same_v<typename head::value_type, T>,
                    "tensorlogic: internal: an attention adjoint of another element type");
      return tensorlogic::get<Prog::slot_of(head::name.view())>(s.views()).data();
    } else {
      spare.resize(static_cast<std::size_t>(size));
      return spare.data();
    }
  }

  template <class Store>
  static void backward(const Prog& prog, Store& s) {
    using Q = typename site::Q;
    using K = typename site::K;
    using V = typename site::V;
    using O = typename site::O;
    const auto g = site::heads_of(s);
    const long sq = site::queries(s), sk = site::keys(s);
    const long d = site::template extent<Q>(s, plain_subscripts<typename site::QR>::n - 1);
    const long e = site::template extent<O>(s, plain_subscripts<typename site::OR>::n - 1);
    std::vector<T> spare[3];
    const long span_q = g.heads * sq * d, span_k = g.heads * sk * d, span_v = g.heads * sk * e;
    T* dq = adjoint_data<0>(s, spare[0], span_q);
    T* dk = adjoint_data<1>(s, spare[1], span_k);
    T* dv = adjoint_data<2>(s, spare[2], span_v);
    const T scale = gemm_alpha<T>(s, product(prog));
    exec::tiled_attention_backward<T> t{site::template data<Q>(s),
                                        site::template data<K>(s),
                                        site::template data<V>(s),
                                        site::template data<O>(s),
                                        statistics(s).data(),
                                        tensorlogic::get<static_cast<std::size_t>(tr::table.grad_output[scores_eq])>(
                                            s.views()).data(),
                                        dq,
                                        dk,
                                        dv,
                                        sq,
                                        sk,
                                        d,
                                        e,
                                        scale,
                                        static_cast<int>(sc::body::masked ? attention_mask::causal
                                                                          : attention_mask::none),
                                        0,
                                        0,
                                        g.layout};
    Kokkos::parallel_for("tensorlogic::attention_backward (fused training group of " +
                             std::string(tr::heads[scores_eq]) + ")",
                         Kokkos::RangePolicy<Kokkos::DefaultHostExecutionSpace>(0, g.heads), t);
  }
#endif
};
}  // namespace detail
}  // namespace tensorlogic
