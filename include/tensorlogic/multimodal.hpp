// UML shared encoders: the linear-Gaussian theory of unpaired multimodal learning (stacked least squares, effective
// Fisher information, identifiability, exchange rate, Monte Carlo).
#pragma once
#include <tensorlogic/multimodal/linear_gaussian.hpp>
