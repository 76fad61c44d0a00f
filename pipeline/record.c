/*
 * record.c - builds the JSON records of an extraction run and identifies
 * the model (see record.h for the format).
 *
 * Fields are always present (null when they do not apply) so that
 * consumers can read records without probing for keys.
 */
#include "record.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

int rec_model_identity(const char *path, rec_model *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    XXH3_state_t *st = XXH3_createState();
    size_t cap = 1 << 20;
    char *buf = malloc(cap);
    if (!st || !buf || XXH3_64bits_reset(st) == XXH_ERROR) {
        snprintf(err, errlen, "out of memory hashing %s", path);
        XXH3_freeState(st);
        free(buf);
        fclose(f);
        return -1;
    }
    uint64_t total = 0;
    size_t n;
    while ((n = fread(buf, 1, cap, f)) > 0) {
        XXH3_64bits_update(st, buf, n);
        total += n;
    }
    int bad = ferror(f);
    fclose(f);
    free(buf);
    if (bad) {
        XXH3_freeState(st);
        snprintf(err, errlen, "%s: read error", path);
        return -1;
    }
    snprintf(m->hash, sizeof m->hash, "%016llx", (unsigned long long)XXH3_64bits_digest(st));
    XXH3_freeState(st);
    m->bytes = total;
    const char *base = strrchr(path, '/');
    if (!(m->file = strdup(base ? base + 1 : path))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

void rec_model_free(rec_model *m)
{
    if (!m) return;
    free(m->file);
    m->file = NULL;
}

void rec_attempt_clear(rec_attempt *a)
{
    if (!a) return;
    json_decref(a->errors);
    free(a->output);
    a->errors = NULL;
    a->output = NULL;
}

static json_t *rec_str(const char *s) { return s ? json_string(s) : json_null(); }

static size_t rec_cps(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

json_t *rec_build(const doc *d, const spec *sp, const rec_model *m, const rec_result *r)
{
    json_t *o = json_object();
    if (!o) return NULL;
    int bad = 0;
    bad |= json_object_set_new(o, "id", json_string(d->id ? d->id : ""));
    bad |= json_object_set_new(o, "status", json_string(r->ok ? "ok" : "failed"));
    bad |= json_object_set_new(o, "reason", rec_str(r->ok ? NULL : r->reason ? r->reason : "failed"));
    bad |= json_object_set_new(o, "spec", json_pack("{s:s,s:s}", "name", sp->name, "version", sp->version));
    bad |= json_object_set_new(o, "model", json_pack("{s:s,s:s,s:I}", "file", m->file ? m->file : "", "xxh3_64",
                                                     m->hash, "bytes", (json_int_t)m->bytes));
    bad |= json_object_set_new(o, "mode", r->mode >= 0 ? json_string(spec_mode_name(r->mode)) : json_null());
    bad |= json_object_set_new(o, "extraction", r->extraction ? json_incref(r->extraction) : json_null());
    bad |= json_object_set_new(o, "mentions", r->mentions ? json_incref(r->mentions) : json_array());

    json_t *dj = json_object();
    if (!dj) { json_decref(o); return NULL; }
    bad |= json_object_set_new(dj, "title", rec_str(d->title));
    bad |= json_object_set_new(dj, "url", rec_str(d->url));
    bad |= json_object_set_new(dj, "published_at", rec_str(d->published_at));
    bad |= json_object_set_new(dj, "lang", rec_str(d->lang));
    bad |= json_object_set_new(dj, "source", rec_str(d->source));
    bad |= json_object_set_new(dj, "chars", json_integer((json_int_t)(d->text ? rec_cps(d->text, d->len) : 0)));
    bad |= json_object_set_new(dj, "bytes", json_integer((json_int_t)d->len));
    bad |= json_object_set_new(dj, "chunks", json_integer(r->n_chunks));
    bad |= json_object_set_new(o, "doc", dj);

    json_t *arr = json_array();
    if (!arr) { json_decref(o); return NULL; }
    bad |= json_object_set_new(o, "attempts", arr);
    for (int i = 0; i < r->n_attempts; i++) {
        const rec_attempt *a = &r->attempts[i];
        json_t *aj = json_object();
        if (!aj) { json_decref(o); return NULL; }
        bad |= json_object_set_new(aj, "chunk", json_integer(a->chunk));
        bad |= json_object_set_new(aj, "mode", json_string(spec_mode_name(a->mode)));
        bad |= json_object_set_new(aj, "try", json_integer(a->try_no));
        bad |= json_object_set_new(aj, "constrained", json_boolean(a->constrained));
        bad |= json_object_set_new(aj, "tokens_in", json_integer(a->tokens_in));
        bad |= json_object_set_new(aj, "prefix_cache_hit_tokens", json_integer(a->hit_tokens));
        bad |= json_object_set_new(aj, "tokens_out", json_integer(a->tokens_out));
        bad |= json_object_set_new(aj, "thought_tokens", a->thought_tokens >= 0 ? json_integer(a->thought_tokens) : json_null());
        /* whole milliseconds: a double would print 17 digits of noise */
        bad |= json_object_set_new(aj, "time_ms", json_integer((json_int_t)(a->ms + 0.5)));
        bad |= json_object_set_new(aj, "stop", rec_str(a->stop));
        bad |= json_object_set_new(aj, "ok", json_boolean(a->ok));
        bad |= json_object_set_new(aj, "errors", a->errors ? json_incref(a->errors) : json_array());
        bad |= json_object_set_new(aj, "output", rec_str(a->output));
        bad |= json_array_append_new(arr, aj);
    }
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

char *rec_line(const json_t *rec)
{
    char *s = json_dumps(rec, JSON_COMPACT);
    if (!s) return NULL;
    size_t n = strlen(s);
    char *l = realloc(s, n + 2);
    if (!l) { free(s); return NULL; }
    l[n] = '\n';
    l[n + 1] = 0;
    return l;
}
