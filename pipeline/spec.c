/*
 * spec.c - loads and checks extraction specs (see spec.h).
 *
 * The YAML file is parsed with libyaml into a node tree (which keeps the
 * line and column of every node), then walked against one key table per
 * mapping. A table row says the key's name, type, whether it is required,
 * its default, its bounds and what it is for; the same rows print the
 * format's reference (spec_print_keys). Keys not in the table are errors:
 * a misspelt "grounding" must not silently turn grounding off.
 *
 * After the walk, spec_check() does the checks that need more than one key:
 * the schema compiles, every pointer names a string of the schema, examples
 * validate and are grounded, budgets fit. Nothing here touches the model.
 */
#include "spec.h"
#include "ground.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define SPEC_MAX_DEPTH 200      /* YAML nesting we convert to JSON */
#define SPEC_MAX_FILE (16u << 20)

/* ------------------------------------------------------------- loading */

typedef struct spec_ld {
    const char *label;      /* file name for messages */
    const char *base_dir;   /* relative schema paths resolve here */
    yaml_document_t *doc;
    spec *sp;
    char *err;
    size_t errlen;
} spec_ld;

static int spec_fail(spec_ld *L, const yaml_node_t *at, const char *fmt, ...)
{
    if (!L->err || !L->errlen) return SPEC_EINVALID;
    size_t n;
    if (at)
        n = (size_t)snprintf(L->err, L->errlen, "%s:%d:%d: ", L->label, (int)at->start_mark.line + 1,
                             (int)at->start_mark.column + 1);
    else
        n = (size_t)snprintf(L->err, L->errlen, "%s: ", L->label);
    if (n < L->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(L->err + n, L->errlen - n, fmt, ap);
        va_end(ap);
    }
    return SPEC_EINVALID;
}

/* Same, at a remembered mark (checks that run after the tree is gone). */
static int spec_fail_at(spec_ld *L, spec_mark m, const char *fmt, ...)
{
    if (!L->err || !L->errlen) return SPEC_EINVALID;
    size_t n = m.line > 0 ? (size_t)snprintf(L->err, L->errlen, "%s:%d:%d: ", L->label, m.line, m.col)
                          : (size_t)snprintf(L->err, L->errlen, "%s: ", L->label);
    if (n < L->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(L->err + n, L->errlen - n, fmt, ap);
        va_end(ap);
    }
    return SPEC_EINVALID;
}

static spec_mark spec_mark_of(const yaml_node_t *n)
{
    spec_mark m = { (int)n->start_mark.line + 1, (int)n->start_mark.column + 1 };
    return m;
}

static const char *spec_node_kind(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_SCALAR_NODE: return "a scalar";
    case YAML_SEQUENCE_NODE: return "a list";
    case YAML_MAPPING_NODE: return "a mapping";
    default: return "nothing";
    }
}

static const char *spec_sv(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

static int spec_plain(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static int spec_is_null(const yaml_node_t *n)
{
    if (!spec_plain(n)) return 0;
    const char *v = spec_sv(n);
    return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL");
}

/* ----------------------------------------------------- YAML -> JSON
 * YAML 1.2 core schema for plain scalars: null, booleans, integers
 * (decimal, 0x, 0o), floats (incl. .inf/.nan); everything else and every
 * quoted or block scalar is a string. */

static int spec_is_int(const char *s, long long *v)
{
    const char *p = s;
    int base = 10;
    if (p[0] == '0' && p[1] == 'x') base = 16, p += 2;
    else if (p[0] == '0' && p[1] == 'o') base = 8, p += 2;
    else if (*p == '-' || *p == '+') p++;
    if (!*p) return 0;
    for (const char *q = p; *q; q++) {
        int ok = base == 16 ? (*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f') || (*q >= 'A' && *q <= 'F')
                 : base == 8 ? *q >= '0' && *q <= '7' : *q >= '0' && *q <= '9';
        if (!ok) return 0;
    }
    errno = 0;
    *v = strtoll(base == 10 ? s : p, NULL, base);
    return errno == 0 ? 1 : 2;   /* 2: an integer beyond 64 bits */
}

static int spec_is_float(const char *s, double *v)
{
    const char *p = s;
    if (*p == '-' || *p == '+') p++;
    if (!strcmp(p, ".inf") || !strcmp(p, ".Inf") || !strcmp(p, ".INF")) {
        *v = s[0] == '-' ? -INFINITY : INFINITY;
        return 1;
    }
    if (!strcmp(s, ".nan") || !strcmp(s, ".NaN") || !strcmp(s, ".NAN")) { *v = NAN; return 1; }
    int digits = 0;
    while (*p >= '0' && *p <= '9') p++, digits++;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') p++, digits++;
    }
    if (!digits) return 0;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '-' || *p == '+') p++;
        if (!(*p >= '0' && *p <= '9')) return 0;
        while (*p >= '0' && *p <= '9') p++;
    }
    if (*p) return 0;
    *v = strtod(s, NULL);
    return 1;
}

static json_t *spec_to_json(spec_ld *L, yaml_node_t *n, int depth, const char *what)
{
    if (depth > SPEC_MAX_DEPTH) { spec_fail(L, n, "%s: nested more than %d levels", what, SPEC_MAX_DEPTH); return NULL; }
    if (n->type == YAML_SCALAR_NODE) {
        const char *v = spec_sv(n);
        size_t len = n->data.scalar.length;
        json_t *j = NULL;
        if (spec_plain(n)) {
            long long iv;
            double dv;
            int r;
            if (spec_is_null(n)) j = json_null();
            else if (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "TRUE")) j = json_true();
            else if (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "FALSE")) j = json_false();
            else if ((r = spec_is_int(v, &iv)) == 1) j = json_integer(iv);
            else if (r == 2 || spec_is_float(v, &dv)) {
                if (r == 2) dv = strtod(v, NULL);
                if (!isfinite(dv)) { spec_fail(L, n, "%s: %s is not a JSON number", what, v); return NULL; }
                j = json_real(dv);
            }
        }
        if (!j) j = json_stringn(v, len);
        if (!j) spec_fail(L, n, "%s: not valid UTF-8 or out of memory", what);
        return j;
    }
    if (n->type == YAML_SEQUENCE_NODE) {
        json_t *a = json_array();
        if (!a) return NULL;
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
            json_t *e = spec_to_json(L, yaml_document_get_node(L->doc, *it), depth + 1, what);
            if (!e || json_array_append_new(a, e)) { json_decref(a); return NULL; }
        }
        return a;
    }
    if (n->type == YAML_MAPPING_NODE) {
        json_t *o = json_object();
        if (!o) return NULL;
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
            yaml_node_t *k = yaml_document_get_node(L->doc, p->key);
            if (k->type != YAML_SCALAR_NODE) {
                spec_fail(L, k, "%s: mapping keys must be scalars, got %s", what, spec_node_kind(k));
                json_decref(o);
                return NULL;
            }
            if (json_object_get(o, spec_sv(k))) {
                spec_fail(L, k, "%s: duplicate key '%s'", what, spec_sv(k));
                json_decref(o);
                return NULL;
            }
            json_t *e = spec_to_json(L, yaml_document_get_node(L->doc, p->value), depth + 1, what);
            if (!e || json_object_set_new(o, spec_sv(k), e)) { json_decref(o); return NULL; }
        }
        return o;
    }
    spec_fail(L, n, "%s: empty node", what);
    return NULL;
}

/* ------------------------------------------------------------- tables */

typedef enum {
    SK_STR,      /* char *: any scalar but null, taken verbatim */
    SK_INT,      /* int: plain integer within [lo, hi] */
    SK_FLOAT,    /* double: plain number within [lo, hi] */
    SK_ENUM,     /* int: index of the value in `choices` ("a|b|c") */
    SK_STRLIST,  /* spec_str * at off, count at off_n; lo..hi items */
    SK_LIST,     /* list of mappings parsed with sub into an array */
    SK_MAP,      /* a mapping parsed with sub into the struct at off */
    SK_JSON,     /* json_t *: any YAML value converted to JSON */
    SK_SCHEMA,   /* json_t *: inline mapping, or a path to a .json file */
} spec_type;

typedef struct spec_table spec_table;

typedef struct spec_key {
    const char *name;
    spec_type type;
    int required;
    const char *def;        /* default, as YAML text; NULL: none */
    double lo, hi;          /* number bounds; string length; list length */
    const char *choices;    /* SK_ENUM */
    size_t off, off_n;
    const spec_table *sub;  /* SK_LIST item / SK_MAP */
    const char *doc;
} spec_key;

struct spec_table {
    const char *name;       /* for messages and the reference */
    size_t size;            /* struct size (list items) */
    const spec_key *keys;
    int n;
};

#define SPEC_NO_BOUNDS 0, 0
#define TBL(name, type, keys) { name, sizeof(type), keys, (int)(sizeof keys / sizeof keys[0]) }

/* per-mode generation settings; the two modes differ only in defaults
 * (Qwen3's recommended sampling for each) and in thinking_budget */
#define SPEC_MODE_KEYS(MAXTOK, TEMP, TOPP)                                                              \
    { "max_tokens", SK_INT, 0, MAXTOK, 16, 32768, NULL, offsetof(spec_mode, max_tokens), 0, NULL,       \
      "tokens generated per attempt (thought included); output beyond it fails the attempt" },          \
    { "temperature", SK_FLOAT, 0, TEMP, 0, 2, NULL, offsetof(spec_mode, temperature), 0, NULL,          \
      "sampling temperature; 0 = greedy" },                                                             \
    { "top_p", SK_FLOAT, 0, TOPP, 0, 1, NULL, offsetof(spec_mode, top_p), 0, NULL, "nucleus sampling; 1 = off" }, \
    { "top_k", SK_INT, 0, "20", 0, 1000, NULL, offsetof(spec_mode, top_k), 0, NULL, "top-k sampling; 0 = off" }, \
    { "min_p", SK_FLOAT, 0, "0", 0, 1, NULL, offsetof(spec_mode, min_p), 0, NULL, "min-p sampling; 0 = off" }, \
    { "presence_penalty", SK_FLOAT, 0, "0", -2, 2, NULL, offsetof(spec_mode, presence_penalty), 0, NULL, \
      "subtracted from the logits of tokens already generated" },                                        \
    { "seed", SK_INT, 0, "0", 0, 2147483647, NULL, offsetof(spec_mode, seed), 0, NULL,                  \
      "base seed, mixed with the document id and the try number (runs are reproducible)" }

static const spec_key spec_nothink_keys[] = {
    SPEC_MODE_KEYS("1024", "0.7", "0.8"),
};
static const spec_key spec_think_keys[] = {
    SPEC_MODE_KEYS("2048", "0.6", "0.95"),
    { "thinking_budget", SK_INT, 0, "1024", 0, 32768, NULL, offsetof(spec_mode, thinking_budget), 0, NULL,
      "thought tokens after which Qwen's closing text and </think> are appended without sampling; "
      "must be below max_tokens" },
};

static const spec_key spec_attempt_keys[] = {
    { "mode", SK_ENUM, 1, NULL, SPEC_NO_BOUNDS, "no_think|think", offsetof(spec_attempt, mode), 0, NULL,
      "no_think or think" },
    { "tries", SK_INT, 0, "1", 1, 5, NULL, offsetof(spec_attempt, tries), 0, NULL,
      "attempts in this mode (each with the next seed) before moving on" },
};

static const spec_key spec_ref_keys[] = {
    { "from", SK_STR, 1, NULL, 2, 512, NULL, offsetof(spec_ref, from), 0, NULL,
      "pointer pattern of strings that must refer to something, e.g. /relations/*/subject" },
    { "to", SK_STR, 1, NULL, 2, 512, NULL, offsetof(spec_ref, to), 0, NULL,
      "pointer pattern of the strings they may name, e.g. /entities/*/name" },
};

static const spec_key spec_merge_keys[] = {
    { "array", SK_STR, 1, NULL, 2, 512, NULL, offsetof(spec_merge, array), 0, NULL,
      "pointer to an array of objects, e.g. /entities" },
    { "key", SK_STRLIST, 1, NULL, 1, 8, NULL, offsetof(spec_merge, key), offsetof(spec_merge, n_key), NULL,
      "item-relative pointers whose normalised values identify an item, e.g. [/name, /type]" },
    { "unite", SK_STRLIST, 0, NULL, 0, 8, NULL, offsetof(spec_merge, unite), offsetof(spec_merge, n_unite), NULL,
      "item-relative pointers of string arrays joined when items merge, e.g. [/aliases]" },
};

static const spec_key spec_input_keys[] = {
    { "title", SK_STR, 0, NULL, 0, 1000, NULL, offsetof(spec_example, title), 0, NULL, "example title" },
    { "text", SK_STR, 1, NULL, 1, 20000, NULL, offsetof(spec_example, text), 0, NULL, "example document text" },
};
static const spec_table spec_input_tbl = TBL("examples[].input", spec_example, spec_input_keys);

static const spec_key spec_example_keys[] = {
    /* input is a mapping whose fields land in the same struct */
    { "input", SK_MAP, 1, NULL, SPEC_NO_BOUNDS, NULL, 0, 0, &spec_input_tbl,
      "the example document: {title, text}" },
    { "output", SK_JSON, 1, NULL, SPEC_NO_BOUNDS, NULL, offsetof(spec_example, output), 0, NULL,
      "the extraction for it; must validate against the schema and be grounded in the input" },
};

static const spec_key spec_chunking_keys[] = {
    { "max_tokens", SK_INT, 0, "2048", 64, 32768, NULL, offsetof(spec_chunking, max_tokens), 0, NULL,
      "document tokens per chunk; longer documents are split on paragraph, then sentence boundaries" },
    { "overlap_tokens", SK_INT, 0, "64", 0, 4096, NULL, offsetof(spec_chunking, overlap_tokens), 0, NULL,
      "tokens of the previous chunk repeated at the start of the next (below max_tokens / 2)" },
};

static const spec_table spec_nothink_tbl = TBL("no_think", spec_mode, spec_nothink_keys);
static const spec_table spec_think_tbl = TBL("think", spec_mode, spec_think_keys);
static const spec_table spec_attempt_tbl = TBL("attempts[]", spec_attempt, spec_attempt_keys);
static const spec_table spec_ref_tbl = TBL("references[]", spec_ref, spec_ref_keys);
static const spec_table spec_merge_tbl = TBL("merge[]", spec_merge, spec_merge_keys);
static const spec_table spec_example_tbl = TBL("examples[]", spec_example, spec_example_keys);
static const spec_table spec_chunking_tbl = TBL("chunking", spec_chunking, spec_chunking_keys);

static const spec_key spec_top_keys[] = {
    { "name", SK_STR, 1, NULL, 1, 64, NULL, offsetof(spec, name), 0, NULL,
      "identifier of the spec ([A-Za-z0-9_.-]), copied into every record" },
    { "version", SK_STR, 1, NULL, 1, 64, NULL, offsetof(spec, version), 0, NULL,
      "version of the spec, copied into every record (any scalar, kept as written)" },
    { "description", SK_STR, 0, NULL, 0, 4000, NULL, offsetof(spec, description), 0, NULL,
      "what the spec extracts (documentation only)" },
    { "instructions", SK_STR, 1, NULL, 1, 100000, NULL, offsetof(spec, instructions), 0, NULL,
      "the task, first part of the system prompt" },
    { "schema", SK_SCHEMA, 1, NULL, SPEC_NO_BOUNDS, NULL, offsetof(spec, schema), 0, NULL,
      "JSON Schema 2020-12 of the output: inline (YAML) or a path to a .json file relative to the spec; "
      "the root must be an object" },
    { "examples", SK_LIST, 0, NULL, 0, 16, NULL, offsetof(spec, examples), offsetof(spec, n_examples),
      &spec_example_tbl, "few-shot examples: [{input: {title, text}, output}]" },
    { "examples_as", SK_ENUM, 0, "system", SPEC_NO_BOUNDS, "system|turns", offsetof(spec, examples_as), 0, NULL,
      "system: examples inside the system prompt; turns: as user/assistant turns before the document" },
    { "grounding", SK_STRLIST, 0, NULL, 0, 64, NULL, offsetof(spec, grounding), offsetof(spec, n_grounding),
      NULL, "pointer patterns of strings that must occur in the document, e.g. /entities/*/name" },
    { "references", SK_LIST, 0, NULL, 0, 64, NULL, offsetof(spec, refs), offsetof(spec, n_refs), &spec_ref_tbl,
      "referential rules: [{from, to}]: every `from` string equals some `to` string" },
    { "merge", SK_LIST, 0, NULL, 0, 64, NULL, offsetof(spec, merges), offsetof(spec, n_merges), &spec_merge_tbl,
      "how chunk results of long documents merge: [{array, key, unite}]" },
    { "no_think", SK_MAP, 0, NULL, SPEC_NO_BOUNDS, NULL, offsetof(spec, modes[SPEC_NO_THINK]), 0, &spec_nothink_tbl,
      "generation settings of no_think attempts" },
    { "think", SK_MAP, 0, NULL, SPEC_NO_BOUNDS, NULL, offsetof(spec, modes[SPEC_THINK]), 0, &spec_think_tbl,
      "generation settings of think attempts" },
    { "attempts", SK_LIST, 0, NULL, 1, 8, NULL, offsetof(spec, attempts), offsetof(spec, n_attempts),
      &spec_attempt_tbl, "the attempt ladder, in order; default [{mode: no_think}, {mode: think}]" },
    { "chunking", SK_MAP, 0, NULL, SPEC_NO_BOUNDS, NULL, offsetof(spec, chunking), 0, &spec_chunking_tbl,
      "splitting of long documents" },
};
static const spec_table spec_top_tbl = TBL("spec", spec, spec_top_keys);

/* ---------------------------------------------------------- table walk */

static int spec_parse_map(spec_ld *L, yaml_node_t *n, const spec_table *t, void *base, const char *path);

static int spec_defaults(const spec_table *t, void *base)
{
    for (int i = 0; i < t->n; i++) {
        const spec_key *k = &t->keys[i];
        char *p = (char *)base + k->off;
        if (k->type == SK_MAP) {
            spec_defaults(k->sub, p);
            continue;
        }
        if (!k->def) continue;
        switch (k->type) {
        case SK_INT: *(int *)p = atoi(k->def); break;
        case SK_FLOAT: *(double *)p = strtod(k->def, NULL); break;
        case SK_ENUM: {
            /* index of def in choices */
            int idx = 0;
            const char *c = k->choices;
            size_t dl = strlen(k->def);
            while (c && *c) {
                const char *bar = strchr(c, '|');
                size_t cl = bar ? (size_t)(bar - c) : strlen(c);
                if (cl == dl && !memcmp(c, k->def, dl)) break;
                idx++;
                c = bar ? bar + 1 : NULL;
            }
            *(int *)p = idx;
            break;
        }
        case SK_STR:
            if (!(*(char **)p = strdup(k->def))) return SPEC_ENOMEM;
            break;
        default: break;
        }
    }
    return SPEC_OK;
}

static char *spec_path_join(const char *path, const char *key)
{
    size_t n = strlen(path) + strlen(key) + 2;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s%s%s", path, *path ? "." : "", key);
    return s;
}

static int spec_scalar(spec_ld *L, yaml_node_t *v, const char *path, const char *want)
{
    if (v->type != YAML_SCALAR_NODE)
        return spec_fail(L, v, "%s: expected %s, got %s", path, want, spec_node_kind(v));
    return SPEC_OK;
}

static int spec_get_str(spec_ld *L, yaml_node_t *v, const spec_key *k, const char *path, char **out)
{
    if (spec_scalar(L, v, path, "a string") || spec_is_null(v))
        return spec_fail(L, v, "%s: expected a string, got %s", path, v->type == YAML_SCALAR_NODE ? "null" : spec_node_kind(v));
    size_t len = v->data.scalar.length;
    if (len < (size_t)k->lo || (k->hi > 0 && len > (size_t)k->hi))
        return spec_fail(L, v, "%s: expected %g..%g bytes, got %zu", path, k->lo, k->hi, len);
    if (memchr(spec_sv(v), 0, len)) return spec_fail(L, v, "%s: contains a NUL character", path);
    if (!(*out = strdup(spec_sv(v)))) return SPEC_ENOMEM;
    return SPEC_OK;
}

static int spec_set(spec_ld *L, yaml_node_t *v, const spec_key *k, void *base, const char *path)
{
    char *p = (char *)base + k->off;
    switch (k->type) {
    case SK_STR:
        free(*(char **)p);
        *(char **)p = NULL;
        return spec_get_str(L, v, k, path, (char **)p);
    case SK_INT: {
        long long iv;
        if (!spec_plain(v) || spec_is_int(spec_sv(v), &iv) != 1 || iv < (long long)k->lo || iv > (long long)k->hi) {
            if (v->type != YAML_SCALAR_NODE)
                return spec_fail(L, v, "%s: expected an integer in %.0f..%.0f, got %s", path, k->lo, k->hi, spec_node_kind(v));
            return spec_fail(L, v, "%s: expected an integer in %.0f..%.0f, got %s'%s'", path, k->lo, k->hi,
                             spec_plain(v) ? "" : "the quoted string ", spec_sv(v));
        }
        *(int *)p = (int)iv;
        return SPEC_OK;
    }
    case SK_FLOAT: {
        double dv;
        long long iv;
        int ok = spec_plain(v) && (spec_is_int(spec_sv(v), &iv) == 1 ? (dv = (double)iv, 1) : spec_is_float(spec_sv(v), &dv));
        if (!ok || !(dv >= k->lo && dv <= k->hi)) {
            if (v->type != YAML_SCALAR_NODE)
                return spec_fail(L, v, "%s: expected a number in %g..%g, got %s", path, k->lo, k->hi, spec_node_kind(v));
            return spec_fail(L, v, "%s: expected a number in %g..%g, got %s'%s'", path, k->lo, k->hi,
                             spec_plain(v) ? "" : "the quoted string ", spec_sv(v));
        }
        *(double *)p = dv;
        return SPEC_OK;
    }
    case SK_ENUM: {
        if (v->type != YAML_SCALAR_NODE)
            return spec_fail(L, v, "%s: expected one of %s, got %s", path, k->choices, spec_node_kind(v));
        int idx = 0;
        const char *c = k->choices, *s = spec_sv(v);
        size_t sl = strlen(s);
        while (c) {
            const char *bar = strchr(c, '|');
            size_t cl = bar ? (size_t)(bar - c) : strlen(c);
            if (cl == sl && !memcmp(c, s, sl)) {
                *(int *)p = idx;
                return SPEC_OK;
            }
            idx++;
            c = bar ? bar + 1 : NULL;
        }
        return spec_fail(L, v, "%s: expected one of %s, got '%s'", path, k->choices, s);
    }
    case SK_STRLIST: {
        if (v->type != YAML_SEQUENCE_NODE)
            return spec_fail(L, v, "%s: expected a list of strings, got %s", path, spec_node_kind(v));
        int n = (int)(v->data.sequence.items.top - v->data.sequence.items.start);
        if (n < (int)k->lo || n > (int)k->hi)
            return spec_fail(L, v, "%s: expected %.0f..%.0f items, got %d", path, k->lo, k->hi, n);
        spec_str *arr = calloc(n ? (size_t)n : 1, sizeof *arr);
        if (!arr) return SPEC_ENOMEM;
        *(spec_str **)p = arr;
        *(int *)((char *)base + k->off_n) = 0;
        spec_key item = { k->name, SK_STR, 0, NULL, 1, 512, NULL, 0, 0, NULL, NULL };
        for (int i = 0; i < n; i++) {
            yaml_node_t *e = yaml_document_get_node(L->doc, v->data.sequence.items.start[i]);
            char ip[256];
            snprintf(ip, sizeof ip, "%s[%d]", path, i);
            arr[i].at = spec_mark_of(e);
            int rc = spec_get_str(L, e, &item, ip, &arr[i].s);
            if (rc) return rc;
            *(int *)((char *)base + k->off_n) = i + 1;
        }
        return SPEC_OK;
    }
    case SK_LIST: {
        if (v->type != YAML_SEQUENCE_NODE)
            return spec_fail(L, v, "%s: expected a list, got %s", path, spec_node_kind(v));
        int n = (int)(v->data.sequence.items.top - v->data.sequence.items.start);
        if (n < (int)k->lo || n > (int)k->hi)
            return spec_fail(L, v, "%s: expected %.0f..%.0f items, got %d", path, k->lo, k->hi, n);
        char *arr = calloc(n ? (size_t)n : 1, k->sub->size);
        if (!arr) return SPEC_ENOMEM;
        *(void **)p = arr;
        *(int *)((char *)base + k->off_n) = 0;
        for (int i = 0; i < n; i++) {
            yaml_node_t *e = yaml_document_get_node(L->doc, v->data.sequence.items.start[i]);
            char ip[256];
            snprintf(ip, sizeof ip, "%s[%d]", path, i);
            char *item = arr + (size_t)i * k->sub->size;
            /* counted before parsing so a failure frees what it filled */
            *(int *)((char *)base + k->off_n) = i + 1;
            int rc = spec_defaults(k->sub, item);
            if (!rc) rc = spec_parse_map(L, e, k->sub, item, ip);
            if (rc) return rc;
        }
        return SPEC_OK;
    }
    case SK_MAP:
        return spec_parse_map(L, v, k->sub, p, path);
    case SK_JSON: {
        json_decref(*(json_t **)p);
        *(json_t **)p = spec_to_json(L, v, 0, path);
        return *(json_t **)p ? SPEC_OK : SPEC_EINVALID;
    }
    case SK_SCHEMA: {
        json_t *j = NULL;
        if (v->type == YAML_MAPPING_NODE) {
            j = spec_to_json(L, v, 0, path);
            if (!j) return SPEC_EINVALID;
        } else if (v->type == YAML_SCALAR_NODE && !spec_is_null(v)) {
            /* a file next to the spec: resolve relative paths against it */
            const char *rel = spec_sv(v);
            size_t n = strlen(rel) + (L->base_dir ? strlen(L->base_dir) : 0) + 2;
            char *full = malloc(n);
            if (!full) return SPEC_ENOMEM;
            if (rel[0] == '/' || !L->base_dir || !*L->base_dir) snprintf(full, n, "%s", rel);
            else snprintf(full, n, "%s/%s", L->base_dir, rel);
            FILE *f = fopen(full, "rb");
            if (!f) {
                int e = errno;
                spec_fail(L, v, "%s: cannot read schema file '%s' (%s): %s", path, rel, full, strerror(e));
                free(full);
                return SPEC_EINVALID;
            }
            json_error_t je;
            j = json_loadf(f, JSON_REJECT_DUPLICATES, &je);
            fclose(f);
            if (!j) {
                spec_fail(L, v, "%s: schema file %s:%d:%d: %s", path, full, je.line, je.column, je.text);
                free(full);
                return SPEC_EINVALID;
            }
            free(L->sp->schema_file);
            L->sp->schema_file = full;
        } else {
            return spec_fail(L, v, "%s: expected a mapping (the schema) or a path to a .json file, got %s", path,
                             v->type == YAML_SCALAR_NODE ? "null" : spec_node_kind(v));
        }
        json_decref(*(json_t **)p);
        *(json_t **)p = j;
        return SPEC_OK;
    }
    }
    return SPEC_EINVALID;
}

static int spec_parse_map(spec_ld *L, yaml_node_t *n, const spec_table *t, void *base, const char *path)
{
    const char *what = *path ? path : t->name;
    if (n->type != YAML_MAPPING_NODE)
        return spec_fail(L, n, "%s: expected a mapping, got %s", what, spec_is_null(n) ? "null" : spec_node_kind(n));
    if (t != &spec_top_tbl && t != &spec_input_tbl) ((spec_mark *)base)[0] = spec_mark_of(n);
    unsigned char seen[64] = { 0 };
    for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
        yaml_node_t *kn = yaml_document_get_node(L->doc, pr->key);
        yaml_node_t *vn = yaml_document_get_node(L->doc, pr->value);
        if (kn->type != YAML_SCALAR_NODE)
            return spec_fail(L, kn, "%s: keys must be scalars, got %s", what, spec_node_kind(kn));
        const char *key = spec_sv(kn);
        int idx = -1;
        for (int i = 0; i < t->n; i++)
            if (!strcmp(t->keys[i].name, key)) { idx = i; break; }
        if (idx < 0) {
            char known[512];
            size_t o = 0;
            known[0] = 0;
            for (int i = 0; i < t->n && o < sizeof known; i++)
                o += (size_t)snprintf(known + o, sizeof known - o, "%s%s", i ? ", " : "", t->keys[i].name);
            return spec_fail(L, kn, "unknown key '%s' in %s (known keys: %s)", key, what, known);
        }
        if (seen[idx]) return spec_fail(L, kn, "%s: duplicate key '%s'", what, key);
        seen[idx] = 1;
        char *kp = spec_path_join(path, key);
        if (!kp) return SPEC_ENOMEM;
        int rc = spec_set(L, vn, &t->keys[idx], base, kp);
        free(kp);
        if (rc) return rc;
    }
    for (int i = 0; i < t->n; i++)
        if (t->keys[i].required && !seen[i]) {
            if (*path) return spec_fail(L, n, "%s: missing required key '%s'", what, t->keys[i].name);
            return spec_fail(L, NULL, "missing required key '%s'", t->keys[i].name);
        }
    return SPEC_OK;
}

/* ------------------------------------------------- pointer patterns */

int spec_ptr_split(const char *pattern, char ***segs, int *n)
{
    *segs = NULL;
    *n = 0;
    if (!pattern || pattern[0] != '/') return -1;
    int cap = 1;
    for (const char *c = pattern; *c; c++) cap += *c == '/';
    char **s = calloc((size_t)cap, sizeof *s);
    if (!s) return -1;
    int k = 0;
    const char *p = pattern + 1;
    for (;;) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char *seg = malloc(len + 1);
        if (!seg) { spec_ptr_free(s, k); return -1; }
        size_t o = 0;
        for (size_t i = 0; i < len; i++) {
            if (p[i] == '~') {
                if (i + 1 < len && p[i + 1] == '0') seg[o++] = '~';
                else if (i + 1 < len && p[i + 1] == '1') seg[o++] = '/';
                else { free(seg); spec_ptr_free(s, k); return -1; }
                i++;
            } else {
                seg[o++] = p[i];
            }
        }
        seg[o] = 0;
        s[k++] = seg;
        if (!e) break;
        p = e + 1;
    }
    *segs = s;
    *n = k;
    return 0;
}

void spec_ptr_free(char **segs, int n)
{
    if (!segs) return;
    for (int i = 0; i < n; i++) free(segs[i]);
    free(segs);
}

/* Follows a local "$ref" ("#", "#/a/b"); anything else stays put. */
static const json_t *spec_deref(const json_t *root, const json_t *s)
{
    for (int hop = 0; hop < 32 && json_is_object(s); hop++) {
        const char *ref = json_string_value(json_object_get(s, "$ref"));
        if (!ref || ref[0] != '#') return s;
        const json_t *t = root;
        if (ref[1]) {
            char **seg;
            int n;
            if (spec_ptr_split(ref + 1, &seg, &n)) return s;
            for (int i = 0; i < n && t; i++)
                t = json_is_array(t) ? json_array_get(t, (size_t)atoi(seg[i])) : json_object_get(t, seg[i]);
            spec_ptr_free(seg, n);
        }
        if (!t) return s;
        s = t;
    }
    return s;
}

#define SPEC_MAX_CANDS 32

/* Adds s and, recursively, the branches of its allOf/anyOf/oneOf: a
 * property may be declared in any of them. */
static void spec_expand(const json_t *root, const json_t *s, const json_t **out, int *n, int depth)
{
    s = spec_deref(root, s);
    if (!json_is_object(s) || *n >= SPEC_MAX_CANDS || depth > 8) return;
    out[(*n)++] = s;
    static const char *comb[] = { "allOf", "anyOf", "oneOf" };
    for (int c = 0; c < 3; c++) {
        const json_t *arr = json_object_get(s, comb[c]);
        size_t i;
        const json_t *b;
        json_array_foreach(arr, i, b) spec_expand(root, b, out, n, depth + 1);
    }
}

/* Subschemas reached by one segment from any of the candidates. */
static int spec_step(const json_t *root, const json_t **in, int nin, const char *seg, const json_t **out)
{
    int n = 0;
    for (int i = 0; i < nin; i++) {
        const json_t *c = in[i], *next = NULL;
        if (!strcmp(seg, "*")) {
            next = json_object_get(c, "items");
            size_t k;
            const json_t *pi;
            json_array_foreach(json_object_get(c, "prefixItems"), k, pi) spec_expand(root, pi, out, &n, 0);
        } else {
            next = json_object_get(json_object_get(c, "properties"), seg);
        }
        if (next) spec_expand(root, next, out, &n, 0);
    }
    return n;
}

/* Bit set of the JSON types a schema admits: 1 string, 2 array, 4 object,
 * 8 other; 0 when it says nothing. */
static int spec_types(const json_t *s)
{
    int t = 0;
    const json_t *ty = json_object_get(s, "type");
    const json_t *list[8];
    int nl = 0;
    if (json_is_string(ty)) list[nl++] = ty;
    size_t i;
    const json_t *e;
    json_array_foreach(ty, i, e) if (nl < 8) list[nl++] = e;
    for (int k = 0; k < nl; k++) {
        const char *v = json_string_value(list[k]);
        t |= !strcmp(v, "string") ? 1 : !strcmp(v, "array") ? 2 : !strcmp(v, "object") ? 4 : 8;
    }
    if (json_is_string(json_object_get(s, "const"))) t |= 1;
    json_array_foreach(json_object_get(s, "enum"), i, e) t |= json_is_string(e) ? 1 : 8;
    return t;
}

/* Walks the schema along a pattern (relative to `from`). Returns the number
 * of candidate subschemas at the end (0: the walk failed; why goes to
 * why/whylen). */
static int spec_walk(const json_t *root, const json_t *from, const char *pattern, const json_t **out,
                     char *why, size_t whylen)
{
    char **seg;
    int ns;
    if (spec_ptr_split(pattern, &seg, &ns)) {
        snprintf(why, whylen, "not a JSON Pointer (must start with '/'; '~' only as ~0 or ~1)");
        return 0;
    }
    const json_t *cur[SPEC_MAX_CANDS];
    int nc = 0;
    spec_expand(root, from, cur, &nc, 0);
    char at[512] = "";
    size_t atn = 0;
    for (int i = 0; i < ns && nc; i++) {
        const json_t *next[SPEC_MAX_CANDS];
        int nn = spec_step(root, cur, nc, seg[i], next);
        if (!nn) {
            if (!strcmp(seg[i], "*"))
                snprintf(why, whylen, "%s is not an array with items in the schema", *at ? at : "(root)");
            else
                snprintf(why, whylen, "no property '%s' at %s in the schema", seg[i], *at ? at : "(root)");
            nc = 0;
            break;
        }
        if (atn < sizeof at) atn += (size_t)snprintf(at + atn, sizeof at - atn, "/%s", seg[i]);
        memcpy(cur, next, (size_t)nn * sizeof *next);
        nc = nn;
    }
    spec_ptr_free(seg, ns);
    memcpy(out, cur, (size_t)nc * sizeof *cur);
    return nc;
}

static int spec_walk_types(const json_t *root, const json_t *from, const char *pattern, char *why, size_t whylen)
{
    const json_t *end[SPEC_MAX_CANDS];
    int n = spec_walk(root, from, pattern, end, why, whylen);
    if (!n) return -1;
    int t = 0;
    for (int i = 0; i < n; i++) t |= spec_types(end[i]);
    return t;
}

const json_t *spec_schema_at(const spec *sp, const char *pattern)
{
    const json_t *end[SPEC_MAX_CANDS];
    char why[256];
    if (!sp || !sp->schema) return NULL;
    if (!strcmp(pattern, "")) return spec_deref(sp->schema, sp->schema);
    int n = spec_walk(sp->schema, sp->schema, pattern, end, why, sizeof why);
    return n ? end[0] : NULL;
}

/* ------------------------------------------------------------- checks */

static int spec_check_string_ptr(spec_ld *L, spec_mark at, const char *what, const char *pattern)
{
    char why[512];
    int t = spec_walk_types(L->sp->schema, L->sp->schema, pattern, why, sizeof why);
    if (t < 0) return spec_fail_at(L, at, "%s: pointer %s names no string in the schema: %s", what, pattern, why);
    if (!(t & 1))
        return spec_fail_at(L, at, "%s: pointer %s names no string in the schema (its type there is not string)",
                            what, pattern);
    return SPEC_OK;
}

static int spec_valid_name(const char *s)
{
    for (const char *c = s; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_' ||
              *c == '-' || *c == '.'))
            return 0;
    return 1;
}

static int spec_check(spec_ld *L, yaml_node_t *root)
{
    spec *sp = L->sp;
    if (!spec_valid_name(sp->name)) return spec_fail(L, NULL, "name: '%s' may only use A-Z a-z 0-9 _ . -", sp->name);

    /* the schema: compiles, and its root describes an object */
    spec_mark sm = { 0, 0 };
    for (yaml_node_pair_t *pr = root->data.mapping.pairs.start; pr < root->data.mapping.pairs.top; pr++)
        if (!strcmp(spec_sv(yaml_document_get_node(L->doc, pr->key)), "schema"))
            sm = spec_mark_of(yaml_document_get_node(L->doc, pr->value));
    char msg[1024];
    if (js_schema_compile(sp->schema, &sp->validator, msg, sizeof msg) != JS_OK)
        return spec_fail_at(L, sm, "schema: does not compile: %s", msg);
    if (!json_is_object(sp->schema) || !(spec_types(spec_deref(sp->schema, sp->schema)) & 4))
        return spec_fail_at(L, sm, "schema: the root must be an object schema (type: object)");

    for (int i = 0; i < sp->n_grounding; i++) {
        char what[64];
        snprintf(what, sizeof what, "grounding[%d]", i);
        int rc = spec_check_string_ptr(L, sp->grounding[i].at, what, sp->grounding[i].s);
        if (rc) return rc;
    }
    for (int i = 0; i < sp->n_refs; i++) {
        char what[64];
        snprintf(what, sizeof what, "references[%d].from", i);
        int rc = spec_check_string_ptr(L, sp->refs[i].at, what, sp->refs[i].from);
        if (rc) return rc;
        snprintf(what, sizeof what, "references[%d].to", i);
        if ((rc = spec_check_string_ptr(L, sp->refs[i].at, what, sp->refs[i].to))) return rc;
    }
    for (int i = 0; i < sp->n_merges; i++) {
        spec_merge *m = &sp->merges[i];
        const json_t *arr[SPEC_MAX_CANDS];
        int n = spec_walk(sp->schema, sp->schema, m->array, arr, msg, sizeof msg);
        if (!n) return spec_fail_at(L, m->at, "merge[%d].array: pointer %s: %s", i, m->array, msg);
        if (strchr(m->array, '*'))
            return spec_fail_at(L, m->at, "merge[%d].array: %s must name one array (no '*')", i, m->array);
        const json_t *items[SPEC_MAX_CANDS];
        int ni = spec_step(sp->schema, arr, n, "*", items);
        if (!ni) return spec_fail_at(L, m->at, "merge[%d].array: %s is not an array with items in the schema", i, m->array);
        for (int k = 0; k < m->n_key; k++) {
            int t = -1;
            for (int c = 0; c < ni && t < 0; c++) t = spec_walk_types(sp->schema, items[c], m->key[k].s, msg, sizeof msg);
            if (t < 0) return spec_fail_at(L, m->key[k].at, "merge[%d].key[%d]: %s: %s", i, k, m->key[k].s, msg);
        }
        for (int k = 0; k < m->n_unite; k++) {
            char p[600];
            snprintf(p, sizeof p, "%s/*", m->unite[k].s);
            int t = -1;
            for (int c = 0; c < ni && t < 0; c++) t = spec_walk_types(sp->schema, items[c], p, msg, sizeof msg);
            if (t < 0 || !(t & 1))
                return spec_fail_at(L, m->unite[k].at, "merge[%d].unite[%d]: %s is not an array of strings in the schema",
                                    i, k, m->unite[k].s);
        }
    }

    spec_mode *th = &sp->modes[SPEC_THINK];
    if (th->thinking_budget >= th->max_tokens)
        return spec_fail_at(L, th->at, "think.thinking_budget: %d must be below think.max_tokens (%d)",
                            th->thinking_budget, th->max_tokens);
    if (sp->chunking.overlap_tokens * 2 >= sp->chunking.max_tokens)
        return spec_fail_at(L, sp->chunking.at, "chunking.overlap_tokens: %d must be below max_tokens / 2 (%d)",
                            sp->chunking.overlap_tokens, sp->chunking.max_tokens / 2);

    if (!sp->n_attempts) {
        /* the default ladder: fast no_think first, think as the fallback */
        if (!(sp->attempts = calloc(2, sizeof *sp->attempts))) return SPEC_ENOMEM;
        sp->attempts[0].mode = SPEC_NO_THINK, sp->attempts[0].tries = 1;
        sp->attempts[1].mode = SPEC_THINK, sp->attempts[1].tries = 1;
        sp->n_attempts = 2;
    }

    /* examples teach the model the output; one that breaks the spec's own
     * rules would teach it to break them */
    for (int i = 0; i < sp->n_examples; i++) {
        spec_example *ex = &sp->examples[i];
        js_errors errs;
        js_errors_init(&errs, 4);
        int v = js_validate(sp->validator, ex->output, &errs);
        if (v != 1) {
            char *t = js_errors_format(&errs);
            char *nl = t ? strchr(t, '\n') : NULL;
            if (nl) *nl = 0;
            spec_fail_at(L, ex->at, "examples[%d].output does not validate against the schema: %s", i, t ? t : "out of memory");
            free(t);
            js_errors_clear(&errs);
            return SPEC_EINVALID;
        }
        js_errors_clear(&errs);
        json_t *gerr = json_array();
        if (!gerr) return SPEC_ENOMEM;
        ground_doc gd;
        if (ground_doc_init(&gd, ex->title, ex->title ? strlen(ex->title) : 0, ex->text, strlen(ex->text))) {
            json_decref(gerr);
            return SPEC_ENOMEM;
        }
        ground_check(sp, ex->output, &gd, gerr, 1);
        ground_check_refs(sp, ex->output, gerr, 1);
        ground_doc_free(&gd);
        if (json_array_size(gerr)) {
            spec_fail_at(L, ex->at, "examples[%d]: %s", i, json_string_value(json_array_get(gerr, 0)));
            json_decref(gerr);
            return SPEC_EINVALID;
        }
        json_decref(gerr);
    }
    return SPEC_OK;
}

/* --------------------------------------------------------------- entry */

int spec_load_text(const char *text, size_t len, const char *label, const char *base_dir, spec **out, char *err,
                   size_t errlen)
{
    *out = NULL;
    if (err && errlen) err[0] = 0;
    spec *sp = calloc(1, sizeof *sp);
    if (!sp) return SPEC_ENOMEM;
    spec_ld L = { label, base_dir, NULL, sp, err, errlen };
    yaml_parser_t parser;
    yaml_document_t doc;
    int rc = SPEC_OK, have_doc = 0;
    if (!(sp->path = strdup(label))) { spec_free(sp); return SPEC_ENOMEM; }
    if (!yaml_parser_initialize(&parser)) { spec_free(sp); return SPEC_ENOMEM; }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        /* libyaml marks are 0-based; editors count from 1 */
        if (err && errlen)
            snprintf(err, errlen, "%s:%d:%d: YAML syntax error: %s%s%s", label, (int)parser.problem_mark.line + 1,
                     (int)parser.problem_mark.column + 1, parser.problem ? parser.problem : "unknown",
                     parser.context ? " " : "", parser.context ? parser.context : "");
        rc = SPEC_ESYNTAX;
        goto done;
    }
    have_doc = 1;
    L.doc = &doc;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) {
        rc = spec_fail(&L, NULL, "the spec is empty");
        goto done;
    }
    {
        /* a second document would be silently ignored otherwise */
        yaml_document_t extra;
        if (yaml_parser_load(&parser, &extra)) {
            yaml_node_t *r2 = yaml_document_get_root_node(&extra);
            if (r2) rc = spec_fail(&L, r2, "only one YAML document is allowed in a spec");
            yaml_document_delete(&extra);
            if (rc) goto done;
        } else {
            rc = SPEC_ESYNTAX;
            if (err && errlen)
                snprintf(err, errlen, "%s:%d:%d: YAML syntax error: %s", label, (int)parser.problem_mark.line + 1,
                         (int)parser.problem_mark.column + 1, parser.problem ? parser.problem : "unknown");
            goto done;
        }
    }
    if ((rc = spec_defaults(&spec_top_tbl, sp))) goto done;
    if ((rc = spec_parse_map(&L, root, &spec_top_tbl, sp, ""))) goto done;
    rc = spec_check(&L, root);
done:
    if (have_doc) yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (rc == SPEC_ENOMEM && err && errlen) snprintf(err, errlen, "%s: out of memory", label);
    if (rc) {
        spec_free(sp);
        return rc;
    }
    *out = sp;
    return SPEC_OK;
}

int spec_load(const char *path, spec **out, char *err, size_t errlen)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (err && errlen) snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return SPEC_EIO;
    }
    size_t cap = 8192, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n == cap) {
            char *p = cap >= SPEC_MAX_FILE ? NULL : realloc(buf, cap * 2);
            if (!p) { free(buf); buf = NULL; break; }
            buf = p;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        free(buf);
        if (err && errlen) snprintf(err, errlen, "%s: cannot read (too large or I/O error)", path);
        return SPEC_EIO;
    }
    /* the schema path in the spec is relative to the spec's folder */
    char *dir = strdup(path);
    if (!dir) { free(buf); return SPEC_ENOMEM; }
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0; else dir[0] = 0;
    if (slash == dir) strcpy(dir, "/");
    int rc = spec_load_text(buf, n, path, dir, out, err, errlen);
    free(dir);
    free(buf);
    return rc;
}

void spec_free(spec *s)
{
    if (!s) return;
    free(s->path);
    free(s->name);
    free(s->version);
    free(s->description);
    free(s->instructions);
    json_decref(s->schema);
    free(s->schema_file);
    js_schema_free(s->validator);
    for (int i = 0; i < s->n_examples; i++) {
        free(s->examples[i].title);
        free(s->examples[i].text);
        json_decref(s->examples[i].output);
    }
    free(s->examples);
    for (int i = 0; i < s->n_grounding; i++) free(s->grounding[i].s);
    free(s->grounding);
    for (int i = 0; i < s->n_refs; i++) {
        free(s->refs[i].from);
        free(s->refs[i].to);
    }
    free(s->refs);
    for (int i = 0; i < s->n_merges; i++) {
        spec_merge *m = &s->merges[i];
        free(m->array);
        for (int k = 0; k < m->n_key; k++) free(m->key[k].s);
        free(m->key);
        for (int k = 0; k < m->n_unite; k++) free(m->unite[k].s);
        free(m->unite);
    }
    free(s->merges);
    free(s->attempts);
    free(s);
}

const char *spec_mode_name(int mode) { return mode == SPEC_THINK ? "think" : "no_think"; }

/* ------------------------------------------------------------ reference */

static const char *spec_type_name(const spec_key *k)
{
    switch (k->type) {
    case SK_STR: return "string";
    case SK_INT: return "integer";
    case SK_FLOAT: return "number";
    case SK_ENUM: return k->choices;
    case SK_STRLIST: return "list of strings";
    case SK_LIST: return "list of mappings";
    case SK_MAP: return "mapping";
    case SK_JSON: return "any";
    case SK_SCHEMA: return "mapping or path";
    }
    return "?";
}

static void spec_print_table(FILE *f, const spec_table *t, const char *prefix)
{
    for (int i = 0; i < t->n; i++) {
        const spec_key *k = &t->keys[i];
        char name[128], bounds[64] = "";
        snprintf(name, sizeof name, "%s%s", prefix, k->name);
        if (k->type == SK_INT) snprintf(bounds, sizeof bounds, " [%.0f..%.0f]", k->lo, k->hi);
        else if (k->type == SK_FLOAT) snprintf(bounds, sizeof bounds, " [%g..%g]", k->lo, k->hi);
        else if ((k->type == SK_LIST || k->type == SK_STRLIST) && k->hi > 0)
            snprintf(bounds, sizeof bounds, " [%g..%g items]", k->lo, k->hi);
        fprintf(f, "  %-28s %s%s%s%s%s\n      %s\n", name, spec_type_name(k), bounds, k->required ? ", required" : "",
                k->def ? ", default " : "", k->def ? k->def : "", k->doc);
        if (k->sub) {
            char sub[160];
            snprintf(sub, sizeof sub, "%s%s", name, k->type == SK_LIST ? "[]." : ".");
            spec_print_table(f, k->sub, sub);
        }
    }
}

void spec_print_keys(FILE *f)
{
    fprintf(f, "Extraction spec keys (YAML; unknown keys are errors):\n");
    spec_print_table(f, &spec_top_tbl, "");
}
