// PNG charts for the examples, with no library beyond the standard one: an RGB canvas (clipped lines, markers,
// text in a built-in 5x7 font) saved as PNG with stored (uncompressed) deflate blocks, CRC-32 and Adler-32 computed
// here, and a chart of point and line series over a linear or logarithmic x axis with ticks, grid, labels and a
// legend. Lower-case letters are drawn as capitals.
#pragma once
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <limits>
#include <string>
#include <string_view>
#include <tensorlogic/core/error.hpp>
#include <vector>

namespace examples::plot {

struct color {
  std::uint8_t r, g, b;
  friend bool operator==(const color&, const color&) = default;
};
inline constexpr color black{0, 0, 0};
inline constexpr color white{255, 255, 255};
inline constexpr color light_grey{225, 225, 225};
inline constexpr color dark_grey{90, 90, 90};
inline constexpr color blue{31, 119, 180};
inline constexpr color orange{255, 127, 14};
inline constexpr color green{44, 160, 44};
inline constexpr color red{214, 39, 40};

namespace detail {

inline constexpr std::array<std::uint32_t, 256> crc_table = [] {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t n = 0; n < 256; ++n) {
    std::uint32_t c = n;
    for (int k = 0; k < 8; ++k) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[n] = c;
  }
  return table;
}();

// CRC-32 as PNG chunks use it (ISO 3309, reflected, initial and final XOR 0xFFFFFFFF).
inline std::uint32_t crc32(const std::uint8_t* data, std::size_t size) {
  std::uint32_t c = 0xFFFFFFFFu;
  for (std::size_t i = 0; i < size; ++i) c = crc_table[(c ^ data[i]) & 0xFFu] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

// Adler-32, the zlib stream's checksum of the uncompressed data.
inline std::uint32_t adler32(const std::vector<std::uint8_t>& data) {
  std::uint32_t a = 1, b = 0;
  for (const std::uint8_t byte : data) {
    a = (a + byte) % 65521u;
    b = (b + a) % 65521u;
  }
  return (b << 16) | a;
}

inline void put_u32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(v >> shift));
}

// One glyph: 7 rows of 5 pixels, the leftmost pixel in bit 4.
struct glyph {
  char c;
  std::array<std::uint8_t, 7> rows;
};

inline constexpr std::array<glyph, 50> font{{
    {'0', {0b01110, 0b10001, 0b10011, 0b10101, 0b11001, 0b10001, 0b01110}},
    {'1', {0b00100, 0b01100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110}},
    {'2', {0b01110, 0b10001, 0b00001, 0b00010, 0b00100, 0b01000, 0b11111}},
    {'3', {0b11111, 0b00010, 0b00100, 0b00010, 0b00001, 0b10001, 0b01110}},
    {'4', {0b00010, 0b00110, 0b01010, 0b10010, 0b11111, 0b00010, 0b00010}},
    {'5', {0b11111, 0b10000, 0b11110, 0b00001, 0b00001, 0b10001, 0b01110}},
    {'6', {0b00110, 0b01000, 0b10000, 0b11110, 0b10001, 0b10001, 0b01110}},
    {'7', {0b11111, 0b00001, 0b00010, 0b00100, 0b01000, 0b01000, 0b01000}},
    {'8', {0b01110, 0b10001, 0b10001, 0b01110, 0b10001, 0b10001, 0b01110}},
    {'9', {0b01110, 0b10001, 0b10001, 0b01111, 0b00001, 0b00010, 0b01100}},
    {'A', {0b01110, 0b10001, 0b10001, 0b11111, 0b10001, 0b10001, 0b10001}},
    {'B', {0b11110, 0b10001, 0b10001, 0b11110, 0b10001, 0b10001, 0b11110}},
    {'C', {0b01110, 0b10001, 0b10000, 0b10000, 0b10000, 0b10001, 0b01110}},
    {'D', {0b11100, 0b10010, 0b10001, 0b10001, 0b10001, 0b10010, 0b11100}},
    {'E', {0b11111, 0b10000, 0b10000, 0b11110, 0b10000, 0b10000, 0b11111}},
    {'F', {0b11111, 0b10000, 0b10000, 0b11110, 0b10000, 0b10000, 0b10000}},
    {'G', {0b01110, 0b10001, 0b10000, 0b10111, 0b10001, 0b10001, 0b01111}},
    {'H', {0b10001, 0b10001, 0b10001, 0b11111, 0b10001, 0b10001, 0b10001}},
    {'I', {0b01110, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110}},
    {'J', {0b00111, 0b00010, 0b00010, 0b00010, 0b00010, 0b10010, 0b01100}},
    {'K', {0b10001, 0b10010, 0b10100, 0b11000, 0b10100, 0b10010, 0b10001}},
    {'L', {0b10000, 0b10000, 0b10000, 0b10000, 0b10000, 0b10000, 0b11111}},
    {'M', {0b10001, 0b11011, 0b10101, 0b10101, 0b10001, 0b10001, 0b10001}},
    {'N', {0b10001, 0b10001, 0b11001, 0b10101, 0b10011, 0b10001, 0b10001}},
    {'O', {0b01110, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01110}},
    {'P', {0b11110, 0b10001, 0b10001, 0b11110, 0b10000, 0b10000, 0b10000}},
    {'Q', {0b01110, 0b10001, 0b10001, 0b10001, 0b10101, 0b10010, 0b01101}},
    {'R', {0b11110, 0b10001, 0b10001, 0b11110, 0b10100, 0b10010, 0b10001}},
    {'S', {0b01111, 0b10000, 0b10000, 0b01110, 0b00001, 0b00001, 0b11110}},
    {'T', {0b11111, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100}},
    {'U', {0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01110}},
    {'V', {0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01010, 0b00100}},
    {'W', {0b10001, 0b10001, 0b10001, 0b10101, 0b10101, 0b10101, 0b01010}},
    {'X', {0b10001, 0b10001, 0b01010, 0b00100, 0b01010, 0b10001, 0b10001}},
    {'Y', {0b10001, 0b10001, 0b10001, 0b01010, 0b00100, 0b00100, 0b00100}},
    {'Z', {0b11111, 0b00001, 0b00010, 0b00100, 0b01000, 0b10000, 0b11111}},
    {'.', {0b00000, 0b00000, 0b00000, 0b00000, 0b00000, 0b01100, 0b01100}},
    {'-', {0b00000, 0b00000, 0b00000, 0b11111, 0b00000, 0b00000, 0b00000}},
    {'+', {0b00000, 0b00100, 0b00100, 0b11111, 0b00100, 0b00100, 0b00000}},
    {':', {0b00000, 0b01100, 0b01100, 0b00000, 0b01100, 0b01100, 0b00000}},
    {',', {0b00000, 0b00000, 0b00000, 0b00000, 0b01100, 0b00100, 0b01000}},
    {'(', {0b00010, 0b00100, 0b01000, 0b01000, 0b01000, 0b00100, 0b00010}},
    {')', {0b01000, 0b00100, 0b00010, 0b00010, 0b00010, 0b00100, 0b01000}},
    {'[', {0b01110, 0b01000, 0b01000, 0b01000, 0b01000, 0b01000, 0b01110}},
    {']', {0b01110, 0b00010, 0b00010, 0b00010, 0b00010, 0b00010, 0b01110}},
    {'=', {0b00000, 0b00000, 0b11111, 0b00000, 0b11111, 0b00000, 0b00000}},
    {'/', {0b00000, 0b00001, 0b00010, 0b00100, 0b01000, 0b10000, 0b00000}},
    {'%', {0b11000, 0b11001, 0b00010, 0b00100, 0b01000, 0b10011, 0b00011}},
    {'_', {0b00000, 0b00000, 0b00000, 0b00000, 0b00000, 0b00000, 0b11111}},
    {'?', {0b01110, 0b10001, 0b00001, 0b00010, 0b00100, 0b00000, 0b00100}},
}};

inline const glyph* find_glyph(char c) {
  if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  for (const glyph& g : font)
    if (g.c == c) return &g;
  return &font.back();
}

// Tick labels: plain up to 1e5 (and down to 1e-3), otherwise mantissa E exponent.
inline std::string tick_label(double v) {
  char buffer[32];
  const double magnitude = std::abs(v);
  if (v != 0.0 && (magnitude >= 1e5 || magnitude < 1e-3)) {
    const int exponent = static_cast<int>(std::floor(std::log10(magnitude)));
    std::snprintf(buffer, sizeof buffer, "%gE%d", v / std::pow(10.0, exponent), exponent);
  } else {
    std::snprintf(buffer, sizeof buffer, "%.6g", std::abs(v) < 1e-12 ? 0.0 : v);
  }
  return buffer;
}

// Round tick spacing (1, 2 or 5 times a power of ten) giving about `count` intervals over [lo, hi].
inline double tick_step(double lo, double hi, int count) {
  const double raw = (hi - lo) / count;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double n = raw / magnitude;
  return (n < 1.5 ? 1.0 : n < 3.0 ? 2.0 : n < 7.0 ? 5.0 : 10.0) * magnitude;
}

}  // namespace detail

// An RGB image; drawing outside the clip rectangle (the whole image unless set) is ignored.
class canvas {
 public:
  canvas(int width, int height, color background = white)
      : width_(width), height_(height), pixels_(static_cast<std::size_t>(width) * height * 3) {
    if (width <= 0 || height <= 0)
      throw tensorlogic::error("plot::canvas: size " + std::to_string(width) + "x" + std::to_string(height) +
                               " is not positive");
    for (std::size_t i = 0; i < pixels_.size(); i += 3) {
      pixels_[i] = background.r;
      pixels_[i + 1] = background.g;
      pixels_[i + 2] = background.b;
    }
    unclip();
  }

  int width() const { return width_; }
  int height() const { return height_; }

  void clip(int x0, int y0, int x1, int y1) {
    clip_ = {std::max(0, x0), std::max(0, y0), std::min(width_ - 1, x1), std::min(height_ - 1, y1)};
  }
  void unclip() { clip_ = {0, 0, width_ - 1, height_ - 1}; }

  void set(int x, int y, color c) {
    if (x < clip_[0] || x > clip_[2] || y < clip_[1] || y > clip_[3]) return;
    const std::size_t i = (static_cast<std::size_t>(y) * width_ + x) * 3;
    pixels_[i] = c.r;
    pixels_[i + 1] = c.g;
    pixels_[i + 2] = c.b;
  }
  color get(int x, int y) const {
    const std::size_t i = (static_cast<std::size_t>(y) * width_ + x) * 3;
    return {pixels_[i], pixels_[i + 1], pixels_[i + 2]};
  }

  void fill_rect(int x0, int y0, int x1, int y1, color c) {
    for (int y = std::min(y0, y1); y <= std::max(y0, y1); ++y)
      for (int x = std::min(x0, x1); x <= std::max(x0, x1); ++x) set(x, y, c);
  }

  // A straight line `thickness` pixels wide, first clipped to the clip rectangle (Liang-Barsky), then drawn by
  // Bresenham's algorithm.
  void line(double x0, double y0, double x1, double y1, color c, int thickness = 1) {
    const double pad = thickness;
    double t0 = 0.0, t1 = 1.0;
    const double dx = x1 - x0, dy = y1 - y0;
    const auto keep = [&](double p, double q) {
      if (p == 0.0) return q >= 0.0;
      const double r = q / p;
      if (p < 0.0) {
        if (r > t1) return false;
        t0 = std::max(t0, r);
      } else {
        if (r < t0) return false;
        t1 = std::min(t1, r);
      }
      return true;
    };
    if (!std::isfinite(x0) || !std::isfinite(y0) || !std::isfinite(x1) || !std::isfinite(y1)) return;
    if (!keep(-dx, x0 - (clip_[0] - pad)) || !keep(dx, (clip_[2] + pad) - x0) || !keep(-dy, y0 - (clip_[1] - pad)) ||
        !keep(dy, (clip_[3] + pad) - y0))
      return;
    int ax = static_cast<int>(std::lround(x0 + t0 * dx)), ay = static_cast<int>(std::lround(y0 + t0 * dy));
    const int bx = static_cast<int>(std::lround(x0 + t1 * dx)), by = static_cast<int>(std::lround(y0 + t1 * dy));
    const int sx = ax < bx ? 1 : -1, sy = ay < by ? 1 : -1;
    const int ex = std::abs(bx - ax), ey = -std::abs(by - ay);
    int err = ex + ey;
    const int lo = -(thickness - 1) / 2, hi = thickness / 2;
    for (;;) {
      for (int oy = lo; oy <= hi; ++oy)
        for (int ox = lo; ox <= hi; ++ox) set(ax + ox, ay + oy, c);
      if (ax == bx && ay == by) break;
      const int e2 = 2 * err;
      if (e2 >= ey) {
        err += ey;
        ax += sx;
      }
      if (e2 <= ex) {
        err += ex;
        ay += sy;
      }
    }
  }

  // A filled disc.
  void marker(double x, double y, int radius, color c) {
    if (!std::isfinite(x) || !std::isfinite(y)) return;
    const int cx = static_cast<int>(std::lround(x)), cy = static_cast<int>(std::lround(y));
    for (int oy = -radius; oy <= radius; ++oy)
      for (int ox = -radius; ox <= radius; ++ox)
        if (ox * ox + oy * oy <= radius * radius + radius) set(cx + ox, cy + oy, c);
  }

  // Text with its top-left corner at (x, y); each glyph is 5x7 pixels times `scale`, 6 * scale apart.
  void text(int x, int y, std::string_view s, color c, int scale = 1) {
    for (const char ch : s) {
      const detail::glyph* g = ch == ' ' ? nullptr : detail::find_glyph(ch);
      for (int row = 0; g && row < 7; ++row)
        for (int col = 0; col < 5; ++col)
          if (g->rows[row] & (1u << (4 - col)))
            fill_rect(x + col * scale, y + row * scale, x + col * scale + scale - 1, y + row * scale + scale - 1, c);
      x += 6 * scale;
    }
  }
  static int text_width(std::string_view s, int scale = 1) {
    return s.empty() ? 0 : static_cast<int>(s.size()) * 6 * scale - scale;
  }

  // The image as a PNG file: 8-bit RGB, one zlib stream of stored deflate blocks.
  std::vector<std::uint8_t> png() const {
    std::vector<std::uint8_t> raw;
    raw.reserve(static_cast<std::size_t>(height_) * (1 + 3 * width_));
    for (int y = 0; y < height_; ++y) {
      raw.push_back(0);  // filter type None
      const auto row = pixels_.begin() + static_cast<std::ptrdiff_t>(y) * width_ * 3;
      raw.insert(raw.end(), row, row + width_ * 3);
    }
    std::vector<std::uint8_t> z{0x78, 0x01};
    for (std::size_t at = 0; at < raw.size() || at == 0;) {
      const std::size_t n = std::min<std::size_t>(65535, raw.size() - at);
      const bool last = at + n == raw.size();
      z.push_back(last ? 1 : 0);
      z.push_back(static_cast<std::uint8_t>(n & 0xFF));
      z.push_back(static_cast<std::uint8_t>(n >> 8));
      z.push_back(static_cast<std::uint8_t>(~n & 0xFF));
      z.push_back(static_cast<std::uint8_t>((~n >> 8) & 0xFF));
      z.insert(z.end(), raw.begin() + static_cast<std::ptrdiff_t>(at),
               raw.begin() + static_cast<std::ptrdiff_t>(at + n));
      at += n;
      if (last) break;
    }
    detail::put_u32(z, detail::adler32(raw));

    std::vector<std::uint8_t> out{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    const auto chunk = [&out](const char* type, const std::vector<std::uint8_t>& data) {
      detail::put_u32(out, static_cast<std::uint32_t>(data.size()));
      const std::size_t start = out.size();
      out.insert(out.end(), type, type + 4);
      out.insert(out.end(), data.begin(), data.end());
      detail::put_u32(out, detail::crc32(out.data() + start, out.size() - start));
    };
    std::vector<std::uint8_t> header;
    detail::put_u32(header, static_cast<std::uint32_t>(width_));
    detail::put_u32(header, static_cast<std::uint32_t>(height_));
    header.insert(header.end(), {8, 2, 0, 0, 0});  // bit depth 8, RGB, deflate, adaptive filtering, no interlace
    chunk("IHDR", header);
    chunk("IDAT", z);
    chunk("IEND", {});
    return out;
  }

  void write_png(const std::string& path) const {
    const std::vector<std::uint8_t> bytes = png();
    std::ofstream file(path, std::ios::binary);
    file.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    if (!file) throw tensorlogic::error("plot: cannot write " + path);
  }

 private:
  int width_, height_;
  std::vector<std::uint8_t> pixels_;
  std::array<int, 4> clip_{};
};

enum class mark { points, line };

struct series {
  std::string label{};
  std::vector<double> x{}, y{};
  color colour = blue;
  mark style = mark::points;
};

// A chart of series over shared axes; ranges come from the data (non-finite points, and on a log axis
// non-positive x, are skipped).
struct chart {
  std::string title{}, x_label{}, y_label{};
  bool log_x = false;
  std::vector<series> data{};

  canvas render(int width = 800, int height = 500) const {
    canvas c(width, height);
    const int left = 64, right = width - 16, top = 44, bottom = height - 44;
    const auto usable = [this](double x, double y) {
      return std::isfinite(x) && std::isfinite(y) && (!log_x || x > 0);
    };

    double x_lo = std::numeric_limits<double>::infinity(), x_hi = -x_lo, y_lo = x_lo, y_hi = -x_lo;
    for (const series& s : data)
      for (std::size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i)
        if (usable(s.x[i], s.y[i])) {
          const double x = log_x ? std::log10(s.x[i]) : s.x[i];
          x_lo = std::min(x_lo, x), x_hi = std::max(x_hi, x);
          y_lo = std::min(y_lo, s.y[i]), y_hi = std::max(y_hi, s.y[i]);
        }
    if (!(x_lo <= x_hi)) x_lo = 0, x_hi = 1, y_lo = 0, y_hi = 1;
    if (x_hi - x_lo < 1e-12) x_lo -= 0.5, x_hi += 0.5;
    if (y_hi - y_lo < 1e-12) y_lo -= 0.5, y_hi += 0.5;
    // Linear axes widen to whole tick steps; the log axis gets 3% of room on each side.
    const double y_step = detail::tick_step(y_lo, y_hi, 6);
    y_lo = std::floor(y_lo / y_step) * y_step, y_hi = std::ceil(y_hi / y_step) * y_step;
    double x_step = 0;
    if (log_x) {
      const double pad = 0.03 * (x_hi - x_lo);
      x_lo -= pad, x_hi += pad;
    } else {
      x_step = detail::tick_step(x_lo, x_hi, 8);
      x_lo = std::floor(x_lo / x_step) * x_step, x_hi = std::ceil(x_hi / x_step) * x_step;
    }
    const auto px = [&](double x) { return left + (x - x_lo) / (x_hi - x_lo) * (right - left); };
    const auto py = [&](double y) { return bottom - (y - y_lo) / (y_hi - y_lo) * (bottom - top); };
    const auto x_of = [&](double x) { return px(log_x ? std::log10(x) : x); };

    // Ticks, grid lines and tick labels.
    const auto x_tick = [&](double position, double value, bool major) {
      const int x = static_cast<int>(std::lround(px(position)));
      if (major) c.line(x, top, x, bottom, light_grey);
      c.line(x, bottom, x, bottom + (major ? 5 : 3), dark_grey);
      if (major) {
        const std::string label = detail::tick_label(value);
        c.text(x - canvas::text_width(label) / 2, bottom + 9, label, black);
      }
    };
    if (log_x) {
      const int first = static_cast<int>(std::floor(x_lo)), last = static_cast<int>(std::ceil(x_hi));
      const int decades = static_cast<int>(std::floor(x_hi) - std::ceil(x_lo)) + 1;
      for (int e = first; e <= last; ++e)
        for (int m = 1; m <= 9; ++m) {
          const double position = e + std::log10(m);
          if (position < x_lo || position > x_hi) continue;
          // With fewer than two decades on the axis, 2 and 5 times a power of ten are labelled too.
          const bool major = m == 1 || (decades < 2 && (m == 2 || m == 5));
          x_tick(position, m * std::pow(10.0, e), major);
        }
    } else {
      for (double x = x_lo; x <= x_hi + 0.5 * x_step; x += x_step) x_tick(x, x, true);
    }
    for (double y = y_lo; y <= y_hi + 0.5 * y_step; y += y_step) {
      const int yy = static_cast<int>(std::lround(py(y)));
      c.line(left, yy, right, yy, light_grey);
      c.line(left - 5, yy, left, yy, dark_grey);
      const std::string label = detail::tick_label(y);
      c.text(left - 8 - canvas::text_width(label), yy - 3, label, black);
    }
    c.line(left, top, left, bottom, black);
    c.line(left, bottom, right, bottom, black);

    // Series, clipped to the plotting area: lines first, points over them.
    c.clip(left + 1, top, right, bottom - 1);
    for (const mark pass : {mark::line, mark::points})
      for (const series& s : data) {
        if (s.style != pass) continue;
        bool have_previous = false;
        double previous_x = 0, previous_y = 0;
        for (std::size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
          if (!usable(s.x[i], s.y[i])) {
            have_previous = false;
            continue;
          }
          const double x = x_of(s.x[i]), y = py(s.y[i]);
          if (s.style == mark::points) {
            c.marker(x, y, 2, s.colour);
          } else if (have_previous) {
            c.line(previous_x, previous_y, x, y, s.colour, 2);
          }
          previous_x = x, previous_y = y, have_previous = true;
        }
      }
    c.unclip();

    // Legend in the upper left of the plotting area, title, axis labels.
    int legend_y = top + 8;
    for (const series& s : data) {
      if (s.label.empty()) continue;
      if (s.style == mark::points) {
        c.marker(left + 18, legend_y + 3, 2, s.colour);
      } else {
        c.line(left + 10, legend_y + 3, left + 26, legend_y + 3, s.colour, 2);
      }
      c.text(left + 32, legend_y, s.label, black);
      legend_y += 12;
    }
    c.text((left + right - canvas::text_width(title, 2)) / 2, 8, title, black, 2);
    c.text((left + right - canvas::text_width(x_label)) / 2, bottom + 26, x_label, black);
    c.text(8, top - 12, y_label, black);
    return c;
  }

  void save(const std::string& path, int width = 800, int height = 500) const { render(width, height).write_png(path); }
};

}  // namespace examples::plot
