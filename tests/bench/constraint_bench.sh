#!/bin/sh
# constraint_bench.sh - JSON-Schema constrained decoding figures (not a test):
# schema compile time, per-token mask time, tok/s constrained vs
# unconstrained on the 0.6B-shaped synthetic model, forward passes per
# output token with jump-forward. Prints the load average: the box may be
# shared.
#   tests/bench/constraint_bench.sh [BUILD_DIR] [TOKENS]
set -e
BUILD=${1:-build}
TOKENS=${2:-96}
MODEL=$BUILD/test-models/q06-q8_0.gguf
cmake --build "$BUILD" --target quarry-constraint-bench quarry-mkmodel -j2 >/dev/null
if [ ! -f "$MODEL" ]; then
  echo "making $MODEL (610 MiB, ~20 s)"
  "$BUILD/quarry-mkmodel" --out "$MODEL" --shape 0.6b --type Q8_0 --seed 1
fi
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
"$BUILD/quarry-constraint-bench" --model "$MODEL" --tokens "$TOKENS"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
