// Running programs: stores, bindings, kernels, eval and fixpoint.
#pragma once
#include <tensorlogic/plan.hpp>
#include <tensorlogic/exec/attention.hpp>
#include <tensorlogic/exec/attention_backward.hpp>
#include <tensorlogic/exec/bind.hpp>
#include <tensorlogic/exec/eval.hpp>
#include <tensorlogic/exec/kernel.hpp>
#include <tensorlogic/exec/profile.hpp>
#include <tensorlogic/exec/store.hpp>
