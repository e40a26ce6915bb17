// .facts files in and out, domains, and every run-time error the engine gives before it evaluates anything.
#include <catch2/catch.hpp>
#include <cstdio>
#include <array>
#include <fstream>
#include <random>
#include <set>
#include <string>
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
