// tl::logic::domain: a named set of symbols (strings) with dense ids 0, 1, 2, ... in order of first appearance.
// Each argument of a relation has a domain; a rule variable that joins two arguments needs them to share one.
#pragma once
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <tensorlogic/core/error.hpp>
#include <tensorlogic/logic/tuples.hpp>

namespace tensorlogic::logic {

class domain {
 public:
  explicit domain(std::string name = "symbol") : name_(std::move(name)) {}

  const std::string& name() const { return name_; }
  std::size_t size() const { return names_.size(); }

  // The id of `symbol`, adding it if new.
  id_t intern(std::string_view symbol) {
    auto it = ids_.find(std::string(symbol));
    if (it != ids_.end()) return it->second;
    if (names_.size() >= 0xfffffff0u) throw error("domain " + name_ + " is full");
    const id_t id = static_cast<id_t>(names_.size());
    names_.emplace_back(symbol);
    ids_.emplace(names_.back(), id);
    return id;
  }
  // The id of a known symbol; an unknown one is an error naming the domain.
  id_t id(std::string_view symbol) const {
    auto f = find(symbol);
    if (!f) throw error("symbol '" + std::string(symbol) + "' is not in domain " + name_);
    return *f;
  }
  std::optional<id_t> find(std::string_view symbol) const {
    auto it = ids_.find(std::string(symbol));
    if (it == ids_.end()) return std::nullopt;
    return it->second;
  }
  const std::string& symbol(id_t id) const {
    if (id >= names_.size())
      throw error("id " + std::to_string(id) + " is outside domain " + name_ + " (size " +
                  std::to_string(names_.size()) + ")");
    return names_[id];
  }
  // Makes ids 0 .. n-1 the symbols "0" .. "n-1" (for generated data); the domain must hold only such symbols.
  void add_numbered(std::size_t n) {
    for (std::size_t k = size(); k < n; ++k)
      if (intern(std::to_string(k)) != k)
        throw error("domain " + name_ + " holds other symbols; numbered ids need a domain of numbers only");
  }

 private:
  std::string name_;
  std::vector<std::string> names_;
  std::unordered_map<std::string, id_t> ids_;
};

}  // namespace tensorlogic::logic
