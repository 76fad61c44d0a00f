/*
 * chunk.h - long documents: split into chunks that fit a token budget, and
 * merge the chunks' extractions back into one.
 *
 * Splitting prefers paragraph boundaries (blank lines), then sentence ends
 * (. ! ? followed by space, and Chinese/Japanese 。！？ with any closing
 * quotes or brackets), and only as a last resort cuts inside a sentence (at
 * a space if there is one, else between characters). Consecutive chunks
 * overlap by up to overlap_tokens of whole sentences, so that a fact
 * spanning a cut is seen whole at least once.
 */
#ifndef QUARRY_CHUNK_H
#define QUARRY_CHUNK_H

#include <jansson.h>
#include <stddef.h>

#include "spec.h"

typedef struct chunk_span {
    size_t off, len;         /* bytes of the document text */
    size_t cp_off, cp_len;   /* the same in code points */
} chunk_span;

/* Token count of a piece of text (the model's tokenizer in practice; tests
 * pass a stand-in). Negative on failure. */
typedef int (*chunk_count_fn)(void *ud, const char *s, size_t n);

/* Splits text into chunks of at most max_tokens tokens (as counted piece by
 * piece, which over-estimates slightly and never under-estimates for
 * Qwen's pre-tokenizer). A text within the budget is one chunk. *out is
 * malloc'd. Returns 0, or -1 on allocation or counting failure. */
int chunk_split(const char *text, size_t len, int max_tokens, int overlap_tokens, chunk_count_fn count, void *ud,
                chunk_span **out, int *n_out);

/* Merges the extractions of a document's chunks (in document order):
 * arrays with a spec merge rule unite items with equal normalised keys
 * (and join their `unite` arrays); other arrays are concatenated without
 * duplicates; for other values the first chunk that has one wins (an empty
 * string gives way). Arrays are then cut to the schema's maxItems, and
 * array items whose references (spec `references`) no longer resolve are
 * dropped. Returns a new value, or NULL on allocation failure. */
json_t *chunk_merge(const spec *sp, json_t *const *parts, int n);

#endif
