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
static_assert(P::slot_name(2) == "Alone" && P::slot_name(7) == "b" && P::slot_name(8).empty());
// the K-th type of a pack (one instantiation per lookup, duplicates kept apart by position)
static_assert(std::is_same_v<tl::detail::pack_element_t<0, int, float, int>, int>);
static_assert(std::is_same_v<tl::detail::pack_element_t<1, int, float, int>, float>);
static_assert(std::is_same_v<tl::detail::pack_element_t<2, int, float, int>, int>);
// the store's indexed tuple: get<K> is the K-th element, also among repeated types, and it is constexpr
constexpr tl::indexed_tuple<int, float, int> three{{{7}, {2.5f}, {9}}};
static_assert(tl::get<0>(three) == 7 && tl::get<1>(three) == 2.5f && tl::get<2>(three) == 9);
static_assert(std::is_same_v<decltype(tl::get<1>(three)), const float&> && decltype(three)::size == 3);
static_assert(std::is_same_v<tl::detail::element_t<1, decltype(three)>, float>);
static_assert(tl::detail::apply_tuple([](int a, float b, int c) { return a + b + c; }, three) == 18.5f);
static_assert([] {
  tl::indexed_tuple<int, int> t{};
  tl::get<1>(t) = 4;
  return tl::get<0>(t) == 0 && tl::get<1>(t) == 4;
}());
// unique by name keeps the first symbol of each name, in order; a conflicting redeclaration is found by name
inline constexpr tl::tensor<"W", double, 2> W_double;
inline constexpr tl::tensor<"X", float, 2> X_rank2;
static_assert(std::is_same_v<tl::detail::unique_by_name<tl::type_list<tl::tensor<"W", float, 2>, tl::tensor<"X", float, 1>,
                                                                       tl::tensor<"W", float, 2>, tl::tensor<"b", float, 1>>>::type,
                             tl::type_list<tl::tensor<"W", float, 2>, tl::tensor<"X", float, 1>, tl::tensor<"b", float, 1>>>);
static_assert(tl::detail::conflicting_name(tl::type_list<std::remove_cvref_t<decltype(W)>, std::remove_cvref_t<decltype(X)>,
                                                         std::remove_cvref_t<decltype(W)>>{})
                  .empty());
static_assert(tl::detail::conflicting_name(tl::type_list<std::remove_cvref_t<decltype(X)>, std::remove_cvref_t<decltype(W)>,
                                                         std::remove_cvref_t<decltype(W_double)>>{}) == "W");
static_assert(tl::detail::conflicting_name(tl::type_list<std::remove_cvref_t<decltype(X)>, std::remove_cvref_t<decltype(X_rank2)>>{}) ==
              "X");
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

// lowering copies the values: numbers, index-expression coefficients (also inside a comparison), under an explicit
// projection that the term's implicit sum wraps
inline constexpr tl::tensor<"V", double, 2> V;
inline constexpr tl::tensor<"U", double, 1> U;
constexpr auto valued = tl::program(U(i) = 2.5 * tl::max(j, V(i, j + 3) * (j < i + 2)) - 0.25 * V(i, (j + 1) / 2));
using PV = std::remove_cvref_t<decltype(valued)>;
constexpr auto lv = tl::plan::lower_rhs<PV>(tl::get<0>(valued.equations));
static_assert(lv.a.a.value == 2.5);
static_assert(lv.a.b.body.b.b.offset == 2 && lv.a.b.body.b.b.coef[0] == 1 && lv.a.b.body.b.b.divisor == 1);
static_assert(lv.a.b.body.a.subscripts.tail.head.offset == 3);
static_assert(lv.b.body.a.value == 0.25);
static_assert(lv.b.body.b.subscripts.tail.head.offset == 1 && lv.b.body.b.subscripts.tail.head.divisor == 2);

// kernels number the slots they read locally, in order of first appearance: two layers of the same shape over
// different tensors lower to different descriptors but instantiate one kernel
inline constexpr tl::index<"n"> n;
inline constexpr tl::index<"o"> o;
inline constexpr tl::tensor<"H0", float, 2> H0;
inline constexpr tl::tensor<"H1", float, 2> H1;
inline constexpr tl::tensor<"H2", float, 2> H2;
inline constexpr tl::tensor<"W1", float, 2> W1;
inline constexpr tl::tensor<"W2", float, 2> W2;
inline constexpr tl::tensor<"b1", float, 1> b1;
inline constexpr tl::tensor<"b2", float, 1> b2;
constexpr auto stack = tl::program(H1(n, o) = tl::tanh(W1(o, i) * H0(n, i) + b1(o)),
                                   H2(n, i) = tl::tanh(W2(i, o) * H1(n, o) + b2(i)),
                                   H0(n, i) = tl::tanh(W1(i, o) * H1(n, o) + b2(i) * b2(i)));
using PS = std::remove_cvref_t<decltype(stack)>;
using r1 = tl::plan::lowered_rhs_t<PS, std::remove_cvref_t<decltype(tl::get<0>(stack.equations))>>;
using r2 = tl::plan::lowered_rhs_t<PS, std::remove_cvref_t<decltype(tl::get<1>(stack.equations))>>;
using r3 = tl::plan::lowered_rhs_t<PS, std::remove_cvref_t<decltype(tl::get<2>(stack.equations))>>;
using map1 = tl::detail::local_slots<r1>;
using map3 = tl::detail::local_slots<r3>;
static_assert(map1::count == 3 && map1::global(0) == PS::slot_of("W1") && map1::global(1) == PS::slot_of("H0") &&
              map1::global(2) == PS::slot_of("b1"));
static_assert(map1::local(PS::slot_of("b1")) == 2 && map1::local(PS::slot_of("H2")) == -1);
static_assert(map3::count == 3 && map3::global(2) == PS::slot_of("b2"));  // b2 read twice, one slot
// layers 1 and 2 differ only in their tensors (i and o swap roles, but positions are what the descriptors keep:
// not the same shape); layer 1 and a copy of it over other tensors are the same kernel
static_assert(!std::is_same_v<r1, r2>);
using r1b = tl::plan::lowered_rhs_t<PS, std::remove_cvref_t<decltype(H2(n, o) = tl::tanh(W2(o, i) * H1(n, i) + b2(o)))>>;
static_assert(!std::is_same_v<r1, r1b>);
static_assert(std::is_same_v<tl::detail::local_t<r1, r1>, tl::detail::local_t<r1b, r1b>>);
static_assert(!std::is_same_v<tl::detail::local_t<r1, r1>, tl::detail::local_t<r3, r3>>);

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

// expression nodes hold operands and subscripts in indexed tuples: tuple-like, read by tensorlogic::get, constant
// values carried through; relu(W X + b) is apply<relu, apply<add, apply<mul, W, X>, b>>
constexpr auto rhs = layer.rhs;
using sum_t = std::remove_cvref_t<decltype(tl::get<0>(rhs.args))>;
static_assert(std::tuple_size_v<decltype(rhs.args)> == 1 && std::tuple_size_v<decltype(sum_t{}.args)> == 2);
static_assert(std::is_same_v<std::tuple_element_t<1, decltype(sum_t{}.args)>, decltype(b(i))>);
static_assert(std::tuple_size_v<decltype(W(i, j).dims)> == 2);
static_assert(std::is_same_v<std::remove_cvref_t<decltype(tl::get<1>(W(i, j).dims))>, tl::index<"j">>);
constexpr auto scaled = 2.5 * X(j) - 0.5;
static_assert(tl::get<1>(scaled.args).value == 0.5 && tl::get<0>(tl::get<0>(scaled.args).args).value == 2.5);
constexpr auto shifted_ref = X(j + 2);
static_assert(tl::get<0>(shifted_ref.dims).offset == 2);

// symbol metadata
static_assert(decltype(Anc)::kind == tl::symbol_kind::relation && decltype(Anc)::rank == 2);
static_assert(decltype(W)::name.view() == "W");
}  // namespace
