#!/usr/bin/env bash
# The project's one entry point: installs what a bare Debian bookworm lacks,
# configures and builds incrementally, then runs the tests or the demo server.
#
#   ./build.sh test        install, build, run every test (what CI runs)
#   ./build.sh demo [...]  install, build, run `recbandit serve --demo [...]`
#   ./build.sh build       install and build only
#   ./build.sh deps        install the Debian packages only
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BUILD_DIR="${RECBANDIT_BUILD_DIR:-$ROOT/build}"
JOBS="${RECBANDIT_JOBS:-$(nproc 2>/dev/null || echo 2)}"

# Every Debian package the build, the tests and the independent clients use.
PACKAGES=(
  g++ cmake ninja-build pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto
  libfaiss-dev libopenblas-dev librocksdb-dev libabsl-dev libeigen3-dev
  libgtest-dev libgmock-dev libbenchmark-dev prometheus-cpp-dev libcpp-httplib-dev
  python3 python3-grpcio python3-grpc-tools openssl
)
# Tools the client tests run, installed from Debian only when the command is
# missing (a machine may already have another build of Node.js, with npm).
declare -A COMMAND_PACKAGES=([node]=nodejs [npm]=npm)

log() { echo "[build.sh] $*" >&2; }

install_deps() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  for c in "${!COMMAND_PACKAGES[@]}"; do
    command -v "$c" >/dev/null 2>&1 || missing+=("${COMMAND_PACKAGES[$c]}")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    return 0
  fi
  log "installing missing packages: ${missing[*]}"
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo=(sudo)
    else
      log "error: not root and no sudo; install as root: apt-get install ${missing[*]}"
      exit 1
    fi
  fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  # With recommends, as the package set was verified (DESIGN.md section 7).
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    "${missing[@]}" >&2
}

build() {
  install_deps
  if [ ! -f "$BUILD_DIR/build.ninja" ]; then
    cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >&2
  fi
  cmake --build "$BUILD_DIR" -j "$JOBS" >&2
}

cmd="${1:-test}"
shift || true
case "$cmd" in
  deps)
    install_deps
    ;;
  build)
    build
    ;;
  test)
    build
    cd "$BUILD_DIR"
    ctest --output-on-failure -j "$JOBS" "$@"
    ;;
  demo)
    build
    exec "$BUILD_DIR/recbandit" serve --demo --data_dir="${RECBANDIT_DATA_DIR:-$ROOT/demo_data}" "$@"
    ;;
  *)
    echo "usage: $0 test|demo|build|deps" >&2
    exit 2
    ;;
esac
