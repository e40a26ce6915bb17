// The language: symbols, expressions, equations, programs.
#pragma once
#include <tensorlogic/core/equation.hpp>
#include <tensorlogic/core/error.hpp>
#include <tensorlogic/core/expression.hpp>
#include <tensorlogic/core/fixed_string.hpp>
#include <tensorlogic/core/index.hpp>
#include <tensorlogic/core/program.hpp>
#include <tensorlogic/core/tensor.hpp>
