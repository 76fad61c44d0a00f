/*
 * cmd_tokenize.c - `quarry tokenize --model FILE [--lines] [--threads N]
 * [--decode]`: prints the token ids of text, the way the parity tests and
 * anyone debugging a prompt want to see them.
 *
 *  - default: all of stdin, byte for byte (a trailing newline is part of
 *    the text), is one text; its ids are printed on one line, separated
 *    by spaces.
 *  - --lines: each input line is one JSON string (JSON escapes, including
 *    \u surrogate pairs and \u0000, are decoded); one JSON array of ids is
 *    printed per line, in input order. A line that is not a JSON string is
 *    a usage error (exit 2) naming the line number, reported before any
 *    output. --threads N tokenizes the lines on N threads.
 *  - --decode (with --lines): prints {"ids":[...],"text":"..."} per line,
 *    text being the concatenated bytes of the ids (qe_token_bytes), so a
 *    test can check the round trip; "text" is null if those bytes are not
 *    valid UTF-8.
 */
#include "cli.h"
#include "commands.h"
#include "qengine.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *s;         /* the decoded line, later replaced by the output line */
    size_t n;
} tk_line;

typedef struct {
    const qe_model *m;
    tk_line *lines;
    size_t n_lines;
    int decode;
    size_t next;     /* next line to take, under mu */
    pthread_mutex_t mu;
    int failed;      /* first error code seen */
} tk_work;

/* Tokenizes s[0..n) into a growing buffer; returns the count or < 0. */
static int tk_encode(const qe_model *m, const char *s, size_t n, qe_token **ids, int *cap)
{
    for (;;) {
        int r = qe_tokenize(m, s, n, *ids, *cap);
        if (r < 0 || r <= *cap) return r;
        qe_token *p = realloc(*ids, (size_t)r * sizeof *p);
        if (!p) return QE_ENOMEM;
        *ids = p;
        *cap = r;
    }
}

/* Appends to a growing string buffer; -1 on OOM. */
static int tk_put(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap : 256;
        while (c < *len + n + 1) c *= 2;
        char *p = realloc(*buf, c);
        if (!p) return -1;
        *buf = p;
        *cap = c;
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = 0;
    return 0;
}

/* Formats one output line for text s: "[ids]\n" or the --decode object. */
static int tk_format(const qe_model *m, const char *s, size_t n, int decode, char **out, size_t *outn)
{
    qe_token *ids = NULL;
    int cap = 0, rc = 0;
    int k = tk_encode(m, s, n, &ids, &cap);
    if (k < 0) { free(ids); return k; }
    char *buf = NULL, num[16];
    size_t len = 0, bcap = 0;
    if (decode && tk_put(&buf, &len, &bcap, "{\"ids\":", 7)) goto oom;
    if (tk_put(&buf, &len, &bcap, "[", 1)) goto oom;
    for (int i = 0; i < k; i++) {
        int w = snprintf(num, sizeof num, i ? ",%d" : "%d", (int)ids[i]);
        if (tk_put(&buf, &len, &bcap, num, (size_t)w)) goto oom;
    }
    if (tk_put(&buf, &len, &bcap, "]", 1)) goto oom;
    if (decode) {
        char *text = NULL;
        size_t tl = 0, tc = 0;
        for (int i = 0; i < k; i++) {
            size_t bl;
            const char *b = qe_token_bytes(m, ids[i], &bl);
            if (b && tk_put(&text, &tl, &tc, b, bl)) { free(text); goto oom; }
        }
        json_t *js = json_stringn(text ? text : "", tl);   /* NULL if not UTF-8 */
        char *dump = js ? json_dumps(js, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
        json_decref(js);
        free(text);
        int bad = tk_put(&buf, &len, &bcap, ",\"text\":", 8) ||
                  tk_put(&buf, &len, &bcap, dump ? dump : "null", dump ? strlen(dump) : 4) ||
                  tk_put(&buf, &len, &bcap, "}", 1);
        free(dump);
        if (bad) goto oom;
    }
    if (tk_put(&buf, &len, &bcap, "\n", 1)) goto oom;
    free(ids);
    *out = buf;
    *outn = len;
    return 0;
oom:
    rc = QE_ENOMEM;
    free(ids);
    free(buf);
    return rc;
}

static void *tk_worker(void *arg)
{
    tk_work *w = arg;
    for (;;) {
        pthread_mutex_lock(&w->mu);
        size_t i = w->next++;
        int stop = w->failed;
        pthread_mutex_unlock(&w->mu);
        if (i >= w->n_lines || stop) break;
        char *out;
        size_t outn;
        int rc = tk_format(w->m, w->lines[i].s, w->lines[i].n, w->decode, &out, &outn);
        if (rc) {
            pthread_mutex_lock(&w->mu);
            if (!w->failed) w->failed = rc;
            pthread_mutex_unlock(&w->mu);
            break;
        }
        free(w->lines[i].s);
        w->lines[i].s = out;
        w->lines[i].n = outn;
    }
    return NULL;
}

/* Reads stdin as JSON-string lines into *lines. Returns 0, 2 (bad line,
 * message printed) or 1 (I/O or memory). */
static int tk_read_lines(tk_line **lines, size_t *n_lines)
{
    char *line = NULL;
    size_t lcap = 0, cap = 0, n = 0;
    ssize_t got;
    long lineno = 0;
    tk_line *v = NULL;
    int rc = 0;
    while ((got = getline(&line, &lcap, stdin)) >= 0) {
        lineno++;
        json_error_t je;
        json_t *j = json_loadb(line, (size_t)got, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
        if (!j || !json_is_string(j)) {
            fprintf(stderr, "quarry tokenize: stdin line %ld: expected one JSON string per line%s%s\n",
                    lineno, j ? "" : ": ", j ? "" : je.text);
            json_decref(j);
            rc = 2;
            break;
        }
        if (n == cap) {
            size_t c = cap ? 2 * cap : 1024;
            tk_line *p = realloc(v, c * sizeof *p);
            if (!p) { json_decref(j); rc = 1; break; }
            v = p;
            cap = c;
        }
        size_t sl = json_string_length(j);
        char *s = malloc(sl + 1);
        if (!s) { json_decref(j); rc = 1; break; }
        memcpy(s, json_string_value(j), sl + 1);
        json_decref(j);
        v[n++] = (tk_line){ s, sl };
    }
    free(line);
    if (!rc && ferror(stdin)) {
        fprintf(stderr, "quarry tokenize: stdin: read error\n");
        rc = 1;
    }
    if (rc == 1 && !ferror(stdin)) fprintf(stderr, "quarry tokenize: out of memory\n");
    if (rc) {
        for (size_t i = 0; i < n; i++) free(v[i].s);
        free(v);
        return rc;
    }
    *lines = v;
    *n_lines = n;
    return 0;
}

static int tk_lines(const qe_model *m, int n_threads, int decode)
{
    tk_line *lines = NULL;
    size_t n = 0;
    int rc = tk_read_lines(&lines, &n);
    if (rc) return rc;

    tk_work w = { .m = m, .lines = lines, .n_lines = n, .decode = decode };
    pthread_mutex_init(&w.mu, NULL);
    if (n_threads > 1 && (size_t)n_threads > n) n_threads = n ? (int)n : 1;
    pthread_t *th = n_threads > 1 ? calloc((size_t)n_threads, sizeof *th) : NULL;
    int started = 0;
    for (int t = 0; th && t < n_threads; t++) {
        if (pthread_create(&th[t], NULL, tk_worker, &w)) break;
        started++;
    }
    if (!started) tk_worker(&w);   /* one thread, or threads unavailable */
    for (int t = 0; t < started; t++) pthread_join(th[t], NULL);
    free(th);
    pthread_mutex_destroy(&w.mu);

    if (w.failed) {
        fprintf(stderr, "quarry tokenize: tokenization failed (code %d)\n", w.failed);
        rc = 1;
    } else {
        for (size_t i = 0; i < n; i++) {
            if (fwrite(lines[i].s, 1, lines[i].n, stdout) != lines[i].n) { rc = 1; break; }
        }
        if (fflush(stdout)) rc = 1;
        if (rc) fprintf(stderr, "quarry tokenize: stdout: write error\n");
    }
    for (size_t i = 0; i < n; i++) free(lines[i].s);
    free(lines);
    return rc;
}

static int tk_whole(const qe_model *m)
{
    size_t len;
    char *text = cli_read_file("tokenize", "-", &len);
    if (!text) return 1;
    qe_token *ids = NULL;
    int cap = 0;
    int k = tk_encode(m, text, len, &ids, &cap);
    free(text);
    if (k < 0) {
        fprintf(stderr, "quarry tokenize: tokenization failed (code %d)\n", k);
        free(ids);
        return 1;
    }
    for (int i = 0; i < k; i++) printf(i ? " %d" : "%d", (int)ids[i]);
    printf("\n");
    free(ids);
    if (fflush(stdout)) {
        fprintf(stderr, "quarry tokenize: stdout: write error\n");
        return 1;
    }
    return 0;
}

int cmd_tokenize(int argc, char **argv)
{
    const char *path = NULL;
    int lines = 0, threads = 1, decode = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--model")) {
            if (cli_str("tokenize", argc, argv, &i, &path)) return 2;
        } else if (!strcmp(argv[i], "--lines")) {
            lines = 1;
        } else if (!strcmp(argv[i], "--decode")) {
            decode = 1;
        } else if (!strcmp(argv[i], "--threads")) {
            if (cli_int("tokenize", argc, argv, &i, 1, 512, &threads)) return 2;
        } else if (!strcmp(argv[i], "--help")) {
            printf("usage: quarry tokenize --model FILE [--lines [--decode]] [--threads N]\n"
                   "  stdin is one UTF-8 text; prints its token ids on one line.\n"
                   "  --lines    stdin has one JSON string per line; prints one JSON array per line\n"
                   "  --decode   with --lines: print {\"ids\":[...],\"text\":\"<bytes of the ids>\"}\n"
                   "  --threads  tokenize --lines input on N threads (output order is kept)\n"
                   "Invalid UTF-8 is tokenized as U+FFFD, one per ill-formed subpart.\n");
            return 0;
        } else {
            fprintf(stderr, "quarry tokenize: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "quarry tokenize: --model FILE is required\n");
        return 2;
    }
    if (decode && !lines) {
        fprintf(stderr, "quarry tokenize: --decode needs --lines\n");
        return 2;
    }
    char err[512];
    qe_model *m;
    qe_model_params mp = qe_model_default_params();
    mp.file_layout = 1;   /* no matrix is used: repacking would only cost time */
    mp.n_threads = threads;
    if (qe_model_load(path, mp, &m, err, sizeof err)) {
        fprintf(stderr, "quarry tokenize: %s\n", err);
        return 1;
    }
    int rc = lines ? tk_lines(m, threads, decode) : tk_whole(m);
    qe_model_free(m);
    return rc;
}
