#!/usr/bin/env bash
# Compile-time benchmark: seconds and peak compiler memory to build programs of 1, 8, 32 and 64 equations — a chain
# of dense layers H_k(n, o) = f(W_k(o, i) H_{k-1}(n, i) + b_k(o)) with f cycling through relu, tanh, sigmoid and
# exp, each program stored, bound, evaluated (every kernel instantiated) and its result printed: the whole path a
# user's translation unit compiles. Each program is compiled three ways: as written (`constexpr auto prog =
# tl::program(...)`, which on GCC and Clang deduces a keyed program: a short type derived from the spelled one, see
# core/program.hpp), named (`struct net : std::remove_cvref_t<decltype(layers)> {}; constexpr net prog{layers};`),
# and as written with -DTENSORLOGIC_KEYED_PROGRAMS=0 (the spelled type program<equations...>, whose name the compiler
# writes out, every equation, in each function it instantiates for the program). Usage:
#   benchmarks/compile_time.sh [counts...]        (default: 1 8 32 64)
# CXX and CXXFLAGS override the compiler and the flags (default: the project's Release flags against the Debian
# Kokkos); the sources and objects go to a temporary folder. Peak memory needs GNU time (/usr/bin/time).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cxx="${CXX:-c++}"
read -r -a flags <<< "${CXXFLAGS:--std=c++20 -O3 -DNDEBUG -DTENSORLOGIC_HAVE_KOKKOS_KERNELS=1 -isystem /usr/include/trilinos}"
counts=("$@")
[[ ${#counts[@]} -gt 0 ]] || counts=(1 8 32 64)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

generate() {  # $1 = number of equations, $2 = plain or named
  local n="$1" spelling="$2" k fns=(relu tanh sigmoid exp)
  local var=prog
  [[ $spelling == named ]] && var=layers
  echo '#include <cstdio>'
  echo '#include <vector>'
  echo '#include <tensorlogic/tensorlogic.hpp>'
  echo 'namespace tl = tensorlogic;'
  echo 'constexpr tl::index<"n"> n; constexpr tl::index<"i"> i; constexpr tl::index<"o"> o;'
  for ((k = 0; k <= n; ++k)); do echo "constexpr tl::tensor<\"H$k\", float, 2> H$k;"; done
  for ((k = 1; k <= n; ++k)); do
    echo "constexpr tl::tensor<\"W$k\", float, 2> W$k; constexpr tl::tensor<\"b$k\", float, 1> b$k;"
  done
  echo "constexpr auto $var = tl::program("
  for ((k = 1; k <= n; ++k)); do
    local sep=","
    [[ $k -eq $n ]] && sep=""
    # consecutive layers map width 8 to width 8; i and o alternate roles so that every equation is well-formed
    if (( k % 2 == 1 )); then
      echo "    H$k(n, o) = tl::${fns[$(( (k - 1) % 4 ))]}(W$k(o, i) * H$((k - 1))(n, i) + b$k(o))$sep"
    else
      echo "    H$k(n, i) = tl::${fns[$(( (k - 1) % 4 ))]}(W$k(i, o) * H$((k - 1))(n, o) + b$k(i))$sep"
    fi
  done
  echo ');'
  if [[ $spelling == named ]]; then
    echo 'struct net : std::remove_cvref_t<decltype(layers)> {};'
    echo 'constexpr net prog{layers};'
  fi
  echo 'int main(int argc, char** argv) {'
  echo '  Kokkos::ScopeGuard guard(argc, argv);'
  echo '  tl::store s(prog, tl::extents(n = 4, i = 8, o = 8));'
  echo '  std::vector<float> w(64, 0.1f), b(8, 0.01f), x(32, 1.0f);'
  echo '  tl::bind(s, H0, x.data(), x.size());'
  for ((k = 1; k <= n; ++k)); do
    echo "  tl::bind(s, W$k, w.data(), w.size()); tl::bind(s, b$k, b.data(), b.size());"
  done
  echo '  tl::eval(prog, s);'
  echo "  std::printf(\"%g\\n\", static_cast<double>(s[H$n](0, 0)));"
  echo '}'
}

compile() {  # $1 = source, then extra flags; prints "seconds peak-MiB"
  local src="$1" obj="${1%.cpp}.o"
  shift
  if [[ -x /usr/bin/time ]]; then
    /usr/bin/time -f '%e %M' -o "$work/time" "$cxx" "${flags[@]}" "$@" -I"$root/include" -c "$src" -o "$obj"
    read -r seconds kib < "$work/time"
    echo "$seconds $(( kib / 1024 ))"
  else
    local start ms
    start=$(date +%s%N)
    "$cxx" "${flags[@]}" "$@" -I"$root/include" -c "$src" -o "$obj"
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    printf '%d.%02d n/a\n' $(( ms / 1000 )) $(( ms % 1000 / 10 ))
  fi
}

printf '%-10s %10s %10s %10s %12s %12s %12s\n' equations seconds "named s" "spelled s" "peak MiB" "named MiB" \
  "spelled MiB"
for n in "${counts[@]}"; do
  generate "$n" plain > "$work/chain_$n.cpp"
  generate "$n" named > "$work/named_$n.cpp"
  generate "$n" plain > "$work/spelled_$n.cpp"
  read -r plain_s plain_mib <<< "$(compile "$work/chain_$n.cpp")"
  read -r named_s named_mib <<< "$(compile "$work/named_$n.cpp")"
  read -r spelled_s spelled_mib <<< "$(compile "$work/spelled_$n.cpp" -DTENSORLOGIC_KEYED_PROGRAMS=0)"
  printf '%-10s %10s %10s %10s %12s %12s %12s\n' "$n" "$plain_s" "$named_s" "$spelled_s" "$plain_mib" "$named_mib" \
    "$spelled_mib"
done
