// Two translation units include the library and share its namespace-scope objects (ODR check, part 1).
#include <catch2/catch.hpp>
#include <tensorlogic/tensorlogic.hpp>

#include "shared.hpp"

double second_unit_sum();

TEST_CASE("two translation units evaluate the same program", "[link]") {
  tensorlogic::store s(link_test::prog, tensorlogic::extents(link_test::i = 3));
  for (int k = 0; k < 3; ++k) s[link_test::X](k) = k + 1;
  tensorlogic::eval(link_test::prog, s);
  CHECK(s[link_test::Y](2) == 6.0);
  CHECK(second_unit_sum() == 12.0);
}
