// ScaleRL: the objectives as equations (CISPO, GRPO, DAPO, GSPO; advantage normalizations; sample, prompt and
// token aggregation; truncated importance sampling), the fused FP32 LM-head log-probability, the sigmoid compute-scaling fit, the no-positive-resampling
// curriculum and zero-variance filtering, and length control (overlong shaping, forced interruptions).
#pragma once
#include <tensorlogic/rl/curriculum.hpp>
#include <tensorlogic/rl/length_control.hpp>
#include <tensorlogic/rl/lm_head.hpp>
#include <tensorlogic/rl/objectives.hpp>
#include <tensorlogic/rl/scaling_fit.hpp>
