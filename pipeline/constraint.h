/*
 * constraint.h - JSON-Schema-constrained decoding over the Qwen3 vocabulary.
 *
 * A jc_grammar is compiled once per schema and model (immutable, shared by
 * every sequence and thread). A jc_state follows one sequence's output and
 * plugs into the engine's sampler as one more stage: it masks (sets to
 * -INFINITY) every token whose bytes would make the output stop being a
 * prefix of some schema-valid document. In think mode the state waits for
 * "</think>" and constrains only the answer after it.
 *
 * The output is compact JSON (no whitespace between tokens; in think mode
 * up to 4 whitespace bytes may precede the value); properties come in the
 * schema's order, optional ones may be skipped, and no property beyond the
 * listed (and required) ones is ever generated. Some keywords (pattern,
 * format, uniqueItems, oneOf's exclusivity, ...) are not enforced while
 * generating: validate the result with jsonschema.h. The full list is at
 * the top of constraint.c.
 *
 * Typical loop (one sequence):
 *     jc_state *st = jc_state_init(g, thinking);
 *     qe_sampler_add(smp, jc_stage(st));
 *     for (;;) {
 *         int n = jc_forced(st, toks, cap);           jump-forward
 *         if (n == 0) toks[n++] = qe_sampler_sample(smp, logits);
 *         for each tok: qe_sampler_accept(smp, tok); stop on a stop token
 *         decode toks[0..n) as ONE batch, logits of the last entry
 *     }
 *     qe_sampler_free(smp); jc_state_free(st);
 */
#ifndef QUARRY_CONSTRAINT_H
#define QUARRY_CONSTRAINT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include "qengine.h"

typedef struct jc_grammar jc_grammar;
typedef struct jc_state jc_state;

/* Compiles schema for the model's vocabulary. 0, or a negative code with a
 * message naming the schema location for unsupported or contradictory
 * constructs. model may be NULL: a byte-level grammar (jc_accept_bytes,
 * jc_can_end, jc_forced_bytes work; the token functions do not). The
 * model must outlive the grammar. The token index is built once per
 * vocabulary and shared by every grammar over it. */
int jc_grammar_compile(const json_t *schema, const qe_model *model, jc_grammar **out,
                       char *err, size_t errlen);
void jc_grammar_free(jc_grammar *g);

/* after_think: 1 = unconstrained until the token "</think>" has been
 * accepted (think mode), 0 = constrained from the first token. */
jc_state *jc_state_init(const jc_grammar *g, int after_think);
void jc_state_free(jc_state *s);

/* A sampler stage over the state; the sampler owns the stage (and frees it
 * with qe_sampler_free) but NOT the state: free the state after the sampler. */
qe_sampler_stage *jc_stage(jc_state *s);

/* Advances the state by a token appended to the sequence. The stage's
 * accept calls it, so code that uses the stage calls qe_sampler_accept for
 * every appended token (sampled or forced) and never this directly.
 * Returns 0, or -1 if the token is not allowed (state unchanged). Stop
 * tokens are allowed once the document is complete. */
int jc_accept(jc_state *s, qe_token tok);

/* 1 when the document is complete: no byte can follow, only the stop
 * token is allowed. */
int jc_done(const jc_state *s);
/* 1 while waiting for "</think>". */
int jc_thinking(const jc_state *s);

/* Jump-forward: tokens that are the only possible continuation (punctuation,
 * property names, const values), to append without sampling and decode in
 * one batch. Writes at most cap tokens; returns the count (0 = sample). The
 * caller appends them and calls qe_sampler_accept for each. The tokens are
 * the tokenizer's own for the forced text, cut where the grammar stops
 * accepting them; never a stop token (when the document is complete,
 * sample: only the stop tokens are allowed). 0 while thinking. */
int jc_forced(jc_state *s, qe_token *out, int cap);

/* ---- additions (tests, benchmarks, prefilled text) ---- */

/* Back to the initial state (as after jc_state_init). */
int jc_state_reset(jc_state *s);
/* Makes dst (a state of the same grammar) a copy of src: cheap (a few
 * frames), for trying tokens or branching a sequence. */
int jc_state_copy(jc_state *dst, const jc_state *src);

/* Feeds raw bytes (no model needed). 0, or -1 if they do not keep the
 * output a prefix of a valid document (state unchanged). While thinking,
 * bytes are free text and do not end the thought (only the </think> token
 * does, through jc_accept). */
int jc_accept_bytes(jc_state *s, const char *bytes, size_t n);

/* 1 when the output so far is a complete document (the stop token is
 * allowed), though more bytes may also be (e.g. after the digit of a root
 * number). */
int jc_can_end(jc_state *s);

/* The forced byte run (what jc_forced tokenizes): up to cap bytes. */
int jc_forced_bytes(jc_state *s, char *out, int cap);

/* The allowed tokens as a bitset of n_vocab bits (bit i of word i/64);
 * bits may be NULL. Returns how many are allowed, or a negative code
 * without a model. This is what the sampler stage applies. */
int jc_mask(jc_state *s, uint64_t *bits);

/* Where the grammar is, for debugging: each head as its frames
 * ("object #/properties/a p4 a1, string #/... p1 a3 sub0"). */
int jc_state_describe(const jc_state *s, char *buf, size_t cap);

/* Frees the cached token indexes no grammar uses any more. */
void jc_vocab_cache_clear(void);
#endif
