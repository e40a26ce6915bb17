// The synthetic pattern set of the CNN training tests: 8 x 8 images of four classes (a horizontal bar, a vertical
// bar, a diagonal, a square outline), each at a random place with Gaussian noise.
#pragma once
#include <random>
#include <tensorlogic/tensorlogic.hpp>
#include <vector>

namespace tensorlogic::test {

inline constexpr int pattern_side = 8, pattern_classes = 4;

// One image of class `cls` at a random place, row-major.
inline std::vector<float> pattern_image(int cls, std::mt19937& gen) {
  constexpr int side = pattern_side;
  std::vector<float> img(side * side);
  std::normal_distribution<float> noise(0.0f, 0.15f);
  for (auto& v : img) v = noise(gen);
  std::uniform_int_distribution<int> pos(1, side - 5);
  const int r = pos(gen), c = pos(gen);
  auto on = [&](int i, int j) { img[static_cast<std::size_t>(i * side + j)] += 1.0f; };
  for (int d = 0; d < 4; ++d) {
    if (cls == 0) on(r + 1, c + d);
    if (cls == 1) on(r + d, c + 1);
    if (cls == 2) on(r + d, c + d);
  }
  if (cls == 3)
    for (int d = 0; d < 3; ++d) on(r, c + d), on(r + 2, c + d), on(r + 1, c), on(r + 1, c + 2);
  return img;
}

// Fills count images (classes in turn) into img(n, x, y, 0), their one-hot targets into target(n, k), and 1 / count
// into the scalar inv_n.
template <class Store, class Img, class Target, class Scalar>
void fill_patterns(Store& s, const Img& img, const Target& target, const Scalar& inv_n, int count, std::mt19937& gen) {
  for (int e = 0; e < count; ++e) {
    const int cls = e % pattern_classes;
    const auto pixels = pattern_image(cls, gen);
    for (int i = 0; i < pattern_side; ++i)
      for (int j = 0; j < pattern_side; ++j) s[img](e, i, j, 0) = pixels[static_cast<std::size_t>(i * pattern_side + j)];
    s[target](e, cls) = 1;
  }
  tensorlogic::bind(s, inv_n, 1.0 / count);
}

}  // namespace tensorlogic::test
