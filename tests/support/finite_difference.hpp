// Test support: compares a gradient program's grad(W) with central finite differences of the forward program.
#pragma once
#include <catch2/catch.hpp>
#include <cmath>
#include <tensorlogic/tensorlogic.hpp>

namespace tensorlogic::test {

// `setup(store)` fills the inputs of either store; both stores are made with `ext`. Checks every element of W.
template <class Model, class Train, class Loss, class Param, class Setup>
double max_gradient_error(const Model& model, const Train& train, const Loss& loss, const Param& param,
                          const extents_list& ext, Setup setup, double h = 1e-6) {
  tensorlogic::store g(train, ext);
  setup(g);
  tensorlogic::eval(train, g);
  auto analytic = g[tensorlogic::grad(param)];
  tensorlogic::store f(model, ext);
  setup(f);
  auto w = f[param];
  double worst = 0;
  for (std::size_t k = 0; k < w.size(); ++k) {
    const double w0 = w.data()[k];
    w.data()[k] = w0 + h;
    tensorlogic::eval(model, f);
    const double up = f[loss]();
    w.data()[k] = w0 - h;
    tensorlogic::eval(model, f);
    const double down = f[loss]();
    w.data()[k] = w0;
    const double numeric = (up - down) / (2 * h);
    const double err = std::abs(numeric - analytic.data()[k]) / std::max(1.0, std::abs(numeric));
    worst = std::max(worst, err);
  }
  return worst;
}

}  // namespace tensorlogic::test
