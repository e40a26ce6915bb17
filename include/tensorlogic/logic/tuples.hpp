// Sparse relation storage for the Datalog engine: a tuple set (rows of dense symbol ids, appended in derivation
// order, deduplicated by an open-addressing hash table), hash indexes on any subset of its columns, kept up to
// date incrementally (for the relations a stratum derives), and sorted CSR indexes (for the relations it only
// reads). Rows are never removed or moved, so "the facts derived in the last iteration" is a row range
// and semi-naive evaluation needs no separate delta relations.
#pragma once
#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#include <Kokkos_Macros.hpp>
#include <tensorlogic/core/error.hpp>

namespace tensorlogic::logic {

// A symbol's dense id inside its domain.
using id_t = std::uint32_t;

// The most arguments a relation may have in the Datalog engine.
inline constexpr int max_arity = 8;

namespace detail {

KOKKOS_INLINE_FUNCTION std::uint64_t mix(std::uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

// Hash of the columns of `row` selected by `mask` (bit k = column k). (These three also run in the Kokkos join's
// kernels, logic/join_device.hpp.)
KOKKOS_INLINE_FUNCTION std::uint64_t hash_columns(const id_t* row, int arity, unsigned mask) {
  std::uint64_t h = 0x9e3779b97f4a7c15ULL;
  for (int k = 0; k < arity; ++k)
    if (mask & (1u << k)) h = mix(h ^ (static_cast<std::uint64_t>(row[k]) + 0x632be59bd9b4e019ULL * (k + 1)));
  return h;
}

KOKKOS_INLINE_FUNCTION bool equal_columns(const id_t* a, const id_t* b, int arity, unsigned mask) {
  for (int k = 0; k < arity; ++k)
    if ((mask & (1u << k)) && a[k] != b[k]) return false;
  return true;
}

// Advises the kernel to back the 2 MiB-aligned stretches of [p, p + bytes) with transparent huge pages (Linux; a
// no-op elsewhere, and for blocks under 2 MiB). Takes effect on the pages not yet touched.
inline void advise_huge_pages(void* p, const std::size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr std::uintptr_t page = 4096;
  const std::uintptr_t begin = (reinterpret_cast<std::uintptr_t>(p) + page - 1) / page * page;
  const std::uintptr_t end = (reinterpret_cast<std::uintptr_t>(p) + bytes) / page * page;
  if (bytes >= (std::size_t{2} << 20) && end > begin)
    madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#else
  (void)p;
  (void)bytes;
#endif
}

// An allocator for the engine's large arrays (hash tables and rows, hundreds of MB on big closures): blocks of
// 2 MiB or more are 2 MiB-aligned and, on Linux, advised to use transparent huge pages, so that their random probes
// miss the TLB far less often and filling them costs a page fault per 2 MiB instead of per 4 KiB.
template <class T>
struct large_array_allocator {
  using value_type = T;
  static constexpr std::size_t huge = std::size_t{2} << 20;
  large_array_allocator() = default;
  template <class U>
  large_array_allocator(const large_array_allocator<U>&) {}
  T* allocate(std::size_t n) {
    const std::size_t bytes = n * sizeof(T);
    if (bytes < huge) return std::allocator<T>().allocate(n);
    void* p = std::aligned_alloc(huge, (bytes + huge - 1) / huge * huge);
    if (!p) throw std::bad_alloc();
    advise_huge_pages(p, (bytes + huge - 1) / huge * huge);
    return static_cast<T*>(p);
  }
  void deallocate(T* p, std::size_t n) {
    if (n * sizeof(T) < huge) std::allocator<T>().deallocate(p, n);
    else std::free(p);
  }
  template <class U>
  bool operator==(const large_array_allocator<U>&) const { return true; }
};
template <class T>
using large_vector = std::vector<T, large_array_allocator<T>>;

// Blocks for mapped_array (below): zero-filled, 2 MiB-aligned; on Linux each its own anonymous mapping, advised to use
// transparent huge pages.
inline void* map_block(const std::size_t bytes) {
  constexpr std::size_t huge = std::size_t{2} << 20;
#if defined(__linux__)
  const std::size_t span = bytes + huge;
  void* p = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  const std::uintptr_t b = reinterpret_cast<std::uintptr_t>(p);
  const std::uintptr_t a = (b + huge - 1) / huge * huge;
  if (a > b) munmap(p, a - b);
  if (b + span > a + bytes) munmap(reinterpret_cast<void*>(a + bytes), b + span - (a + bytes));
  advise_huge_pages(reinterpret_cast<void*>(a), bytes);
  return reinterpret_cast<void*>(a);
#else
  void* p = std::aligned_alloc(huge, bytes);
  if (!p) throw std::bad_alloc();
  std::memset(p, 0, bytes);
  return p;
#endif
}
inline void unmap_block(void* p, const std::size_t bytes) {
#if defined(__linux__)
  munmap(p, bytes);
#else
  (void)bytes;
  std::free(p);
#endif
}
// Makes a block of `bytes` from map_block `larger` (zero beyond `bytes`) without copying it: extended where it lies
// if the addresses after it are free, else its pages moved by the kernel into a fresh 2 MiB-aligned range. Null
// where that cannot be done (the caller copies).
inline void* remap_block(void* p, const std::size_t bytes, const std::size_t larger) {
#if defined(__linux__) && defined(MREMAP_MAYMOVE) && defined(MREMAP_FIXED)
  constexpr std::size_t huge = std::size_t{2} << 20;
  void* q = mremap(p, bytes, larger, 0);
  if (q == MAP_FAILED) {
    const std::size_t span = larger + huge;
    void* r = mmap(nullptr, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r == MAP_FAILED) return nullptr;
    const std::uintptr_t b = reinterpret_cast<std::uintptr_t>(r);
    const std::uintptr_t a = (b + huge - 1) / huge * huge;
    if (a > b) munmap(r, a - b);
    if (b + span > a + larger) munmap(reinterpret_cast<void*>(a + larger), b + span - (a + larger));
    q = mremap(p, bytes, larger, MREMAP_MAYMOVE | MREMAP_FIXED, reinterpret_cast<void*>(a));
    if (q == MAP_FAILED) {
      munmap(reinterpret_cast<void*>(a), larger);
      return nullptr;
    }
  }
  advise_huge_pages(q, larger);
  return q;
#else
  (void)p;
  (void)bytes;
  (void)larger;
  return nullptr;
#endif
}

// A zero-filled array of a trivially copyable T whose grow(n) keeps its elements and zero-fills the new ones. Arrays
// of 2 MiB or more are blocks of their own (map_block), which on Linux grow by mremap: the kernel extends the block or
// moves its pages into a larger range, so a growth copies nothing and the old and the new array are never in memory
// together (a hash table's doubling peaks at the new table, not at the old and the new one; rows grow without a
// copy). Smaller arrays live on the heap.
template <class T>
class mapped_array {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  mapped_array() = default;
  explicit mapped_array(const std::size_t n) { grow(n); }
  mapped_array(const mapped_array& o) : mapped_array(o.n_) {
    if (o.n_ > 0) std::memcpy(p_, o.p_, bytes_of(o.n_));
  }
  mapped_array(mapped_array&& o) noexcept : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  mapped_array& operator=(mapped_array o) noexcept {
    swap(o);
    return *this;
  }
  ~mapped_array() { release(p_, n_); }
  void swap(mapped_array& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(n_, o.n_);
  }

  T* data() { return p_; }
  const T* data() const { return p_; }
  std::size_t size() const { return n_; }
  T& operator[](const std::size_t i) { return p_[i]; }
  const T& operator[](const std::size_t i) const { return p_[i]; }

  void grow(const std::size_t n) {
    if (n <= n_) return;
    if (!large(n)) {
      void* q = std::realloc(p_, bytes_of(n));
      if (!q) throw std::bad_alloc();
      std::memset(static_cast<char*>(q) + bytes_of(n_), 0, bytes_of(n) - bytes_of(n_));
      p_ = static_cast<T*>(q);
    } else if (void* q = large(n_) ? remap_block(p_, block_bytes(n_), block_bytes(n)) : nullptr) {
      p_ = static_cast<T*>(q);
    } else {
      T* fresh = static_cast<T*>(map_block(block_bytes(n)));
      if (n_ > 0) std::memcpy(fresh, p_, bytes_of(n_));
      release(p_, n_);
      p_ = fresh;
    }
    n_ = n;
  }

 private:
  static constexpr std::size_t huge = std::size_t{2} << 20;
  static std::size_t bytes_of(const std::size_t n) { return n * sizeof(T); }
  static bool large(const std::size_t n) { return bytes_of(n) >= huge; }
  static std::size_t block_bytes(const std::size_t n) { return (bytes_of(n) + huge - 1) / huge * huge; }
  static void release(T* p, const std::size_t n) {
    if (!p) return;
    if (large(n))
      unmap_block(p, block_bytes(n));
    else
      std::free(p);
  }

  T* p_ = nullptr;
  std::size_t n_ = 0;
};

// Open-addressing tables stay at most 70% full.
inline bool over_load(std::size_t entries, std::size_t slots) { return 10 * entries > 7 * slots; }
inline std::size_t table_size_for(std::size_t n) {
  std::size_t s = 16;
  while (over_load(n, s)) s <<= 1;
  return s;
}

}  // namespace detail

// Rows of `arity` ids; insert() keeps the set property; row(r) is stable for the set's lifetime.
class tuple_set {
 public:
  explicit tuple_set(int arity = 1) : arity_(arity) {
    if (arity < 1 || arity > max_arity)
      throw error("a relation's arity must be between 1 and " + std::to_string(max_arity) + ", got " +
                  std::to_string(arity));
  }

  int arity() const { return arity_; }
  std::size_t size() const { return rows_; }
  bool empty() const { return rows_ == 0; }
  const id_t* row(std::size_t r) const { return data_.data() + r * static_cast<std::size_t>(arity_); }
  // The rows, one after another.
  std::span<const id_t> data() const { return {data_.data(), rows_ * static_cast<std::size_t>(arity_)}; }

  // Adds the tuple if absent; true if it was new.
  bool insert(const id_t* t) { return insert_hashed(t, hash_of(t)); }
  // The same, with h = hash_of(t) computed (and prefetch(h) issued) some time before.
  bool insert_hashed(const id_t* t, const std::uint64_t h) {
    if (!hashed_) rehash(detail::table_size_for(rows_ + 1));
    if (detail::over_load(rows_ + 1, slots_.size())) grow();
    const std::size_t mask = slots_.size() - 1;
    const std::uint64_t tag = h & tag_mask;
    std::size_t s = home(h, slots_.size());
    while (slots_[s] != 0) {
      if ((slots_[s] & tag_mask) == tag && detail::equal_columns(row(slot_row(s)), t, arity_, full_mask()))
        return false;
      s = (s + 1) & mask;
    }
    push_row(t);
    slots_[s] = tag | static_cast<std::uint64_t>(rows_);
    return true;
  }
  bool insert(std::initializer_list<id_t> t) {
    if (static_cast<int>(t.size()) != arity_)
      throw error("tuple of " + std::to_string(t.size()) + " ids for a relation of arity " + std::to_string(arity_));
    return insert(t.begin());
  }

  std::uint64_t hash_of(const id_t* t) const { return detail::hash_columns(t, arity_, full_mask()); }
  // Starts loading the slot where a tuple of hash h probes first, so that a run of insertions can overlap their
  // cache misses (the table is large and the probes random).
  void prefetch(const std::uint64_t h) const {
    if (hashed_) __builtin_prefetch(slots_.data() + home(h, slots_.size()));
  }

  // Appends a tuple the caller knows is absent; the hash table is rebuilt on the next insert or lookup.
  void append_distinct(const id_t* t) {
    push_row(t);
    if (hashed_) {
      slots_ = detail::mapped_array<std::uint64_t>();
      hashed_ = false;
    }
  }

  bool contains(const id_t* t) const {
    if (!hashed_) rehash(detail::table_size_for(rows_));
    const std::size_t mask = slots_.size() - 1;
    const std::uint64_t h = detail::hash_columns(t, arity_, full_mask());
    const std::uint64_t tag = h & tag_mask;
    std::size_t s = home(h, slots_.size());
    while (slots_[s] != 0) {
      if ((slots_[s] & tag_mask) == tag && detail::equal_columns(row(slot_row(s)), t, arity_, full_mask()))
        return true;
      s = (s + 1) & mask;
    }
    return false;
  }

  void reserve(std::size_t n) {
    reserve_rows(n);
    if (hashed_ && detail::table_size_for(n) > slots_.size()) rehash(detail::table_size_for(n));
  }
  // Room for n rows without touching the hash table (for a run of append_distinct).
  void reserve_rows(std::size_t n) { data_.grow(n * static_cast<std::size_t>(arity_)); }
  // Empties the set (its rows' storage kept).
  void clear() {
    rows_ = 0;
    ++clears_;
    slots_ = detail::mapped_array<std::uint64_t>(16);
    hashed_ = true;
  }

  // All rows in lexicographic order (a copy).
  std::vector<id_t> sorted() const {
    std::vector<std::size_t> order(rows_);
    for (std::size_t r = 0; r < rows_; ++r) order[r] = r;
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      return std::lexicographical_compare(row(a), row(a) + arity_, row(b), row(b) + arity_);
    });
    std::vector<id_t> out;
    out.reserve(rows_ * static_cast<std::size_t>(arity_));
    for (std::size_t r : order) out.insert(out.end(), row(r), row(r) + arity_);
    return out;
  }

  std::size_t bytes() const { return data_.size() * sizeof(id_t) + slots_.size() * sizeof(std::uint64_t); }
  // How many times clear() ran (with size(), tells a sorted index whether its rows are still the set's).
  std::size_t clears() const { return clears_; }

 private:
  unsigned full_mask() const { return (1u << arity_) - 1u; }
  // A slot's position: the top log2(slots) bits of the hash. A slot keeps the hash's top 32 bits, so doubling the
  // table moves the slots without reading the rows, and in order (a slot's new position is about twice its old).
  static std::size_t home(const std::uint64_t h, const std::size_t slots) {
    return static_cast<std::size_t>(h >> (64 - std::countr_zero(slots)));
  }
  static void check_table_size(const std::size_t n) {
    if (n > (std::size_t{1} << 32)) throw error("a relation grew past 2^31 tuples");
  }
  // Appends a row (the rows' array doubles when full; see mapped_array).
  void push_row(const id_t* t) {
    if (rows_ >= max_rows) throw error("a relation grew past 2^31 tuples");
    const std::size_t a = static_cast<std::size_t>(arity_), at = rows_ * a;
    if (at + a > data_.size()) data_.grow(std::max<std::size_t>(64 * a, 2 * data_.size()));
    std::copy(t, t + a, data_.data() + at);
    ++rows_;
  }
  // Doubles the table in place (its second half zero; see mapped_array), each slot moved from its position in the
  // first half to its place in the doubled table, marked by `moved` in the row number's top bit (free: row + 1 is
  // below 2^31). Slot i's entry, unless moved, is taken out and placed at the first slot from its new home that
  // holds no moved entry; if that slot holds an entry not yet moved, that entry is taken out and placed in turn.
  // Moved entries never move again, so every one keeps the probe sequence from its home to its slot unbroken, and
  // the positions come from the hash's top bits that the slot keeps: no row is read. The new homes are about twice
  // the old positions, so the pass walks the table in order.
  void grow() {
    const std::size_t old = slots_.size(), n = old * 2;
    check_table_size(n);
    slots_.grow(n);
    std::uint64_t* t = slots_.data();
    const std::size_t mask = n - 1;
    constexpr std::uint64_t moved = std::uint64_t{1} << 31;
    for (std::size_t i = 0; i < old; ++i) {
      std::uint64_t v = t[i];
      if (v == 0 || (v & moved)) continue;
      t[i] = 0;
      for (;;) {
        std::size_t s = home(v, n);
        while (t[s] & moved) s = (s + 1) & mask;
        const std::uint64_t d = t[s];
        t[s] = v | moved;
        if (d == 0) break;
        v = d;
      }
    }
    for (std::size_t i = 0; i < n; ++i) t[i] &= ~moved;
  }
  void rehash(std::size_t n) const {
    check_table_size(n);
    detail::mapped_array<std::uint64_t> fresh(n);
    const std::size_t mask = n - 1;
    for (std::size_t r = 0; r < rows_; ++r) {
      const std::uint64_t h = detail::hash_columns(row(r), arity_, full_mask());
      std::size_t s = home(h, n);
      while (fresh[s] != 0) s = (s + 1) & mask;
      fresh[s] = (h & tag_mask) | static_cast<std::uint64_t>(r + 1);
    }
    slots_.swap(fresh);
    hashed_ = true;
  }

  static constexpr std::size_t max_rows = (std::size_t{1} << 31) - 2;
  int arity_;
  std::size_t rows_ = 0, clears_ = 0;
  detail::mapped_array<id_t> data_;  // rows_ * arity_ ids in use
  // The high 32 bits of a tuple's hash (its position's bits and a tag that rejects most mismatches without reading
  // the row), and row + 1 in the low 32 bits; 0 = empty.
  static constexpr std::uint64_t tag_mask = 0xffffffff00000000ULL;
  std::size_t slot_row(std::size_t s) const { return static_cast<std::size_t>(slots_[s] & 0xffffffffULL) - 1; }
  mutable detail::mapped_array<std::uint64_t> slots_{16};
  mutable bool hashed_ = true;                // false after append_distinct until the next rehash
};

// A hash index of a tuple set on the columns in `mask`: the rows sharing those columns' values, in row order.
// sync() indexes the rows appended since the last call.
class column_index {
 public:
  column_index(const tuple_set& set, unsigned mask) : set_(&set), mask_(mask) { slots_.assign(16, 0); }

  unsigned mask() const { return mask_; }

  void sync() {
    const std::size_t n = set_->size();
    if (indexed_ == n) return;
    if (n > next_.size()) next_.grow(std::max(n, 2 * next_.size()));
    for (std::size_t r = indexed_; r < n; ++r) add(r);
    indexed_ = n;
  }

  // Calls f(row) for every indexed row whose masked columns equal those of `key` (a full-width tuple whose other
  // columns are ignored), in row order, until f returns false.
  template <class F>
  void for_each(const id_t* key, F&& f) const {
    const std::size_t bucket = find(key);
    if (bucket == none) return;
    for (std::uint32_t r = buckets_[bucket].first; r != none; r = next_[r])
      if (!f(static_cast<std::size_t>(r))) return;
  }

  std::size_t bytes() const {
    return slots_.capacity() * sizeof(std::uint32_t) + next_.size() * sizeof(std::uint32_t) +
           buckets_.size() * sizeof(bucket_t);
  }

 private:
  static constexpr std::uint32_t none = 0xffffffffu;
  struct bucket_t {
    std::uint32_t first, last;
  };

  std::size_t find(const id_t* key) const {
    const std::size_t m = slots_.size() - 1;
    std::size_t s = detail::hash_columns(key, set_->arity(), mask_) & m;
    while (slots_[s] != 0) {
      const std::size_t b = slots_[s] - 1;
      if (detail::equal_columns(set_->row(buckets_[b].first), key, set_->arity(), mask_)) return b;
      s = (s + 1) & m;
    }
    return none;
  }

  void add(std::size_t r) {
    const id_t* t = set_->row(r);
    next_[r] = none;
    if (detail::over_load(n_buckets_ + 1, slots_.size())) rehash(slots_.size() * 2);
    const std::size_t m = slots_.size() - 1;
    std::size_t s = detail::hash_columns(t, set_->arity(), mask_) & m;
    while (slots_[s] != 0) {
      bucket_t& b = buckets_[slots_[s] - 1];
      if (detail::equal_columns(set_->row(b.first), t, set_->arity(), mask_)) {
        next_[b.last] = static_cast<std::uint32_t>(r);
        b.last = static_cast<std::uint32_t>(r);
        return;
      }
      s = (s + 1) & m;
    }
    if (n_buckets_ == buckets_.size()) buckets_.grow(std::max<std::size_t>(64, 2 * buckets_.size()));
    buckets_[n_buckets_++] = {static_cast<std::uint32_t>(r), static_cast<std::uint32_t>(r)};
    slots_[s] = static_cast<std::uint32_t>(n_buckets_);
  }

  void rehash(std::size_t n) {
    detail::large_vector<std::uint32_t> fresh(n, 0);
    const std::size_t m = n - 1;
    for (std::size_t b = 0; b < n_buckets_; ++b) {
      std::size_t s = detail::hash_columns(set_->row(buckets_[b].first), set_->arity(), mask_) & m;
      while (fresh[s] != 0) s = (s + 1) & m;
      fresh[s] = static_cast<std::uint32_t>(b + 1);
    }
    slots_.swap(fresh);
  }

  const tuple_set* set_;
  unsigned mask_;
  std::size_t indexed_ = 0, n_buckets_ = 0;
  detail::large_vector<std::uint32_t> slots_;  // bucket + 1
  detail::mapped_array<bucket_t> buckets_;     // the first n_buckets_ in use
  detail::mapped_array<std::uint32_t> next_;   // row -> next row in its bucket (rows < indexed_)
};

// A sorted index of a tuple set that does not change while it is read (in a solve: a relation the running stratum
// reads but does not derive) on the columns in `mask`: the rows copied contiguously in lexicographic order of the
// key columns, then the others (sorted COO), with offsets by the first key column's id (CSR). A lookup takes the
// id's row range and, when there are more key columns, narrows it by binary search. Built in O(rows + ids) by a
// counting sort on the first key column plus a sort inside each group of more than one row.
class sorted_index {
 public:
  sorted_index(const tuple_set& set, unsigned mask) : set_(&set), arity_(set.arity()), mask_(mask) {
    for (int c = 0; c < arity_; ++c)
      if (mask & (1u << c)) order_[keys_++] = c;
    for (int c = 0, k = keys_; c < arity_; ++c)
      if (!(mask & (1u << c))) order_[k++] = c;
    if (keys_ == 0) throw error("a sorted index needs at least one key column");
    build();
  }

  unsigned mask() const { return mask_; }
  // True while the set has the rows the index was built from (rows are only appended, or all cleared).
  bool current() const { return built_rows_ == set_->size() && built_clears_ == set_->clears(); }
  void rebuild() {
    if (!current()) build();
  }

  // Calls f(row) (a pointer to `arity` ids) for every row whose key columns equal those of `key` (a full-width
  // tuple whose other columns are ignored), in sorted order, until f returns false.
  template <class F>
  void for_each(const id_t* key, F&& f) const {
    const id_t v = key[order_[0]];
    if (static_cast<std::size_t>(v) + 1 >= offsets_.size()) return;
    std::size_t lo = offsets_[v], hi = offsets_[static_cast<std::size_t>(v) + 1];
    if (keys_ > 1 && lo < hi) {
      // narrow [lo, hi) to the rows whose remaining key columns equal the key's
      std::size_t a = lo, b = hi;
      while (a < b) {
        const std::size_t m = a + (b - a) / 2;
        if (compare_key(row(m), key) < 0) a = m + 1; else b = m;
      }
      lo = a;
      b = hi;
      while (a < b) {
        const std::size_t m = a + (b - a) / 2;
        if (compare_key(row(m), key) <= 0) a = m + 1; else b = m;
      }
      hi = a;
    }
    for (std::size_t r = lo; r < hi; ++r)
      if (!f(row(r))) return;
  }

  std::size_t size() const { return built_rows_; }
  std::size_t bytes() const {
    return rows_.capacity() * sizeof(id_t) + offsets_.capacity() * sizeof(std::uint32_t);
  }

 private:
  const id_t* row(std::size_t r) const { return rows_.data() + r * static_cast<std::size_t>(arity_); }
  // Compares the key columns after the first (the group's own) of a and b.
  int compare_key(const id_t* a, const id_t* b) const {
    for (int k = 1; k < keys_; ++k) {
      const int c = order_[k];
      if (a[c] != b[c]) return a[c] < b[c] ? -1 : 1;
    }
    return 0;
  }

  void build() {
    const std::size_t n = set_->size();
    const int first = order_[0];
    const std::size_t width = static_cast<std::size_t>(arity_);
    id_t top = 0;
    for (std::size_t r = 0; r < n; ++r) top = std::max(top, set_->row(r)[first]);
    offsets_.assign(n == 0 ? 1 : static_cast<std::size_t>(top) + 2, 0);
    for (std::size_t r = 0; r < n; ++r) ++offsets_[static_cast<std::size_t>(set_->row(r)[first]) + 1];
    for (std::size_t k = 1; k < offsets_.size(); ++k) offsets_[k] += offsets_[k - 1];
    std::vector<std::uint32_t> at(offsets_.begin(), offsets_.end() - 1), order(n);
    for (std::size_t r = 0; r < n; ++r) order[at[set_->row(r)[first]]++] = static_cast<std::uint32_t>(r);
    auto less = [&](std::uint32_t a, std::uint32_t b) {
      const id_t *x = set_->row(a), *y = set_->row(b);
      for (int k = 1; k < arity_; ++k)
        if (x[order_[k]] != y[order_[k]]) return x[order_[k]] < y[order_[k]];
      return false;
    };
    for (std::size_t g = 0; g + 1 < offsets_.size(); ++g)
      if (offsets_[g + 1] - offsets_[g] > 1)
        std::sort(order.begin() + offsets_[g], order.begin() + offsets_[g + 1], less);
    rows_.resize(n * width);
    for (std::size_t r = 0; r < n; ++r) std::copy_n(set_->row(order[r]), width, rows_.data() + r * width);
    built_rows_ = n;
    built_clears_ = set_->clears();
  }

  const tuple_set* set_;
  int arity_;
  unsigned mask_;
  int keys_ = 0;
  int order_[max_arity]{};  // the key columns (ascending), then the others
  std::size_t built_rows_ = 0, built_clears_ = 0;
  detail::large_vector<id_t> rows_;
  // the first key column's id -> its first row; one past the largest id at the end
  detail::large_vector<std::uint32_t> offsets_;
};

}  // namespace tensorlogic::logic
