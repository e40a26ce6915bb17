// Datalog in Tensor Logic (Domingos 2025, §4.2): the ancestor relation is the transitive closure of Parent.
//   Anc(x, y) = Parent(x, y)
//   Anc(x, z) = Anc(x, y) Parent(y, z)
// Relations are Boolean tensors; a relation on the left closes its right-hand side with a step, so the second rule
// is the Boolean join of Anc and Parent projected onto (x, z). The two rules share a head, so they are OR-ed; the
// second reads its own head, so the program is recursive and tl::fixpoint iterates it to its least fixpoint.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <tensorlogic/tensorlogic.hpp>
#include <utility>
#include <vector>

#include "common.hpp"

namespace ancestor_example {
namespace tl = tensorlogic;
inline constexpr tl::index<"x"> x;
inline constexpr tl::index<"y"> y;
inline constexpr tl::index<"z"> z;
inline constexpr tl::relation<"Parent", 2> Parent;
inline constexpr tl::relation<"Anc", 2> Anc;
}  // namespace ancestor_example

inline int example_ancestor(std::ostream& out) {
  using namespace ancestor_example;
  constexpr auto rules = tl::program(Anc(x, y) = Parent(x, y), Anc(x, z) = Anc(x, y) * Parent(y, z));
  out << tl::to_string(rules);

  // Four generations; people are numbered by their position in `names`.
  const std::array<const char*, 9> names = {"Ada", "Ben", "Cleo", "Dan", "Eve", "Finn", "Gus", "Hana", "Ivy"};
  const std::vector<std::pair<int, int>> parent_of = {{0, 1}, {0, 2}, {1, 3}, {1, 4}, {2, 5},
                                                      {3, 6}, {5, 7}, {5, 8}};
  const std::size_t people = names.size();
  xt::xarray<std::uint8_t> parent = xt::xarray<std::uint8_t>::from_shape({people, people});
  parent.fill(0);
  out << "  facts:";
  for (auto [a, b] : parent_of) {
    parent(a, b) = 1;
    out << " Parent(" << names[a] << ", " << names[b] << ")";
  }
  out << "\n";

  tl::store s(rules, tl::extents(x = people, y = people, z = people));
  tl::bind(s, Parent, parent);
  const long passes = tl::fixpoint(rules, s);
  const auto anc = tl::to_xtensor(s[Anc]);

  // Brute-force closure (Warshall) as the reference.
  std::vector<std::vector<bool>> closure(people, std::vector<bool>(people));
  for (auto [a, b] : parent_of) closure[a][b] = true;
  for (std::size_t k = 0; k < people; ++k)
    for (std::size_t a = 0; a < people; ++a)
      for (std::size_t b = 0; b < people; ++b)
        if (closure[a][k] && closure[k][b]) closure[a][b] = true;

  examples::checker check(out, "Anc");
  std::size_t total = 0;
  out << "  derived (not a Parent fact):\n";
  for (std::size_t a = 0; a < people; ++a) {
    std::string line;
    for (std::size_t b = 0; b < people; ++b) {
      check(anc(a, b), closure[a][b] ? 1.0 : 0.0, std::string("Anc(") + names[a] + ", " + names[b] + ")");
      if (!anc(a, b)) continue;
      ++total;
      if (!parent(a, b)) line += std::string(line.empty() ? "" : " ") + "Anc(" + names[a] + ", " + names[b] + ")";
    }
    if (!line.empty()) out << "    " << line << "\n";
  }
  out << "  " << total << " Anc facts (" << parent_of.size() << " from Parent), fixpoint after " << passes
      << " passes\n";
  return check.result();
}
