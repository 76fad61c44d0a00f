/*
 * spec.h - extraction specs: one YAML file says what to extract from a
 * document (instructions, the output JSON Schema, few-shot examples), which
 * extracted strings must be grounded in the document, which strings must
 * refer to other extracted strings, how chunk results merge, how to sample
 * in each mode and which attempts to make.
 *
 * spec_load() checks ALL of it before any document is read: YAML syntax
 * (file:line:column), unknown keys (with their line), wrong types and
 * out-of-range values, a schema that does not compile, pointers that name
 * no string in the schema, examples that do not validate. Every error is one
 * line "FILE:LINE:COL: KEY: what is wrong" (FILE alone when no line applies).
 *
 * The keys, their types, defaults and bounds live in one table per mapping
 * in spec.c; spec_print_keys() prints them (`quarry extract --spec-keys`)
 * and schemas/README.md documents the format with a complete example.
 */
#ifndef QUARRY_SPEC_H
#define QUARRY_SPEC_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "jsonschema.h"

#define SPEC_OK 0
#define SPEC_EIO (-1)      /* file cannot be read */
#define SPEC_ESYNTAX (-2)  /* YAML syntax */
#define SPEC_EINVALID (-3) /* unknown key, wrong type, bad value, bad schema */
#define SPEC_ENOMEM (-4)

/* Generation modes. no_think renders Qwen3's template with
 * enable_thinking=0; think with enable_thinking=1 and a thinking budget. */
enum { SPEC_NO_THINK = 0, SPEC_THINK = 1, SPEC_N_MODES = 2 };

/* Where a value was written in the YAML file (1-based), for messages. */
typedef struct spec_mark {
    int line, col;
} spec_mark;

typedef struct spec_str {
    spec_mark at;
    char *s;
} spec_str;

typedef struct spec_mode {
    spec_mark at;
    int max_tokens;        /* generated tokens per attempt, thought included */
    double temperature, top_p, min_p, presence_penalty;
    int top_k;
    int thinking_budget;   /* think only: thought tokens before forcing </think> */
    int seed;              /* base seed; mixed with the document id and try */
} spec_mode;

typedef struct spec_attempt {
    spec_mark at;
    int mode;              /* SPEC_NO_THINK / SPEC_THINK */
    int tries;
} spec_attempt;

/* Every string matched by `from` must equal (after grounding
 * normalisation) some string matched by `to`. */
typedef struct spec_ref {
    spec_mark at;
    char *from, *to;
} spec_ref;

/* How the results of a long document's chunks merge for one array: items
 * with equal keys (normalised) are one item; `unite` arrays of equal items
 * are joined. Arrays without a rule are concatenated without duplicates. */
typedef struct spec_merge {
    spec_mark at;
    char *array;           /* pointer to an array of objects, e.g. /entities */
    spec_str *key;         /* item-relative pointers, e.g. /name, /type */
    int n_key;
    spec_str *unite;       /* item-relative pointers to arrays, e.g. /aliases */
    int n_unite;
} spec_merge;

typedef struct spec_example {
    spec_mark at;
    char *title;           /* optional */
    char *text;
    json_t *output;
} spec_example;

enum { SPEC_EXAMPLES_SYSTEM = 0, SPEC_EXAMPLES_TURNS = 1 };

typedef struct spec_chunking {
    spec_mark at;
    int max_tokens;        /* document tokens per chunk */
    int overlap_tokens;    /* repeated from the previous chunk */
} spec_chunking;

typedef struct spec {
    char *path;            /* as given to spec_load */
    char *name, *version, *description, *instructions;
    json_t *schema;
    char *schema_file;     /* resolved path when the schema came from a file */
    js_schema *validator;
    spec_example *examples;
    int n_examples;
    int examples_as;       /* SPEC_EXAMPLES_* */
    spec_str *grounding;   /* pointer patterns of grounded strings */
    int n_grounding;
    spec_ref *refs;
    int n_refs;
    spec_merge *merges;
    int n_merges;
    spec_mode modes[SPEC_N_MODES];
    spec_attempt *attempts;
    int n_attempts;
    spec_chunking chunking;
} spec;

/* Loads and checks a spec file. On failure *out is NULL and err holds one
 * line; returns SPEC_E*. */
int spec_load(const char *path, spec **out, char *err, size_t errlen);
/* Same from memory: `label` names the text in messages; relative schema
 * paths resolve against base_dir (NULL: the current directory). */
int spec_load_text(const char *text, size_t len, const char *label, const char *base_dir,
                   spec **out, char *err, size_t errlen);
void spec_free(spec *s);

const char *spec_mode_name(int mode);   /* "no_think" / "think" */

/* Prints every key of the format with type, default, bounds and doc. */
void spec_print_keys(FILE *f);

/* ---- pointer patterns: JSON Pointers whose "*" segments match every item
 * of an array: "/entities/" "*" "/name" names every entity's name. "~1"
 * and "~0" escape "/" and "~" as in RFC 6901. */

/* Splits a pattern into unescaped segments (caller frees with
 * spec_ptr_free). -1 if it does not start with "/" or has a bad escape. */
int spec_ptr_split(const char *pattern, char ***segs, int *n);
void spec_ptr_free(char **segs, int n);

/* The subschema a pattern leads to (through properties, items, local
 * $ref, allOf/anyOf/oneOf), or NULL. Borrowed from sp->schema. */
const json_t *spec_schema_at(const spec *sp, const char *pattern);

#endif
