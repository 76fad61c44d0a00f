/*
 * jsonschema_validate.c - validating JSON instances against a compiled
 * JSON Schema (see jsonschema.c for compilation, jsonschema.h for the API).
 *
 * Evaluation walks the node graph and the instance together. Three things
 * shape the code:
 *
 *   - Errors. At the top level every failing keyword is reported, with the
 *     instance location as a JSON Pointer and a sentence a person can act
 *     on. Inside anyOf/oneOf/not/if/contains/propertyNames a failure is
 *     expected and not an error by itself, so those branches run "muted"
 *     and the applicator reports one summary instead. Muted evaluation (and
 *     evaluation without an error list) stops at the first failure.
 *
 *   - Annotations. unevaluatedProperties/unevaluatedItems need to know
 *     which members the other keywords at the same instance location
 *     evaluated, including through $ref, allOf, the passing branches of
 *     anyOf/oneOf, if/then/else and dependentSchemas. A parent that needs
 *     this passes a js_ann bitset (one bit per member or item) down; when
 *     nobody needs it the pointer is NULL and costs nothing. A branch that
 *     may fail without failing its parent gets a scratch set that is merged
 *     only if the branch passes, since failed schemas produce no
 *     annotations.
 *
 *   - Thread safety. The compiled schema is read-only here; all mutable
 *     state (error list, PCRE2 match data, mute/depth counters) lives in a
 *     js_vctx on the caller's stack.
 */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonschema_int.h"

/* Evaluation depth bound (schema frames): deep enough for any sane
 * document, shallow enough to keep the C stack safe under sanitizers. */
#define JS_MAX_DEPTH 600

/* Instance location, as a linked list through the C stack. */
typedef struct js_ipath {
    const struct js_ipath *up;
    const char *key;        /* NULL for an array index */
    size_t len;             /* key length, or the index */
} js_ipath;

/* Dynamic scope for $dynamicRef: the schema resources entered so far. */
typedef struct js_scope {
    const struct js_scope *up;
    const js_node *res;
} js_scope;

/* Evaluated-member bitset; small objects/arrays need no allocation. */
typedef struct js_ann {
    size_t n;
    uint64_t *w;
    uint64_t inl[4];
} js_ann;

typedef struct js_vctx {
    const js_schema *s;
    js_errors *errs;        /* NULL: yes/no answer only */
    int mute;               /* > 0 inside branches whose failure is fine */
    int depth;
    int oom;
    pcre2_match_data *md;   /* per validation: PCRE2 needs it writable */
} js_vctx;

/* ----------------------------------------------------------- error list */

void js_errors_init(js_errors *e, int max)
{
    memset(e, 0, sizeof *e);
    e->max = max > 0 ? max : JS_ERRORS_DEFAULT_MAX;
}

void js_errors_clear(js_errors *e)
{
    for (int i = 0; i < e->count; i++) {
        free(e->items[i].instance);
        free(e->items[i].schema);
        free(e->items[i].message);
    }
    free(e->items);
    e->items = NULL;
    e->count = e->alloc = 0;
    e->truncated = 0;
}

char *js_errors_format(const js_errors *e)
{
    size_t len = 1;
    for (int i = 0; i < e->count; i++)
        len += strlen(e->items[i].instance) + strlen(e->items[i].message) +
               16;
    len += 64;
    char *out = malloc(len), *o = out;
    if (!out)
        return NULL;
    *o = '\0';
    for (int i = 0; i < e->count; i++) {
        const js_error *x = &e->items[i];
        o += sprintf(o, "%s: %s\n", x->instance[0] ? x->instance : "(root)",
                     x->message);
    }
    if (e->truncated)
        sprintf(o, "(more errors not shown)\n");
    return out;
}

/* Is the current evaluation only after a yes/no answer? Then the first
 * failure decides and the rest can be skipped. A full error list turns
 * fast only after one more error has marked it truncated. */
static int js_fast(const js_vctx *v)
{
    return !v->errs || v->mute > 0 || v->errs->truncated;
}

static char *js_ipath_str(const js_ipath *ip)
{
    size_t len = 0;
    char num[32];
    for (const js_ipath *p = ip; p; p = p->up) {
        if (p->key) {
            len += 1 + p->len;
            for (size_t i = 0; i < p->len; i++)
                if (p->key[i] == '~' || p->key[i] == '/')
                    len++;
        } else {
            len += 1 + (size_t)snprintf(num, sizeof num, "%zu", p->len);
        }
    }
    char *s = malloc(len + 1);
    if (!s)
        return NULL;
    char *o = s + len;
    *o = '\0';
    for (const js_ipath *p = ip; p; p = p->up) {
        if (p->key) {
            for (size_t i = p->len; i-- > 0;) {
                if (p->key[i] == '~') {
                    *--o = '0';
                    *--o = '~';
                } else if (p->key[i] == '/') {
                    *--o = '1';
                    *--o = '~';
                } else {
                    *--o = p->key[i];
                }
            }
        } else {
            int n = snprintf(num, sizeof num, "%zu", p->len);
            o -= n;
            memcpy(o, num, (size_t)n);
        }
        *--o = '/';
    }
    return s;
}

/* ------------------------------------------------- rendering for messages */

/* Cut s to fit cap bytes (with "..."), never inside a UTF-8 sequence. */
static void js_fit(char *buf, size_t cap, const char *s)
{
    size_t n = strlen(s);
    if (n < cap) {
        memcpy(buf, s, n + 1);
        return;
    }
    n = cap - 4;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    memcpy(buf, s, n);
    memcpy(buf + n, "...", 4);
}

/* Compact JSON of a value, shortened to cap bytes. */
static const char *js_render(const json_t *x, char *buf, size_t cap)
{
    char *d = json_dumps(x, JSON_COMPACT | JSON_ENCODE_ANY);
    js_fit(buf, cap, d ? d : "?");
    free(d);
    return buf;
}

/* A JSON string literal for a property name (which may hold NUL). */
static const char *js_render_key(const char *k, size_t len, char *buf,
                                 size_t cap)
{
    json_t *s = json_stringn_nocheck(k, len);
    if (!s) {
        js_fit(buf, cap, "?");
        return buf;
    }
    js_render(s, buf, cap);
    json_decref(s);
    return buf;
}

/* Scalars as JSON, containers by kind: messages stay one line. */
static const char *js_what(const json_t *x, char *buf, size_t cap)
{
    if (json_is_object(x))
        js_fit(buf, cap, "object");
    else if (json_is_array(x))
        js_fit(buf, cap, "array");
    else
        js_render(x, buf, cap);
    return buf;
}

static const char *js_type_name(const json_t *x)
{
    switch (json_typeof(x)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    default: return "null";
    }
}

/* "string", "integer or null", "object, array or null". */
static const char *js_types_str(unsigned types, char *buf, size_t cap)
{
    static const char *const names[] = {"null", "boolean", "object", "array",
                                        "number", "string", "integer"};
    const char *list[7];
    int n = 0;
    for (int i = 0; i < 7; i++)
        if (types & (1u << i))
            list[n++] = names[i];
    buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        size_t l = strlen(buf);
        snprintf(buf + l, cap - l, "%s%s",
                 i == 0 ? "" : i == n - 1 ? " or " : ", ", list[i]);
    }
    return buf;
}

static const char *js_num_str(const js_num *x, char *buf, size_t cap)
{
    if (x->is_int) {
        snprintf(buf, cap, "%lld", x->i);
        return buf;
    }
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, cap, "%.*g", p, x->d);
        if (strtod(buf, NULL) == x->d)
            break;
    }
    return buf;
}

static const char *js_plural(size_t n)
{
    return n == 1 ? "" : "s";
}

/* The formatter behind js_report (see there). */
static void js_format(char *out, size_t cap, const char *fmt, va_list ap)
{
    size_t n = 0;
    char tmp[256];

    for (const char *p = fmt; *p; p++) {
        const char *piece = tmp;
        if (*p != '%') {
            if (n + 1 < cap)
                out[n++] = *p;
            continue;
        }
        switch (*++p) {
        case 's':
            piece = va_arg(ap, const char *);
            break;
        case 'z':   /* %zu */
            p++;
            snprintf(tmp, sizeof tmp, "%zu", va_arg(ap, size_t));
            break;
        case 'V':
            js_render(va_arg(ap, const json_t *), tmp, 200);
            break;
        case 'W':
            js_what(va_arg(ap, const json_t *), tmp, 80);
            break;
        case 'K': {
            const char *k = va_arg(ap, const char *);
            size_t len = va_arg(ap, size_t);
            js_render_key(k, len, tmp, 120);
            break;
        }
        case 'N':
            js_num_str(va_arg(ap, const js_num *), tmp, sizeof tmp);
            break;
        case 'T':
            js_types_str(va_arg(ap, unsigned), tmp, sizeof tmp);
            break;
        default:
            piece = "%";
            p--;
            break;
        }
        size_t l = strlen(piece);
        if (l > cap - 1 - n)
            l = cap - 1 - n;
        memcpy(out + n, piece, l);
        n += l;
    }
    out[n] = '\0';
}

/* Record an error unless muted. fmt takes %s, %zu and these directives,
 * so the rendering buffers live here, in a cold leaf, rather than in the
 * recursive evaluation frames:
 *   %V json_t*  compact JSON        %W json_t*  scalar JSON or "object"/"array"
 *   %K char*, size_t  property name as a JSON string
 *   %N js_num*  a number            %T unsigned  JS_T_* set, "a, b or c" */
static __attribute__((noinline, cold)) void
js_report(js_vctx *v, const js_node *n, const char *kw, const js_ipath *ip,
          const char *fmt, ...)
{
    js_errors *e = v->errs;
    js_error *x;
    va_list ap;
    char msg[512];

    if (!e || v->mute > 0)
        return;
    if (e->count >= e->max) {
        e->truncated = 1;
        return;
    }
    if (e->count == e->alloc) {
        int na = e->alloc ? e->alloc * 2 : 8;
        if (na > e->max)
            na = e->max;
        js_error *ni = realloc(e->items, (size_t)na * sizeof *ni);
        if (!ni) {
            v->oom = 1;
            return;
        }
        e->items = ni;
        e->alloc = na;
    }
    va_start(ap, fmt);
    js_format(msg, sizeof msg, fmt, ap);
    va_end(ap);
    x = &e->items[e->count];
    x->keyword = kw;
    x->instance = js_ipath_str(ip);
    x->message = strdup(msg);
    /* kw "" means the schema itself failed (false schema) */
    size_t ll = strlen(n->loc), kl = strlen(kw);
    x->schema = malloc(ll + kl + 2);
    if (!x->instance || !x->message || !x->schema) {
        free(x->instance);
        free(x->message);
        free(x->schema);
        v->oom = 1;
        return;
    }
    memcpy(x->schema, n->loc, ll);
    x->schema[ll] = '\0';
    if (kl) {
        x->schema[ll] = '/';
        memcpy(x->schema + ll + 1, kw, kl + 1);
    }
    e->count++;
}

/* -------------------------------------------------------------- numbers */

void js_num_of(const json_t *x, js_num *out)
{
    if (json_is_integer(x)) {
        out->is_int = 1;
        out->i = json_integer_value(x);
        out->d = (double)out->i;
    } else {
        out->is_int = 0;
        out->i = 0;
        out->d = json_real_value(x);
    }
}

/* Exact comparison of a double and a long long. */
static int js_cmp_real_int(double d, long long i)
{
    if (d >= 9223372036854775808.0)
        return 1;
    if (d < -9223372036854775808.0)
        return -1;
    double t = trunc(d);
    long long ti = (long long)t;
    if (ti != i)
        return ti < i ? -1 : 1;
    return d > t ? 1 : d < t ? -1 : 0;
}

static int js_num_cmp(const js_num *a, const js_num *b)
{
    if (a->is_int && b->is_int)
        return a->i < b->i ? -1 : a->i > b->i;
    if (!a->is_int && !b->is_int)
        return a->d < b->d ? -1 : a->d > b->d;
    if (a->is_int)
        return -js_cmp_real_int(b->d, a->i);
    return js_cmp_real_int(a->d, b->i);
}

/* |x| as mant * 10^exp with mant minimal: the shortest decimal that reads
 * back as the same double, i.e. the number as it was written in JSON. */
static void js_decimal(const js_num *x, uint64_t *mant, int *exp)
{
    uint64_t m = 0;
    int e = 0;
    if (x->is_int) {
        m = x->i < 0 ? (uint64_t)0 - (uint64_t)x->i : (uint64_t)x->i;
    } else {
        double d = fabs(x->d);
        char buf[40];
        int p;
        if (d == 0) {
            *mant = 0;
            *exp = 0;
            return;
        }
        for (p = 0; p < 17; p++) {
            snprintf(buf, sizeof buf, "%.*e", p, d);
            if (strtod(buf, NULL) == d)
                break;
        }
        /* buf is "D.DDDDe[+-]XX": p digits after the point */
        char *s = buf;
        for (; *s && *s != 'e'; s++)
            if (*s >= '0' && *s <= '9')
                m = m * 10 + (uint64_t)(*s - '0');
        e = atoi(s + 1) - p;
    }
    while (m != 0 && m % 10 == 0) {
        m /= 10;
        e++;
    }
    *mant = m;
    *exp = e;
}

/* 10^k mod m, by square and multiply in 128 bits. */
static uint64_t js_pow10_mod(unsigned k, uint64_t m)
{
    unsigned __int128 r = 1 % m, b = 10 % m;
    while (k) {
        if (k & 1)
            r = r * b % m;
        b = b * b % m;
        k >>= 1;
    }
    return (uint64_t)r;
}

/* Is x an integer multiple of m (> 0)? Decided on the decimal values, so
 * 0.0075 is a multiple of 0.0001 although the doubles disagree, and huge
 * quotients neither overflow nor lose the answer. */
static int js_is_multiple(const js_num *x, const js_num *m)
{
    uint64_t X, M;
    int ex, em;

    if (x->is_int && m->is_int)
        return x->i % m->i == 0;
    js_decimal(x, &X, &ex);
    js_decimal(m, &M, &em);
    if (X == 0)
        return 1;
    if (em <= ex)   /* X*10^(ex-em) mod M */
        return (unsigned __int128)(X % M) *
               js_pow10_mod((unsigned)(ex - em), M) % M == 0;
    /* X mod M*10^(em-ex); M*10^k > X once 10^k exceeds 2^64 */
    unsigned k = (unsigned)(em - ex);
    if (k >= 20)
        return 0;
    unsigned __int128 B = M;
    while (k--)
        B *= 10;
    return (unsigned __int128)X % B == 0;
}

static int js_is_integral(const json_t *x)
{
    if (json_is_integer(x))
        return 1;
    if (json_is_real(x)) {
        double d = json_real_value(x);
        return isfinite(d) && d == floor(d);
    }
    return 0;
}

/* ------------------------------------------------------------- equality */

int js_json_equal(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b)) {
        js_num x, y;
        js_num_of(a, &x);
        js_num_of(b, &y);
        return js_num_cmp(&x, &y) == 0;
    }
    if (json_typeof(a) != json_typeof(b))
        return 0;
    switch (json_typeof(a)) {
    case JSON_STRING:
        return json_string_length(a) == json_string_length(b) &&
               !memcmp(json_string_value(a), json_string_value(b),
                       json_string_length(a));
    case JSON_ARRAY: {
        size_t n = json_array_size(a);
        if (n != json_array_size(b))
            return 0;
        for (size_t i = 0; i < n; i++)
            if (!js_json_equal(json_array_get(a, i), json_array_get(b, i)))
                return 0;
        return 1;
    }
    case JSON_OBJECT: {
        if (json_object_size(a) != json_object_size(b))
            return 0;
        for (void *it = json_object_iter((json_t *)a); it;
             it = json_object_iter_next((json_t *)a, it)) {
            const json_t *bv = json_object_getn(
                b, json_object_iter_key(it), json_object_iter_key_len(it));
            if (!bv || !js_json_equal(json_object_iter_value(it), bv))
                return 0;
        }
        return 1;
    }
    default:
        return 1;   /* true, false, null */
    }
}

/* Hash consistent with js_json_equal (1 and 1.0 alike, key order free). */
static uint64_t js_json_hash(const json_t *x)
{
    uint64_t h = 1469598103934665603ull;
    switch (json_typeof(x)) {
    case JSON_INTEGER:
    case JSON_REAL: {
        double d = json_number_value(x);
        uint64_t bits;
        if (d == 0)
            d = 0;  /* -0.0 equals 0 */
        memcpy(&bits, &d, sizeof bits);
        return bits * 0x9E3779B97F4A7C15ull + 7;
    }
    case JSON_STRING: {
        const char *s = json_string_value(x);
        for (size_t i = 0; i < json_string_length(x); i++)
            h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
        return h;
    }
    case JSON_ARRAY:
        for (size_t i = 0; i < json_array_size(x); i++)
            h = (h ^ js_json_hash(json_array_get(x, i))) * 1099511628211ull;
        return h + 1;
    case JSON_OBJECT: {
        uint64_t sum = 2;
        for (void *it = json_object_iter((json_t *)x); it;
             it = json_object_iter_next((json_t *)x, it)) {
            const char *k = json_object_iter_key(it);
            uint64_t kh = h;
            for (size_t i = 0; i < json_object_iter_key_len(it); i++)
                kh = (kh ^ (unsigned char)k[i]) * 1099511628211ull;
            sum += kh * 31 + js_json_hash(json_object_iter_value(it));
        }
        return sum;
    }
    case JSON_TRUE: return 3;
    case JSON_FALSE: return 4;
    default: return 5;
    }
}

/* ---------------------------------------------------------- annotations */

static int js_ann_init(js_vctx *v, js_ann *a, size_t n)
{
    size_t words = (n + 63) / 64;
    a->n = n;
    if (words <= sizeof a->inl / sizeof a->inl[0]) {
        a->w = a->inl;
        memset(a->inl, 0, sizeof a->inl);
        return 0;
    }
    a->w = calloc(words, sizeof *a->w);
    if (!a->w) {
        a->w = a->inl;
        a->n = 0;
        v->oom = 1;
        return -1;
    }
    return 0;
}

static void js_ann_free(js_ann *a)
{
    if (a->w != a->inl)
        free(a->w);
}

static void js_ann_set(js_ann *a, size_t i)
{
    if (i < a->n)
        a->w[i / 64] |= 1ull << (i % 64);
}

static int js_ann_get(const js_ann *a, size_t i)
{
    return i < a->n && (a->w[i / 64] >> (i % 64) & 1);
}

static void js_ann_merge(js_ann *dst, const js_ann *src)
{
    size_t words = (dst->n + 63) / 64;
    for (size_t i = 0; i < words && i * 64 < src->n; i++)
        dst->w[i] |= src->w[i];
}

static void js_ann_setall(js_ann *a)
{
    for (size_t i = 0; i < a->n; i++)
        js_ann_set(a, i);
}

/* Members/items of x: the size an annotation set for x needs. */
static size_t js_ann_size(const json_t *x)
{
    return json_is_object(x) ? json_object_size(x)
                             : json_is_array(x) ? json_array_size(x) : 0;
}

/* ----------------------------------------------------------- evaluation */

static int js_eval(js_vctx *v, const js_node *n, const json_t *x,
                   const js_ipath *ip, js_ann *ann, const js_scope *scope);

/* A subschema evaluated in a branch that may fail on its own (anyOf, if,
 * ...): muted, with a scratch annotation set merged into ann on success. */
static int js_eval_branch(js_vctx *v, const js_node *n, const json_t *x,
                          const js_ipath *ip, js_ann *ann,
                          const js_scope *scope)
{
    js_ann tmp;
    int r;

    v->mute++;
    if (ann && js_ann_init(v, &tmp, ann->n) == 0) {
        r = js_eval(v, n, x, ip, &tmp, scope);
        if (r)
            js_ann_merge(ann, &tmp);
        js_ann_free(&tmp);
    } else {
        r = js_eval(v, n, x, ip, NULL, scope);
    }
    v->mute--;
    return r;
}

#define JS_FAIL()                  \
    do {                           \
        ok = 0;                    \
        if (js_fast(v))            \
            return 0;              \
    } while (0)

static int js_eval_number(js_vctx *v, const js_node *n, const json_t *x,
                          const js_ipath *ip)
{
    js_num num;
    int ok = 1;

    js_num_of(x, &num);
    if ((n->has & JS_K_MULTIPLEOF) && !js_is_multiple(&num, &n->multiple_of)) {
        js_report(v, n, "multipleOf", ip, "%N is not a multiple of %N",
                  &num, &n->multiple_of);
        JS_FAIL();
    }
    if ((n->has & JS_K_MINIMUM) && js_num_cmp(&num, &n->minimum) < 0) {
        js_report(v, n, "minimum", ip, "%N is less than the minimum %N",
                  &num, &n->minimum);
        JS_FAIL();
    }
    if ((n->has & JS_K_EXMINIMUM) && js_num_cmp(&num, &n->ex_minimum) <= 0) {
        js_report(v, n, "exclusiveMinimum", ip, "%N is not greater than the exclusive minimum %N",
                  &num, &n->ex_minimum);
        JS_FAIL();
    }
    if ((n->has & JS_K_MAXIMUM) && js_num_cmp(&num, &n->maximum) > 0) {
        js_report(v, n, "maximum", ip, "%N is greater than the maximum %N",
                  &num, &n->maximum);
        JS_FAIL();
    }
    if ((n->has & JS_K_EXMAXIMUM) && js_num_cmp(&num, &n->ex_maximum) >= 0) {
        js_report(v, n, "exclusiveMaximum", ip, "%N is not less than the exclusive maximum %N",
                  &num, &n->ex_maximum);
        JS_FAIL();
    }
    return ok;
}

static int js_match(js_vctx *v, const pcre2_code *re, const char *s,
                    size_t len)
{
    if (!v->md) {
        v->md = pcre2_match_data_create(1, NULL);
        if (!v->md) {
            v->oom = 1;
            return -1;
        }
    }
    return js_pattern_match(re, s, len, v->md, v->s->mctx);
}

static int js_eval_string(js_vctx *v, const js_node *n, const json_t *x,
                          const js_ipath *ip)
{
    const char *s = json_string_value(x);
    size_t len = json_string_length(x);
    int ok = 1;

    /* A string of len bytes has between ceil(len/4) and len code points;
     * count them only when that range straddles a limit. */
    if (((n->has & JS_K_MINLENGTH) && (len + 3) / 4 < n->min_length) ||
        ((n->has & JS_K_MAXLENGTH) && len > n->max_length)) {
        /* Length in code points: count the bytes that start one. */
        size_t cps = 0;
        for (size_t i = 0; i < len; i++)
            cps += ((unsigned char)s[i] & 0xC0) != 0x80;
        if ((n->has & JS_K_MINLENGTH) && cps < n->min_length) {
            js_report(v, n, "minLength", ip,
                      "string is shorter than %zu character%s",
                      n->min_length, js_plural(n->min_length));
            JS_FAIL();
        }
        if ((n->has & JS_K_MAXLENGTH) && cps > n->max_length) {
            js_report(v, n, "maxLength", ip,
                      "string is longer than %zu character%s",
                      n->max_length, js_plural(n->max_length));
            JS_FAIL();
        }
    }
    if (n->pattern) {
        int r = js_match(v, n->pattern, s, len);
        if (r <= 0) {
            if (r < 0)
                js_report(v, n, "pattern", ip, "pattern \"%s\" could not be "
                          "evaluated (match limit exceeded)", n->pattern_src);
            else
                js_report(v, n, "pattern", ip,
                          "%V does not match pattern \"%s\"", x,
                          n->pattern_src);
            JS_FAIL();
        }
    }
    return ok;
}

static int js_check_unique(js_vctx *v, const js_node *n, const json_t *x,
                           const js_ipath *ip)
{
    size_t cnt = json_array_size(x);
    uint64_t small[32], *h = small;
    int ok = 1;

    if (cnt < 2)
        return 1;
    if (cnt > sizeof small / sizeof small[0]) {
        h = malloc(cnt * sizeof *h);
        if (!h) {
            v->oom = 1;
            return 0;
        }
    }
    for (size_t i = 0; i < cnt; i++)
        h[i] = js_json_hash(json_array_get(x, i));
    for (size_t i = 0; i < cnt && ok; i++)
        for (size_t j = i + 1; j < cnt && ok; j++)
            if (h[i] == h[j] &&
                js_json_equal(json_array_get(x, i), json_array_get(x, j))) {
                js_report(v, n, "uniqueItems", ip,
                          "items %zu and %zu are equal", i, j);
                ok = 0;
            }
    if (h != small)
        free(h);
    return ok;
}

static int js_eval_array(js_vctx *v, const js_node *n, const json_t *x,
                         const js_ipath *ip, js_ann *cur,
                         const js_scope *scope)
{
    size_t cnt = json_array_size(x);
    int ok = 1;

    if ((n->has & JS_K_MINITEMS) && cnt < n->min_items) {
        js_report(v, n, "minItems", ip, "array has fewer than %zu item%s",
                  n->min_items, js_plural(n->min_items));
        JS_FAIL();
    }
    if ((n->has & JS_K_MAXITEMS) && cnt > n->max_items) {
        js_report(v, n, "maxItems", ip, "array has more than %zu item%s",
                  n->max_items, js_plural(n->max_items));
        JS_FAIL();
    }
    if ((n->has & JS_K_UNIQUE) && !js_check_unique(v, n, x, ip))
        JS_FAIL();

    for (size_t i = 0; i < cnt && i < n->nprefix; i++) {
        js_ipath cip = {ip, NULL, i};
        if (cur)
            js_ann_set(cur, i);
        if (!js_eval(v, n->prefix[i], json_array_get(x, i), &cip, NULL,
                     scope))
            JS_FAIL();
    }
    if (n->items && cnt > n->nprefix) {
        if (n->items->boolean == 0) {
            if (n->nprefix == 0)
                js_report(v, n, "items", ip, "array must be empty");
            else
                js_report(v, n, "items", ip, "array has more than %zu item%s",
                          n->nprefix, js_plural(n->nprefix));
            JS_FAIL();
        } else {
            for (size_t i = n->nprefix; i < cnt; i++) {
                js_ipath cip = {ip, NULL, i};
                if (cur)
                    js_ann_set(cur, i);
                if (!js_eval(v, n->items, json_array_get(x, i), &cip, NULL,
                             scope))
                    JS_FAIL();
            }
        }
    }
    if (n->contains) {
        size_t min = (n->has & JS_K_MINCONTAINS) ? n->min_contains : 1;
        size_t matched = 0;
        v->mute++;
        for (size_t i = 0; i < cnt; i++) {
            js_ipath cip = {ip, NULL, i};
            if (js_eval(v, n->contains, json_array_get(x, i), &cip, NULL,
                        scope)) {
                matched++;
                if (cur)
                    js_ann_set(cur, i);
                /* Enough seen, and nothing needs the full count? */
                else if (matched >= min && !(n->has & JS_K_MAXCONTAINS))
                    break;
            }
        }
        v->mute--;
        if (matched < min) {
            if (matched == 0)
                js_report(v, n, n->has & JS_K_MINCONTAINS ? "minContains"
                          : "contains", ip,
                          "no item matches the \"contains\" schema");
            else
                js_report(v, n, "minContains", ip,
                          "only %zu item%s match%s the \"contains\" schema, "
                          "at least %zu required", matched,
                          js_plural(matched), matched == 1 ? "es" : "", min);
            JS_FAIL();
        }
        if ((n->has & JS_K_MAXCONTAINS) && matched > n->max_contains) {
            js_report(v, n, "maxContains", ip,
                      "%zu items match the \"contains\" schema, at most %zu "
                      "allowed", matched, n->max_contains);
            JS_FAIL();
        }
    }
    return ok;
}

static const js_prop *js_find_prop(const js_node *n, const char *k,
                                   size_t len)
{
    size_t lo = 0, hi = n->nprops;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const js_str *name = &n->props[mid].name;
        size_t m = name->len < len ? name->len : len;
        int c = memcmp(name->s, k, m);
        if (!c)
            c = name->len < len ? -1 : name->len > len;
        if (!c)
            return &n->props[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Apply a property subschema. A false schema is reported at the object
 * with the name in the message: "/obj: property "x" is not allowed" reads
 * better than "/obj/x: no value is allowed here". */
static int js_eval_member(js_vctx *v, const js_node *n, const char *kw,
                          const char *what, const js_node *sub,
                          const json_t *val, const js_ipath *ip,
                          const js_ipath *cip, const js_scope *scope)
{
    if (sub->boolean == 0) {
        js_report(v, n, kw, ip, "%sproperty %K is not allowed", what,
                  cip->key, cip->len);
        return 0;
    }
    return js_eval(v, sub, val, cip, NULL, scope);
}

static int js_eval_object(js_vctx *v, const js_node *n, const json_t *x,
                          const js_ipath *ip, js_ann *cur,
                          const js_scope *scope)
{
    size_t cnt = json_object_size(x), i = 0;
    int ok = 1;

    for (size_t r = 0; r < n->nrequired; r++) {
        if (!json_object_getn(x, n->required[r].s, n->required[r].len)) {
            js_report(v, n, "required", ip, "missing required property %K",
                      n->required[r].s, n->required[r].len);
            JS_FAIL();
        }
    }
    for (size_t d = 0; d < n->ndepreq; d++) {
        const js_depreq *dr = &n->depreq[d];
        if (!json_object_getn(x, dr->name.s, dr->name.len))
            continue;
        for (size_t r = 0; r < dr->nreq; r++) {
            if (!json_object_getn(x, dr->req[r].s, dr->req[r].len)) {
                js_report(v, n, "dependentRequired", ip,
                          "property %K requires property %K", dr->name.s,
                          dr->name.len, dr->req[r].s, dr->req[r].len);
                JS_FAIL();
            }
        }
    }
    if ((n->has & JS_K_MINPROPS) && cnt < n->min_props) {
        js_report(v, n, "minProperties", ip,
                  "object has fewer than %zu propert%s", n->min_props,
                  n->min_props == 1 ? "y" : "ies");
        JS_FAIL();
    }
    if ((n->has & JS_K_MAXPROPS) && cnt > n->max_props) {
        js_report(v, n, "maxProperties", ip,
                  "object has more than %zu propert%s", n->max_props,
                  n->max_props == 1 ? "y" : "ies");
        JS_FAIL();
    }

    if (n->nprops || n->npatprops || n->addprops || n->propnames) {
        for (void *it = json_object_iter((json_t *)x); it;
             it = json_object_iter_next((json_t *)x, it), i++) {
            const char *key = json_object_iter_key(it);
            size_t klen = json_object_iter_key_len(it);
            const json_t *val = json_object_iter_value(it);
            js_ipath cip = {ip, key, klen};
            int matched = 0;

            if (n->nprops) {
                const js_prop *p = js_find_prop(n, key, klen);
                if (p) {
                    matched = 1;
                    if (!js_eval_member(v, n, "properties", "", p->schema,
                                        val, ip, &cip, scope))
                        JS_FAIL();
                }
            }
            for (size_t p = 0; p < n->npatprops; p++) {
                const js_patprop *pp = &n->patprops[p];
                int r = js_match(v, pp->re, key, klen);
                if (r < 0) {
                    js_report(v, n, "patternProperties", ip,
                              "pattern \"%s\" could not be evaluated (match "
                              "limit exceeded)", pp->src);
                    JS_FAIL();
                } else if (r) {
                    matched = 1;
                    if (!js_eval_member(v, n, "patternProperties", "",
                                        pp->schema, val, ip, &cip, scope))
                        JS_FAIL();
                }
            }
            if (!matched && n->addprops) {
                matched = 1;
                if (!js_eval_member(v, n, "additionalProperties",
                                    "additional ", n->addprops, val, ip, &cip,
                                    scope))
                    JS_FAIL();
            }
            if (matched && cur)
                js_ann_set(cur, i);
            if (n->propnames) {
                json_t *name = json_stringn_nocheck(key, klen);
                int r;
                if (!name) {
                    v->oom = 1;
                    return 0;
                }
                v->mute++;
                r = js_eval(v, n->propnames, name, ip, NULL, scope);
                v->mute--;
                json_decref(name);
                if (!r) {
                    js_report(v, n, "propertyNames", ip,
                              "property name %K does not match the "
                              "propertyNames schema", key, klen);
                    JS_FAIL();
                }
            }
        }
    }
    for (size_t d = 0; d < n->ndepschemas; d++) {
        const js_prop *ds = &n->depschemas[d];
        if (json_object_getn(x, ds->name.s, ds->name.len) &&
            !js_eval(v, ds->schema, x, ip, cur, scope))
            JS_FAIL();
    }
    return ok;
}

/* $ref, $dynamicRef and the logic applicators: all apply subschemas to x
 * itself. */
static int js_eval_inplace(js_vctx *v, const js_node *n, const json_t *x,
                           const js_ipath *ip, js_ann *cur,
                           const js_scope *scope)
{
    int ok = 1;

    if (n->ref && !js_eval(v, n->ref, x, ip, cur, scope))
        JS_FAIL();
    if (n->dynref) {
        const js_node *t = n->dynref;
        if (n->dynref_name) {
            /* The outermost resource in the dynamic scope that declares
             * the same $dynamicAnchor wins. */
            for (const js_scope *sc = scope; sc; sc = sc->up)
                for (const js_dynanchor *d = sc->res->dynanchors; d;
                     d = d->next)
                    if (!strcmp(d->name, n->dynref_name))
                        t = d->node;
        }
        if (!js_eval(v, t, x, ip, cur, scope))
            JS_FAIL();
    }
    for (size_t i = 0; i < n->nallof; i++)
        if (!js_eval(v, n->allof[i], x, ip, cur, scope))
            JS_FAIL();
    if (n->nanyof) {
        int any = 0;
        for (size_t i = 0; i < n->nanyof; i++) {
            if (js_eval_branch(v, n->anyof[i], x, ip, cur, scope)) {
                any = 1;
                if (!cur)   /* later branches only add annotations */
                    break;
            }
        }
        if (!any) {
            js_report(v, n, "anyOf", ip,
                      "%W does not match any schema in anyOf", x);
            JS_FAIL();
        }
    }
    if (n->noneof) {
        size_t first = 0, count = 0;
        for (size_t i = 0; i < n->noneof && count < 2; i++) {
            if (js_eval_branch(v, n->oneof[i], x, ip, cur, scope)) {
                if (count++ == 0)
                    first = i;
                else {
                    js_report(v, n, "oneOf", ip, "%W matches more than one "
                              "schema in oneOf (%zu and %zu)", x, first, i);
                }
            }
        }
        if (count == 0)
            js_report(v, n, "oneOf", ip,
                      "%W does not match any schema in oneOf", x);
        if (count != 1)
            JS_FAIL();
    }
    if (n->not_) {
        int r;
        v->mute++;
        r = js_eval(v, n->not_, x, ip, NULL, scope);
        v->mute--;
        if (r) {
            js_report(v, n, "not", ip,
                      "%W must not match the \"not\" schema", x);
            JS_FAIL();
        }
    }
    /* "if" alone still matters when annotations are collected. */
    if (n->if_ && (n->then_ || n->else_ || cur)) {
        if (js_eval_branch(v, n->if_, x, ip, cur, scope)) {
            if (n->then_ && !js_eval(v, n->then_, x, ip, cur, scope))
                JS_FAIL();
        } else {
            if (n->else_ && !js_eval(v, n->else_, x, ip, cur, scope))
                JS_FAIL();
        }
    }
    return ok;
}

static int js_eval_unevaluated(js_vctx *v, const js_node *n, const json_t *x,
                               const js_ipath *ip, const js_ann *done,
                               const js_scope *scope)
{
    int ok = 1;
    size_t i = 0;

    if (json_is_object(x)) {
        for (void *it = json_object_iter((json_t *)x); it;
             it = json_object_iter_next((json_t *)x, it), i++) {
            if (js_ann_get(done, i))
                continue;
            js_ipath cip = {ip, json_object_iter_key(it),
                            json_object_iter_key_len(it)};
            if (!js_eval_member(v, n, "unevaluatedProperties",
                                "unevaluated ", n->unevalprops,
                                json_object_iter_value(it), ip, &cip, scope))
                JS_FAIL();
        }
    } else {
        for (i = 0; i < json_array_size(x); i++) {
            if (js_ann_get(done, i))
                continue;
            js_ipath cip = {ip, NULL, i};
            if (n->unevalitems->boolean == 0) {
                js_report(v, n, "unevaluatedItems", ip,
                          "item %zu is not allowed (unevaluated)", i);
                JS_FAIL();
            } else if (!js_eval(v, n->unevalitems, json_array_get(x, i),
                                &cip, NULL, scope)) {
                JS_FAIL();
            }
        }
    }
    return ok;
}

static int js_eval(js_vctx *v, const js_node *n, const json_t *x,
                   const js_ipath *ip, js_ann *ann, const js_scope *scope)
{
    js_scope here;
    js_ann local, *cur = ann;
    int ok = 1, has_local = 0;

    if (n->boolean == 1)
        return 1;
    if (n->boolean == 0) {
        js_report(v, n, "", ip, "no value is allowed here (schema is "
                  "false)");
        return 0;
    }
    if (v->depth >= JS_MAX_DEPTH) {
        js_report(v, n, "", ip, "instance is nested too deeply to validate");
        return 0;
    }
    if (n->resource != scope->res) {
        here.up = scope;
        here.res = n->resource;
        scope = &here;
    }
    v->depth++;

    if (n->has & JS_K_TYPE) {
        unsigned t;
        switch (json_typeof(x)) {
        case JSON_OBJECT: t = JS_T_OBJECT; break;
        case JSON_ARRAY: t = JS_T_ARRAY; break;
        case JSON_STRING: t = JS_T_STRING; break;
        case JSON_INTEGER: t = JS_T_NUMBER | JS_T_INTEGER; break;
        case JSON_REAL:
            t = JS_T_NUMBER | (js_is_integral(x) ? JS_T_INTEGER : 0);
            break;
        case JSON_TRUE:
        case JSON_FALSE: t = JS_T_BOOLEAN; break;
        default: t = JS_T_NULL; break;
        }
        if (!(n->types & t)) {
            js_report(v, n, "type", ip, "expected %T, got %s", n->types,
                      js_type_name(x));
            ok = 0;
            if (js_fast(v))
                goto done;
        }
    }
    if (n->has & JS_K_CONST) {
        if (!js_json_equal(n->const_val, x)) {
            js_report(v, n, "const", ip, "expected %V, got %V",
                      n->const_val, x);
            ok = 0;
            if (js_fast(v))
                goto done;
        }
    }
    if (n->has & JS_K_ENUM) {
        size_t i, cnt = json_array_size(n->enum_vals);
        for (i = 0; i < cnt; i++)
            if (js_json_equal(json_array_get(n->enum_vals, i), x))
                break;
        if (i == cnt) {
            js_report(v, n, "enum", ip, "%V is not one of %V", x,
                      n->enum_vals);
            ok = 0;
            if (js_fast(v))
                goto done;
        }
    }

    /* Keep track of evaluated members here if unevaluated* needs them. */
    if ((json_is_object(x) && n->unevalprops) ||
        (json_is_array(x) && n->unevalitems)) {
        if (js_ann_init(v, &local, js_ann_size(x)) < 0) {
            ok = 0;
            goto done;
        }
        has_local = 1;
        cur = &local;
    }

    switch (json_typeof(x)) {
    case JSON_INTEGER:
    case JSON_REAL:
        if (!js_eval_number(v, n, x, ip))
            ok = 0;
        break;
    case JSON_STRING:
        if (!js_eval_string(v, n, x, ip))
            ok = 0;
        break;
    case JSON_ARRAY:
        if (!js_eval_array(v, n, x, ip, cur, scope))
            ok = 0;
        break;
    case JSON_OBJECT:
        if (!js_eval_object(v, n, x, ip, cur, scope))
            ok = 0;
        break;
    default:
        break;
    }
    if (!ok && js_fast(v))
        goto done;
    if (!js_eval_inplace(v, n, x, ip, cur, scope)) {
        ok = 0;
        if (js_fast(v))
            goto done;
    }
    if (has_local) {
        if (!js_eval_unevaluated(v, n, x, ip, &local, scope))
            ok = 0;
        /* unevaluated* has now looked at every member */
        if (ann)
            js_ann_setall(ann);
    }

done:
    if (has_local)
        js_ann_free(&local);
    v->depth--;
    return ok;
}

int js_validate(const js_schema *s, const json_t *instance, js_errors *errs)
{
    js_vctx v;
    js_scope top;
    int r;

    memset(&v, 0, sizeof v);
    v.s = s;
    v.errs = errs;
    if (errs) {
        int max = errs->max > 0 ? errs->max : JS_ERRORS_DEFAULT_MAX;
        js_errors_clear(errs);
        errs->max = max;
    }
    top.up = NULL;
    top.res = s->root->resource;
    r = js_eval(&v, s->root, instance, NULL, NULL, &top);
    pcre2_match_data_free(v.md);
    if (v.oom)
        return JS_ENOMEM;
    return r ? 1 : 0;
}
