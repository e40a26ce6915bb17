// Analysis and lowering of equations to structural descriptors.
#pragma once
#include <tensorlogic/core.hpp>
#include <tensorlogic/plan/descriptor.hpp>
#include <tensorlogic/plan/explain.hpp>
#include <tensorlogic/plan/lower.hpp>
