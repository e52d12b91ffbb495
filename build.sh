#!/usr/bin/env bash
# The project's one entry point: installs what a bare Debian bookworm lacks,
# configures and builds incrementally, then runs the tests or the demo server.
#
#   ./build.sh test        install, build, run every test (what CI runs)
#   ./build.sh demo [...]  install, build, run `recbandit serve --demo
#                          --http_port=8080 [...]` (gRPC on 50051, HTTP/JSON on 8080)
#   ./build.sh build       install and build only
#   ./build.sh deps        install the Debian packages only
#   ./build.sh sanitize    every test under ASan+UBSan (build-asan/), then each
#                          fuzzer briefly (build-fuzz/, clang)
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
  python3 python3-grpcio python3-grpc-tools openssl ccache curl
  libnats-dev nats-server libhnswlib-dev python3-hnswlib
  chromium
)
# Tools the client tests run, installed from Debian only when the command is
# missing (a machine may already have another build of Node.js, with npm).
declare -A COMMAND_PACKAGES=([node]=nodejs [npm]=npm)

# Each line carries the seconds since this script started, so a CI log shows
# where the time went (install, each build, each test suite).
log() { echo "[build.sh +${SECONDS}s] $*" >&2; }

# Every build goes through ccache (a clean checkout on a machine that built
# before compiles only what changed); paths under the checkout are hashed
# relative to it, so another clone hits the same cache.
export CCACHE_BASEDIR="$ROOT"
export CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-8G}"
# Precompiled headers (CMakeLists.txt, RECBANDIT_PCH) are cached only with these.
export CCACHE_SLOPPINESS="pch_defines,time_macros"
LAUNCHER=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)

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
  log "packages installed"
}

build() {
  install_deps
  if [ ! -f "$BUILD_DIR/build.ninja" ]; then
    cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release "${LAUNCHER[@]}" >&2
  fi
  log "building $BUILD_DIR"
  cmake --build "$BUILD_DIR" -j "$JOBS" >&2
  log "built $BUILD_DIR"
}

# libFuzzer targets (tests/fuzz/*_fuzzer.cc), each smoke-run for
# FUZZ_SECONDS on its seed corpus (tests/fuzz/corpus/<target>/).
FUZZ_SECONDS="${RECBANDIT_FUZZ_SECONDS:-5}"
SANITIZE_PACKAGES=(clang libclang-rt-14-dev libfuzzer-14-dev libomp-14-dev libtsan2)
# The tests ThreadSanitizer runs (ctest names; the build target is the same
# with '_' for '/').
TSAN_TESTS=(proto/core/core_test bandits/log/event_log_test bandits/experiment_test
            bandits/policy_test bandits/sim/simulator_test services/serving/recent_events_test
            services/serving/serving_model_test services/serving/job_queue_test
            services/serving/model_store_test services/serving/deployments_test
            services/serving/slate_evaluation_test)

# Configures (once) and builds a sanitizer build: -O1 with line tables keeps
# both the compile and the tests fast enough for CI.
sanitizer_build() {
  local dir="$1" cc="$2" cxx="$3" sanitizers="$4"
  shift 4
  if [ ! -f "$dir/build.ninja" ]; then
    CC="$cc" CXX="$cxx" cmake -S "$ROOT" -B "$dir" -G Ninja \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
      -DRECBANDIT_SANITIZE="$sanitizers" -DRECBANDIT_BUILD_BENCHMARKS=OFF "${LAUNCHER[@]}" "$@" >&2
  fi
}

sanitize() {
  PACKAGES+=("${SANITIZE_PACKAGES[@]}")
  install_deps
  local asan="${RECBANDIT_ASAN_BUILD_DIR:-$ROOT/build-asan}"
  local fuzz="${RECBANDIT_FUZZ_BUILD_DIR:-$ROOT/build-fuzz}"
  export ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:detect_stack_use_after_return=0
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

  sanitizer_build "$asan" gcc g++ address,undefined
  log "building $asan"
  cmake --build "$asan" -j "$JOBS" >&2
  log "ASan+UBSan: every test"
  (cd "$asan" && ctest --output-on-failure -j "$JOBS")

  # libFuzzer needs clang; only the fuzzers and the libraries they reach.
  sanitizer_build "$fuzz" clang clang++ address,undefined -DRECBANDIT_FUZZ=ON
  local targets
  targets=$(cd "$ROOT/tests/fuzz" && ls *_fuzzer.cc | sed 's/\.cc$//')
  # shellcheck disable=SC2086
  log "building the fuzzers in $fuzz"
  cmake --build "$fuzz" -j "$JOBS" --target $targets >&2
  log "fuzzers: ${FUZZ_SECONDS} s each"
  local name corpus
  for name in $targets; do
    corpus="$(mktemp -d)"
    cp -r "$ROOT/tests/fuzz/corpus/$name/." "$corpus/" 2>/dev/null || true
    "$fuzz/$name" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=4096 \
      -print_final_stats=1 "$corpus" 2>"$fuzz/$name.log" ||
      { tail -n 40 "$fuzz/$name.log" >&2; log "fuzzer $name failed"; exit 1; }
    log "$name: $(grep -o 'stat::number_of_executed_units: [0-9]*' "$fuzz/$name.log" | tail -n 1)"
    rm -rf "$corpus"
  done
  unset ASAN_OPTIONS UBSAN_OPTIONS

  # ThreadSanitizer on the concurrency tests (gcc; tests/testing/
  # tsan_absl_sync.cc shows TSan Debian's abseil locks). Not run under TSan:
  # tests through gRPC or OpenMP (ALS, BPR's Hogwild updates, racy by design;
  # FAISS builds), whose uninstrumented libraries synchronise out of its sight.
  local tsan="${RECBANDIT_TSAN_BUILD_DIR:-$ROOT/build-tsan}"
  sanitizer_build "$tsan" gcc g++ thread
  local t targets=()
  for t in "${TSAN_TESTS[@]}"; do targets+=("${t//\//_}"); done
  log "building the TSan tests in $tsan"
  cmake --build "$tsan" -j "$JOBS" --target "${targets[@]}" >&2
  log "TSan: ${TSAN_TESTS[*]}"
  local pattern
  pattern="^($(IFS='|'; echo "${TSAN_TESTS[*]}"))\$"
  (cd "$tsan" && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$ROOT/tests/testing/tsan_suppressions.txt" \
    ctest --output-on-failure -j "$JOBS" -R "$pattern")

  log "sanitizer suite passed"
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
    log "tests passed"
    ;;
  sanitize)
    sanitize
    ;;
  demo)
    build
    exec "$BUILD_DIR/recbandit" serve --demo --data_dir="${RECBANDIT_DATA_DIR:-$ROOT/demo_data}" \
      --http_port=8080 "$@"
    ;;
  *)
    echo "usage: $0 test|demo|build|deps|sanitize" >&2
    exit 2
    ;;
esac
