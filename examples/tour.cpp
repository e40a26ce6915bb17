// A tour of Tensor Logic: the paper's programs, one after another, each printed as Tensor Logic text, run on small
// built-in data and checked against a naive loop. Returns non-zero if any example fails. `scripts/demo` runs it.
#include <iostream>
#include <ostream>

#include "ancestor.hpp"
#include "attention.hpp"
#include "gnn.hpp"
#include "kernel_machine.hpp"
#include "mlp.hpp"
#include "perceptron.hpp"
#include "pooling.hpp"

namespace {
struct stop {
  const char* title;
  const char* what;
  int (*run)(std::ostream&);
};
}  // namespace

int main(int argc, char** argv) {
  Kokkos::ScopeGuard guard(argc, argv);
  const stop tour[] = {
      {"Perceptron", "a projection closed by a step", example_perceptron},
      {"Multilayer perceptron", "one recursive equation over layers, run to its fixpoint", example_mlp},
      {"Attention", "softmax over a left-hand-side index; the causal variant masks with (q <= p)",
       example_attention},
      {"Graph neural network", "a Boolean relation joined with features, explicit projection scopes",
       example_gnn},
      {"Kernel machine", "Gaussian and polynomial kernels: where the projection goes", example_kernel_machine},
      {"Pooling", "index expressions: x / 2 on the left, 2 * x + dx on the right", example_pooling},
      {"Ancestor", "a recursive Datalog rule, least fixpoint", example_ancestor},
  };
  std::cout << "tensorlogic tour: Tensor Logic programs on Kokkos ("
            << Kokkos::DefaultExecutionSpace::name() << ")\n";
  int number = 0, failed = 0;
  for (const stop& s : tour) {
    std::cout << "\n== " << ++number << ". " << s.title << ": " << s.what << " ==\n";
    const int rc = s.run(std::cout);
    if (rc != 0) {
      ++failed;
      std::cout << "  FAILED\n";
    }
  }
  std::cout << "\n" << (number - failed) << " of " << number << " examples agree with their naive loops\n";
  return failed == 0 ? 0 : 1;
}
