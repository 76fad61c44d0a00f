#!/usr/bin/env bash
# Side-by-side benchmark (not part of the test run): writes the Qwen3-0.6B-shaped
# synthetic model in F16, Q8_0 and Q4_K_M and measures Quarry and llama.cpp on
# the same files, 2 threads each, alternating; then checks each figure against
# the targets of the throughput issue (printed, not an exit status).
#   bash tests/bench/run.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
deploy/install-deps.sh
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j"$(nproc)"
DIR="$BUILD/bench-models"
mkdir -p "$DIR"
for t in F16 Q8_0 Q4_K_M; do
  [ -s "$DIR/qwen3-0.6b-$t.gguf" ] || "$BUILD/quarry-mkmodel" --shape 0.6b --type "$t" --out "$DIR/qwen3-0.6b-$t.gguf"
done
node tests/ref/bench_compare.mjs --bin "$BUILD" --model "$DIR/qwen3-0.6b-F16.gguf" --model "$DIR/qwen3-0.6b-Q8_0.gguf" \
  --model "$DIR/qwen3-0.6b-Q4_K_M.gguf" "${@:2}"
