// KV-cache keep policies over token metadata: StreamingLLM's attention sinks + recent window (`sink_window`) and
// StreamingVLM's split policy (`streaming_vlm`); `token_cache`, the bookkeeping that applies a policy and reports
// kept and evicted stream indices; `kv_store`, host-side float keys/values stored un-rotated and compacted on
// eviction. Standard library only.
#pragma once
#include <algorithm>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <tensorlogic/core/error.hpp>

namespace tensorlogic::reasoning {

enum class modality : unsigned char { text, vision };

// Who produced a token. `context` tokens form StreamingVLM's "previous text" block, the older-text block.
enum class speaker : unsigned char { context, user, assistant };

// What a policy may look at. `round` is the chunk (one user/assistant turn) the token belongs to.
struct token_meta {
  modality kind = modality::text;
  speaker from = speaker::assistant;
  std::size_t round = 0;
};

struct cached_token {
  std::size_t position = 0;  // index into the original stream: the n-th appended token has position n
  token_meta meta{};
  bool older_text = false;  // member of the older-text block (StreamingVLM)
};

// The cache as a policy sees it: slots in cache (KV row) order, and the positions evicted so far in eviction order.
struct cache_contents {
  std::vector<cached_token> slots;
  std::vector<std::size_t> evicted;

  // Drops slots [first, last), recording their positions in slot order.
  void evict(std::size_t first, std::size_t last) {
    last = std::min(last, slots.size());
    if (first >= last) return;
    for (std::size_t s = first; s < last; ++s) evicted.push_back(slots[s].position);
    slots.erase(slots.begin() + static_cast<std::ptrdiff_t>(first), slots.begin() + static_cast<std::ptrdiff_t>(last));
  }

  // Drops every slot matching `pred`, recording positions in slot order; the others keep their order.
  template <class Pred>
  void evict_if(Pred pred) {
    std::vector<cached_token> kept;
    kept.reserve(slots.size());
    for (const cached_token& t : slots) {
      if (pred(t))
        evicted.push_back(t.position);
      else
        kept.push_back(t);
    }
    slots = std::move(kept);
  }

  // Number of leading slots that belong to the older-text block.
  std::size_t older_text_size() const {
    std::size_t n = 0;
    while (n < slots.size() && slots[n].older_text) ++n;
    return n;
  }
};

// StreamingLLM's StartRecentKVCache: the first `sink` tokens of the stream (attention sinks) and the `window` most
// recent ones. After every append, a cache longer than sink + window keeps [0, sink) ++ [len - window, len).
struct sink_window {
  std::size_t sink = 4;
  std::size_t window = 512;

  void validate() const {
    if (window == 0) throw error("sink_window: window must be at least 1 (it holds the token just appended)");
  }
  void after_append(cache_contents& c) const {
    if (c.slots.size() > sink + window) c.evict(sink, c.slots.size() - window);
  }
  // StreamingLLM's evict_for_space(k): before appending k tokens keep [0, sink) ++ [len - window + k, len).
  void make_room(cache_contents& c, std::size_t k) const {
    const std::size_t len = c.slots.size();
    if (len + k <= sink + window) return;
    c.evict(sink, len + k - window);
  }
};

// StreamingVLM's policy (`process_past_kv` in streaming_vlm/inference/inference.py), applied before each chunk i:
//  1. i >= text_rounds: the assistant text of round i - text_rounds moves (KV and all) to the end of the older-text
//     block; if vision_rounds > text_rounds that round's user text is evicted now.
//  2. i >= vision_rounds and vision_rounds < text_rounds: the vision tokens of round i - vision_rounds are evicted.
//  3. i >= max(vision_rounds, text_rounds): what is left of round i - max(...) (its user block) is evicted.
//  4. i > 0: the older-text block is cut to its first text_sink and last text_window tokens.
// Structural chat-template tokens are not modelled: every token is content.
struct streaming_vlm {
  std::size_t text_sink = 512;
  std::size_t text_window = 512;
  std::size_t text_rounds = 16;
  std::size_t vision_rounds = 16;

  void validate() const {
    if (text_rounds == 0) throw error("streaming_vlm: text_rounds must be at least 1");
    if (vision_rounds == 0) throw error("streaming_vlm: vision_rounds must be at least 1");
  }
  void after_append(cache_contents&) const {}

  void before_round(cache_contents& c, std::size_t i) const {
    const auto in_round = [](std::size_t r) {
      return [r](const cached_token& t) { return !t.older_text && t.meta.from != speaker::context && t.meta.round == r; };
    };
    if (i >= text_rounds) {
      const std::size_t r = i - text_rounds;
      move_assistant_text(c, r);
      if (vision_rounds > text_rounds) {
        c.evict_if([&](const cached_token& t) {
          return in_round(r)(t) && t.meta.from == speaker::user && t.meta.kind == modality::text;
        });
      }
    }
    if (i >= vision_rounds && vision_rounds < text_rounds) {
      const std::size_t r = i - vision_rounds;
      c.evict_if([&](const cached_token& t) { return in_round(r)(t) && t.meta.kind == modality::vision; });
    }
    if (i >= std::max(vision_rounds, text_rounds)) c.evict_if(in_round(i - std::max(vision_rounds, text_rounds)));
    if (i > 0) {
      const std::size_t block = c.older_text_size();
      if (block > text_sink + text_window) c.evict(text_sink, block - text_window);
    }
  }

 private:
  // resort_id_and_kv: the round's assistant tokens, in order, go right after the older-text block.
  static void move_assistant_text(cache_contents& c, std::size_t r) {
    std::vector<cached_token> moved, rest;
    for (const cached_token& t : c.slots) {
      if (!t.older_text && t.meta.from == speaker::assistant && t.meta.round == r)
        moved.push_back(t);
      else
        rest.push_back(t);
    }
    for (cached_token& t : moved) t.older_text = true;
    std::size_t block = 0;
    while (block < rest.size() && rest[block].older_text) ++block;
    rest.insert(rest.begin() + static_cast<std::ptrdiff_t>(block), moved.begin(), moved.end());
    c.slots = std::move(rest);
  }
};

// Appends tokens, applies `Policy`, and reports what the cache holds. A policy with before_round(contents, i) is
// applied when the first token of round i arrives (for every round up to it, as the reference runs it once per
// chunk); tokens from `speaker::context` must come before any round and start the older-text block.
template <class Policy>
class token_cache {
 public:
  explicit token_cache(Policy policy = {}) : policy_(std::move(policy)) { policy_.validate(); }

  // Returns the token's position in the stream.
  std::size_t append(token_meta meta = {}) {
    const std::size_t position = seen_;
    if constexpr (round_based) {
      if (meta.from == speaker::context) {
        if (round_)
          throw error("token_cache: a context token (position " + std::to_string(position) +
                      ") arrived after round " + std::to_string(*round_) +
                      " began; the older-text block must come before the first round");
        contents_.slots.push_back({position, meta, true});
      } else {
        start_round(meta.round);
        contents_.slots.push_back({position, meta, false});
      }
    } else {
      contents_.slots.push_back({position, meta, false});
    }
    ++seen_;
    // The new token's KV exists before the policy trims, so the peak is taken here.
    peak_ = std::max(peak_, contents_.slots.size());
    policy_.after_append(contents_);
    return position;
  }

  // Applies the policy for every round after the current one up to `round` (rounds never go back).
  void start_round(std::size_t round)
    requires requires(const Policy& p, cache_contents& c) { p.before_round(c, std::size_t{}); }
  {
    if (round_ && round < *round_)
      throw error("token_cache: a token of round " + std::to_string(round) + " arrived after round " +
                  std::to_string(*round_) + " began; rounds must not decrease");
    for (std::size_t i = round_ ? *round_ + 1 : 0; i <= round; ++i) policy_.before_round(contents_, i);
    round_ = round;
  }

  // StreamingLLM's evict_for_space(k): make room for k tokens about to be appended.
  void make_room(std::size_t k)
    requires requires(const Policy& p, cache_contents& c) { p.make_room(c, std::size_t{}); }
  {
    policy_.make_room(contents_, k);
  }

  // StreamingLLM's evict_range(first, last): drops cache slots [first, last).
  void evict_range(std::size_t first, std::size_t last) {
    if (first > last || last > contents_.slots.size())
      throw error("token_cache: evict_range [" + std::to_string(first) + ", " + std::to_string(last) +
                  ") is not within the cache's " + std::to_string(contents_.slots.size()) + " slots");
    contents_.evict(first, last);
  }

  // Stream positions of the cached tokens in cache (KV row) order.
  std::vector<std::size_t> kept() const {
    std::vector<std::size_t> out;
    out.reserve(contents_.slots.size());
    for (const cached_token& t : contents_.slots) out.push_back(t.position);
    return out;
  }
  const std::vector<std::size_t>& evicted() const { return contents_.evicted; }
  // keep[p] is true when stream position p is cached.
  std::vector<bool> keep_mask() const {
    std::vector<bool> keep(seen_, false);
    for (const cached_token& t : contents_.slots) keep[t.position] = true;
    return keep;
  }
  const std::vector<cached_token>& tokens() const { return contents_.slots; }
  std::size_t size() const { return contents_.slots.size(); }
  std::size_t seen() const { return seen_; }
  // The most tokens held at once, counting a new token before the policy trims.
  std::size_t peak_size() const { return peak_; }
  const Policy& policy() const { return policy_; }

 private:
  static constexpr bool round_based = requires(const Policy& p, cache_contents& c) {
    p.before_round(c, std::size_t{});
  };
  Policy policy_;
  cache_contents contents_;
  std::size_t seen_ = 0;
  std::size_t peak_ = 0;
  std::optional<std::size_t> round_;
};

// Keys and values of one layer, float, laid out [row, head, head_dim] with one row per cached token. Keys are kept
// un-rotated so they can be rotated with cache-relative (contiguous) positions; `retain` compacts the rows.
class kv_store {
 public:
  kv_store(std::size_t heads, std::size_t head_dim) : heads_(heads), head_dim_(head_dim) {
    if (heads == 0) throw error("kv_store: heads must be at least 1");
    if (head_dim == 0) throw error("kv_store: head_dim must be at least 1");
  }

  // Appends the token at stream `position`; key and value hold heads * head_dim floats each.
  void append(std::size_t position, std::span<const float> key, std::span<const float> value) {
    const std::size_t width = heads_ * head_dim_;
    if (key.size() != width)
      throw error("kv_store: key has " + std::to_string(key.size()) + " floats, expected heads * head_dim = " +
                  std::to_string(width));
    if (value.size() != width)
      throw error("kv_store: value has " + std::to_string(value.size()) +
                  " floats, expected heads * head_dim = " + std::to_string(width));
    if (!cached_.insert(position).second)
      throw error("kv_store: position " + std::to_string(position) + " is already cached");
    keys_.insert(keys_.end(), key.begin(), key.end());
    values_.insert(values_.end(), value.begin(), value.end());
    positions_.push_back(position);
    peak_rows_ = std::max(peak_rows_, positions_.size());
  }

  // Keeps exactly the rows at `positions`, in that order (a token_cache's kept()); the others are evicted.
  void retain(std::span<const std::size_t> positions) {
    std::unordered_map<std::size_t, std::size_t> row_of;
    row_of.reserve(positions_.size());
    for (std::size_t r = 0; r < positions_.size(); ++r) row_of.emplace(positions_[r], r);
    std::vector<std::size_t> rows;
    rows.reserve(positions.size());
    for (const std::size_t p : positions) {
      const auto it = row_of.find(p);
      if (it == row_of.end())
        throw error("kv_store: retain: position " + std::to_string(p) + " is not cached (or is listed twice)");
      rows.push_back(it->second);
      row_of.erase(it);
    }
    const std::size_t width = heads_ * head_dim_;
    if (std::is_sorted(rows.begin(), rows.end())) {
      // Order kept: move rows down in place.
      for (std::size_t dst = 0; dst < rows.size(); ++dst) {
        const std::size_t src = rows[dst];
        if (src == dst) continue;
        std::copy_n(keys_.begin() + static_cast<std::ptrdiff_t>(src * width), width,
                    keys_.begin() + static_cast<std::ptrdiff_t>(dst * width));
        std::copy_n(values_.begin() + static_cast<std::ptrdiff_t>(src * width), width,
                    values_.begin() + static_cast<std::ptrdiff_t>(dst * width));
      }
      keys_.resize(rows.size() * width);
      values_.resize(rows.size() * width);
    } else {
      // Reordered (StreamingVLM moves assistant text into the older-text block): gather.
      std::vector<float> keys(rows.size() * width), values(rows.size() * width);
      for (std::size_t dst = 0; dst < rows.size(); ++dst) {
        std::copy_n(keys_.begin() + static_cast<std::ptrdiff_t>(rows[dst] * width), width,
                    keys.begin() + static_cast<std::ptrdiff_t>(dst * width));
        std::copy_n(values_.begin() + static_cast<std::ptrdiff_t>(rows[dst] * width), width,
                    values.begin() + static_cast<std::ptrdiff_t>(dst * width));
      }
      keys_ = std::move(keys);
      values_ = std::move(values);
    }
    positions_.assign(positions.begin(), positions.end());
    cached_ = std::unordered_set<std::size_t>(positions_.begin(), positions_.end());
  }

  std::size_t rows() const { return positions_.size(); }
  std::size_t heads() const { return heads_; }
  std::size_t head_dim() const { return head_dim_; }
  // Stream position of each row.
  const std::vector<std::size_t>& positions() const { return positions_; }
  std::span<const float> keys() const { return keys_; }
  std::span<const float> values() const { return values_; }
  std::span<const float> key(std::size_t row, std::size_t head) const { return slice(keys_, row, head); }
  std::span<const float> value(std::size_t row, std::size_t head) const { return slice(values_, row, head); }

  // Keys + values of one token.
  std::size_t bytes_per_token() const { return 2 * heads_ * head_dim_ * sizeof(float); }
  std::size_t bytes() const { return rows() * bytes_per_token(); }
  // The most rows ever held at once, in bytes (the cost model's peak KV).
  std::size_t peak_bytes() const { return peak_rows_ * bytes_per_token(); }

 private:
  std::span<const float> slice(const std::vector<float>& data, std::size_t row, std::size_t head) const {
    if (row >= rows() || head >= heads_)
      throw error("kv_store: row " + std::to_string(row) + ", head " + std::to_string(head) +
                  " is outside [" + std::to_string(rows()) + " rows, " + std::to_string(heads_) + " heads]");
    return std::span<const float>(data).subspan((row * heads_ + head) * head_dim_, head_dim_);
  }

  std::size_t heads_;
  std::size_t head_dim_;
  std::vector<float> keys_;
  std::vector<float> values_;
  std::vector<std::size_t> positions_;
  std::unordered_set<std::size_t> cached_;
  std::size_t peak_rows_ = 0;
};

}  // namespace tensorlogic::reasoning
