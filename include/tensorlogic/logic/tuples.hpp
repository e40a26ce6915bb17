// Sparse relation storage for the Datalog engine: a tuple set (rows of dense symbol ids, appended in derivation
// order, deduplicated by an open-addressing hash table) and hash indexes on any subset of its columns, kept up to
// date incrementally. Rows are never removed or moved, so "the facts derived in the last iteration" is a row range
// and semi-naive evaluation needs no separate delta relations.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

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
    slots_.assign(16, 0);
  }

  int arity() const { return arity_; }
  std::size_t size() const { return rows_; }
  bool empty() const { return rows_ == 0; }
  const id_t* row(std::size_t r) const { return data_.data() + r * static_cast<std::size_t>(arity_); }
  const std::vector<id_t>& data() const { return data_; }

  // Adds the tuple if absent; true if it was new.
  bool insert(const id_t* t) {
    if (!hashed_) rehash(detail::table_size_for(rows_ + 1));
    if (detail::over_load(rows_ + 1, slots_.size())) grow();
    const std::size_t mask = slots_.size() - 1;
    const std::uint64_t h = detail::hash_columns(t, arity_, full_mask());
    const std::uint64_t tag = h & tag_mask;
    std::size_t s = h & mask;
    while (slots_[s] != 0) {
      if ((slots_[s] & tag_mask) == tag && detail::equal_columns(row(slot_row(s)), t, arity_, full_mask()))
        return false;
      s = (s + 1) & mask;
    }
    data_.insert(data_.end(), t, t + arity_);
    slots_[s] = tag | static_cast<std::uint64_t>(++rows_);
    return true;
  }
  bool insert(std::initializer_list<id_t> t) {
    if (static_cast<int>(t.size()) != arity_)
      throw error("tuple of " + std::to_string(t.size()) + " ids for a relation of arity " + std::to_string(arity_));
    return insert(t.begin());
  }

  // Appends a tuple the caller knows is absent; the hash table is rebuilt on the next insert or lookup.
  void append_distinct(const id_t* t) {
    data_.insert(data_.end(), t, t + arity_);
    ++rows_;
    if (hashed_) {
      slots_ = std::vector<std::uint64_t>();
      hashed_ = false;
    }
  }

  bool contains(const id_t* t) const {
    if (!hashed_) rehash(detail::table_size_for(rows_));
    const std::size_t mask = slots_.size() - 1;
    const std::uint64_t h = detail::hash_columns(t, arity_, full_mask());
    const std::uint64_t tag = h & tag_mask;
    std::size_t s = h & mask;
    while (slots_[s] != 0) {
      if ((slots_[s] & tag_mask) == tag && detail::equal_columns(row(slot_row(s)), t, arity_, full_mask()))
        return true;
      s = (s + 1) & mask;
    }
    return false;
  }

  void reserve(std::size_t n) {
    data_.reserve(n * static_cast<std::size_t>(arity_));
    if (hashed_ && detail::table_size_for(n) > slots_.size()) rehash(detail::table_size_for(n));
  }
  // Room for n rows without touching the hash table (for a run of append_distinct).
  void reserve_rows(std::size_t n) { data_.reserve(n * static_cast<std::size_t>(arity_)); }
  void clear() {
    data_.clear();
    rows_ = 0;
    slots_.assign(16, 0);
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
    out.reserve(data_.size());
    for (std::size_t r : order) out.insert(out.end(), row(r), row(r) + arity_);
    return out;
  }

  std::size_t bytes() const { return data_.capacity() * sizeof(id_t) + slots_.capacity() * sizeof(std::uint64_t); }

 private:
  unsigned full_mask() const { return (1u << arity_) - 1u; }
  void grow() { rehash(slots_.size() * 2); }
  void rehash(std::size_t n) const {
    if (n > (std::size_t{1} << 32))
      throw error("a relation grew past 2^31 tuples");
    std::vector<std::uint64_t> fresh(n, 0);
    const std::size_t mask = n - 1;
    for (std::size_t r = 0; r < rows_; ++r) {
      const std::uint64_t h = detail::hash_columns(row(r), arity_, full_mask());
      std::size_t s = h & mask;
      while (fresh[s] != 0) s = (s + 1) & mask;
      fresh[s] = (h & tag_mask) | static_cast<std::uint64_t>(r + 1);
    }
    slots_.swap(fresh);
    hashed_ = true;
  }

  int arity_;
  std::size_t rows_ = 0;
  std::vector<id_t> data_;
  // The high 32 bits of a tuple's hash (a tag that rejects most mismatches without reading the row), and row + 1
  // in the low 32 bits; 0 = empty.
  static constexpr std::uint64_t tag_mask = 0xffffffff00000000ULL;
  std::size_t slot_row(std::size_t s) const { return static_cast<std::size_t>(slots_[s] & 0xffffffffULL) - 1; }
  mutable std::vector<std::uint64_t> slots_;
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
    next_.resize(n, none);
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
    return slots_.capacity() * sizeof(std::uint32_t) + next_.capacity() * sizeof(std::uint32_t) +
           buckets_.capacity() * sizeof(bucket_t);
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
    if (detail::over_load(buckets_.size() + 1, slots_.size())) rehash(slots_.size() * 2);
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
    buckets_.push_back({static_cast<std::uint32_t>(r), static_cast<std::uint32_t>(r)});
    slots_[s] = static_cast<std::uint32_t>(buckets_.size());
  }

  void rehash(std::size_t n) {
    std::vector<std::uint32_t> fresh(n, 0);
    const std::size_t m = n - 1;
    for (std::size_t b = 0; b < buckets_.size(); ++b) {
      std::size_t s = detail::hash_columns(set_->row(buckets_[b].first), set_->arity(), mask_) & m;
      while (fresh[s] != 0) s = (s + 1) & m;
      fresh[s] = static_cast<std::uint32_t>(b + 1);
    }
    slots_.swap(fresh);
  }

  const tuple_set* set_;
  unsigned mask_;
  std::size_t indexed_ = 0;
  std::vector<std::uint32_t> slots_;  // bucket + 1
  std::vector<bucket_t> buckets_;
  std::vector<std::uint32_t> next_;  // row -> next row in its bucket
};

}  // namespace tensorlogic::logic
