// .facts files in and out, domains, and every run-time error the engine gives before it evaluates anything.
#include <catch2/catch.hpp>
#include <cstdio>
#include <algorithm>
#include <array>
#include <cstdint>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <vector>
#include <tensorlogic/logic.hpp>

namespace tl = tensorlogic;
using Catch::Matchers::Contains;

namespace {
inline constexpr tl::index<"x"> x;
inline constexpr tl::index<"y"> y;
inline constexpr tl::index<"z"> z;
inline constexpr tl::relation<"Parent", 2> Parent;
inline constexpr tl::relation<"Anc", 2> Anc;
inline constexpr tl::relation<"Owns", 2> Owns;
inline constexpr tl::relation<"Heir", 2> Heir;

std::string write_file(const std::string& name, const std::string& text) {
  const std::string path = "tensorlogic_test_" + name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}
}  // namespace

TEST_CASE("facts files load, solve and save round trip", "[logic]") {
  constexpr auto prog = tl::program(Anc(x, y) = Parent(x, y), Anc(x, z) = Anc(x, y) * Parent(y, z));
  tl::logic::database db(prog);
  const std::string in = write_file("parent.facts", "alice\tbob\nbob\tcarol\r\n\ncarol\tdave\nalice\tbob\n");
  CHECK(db.load(Parent, in) == 3);
  tl::logic::solve(prog, db);
  CHECK(db.size(Anc) == 6);
  const std::string out = "tensorlogic_test_anc.facts";
  db.save(Anc, out);
  std::ifstream back(out);
  std::string all((std::istreambuf_iterator<char>(back)), {});
  CHECK(all == "alice\tbob\nalice\tcarol\nalice\tdave\nbob\tcarol\nbob\tdave\ncarol\tdave\n");
  tl::logic::database again(prog);
  CHECK(again.load(Anc, out) == 6);
  CHECK(again.contains(Anc, {"alice", "dave"}));
  CHECK(db.domain_named("symbol").size() == 4);
  std::remove(in.c_str());
  std::remove(out.c_str());
}

TEST_CASE("malformed facts files name file, line and column, and load nothing", "[logic]") {
  constexpr auto prog = tl::program(Anc(x, y) = Parent(x, y));
  tl::logic::database db(prog);
  const std::string extra = write_file("extra.facts", "a\tb\nc\td\te\n");
  REQUIRE_THROWS_WITH(db.load(Parent, extra),
                      Contains("tensorlogic: " + extra + ":2:5: relation Parent has 2 arguments, the line has 3"));
  CHECK(db.size(Parent) == 0);
  CHECK(db.domain_named("symbol").size() == 0);
  const std::string missing = write_file("missing.facts", "a\tb\nc\n");
  REQUIRE_THROWS_WITH(db.load(Parent, missing), Contains(missing + ":2:2: relation Parent has 2 arguments"));
  const std::string empty = write_file("empty.facts", "a\tb\nc\t\n");
  REQUIRE_THROWS_WITH(db.load(Parent, empty), Contains(empty + ":2:3: empty field in a fact of Parent"));
  const std::string control = write_file("control.facts", "a\tb\x01x\n");
  REQUIRE_THROWS_WITH(db.load(Parent, control), Contains(control + ":1:4: control character"));
  REQUIRE_THROWS_WITH(db.load(Parent, "no/such/file.facts"), Contains("cannot open facts file no/such/file.facts"));
  CHECK(db.size(Parent) == 0);
  for (auto& f : {extra, missing, empty, control}) std::remove(f.c_str());
}

TEST_CASE("domains type arguments; a rule joining two domains is an error naming the variable", "[logic]") {
  constexpr auto prog = tl::program(Heir(x, z) = Parent(x, y) * Owns(y, z));
  tl::logic::database db(prog);
  db.type(Parent, "person", "person");
  db.type(Owns, "item", "item");
  db.type(Heir, "person", "item");
  db.insert(Parent, {"ann", "bo"});
  db.insert(Owns, {"bo", "house"});
  REQUIRE_THROWS_WITH(tl::logic::solve(prog, db),
                      Contains("variable y joins argument 2 of Parent (domain person) with argument 1 of Owns "
                               "(domain item)"));
  CHECK(db.size(Heir) == 0);
}

TEST_CASE("bad facts and constants are errors naming the culprit", "[logic]") {
  constexpr auto prog = tl::program(Anc(x, y) = Parent(x, y));
  tl::logic::database db(prog);
  REQUIRE_THROWS_WITH(db.insert(Parent, {"a"}), Contains("relation Parent has 2 arguments, got a fact of 1"));
  REQUIRE_THROWS_WITH(db.insert_ids(Parent, {0, 1}),
                      Contains("id 0 for argument 0 of Parent is outside domain symbol (size 0)"));
  db.insert(Parent, {"a", "b"});
  REQUIRE_THROWS_WITH(db.type(Parent, "person", "person"), Contains("relation Parent already holds facts"));
  REQUIRE_THROWS_WITH(db.domain_named("symbol").id("zed"), Contains("symbol 'zed' is not in domain symbol"));
  REQUIRE_THROWS_WITH(db.provenance(Anc, {"a", "b"}), Contains("no provenance was recorded"));

  const long stranger = 99;
  const auto with_constant = tl::program(Anc(x, y) = Parent(stranger, x) * Parent(x, y));
  tl::logic::database db2(with_constant);
  db2.insert(Parent, {"a", "b"});
  REQUIRE_THROWS_WITH(tl::logic::solve(with_constant, db2),
                      Contains("constant 99 in argument 1 of Parent is not an id of domain symbol (size 2)"));
}

TEST_CASE("tuple sets: dedupe, lookups by any column subset, append after hashing", "[logic]") {
  tl::logic::tuple_set s(3);
  std::mt19937_64 g(3);
  std::set<std::array<tl::logic::id_t, 3>> ref;
  for (int k = 0; k < 5000; ++k) {
    std::array<tl::logic::id_t, 3> t = {static_cast<tl::logic::id_t>(g() % 20), static_cast<tl::logic::id_t>(g() % 20),
                                        static_cast<tl::logic::id_t>(g() % 5)};
    CHECK(s.insert(t.data()) == ref.insert(t).second);
  }
  CHECK(s.size() == ref.size());
  tl::logic::column_index by_first_last(s, 0b101);
  by_first_last.sync();
  const tl::logic::id_t key[3] = {7, 0, 2};
  std::size_t hits = 0;
  by_first_last.for_each(key, [&](std::size_t row) {
    CHECK(s.row(row)[0] == 7);
    CHECK(s.row(row)[2] == 2);
    ++hits;
    return true;
  });
  std::size_t expected = 0;
  for (auto& t : ref) expected += t[0] == 7 && t[2] == 2;
  CHECK(hits == expected);
  const tl::logic::id_t fresh[3] = {100, 100, 100};
  s.append_distinct(fresh);
  CHECK(s.contains(fresh));
  CHECK_FALSE(s.insert(fresh));
  CHECK(s.size() == ref.size() + 1);
  REQUIRE_THROWS_WITH(tl::logic::tuple_set(9), Contains("arity must be between 1 and 8"));
}

TEST_CASE("sorted indexes: lookups on every column subset equal a filter, rebuilt when the set changes", "[logic]") {
  tl::logic::tuple_set s(3);
  std::mt19937_64 g(9);
  std::vector<std::array<tl::logic::id_t, 3>> rows;
  auto add = [&](std::size_t n) {
    for (std::size_t k = 0; k < n; ++k) {
      std::array<tl::logic::id_t, 3> t = {static_cast<tl::logic::id_t>(g() % 12),
                                          static_cast<tl::logic::id_t>(g() % 30),
                                          static_cast<tl::logic::id_t>(g() % 4)};
      if (s.insert(t.data())) rows.push_back(t);
    }
  };
  add(400);
  // For a key mask, every key in range (and some past the largest id): the rows the index yields, in order, must be
  // the rows whose key columns match, sorted lexicographically by the key columns, then the others.
  auto check_mask = [&](const tl::logic::sorted_index& ix, unsigned mask) {
    INFO("mask " << mask);
    REQUIRE(ix.current());
    CHECK(ix.size() == rows.size());
    std::size_t total = 0;
    for (tl::logic::id_t a = 0; a < 14; ++a)
      for (tl::logic::id_t b = 0; b < 32; b += (mask & 2u) ? 1 : 32)
        for (tl::logic::id_t c = 0; c < 5; c += (mask & 4u) ? 1 : 5) {
          const tl::logic::id_t key[3] = {a, b, c};
          std::vector<std::array<tl::logic::id_t, 3>> got, want;
          ix.for_each(key, [&](const tl::logic::id_t* row) {
            got.push_back({row[0], row[1], row[2]});
            return true;
          });
          for (const auto& t : rows)
            if ((!(mask & 1u) || t[0] == key[0]) && (!(mask & 2u) || t[1] == key[1]) &&
                (!(mask & 4u) || t[2] == key[2]))
              want.push_back(t);
          auto order = [&](const auto& u, const auto& v) {
            for (int pass = 0; pass < 2; ++pass)
              for (int k = 0; k < 3; ++k)
                if (((mask >> k) & 1u) == (pass == 0 ? 1u : 0u) && u[k] != v[k]) return u[k] < v[k];
            return false;
          };
          std::sort(want.begin(), want.end(), order);
          CHECK(got == want);
          if (mask & 1u) total += got.size();
          if (a == 0 && !got.empty()) {  // stopping early
            std::size_t calls = 0;
            ix.for_each(key, [&](const tl::logic::id_t*) { return ++calls < 1; });
            CHECK(calls == 1);
          }
        }
    if (mask == 0b111 || mask == 0b011 || mask == 0b101 || mask == 0b001) CHECK(total == rows.size());
  };
  for (unsigned mask = 1; mask < 8; ++mask) {
    tl::logic::sorted_index ix(s, mask);
    check_mask(ix, mask);
    add(200);  // the set grows: the index is stale until rebuilt
    CHECK_FALSE(ix.current());
    ix.rebuild();
    check_mask(ix, mask);
  }
  tl::logic::sorted_index ix(s, 0b010);
  const std::size_t before = s.size();
  s.clear();
  rows.clear();
  add(before);  // cleared and refilled: maybe the same number of rows, but not the same rows
  CHECK_FALSE(ix.current());
  ix.rebuild();
  check_mask(ix, 0b010);
  REQUIRE_THROWS_WITH(tl::logic::sorted_index(s, 0), Contains("at least one key column"));
}

TEST_CASE("tuple sets past 2 MiB: growth moves slots without rows; large arrays are 2 MiB-aligned", "[logic]") {
  // 600k distinct pairs: the table doubles from 16 slots to 2^20 (8 MiB), the last doublings in 2 MiB-aligned blocks.
  tl::logic::tuple_set s(2);
  std::set<std::pair<tl::logic::id_t, tl::logic::id_t>> ref;
  std::mt19937_64 g(21);
  std::size_t disagreements = 0;
  tl::logic::column_index by_first(s, 0b01);  // synced as the set grows: its arrays pass 2 MiB too
  for (int k = 0; k < 700000; ++k) {
    const tl::logic::id_t t[2] = {static_cast<tl::logic::id_t>(g() % 3000), static_cast<tl::logic::id_t>(g() % 3000)};
    disagreements += s.insert(t) != ref.insert({t[0], t[1]}).second;
    if (k % 100000 == 0) by_first.sync();
  }
  CHECK(disagreements == 0);
  by_first.sync();
  std::size_t index_wrong = 0;
  for (tl::logic::id_t a = 0; a < 3000; a += 37) {
    std::vector<std::size_t> got, want;
    const tl::logic::id_t key[2] = {a, 0};
    by_first.for_each(key, [&](std::size_t row) {
      got.push_back(row);
      return true;
    });
    for (std::size_t r = 0; r < s.size(); ++r)
      if (s.row(r)[0] == a) want.push_back(r);
    index_wrong += got != want;
  }
  CHECK(index_wrong == 0);
  REQUIRE(ref.size() > 500000);
  CHECK(s.size() == ref.size());
  std::size_t found = 0, wrong = 0;
  for (tl::logic::id_t a = 0; a < 3000; a += 7)
    for (tl::logic::id_t b = 0; b < 3000; b += 3) {
      const tl::logic::id_t t[2] = {a, b};
      found += s.contains(t);
      wrong += s.contains(t) != (ref.count({a, b}) == 1);
    }
  CHECK(found > 10000);
  CHECK(wrong == 0);
  CHECK(reinterpret_cast<std::uintptr_t>(s.data().data()) % (std::uintptr_t{2} << 20) == 0);  // 2.4M ids
  tl::logic::detail::large_vector<std::uint64_t> big(std::size_t{1} << 19, 7);  // 4 MiB
  CHECK(reinterpret_cast<std::uintptr_t>(big.data()) % (std::uintptr_t{2} << 20) == 0);
  CHECK(big[12345] == 7);
  tl::logic::detail::large_vector<std::uint64_t> small(100, 3);  // an ordinary allocation
  CHECK(small[99] == 3);
}

TEST_CASE("mapped arrays grow keeping their elements, zero the new ones, and stay 2 MiB-aligned", "[logic]") {
  using tl::logic::detail::mapped_array;
  const auto aligned = [](const void* p) {
    return reinterpret_cast<std::uintptr_t>(p) % (std::uintptr_t{2} << 20) == 0;
  };
  // every element i < n is f(i), every one from n to the end 0
  const auto holds = [](const mapped_array<std::uint64_t>& a, std::size_t n) {
    std::size_t bad = 0;
    for (std::size_t i = 0; i < a.size(); ++i) bad += a[i] != (i < n ? i * 3 + 1 : 0);
    return bad;
  };
  mapped_array<std::uint64_t> a(100);  // on the heap
  CHECK(holds(a, 0) == 0);
  for (std::size_t i = 0; i < 100; ++i) a[i] = i * 3 + 1;
  a.grow(1000);
  CHECK(a.size() == 1000);
  CHECK(holds(a, 100) == 0);
  std::size_t filled = 100;
  std::vector<mapped_array<std::uint64_t>> neighbours;
  // From the heap to a block (4 MiB), then doublings with a fresh block allocated after each, so that the growths go
  // both ways: extended in place, or moved to another range.
  for (std::size_t n = std::size_t{1} << 19; n <= (std::size_t{1} << 22); n *= 2) {
    a.grow(n);
    REQUIRE(a.size() == n);
    CHECK(aligned(a.data()));
    CHECK(holds(a, filled) == 0);
    for (std::size_t i = filled; i < n / 2 + 7; ++i) a[i] = i * 3 + 1;
    filled = n / 2 + 7;
    neighbours.emplace_back(std::size_t{1} << 18);
    neighbours.back()[5] = 9;
  }
  CHECK(holds(a, filled) == 0);
  for (const auto& b : neighbours) CHECK(b[5] == 9);
  mapped_array<std::uint64_t> c = a;  // a copy, its own block
  CHECK(c.data() != a.data());
  CHECK(holds(c, filled) == 0);
  c[0] = 77;
  CHECK(a[0] == 1);
  mapped_array<std::uint64_t> d = std::move(c);
  CHECK(d[0] == 77);
  CHECK(d.size() == a.size());
}

TEST_CASE("tuple sets grow correctly when their tuples crowd the end of the table and wrap around", "[logic]") {
  // Ids whose hashes put them in the last sixteenth of the table at every size: the clusters are long and run past
  // the end to the start, which a doubling in place must handle (checked against std::set after each growth).
  tl::logic::tuple_set s(1);
  std::set<tl::logic::id_t> ref;
  std::vector<tl::logic::id_t> crowd, other;
  for (tl::logic::id_t v = 0; crowd.size() < 20000; ++v)
    ((tl::logic::detail::hash_columns(&v, 1, 1) >> 60) == 15 ? crowd : other).push_back(v);
  std::size_t wrong = 0, checks = 0;
  for (std::size_t k = 0; k < crowd.size(); ++k) {
    wrong += s.insert(&crowd[k]) != ref.insert(crowd[k]).second;
    wrong += s.insert(&crowd[k / 2]);  // present already
    if ((k & (k - 1)) == 0 || k + 1 == crowd.size()) {  // at powers of two and at the end: every lookup
      for (tl::logic::id_t v : crowd) wrong += s.contains(&v) != (ref.count(v) == 1);
      for (std::size_t j = 0; j < 2000; ++j) wrong += s.contains(&other[j]);
      ++checks;
    }
  }
  CHECK(checks > 10);
  CHECK(wrong == 0);
  CHECK(s.size() == crowd.size());
  tl::logic::tuple_set copy = s;
  for (std::size_t j = 0; j < crowd.size(); j += 97) CHECK(copy.contains(&crowd[j]));
}
