#!/usr/bin/env bash
# Extraction throughput (not part of the test run): `quarry extract` with the
# news spec over the sample corpus on the Qwen3-0.6B-shaped synthetic model,
# with the prefix cache off (cold: every document computes the ~1,000-token
# system prompt) and on (warm: computed once, shared). Prints each run's
# summary line: docs/min, tok/s, and the share of prompt tokens served from
# the prefix cache.
#   bash tests/bench/extract_bench.sh [BUILD_DIR] [N_DOCS] [TYPE]
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
N=${2:-12}
TYPE=${3:-Q8_0}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j"$(nproc)" >/dev/null
M="$BUILD/bench-models/qwen3-0.6b-$TYPE.gguf"
mkdir -p "$(dirname "$M")"
[ -s "$M" ] || "$BUILD/quarry-mkmodel" --shape 0.6b --type "$TYPE" --out "$M"
DOCS="$BUILD/bench-docs.jsonl"
head -n "$N" schemas/samples/news-sample.jsonl > "$DOCS"
for mode in --no-prefix-cache ""; do
  echo "== ${mode:-with the prefix cache} =="
  "$BUILD/quarry" extract --model "$M" --spec schemas/news.yaml "$DOCS" --out /dev/null --jobs 4 \
    --no-progress --max-tokens 96 $mode 2>&1 | tail -n 1 || true
done
