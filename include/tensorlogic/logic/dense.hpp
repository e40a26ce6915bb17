// The bit-matrix kernel of the Datalog engine. A stratum whose rules all have the closure shape
//   H(x, z) <- A(., .), B(., .)   (A and B binary, sharing one variable y that is not in the head)
//   H(x, y) <- A(x, y)  or  A(y, x)
// over domains small enough for the memory budget runs on bit-packed Boolean matrices: the join of row x of A
// with B is the word-parallel OR of the rows B[y] for the set bits y of A[x] — a Boolean matrix product, 64 facts
// per word operation. Semi-naive as in the sparse engine: each iteration ORs only the previous iteration's new
// rows (dA) into the result, and for a recursive second operand walks the transposed first operand (A^T[y]) over
// the rows y that changed. The final facts are appended to the relations' tuple sets in row order.
#pragma once
#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <tensorlogic/logic/database.hpp>
#include <tensorlogic/logic/rules.hpp>

namespace tensorlogic::logic {

struct solve_options;
struct stratum_report;

namespace detail {

struct bit_matrix {
  std::size_t rows = 0, cols = 0, words = 0;
  std::vector<std::uint64_t> bits;

  void reset(std::size_t r, std::size_t c) {
    rows = r;
    cols = c;
    words = (c + 63) / 64;
    bits.assign(rows * words, 0);
  }
  std::uint64_t* row(std::size_t r) { return bits.data() + r * words; }
  const std::uint64_t* row(std::size_t r) const { return bits.data() + r * words; }
  bool set(std::size_t r, std::size_t c) {
    std::uint64_t& w = bits[r * words + c / 64];
    const std::uint64_t b = std::uint64_t{1} << (c % 64);
    const bool fresh = !(w & b);
    w |= b;
    return fresh;
  }
  static std::size_t bytes_for(std::size_t r, std::size_t c) { return r * ((c + 63) / 64) * 8; }
};

// Calls f(bit) for every set bit of a row of `words` words.
template <class F>
inline void for_each_bit(const std::uint64_t* row, std::size_t words, F&& f) {
  for (std::size_t w = 0; w < words; ++w) {
    std::uint64_t m = row[w];
    while (m) {
      f(w * 64 + static_cast<std::size_t>(std::countr_zero(m)));
      m &= m - 1;
    }
  }
}

// The set bits of each row of a matrix that does not change during the stratum, for rows too sparse to OR by words.
struct row_lists {
  std::vector<std::size_t> start;
  std::vector<std::uint32_t> cols;
  std::vector<char> sparse;  // row y has few enough bits to set one by one
  void build(const bit_matrix& m) {
    start.assign(m.rows + 1, 0);
    sparse.assign(m.rows, 0);
    cols.clear();
    for (std::size_t y = 0; y < m.rows; ++y) {
      std::size_t bits = 0;
      for (std::size_t w = 0; w < m.words; ++w) bits += static_cast<std::size_t>(std::popcount(m.row(y)[w]));
      if (4 * bits < m.words) {
        sparse[y] = 1;
        for_each_bit(m.row(y), m.words, [&](std::size_t c) { cols.push_back(static_cast<std::uint32_t>(c)); });
      }
      start[y + 1] = cols.size();
    }
  }
};

// A bit matrix with the list of its nonzero words, so that clearing and walking it cost what it holds.
struct tracked_matrix {
  bit_matrix m;
  std::vector<std::size_t> nonzero;  // flat word indices, each listed once

  void reset(std::size_t r, std::size_t c) {
    m.reset(r, c);
    nonzero.clear();
  }
  void or_word(std::size_t w, std::uint64_t bits) {
    if (!bits) return;
    if (!m.bits[w]) nonzero.push_back(w);
    m.bits[w] |= bits;
  }
  void set(std::size_t r, std::size_t c) { or_word(r * m.words + c / 64, std::uint64_t{1} << (c % 64)); }
  void clear() {
    for (std::size_t w : nonzero) m.bits[w] = 0;
    nonzero.clear();
  }
};

// One relation of a dense stratum: its matrix and transpose; for the stratum's heads also the facts new in the
// last iteration (both orientations) and the facts produced in this one.
struct dense_relation {
  relation_data* data = nullptr;
  bool head = false;
  bit_matrix m, mt;              // [a][b] and [b][a]
  tracked_matrix dm, dmt, next;  // heads only
  bool need_mt = false, need_dm = false, need_dmt = false;  // what the stratum's rules read
  row_lists lists, lists_t;      // sparse rows of m and mt (fixed relations only)
};

struct dense_rule {
  int head = -1;
  bool join = false;
  // operand relations and whether each is read transposed, in head orientation: A as [x][y], B as [y][z]
  int a = -1, b = -1;
  bool a_t = false, b_t = false;
};

inline const bit_matrix& oriented(const dense_relation& r, bool transposed) { return transposed ? r.mt : r.m; }
inline const tracked_matrix& oriented_delta(const dense_relation& r, bool transposed) {
  return transposed ? r.dmt : r.dm;
}

// next[x] |= m[y], by words or, for a sparse row of a fixed operand, bit by bit.
inline void or_row(dense_relation& h, std::size_t x, const bit_matrix& m, const row_lists* lists, std::size_t y) {
  const std::size_t base = x * h.next.m.words;
  if (lists && lists->sparse[y]) {
    for (std::size_t k = lists->start[y]; k < lists->start[y + 1]; ++k)
      h.next.or_word(base + lists->cols[k] / 64, std::uint64_t{1} << (lists->cols[k] % 64));
  } else {
    const std::uint64_t* src = m.row(y);
    for (std::size_t w = 0; w < m.words; ++w) h.next.or_word(base + w, src[w]);
  }
}

// Reads a rule as a dense rule, or returns false.
inline bool read_dense_rule(const rule& r, const std::vector<int>& slot_to_dense, dense_rule& out) {
  if (r.head.arity != 2 || !r.negative.empty() || !r.constraints.empty()) return false;
  if (r.positive.empty() || r.positive.size() > 2) return false;
  auto plain = [](const atom& a) {
    return a.arity == 2 && a.args[0].kind == arg_kind::variable && a.args[1].kind == arg_kind::variable &&
           a.args[0].var != a.args[1].var;
  };
  if (!plain(r.head)) return false;
  for (const atom& a : r.positive)
    if (!plain(a) || slot_to_dense[static_cast<std::size_t>(a.slot)] < 0) return false;
  const int x = r.head.args[0].var, z = r.head.args[1].var;
  out.head = slot_to_dense[static_cast<std::size_t>(r.head.slot)];
  if (r.positive.size() == 1) {
    const atom& a = r.positive[0];
    out.a = slot_to_dense[static_cast<std::size_t>(a.slot)];
    if (a.args[0].var == x && a.args[1].var == z) {
      out.a_t = false;
    } else if (a.args[0].var == z && a.args[1].var == x) {
      out.a_t = true;
    } else {
      return false;
    }
    return true;
  }
  // Two atoms: one holds x and y, the other y and z.
  const atom* p = &r.positive[0];
  const atom* q = &r.positive[1];
  auto has = [](const atom* a, int v) { return a->args[0].var == v || a->args[1].var == v; };
  if (!has(p, x)) std::swap(p, q);
  if (!has(p, x) || !has(q, z) || has(p, z) || has(q, x)) return false;
  const int y = p->args[0].var == x ? p->args[1].var : p->args[0].var;
  if (y == x || y == z || !has(q, y)) return false;
  out.join = true;
  out.a = slot_to_dense[static_cast<std::size_t>(p->slot)];
  out.a_t = p->args[0].var != x;  // A(y, x) is read as A^T[x][y]
  out.b = slot_to_dense[static_cast<std::size_t>(q->slot)];
  out.b_t = q->args[0].var != y;  // B(z, y) is read as B^T[y][z]
  return true;
}

// A stratum's rules read as dense rules, its binary relations and what each rule reads of them.
struct dense_stratum {
  std::vector<dense_relation> rel;
  std::vector<dense_rule> plan;
};

// Reads a stratum as a dense stratum when every rule has a dense shape and its matrices fit the memory budget (no
// matrix is built yet); false otherwise.
template <class Options, class Db>
bool plan_dense_stratum(const std::vector<rule>& rules, const std::vector<int>& mine, Db& db,
                        const std::vector<bool>& in_stratum, const Options& options, dense_stratum& out) {
  // The binary relations the stratum touches.
  std::vector<int> slot_to_dense(in_stratum.size(), -1);
  std::vector<dense_relation>& rel = out.rel;
  auto add = [&](int slot) {
    const auto s = static_cast<std::size_t>(slot);
    if (slot_to_dense[s] >= 0) return true;
    relation_data& d = db.slot_data(slot);
    if (d.tuples->arity() != 2) return false;
    slot_to_dense[s] = static_cast<int>(rel.size());
    dense_relation r;
    r.data = &d;
    r.head = in_stratum[s];
    rel.push_back(std::move(r));
    return true;
  };
  for (int k : mine) {
    const rule& r = rules[static_cast<std::size_t>(k)];
    if (!add(r.head.slot)) return false;
    for (const atom& a : r.positive)
      if (a.arity != 2 || !add(a.slot)) return false;
  }
  std::vector<dense_rule>& plan = out.plan;
  for (int k : mine) {
    dense_rule d;
    if (!read_dense_rule(rules[static_cast<std::size_t>(k)], slot_to_dense, d)) return false;
    plan.push_back(d);
  }
  // Which orientations each rule reads (a full operand transposed, or a head's delta in either orientation).
  auto need_full = [&](int r, bool transposed) {
    if (transposed) rel[static_cast<std::size_t>(r)].need_mt = true;
  };
  auto need_delta = [&](int r, bool transposed) {
    dense_relation& d = rel[static_cast<std::size_t>(r)];
    if (!d.head) return;
    (transposed ? d.need_dmt : d.need_dm) = true;
    need_full(r, transposed);
  };
  for (const dense_rule& d : plan) {
    need_full(d.a, d.a_t);
    need_delta(d.a, d.a_t);
    if (!d.join) continue;
    need_full(d.b, d.b_t);
    if (rel[static_cast<std::size_t>(d.b)].head) {
      need_full(d.a, !d.a_t);
      need_delta(d.b, d.b_t);
    }
  }
  // Memory: the matrices those are.
  std::size_t bytes = 0;
  for (const dense_relation& r : rel) {
    const std::size_t one = bit_matrix::bytes_for(r.data->domains[0]->size(), r.data->domains[1]->size());
    bytes += one * (1 + r.need_mt + (r.head ? 1 + r.need_dm + r.need_dmt : 0));
  }
  return bytes <= options.dense_max_bytes;
}

// The matrices m (and mt where read) of every relation, from its tuples.
inline void fill_dense_matrices(dense_stratum& ds) {
  for (dense_relation& r : ds.rel) {
    const std::size_t n0 = r.data->domains[0]->size(), n1 = r.data->domains[1]->size();
    r.m.reset(n0, n1);
    if (r.need_mt) r.mt.reset(n1, n0);
    const tuple_set& t = *r.data->tuples;
    for (std::size_t k = 0; k < t.size(); ++k) {
      r.m.set(t.row(k)[0], t.row(k)[1]);
      if (r.need_mt) r.mt.set(t.row(k)[1], t.row(k)[0]);
    }
  }
}

// Appends the facts of a head's final matrix that its tuple set did not hold, in row order; returns how many.
inline std::size_t append_matrix_facts(relation_data& data, const bit_matrix& m) {
  std::size_t total = 0;
  for (std::uint64_t w : m.bits) total += static_cast<std::size_t>(std::popcount(w));
  tuple_set& t = *data.tuples;
  const std::size_t had = t.size();
  t.reserve_rows(total);
  // The facts the relation held are bits of m too; a bit matrix of them tells which rows to skip.
  bit_matrix old;
  old.reset(m.rows, m.cols);
  for (std::size_t k = 0; k < had; ++k) old.set(t.row(k)[0], t.row(k)[1]);
  for (std::size_t x = 0; x < m.rows; ++x) {
    const std::uint64_t* mx = m.row(x);
    const std::uint64_t* ox = old.row(x);
    for (std::size_t w = 0; w < m.words; ++w) {
      std::uint64_t fresh = mx[w] & ~ox[w];
      while (fresh) {
        const std::size_t z = w * 64 + static_cast<std::size_t>(std::countr_zero(fresh));
        const id_t fact[2] = {static_cast<id_t>(x), static_cast<id_t>(z)};
        t.append_distinct(fact);
        fresh &= fresh - 1;
      }
    }
  }
  return t.size() - had;
}

// The semi-naive schedule of a dense stratum: apply(true) on whole operands, then apply(false) on the deltas while
// close() reports new facts (a recursive stratum only, up to options.max_iterations); returns the iterations.
template <class Apply, class Close, class Options>
long semi_naive(Apply& apply, Close& close, const bool recursive, const Options& options) {
  apply(true);
  long iterations = 1;
  bool more = close();
  while (more && recursive && (options.max_iterations < 0 || iterations < options.max_iterations)) {
    apply(false);
    ++iterations;
    more = close();
  }
  return iterations;
}

// Runs one stratum on bit matrices on the host if every rule fits and the matrices fit the budget; false leaves the
// database untouched.
template <class Options, class Report, class Db>
bool try_dense_stratum(const std::vector<rule>& rules, const std::vector<int>& mine, Db& db,
                       const std::vector<bool>& in_stratum, const Options& options, Report& report) {
  dense_stratum ds;
  if (!plan_dense_stratum(rules, mine, db, in_stratum, options, ds)) return false;
  std::vector<dense_relation>& rel = ds.rel;
  const std::vector<dense_rule>& plan = ds.plan;
  fill_dense_matrices(ds);
  for (dense_relation& r : rel) {
    const std::size_t n0 = r.m.rows, n1 = r.m.cols;
    if (!r.head) {
      r.lists.build(r.m);
      if (r.need_mt) r.lists_t.build(r.mt);
    } else {
      if (r.need_dm) r.dm.reset(n0, n1);
      if (r.need_dmt) r.dmt.reset(n1, n0);
      r.next.reset(n0, n1);
    }
  }

  // Applies every rule; `first` uses whole operands, later iterations the deltas (semi-naive).
  auto apply = [&](bool first) {
    for (const dense_rule& d : plan) {
      dense_relation& h = rel[static_cast<std::size_t>(d.head)];
      const dense_relation& a = rel[static_cast<std::size_t>(d.a)];
      if (!d.join) {
        if (first) {
          const bit_matrix& src = oriented(a, d.a_t);
          for (std::size_t w = 0; w < src.bits.size(); ++w) h.next.or_word(w, src.bits[w]);
        } else if (a.head) {
          const tracked_matrix& src = oriented_delta(a, d.a_t);
          for (std::size_t w : src.nonzero) h.next.or_word(w, src.m.bits[w]);
        }
        continue;
      }
      const dense_relation& b = rel[static_cast<std::size_t>(d.b)];
      const bit_matrix& bm = oriented(b, d.b_t);
      const row_lists* bl = b.head ? nullptr : (d.b_t ? &b.lists_t : &b.lists);
      if (first) {
        const bit_matrix& am = oriented(a, d.a_t);
        for (std::size_t x = 0; x < am.rows; ++x)
          for_each_bit(am.row(x), am.words, [&](std::size_t y) { or_row(h, x, bm, bl, y); });
        continue;
      }
      if (a.head) {  // dA[x][y] B[y][z]
        const tracked_matrix& da = oriented_delta(a, d.a_t);
        for (std::size_t w : da.nonzero) {
          const std::size_t x = w / da.m.words, y0 = (w % da.m.words) * 64;
          for (std::uint64_t bits = da.m.bits[w]; bits; bits &= bits - 1)
            or_row(h, x, bm, bl, y0 + static_cast<std::size_t>(std::countr_zero(bits)));
        }
      }
      if (b.head) {  // A[x][y] dB[y][z], walking A^T[y] for the changed words of dB
        const bit_matrix& at = oriented(a, !d.a_t);
        const tracked_matrix& dbm = oriented_delta(b, d.b_t);
        const std::size_t hw = h.next.m.words;
        for (std::size_t w : dbm.nonzero) {
          const std::size_t y = w / dbm.m.words, cw = w % dbm.m.words;
          const std::uint64_t bits = dbm.m.bits[w];
          for_each_bit(at.row(y), at.words, [&](std::size_t x) { h.next.or_word(x * hw + cw, bits); });
        }
      }
    }
  };

  // Moves next & ~m into the deltas and into m; true if anything was new.
  auto close_iteration = [&]() {
    bool any = false;
    for (dense_relation& r : rel) {
      if (!r.head) continue;
      r.dm.clear();
      r.dmt.clear();
      const std::size_t words = r.m.words;
      for (std::size_t w : r.next.nonzero) {
        const std::uint64_t fresh = r.next.m.bits[w] & ~r.m.bits[w];
        r.next.m.bits[w] = 0;
        if (!fresh) continue;
        any = true;
        r.m.bits[w] |= fresh;
        if (r.need_dm) r.dm.or_word(w, fresh);
        if (!r.need_mt) continue;
        const std::size_t x = w / words, z0 = (w % words) * 64;
        for (std::uint64_t bits = fresh; bits; bits &= bits - 1) {
          const std::size_t z = z0 + static_cast<std::size_t>(std::countr_zero(bits));
          r.mt.set(z, x);
          if (r.need_dmt) r.dmt.set(z, x);
        }
      }
      r.next.nonzero.clear();
    }
    return any;
  };

  report.iterations = semi_naive(apply, close_iteration, report.recursive, options);
  report.kernel = "bit matrix";

  // The new facts, appended in row order (facts that were there before are skipped by the set itself).
  for (dense_relation& r : rel)
    if (r.head) report.derived += append_matrix_facts(*r.data, r.m);
  return true;
}

}  // namespace detail
}  // namespace tensorlogic::logic
