// ScaleRL's data curriculum: tl::rl::no_positive_resampling, a prompt pool that permanently retires prompts whose
// pass rate has reached 0.9 (Polaris' No-Positive-Resampling), and tl::rl::filter_zero_variance_groups, which
// reports the groups whose rewards are all equal so they can be left out of the loss. Host-only; relies on the
// standard library and tl::error.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <span>
#include <string>
#include <tensorlogic/core/error.hpp>
#include <utility>
#include <vector>

namespace tensorlogic::rl {

// Which pass rate of a prompt's history is compared with the threshold. The paper says "historical pass rate"
// without saying whether the latest epoch or a running statistic is meant.
enum class pass_rate_history {
  pooled,          // all passes over all attempts recorded so far
  latest_epoch,    // passes over attempts in the most recent epoch that recorded the prompt
  mean_of_epochs,  // mean of the per-epoch pass rates
};

struct no_positive_resampling_options {
  double threshold = 0.9;                                 // a prompt whose pass rate is >= this is retired
  pass_rate_history history = pass_rate_history::pooled;  // which pass rate is compared
  std::uint64_t seed = 0;  // fixes each epoch's order (std::mt19937_64, the same on every platform)
};

// A prompt pool over prompts 0 .. prompt_count-1. Each epoch visits the active prompts in a seeded random order
// (next_batch); the caller records each prompt's passes and attempts; end_epoch() retires, for all later epochs,
// every prompt whose pass rate has reached the threshold. Retired prompts never return.
class no_positive_resampling {
 public:
  explicit no_positive_resampling(std::size_t prompt_count, no_positive_resampling_options options = {})
      : options_(options), prompts_(prompt_count) {
    if (prompt_count == 0) throw error("no_positive_resampling: the prompt pool is empty");
    if (!(options.threshold > 0.0 && options.threshold <= 1.0))
      throw error("no_positive_resampling: threshold = " + number(options.threshold) + " must lie in (0, 1]");
    start_epoch();
  }

  std::size_t prompt_count() const { return prompts_.size(); }
  // The current epoch, counted from 0.
  std::size_t epoch() const { return epoch_; }
  std::size_t active_count() const { return prompts_.size() - retired_count_; }
  std::size_t retired_count() const { return retired_count_; }
  bool retired(std::size_t prompt) const { return at(prompt, "retired").retired; }
  // The epoch at whose end the prompt was retired; the maximum size_t for an active prompt.
  std::size_t retired_after_epoch(std::size_t prompt) const { return at(prompt, "retired_after_epoch").retired_after; }
  // The prompt's pass rate under options.history; NaN before anything was recorded for it.
  double pass_rate(std::size_t prompt) const { return rate(at(prompt, "pass_rate")); }

  std::vector<std::size_t> active_prompts() const {
    std::vector<std::size_t> active;
    for (std::size_t p = 0; p < prompts_.size(); ++p)
      if (!prompts_[p].retired) active.push_back(p);
    return active;
  }

  // Active prompts not yet handed out this epoch.
  std::size_t remaining_in_epoch() const { return order_.size() - cursor_; }

  // The next batch_size prompts of this epoch's order (fewer when the epoch runs out; none once it has).
  std::vector<std::size_t> next_batch(std::size_t batch_size) {
    const std::size_t n = std::min(batch_size, remaining_in_epoch());
    std::vector<std::size_t> batch(order_.begin() + static_cast<std::ptrdiff_t>(cursor_),
                                   order_.begin() + static_cast<std::ptrdiff_t>(cursor_ + n));
    cursor_ += n;
    return batch;
  }

  // Records that `passes` of `attempts` generations for `prompt` passed in the current epoch.
  void record(std::size_t prompt, std::size_t passes, std::size_t attempts) {
    prompt_state& s = at(prompt, "record");
    if (s.retired)
      throw error("no_positive_resampling::record: prompt " + std::to_string(prompt) + " was retired after epoch " +
                  std::to_string(s.retired_after) + " and cannot be recorded");
    if (attempts == 0)
      throw error("no_positive_resampling::record: prompt " + std::to_string(prompt) + " has 0 attempts");
    if (passes > attempts)
      throw error("no_positive_resampling::record: prompt " + std::to_string(prompt) + " has " +
                  std::to_string(passes) + " passes in " + std::to_string(attempts) + " attempts");
    s.epoch_passes += passes;
    s.epoch_attempts += attempts;
  }

  // Closes the epoch: folds its records into each prompt's history, retires every prompt whose pass rate is now
  // >= threshold, and starts the next epoch over the remaining pool. Returns the prompts retired now.
  std::vector<std::size_t> end_epoch() {
    std::vector<std::size_t> retired_now;
    for (std::size_t p = 0; p < prompts_.size(); ++p) {
      prompt_state& s = prompts_[p];
      if (s.epoch_attempts == 0) continue;
      const double epoch_rate = static_cast<double>(s.epoch_passes) / static_cast<double>(s.epoch_attempts);
      s.passes += s.epoch_passes;
      s.attempts += s.epoch_attempts;
      s.latest_rate = epoch_rate;
      s.sum_of_epoch_rates += epoch_rate;
      ++s.epochs_recorded;
      s.epoch_passes = s.epoch_attempts = 0;
      if (rate(s) >= options_.threshold) {
        s.retired = true;
        s.retired_after = epoch_;
        ++retired_count_;
        retired_now.push_back(p);
      }
    }
    ++epoch_;
    start_epoch();
    return retired_now;
  }

 private:
  struct prompt_state {
    std::size_t passes = 0, attempts = 0;              // over all closed epochs
    std::size_t epoch_passes = 0, epoch_attempts = 0;  // in the current epoch
    double latest_rate = 0.0;
    double sum_of_epoch_rates = 0.0;
    std::size_t epochs_recorded = 0;
    bool retired = false;
    std::size_t retired_after = std::numeric_limits<std::size_t>::max();
  };

  static std::string number(double v) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%g", v);
    return buffer;
  }

  prompt_state& at(std::size_t prompt, const char* what) {
    return const_cast<prompt_state&>(std::as_const(*this).at(prompt, what));
  }
  const prompt_state& at(std::size_t prompt, const char* what) const {
    if (prompt >= prompts_.size())
      throw error(std::string("no_positive_resampling::") + what + ": prompt " + std::to_string(prompt) +
                  " is out of range (the pool has " + std::to_string(prompts_.size()) + " prompts)");
    return prompts_[prompt];
  }

  double rate(const prompt_state& s) const {
    if (s.epochs_recorded == 0) return std::numeric_limits<double>::quiet_NaN();
    switch (options_.history) {
      case pass_rate_history::latest_epoch:
        return s.latest_rate;
      case pass_rate_history::mean_of_epochs:
        return s.sum_of_epoch_rates / static_cast<double>(s.epochs_recorded);
      case pass_rate_history::pooled:
        break;
    }
    return static_cast<double>(s.passes) / static_cast<double>(s.attempts);
  }

  // Fisher-Yates over the active prompts, drawing from mt19937_64(seed, epoch) by exact rejection, so the order
  // depends only on the seed, the epoch and the pool.
  void start_epoch() {
    order_ = active_prompts();
    cursor_ = 0;
    std::seed_seq seq{static_cast<std::uint32_t>(options_.seed), static_cast<std::uint32_t>(options_.seed >> 32),
                      static_cast<std::uint32_t>(epoch_), static_cast<std::uint32_t>(std::uint64_t(epoch_) >> 32)};
    std::mt19937_64 generator(seq);
    for (std::size_t i = order_.size(); i > 1; --i) {
      const std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
      const std::uint64_t limit = max - max % i;
      std::uint64_t x = generator();
      while (x >= limit) x = generator();
      std::swap(order_[i - 1], order_[static_cast<std::size_t>(x % i)]);
    }
  }

  no_positive_resampling_options options_;
  std::vector<prompt_state> prompts_;
  std::size_t retired_count_ = 0;
  std::size_t epoch_ = 0;
  std::vector<std::size_t> order_;
  std::size_t cursor_ = 0;
};

// The outcome of the zero-variance filter: group indices kept and filtered, both ascending. A filtered group has
// every advantage equal to 0; it is left out of the loss, its tokens count in no denominator, and it is not
// replaced by another prompt (the "effective batch").
struct zero_variance_filter_result {
  std::vector<std::size_t> kept;
  std::vector<std::size_t> filtered;
  std::vector<double> filtered_rewards;  // the common reward of each filtered group, aligned with `filtered`
};

namespace detail {
inline void check_finite_rewards(std::span<const double> rewards) {
  for (std::size_t i = 0; i < rewards.size(); ++i)
    if (!std::isfinite(rewards[i]))
      throw error("filter_zero_variance_groups: reward[" + std::to_string(i) + "] is not finite");
}
}  // namespace detail

// Groups of different sizes: group g holds rewards[group_offsets[g], group_offsets[g+1]), so group_offsets starts at
// 0, never decreases, and ends at rewards.size(). A group is filtered when all its rewards are equal; for 0/1
// rewards that is the paper's 0 < mean < 1 constraint, for +-1 rewards it is "not all rewards equal".
inline zero_variance_filter_result filter_zero_variance_groups(std::span<const double> rewards,
                                                               std::span<const std::size_t> group_offsets) {
  if (group_offsets.size() < 2)
    throw error("filter_zero_variance_groups: group_offsets has " + std::to_string(group_offsets.size()) +
                " entries; it needs one more than the number of groups (at least 2)");
  if (group_offsets.front() != 0)
    throw error("filter_zero_variance_groups: group_offsets[0] = " + std::to_string(group_offsets.front()) +
                " must be 0");
  if (group_offsets.back() != rewards.size())
    throw error("filter_zero_variance_groups: group_offsets ends at " + std::to_string(group_offsets.back()) +
                " but there are " + std::to_string(rewards.size()) + " rewards");
  for (std::size_t g = 0; g + 1 < group_offsets.size(); ++g)
    if (group_offsets[g + 1] <= group_offsets[g])
      throw error("filter_zero_variance_groups: group " + std::to_string(g) + " is empty or reversed (offsets " +
                  std::to_string(group_offsets[g]) + " and " + std::to_string(group_offsets[g + 1]) + ")");
  detail::check_finite_rewards(rewards);

  zero_variance_filter_result result;
  for (std::size_t g = 0; g + 1 < group_offsets.size(); ++g) {
    const double first = rewards[group_offsets[g]];
    bool all_equal = true;
    for (std::size_t i = group_offsets[g] + 1; i < group_offsets[g + 1] && all_equal; ++i)
      all_equal = rewards[i] == first;
    if (all_equal) {
      result.filtered.push_back(g);
      result.filtered_rewards.push_back(first);
    } else {
      result.kept.push_back(g);
    }
  }
  return result;
}

// Groups of one size: group g holds rewards[g * group_size, (g + 1) * group_size).
inline zero_variance_filter_result filter_zero_variance_groups(std::span<const double> rewards,
                                                               std::size_t group_size) {
  if (group_size == 0) throw error("filter_zero_variance_groups: group_size is 0");
  if (rewards.empty() || rewards.size() % group_size != 0)
    throw error("filter_zero_variance_groups: " + std::to_string(rewards.size()) +
                " rewards do not form whole groups of group_size = " + std::to_string(group_size));
  std::vector<std::size_t> offsets(rewards.size() / group_size + 1);
  for (std::size_t g = 0; g < offsets.size(); ++g) offsets[g] = g * group_size;
  return filter_zero_variance_groups(rewards, std::span<const std::size_t>(offsets));
}

}  // namespace tensorlogic::rl
