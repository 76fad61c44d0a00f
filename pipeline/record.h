/*
 * record.h - the output of an extraction run: one JSON object per
 * document, written as one line (JSONL). The format is documented in
 * schemas/README.md ("Records"); in short:
 *
 *   {"id", "status": "ok"|"failed", "reason", "spec": {"name", "version"},
 *    "model": {"file", "xxh3_64", "bytes"}, "mode", "extraction",
 *    "mentions": [{"pointer", "text", "field", "spans": [[start, end]]}],
 *    "doc": {"title", "url", "published_at", "lang", "source", "chars",
 *            "bytes", "chunks"},
 *    "attempts": [{"chunk", "mode", "try", "constrained", "tokens_in",
 *                  "prefix_cache_hit_tokens", "tokens_out",
 *                  "thought_tokens", "time_ms", "stop", "ok", "errors",
 *                  "output"}]}
 *
 * Span offsets are Unicode code points of the document's text (or title),
 * half-open. The model is identified by file name and the XXH3-64 hash of
 * the whole file, computed once per run.
 */
#ifndef QUARRY_RECORD_H
#define QUARRY_RECORD_H

#include <jansson.h>
#include <stdint.h>

#include "docs.h"
#include "spec.h"

typedef struct rec_model {
    char *file;          /* base name of the model file */
    char hash[17];       /* XXH3-64, 16 lowercase hex digits */
    uint64_t bytes;
} rec_model;

/* Hashes the model file (streaming; once per run). 0 or -1 with a message. */
int rec_model_identity(const char *path, rec_model *m, char *err, size_t errlen);
void rec_model_free(rec_model *m);

/* Longest raw model output kept in a failed attempt (bytes). */
#define REC_MAX_OUTPUT 2000

typedef struct rec_attempt {
    int chunk;           /* 0-based chunk of the document */
    int mode;            /* SPEC_NO_THINK / SPEC_THINK */
    int try_no;          /* 1-based within the mode */
    int constrained;     /* schema-constrained decoding was on */
    int tokens_in;       /* prompt tokens, shared prefix included */
    int hit_tokens;      /* of those, reused from the prefix cache */
    int tokens_out;      /* generated (sampled + forced), thought included */
    int thought_tokens;  /* think mode: tokens before </think>; -1 n/a */
    double ms;           /* wall time from start to verdict */
    const char *stop;    /* "stop_token", "complete", "length", ... */
    int ok;
    json_t *errors;      /* array of strings, owned */
    char *output;        /* raw output of a failed attempt, owned */
} rec_attempt;

void rec_attempt_clear(rec_attempt *a);

typedef struct rec_result {
    int ok;
    const char *reason;  /* failure reason, NULL when ok */
    json_t *extraction;  /* borrowed; NULL when failed */
    json_t *mentions;    /* borrowed; may be NULL */
    int mode;            /* mode that produced the extraction, -1 none */
    const rec_attempt *attempts;
    int n_attempts;
    int n_chunks;
} rec_result;

/* Builds the record of a document. NULL on allocation failure. */
json_t *rec_build(const doc *d, const spec *sp, const rec_model *m, const rec_result *r);

/* The record as one line of JSON with "\n" (malloc'd), UTF-8 as is. */
char *rec_line(const json_t *rec);

#endif
