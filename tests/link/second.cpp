// Two translation units include the library and share its namespace-scope objects (ODR check, part 2).
#include <string>
#include <typeinfo>
#include <tensorlogic/tensorlogic.hpp>

#include "shared.hpp"

namespace {
using link_test::i;
using link_test::X;
constexpr auto own = tensorlogic::program(link_test::Y(i) = X(i) * X(i) * X(i));

template <class Prog>
double sum_of(const Prog& prog) {
  tensorlogic::store s(prog, tensorlogic::extents(link_test::i = 3));
  for (int k = 0; k < 3; ++k) s[link_test::X](k) = k + 1;
  tensorlogic::eval(prog, s);
  double r = 0;
  for (int k = 0; k < 3; ++k) r += s[link_test::Y](k);
  return r;
}
}  // namespace

double second_unit_sum() { return sum_of(link_test::prog); }
double second_unit_own_sum() { return sum_of(own); }
std::string second_unit_type_name() { return typeid(link_test::prog).name(); }
