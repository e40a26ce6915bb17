// The perceptron example as a program of its own; examples/tour.cpp runs it with the others.
#include <iostream>

#include "perceptron.hpp"

int main(int argc, char** argv) {
  Kokkos::ScopeGuard guard(argc, argv);
  return example_perceptron(std::cout);
}
