#!/usr/bin/env bash
# The main job on a fresh machine: installs dependencies, builds Quarry and
# runs `quarry extract` with the shipped `news` spec over the sample corpus
# (schemas/samples/news-sample.jsonl: English and Chinese news-style texts).
#
# With no model given it writes a small synthetic Qwen3 model (random
# weights, the real Qwen3 tokenizer and chat template). Everything runs for
# real — tokenizer, prefix cache, schema-constrained decoding, validation,
# grounding, the think-mode fallback — but a random model's extractions are
# structurally valid and meaningless (names it invents fail grounding, so
# many documents end as failure records with both attempts). For real
# extractions, download an official Qwen3 GGUF and pass it in:
#   deploy/download-model.sh 0.6B Q8_0
#   bash deploy/demo.sh models/Qwen3-0.6B-Q8_0.gguf
#
#   bash deploy/demo.sh [MODEL.gguf] [extra quarry extract options]
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh --runtime-only
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"

MODEL=${1:-${QUARRY_MODEL:-}}
[ $# -gt 0 ] && shift
if [ -z "$MODEL" ]; then
  MODEL=build/demo-model.gguf
  if [ ! -s "$MODEL" ]; then
    echo "demo: no model given; writing a synthetic Qwen3 model to $MODEL (random weights: output is meaningless)"
    build/quarry-mkmodel --out "$MODEL" --layers 4 --embd 256 --heads 8 --kv-heads 4 --head-dim 64 --ffn 768 --type Q8_0 --seed 1
  fi
fi
build/quarry model-info --model "$MODEL"
OUT=build/demo-records.jsonl
echo
echo "== quarry extract: news spec over schemas/samples/news-sample.jsonl -> $OUT =="
status=0
build/quarry extract --model "$MODEL" --spec schemas/news.yaml schemas/samples/news-sample.jsonl \
  --out "$OUT" --jobs 4 --ordered "$@" || status=$?
echo
echo "records: $(wc -l < "$OUT") in $OUT (exit status $status: 0 all ok, 1 some documents failed)"
echo "first record:"
head -n 1 "$OUT" | cut -c1-1500
# a failed document is an expected outcome with a synthetic model, not a failed demo
[ "$status" -le 1 ]
