// fixed_string: a string usable as a template argument, so names (tensors, indices) live in types.
// Used only by the front end; kernels never see it (DESIGN §2, "names stop at the front end").
#pragma once
#include <cstddef>
#include <string_view>

namespace tensorlogic {

template <std::size_t N>
struct fixed_string {
  char data[N]{};
  constexpr fixed_string(const char (&s)[N]) {
    for (std::size_t k = 0; k < N; ++k) data[k] = s[k];
  }
  constexpr std::string_view view() const { return std::string_view(data, N - 1); }
  static constexpr std::size_t size() { return N - 1; }
};

template <std::size_t A, std::size_t B>
constexpr bool operator==(const fixed_string<A>& a, const fixed_string<B>& b) {
  return a.view() == b.view();
}

}  // namespace tensorlogic
