// Optimizers over the tensors of a gradient program's store: SGD with momentum, AdamW (epsilon down to 1e-15),
// global-norm gradient clipping and learning-rate schedules (constant, linear warm-up, cosine). Updates run as
// named Kokkos functors on the store's memory space; the update arithmetic is done in double.
#pragma once
#include <Kokkos_Core.hpp>
#include <cmath>
#include <functional>
#include <numbers>
#include <string>
#include <tuple>

#include <tensorlogic/autodiff/gradient.hpp>
#include <tensorlogic/exec/kernel.hpp>
#include <tensorlogic/exec/store.hpp>

namespace tensorlogic {

// Learning-rate schedules: step (0-based) -> learning rate.
namespace schedule {
inline std::function<double(long)> constant(double lr) {
  return [lr](long) { return lr; };
}
// Linear warm-up from lr / warmup to lr over `warmup` steps, then constant.
inline std::function<double(long)> linear_warmup(double lr, long warmup) {
  return [lr, warmup](long step) { return step < warmup ? lr * double(step + 1) / double(warmup) : lr; };
}
// Linear warm-up, then cosine decay from lr to final_lr at step `total`.
inline std::function<double(long)> cosine(double lr, long total, long warmup = 0, double final_lr = 0.0) {
  return [=](long step) {
    if (step < warmup) return lr * double(step + 1) / double(warmup);
    const double t = total > warmup ? double(step - warmup) / double(total - warmup) : 1.0;
    const double c = 0.5 * (1.0 + std::cos(std::numbers::pi * (t < 1.0 ? t : 1.0)));
    return final_lr + (lr - final_lr) * c;
  };
}
}  // namespace schedule

namespace detail {
template <class T>
struct sum_of_squares {
  const T* g;
  KOKKOS_INLINE_FUNCTION void operator()(const long k, double& acc) const { acc += double(g[k]) * double(g[k]); }
};
template <class T>
struct scale_values {
  T* g;
  double factor;
  KOKKOS_INLINE_FUNCTION void operator()(const long k) const { g[k] = static_cast<T>(double(g[k]) * factor); }
};
template <class T>
struct sgd_update {
  T* w;
  const T* g;
  double* velocity;
  double lr, momentum, weight_decay;
  bool nesterov;
  KOKKOS_INLINE_FUNCTION void operator()(const long k) const {
    const double grad = double(g[k]) + weight_decay * double(w[k]);
    const double v = momentum * velocity[k] + grad;
    velocity[k] = v;
    const double d = nesterov ? grad + momentum * v : v;
    w[k] = static_cast<T>(double(w[k]) - lr * d);
  }
};
template <class T>
struct adamw_update {
  T* w;
  const T* g;
  double* m;
  double* v;
  double lr, beta1, beta2, eps, weight_decay, correction1, correction2;
  KOKKOS_INLINE_FUNCTION void operator()(const long k) const {
    const double grad = double(g[k]);
    const double mk = beta1 * m[k] + (1.0 - beta1) * grad;
    const double vk = beta2 * v[k] + (1.0 - beta2) * grad * grad;
    m[k] = mk;
    v[k] = vk;
    const double mhat = mk / correction1;
    const double vhat = vk / correction2;
    // decoupled weight decay (Loshchilov & Hutter)
    const double updated = double(w[k]) * (1.0 - lr * weight_decay) - lr * mhat / (exec::kmath::sqrt(vhat) + eps);
    w[k] = static_cast<T>(updated);
  }
};

template <class Store, class W>
auto flat(Store& s, const W& w) {
  auto& v = s[w];
  return std::pair{v.data(), static_cast<long>(v.size())};
}
}  // namespace detail

// The global L2 norm of grad(W) over all listed tensors; when it exceeds max_norm, every gradient is scaled by
// max_norm / norm. Returns the norm before clipping.
template <class Store, class... W, class Space = Kokkos::DefaultExecutionSpace>
double clip_grad_norm(Store& s, wrt_list<W...>, double max_norm, const Space& space = Space{}) {
  double total = 0;
  (
      [&] {
        auto [g, n] = detail::flat(s, grad_symbol<W>{});
        double part = 0;
        Kokkos::parallel_reduce("tensorlogic::grad_norm", Kokkos::RangePolicy<Space, Kokkos::IndexType<long>>(space, 0, n),
                                detail::sum_of_squares<typename W::value_type>{g}, part);
        total += part;
      }(),
      ...);
  const double norm = std::sqrt(total);
  if (norm > max_norm && norm > 0) {
    (
        [&] {
          auto [g, n] = detail::flat(s, grad_symbol<W>{});
          Kokkos::parallel_for("tensorlogic::clip", Kokkos::RangePolicy<Space, Kokkos::IndexType<long>>(space, 0, n),
                               detail::scale_values<typename W::value_type>{g, max_norm / norm});
        }(),
        ...);
  }
  space.fence();
  return norm;
}

struct sgd_options {
  std::function<double(long)> lr = schedule::constant(1e-2);
  double momentum = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
};

struct adamw_options {
  std::function<double(long)> lr = schedule::constant(1e-3);
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;  // may be as small as 1e-15 (ScaleRL)
  double weight_decay = 0.01;
};

namespace detail {
template <class Store, class... W>
class optimizer_state {
 protected:
  using memory_space = typename Store::memory_space;
  using buffer = Kokkos::View<double*, memory_space>;
  explicit optimizer_state(Store& s, int buffers_per_tensor) {
    std::size_t k = 0;
    ((sizes_[k++] = static_cast<std::size_t>(s[W{}].size())), ...);
    for (std::size_t t = 0; t < sizeof...(W); ++t)
      for (int b = 0; b < buffers_per_tensor; ++b)
        buffers_[t][b] = buffer("tensorlogic::optimizer state", sizes_[t]);
  }
  std::array<std::size_t, sizeof...(W)> sizes_{};
  std::array<std::array<buffer, 2>, sizeof...(W)> buffers_{};
  long step_ = 0;

 public:
  long steps() const { return step_; }
};
}  // namespace detail

// SGD with momentum: v = mu v + (g + wd w); w -= lr v (or lr (g + mu v) with Nesterov).
template <class Store, class... W>
class sgd : detail::optimizer_state<Store, W...> {
  using base = detail::optimizer_state<Store, W...>;

 public:
  sgd(Store& s, wrt_list<W...>, sgd_options options = {}) : base(s, 1), options_(std::move(options)) {}
  using base::steps;

  template <class Space = Kokkos::DefaultExecutionSpace>
  void step(Store& s, const Space& space = Space{}) {
    const double lr = options_.lr(this->step_);
    std::size_t t = 0;
    (
        [&] {
          auto [w, n] = detail::flat(s, W{});
          auto [g, ng] = detail::flat(s, grad_symbol<W>{});
          (void)ng;
          Kokkos::parallel_for("tensorlogic::sgd", Kokkos::RangePolicy<Space, Kokkos::IndexType<long>>(space, 0, n),
                               detail::sgd_update<typename W::value_type>{w, g, this->buffers_[t][0].data(), lr,
                                                                          options_.momentum, options_.weight_decay,
                                                                          options_.nesterov});
          ++t;
        }(),
        ...);
    space.fence();
    ++this->step_;
  }

 private:
  sgd_options options_;
};
template <class Store, class... W>
sgd(Store&, wrt_list<W...>, sgd_options = {}) -> sgd<Store, W...>;

// AdamW with bias correction and decoupled weight decay.
template <class Store, class... W>
class adamw : detail::optimizer_state<Store, W...> {
  using base = detail::optimizer_state<Store, W...>;

 public:
  adamw(Store& s, wrt_list<W...>, adamw_options options = {}) : base(s, 2), options_(std::move(options)) {
    if (!(options_.eps > 0)) throw error("adamw: eps must be positive");
  }
  using base::steps;

  template <class Space = Kokkos::DefaultExecutionSpace>
  void step(Store& s, const Space& space = Space{}) {
    const double lr = options_.lr(this->step_);
    const double t1 = double(this->step_ + 1);
    const double c1 = 1.0 - std::pow(options_.beta1, t1);
    const double c2 = 1.0 - std::pow(options_.beta2, t1);
    std::size_t t = 0;
    (
        [&] {
          auto [w, n] = detail::flat(s, W{});
          auto [g, ng] = detail::flat(s, grad_symbol<W>{});
          (void)ng;
          Kokkos::parallel_for("tensorlogic::adamw", Kokkos::RangePolicy<Space, Kokkos::IndexType<long>>(space, 0, n),
                               detail::adamw_update<typename W::value_type>{
                                   w, g, this->buffers_[t][0].data(), this->buffers_[t][1].data(), lr, options_.beta1,
                                   options_.beta2, options_.eps, options_.weight_decay, c1, c2});
          ++t;
        }(),
        ...);
    space.fence();
    ++this->step_;
  }

 private:
  adamw_options options_;
};
template <class Store, class... W>
adamw(Store&, wrt_list<W...>, adamw_options = {}) -> adamw<Store, W...>;

}  // namespace tensorlogic
