/*
 * test_determinism.c - the deterministic mode (qe_context_params.
 * deterministic): logits are bitwise identical whatever the batch
 * composition, the chunking of the prompt, the thread count or the prefix
 * cache state. Model path in argv[1] (run on F32 and Q8_0 models, F16 KV).
 * Without the mode the prompt GEMM and the decode kernels sum in different
 * orders; the test prints how far apart those are, for information.
 */
#include "qengine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

enum { N = 70, SPLIT = 40 };

static qe_model *M;
static int V;

static qe_context *new_ctx(int det, int threads)
{
    qe_context_params p = qe_context_default_params();
    p.n_seq_max = 3;
    p.n_ctx = 512;
    p.n_batch_max = 160;
    p.kv_block_size = 16;
    p.n_threads = threads;
    p.kv_f16 = 1;
    p.deterministic = det;
    qe_context *c = NULL;
    char err[256];
    if (qe_context_init(M, p, &c, err, sizeof err)) {
        fprintf(stderr, "context: %s\n", err);
        exit(1);
    }
    return c;
}

/* One qe_decode of entries (tok, seq) continuing each sequence; logits of
 * every entry of sequence `want` are copied to out[pos]. */
static void step(qe_context *c, int n, const qe_token *tok, const qe_seq *seq, qe_seq want, float *out)
{
    qe_pos pos[256];
    int8_t wl[256];
    int len[4] = { qe_seq_len(c, 0), qe_seq_len(c, 1), qe_seq_len(c, 2), 0 };
    for (int i = 0; i < n; i++) { pos[i] = len[seq[i]]++; wl[i] = seq[i] == want; }
    qe_batch b = { n, tok, pos, seq, wl };
    char err[256];
    if (qe_decode(c, &b, err, sizeof err)) { fprintf(stderr, "decode: %s\n", err); exit(1); }
    for (int i = 0; i < n; i++)
        if (seq[i] == want) memcpy(out + (size_t)pos[i] * V, qe_get_logits(c, i), sizeof(float) * V);
}

/* Sequence 0 over toks in chunks of `chunk`, optionally beside sequence 1
 * decoding other tokens in the same batches. */
static void run(qe_context *c, const qe_token *toks, int chunk, int with_other, float *out)
{
    qe_token bt[256];
    qe_seq bs[256];
    for (int off = 0; off < N; off += chunk) {
        int n = 0, m = N - off < chunk ? N - off : chunk;
        if (with_other)   /* the other sequence first: our rows move in the batch */
            for (int i = 0; i < 5; i++) { bt[n] = (qe_token)(1000 + 37 * off + i); bs[n++] = 1; }
        for (int i = 0; i < m; i++) { bt[n] = toks[off + i]; bs[n++] = 0; }
        step(c, n, bt, bs, 0, out);
    }
}

static int differ(const float *a, const float *b, double *maxd)
{
    int bad = 0;
    *maxd = 0;
    for (size_t i = 0; i < (size_t)N * V; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > *maxd) *maxd = d;
        bad += memcmp(&a[i], &b[i], sizeof(float)) != 0;
    }
    return bad;
}

int main(int argc, char **argv)
{
    if (argc < 2) { fprintf(stderr, "usage: test_determinism MODEL\n"); return 2; }
    char err[256];
    if (qe_model_load(argv[1], qe_model_default_params(), &M, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
    V = qe_model_get_info(M)->n_vocab;
    qe_token toks[N];
    for (int i = 0; i < N; i++) toks[i] = (qe_token)((i * 7919 + 13) % V);
    float *ref = malloc(sizeof(float) * N * V), *got = malloc(sizeof(float) * N * V);
    double maxd;

    qe_context *c = new_ctx(1, 2);
    run(c, toks, N, 0, ref);                         /* one prompt batch (GEMM-sized) */
    qe_context_free(c);

    c = new_ctx(1, 2);
    run(c, toks, 1, 0, got);                         /* token by token */
    CHECK(differ(ref, got, &maxd) == 0, "one batch vs token by token: logits differ (max %.3g)", maxd);
    qe_context_free(c);

    c = new_ctx(1, 2);
    run(c, toks, 13, 1, got);                        /* chunks of 13 beside another sequence */
    CHECK(differ(ref, got, &maxd) == 0, "chunks beside another sequence: logits differ (max %.3g)", maxd);
    qe_context_free(c);

    c = new_ctx(1, 1);
    run(c, toks, 33, 0, got);                        /* one thread, chunks of 33 */
    CHECK(differ(ref, got, &maxd) == 0, "one thread: logits differ (max %.3g)", maxd);
    qe_context_free(c);

    /* the prefix cache's way: sequence 2 computes the prefix, sequence 0
     * takes its blocks (the partial last block is copied) and goes on */
    c = new_ctx(1, 2);
    memcpy(got, ref, sizeof(float) * SPLIT * V);
    qe_seq s2[N];
    for (int i = 0; i < N; i++) s2[i] = 2;
    step(c, SPLIT, toks, s2, 1, got);                /* want nothing from seq 2 */
    CHECK(qe_seq_copy(c, 2, 0, SPLIT) == QE_OK, "seq_copy");
    qe_seq s0[N] = { 0 };
    step(c, N - SPLIT, toks + SPLIT, s0, 0, got);
    CHECK(differ(ref, got, &maxd) == 0, "after a cached prefix: logits differ (max %.3g)", maxd);
    qe_context_free(c);

    /* information: the default mode's prompt GEMM vs its decode kernels */
    c = new_ctx(0, 2);
    run(c, toks, N, 0, ref);
    qe_context_free(c);
    c = new_ctx(0, 2);
    run(c, toks, 1, 0, got);
    int nd = differ(ref, got, &maxd);
    printf("default mode, one batch vs token by token: %d of %d logits differ, max %.3g\n", nd, N * V, maxd);
    qe_context_free(c);

    /* the file's row layout against the X16 layout the loader picked
     * (the same layout where the CPU has no AVX-512), with F32
     * activations: other kernels, the same math, so the logits agree to
     * float error; with the default Q16 activations (on AVX-512 VNNI) they
     * move by the 16-bit rounding of the activations, still a hundred
     * times less than llama.cpp's 8-bit rounding does (tests/ref/parity.mjs) */
    c = new_ctx(1, 2);
    run(c, toks, 1, 0, ref);
    qe_context_free(c);
    int n_q16 = qe_model_get_info(M)->n_q16;
    qe_model *dflt = M;
    qe_model_params mp = qe_model_default_params();
    mp.file_layout = 1;
    if (qe_model_load(argv[1], mp, &M, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
    c = new_ctx(1, 2);
    run(c, toks, 1, 0, got);
    qe_context_free(c);
    qe_model_free(M);
    differ(ref, got, &maxd);
    double bound = n_q16 ? 1e-2 : 2e-3;
    CHECK(maxd <= bound, "file layout vs the default (X16, %d matrices with Q16 activations): logits differ by %.3g",
          n_q16, maxd);
    printf("file layout vs the default (%d matrices with Q16 activations): max logit difference %.3g\n", n_q16, maxd);
    mp = qe_model_default_params();
    mp.f32_activations = 1;
    if (qe_model_load(argv[1], mp, &M, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
    CHECK(qe_model_get_info(M)->n_q16 == 0, "f32_activations: %d matrices still take Q16", qe_model_get_info(M)->n_q16);
    memcpy(ref, got, sizeof(float) * N * V);
    c = new_ctx(1, 2);
    run(c, toks, 1, 0, got);
    qe_context_free(c);
    differ(ref, got, &maxd);
    CHECK(maxd <= 2e-3, "file layout vs X16 with F32 activations: logits differ by %.3g", maxd);
    printf("file layout vs X16 with F32 activations: max logit difference %.3g\n", maxd);
    qe_model_free(M);
    M = dflt;

    free(ref); free(got);
    qe_model_free(M);
    return CHECK_SUMMARY();
}
