// tl::logic::database: the facts of a program's relations. One sparse tuple set per relation symbol of the
// program, each argument typed by a named domain (strings <-> dense ids), optional provenance (which rule and which
// iteration first derived each fact), and Soufflé-style tab-separated .facts files in and out. A malformed file
// is an error naming the file, line and column, and loads nothing.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <tensorlogic/core/program.hpp>
#include <tensorlogic/logic/domain.hpp>
#include <tensorlogic/logic/tuples.hpp>

namespace tensorlogic::logic {

// How a fact got into its relation: given (rule < 0) or derived by `rule` (an index into rules_of(prog)) in
// fixpoint iteration `iteration` of its stratum.
struct derivation {
  int rule = -1;
  int iteration = -1;
  bool given() const { return rule < 0; }
};

// One relation's facts and bookkeeping.
struct relation_data {
  std::string name;
  int slot = -1;
  std::unique_ptr<tuple_set> tuples;
  std::vector<domain*> domains;  // per argument
  std::vector<derivation> provenance;  // per row, when recorded
  std::map<unsigned, std::unique_ptr<column_index>> indexes;        // hash, for the relations a stratum derives
  std::map<unsigned, std::unique_ptr<sorted_index>> sorted_indexes;  // CSR, for those it only reads

  column_index& index(unsigned mask) {
    auto& p = indexes[mask];
    if (!p) p = std::make_unique<column_index>(*tuples, mask);
    return *p;
  }
  // The sorted index on `mask`, rebuilt if the relation changed since it was built.
  const sorted_index& sorted_index_on(unsigned mask) {
    auto& p = sorted_indexes[mask];
    if (!p) p = std::make_unique<sorted_index>(*tuples, mask);
    p->rebuild();
    return *p;
  }
};

namespace detail {

// Splits one line of a .facts file at tabs; reports the 1-based column where each field starts.
inline std::vector<std::pair<std::string, std::size_t>> split_fields(std::string_view line) {
  std::vector<std::pair<std::string, std::size_t>> out;
  std::size_t start = 0;
  for (std::size_t k = 0; k <= line.size(); ++k)
    if (k == line.size() || line[k] == '\t') {
      out.emplace_back(std::string(line.substr(start, k - start)), start + 1);
      start = k + 1;
    }
  return out;
}

}  // namespace detail

template <class Prog>
class database {
 public:
  using program_type = Prog;

  explicit database(const Prog&) : database(std::in_place) {}

  // The domain called `name`, created empty on first use; every argument starts in the domain "symbol".
  domain& domain_named(const std::string& name) {
    auto& p = domains_[name];
    if (!p) p = std::make_unique<domain>(name);
    return *p;
  }

  // Types the arguments of relation `r`: one domain name per argument.
  template <class Sym, class... Names>
  void type(Sym, const Names&... names) {
    static_assert(sizeof...(Names) == Sym::rank, "tensorlogic: type() takes one domain name per argument");
    relation_data& d = data<Sym>();
    if (!d.tuples->empty())
      throw error("relation " + d.name + " already holds facts; type its arguments before adding any");
    std::size_t k = 0;
    ((d.domains[k++] = &domain_named(std::string(names))), ...);
  }
  template <class Sym>
  domain& domain_of(Sym, int argument) {
    relation_data& d = data<Sym>();
    if (argument < 0 || argument >= static_cast<int>(d.domains.size()))
      throw error("relation " + d.name + " has no argument " + std::to_string(argument));
    return *d.domains[static_cast<std::size_t>(argument)];
  }

  // Adds a fact given as symbols (interned into the argument domains); true if it was new.
  template <class Sym>
  bool insert(Sym, const std::vector<std::string>& symbols) {
    relation_data& d = data<Sym>();
    check_width(d, symbols.size());
    id_t t[max_arity];
    for (std::size_t k = 0; k < symbols.size(); ++k) t[k] = d.domains[k]->intern(symbols[k]);
    return add_given(d, t);
  }
  // Adds a fact given as ids (each must exist in its domain).
  template <class Sym>
  bool insert_ids(Sym, const std::vector<id_t>& ids) {
    relation_data& d = data<Sym>();
    check_width(d, ids.size());
    for (std::size_t k = 0; k < ids.size(); ++k)
      if (ids[k] >= d.domains[k]->size())
        throw error("id " + std::to_string(ids[k]) + " for argument " + std::to_string(k) + " of " + d.name +
                    " is outside domain " + d.domains[k]->name() + " (size " +
                    std::to_string(d.domains[k]->size()) + ")");
    return add_given(d, ids.data());
  }
  template <class Sym>
  bool contains(Sym, const std::vector<std::string>& symbols) const {
    const relation_data& d = data<Sym>();
    check_width(d, symbols.size());
    id_t t[max_arity];
    for (std::size_t k = 0; k < symbols.size(); ++k) {
      auto id = d.domains[k]->find(symbols[k]);
      if (!id) return false;
      t[k] = *id;
    }
    return d.tuples->contains(t);
  }
  template <class Sym>
  std::size_t size(Sym) const {
    return data<Sym>().tuples->size();
  }
  template <class Sym>
  const tuple_set& tuples(Sym) const {
    return *data<Sym>().tuples;
  }
  // The facts of `r` as symbols, sorted by id.
  template <class Sym>
  std::vector<std::vector<std::string>> facts(Sym) const {
    const relation_data& d = data<Sym>();
    const std::vector<id_t> rows = d.tuples->sorted();
    const std::size_t a = Sym::rank;
    std::vector<std::vector<std::string>> out(rows.size() / a);
    for (std::size_t r = 0; r < out.size(); ++r)
      for (std::size_t k = 0; k < a; ++k) out[r].push_back(d.domains[k]->symbol(rows[r * a + k]));
    return out;
  }
  // Which rule first derived the fact, in which iteration (provenance must have been recorded by solve()).
  template <class Sym>
  std::optional<derivation> provenance(Sym, const std::vector<std::string>& symbols) const {
    const relation_data& d = data<Sym>();
    check_width(d, symbols.size());
    if (!recording_)
      throw error("no provenance was recorded; solve with solve_options{.provenance = true}");
    for (std::size_t r = 0; r < d.tuples->size(); ++r) {
      const id_t* row = d.tuples->row(r);
      bool same = true;
      for (std::size_t k = 0; k < symbols.size() && same; ++k) same = d.domains[k]->symbol(row[k]) == symbols[k];
      if (same) return r < d.provenance.size() ? d.provenance[r] : derivation{};
    }
    return std::nullopt;
  }

  // Reads a tab-separated .facts file into `r`: one fact per line, one field per argument. Empty lines are
  // skipped. Any malformed line is an error naming file, line and column, and nothing is added.
  template <class Sym>
  std::size_t load(Sym, const std::string& path) {
    relation_data& d = data<Sym>();
    std::ifstream in(path, std::ios::binary);
    if (!in) throw error("cannot open facts file " + path + " for relation " + d.name);
    std::vector<std::vector<std::string>> rows;
    std::string line;
    std::size_t number = 0;
    const std::size_t arity = d.domains.size();
    while (std::getline(in, line)) {
      ++number;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty()) continue;
      auto fields = detail::split_fields(line);
      const std::string where = path + ":" + std::to_string(number) + ":";
      if (fields.size() != arity) {
        const std::size_t column = fields.size() > arity ? fields[arity].second : line.size() + 1;
        throw error(where + std::to_string(column) + ": relation " + d.name + " has " + std::to_string(arity) +
                    " arguments, the line has " + std::to_string(fields.size()) + " tab-separated fields");
      }
      std::vector<std::string> row;
      for (auto& [text, column] : fields) {
        if (text.empty())
          throw error(where + std::to_string(column) + ": empty field in a fact of " + d.name);
        for (std::size_t c = 0; c < text.size(); ++c) {
          const unsigned char ch = static_cast<unsigned char>(text[c]);
          if (ch < 0x20 || ch == 0x7f)
            throw error(where + std::to_string(column + c) + ": control character in a fact of " + d.name);
        }
        row.push_back(std::move(text));
      }
      rows.push_back(std::move(row));
    }
    if (in.bad()) throw error("error reading facts file " + path);
    std::size_t added = 0;
    id_t t[max_arity];
    for (auto& row : rows) {
      for (std::size_t k = 0; k < arity; ++k) t[k] = d.domains[k]->intern(row[k]);
      added += add_given(d, t) ? 1 : 0;
    }
    return added;
  }
  // Writes the facts of `r`, sorted, one per line, tab-separated.
  template <class Sym>
  void save(Sym s, const std::string& path) const {
    std::ofstream out(path, std::ios::binary);
    if (!out) throw error("cannot write facts file " + path);
    for (const auto& row : facts(s)) {
      for (std::size_t k = 0; k < row.size(); ++k) out << (k ? "\t" : "") << row[k];
      out << '\n';
    }
    if (!out) throw error("error writing facts file " + path);
  }

  // ---- engine access (slot-based) ----
  relation_data& slot_data(int slot) {
    relation_data* d = by_slot_[static_cast<std::size_t>(slot)];
    if (!d) throw error("slot " + std::to_string(slot) + " is not a relation");
    return *d;
  }
  const relation_data& slot_data(int slot) const {
    return const_cast<database*>(this)->slot_data(slot);
  }
  bool is_relation_slot(int slot) const { return by_slot_[static_cast<std::size_t>(slot)] != nullptr; }
  void set_recording(bool on) { recording_ = on; }
  bool recording() const { return recording_; }
  std::size_t bytes() const {
    std::size_t b = 0;
    for (auto& d : relations_) {
      b += d->tuples->bytes() + d->provenance.capacity() * sizeof(derivation);
      for (auto& [m, ix] : d->indexes) b += ix->bytes();
      for (auto& [m, ix] : d->sorted_indexes) b += ix->bytes();
    }
    return b;
  }

 private:
  explicit database(std::in_place_t) {
    by_slot_.assign(Prog::n_slots, nullptr);
    domain& symbols = domain_named("symbol");
    [&]<class... S>(type_list<S...>) { (add_relation<S>(symbols), ...); }(typename Prog::symbols{});
  }

  template <class S>
  void add_relation(domain& symbols) {
    if constexpr (S::kind == symbol_kind::relation) {
      auto d = std::make_unique<relation_data>();
      d->name = std::string(S::name.view());
      d->slot = Prog::slot_of(S::name.view());
      d->tuples = std::make_unique<tuple_set>(static_cast<int>(S::rank));
      d->domains.assign(S::rank, &symbols);
      by_slot_[static_cast<std::size_t>(d->slot)] = d.get();
      relations_.push_back(std::move(d));
    }
  }

  template <class Sym>
  relation_data& data() {
    static_assert(Sym::kind == symbol_kind::relation, "tensorlogic: a database holds relations only");
    constexpr int slot = Prog::slot_of(Sym::name.view());
    static_assert(slot >= 0, "tensorlogic: the relation is not a symbol of this database's program");
    return *by_slot_[slot];
  }
  template <class Sym>
  const relation_data& data() const {
    return const_cast<database*>(this)->template data<Sym>();
  }
  static void check_width(const relation_data& d, std::size_t n) {
    if (n != d.domains.size())
      throw error("relation " + d.name + " has " + std::to_string(d.domains.size()) + " arguments, got a fact of " +
                  std::to_string(n));
  }
  bool add_given(relation_data& d, const id_t* t) {
    const bool fresh = d.tuples->insert(t);
    if (fresh && recording_) d.provenance.resize(d.tuples->size());
    return fresh;
  }

  std::map<std::string, std::unique_ptr<domain>> domains_;
  std::vector<std::unique_ptr<relation_data>> relations_;
  std::vector<relation_data*> by_slot_;
  bool recording_ = false;
};

template <class Prog>
database(const Prog&) -> database<Prog>;

}  // namespace tensorlogic::logic
