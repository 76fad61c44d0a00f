/*
 * cmd_bench.c - `quarry bench --model FILE`: prompt processing and decode
 * speed on seeded random tokens, so figures do not depend on a tokenizer or
 * a prompt text. Prompt: one batch of --prompt tokens (logits for the last
 * only), best of --reps. Decode: --gen single-token steps after the prompt
 * (greedy on the logits), tokens per second over the steps. Batched
 * decode: B sequences after a short prompt each, one token per sequence per
 * step, aggregate tokens per second (batch 1 included, for the ratio). Time to first token: a 1,500-token
 * shared prefix + a 300-token document through the scheduler, with a cold
 * and then a warm prefix cache (a second document behind the same prefix).
 */
#include "cli.h"
#include "commands.h"
#include "qengine.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}


/* KV budget of the scheduler runs (time to first token); the peak RSS
 * target is file + this + 15% */
#define BENCH_KV_MIB 512
/* Batched decode: each sequence prefills this many tokens, then every
 * sequence adds one token per step for BENCH_BATCH_STEPS steps. */
#define BENCH_BATCH_PROMPT 16
#define BENCH_BATCH_STEPS 32

/* Memory read bandwidth with nt threads over a buffer larger than any
 * cache: the bound for decode, which reads every weight once per token.
 * Wide loads with independent sums (a scalar loop measures the core's
 * load issue rate, not memory); the clock runs from the moment all threads
 * are released together to the last one done, and the best of several
 * reps is kept, as a busy machine can only make a rep slower. */
typedef uint64_t bw_vec __attribute__((vector_size(32)));
typedef struct {
    const bw_vec *p;
    size_t n;
    const atomic_int *go;
    double t0, t1;
    uint64_t sum;
} bw_part;

static inline __attribute__((always_inline)) void bw_sum(bw_part *b)
{
    bw_vec s0 = { 0 }, s1 = { 0 }, s2 = { 0 }, s3 = { 0 };
    while (!atomic_load(b->go)) sched_yield();
    b->t0 = now_s();
    for (size_t i = 0; i + 4 <= b->n; i += 4) {
        s0 += b->p[i]; s1 += b->p[i + 1]; s2 += b->p[i + 2]; s3 += b->p[i + 3];
    }
    b->t1 = now_s();
    bw_vec s = s0 + s1 + s2 + s3;
    b->sum = s[0] + s[1] + s[2] + s[3];
}

/* the same loop with 256-bit loads where the CPU has them (the default
 * build targets baseline x86-64) */
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2"))) static void *bw_read_avx2(void *a) { bw_sum(a); return NULL; }
#endif
static void *bw_read(void *a) { bw_sum(a); return NULL; }

static double read_bandwidth_in_process(int nt)
{
    size_t bytes = (size_t)1 << 30, n = bytes / sizeof(bw_vec);
    bw_vec *buf = aligned_alloc(64, bytes);
    if (!buf) return 0;
    for (size_t i = 0; i < bytes / 8; i++) ((uint64_t *)buf)[i] = i;
    void *(*fn)(void *) = bw_read;
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx2")) fn = bw_read_avx2;
#endif
    if (nt > 64) nt = 64;
    double best = 0;
    for (int rep = 0; rep < 7; rep++) {
        pthread_t th[64];
        bw_part parts[64];
        atomic_int go = 0;
        int started = 0;
        for (int t = 0; t < nt; t++) {
            parts[t] = (bw_part){ buf + n / nt * t, n / nt, &go, 0, 0, 0 };
            if (pthread_create(&th[t], NULL, fn, &parts[t])) break;
            started++;
        }
        atomic_store(&go, 1);
        for (int t = 0; t < started; t++) pthread_join(th[t], NULL);
        if (started < nt) break; /* no threads to be had: no figure */
        double t0 = parts[0].t0, t1 = parts[0].t1;
        for (int t = 1; t < nt; t++) {
            if (parts[t].t0 < t0) t0 = parts[t].t0;
            if (parts[t].t1 > t1) t1 = parts[t].t1;
        }
        double gbs = (double)(n / nt * nt) * sizeof(bw_vec) / (t1 - t0) / 1e9;
        if (gbs > best) best = gbs;
    }
    free(buf);
    return best;
}

/* In a child process: its 1 GiB buffer must not count in our peak RSS. */
static double read_bandwidth_gbs(int nt)
{
    int fd[2];
    if (pipe(fd)) return 0;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) { close(fd[0]); close(fd[1]); return 0; }
    if (pid == 0) {
        double bw = read_bandwidth_in_process(nt);
        ssize_t w = write(fd[1], &bw, sizeof bw);
        _exit(w == (ssize_t)sizeof bw ? 0 : 1);
    }
    close(fd[1]);
    double bw = 0;
    if (read(fd[0], &bw, sizeof bw) != (ssize_t)sizeof bw) bw = 0;
    close(fd[0]);
    waitpid(pid, NULL, 0);
    return bw;
}

typedef struct { double t0, first; } ttft_probe;

static void ttft_on_token(void *u, qe_token t)
{
    ttft_probe *p = u;
    (void)t;
    if (p->first == 0) p->first = now_s() - p->t0;
}

/* Time to the first generated token of prefix + doc through a scheduler. */
static double ttft_ms(qe_sched *s, const qe_token *prefix, int np, uint64_t doc_seed, int nd)
{
    qe_token *p = malloc((size_t)(np + nd) * sizeof *p);
    memcpy(p, prefix, (size_t)np * sizeof *p);
    for (int i = 0; i < nd; i++) {
        doc_seed = doc_seed * 6364136223846793005ull + 1442695040888963407ull;
        p[np + i] = (qe_token)((doc_seed >> 33) % 151643);
    }
    ttft_probe probe = { now_s(), 0 };
    qe_request r = { .prompt = p, .n_prompt = np + nd, .sampling = qe_sampling_default_params(0),
                     .max_tokens = 1, .on_token = ttft_on_token, .user = &probe };
    r.sampling.temperature = 0;
    qe_sched_submit(s, &r);
    qe_sched_run(s);
    free(p);
    return probe.first * 1e3;
}

/* n_gen greedy decode steps of sequences 0 .. nb-1 together, from position
 * p0, tok holding each one's next token (tok, pos, seq, want: room for nb).
 * Returns the seconds taken, or -1 on an error (in err). */
static double decode_steps(qe_context *c, int n_vocab, int nb, int p0, int n_gen, qe_token *tok, qe_pos *pos,
                           qe_seq *seq, int8_t *want, char *err, size_t errlen)
{
    double t0 = now_s();
    for (int g = 0; g < n_gen; g++) {
        for (int k = 0; k < nb; k++) { seq[k] = k; pos[k] = p0 + g; want[k] = 1; }
        qe_batch s1 = { nb, tok, pos, seq, want };
        if (qe_decode(c, &s1, err, errlen)) return -1;
        for (int k = 0; k < nb; k++) tok[k] = qe_argmax(qe_get_logits(c, k), n_vocab);
    }
    return now_s() - t0;
}

/* Aggregate decode tok/s with nb sequences stepping together. */
static double batch_decode(const qe_model *m, int nb, int n_gen, int threads, int kv_f16)
{
    const qe_model_info *in = qe_model_get_info(m);
    qe_context_params cp = qe_context_default_params();
    cp.n_seq_max = nb;
    cp.n_ctx = nb * (BENCH_BATCH_PROMPT + n_gen + 1) + nb * 64;
    cp.n_batch_max = nb * BENCH_BATCH_PROMPT;
    cp.n_threads = threads;
    cp.kv_f16 = kv_f16;
    qe_context *c;
    char err[256];
    if (qe_context_init(m, cp, &c, err, sizeof err)) return 0;
    int n = nb * BENCH_BATCH_PROMPT;
    qe_token *tok = malloc((size_t)n * sizeof *tok);
    qe_pos *pos = malloc((size_t)n * sizeof *pos);
    qe_seq *seq = malloc((size_t)n * sizeof *seq);
    int8_t *want = malloc((size_t)n);
    for (int i = 0; i < n; i++) {
        tok[i] = (qe_token)(1000 + i * 37 % 100000);
        seq[i] = i / BENCH_BATCH_PROMPT;
        pos[i] = i % BENCH_BATCH_PROMPT;
        want[i] = pos[i] == BENCH_BATCH_PROMPT - 1;
    }
    qe_batch b = { n, tok, pos, seq, want };
    double t = 0;
    if (!qe_decode(c, &b, err, sizeof err)) {
        for (int k = 0; k < nb; k++) tok[k] = qe_argmax(qe_get_logits(c, k * BENCH_BATCH_PROMPT + BENCH_BATCH_PROMPT - 1), in->n_vocab);
        t = decode_steps(c, in->n_vocab, nb, BENCH_BATCH_PROMPT, n_gen, tok, pos, seq, want, err, sizeof err);
    }
    free(tok); free(pos); free(seq); free(want);
    qe_context_free(c);
    return t > 0 ? nb * n_gen / t : 0;
}

/* Aggregate decode tok/s of an extraction run's shape: nb sequences that
 * hold one np-token prefix (shared blocks, as the prefix cache gives them)
 * and each its own nd-token document, stepping together. Attention over
 * the long contexts weighs here as it does not with 16-token prompts. */
static double prefix_decode(const qe_model *m, int nb, int np, int nd, int n_gen, int threads, int kv_f16)
{
    const qe_model_info *in = qe_model_get_info(m);
    qe_context_params cp = qe_context_default_params();
    cp.n_seq_max = nb;
    cp.n_ctx = np + nb * (nd + n_gen + 2 * cp.kv_block_size);   /* each copies the prefix's partial block */
    cp.n_batch_max = 512;
    cp.n_threads = threads;
    cp.kv_f16 = kv_f16;
    qe_context *c;
    char err[256];
    if (qe_context_init(m, cp, &c, err, sizeof err)) {
        fprintf(stderr, "quarry bench: shared-prefix decode: %s\n", err);
        return 0;
    }
    qe_token *tok = malloc(512 * sizeof *tok);
    qe_pos *pos = malloc(512 * sizeof *pos);
    qe_seq *seq = malloc(512 * sizeof *seq);
    int8_t *want = malloc(512);
    qe_token *next = malloc((size_t)nb * sizeof *next);
    double t = 0;
    int rc = 0;
    /* the prefix into sequence 0, shared by the others; then the documents */
    for (int k = -1; k < nb && !rc; k++) {
        int s = k < 0 ? 0 : k, p0 = k < 0 ? 0 : np, len = k < 0 ? np : nd;
        if (k > 0 && (rc = qe_seq_copy(c, 0, k, np))) {
            snprintf(err, sizeof err, "qe_seq_copy: no KV block free");
            break;
        }
        for (int i0 = 0; i0 < len && !rc; i0 += 512) {
            int n = len - i0 < 512 ? len - i0 : 512;
            for (int i = 0; i < n; i++) {
                tok[i] = (qe_token)(k < 0 ? 3000 + (i0 + i) * 7919 % 140000 : 1000 + (k * 4099 + (i0 + i) * 37) % 100000);
                pos[i] = p0 + i0 + i;
                seq[i] = s;
                want[i] = k >= 0 && i0 + i == len - 1;
            }
            qe_batch b = { n, tok, pos, seq, want };
            rc = qe_decode(c, &b, err, sizeof err);
        }
        if (k >= 0 && !rc) next[k] = qe_argmax(qe_get_logits(c, (len - 1) % 512), in->n_vocab);
    }
    if (!rc) {
        memcpy(tok, next, (size_t)nb * sizeof *tok);
        t = decode_steps(c, in->n_vocab, nb, np + nd, n_gen, tok, pos, seq, want, err, sizeof err);
        rc = t < 0;
    }
    if (rc) fprintf(stderr, "quarry bench: shared-prefix decode: %s\n", err);
    free(tok); free(pos); free(seq); free(want); free(next);
    qe_context_free(c);
    return t > 0 ? nb * n_gen / t : 0;
}

int cmd_bench(int argc, char **argv)
{
    const char *path = NULL, *C = "bench";
    int n_prompt = 512, n_gen = 128, reps = 3, threads = 0, json = 0, full = 1, use_mmap = 0, kv_f16 = 1;
    const char *kv = "f16";
    for (int i = 1; i < argc; i++) {
        int bad = 0;
        if (!strcmp(argv[i], "--model")) bad = cli_str(C, argc, argv, &i, &path);
        else if (!strcmp(argv[i], "--prompt")) bad = cli_int(C, argc, argv, &i, 1, 65536, &n_prompt);
        else if (!strcmp(argv[i], "--gen")) bad = cli_int(C, argc, argv, &i, 0, 65536, &n_gen);
        else if (!strcmp(argv[i], "--reps")) bad = cli_int(C, argc, argv, &i, 1, 100, &reps);
        else if (!strcmp(argv[i], "--threads")) bad = cli_int(C, argc, argv, &i, 1, 512, &threads);
        else if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--quick")) full = 0;
        else if (!strcmp(argv[i], "--mmap")) use_mmap = 1;
        else if (!strcmp(argv[i], "--kv")) {
            if (cli_str(C, argc, argv, &i, &kv)) return 2;
            if (strcmp(kv, "f16") && strcmp(kv, "f32")) {
                fprintf(stderr, "quarry bench: --kv takes f16 or f32, got '%s'\n", kv);
                return 2;
            }
            kv_f16 = !strcmp(kv, "f16");
        }
        else if (!strcmp(argv[i], "--help")) {
            printf("usage: quarry bench --model FILE [--prompt 512] [--gen 128] [--reps 3] [--threads N] [--json] [--quick] [--mmap] [--kv f16|f32]\n"
                   "  --kv: KV cache element type (default f16, as the scheduler and llama.cpp default to)\n"
                   "  --quick: prompt and batch-1 decode only (no batched decode, no time to first token)\n"
                   "  --mmap: weights served from the file mapping, in the file's layout, instead of private huge-page memory\n");
            return 0;
        } else { fprintf(stderr, "quarry bench: unknown option '%s'\n", argv[i]); return 2; }
        if (bad) return 2;
    }
    if (!path) { fprintf(stderr, "quarry bench: --model FILE is required\n"); return 2; }
    char err[512];
    qe_model *m;
    qe_model_params mp = qe_model_default_params();
    mp.weights_in_memory = !use_mmap;
    mp.file_layout = use_mmap;   /* shared pages are what --mmap is for: no private repacked copy */
    if (qe_model_load(path, mp, &m, err, sizeof err)) {
        fprintf(stderr, "quarry bench: %s\n", err);
        return 1;
    }
    const qe_model_info *in = qe_model_get_info(m);
    qe_context_params cp = qe_context_default_params();
    cp.n_seq_max = 1;
    cp.n_ctx = n_prompt + n_gen + 1;
    cp.n_batch_max = n_prompt;
    cp.n_threads = threads;
    cp.kv_f16 = kv_f16;
    qe_context *ctx;
    if (qe_context_init(m, cp, &ctx, err, sizeof err)) {
        fprintf(stderr, "quarry bench: %s\n", err);
        qe_model_free(m);
        return 1;
    }
    const double ctx_kv_mib = qe_kv_bytes(ctx) / 1048576.0;
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
        qe_token t = qe_argmax(qe_get_logits(ctx, n_prompt - 1), in->n_vocab);
        t0 = now_s();
        for (int g = 0; g < n_gen && !rc; g++) {
            qe_pos p = n_prompt + g;
            qe_batch s1 = { 1, &t, &p, seq, NULL };
            if ((rc = qe_decode(ctx, &s1, err, sizeof err))) break;
            t = qe_argmax(qe_get_logits(ctx, 0), in->n_vocab);
        }
        double tg = now_s() - t0;
        if (tg < best_gen) best_gen = tg;
    }
    free(toks); free(pos); free(seq);
    qe_context_free(ctx);
    /* batch 1 again in the batched runs' conditions (16-token contexts),
     * so batch B / batch 1 compares like with like */
    double bd[4] = {0}, cold = 0, warm = 0, bw = 0, shared8 = 0;
    static const int bsz[4] = { 1, 4, 8, 16 };
    int n_threads = threads > 0 ? threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (!rc) bw = read_bandwidth_gbs(n_threads);
    if (!rc && full) {
        for (int k = 0; k < 4; k++) bd[k] = batch_decode(m, bsz[k], BENCH_BATCH_STEPS, threads, kv_f16);
        shared8 = prefix_decode(m, 8, 1500, 300, BENCH_BATCH_STEPS, threads, kv_f16);
        qe_sched_params sp = qe_sched_default_params();
        sp.n_seq_max = 2;
        sp.kv_budget_mib = BENCH_KV_MIB;
        sp.n_threads = threads;
        sp.kv_f16 = kv_f16;
        qe_sched *s;
        if (!qe_sched_init(m, sp, &s, err, sizeof err)) {
            qe_token prefix[1500];
            for (int i = 0; i < 1500; i++) prefix[i] = (qe_token)(3000 + (i * 7919) % 140000);
            cold = ttft_ms(s, prefix, 1500, 1, 300);
            warm = ttft_ms(s, prefix, 1500, 2, 300);
            qe_sched_free(s);
        }
    }
    if (rc) {
        fprintf(stderr, "quarry bench: %s\n", err);
    } else {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        double pp = n_prompt / best_prompt, tg = n_gen ? n_gen / best_gen : 0;
        /* bytes a decode step reads: the layer and output matrices (an
         * untied embedding is read one row per token, so not the file) */
        double wbytes = (double)in->decode_bytes;
        double bound = bw > 0 ? bw * 1e9 / wbytes : 0;
        /* --quick runs no scheduler: its KV is the one context's cache */
        double kv_mib = full ? BENCH_KV_MIB : ctx_kv_mib;
        if (json)
            printf("{\"model\":\"%s\",\"weight_type\":\"%s\",\"kv_type\":\"%s\",\"threads\":%d,\"prompt_tokens\":%d,\"gen_tokens\":%d,"
                   "\"prompt_tok_s\":%.2f,\"decode_tok_s\":%.2f,"
                   "\"batch_decode_tok_s\":{\"1\":%.2f,\"4\":%.2f,\"8\":%.2f,\"16\":%.2f},\"batch_prompt_tokens\":%d,\"batch_steps\":%d,"
                   "\"shared_prefix_decode_tok_s\":%.2f,\"ttft_cold_ms\":%.1f,\"ttft_warm_ms\":%.1f,\"peak_rss_mib\":%.1f,"
                   "\"read_bandwidth_gb_s\":%.2f,\"decode_bound_tok_s\":%.2f,\"model_mib\":%.1f,\"decode_mib\":%.1f,\"kv_budget_mib\":%.1f,\"x16_matrices\":%d,\"q16_matrices\":%d}\n",
                   path, in->file_type_name, kv, n_threads, n_prompt, n_gen, pp, tg, bd[0], bd[1], bd[2], bd[3], BENCH_BATCH_PROMPT, BENCH_BATCH_STEPS, shared8, cold, warm,
                   ru.ru_maxrss / 1024.0, bw, bound, in->file_size / 1048576.0, wbytes / 1048576.0, kv_mib, in->n_x16, in->n_q16);
        else {
            printf("%s (%s), KV %s, %d threads, %s layout, %s activations\n", path, in->file_type_name, kv, n_threads,
                   in->n_x16 ? "X16" : "file", in->n_q16 ? "Q16 (integer types)" : "F32");
            printf("  prompt %d tokens:        %8.1f tok/s\n", n_prompt, pp);
            printf("  decode %d tokens after it:%8.2f tok/s\n", n_gen, tg);
            if (full) {
                printf("  batched decode, %d steps after %d-token prompts:\n", BENCH_BATCH_STEPS, BENCH_BATCH_PROMPT);
                for (int k = 0; k < 4; k++)
                    printf("    batch %-2d:               %8.2f tok/s aggregate (%.2fx batch 1)\n", bsz[k], bd[k],
                           bd[0] > 0 ? bd[k] / bd[0] : 0);
                printf("    batch 8, 1500-token shared prefix + 300-token documents: %.2f tok/s aggregate\n", shared8);
                printf("  first token, 1500+300:   %8.1f ms cold, %.1f ms warm prefix (%.1fx)\n", cold, warm,
                       warm > 0 ? cold / warm : 0);
            }
            printf("  read bandwidth:          %8.2f GB/s, %.0f MiB read per token -> decode bound %.1f tok/s (%.0f%% reached)\n",
                   bw, wbytes / 1048576.0, bound, bound > 0 ? 100 * tg / bound : 0);
            double lim = (in->file_size / 1048576.0 + kv_mib) * 1.15;
            printf("  peak RSS:                %8.0f MiB (file %.0f MiB + KV %s %.0f MiB + 15%% = %.0f MiB)\n",
                   ru.ru_maxrss / 1024.0, in->file_size / 1048576.0, full ? "budget" : "of the context", kv_mib, lim);
        }
    }
    qe_model_free(m);
    return rc ? 1 : 0;
}
