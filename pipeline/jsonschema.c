/*
 * jsonschema.c - compiling JSON Schema draft 2020-12 documents.
 *
 * Compilation turns a schema document into a graph of js_node (see
 * jsonschema_int.h) in three passes:
 *
 *   1. Walk every subschema reachable through schema-valued keywords,
 *      checking keyword value types, compiling regexes, tracking the base
 *      URI ($id) and registering each schema under its JSON Pointer
 *      location, each resource under its URI and each $anchor.
 *   2. Resolve every $ref / $dynamicRef to a node. A pointer that lands
 *      outside the walked keywords (e.g. inside an unknown keyword) is
 *      compiled on demand. A URI naming no resource in the document is a
 *      remote reference, which we refuse: there is no network.
 *   3. Reject $ref cycles that evaluate the same instance location again
 *      and again (e.g. {"$ref": "#"}); validating with those would recurse
 *      forever. Cycles through properties/items are fine: each step goes
 *      one level deeper into the instance, so the instance ends them.
 *
 * All nodes and strings live in one arena freed with the schema; the maps
 * used for resolution are compile-time only.
 */
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonschema_int.h"

/* Schemas nested deeper than this are refused (protects the C stack). */
#define JS_MAX_SCHEMA_DEPTH 200
/* Bound on same-location $ref chains during the cycle check. */
#define JS_MAX_CHAIN 10000
/* PCRE2 backtracking budget per match: a hostile or sloppy pattern then
 * fails one validation instead of hanging the pipeline. */
#define JS_MATCH_LIMIT 1000000

/* ---------------------------------------------------------------- arena */

typedef struct js_arena_block {
    struct js_arena_block *next;
    size_t used, cap;
    max_align_t data[];
} js_arena_block;

struct js_arena {
    js_arena_block *head;
};

/* Zeroed, max-aligned memory that lives as long as the schema. */
static void *js_arena_alloc(struct js_arena *a, size_t n)
{
    size_t align = sizeof(max_align_t);
    n = (n + align - 1) / align * align;
    if (n == 0)
        n = align;
    if (!a->head || a->head->cap - a->head->used < n) {
        size_t cap = n > 16384 ? n : 16384;
        js_arena_block *b = calloc(1, sizeof *b + cap);
        if (!b)
            return NULL;
        b->cap = cap;
        b->next = a->head;
        a->head = b;
    }
    void *p = (char *)a->head->data + a->head->used;
    a->head->used += n;
    return p;
}

static void js_arena_free(struct js_arena *a)
{
    if (!a)
        return;
    js_arena_block *b = a->head;
    while (b) {
        js_arena_block *next = b->next;
        free(b);
        b = next;
    }
    free(a);
}

/* ------------------------------------------------------------ string map */

typedef struct js_map_ent {
    char *key;
    size_t len;
    void *val;
} js_map_ent;

typedef struct js_map {
    js_map_ent *ents;
    size_t cap, count;
} js_map;

static uint64_t js_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static void *js_map_get(const js_map *m, const char *key, size_t len)
{
    if (!m->cap)
        return NULL;
    size_t i = (size_t)js_hash(key, len) & (m->cap - 1);
    while (m->ents[i].key) {
        if (m->ents[i].len == len && !memcmp(m->ents[i].key, key, len))
            return m->ents[i].val;
        i = (i + 1) & (m->cap - 1);
    }
    return NULL;
}

/* 0 added, 1 key already present (left unchanged), -1 out of memory. */
static int js_map_put(js_map *m, const char *key, size_t len, void *val)
{
    if ((m->count + 1) * 2 > m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 64;
        js_map_ent *ne = calloc(ncap, sizeof *ne);
        if (!ne)
            return -1;
        for (size_t k = 0; k < m->cap; k++) {
            if (!m->ents[k].key)
                continue;
            size_t i = (size_t)js_hash(m->ents[k].key, m->ents[k].len) &
                       (ncap - 1);
            while (ne[i].key)
                i = (i + 1) & (ncap - 1);
            ne[i] = m->ents[k];
        }
        free(m->ents);
        m->ents = ne;
        m->cap = ncap;
    }
    size_t i = (size_t)js_hash(key, len) & (m->cap - 1);
    while (m->ents[i].key) {
        if (m->ents[i].len == len && !memcmp(m->ents[i].key, key, len))
            return 1;
        i = (i + 1) & (m->cap - 1);
    }
    char *k = malloc(len + 1);
    if (!k)
        return -1;
    memcpy(k, key, len);
    k[len] = '\0';
    m->ents[i].key = k;
    m->ents[i].len = len;
    m->ents[i].val = val;
    m->count++;
    return 0;
}

static void js_map_free(js_map *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->ents[i].key);
    free(m->ents);
    m->ents = NULL;
    m->cap = m->count = 0;
}

/* ------------------------------------------------------------------ URIs */

/* RFC 3986 components; a NULL pointer means "undefined", which differs
 * from empty for authority, query and fragment. */
typedef struct js_uri {
    const char *scheme, *auth, *path, *query, *frag;
    size_t nscheme, nauth, npath, nquery, nfrag;
} js_uri;

static void js_uri_parse(const char *s, js_uri *u)
{
    const char *p = s;
    memset(u, 0, sizeof *u);
    if (isalpha((unsigned char)*p)) {
        const char *q = p + 1;
        while (isalnum((unsigned char)*q) || *q == '+' || *q == '-' ||
               *q == '.')
            q++;
        if (*q == ':') {
            u->scheme = p;
            u->nscheme = (size_t)(q - p);
            p = q + 1;
        }
    }
    if (p[0] == '/' && p[1] == '/') {
        p += 2;
        u->auth = p;
        while (*p && *p != '/' && *p != '?' && *p != '#')
            p++;
        u->nauth = (size_t)(p - u->auth);
    }
    u->path = p;
    while (*p && *p != '?' && *p != '#')
        p++;
    u->npath = (size_t)(p - u->path);
    if (*p == '?') {
        u->query = ++p;
        while (*p && *p != '#')
            p++;
        u->nquery = (size_t)(p - u->query);
    }
    if (*p == '#') {
        u->frag = ++p;
        u->nfrag = strlen(p);
    }
}

/* RFC 3986 section 5.2.4: path without "." and ".." segments, in place
 * (the output never outgrows the input). */
static void js_remove_dots(char *path)
{
    size_t len = strlen(path);
    char *out = malloc(len + 1), *o = out;
    const char *in = path;

    if (!out)
        return;     /* keep the dots: a lookup miss, not a crash */
    while (*in) {
        if (!strncmp(in, "../", 3)) {
            in += 3;
        } else if (!strncmp(in, "./", 2)) {
            in += 2;
        } else if (!strncmp(in, "/./", 3)) {
            in += 2;
        } else if (!strcmp(in, "/.")) {
            in += 1;
            *o++ = '/';
            break;
        } else if (!strncmp(in, "/../", 4) || !strcmp(in, "/..")) {
            int last = in[3] == '\0';
            in += 3;
            while (o > out && *--o != '/')
                ;
            if (last) {
                *o++ = '/';
                break;
            }
        } else if (!strcmp(in, ".") || !strcmp(in, "..")) {
            break;
        } else {
            do
                *o++ = *in++;
            while (*in && *in != '/');
        }
    }
    *o = '\0';
    memcpy(path, out, (size_t)(o - out) + 1);
    free(out);
}

/* Resolve ref against base (RFC 3986 section 5.2.2). malloc'd or NULL. */
static char *js_uri_resolve(const char *base, const char *ref)
{
    js_uri b, r;
    js_uri_parse(base, &b);
    js_uri_parse(ref, &r);
    size_t cap = strlen(base) + strlen(ref) + 8;
    char *path = malloc(cap), *out = malloc(cap);
    const char *scheme, *auth, *query;
    size_t nscheme, nauth, nquery;

    if (!path || !out) {
        free(path);
        free(out);
        return NULL;
    }
    path[0] = '\0';
    if (r.scheme) {
        scheme = r.scheme, nscheme = r.nscheme;
        auth = r.auth, nauth = r.nauth;
        memcpy(path, r.path, r.npath);
        path[r.npath] = '\0';
        js_remove_dots(path);
        query = r.query, nquery = r.nquery;
    } else {
        scheme = b.scheme, nscheme = b.nscheme;
        if (r.auth) {
            auth = r.auth, nauth = r.nauth;
            memcpy(path, r.path, r.npath);
            path[r.npath] = '\0';
            js_remove_dots(path);
            query = r.query, nquery = r.nquery;
        } else {
            auth = b.auth, nauth = b.nauth;
            if (r.npath == 0) {
                memcpy(path, b.path, b.npath);
                path[b.npath] = '\0';
                if (r.query)
                    query = r.query, nquery = r.nquery;
                else
                    query = b.query, nquery = b.nquery;
            } else {
                if (r.path[0] == '/') {
                    memcpy(path, r.path, r.npath);
                    path[r.npath] = '\0';
                } else {
                    /* merge: base path up to its last "/" + ref path */
                    size_t n = 0;
                    if (b.auth && b.npath == 0) {
                        path[n++] = '/';
                    } else {
                        const char *slash = NULL;
                        for (size_t k = 0; k < b.npath; k++)
                            if (b.path[k] == '/')
                                slash = b.path + k;
                        if (slash) {
                            n = (size_t)(slash - b.path) + 1;
                            memcpy(path, b.path, n);
                        }
                    }
                    memcpy(path + n, r.path, r.npath);
                    path[n + r.npath] = '\0';
                }
                js_remove_dots(path);
                query = r.query, nquery = r.nquery;
            }
        }
    }
    char *o = out;
    if (scheme) {
        memcpy(o, scheme, nscheme);
        o += nscheme;
        *o++ = ':';
    }
    if (auth) {
        *o++ = '/';
        *o++ = '/';
        memcpy(o, auth, nauth);
        o += nauth;
    }
    size_t np = strlen(path);
    memcpy(o, path, np);
    o += np;
    if (query) {
        *o++ = '?';
        memcpy(o, query, nquery);
        o += nquery;
    }
    if (r.frag) {
        *o++ = '#';
        memcpy(o, r.frag, r.nfrag);
        o += r.nfrag;
    }
    *o = '\0';
    free(path);
    return out;
}

static int js_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode s in place; returns the new length. Malformed escapes are
 * kept literally. */
static size_t js_pct_decode(char *s)
{
    char *in = s, *out = s;
    while (*in) {
        int h, l;
        if (in[0] == '%' && (h = js_hexval(in[1])) >= 0 &&
            (l = js_hexval(in[2])) >= 0) {
            *out++ = (char)(h * 16 + l);
            in += 3;
        } else {
            *out++ = *in++;
        }
    }
    *out = '\0';
    return (size_t)(out - s);
}

/* -------------------------------------------------------------- compile */

typedef struct js_res {
    const json_t *json;     /* the resource's root schema JSON */
    const char *loc;        /* its location in the document */
    js_node *node;
} js_res;

typedef struct js_cc {
    js_schema *s;
    js_map locs;            /* document JSON Pointer -> js_node */
    js_map resources;       /* absolute URI without fragment -> js_res */
    js_map anchors;         /* "uri#name" -> js_node */
    js_node **nodes;        /* all nodes, for the passes after the walk */
    size_t nnodes, anodes;
    js_dynanchor **dyns;    /* every $dynamicAnchor, for the cycle check */
    size_t ndyns, adyns;
    size_t aregex;
    char *err;
    size_t errlen;
    char *remote;
    size_t remotelen;
    int rc;
    int depth;
} js_cc;

static int js_fail(js_cc *cc, int code, const char *fmt, ...)
{
    if (cc->rc == JS_OK) {
        cc->rc = code;
        if (cc->err && cc->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(cc->err, cc->errlen, fmt, ap);
            va_end(ap);
        }
    }
    return code;
}

static int js_oom(js_cc *cc)
{
    return js_fail(cc, JS_ENOMEM, "out of memory");
}

static void *js_alloc(js_cc *cc, size_t n)
{
    void *p = js_arena_alloc(cc->s->arena, n);
    if (!p)
        js_oom(cc);
    return p;
}

static char *js_strndup(js_cc *cc, const char *s, size_t n)
{
    char *p = js_alloc(cc, n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* Grow an array of pointers by one slot (malloc'd, compile-time or owned
 * by the schema for regexes). */
static int js_push(js_cc *cc, void ***arr, size_t *n, size_t *cap, void *v)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 32;
        void **na = realloc(*arr, nc * sizeof *na);
        if (!na)
            return js_oom(cc);
        *arr = na;
        *cap = nc;
    }
    (*arr)[(*n)++] = v;
    return JS_OK;
}

/* parent + "/" + token, escaping "~" and "/" as JSON Pointer requires. */
static const char *js_loc_child(js_cc *cc, const char *parent,
                                const char *tok, size_t toklen)
{
    size_t pl = strlen(parent), extra = 0;
    for (size_t i = 0; i < toklen; i++)
        if (tok[i] == '~' || tok[i] == '/')
            extra++;
    char *p = js_alloc(cc, pl + 1 + toklen + extra + 1);
    if (!p)
        return NULL;
    memcpy(p, parent, pl);
    char *o = p + pl;
    *o++ = '/';
    for (size_t i = 0; i < toklen; i++) {
        if (tok[i] == '~') {
            *o++ = '~';
            *o++ = '0';
        } else if (tok[i] == '/') {
            *o++ = '~';
            *o++ = '1';
        } else {
            *o++ = tok[i];
        }
    }
    *o = '\0';
    return p;
}

static const char *js_loc_kw(js_cc *cc, const char *parent, const char *kw)
{
    return js_loc_child(cc, parent, kw, strlen(kw));
}

static const char *js_loc_index(js_cc *cc, const char *parent, size_t i)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%zu", i);
    return js_loc_child(cc, parent, buf, (size_t)n);
}

/* Short JSON rendering of a keyword value for compile error messages. */
static const char *js_show(const json_t *v, char *buf, size_t len)
{
    char *d = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!d) {
        snprintf(buf, len, "?");
        return buf;
    }
    if (strlen(d) >= len && len > 4)
        snprintf(buf, len, "%.*s...", (int)(len - 4), d);
    else
        snprintf(buf, len, "%s", d);
    free(d);
    return buf;
}

static int js_bad_value(js_cc *cc, const char *loc, const char *kw,
                        const char *want, const json_t *v)
{
    char shown[64];
    return js_fail(cc, JS_ESCHEMA, "#%s/%s: must be %s, got %s", loc, kw,
                   want, js_show(v, shown, sizeof shown));
}

/* A non-negative integer keyword (1 and 1.0 alike). */
static int js_get_count(js_cc *cc, const json_t *j, const char *loc,
                        const char *kw, size_t *out, unsigned *has,
                        unsigned bit)
{
    const json_t *v = json_object_get(j, kw);
    if (!v)
        return JS_OK;
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = (size_t)json_integer_value(v);
    } else if (json_is_real(v) && json_real_value(v) >= 0 &&
               json_real_value(v) == floor(json_real_value(v))) {
        double d = json_real_value(v);
        *out = d >= (double)SIZE_MAX ? SIZE_MAX : (size_t)d;
    } else {
        return js_bad_value(cc, loc, kw, "a non-negative integer", v);
    }
    *has |= bit;
    return JS_OK;
}

static int js_get_num(js_cc *cc, const json_t *j, const char *loc,
                      const char *kw, js_num *out, unsigned *has,
                      unsigned bit)
{
    const json_t *v = json_object_get(j, kw);
    if (!v)
        return JS_OK;
    if (!json_is_number(v))
        return js_bad_value(cc, loc, kw, "a number", v);
    js_num_of(v, out);
    *has |= bit;
    return JS_OK;
}

static js_node *js_compile_node(js_cc *cc, const json_t *j, const char *base,
                                const char *loc, js_node *resource);

/* A keyword whose value is one schema. */
static int js_get_sub(js_cc *cc, const json_t *j, js_node *n, const char *kw,
                      js_node **out)
{
    const json_t *v = json_object_get(j, kw);
    if (!v)
        return JS_OK;
    const char *loc = js_loc_kw(cc, n->loc, kw);
    if (!loc)
        return cc->rc;
    *out = js_compile_node(cc, v, n->base, loc, n->resource);
    return *out ? JS_OK : cc->rc;
}

/* A keyword whose value is a non-empty array of schemas. */
static int js_get_subarray(js_cc *cc, const json_t *j, js_node *n,
                           const char *kw, js_node ***out, size_t *count)
{
    const json_t *v = json_object_get(j, kw);
    if (!v)
        return JS_OK;
    if (!json_is_array(v) || json_array_size(v) == 0)
        return js_bad_value(cc, n->loc, kw, "a non-empty array of schemas",
                            v);
    size_t cnt = json_array_size(v);
    const char *kloc = js_loc_kw(cc, n->loc, kw);
    js_node **arr = js_alloc(cc, cnt * sizeof *arr);
    if (!kloc || !arr)
        return cc->rc;
    for (size_t i = 0; i < cnt; i++) {
        const char *loc = js_loc_index(cc, kloc, i);
        if (!loc)
            return cc->rc;
        arr[i] = js_compile_node(cc, json_array_get(v, i), n->base, loc,
                                 n->resource);
        if (!arr[i])
            return cc->rc;
    }
    *out = arr;
    *count = cnt;
    return JS_OK;
}

static int js_prop_cmp(const void *a, const void *b)
{
    const js_prop *x = a, *y = b;
    size_t n = x->name.len < y->name.len ? x->name.len : y->name.len;
    int c = memcmp(x->name.s, y->name.s, n);
    if (c)
        return c;
    return x->name.len < y->name.len ? -1 : x->name.len > y->name.len;
}

/* A keyword whose value maps names to schemas (properties,
 * dependentSchemas, $defs). out may be NULL when only compiling matters. */
static int js_get_submap(js_cc *cc, const json_t *j, js_node *n,
                         const char *kw, js_prop **out, size_t *count,
                         int sorted)
{
    const json_t *v = json_object_get(j, kw);
    if (!v)
        return JS_OK;
    if (!json_is_object(v))
        return js_bad_value(cc, n->loc, kw, "an object of schemas", v);
    size_t cnt = json_object_size(v), i = 0;
    const char *kloc = js_loc_kw(cc, n->loc, kw);
    js_prop *arr = js_alloc(cc, cnt * sizeof *arr);
    if (!kloc || !arr)
        return cc->rc;
    for (void *it = json_object_iter((json_t *)v); it;
         it = json_object_iter_next((json_t *)v, it), i++) {
        const char *key = json_object_iter_key(it);
        size_t klen = json_object_iter_key_len(it);
        const char *loc = js_loc_child(cc, kloc, key, klen);
        if (!loc)
            return cc->rc;
        arr[i].name.s = key;    /* keys live in the schema copy */
        arr[i].name.len = klen;
        arr[i].schema = js_compile_node(cc, json_object_iter_value(it),
                                        n->base, loc, n->resource);
        if (!arr[i].schema)
            return cc->rc;
    }
    if (sorted)
        qsort(arr, cnt, sizeof *arr, js_prop_cmp);
    if (out) {
        *out = arr;
        *count = cnt;
    }
    return JS_OK;
}

static int js_add_regex(js_cc *cc, pcre2_code *re)
{
    js_schema *s = cc->s;
    s->has_patterns = 1;
    return js_push(cc, (void ***)&s->regexes, &s->nregexes, &cc->aregex, re);
}

static int js_compile_regex(js_cc *cc, const char *loc, const char *kw,
                            const char *src, size_t len, pcre2_code **out)
{
    char msg[200];
    pcre2_code *re = js_pattern_compile(src, len, msg, sizeof msg);
    if (!re)
        return js_fail(cc, JS_ESCHEMA,
                       "#%s/%s: invalid regular expression \"%s\": %s", loc,
                       kw, src, msg);
    if (js_add_regex(cc, re) != JS_OK) {
        pcre2_code_free(re);
        return cc->rc;
    }
    *out = re;
    return JS_OK;
}

static int js_type_bit(const char *name, unsigned *bit)
{
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {
        {"null", JS_T_NULL},     {"boolean", JS_T_BOOLEAN},
        {"object", JS_T_OBJECT}, {"array", JS_T_ARRAY},
        {"number", JS_T_NUMBER}, {"string", JS_T_STRING},
        {"integer", JS_T_INTEGER},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!strcmp(names[i].name, name)) {
            *bit = names[i].bit;
            return 1;
        }
    }
    return 0;
}

static int js_compile_type(js_cc *cc, const json_t *v, js_node *n)
{
    unsigned bit;
    if (json_is_string(v)) {
        if (!js_type_bit(json_string_value(v), &bit))
            return js_bad_value(cc, n->loc, "type", "a JSON type name", v);
        n->types = bit;
    } else if (json_is_array(v) && json_array_size(v) > 0) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            const json_t *t = json_array_get(v, i);
            if (!json_is_string(t) || !js_type_bit(json_string_value(t), &bit))
                return js_bad_value(cc, n->loc, "type",
                                    "a type name or array of type names", v);
            n->types |= bit;
        }
    } else {
        return js_bad_value(cc, n->loc, "type",
                            "a type name or array of type names", v);
    }
    n->has |= JS_K_TYPE;
    return JS_OK;
}

/* An array of strings (required, dependentRequired values). */
static int js_get_strings(js_cc *cc, const json_t *v, const char *loc,
                          const char *kw, js_str **out, size_t *count)
{
    if (!json_is_array(v))
        return js_bad_value(cc, loc, kw, "an array of strings", v);
    size_t cnt = json_array_size(v);
    js_str *arr = js_alloc(cc, cnt * sizeof *arr);
    if (!arr)
        return cc->rc;
    for (size_t i = 0; i < cnt; i++) {
        const json_t *s = json_array_get(v, i);
        if (!json_is_string(s))
            return js_bad_value(cc, loc, kw, "an array of strings", v);
        arr[i].s = json_string_value(s);
        arr[i].len = json_string_length(s);
    }
    *out = arr;
    *count = cnt;
    return JS_OK;
}

/* $anchor / $dynamicAnchor syntax: a plain name fragment. */
static int js_anchor_ok(const char *a)
{
    if (!isalpha((unsigned char)a[0]) && a[0] != '_')
        return 0;
    for (const char *p = a + 1; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' &&
            *p != '.')
            return 0;
    return 1;
}

static int js_register_anchor(js_cc *cc, js_node *n, const char *name,
                              const char *kw)
{
    size_t bl = strlen(n->base), nl = strlen(name), kl = bl + 1 + nl;
    char *key = malloc(kl + 1);
    if (!key)
        return js_oom(cc);
    memcpy(key, n->base, bl);
    key[bl] = '#';
    memcpy(key + bl + 1, name, nl + 1);
    int r = js_map_put(&cc->anchors, key, kl, n);
    js_node *prev = r > 0 ? js_map_get(&cc->anchors, key, kl) : NULL;
    free(key);
    if (r < 0)
        return js_oom(cc);
    /* The same name as $anchor and $dynamicAnchor of one schema is fine. */
    if (prev && prev != n)
        return js_fail(cc, JS_ESCHEMA,
                       "#%s/%s: anchor \"%s\" is already defined at #%s",
                       n->loc, kw, name, prev->loc);
    return JS_OK;
}

/* The identifying keywords: $id (new base URI and resource), $anchor,
 * $dynamicAnchor. They must be handled before $ref in the same schema,
 * which resolves against the new base. */
static int js_compile_ids(js_cc *cc, const json_t *j, js_node *n,
                          js_node **resource)
{
    const json_t *v;
    if ((v = json_object_get(j, "$id"))) {
        if (!json_is_string(v))
            return js_bad_value(cc, n->loc, "$id", "a URI string", v);
        char *uri = js_uri_resolve(n->base, json_string_value(v));
        if (!uri)
            return js_oom(cc);
        char *hash = strchr(uri, '#');
        if (hash && hash[1]) {
            free(uri);
            return js_fail(cc, JS_ESCHEMA,
                           "#%s/$id: \"%s\" must not contain a fragment",
                           n->loc, json_string_value(v));
        }
        if (hash)
            *hash = '\0';
        n->base = js_strndup(cc, uri, strlen(uri));
        free(uri);
        js_res *res = js_alloc(cc, sizeof *res);
        if (!n->base || !res)
            return cc->rc;
        res->json = j;
        res->loc = n->loc;
        res->node = n;
        int r = js_map_put(&cc->resources, n->base, strlen(n->base), res);
        if (r < 0)
            return js_oom(cc);
        if (r > 0) {
            js_res *prev = js_map_get(&cc->resources, n->base,
                                      strlen(n->base));
            return js_fail(cc, JS_ESCHEMA,
                           "#%s/$id: \"%s\" is already the $id of #%s",
                           n->loc, n->base, prev->loc);
        }
        *resource = n;
    }
    n->resource = *resource;
    if ((v = json_object_get(j, "$anchor"))) {
        if (!json_is_string(v) || !js_anchor_ok(json_string_value(v)))
            return js_bad_value(cc, n->loc, "$anchor", "a plain name", v);
        if (js_register_anchor(cc, n, json_string_value(v), "$anchor"))
            return cc->rc;
    }
    if ((v = json_object_get(j, "$dynamicAnchor"))) {
        if (!json_is_string(v) || !js_anchor_ok(json_string_value(v)))
            return js_bad_value(cc, n->loc, "$dynamicAnchor", "a plain name",
                                v);
        n->dynanchor = json_string_value(v);
        /* A dynamic anchor is also an ordinary anchor for $ref. */
        if (js_register_anchor(cc, n, n->dynanchor, "$dynamicAnchor"))
            return cc->rc;
        js_dynanchor *d = js_alloc(cc, sizeof *d);
        if (!d)
            return cc->rc;
        d->name = n->dynanchor;
        d->node = n;
        d->next = n->resource->dynanchors;
        n->resource->dynanchors = d;
        if (js_push(cc, (void ***)&cc->dyns, &cc->ndyns, &cc->adyns, d))
            return cc->rc;
    }
    return JS_OK;
}

static int js_compile_keywords(js_cc *cc, const json_t *j, js_node *n)
{
    const json_t *v;
    const char *loc = n->loc;

    if ((v = json_object_get(j, "type")) && js_compile_type(cc, v, n))
        return cc->rc;
    if ((v = json_object_get(j, "enum"))) {
        if (!json_is_array(v))
            return js_bad_value(cc, loc, "enum", "an array", v);
        n->enum_vals = v;
        n->has |= JS_K_ENUM;
    }
    if ((v = json_object_get(j, "const"))) {
        n->const_val = v;
        n->has |= JS_K_CONST;
    }

    /* numbers */
    if (js_get_num(cc, j, loc, "multipleOf", &n->multiple_of, &n->has,
                   JS_K_MULTIPLEOF) ||
        js_get_num(cc, j, loc, "minimum", &n->minimum, &n->has,
                   JS_K_MINIMUM) ||
        js_get_num(cc, j, loc, "maximum", &n->maximum, &n->has,
                   JS_K_MAXIMUM) ||
        js_get_num(cc, j, loc, "exclusiveMinimum", &n->ex_minimum, &n->has,
                   JS_K_EXMINIMUM) ||
        js_get_num(cc, j, loc, "exclusiveMaximum", &n->ex_maximum, &n->has,
                   JS_K_EXMAXIMUM))
        return cc->rc;
    if (n->has & JS_K_MULTIPLEOF) {
        js_num *m = &n->multiple_of;
        if (m->is_int ? m->i <= 0 : !(m->d > 0))
            return js_bad_value(cc, loc, "multipleOf", "a number above 0",
                                json_object_get(j, "multipleOf"));
    }

    /* counts */
    if (js_get_count(cc, j, loc, "minLength", &n->min_length, &n->has,
                     JS_K_MINLENGTH) ||
        js_get_count(cc, j, loc, "maxLength", &n->max_length, &n->has,
                     JS_K_MAXLENGTH) ||
        js_get_count(cc, j, loc, "minItems", &n->min_items, &n->has,
                     JS_K_MINITEMS) ||
        js_get_count(cc, j, loc, "maxItems", &n->max_items, &n->has,
                     JS_K_MAXITEMS) ||
        js_get_count(cc, j, loc, "minProperties", &n->min_props, &n->has,
                     JS_K_MINPROPS) ||
        js_get_count(cc, j, loc, "maxProperties", &n->max_props, &n->has,
                     JS_K_MAXPROPS) ||
        js_get_count(cc, j, loc, "minContains", &n->min_contains, &n->has,
                     JS_K_MINCONTAINS) ||
        js_get_count(cc, j, loc, "maxContains", &n->max_contains, &n->has,
                     JS_K_MAXCONTAINS))
        return cc->rc;
    if ((v = json_object_get(j, "uniqueItems"))) {
        if (!json_is_boolean(v))
            return js_bad_value(cc, loc, "uniqueItems", "a boolean", v);
        if (json_is_true(v))
            n->has |= JS_K_UNIQUE;
    }

    /* strings */
    if ((v = json_object_get(j, "pattern"))) {
        if (!json_is_string(v))
            return js_bad_value(cc, loc, "pattern", "a regular expression "
                                "string", v);
        n->pattern_src = json_string_value(v);
        if (js_compile_regex(cc, loc, "pattern", n->pattern_src,
                             json_string_length(v), &n->pattern))
            return cc->rc;
    }
    if ((v = json_object_get(j, "format")) && !json_is_string(v))
        return js_bad_value(cc, loc, "format", "a string", v);

    /* objects */
    if ((v = json_object_get(j, "required")) &&
        js_get_strings(cc, v, loc, "required", &n->required, &n->nrequired))
        return cc->rc;
    if ((v = json_object_get(j, "dependentRequired"))) {
        if (!json_is_object(v))
            return js_bad_value(cc, loc, "dependentRequired",
                                "an object of string arrays", v);
        n->ndepreq = json_object_size(v);
        n->depreq = js_alloc(cc, n->ndepreq * sizeof *n->depreq);
        if (!n->depreq)
            return cc->rc;
        size_t i = 0;
        for (void *it = json_object_iter((json_t *)v); it;
             it = json_object_iter_next((json_t *)v, it), i++) {
            js_depreq *d = &n->depreq[i];
            d->name.s = json_object_iter_key(it);
            d->name.len = json_object_iter_key_len(it);
            if (js_get_strings(cc, json_object_iter_value(it), loc,
                               "dependentRequired", &d->req, &d->nreq))
                return cc->rc;
        }
    }
    if (js_get_submap(cc, j, n, "properties", &n->props, &n->nprops, 1) ||
        js_get_submap(cc, j, n, "dependentSchemas", &n->depschemas,
                      &n->ndepschemas, 0) ||
        js_get_submap(cc, j, n, "$defs", NULL, NULL, 0))
        return cc->rc;
    if ((v = json_object_get(j, "patternProperties"))) {
        js_prop *pp = NULL;
        size_t np = 0;
        if (js_get_submap(cc, j, n, "patternProperties", &pp, &np, 0))
            return cc->rc;
        n->patprops = js_alloc(cc, np * sizeof *n->patprops);
        if (!n->patprops)
            return cc->rc;
        for (size_t i = 0; i < np; i++) {
            n->patprops[i].src = pp[i].name.s;
            n->patprops[i].schema = pp[i].schema;
            if (js_compile_regex(cc, loc, "patternProperties", pp[i].name.s,
                                 pp[i].name.len, &n->patprops[i].re))
                return cc->rc;
        }
        n->npatprops = np;
    }
    if (js_get_sub(cc, j, n, "additionalProperties", &n->addprops) ||
        js_get_sub(cc, j, n, "unevaluatedProperties", &n->unevalprops) ||
        js_get_sub(cc, j, n, "propertyNames", &n->propnames))
        return cc->rc;

    /* arrays */
    if (js_get_subarray(cc, j, n, "prefixItems", &n->prefix, &n->nprefix) ||
        js_get_sub(cc, j, n, "items", &n->items) ||
        js_get_sub(cc, j, n, "contains", &n->contains) ||
        js_get_sub(cc, j, n, "unevaluatedItems", &n->unevalitems))
        return cc->rc;

    /* in-place applicators */
    if (js_get_subarray(cc, j, n, "allOf", &n->allof, &n->nallof) ||
        js_get_subarray(cc, j, n, "anyOf", &n->anyof, &n->nanyof) ||
        js_get_subarray(cc, j, n, "oneOf", &n->oneof, &n->noneof) ||
        js_get_sub(cc, j, n, "not", &n->not_) ||
        js_get_sub(cc, j, n, "if", &n->if_) ||
        js_get_sub(cc, j, n, "then", &n->then_) ||
        js_get_sub(cc, j, n, "else", &n->else_))
        return cc->rc;

    /* references are resolved after the walk, when every target exists */
    if ((v = json_object_get(j, "$ref"))) {
        if (!json_is_string(v))
            return js_bad_value(cc, loc, "$ref", "a URI reference string", v);
        n->ref_str = json_string_value(v);
    }
    if ((v = json_object_get(j, "$dynamicRef"))) {
        if (!json_is_string(v))
            return js_bad_value(cc, loc, "$dynamicRef",
                                "a URI reference string", v);
        n->dynref_str = json_string_value(v);
    }
    return JS_OK;
}

static js_node *js_compile_node(js_cc *cc, const json_t *j, const char *base,
                                const char *loc, js_node *resource)
{
    js_node *n = NULL;

    if (cc->depth >= JS_MAX_SCHEMA_DEPTH) {
        js_fail(cc, JS_ESCHEMA, "#%s: schema nested too deeply", loc);
        return NULL;
    }
    if (!json_is_object(j) && !json_is_boolean(j)) {
        char shown[64];
        js_fail(cc, JS_ESCHEMA, "#%s: a schema must be an object or a "
                "boolean, got %s", loc, js_show(j, shown, sizeof shown));
        return NULL;
    }
    n = js_alloc(cc, sizeof *n);
    if (!n)
        return NULL;
    if (!resource)
        resource = n;   /* the document root is always a resource */
    n->loc = loc;
    n->base = base;
    n->resource = resource;
    n->boolean = json_is_boolean(j) ? json_is_true(j) : -1;
    if (js_push(cc, (void ***)&cc->nodes, &cc->nnodes, &cc->anodes, n))
        return NULL;
    if (n->boolean < 0 && js_compile_ids(cc, j, n, &resource))
        return NULL;
    int r = js_map_put(&cc->locs, loc, strlen(loc), n);
    if (r < 0) {
        js_oom(cc);
        return NULL;
    }
    if (n->boolean >= 0)
        return n;
    cc->depth++;
    r = js_compile_keywords(cc, j, n);
    cc->depth--;
    return r == JS_OK ? n : NULL;
}

/* Walk a decoded JSON Pointer from a resource. On success *target is the
 * JSON there and canon the pointer's canonical document location. */
static int js_walk_pointer(js_cc *cc, const js_res *res, const char *ptr,
                           size_t plen, const json_t **target,
                           const char **canon)
{
    const json_t *cur = res->json;
    const char *loc = res->loc;
    size_t i = 0;
    char *tok = malloc(plen + 1);

    if (!tok)
        return js_oom(cc);
    while (i < plen) {
        /* ptr[i] == '/' here: the fragment started with "/" */
        size_t t = 0;
        i++;
        while (i < plen && ptr[i] != '/') {
            if (ptr[i] == '~' && i + 1 < plen &&
                (ptr[i + 1] == '0' || ptr[i + 1] == '1')) {
                tok[t++] = ptr[i + 1] == '0' ? '~' : '/';
                i += 2;
            } else if (ptr[i] == '~') {
                goto notfound;
            } else {
                tok[t++] = ptr[i++];
            }
        }
        if (json_is_object(cur)) {
            cur = json_object_getn(cur, tok, t);
        } else if (json_is_array(cur)) {
            size_t idx = 0;
            if (t == 0 || (t > 1 && tok[0] == '0'))
                goto notfound;
            for (size_t k = 0; k < t; k++) {
                if (!isdigit((unsigned char)tok[k]) || idx > SIZE_MAX / 10)
                    goto notfound;
                idx = idx * 10 + (size_t)(tok[k] - '0');
            }
            cur = json_array_get(cur, idx);
        } else {
            goto notfound;
        }
        if (!cur)
            goto notfound;
        loc = js_loc_child(cc, loc, tok, t);
        if (!loc) {
            free(tok);
            return cc->rc;
        }
    }
    free(tok);
    *target = cur;
    *canon = loc;
    return JS_OK;
notfound:
    free(tok);
    *target = NULL;
    return JS_OK;
}

/* Resolve one $ref/$dynamicRef of node n. */
static int js_resolve(js_cc *cc, js_node *n, const char *kw, const char *ref,
                      js_node **out)
{
    char *full = js_uri_resolve(n->base, ref);
    js_res *res;
    js_node *target = NULL;

    if (!full)
        return js_oom(cc);
    char *hash = strchr(full, '#');
    char *frag = hash ? hash + 1 : full + strlen(full);
    if (hash)
        *hash = '\0';
    res = js_map_get(&cc->resources, full, strlen(full));
    if (!res) {
        if (cc->remote && cc->remotelen)
            snprintf(cc->remote, cc->remotelen, "%s", full);
        js_fail(cc, JS_EREMOTE,
                "#%s/%s: \"%s\" refers to document \"%s\", which is not part "
                "of this schema (remote references are not supported)",
                n->loc, kw, ref, full);
        goto done;
    }
    size_t flen = js_pct_decode(frag);
    if (flen != strlen(frag)) {
        js_fail(cc, JS_EREF, "#%s/%s: \"%s\" cannot be resolved", n->loc, kw,
                ref);
        goto done;
    }
    if (flen == 0 || frag[0] == '/') {
        const json_t *tj = NULL;
        const char *canon = NULL;
        if (js_walk_pointer(cc, res, frag, flen, &tj, &canon))
            goto done;
        if (!tj) {
            js_fail(cc, JS_EREF, "#%s/%s: \"%s\" points to nothing (no "
                    "\"%s\" in %s)", n->loc, kw, ref, frag,
                    full[0] ? full : "the document");
            goto done;
        }
        target = js_map_get(&cc->locs, canon, strlen(canon));
        if (!target) {
            /* Not a place the walk visited (inside an unknown keyword, say):
             * compile it now, with its resource's base URI. */
            target = js_compile_node(cc, tj, res->node->base, canon,
                                     res->node);
            if (!target)
                goto done;
        }
    } else {
        size_t bl = strlen(full);
        char *key = malloc(bl + flen + 2);
        if (!key) {
            js_oom(cc);
            goto done;
        }
        memcpy(key, full, bl);
        key[bl] = '#';
        memcpy(key + bl + 1, frag, flen + 1);
        target = js_map_get(&cc->anchors, key, bl + flen + 1);
        free(key);
        if (!target) {
            js_fail(cc, JS_EREF, "#%s/%s: \"%s\": no $anchor \"%s\" in %s",
                    n->loc, kw, ref, frag, full[0] ? full : "the document");
            goto done;
        }
    }
    *out = target;
    /* $dynamicRef is dynamic only when it lands on a $dynamicAnchor of the
     * same name; otherwise it behaves like $ref. */
    if (!strcmp(kw, "$dynamicRef") && target->dynanchor && flen &&
        frag[0] != '/' && !strcmp(target->dynanchor, frag))
        n->dynref_name = target->dynanchor;

done:
    free(full);
    return cc->rc;
}

/* Same-instance-location edges: the keywords that apply a subschema to
 * the very value being validated. A cycle among these never terminates. */
static int js_cycle_visit(js_cc *cc, js_node *n, int depth);

static int js_cycle_edge(js_cc *cc, js_node *from, js_node *to, int depth)
{
    if (to->mark == 1)
        return js_fail(cc, JS_ECYCLE,
                       "#%s: $ref loop through #%s never reaches a "
                       "terminating schema (infinite recursion)",
                       from->loc, to->loc);
    if (to->mark == 0)
        return js_cycle_visit(cc, to, depth + 1);
    return JS_OK;
}

static int js_cycle_visit(js_cc *cc, js_node *n, int depth)
{
    if (depth > JS_MAX_CHAIN)
        return js_fail(cc, JS_ESCHEMA, "#%s: $ref chain too long", n->loc);
    n->mark = 1;
    if (n->ref && js_cycle_edge(cc, n, n->ref, depth))
        return cc->rc;
    if (n->dynref) {
        if (js_cycle_edge(cc, n, n->dynref, depth))
            return cc->rc;
        for (size_t i = 0; n->dynref_name && i < cc->ndyns; i++)
            if (!strcmp(cc->dyns[i]->name, n->dynref_name) &&
                js_cycle_edge(cc, n, cc->dyns[i]->node, depth))
                return cc->rc;
    }
    for (size_t i = 0; i < n->nallof; i++)
        if (js_cycle_edge(cc, n, n->allof[i], depth))
            return cc->rc;
    for (size_t i = 0; i < n->nanyof; i++)
        if (js_cycle_edge(cc, n, n->anyof[i], depth))
            return cc->rc;
    for (size_t i = 0; i < n->noneof; i++)
        if (js_cycle_edge(cc, n, n->oneof[i], depth))
            return cc->rc;
    for (size_t i = 0; i < n->ndepschemas; i++)
        if (js_cycle_edge(cc, n, n->depschemas[i].schema, depth))
            return cc->rc;
    js_node *single[] = {n->not_, n->if_, n->then_, n->else_};
    for (size_t i = 0; i < 4; i++)
        if (single[i] && js_cycle_edge(cc, n, single[i], depth))
            return cc->rc;
    n->mark = 2;
    return JS_OK;
}

void js_schema_free(js_schema *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nregexes; i++)
        pcre2_code_free(s->regexes[i]);
    free(s->regexes);
    pcre2_match_context_free(s->mctx);
    js_arena_free(s->arena);
    json_decref(s->doc);
    free(s);
}

int js_schema_compile_ex(const json_t *schema, js_schema **out, char *err,
                         size_t errlen, char *remote, size_t remotelen)
{
    js_cc cc;
    js_schema *s = NULL;

    memset(&cc, 0, sizeof cc);
    cc.err = err;
    cc.errlen = errlen;
    cc.remote = remote;
    cc.remotelen = remotelen;
    if (err && errlen)
        err[0] = '\0';
    if (remote && remotelen)
        remote[0] = '\0';
    *out = NULL;
    if (!schema) {
        js_fail(&cc, JS_ESCHEMA, "no schema given");
        goto cleanup;
    }

    s = calloc(1, sizeof *s);
    if (!s || !(s->arena = calloc(1, sizeof *s->arena))) {
        js_oom(&cc);
        goto cleanup;
    }
    cc.s = s;
    s->doc = json_deep_copy(schema);
    s->mctx = pcre2_match_context_create(NULL);
    if (!s->doc || !s->mctx) {
        js_oom(&cc);
        goto cleanup;
    }
    pcre2_set_match_limit(s->mctx, JS_MATCH_LIMIT);

    /* The root is a resource even without $id; its URI is then "" and
     * "#..." references resolve against it. */
    js_res *rootres = js_alloc(&cc, sizeof *rootres);
    if (!rootres)
        goto cleanup;
    rootres->json = s->doc;
    rootres->loc = "";
    if (js_map_put(&cc.resources, "", 0, rootres) < 0) {
        js_oom(&cc);
        goto cleanup;
    }
    s->root = js_compile_node(&cc, s->doc, "", "", NULL);
    if (!s->root)
        goto cleanup;
    rootres->node = s->root;

    /* Pass 2: references. nnodes may grow as pointers land on spots the
     * walk did not compile. */
    for (size_t i = 0; i < cc.nnodes; i++) {
        js_node *n = cc.nodes[i];
        if (n->ref_str && js_resolve(&cc, n, "$ref", n->ref_str, &n->ref))
            goto cleanup;
        if (n->dynref_str &&
            js_resolve(&cc, n, "$dynamicRef", n->dynref_str, &n->dynref))
            goto cleanup;
    }

    /* Pass 3: infinite same-location recursion. */
    for (size_t i = 0; i < cc.nnodes; i++)
        if (cc.nodes[i]->mark == 0 && js_cycle_visit(&cc, cc.nodes[i], 0))
            goto cleanup;

    *out = s;
    s = NULL;

cleanup:
    js_schema_free(s);
    js_map_free(&cc.locs);
    js_map_free(&cc.resources);
    js_map_free(&cc.anchors);
    free(cc.nodes);
    free(cc.dyns);
    return cc.rc;
}

int js_schema_compile(const json_t *schema, js_schema **out, char *err,
                      size_t errlen)
{
    return js_schema_compile_ex(schema, out, err, errlen, NULL, 0);
}
