/*
 * ground.c - normalised substring grounding with offsets back into the
 * original text, pointer-pattern iteration, referential checks and the
 * mention lists of records (see ground.h).
 *
 * Why decomposed (NFKD) form rather than composed: utf8proc can decompose
 * one code point at a time, which keeps the map from every normalised code
 * point back to the source code point it came from; composing would lose
 * it. Comparing decomposed forms is the same equivalence as comparing NFKC
 * forms as long as a match starts and ends on a whole source character and
 * is not followed by a combining mark, which ground_find enforces.
 */
#include "ground.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define GROUND_OPTS (UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD | UTF8PROC_IGNORE)

static int ground_is_space(int32_t c)
{
    if (c == ' ' || (c >= 9 && c <= 13) || c == 0x85) return 1;
    if (c < 0x80) return 0;
    utf8proc_category_t cat = utf8proc_category(c);
    return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL || cat == UTF8PROC_CATEGORY_ZP;
}

/* Typographic variants models freely swap for ASCII when they quote. */
static int32_t ground_fold(int32_t c)
{
    switch (c) {
    case 0x2018: case 0x2019: case 0x201A: case 0x201B: case 0x2032: return '\'';
    case 0x201C: case 0x201D: case 0x201E: case 0x201F: case 0x2033: return '"';
    case 0x2010: case 0x2011: case 0x2012: case 0x2013: case 0x2014: case 0x2015: case 0x2212: return '-';
    default: return c;
    }
}

typedef struct ground_buf {
    ground_text *t;
    size_t cap;
} ground_buf;

static int ground_emit(ground_buf *b, int32_t c, int32_t src, int first)
{
    ground_text *t = b->t;
    if (t->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        int32_t *cp = realloc(t->cp, cap * sizeof *cp);
        if (!cp) return -1;
        t->cp = cp;
        int32_t *sr = realloc(t->src, cap * sizeof *sr);
        if (!sr) return -1;
        t->src = sr;
        uint8_t *fi = realloc(t->first, cap);
        if (!fi) return -1;
        t->first = fi;
        b->cap = cap;
    }
    t->cp[t->n] = c;
    t->src[t->n] = src;
    t->first[t->n] = (uint8_t)first;
    t->n++;
    return 0;
}

static int ground_ccc(int32_t c) { return c < 0x300 ? 0 : utf8proc_get_property(c)->combining_class; }

int ground_normalize(const char *s, size_t len, int trim, ground_text *out)
{
    memset(out, 0, sizeof *out);
    ground_buf b = { out, 0 };
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    size_t i = 0;
    int32_t k = 0;
    int prev_space = trim;   /* trimming: leading spaces are dropped */
    int32_t buf[64];
    while (i < len) {
        utf8proc_int32_t c;
        utf8proc_ssize_t r = utf8proc_iterate(p + i, (utf8proc_ssize_t)(len - i), &c);
        if (r < 1) c = 0xFFFD, r = 1;
        i += (size_t)r;
        c = ground_fold(c);
        if (ground_is_space(c)) {
            if (!prev_space && ground_emit(&b, ' ', k, 1)) goto oom;
            prev_space = 1;
            k++;
            continue;
        }
        utf8proc_ssize_t n = utf8proc_decompose_char(c, buf, 64, GROUND_OPTS, NULL);
        if (n < 0 || n > 64) buf[0] = c, n = 1;   /* cannot happen for valid code points */
        for (utf8proc_ssize_t j = 0; j < n; j++) {
            int32_t d = ground_fold(buf[j]);
            if (ground_is_space(d)) {
                if (!prev_space && ground_emit(&b, ' ', k, j == 0)) goto oom;
                prev_space = 1;
            } else {
                if (ground_emit(&b, d, k, j == 0)) goto oom;
                prev_space = 0;
            }
        }
        k++;
    }
    if (trim && out->n && out->cp[out->n - 1] == ' ') out->n--;
    out->n_src = (size_t)k;
    /* canonical ordering: combining marks of one base sorted by class, as
     * NFKD requires (stable insertion sort; runs are short) */
    for (size_t a = 1; a < out->n; a++) {
        int ca = ground_ccc(out->cp[a]);
        if (!ca) continue;
        for (size_t x = a; x > 0; x--) {
            int cx = ground_ccc(out->cp[x - 1]);
            if (!cx || cx <= ca) break;
            int32_t t = out->cp[x]; out->cp[x] = out->cp[x - 1]; out->cp[x - 1] = t;
            t = out->src[x]; out->src[x] = out->src[x - 1]; out->src[x - 1] = t;
            uint8_t f = out->first[x]; out->first[x] = out->first[x - 1]; out->first[x - 1] = f;
        }
    }
    return 0;
oom:
    ground_text_free(out);
    return -1;
}

void ground_text_free(ground_text *t)
{
    if (!t) return;
    free(t->cp);
    free(t->src);
    free(t->first);
    memset(t, 0, sizeof *t);
}

char *ground_key(const char *s, size_t len)
{
    ground_text t;
    if (ground_normalize(s, len, 1, &t)) return NULL;
    char *o = malloc(t.n * 4 + 1);
    if (o) {
        size_t w = 0;
        for (size_t i = 0; i < t.n; i++) w += (size_t)utf8proc_encode_char(t.cp[i], (utf8proc_uint8_t *)o + w);
        o[w] = 0;
    }
    ground_text_free(&t);
    return o;
}

static int ground_find_norm(const ground_text *hay, const ground_text *nd, ground_span *spans, int cap)
{
    size_t m = nd->n;
    int found = 0;
    if (!m || m > hay->n) return 0;
    for (size_t i = 0; i + m <= hay->n && found < cap;) {
        if (hay->cp[i] != nd->cp[0] || !hay->first[i] || memcmp(hay->cp + i, nd->cp, m * sizeof *nd->cp)) {
            i++;
            continue;
        }
        size_t j = i + m;
        /* whole characters only: "e" must not match the start of "é" */
        if (j < hay->n && (!hay->first[j] || ground_ccc(hay->cp[j]))) {
            i++;
            continue;
        }
        spans[found].start = (size_t)hay->src[i];
        spans[found].end = (size_t)hay->src[j - 1] + 1;
        found++;
        i = j;
    }
    return found;
}

int ground_find(const ground_text *hay, const char *needle, size_t len, ground_span *spans, int cap)
{
    ground_text nd;
    if (ground_normalize(needle, len, 1, &nd)) return -1;
    int n = ground_find_norm(hay, &nd, spans, cap);
    ground_text_free(&nd);
    return n;
}

int ground_doc_init(ground_doc *d, const char *title, size_t title_len, const char *text, size_t text_len)
{
    memset(d, 0, sizeof *d);
    if (ground_normalize(text ? text : "", text ? text_len : 0, 0, &d->text)) return -1;
    d->has_title = title && title_len;
    if (d->has_title && ground_normalize(title, title_len, 0, &d->title)) {
        ground_text_free(&d->text);
        return -1;
    }
    return 0;
}

void ground_doc_free(ground_doc *d)
{
    if (!d) return;
    ground_text_free(&d->text);
    ground_text_free(&d->title);
    d->has_title = 0;
}

/* ------------------------------------------------------------ patterns */

typedef struct ground_walk_t {
    char *path;
    size_t cap;
    ground_each_fn fn;
    void *ud;
} ground_walk_t;

static int ground_walk(ground_walk_t *w, json_t *v, char **seg, int i, int n, size_t plen)
{
    if (i == n) return w->fn(w->ud, w->path, v);
    if (!strcmp(seg[i], "*")) {
        if (!json_is_array(v)) return 0;
        for (size_t k = 0; k < json_array_size(v); k++) {
            int l = snprintf(w->path + plen, w->cap - plen, "/%zu", k);
            int rc = ground_walk(w, json_array_get(v, k), seg, i + 1, n, plen + (size_t)l);
            if (rc) return rc;
        }
        return 0;
    }
    json_t *c = NULL;
    if (json_is_object(v)) c = json_object_get(v, seg[i]);
    else if (json_is_array(v)) {
        char *end;
        unsigned long idx = strtoul(seg[i], &end, 10);
        if (*seg[i] && !*end) c = json_array_get(v, idx);
    }
    if (!c) return 0;
    size_t o = plen;
    w->path[o++] = '/';
    for (const char *s = seg[i]; *s; s++) {
        if (*s == '~') w->path[o++] = '~', w->path[o++] = '0';
        else if (*s == '/') w->path[o++] = '~', w->path[o++] = '1';
        else w->path[o++] = *s;
    }
    w->path[o] = 0;
    return ground_walk(w, c, seg, i + 1, n, o);
}

int ground_each(json_t *x, const char *pattern, ground_each_fn fn, void *ud)
{
    char **seg;
    int n;
    if (spec_ptr_split(pattern, &seg, &n)) return -1;
    /* room for every segment escaped (x2) and every index (20 digits) */
    ground_walk_t w = { NULL, strlen(pattern) * 2 + (size_t)n * 24 + 2, fn, ud };
    if (!(w.path = malloc(w.cap))) { spec_ptr_free(seg, n); return -1; }
    w.path[0] = 0;
    int rc = ground_walk(&w, x, seg, 0, n, 0);
    free(w.path);
    spec_ptr_free(seg, n);
    return rc;
}

/* ---------------------------------------------------------------- checks */

/* value quoted for a message: at most 80 bytes, cut on a character */
static void ground_quote(char *dst, size_t cap, const char *s)
{
    size_t n = strlen(s);
    if (n > 80) {
        n = 80;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--;
        snprintf(dst, cap, "\"%.*s...\"", (int)n, s);
    } else {
        snprintf(dst, cap, "\"%s\"", s);
    }
}

typedef struct ground_chk {
    const ground_doc *d;
    json_t *errors;
    int max, count;
    char **keys;     /* references: normalised targets, sorted */
    size_t n_keys, cap_keys;
    const char *to;
} ground_chk;

static void ground_err(ground_chk *c, const char *msg)
{
    if (c->count++ < c->max && c->errors) json_array_append_new(c->errors, json_string(msg));
}

static int ground_chk_one(void *ud, const char *ptr, json_t *v)
{
    ground_chk *c = ud;
    if (!json_is_string(v)) return 0;
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    ground_text nd;
    if (ground_normalize(s, len, 1, &nd)) return -1;
    ground_span sp;
    /* an empty string claims nothing about the document */
    int ok = nd.n == 0 || ground_find_norm(&c->d->text, &nd, &sp, 1) > 0 ||
             (c->d->has_title && ground_find_norm(&c->d->title, &nd, &sp, 1) > 0);
    ground_text_free(&nd);
    if (!ok) {
        char q[128], msg[700];
        ground_quote(q, sizeof q, s);
        snprintf(msg, sizeof msg, "grounding: %s %s does not occur in the document", ptr, q);
        ground_err(c, msg);
    }
    return 0;
}

int ground_check(const spec *sp, json_t *x, const ground_doc *d, json_t *errors, int max)
{
    ground_chk c = { d, errors, max, 0, NULL, 0, 0, NULL };
    for (int i = 0; i < sp->n_grounding; i++)
        if (ground_each(x, sp->grounding[i].s, ground_chk_one, &c) < 0) ground_err(&c, "grounding: out of memory");
    return c.count;
}

static int ground_add_key(void *ud, const char *ptr, json_t *v)
{
    ground_chk *c = ud;
    (void)ptr;
    if (!json_is_string(v)) return 0;
    if (c->n_keys == c->cap_keys) {
        size_t cap = c->cap_keys ? c->cap_keys * 2 : 16;
        char **k = realloc(c->keys, cap * sizeof *k);
        if (!k) return -1;
        c->keys = k;
        c->cap_keys = cap;
    }
    if (!(c->keys[c->n_keys] = ground_key(json_string_value(v), json_string_length(v)))) return -1;
    c->n_keys++;
    return 0;
}

static int ground_cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int ground_ref_one(void *ud, const char *ptr, json_t *v)
{
    ground_chk *c = ud;
    if (!json_is_string(v)) return 0;
    char *k = ground_key(json_string_value(v), json_string_length(v));
    if (!k) return -1;
    int ok = c->n_keys && bsearch(&k, c->keys, c->n_keys, sizeof *c->keys, ground_cmp_str);
    free(k);
    if (!ok) {
        char q[128], msg[900];
        ground_quote(q, sizeof q, json_string_value(v));
        snprintf(msg, sizeof msg, "references: %s %s is not one of %s", ptr, q, c->to);
        ground_err(c, msg);
    }
    return 0;
}

int ground_check_refs(const spec *sp, json_t *x, json_t *errors, int max)
{
    ground_chk c = { NULL, errors, max, 0, NULL, 0, 0, NULL };
    for (int i = 0; i < sp->n_refs; i++) {
        c.to = sp->refs[i].to;
        int rc = ground_each(x, sp->refs[i].to, ground_add_key, &c);
        if (!rc) {
            if (c.n_keys) qsort(c.keys, c.n_keys, sizeof *c.keys, ground_cmp_str);
            rc = ground_each(x, sp->refs[i].from, ground_ref_one, &c);
        }
        if (rc) ground_err(&c, "references: out of memory");
        for (size_t k = 0; k < c.n_keys; k++) free(c.keys[k]);
        c.n_keys = 0;
    }
    free(c.keys);
    return c.count;
}

/* -------------------------------------------------------------- mentions */

typedef struct ground_men {
    const ground_doc *d;
    json_t *out;
    int max_spans;
    ground_span *spans;
} ground_men;

static int ground_men_one(void *ud, const char *ptr, json_t *v)
{
    ground_men *m = ud;
    if (!json_is_string(v) || !json_string_length(v)) return 0;
    ground_text nd;
    if (ground_normalize(json_string_value(v), json_string_length(v), 1, &nd)) return -1;
    const char *field = "text";
    int n = ground_find_norm(&m->d->text, &nd, m->spans, m->max_spans);
    if (!n && m->d->has_title) {
        n = ground_find_norm(&m->d->title, &nd, m->spans, m->max_spans);
        if (n) field = "title";
    }
    ground_text_free(&nd);
    json_t *o = json_object(), *arr = json_array();
    if (!o || !arr) { json_decref(o); json_decref(arr); return -1; }
    for (int i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("[II]", (json_int_t)m->spans[i].start, (json_int_t)m->spans[i].end));
    json_object_set_new(o, "pointer", json_string(ptr));
    json_object_set(o, "text", v);
    json_object_set_new(o, "field", json_string(field));
    json_object_set_new(o, "spans", arr);
    return json_array_append_new(m->out, o) ? -1 : 0;
}

json_t *ground_mentions(const spec *sp, json_t *x, const ground_doc *d, int max_spans)
{
    ground_men m = { d, json_array(), max_spans > 0 ? max_spans : 1, NULL };
    if (!m.out || !(m.spans = malloc((size_t)m.max_spans * sizeof *m.spans))) {
        json_decref(m.out);
        return NULL;
    }
    for (int i = 0; i < sp->n_grounding; i++)
        if (ground_each(x, sp->grounding[i].s, ground_men_one, &m) < 0) {
            json_decref(m.out);
            m.out = NULL;
            break;
        }
    free(m.spans);
    return m.out;
}
