// tl::profile: where a program's time goes. Runs the program like tl::eval (dependency order, same kernels) with a
// fence around every same-left-hand-side group, and returns each group's wall time summed over the repetitions,
// with its head's name, in evaluation order. The fences serialize the groups, so the total is a little above
// tl::eval's; the shares are what to read.
#pragma once
#include <chrono>
#include <string>
#include <vector>

#include <Kokkos_Core.hpp>

#include <tensorlogic/exec/eval.hpp>

namespace tensorlogic {

struct group_time {
  std::string head;    // the tensor the group defines
  int equations = 0;   // how many equations define it
  double seconds = 0;  // summed over the repetitions
};

template <class Prog, class Mem, class Space = Kokkos::DefaultExecutionSpace>
std::vector<group_time> profile(const Prog& prog, store<Prog, Mem>& s, int repetitions = 1,
                                const Space& space = Space{}) {
  using run = detail::runner<Prog, store<Prog, Mem>, Space>;
  run::check_inputs(prog, s);
  constexpr auto& st = Prog::structure;
  std::vector<group_time> out(static_cast<std::size_t>(st.n_groups));
  for (int k = 0; k < st.n_groups; ++k) {
    const int g = st.order[k];
    out[k].head = std::string(Prog::slot_name(static_cast<std::size_t>(st.group_head[g])));
    for (int e = 0; e < st.n_equations; ++e) out[k].equations += st.group_of[e] == g;
  }
  for (int r = 0; r < repetitions; ++r)
    for (int k = 0; k < st.n_groups; ++k) {
      space.fence();
      const auto t0 = std::chrono::steady_clock::now();
      run::run_group(prog, s, space, st.order[k], false);
      space.fence();
      out[k].seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
  return out;
}

}  // namespace tensorlogic
