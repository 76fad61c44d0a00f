/*
 * cmd_extract.c - `quarry extract`: structured extraction from documents
 * with a spec (schemas/README.md), records out as JSONL.
 *
 * Reads documents lazily, keeps the engine's sequences busy, writes each
 * record as soon as its document completes (or in input order with
 * --ordered), shows progress on a terminal and always ends with a summary
 * line. Exit status: 0 all documents succeeded, 1 some failed (or the
 * engine failed), 2 bad usage, spec, model or input paths.
 */
#include "cli.h"
#include "commands.h"
#include "docs.h"
#include "extract.h"
#include "qengine.h"
#include "record.h"
#include "spec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define EXTRACT_DEFAULT_MAX_DOC (8u << 20)

static void extract_usage(FILE *f)
{
    fprintf(f,
        "usage: quarry extract --model FILE --spec FILE [INPUT...] [options]\n"
        "Extracts structured data from documents as the spec says; one JSON record per\n"
        "document (JSONL) to stdout or --out. See schemas/README.md.\n"
        "\n"
        "INPUT: a text file (id = its path), a directory (every file below it, sorted),\n"
        "a .jsonl/.ndjson file ({\"id\", \"text\", optional \"title\", \"url\", \"published_at\",\n"
        "\"lang\"} per line), or - for standard input (JSONL if it starts with '{', else one\n"
        "text document). No INPUT: standard input.\n"
        "\n"
        "  --out FILE            write records here instead of stdout\n"
        "  --jobs N              documents in flight, decoded together (default 4)\n"
        "  --ordered             write records in input order (default: as they complete)\n"
        "  --threads N           engine threads (default: all cores)\n"
        "  --max-doc-bytes N     longer documents fail as oversize (default %u; 0 = no limit)\n"
        "  --chunk-tokens N      document tokens per chunk (default: the spec's chunking)\n"
        "  --max-tokens N        cap generated tokens per attempt in both modes\n"
        "  --ctx N               KV cache capacity in tokens (default: sized from the spec)\n"
        "  --no-constraint       decode without the schema constraint\n"
        "  --no-prefix-cache     compute the shared prompt prefix for every attempt\n"
        "  --mmap                serve the weights from a shared file mapping (less memory\n"
        "                        per process, slower decode) instead of private memory\n"
        "  --deterministic       records independent of batching, --jobs and the prefix\n"
        "                        cache (prompts run on the decode kernels, more slowly)\n"
        "  --progress | --no-progress   progress line on stderr (default: when a terminal)\n"
        "  --check-spec          load and check the spec, then exit (no model needed)\n"
        "  --spec-keys           print every spec key with type, default and bounds\n"
        "\n"
        "Exit status: 0 every document succeeded, 1 some failed, 2 usage/spec errors.\n",
        EXTRACT_DEFAULT_MAX_DOC);
}

typedef struct extract_out {
    FILE *f;
    int ordered;
    char **held;         /* --ordered: lines waiting for earlier ones */
    size_t base, cap;    /* held[i] is the record of document base + i */
    int write_error;
} extract_out;

static void extract_write(extract_out *o, const char *line)
{
    if (fputs(line, o->f) == EOF || fflush(o->f) == EOF) o->write_error = 1;
}

static void extract_emit(void *ud, const doc *d, json_t *rec, int ok)
{
    extract_out *o = ud;
    (void)ok;
    char *line = rec ? rec_line(rec) : NULL;
    json_decref(rec);
    if (!line) {
        /* still one line per document, so a consumer can count them */
        json_t *j = json_pack("{s:s,s:s,s:s}", "id", d->id ? d->id : "", "status", "failed", "reason",
                              "out of memory building the record");
        line = j ? rec_line(j) : NULL;
        json_decref(j);
        if (!line) { o->write_error = 1; return; }
    }
    if (!o->ordered) {
        extract_write(o, line);
        free(line);
        return;
    }
    size_t k = d->index - o->base;
    if (k >= o->cap) {
        size_t cap = o->cap ? o->cap : 64;
        while (cap <= k) cap *= 2;
        char **h = realloc(o->held, cap * sizeof *h);
        if (!h) { free(line); o->write_error = 1; return; }
        memset(h + o->cap, 0, (cap - o->cap) * sizeof *h);
        o->held = h;
        o->cap = cap;
    }
    o->held[k] = line;
    size_t n = 0;
    while (n < o->cap && o->held[n]) {
        extract_write(o, o->held[n]);
        free(o->held[n]);
        n++;
    }
    if (n) {
        memmove(o->held, o->held + n, (o->cap - n) * sizeof *o->held);
        memset(o->held + o->cap - n, 0, n * sizeof *o->held);
        o->base += n;
    }
}

static double extract_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void extract_progress(ex_engine *ex, long total, int final)
{
    const ex_stats *s = ex_get_stats(ex);
    double t = s->seconds > 1e-9 ? s->seconds : 1e-9;
    char eta[32] = "?";
    if (total >= 0 && s->docs > 0 && s->docs < total) {
        long left = (long)((double)(total - s->docs) * t / (double)s->docs);
        snprintf(eta, sizeof eta, "%ld:%02ld", left / 60, left % 60);
    } else if (total >= 0 && s->docs >= total) {
        snprintf(eta, sizeof eta, "0:00");
    }
    char tot[32] = "?";
    if (total >= 0) snprintf(tot, sizeof tot, "%ld", total);
    fprintf(stderr, "\r\033[Kextract: %ld/%s docs  %.2f docs/s  %.0f tok/s  ETA %s  fallbacks %ld  failures %ld%s",
            s->docs, tot, s->docs / t, (double)s->tokens_out / t, eta, s->fallbacks, s->failed, final ? "\n" : "");
    fflush(stderr);
}

static void extract_summary(ex_engine *ex)
{
    const ex_stats *s = ex_get_stats(ex);
    double t = s->seconds > 1e-9 ? s->seconds : 1e-9;
    double hit = s->tokens_in ? 100.0 * (double)s->hit_tokens / (double)s->tokens_in : 0.0;
    fprintf(stderr,
            "quarry extract: %ld document%s: %ld ok, %ld failed, %ld needed think; %ld chunks, %ld attempts; "
            "%.1f s, %.1f docs/min, %.0f tok/s generated; prompt tokens %lld, %lld (%.1f%%) from the prefix cache "
            "(prefix %d tokens); constraint %s\n",
            s->docs, s->docs == 1 ? "" : "s", s->ok, s->failed, s->fallbacks, s->chunks, s->attempts, s->seconds, 60.0 * s->docs / t,
            (double)s->tokens_out / t, s->tokens_in, s->hit_tokens, hit, s->prefix_tokens,
            s->constrained ? "on" : "off");
}

int cmd_extract(int argc, char **argv)
{
    const char *C = "extract";
    const char *model_path = NULL, *spec_path = NULL, *out_path = NULL;
    int use_mmap = 0;
    const char **inputs = calloc((size_t)argc + 1, sizeof *inputs);
    int n_inputs = 0, progress = -1, check_only = 0, ordered = 0;
    uint64_t max_doc = EXTRACT_DEFAULT_MAX_DOC;
    ex_params p = ex_default_params();
    if (!inputs) return 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int bad = 0;
        if (!strcmp(a, "--model")) bad = cli_str(C, argc, argv, &i, &model_path);
        else if (!strcmp(a, "--spec")) bad = cli_str(C, argc, argv, &i, &spec_path);
        else if (!strcmp(a, "--out")) bad = cli_str(C, argc, argv, &i, &out_path);
        else if (!strcmp(a, "--jobs")) bad = cli_int(C, argc, argv, &i, 1, 256, &p.jobs);
        else if (!strcmp(a, "--ordered")) ordered = 1;
        else if (!strcmp(a, "--threads")) bad = cli_int(C, argc, argv, &i, 1, 512, &p.threads);
        else if (!strcmp(a, "--max-doc-bytes")) bad = cli_u64(C, argc, argv, &i, &max_doc);
        else if (!strcmp(a, "--chunk-tokens")) bad = cli_int(C, argc, argv, &i, 64, 1 << 20, &p.chunk_tokens);
        else if (!strcmp(a, "--max-tokens")) bad = cli_int(C, argc, argv, &i, 1, 1 << 20, &p.max_tokens);
        else if (!strcmp(a, "--ctx")) bad = cli_int(C, argc, argv, &i, 256, 1 << 26, &p.n_ctx);
        else if (!strcmp(a, "--no-constraint")) p.constrain = 0;
        else if (!strcmp(a, "--deterministic")) p.deterministic = 1;
        else if (!strcmp(a, "--mmap")) use_mmap = 1;
        else if (!strcmp(a, "--no-prefix-cache")) p.prefix_cache = 0;
        else if (!strcmp(a, "--progress")) progress = 1;
        else if (!strcmp(a, "--no-progress")) progress = 0;
        else if (!strcmp(a, "--check-spec")) check_only = 1;
        else if (!strcmp(a, "--spec-keys")) { spec_print_keys(stdout); free(inputs); return 0; }
        else if (!strcmp(a, "--help") || !strcmp(a, "-h")) { extract_usage(stdout); free(inputs); return 0; }
        else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "quarry extract: unknown option '%s'\n", a);
            extract_usage(stderr);
            free(inputs);
            return 2;
        } else inputs[n_inputs++] = a;
        if (bad) { free(inputs); return 2; }
    }
    if (!spec_path || (!model_path && !check_only)) {
        fprintf(stderr, "quarry extract: --model and --spec are required\n");
        extract_usage(stderr);
        free(inputs);
        return 2;
    }
    if (!n_inputs) inputs[n_inputs++] = "-";

    int rc = 2;
    char err[1024];
    spec *sp = NULL;
    doc_reader *rd = NULL;
    qe_model *m = NULL;
    rec_model mid = { 0 };
    ex_engine *ex = NULL;
    extract_out out = { stdout, ordered, NULL, 0, 0, 0 };

    if (spec_load(spec_path, &sp, err, sizeof err)) {
        fprintf(stderr, "quarry extract: %s\n", err);
        goto done;
    }
    if (check_only) {
        fprintf(stderr, "quarry extract: %s: spec %s %s is valid (%d grounding patterns, %d references, %d examples)\n",
                spec_path, sp->name, sp->version, sp->n_grounding, sp->n_refs, sp->n_examples);
        rc = 0;
        goto done;
    }
    if (doc_reader_open(inputs, n_inputs, (size_t)max_doc, &rd, err, sizeof err)) {
        fprintf(stderr, "quarry extract: %s\n", err);
        goto done;
    }
    qe_model_params mp = qe_model_default_params();
    mp.weights_in_memory = !use_mmap;
    mp.file_layout = use_mmap;   /* shared pages are what --mmap is for: no private repacked copy */
    if (rec_model_identity(model_path, &mid, err, sizeof err) ||
        qe_model_load(model_path, mp, &m, err, sizeof err)) {
        fprintf(stderr, "quarry extract: %s\n", err);
        goto done;
    }
    if (out_path && !(out.f = fopen(out_path, "w"))) {
        fprintf(stderr, "quarry extract: --out %s: %s\n", out_path, strerror(errno));
        out.f = stdout;
        goto done;
    }
    if (ex_init(m, sp, &mid, p, extract_emit, &out, &ex, err, sizeof err)) {
        fprintf(stderr, "quarry extract: %s\n", err);
        goto done;
    }
    if (progress < 0) progress = isatty(2);
    long total = doc_reader_total(rd);
    int eof = 0;
    double last = 0;
    rc = 1;
    for (;;) {
        while (!eof && ex_room(ex)) {
            doc *d;
            int r = doc_reader_next(rd, &d);
            if (r < 0) { fprintf(stderr, "\nquarry extract: out of memory reading documents\n"); goto done; }
            if (r == 0) { eof = 1; break; }
            if (ex_submit(ex, d)) { fprintf(stderr, "\nquarry extract: out of memory\n"); goto done; }
        }
        if (eof && !ex_pending(ex)) break;
        int s = ex_step(ex);
        if (s < 0) {
            fprintf(stderr, "\nquarry extract: engine error: %s\n", ex_error(ex));
            goto done;
        }
        if (s == 0 && eof && ex_pending(ex)) {
            fprintf(stderr, "\nquarry extract: internal error: %d documents stalled\n", ex_pending(ex));
            goto done;
        }
        if (out.write_error) {
            fprintf(stderr, "\nquarry extract: cannot write records: %s\n", strerror(errno));
            goto done;
        }
        double t = extract_now();
        if (progress && t - last > 0.25) {
            extract_progress(ex, total, 0);
            last = t;
        }
    }
    if (progress) extract_progress(ex, total, 1);
    rc = ex_get_stats(ex)->failed ? 1 : 0;
done:
    if (ex) extract_summary(ex);
    ex_free(ex);
    for (size_t i = 0; i < out.cap; i++) free(out.held[i]);
    free(out.held);
    if (out.f && out.f != stdout && fclose(out.f) && !rc) {
        fprintf(stderr, "quarry extract: --out %s: %s\n", out_path, strerror(errno));
        rc = 1;
    }
    qe_model_free(m);
    rec_model_free(&mid);
    doc_reader_close(rd);
    spec_free(sp);
    free(inputs);
    return rc;
}
