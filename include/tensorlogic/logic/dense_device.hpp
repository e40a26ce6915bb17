// The bit-matrix kernel of the Datalog engine as Kokkos kernels, for tl::logic::solve(prog, db, options, space):
// the strata that dense.hpp runs on the host run in `space` (any Kokkos backend: Serial, OpenMP, CUDA, HIP), on
// matrices in its memory space. Same rules, same semi-naive iteration and the same facts as the host kernel; what
// differs is how an iteration finds its work. The host kernel lists nonzero words; here every matrix row has a flag
// (a row of the delta holds a fact, a row of `next` was written) and one work item works one row (a team on a device,
// its threads sharing the row's words; one thread on the host):
//   apply  next[x] |= OR of B[y] over the set bits y of A[x]  (A: the operand or its delta, rows skipped by flag;
//          for A dB the bits y whose delta row is empty are skipped), or next[x] |= A[x] for a copy rule;
//   clear  the transposed deltas' flagged rows;
//   close  fresh = next[x] & ~m[x]; m[x] |= fresh; delta[x] = fresh; the transposes get fresh's bits by atomic OR;
//          the number of fresh bits is reduced to decide whether to go on.
// The final matrices are copied to the host and appended to the tuple sets.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <Kokkos_Core.hpp>
#include <tensorlogic/logic/dense.hpp>

namespace tensorlogic::logic::detail {

KOKKOS_INLINE_FUNCTION int bit_count(const std::uint64_t w) {
#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__)
  return __popcll(static_cast<unsigned long long>(w));
#else
  return __builtin_popcountll(w);
#endif
}
KOKKOS_INLINE_FUNCTION int lowest_bit(const std::uint64_t w) {  // w != 0
#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__)
  return __ffsll(static_cast<long long>(w)) - 1;
#else
  return __builtin_ctzll(w);
#endif
}

template <class Mem>
using device_bits = Kokkos::View<std::uint64_t**, Kokkos::LayoutRight, Mem>;
template <class Mem>
using device_flags = Kokkos::View<int*, Mem>;

// next[x] |= OR of b[y] over the set bits y of a[x]; rows x with a_rows(x) == 0 skipped, and bits y with
// b_rows(y) == 0 (when b_rows is given). Also a copy: next[x] |= a[x] (copy = true).
template <class Mem, class Member>
struct join_rows_kernel {
  device_bits<Mem> a, b, next;
  device_flags<Mem> a_rows, b_rows, next_rows;
  bool use_a_rows = false, use_b_rows = false, copy = false;

  KOKKOS_INLINE_FUNCTION void operator()(const Member& team) const {
    row(team.league_rank(), team.team_rank(), team.team_size());
  }
  KOKKOS_INLINE_FUNCTION void operator()(const long x) const { row(x, 0, 1); }
  // Row x, this thread's words w = rank, rank + size, ...
  KOKKOS_INLINE_FUNCTION void row(const long x, const long rank, const long size) const {
    if (use_a_rows && !a_rows(x)) return;
    const long out_words = static_cast<long>(next.extent(1));
    if (copy) {
      for (long w = rank; w < out_words; w += size) {
        const std::uint64_t v = a(x, w);
        if (!v) continue;
        next(x, w) |= v;
        Kokkos::atomic_fetch_or(&next_rows(x), 1);
      }
      return;
    }
    bool any = false;
    const long a_words = static_cast<long>(a.extent(1));
    for (long wa = 0; wa < a_words; ++wa)
      for (std::uint64_t bits = a(x, wa); bits; bits &= bits - 1) {
        const long y = wa * 64 + lowest_bit(bits);
        if (use_b_rows && !b_rows(y)) continue;
        any = true;
        for (long w = rank; w < out_words; w += size) next(x, w) |= b(y, w);
      }
    if (any && rank == 0) next_rows(x) = 1;
  }
};

// Clears the flagged rows of a delta (its flags too).
template <class Mem, class Member>
struct clear_rows_kernel {
  device_bits<Mem> d;
  device_flags<Mem> rows;
  KOKKOS_INLINE_FUNCTION void operator()(const Member& team) const {
    const long x = team.league_rank();
    if (!rows(x)) return;
    clear(x, team.team_rank(), team.team_size());
    team.team_barrier();
    if (team.team_rank() == 0) rows(x) = 0;
  }
  KOKKOS_INLINE_FUNCTION void operator()(const long x) const {
    if (!rows(x)) return;
    clear(x, 0, 1);
    rows(x) = 0;
  }
  KOKKOS_INLINE_FUNCTION void clear(const long x, const long rank, const long size) const {
    const long words = static_cast<long>(d.extent(1));
    for (long w = rank; w < words; w += size) d(x, w) = 0;
  }
};

// Moves next & ~m into m, the delta and the transposes, row x per team; counts the fresh bits.
template <class Mem, class Member>
struct close_rows_kernel {
  device_bits<Mem> m, mt, dm, dmt, next;
  device_flags<Mem> next_rows, d_rows, dt_rows;
  bool need_mt = false, need_dm = false, need_dmt = false;
  using value_type = long;  // a sum of fresh bits (named: the two call operators leave it to be deduced from neither)

  KOKKOS_INLINE_FUNCTION void operator()(const Member& team, long& count) const {
    const long x = team.league_rank();
    if (!touched(x)) return;
    team.team_barrier();  // every thread has read the flags before they are reset
    if (team.team_rank() == 0) reset(x);
    team.team_barrier();
    words(x, team.team_rank(), team.team_size(), count);
  }
  KOKKOS_INLINE_FUNCTION void operator()(const long x, long& count) const {
    if (!touched(x)) return;
    reset(x);
    words(x, 0, 1, count);
  }
  KOKKOS_INLINE_FUNCTION bool touched(const long x) const { return next_rows(x) || (need_dm && d_rows(x)); }
  KOKKOS_INLINE_FUNCTION void reset(const long x) const {
    next_rows(x) = 0;
    if (need_dm) d_rows(x) = 0;
  }
  // This thread's words of row x: w = rank, rank + size, ...
  KOKKOS_INLINE_FUNCTION void words(const long x, const long rank, const long size, long& count) const {
    const long words = static_cast<long>(m.extent(1));
    const std::uint64_t x_bit = std::uint64_t{1} << (x % 64);
    const long x_word = x / 64;
    for (long w = rank; w < words; w += size) {
      const std::uint64_t fresh = next(x, w) & ~m(x, w);
      next(x, w) = 0;
      if (need_dm) dm(x, w) = fresh;
      if (!fresh) continue;
      m(x, w) |= fresh;
      count += bit_count(fresh);
      if (need_dm) Kokkos::atomic_fetch_or(&d_rows(x), 1);
      if (!need_mt) continue;
      for (std::uint64_t bits = fresh; bits; bits &= bits - 1) {
        const long z = w * 64 + lowest_bit(bits);
        Kokkos::atomic_fetch_or(&mt(z, x_word), x_bit);
        if (!need_dmt) continue;
        Kokkos::atomic_fetch_or(&dmt(z, x_word), x_bit);
        Kokkos::atomic_fetch_or(&dt_rows(z), 1);
      }
    }
  }
};

// One relation's matrices in the memory space (heads: also the deltas, next and the row flags).
template <class Mem>
struct device_relation {
  device_bits<Mem> m, mt, dm, dmt, next;
  device_flags<Mem> d_rows, dt_rows, next_rows;
};

// Run the kernels as teams in a host space too (the device schedule; for tests).
inline bool dense_teams_on_host = false;

template <class Mem>
device_bits<Mem> upload_bits(const bit_matrix& h, const std::string& label) {
  device_bits<Mem> d(label, h.rows, h.words);
  if (h.rows * h.words == 0) return d;
  Kokkos::View<const std::uint64_t**, Kokkos::LayoutRight, Kokkos::HostSpace, Kokkos::MemoryUnmanaged> src(
      h.bits.data(), h.rows, h.words);
  Kokkos::deep_copy(d, src);
  return d;
}

// Runs a planned dense stratum (plan_dense_stratum) in `space`; appends the derived facts.
template <class Space, class Options, class Report>
void run_dense_stratum_on(const Space& space, dense_stratum& ds, const Options& options, Report& report) {
  using mem = typename Space::memory_space;
  using policy = Kokkos::TeamPolicy<Space>;
  using member = typename policy::member_type;
  fill_dense_matrices(ds);
  std::vector<device_relation<mem>> dev(ds.rel.size());
  for (std::size_t k = 0; k < ds.rel.size(); ++k) {
    const dense_relation& r = ds.rel[k];
    device_relation<mem>& d = dev[k];
    const std::size_t n0 = r.m.rows, n1 = r.m.cols, w0 = r.m.words, w1 = (n0 + 63) / 64;
    d.m = upload_bits<mem>(r.m, "tensorlogic::logic::m");
    if (r.need_mt) d.mt = upload_bits<mem>(r.mt, "tensorlogic::logic::mt");
    if (!r.head) continue;
    d.next = device_bits<mem>("tensorlogic::logic::next", n0, w0);
    d.next_rows = device_flags<mem>("tensorlogic::logic::next_rows", n0);
    if (r.need_dm) {
      d.dm = device_bits<mem>("tensorlogic::logic::delta", n0, w0);
      d.d_rows = device_flags<mem>("tensorlogic::logic::delta_rows", n0);
    }
    if (r.need_dmt) {
      d.dmt = device_bits<mem>("tensorlogic::logic::delta_t", n1, w1);
      d.dt_rows = device_flags<mem>("tensorlogic::logic::delta_t_rows", n1);
    }
  }
  // A team per row where the space runs teams of threads on a device; one row per work item on the host, whose
  // teams would cost more to start than the row's work.
  constexpr bool host = Kokkos::SpaceAccessibility<Space, Kokkos::HostSpace>::accessible;
  using range = Kokkos::RangePolicy<Space, Kokkos::IndexType<long>>;
  const bool by_row = host && !dense_teams_on_host;
  auto for_rows = [&](const char* name, std::size_t rows, const auto& functor) {
    if (by_row)
      Kokkos::parallel_for(name, range(space, 0, static_cast<long>(rows)), functor);
    else
      Kokkos::parallel_for(name, policy(space, static_cast<int>(rows), Kokkos::AUTO), functor);
  };
  auto sum_rows = [&](const char* name, std::size_t rows, const auto& functor) {
    long n = 0;
    if (by_row)
      Kokkos::parallel_reduce(name, range(space, 0, static_cast<long>(rows)), functor, n);
    else
      Kokkos::parallel_reduce(name, policy(space, static_cast<int>(rows), Kokkos::AUTO), functor, n);
    return n;
  };

  // Applies every rule; `first` uses whole operands, later iterations the deltas (semi-naive).
  auto apply = [&](bool first) {
    for (const dense_rule& rule : ds.plan) {
      device_relation<mem>& h = dev[static_cast<std::size_t>(rule.head)];
      const dense_relation& a = ds.rel[static_cast<std::size_t>(rule.a)];
      const device_relation<mem>& da = dev[static_cast<std::size_t>(rule.a)];
      const std::size_t rows = h.next.extent(0);
      if (rows == 0) continue;
      join_rows_kernel<mem, member> k;
      k.next = h.next;
      k.next_rows = h.next_rows;
      if (!rule.join) {
        k.copy = true;
        if (first) {
          k.a = rule.a_t ? da.mt : da.m;
        } else {
          if (!a.head) continue;
          k.a = rule.a_t ? da.dmt : da.dm;
          k.a_rows = rule.a_t ? da.dt_rows : da.d_rows;
          k.use_a_rows = true;
        }
        for_rows("tensorlogic::logic::copy_rows", rows, k);
        continue;
      }
      const dense_relation& b = ds.rel[static_cast<std::size_t>(rule.b)];
      const device_relation<mem>& db = dev[static_cast<std::size_t>(rule.b)];
      if (first) {
        k.a = rule.a_t ? da.mt : da.m;
        k.b = rule.b_t ? db.mt : db.m;
        for_rows("tensorlogic::logic::join_rows", rows, k);
        continue;
      }
      if (a.head) {  // dA[x][y] B[y][z]
        join_rows_kernel<mem, member> j = k;
        j.a = rule.a_t ? da.dmt : da.dm;
        j.a_rows = rule.a_t ? da.dt_rows : da.d_rows;
        j.use_a_rows = true;
        j.b = rule.b_t ? db.mt : db.m;
        for_rows("tensorlogic::logic::join_rows", rows, j);
      }
      if (b.head) {  // A[x][y] dB[y][z]: the bits y of A[x] whose delta row holds a fact
        join_rows_kernel<mem, member> j = k;
        j.a = rule.a_t ? da.mt : da.m;
        j.b = rule.b_t ? db.dmt : db.dm;
        j.b_rows = rule.b_t ? db.dt_rows : db.d_rows;
        j.use_b_rows = true;
        for_rows("tensorlogic::logic::join_rows", rows, j);
      }
    }
  };
  // Moves next & ~m into the deltas and into m; true if anything was new.
  auto close_iteration = [&]() {
    for (std::size_t k = 0; k < ds.rel.size(); ++k) {
      device_relation<mem>& d = dev[k];
      if (ds.rel[k].head && ds.rel[k].need_dmt && d.dmt.extent(0) > 0)
        for_rows("tensorlogic::logic::clear_rows", d.dmt.extent(0), clear_rows_kernel<mem, member>{d.dmt, d.dt_rows});
    }
    long fresh = 0;
    for (std::size_t k = 0; k < ds.rel.size(); ++k) {
      const dense_relation& r = ds.rel[k];
      device_relation<mem>& d = dev[k];
      if (!r.head || d.m.extent(0) == 0) continue;
      close_rows_kernel<mem, member> c{d.m,         d.mt,      d.dm,       d.dmt,     d.next,   d.next_rows,
                                       d.d_rows,    d.dt_rows, r.need_mt,  r.need_dm, r.need_dmt};
      fresh += sum_rows("tensorlogic::logic::close_rows", d.m.extent(0), c);
    }
    return fresh > 0;
  };

  report.iterations = semi_naive(apply, close_iteration, report.recursive, options);
  report.kernel = "bit matrix (Kokkos)";

  for (std::size_t k = 0; k < ds.rel.size(); ++k) {
    dense_relation& r = ds.rel[k];
    if (!r.head) continue;
    if (r.m.rows * r.m.words > 0) {
      Kokkos::View<std::uint64_t**, Kokkos::LayoutRight, Kokkos::HostSpace, Kokkos::MemoryUnmanaged> host(
          r.m.bits.data(), r.m.rows, r.m.words);
      Kokkos::deep_copy(host, dev[k].m);
    }
    report.derived += append_matrix_facts(*r.data, r.m);
  }
}

}  // namespace tensorlogic::logic::detail
