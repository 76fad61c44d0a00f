#!/usr/bin/env bash
# Downloads an official Qwen3 GGUF release and checks that Quarry loads it.
#   deploy/download-model.sh [SIZE] [QUANT] [DEST_DIR]
#     SIZE:  0.6B (default), 1.7B, 4B, 8B, 14B, 32B
#     QUANT: Q8_0 (default). Q4_K_M / Q5_K_M / Q6_K files exist for the larger
#            sizes; Quarry reads them once the K-quant kernels land (see README).
#     DEST_DIR: default ./models
# Environment: QUARRY_BIN (default build/quarry), HF_ENDPOINT (a mirror).
set -euo pipefail
SIZE=${1:-0.6B}
QUANT=${2:-Q8_0}
DEST=${3:-models}
BIN=${QUARRY_BIN:-build/quarry}
BASE=${HF_ENDPOINT:-https://huggingface.co}

case "$SIZE" in 0.6B|1.7B|4B|8B|14B|32B) ;; *) echo "download-model: unknown size '$SIZE' (0.6B 1.7B 4B 8B 14B 32B)" >&2; exit 2 ;; esac
case "$QUANT" in Q8_0|Q4_K_M|Q5_K_M|Q6_K|F16|BF16) ;; *) echo "download-model: unknown quantization '$QUANT'" >&2; exit 2 ;; esac

FILE="Qwen3-${SIZE}-${QUANT}.gguf"
URL="$BASE/Qwen/Qwen3-${SIZE}-GGUF/resolve/main/$FILE"
mkdir -p "$DEST"
OUT="$DEST/$FILE"
if [ -s "$OUT" ]; then
  echo "download-model: $OUT exists, not downloading again"
else
  echo "download-model: $URL -> $OUT"
  if command -v curl >/dev/null; then
    curl -fL --retry 3 -C - -o "$OUT.part" "$URL"
  else
    wget -c -O "$OUT.part" "$URL"
  fi
  mv "$OUT.part" "$OUT"
fi
if [ -x "$BIN" ]; then
  "$BIN" model-info --model "$OUT"
else
  echo "download-model: build Quarry first to check the file ($BIN not found)"
fi
echo "$OUT"
