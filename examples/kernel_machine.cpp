// The kernel-machine example as a program of its own; examples/tour.cpp runs it with the others.
#include <iostream>

#include "kernel_machine.hpp"

int main(int argc, char** argv) {
  Kokkos::ScopeGuard guard(argc, argv);
  return example_kernel_machine(std::cout);
}
