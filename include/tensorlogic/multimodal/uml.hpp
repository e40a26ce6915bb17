// UML training: modality encoders into one shared trunk, trained on unpaired batches of two modalities.
//
// A UML model is one tensorlogic program. Each modality has its own encoder (any nn fragment into the shared width);
// the shared trunk and head are nn modules applied once per modality with tl::nn::tagged, so both applications read
// one set of weights and the gradient program adds both contributions into each shared weight's gradient. The
// objective's equation is
//     uml.L() = uml.alpha_x * uml.Lx() + uml.alpha_y * uml.Ly()
// with the weights as scalars of the store, so a schedule (the warm start) changes them without recompiling.
//
//     constexpr tl::nn::linear<"img"> enc_x;   constexpr tl::nn::linear<"txt"> enc_y;
//     constexpr tl::nn::mlp<"trunk", float, 1> trunk;          // encoder width -> classes, shared
//     constexpr tl::nn::cross_entropy<"ce"> ce;
//     constexpr tl::multimodal::objective<"uml"> uml;
//     constexpr auto model = tl::compose(
//         enc_x(Zx(n, w), X(n, f)), tl::nn::tagged<"x">(trunk)(Ox(n, c), Zx(n, w)),
//         tl::nn::tagged<"x">(ce)(uml.Lx(), Ox(n, c), Tx(n, c)),
//         enc_y(Zy(m, w), Y(m, v)), tl::nn::tagged<"y">(trunk)(Oy(m, c), Zy(m, w)),
//         tl::nn::tagged<"y">(ce)(uml.Ly(), Oy(m, c), Ty(m, c)),
//         uml());
//     constexpr auto train = tl::gradient(model, uml.L, tl::nn::parameters(enc_x, enc_y, trunk));
//
// tl::multimodal::fit_epoch runs the paper's loop over it: each step fills an X batch and an independently drawn Y
// batch, evaluates the gradient program once (both forward and backward passes through the shared weights) and
// takes one optimizer step on the weighted sum. Inference and evaluation use a program over the primary modality
// alone that shares the trained parameters (tl::nn::share).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <Kokkos_Core.hpp>

#include <tensorlogic/autodiff/optimizer.hpp>
#include <tensorlogic/core/error.hpp>
#include <tensorlogic/core/program.hpp>
#include <tensorlogic/exec/bind.hpp>
#include <tensorlogic/exec/eval.hpp>
#include <tensorlogic/exec/store.hpp>

namespace tensorlogic::multimodal {

namespace detail {
// The value of a rank-0 tensor of the store, read on the host.
template <class Store, class Sym>
double host_scalar(Store& s, const Sym& sym) {
  auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace{}, s[sym]);
  return static_cast<double>(h());
}
}  // namespace detail

// The weighted sum of the two modalities' losses. Lx and Ly are the tensors the modality losses write ("P.Lx",
// "P.Ly"); L ("P.L") is what tl::gradient differentiates; alpha_x and alpha_y are scalars of the store.
template <fixed_string P = "uml", class T = float>
struct objective {
  static constexpr tensor<cat<P, ".L">, T, 0> L{};
  static constexpr tensor<cat<P, ".Lx">, T, 0> Lx{};
  static constexpr tensor<cat<P, ".Ly">, T, 0> Ly{};
  static constexpr scalar<cat<P, ".alpha_x">, T> alpha_x{};
  static constexpr scalar<cat<P, ".alpha_y">, T> alpha_y{};

  constexpr auto operator()() const { return program(L() = alpha_x * Lx() + alpha_y * Ly()); }

  // Binds the two weights; each must be finite and non-negative.
  template <class Store>
  void weigh(Store& s, double ax, double ay) const {
    auto check = [](double a, const char* which) {
      if (!std::isfinite(a) || a < 0)
        throw error(std::string("multimodal::objective: ") + which + " must be finite and non-negative, got " +
                    std::to_string(a));
    };
    check(ax, "alpha_x");
    check(ay, "alpha_y");
    tensorlogic::bind(s, alpha_x, ax);
    tensorlogic::bind(s, alpha_y, ay);
  }
};

// The loss weights of an epoch. alpha_x weighs the primary modality X, alpha_y the auxiliary Y. Warm start (the
// reference's step_k): for the first `warm_start` epochs alpha_x is 0, so only Y trains the shared weights; a
// negative value trains both from the start.
struct weights {
  double alpha_x = 1.0;
  double alpha_y = 1.0;
  int warm_start = -1;

  std::pair<double, double> at(int epoch) const {
    if (epoch < 0) throw error("multimodal::weights: epoch " + std::to_string(epoch) + " is negative");
    return {warm_start >= 0 && epoch < warm_start ? 0.0 : alpha_x, alpha_y};
  }
};

// An endless loader over n samples: batches of `batch` indices read from successive seeded permutations of [0, n),
// reshuffled each time one is used up (a batch may straddle two passes when n is not a multiple of batch). Two
// samplers with different seeds give the independent draws of the unpaired loop.
class batch_sampler {
 public:
  batch_sampler(std::size_t n, std::size_t batch, std::uint64_t seed) : order_(n), gen_(seed), batch_(batch) {
    if (n == 0) throw error("multimodal::batch_sampler: no samples to draw from");
    if (batch == 0) throw error("multimodal::batch_sampler: batch size 0");
    std::iota(order_.begin(), order_.end(), std::size_t{0});
    shuffle();
  }
  // The next batch of indices.
  const std::vector<std::size_t>& next() {
    current_.clear();
    while (current_.size() < batch_) {
      if (pos_ == order_.size()) {
        shuffle();
        ++passes_;
      }
      current_.push_back(order_[pos_++]);
    }
    return current_;
  }
  // Completed passes over the samples.
  std::size_t passes() const { return passes_; }
  std::size_t size() const { return order_.size(); }
  std::size_t batch() const { return batch_; }

 private:
  void shuffle() {
    std::shuffle(order_.begin(), order_.end(), gen_);
    pos_ = 0;
  }
  std::vector<std::size_t> order_;
  std::vector<std::size_t> current_;
  std::mt19937_64 gen_;
  std::size_t batch_;
  std::size_t pos_ = 0;
  std::size_t passes_ = 0;
};

// What an epoch did: the weights it used, the mean losses and the mean global gradient norm (before clipping) over
// its steps.
struct epoch_report {
  int epoch = 0;
  double alpha_x = 0, alpha_y = 0;
  double loss_x = 0, loss_y = 0, loss = 0;
  double grad_norm = 0;
  int steps = 0;
};

// One epoch of `steps` unpaired steps with the weights w.at(epoch). Each step: fill_x(store) and fill_y(store) write
// an X batch and an independently drawn Y batch, the gradient program runs once, the global norm of the parameters'
// gradients is taken (and clipped to max_grad_norm when that is finite), and the optimizer steps. A non-finite loss
// or gradient norm is an error naming the epoch and step, raised before that step's update is applied.
// (Objective is an objective<P, T>, Params the tl::wrt list of the parameters the optimizer updates.)
template <class Train, class Store, class Optimizer, class Objective, class Params, class FillX, class FillY>
epoch_report fit_epoch(const Train& train, Store& s, Optimizer& opt, const Objective& obj, const Params& params,
                       const weights& w, int epoch, int steps, FillX&& fill_x, FillY&& fill_y,
                       double max_grad_norm = std::numeric_limits<double>::infinity()) {
  if (steps <= 0) throw error("multimodal::fit_epoch: steps must be positive, got " + std::to_string(steps));
  if (!(max_grad_norm > 0))
    throw error("multimodal::fit_epoch: max_grad_norm must be positive, got " + std::to_string(max_grad_norm));
  epoch_report r;
  r.epoch = epoch;
  std::tie(r.alpha_x, r.alpha_y) = w.at(epoch);
  obj.weigh(s, r.alpha_x, r.alpha_y);
  for (int k = 0; k < steps; ++k) {
    fill_x(s);
    fill_y(s);
    tensorlogic::eval(train, s);
    const double lx = detail::host_scalar(s, obj.Lx), ly = detail::host_scalar(s, obj.Ly),
                 l = detail::host_scalar(s, obj.L);
    const double norm = tensorlogic::clip_grad_norm(s, params, max_grad_norm);
    if (!std::isfinite(l) || !std::isfinite(norm))
      throw error("multimodal::fit_epoch: at epoch " + std::to_string(epoch) + ", step " + std::to_string(k) +
                  " the loss is " + std::to_string(l) + " (Lx " + std::to_string(lx) + ", Ly " + std::to_string(ly) +
                  ") and the gradient norm " + std::to_string(norm) + "; no update was applied");
    opt.step(s);
    r.loss_x += lx;
    r.loss_y += ly;
    r.loss += l;
    r.grad_norm += norm;
  }
  r.steps = steps;
  r.loss_x /= steps;
  r.loss_y /= steps;
  r.loss /= steps;
  r.grad_norm /= steps;
  return r;
}

// Classification accuracy of logits Z(rows..., c) (row-major, classes last) against labels, one per row.
template <class Store, class Sym, class Labels>
double accuracy(Store& s, const Sym& logits, const Labels& labels) {
  auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace{}, s[logits]);
  const std::size_t classes = h.extent(Sym::rank - 1);
  const std::size_t rows = classes ? h.span() / classes : 0;
  if (static_cast<std::size_t>(std::size(labels)) != rows)
    throw error("multimodal::accuracy: " + std::string(Sym::name.view()) + " has " + std::to_string(rows) +
                " rows, " + std::to_string(std::size(labels)) + " labels were given");
  if (rows == 0) throw error("multimodal::accuracy: " + std::string(Sym::name.view()) + " has no rows");
  std::size_t right = 0, r = 0;
  for (auto label : labels) {
    const auto* row = h.data() + r * classes;
    const std::size_t best = static_cast<std::size_t>(std::max_element(row, row + classes) - row);
    right += static_cast<std::size_t>(label) == best;
    ++r;
  }
  return static_cast<double>(right) / static_cast<double>(rows);
}

}  // namespace tensorlogic::multimodal
