// A decoder-only transformer as a Delethink chunk policy, decoding token by token with a KV cache.
//
// `transformer_weights<T>` holds host copies of a small model built from tl::nn modules, read out of a store by
// tensor name (`read_transformer`): token embedding "emb.E" [vocab, width], an optional learned position table
// "Pos" [context, width] added to the embedding, pre-norm blocks (nn::transformer_block: "blk.ln1",
// "blk.att.Wq", "blk.att.Wk", "blk.att.Wv" [heads, head_dim, width], "blk.att.Wo" [width, heads, head_dim],
// "blk.att.bo", "blk.ln2", the relu MLP "blk.mlp.0", "blk.mlp.1"), a final layer norm "lnf" and a linear head
// "head" [vocab, width].
//
// `transformer_policy<T, Cache>` decodes with that model on the host. Per new token it computes the token's q, k, v
// only, appends k and v (one row per token, per layer and head) to a preallocated cache and runs tl::attention of the
// new query over the cached keys; the cache policy is `full_context` (every token, up to a capacity) or
// reasoning::sink_window (StreamingLLM: after each token the cache keeps the first `sink` and the last `window`
// tokens, the rule of token_cache<sink_window>). Positions: a learned absolute table ("Pos", added to the embedding:
// a token's position is its index in the current context) and/or a rotary embedding (blocks built with
// nn::mask_kind::rope; transformer_names::rope_theta gives its base). With rotary positions the keys are cached
// un-rotated and rotated at attention time, with the query, to the positions decode_options::rope_positions says:
// position_mode::shrink (StreamingVLM's contiguous RoPE: cache row r sits at r, the new token at |K|) or
// position_mode::append (each token keeps its position in the context). Before any eviction the two agree.
// `reset()` starts a fresh context in O(1) without allocating; a call `policy(context, max_new_tokens)` resets,
// prefills the context and generates greedily (temperature 0) or by seeded temperature sampling, which makes it a
// `chunk_policy` for chunked_generate (Delethink's chunk boundary is a reset). Everything runs on the host.
#pragma once
#include <Kokkos_Core.hpp>
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <tensorlogic/core/error.hpp>
#include <tensorlogic/exec/attention.hpp>
#include <tensorlogic/reasoning/delethink.hpp>
#include <tensorlogic/reasoning/kv_policy.hpp>
#include <tensorlogic/reasoning/rope.hpp>

namespace tensorlogic::reasoning {

// Where the parameters live in the training store. Each block name P is an nn::transformer_block<P>.
struct transformer_names {
  std::string embedding = "emb.E";
  std::string positions = "Pos";  // empty: the model has no position table
  std::vector<std::string> blocks = {"blk"};
  std::string final_norm = "lnf";
  std::string head = "head";
  // The base of the blocks' rotary embedding (their nn::mask_kind::rope theta); 0: the blocks have none. A store
  // holding rotary tables ("P.att.cos") needs it, and a nonzero value needs the tables.
  double rope_theta = 0.0;
};

// Host copies of the weights, row-major in the store's layout.
template <class T>
struct transformer_weights {
  struct block {
    std::vector<T> ln1_g, ln1_b;   // [width]
    std::vector<T> wq, wk, wv;     // [heads, head_dim, width]
    std::vector<T> wo;             // [width, heads * head_dim]
    std::vector<T> bo;             // [width]
    std::vector<T> ln2_g, ln2_b;   // [width]
    std::vector<T> w1, b1;         // [hidden, width], [hidden]
    std::vector<T> w2, b2;         // [width, hidden], [width]
    T scale = T(0);                // the attention's score scale, 1/sqrt(head_dim)
  };
  std::size_t vocab = 0, width = 0, heads = 0, head_dim = 0, hidden = 0;
  std::size_t context = 0;  // rows of the position table (0: none)
  double rope_theta = 0.0;   // rotary embedding of queries and keys (rotate-half pairing); 0: none
  std::vector<T> embedding;  // [vocab, width]
  std::vector<T> positions;  // [context, width]
  std::vector<block> blocks;
  std::vector<T> lnf_g, lnf_b;    // [width]
  std::vector<T> head_w, head_b;  // [vocab, width], [vocab]

  std::size_t layers() const { return blocks.size(); }
  // Keys + values of one token over all layers.
  std::size_t kv_bytes_per_token() const { return 2 * layers() * heads * head_dim * sizeof(T); }
};

namespace detail {

template <class T>
struct host_tensor {
  std::vector<T> data;
  std::vector<std::size_t> shape;
};

template <class T, class View>
host_tensor<T> copy_to_host(const View& view) {
  host_tensor<T> out;
  for (std::size_t d = 0; d < View::rank; ++d) out.shape.push_back(view.extent(d));
  if (view.data() == nullptr && view.span() > 0) return out;
  auto host = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace{}, view);
  out.data.resize(host.span());
  for (std::size_t k = 0; k < host.span(); ++k) out.data[k] = static_cast<T>(host.data()[k]);
  return out;
}

// The tensor of `store` named `name`, converted to T, or nothing.
template <class T, class Store>
std::optional<host_tensor<T>> find_tensor(const Store& store, std::string_view name) {
  std::optional<host_tensor<T>> out;
  [&]<std::size_t... S>(std::index_sequence<S...>) {
    (void)((Store::template symbol_at<S>::name.view() == name
                ? (out = copy_to_host<T>(tensorlogic::get<S>(store.views())), true)
                : false) ||
           ...);
  }(std::make_index_sequence<Store::n_slots>{});
  return out;
}

inline std::string shape_text(const std::vector<std::size_t>& shape) {
  std::string s = "[";
  for (std::size_t d = 0; d < shape.size(); ++d) s += (d ? ", " : "") + std::to_string(shape[d]);
  return s + "]";
}

template <class T, class Store>
host_tensor<T> required_tensor(const Store& store, const std::string& name, const std::vector<std::size_t>& shape) {
  std::optional<host_tensor<T>> t = find_tensor<T>(store, name);
  if (!t) throw error("read_transformer: the store has no tensor \"" + name + "\"");
  if (t->data.empty() && !shape.empty())
    throw error("read_transformer: tensor \"" + name + "\" is not allocated in the store");
  for (std::size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 0) continue;  // any extent
    if (t->shape.size() != shape.size() || t->shape[d] != shape[d]) {
      throw error("read_transformer: tensor \"" + name + "\" has shape " + shape_text(t->shape) + ", expected " +
                  shape_text(shape) + " (0: any extent)");
    }
  }
  if (t->shape.size() != shape.size())
    throw error("read_transformer: tensor \"" + name + "\" has rank " + std::to_string(t->shape.size()) +
                ", expected " + std::to_string(shape.size()));
  return *t;
}

}  // namespace detail

// Reads a decoder-only transformer's weights out of a store (any tl::store whose program names them), converting
// them to T. A missing tensor or a shape that does not fit the others is an error naming the tensor.
template <class T, class Store>
transformer_weights<T> read_transformer(const Store& store, const transformer_names& names = {}) {
  if (names.blocks.empty()) throw error("read_transformer: transformer_names lists no blocks");
  transformer_weights<T> w;
  auto emb = detail::required_tensor<T>(store, names.embedding, {0, 0});
  w.vocab = emb.shape[0];
  w.width = emb.shape[1];
  w.embedding = std::move(emb.data);
  const std::size_t width = w.width;
  if (!names.positions.empty()) {
    auto pos = detail::required_tensor<T>(store, names.positions, {0, width});
    w.context = pos.shape[0];
    w.positions = std::move(pos.data);
  }
  for (const std::string& p : names.blocks) {
    typename transformer_weights<T>::block b;
    auto wq = detail::required_tensor<T>(store, p + ".att.Wq", {w.heads, w.head_dim, width});
    if (w.heads == 0) {
      w.heads = wq.shape[0];
      w.head_dim = wq.shape[1];
    }
    b.wq = std::move(wq.data);
    b.wk = detail::required_tensor<T>(store, p + ".att.Wk", {w.heads, w.head_dim, width}).data;
    b.wv = detail::required_tensor<T>(store, p + ".att.Wv", {w.heads, w.head_dim, width}).data;
    b.wo = detail::required_tensor<T>(store, p + ".att.Wo", {width, w.heads, w.head_dim}).data;
    b.bo = detail::required_tensor<T>(store, p + ".att.bo", {width}).data;
    b.ln1_g = detail::required_tensor<T>(store, p + ".ln1.g", {width}).data;
    b.ln1_b = detail::required_tensor<T>(store, p + ".ln1.b", {width}).data;
    b.ln2_g = detail::required_tensor<T>(store, p + ".ln2.g", {width}).data;
    b.ln2_b = detail::required_tensor<T>(store, p + ".ln2.b", {width}).data;
    auto w1 = detail::required_tensor<T>(store, p + ".mlp.0.W", {w.hidden, width});
    if (w.hidden == 0) w.hidden = w1.shape[0];
    b.w1 = std::move(w1.data);
    b.b1 = detail::required_tensor<T>(store, p + ".mlp.0.b", {w.hidden}).data;
    b.w2 = detail::required_tensor<T>(store, p + ".mlp.1.W", {width, w.hidden}).data;
    b.b2 = detail::required_tensor<T>(store, p + ".mlp.1.b", {width}).data;
    // The program's own scale (bound by nn::init / nn::share) when the store holds it, else 1/sqrt(head_dim).
    const std::optional<detail::host_tensor<T>> scale = detail::find_tensor<T>(store, p + ".att.scale");
    b.scale = scale && scale->data.size() == 1 && scale->data[0] != T(0)
                  ? scale->data[0]
                  : static_cast<T>(1.0 / std::sqrt(static_cast<double>(w.head_dim)));
    const bool tables = detail::find_tensor<T>(store, p + ".att.cos").has_value();
    if (tables && !(names.rope_theta > 1.0))
      throw error("read_transformer: block \"" + p + "\" has rotary tables (\"" + p +
                  ".att.cos\"): set transformer_names::rope_theta to its base (> 1)");
    if (!tables && names.rope_theta != 0.0)
      throw error("read_transformer: transformer_names::rope_theta is set but block \"" + p +
                  "\" has no rotary tables (\"" + p + ".att.cos\"): build it with nn::mask_kind::rope");
    w.blocks.push_back(std::move(b));
  }
  if (names.rope_theta != 0.0 && w.head_dim % 2 != 0)
    throw error("read_transformer: a rotary embedding needs an even head width, not " + std::to_string(w.head_dim));
  w.rope_theta = names.rope_theta;
  w.lnf_g = detail::required_tensor<T>(store, names.final_norm + ".g", {width}).data;
  w.lnf_b = detail::required_tensor<T>(store, names.final_norm + ".b", {width}).data;
  w.head_w = detail::required_tensor<T>(store, names.head + ".W", {w.vocab, width}).data;
  w.head_b = detail::required_tensor<T>(store, names.head + ".b", {w.vocab}).data;
  return w;
}

// Keeps every token of the context; `capacity` tokens are allocated once, and a longer context is an error.
struct full_context {
  std::size_t capacity = 4096;
};

struct decode_options {
  double temperature = 0.0;  // 0: greedy (argmax, the lowest id on ties); > 0: sample softmax(logits / temperature)
  std::uint64_t seed = 0;    // of the sampler
  std::optional<token_id> eos = std::nullopt;  // generation stops after emitting it
  // Rotary models: where cached keys and the query sit (shrink: contiguous over the cache; append: context positions).
  position_mode rope_positions = position_mode::shrink;
};

// Token-by-token decoding with a KV cache; see the file comment. Cache is full_context or sink_window.
template <class T, class Cache = full_context>
class transformer_policy {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                "tensorlogic: transformer_policy computes in float or double");
  static_assert(std::is_same_v<Cache, full_context> || std::is_same_v<Cache, sink_window>,
                "tensorlogic: transformer_policy's cache policy is full_context or sink_window");
  using view3 = Kokkos::View<T***, Kokkos::LayoutRight, Kokkos::HostSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>>;

 public:
  transformer_policy(std::shared_ptr<const transformer_weights<T>> weights, Cache cache = {},
                     decode_options options = {})
      : w_(std::move(weights)), cache_(cache), options_(options), rng_(options.seed) {
    if (!w_) throw error("transformer_policy: no weights");
    const transformer_weights<T>& w = *w_;
    if (w.layers() == 0 || w.width == 0 || w.heads == 0 || w.head_dim == 0 || w.vocab == 0)
      throw error("transformer_policy: the weights are empty (read them with read_transformer)");
    if constexpr (std::is_same_v<Cache, sink_window>) {
      cache.validate();
      capacity_ = cache.sink + cache.window + 1;  // the new token is cached before the policy trims
    } else {
      if (cache.capacity == 0) throw error("transformer_policy: full_context capacity must be at least 1");
      capacity_ = cache.capacity;
    }
    if (!(options.temperature >= 0.0))
      throw error("transformer_policy: temperature " + std::to_string(options.temperature) + " must be >= 0");
    const std::size_t plane = w.heads * capacity_ * w.head_dim;
    if (w.rope_theta != 0.0) {
      rope_ = rope{w.head_dim, w.rope_theta, rope_layout::rotate_half};
      rope_->validate();
      rotated_.assign(capacity_ * w.head_dim, T(0));
      grow_tables(capacity_);
    }
    keys_.assign(w.layers() * plane, T(0));
    values_.assign(w.layers() * plane, T(0));
    positions_.assign(capacity_, 0);
    x_.assign(w.width, T(0));
    a_.assign(w.width, T(0));
    q_.assign(w.heads * w.head_dim, T(0));
    kv_.assign(2 * w.heads * w.head_dim, T(0));
    o_.assign(w.heads * w.head_dim, T(0));
    h_.assign(w.hidden, T(0));
    logits_.assign(w.vocab, T(0));
  }
  transformer_policy(const transformer_weights<T>& weights, Cache cache = {}, decode_options options = {})
      : transformer_policy(std::make_shared<const transformer_weights<T>>(weights), cache, options) {}

  // Starts a fresh context: O(1), nothing is allocated or freed (the peak is kept; see reset_peak).
  void reset() {
    rows_ = 0;
    seen_ = 0;
  }
  void reset_peak() { peak_rows_ = rows_; }

  // Feeds one token at the next position of the context; returns the logits of the token that follows it.
  std::span<const T> step(token_id token) {
    const transformer_weights<T>& w = *w_;
    if (token < 0 || static_cast<std::size_t>(token) >= w.vocab)
      throw error("transformer_policy: token " + std::to_string(token) + " is outside the vocabulary [0, " +
                  std::to_string(w.vocab) + ")");
    const std::size_t position = seen_;
    if (!w.positions.empty() && position >= w.context)
      throw error("transformer_policy: position " + std::to_string(position) +
                  " is outside the position table (" + std::to_string(w.context) +
                  " rows): the context is longer than the model's");
    if (rows_ == capacity_)
      throw error("transformer_policy: the context is longer than the cache (full_context capacity " +
                  std::to_string(capacity_) + " tokens)");
    const std::size_t width = w.width, inner = w.heads * w.head_dim;
    for (std::size_t c = 0; c < width; ++c) {
      x_[c] = w.embedding[static_cast<std::size_t>(token) * width + c];
      if (!w.positions.empty()) x_[c] += w.positions[position * width + c];
    }
    const std::size_t row = rows_;
    positions_[row] = position;
    rows_ = row + 1;
    ++seen_;
    peak_rows_ = std::max(peak_rows_, rows_);
    for (std::size_t l = 0; l < w.layers(); ++l) {
      const auto& b = w.blocks[l];
      layer_norm(x_, b.ln1_g, b.ln1_b, a_);
      gemv(b.wq, a_, nullptr, inner, width, q_.data());
      gemv(b.wk, a_, nullptr, inner, width, kv_.data());
      gemv(b.wv, a_, nullptr, inner, width, kv_.data() + inner);
      // Append the token's key and value rows, then attend over the cache (the new row included), head by head.
      T* keys = layer_keys(l);
      T* values = layer_values(l);
      for (std::size_t hh = 0; hh < w.heads; ++hh) {
        std::copy_n(kv_.data() + hh * w.head_dim, w.head_dim, keys + (hh * capacity_ + row) * w.head_dim);
        std::copy_n(kv_.data() + inner + hh * w.head_dim, w.head_dim, values + (hh * capacity_ + row) * w.head_dim);
      }
      attention_options opt;
      opt.scale = static_cast<double>(b.scale);
      opt.mask = attention_mask::none;
      const long hd = static_cast<long>(w.head_dim), n = static_cast<long>(rows_);
      for (std::size_t hh = 0; hh < w.heads; ++hh) {
        T* head_keys = keys + hh * capacity_ * w.head_dim;
        if (rope_) {
          // the query at the new row's position, the cached (un-rotated) keys at theirs, into a scratch copy
          const std::size_t last = rows_ - 1;
          rotate_in_place(q_.data() + hh * w.head_dim, row_position(last));
          for (std::size_t r = 0; r < rows_; ++r) {
            std::copy_n(head_keys + r * w.head_dim, w.head_dim, rotated_.data() + r * w.head_dim);
            rotate_in_place(rotated_.data() + r * w.head_dim, row_position(r));
          }
          head_keys = rotated_.data();
        }
        const view3 qv(q_.data() + hh * w.head_dim, 1, 1, hd);
        const view3 kv(head_keys, 1, n, hd);
        const view3 vv(values + hh * capacity_ * w.head_dim, 1, n, hd);
        const view3 ov(o_.data() + hh * w.head_dim, 1, 1, hd);
        attention(qv, kv, vv, ov, opt);
        if (rope_) Kokkos::fence();  // the scratch keys are reused by the next head
      }
      Kokkos::fence();
      // x += Wo o + bo
      gemv(b.wo, o_, &b.bo, width, inner, a_.data());
      for (std::size_t c = 0; c < width; ++c) x_[c] += a_[c];
      layer_norm(x_, b.ln2_g, b.ln2_b, a_);
      gemv(b.w1, a_, &b.b1, w.hidden, width, h_.data());
      for (T& v : h_) v = v > T(0) ? v : T(0);
      gemv(b.w2, h_, &b.b2, width, w.hidden, a_.data());
      for (std::size_t c = 0; c < width; ++c) x_[c] += a_[c];
    }
    layer_norm(x_, w.lnf_g, w.lnf_b, a_);
    gemv(w.head_w, a_, &w.head_b, w.vocab, width, logits_.data());
    if constexpr (std::is_same_v<Cache, sink_window>) trim();
    return logits_;
  }

  // Feeds the tokens in order; returns the logits after the last one.
  std::span<const T> prefill(std::span<const token_id> tokens) {
    if (tokens.empty()) throw error("transformer_policy: prefill of an empty context");
    for (const token_id t : tokens) step(t);
    return logits_;
  }

  // The next token from logits: argmax (temperature 0) or a seeded sample of softmax(logits / temperature).
  token_id choose(std::span<const T> logits) {
    std::size_t best = 0;
    for (std::size_t v = 1; v < logits.size(); ++v)
      if (logits[v] > logits[best]) best = v;
    if (options_.temperature == 0.0) return static_cast<token_id>(best);
    double total = 0.0;
    probabilities_.resize(logits.size());
    for (std::size_t v = 0; v < logits.size(); ++v)
      total += probabilities_[v] =
          std::exp((static_cast<double>(logits[v]) - static_cast<double>(logits[best])) / options_.temperature);
    double r = std::uniform_real_distribution<double>(0.0, total)(rng_);
    for (std::size_t v = 0; v < logits.size(); ++v) {
      r -= probabilities_[v];
      if (r < 0.0) return static_cast<token_id>(v);
    }
    return static_cast<token_id>(best);
  }

  // The chunk policy: a fresh context holding `context`, then up to max_new_tokens generated tokens (fewer when EOS
  // is emitted). The last generated token is not fed back, as nothing reads its logits.
  std::vector<token_id> operator()(const std::vector<token_id>& context, std::size_t max_new_tokens) {
    if (context.empty()) throw error("transformer_policy: the context is empty (a chunk needs a prompt token)");
    reset();
    std::vector<token_id> out;
    out.reserve(max_new_tokens);
    if (max_new_tokens == 0) return out;
    std::span<const T> logits = prefill(context);
    for (;;) {
      const token_id next = choose(logits);
      out.push_back(next);
      if ((options_.eos && next == *options_.eos) || out.size() == max_new_tokens) break;
      logits = step(next);
    }
    return out;
  }

  // Cached tokens now, their positions in the current context (cache row order), and the tokens seen since reset.
  std::size_t size() const { return rows_; }
  std::span<const std::size_t> kept() const { return std::span<const std::size_t>(positions_).first(rows_); }
  // The rotary position of each cache row (shrink: 0..size()-1; append: kept()); empty without a rotary embedding.
  std::vector<std::size_t> rotary_positions() const {
    std::vector<std::size_t> out;
    if (rope_)
      for (std::size_t r = 0; r < rows_; ++r) out.push_back(row_position(r));
    return out;
  }
  std::size_t seen() const { return seen_; }
  std::size_t capacity() const { return capacity_; }
  // The most tokens cached at once (a new token counts before the policy trims) and their bytes over all layers.
  std::size_t peak_size() const { return peak_rows_; }
  std::size_t bytes_per_token() const { return w_->kv_bytes_per_token(); }
  std::size_t peak_kv_bytes() const { return peak_rows_ * bytes_per_token(); }
  std::size_t kv_bytes() const { return rows_ * bytes_per_token(); }
  // The cached (un-rotated) key and value of `row` for one layer and head.
  std::span<const T> key(std::size_t layer, std::size_t row, std::size_t head) const {
    return slice(keys_, layer, row, head);
  }
  std::span<const T> value(std::size_t layer, std::size_t row, std::size_t head) const {
    return slice(values_, layer, row, head);
  }
  const transformer_weights<T>& weights() const { return *w_; }
  const Cache& cache_policy() const { return cache_; }

 private:
  T* layer_keys(std::size_t l) { return keys_.data() + l * w_->heads * capacity_ * w_->head_dim; }
  T* layer_values(std::size_t l) { return values_.data() + l * w_->heads * capacity_ * w_->head_dim; }

  std::span<const T> slice(const std::vector<T>& data, std::size_t layer, std::size_t row, std::size_t head) const {
    if (layer >= w_->layers() || row >= rows_ || head >= w_->heads)
      throw error("transformer_policy: layer " + std::to_string(layer) + ", row " + std::to_string(row) + ", head " +
                  std::to_string(head) + " is outside [" + std::to_string(w_->layers()) + " layers, " +
                  std::to_string(rows_) + " rows, " + std::to_string(w_->heads) + " heads]");
    const std::size_t hd = w_->head_dim;
    return std::span<const T>(data).subspan(((layer * w_->heads + head) * capacity_ + row) * hd, hd);
  }

  std::size_t row_position(std::size_t r) const {
    return options_.rope_positions == position_mode::shrink ? r : positions_[r];
  }

  // cos / sin of position * frequency(i) for positions below `positions` (grown on demand: append mode's positions
  // run up to the context length).
  void grow_tables(std::size_t positions) {
    const std::size_t half = w_->head_dim / 2, have = cos_.size() / (half ? half : 1);
    if (positions <= have) return;
    cos_.resize(positions * half);
    sin_.resize(positions * half);
    for (std::size_t t = have; t < positions; ++t)
      for (std::size_t i = 0; i < half; ++i) {
        const double angle = static_cast<double>(t) * rope_->frequency(i);
        cos_[t * half + i] = std::cos(angle);
        sin_[t * half + i] = std::sin(angle);
      }
  }

  // rope::rotate (rotate-half pairs (i, i + d/2)) with the tables.
  void rotate_in_place(T* x, std::size_t position) {
    const std::size_t half = w_->head_dim / 2;
    if ((position + 1) * half > cos_.size()) grow_tables(std::max(position + 1, 2 * cos_.size() / half));
    const double* c = cos_.data() + position * half;
    const double* sn = sin_.data() + position * half;
    for (std::size_t i = 0; i < half; ++i) {
      const double x1 = x[i], x2 = x[i + half];
      x[i] = static_cast<T>(x1 * c[i] - x2 * sn[i]);
      x[i + half] = static_cast<T>(x2 * c[i] + x1 * sn[i]);
    }
  }

  // sink_window: a cache longer than sink + window keeps rows [0, sink) ++ [rows - window, rows).
  void trim() {
    const std::size_t sink = cache_.sink, window = cache_.window;
    if (rows_ <= sink + window) return;
    const std::size_t from = rows_ - window, hd = w_->head_dim;
    for (std::size_t l = 0; l < w_->layers(); ++l)
      for (std::size_t hh = 0; hh < w_->heads; ++hh) {
        T* k = layer_keys(l) + hh * capacity_ * hd;
        T* v = layer_values(l) + hh * capacity_ * hd;
        std::copy(k + from * hd, k + rows_ * hd, k + sink * hd);
        std::copy(v + from * hd, v + rows_ * hd, v + sink * hd);
      }
    std::copy(positions_.begin() + static_cast<std::ptrdiff_t>(from),
              positions_.begin() + static_cast<std::ptrdiff_t>(rows_),
              positions_.begin() + static_cast<std::ptrdiff_t>(sink));
    rows_ = sink + window;
  }

  // y = M x (+ bias), M row-major [rows, cols]; accumulated in double.
  static void gemv(const std::vector<T>& m, const std::vector<T>& x, const std::vector<T>* bias, std::size_t rows,
                   std::size_t cols, T* y) {
    for (std::size_t r = 0; r < rows; ++r) {
      double s = bias ? static_cast<double>((*bias)[r]) : 0.0;
      const T* mr = m.data() + r * cols;
      for (std::size_t c = 0; c < cols; ++c) s += static_cast<double>(mr[c]) * static_cast<double>(x[c]);
      y[r] = static_cast<T>(s);
    }
  }

  // nn::layer_norm: g (x - mean) / sqrt(var + 1e-5) + b, biased variance.
  static void layer_norm(const std::vector<T>& x, const std::vector<T>& g, const std::vector<T>& b,
                         std::vector<T>& y) {
    const std::size_t n = x.size();
    double mean = 0.0;
    for (const T v : x) mean += static_cast<double>(v);
    mean /= static_cast<double>(n);
    double var = 0.0;
    for (const T v : x) var += (static_cast<double>(v) - mean) * (static_cast<double>(v) - mean);
    const double rstd = 1.0 / std::sqrt(var / static_cast<double>(n) + 1e-5);
    for (std::size_t c = 0; c < n; ++c)
      y[c] = static_cast<T>(static_cast<double>(g[c]) * (static_cast<double>(x[c]) - mean) * rstd +
                            static_cast<double>(b[c]));
  }

  std::shared_ptr<const transformer_weights<T>> w_;
  Cache cache_;
  decode_options options_;
  std::mt19937_64 rng_;
  std::size_t capacity_ = 0;
  std::size_t rows_ = 0, seen_ = 0, peak_rows_ = 0;
  std::vector<T> keys_, values_;  // [layer, head, capacity, head_dim]
  std::vector<std::size_t> positions_;
  std::vector<T> x_, a_, q_, kv_, o_, h_, logits_;
  std::optional<rope> rope_;       // the rotary embedding, when the model has one
  std::vector<T> rotated_;         // one head's rotated keys [capacity, head_dim]
  std::vector<double> cos_, sin_;  // [position, head_dim / 2]
  std::vector<double> probabilities_;
};

}  // namespace tensorlogic::reasoning
