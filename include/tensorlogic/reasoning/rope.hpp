// Rotary position embedding for a streaming KV cache: positions of the kept tokens in StreamingVLM's "shrink" mode
// (contiguous, an exclusive cumulative sum over the keep mask) or "append" mode (original stream positions), and the
// rotation itself, applied to un-rotated keys and to queries. Standard library only.
#pragma once
#include <cmath>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include <tensorlogic/core/error.hpp>

namespace tensorlogic::reasoning {

// shrink: kept tokens sit at 0..|K|-1 and the next query at |K|; append: kept tokens keep their stream positions.
enum class position_mode { shrink, append };

// rotate_half (GPT-NeoX, Llama, Qwen in Hugging Face; what StreamingVLM's Qwen2.5 path calls) pairs element i with
// i + d/2; interleaved (GPT-J, the RoFormer paper) pairs 2i with 2i + 1. Both rotate pair i by position * theta^(-2i/d).
enum class rope_layout { rotate_half, interleaved };

// out[p] = number of kept tokens before stream position p.
inline std::vector<std::size_t> exclusive_cumsum(const std::vector<bool>& keep) {
  std::vector<std::size_t> out(keep.size());
  std::size_t running = 0;
  for (std::size_t p = 0; p < keep.size(); ++p) {
    out[p] = running;
    running += keep[p] ? 1 : 0;
  }
  return out;
}

// The RoPE position of each kept token, in stream order.
inline std::vector<std::size_t> kept_positions(const std::vector<bool>& keep, position_mode mode) {
  const std::vector<std::size_t> shrink = exclusive_cumsum(keep);
  std::vector<std::size_t> out;
  for (std::size_t p = 0; p < keep.size(); ++p)
    if (keep[p]) out.push_back(mode == position_mode::shrink ? shrink[p] : p);
  return out;
}

// The position of the next query: |K| in shrink mode, the stream length in append mode.
inline std::size_t next_position(const std::vector<bool>& keep, position_mode mode) {
  if (mode == position_mode::append) return keep.size();
  std::size_t n = 0;
  for (const bool k : keep) n += k ? 1 : 0;
  return n;
}

// One head's rotary embedding: head_dim must be even. theta = 10000 is RoFormer's base and the rope_theta of
// Llama-2 (StreamingLLM) and DeepSeek-R1-Distill-Qwen-1.5B (Delethink); Qwen2.5-VL uses 1e6.
struct rope {
  std::size_t head_dim = 128;
  double theta = 10000.0;
  rope_layout layout = rope_layout::rotate_half;

  void validate() const {
    if (head_dim == 0 || head_dim % 2 != 0)
      throw error("rope: head_dim = " + std::to_string(head_dim) + " must be even and positive");
    if (!(theta > 1.0)) throw error("rope: theta = " + std::to_string(theta) + " must be greater than 1");
  }

  // Angular frequency of pair i: theta^(-2i/d).
  double frequency(std::size_t pair) const {
    return std::pow(theta, -2.0 * static_cast<double>(pair) / static_cast<double>(head_dim));
  }

  // Rotates one head vector (head_dim floats) in place to `position`.
  void rotate(std::span<float> x, std::size_t position) const {
    validate();
    if (x.size() != head_dim)
      throw error("rope: vector has " + std::to_string(x.size()) + " elements, expected head_dim = " +
                  std::to_string(head_dim));
    const std::size_t half = head_dim / 2;
    for (std::size_t i = 0; i < half; ++i) {
      const double angle = static_cast<double>(position) * frequency(i);
      const double c = std::cos(angle), s = std::sin(angle);
      const std::size_t a = layout == rope_layout::rotate_half ? i : 2 * i;
      const std::size_t b = layout == rope_layout::rotate_half ? i + half : 2 * i + 1;
      const double x1 = x[a], x2 = x[b];
      x[a] = static_cast<float>(x1 * c - x2 * s);
      x[b] = static_cast<float>(x2 * c + x1 * s);
    }
  }

  // Rotates rows laid out [row, heads, head_dim] in place; row r goes to positions[r].
  void rotate_rows(std::span<float> rows, std::size_t heads, std::span<const std::size_t> positions) const {
    validate();
    if (rows.size() != positions.size() * heads * head_dim)
      throw error("rope: rows hold " + std::to_string(rows.size()) + " floats, expected positions (" +
                  std::to_string(positions.size()) + ") * heads (" + std::to_string(heads) + ") * head_dim (" +
                  std::to_string(head_dim) + ")");
    for (std::size_t r = 0; r < positions.size(); ++r)
      for (std::size_t h = 0; h < heads; ++h) rotate(rows.subspan((r * heads + h) * head_dim, head_dim), positions[r]);
  }

  // Rotated copies of un-rotated keys (or queries), [row, heads, head_dim].
  std::vector<float> rotated(std::span<const float> rows, std::size_t heads,
                             std::span<const std::size_t> positions) const {
    std::vector<float> out(rows.begin(), rows.end());
    rotate_rows(out, heads, positions);
    return out;
  }

  // Keys of a cache of n rows at cache-relative positions 0..n-1 (shrink mode over the cache order).
  std::vector<float> rotated_contiguous(std::span<const float> rows, std::size_t heads) const {
    validate();
    const std::size_t width = heads * head_dim;
    if (width == 0 || rows.size() % width != 0)
      throw error("rope: rows hold " + std::to_string(rows.size()) + " floats, not a multiple of heads * head_dim = " +
                  std::to_string(width));
    std::vector<std::size_t> positions(rows.size() / width);
    for (std::size_t r = 0; r < positions.size(); ++r) positions[r] = r;
    return rotated(rows, heads, positions);
  }
};

}  // namespace tensorlogic::reasoning
