// tl::error, the run-time error type, and the compile-time diagnostics: each malformed program selects one
// error type below whose template arguments carry the culprit's names (the compiler's note shows them) and whose
// static_assert prints one line starting "tensorlogic:".
#pragma once
#include <stdexcept>
#include <string>

#include <tensorlogic/core/fixed_string.hpp>

namespace tensorlogic {

// Thrown for bad run-time input, always before any kernel launches.
struct error : std::runtime_error {
  explicit error(const std::string& what) : std::runtime_error("tensorlogic: " + what) {}
};

namespace diagnostics {

template <class...>
inline constexpr bool always_false = false;

// `Tensor` is the left-hand-side tensor of the offending equation, `Index` the culprit index (or tensor).
template <fixed_string Tensor, fixed_string Index>
struct unsafe_index {
  static_assert(always_false<unsafe_index>,
                "tensorlogic: in the equation for tensor T, index I is on the left-hand "
                "side but in no term (unsafe rule)");
};
template <fixed_string Tensor, std::size_t Expected, std::size_t Given>
struct rank_mismatch {
  static_assert(always_false<rank_mismatch>,
                "tensorlogic: rank mismatch: tensor T is referenced with the wrong number of indices");
};
template <fixed_string Tensor, fixed_string Index>
struct normalized_index_not_on_lhs {
  static_assert(always_false<normalized_index_not_on_lhs>,
                "tensorlogic: in the equation for tensor T, normalized index I is not on "
                "the left-hand side");
};
template <fixed_string Tensor, fixed_string Index>
struct normalizer_not_outer {
  static_assert(always_false<normalizer_not_outer>,
                "tensorlogic: in the equation for tensor T, a softmax/log_softmax/lnorm inside a term uses index I, "
                "which is not on the left-hand side; make the normalizer the outer function or project I inside it");
};
template <fixed_string Tensor, fixed_string Index>
struct ambiguous_projection {
  static_assert(always_false<ambiguous_projection>,
                "tensorlogic: in the equation for tensor T, index I is projected separately "
                "in two terms under an outer function; write tl::sum(index, ...) inside or outside the function");
};
template <fixed_string Index, std::size_t A, std::size_t B>
struct static_extent_conflict {
  static_assert(always_false<static_extent_conflict>,
                "tensorlogic: static extent conflict: index I is declared with two different static "
                "extents");
};
template <fixed_string Tensor>
struct conflicting_declarations {
  static_assert(always_false<conflicting_declarations>,
                "tensorlogic: tensor T is declared twice with different kinds, element types or ranks");
};
template <fixed_string Relation, fixed_string Head>
struct negation_in_cycle {
  static_assert(always_false<negation_in_cycle>,
                "tensorlogic: program is not stratifiable: relation R is negated inside a recursive "
                "cycle through head H");
};
template <fixed_string Tensor>
struct negation_of_tensor {
  static_assert(always_false<negation_of_tensor>,
                "tensorlogic: negation !R(...) applies to relations only; tensor T is not a relation");
};
template <fixed_string Tensor, fixed_string Index>
struct repeated_lhs_index {
  static_assert(always_false<repeated_lhs_index>,
                "tensorlogic: in the equation for tensor T, index I appears twice on the "
                "left-hand side");
};
template <fixed_string Tensor, fixed_string Index>
struct unsupported_lhs_index_expression {
  static_assert(always_false<unsupported_lhs_index_expression>,
                "tensorlogic: in the equation for tensor T, a left-hand-side subscript must be an index, "
                "index + constant, index / constant or a constant; index I is used otherwise");
};
template <fixed_string Tensor, fixed_string Index>
struct reduced_index_not_in_body {
  static_assert(always_false<reduced_index_not_in_body>,
                "tensorlogic: in the equation for tensor T, index I is projected by an "
                "explicit tl::sum/max/min/mean/any/logsumexp but does not occur in its expression");
};
template <fixed_string Tensor, fixed_string Index>
struct reduced_index_on_lhs {
  static_assert(always_false<reduced_index_on_lhs>,
                "tensorlogic: in the equation for tensor T, index I is kept on the "
                "left-hand side but projected away inside the right-hand side");
};
template <fixed_string Tensor>
struct scalar_on_lhs {
  static_assert(always_false<scalar_on_lhs>,
                "tensorlogic: scalar T is a run-time hyperparameter and cannot be the left-hand side "
                "of an equation");
};
template <fixed_string Tensor, fixed_string Index>
struct normalized_lhs_not_plain {
  static_assert(always_false<normalized_lhs_not_plain>,
                "tensorlogic: in the equation for tensor T, an equation with softmax/log_softmax/lnorm needs "
                "plain indices on its left-hand side; index I is not");
};
template <fixed_string Tensor>
struct several_normalizers {
  static_assert(always_false<several_normalizers>,
                "tensorlogic: in the equation for tensor T, at most one softmax/log_softmax/lnorm per "
                "equation");
};
template <fixed_string Tensor>
struct unknown_symbol {
  static_assert(always_false<unknown_symbol>,
                "tensorlogic: tensor T is not part of the program this store was made for");
};

}  // namespace diagnostics
}  // namespace tensorlogic
