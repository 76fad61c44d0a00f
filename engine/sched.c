/*
 * sched.c - continuous batching over one qe_context (see qengine.h).
 *
 * Each step: admit waiting requests into free sequence slots while KV blocks
 * allow (attaching whatever prefix the cache holds), then build one batch:
 * every decoding request's pending token(s) first (latency), then prompt
 * chunks of prefilling requests, up to max_batch_tokens. After the forward
 * pass, requests whose pending tokens are all in sample their next token
 * (or take a stage's forced continuation), and finished ones release their
 * slot after registering their prompt's full blocks in the prefix cache.
 *
 * The expected workload is many documents behind one long shared system
 * prompt, so admission defers a request whose first block is being
 * prefilled by another request right now: one computes the prefix, the
 * others then attach it instead of computing it again in parallel.
 */
#include "errmsg.h"
#include "forward.h"
#include "model.h"
#include "prefix.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QE_FORCED_MAX 64

typedef struct sreq {
    int64_t id;
    qe_request req;
    qe_token *toks;        /* prompt + generated */
    int n_toks, cap;
    int n_prompt;
    int n_ctx_done;        /* tokens already in the KV cache */
    int n_gen, forced, cached, preempt;
    int cancelled;
    int slot;              /* sequence id, -1 while waiting */
    qe_sampler *smp;
    struct sreq *next;     /* waiting queue */
} sreq;

struct qe_sched {
    const qe_model *m;
    qe_sched_params p;
    qe_context *ctx;
    kv_cache *kv;
    prefix_cache pc;
    int use_pc;
    sreq **slots;          /* n_seq_max */
    sreq *wait_head, *wait_tail;
    int64_t next_id;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    int running, stop;
    /* batch buffers */
    qe_token *b_tok;
    qe_pos *b_pos;
    qe_seq *b_seq;
    int8_t *b_logit;
    sreq **b_owner;        /* request whose last pending token is entry i */
    int32_t *blocks;       /* scratch for prefix matches */
    qe_sched_stats st;
    char msg[256];
};

qe_sched_params qe_sched_default_params(void)
{
    qe_sched_params p = { .n_seq_max = 8, .kv_budget_mib = 1024, .kv_block_size = 32,
                          .max_batch_tokens = 512, .n_threads = 0, .prefix_cache = 1,
                          .kv_f16 = 1 };
    return p;
}


int qe_sched_init(const qe_model *m, qe_sched_params p, qe_sched **out, char *err, size_t errlen)
{
    if (!m || !out || p.n_seq_max < 1 || p.kv_block_size < 1 || p.max_batch_tokens < 1 || p.kv_budget_mib < 1)
        return qe_fail(err, errlen, QE_EINVAL, "scheduler parameters out of range");
    const qe_model_info *in = qe_model_get_info(m);
    double per_tok = 2.0 * in->n_layer * in->n_head_kv * in->head_dim * (p.kv_f16 ? 2 : 4);
    long n_ctx = (long)((double)p.kv_budget_mib * 1048576.0 / per_tok);
    n_ctx -= n_ctx % p.kv_block_size;
    if (n_ctx < (long)p.kv_block_size * p.n_seq_max)
        return qe_fail(err, errlen, QE_ENOMEM, "a KV budget of %d MiB holds %ld tokens: less than one block of %d per request",
                       p.kv_budget_mib, n_ctx, p.kv_block_size);
    qe_sched *s = calloc(1, sizeof *s);
    if (!s) return qe_fail(err, errlen, QE_ENOMEM, "out of memory");
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->m = m;
    s->p = p;
    s->next_id = 1;
    qe_context_params cp = qe_context_default_params();
    cp.n_seq_max = p.n_seq_max;
    cp.n_ctx = (int)(n_ctx > (1L << 30) ? (1L << 30) : n_ctx);
    cp.n_batch_max = p.max_batch_tokens;
    cp.kv_block_size = p.kv_block_size;
    cp.n_threads = p.n_threads;
    cp.kv_f16 = p.kv_f16;
    cp.deterministic = p.deterministic;
    int rc = qe_context_init(m, cp, &s->ctx, err, errlen);
    if (rc) { qe_sched_free(s); return rc; }
    s->kv = qe_context_kv(s->ctx);
    int B = p.max_batch_tokens;
    s->slots = calloc((size_t)p.n_seq_max, sizeof *s->slots);
    s->b_tok = malloc((size_t)B * sizeof *s->b_tok);
    s->b_pos = malloc((size_t)B * sizeof *s->b_pos);
    s->b_seq = malloc((size_t)B * sizeof *s->b_seq);
    s->b_logit = malloc((size_t)B);
    s->b_owner = malloc((size_t)B * sizeof *s->b_owner);
    s->blocks = malloc((size_t)s->kv->n_blocks * sizeof *s->blocks);
    s->use_pc = p.prefix_cache;
    if (!s->slots || !s->b_tok || !s->b_pos || !s->b_seq || !s->b_logit || !s->b_owner || !s->blocks ||
        (s->use_pc && pc_init(&s->pc, s->kv))) {
        qe_sched_free(s);
        return qe_fail(err, errlen, QE_ENOMEM, "out of memory");
    }
    *out = s;
    return QE_OK;
}

static void req_free(sreq *r)
{
    if (!r) return;
    if (r->smp) qe_sampler_free(r->smp);
    else if (r->req.stage && r->req.stage->free) r->req.stage->free(r->req.stage);
    free(r->toks);
    free(r);
}

/* Registers the prompt's full blocks in the prefix cache. */
static void cache_prompt(qe_sched *s, sreq *r)
{
    if (!s->use_pc || r->slot < 0) return;
    int nb = (r->n_ctx_done < r->n_prompt ? r->n_ctx_done : r->n_prompt) / s->kv->block_size;
    for (int b = 0; b < nb; b++) s->blocks[b] = kv_block_of(s->kv, r->slot, b * s->kv->block_size);
    pc_insert(&s->pc, r->toks, nb, s->blocks);
}

static void finish(qe_sched *s, sreq *r, qe_stop_reason why, int status, const char *msg)
{
    if (r->slot >= 0) {
        cache_prompt(s, r);
        qe_seq_truncate(s->ctx, r->slot, 0);
        s->slots[r->slot] = NULL;
        r->slot = -1;
    }
    qe_result res = { .id = r->id, .status = status, .message = msg ? msg : "", .stop = why,
                      .tokens = r->toks + r->n_prompt, .n_tokens = r->n_gen, .n_prompt = r->n_prompt,
                      .cached_tokens = r->cached, .forced_tokens = r->forced, .preemptions = r->preempt };
    s->st.completed++;
    if (r->req.on_done) r->req.on_done(r->req.user, &res);
    req_free(r);
}

int64_t qe_sched_submit(qe_sched *s, const qe_request *q)
{
    if (!s || !q) return QE_EINVAL;
    const qe_model_info *in = qe_model_get_info(s->m);
    int bad = q->n_prompt < 1 || !q->prompt || q->max_tokens < 1;
    for (int i = 0; !bad && i < q->n_prompt; i++) bad = q->prompt[i] < 0 || q->prompt[i] >= in->n_vocab;
    long need = (long)q->n_prompt + q->max_tokens;
    int rc = bad ? QE_EINVAL : need > (long)s->kv->n_blocks * s->kv->block_size ? QE_ERANGE : QE_OK;
    sreq *r = NULL;
    if (!rc) {
        r = calloc(1, sizeof *r);
        if (r) {
            r->cap = (int)need + QE_FORCED_MAX + 1;
            r->toks = malloc((size_t)r->cap * sizeof *r->toks);
            r->req = *q;
            r->smp = qe_sampler_init(s->m, q->sampling);
        }
        if (!r || !r->toks || !r->smp || (q->stage && qe_sampler_add(r->smp, q->stage))) {
            if (r && r->smp && q->stage) r->req.stage = NULL; /* not added: freed below */
            rc = QE_ENOMEM;
        }
    }
    if (rc) {
        if (r) { r->req.stage = NULL; req_free(r); }
        if (q->stage && q->stage->free) q->stage->free(q->stage);
        return rc;
    }
    memcpy(r->toks, q->prompt, (size_t)q->n_prompt * sizeof *r->toks);
    r->n_toks = r->n_prompt = q->n_prompt;
    r->slot = -1;
    pthread_mutex_lock(&s->mu);
    r->id = s->next_id++;
    if (s->wait_tail) s->wait_tail->next = r; else s->wait_head = r;
    s->wait_tail = r;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return r->id;
}

int qe_sched_cancel(qe_sched *s, int64_t id)
{
    int rc = QE_EINVAL;
    pthread_mutex_lock(&s->mu);
    for (sreq *r = s->wait_head; r; r = r->next)
        if (r->id == id) { r->cancelled = 1; rc = QE_OK; }
    for (int i = 0; i < s->p.n_seq_max; i++)
        if (s->slots[i] && s->slots[i]->id == id) { s->slots[i]->cancelled = 1; rc = QE_OK; }
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* Is some running request still prefilling a prompt whose first block
 * equals r's? Then r waits: it will find that block cached shortly. */
static int shares_running_prefill(const qe_sched *s, const sreq *r)
{
    int bs = s->kv->block_size;
    if (!s->use_pc || r->n_toks <= bs) return 0;
    for (int i = 0; i < s->p.n_seq_max; i++) {
        const sreq *o = s->slots[i];
        if (o && o->n_ctx_done < o->n_prompt && o->n_prompt > bs &&
            memcmp(o->toks, r->toks, (size_t)bs * sizeof *r->toks) == 0)
            return 1;
    }
    return 0;
}

/* Moves waiting requests into free slots while KV blocks allow. Called
 * with the lock held. */
static void admit(qe_sched *s)
{
    int bs = s->kv->block_size;
    sreq **link = &s->wait_head, *prev = NULL;
    int any_running = 0;
    for (int i = 0; i < s->p.n_seq_max; i++) any_running |= s->slots[i] != NULL;
    while (*link) {
        sreq *r = *link;
        int slot = -1;
        for (int i = 0; i < s->p.n_seq_max && slot < 0; i++)
            if (!s->slots[i]) slot = i;
        if (slot < 0) break;
        if (!r->cancelled && any_running && shares_running_prefill(s, r)) {
            prev = r;
            link = &r->next;
            continue;
        }
        /* unlink */
        *link = r->next;
        if (s->wait_tail == r) s->wait_tail = prev;
        r->next = NULL;
        if (r->cancelled) {
            pthread_mutex_unlock(&s->mu);
            finish(s, r, QE_STOP_CANCELLED, QE_OK, NULL);
            pthread_mutex_lock(&s->mu);
            link = prev ? &prev->next : &s->wait_head;
            continue;
        }
        int nb = 0;
        if (s->use_pc) nb = pc_match(&s->pc, r->toks, r->n_toks, (r->n_toks - 1) / bs, s->blocks);
        /* blocks for the rest of what is known now, plus one to grow */
        int need = (r->n_toks + bs - 1) / bs - nb + 1;
        if (need > s->kv->n_free && s->use_pc) pc_evict(&s->pc, need - s->kv->n_free);
        if (need > s->kv->n_free) {
            /* put it back at the front; it waits for blocks to free up */
            r->next = *link;
            *link = r;
            if (!r->next) s->wait_tail = r;
            break;
        }
        kv_attach(s->kv, slot, s->blocks, nb);
        r->n_ctx_done = nb * bs;
        if (!r->preempt) r->cached = nb * bs;
        r->slot = slot;
        s->slots[slot] = r;
        any_running = 1;
        link = prev ? &prev->next : &s->wait_head;
    }
}

/* Drops the newest running request's KV and queues it first again. */
static int preempt_one(qe_sched *s)
{
    sreq *victim = NULL;
    for (int i = 0; i < s->p.n_seq_max; i++)
        if (s->slots[i] && (!victim || s->slots[i]->id > victim->id)) victim = s->slots[i];
    if (!victim) return 0;
    qe_seq_truncate(s->ctx, victim->slot, 0);
    s->slots[victim->slot] = NULL;
    victim->slot = -1;
    victim->n_ctx_done = 0;
    victim->preempt++;
    s->st.preemptions++;
    pthread_mutex_lock(&s->mu);
    victim->next = s->wait_head;
    s->wait_head = victim;
    if (!s->wait_tail) s->wait_tail = victim;
    pthread_mutex_unlock(&s->mu);
    return 1;
}

/* Fills the batch: decoding requests first, then prompt chunks. */
static int build_batch(qe_sched *s)
{
    int n = 0, B = s->p.max_batch_tokens;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < s->p.n_seq_max && n < B; i++) {
            sreq *r = s->slots[i];
            if (!r || r->cancelled) continue;
            int pending = r->n_toks - r->n_ctx_done;
            int decoding = r->n_ctx_done >= r->n_prompt;
            if (pending <= 0 || decoding != (pass == 0)) continue;
            int k = pending < B - n ? pending : B - n;
            for (int j = 0; j < k; j++) {
                s->b_tok[n] = r->toks[r->n_ctx_done + j];
                s->b_pos[n] = r->n_ctx_done + j;
                s->b_seq[n] = i;
                s->b_logit[n] = j == pending - 1;
                s->b_owner[n] = r;
                n++;
            }
        }
    return n;
}

int qe_sched_step(qe_sched *s)
{
    pthread_mutex_lock(&s->mu);
    admit(s);
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < s->p.n_seq_max; i++)
        if (s->slots[i] && s->slots[i]->cancelled) finish(s, s->slots[i], QE_STOP_CANCELLED, QE_OK, NULL);

    int n = build_batch(s), rc;
    while (n > 0) {
        qe_batch b = { n, s->b_tok, s->b_pos, s->b_seq, s->b_logit };
        rc = qe_decode(s->ctx, &b, s->msg, sizeof s->msg);
        if (rc != QE_NO_KV) break;
        int want = 8;
        if (!(s->use_pc && pc_evict(&s->pc, want) > 0) && !preempt_one(s)) break;
        n = build_batch(s);
    }
    if (n > 0 && rc) {
        /* a request the engine rejects (should not happen: prompts were
         * checked at submission) fails alone, not the scheduler */
        for (int i = 0; i < s->p.n_seq_max; i++)
            if (s->slots[i]) finish(s, s->slots[i], QE_STOP_ERROR, rc, s->msg);
    } else if (n > 0) {
        s->st.steps++;
        s->st.batch_tokens += (uint64_t)n;
        for (int i = 0; i < n; i++) {
            sreq *r = s->b_owner[i];
            r->n_ctx_done = s->b_pos[i] + 1;
            if (!s->b_logit[i]) continue;
            if (s->use_pc && r->n_ctx_done == r->n_prompt) cache_prompt(s, r);
            const float *logits = qe_get_logits(s->ctx, i);
            qe_token t = qe_sampler_sample(r->smp, logits);
            if (t < 0) { finish(s, r, QE_STOP_ERROR, QE_EINVAL, "every token was masked"); continue; }
            qe_sampler_accept(r->smp, t);
            if (qe_token_is_stop(s->m, t)) { finish(s, r, QE_STOP_EOS, QE_OK, NULL); continue; }
            r->toks[r->n_toks++] = t;
            r->n_gen++;
            if (r->req.on_token) r->req.on_token(r->req.user, t);
            if (r->n_gen < r->req.max_tokens) {
                qe_token f[QE_FORCED_MAX];
                int room = r->req.max_tokens - r->n_gen;
                int nf = qe_sampler_forced(r->smp, f, room < QE_FORCED_MAX ? room : QE_FORCED_MAX);
                for (int k = 0; k < nf; k++) {
                    qe_sampler_accept(r->smp, f[k]);
                    r->toks[r->n_toks++] = f[k];
                    r->n_gen++;
                    r->forced++;
                    if (r->req.on_token) r->req.on_token(r->req.user, f[k]);
                }
            }
            if (r->n_gen >= r->req.max_tokens) finish(s, r, QE_STOP_LENGTH, QE_OK, NULL);
        }
    }
    pthread_mutex_lock(&s->mu);
    int left = 0;
    for (sreq *r = s->wait_head; r; r = r->next) left++;
    for (int i = 0; i < s->p.n_seq_max; i++) left += s->slots[i] != NULL;
    /* waiting requests that can never be admitted (nothing runs, nothing
     * to evict) fail instead of spinning */
    if (n == 0 && left && s->wait_head) {
        int any_running = 0;
        for (int i = 0; i < s->p.n_seq_max; i++) any_running |= s->slots[i] != NULL;
        if (!any_running) {
            sreq *r = s->wait_head;
            s->wait_head = r->next;
            if (!s->wait_head) s->wait_tail = NULL;
            pthread_mutex_unlock(&s->mu);
            finish(s, r, QE_STOP_ERROR, QE_NO_KV, "the request does not fit the KV budget");
            pthread_mutex_lock(&s->mu);
            left--;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return left;
}

int qe_sched_run(qe_sched *s)
{
    int left;
    while ((left = qe_sched_step(s)) > 0) {}
    return left;
}

static void *sched_main(void *arg)
{
    qe_sched *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        for (;;) {
            int busy = s->wait_head != NULL;
            for (int i = 0; i < s->p.n_seq_max && !busy; i++) busy = s->slots[i] != NULL;
            if (busy || s->stop) break;
            pthread_cond_wait(&s->cv, &s->mu);
        }
        int stop = s->stop;
        pthread_mutex_unlock(&s->mu);
        if (stop) return NULL;
        qe_sched_step(s);
    }
}

int qe_sched_start(qe_sched *s)
{
    if (s->running) return QE_EINVAL;
    s->stop = 0;
    if (pthread_create(&s->thread, NULL, sched_main, s)) return QE_ENOMEM;
    s->running = 1;
    return QE_OK;
}

void qe_sched_stop(qe_sched *s)
{
    if (!s->running) return;
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    s->running = 0;
}

void qe_sched_get_stats(qe_sched *s, qe_sched_stats *o)
{
    pthread_mutex_lock(&s->mu);
    *o = s->st;
    o->kv_blocks_total = s->kv->n_blocks;
    o->kv_blocks_free = s->kv->n_free;
    if (s->use_pc) {
        o->prefix_lookups = s->pc.lookups;
        o->prefix_hit_tokens = s->pc.hit_tokens;
        o->prefix_evictions = s->pc.evictions;
        o->prefix_nodes = s->pc.n_nodes;
    }
    pthread_mutex_unlock(&s->mu);
}

void qe_sched_free(qe_sched *s)
{
    if (!s) return;
    qe_sched_stop(s);
    if (s->slots)
        for (int i = 0; i < s->p.n_seq_max; i++)
            if (s->slots[i]) finish(s, s->slots[i], QE_STOP_CANCELLED, QE_OK, NULL);
    while (s->wait_head) {
        sreq *r = s->wait_head;
        s->wait_head = r->next;
        finish(s, r, QE_STOP_CANCELLED, QE_OK, NULL);
    }
    if (s->use_pc) pc_free(&s->pc);
    qe_context_free(s->ctx);
    free(s->slots); free(s->b_tok); free(s->b_pos); free(s->b_seq); free(s->b_logit);
    free(s->b_owner); free(s->blocks);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}
