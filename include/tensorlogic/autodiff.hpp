// Gradient programs and optimizers.
#pragma once
#include <tensorlogic/core.hpp>
#include <tensorlogic/autodiff/gradient.hpp>
#include <tensorlogic/autodiff/optimizer.hpp>
