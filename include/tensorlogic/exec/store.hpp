// store: every tensor of a program as a Kokkos::View (LayoutRight) in one memory space, allocated from the bound
// index extents; each tensor's shape is derived from how the program subscripts it. Also tl::extents(i = n, ...).
#pragma once
#include <Kokkos_Core.hpp>
#include <array>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include <tensorlogic/core/program.hpp>
#include <tensorlogic/exec/fuse.hpp>

namespace tensorlogic {

// Run-time extents for a program's dynamic indices: tl::extents(i = 128, j = 64).
struct extents_list {
  struct entry {
    std::string_view name;
    std::size_t value;
    std::size_t static_extent;
  };
  std::vector<entry> entries;
};

template <class... I>
extents_list extents(extent_binding<I>... b) {
  return extents_list{{typename extents_list::entry{I::name.view(), b.value, I::extent}...}};
}

namespace detail {
// Whether a reference reads a tl::dimension_index (plainly or inside an index expression). A trait, not a templated
// lambda: nvcc's front end does not take those in a static data member's initializer.
template <class D>
struct dim_reads_dimension_index {
  static constexpr bool value = false;
};
template <class D>
  requires(derived_extent_index<D>)
struct dim_reads_dimension_index<D> {
  static constexpr bool value = true;
};
template <bool Dv, class... V>
struct dim_reads_dimension_index<index_affine<Dv, V...>> {
  static constexpr bool value = (derived_extent_index<V> || ...);
};
template <class R>
struct reads_dimension_index {
  static constexpr bool value = false;
};
template <class S, class... D>
struct reads_dimension_index<ref<S, D...>> {
  static constexpr bool value = (dim_reads_dimension_index<D>::value || ...);
};
}  // namespace detail

namespace detail {
// A store constructed with this tag allocates nothing: its views are shared or allocated one by one (plan/order.hpp's
// temporaries live in such a store beside the program's own).
struct unallocated_t {};
inline constexpr unallocated_t unallocated{};

// Per-equation state a store keeps for the evaluator (a chosen contraction order and its temporaries); a copy of a
// store starts without any, so two stores never share temporaries.
struct equation_state {
  std::vector<std::shared_ptr<void>> slots;
  equation_state() = default;
  equation_state(const equation_state&) {}
  equation_state(equation_state&&) noexcept {}
  equation_state& operator=(const equation_state&) {
    slots.clear();
    return *this;
  }
  equation_state& operator=(equation_state&&) noexcept {
    slots.clear();
    return *this;
  }
};

template <class T, std::size_t R>
struct view_data {
  using type = typename view_data<T, R - 1>::type*;
};
template <class T>
struct view_data<T, 0> {
  using type = T;
};

// Visits every reference (left and right) of an equation's value, host side.
template <class F, class Node>
void for_each_ref(const Node& n, F&& f) {
  if constexpr (is_ref<Node>) {
    f(n);
  } else if constexpr (is_apply<Node>) {
    tensorlogic::detail::apply_tuple([&](const auto&... a) { (for_each_ref(a, f), ...); }, n.args);
  } else if constexpr (is_reduction<Node> || is_normalization<Node>) {
    for_each_ref(n.body, f);
  }
}

// What a store's shape derivation needs of its program, without the program's type: the per-reference code below is
// instantiated per reference type only, and its symbols do not spell the whole program (a store's per-reference
// lambdas used to, and the mangled names of a long program's, tens of kilobytes each, made compile time grow with
// the square of the number of equations).
struct shape_pass {
  int (*slot_of)(std::string_view);
  int (*index_position)(std::string_view);
  const long* extent;
  std::array<long, 8>* shape;
  std::array<std::string, 8>* dim_name;
  std::array<bool, 8>* plain;
  bool skip_unknown;  // skip references that use an index whose extent is not known yet (a dimension index)
};

template <class D>
void note_unknown(const D&, const shape_pass& p, bool& unknown) {
  if constexpr (index_type<D>) {
    if (p.extent[p.index_position(D::name.view())] < 0) unknown = true;
  } else {
    [&]<bool Dv, class... V>(index_affine<Dv, V...>*) {
      ((unknown = unknown || p.extent[p.index_position(V::name.view())] < 0), ...);
    }(static_cast<D*>(nullptr));
  }
}

// One subscript of a reference, evaluated against the index extents: a plain index's extent, or the number of values
// an index expression reaches (its largest value plus one). Templated on the subscript's type only, so references
// share it; the checks and messages are in one function (apply_subscript).
struct subscript_value {
  bool plain = true;
  long extent = 0;
  long divisor = 1;
  std::string_view name{};  // the plain index, or the expression's last index (empty for a constant)
};
template <class D>
subscript_value subscript_value_of(const D& x, const shape_pass& p) {
  if constexpr (index_type<D>) {
    return {true, p.extent[p.index_position(D::name.view())], 1, D::name.view()};
  } else {
    subscript_value v{false, 0, x.divisor, {}};
    long hi = x.offset;
    [&]<bool Dv, class... V>(const index_affine<Dv, V...>& a) {
      std::size_t k = 0;
      ((hi += a.coef[k] > 0 ? a.coef[k] * (p.extent[p.index_position(V::name.view())] - 1) : 0, ++k), ...);
      ((v.name = V::name.view()), ...);
    }(x);
    v.extent = x.divisor < 1 ? 0 : (hi < 0 ? -1 : hi / x.divisor) + 1;
    return v;
  }
}

inline void apply_subscript(const subscript_value& v, std::string_view tensor, const shape_pass& p, int slot,
                            std::size_t dim) {
  auto& cur = p.shape[slot][dim];
  auto& plain = p.plain[slot][dim];
  auto& name = p.dim_name[slot][dim];
  if (v.plain) {
    if (plain && cur != v.extent)
      throw error("tensor " + std::string(tensor) + " dimension " + std::to_string(dim) + ": index " + name +
                  " has extent " + std::to_string(cur) + " but index " + std::string(v.name) + " has extent " +
                  std::to_string(v.extent));
    plain = true;
    cur = v.extent;
    name = std::string(v.name);
  } else {
    if (v.divisor < 1)
      throw error("tensor " + std::string(tensor) + " dimension " + std::to_string(dim) +
                  ": an index expression divides by " + std::to_string(v.divisor) + "; divisors must be positive");
    if (!plain) {
      if (name.empty() && !v.name.empty()) name = std::string(v.name);
      cur = v.extent > cur ? v.extent : cur;
    }
  }
}

// A dimension subscripted by a plain index has that index's extent (all such must agree); otherwise it is the
// largest subscript value any index expression reaches, plus one.
struct shape_visitor {
  const shape_pass* p;
  template <class R>
  void operator()(const R& r) const {
    if constexpr (reads_dimension_index<R>::value) {
      if (p->skip_unknown) {
        bool unknown = false;
        tensorlogic::detail::apply_tuple([&](const auto&... d) { (note_unknown(d, *p, unknown), ...); }, r.dims);
        if (unknown) return;
      }
    }
    const int slot = p->slot_of(R::symbol::name.view());
    tensorlogic::detail::apply_tuple(
        [&](const auto&... d) {
          const subscript_value v[] = {subscript_value_of(d, *p)..., subscript_value{}};
          if constexpr (sizeof...(d) > 0)
            for (std::size_t k = 0; k < sizeof...(d); ++k) apply_subscript(v[k], R::symbol::name.view(), *p, slot, k);
        },
        r.dims);
  }
};

// A rank-0 view's value on the host, as a double (0 for views of other ranks).
template <class V>
double host_scalar_of(const V& v) {
  if constexpr (V::rank == 0) {
    const auto host = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace{}, v);
    return static_cast<double>(host());
  } else {
    return 0;
  }
}

// A view of type V labelled "what name", of the given shape (its first V::rank extents), zero-filled or not.
// Instantiated per view type, not per slot.
template <class V, class Label>
V view_with(const Label& label, const std::array<long, 8>& s) {
  constexpr std::size_t r = V::rank;
  [[maybe_unused]] const auto n = [&](std::size_t d) { return static_cast<std::size_t>(s[d]); };
  if constexpr (r == 0) return V(label);
  else if constexpr (r == 1) return V(label, n(0));
  else if constexpr (r == 2) return V(label, n(0), n(1));
  else if constexpr (r == 3) return V(label, n(0), n(1), n(2));
  else if constexpr (r == 4) return V(label, n(0), n(1), n(2), n(3));
  else if constexpr (r == 5) return V(label, n(0), n(1), n(2), n(3), n(4));
  else if constexpr (r == 6) return V(label, n(0), n(1), n(2), n(3), n(4), n(5));
  else if constexpr (r == 7) return V(label, n(0), n(1), n(2), n(3), n(4), n(5), n(6));
  else {
    static_assert(r == 8, "tensorlogic: tensors have rank 8 at most");
    return V(label, n(0), n(1), n(2), n(3), n(4), n(5), n(6), n(7));
  }
}
template <class V>
V make_view_as(const char* what, std::string_view name, const std::array<long, 8>& s, bool initialize) {
  const std::string label = std::string(what) + " " + std::string(name);
  if (initialize) return view_with<V>(label, s);
  return view_with<V>(Kokkos::view_alloc(label, Kokkos::WithoutInitializing), s);
}
}  // namespace detail

namespace detail {
template <class Rhs>
inline constexpr bool is_softmax_rhs = false;
template <class Idx, class Body>
inline constexpr bool is_softmax_rhs<normalization<norm_op::softmax, Idx, Body>> = true;

// The slots a store allocates on first use instead of at construction: the head of a softmax equation that is its
// group's only equation, outside recursion, and read by exactly one other equation -- the scores of an attention
// pair, which the fused kernel (exec/fuse.hpp) never writes -- and the S-sized intermediates of attention in a
// gradient program (exec/fuse.hpp, attention_training). Allocated when that equation first runs unfused, or when the
// tensor is first taken through operator[].
template <class Prog>
struct on_demand_slots {
  template <std::size_t E>
  using eq_at = std::remove_cvref_t<element_t<E, decltype(Prog::equations)>>;
  template <std::size_t E>
  static constexpr bool reads(std::string_view name) {
    bool r = false;
    [&]<class... S>(type_list<S...>) { ((r = r || S::name.view() == name), ...); }(typename eq_at<E>::rhs_type::symbols{});
    return r;
  }
  static constexpr std::array<bool, (Prog::n_slots > 0 ? Prog::n_slots : 1)> table =
      []<std::size_t... E>(std::index_sequence<E...>) {
        std::array<bool, (Prog::n_slots > 0 ? Prog::n_slots : 1)> out{};
        constexpr int n = static_cast<int>(sizeof...(E));
        const std::string_view heads[] = {eq_at<E>::head::name.view()..., std::string_view{}};
        const bool softmax[] = {is_softmax_rhs<typename eq_at<E>::rhs_type>..., false};
        constexpr auto& st = Prog::structure;
        for (int e = 0; e < n; ++e) {
          if (!softmax[e]) continue;
          const int g = st.group_of[e];
          if (st.self_read[g] || st.recursive[st.stratum_of[g]]) continue;
          int defs = 0;
          for (int x = 0; x < n; ++x) defs += heads[x] == heads[e] ? 1 : 0;
          const bool read[] = {reads<E>(heads[e])..., false};
          int readers = 0;
          for (int x = 0; x < n; ++x) readers += read[x] ? 1 : 0;
          if (defs == 1 && readers == 1) out[static_cast<std::size_t>(Prog::slot_of(heads[e]))] = true;
        }
        for (std::size_t slot = 0; slot < Prog::n_slots; ++slot)
          out[slot] = out[slot] || attention_training<Prog>::table.on_demand[slot];
        return out;
      }(std::make_index_sequence<Prog::size>{});
};
}  // namespace detail

template <class Prog, class MemorySpace = Kokkos::DefaultExecutionSpace::memory_space>
class store {
 public:
  using program_type = Prog;
  using memory_space = MemorySpace;
  static constexpr std::size_t n_slots = Prog::n_slots;
  static constexpr std::size_t n_indices = Prog::n_indices;
  template <std::size_t Slot>
  using symbol_at = typename Prog::template symbol_at<Slot>;
  template <class Sym>
  using view_type =
      Kokkos::View<typename detail::view_data<typename Sym::value_type, Sym::rank>::type, Kokkos::LayoutRight, MemorySpace>;

 private:
  template <class L>
  struct views_of;
  template <class... S>
  struct views_of<type_list<S...>> {
    using type = indexed_tuple<view_type<S>...>;
  };

 public:
  using views_tuple = typename views_of<typename Prog::symbols>::type;

  explicit store(const Prog& prog, const extents_list& ext = {}) : store(prog, ext, detail::unallocated) {
    allocate();
  }

  store(const Prog& prog, const extents_list& ext, detail::unallocated_t) {
    // Index extents: static ones from the type, dynamic ones from tl::extents(...).
    for (std::size_t k = 0; k < n_indices; ++k) {
      extent_[k] = Prog::indices.items[k].extent == dynamic_extent ? -1 : static_cast<long>(Prog::indices.items[k].extent);
    }
    std::array<bool, (n_indices > 0 ? n_indices : 1)> given{};
    for (const auto& e : ext.entries) {
      const int pos = Prog::index_position(e.name);
      if (pos < 0) throw error("extents: index " + std::string(e.name) + " is not used by the program");
      if (given[static_cast<std::size_t>(pos)]) throw error("extents: index " + std::string(e.name) + " is bound twice");
      given[static_cast<std::size_t>(pos)] = true;
      const long have = extent_[static_cast<std::size_t>(pos)];
      if (have >= 0 && have != static_cast<long>(e.value))
        throw error("extents: index " + std::string(e.name) + " has static extent " + std::to_string(have) +
                    " but was bound to " + std::to_string(e.value));
      extent_[static_cast<std::size_t>(pos)] = static_cast<long>(e.value);
    }
    // An index along a tensor's dimension (tl::dimension_index) takes that dimension's extent, derived first from the
    // references that do not use such an index.
    std::array<std::array<long, 2>, (n_indices > 0 ? n_indices : 1)> source{};
    for (auto& e : source) e = {-1, -1};
    if constexpr (may_have_dimension_indices) collect_dimension_indices(prog, source);
    std::array<long, (n_indices > 0 ? n_indices : 1)> bound_extent = extent_;
    bool derived = false;
    for (std::size_t k = 0; k < n_indices; ++k) {
      if (source[k][0] >= 0) {
        derived = true;
        extent_[k] = -1;
      } else if (extent_[k] < 0) {
        throw error("index " + std::string(Prog::indices.items[k].name) + " has no extent (bind it with tl::extents(" +
                    std::string(Prog::indices.items[k].name) + " = n))");
      }
    }
    derive_shapes(prog);
    if (derived) {
      for (std::size_t k = 0; k < n_indices; ++k) {
        if (source[k][0] < 0) continue;
        extent_[k] = shape_[static_cast<std::size_t>(source[k][0])][static_cast<std::size_t>(source[k][1])];
        if (given[k] && bound_extent[k] != extent_[k])
          throw error("extents: index " + std::string(Prog::indices.items[k].name) + " runs along a dimension of extent " +
                      std::to_string(extent_[k]) + " but was bound to " + std::to_string(bound_extent[k]));
      }
      for (auto& names : dim_name_) names.fill(std::string());
      derive_shapes(prog);
    }
  }

  // The view of a symbol; taking it marks the symbol as bound (its contents are the caller's).
  // A tensor whose equation tl::eval folded into a fused kernel (exec/fuse.hpp: attention's scores) is computed here,
  // when it is first read.
  template <class Sym>
  auto& operator[](const Sym&) {
    constexpr int slot = slot_checked<Sym>();
    ensure_allocated<static_cast<std::size_t>(slot)>();
    materialize(slot);
    bound_[slot] = true;
    return tensorlogic::get<slot>(views_);
  }
  template <class Sym>
  const auto& operator[](const Sym&) const {
    constexpr int slot = slot_checked<Sym>();
    const_cast<store&>(*this).template ensure_allocated<static_cast<std::size_t>(slot)>();
    materialize(slot);
    return tensorlogic::get<slot>(views_);
  }
  // Whether a slot is allocated on first use (detail::on_demand_slots: attention scores a fused kernel may never write).
  static constexpr bool on_demand(std::size_t slot) { return detail::on_demand_slots<Prog>::table[slot]; }
  // Allocates an on-demand slot's view (zero-filled) if it has none yet.
  template <std::size_t Slot>
  void ensure_allocated() {
    if constexpr (on_demand(Slot)) {
      auto& v = tensorlogic::get<Slot>(views_);
      if (v.data() == nullptr) v = make_view(v, Slot, "tensorlogic");
    }
  }
  // Whether a slot's view holds memory now (an on-demand slot before its first use does not).
  template <std::size_t Slot>
  bool allocated() const {
    return !on_demand(Slot) || tensorlogic::get<Slot>(views_).data() != nullptr;
  }
  // Whether a symbol's values are still to be computed on first read (see operator[]).
  template <class Sym>
  bool pending(const Sym&) const {
    return static_cast<bool>(deferred_[static_cast<std::size_t>(slot_checked<Sym>())]);
  }
  // Defers (or, with an empty function, cancels) the computation of a slot to its first read through operator[].
  void defer(std::size_t slot, std::function<void(store&)> compute) { deferred_[slot] = std::move(compute); }

  long index_extent(std::size_t pos) const { return extent_[pos]; }
  template <class I>
  long extent_of(const I&) const {
    return extent_[static_cast<std::size_t>(Prog::index_position(I::name.view()))];
  }
  const std::array<long, 8>& shape(std::size_t slot) const { return shape_[slot]; }
  const std::array<long, 8>* shapes() const { return shape_.data(); }
  // The value of a rank-0 tensor or scalar, named, copied to the host (0 for any other name).
  double host_scalar(std::string_view name) const {
    const int slot = Prog::slot_of(name);
    double r = 0;
    if (slot >= 0)
      const_cast<store&>(*this).for_slot(static_cast<std::size_t>(slot), [&](auto& v, auto&) { r = detail::host_scalar_of(v); });
    return r;
  }
  static double read_host_scalar(const void* s, std::string_view name) {
    return static_cast<const store*>(s)->host_scalar(name);
  }
  const std::string& dim_index_name(std::size_t slot, std::size_t dim) const { return dim_name_[slot][dim]; }
  bool is_bound(std::size_t slot) const { return bound_[slot]; }
  void mark_bound(std::size_t slot) { bound_[slot] = true; }
  views_tuple& views() { return views_; }
  const views_tuple& views() const { return views_; }

  // Shares another store's view for a slot (its shape is the view's) and marks it bound.
  template <std::size_t Slot>
  void share(const view_type<symbol_at<Slot>>& v) {
    tensorlogic::get<Slot>(views_) = v;
    if constexpr (symbol_at<Slot>::rank > 0)
      for (std::size_t d = 0; d < symbol_at<Slot>::rank; ++d) shape_[Slot][d] = static_cast<long>(v.extent(d));
    bound_[Slot] = true;
  }
  // Allocates a slot's view without initializing it (a temporary every element of which is written before it is read).
  template <std::size_t Slot>
  void allocate_uninitialized() {
    auto& v = tensorlogic::get<Slot>(views_);
    v = make_view(v, Slot, "tensorlogic::temporary", false);
  }
  // Computes a slot deferred to its first read now (see operator[]).
  void materialize_slot(std::size_t slot) const { materialize(static_cast<int>(slot)); }
  // The evaluator's state for equation e (empty until the evaluator sets it).
  std::shared_ptr<void>& equation_state(std::size_t e) {
    if (state_.slots.size() <= e) state_.slots.resize(e + 1);
    return state_.slots[e];
  }

  // Calls f(view, scratch) for slot `slot`, its second buffer allocated first when `with_scratch` (else passed as it
  // is). f is instantiated per view type, not per slot.
  template <class F>
  void visit_slot(std::size_t slot, bool with_scratch, F&& f) {
    for_slot(slot, [&](auto& v, auto& sc) { f(v, with_scratch ? scratch_of(sc, slot) : sc); });
  }

  // A second buffer for a slot (Jacobi updates of self-reading groups, fixpoint change detection).
  template <std::size_t Slot>
  auto& scratch() {
    return scratch_of(tensorlogic::get<Slot>(scratch_), Slot);
  }

  template <class Sym>
  static constexpr int slot_checked() {
    constexpr int slot = Prog::slot_of(Sym::name.view());
    if constexpr (slot < 0) {
      (void)diagnostics::unknown_symbol<Sym::name>{};
      return 0;
    } else {
      return slot;
    }
  }


 private:
  // A view for slot `slot` shaped as the store derived (V: that slot's view type).
  template <class V>
  V make_view(const V&, std::size_t slot, const char* what, bool initialize = true) const {
    return detail::make_view_as<V>(what, Prog::slot_name(slot), shape_[slot], initialize);
  }

  template <class V>
  V& scratch_of(V& s, std::size_t slot) {
    if (s.data() == nullptr) s = make_view(s, slot, "tensorlogic::scratch");
    return s;
  }

  void allocate() {
    for (std::size_t k = 0; k < n_slots; ++k)
      if (!on_demand(k)) for_slot(k, [&](auto& v, auto&) { v = make_view(v, k, "tensorlogic"); });
  }

  // Calls f(view, scratch) for slot `slot` through a table of functions, one per view type: per-slot code would be
  // instantiated (and inlined) once per slot and call site, which grows with the program.
  template <class F>
  void for_slot(std::size_t slot, F&& f) {
    using fn_t = std::remove_reference_t<F>;
    [&]<std::size_t... S>(std::index_sequence<S...>) {
      using entry = void (*)(void*, void*, fn_t&);
      static constexpr entry table[] = {&call_as<view_type<symbol_at<S>>, fn_t>..., nullptr};
      void* const views[] = {static_cast<void*>(&tensorlogic::get<S>(views_))..., nullptr};
      void* const scratch[] = {static_cast<void*>(&tensorlogic::get<S>(scratch_))..., nullptr};
      table[slot](views[slot], scratch[slot], f);
    }(std::make_index_sequence<n_slots>{});
  }
  template <class V, class Fn>
  static void call_as(void* v, void* sc, Fn& f) {
    f(*static_cast<V*>(v), *static_cast<V*>(sc));
  }

  // Dimension indices are named "T#k": a program without such a name has none (a cheap test that spares the walk).
  static constexpr bool may_have_dimension_indices = [] {
    for (int k = 0; k < Prog::indices.size; ++k)
      if (Prog::indices.items[k].name.find('#') != std::string_view::npos) return true;
    return false;
  }();

  // Which index positions are tl::dimension_index, and the (slot, dimension) each runs along.
  template <class Source>
  static void collect_dimension_indices(const Prog& prog, Source& source) {
    auto visit = [&](const auto& r) {
      tensorlogic::detail::apply_tuple(
          [&](const auto&... d) {
            (
                [&](const auto& x) {
                  using D = std::remove_cvref_t<decltype(x)>;
                  if constexpr (detail::derived_extent_index<D>) {
                    constexpr int pos = Prog::index_position(D::name.view());
                    constexpr int slot = Prog::slot_of(D::extent_source::name.view());
                    static_assert(slot >= 0, "tensorlogic: a dimension index runs along a tensor of the program");
                    source[static_cast<std::size_t>(pos)] = {slot, static_cast<long>(D::extent_dimension)};
                  }
                }(d),
                ...);
          },
          r.dims);
    };
    tensorlogic::detail::apply_tuple([&](const auto&... eq) { ((visit(eq.lhs), detail::for_each_ref(eq.rhs, visit)), ...); }, prog.equations);
  }

  // Each tensor's shape from how the program subscripts it (detail::shape_visitor); references that use a dimension
  // index wait for the second pass, when its extent is known.
  void derive_shapes(const Prog& prog) {
    std::array<std::array<bool, 8>, (n_slots > 0 ? n_slots : 1)> plain{};
    for (auto& s : shape_) s.fill(0);
    const detail::shape_pass pass{&Prog::slot_of, &Prog::index_position, extent_.data(), shape_.data(),
                                  dim_name_.data(), plain.data(), may_have_dimension_indices};
    const detail::shape_visitor visit{&pass};
    tensorlogic::detail::apply_tuple([&](const auto&... eq) { ((visit(eq.lhs), detail::for_each_ref(eq.rhs, visit)), ...); },
               prog.equations);
    // A dimension reached only by index expressions holds at least one cell; a plain index may have extent 0.
    for (std::size_t s = 0; s < n_slots; ++s)
      for (std::size_t d = 0; d < 8; ++d)
        if (!plain[s][d] && shape_[s][d] < 1) shape_[s][d] = 1;
  }

  std::array<long, (n_indices > 0 ? n_indices : 1)> extent_{};
  std::array<std::array<long, 8>, n_slots> shape_{};
  std::array<std::array<std::string, 8>, n_slots> dim_name_{};
  std::array<bool, n_slots> bound_{};
  views_tuple views_;
  mutable std::array<std::function<void(store&)>, (n_slots > 0 ? n_slots : 1)> deferred_{};

  void materialize(int slot) const {
    auto& pending = deferred_[static_cast<std::size_t>(slot)];
    if (!pending) return;
    auto compute = std::move(pending);
    pending = nullptr;
    compute(const_cast<store&>(*this));
  }
  views_tuple scratch_;
  detail::equation_state state_;
};

template <class Prog>
store(const Prog&, const extents_list&) -> store<Prog>;
template <class Prog>
store(const Prog&) -> store<Prog>;

}  // namespace tensorlogic
