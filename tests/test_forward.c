/*
 * test_forward.c - behaviour of the forward pass and the sampler on a
 * synthetic model (path in argv[1]):
 *  - the same tokens give the same logits whether decoded in one batch
 *    (sgemm path), one token at a time (row-kernel path), or interleaved
 *    with other sequences in one batch;
 *  - truncating a sequence and decoding again reproduces the logits;
 *  - a full KV cache is reported (QE_NO_KV) and leaves the state intact;
 *  - bad batches are rejected with a message and change nothing;
 *  - sampling: greedy is the argmax, seeds reproduce, filters restrict.
 */
#include "qengine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static qe_model *M;
static int V;
static int g_kv_f16; /* KV element type of new_ctx */

static qe_context *new_ctx(int n_seq, int n_ctx, int n_batch, int block)
{
    qe_context_params p = qe_context_default_params();
    p.n_seq_max = n_seq;
    p.n_ctx = n_ctx;
    p.n_batch_max = n_batch;
    p.kv_block_size = block;
    p.n_threads = 2;
    p.kv_f16 = g_kv_f16;
    qe_context *c = NULL;
    char err[256];
    if (qe_context_init(M, p, &c, err, sizeof err)) {
        fprintf(stderr, "context: %s\n", err);
        exit(1);
    }
    return c;
}

/* Decodes toks[0..n) of seq s starting at its current length, in chunks of
 * `chunk` entries; copies the logits after the last token into out. */
static int run(qe_context *c, qe_seq s, const qe_token *toks, int n, int chunk, float *out)
{
    qe_pos pos[512];
    qe_seq seq[512];
    char err[256];
    for (int off = 0; off < n; off += chunk) {
        int k = n - off < chunk ? n - off : chunk;
        int base = qe_seq_len(c, s);
        for (int i = 0; i < k; i++) { pos[i] = base + i; seq[i] = s; }
        qe_batch b = { k, toks + off, pos, seq, NULL };
        int rc = qe_decode(c, &b, err, sizeof err);
        if (rc) { fprintf(stderr, "decode: %s\n", err); return rc; }
        if (off + k == n && out) memcpy(out, qe_get_logits(c, k - 1), (size_t)V * sizeof *out);
    }
    return 0;
}

static double max_diff(const float *a, const float *b)
{
    double m = 0;
    for (int i = 0; i < V; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

static double max_abs(const float *a)
{
    double m = 0;
    for (int i = 0; i < V; i++) m = fmax(m, fabs(a[i]));
    return m;
}

static void test_batch_invariance(void)
{
    enum { N = 70 };
    qe_token toks[N];
    for (int i = 0; i < N; i++) toks[i] = (qe_token)((i * 7919 + 13) % 150000);
    float *a = malloc((size_t)V * 4), *b = malloc((size_t)V * 4), *c3 = malloc((size_t)V * 4);

    qe_context *c = new_ctx(3, 512, 128, 16);
    CHECK(run(c, 0, toks, N, N, a) == 0, "one batch");
    CHECK(run(c, 1, toks, N, 1, b) == 0, "token by token");
    CHECK(run(c, 2, toks, N, 17, c3) == 0, "chunks of 17");
    double scale = max_abs(a);
    /* sgemm and the row kernels sum in different orders: float rounding only */
    CHECK(max_diff(a, b) <= 1e-4 * scale + 1e-5, "batch vs token-by-token: max diff %g (scale %g)", max_diff(a, b), scale);
    CHECK(max_diff(a, c3) <= 1e-4 * scale + 1e-5, "batch vs chunks: max diff %g", max_diff(a, c3));

    /* truncate then redo the tail: identical to the first time (same path) */
    CHECK(qe_seq_truncate(c, 1, 40) == 0 && qe_seq_len(c, 1) == 40, "truncate to 40");
    CHECK(run(c, 1, toks + 40, N - 40, 1, c3) == 0, "redo tail");
    CHECK(max_diff(b, c3) == 0.0, "truncate + redo must reproduce logits exactly (diff %g)", max_diff(b, c3));
    qe_context_free(c);

    /* interleaved: three sequences in one batch, entries mixed */
    c = new_ctx(3, 512, 256, 16);
    qe_token bt[3 * N];
    qe_pos bp[3 * N];
    qe_seq bs[3 * N];
    int8_t want[3 * N];
    int n = 0;
    for (int i = 0; i < N; i++)
        for (int s = 0; s < 3; s++) {
            bt[n] = s == 1 ? toks[N - 1 - i] : toks[i];
            bp[n] = i;
            bs[n] = s;
            want[n] = i == N - 1;
            n++;
        }
    char err[256];
    qe_batch batch = { n, bt, bp, bs, want };
    CHECK(qe_decode(c, &batch, err, sizeof err) == 0, "interleaved decode: %s", err);
    const float *l0 = qe_get_logits(c, n - 3), *l2 = qe_get_logits(c, n - 1);
    CHECK(l0 && l2 && qe_get_logits(c, 0) == NULL, "logits only where asked");
    if (l0 && l2) {
        CHECK(max_diff(l0, a) <= 1e-4 * scale + 1e-5, "interleaved seq 0 vs alone: %g", max_diff(l0, a));
        CHECK(max_diff(l2, a) <= 1e-4 * scale + 1e-5, "interleaved seq 2 vs alone: %g", max_diff(l2, a));
    }
    qe_context_free(c);

    /* F16 keys and values: close to F32 (half-precision rounding of K and
     * V only), and batch-invariant in the same way */
    g_kv_f16 = 1;
    c = new_ctx(2, 512, 128, 16);
    CHECK(run(c, 0, toks, N, N, b) == 0, "F16 KV, one batch");
    CHECK(run(c, 1, toks, N, 1, c3) == 0, "F16 KV, token by token");
    CHECK(max_diff(a, b) <= 2e-3 * scale + 1e-4, "F16 KV vs F32 KV: max diff %g (scale %g)", max_diff(a, b), scale);
    CHECK(max_diff(b, c3) <= 1e-4 * scale + 1e-5, "F16 KV batch vs token-by-token: %g", max_diff(b, c3));
    qe_context_free(c);
    g_kv_f16 = 0;
    free(a); free(b); free(c3);
}

/* A prefix computed once and copied into other sequences (shared blocks)
 * gives the same logits as computing every sequence from scratch, and
 * writing into a shared block copies it instead of corrupting the others. */
static void test_prefix_copy(void)
{
    enum { P = 37, S = 9 };
    qe_token pre[P], suf[3][S];
    for (int i = 0; i < P; i++) pre[i] = (qe_token)(1000 + i * 31);
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < S; i++) suf[k][i] = (qe_token)(5000 + k * 977 + i * 13);
    float *ref = malloc((size_t)V * 4 * 3), *got = malloc((size_t)V * 4);
    qe_context *c = new_ctx(4, 1024, 64, 8);
    const qe_model_info *in = qe_model_get_info(M);
    size_t kv_want = (size_t)1024 * 2 * in->n_layer * in->n_head_kv * in->head_dim * (g_kv_f16 ? 2 : 4);
    CHECK(qe_kv_bytes(c) == kv_want && qe_kv_bytes(NULL) == 0, "KV bytes %zu, want %zu", qe_kv_bytes(c), kv_want);
    for (int k = 0; k < 3; k++) {
        /* from scratch, one token at a time (same kernels as below) */
        qe_token all[P + S];
        memcpy(all, pre, sizeof pre);
        memcpy(all + P, suf[k], sizeof suf[k]);
        run(c, 3, all, P + S, 1, ref + (size_t)k * V);
        qe_seq_truncate(c, 3, 0);
    }
    int free0 = qe_kv_free_blocks(c);
    CHECK(run(c, 0, pre, P, 1, NULL) == 0, "prefix");
    for (int k = 1; k <= 2; k++) CHECK(qe_seq_copy(c, 0, k, P) == 0 && qe_seq_len(c, k) == P, "copy to %d", k);
    /* 37 tokens = 4 full blocks of 8 + 1 partial: the copies share the 4 and
     * own one private partial block each */
    CHECK(free0 - qe_kv_free_blocks(c) == 5 + 2, "shared blocks: used %d", free0 - qe_kv_free_blocks(c));
    for (int k = 0; k < 3; k++) {
        CHECK(run(c, k, suf[k], S, 1, got) == 0, "suffix %d", k);
        CHECK(max_diff(got, ref + (size_t)k * V) == 0.0, "prefix-copied seq %d differs from scratch by %g", k,
              max_diff(got, ref + (size_t)k * V));
    }
    /* rewrite seq 1 from position 10 (inside a shared block): seq 0 and 2
     * must not see it */
    qe_seq_truncate(c, 1, 10);
    qe_token junk[5] = { 7, 8, 9, 10, 11 };
    CHECK(run(c, 1, junk, 5, 5, NULL) == 0, "write into shared block");
    qe_seq_truncate(c, 2, P);
    CHECK(run(c, 2, suf[2], S, 1, got) == 0, "seq 2 again");
    CHECK(max_diff(got, ref + 2 * (size_t)V) == 0.0, "copy-on-write kept seq 2 intact (diff %g)",
          max_diff(got, ref + 2 * (size_t)V));
    for (int k = 0; k < 3; k++) qe_seq_truncate(c, k, 0);
    CHECK(qe_kv_free_blocks(c) == free0, "all blocks back after clearing: %d of %d", qe_kv_free_blocks(c), free0);
    CHECK(qe_seq_copy(c, 0, 0, 1) == QE_EINVAL, "copy onto itself rejected");
    qe_context_free(c);
    free(ref);
    free(got);
}

static void test_kv_full_and_bad_batches(void)
{
    /* 4 blocks of 8 tokens = 32 tokens of KV in all */
    qe_context *c = new_ctx(2, 32, 64, 8);
    qe_token toks[40];
    for (int i = 0; i < 40; i++) toks[i] = 100 + i;
    float *a = malloc((size_t)V * 4);
    CHECK(run(c, 0, toks, 20, 20, a) == 0, "20 tokens fit");
    qe_pos pos[16];
    qe_seq seq[16];
    for (int i = 0; i < 16; i++) { pos[i] = i; seq[i] = 1; }
    char err[256] = "";
    qe_batch b = { 16, toks, pos, seq, NULL };
    int rc = qe_decode(c, &b, err, sizeof err);
    CHECK(rc == QE_NO_KV, "16 more tokens in 1 free block must be QE_NO_KV, got %d", rc);
    CHECK(strstr(err, "KV cache full") != NULL, "message: %s", err);
    CHECK(qe_seq_len(c, 1) == 0 && qe_seq_len(c, 0) == 20, "state unchanged after QE_NO_KV");
    b.n = 8;
    CHECK(qe_decode(c, &b, err, sizeof err) == 0, "8 tokens fit in the last block: %s", err);
    qe_seq_truncate(c, 1, 0);

    qe_token bad_tok = V;
    qe_pos p0 = 20, p_wrong = 5;
    qe_seq s0 = 0, s_bad = 7;
    qe_batch bb = { 1, &bad_tok, &p0, &s0, NULL };
    CHECK(qe_decode(c, &bb, err, sizeof err) == QE_ERANGE && strstr(err, "token"), "bad token: %s", err);
    bb.token = toks;
    bb.pos = &p_wrong;
    CHECK(qe_decode(c, &bb, err, sizeof err) == QE_ERANGE && strstr(err, "position"), "wrong position: %s", err);
    bb.pos = &p0;
    bb.seq = &s_bad;
    CHECK(qe_decode(c, &bb, err, sizeof err) == QE_ERANGE && strstr(err, "sequence"), "bad sequence: %s", err);
    bb.n = 0;
    CHECK(qe_decode(c, &bb, err, sizeof err) == QE_EINVAL, "empty batch");
    CHECK(qe_seq_len(c, 0) == 20, "bad batches change nothing");
    /* and the sequence still continues correctly */
    bb.n = 1; bb.seq = &s0; bb.token = toks + 20;
    CHECK(qe_decode(c, &bb, err, sizeof err) == 0 && qe_seq_len(c, 0) == 21, "continue after errors");
    qe_context_free(c);
    free(a);
}

static void identity_apply(qe_sampler_stage *st, qe_cands *c) { (void)st; (void)c; }
static void identity_free(qe_sampler_stage *st) { free(st); }

static void test_sampler(void)
{
    float *l = malloc((size_t)V * 4);
    for (int i = 0; i < V; i++) l[i] = (float)((i * 2654435761u) % 1000) / 100.0f; /* 0..9.99 */
    l[4242] = 30.0f;
    l[777] = 29.5f;
    l[31337] = 29.0f;
    qe_sampling_params p = qe_sampling_default_params(0);
    CHECK(p.temperature == 0.7f && p.top_p == 0.8f && p.top_k == 20, "non-thinking defaults");
    p = qe_sampling_default_params(1);
    CHECK(p.temperature == 0.6f && p.top_p == 0.95f && p.top_k == 20, "thinking defaults");

    p.temperature = 0;
    qe_sampler *s = qe_sampler_init(M, p);
    CHECK(qe_sampler_sample(s, l) == 4242, "greedy picks the argmax");
    CHECK(qe_argmax(l, V) == 4242 && qe_argmax(l, 0) == -1 && qe_argmax(NULL, V) == -1, "qe_argmax");
    /* plain greedy skips building the candidates: the same pick as the
     * candidate path (forced here by a stage that changes nothing), with
     * ties, a NaN and a masked token */
    qe_sampler *sc = qe_sampler_init(M, p);
    qe_sampler_stage *id = calloc(1, sizeof *id);
    id->name = "identity";
    id->apply = identity_apply;
    id->free = identity_free;
    CHECK(qe_sampler_add(sc, id) == QE_OK, "add a stage");
    float *l2 = malloc((size_t)V * 4);
    int same_pick = 1;
    for (int trial = 0; trial < 6; trial++) {
        for (int i = 0; i < V; i++) l2[i] = (float)((i * 2654435761u + trial * 40503u) % (trial < 3 ? 7 : 100000));
        l2[(trial * 9973) % V] = NAN;
        l2[V - 1] = trial == 4 ? INFINITY : -INFINITY;
        same_pick &= qe_sampler_sample(s, l2) == qe_sampler_sample(sc, l2);
    }
    for (int i = 0; i < V; i++) l2[i] = i % 2 ? NAN : -INFINITY;
    same_pick &= qe_sampler_sample(s, l2) == -1 && qe_sampler_sample(sc, l2) == -1;
    CHECK(same_pick, "greedy without stages picks as the candidate path does");
    free(l2);
    qe_sampler_free(sc);
    qe_sampler_free(s);

    /* top-k 3: only the three peaks, in proportion; seed reproduces */
    p = qe_sampling_default_params(0);
    p.top_k = 3; p.top_p = 1; p.temperature = 1; p.seed = 42;
    s = qe_sampler_init(M, p);
    int counts[3] = {0}, seq1[50];
    for (int i = 0; i < 1000; i++) {
        qe_token t = qe_sampler_sample(s, l);
        if (i < 50) seq1[i] = t;
        counts[0] += t == 4242; counts[1] += t == 777; counts[2] += t == 31337;
    }
    CHECK(counts[0] + counts[1] + counts[2] == 1000, "top-k 3 stays within the top three");
    /* p ∝ e^0, e^-0.5, e^-1 → 0.506, 0.307, 0.186 */
    CHECK(fabs(counts[0] / 1000.0 - 0.506) < 0.06 && fabs(counts[2] / 1000.0 - 0.186) < 0.05,
          "top-k proportions %d %d %d", counts[0], counts[1], counts[2]);
    qe_sampler_reset(s);
    int same = 1;
    for (int i = 0; i < 50; i++) same &= qe_sampler_sample(s, l) == seq1[i];
    CHECK(same, "reset + same seed reproduces the sequence");
    qe_sampler_free(s);

    /* top-p 0.5: only the best (0.506 mass) */
    p.top_k = 0; p.top_p = 0.5f;
    s = qe_sampler_init(M, p);
    int only = 1;
    for (int i = 0; i < 200; i++) only &= qe_sampler_sample(s, l) == 4242;
    CHECK(only, "top-p 0.5 keeps only the top token");
    qe_sampler_free(s);

    /* min-p 0.55: drops 777 (0.607 of max) no, keeps; 31337 is 0.368 → dropped */
    p.top_p = 1; p.min_p = 0.5f;
    s = qe_sampler_init(M, p);
    int seen31337 = 0, seen777 = 0;
    for (int i = 0; i < 300; i++) { qe_token t = qe_sampler_sample(s, l); seen31337 |= t == 31337; seen777 |= t == 777; }
    CHECK(!seen31337 && seen777, "min-p 0.5 drops tokens under half the top probability");
    qe_sampler_free(s);

    /* presence penalty: an accepted token loses to the runner-up */
    p = qe_sampling_default_params(0);
    p.temperature = 0; p.presence_penalty = 1.0f;
    s = qe_sampler_init(M, p);
    qe_sampler_accept(s, 4242);
    CHECK(qe_sampler_sample(s, l) == 777, "presence penalty demotes a seen token");
    qe_sampler_free(s);
    free(l);

    const qe_vocab_info *vi = qe_model_vocab(M);
    CHECK(qe_token_is_stop(M, vi->im_end) && qe_token_is_stop(M, vi->eos) && !qe_token_is_stop(M, 100),
          "stop tokens are <|im_end|> and <|endoftext|>");
}

int main(int argc, char **argv)
{
    if (argc != 2) { fprintf(stderr, "usage: test_forward MODEL.gguf\n"); return 2; }
    char err[512];
    if (qe_model_load(argv[1], qe_model_default_params(), &M, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    V = qe_model_get_info(M)->n_vocab;
    test_batch_invariance();
    test_prefix_copy();
    test_kv_full_and_bad_batches();
    test_sampler();
    qe_model_free(M);
    return CHECK_SUMMARY();
}
