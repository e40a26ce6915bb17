// expect: negation_in_cycle<tensorlogic::fixed_string<5>\{"Even"\}, tensorlogic::fixed_string<4>\{"Odd"\}>.*error: static assertion failed: tensorlogic: program is not stratifiable: relation R is negated inside a recursive cycle through head H
// Even and Odd depend on each other, and Odd negates Even: not stratifiable.
#include <tensorlogic/tensorlogic.hpp>

namespace tl = tensorlogic;

inline constexpr tl::index<"x"> x;
inline constexpr tl::index<"y"> y;
inline constexpr tl::relation<"Zero", 1> Zero;
inline constexpr tl::relation<"Succ", 2> Succ;
inline constexpr tl::relation<"Even", 1> Even;
inline constexpr tl::relation<"Odd", 1> Odd;

constexpr auto bad = tl::program(Even(x) = Zero(x), Even(y) = Succ(x, y) * Odd(x), Odd(y) = Succ(x, y) * !Even(x));

int main() {}
