/*
 * extract.h - runs extractions: documents in, records out.
 *
 * One ex_engine owns one qe_context with `jobs` sequences for chunks in
 * flight plus one holding the shared prompt prefix, computed once and
 * copied into each attempt's sequence (qe_seq_copy shares its KV blocks).
 * Every ex_step() makes ONE qe_decode call over all sequences: the next
 * token of every generating sequence and prefill pieces of the others in
 * the same batch.
 *
 * Per chunk, the spec's attempt ladder (default: no_think, then think):
 * generate (schema-constrained unless switched off), then
 * validate: JSON, JSON Schema, grounding, references. The first attempt
 * that passes wins; when all fail the document's record keeps every
 * attempt's errors. In think mode, once the thought reaches the spec's
 * thinking_budget, Qwen's closing sentence and </think> are appended
 * without sampling and the answer follows (constrained).
 *
 * Records go to the emit callback as documents complete (not in input
 * order; the caller reorders if it wants to).
 */
#ifndef QUARRY_EXTRACT_H
#define QUARRY_EXTRACT_H

#include <jansson.h>

#include "docs.h"
#include "qengine.h"
#include "record.h"
#include "spec.h"

typedef struct ex_params {
    int jobs;          /* chunks in flight, one sequence each */
    int threads;       /* engine threads; <= 0: all cores */
    int n_ctx;         /* KV capacity in tokens; 0: sized from the spec */
    int chunk_tokens;  /* 0: the spec's chunking.max_tokens */
    int max_tokens;    /* > 0: caps both modes' max_tokens */
    int constrain;     /* 1: schema-constrained decoding (constraint.h) */
    int prefix_cache;  /* 1: compute the shared prompt prefix once */
    int deterministic; /* 1: qe_context_params.deterministic */
} ex_params;

ex_params ex_default_params(void);

typedef struct ex_stats {
    long docs, ok, failed;   /* documents finished */
    long fallbacks;          /* documents that needed a think attempt */
    long chunks, attempts, preempted;
    long long tokens_in;     /* prompt tokens of all attempts */
    long long hit_tokens;    /* of those, reused from the prefix cache */
    long long prefilled;     /* prompt tokens actually computed */
    long long tokens_out;    /* generated */
    long decode_calls;
    int prefix_tokens;       /* tokens of the shared prefix */
    int constrained;         /* the constraint is in use */
    int n_ctx;               /* KV capacity chosen */
    double seconds;          /* since ex_init */
} ex_stats;

/* Receives every record (ownership passes to the callback). */
typedef void (*ex_emit_fn)(void *ud, const doc *d, json_t *record, int ok);

typedef struct ex_engine ex_engine;

/* 0, or -1 with a message (context too large, schema the constraint cannot
 * compile, ...). model_id identifies the model in records. */
int ex_init(const qe_model *m, const spec *sp, const rec_model *model_id, ex_params p, ex_emit_fn emit, void *ud,
            ex_engine **out, char *err, size_t errlen);
void ex_free(ex_engine *ex);

/* Takes a document (and its ownership). A bad document (d->error) is
 * answered at once with a failure record. 0 or -1 (out of memory). */
int ex_submit(ex_engine *ex, doc *d);
/* 1 while the engine wants more documents queued to keep busy. */
int ex_room(const ex_engine *ex);
/* Documents submitted and not yet emitted. */
int ex_pending(const ex_engine *ex);
/* One batched decode step and whatever completes with it. 1 if work was
 * done, 0 if there is nothing to do, -1 on an engine error (ex_error). */
int ex_step(ex_engine *ex);
const char *ex_error(const ex_engine *ex);
const ex_stats *ex_get_stats(ex_engine *ex);

#endif
