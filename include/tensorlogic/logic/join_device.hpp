// The hash-join kernel of the Datalog engine as Kokkos kernels, for tl::logic::solve(prog, db, options, space): the
// strata that are not closure-shaped (negation, comparisons, n-ary relations, three-atom bodies, constants,
// provenance) run in `space` (any Kokkos backend: Serial, OpenMP, CUDA, HIP) on relations held in its memory space.
// Same rules, same join orders and the same facts as the host kernel (solve.hpp); the schedule differs in one way:
// every join of an iteration sees the relations as they stood when the iteration began (the textbook semi-naive
// iteration), where the host kernel's later rules also see the facts its earlier rules derived in the same iteration,
// so a recursive stratum can take more iterations here (never fewer facts).
//
// Storage, per relation: its rows, flat (row r at data[r * arity ...]), and a set over all columns (open addressing,
// linear probing; a slot holds a row number); per (relation, bound columns) an index: an open-addressing table whose
// slots hold one row of each group of rows agreeing on those columns, and the group's rows listed contiguously
// (offsets by slot). An iteration, for each rule and each of its atoms whose relation changed:
//   count  one work item per row of the rule's first atom (the delta's rows, else every row): the rule's other atoms
//          joined depth first (an index lookup per bound-column atom, a set lookup when every column is bound, a
//          scan when none is), negations and comparisons as soon as their variables are bound; the item counts the
//          head tuples it derives;
//   scan   the counts into offsets;
//   write  the same walk again, the head tuples written at the item's offset;
//   insert every derived tuple into the head's set (compare-and-swap on a free slot), marking those that are new;
//   commit the new tuples appended to the head's rows (numbered by a scan), their set slots given the row numbers.
// Write, insert and commit run per chunk of work items when the join derives more than
// solve_options::join_chunk_tuples tuples, duplicates included (by default 65,536 in a host space, 4,194,304 on a
// device): the buffer of derived tuples holds one chunk (whole work items, so at most that many tuples unless one
// item derives more), and each chunk's new tuples are in the head's set before the next chunk is inserted (the
// joins still read only the rows of the iteration's start).
// The new rows come back to the host at the end of the stratum and are appended to the tuple sets in row order.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <Kokkos_Core.hpp>
#include <tensorlogic/core/error.hpp>
#include <tensorlogic/logic/database.hpp>
#include <tensorlogic/logic/rules.hpp>
#include <tensorlogic/logic/tuples.hpp>

namespace tensorlogic::logic::detail {

// The largest rule the Kokkos join runs (larger ones run on the host): positive atoms, negated atoms, comparisons,
// variables.
inline constexpr int device_max_atoms = 8;
inline constexpr int device_max_negations = 4;
inline constexpr int device_max_constraints = 8;
inline constexpr int device_max_variables = 24;

inline constexpr std::uint32_t free_slot = 0xffffffffu;
inline constexpr std::uint32_t pending_bit = 0x80000000u;  // an insert's own tuple, not yet a row

// An index comparison of a rule between two ids (the host join's too, solve.hpp).
KOKKOS_INLINE_FUNCTION bool compare_ids(const cmp_op op, const id_t a, const id_t b) {
  switch (op) {
    case cmp_op::eq: return a == b;
    case cmp_op::ne: return a != b;
    case cmp_op::lt: return a < b;
    case cmp_op::le: return a <= b;
    case cmp_op::gt: return a > b;
    case cmp_op::ge: return a >= b;
  }
  return false;
}

template <class Mem>
using id_view = Kokkos::View<id_t*, Mem>;
template <class Mem>
using slot_view = Kokkos::View<std::uint32_t*, Mem>;
template <class Mem>
using offset_view = Kokkos::View<std::uint64_t*, Mem>;

// An open-addressing table over a relation's rows keyed by the columns `mask`; slot s holds a row number (free_slot
// when free). As an index, slot s stands for the group of rows agreeing with its row on those columns, listed in
// list[offsets(s) .. offsets(s + 1)).
template <class Mem>
struct device_table {
  slot_view<Mem> slots;
  offset_view<Mem> offsets;
  slot_view<Mem> list;
  std::uint64_t size_mask = 0;
  unsigned mask = 0;
};

// A relation as the kernels read it: the first `limit` rows count (those at the start of the iteration).
template <class Mem>
struct device_rows {
  id_view<Mem> data;
  device_table<Mem> set;
  int arity = 1;
  std::uint32_t limit = 0;

  KOKKOS_INLINE_FUNCTION const id_t* row(const std::uint32_t r) const {
    return data.data() + static_cast<std::size_t>(r) * static_cast<std::size_t>(arity);
  }
  // The slot of `key` (its columns t.mask) in table t, or free_slot: the slot of a row agreeing on t.mask.
  KOKKOS_INLINE_FUNCTION std::uint32_t find(const device_table<Mem>& t, const id_t* key) const {
    std::uint64_t s = hash_columns(key, arity, t.mask) & t.size_mask;
    for (;;) {
      const std::uint32_t e = t.slots(s);
      if (e == free_slot) return free_slot;
      if (!(e & pending_bit) && equal_columns(row(e), key, arity, t.mask)) return static_cast<std::uint32_t>(s);
      s = (s + 1) & t.size_mask;
    }
  }
  // Whether the tuple t is among the first `limit` rows.
  KOKKOS_INLINE_FUNCTION bool contains(const id_t* t) const {
    const std::uint32_t s = find(set, t);
    return s != free_slot && set.slots(s) < limit;
  }
};

// Table building: every row r < rows enters the table once per group (insert), then the group sizes (count), their
// offsets (scan) and the rows of each group (fill).
template <class Mem>
struct table_insert_kernel {
  device_rows<Mem> rel;
  device_table<Mem> t;
  KOKKOS_INLINE_FUNCTION void operator()(const long r) const {
    const id_t* key = rel.row(static_cast<std::uint32_t>(r));
    std::uint64_t s = hash_columns(key, rel.arity, t.mask) & t.size_mask;
    for (;;) {
      std::uint32_t e = t.slots(s);
      if (e == free_slot) {
        e = Kokkos::atomic_compare_exchange(&t.slots(s), free_slot, static_cast<std::uint32_t>(r));
        if (e == free_slot) return;
      }
      if (equal_columns(rel.row(e), key, rel.arity, t.mask)) return;
      s = (s + 1) & t.size_mask;
    }
  }
};
// A row's group: counted (fill = false), or listed at the group's offset (fill = true; `sizes` then counts again).
template <class Mem>
struct table_group_kernel {
  device_rows<Mem> rel;
  device_table<Mem> t;
  slot_view<Mem> sizes;
  bool fill = false;
  KOKKOS_INLINE_FUNCTION void operator()(const long r) const {
    const std::uint32_t s = rel.find(t, rel.row(static_cast<std::uint32_t>(r)));
    const std::uint32_t k = Kokkos::atomic_fetch_add(&sizes(s), 1u);
    if (fill) t.list(t.offsets(s) + k) = static_cast<std::uint32_t>(r);
  }
};
// offsets(i) = counts(0) + ... + counts(i - 1), offsets(n) the total.
template <class Mem, class Counts>
struct exclusive_scan_kernel {
  Counts counts;
  offset_view<Mem> offsets;
  long n = 0;
  using value_type = std::uint64_t;
  KOKKOS_INLINE_FUNCTION void operator()(const long i, std::uint64_t& sum, const bool final) const {
    const std::uint64_t v = counts(i);
    if (final) {
      offsets(i) = sum;
      if (i + 1 == n) offsets(n) = sum + v;
    }
    sum += v;
  }
};

// One argument of an atom in a step: 0 a constant, 1 a variable bound earlier (checked), 2 a variable bound here.
struct device_arg {
  int action = 0;
  int var = 0;
  id_t value = 0;
};
// One positive atom's place in the join order.
struct device_step {
  int kind = 0;  // 0 scan rows [lo, hi), 1 every column bound (set lookup), 2 index lookup on `mask`
  int arity = 0;
  unsigned mask = 0;
  std::uint32_t lo = 0, hi = 0;
  device_arg args[max_arity]{};
  unsigned negations = 0, constraints = 0;  // filters ready after this step (bit k: negation / constraint k)
};
struct device_constraint {
  cmp_op op = cmp_op::ne;
  device_arg a, b;  // action 0 (constant) or 1 (variable)
};

// A rule's join: count (write = false) or write the head tuples derived from each row of the first step's range.
template <class Mem>
struct rule_join_kernel {
  int steps = 0, negations = 0, constraints = 0, head_arity = 0;
  device_step step[device_max_atoms];
  device_rows<Mem> rel[device_max_atoms];
  device_table<Mem> index[device_max_atoms];
  device_rows<Mem> negated[device_max_negations];
  device_arg negated_args[device_max_negations][max_arity]{};
  device_constraint constraint[device_max_constraints];
  device_arg head[max_arity]{};
  bool write = false;
  slot_view<Mem> counts;     // count: head tuples per work item
  offset_view<Mem> offsets;  // write: where each work item's tuples go
  std::uint64_t base = 0;    // write: offsets(first item of the chunk), the chunk's first tuple in `out`
  id_view<Mem> out;          // write: the head tuples

  KOKKOS_INLINE_FUNCTION id_t value_of(const device_arg& a, const id_t* vars) const {
    return a.action == 0 ? a.value : vars[a.var];
  }
  KOKKOS_INLINE_FUNCTION bool holds(const device_constraint& c, const id_t* vars) const {
    return compare_ids(c.op, value_of(c.a, vars), value_of(c.b, vars));
  }
  KOKKOS_INLINE_FUNCTION bool filters_hold(const device_step& s, const id_t* vars) const {
    for (int k = 0; k < constraints; ++k)
      if ((s.constraints & (1u << k)) && !holds(constraint[k], vars)) return false;
    for (int k = 0; k < negations; ++k) {
      if (!(s.negations & (1u << k))) continue;
      id_t t[max_arity]{};
      for (int c = 0; c < negated[k].arity; ++c) t[c] = value_of(negated_args[k][c], vars);
      if (negated[k].contains(t)) return false;
    }
    return true;
  }
  // Binds row's free columns; false if a constant or a bound variable disagrees.
  KOKKOS_INLINE_FUNCTION bool match(const device_step& s, const id_t* row, id_t* vars) const {
    for (int c = 0; c < s.arity; ++c) {
      const device_arg& a = s.args[c];
      if (a.action == 0) {
        if (row[c] != a.value) return false;
      } else if (a.action == 1) {
        if (row[c] != vars[a.var]) return false;
      } else {
        vars[a.var] = row[c];
      }
    }
    return true;
  }
  // The rows step d may take given the variables bound so far: [lo, hi) of its rows (kind 0 and 1) or of its
  // index's group list (kind 2).
  KOKKOS_INLINE_FUNCTION void open(const int d, const id_t* vars, std::uint64_t& lo, std::uint64_t& hi) const {
    const device_step& s = step[d];
    lo = hi = 0;
    if (s.kind == 0) {
      lo = s.lo;
      hi = s.hi;
      return;
    }
    id_t key[max_arity]{};
    for (int c = 0; c < s.arity; ++c)
      if (s.mask & (1u << c)) key[c] = value_of(s.args[c], vars);
    if (s.kind == 1) {
      const std::uint32_t slot = rel[d].find(rel[d].set, key);
      if (slot == free_slot) return;
      const std::uint32_t r = rel[d].set.slots(slot);
      if (r >= rel[d].limit) return;
      lo = r;
      hi = lo + 1;
    } else {
      const std::uint32_t slot = rel[d].find(index[d], key);
      if (slot == free_slot) return;
      lo = index[d].offsets(slot);
      hi = index[d].offsets(slot + 1);
    }
  }
  KOKKOS_INLINE_FUNCTION void emit(const long item, const id_t* vars, std::uint64_t& n) const {
    if (write) {
      id_t* o = out.data() + (offsets(item) - base + n) * static_cast<std::uint64_t>(head_arity);
      for (int c = 0; c < head_arity; ++c) o[c] = value_of(head[c], vars);
    }
    ++n;
  }
  KOKKOS_INLINE_FUNCTION void operator()(const long item) const {
    id_t vars[device_max_variables]{};
    std::uint64_t n = 0;
    const std::uint32_t first = step[0].lo + static_cast<std::uint32_t>(item);
    if (match(step[0], rel[0].row(first), vars) && filters_hold(step[0], vars)) {
      if (steps == 1) {
        emit(item, vars, n);
      } else {
        std::uint64_t pos[device_max_atoms]{}, end[device_max_atoms]{};
        int d = 1;
        open(d, vars, pos[d], end[d]);
        while (d >= 1) {
          if (pos[d] >= end[d]) {
            --d;
            continue;
          }
          const std::uint64_t p = pos[d]++;
          const std::uint32_t r = step[d].kind == 2 ? index[d].list(p) : static_cast<std::uint32_t>(p);
          if (!match(step[d], rel[d].row(r), vars) || !filters_hold(step[d], vars)) continue;
          if (d + 1 == steps) {
            emit(item, vars, n);
            continue;
          }
          ++d;
          open(d, vars, pos[d], end[d]);
        }
      }
    }
    if (!write) counts(item) = static_cast<std::uint32_t>(n);
  }
};

// Derived tuples into the head's set: a tuple found there (a row, or an earlier tuple of this batch) is not new;
// otherwise it takes a free slot (pending_bit | its number) and is marked new.
template <class Mem>
struct insert_tuples_kernel {
  device_rows<Mem> head;
  id_view<Mem> tuples;
  slot_view<Mem> fresh, slot_of;
  KOKKOS_INLINE_FUNCTION const id_t* tuple(const std::uint32_t i) const {
    return tuples.data() + static_cast<std::size_t>(i) * static_cast<std::size_t>(head.arity);
  }
  KOKKOS_INLINE_FUNCTION void operator()(const long i) const {
    const id_t* t = tuple(static_cast<std::uint32_t>(i));
    const unsigned all = head.set.mask;
    std::uint64_t s = hash_columns(t, head.arity, all) & head.set.size_mask;
    fresh(i) = 0;
    for (;;) {
      std::uint32_t e = head.set.slots(s);
      if (e == free_slot) {
        e = Kokkos::atomic_compare_exchange(&head.set.slots(s), free_slot,
                                            pending_bit | static_cast<std::uint32_t>(i));
        if (e == free_slot) {
          fresh(i) = 1;
          slot_of(i) = static_cast<std::uint32_t>(s);
          return;
        }
      }
      const id_t* other = (e & pending_bit) ? tuple(e & ~pending_bit) : head.row(e);
      if (equal_columns(other, t, head.arity, all)) return;
      s = (s + 1) & head.set.size_mask;
    }
  }
};
// The new tuples appended as rows base + their rank among the new ones.
template <class Mem>
struct commit_tuples_kernel {
  device_rows<Mem> head;
  id_view<Mem> tuples;
  slot_view<Mem> fresh, slot_of;
  offset_view<Mem> rank;
  std::uint32_t base = 0;
  KOKKOS_INLINE_FUNCTION void operator()(const long i) const {
    if (!fresh(i)) return;
    const std::uint32_t r = base + static_cast<std::uint32_t>(rank(i));
    const std::size_t a = static_cast<std::size_t>(head.arity);
    for (std::size_t c = 0; c < a; ++c) head.data(r * a + c) = tuples(static_cast<std::size_t>(i) * a + c);
    head.set.slots(slot_of(i)) = r;
  }
};

// A relation of a stratum in the memory space, with its host bookkeeping.
template <class Mem>
struct device_relation_state {
  device_rows<Mem> rows;
  std::size_t size = 0, capacity = 0, initial = 0;
  std::map<unsigned, device_table<Mem>> indexes;
  std::map<unsigned, std::size_t> index_rows;  // the rows each index was built over
  std::vector<derivation> provenance;         // per new row (when recorded)
};

inline std::uint64_t table_slots_for(const std::size_t n) {
  std::uint64_t s = 16;
  while (s < 2 * static_cast<std::uint64_t>(n)) s <<= 1;
  return s;
}

// The Kokkos hash-join driver of one stratum.
template <class Space>
struct device_join {
  using mem = typename Space::memory_space;
  using range = Kokkos::RangePolicy<Space, Kokkos::IndexType<long>>;
  const Space& space;
  std::map<int, device_relation_state<mem>> rel;  // by slot

  // Scratch buffers, reused across kernels (grown, never shrunk): fresh allocations every iteration cost page faults
  // and zero fills that took a quarter of a solve on the host.
  slot_view<mem> group_sizes, counts, fresh, slot_of;
  offset_view<mem> offsets, rank;
  id_view<mem> derived;

  explicit device_join(const Space& s) : space(s) {}

  void release_scratch() {
    group_sizes = counts = fresh = slot_of = slot_view<mem>{};
    offsets = rank = offset_view<mem>{};
    derived = id_view<mem>{};
  }

  // In a host space, a freshly allocated (untouched) view's memory is advised to use huge pages (tuples.hpp): its
  // probes are random over up to hundreds of MB.
  template <class V>
  static V& advised(V& v) {
    if constexpr (std::is_same_v<mem, Kokkos::HostSpace>)
      detail::advise_huge_pages(v.data(), v.span() * sizeof(typename V::value_type));
    return v;
  }
  // v with room for n elements (its contents undefined).
  template <class V>
  static V& room_for(V& v, const std::size_t n, const char* label) {
    if (v.extent(0) < n) {
      v = V(Kokkos::view_alloc(Kokkos::WithoutInitializing, std::string(label)), n + n / 2);
      advised(v);
    }
    return v;
  }

  // Builds table t (its `mask` set) over the first n rows of r: the set (offsets and lists too when `groups`), with
  // room for `room` rows.
  void build_table(const device_rows<mem>& r, device_table<mem>& t, const std::size_t n, const bool groups,
                   const std::size_t room = 0) {
    const std::uint64_t slots = table_slots_for(room > n ? room : n);
    if (t.slots.extent(0) != slots) {
      t.slots = slot_view<mem>(Kokkos::view_alloc(Kokkos::WithoutInitializing, "tensorlogic::logic::table"), slots);
      advised(t.slots);
    }
    Kokkos::deep_copy(space, t.slots, free_slot);
    t.size_mask = slots - 1;
    const long rows = static_cast<long>(n);
    if (rows > 0) Kokkos::parallel_for("tensorlogic::logic::table_insert", range(space, 0, rows),
                                       table_insert_kernel<mem>{r, t});
    if (!groups) return;
    room_for(t.offsets, slots + 1, "tensorlogic::logic::group_offsets");
    room_for(t.list, n > 0 ? n : 1, "tensorlogic::logic::group_rows");
    if (rows == 0) return;
    const auto sizes = Kokkos::subview(room_for(group_sizes, slots, "tensorlogic::logic::group_sizes"),
                                       std::make_pair(std::uint64_t{0}, slots));
    Kokkos::deep_copy(space, sizes, 0u);
    Kokkos::parallel_for("tensorlogic::logic::table_count", range(space, 0, rows),
                         table_group_kernel<mem>{r, t, group_sizes, false});
    Kokkos::parallel_scan("tensorlogic::logic::table_offsets", range(space, 0, static_cast<long>(slots)),
                          exclusive_scan_kernel<mem, slot_view<mem>>{group_sizes, t.offsets, static_cast<long>(slots)});
    Kokkos::deep_copy(space, sizes, 0u);
    Kokkos::parallel_for("tensorlogic::logic::table_fill", range(space, 0, rows),
                         table_group_kernel<mem>{r, t, group_sizes, true});
  }

  // Copies the relation of `slot` to the memory space (once per stratum) with its set.
  template <class Db>
  device_relation_state<mem>& upload(Db& db, const int slot) {
    auto it = rel.find(slot);
    if (it != rel.end()) return it->second;
    device_relation_state<mem>& s = rel[slot];
    const tuple_set& t = *db.slot_data(slot).tuples;
    if (t.size() >= pending_bit)
      throw error("relation " + db.slot_data(slot).name + " has too many facts for the Kokkos join (" +
                  std::to_string(t.size()) + ")");
    s.rows.arity = t.arity();
    s.size = s.initial = t.size();
    s.capacity = s.size > 16 ? s.size : 16;
    s.rows.data = id_view<mem>(Kokkos::view_alloc(Kokkos::WithoutInitializing, "tensorlogic::logic::rows"),
                               s.capacity * static_cast<std::size_t>(s.rows.arity));
    advised(s.rows.data);
    if (s.size > 0) {
      Kokkos::View<const id_t*, Kokkos::HostSpace, Kokkos::MemoryUnmanaged> host(t.data().data(), t.data().size());
      Kokkos::deep_copy(space, Kokkos::subview(s.rows.data, std::make_pair(std::size_t{0}, t.data().size())), host);
    }
    s.rows.set.mask = (1u << s.rows.arity) - 1u;
    s.rows.limit = static_cast<std::uint32_t>(s.size);
    build_table(s.rows, s.rows.set, s.size, false);
    return s;
  }

  // The relation as a join reads it: its index on `mask` (kind 2) built over its first `limit` rows.
  device_rows<mem> reader(const int slot, const std::size_t limit) {
    device_rows<mem> r = rel.at(slot).rows;
    r.limit = static_cast<std::uint32_t>(limit);
    return r;
  }
  device_table<mem> index(const int slot, const unsigned mask, const std::size_t limit) {
    device_relation_state<mem>& s = rel.at(slot);
    device_table<mem>& t = s.indexes[mask];
    auto built = s.index_rows.find(mask);
    if (built == s.index_rows.end() || built->second != limit) {
      t.mask = mask;
      build_table(s.rows, t, limit, true);
      s.index_rows[mask] = limit;
    }
    return t;
  }

  // Inserts `count` derived tuples of the head `slot` (in `tuples`); appends the new ones. Returns how many.
  std::size_t insert(const int slot, const id_view<mem>& tuples, const std::size_t count, const derivation why,
                     const bool record) {
    device_relation_state<mem>& s = rel.at(slot);
    const std::size_t need = s.size + count;
    if (need >= pending_bit)
      throw error("a relation grew past " + std::to_string(pending_bit) + " facts in the Kokkos join");
    if (need > s.capacity) {
      std::size_t cap = s.capacity;
      while (cap < need) cap *= 2;
      id_view<mem> grown(Kokkos::view_alloc(Kokkos::WithoutInitializing, "tensorlogic::logic::rows"),
                         cap * static_cast<std::size_t>(s.rows.arity));
      advised(grown);
      const auto used = std::make_pair(std::size_t{0}, s.size * static_cast<std::size_t>(s.rows.arity));
      Kokkos::deep_copy(space, Kokkos::subview(grown, used), Kokkos::subview(s.rows.data, used));
      s.rows.data = grown;
      s.capacity = cap;
    }
    if (table_slots_for(need) > s.rows.set.slots.extent(0)) {
      // grown before the insert, over the committed rows (no pending entries between batches), to at most a third
      // full
      device_table<mem> t;
      t.mask = s.rows.set.mask;
      build_table(s.rows, t, s.size, false, need + need / 2);
      s.rows.set = t;
    }
    room_for(fresh, count, "tensorlogic::logic::fresh");
    room_for(slot_of, count, "tensorlogic::logic::slot_of");
    room_for(rank, count + 1, "tensorlogic::logic::rank");
    const long n = static_cast<long>(count);
    Kokkos::parallel_for("tensorlogic::logic::insert", range(space, 0, n),
                         insert_tuples_kernel<mem>{s.rows, tuples, fresh, slot_of});
    Kokkos::parallel_scan("tensorlogic::logic::rank", range(space, 0, n),
                          exclusive_scan_kernel<mem, slot_view<mem>>{fresh, rank, n});
    std::uint64_t added = 0;
    Kokkos::deep_copy(space, added, Kokkos::subview(rank, count));
    space.fence();
    if (added > 0)
      Kokkos::parallel_for("tensorlogic::logic::commit", range(space, 0, n),
                           commit_tuples_kernel<mem>{s.rows, tuples, fresh, slot_of, rank,
                                                     static_cast<std::uint32_t>(s.size)});
    s.size += static_cast<std::size_t>(added);
    if (record) s.provenance.insert(s.provenance.end(), static_cast<std::size_t>(added), why);
    return static_cast<std::size_t>(added);
  }
};

// The semi-naive schedule of a hash-join stratum (the host's and the Kokkos join's): every rule once over everything
// (iteration 0); then, while a relation of the stratum grew in the last iteration and options.max_iterations allows,
// each rule once per atom over such a relation, that atom restricted to the rows the last iteration added.
// sizes(v) writes the relations' row counts into v (by slot); launch(rule, atom or -1, lo, hi, iteration, counts)
// runs one, `counts` holding the row counts at the iteration's start.
template <class Options, class Report, class Sizes, class Launch>
void semi_naive_rules(const std::vector<rule>& rules, const std::vector<int>& mine, const std::vector<bool>& in_stratum,
                      const Options& options, Report& rep, Sizes& sizes, Launch& launch) {
  std::vector<std::size_t> before(in_stratum.size(), 0), now(in_stratum.size(), 0);
  sizes(now);
  for (int k : mine) launch(k, -1, 0, 0, 0, now);
  rep.iterations = 1;
  while (rep.recursive && (options.max_iterations < 0 || rep.iterations < options.max_iterations)) {
    before = now;
    sizes(now);
    bool any = false;
    for (std::size_t slot = 0; slot < in_stratum.size(); ++slot)
      any = any || (in_stratum[slot] && now[slot] > before[slot]);
    if (!any) break;
    const int iteration = static_cast<int>(rep.iterations);
    for (int k : mine) {
      const rule& r = rules[static_cast<std::size_t>(k)];
      for (std::size_t a = 0; a < r.positive.size(); ++a) {
        const auto slot = static_cast<std::size_t>(r.positive[a].slot);
        if (!in_stratum[slot] || now[slot] == before[slot]) continue;
        launch(k, static_cast<int>(a), before[slot], now[slot], iteration, now);
      }
    }
    ++rep.iterations;
  }
}

// Whether the Kokkos join takes rule r (else its stratum runs on the host).
inline bool device_join_fits(const rule& r) {
  return !r.positive.empty() && r.positive.size() <= static_cast<std::size_t>(device_max_atoms) &&
         r.negative.size() <= static_cast<std::size_t>(device_max_negations) &&
         r.constraints.size() <= static_cast<std::size_t>(device_max_constraints) &&
         r.variables.size() <= static_cast<std::size_t>(device_max_variables);
}

inline device_arg device_argument(const argument& a) {
  device_arg d;
  if (a.kind == arg_kind::constant) {
    d.action = 0;
    d.value = static_cast<id_t>(a.value);
  } else {
    d.action = 1;
    d.var = a.var;
  }
  return d;
}

// Runs the rules `mine` of one stratum (heads flagged by slot in `in_stratum`) with the Kokkos join in `space`, once
// or semi-naively to the fixpoint, and appends the new facts to the database. plan(rule, delta atom, lo, hi) gives
// the join order of solve.hpp's host kernel (plan_rule without host indexes). False, with nothing done, when a rule
// is larger than the kernel takes.
template <class Space, class Db, class Options, class Report, class Plan>
bool run_join_stratum_on(const Space& space, const std::vector<rule>& rules, const std::vector<int>& mine, Db& db,
                         const std::vector<bool>& in_stratum, const Options& options, Report& rep, Plan plan) {
  using mem = typename Space::memory_space;
  using range = Kokkos::RangePolicy<Space, Kokkos::IndexType<long>>;
  for (int k : mine)
    if (!device_join_fits(rules[static_cast<std::size_t>(k)])) return false;
  device_join<Space> dj(space);
  for (int k : mine) {
    const rule& r = rules[static_cast<std::size_t>(k)];
    dj.upload(db, r.head.slot);
    for (const atom& a : r.positive) dj.upload(db, a.slot);
    for (const atom& a : r.negative) dj.upload(db, a.slot);
  }
  auto sizes = [&](std::vector<std::size_t>& out) {
    for (const auto& [slot, s] : dj.rel) out[static_cast<std::size_t>(slot)] = s.size;
  };
  // Rule k with atom `delta` (or -1) on its rows [lo, hi), every relation as it stood at the iteration's start.
  auto launch = [&](const int k, const int delta, const std::size_t lo, const std::size_t hi, const int iteration,
                    const std::vector<std::size_t>& now) {
    auto limit_of = [&](const int slot) { return now[static_cast<std::size_t>(slot)]; };
    const rule& r = rules[static_cast<std::size_t>(k)];
    const auto run = plan(r, delta, lo, hi);
    rule_join_kernel<mem> j;
    j.steps = static_cast<int>(run.steps.size());
    for (int d = 0; d < j.steps; ++d) {
      const auto& s = run.steps[static_cast<std::size_t>(d)];
      const int slot = s.rel->slot;
      device_step& ds = j.step[d];
      ds.arity = s.arity;
      ds.mask = s.mask;
      for (int c = 0; c < s.arity; ++c) {
        ds.args[c].action = s.action[c];
        ds.args[c].var = s.var[c];
        ds.args[c].value = s.value[c];
      }
      for (int n : s.negations) ds.negations |= 1u << n;
      for (int n : s.constraints) ds.constraints |= 1u << n;
      j.rel[d] = dj.reader(slot, limit_of(slot));
      if (d == 0 || s.scan) {  // the first atom is scanned (its constants and repeated variables checked by match)
        ds.kind = 0;
        const bool is_delta = d == 0 && delta >= 0;
        ds.lo = static_cast<std::uint32_t>(is_delta ? lo : 0);
        ds.hi = static_cast<std::uint32_t>(is_delta ? hi : limit_of(slot));
      } else if (s.membership) {
        ds.kind = 1;
      } else {
        ds.kind = 2;
        j.index[d] = dj.index(slot, s.mask, limit_of(slot));
      }
    }
    j.negations = static_cast<int>(r.negative.size());
    for (int n = 0; n < j.negations; ++n) {
      const atom& a = r.negative[static_cast<std::size_t>(n)];
      j.negated[n] = dj.reader(a.slot, limit_of(a.slot));
      for (int c = 0; c < a.arity; ++c) j.negated_args[n][c] = device_argument(a.args[c]);
    }
    j.constraints = static_cast<int>(r.constraints.size());
    for (int n = 0; n < j.constraints; ++n) {
      const constraint& c = r.constraints[static_cast<std::size_t>(n)];
      j.constraint[n] = {c.op, device_argument(c.a), device_argument(c.b)};
    }
    j.head_arity = r.head.arity;
    for (int c = 0; c < r.head.arity; ++c) j.head[c] = device_argument(r.head.args[c]);

    const long items = static_cast<long>(j.step[0].hi) - static_cast<long>(j.step[0].lo);
    if (items <= 0) return;
    j.counts = dj.room_for(dj.counts, static_cast<std::size_t>(items), "tensorlogic::logic::counts");
    Kokkos::parallel_for("tensorlogic::logic::join_count", range(space, 0, items), j);
    j.offsets = dj.room_for(dj.offsets, static_cast<std::size_t>(items) + 1, "tensorlogic::logic::join_offsets");
    Kokkos::parallel_scan("tensorlogic::logic::join_offsets", range(space, 0, items),
                          exclusive_scan_kernel<mem, slot_view<mem>>{j.counts, j.offsets, items});
    std::uint64_t total = 0;
    Kokkos::deep_copy(space, total, Kokkos::subview(j.offsets, static_cast<std::size_t>(items)));
    space.fence();
    if (total == 0) return;
    j.write = true;
    // Items [a, b) write their tuples and the head takes them; the derived buffer holds one chunk at a time.
    auto write_insert = [&](const long a, const long b, const std::uint64_t first, const std::uint64_t n) {
      if (n == 0) return;
      j.base = first;
      j.out = dj.room_for(dj.derived, static_cast<std::size_t>(n) * static_cast<std::size_t>(r.head.arity),
                          "tensorlogic::logic::derived");
      Kokkos::parallel_for("tensorlogic::logic::join_write", range(space, a, b), j);
      rep.derived +=
          dj.insert(r.head.slot, j.out, static_cast<std::size_t>(n), derivation{k, iteration}, options.provenance);
      rep.peak_buffered = std::max(rep.peak_buffered, static_cast<std::size_t>(n));
    };
    constexpr bool host = Kokkos::SpaceAccessibility<Kokkos::HostSpace, mem>::accessible;
    const std::uint64_t budget = options.join_chunk_tuples > 0 ? options.join_chunk_tuples
                                 : host                        ? std::uint64_t{1} << 16
                                                               : std::uint64_t{1} << 22;
    if (total <= budget) {
      write_insert(0, items, 0, total);
      return;
    }
    // Chunks of whole work items, each the longest run whose tuples fit the budget (one item when its own do not).
    ++rep.chunked_joins;
    const auto offsets_used = std::make_pair(std::size_t{0}, static_cast<std::size_t>(items) + 1);
    const auto at = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace{}, Kokkos::subview(j.offsets, offsets_used));
    const std::uint64_t* off = at.data();
    for (long a = 0; a < items;) {
      const std::uint64_t* end = std::upper_bound(off + a + 1, off + items + 1, off[a] + budget);
      const long b = std::max(a + 1, static_cast<long>(end - off) - 1);
      write_insert(a, b, off[a], off[b] - off[a]);
      a = b;
    }
  };

  semi_naive_rules(rules, mine, in_stratum, options, rep, sizes, launch);

  // The new rows back to the host, appended in row order. Only the rows are needed now: the scratch buffers, the sets
  // and the indexes are released first, and each relation's rows once appended (in a host space the rows are read
  // where they are, not copied).
  dj.release_scratch();
  for (auto& [slot, s] : dj.rel) {
    s.indexes.clear();
    s.rows.set = device_table<mem>{};
  }
  for (auto& [slot, s] : dj.rel) {
    if (!in_stratum[static_cast<std::size_t>(slot)] || s.size == s.initial) {
      s.rows.data = id_view<mem>{};
      continue;
    }
    const std::size_t a = static_cast<std::size_t>(s.rows.arity);
    const auto fresh = Kokkos::subview(s.rows.data, std::make_pair(s.initial * a, s.size * a));
    const auto host = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace{}, fresh);
    s.rows.data = id_view<mem>{};
    // (new to the relation: its set on the device held every row it had)
    relation_data& d = db.slot_data(slot);
    d.tuples->reserve_rows(s.size);
    if (options.provenance) d.provenance.resize(s.initial);
    for (std::size_t i = 0; i < s.size - s.initial; ++i) d.tuples->append_distinct(host.data() + i * a);
    if (options.provenance) d.provenance.insert(d.provenance.end(), s.provenance.begin(), s.provenance.end());
  }
  rep.kernel = "hash join (Kokkos)";
  return true;
}

}  // namespace tensorlogic::logic::detail
