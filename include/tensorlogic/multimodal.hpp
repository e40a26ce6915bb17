// UML shared encoders: training one shared trunk on unpaired batches of two modalities (objective, loss-weight
// schedule with warm start, batch samplers, the training epoch, accuracy), and the linear-Gaussian theory of unpaired
// multimodal learning (stacked least squares, effective Fisher information, identifiability, exchange rate, Monte
// Carlo).
#pragma once
#include <tensorlogic/multimodal/linear_gaussian.hpp>
#include <tensorlogic/multimodal/uml.hpp>
