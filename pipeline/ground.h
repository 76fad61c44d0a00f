/*
 * ground.h - grounding: do the strings a model extracted occur in the
 * document, and where?
 *
 * Both sides are normalised before a plain substring match, so that the
 * model is not failed for re-casing a name or for the document's full-width
 * letters: compatibility decomposition (NFKC-equivalent; matches must start
 * and end on whole characters), Unicode case folding (a no-op for scripts
 * without case, so Chinese matches as written), default-ignorable code
 * points dropped (soft hyphen, zero-width space), typographic quotes and
 * dashes folded to ASCII, and every run of white space collapsed to one
 * space. Offsets reported back are CODE POINT offsets into the original
 * (unnormalised) text, half-open [start, end).
 *
 * Also: pointer-pattern iteration over an extraction, the referential
 * checks of a spec and the mention list of a record.
 */
#ifndef QUARRY_GROUND_H
#define QUARRY_GROUND_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "spec.h"

/* A normalised text: cp[i] came from source code point src[i]; first[i]
 * is 1 when cp[i] is the first output of its source code point (a match may
 * only start or end there). */
typedef struct ground_text {
    int32_t *cp;
    int32_t *src;
    uint8_t *first;
    size_t n;
    size_t n_src;   /* code points in the source text */
} ground_text;

/* Normalises UTF-8 text (invalid bytes count as one U+FFFD each).
 * trim != 0 drops leading and trailing spaces (for needles). 0 or -1. */
int ground_normalize(const char *s, size_t len, int trim, ground_text *out);
void ground_text_free(ground_text *t);

/* Normalised form as UTF-8, trimmed (for equality and keys). Caller frees;
 * NULL on allocation failure. */
char *ground_key(const char *s, size_t len);

typedef struct ground_span {
    size_t start, end;   /* code points, half-open */
} ground_span;

/* Finds up to cap non-overlapping occurrences of needle in hay. Returns the
 * number found (at most cap), or -1 on allocation failure. An empty needle
 * (after normalisation) is found nowhere. */
int ground_find(const ground_text *hay, const char *needle, size_t len, ground_span *spans, int cap);

/* The document a result is checked against: its text and optional title. */
typedef struct ground_doc {
    ground_text title, text;
    int has_title;
} ground_doc;

int ground_doc_init(ground_doc *d, const char *title, size_t title_len, const char *text, size_t text_len);
void ground_doc_free(ground_doc *d);

/* Calls fn for every value a pointer pattern matches in x, with the
 * concrete pointer. fn returns 0 to go on. Returns 0, or fn's non-zero
 * value, or -1 for a malformed pattern. */
typedef int (*ground_each_fn)(void *ud, const char *pointer, json_t *value);
int ground_each(json_t *x, const char *pattern, ground_each_fn fn, void *ud);

/* Appends one message string per grounded string of x that occurs in
 * neither the text nor the title, up to max messages in total in errors.
 * Returns the number of failures found (counting past max). */
int ground_check(const spec *sp, json_t *x, const ground_doc *d, json_t *errors, int max);

/* Same for the spec's references: every `from` string must equal (after
 * normalisation) some `to` string. */
int ground_check_refs(const spec *sp, json_t *x, json_t *errors, int max);

/* Mentions of every grounded string: an array of
 * {"pointer", "text", "field": "text"|"title", "spans": [[start, end], ...]}
 * with up to max_spans occurrences each (spans [] if not found). NULL on
 * allocation failure. */
json_t *ground_mentions(const spec *sp, json_t *x, const ground_doc *d, int max_spans);

#endif
