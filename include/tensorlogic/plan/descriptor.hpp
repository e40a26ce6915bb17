// Lowered equations: structural descriptors made only of integers, enums and element types (slot numbers, index
// positions, op codes), with numeric constants held in the value. Kernels are instantiated on these, never on the
// named front-end types (fixed-string template arguments break nvcc; DESIGN §2).
#pragma once
#include <tensorlogic/core/expression.hpp>

namespace tensorlogic::plan {

// Subscripts: a plain index at position Pos, or floor((sum coef*idx[Pos] + offset) / divisor).
template <int Pos>
struct dim_var {};
template <int... Pos>
struct dim_affine {
  long coef[sizeof...(Pos) > 0 ? sizeof...(Pos) : 1];
  long offset;
  long divisor;
};

template <class... D>
struct dims;
template <>
struct dims<> {};
template <class D, class... R>
struct dims<D, R...> {
  D head;
  dims<R...> tail;
};

struct d_const {
  double value;
};
// Reads slot Slot (a tensor, relation or scalar) at the given subscripts.
template <int Slot, class Dims>
struct d_ref {
  Dims subscripts;
};
template <op Op, class A>
struct d_apply1 {
  A a;
};
template <op Op, class A, class B>
struct d_apply2 {
  A a;
  B b;
};
template <op Op, class A, class B, class C>
struct d_apply3 {
  A a;
  B b;
  C c;
};
// Projection of Body over the indices at positions Pos... (a term's implicit sum, or an explicit tl::sum/max/...).
template <reduce_op Op, class Body, int... Pos>
struct d_project {
  Body body;
};
// A normalizer over the index at position Pos; its row statistics are computed by the kernel before the row.
template <norm_op Op, int Pos, class Body>
struct d_normalize {
  Body body;
};
template <cmp_op Op, class A, class B>
struct d_compare {
  A a;
  B b;
};

}  // namespace tensorlogic::plan
