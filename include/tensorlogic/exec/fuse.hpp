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
  using T = typename LO::symbol::value_type;
  static constexpr std::string_view p = only_index<LO, RV, RS>(true);  // in O and S, not in V
  static constexpr std::string_view q = only_index<RS, LO, RV>(true);  // in S and V, not in O
  static constexpr std::string_view e = o::n > 0 ? o::names[o::n > 0 ? o::n - 1 : 0] : std::string_view{};
  static constexpr bool value = [] {
    constexpr int n = o::n;
    if (n < 2 || s::n != n || v::n != n) return false;
    if (p.empty() || q.empty() || e.empty() || p == e || q == e) return false;
    if (!distinct_subscripts<LO>() || !distinct_subscripts<RS>() || !distinct_subscripts<RV>()) return false;
    if (v::names[n - 1] != e || position_in<RS>(e) >= 0) return false;
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
    if (kn::names[n - 1] != d || position_in<Kr>(q) < 0) return false;
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
    return tensorlogic::get<Prog::slot_of(Sym::name.view())>(s.views()).data();
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
      const auto& body = tensorlogic::get<scores_eq>(prog.equations).rhs.body;
      const auto& cmp = tensorlogic::get<0>(body.args);
      const double fill = tensorlogic::get<2>(body.args).value;
      using A = std::remove_cvref_t<decltype(cmp.a)>;
      using B = std::remove_cvref_t<decltype(cmp.b)>;
      bool exact = false;
      if constexpr (A::nvars == 1 && B::nvars == 1 && !A::divided && !B::divided) {
        using qa = std::tuple_element_t<0, typename affine_vars<A>::type>;
        using pb = std::tuple_element_t<0, typename affine_vars<B>::type>;
        exact = qa::name.view() == sc::q && pb::name.view() == sc::p && cmp.a.coef[0] == 1 &&
                cmp.b.coef[0] == 1 && cmp.a.offset == 0 && cmp.b.offset == 0 && cmp.a.divisor == 1 &&
                cmp.b.divisor == 1;
      }
      using V = typename out::values;
      if (!exact || !(fill <= -1e30) || extent<typename oe::head>(s, position_in<typename oe::lhs_type>(sc::p)) !=
                                             extent<V>(s, position_in<typename out::values_ref>(sc::q)))
        return false;
    }
    return true;
  }

#if TENSORLOGIC_HAVE_KOKKOS_KERNELS && defined(KOKKOSKERNELS_ENABLE_TPL_BLAS)
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

  template <class Store>
  static void launch(const Prog& prog, Store& s) {
    using O = typename oe::head;
    using V = typename out::values;
    using Q = typename sc::Qr::symbol;
    using K = typename sc::Kr::symbol;
    using OR = typename oe::lhs_type;
    using QR = typename sc::Qr;
    using KR = typename sc::Kr;
    using VR = typename out::values_ref;
    constexpr int n = plain_subscripts<OR>::n;
    static_assert(n - 2 <= exec::attention_layout::max_dims, "tensorlogic: fused attention takes at most six batch indices");
    const std::array<long, 8> st[4] = {strides<QR>(s), strides<KR>(s), strides<VR>(s), strides<OR>(s)};
    exec::attention_layout layout;
    long heads = 1;
    for (int k = 0; k < n; ++k) {
      const auto name = plain_subscripts<OR>::names[k];
      if (name == sc::p || name == out::e) continue;
      const int at[4] = {position_in<QR>(name), position_in<KR>(name), position_in<VR>(name), k};
      layout.ext[layout.dims] = extent<O>(s, k);
      for (int x = 0; x < 4; ++x) layout.stride[x][layout.dims] = st[x][static_cast<std::size_t>(at[x])];
      heads *= layout.ext[layout.dims];
      ++layout.dims;
    }
    if (layout.dims == 0) {  // no batch index: one head
      layout.dims = 1;
      layout.ext[0] = 1;
    }
    layout.ld[0] = st[0][static_cast<std::size_t>(position_in<QR>(sc::p))];
    layout.ld[1] = st[1][static_cast<std::size_t>(position_in<KR>(sc::q))];
    layout.ld[2] = st[2][static_cast<std::size_t>(position_in<VR>(sc::q))];
    layout.ld[3] = st[3][static_cast<std::size_t>(position_in<OR>(sc::p))];
    const auto& scores = tensorlogic::get<scores_eq>(prog.equations);
    const T scale = gemm_alpha<T>(s, sc::body::product_of(scores.rhs.body));
    exec::tiled_attention<T> t{data<Q>(s),
                               data<K>(s),
                               data<V>(s),
                               data<O>(s),
                               extent<O>(s, position_in<OR>(sc::p)),
                               extent<V>(s, position_in<VR>(sc::q)),
                               extent<Q>(s, n - 1),
                               extent<O>(s, n - 1),
                               scale,
                               static_cast<int>(sc::body::masked ? attention_mask::causal : attention_mask::none),
                               0,
                               0,
                               layout};
    Kokkos::parallel_for("tensorlogic::attention (fused equations " + std::string(se::head::name.view()) + ", " +
                             std::string(O::name.view()) + ")",
                         Kokkos::RangePolicy<Kokkos::DefaultHostExecutionSpace>(0, heads * t.blocks()), t);
  }
#endif
};

}  // namespace detail
}  // namespace tensorlogic
