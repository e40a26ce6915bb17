# shellcheck shell=bash
# Set-up shared by scripts/test and scripts/demo (sourced, not run): installs the missing Debian packages,
# then configures the build tree. BUILD_DIR, CMAKE_BUILD_TYPE, JOBS and CMAKE_ARGS (extra -D options) override.

TENSORLOGIC_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$TENSORLOGIC_ROOT/build}"
CMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-Release}"
JOBS="${JOBS:-$(nproc)}"

# Debian 12 packages the build needs; the library's own dependencies first, then the tools.
TENSORLOGIC_PACKAGES=(
  libtrilinos-kokkos-dev
  libtrilinos-kokkos-kernels-dev
  libboost-dev
  libxtensor-dev
  catch2
  libbenchmark-dev
  libopenblas-dev
  libeigen3-dev
  g++
  cmake
  clang  # the tests' second front end (ctest -L clang)
  gringo  # the Datalog benchmark's side-by-side grounder (bench_logic_closure)
)

tensorlogic_package_installed() {
  [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" == "installed" ]]
}

# Installs whatever is missing, with one apt-get update; as root only.
tensorlogic_install_packages() {
  local missing=() package
  for package in "${TENSORLOGIC_PACKAGES[@]}"; do
    tensorlogic_package_installed "$package" || missing+=("$package")
  done
  # Ninja if it can be had, else make; a non-root user with make already installed needs nothing more.
  if ! command -v ninja >/dev/null 2>&1 && ! tensorlogic_package_installed ninja-build; then
    if [[ "$(id -u)" -eq 0 ]] || ! command -v make >/dev/null 2>&1; then
      missing+=(ninja-build)
    fi
  fi
  if [[ ${#missing[@]} -eq 0 ]]; then
    return 0
  fi
  if [[ "$(id -u)" -ne 0 ]]; then
    echo "error: missing Debian packages: ${missing[*]}" >&2
    echo "       install them as root:  apt-get install --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}"
}

# Configures BUILD_DIR; an existing build tree keeps the generator it was made with.
tensorlogic_configure() {
  local generator_args=()
  if [[ ! -f "$BUILD_DIR/CMakeCache.txt" ]]; then
    if command -v ninja >/dev/null 2>&1; then
      generator_args=(-G Ninja)
    else
      generator_args=(-G "Unix Makefiles")
    fi
  fi
  local extra_args=()
  if [[ -n "${CMAKE_ARGS:-}" ]]; then
    read -r -a extra_args <<<"$CMAKE_ARGS"
  fi
  cmake -S "$TENSORLOGIC_ROOT" -B "$BUILD_DIR" "${generator_args[@]}" \
    -DCMAKE_BUILD_TYPE="$CMAKE_BUILD_TYPE" "${extra_args[@]}"
}

tensorlogic_setup() {
  tensorlogic_install_packages
  tensorlogic_configure
}
