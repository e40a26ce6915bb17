// Two translation units include the library and share its namespace-scope objects (ODR check, part 1). Each unit
// also evaluates a program of its own over the same tensor names: on GCC and Clang both are keyed programs
// (core/program.hpp), and the linker must keep them apart while the shared program is one type in both units.
#include <catch2/catch.hpp>
#include <string>
#include <typeinfo>
#include <tensorlogic/tensorlogic.hpp>

#include "shared.hpp"

double second_unit_sum();
double second_unit_own_sum();
std::string second_unit_type_name();

namespace {
using link_test::i;
using link_test::X;
constexpr auto own = tensorlogic::program(link_test::Y(i) = X(i) * X(i));  // another type than link_test::prog's
}

TEST_CASE("two translation units evaluate the same program", "[link]") {
  tensorlogic::store s(link_test::prog, tensorlogic::extents(link_test::i = 3));
  for (int k = 0; k < 3; ++k) s[link_test::X](k) = k + 1;
  tensorlogic::eval(link_test::prog, s);
  CHECK(s[link_test::Y](2) == 6.0);
  CHECK(second_unit_sum() == 12.0);
  CHECK(second_unit_type_name() == typeid(link_test::prog).name());
}

TEST_CASE("two translation units evaluate programs of their own over the same names", "[link]") {
  tensorlogic::store s(own, tensorlogic::extents(link_test::i = 3));
  for (int k = 0; k < 3; ++k) s[link_test::X](k) = k + 1;
  tensorlogic::eval(own, s);
  CHECK(s[link_test::Y](2) == 9.0);
  CHECK(second_unit_own_sum() == 36.0);  // 1 + 8 + 27: the second unit's own equation, not this one
  CHECK(typeid(own).name() != std::string(typeid(link_test::prog).name()));
}
