/*
 * tok_tool.c - test driver for the tokenizer without a model file: builds
 * the vocabulary from tokenizer.json (tok_json.c) or from a GGUF's
 * tokenizer keys, and speaks the same line protocol as `quarry tokenize`,
 * so the parity script can run against either. Also the benchmark.
 *
 *   tok_tool (--json FILE | --gguf FILE) [--lines [--decode]]
 *   tok_tool (--json FILE | --gguf FILE) --bench FILE [--repeat N] [--threads N]
 */
#include "tok_json.h"
#include "tokenizer.h"
#include "gguf.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int32_t *tt_ids;
static int tt_cap;

static int tt_encode(const tok_vocab *v, const char *s, size_t n)
{
    for (;;) {
        int r = tok_encode(v, s, n, tt_ids, tt_cap);
        if (r < 0 || r <= tt_cap) return r;
        int32_t *p = realloc(tt_ids, (size_t)r * sizeof *p);
        if (!p) return -2;
        tt_ids = p;
        tt_cap = r;
    }
}

static char *tt_read_all(FILE *f, size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            char *p = realloc(buf, cap *= 2);
            if (!p) { free(buf); return NULL; }
            buf = p;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (!r) break;
    }
    if (buf) buf[n] = 0;
    *len = n;
    return buf;
}

static int tt_lines(const tok_vocab *v, int decode)
{
    char *line = NULL;
    size_t lcap = 0;
    ssize_t got;
    long lineno = 0;
    while ((got = getline(&line, &lcap, stdin)) >= 0) {
        lineno++;
        json_error_t je;
        json_t *j = json_loadb(line, (size_t)got, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
        if (!j || !json_is_string(j)) {
            fprintf(stderr, "tok_tool: stdin line %ld: expected one JSON string per line\n", lineno);
            return 2;
        }
        int k = tt_encode(v, json_string_value(j), json_string_length(j));
        json_decref(j);
        if (k < 0) { fprintf(stderr, "tok_tool: line %ld: encode failed (%d)\n", lineno, k); return 1; }
        if (decode) printf("{\"ids\":");
        putchar('[');
        for (int i = 0; i < k; i++) printf(i ? ",%d" : "%d", tt_ids[i]);
        putchar(']');
        if (decode) {
            size_t tl = 0;
            for (int i = 0; i < k; i++) { size_t bl; tok_bytes(v, tt_ids[i], &bl); tl += bl; }
            char *t = malloc(tl + 1);
            size_t o = 0;
            for (int i = 0; t && i < k; i++) {
                size_t bl;
                const char *b = tok_bytes(v, tt_ids[i], &bl);
                memcpy(t + o, b, bl);
                o += bl;
            }
            json_t *js = t ? json_stringn(t, o) : NULL;
            char *d = js ? json_dumps(js, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
            printf(",\"text\":%s}", d ? d : "null");
            free(d);
            json_decref(js);
            free(t);
        }
        putchar('\n');
    }
    free(line);
    return 0;
}

typedef struct {
    const tok_vocab *v;
    const char *text;
    size_t len;
    int repeat;
    long long tokens;
} tt_bench_arg;

static void *tt_bench_thread(void *p)
{
    tt_bench_arg *a = p;
    int cap = (int)(a->len + 16);
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    for (int r = 0; ids && r < a->repeat; r++) {
        /* Encode line by line, like prompts and documents arrive. */
        const char *s = a->text, *end = a->text + a->len;
        while (s < end) {
            const char *e = memchr(s, '\n', (size_t)(end - s));
            e = e ? e + 1 : end;
            int k = tok_encode(a->v, s, (size_t)(e - s), ids, cap);
            if (k > 0) a->tokens += k;
            s = e;
        }
    }
    free(ids);
    return NULL;
}

static double tt_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int tt_bench(const tok_vocab *v, const char *path, int repeat, int threads)
{
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); return 1; }
    size_t len;
    char *text = tt_read_all(f, &len);
    fclose(f);
    if (!text) return 1;
    tt_bench_arg args[64];
    pthread_t th[64];
    if (threads > 64) threads = 64;
    double t0 = tt_now();
    for (int t = 0; t < threads; t++) {
        args[t] = (tt_bench_arg){ v, text, len, repeat, 0 };
        pthread_create(&th[t], NULL, tt_bench_thread, &args[t]);
    }
    long long tokens = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(th[t], NULL);
        tokens += args[t].tokens;
    }
    double dt = tt_now() - t0;
    printf("tokenizer bench: %.2f MB x %d x %d thread(s): %lld tokens in %.3f s = %.2f M tokens/s, %.1f MB/s\n",
           len / 1e6, repeat, threads, tokens, dt, tokens / dt / 1e6, (double)len * repeat * threads / dt / 1e6);
    free(text);
    return 0;
}

int main(int argc, char **argv)
{
    const char *json = NULL, *gguf = NULL, *bench = NULL;
    int lines = 0, decode = 0, repeat = 1, threads = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json") && i + 1 < argc) json = argv[++i];
        else if (!strcmp(argv[i], "--gguf") && i + 1 < argc) gguf = argv[++i];
        else if (!strcmp(argv[i], "--bench") && i + 1 < argc) bench = argv[++i];
        else if (!strcmp(argv[i], "--repeat") && i + 1 < argc) repeat = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--lines")) lines = 1;
        else if (!strcmp(argv[i], "--decode")) decode = 1;
        else {
            fprintf(stderr, "usage: tok_tool (--json FILE | --gguf FILE) [--lines [--decode]] "
                            "[--bench FILE [--repeat N] [--threads N]]\n");
            return 2;
        }
    }
    if (!json && !gguf) { fprintf(stderr, "tok_tool: --json or --gguf is required\n"); return 2; }
    char err[512];
    tok_vocab *v = NULL;
    gguf_file *gf = NULL;
    double t0 = tt_now();
    if (json) {
        if (tokjson_load(json, 151936, &v, err, sizeof err)) { fprintf(stderr, "tok_tool: %s\n", err); return 1; }
    } else {
        if (gguf_open(gguf, &gf, err, sizeof err) || tok_vocab_init(gf, &v, err, sizeof err)) {
            fprintf(stderr, "tok_tool: %s\n", err);
            gguf_close(gf);
            return 1;
        }
    }
    if (bench) fprintf(stderr, "tok_tool: vocabulary built in %.3f s\n", tt_now() - t0);
    int rc;
    if (bench) {
        rc = tt_bench(v, bench, repeat < 1 ? 1 : repeat, threads < 1 ? 1 : threads);
    } else if (lines) {
        rc = tt_lines(v, decode);
    } else {
        size_t len;
        char *text = tt_read_all(stdin, &len);
        int k = text ? tt_encode(v, text, len) : -2;
        for (int i = 0; i < k; i++) printf(i ? " %d" : "%d", tt_ids[i]);
        printf("\n");
        free(text);
        rc = k < 0;
    }
    free(tt_ids);
    tok_vocab_free(v);
    gguf_close(gf);
    return rc;
}
