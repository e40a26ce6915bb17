// ScaleRL training utilities: the sigmoid compute-scaling fit, the no-positive-resampling curriculum and
// zero-variance filtering, and length control (overlong shaping, forced interruptions).
#pragma once
#include <tensorlogic/rl/curriculum.hpp>
#include <tensorlogic/rl/length_control.hpp>
#include <tensorlogic/rl/scaling_fit.hpp>
