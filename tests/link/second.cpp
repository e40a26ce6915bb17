// Two translation units include the library and share its namespace-scope objects (ODR check, part 2).
#include <tensorlogic/tensorlogic.hpp>

#include "shared.hpp"

double second_unit_sum() {
  tensorlogic::store s(link_test::prog, tensorlogic::extents(link_test::i = 3));
  for (int k = 0; k < 3; ++k) s[link_test::X](k) = k + 1;
  tensorlogic::eval(link_test::prog, s);
  double r = 0;
  for (int k = 0; k < 3; ++k) r += s[link_test::Y](k);
  return r;
}
