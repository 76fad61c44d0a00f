/*
 * test_records.c - checks the JSONL records written by `quarry extract`
 * (used by extract_e2e.sh).
 *
 *   test_records --spec SPEC --records FILE [--corpus JSONL] [--n N]
 *                [--ordered] [--status ok|failed] [--modes no_think,think]
 *                [--thought N] [--hits yes|no] [--bad N]
 *
 * Always: every line parses; every record has every field with the right
 * type; spec and model fields agree across records; ok records have an
 * extraction that validates against the spec's schema, is grounded and
 * meets the references; constrained attempts that completed produced
 * schema-valid JSON; every mention span, checked against the corpus text,
 * covers the mentioned string. Options add expectations for a run.
 */
#include "ground.h"
#include "spec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;
static long lineno;

static void fail(const char *id, const char *what)
{
    fprintf(stderr, "FAIL line %ld (%s): %s\n", lineno, id ? id : "?", what);
    failures++;
}

typedef struct corpus_doc {
    char *id, *text, *title;
} corpus_doc;

static corpus_doc *corpus;
static int n_corpus;

static void load_corpus(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) { perror(path); exit(2); }
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *o = json_loads(line, 0, NULL);
        if (!json_is_object(o)) { json_decref(o); continue; }
        corpus = realloc(corpus, (size_t)(n_corpus + 1) * sizeof *corpus);
        json_t *id = json_object_get(o, "id");
        char idb[64];
        if (json_is_integer(id)) snprintf(idb, sizeof idb, "%lld", (long long)json_integer_value(id));
        corpus[n_corpus].id = strdup(json_is_string(id) ? json_string_value(id) : idb);
        const char *t = json_string_value(json_object_get(o, "text"));
        const char *ti = json_string_value(json_object_get(o, "title"));
        corpus[n_corpus].text = t ? strdup(t) : NULL;
        corpus[n_corpus].title = ti ? strdup(ti) : NULL;
        n_corpus++;
        json_decref(o);
    }
    free(line);
    fclose(f);
}

static const corpus_doc *find_doc(const char *id)
{
    for (int i = 0; i < n_corpus; i++)
        if (!strcmp(corpus[i].id, id)) return &corpus[i];
    return NULL;
}

static char *cp_slice(const char *s, size_t a, size_t b)
{
    size_t i = 0, k = 0, ba = 0;
    while (s[i] && k < b) {
        if (k == a) ba = i;
        i++;
        while (((unsigned char)s[i] & 0xC0) == 0x80) i++;
        k++;
    }
    if (k == a) ba = i;
    if (k < b) return NULL;   /* past the end */
    return strndup(s + ba, i - ba);
}

#define HAS(o, k, test) (json_object_get(o, k) && test(json_object_get(o, k)))
static int is_str_or_null(const json_t *j) { return json_is_string(j) || json_is_null(j); }

int main(int argc, char **argv)
{
    const char *spec_path = NULL, *records = NULL, *status = NULL, *modes = NULL, *hits = NULL;
    const char *chunked = NULL;   /* ID:N: that document has at least N chunks */
    long want_n = -1, want_bad = -1;
    int ordered = 0, thought = -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--spec") && i + 1 < argc) spec_path = argv[++i];
        else if (!strcmp(argv[i], "--records") && i + 1 < argc) records = argv[++i];
        else if (!strcmp(argv[i], "--corpus") && i + 1 < argc) load_corpus(argv[++i]);
        else if (!strcmp(argv[i], "--n") && i + 1 < argc) want_n = atol(argv[++i]);
        else if (!strcmp(argv[i], "--bad") && i + 1 < argc) want_bad = atol(argv[++i]);
        else if (!strcmp(argv[i], "--ordered")) ordered = 1;
        else if (!strcmp(argv[i], "--status") && i + 1 < argc) status = argv[++i];
        else if (!strcmp(argv[i], "--modes") && i + 1 < argc) modes = argv[++i];
        else if (!strcmp(argv[i], "--thought") && i + 1 < argc) thought = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--hits") && i + 1 < argc) hits = argv[++i];
        else if (!strcmp(argv[i], "--chunks") && i + 1 < argc) chunked = argv[++i];
        else { fprintf(stderr, "test_records: bad argument %s\n", argv[i]); return 2; }
    }
    if (!spec_path || !records) { fprintf(stderr, "test_records: --spec and --records are required\n"); return 2; }
    char err[512];
    spec *sp;
    if (spec_load(spec_path, &sp, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 2; }
    FILE *f = fopen(records, "r");
    if (!f) { perror(records); return 2; }

    char *line = NULL, *model_hash = NULL;
    size_t cap = 0;
    long n = 0, n_ok = 0, n_failed = 0, n_bad = 0, n_constrained = 0, n_think_att = 0, n_spans = 0;
    int last_index = -1, chunked_seen = 0;
    while (getline(&line, &cap, f) > 0) {
        lineno++;
        json_error_t je;
        json_t *r = json_loads(line, 0, &je);
        if (!json_is_object(r)) {
            fail(NULL, "line is not a JSON object");
            json_decref(r);
            continue;
        }
        n++;
        const char *id = json_string_value(json_object_get(r, "id"));
        if (!id) fail(NULL, "id missing or not a string");
        const char *st = json_string_value(json_object_get(r, "status"));
        int ok = st && !strcmp(st, "ok");
        if (!st || (!ok && strcmp(st, "failed"))) fail(id, "status is not ok/failed");
        if (!HAS(r, "reason", is_str_or_null) || (!ok && !json_is_string(json_object_get(r, "reason"))) ||
            (ok && !json_is_null(json_object_get(r, "reason"))))
            fail(id, "reason: string when failed, null when ok");
        json_t *spj = json_object_get(r, "spec");
        if (!json_is_object(spj) || !json_is_string(json_object_get(spj, "name")) ||
            strcmp(json_string_value(json_object_get(spj, "name")), sp->name) ||
            strcmp(json_string_value(json_object_get(spj, "version")), sp->version))
            fail(id, "spec name/version");
        json_t *mj = json_object_get(r, "model");
        const char *h = json_string_value(json_object_get(mj, "xxh3_64"));
        if (!json_is_string(json_object_get(mj, "file")) || !h || strlen(h) != 16 ||
            strspn(h, "0123456789abcdef") != 16 || !json_is_integer(json_object_get(mj, "bytes")))
            fail(id, "model file/xxh3_64/bytes");
        else if (!model_hash) model_hash = strdup(h);
        else if (strcmp(model_hash, h)) fail(id, "model hash differs between records");
        json_t *mode = json_object_get(r, "mode");
        if (!mode || (!json_is_null(mode) && !json_is_string(mode))) fail(id, "mode");
        json_t *x = json_object_get(r, "extraction");
        if (ok ? !json_is_object(x) : !json_is_null(x)) fail(id, "extraction: object when ok, null when failed");
        if (ok && !json_is_string(mode)) fail(id, "ok record without mode");
        json_t *men = json_object_get(r, "mentions");
        if (!json_is_array(men)) fail(id, "mentions is not an array");
        json_t *dj = json_object_get(r, "doc");
        static const char *dstr[] = { "title", "url", "published_at", "lang", "source" };
        for (int k = 0; k < 5; k++)
            if (!HAS(dj, dstr[k], is_str_or_null)) fail(id, "doc string fields");
        if (!json_is_integer(json_object_get(dj, "chars")) || !json_is_integer(json_object_get(dj, "bytes")) ||
            !json_is_integer(json_object_get(dj, "chunks")))
            fail(id, "doc chars/bytes/chunks");
        if (chunked && id) {
            const char *colon = strrchr(chunked, ':');
            if (colon && strlen(id) == (size_t)(colon - chunked) && !strncmp(id, chunked, strlen(id))) {
                chunked_seen = 1;
                long nc = (long)json_integer_value(json_object_get(dj, "chunks"));
                int max_chunk = -1;
                size_t k;
                json_t *a;
                json_array_foreach(json_object_get(r, "attempts"), k, a)
                    if (json_integer_value(json_object_get(a, "chunk")) > max_chunk)
                        max_chunk = (int)json_integer_value(json_object_get(a, "chunk"));
                printf("%s: %ld chunks, attempts up to chunk %d\n", id, nc, max_chunk);
                if (nc < atol(colon + 1) || max_chunk != nc - 1) fail(id, "document not chunked as expected");
            }
        }
        json_t *att = json_object_get(r, "attempts");
        if (!json_is_array(att)) { fail(id, "attempts is not an array"); json_decref(r); continue; }
        int bad_doc = json_array_size(att) == 0;
        n_bad += bad_doc;
        if (bad_doc && ok) fail(id, "ok without attempts");
        if (ok) n_ok++;
        else n_failed++;

        /* attempts */
        char seen_modes[256] = "";
        size_t ai;
        json_t *a;
        json_array_foreach(att, ai, a) {
            static const char *ints[] = { "chunk", "try", "tokens_in", "prefix_cache_hit_tokens", "tokens_out" };
            for (int k = 0; k < 5; k++)
                if (!json_is_integer(json_object_get(a, ints[k]))) fail(id, "attempt integer fields");
            const char *am = json_string_value(json_object_get(a, "mode"));
            if (!am || (strcmp(am, "no_think") && strcmp(am, "think"))) fail(id, "attempt mode");
            if (!json_is_boolean(json_object_get(a, "constrained")) || !json_is_boolean(json_object_get(a, "ok")) ||
                !json_is_number(json_object_get(a, "time_ms")) || !json_is_string(json_object_get(a, "stop")) ||
                !json_is_array(json_object_get(a, "errors")) || !HAS(a, "output", is_str_or_null))
                fail(id, "attempt fields");
            json_t *tt = json_object_get(a, "thought_tokens");
            int is_think = am && !strcmp(am, "think");
            if (is_think ? !json_is_integer(tt) : !json_is_null(tt)) fail(id, "thought_tokens: integer for think, null otherwise");
            long hit = (long)json_integer_value(json_object_get(a, "prefix_cache_hit_tokens"));
            long tin = (long)json_integer_value(json_object_get(a, "tokens_in"));
            if (hit < 0 || hit >= tin) fail(id, "prefix_cache_hit_tokens out of 0..tokens_in");
            if (hits && !strcmp(hits, "yes") && hit == 0) fail(id, "expected prefix cache hits");
            if (hits && !strcmp(hits, "no") && hit != 0) fail(id, "expected no prefix cache hits");
            int aok = json_is_true(json_object_get(a, "ok"));
            if (aok != (json_array_size(json_object_get(a, "errors")) == 0)) fail(id, "attempt ok iff no errors");
            if (json_is_true(json_object_get(a, "constrained"))) {
                n_constrained++;
                const char *stop = json_string_value(json_object_get(a, "stop"));
                const char *e0 = json_string_value(json_array_get(json_object_get(a, "errors"), 0));
                /* a finished constrained answer is schema-valid JSON */
                if (stop && (!strcmp(stop, "complete") || !strcmp(stop, "stop_token")) && e0 &&
                    (!strncmp(e0, "output:", 7) || !strncmp(e0, "schema:", 7))) {
                    char m[600];
                    snprintf(m, sizeof m, "constrained attempt ended '%s' but: %s", stop, e0);
                    fail(id, m);
                }
            }
            if (is_think) {
                n_think_att++;
                if (thought >= 0 && json_integer_value(tt) != thought) {
                    char m[128];
                    snprintf(m, sizeof m, "thought_tokens %lld, expected the budget %d", json_integer_value(tt), thought);
                    fail(id, m);
                }
                const char *o = json_string_value(json_object_get(a, "output"));
                if (thought >= 0 && o && !strstr(o, "Considering the limited time by the user"))
                    fail(id, "think output lacks the forced closing text");
            }
            if (json_integer_value(json_object_get(a, "chunk")) == 0 && am && strlen(seen_modes) < 200) {
                if (*seen_modes) strcat(seen_modes, ",");
                strcat(seen_modes, am);
            }
        }
        if (modes && !bad_doc && strcmp(seen_modes, modes)) {
            char m[400];
            snprintf(m, sizeof m, "attempt modes '%s', expected '%s'", seen_modes, modes);
            fail(id, m);
        }
        if (status && !bad_doc && strcmp(st ? st : "", status)) {
            char m[1200];
            snprintf(m, sizeof m, "status %s, expected %s (reason: %s)", st, status,
                     json_string_value(json_object_get(r, "reason")) ? json_string_value(json_object_get(r, "reason")) : "");
            fail(id, m);
        }

        /* an ok extraction passes the spec's checks again */
        if (ok && json_is_object(x)) {
            if (js_validate(sp->validator, x, NULL) != 1) fail(id, "extraction does not validate");
            json_t *errs = json_array();
            if (ground_check_refs(sp, x, errs, 5)) fail(id, "extraction references do not resolve");
            const corpus_doc *cd = id ? find_doc(id) : NULL;
            if (cd && cd->text) {
                ground_doc gd;
                ground_doc_init(&gd, cd->title, cd->title ? strlen(cd->title) : 0, cd->text, strlen(cd->text));
                if (ground_check(sp, x, &gd, errs, 5)) fail(id, "extraction is not grounded in the document");
                ground_doc_free(&gd);
            }
            json_decref(errs);
        }
        /* spans cover exactly what they mention */
        const corpus_doc *cd = id ? find_doc(id) : NULL;
        size_t mi;
        json_t *mo;
        json_array_foreach(men, mi, mo) {
            const char *t = json_string_value(json_object_get(mo, "text"));
            const char *field = json_string_value(json_object_get(mo, "field"));
            json_t *spans = json_object_get(mo, "spans");
            if (!t || !field || !json_is_array(spans) || !json_is_string(json_object_get(mo, "pointer"))) {
                fail(id, "mention fields");
                continue;
            }
            if (!cd) continue;
            const char *src = !strcmp(field, "title") ? cd->title : cd->text;
            size_t si;
            json_t *s;
            json_array_foreach(spans, si, s) {
                char *sl = src ? cp_slice(src, (size_t)json_integer_value(json_array_get(s, 0)),
                                          (size_t)json_integer_value(json_array_get(s, 1)))
                               : NULL;
                char *ka = sl ? ground_key(sl, strlen(sl)) : NULL, *kb = ground_key(t, strlen(t));
                if (!ka || !kb || strcmp(ka, kb)) fail(id, "a mention span does not cover the mentioned text");
                n_spans++;
                free(ka);
                free(kb);
                free(sl);
            }
        }
        if (ordered && cd) {
            int idx = (int)(cd - corpus);
            if (idx <= last_index) fail(id, "records out of input order");
            last_index = idx;
        }
        json_decref(r);
    }
    printf("records: %ld (%ld ok, %ld failed, %ld bad documents), %ld constrained attempts, %ld think attempts, "
           "%ld spans checked\n",
           n, n_ok, n_failed, n_bad, n_constrained, n_think_att, n_spans);
    if (want_n >= 0 && n != want_n) {
        fprintf(stderr, "FAIL: %ld records, expected %ld\n", n, want_n);
        failures++;
    }
    if (chunked && !chunked_seen) {
        fprintf(stderr, "FAIL: no record for %s\n", chunked);
        failures++;
    }
    if (want_bad >= 0 && n_bad != want_bad) {
        fprintf(stderr, "FAIL: %ld bad documents, expected %ld\n", n_bad, want_bad);
        failures++;
    }
    free(line);
    free(model_hash);
    fclose(f);
    spec_free(sp);
    for (int i = 0; i < n_corpus; i++) {
        free(corpus[i].id);
        free(corpus[i].text);
        free(corpus[i].title);
    }
    free(corpus);
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    return 0;
}
