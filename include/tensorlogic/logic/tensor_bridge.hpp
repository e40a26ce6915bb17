// Mixed programs: a relation solved by tl::logic becomes an ordinary Boolean tensor of a tensorlogic store (for the
// equations that join it with real tensors, e.g. GNN aggregation over Neig(x, y)), and a Boolean tensor computed
// by tl::eval becomes a relation's facts. Extents and domain sizes must agree; a mismatch is an error naming the
// relation, the argument, the domain and the extent, before anything is copied.
#pragma once
#include <Kokkos_Core.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <tensorlogic/exec/store.hpp>
#include <tensorlogic/interop/pointer.hpp>
#include <tensorlogic/logic/database.hpp>

namespace tensorlogic::logic {

namespace detail {
template <class LProg, class Prog, class Mem, class Sym>
std::vector<std::size_t> bridge_shape(const database<LProg>& db, const store<Prog, Mem>& s, const char* what) {
  constexpr int slot = Prog::slot_of(Sym::name.view());
  static_assert(slot >= 0, "tensorlogic: the relation is not a symbol of the store's program");
  const relation_data& d = db.slot_data(LProg::slot_of(Sym::name.view()));
  std::vector<std::size_t> shape(Sym::rank);
  for (std::size_t k = 0; k < Sym::rank; ++k) {
    shape[k] = static_cast<std::size_t>(s.shape(slot)[k]);
    if (shape[k] != d.domains[k]->size())
      throw error(std::string(what) + " " + d.name + ": argument " + std::to_string(k + 1) + " has domain " +
                  d.domains[k]->name() + " of " + std::to_string(d.domains[k]->size()) +
                  " symbols but the store's extent is " + std::to_string(shape[k]));
  }
  return shape;
}
}  // namespace detail

// Copies relation `sym`'s facts into the store as a dense 0/1 tensor (the store's program must use the same
// relation symbol; its extents must equal the argument domains' sizes).
template <class LProg, class Prog, class Mem, class Sym>
void to_tensor(const database<LProg>& db, Sym sym, store<Prog, Mem>& s) {
  const auto shape = detail::bridge_shape<LProg, Prog, Mem, Sym>(db, s, "to_tensor");
  std::size_t total = 1;
  for (std::size_t e : shape) total *= e;
  std::vector<std::uint8_t> dense(total, 0);
  const tuple_set& t = db.tuples(sym);
  for (std::size_t r = 0; r < t.size(); ++r) {
    std::size_t at = 0;
    for (std::size_t k = 0; k < Sym::rank; ++k) at = at * shape[k] + t.row(r)[k];
    dense[at] = 1;
  }
  const std::uint8_t* data = dense.data();
  tensorlogic::bind(s, sym, data, total);
}

// Adds every nonzero element of the store's tensor for relation `sym` as a fact; returns how many were new.
template <class LProg, class Prog, class Mem, class Sym>
std::size_t from_tensor(const store<Prog, Mem>& s, Sym sym, database<LProg>& db) {
  const auto shape = detail::bridge_shape<LProg, Prog, Mem, Sym>(db, s, "from_tensor");
  auto host = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace{}, s[sym]);
  std::size_t total = 1;
  for (std::size_t e : shape) total *= e;
  std::size_t added = 0;
  std::vector<id_t> ids(Sym::rank);
  for (std::size_t at = 0; at < total; ++at) {
    if (!host.data()[at]) continue;
    std::size_t rest = at;
    for (std::size_t k = Sym::rank; k-- > 0;) {
      ids[k] = static_cast<id_t>(rest % shape[k]);
      rest /= shape[k];
    }
    added += db.insert_ids(sym, ids) ? 1 : 0;
  }
  return added;
}

}  // namespace tensorlogic::logic
