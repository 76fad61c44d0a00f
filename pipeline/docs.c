/*
 * docs.c - reads the documents of an extraction run from text files,
 * directories, JSONL files and standard input (see docs.h).
 *
 * Inputs are streamed: a JSONL file is read line by line, so a corpus
 * larger than memory goes through with only the documents in flight held.
 * Everything that is wrong with one document is reported on that document
 * and reading goes on.
 */
#include "docs.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <utf8proc.h>

enum { DOC_TEXT, DOC_JSONL, DOC_STDIN };

typedef struct doc_input {
    char *path;
    int kind;
} doc_input;

struct doc_reader {
    doc_input *in;
    int n_in, cap_in, cur;
    FILE *f;             /* the JSONL stream being read, or NULL */
    const char *fpath;
    long line;
    size_t max_bytes;
    size_t index;
    long total;
    char *buf;
    size_t bufcap;
};

const char *doc_check(const char *text, size_t len, size_t max_bytes, char *buf, size_t buflen)
{
    if (!len) return "empty";
    if (max_bytes && len > max_bytes) {
        snprintf(buf, buflen, "oversize: %zu bytes, more than the limit of %zu", len, max_bytes);
        return buf;
    }
    if (memchr(text, 0, len)) return "binary (NUL bytes)";
    int blank = 1;
    for (size_t i = 0; i < len;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t r = utf8proc_iterate((const utf8proc_uint8_t *)text + i, (utf8proc_ssize_t)(len - i), &c);
        if (r < 1) {
            snprintf(buf, buflen, "invalid UTF-8 at byte %zu", i);
            return buf;
        }
        if (blank && !(c == ' ' || (c >= 9 && c <= 13) || c == 0xA0 || c == 0x3000 || c == 0xFEFF)) blank = 0;
        i += (size_t)r;
    }
    return blank ? "empty" : NULL;
}

static int doc_add(doc_reader *r, const char *path, int kind)
{
    if (r->n_in == r->cap_in) {
        int cap = r->cap_in ? r->cap_in * 2 : 16;
        doc_input *in = realloc(r->in, (size_t)cap * sizeof *in);
        if (!in) return -1;
        r->in = in;
        r->cap_in = cap;
    }
    if (!(r->in[r->n_in].path = strdup(path))) return -1;
    r->in[r->n_in++].kind = kind;
    return 0;
}

static int doc_is_jsonl(const char *path)
{
    size_t n = strlen(path);
    return (n > 6 && !strcmp(path + n - 6, ".jsonl")) || (n > 7 && !strcmp(path + n - 7, ".ndjson"));
}

typedef struct doc_paths {
    char **p;
    size_t n, cap;
} doc_paths;

static int doc_walk(const char *dir, doc_paths *out, char *err, size_t errlen, int depth)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "%s: cannot list: %s", dir, strerror(errno));
        return -1;
    }
    if (depth > 64) {
        closedir(d);
        snprintf(err, errlen, "%s: directories nested too deep", dir);
        return -1;
    }
    struct dirent *e;
    int rc = 0;
    while (!rc && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;   /* hidden files, . and .. */
        size_t n = strlen(dir) + strlen(e->d_name) + 2;
        char *p = malloc(n);
        if (!p) { rc = -1; break; }
        snprintf(p, n, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", e->d_name);
        struct stat st;
        /* lstat: a symlinked directory could loop; symlinked files are read */
        if (lstat(p, &st)) {
            free(p);
            continue;
        }
        if (S_ISLNK(st.st_mode) && !stat(p, &st) && S_ISDIR(st.st_mode)) {
            free(p);
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            rc = doc_walk(p, out, err, errlen, depth + 1);
            free(p);
            continue;
        }
        if (!S_ISREG(st.st_mode)) {
            free(p);
            continue;
        }
        if (out->n == out->cap) {
            size_t cap = out->cap ? out->cap * 2 : 64;
            char **np = realloc(out->p, cap * sizeof *np);
            if (!np) { free(p); rc = -1; break; }
            out->p = np;
            out->cap = cap;
        }
        out->p[out->n++] = p;
    }
    closedir(d);
    return rc;
}

static int doc_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static long doc_count_lines(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 1;   /* reading it will report the error as one document */
    long n = 0;
    int c, blank = 1;
    while ((c = getc(f)) != EOF) {
        if (c == '\n') {
            n += !blank;
            blank = 1;
        } else if (!(c == ' ' || c == '\t' || c == '\r')) {
            blank = 0;
        }
    }
    n += !blank;
    fclose(f);
    return n;
}

int doc_reader_open(const char *const *inputs, int n, size_t max_bytes, doc_reader **out, char *err,
                    size_t errlen)
{
    *out = NULL;
    doc_reader *r = calloc(1, sizeof *r);
    if (!r) return -1;
    r->max_bytes = max_bytes;
    int stdin_seen = 0;
    for (int i = 0; i < n; i++) {
        const char *p = inputs[i];
        int rc = 0;
        if (!strcmp(p, "-")) {
            if (stdin_seen++) {
                snprintf(err, errlen, "-: standard input given twice");
                doc_reader_close(r);
                return -1;
            }
            rc = doc_add(r, p, DOC_STDIN);
        } else {
            struct stat st;
            if (stat(p, &st)) {
                snprintf(err, errlen, "%s: %s", p, strerror(errno));
                doc_reader_close(r);
                return -1;
            }
            if (S_ISDIR(st.st_mode)) {
                doc_paths ps = { 0 };
                rc = doc_walk(p, &ps, err, errlen, 0);
                if (!rc) qsort(ps.p, ps.n, sizeof *ps.p, doc_cmp);
                for (size_t k = 0; k < ps.n; k++) {
                    if (!rc) rc = doc_add(r, ps.p[k], doc_is_jsonl(ps.p[k]) ? DOC_JSONL : DOC_TEXT);
                    free(ps.p[k]);
                }
                free(ps.p);
            } else {
                rc = doc_add(r, p, doc_is_jsonl(p) ? DOC_JSONL : DOC_TEXT);
            }
        }
        if (rc) {
            if (!*err) snprintf(err, errlen, "out of memory");
            doc_reader_close(r);
            return -1;
        }
    }
    r->total = 0;
    for (int i = 0; i < r->n_in; i++) {
        if (r->in[i].kind == DOC_STDIN) { r->total = -1; break; }
        r->total += r->in[i].kind == DOC_JSONL ? doc_count_lines(r->in[i].path) : 1;
    }
    *out = r;
    return 0;
}

long doc_reader_total(const doc_reader *r) { return r->total; }

void doc_reader_close(doc_reader *r)
{
    if (!r) return;
    if (r->f && r->f != stdin) fclose(r->f);
    for (int i = 0; i < r->n_in; i++) free(r->in[i].path);
    free(r->in);
    free(r->buf);
    free(r);
}

void doc_free(doc *d)
{
    if (!d) return;
    free(d->id);
    free(d->text);
    free(d->title);
    free(d->url);
    free(d->published_at);
    free(d->lang);
    free(d->error);
    free(d->source);
    free(d);
}

static doc *doc_new(doc_reader *r, const char *source)
{
    doc *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    if (!(d->source = strdup(source))) { free(d); return NULL; }
    d->index = r->index++;
    return d;
}

/* Marks d bad; its id falls back to the source when it has none. */
static int doc_fail(doc *d, const char *reason)
{
    free(d->error);
    if (!(d->error = strdup(reason))) return -1;
    if (!d->id && !(d->id = strdup(d->source))) return -1;
    free(d->text);
    d->text = NULL;
    d->len = 0;
    return 0;
}

/* Reads a whole stream, stopping one byte past max so oversize is known
 * without reading a huge file. */
static char *doc_slurp(FILE *f, size_t max, size_t *len, int *over)
{
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap + 1);
    *over = 0;
    while (b) {
        if (n == cap) {
            char *nb = realloc(b, cap * 2 + 1);
            if (!nb) { free(b); return NULL; }
            b = nb;
            cap *= 2;
        }
        size_t want = cap - n;
        if (max && n + want > max + 1) want = max + 1 - n;
        size_t got = fread(b + n, 1, want, f);
        n += got;
        if (max && n > max) { *over = 1; break; }
        if (got < want) break;
    }
    if (b) b[n] = 0;
    *len = n;
    return b;
}

static int doc_text_file(doc_reader *r, const char *path, FILE *f, doc **out)
{
    doc *d = doc_new(r, path);
    if (!d) return -1;
    *out = d;
    if (!(d->id = strdup(path))) return -1;
    int own = !f;
    if (own && !(f = fopen(path, "rb"))) {
        char m[512];
        snprintf(m, sizeof m, "cannot read: %s", strerror(errno));
        return doc_fail(d, m);
    }
    int over;
    size_t len;
    char *text = doc_slurp(f, r->max_bytes, &len, &over);
    int bad = ferror(f);
    if (own) fclose(f);
    if (!text) return -1;
    d->text = text;
    d->len = len;
    char buf[160];
    const char *why = bad ? "cannot read: I/O error" : NULL;
    if (!why && over) {
        snprintf(buf, sizeof buf, "oversize: more than the limit of %zu bytes", r->max_bytes);
        why = buf;
    }
    if (!why) why = doc_check(text, len, r->max_bytes, buf, sizeof buf);
    return why ? doc_fail(d, why) : 0;
}

static int doc_opt_str(doc *d, json_t *o, const char *key, char **dst)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v)) {
        char m[96];
        snprintf(m, sizeof m, "%s must be a string", key);
        return doc_fail(d, m) ? -1 : 1;
    }
    return (*dst = strdup(json_string_value(v))) ? 0 : -1;
}

static int doc_jsonl_line(doc_reader *r, const char *line, size_t len, doc **out)
{
    char src[1200], m[600];
    snprintf(src, sizeof src, "%s:%ld", r->fpath, r->line);
    doc *d = doc_new(r, src);
    if (!d) return -1;
    *out = d;
    for (size_t i = 0; i < len;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)line + i, (utf8proc_ssize_t)(len - i), &c);
        if (k < 1) {
            snprintf(m, sizeof m, "invalid UTF-8 at byte %zu of the line", i);
            return doc_fail(d, m);
        }
        i += (size_t)k;
    }
    json_error_t je;
    json_t *o = json_loadb(line, len, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &je);
    if (!o) {
        snprintf(m, sizeof m, "malformed JSON line (column %d): %s", je.column, je.text);
        return doc_fail(d, m);
    }
    int rc = 0;
    json_t *id = json_object_get(o, "id"), *text = json_object_get(o, "text");
    if (!json_is_object(o)) {
        rc = doc_fail(d, "malformed JSON line: not an object");
        goto done;
    }
    if (json_is_string(id) && json_string_length(id) && !memchr(json_string_value(id), 0, json_string_length(id))) {
        if (!(d->id = strdup(json_string_value(id)))) { rc = -1; goto done; }
    } else if (json_is_integer(id)) {
        char b[32];
        snprintf(b, sizeof b, "%lld", (long long)json_integer_value(id));
        if (!(d->id = strdup(b))) { rc = -1; goto done; }
    }
    if (!id || json_is_null(id)) {
        rc = doc_fail(d, "missing id");
        goto done;
    }
    if (!d->id) {
        rc = doc_fail(d, "id must be a non-empty string or an integer");
        goto done;
    }
    if (!text || json_is_null(text)) {
        rc = doc_fail(d, "missing text");
        goto done;
    }
    if (!json_is_string(text)) {
        rc = doc_fail(d, "text must be a string");
        goto done;
    }
    {
        int s;
        if ((s = doc_opt_str(d, o, "title", &d->title)) || (s = doc_opt_str(d, o, "url", &d->url)) ||
            (s = doc_opt_str(d, o, "published_at", &d->published_at)) || (s = doc_opt_str(d, o, "lang", &d->lang))) {
            rc = s < 0 ? -1 : 0;
            goto done;
        }
    }
    d->len = json_string_length(text);
    if (!(d->text = malloc(d->len + 1))) { rc = -1; goto done; }
    memcpy(d->text, json_string_value(text), d->len);
    d->text[d->len] = 0;
    {
        char buf[160];
        const char *why = doc_check(d->text, d->len, r->max_bytes, buf, sizeof buf);
        if (why) rc = doc_fail(d, why);
    }
    if (!rc && d->title && !d->title[0]) {
        free(d->title);   /* an empty title is no title */
        d->title = NULL;
    }
done:
    json_decref(o);
    return rc;
}

int doc_reader_next(doc_reader *r, doc **out)
{
    *out = NULL;
    for (;;) {
        if (r->f) {
            ssize_t n = getline(&r->buf, &r->bufcap, r->f);
            if (n < 0) {
                if (r->f != stdin) fclose(r->f);
                r->f = NULL;
                r->cur++;
                continue;
            }
            r->line++;
            size_t len = (size_t)n;
            while (len && (r->buf[len - 1] == '\n' || r->buf[len - 1] == '\r')) len--;
            size_t k = 0;
            while (k < len && (r->buf[k] == ' ' || r->buf[k] == '\t')) k++;
            if (k == len) continue;   /* blank lines separate nothing */
            int rc = doc_jsonl_line(r, r->buf, len, out);
            if (rc) { doc_free(*out); *out = NULL; return -1; }
            return 1;
        }
        if (r->cur >= r->n_in) return 0;
        doc_input *in = &r->in[r->cur];
        if (in->kind == DOC_JSONL) {
            r->fpath = in->path;
            r->line = 0;
            if (!(r->f = fopen(in->path, "rb"))) {
                doc *d = doc_new(r, in->path);
                char m[512];
                snprintf(m, sizeof m, "cannot read: %s", strerror(errno));
                if (!d || doc_fail(d, m)) { doc_free(d); return -1; }
                r->cur++;
                *out = d;
                return 1;
            }
            continue;
        }
        if (in->kind == DOC_STDIN) {
            /* JSONL when the first non-blank byte opens an object; the
             * blanks read to find out belong to a text document */
            int c;
            char ws[4096];
            size_t nws = 0;
            while (nws < sizeof ws && ((c = getc(stdin)) == ' ' || c == '\n' || c == '\r' || c == '\t'))
                ws[nws++] = (char)c;
            if (nws == sizeof ws) c = 0;   /* that many blanks: not JSONL */
            else if (c != EOF) ungetc(c, stdin);
            if (c == '{') {
                r->f = stdin;
                r->fpath = "-";
                r->line = 0;
                continue;
            }
            r->cur++;
            int rc = doc_text_file(r, "-", stdin, out);
            if (!rc && nws && (*out)->text) {
                char *t = malloc((*out)->len + nws + 1);
                if (!t) {
                    rc = -1;
                } else {
                    memcpy(t, ws, nws);
                    memcpy(t + nws, (*out)->text, (*out)->len + 1);
                    free((*out)->text);
                    (*out)->text = t;
                    (*out)->len += nws;
                }
            }
            if (rc) { doc_free(*out); *out = NULL; return -1; }
            return 1;
        }
        r->cur++;
        int rc = doc_text_file(r, in->path, NULL, out);
        if (rc) { doc_free(*out); *out = NULL; return -1; }
        return 1;
    }
}
