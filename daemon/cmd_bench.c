/*
 * cmd_bench.c - `quarry bench --model FILE`: prompt processing and decode
 * speed on seeded random tokens, so figures do not depend on a tokenizer or
 * a prompt text. Prompt: one batch of --prompt tokens (logits for the last
 * only), best of --reps. Decode: --gen single-token steps after the prompt
 * (greedy on the logits), tokens per second over the steps.
 */
#include "cli.h"
#include "commands.h"
#include "qengine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int argmax(const float *x, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

int cmd_bench(int argc, char **argv)
{
    const char *path = NULL, *C = "bench";
    int n_prompt = 512, n_gen = 128, reps = 3, threads = 0, json = 0;
    for (int i = 1; i < argc; i++) {
        int bad = 0;
        if (!strcmp(argv[i], "--model")) bad = cli_str(C, argc, argv, &i, &path);
        else if (!strcmp(argv[i], "--prompt")) bad = cli_int(C, argc, argv, &i, 1, 65536, &n_prompt);
        else if (!strcmp(argv[i], "--gen")) bad = cli_int(C, argc, argv, &i, 0, 65536, &n_gen);
        else if (!strcmp(argv[i], "--reps")) bad = cli_int(C, argc, argv, &i, 1, 100, &reps);
        else if (!strcmp(argv[i], "--threads")) bad = cli_int(C, argc, argv, &i, 1, 512, &threads);
        else if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--help")) {
            printf("usage: quarry bench --model FILE [--prompt 512] [--gen 128] [--reps 3] [--threads N] [--json]\n");
            return 0;
        } else { fprintf(stderr, "quarry bench: unknown option '%s'\n", argv[i]); return 2; }
        if (bad) return 2;
    }
    if (!path) { fprintf(stderr, "quarry bench: --model FILE is required\n"); return 2; }
    char err[512];
    qe_model *m;
    if (qe_model_load(path, qe_model_default_params(), &m, err, sizeof err)) {
        fprintf(stderr, "quarry bench: %s\n", err);
        return 1;
    }
    const qe_model_info *in = qe_model_get_info(m);
    qe_context_params cp = qe_context_default_params();
    cp.n_seq_max = 1;
    cp.n_ctx = n_prompt + n_gen + 1;
    cp.n_batch_max = n_prompt;
    cp.n_threads = threads;
    qe_context *ctx;
    if (qe_context_init(m, cp, &ctx, err, sizeof err)) {
        fprintf(stderr, "quarry bench: %s\n", err);
        qe_model_free(m);
        return 1;
    }
    qe_token *toks = malloc((size_t)n_prompt * sizeof *toks);
    qe_pos *pos = malloc((size_t)n_prompt * sizeof *pos);
    qe_seq *seq = calloc((size_t)n_prompt, sizeof *seq);
    uint64_t x = 12345;
    for (int i = 0; i < n_prompt; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        toks[i] = (qe_token)((x >> 33) % 151643);
        pos[i] = i;
    }
    /* warm-up: maps the weights in and faults the buffers */
    qe_batch wb = { n_prompt < 8 ? n_prompt : 8, toks, pos, seq, NULL };
    qe_decode(ctx, &wb, err, sizeof err);
    double best_prompt = 1e30, best_gen = 1e30;
    int rc = 0;
    for (int r = 0; r < reps && !rc; r++) {
        qe_seq_truncate(ctx, 0, 0);
        qe_batch b = { n_prompt, toks, pos, seq, NULL };
        double t0 = now_s();
        if ((rc = qe_decode(ctx, &b, err, sizeof err))) break;
        double tp = now_s() - t0;
        if (tp < best_prompt) best_prompt = tp;
        qe_token t = argmax(qe_get_logits(ctx, n_prompt - 1), in->n_vocab);
        t0 = now_s();
        for (int g = 0; g < n_gen && !rc; g++) {
            qe_pos p = n_prompt + g;
            qe_batch s1 = { 1, &t, &p, seq, NULL };
            if ((rc = qe_decode(ctx, &s1, err, sizeof err))) break;
            t = argmax(qe_get_logits(ctx, 0), in->n_vocab);
        }
        double tg = now_s() - t0;
        if (tg < best_gen) best_gen = tg;
    }
    if (rc) {
        fprintf(stderr, "quarry bench: %s\n", err);
    } else {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        double pp = n_prompt / best_prompt, tg = n_gen ? n_gen / best_gen : 0;
        if (json)
            printf("{\"model\":\"%s\",\"weight_type\":\"%s\",\"threads\":%d,\"prompt_tokens\":%d,\"gen_tokens\":%d,"
                   "\"prompt_tok_s\":%.2f,\"decode_tok_s\":%.2f,\"peak_rss_mib\":%.1f}\n",
                   path, in->weight_type_name, cp.n_threads > 0 ? cp.n_threads : 0, n_prompt, n_gen, pp, tg,
                   ru.ru_maxrss / 1024.0);
        else
            printf("%s (%s): prompt %d tokens: %.1f tok/s; decode %d tokens: %.2f tok/s; peak RSS %.0f MiB\n",
                   path, in->weight_type_name, n_prompt, pp, n_gen, tg, ru.ru_maxrss / 1024.0);
    }
    free(toks); free(pos); free(seq);
    qe_context_free(ctx);
    qe_model_free(m);
    return rc ? 1 : 0;
}
