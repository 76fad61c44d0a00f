/*
 * chunk.c - splitting long documents into token-budgeted chunks and merging
 * the chunks' extractions (see chunk.h).
 *
 * The text is first cut into units: sentences, lines and paragraphs, each
 * unit keeping its trailing white space so the units tile the text exactly.
 * Units are counted once and packed greedily; a chunk that would end in the
 * middle of a paragraph ends at the last paragraph boundary instead when
 * that still fills half the budget.
 */
#include "chunk.h"
#include "ground.h"

#include <stdlib.h>
#include <string.h>

typedef struct chunk_unit {
    size_t off, len;
    int para;      /* starts a paragraph */
    int tokens;
} chunk_unit;

typedef struct chunk_units {
    chunk_unit *u;
    int n, cap;
} chunk_units;

static int chunk_push(chunk_units *us, size_t off, size_t len, int para, int tokens)
{
    if (us->n == us->cap) {
        int cap = us->cap ? us->cap * 2 : 64;
        chunk_unit *u = realloc(us->u, (size_t)cap * sizeof *u);
        if (!u) return -1;
        us->u = u;
        us->cap = cap;
    }
    us->u[us->n++] = (chunk_unit){ off, len, para, tokens };
    return 0;
}

static int chunk_is_ws(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

/* Bytes of a closing quote or bracket at p (0 if none): they stay with the
 * sentence they close. */
static size_t chunk_closer(const char *p, size_t left)
{
    unsigned char c = (unsigned char)p[0];
    if (c == '"' || c == '\'' || c == ')' || c == ']') return 1;
    if (left >= 3) {
        const char *cl[] = { "\xE2\x80\x9D", "\xE2\x80\x99", "\xE3\x80\x8D", "\xE3\x80\x8F", "\xEF\xBC\x89", "\xC2\xBB" };
        for (int i = 0; i < 6; i++) {
            size_t n = strlen(cl[i]);
            if (left >= n && !memcmp(p, cl[i], n)) return n;
        }
    } else if (left >= 2 && !memcmp(p, "\xC2\xBB", 2)) {
        return 2;
    }
    return 0;
}

/* Bytes of a full-width sentence end at p (。！？), else 0. */
static size_t chunk_cjk_end(const char *p, size_t left)
{
    if (left < 3) return 0;
    if (!memcmp(p, "\xE3\x80\x82", 3) || !memcmp(p, "\xEF\xBC\x81", 3) || !memcmp(p, "\xEF\xBC\x9F", 3)) return 3;
    return 0;
}

/* Cuts text into units. Returns 0 or -1. */
static int chunk_units_of(const char *t, size_t len, chunk_units *us)
{
    size_t start = 0, i = 0;
    int para = 1;
    while (i < len) {
        size_t end = 0;   /* end of the sentence mark (incl. closers), 0: none here */
        size_t cj;
        if (t[i] == '.' || t[i] == '!' || t[i] == '?') {
            size_t j = i + 1;
            while (j < len && (t[j] == '.' || t[j] == '!' || t[j] == '?')) j++;   /* "?!", "..." */
            size_t c;
            while (j < len && (c = chunk_closer(t + j, len - j))) j += c;
            if (j == len || chunk_is_ws((unsigned char)t[j])) end = j;
        } else if ((cj = chunk_cjk_end(t + i, len - i))) {
            size_t j = i + cj, c;
            while (j < len && ((c = chunk_cjk_end(t + j, len - j)) || (c = chunk_closer(t + j, len - j)))) j += c;
            end = j;
        } else if (t[i] == '\n') {
            end = i;
        }
        if (!end) {
            i++;
            continue;
        }
        /* the white space after the end belongs to the unit; two line
         * breaks in it make the next unit a new paragraph */
        size_t j = end;
        int nl = 0;
        while (j < len && chunk_is_ws((unsigned char)t[j])) nl += t[j++] == '\n';
        if (j > start && chunk_push(us, start, j - start, para, 0)) return -1;
        para = nl >= 2;
        start = i = j;
    }
    if (start < len && chunk_push(us, start, len - start, para, 0)) return -1;
    return 0;
}

/* A unit over the budget is cut in two near its middle, at a space if one
 * is near, else on a character boundary, until the pieces fit. */
static int chunk_hard(const char *t, size_t off, size_t len, int para, int max, chunk_count_fn count, void *ud,
                      chunk_units *out, int depth)
{
    int tk = count(ud, t + off, len);
    if (tk < 0) return -1;
    if (tk <= max || len < 8 || depth > 60) return chunk_push(out, off, len, para, tk);
    size_t mid = off + len / 2, cut = 0;
    for (size_t d = 0; d < len / 4 && !cut; d++) {
        if (mid + d < off + len && t[mid + d] == ' ') cut = mid + d + 1;
        else if (mid - d > off && t[mid - d] == ' ') cut = mid - d + 1;
    }
    if (!cut) {
        cut = mid;
        while (cut > off + 1 && ((unsigned char)t[cut] & 0xC0) == 0x80) cut--;
    }
    if (chunk_hard(t, off, cut - off, para, max, count, ud, out, depth + 1)) return -1;
    return chunk_hard(t, cut, off + len - cut, 0, max, count, ud, out, depth + 1);
}

static size_t chunk_cps(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

int chunk_split(const char *text, size_t len, int max_tokens, int overlap_tokens, chunk_count_fn count, void *ud,
                chunk_span **out, int *n_out)
{
    *out = NULL;
    *n_out = 0;
    int whole = count(ud, text, len);
    if (whole < 0) return -1;
    if (whole <= max_tokens) {
        chunk_span *c = malloc(sizeof *c);
        if (!c) return -1;
        size_t cps = chunk_cps(text, len);
        *c = (chunk_span){ 0, len, 0, cps };
        *out = c;
        *n_out = 1;
        return 0;
    }
    chunk_units raw = { 0 }, us = { 0 };
    chunk_span *cs = NULL;
    int ncs = 0, rc = -1;
    if (chunk_units_of(text, len, &raw)) goto done;
    for (int i = 0; i < raw.n; i++)
        if (chunk_hard(text, raw.u[i].off, raw.u[i].len, raw.u[i].para, max_tokens, count, ud, &us, 0)) goto done;
    if (!(cs = malloc((size_t)us.n * sizeof *cs))) goto done;
    for (int i = 0; i < us.n;) {
        int j = i, sum = 0;
        while (j < us.n && sum + us.u[j].tokens <= max_tokens) sum += us.u[j++].tokens;
        if (j == i) j = i + 1;
        if (j < us.n) {
            /* end at the last paragraph start that keeps half the budget */
            int acc = 0, best = -1;
            for (int k = i; k < j; k++) {
                if (k > i && us.u[k].para && acc >= max_tokens / 2) best = k;
                acc += us.u[k].tokens;
            }
            if (best > 0) j = best;
        }
        size_t a = us.u[i].off, b = us.u[j - 1].off + us.u[j - 1].len;
        while (b > a && chunk_is_ws((unsigned char)text[b - 1])) b--;
        cs[ncs++] = (chunk_span){ a, b - a, 0, 0 };
        if (j >= us.n) break;
        int s = j, ov = 0;
        while (s - 1 > i && ov + us.u[s - 1].tokens <= overlap_tokens) ov += us.u[--s].tokens;
        i = s;
    }
    /* code point offsets, in one pass since chunks start in order */
    size_t pos = 0, cp = 0;
    for (int k = 0; k < ncs; k++) {
        cp += chunk_cps(text + pos, cs[k].off - pos);
        pos = cs[k].off;
        cs[k].cp_off = cp;
        cs[k].cp_len = chunk_cps(text + cs[k].off, cs[k].len);
    }
    *out = cs;
    *n_out = ncs;
    cs = NULL;
    rc = 0;
done:
    free(cs);
    free(raw.u);
    free(us.u);
    return rc;
}

/* ----------------------------------------------------------------- merge */

/* The identity of an item under a rule: its normalised key values joined
 * by U+001F. */
static char *chunk_item_key(const spec_merge *m, json_t *item)
{
    size_t cap = 64, n = 0;
    char *k = malloc(cap);
    if (!k) return NULL;
    k[0] = 0;
    for (int i = 0; i < m->n_key; i++) {
        json_t *v = NULL;
        char **seg;
        int ns;
        if (!spec_ptr_split(m->key[i].s, &seg, &ns)) {
            v = item;
            for (int s = 0; s < ns && v; s++) v = json_object_get(v, seg[s]);
            spec_ptr_free(seg, ns);
        }
        char *part = !v ? strdup("") : json_is_string(v) ? ground_key(json_string_value(v), json_string_length(v))
                                                         : json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        if (!part) { free(k); return NULL; }
        size_t pl = strlen(part);
        if (n + pl + 2 > cap) {
            while (n + pl + 2 > cap) cap *= 2;
            char *nk = realloc(k, cap);
            if (!nk) { free(part); free(k); return NULL; }
            k = nk;
        }
        memcpy(k + n, part, pl);
        n += pl;
        k[n++] = 0x1f;
        k[n] = 0;
        free(part);
    }
    return k;
}

static char *chunk_canon(json_t *v)
{
    if (json_is_string(v)) return ground_key(json_string_value(v), json_string_length(v));
    return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

/* Appends the items of src to dst that dst does not have (canonically). */
static int chunk_union(json_t *dst, json_t *src)
{
    size_t i;
    json_t *v;
    json_array_foreach(src, i, v) {
        char *c = chunk_canon(v);
        if (!c) return -1;
        int dup = 0;
        for (size_t k = 0; k < json_array_size(dst) && !dup; k++) {
            char *d = chunk_canon(json_array_get(dst, k));
            if (!d) { free(c); return -1; }
            dup = !strcmp(c, d);
            free(d);
        }
        free(c);
        if (!dup && json_array_append(dst, v)) return -1;
    }
    return 0;
}

static json_t *chunk_get_rel(json_t *item, const char *rel, json_t **parent, char **last)
{
    char **seg;
    int ns;
    if (spec_ptr_split(rel, &seg, &ns) || !ns) return NULL;
    json_t *v = item;
    for (int s = 0; s < ns - 1 && v; s++) v = json_object_get(v, seg[s]);
    json_t *r = v ? json_object_get(v, seg[ns - 1]) : NULL;
    if (parent) *parent = v;
    if (last) *last = strdup(seg[ns - 1]);
    spec_ptr_free(seg, ns);
    return r;
}

static int chunk_merge_keyed(const spec_merge *m, json_t *dst, json_t *src)
{
    size_t i;
    json_t *item;
    json_array_foreach(src, i, item) {
        char *key = chunk_item_key(m, item);
        if (!key) return -1;
        json_t *same = NULL;
        for (size_t k = 0; k < json_array_size(dst) && !same; k++) {
            char *dk = chunk_item_key(m, json_array_get(dst, k));
            if (!dk) { free(key); return -1; }
            if (!strcmp(key, dk)) same = json_array_get(dst, k);
            free(dk);
        }
        free(key);
        if (!same) {
            if (json_array_append(dst, item)) return -1;
            continue;
        }
        /* one item: join the unite arrays, fill fields only one of them has */
        for (int u = 0; u < m->n_unite; u++) {
            json_t *parent = NULL;
            char *last = NULL;
            json_t *from = chunk_get_rel(item, m->unite[u].s, NULL, NULL);
            json_t *to = chunk_get_rel(same, m->unite[u].s, &parent, &last);
            int rc = 0;
            if (json_is_array(from)) {
                if (json_is_array(to)) rc = chunk_union(to, from);
                else if (json_is_object(parent) && last) rc = json_object_set_new(parent, last, json_deep_copy(from));
            }
            free(last);
            if (rc) return -1;
        }
        const char *f;
        json_t *v;
        json_object_foreach(item, f, v)
            if (!json_object_get(same, f) && json_object_set(same, f, v)) return -1;
    }
    return 0;
}

static const spec_merge *chunk_rule(const spec *sp, const char *ptr)
{
    for (int i = 0; i < sp->n_merges; i++)
        if (!strcmp(sp->merges[i].array, ptr)) return &sp->merges[i];
    return NULL;
}

/* Merges src into dst (both objects); ptr is dst's pointer. */
static int chunk_merge_obj(const spec *sp, json_t *dst, json_t *src, const char *ptr)
{
    const char *key;
    json_t *sv;
    json_object_foreach(src, key, sv) {
        json_t *dv = json_object_get(dst, key);
        if (!dv || json_is_null(dv)) {
            if (json_object_set_new(dst, key, json_deep_copy(sv))) return -1;
            continue;
        }
        size_t pl = strlen(ptr) + strlen(key) * 2 + 2;
        char *p = malloc(pl);
        if (!p) return -1;
        size_t o = (size_t)snprintf(p, pl, "%s/", ptr);
        for (const char *c = key; *c; c++) {
            if (*c == '~') p[o++] = '~', p[o++] = '0';
            else if (*c == '/') p[o++] = '~', p[o++] = '1';
            else p[o++] = *c;
        }
        p[o] = 0;
        int rc = 0;
        if (json_is_array(dv) && json_is_array(sv)) {
            const spec_merge *m = chunk_rule(sp, p);
            json_t *copy = json_deep_copy(sv);
            rc = !copy ? -1 : m ? chunk_merge_keyed(m, dv, copy) : chunk_union(dv, copy);
            json_decref(copy);
        } else if (json_is_object(dv) && json_is_object(sv)) {
            rc = chunk_merge_obj(sp, dv, sv, p);
        } else if (json_is_string(dv) && !json_string_length(dv) && json_is_string(sv)) {
            rc = json_object_set(dst, key, sv);
        }
        free(p);
        if (rc) return -1;
    }
    return 0;
}

/* Cuts arrays to the schema's maxItems; pat is the pattern of v ("*" for
 * indices) so that the schema can be looked up. */
static void chunk_cap(const spec *sp, json_t *v, char *pat, size_t plen, size_t cap)
{
    if (json_is_array(v)) {
        const json_t *s = spec_schema_at(sp, plen ? pat : "");
        json_t *mx = s ? json_object_get(s, "maxItems") : NULL;
        if (json_is_integer(mx) && json_integer_value(mx) >= 0)
            while (json_array_size(v) > (size_t)json_integer_value(mx)) json_array_remove(v, json_array_size(v) - 1);
        if (plen + 3 >= cap) return;
        memcpy(pat + plen, "/*", 3);
        for (size_t i = 0; i < json_array_size(v); i++) chunk_cap(sp, json_array_get(v, i), pat, plen + 2, cap);
        pat[plen] = 0;
    } else if (json_is_object(v)) {
        const char *k;
        json_t *c;
        json_object_foreach(v, k, c) {
            size_t o = plen;
            if (o + strlen(k) * 2 + 2 >= cap) continue;
            pat[o++] = '/';
            for (const char *x = k; *x; x++) {
                if (*x == '~') pat[o++] = '~', pat[o++] = '0';
                else if (*x == '/') pat[o++] = '~', pat[o++] = '1';
                else pat[o++] = *x;
            }
            pat[o] = 0;
            chunk_cap(sp, c, pat, o, cap);
            pat[plen] = 0;
        }
    }
}

typedef struct chunk_refctx {
    char **keys;
    size_t n, cap;
    const char *rest;   /* item-relative pointer of the referring string */
} chunk_refctx;

static int chunk_collect(void *ud, const char *ptr, json_t *v)
{
    chunk_refctx *r = ud;
    (void)ptr;
    if (!json_is_string(v)) return 0;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        char **k = realloc(r->keys, cap * sizeof *k);
        if (!k) return -1;
        r->keys = k;
        r->cap = cap;
    }
    if (!(r->keys[r->n] = ground_key(json_string_value(v), json_string_length(v)))) return -1;
    r->n++;
    return 0;
}

static int chunk_prune_arr(void *ud, const char *ptr, json_t *arr)
{
    chunk_refctx *r = ud;
    (void)ptr;
    if (!json_is_array(arr)) return 0;
    for (size_t i = json_array_size(arr); i-- > 0;) {
        json_t *v = *r->rest ? chunk_get_rel(json_array_get(arr, i), r->rest, NULL, NULL) : json_array_get(arr, i);
        if (!json_is_string(v)) continue;
        char *k = ground_key(json_string_value(v), json_string_length(v));
        if (!k) return -1;
        int found = 0;
        for (size_t j = 0; j < r->n && !found; j++) found = !strcmp(k, r->keys[j]);
        free(k);
        if (!found) json_array_remove(arr, i);
    }
    return 0;
}

/* Drops the items whose `from` string names nothing left after capping. */
static int chunk_prune_refs(const spec *sp, json_t *x)
{
    for (int i = 0; i < sp->n_refs; i++) {
        const char *from = sp->refs[i].from;
        const char *star = NULL;
        for (const char *p = strstr(from, "/*"); p; p = strstr(p + 1, "/*"))
            if (p[2] == '/' || !p[2]) star = p;
        if (!star) continue;
        chunk_refctx r = { NULL, 0, 0, star + 2 };
        char *arr = strndup(from, (size_t)(star - from));
        int rc = !arr ? -1 : ground_each(x, sp->refs[i].to, chunk_collect, &r);
        if (!rc) rc = *arr ? ground_each(x, arr, chunk_prune_arr, &r) : chunk_prune_arr(&r, "", x);
        free(arr);
        for (size_t k = 0; k < r.n; k++) free(r.keys[k]);
        free(r.keys);
        if (rc) return -1;
    }
    return 0;
}

json_t *chunk_merge(const spec *sp, json_t *const *parts, int n)
{
    json_t *out = NULL;
    for (int i = 0; i < n; i++) {
        if (!json_is_object(parts[i])) continue;
        if (!out) {
            if (!(out = json_deep_copy(parts[i]))) return NULL;
        } else if (chunk_merge_obj(sp, out, parts[i], "")) {
            json_decref(out);
            return NULL;
        }
    }
    if (!out) return json_object();
    char pat[1024] = "";
    chunk_cap(sp, out, pat, 0, sizeof pat);
    if (chunk_prune_refs(sp, out)) {
        json_decref(out);
        return NULL;
    }
    return out;
}
