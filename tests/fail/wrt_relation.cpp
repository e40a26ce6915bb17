// expect: error: static assertion failed: tensorlogic: tl::wrt takes tensors. relations are not differentiable
// Relations are Boolean: no gradient is asked of them.
#include <tensorlogic/tensorlogic.hpp>

namespace tl = tensorlogic;

inline constexpr tl::relation<"Edge", 2> Edge;

constexpr auto bad = tl::wrt(Edge);

int main() {}
