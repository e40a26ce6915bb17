// Test support: compares a gradient program's grad(W) with central finite differences of the forward program.
#pragma once
#include <catch2/catch.hpp>
#include <cmath>
#include <functional>
#include <string_view>
#include <tensorlogic/tensorlogic.hpp>

#include "naive.hpp"

namespace tensorlogic::test {

// `setup(store)` fills the inputs of either store; both stores are made with `ext`. Checks every element of W.
// With Recursive, both programs run with tl::fixpoint (layered recurrences such as an RNN over time).
template <bool Recursive = false, class Model, class Train, class Loss, class Param, class Setup>
double max_gradient_error(const Model& model, const Train& train, const Loss& loss, const Param& param,
                          const extents_list& ext, Setup setup, double h = 1e-6) {
  auto run = [&](const auto& prog, auto& s) {
    if constexpr (Recursive)
      tensorlogic::fixpoint(prog, s);
    else
      tensorlogic::eval(prog, s);
  };
  tensorlogic::store g(train, ext);
  setup(g);
  run(train, g);
  auto analytic = g[tensorlogic::grad(param)];
  tensorlogic::store f(model, ext);
  setup(f);
  auto w = f[param];
  double worst = 0;
  for (std::size_t k = 0; k < w.size(); ++k) {
    const double w0 = w.data()[k];
    w.data()[k] = w0 + h;
    run(model, f);
    const double up = f[loss]();
    w.data()[k] = w0 - h;
    run(model, f);
    const double down = f[loss]();
    w.data()[k] = w0;
    const double numeric = (up - down) / (2 * h);
    const double err = std::abs(numeric - analytic.data()[k]) / std::max(1.0, std::abs(numeric));
    worst = std::max(worst, err);
  }
  return worst;
}


// Checks every parameter of a tl::wrt list (relative error below `tolerance`), each in its own CHECK naming it.
template <bool Recursive = false, class Model, class Train, class Loss, class Setup, class... W>
void check_parameters(const Model& model, const Train& train, const Loss& loss, wrt_list<W...>,
                      const extents_list& ext, Setup setup, double tolerance = 1e-6) {
  auto one = [&](auto w) {
    INFO("gradient of " << decltype(w)::name.view());
    CHECK(max_gradient_error<Recursive>(model, train, loss, w, ext, setup) < tolerance);
  };
  (one(W{}), ...);
}

// Fills every tensor with values seeded by its name, so a model's store and its gradient program's store agree.
template <class Store>
void fill_all(Store& s) {
  using prog = typename Store::program_type;
  [&]<std::size_t... S>(std::index_sequence<S...>) {
    ((tensorlogic::test::fill_random(tensorlogic::get<S>(s.views()),
                  static_cast<unsigned>(std::hash<std::string_view>{}(prog::slot_name(S)) & 0xffffu), -0.9, 0.9)),
     ...);
  }(std::make_index_sequence<Store::n_slots>{});
  for (std::size_t slot = 0; slot < Store::n_slots; ++slot) s.mark_bound(slot);
}
}  // namespace tensorlogic::test

// Checks grad(param) of tl::gradient(model, L, tl::wrt(param)) against finite differences (L must be in scope).
#define TL_CHECK_GRADIENT(model, param, ext)                                                                    \
  do {                                                                                                           \
    constexpr auto train_ = tensorlogic::gradient(model, L, tensorlogic::wrt(param));                                              \
    auto setup_ = [](auto& s) { tensorlogic::test::fill_all(s); };                                                                  \
    CHECK(tensorlogic::test::max_gradient_error(model, train_, L, param, ext, setup_) < 1e-6);                                      \
  } while (0)
