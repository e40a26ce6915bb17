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

namespace detail {
template <fixed_string... Parts>
constexpr auto concat_names() {
  constexpr std::size_t n = (Parts.size() + ... + 0);
  char buf[n + 1]{};
  std::size_t k = 0;
  ((
       [&] {
         if constexpr (Parts.size() > 0)  // (an empty part: no loop, and no "pointless comparison" warning)
           for (std::size_t c = 0; c < Parts.size(); ++c) buf[k++] = Parts.data[c];
       }()),
   ...);
  return fixed_string<n + 1>(buf);
}
template <fixed_string... Parts>
inline constexpr auto joined = concat_names<Parts...>();

template <std::size_t N>
constexpr auto decimal() {
  constexpr std::size_t digits = N < 10 ? 1 : N < 100 ? 2 : 3;
  char buf[digits + 1]{};
  std::size_t v = N;
  for (std::size_t k = digits; k-- > 0;) {
    buf[k] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
  return fixed_string<digits + 1>(buf);
}
}  // namespace detail

// cat<"enc1", ".W"> is the fixed string "enc1.W": how the nn modules name their parameters and intermediates.
template <fixed_string... S>
inline constexpr auto cat = detail::joined<S...>;

}  // namespace tensorlogic
