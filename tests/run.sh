#!/usr/bin/env bash
# The test command: installs dependencies, builds Quarry twice (Release, and
# ASan+UBSan) and runs the test suite in both. The sanitizer tree skips the
# tests labelled "parity" (long reference comparisons that run node and
# llama.cpp, whose own code is not ours to sanitize).
#   bash tests/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh
JOBS=$(nproc)

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$JOBS"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQUARRY_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$JOBS"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

status=0
echo "== Release build =="
(cd build && ctest --output-on-failure --timeout 1500) || status=1
echo "== ASan+UBSan build =="
(cd build-asan && ctest --output-on-failure --timeout 1500 -LE parity) || status=1
exit $status
