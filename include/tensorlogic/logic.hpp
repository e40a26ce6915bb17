// The Datalog engine on relations-as-tensors: domains, .facts files, sparse and bit-packed storage,
// semi-naive fixpoints with stratified negation, queries, provenance, and reasoning in embedding space.
#pragma once
#include <tensorlogic/logic/database.hpp>
#include <tensorlogic/logic/dense.hpp>
#include <tensorlogic/logic/domain.hpp>
#include <tensorlogic/logic/embedding.hpp>
#include <tensorlogic/logic/query.hpp>
#include <tensorlogic/logic/rules.hpp>
#include <tensorlogic/logic/solve.hpp>
#include <tensorlogic/logic/tensor_bridge.hpp>
#include <tensorlogic/logic/tuples.hpp>
