/*
 * test_sched.c - the continuous-batching scheduler and the prefix cache on a
 * small synthetic model (argv[1]):
 *  - greedy outputs are identical with the prefix cache on and off, with
 *    many requests in flight or one at a time, and the cache serves the
 *    shared prefix (hit tokens counted);
 *  - under a KV budget too small for all requests at once every request
 *    still completes with the same output (queueing, eviction, pre-emption);
 *  - requests that can never fit are rejected at submission;
 *  - cancellation, jump-forward through a stage, and the background thread
 *    with submissions from several threads.
 */
#include "qengine.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static qe_model *M;

enum { NREQ = 6, PREFIX = 150, SUFFIX = 20, GEN = 12 };
static int g_gen = GEN; /* max_tokens of greedy_req */
static int g_kv_f16 = 1; /* KV element type of new_sched */

typedef struct {
    qe_token out[128];
    int n, done, status, cached, forced;
    qe_stop_reason stop;
    pthread_mutex_t *mu;
} sink;

static void on_token(void *u, qe_token t)
{
    sink *k = u;
    if (k->n < 128) k->out[k->n++] = t;
}

static void on_done(void *u, const qe_result *r)
{
    sink *k = u;
    if (k->mu) pthread_mutex_lock(k->mu);
    k->done++;
    k->status = r->status;
    k->stop = r->stop;
    k->cached = r->cached_tokens;
    k->forced = r->forced_tokens;
    CHECK(r->n_tokens == k->n, "result tokens %d vs streamed %d", r->n_tokens, k->n);
    if (k->mu) pthread_mutex_unlock(k->mu);
}

static void make_prompt(int i, qe_token *p)
{
    for (int j = 0; j < PREFIX; j++) p[j] = (qe_token)(2000 + j * 17);            /* shared */
    for (int j = 0; j < SUFFIX; j++) p[PREFIX + j] = (qe_token)(9000 + i * 101 + j * 7);
}

static qe_sched *new_sched(int n_seq, int budget_mib, int prefix, int batch)
{
    qe_sched_params p = qe_sched_default_params();
    p.n_seq_max = n_seq;
    p.kv_budget_mib = budget_mib;
    p.kv_block_size = 16;
    p.max_batch_tokens = batch;
    p.prefix_cache = prefix;
    p.n_threads = 2;
    p.kv_f16 = g_kv_f16;
    qe_sched *s = NULL;
    char err[256];
    if (qe_sched_init(M, p, &s, err, sizeof err)) { fprintf(stderr, "sched: %s\n", err); exit(1); }
    return s;
}

static qe_request greedy_req(const qe_token *prompt, int n, sink *k)
{
    qe_request r = { .prompt = prompt, .n_prompt = n, .sampling = qe_sampling_default_params(0),
                     .max_tokens = g_gen, .on_token = on_token, .on_done = on_done, .user = k };
    r.sampling.temperature = 0;
    return r;
}

/* Runs all NREQ requests through a scheduler and stores their outputs. */
static void run_all(qe_sched *s, sink *k)
{
    qe_token prompt[NREQ][PREFIX + SUFFIX];
    for (int i = 0; i < NREQ; i++) {
        memset(&k[i], 0, sizeof k[i]);
        make_prompt(i, prompt[i]);
        qe_request r = greedy_req(prompt[i], PREFIX + SUFFIX, &k[i]);
        CHECK(qe_sched_submit(s, &r) > 0, "submit %d", i);
    }
    CHECK(qe_sched_run(s) == 0, "run to idle");
}

static void test_cache_on_off(void)
{
    sink ref[NREQ], a[NREQ], b[NREQ];
    /* reference: one request at a time, no cache */
    qe_sched *s = new_sched(1, 8, 0, 64);
    run_all(s, ref);
    qe_sched_free(s);
    /* many in flight, cache on */
    s = new_sched(4, 8, 1, 128);
    run_all(s, a);
    qe_sched_stats st;
    qe_sched_get_stats(s, &st);
    CHECK(st.prefix_hit_tokens >= (uint64_t)(NREQ - 1) * (PREFIX / 16) * 16,
          "prefix cache served %llu tokens", (unsigned long long)st.prefix_hit_tokens);
    /* a second wave finds everything warm */
    run_all(s, b);
    qe_sched_free(s);
    for (int i = 0; i < NREQ; i++) {
        CHECK(ref[i].done == 1 && a[i].done == 1 && b[i].done == 1, "request %d completed once", i);
        CHECK(ref[i].n == GEN && ref[i].stop == QE_STOP_LENGTH, "request %d: %d tokens", i, ref[i].n);
        CHECK(a[i].n == ref[i].n && !memcmp(a[i].out, ref[i].out, sizeof(qe_token) * ref[i].n),
              "request %d: greedy output differs with the prefix cache and batching", i);
        CHECK(b[i].n == ref[i].n && !memcmp(b[i].out, ref[i].out, sizeof(qe_token) * ref[i].n),
              "request %d: warm second wave differs", i);
        CHECK(b[i].cached >= (PREFIX / 16) * 16, "request %d of the warm wave: %d cached tokens", i, b[i].cached);
    }
    CHECK(a[0].cached == 0, "the first request computes the prefix itself");
}

static void test_tiny_budget(void)
{
    sink ref[NREQ], t[NREQ];
    qe_sched_stats st;
    g_gen = 100;
    g_kv_f16 = 0;
    qe_sched *s = new_sched(1, 8, 0, 64);
    run_all(s, ref);
    qe_sched_free(s);
    /* With F32 KV, 1 MiB holds 1024 tokens (64 blocks) of this model (2
     * layers x 2 heads x 32 x 2 x 4 bytes per token): 6 requests growing to
     * 270 tokens (17 blocks) each cannot all run at once. Without the prefix
     * cache the admitted ones outgrow the budget while decoding: pre-emption. */
    s = new_sched(6, 1, 0, 256);
    qe_sched_get_stats(s, &st);
    CHECK(st.kv_blocks_total == 64, "1 MiB of F32 KV: %d blocks of 16 tokens", st.kv_blocks_total);
    run_all(s, t);
    qe_sched_get_stats(s, &st);
    for (int i = 0; i < NREQ; i++)
        CHECK(t[i].done == 1 && t[i].status == QE_OK && t[i].n == ref[i].n &&
                  !memcmp(t[i].out, ref[i].out, sizeof(qe_token) * ref[i].n),
              "request %d under a tiny budget: done %d status %d", i, t[i].done, t[i].status);
    printf("tiny budget: %llu steps, %llu pre-emptions, %llu evictions, %llu prefix hit tokens\n",
           (unsigned long long)st.steps, (unsigned long long)st.preemptions,
           (unsigned long long)st.prefix_evictions, (unsigned long long)st.prefix_hit_tokens);
    CHECK(st.preemptions > 0, "the tiny budget forced pre-emptions");
    CHECK(st.kv_blocks_free == st.kv_blocks_total, "no block leaked: %d free of %d", st.kv_blocks_free,
          st.kv_blocks_total);
    qe_sched_free(s);
    /* the same with the prefix cache: cached blocks are evicted as needed */
    s = new_sched(6, 1, 1, 256);
    run_all(s, t);
    qe_sched_get_stats(s, &st);
    for (int i = 0; i < NREQ; i++)
        CHECK(t[i].done == 1 && t[i].status == QE_OK && t[i].n == ref[i].n &&
                  !memcmp(t[i].out, ref[i].out, sizeof(qe_token) * ref[i].n),
              "request %d under a tiny budget with the cache: done %d status %d", i, t[i].done, t[i].status);
    printf("tiny budget with cache: %llu steps, %llu pre-emptions, %llu evictions, %llu prefix hit tokens\n",
           (unsigned long long)st.steps, (unsigned long long)st.preemptions,
           (unsigned long long)st.prefix_evictions, (unsigned long long)st.prefix_hit_tokens);
    CHECK(st.kv_blocks_free + st.prefix_nodes == st.kv_blocks_total, "no block leaked: %d free + %d cached of %d",
          st.kv_blocks_free, st.prefix_nodes, st.kv_blocks_total);
    g_gen = GEN;

    /* never fits: prompt + max_tokens beyond the whole budget */
    qe_token big[1100];
    for (int i = 0; i < 1100; i++) big[i] = 100 + i;
    sink k = {0};
    qe_request r = greedy_req(big, 1100, &k);
    CHECK(qe_sched_submit(s, &r) == QE_ERANGE, "oversized request rejected at submission");
    qe_token bad = 1 << 30;
    r = greedy_req(&bad, 1, &k);
    CHECK(qe_sched_submit(s, &r) == QE_EINVAL, "bad token rejected");
    r = greedy_req(big, 0, &k);
    CHECK(qe_sched_submit(s, &r) == QE_EINVAL, "empty prompt rejected");
    CHECK(k.done == 0, "rejected requests get no callback");
    qe_sched_free(s);
    g_kv_f16 = 1;
    s = new_sched(6, 1, 0, 256);
    qe_sched_get_stats(s, &st);
    CHECK(st.kv_blocks_total == 128, "1 MiB of F16 KV holds twice the tokens: %d blocks", st.kv_blocks_total);
    qe_sched_free(s);
}

/* A stage that forces a fixed run of tokens after token 0 has been seen. */
typedef struct { int armed, fired; } force_state;
static void fs_apply(qe_sampler_stage *st, qe_cands *c) { (void)st; (void)c; }
static void fs_accept(qe_sampler_stage *st, qe_token t) { force_state *f = st->state; if (!f->fired) f->armed = 1; (void)t; }
static int fs_forced(qe_sampler_stage *st, qe_token *out, int cap)
{
    force_state *f = st->state;
    if (!f->armed || f->fired || cap < 3) return 0;
    f->fired = 1;
    out[0] = 11; out[1] = 22; out[2] = 33;
    return 3;
}
static void fs_free(qe_sampler_stage *st) { free(st->state); free(st); }

static void test_forced_and_cancel(void)
{
    qe_sched *s = new_sched(2, 8, 1, 64);
    qe_token p[PREFIX + SUFFIX];
    make_prompt(0, p);
    sink k = {0}, c = {0};
    qe_sampler_stage *st = calloc(1, sizeof *st);
    st->name = "force";
    st->apply = fs_apply;
    st->accept = fs_accept;
    st->forced = fs_forced;
    st->free = fs_free;
    st->state = calloc(1, sizeof(force_state));
    qe_request r = greedy_req(p, PREFIX + SUFFIX, &k);
    r.stage = st;
    CHECK(qe_sched_submit(s, &r) > 0, "submit with stage");
    qe_request r2 = greedy_req(p, PREFIX + SUFFIX, &c);
    r2.max_tokens = 60;
    int64_t id2 = qe_sched_submit(s, &r2);
    for (int i = 0; i < 3; i++) qe_sched_step(s);
    CHECK(qe_sched_cancel(s, id2) == QE_OK, "cancel");
    CHECK(qe_sched_run(s) == 0, "idle after cancel");
    CHECK(k.done == 1 && k.n == GEN && k.forced == 3 && k.out[1] == 11 && k.out[2] == 22 && k.out[3] == 33,
          "forced tokens follow the first sampled one: n %d forced %d [%d %d %d]", k.n, k.forced, k.out[1],
          k.out[2], k.out[3]);
    CHECK(c.done == 1 && c.stop == QE_STOP_CANCELLED && c.n < 60, "cancelled request reported once (%d tokens)", c.n);
    CHECK(qe_sched_cancel(s, id2) == QE_EINVAL, "cancel of a finished request");
    qe_sched_free(s);
}

typedef struct { qe_sched *s; sink *k; int base; } th_arg;
static qe_token th_prompts[NREQ][PREFIX + SUFFIX];

static void *submitter(void *a)
{
    th_arg *t = a;
    for (int i = t->base; i < t->base + NREQ / 2; i++) {
        qe_request r = greedy_req(th_prompts[i], PREFIX + SUFFIX, &t->k[i]);
        CHECK(qe_sched_submit(t->s, &r) > 0, "threaded submit %d", i);
    }
    return NULL;
}

static void test_background(void)
{
    sink ref[NREQ], k[NREQ];
    qe_sched *s = new_sched(1, 8, 0, 64);
    run_all(s, ref);
    qe_sched_free(s);
    s = new_sched(3, 8, 1, 128);
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    for (int i = 0; i < NREQ; i++) {
        memset(&k[i], 0, sizeof k[i]);
        k[i].mu = &mu;
        make_prompt(i, th_prompts[i]);
    }
    CHECK(qe_sched_start(s) == QE_OK, "start");
    pthread_t t1, t2;
    th_arg a1 = { s, k, 0 }, a2 = { s, k, NREQ / 2 };
    pthread_create(&t1, NULL, submitter, &a1);
    pthread_create(&t2, NULL, submitter, &a2);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    for (int spin = 0; spin < 6000; spin++) {
        int done = 0;
        pthread_mutex_lock(&mu);
        for (int i = 0; i < NREQ; i++) done += k[i].done;
        pthread_mutex_unlock(&mu);
        if (done == NREQ) break;
        struct timespec ts = { 0, 10 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    qe_sched_stop(s);
    for (int i = 0; i < NREQ; i++)
        CHECK(k[i].done == 1 && k[i].n == ref[i].n && !memcmp(k[i].out, ref[i].out, sizeof(qe_token) * ref[i].n),
              "background request %d", i);
    qe_sched_free(s);
}

int main(int argc, char **argv)
{
    if (argc != 2) { fprintf(stderr, "usage: test_sched MODEL.gguf\n"); return 2; }
    char err[512];
    if (qe_model_load(argv[1], qe_model_default_params(), &M, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    test_cache_on_off();
    test_tiny_budget();
    test_forced_and_cancel();
    test_background();
    qe_model_free(M);
    return CHECK_SUMMARY();
}
