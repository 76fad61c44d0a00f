#!/usr/bin/env bash
# extract_e2e.sh - `quarry extract` end to end with a tiny random-weight
# model over the sample corpus (schemas/samples/news-sample.jsonl):
#  1. news.yaml: every record parses and has every field; the long article
#     is chunked; prefix-cache hits; records in input order (--ordered).
#  2. a spec a random model can satisfy under the constraint: no_think
#     successes that validate, exit 0. (QUARRY_E2E_NO_CONSTRAINT=1 runs 2,
#     2b and 5 with --no-constraint, where only failures are expected.)
#  2b. a grounded enum: some successes, mention spans checked against the
#     corpus text.
#  3. a spec whose grounding cannot hold: failure records carrying both
#     attempts (no_think, then think), the think attempt stopped thinking at
#     the budget (thought tokens == budget, Qwen's closing text forced).
#  4. bad documents (JSONL garbage, binary, invalid UTF-8, empty, oversize)
#     become failure records and never stop the run; exit 1.
#  5. standard input, unordered output, --no-prefix-cache, usage errors.
#  6. --deterministic: the same records (but for timings and cache hits)
#     with one job and no prefix cache as with four jobs sharing the cache.
# usage: extract_e2e.sh QUARRY TEST_RECORDS MODEL SCHEMAS_DIR TMP_DIR [PARTS]
# PARTS: which of news, ladder (2, 2b, 3), inputs (4, 5), determinism (6) to
# run; default all
# (ctest runs them as three tests so that each stays short).
set -euo pipefail
Q=$1 CHECK=$2 MODEL=$3 SCHEMAS=$4 TMP=$5 PARTS=${6:-news,ladder,inputs,determinism}
part() { [[ ",$PARTS," == *",$1,"* ]]; }
SPECS=$(dirname "$0")/specs
CORPUS=$SCHEMAS/samples/news-sample.jsonl
N=$(grep -c . "$CORPUS")
rm -rf "$TMP"
mkdir -p "$TMP"
fail() { echo "FAIL: $*" >&2; exit 1; }
# runs quarry extract, expecting exit status $1
run() {
  local want=$1; shift
  local rc=0
  "$Q" extract --model "$MODEL" --threads 2 --no-progress "$@" 2>"$TMP/stderr" || rc=$?
  cat "$TMP/stderr" >&2
  sanitized
  [ "$rc" = "$want" ] || fail "quarry extract $* exited $rc, expected $want"
  grep -q '^quarry extract: .* documents: ' "$TMP/stderr" || fail "no summary line"
}
constrained() { grep -q '"constrained":true' "$1"; }
# the sanitizer tree: any report fails the test, whatever the exit status
sanitized() {
  if grep -qE 'runtime error:|ERROR: AddressSanitizer|ERROR: LeakSanitizer' "$TMP/stderr"; then
    fail "sanitizer report (see above)"
  fi
}

if part news; then
echo "== 1. news.yaml over $N sample documents"
SECONDS=0
rc=0
"$Q" extract --model "$MODEL" --spec "$SCHEMAS/news.yaml" "$CORPUS" --jobs 4 --threads 2 --ordered \
  --max-tokens 32 --chunk-tokens 256 --out "$TMP/news.jsonl" --no-progress 2>"$TMP/stderr" || rc=$?
cat "$TMP/stderr" >&2
sanitized
[ "$rc" = 0 ] || [ "$rc" = 1 ] || fail "news run exited $rc"
"$CHECK" --spec "$SCHEMAS/news.yaml" --records "$TMP/news.jsonl" --corpus "$CORPUS" --n "$N" --ordered \
  --hits yes --chunks en-long-001:2

echo "($SECONDS s)"
fi

if part ladder || part inputs; then
# the satisfiable spec's run doubles as the reference of part 5
SECONDS=0
echo "== 2. a satisfiable spec"
if [ "${QUARRY_E2E_NO_CONSTRAINT:-}" = 1 ]; then EXTRA=--no-constraint; else EXTRA=; fi
rc=0
"$Q" extract --model "$MODEL" --spec "$SPECS/mini.yaml" "$CORPUS" --jobs 3 --threads 2 --out "$TMP/mini.jsonl" \
  --no-progress $EXTRA 2>"$TMP/stderr" || rc=$?
cat "$TMP/stderr" >&2
sanitized
if constrained "$TMP/mini.jsonl"; then
  [ "$rc" = 0 ] || fail "mini spec: exit $rc with the constraint"
  "$CHECK" --spec "$SPECS/mini.yaml" --records "$TMP/mini.jsonl" --corpus "$CORPUS" --n "$N" --status ok --modes no_think
else
  echo "SKIP: running without the schema constraint: no successes expected from a random model"
  "$CHECK" --spec "$SPECS/mini.yaml" --records "$TMP/mini.jsonl" --corpus "$CORPUS" --n "$N"
fi

echo "($SECONDS s)"
fi

if part ladder; then
SECONDS=0
echo "== 2b. a grounded enum: mentions with spans checked against the corpus"
rc=0
"$Q" extract --model "$MODEL" --spec "$SPECS/words.yaml" "$CORPUS" --jobs 4 --threads 2 --out "$TMP/words.jsonl" \
  --no-progress $EXTRA 2>"$TMP/stderr" || rc=$?
cat "$TMP/stderr" >&2
sanitized
[ "$rc" = 0 ] || [ "$rc" = 1 ] || fail "words run exited $rc"
"$CHECK" --spec "$SPECS/words.yaml" --records "$TMP/words.jsonl" --corpus "$CORPUS" --n "$N"
if constrained "$TMP/words.jsonl"; then
  grep -q '"status":"ok"' "$TMP/words.jsonl" || fail "words: no document succeeded"
  grep -q '"spans":\[\[' "$TMP/words.jsonl" || fail "words: no mention spans"
fi

echo "($SECONDS s)"; SECONDS=0
echo "== 3. think fallback and thinking budget"
run 1 --spec "$SPECS/ungroundable.yaml" "$CORPUS" --jobs 4 --out "$TMP/ung.jsonl"
"$CHECK" --spec "$SPECS/ungroundable.yaml" --records "$TMP/ung.jsonl" --corpus "$CORPUS" --n "$N" \
  --status failed --modes no_think,think --thought 8
grep -q 'needed think' "$TMP/stderr"

echo "($SECONDS s)"
fi

if part inputs; then
SECONDS=0
echo "== 4. bad documents"
mkdir -p "$TMP/in/sub"
head -n 3 "$CORPUS" > "$TMP/in/a.jsonl"
{
  echo 'this is not json'
  echo '{"id": "no-text"}'
  echo '{"text": "no id"}'
  echo '{"id": "empty", "text": "   "}'
  echo '{"id": "nul", "text": "a\u0000b"}'
  printf '{"id": "latin1", "text": "caf\xe9"}\n'
  echo '{"id": "huge", "text": "'"$(head -c 3000 /dev/zero | tr '\0' x)"'"}'
} >> "$TMP/in/a.jsonl"
printf 'Ann Lee met Bob Ray in Oslo.\n' > "$TMP/in/sub/plain.txt"
printf '\x00\x01\x02binary' > "$TMP/in/sub/blob.bin"
printf 'caf\xe9 au lait' > "$TMP/in/sub/latin1.txt"
: > "$TMP/in/sub/empty.txt"
run 1 --spec "$SPECS/mini.yaml" "$TMP/in" --max-doc-bytes 2000 --jobs 2 --ordered --out "$TMP/bad.jsonl"
"$CHECK" --spec "$SPECS/mini.yaml" --records "$TMP/bad.jsonl" --n 14 --bad 10
for r in 'malformed JSON line' 'missing text' 'missing id' '"reason":"empty"' 'binary (NUL bytes)' \
         'invalid UTF-8' 'oversize'; do
  grep -q "$r" "$TMP/bad.jsonl" || fail "no failure record with '$r'"
done
grep -q '"id":"'"$TMP"'/in/sub/plain.txt"' "$TMP/bad.jsonl" || fail "text file id is not its path"

echo "($SECONDS s)"; SECONDS=0
echo "== 5. stdin, unordered, no prefix cache, usage errors"
run "$( constrained "$TMP/mini.jsonl" && echo 0 || echo 1 )" --spec "$SPECS/mini.yaml" - --jobs 4 --no-prefix-cache $EXTRA \
  --out "$TMP/stdin.jsonl" < "$CORPUS"
"$CHECK" --spec "$SPECS/mini.yaml" --records "$TMP/stdin.jsonl" --corpus "$CORPUS" --n "$N" --hits no
# the same set of documents, whatever the order
cmp <(grep -o '"id":"[^"]*"' "$TMP/stdin.jsonl" | sort) <(grep -o '"id":"[^"]*"' "$TMP/mini.jsonl" | sort) \
  || fail "stdin and file runs produced different document sets"
grep -q 'from the prefix cache' "$TMP/stderr"

rc=0; "$Q" extract --model "$MODEL" --spec "$SPECS/mini.yaml" --bogus 2>/dev/null || rc=$?
[ "$rc" = 2 ] || fail "unknown option exited $rc"
rc=0; "$Q" extract --model "$MODEL" --spec "$SPECS/mini.yaml" /nonexistent/input 2>"$TMP/err" || rc=$?
[ "$rc" = 2 ] && grep -q '/nonexistent/input: No such file' "$TMP/err" || fail "missing input: exit $rc"
printf 'name: x\nversion: 1\ninstructions: [oops\n' > "$TMP/bad.yaml"
rc=0; "$Q" extract --model "$MODEL" --spec "$TMP/bad.yaml" "$CORPUS" 2>"$TMP/err" || rc=$?
[ "$rc" = 2 ] && grep -q 'bad.yaml:4:1: YAML syntax error' "$TMP/err" || fail "bad spec: exit $rc: $(cat "$TMP/err")"
rc=0; "$Q" extract --spec "$SCHEMAS/news.yaml" --check-spec 2>/dev/null || rc=$?
[ "$rc" = 0 ] || fail "--check-spec on news.yaml exited $rc"
"$Q" extract --spec-keys | grep -q 'think.thinking_budget' || fail "--spec-keys"
echo "($SECONDS s)"
fi
if part determinism; then
SECONDS=0
echo "== 6. --deterministic: batching, jobs and the prefix cache change nothing"
strip() { sed -E 's/"time_ms":[0-9]+//g; s/"prefix_cache_hit_tokens":[0-9]+//g' "$1"; }
run 0 --spec "$SPECS/mini.yaml" "$CORPUS" --deterministic --jobs 1 --no-prefix-cache --ordered --out "$TMP/det1.jsonl"
run 0 --spec "$SPECS/mini.yaml" "$CORPUS" --deterministic --jobs 4 --ordered --out "$TMP/det4.jsonl"
grep -q 'from the prefix cache' "$TMP/stderr" || fail "the second run did not use the prefix cache"
[ "$(grep -c . "$TMP/det1.jsonl")" = "$N" ] || fail "expected $N records"
cmp <(strip "$TMP/det1.jsonl") <(strip "$TMP/det4.jsonl") || fail "--deterministic records differ between the runs"
echo "($SECONDS s)"
fi
echo "all extract end-to-end checks passed ($PARTS)"
