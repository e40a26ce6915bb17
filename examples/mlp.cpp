// The MLP example as a program of its own; examples/tour.cpp runs it with the others.
#include <iostream>

#include "mlp.hpp"

int main(int argc, char** argv) {
  Kokkos::ScopeGuard guard(argc, argv);
  return example_mlp(std::cout);
}
