// Compile-time facts: tables, groups, strata, lowering shapes, validity. Only static_asserts.
#include <tensorlogic/tensorlogic.hpp>

namespace tl = tensorlogic;

namespace {
inline constexpr tl::index<"i"> i;
inline constexpr tl::index<"j"> j;
inline constexpr tl::index<"d", 64> d;
inline constexpr tl::index<"x"> x;
inline constexpr tl::index<"y"> y;
inline constexpr tl::index<"z"> z;
inline constexpr tl::tensor<"W", float, 2> W;
inline constexpr tl::tensor<"X", float, 1> X;
inline constexpr tl::tensor<"Y", float, 1> Y;
inline constexpr tl::tensor<"b", float, 1> b;
inline constexpr tl::relation<"Parent", 2> Parent;
inline constexpr tl::relation<"Anc", 2> Anc;
inline constexpr tl::relation<"Alone", 1> Alone;
inline constexpr tl::relation<"Person", 1> Person;

constexpr auto layer = (Y(i) = tl::relu(W(i, j) * X(j) + b(i)));
static_assert(decltype(layer)::valid);
constexpr auto prog = tl::program(Anc(x, y) = Parent(x, y), Anc(x, z) = Anc(x, y) * Parent(y, z),
                                  Alone(x) = Person(x) * !Anc(x, y), layer);
using P = std::remove_cvref_t<decltype(prog)>;

// the symbol table: one slot per name, in order of first appearance
static_assert(P::n_slots == 8);
static_assert(P::slot_of("Anc") == 0 && P::slot_of("Parent") == 1 && P::slot_of("Alone") == 2);
static_assert(P::slot_of("nope") == -1);
static_assert(std::is_same_v<P::symbol_at<3>, std::remove_cvref_t<decltype(Person)>>);
// the index table
static_assert(P::n_indices == 5);
static_assert(P::index_position("x") == 0 && P::index_position("j") == 4);
// groups and strata: Anc is recursive, Alone negates Anc in a later stratum, the layer stands alone
static_assert(P::structure.n_groups == 3);
static_assert(P::structure.group_of[0] == P::structure.group_of[1]);
static_assert(P::structure.self_read[0]);
static_assert(P::structure.stratum_of[0] < P::structure.stratum_of[1]);
static_assert(P::structure.recursive[P::structure.stratum_of[0]]);
static_assert(!P::structure.recursive[P::structure.stratum_of[1]]);
static_assert(P::valid);

// lowering: the term W(i,j) X(j) is projected over j; the relu and the bias stay outside
constexpr auto lowered = tl::plan::lower_rhs<P>(layer);
using L = std::remove_cvref_t<decltype(lowered)>;
using expected = tl::plan::d_apply1<
    tl::op::relu,
    tl::plan::d_apply2<
        tl::op::add,
        tl::plan::d_project<tl::reduce_op::sum,
                            tl::plan::d_apply2<tl::op::mul, tl::plan::d_ref<5, tl::plan::dims<tl::plan::dim_var<3>, tl::plan::dim_var<4>>>,
                                               tl::plan::d_ref<6, tl::plan::dims<tl::plan::dim_var<4>>>>,
                            4>,
        tl::plan::d_ref<7, tl::plan::dims<tl::plan::dim_var<3>>>>>;
static_assert(std::is_same_v<L, expected>);

// static extents reach the index table
constexpr auto stat = tl::program(Y(d) = X(d));
static_assert(std::remove_cvref_t<decltype(stat)>::indices.items[0].extent == 64);

// index expressions are affine values; their structure is in the type
constexpr auto shifted = x + 1;
static_assert(shifted.offset == 1 && shifted.coef[0] == 1 && shifted.divisor == 1);
constexpr auto pooled = (x + y) / 2;
static_assert(pooled.divisor == 2 && decltype(pooled)::divided && decltype(pooled)::nvars == 2);
constexpr auto merged = x + y - x;
static_assert(merged.coef[0] == 0 && merged.coef[1] == 1);

// symbol metadata
static_assert(decltype(Anc)::kind == tl::symbol_kind::relation && decltype(Anc)::rank == 2);
static_assert(decltype(W)::name.view() == "W");
}  // namespace
