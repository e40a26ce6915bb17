// Policy-gradient objectives for language-model RL as tensor-logic equations (ScaleRL, arXiv 2510.13786, and the
// losses it compares): advantages (group, batch-level and no std normalization), per-token losses (CISPO, GRPO,
// DAPO, GSPO, optionally times a truncated importance-sampling correction, GRPO / DAPO optionally with the dual
// clip for negative advantages) and aggregations (sample, prompt and token average), over tensors indexed by prompt
// p, completion g and token t, plus two optional regularizers aggregated the same way: a KL penalty against a
// reference policy (k1 or k3 estimator) and an entropy bonus computed from the logits over a vocabulary index v.
// tl::rl::objective<...>() returns the program whose rank-0 tensor tl::rl::loss is the loss (minus the objective);
// tl::gradient(prog, tl::rl::loss, tl::wrt(tl::rl::logp)) differentiates it (add tl::rl::logits to the wrt list
// for the entropy bonus's gradient). Also: tl::rl::bind_hyperparameters, which binds the run-time scalars a
// program uses, and tl::rl::check_batch, a host-side validator of the inputs to run before tl::eval.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <limits>
#include <string>
#include <tensorlogic/core.hpp>
#include <tensorlogic/exec.hpp>
#include <tuple>
#include <type_traits>

namespace tensorlogic::rl {

// ---------------------------------------------------------------------------------------------------------------
// Symbols. Inputs: logp, logp_old, mask and reward (and logp_gen for the truncated-IS correction, advantage when the
// advantages are given, logp_ref for the KL penalty, logits for the entropy bonus). Everything else is computed by
// the equations below.
// ---------------------------------------------------------------------------------------------------------------

inline constexpr index<"p"> p;  // prompt
inline constexpr index<"g"> g;  // completion of a prompt (its group has G members)
inline constexpr index<"t"> t;  // token of a completion
inline constexpr index<"v"> v;  // vocabulary entry (the entropy bonus's logits only)

inline constexpr tensor<"logp", double, 3> logp;          // log pi_theta(y_{p,g,t} | ...), current policy
inline constexpr tensor<"logp_old", double, 3> logp_old;  // log pi_old: the policy that the ratio is taken against
inline constexpr tensor<"logp_gen", double, 3> logp_gen;  // log-probs the generator recorded (truncated IS)
inline constexpr tensor<"mask", double, 3> mask;          // 1 for a token of the completion, 0 for padding / dropped
inline constexpr tensor<"reward", double, 2> reward;      // r_{p,g}
inline constexpr tensor<"advantage", double, 2> advantage;  // A_{p,g}: computed, or given (advantage_norm::given)
inline constexpr tensor<"logp_ref", double, 3> logp_ref;  // log pi_ref of the sampled tokens (KL penalty)
inline constexpr tensor<"logits", double, 4> logits;      // Z_{p,g,t,v}: the policy's logits (entropy bonus)

inline constexpr tensor<"comp_len", double, 2> comp_len;      // |y_{p,g}| = sum_t mask
inline constexpr tensor<"present", double, 2> present;        // 1 if the completion has a token, else 0
inline constexpr tensor<"group_count", double, 1> group_count;  // completions of prompt p that are present
inline constexpr tensor<"group_mean", double, 1> group_mean;  // mean reward over the present completions of p
inline constexpr tensor<"group_std", double, 1> group_std;    // std of those rewards
inline constexpr tensor<"centered", double, 2> centered;      // r - group_mean, 0 for absent completions
inline constexpr tensor<"completion_count", double, 0> completion_count;  // present completions in the batch
inline constexpr tensor<"batch_std", double, 0> batch_std;    // std of every centered advantage of the batch

inline constexpr tensor<"ratio", double, 3> ratio;            // rho = exp(logp - logp_old)
// CISPO's weight min(rho, eps_max), for inspection: the loss recomputes it under sg, so that no tensor between logp
// and the loss depends on logp only through the stop-gradient (such a tensor would get a gradient of 0 to compute)
inline constexpr tensor<"is_weight", double, 3> is_weight;
inline constexpr tensor<"seq_log_ratio", double, 2> seq_log_ratio;  // GSPO: (1/|y|) sum_t (logp - logp_old)
inline constexpr tensor<"seq_ratio", double, 2> seq_ratio;    // GSPO: s = exp(seq_log_ratio)
inline constexpr tensor<"tis_weight", double, 3> tis_weight;  // min(exp(logp_old - logp_gen), tis_cap)
inline constexpr tensor<"token_loss", double, 3> token_loss;  // l_{p,g,t}, 0 on masked tokens

inline constexpr tensor<"prompt_len", double, 1> prompt_len;        // T_p = sum_{g,t} mask
inline constexpr tensor<"token_count", double, 0> token_count;      // max(sum mask, 1)
inline constexpr tensor<"sample_count", double, 0> sample_count;    // max(present completions, 1)
inline constexpr tensor<"prompt_count", double, 0> prompt_count;    // max(prompts with a token, 1)
inline constexpr tensor<"completion_weight", double, 2> completion_weight;  // 1 / (max(|y|, 1) sample_count)
inline constexpr tensor<"prompt_weight", double, 1> prompt_weight;  // 1 / (max(T_p, 1) prompt_count)
inline constexpr tensor<"token_weight", double, 0> token_weight;    // 1 / token_count
inline constexpr tensor<"agg_weight", double, 3> agg_weight;        // the aggregation's weight of each token
inline constexpr tensor<"loss", double, 0> loss;  // sum agg_weight * token_loss (+ the regularizers' terms)

inline constexpr tensor<"kl", double, 3> kl;                // per-token KL estimate, 0 on masked tokens
inline constexpr tensor<"kl_mean", double, 0> kl_mean;      // sum agg_weight * kl: the aggregated KL
inline constexpr tensor<"vocab_logp", double, 4> vocab_logp;  // log_softmax over v of the logits
inline constexpr tensor<"entropy", double, 3> entropy;      // H_{p,g,t} = -sum_v pi log pi, 0 on masked tokens
inline constexpr tensor<"entropy_mean", double, 0> entropy_mean;  // sum agg_weight * entropy

inline constexpr scalar<"eps_max", double> eps_max;      // CISPO's absolute cap on rho
inline constexpr scalar<"clip_eps", double> clip_eps;    // GRPO: clip(rho, 1 - eps, 1 + eps)
inline constexpr scalar<"clip_low", double> clip_low;    // DAPO / GSPO: clip(rho, 1 - clip_low, 1 + clip_high)
inline constexpr scalar<"clip_high", double> clip_high;
inline constexpr scalar<"adv_eps", double> adv_eps;      // added to the std before dividing
inline constexpr scalar<"std_ddof", double> std_ddof;    // 1: Bessel-corrected std, 0: population std
inline constexpr scalar<"tis_cap", double> tis_cap;      // cap of the truncated importance weight
inline constexpr scalar<"clip_ratio_c", double> clip_ratio_c;  // dual clip: the objective is >= c A when A < 0
inline constexpr scalar<"kl_coef", double> kl_coef;      // beta of the KL penalty
inline constexpr scalar<"entropy_coef", double> entropy_coef;  // coefficient of the entropy bonus

// ---------------------------------------------------------------------------------------------------------------
// Choices.
// ---------------------------------------------------------------------------------------------------------------

enum class loss_kind {
  cispo,  // -sg(min(rho, eps_max)) A logp                                      (ScaleRL Eq. 4)
  grpo,   // -min(rho A, clip(rho, 1 - clip_eps, 1 + clip_eps) A)                 (ScaleRL Eq. 7)
  dapo,   // -min(rho A, clip(rho, 1 - clip_low, 1 + clip_high) A)                (ScaleRL Eq. 8)
  gspo,   // -min(s A, clip(s, 1 - clip_low, 1 + clip_high) A), s the sequence's length-normalized ratio
};

enum class aggregation {
  sample_average,  // (1/(P G)) sum_p sum_g (1/|y_pg|) sum_t l     (GRPO)
  prompt_average,  // (1/P) sum_p (1/T_p) sum_g sum_t l            (DAPO as ScaleRL defines it; ScaleRL's choice)
  token_average,   // sum l / sum_p T_p                            (TRL's "dapo", verl's token-mean)
};

enum class advantage_norm {
  given,      // advantage is an input
  centered,   // A = r - mean_g r                                  (Dr. GRPO)
  group_std,  // A = (r - mean_g r) / (std_g r + adv_eps)          (GRPO)
  batch_std,  // A = (r - mean_g r) / (std of all those in the batch + adv_eps)   (ScaleRL)
};

// The per-token estimator of D_KL(pi_theta || pi_ref) from the sampled tokens, with d = logp_ref - logp.
enum class kl_estimator {
  none,  // no KL penalty
  k1,    // -d = logp - logp_ref: unbiased, high variance, can be negative
  k3,    // exp(d) - d - 1: unbiased, >= 0, low variance (GRPO's estimator; verl's "low_var_kl", without its clamp)
};

// Optional parts of an objective, the fifth template argument of tl::rl::objective (a structural aggregate, so
// rl::extras{.kl = rl::kl_estimator::k3, .entropy = true} can be written in the template argument list). All off
// by default, which is the plain objective.
struct extras {
  kl_estimator kl = kl_estimator::none;  // loss += kl_coef * kl_mean            (J - beta D_KL)
  bool entropy = false;                  // loss -= entropy_coef * entropy_mean  (J + c H), needs tl::rl::logits
  bool dual_clip = false;                // GRPO / DAPO: max(min(rho A, clip(rho) A), clip_ratio_c A) where A < 0
};

// ---------------------------------------------------------------------------------------------------------------
// Equations. Each *_equations() returns a std::tuple of equations, to be combined with a model's equations (one that
// computes logp) into one tl::program; the builders further down make the programs.
// ---------------------------------------------------------------------------------------------------------------

namespace detail {
// The indices as members of a class template. Each equation builder below names them through references to
// deferred_indices<X>'s members, X one of its template parameters, so its expressions depend on X and their types
// are formed where the builder is instantiated. (With the namespace-scope indices a builder's expressions are not
// dependent, and the compiler forms them -- every equation of every branch -- where the builder is defined, in every
// translation unit that includes this header; likewise a call with fixed template arguments, hence deferred_value.)
template <auto>
struct deferred_indices {
  static constexpr index<"p"> p{};
  static constexpr index<"g"> g{};
  static constexpr index<"t"> t{};
  static constexpr index<"v"> v{};
};
// V, as a value that depends on the template argument D.
template <auto V, auto D>
inline constexpr auto deferred_value = V;
}  // namespace detail

// Completion lengths: every objective has them. A completion is "present" when it has at least one token; a group
// left out of the loss (e.g. by tl::rl::filter_zero_variance_groups) is one whose mask is 0 everywhere. The mask must
// hold 0 or 1 (tl::rl::check_batch checks it), so min(|y|, 1) is 1 exactly for the present completions.
template <int N = 0>
constexpr auto length_equations() {
  using I = detail::deferred_indices<N>;
  [[maybe_unused]] constexpr auto& p = I::p;
  [[maybe_unused]] constexpr auto& g = I::g;
  [[maybe_unused]] constexpr auto& t = I::t;
  return std::tuple(comp_len(p, g) = 1.0 * mask(p, g, t),  //
                    present(p, g) = tensorlogic::min(comp_len(p, g), 1.0));
}

// Advantages A(p, g), over the present completions only: the group mean and std, and the batch std, count only
// completions with a token, and an absent completion gets A = 0. With n present completions, the std divides the sum
// of squares by max(n - std_ddof, 1). The centered advantages of a batch have mean 0 exactly (each group's sum is
// 0), so the batch std is sqrt(sum A^2 / max(N - std_ddof, 1)) over the N present completions. Where the std is 0
// (a zero-variance group, or a batch of them) every centered advantage is 0 and stays 0, also with adv_eps = 0.
template <advantage_norm Norm>
constexpr auto advantage_equations() {
  using I = detail::deferred_indices<Norm>;
  [[maybe_unused]] constexpr auto& p = I::p;
  [[maybe_unused]] constexpr auto& g = I::g;
  if constexpr (Norm == advantage_norm::given) {
    return std::tuple();
  } else {
    auto stats = std::tuple(
        group_count(p) = 1.0 * present(p, g),
        group_mean(p) = present(p, g) * reward(p, g) / tensorlogic::max(group_count(p), 1.0),
        centered(p, g) = present(p, g) * (reward(p, g) - group_mean(p)));
    if constexpr (Norm == advantage_norm::centered) {
      return std::tuple_cat(stats, std::tuple(advantage(p, g) = 1.0 * centered(p, g)));
    } else if constexpr (Norm == advantage_norm::group_std) {
      return std::tuple_cat(
          stats,
          std::tuple(group_std(p) = tensorlogic::sqrt(tensorlogic::square(centered(p, g)) /
                                                      tensorlogic::max(group_count(p) - std_ddof, 1.0)),
                     advantage(p, g) =
                         tensorlogic::where(group_std(p), centered(p, g) / (group_std(p) + adv_eps), 0.0)));
    } else {
      return std::tuple_cat(
          stats,
          std::tuple(completion_count() = 1.0 * present(p, g),
                     batch_std() = tensorlogic::sqrt(tensorlogic::sum(p, g, tensorlogic::square(centered(p, g))) /
                                                     tensorlogic::max(completion_count() - std_ddof, 1.0)),
                     advantage(p, g) = tensorlogic::where(batch_std(), centered(p, g) / (batch_std() + adv_eps), 0.0)));
    }
  }
}

// The per-token loss token_loss(p, g, t) (minus the per-token objective), 0 on masked tokens. With TruncatedIS, the
// loss of every token is multiplied by sg(min(exp(logp_old - logp_gen), tis_cap)): logp_old is then the trainer's
// recomputed old policy and logp_gen what the generator recorded, and the weight corrects for the mismatch between
// the two (generator kernels, or tokens generated under several policy versions as in PipelineRL).
// With DualClip (GRPO and DAPO), the clipped surrogate min(rho A, clip(rho) A) becomes
// max(min(rho A, clip(rho) A), clip_ratio_c min(A, 0)): where A < 0 that is verl's and OpenRLHF's dual clip
// max(min(rho A, clip(rho) A), c A), which bounds the loss of a token whose ratio is far above 1; where A >= 0 the
// surrogate is >= 0 (rho > 0 and the clip's lower end 1 - eps > 0), so the max leaves it unchanged.
template <loss_kind Loss, bool TruncatedIS = false, bool DualClip = false>
constexpr auto token_loss_equations() {
  using I = detail::deferred_indices<Loss>;
  [[maybe_unused]] constexpr auto& p = I::p;
  [[maybe_unused]] constexpr auto& g = I::g;
  [[maybe_unused]] constexpr auto& t = I::t;
  static_assert(!DualClip || Loss == loss_kind::grpo || Loss == loss_kind::dapo,
                "tensorlogic: rl::extras::dual_clip applies to loss_kind::grpo and loss_kind::dapo only");
  constexpr auto surrogate = [](const auto& r, const auto& lo, const auto& hi) {
    const auto clipped = tensorlogic::min(r * advantage(p, g), tensorlogic::clamp(r, lo, hi) * advantage(p, g));
    if constexpr (DualClip)
      return tensorlogic::max(clipped, clip_ratio_c * tensorlogic::min(advantage(p, g), 0.0));
    else
      return clipped;
  };
  // The mask, times the truncated importance weight when there is one (without it, no factor of 1 for every kernel to
  // multiply by). A token's loss is the negated product -(mask ... x), not -1 * mask ... x: the derivative of the
  // product with respect to its last factor is then the product of the others in the same order, which the fused
  // pass of loss and gradient computes once for both (a constant -1 in each would be two values to multiply by).
  constexpr auto masked = [] {
    if constexpr (TruncatedIS)
      return mask(p, g, t) * tensorlogic::stop_grad(tis_weight(p, g, t));
    else
      return mask(p, g, t);
  };
  constexpr auto tis_eq = [] {
    if constexpr (TruncatedIS)
      return std::tuple(tis_weight(p, g, t) = tensorlogic::min(tensorlogic::exp(logp_old(p, g, t) - logp_gen(p, g, t)),
                                                               tis_cap));
    else
      return std::tuple();
  };
  if constexpr (Loss == loss_kind::cispo) {
    return std::tuple_cat(
        tis_eq(),
        std::tuple(is_weight(p, g, t) = tensorlogic::min(tensorlogic::exp(logp(p, g, t) - logp_old(p, g, t)), eps_max),
                   // the loss reads the weight the program keeps (one exp per token, not one per reader)
                   token_loss(p, g, t) = -(masked() * tensorlogic::stop_grad(is_weight(p, g, t)) *
                                           advantage(p, g) * logp(p, g, t))));
  } else if constexpr (Loss == loss_kind::grpo) {
    return std::tuple_cat(
        tis_eq(),
        std::tuple(ratio(p, g, t) = tensorlogic::exp(logp(p, g, t) - logp_old(p, g, t)),
                   token_loss(p, g, t) = -(masked() * surrogate(ratio(p, g, t), 1.0 - clip_eps, 1.0 + clip_eps))));
  } else if constexpr (Loss == loss_kind::dapo) {
    return std::tuple_cat(
        tis_eq(),
        std::tuple(ratio(p, g, t) = tensorlogic::exp(logp(p, g, t) - logp_old(p, g, t)),
                   token_loss(p, g, t) = -(masked() * surrogate(ratio(p, g, t), 1.0 - clip_low, 1.0 + clip_high))));
  } else {
    return std::tuple_cat(
        tis_eq(),
        std::tuple(seq_log_ratio(p, g) = mask(p, g, t) * (logp(p, g, t) - logp_old(p, g, t)) /
                                         tensorlogic::max(comp_len(p, g), 1.0),
                   seq_ratio(p, g) = tensorlogic::exp(seq_log_ratio(p, g)),
                   token_loss(p, g, t) =
                       -(masked() *
                         tensorlogic::min(seq_ratio(p, g) * advantage(p, g),
                                          tensorlogic::clamp(seq_ratio(p, g), 1.0 - clip_low, 1.0 + clip_high) *
                                              advantage(p, g)))));
  }
}

// The aggregation: loss = sum_{p,g,t} agg_weight(p, g, t) token_loss(p, g, t). Only present completions and prompts
// with a token are counted (the effective batch: a group whose mask is 0 counts in no denominator); every count is
// at least 1, so an empty prompt or completion contributes 0, never 0/0.
template <aggregation Agg>
constexpr auto aggregation_equations() {
  using I = detail::deferred_indices<Agg>;
  [[maybe_unused]] constexpr auto& p = I::p;
  [[maybe_unused]] constexpr auto& g = I::g;
  [[maybe_unused]] constexpr auto& t = I::t;
  if constexpr (Agg == aggregation::sample_average) {
    return std::tuple(sample_count() = tensorlogic::max(tensorlogic::sum(p, g, present(p, g)), 1.0),
                      completion_weight(p, g) = 1.0 / (tensorlogic::max(comp_len(p, g), 1.0) * sample_count()),
                      agg_weight(p, g, t) = mask(p, g, t) * completion_weight(p, g),
                      loss() = agg_weight(p, g, t) * token_loss(p, g, t));
  } else if constexpr (Agg == aggregation::prompt_average) {
    return std::tuple(prompt_len(p) = 1.0 * comp_len(p, g),
                      prompt_count() =
                          tensorlogic::max(tensorlogic::sum(p, tensorlogic::min(prompt_len(p), 1.0)), 1.0),
                      prompt_weight(p) = 1.0 / (tensorlogic::max(prompt_len(p), 1.0) * prompt_count()),
                      agg_weight(p, g, t) = mask(p, g, t) * prompt_weight(p),
                      loss() = agg_weight(p, g, t) * token_loss(p, g, t));
  } else {
    return std::tuple(token_count() = tensorlogic::max(tensorlogic::sum(p, g, t, mask(p, g, t)), 1.0),
                      token_weight() = 1.0 / token_count(),
                      agg_weight(p, g, t) = mask(p, g, t) * token_weight(),
                      loss() = agg_weight(p, g, t) * token_loss(p, g, t));
  }
}

// The KL penalty (reference formula: J - beta D_KL(pi_theta || pi_ref) inside the aggregation): a per-token
// estimate kl(p, g, t) from the sampled tokens' log-probs, aggregated with the policy loss's weights into kl_mean(),
// and a second equation for loss() (equations with one left-hand side are summed) adding kl_coef * kl_mean().
template <kl_estimator KL>
constexpr auto kl_equations() {
  using I = detail::deferred_indices<KL>;
  [[maybe_unused]] constexpr auto& p = I::p;
  [[maybe_unused]] constexpr auto& g = I::g;
  [[maybe_unused]] constexpr auto& t = I::t;
  if constexpr (KL == kl_estimator::none) {
    return std::tuple();
  } else {
    constexpr auto estimate = [] {
      if constexpr (KL == kl_estimator::k1)
        return kl(p, g, t) = mask(p, g, t) * (logp(p, g, t) - logp_ref(p, g, t));
      else
        return kl(p, g, t) = mask(p, g, t) * (tensorlogic::exp(logp_ref(p, g, t) - logp(p, g, t)) -
                                              (logp_ref(p, g, t) - logp(p, g, t)) - 1.0);
    };
    return std::tuple(estimate(), kl_mean() = agg_weight(p, g, t) * kl(p, g, t), loss() = kl_coef * kl_mean());
  }
}

// The entropy bonus: the full-distribution entropy of the policy at each token, from its logits over the vocabulary
// index v, H = -sum_v softmax(v, Z) log_softmax(v, Z), with softmax written exp(log_softmax); aggregated with the
// policy loss's weights into entropy_mean(), and subtracted from the loss with entropy_coef (J + c H).
template <bool Entropy>
constexpr auto entropy_equations() {
  using I = detail::deferred_indices<Entropy>;
  [[maybe_unused]] constexpr auto& p = I::p;
  [[maybe_unused]] constexpr auto& g = I::g;
  [[maybe_unused]] constexpr auto& t = I::t;
  [[maybe_unused]] constexpr auto& v = I::v;
  if constexpr (!Entropy) {
    return std::tuple();
  } else {
    return std::tuple(
        vocab_logp(p, g, t, v) = tensorlogic::log_softmax(v, 1.0 * logits(p, g, t, v)),
        entropy(p, g, t) = -1.0 * mask(p, g, t) * tensorlogic::exp(vocab_logp(p, g, t, v)) * vocab_logp(p, g, t, v),
        entropy_mean() = agg_weight(p, g, t) * entropy(p, g, t), loss() = -1.0 * entropy_coef * entropy_mean());
  }
}

// Every equation of one objective: lengths, advantages, per-token loss, aggregation, then the extras' terms.
template <loss_kind Loss, aggregation Agg, advantage_norm Norm, bool TruncatedIS = false, extras Extras = extras{}>
constexpr auto objective_equations() {
  return std::tuple_cat(length_equations<detail::deferred_value<0, Loss>>(), advantage_equations<Norm>(),
                        token_loss_equations<Loss, TruncatedIS, Extras.dual_clip>(), aggregation_equations<Agg>(),
                        kl_equations<Extras.kl>(), entropy_equations<Extras.entropy>());
}

namespace detail {
template <class Tuple>
constexpr auto program_of(const Tuple& equations) {
  return std::apply([](const auto&... e) { return tensorlogic::program(e...); }, equations);
}
}  // namespace detail

// ---------------------------------------------------------------------------------------------------------------
// Programs.
// ---------------------------------------------------------------------------------------------------------------

// The objective's program: inputs logp, logp_old, mask, reward (advantage instead with advantage_norm::given;
// logp_gen too with TruncatedIS, logp_ref with a KL estimator, logits with the entropy bonus), the scalars the
// choices use, and the computed tensors above; tl::rl::loss is the loss. tl::gradient(objective<...>(), loss,
// tl::wrt(logp)) gives dloss/dlogp as grad(logp); tl::wrt(logp, logits) also dloss/dlogits.
template <loss_kind Loss, aggregation Agg, advantage_norm Norm, bool TruncatedIS = false, extras Extras = extras{}>
constexpr auto objective() {
  return detail::program_of(objective_equations<Loss, Agg, Norm, TruncatedIS, Extras>());
}

// ScaleRL's objective (§4): CISPO, prompt average, group-centred advantages divided by the batch std. (A template, so
// that its program is built where it is called, not in every translation unit that includes the header.)
template <int N = 0>
constexpr auto scalerl_objective() {
  return objective<detail::deferred_value<loss_kind::cispo, N>, aggregation::prompt_average,
                   advantage_norm::batch_std>();
}

// The advantages alone: inputs reward and mask, output advantage (and the statistics above).
template <advantage_norm Norm>
constexpr auto advantages() {
  static_assert(Norm != advantage_norm::given, "tensorlogic: rl::advantages needs an advantage_norm that computes");
  return detail::program_of(
      std::tuple_cat(length_equations<detail::deferred_value<0, Norm>>(), advantage_equations<Norm>()));
}

// The aggregation alone: inputs token_loss and mask, output loss.
template <aggregation Agg>
constexpr auto aggregate() {
  return detail::program_of(
      std::tuple_cat(length_equations<detail::deferred_value<0, Agg>>(), aggregation_equations<Agg>()));
}

// ---------------------------------------------------------------------------------------------------------------
// Hyperparameters.
// ---------------------------------------------------------------------------------------------------------------

struct hyperparameters {
  double eps_max = 5.0;     // CISPO cap; ScaleRL found 4, 5 and 8 alike, TRL recommends 5
  double clip_eps = 0.2;    // GRPO
  double clip_low = 0.2;    // DAPO / GSPO lower clip (GSPO: ScaleRL used the 1e-3 scale)
  double clip_high = 0.28;  // DAPO / GSPO upper clip
  double adv_eps = 1e-6;    // verl's epsilon (TRL: 1e-4; ScaleRL's batch-level formula: none)
  double std_ddof = 1.0;    // Bessel-corrected, as TRL and verl (ScaleRL does not say)
  // No default: set it when the objective uses the truncated-IS correction.
  double tis_cap = std::numeric_limits<double>::quiet_NaN();
  double clip_ratio_c = 10.0;  // dual clip; the reference's GRPO-TCR script value (verl's default is 3)
  // No defaults (the reference gives no beta and no entropy coefficient): set them when the objective has the term.
  double kl_coef = std::numeric_limits<double>::quiet_NaN();
  double entropy_coef = std::numeric_limits<double>::quiet_NaN();
};

namespace detail {
inline std::string number(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%g", v);
  return buffer;
}

template <class Store, class Sym>
constexpr bool has_symbol() {
  return Store::program_type::template contains<Sym>;
}
}  // namespace detail

// Binds every scalar of the program behind `s` from `hp`, after checking its range; a bad value throws tl::error
// naming it, e.g. "tensorlogic: rl::bind_hyperparameters: eps_max = 0 must be positive".
template <class Store>
void bind_hyperparameters(Store& s, const hyperparameters& hp) {
  auto fail = [](const char* name, double v, const char* why) {
    throw error(std::string("rl::bind_hyperparameters: ") + name + " = " + detail::number(v) + " " + why);
  };
  auto set = [&]<class Sym>(const Sym& sym, double v, auto valid, const char* why) {
    if constexpr (detail::has_symbol<Store, Sym>()) {
      if (!valid(v)) fail(std::string(Sym::name.view()).c_str(), v, why);
      tensorlogic::bind(s, sym, v);
    }
  };
  auto positive = [](double v) { return std::isfinite(v) && v > 0; };
  auto nonnegative = [](double v) { return std::isfinite(v) && v >= 0; };
  auto below_one = [](double v) { return std::isfinite(v) && v >= 0 && v < 1; };
  set(eps_max, hp.eps_max, positive, "must be positive");
  set(clip_eps, hp.clip_eps, below_one, "must lie in [0, 1)");
  set(clip_low, hp.clip_low, below_one, "must lie in [0, 1)");
  set(clip_high, hp.clip_high, nonnegative, "must be finite and >= 0");
  set(adv_eps, hp.adv_eps, nonnegative, "must be finite and >= 0");
  set(std_ddof, hp.std_ddof, [](double v) { return v == 0 || v == 1; }, "must be 0 (population) or 1 (Bessel)");
  set(tis_cap, hp.tis_cap, positive, "must be positive (it has no default: set hyperparameters::tis_cap)");
  set(clip_ratio_c, hp.clip_ratio_c, [](double v) { return std::isfinite(v) && v > 1; }, "must be finite and > 1");
  set(kl_coef, hp.kl_coef, nonnegative,
      "must be finite and >= 0 (it has no default: set hyperparameters::kl_coef)");
  set(entropy_coef, hp.entropy_coef, nonnegative,
      "must be finite and >= 0 (it has no default: set hyperparameters::entropy_coef)");
}

// ---------------------------------------------------------------------------------------------------------------
// Input validation.
// ---------------------------------------------------------------------------------------------------------------

namespace detail {
template <class Prog>
constexpr bool is_computed(std::string_view name) {
  const int slot = Prog::slot_of(name);
  for (int k = 0; k < Prog::structure.n_groups; ++k)
    if (Prog::structure.group_head[k] == slot) return true;
  return false;
}

template <class View>
auto host_copy(const View& v) {
  return Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), v);
}

inline std::string cell(const char* name, std::size_t a, std::size_t b) {
  return std::string(name) + "[p=" + std::to_string(a) + ", g=" + std::to_string(b) + "]";
}
inline std::string cell(const char* name, std::size_t a, std::size_t b, std::size_t c) {
  return std::string(name) + "[p=" + std::to_string(a) + ", g=" + std::to_string(b) + ", t=" + std::to_string(c) +
         "]";
}
inline std::string cell(const char* name, std::size_t a, std::size_t b, std::size_t c, std::size_t d) {
  return std::string(name) + "[p=" + std::to_string(a) + ", g=" + std::to_string(b) + ", t=" + std::to_string(c) +
         ", v=" + std::to_string(d) + "]";
}
}  // namespace detail

// Checks the inputs of an objective's store on the host before tl::eval, and throws tl::error naming the first
// culprit: "tensorlogic: rl::check_batch: " followed by e.g. "mask[p=0, g=1, t=2] = 0.5 is neither 0 nor 1",
// "mask is 0 everywhere: no token counts in the loss", "reward[p=1, g=0] is not finite",
// "logp_old[p=0, g=0, t=3] = 0.2 is not a finite log-probability (<= 0)" (checked on unmasked tokens only, for the
// log-prob tensors that are inputs of the program: logp, logp_old, logp_gen, logp_ref), "advantage[p=0, g=1] is
// not finite", "logits[p=0, g=1, t=2, v=4] = inf is not finite" (on every token, masked ones too).
// Only the symbols the program has are checked; a log-prob tensor the program computes (from a model) is skipped.
template <class Store>
void check_batch(const Store& s) {
  using prog = typename Store::program_type;
  static_assert(prog::template contains<std::remove_cvref_t<decltype(mask)>>,
                "tensorlogic: rl::check_batch needs a program with tl::rl::mask");
  auto fail = [](const std::string& what) { throw error("rl::check_batch: " + what); };
  const auto m = detail::host_copy(s[mask]);
  const std::size_t np = m.extent(0), ng = m.extent(1), nt = m.extent(2);
  double tokens = 0;
  for (std::size_t a = 0; a < np; ++a)
    for (std::size_t b = 0; b < ng; ++b)
      for (std::size_t c = 0; c < nt; ++c) {
        const double v = m(a, b, c);
        if (v != 0.0 && v != 1.0)
          fail(detail::cell("mask", a, b, c) + " = " + detail::number(v) + " is neither 0 nor 1");
        tokens += v;
      }
  if (tokens == 0) fail("mask is 0 everywhere: no token counts in the loss");

  auto check_logprob = [&]<class Sym>(const Sym& sym) {
    if constexpr (prog::template contains<Sym>) {
      if (detail::is_computed<prog>(Sym::name.view())) return;
      const auto v = detail::host_copy(s[sym]);
      const std::string name(Sym::name.view());
      for (std::size_t a = 0; a < np; ++a)
        for (std::size_t b = 0; b < ng; ++b)
          for (std::size_t c = 0; c < nt; ++c)
            if (m(a, b, c) != 0.0 && !(std::isfinite(v(a, b, c)) && v(a, b, c) <= 0.0))
              fail(detail::cell(name.c_str(), a, b, c) + " = " + detail::number(v(a, b, c)) +
                   " is not a finite log-probability (<= 0)");
    }
  };
  check_logprob(logp);
  check_logprob(logp_old);
  check_logprob(logp_gen);
  check_logprob(logp_ref);

  auto check_finite_2d = [&]<class Sym>(const Sym& sym) {
    if constexpr (prog::template contains<Sym>) {
      if (detail::is_computed<prog>(Sym::name.view())) return;
      const auto v = detail::host_copy(s[sym]);
      const std::string name(Sym::name.view());
      for (std::size_t a = 0; a < np; ++a)
        for (std::size_t b = 0; b < ng; ++b)
          if (!std::isfinite(v(a, b))) fail(detail::cell(name.c_str(), a, b) + " is not finite");
    }
  };
  check_finite_2d(reward);
  check_finite_2d(advantage);

  using logits_t = std::remove_cvref_t<decltype(logits)>;
  if constexpr (prog::template contains<logits_t>) {
    if (!detail::is_computed<prog>(logits_t::name.view())) {
      const auto z = detail::host_copy(s[logits]);
      const std::size_t nv = z.extent(3);
      for (std::size_t a = 0; a < np; ++a)
        for (std::size_t b = 0; b < ng; ++b)
          for (std::size_t c = 0; c < nt; ++c)
            for (std::size_t d = 0; d < nv; ++d)
              if (!std::isfinite(z(a, b, c, d)))
                fail(detail::cell("logits", a, b, c, d) + " = " + detail::number(z(a, b, c, d)) + " is not finite" +
                     (m(a, b, c) == 0.0 ? " (masked tokens' logits are checked too: grad(logits) of a row reads all "
                                          "of it, so a NaN there would reach a model's weights)"
                                        : ""));
    }
  }
}

}  // namespace tensorlogic::rl
