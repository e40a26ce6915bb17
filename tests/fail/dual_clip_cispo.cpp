// expect: error: static assertion failed: tensorlogic: rl::extras::dual_clip applies to loss_kind::grpo and loss_kind::dapo only
// The dual clip bounds a clipped ratio's objective for negative advantages; CISPO has no clipped surrogate.
#include <tensorlogic/rl.hpp>

namespace rl = tensorlogic::rl;

int main() {
  constexpr auto prog = rl::objective<rl::loss_kind::cispo, rl::aggregation::prompt_average,
                                      rl::advantage_norm::batch_std, false, rl::extras{.dual_clip = true}>();
  (void)prog;
}
