/*
 * jsonschema_int.h - internals shared by the JSON Schema compiler
 * (jsonschema.c), the validator (jsonschema_validate.c) and the regex
 * translator (jsonschema_pattern.c). Not part of the public API.
 *
 * A compiled schema is a graph of js_node, one per schema location in the
 * document (objects and booleans alike). Keyword values are decoded once at
 * compile time into the fields below, regexes are compiled once, and $ref
 * targets are resolved to node pointers, so validation never looks at the
 * schema JSON again except for enum/const values, which it compares as is.
 */
#ifndef QUARRY_JSONSCHEMA_INT_H
#define QUARRY_JSONSCHEMA_INT_H

#include <stddef.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "jsonschema.h"

/* Type bits for the "type" keyword. INTEGER is separate from NUMBER
 * because "integer" accepts 1.0 but rejects 1.5. */
#define JS_T_NULL    0x01u
#define JS_T_BOOLEAN 0x02u
#define JS_T_OBJECT  0x04u
#define JS_T_ARRAY   0x08u
#define JS_T_NUMBER  0x10u
#define JS_T_STRING  0x20u
#define JS_T_INTEGER 0x40u

/* Presence bits for keywords whose value alone cannot say "absent". */
#define JS_K_TYPE          0x00001u
#define JS_K_ENUM          0x00002u
#define JS_K_CONST         0x00004u
#define JS_K_MULTIPLEOF    0x00008u
#define JS_K_MINIMUM       0x00010u
#define JS_K_MAXIMUM       0x00020u
#define JS_K_EXMINIMUM     0x00040u
#define JS_K_EXMAXIMUM     0x00080u
#define JS_K_MINLENGTH     0x00100u
#define JS_K_MAXLENGTH     0x00200u
#define JS_K_MINITEMS      0x00400u
#define JS_K_MAXITEMS      0x00800u
#define JS_K_MINPROPS      0x01000u
#define JS_K_MAXPROPS      0x02000u
#define JS_K_MINCONTAINS   0x04000u
#define JS_K_MAXCONTAINS   0x08000u
#define JS_K_UNIQUE        0x10000u

/* A JSON number kept exactly as parsed: jansson integers stay integers so
 * comparisons near 2^63 are exact, reals stay doubles. */
typedef struct js_num {
    int is_int;
    long long i;
    double d;
} js_num;

typedef struct js_node js_node;

/* A name with its length (JSON strings and keys may contain NUL). */
typedef struct js_str {
    const char *s;
    size_t len;
} js_str;

/* properties / dependentSchemas entry; props are sorted for bsearch. */
typedef struct js_prop {
    js_str name;
    js_node *schema;
} js_prop;

typedef struct js_patprop {
    const char *src;        /* the pattern as written, for messages */
    pcre2_code *re;
    js_node *schema;
} js_patprop;

typedef struct js_depreq {
    js_str name;
    js_str *req;
    size_t nreq;
} js_depreq;

/* $dynamicAnchor declared inside a schema resource. */
typedef struct js_dynanchor {
    const char *name;
    js_node *node;
    struct js_dynanchor *next;
} js_dynanchor;

struct js_node {
    const char *loc;        /* JSON Pointer of this schema from the root */
    const char *base;       /* base URI in effect here (compile time) */
    int boolean;            /* -1: object schema, 0: false, 1: true */
    unsigned has;           /* JS_K_* */
    unsigned types;         /* JS_T_* when JS_K_TYPE */

    const json_t *enum_vals;        /* array, points into the schema copy */
    const json_t *const_val;

    js_num multiple_of, minimum, maximum, ex_minimum, ex_maximum;
    size_t min_length, max_length;
    size_t min_items, max_items;
    size_t min_props, max_props;
    size_t min_contains, max_contains;

    const char *pattern_src;
    pcre2_code *pattern;

    js_str *required;
    size_t nrequired;
    js_depreq *depreq;
    size_t ndepreq;
    js_prop *depschemas;
    size_t ndepschemas;

    js_prop *props;
    size_t nprops;
    js_patprop *patprops;
    size_t npatprops;
    js_node *addprops;
    js_node *unevalprops;
    js_node *propnames;

    js_node **prefix;
    size_t nprefix;
    js_node *items;
    js_node *contains;
    js_node *unevalitems;

    js_node **allof, **anyof, **oneof;
    size_t nallof, nanyof, noneof;
    js_node *not_, *if_, *then_, *else_;

    const char *ref_str;    /* $ref as written */
    js_node *ref;
    const char *dynref_str; /* $dynamicRef as written */
    js_node *dynref;        /* its static target */
    const char *dynref_name;/* non-NULL when the target has a matching
                               $dynamicAnchor, i.e. dynamic lookup applies */

    js_node *resource;      /* enclosing schema resource (node with $id or
                               the root); its dynamic anchors drive
                               $dynamicRef */
    const char *dynanchor;  /* this node's own $dynamicAnchor */
    js_dynanchor *dynanchors; /* on resource nodes: all in the resource */

    int mark;               /* compile-time DFS colour for cycle checks */
};

struct js_schema {
    json_t *doc;            /* private deep copy; enum/const point into it */
    js_node *root;
    struct js_arena *arena;
    pcre2_code **regexes;   /* every compiled regex, for freeing */
    size_t nregexes;
    pcre2_match_context *mctx;  /* match limits, shared read-only */
    int has_patterns;
};

/* Regexes (jsonschema_pattern.c). */
pcre2_code *js_pattern_compile(const char *src, size_t len, char *err,
                               size_t errlen);
/* 1 match, 0 no match, -1 match aborted (limit hit). */
int js_pattern_match(const pcre2_code *re, const char *s, size_t len,
                     pcre2_match_data *md, pcre2_match_context *mctx);

/* Shared helpers (jsonschema_validate.c). */
int js_json_equal(const json_t *a, const json_t *b);
void js_num_of(const json_t *x, js_num *out);

#endif
