// xtensor adoption and printing equations as Tensor Logic text.
#pragma once
#include <tensorlogic/exec.hpp>
#include <tensorlogic/interop/pointer.hpp>
#include <tensorlogic/interop/to_string.hpp>
#include <tensorlogic/interop/xtensor.hpp>
