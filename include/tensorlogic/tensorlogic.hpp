// tensorlogic: every model and objective is a tensor equation whose structure is a type.
#pragma once
#include <tensorlogic/autodiff.hpp>
#include <tensorlogic/core.hpp>
#include <tensorlogic/exec.hpp>
#include <tensorlogic/interop.hpp>
#include <tensorlogic/logic.hpp>
#include <tensorlogic/nn.hpp>
#include <tensorlogic/plan.hpp>
#include <tensorlogic/reasoning.hpp>
#include <tensorlogic/rl.hpp>
