#!/usr/bin/env bash
# The main job on a fresh machine: installs dependencies, builds Quarry and
# runs it. With no model given it writes a small synthetic Qwen3 model (random
# weights, the real Qwen3 tokenizer and chat template): its output is
# well-formed but meaningless text. Give a real GGUF to get real answers:
#   bash deploy/demo.sh [MODEL.gguf]
#   deploy/download-model.sh 0.6B Q8_0 && bash deploy/demo.sh models/Qwen3-0.6B-Q8_0.gguf
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"

MODEL=${1:-${QUARRY_MODEL:-}}
if [ -z "$MODEL" ]; then
  MODEL=build/demo-model.gguf
  if [ ! -s "$MODEL" ]; then
    echo "demo: no model given; writing a synthetic Qwen3 model to $MODEL (random weights: output is meaningless)"
    build/quarry-mkmodel --out "$MODEL" --layers 4 --embd 256 --heads 8 --kv-heads 4 --head-dim 64 --ffn 768 --type Q8_0 --seed 1
  fi
fi
build/quarry model-info --model "$MODEL"
echo
echo "== no_think chat, greedy =="
build/quarry generate --model "$MODEL" --chat --no-think --temperature 0 --max-tokens 48 \
  --system "You extract entities from news text as JSON." \
  --prompt "Ada Lovelace wrote the first program for Charles Babbage's Analytical Engine in London."
echo
echo "== think mode, Qwen's sampling defaults, JSON output =="
build/quarry generate --model "$MODEL" --chat --think --max-tokens 48 --seed 7 --json \
  --prompt "北京是中国的首都。请列出文中的地名。"
