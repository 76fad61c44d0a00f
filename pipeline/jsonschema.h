/*
 * jsonschema.h - JSON Schema draft 2020-12 validation.
 *
 * The pipeline checks every extraction record a model produces against the
 * spec's output schema, so a schema is compiled once (all $refs resolved,
 * all regexes compiled) and then used for many fast validations, possibly
 * from several threads at once.
 *
 *     js_schema *s;
 *     char err[512];
 *     if (js_schema_compile(schema_json, &s, err, sizeof err) != JS_OK)
 *         ... err says what is wrong and where ...
 *     js_errors errs;
 *     js_errors_init(&errs, 0);
 *     int ok = js_validate(s, record, &errs);   1 valid, 0 invalid
 *     char *text = js_errors_format(&errs);      one error per line
 *     ...
 *     free(text);
 *     js_errors_clear(&errs);
 *     js_schema_free(s);
 *
 * Supported: every draft 2020-12 validation and applicator keyword,
 * including unevaluatedProperties/unevaluatedItems and $dynamicRef. $ref
 * resolves within the document only ($id, $anchor, $dynamicAnchor, JSON
 * Pointer fragments); anything else, including the metaschema URL, is a
 * compile error (JS_EREMOTE). "format" is an annotation and never fails.
 * "pattern" follows ECMA-262 through PCRE2 (see jsonschema_pattern.c).
 *
 * Numbers compare by value (1 == 1.0, exact across integers and doubles);
 * multipleOf works on the decimal values, so 0.0075 is a multiple of
 * 0.0001. Parse instances with JSON_DECODE_ANY | JSON_ALLOW_NUL; an integer
 * beyond 64 bits makes jansson fail unless JSON_DECODE_INT_AS_REAL is set
 * (then every integer becomes a double, which validates the same).
 */
#ifndef QUARRY_JSONSCHEMA_H
#define QUARRY_JSONSCHEMA_H

#include <stddef.h>
#include <jansson.h>

/* Return codes. */
#define JS_OK       0
#define JS_ESCHEMA  (-1)  /* the schema is not a valid 2020-12 schema */
#define JS_EREF     (-2)  /* a $ref cannot be resolved in the document */
#define JS_EREMOTE  (-3)  /* a $ref needs another document (no network) */
#define JS_ECYCLE   (-4)  /* $refs loop without ever consuming the instance */
#define JS_ENOMEM   (-5)

#define JS_ERRORS_DEFAULT_MAX 100

typedef struct js_schema js_schema;

/* One validation error. All strings are owned by the js_errors list. */
typedef struct js_error {
    char *instance;     /* JSON Pointer into the instance, "" = the root */
    char *schema;       /* JSON Pointer of the failing keyword in the schema
                           document, e.g. "/properties/summary/maxLength" */
    const char *keyword;/* "maxLength" (static string) */
    char *message;      /* e.g. "string is longer than 500 characters" */
} js_error;

typedef struct js_errors {
    js_error *items;
    int count;
    int max;            /* cap; further errors only set truncated */
    int truncated;
    int alloc;
} js_errors;

/* Prepare an empty list keeping at most max errors (<= 0: the default). */
void js_errors_init(js_errors *e, int max);
/* Free the errors; the list stays usable with the same cap. */
void js_errors_clear(js_errors *e);
/* All errors as "pointer: message" lines ("(root)" for the root), newline
 * terminated. Caller frees. NULL on OOM; "" when there are no errors. */
char *js_errors_format(const js_errors *e);

/*
 * Compile a schema (object or boolean). The schema is deep-copied; the
 * caller keeps ownership of its json_t. On success *out owns everything and
 * is freed with js_schema_free(). On failure *out is NULL, the return code
 * is one of JS_E*, and err (if non-NULL) holds a message naming the schema
 * location, e.g.
 *   #/properties/name/minLength: must be a non-negative integer, got "x"
 */
int js_schema_compile(const json_t *schema, js_schema **out, char *err,
                      size_t errlen);
/* Same, and on JS_EREMOTE also copies the URI of the missing document
 * (without fragment) into remote. */
int js_schema_compile_ex(const json_t *schema, js_schema **out, char *err,
                         size_t errlen, char *remote, size_t remotelen);
void js_schema_free(js_schema *s);

/*
 * Validate instance (s and instance non-NULL). Returns 1 valid, 0 invalid,
 * JS_ENOMEM. Evaluation deeper than a fixed bound (several hundred nested
 * schema applications) fails with an error instead of risking the stack.
 * errs may be NULL for the fastest yes/no answer; otherwise it is reset
 * first, then filled with up to errs->max errors. The compiled schema is
 * never written to, so any number of threads may validate with it at once
 * (each with its own js_errors).
 */
int js_validate(const js_schema *s, const json_t *instance, js_errors *errs);

#endif
