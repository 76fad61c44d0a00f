/*
 * extract.c - the extraction scheduler and attempt ladder (see extract.h).
 *
 * Units of work are (document, chunk) tasks in a FIFO. A slot is one
 * sequence of the context; it takes a task and runs its attempts one after
 * the other. Each step builds one batch: first the pending tokens of every
 * generating slot (the last sampled token plus any jump-forward tokens),
 * then prompt pieces of prefilling slots in round-robin, up to the batch
 * size; logits are asked for only where a slot samples next.
 *
 * KV space: a new attempt is admitted only when the free blocks cover its
 * prompt; if the cache still runs out mid-generation, the most recently
 * admitted slot is preempted (its task goes back to the front of the queue
 * and restarts from scratch with the same seed, so the result does not
 * change), or, when it is alone, its attempt ends as "context_full".
 */
#include "extract.h"
#include "chunk.h"
#include "ground.h"
#include "jsonschema.h"
#include "constraint.h"
#include "prompt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#define EX_MAX_LADDER 40       /* attempts x tries */
#define EX_MAX_ERRORS 20       /* errors kept per attempt */
#define EX_MAX_SPANS 16        /* spans kept per mention */
#define EX_FORCED_CAP 256      /* jump-forward tokens taken at once */
#define EX_KV_BUDGET (2ull << 30)   /* default KV cache cap, bytes */

typedef struct ex_doc {
    doc *d;
    chunk_span *chunks;
    int n_chunks;
    json_t **results;      /* per chunk; NULL = failed or pending */
    int n_done;
    rec_attempt *att;
    int n_att, cap_att;
    int mode_used;
    int used_think;
} ex_doc;

typedef struct ex_task {
    ex_doc *xd;
    int chunk;
    int step;              /* ladder step to (re)start at */
} ex_task;

typedef struct ex_slot {
    int busy;
    qe_seq seq;
    ex_doc *xd;
    int chunk, step, mode, try_no;
    qe_token *ids;         /* prompt tokens to feed */
    int n_ids, n_fed;
    int tokens_in, hit;
    qe_token *pend;        /* generated tokens not decoded yet */
    int n_pend;
    int n_out, n_thought, thinking, max_out;
    qe_sampler *smp;
    jc_state *jc;          /* when constrained */
    qe_detok *dt;
    char *text;
    size_t text_n, text_cap;
    double t0;
    long admitted;         /* admission order, for preemption */
    /* this step's batch */
    int b_first, b_n, b_prompt, b_want;
} ex_slot;

struct ex_engine {
    const qe_model *m;
    const spec *sp;
    const rec_model *mid;
    ex_params p;
    ex_emit_fn emit;
    void *ud;
    const qe_vocab_info *voc;
    qe_context *ctx;
    qe_context_params cp;
    prompt_set ps;
    int prefix_seq, prefix_ready;
    int ladder_mode[EX_MAX_LADDER], ladder_try[EX_MAX_LADDER], n_ladder;
    int chunk_tokens, overlap;
    int max_out[SPEC_N_MODES];
    ex_slot *slots;
    int n_slots;
    ex_task *q;
    int q_head, q_n, q_cap;
    int pending_docs;
    qe_token *b_tok;
    qe_pos *b_pos;
    qe_seq *b_seq;
    int8_t *b_want;
    int rr;
    long admissions;
    jc_grammar *grammar;   /* NULL: unconstrained (--no-constraint) */
    qe_token *scratch;     /* token counting */
    int scratch_cap;
    ex_stats st;
    double t_start;
    char err[512];
};

static double ex_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

ex_params ex_default_params(void)
{
    ex_params p = { 4, 0, 0, 0, 0, 1, 1, 0 };
    return p;
}

/* ------------------------------------------------------------ the queue */

static int ex_q_grow(ex_engine *ex)
{
    if (ex->q_n < ex->q_cap) return 0;
    int cap = ex->q_cap ? ex->q_cap * 2 : 64;
    ex_task *q = malloc((size_t)cap * sizeof *q);
    if (!q) return -1;
    for (int i = 0; i < ex->q_n; i++) q[i] = ex->q[(ex->q_head + i) % ex->q_cap];
    free(ex->q);
    ex->q = q;
    ex->q_head = 0;
    ex->q_cap = cap;
    return 0;
}

static int ex_q_push(ex_engine *ex, ex_task t, int front)
{
    if (ex_q_grow(ex)) return -1;
    if (front) {
        ex->q_head = (ex->q_head + ex->q_cap - 1) % ex->q_cap;
        ex->q[ex->q_head] = t;
    } else {
        ex->q[(ex->q_head + ex->q_n) % ex->q_cap] = t;
    }
    ex->q_n++;
    return 0;
}

static ex_task ex_q_pop(ex_engine *ex)
{
    ex_task t = ex->q[ex->q_head];
    ex->q_head = (ex->q_head + 1) % ex->q_cap;
    ex->q_n--;
    return t;
}

/* ------------------------------------------------------------ documents */

static void ex_doc_free(ex_doc *xd)
{
    if (!xd) return;
    for (int i = 0; i < xd->n_att; i++) rec_attempt_clear(&xd->att[i]);
    free(xd->att);
    for (int i = 0; i < xd->n_chunks && xd->results; i++) json_decref(xd->results[i]);
    free(xd->results);
    free(xd->chunks);
    doc_free(xd->d);
    free(xd);
}

static void ex_emit(ex_engine *ex, doc *d, const rec_result *r)
{
    json_t *rec = rec_build(d, ex->sp, ex->mid, r);
    ex->st.docs++;
    if (r->ok) ex->st.ok++;
    else ex->st.failed++;
    /* a record that cannot be built still counts; the caller sees NULL */
    ex->emit(ex->ud, d, rec, r->ok);
}

/* The first error of the last attempt, for a failure reason. */
static const char *ex_last_error(const ex_doc *xd, int chunk)
{
    for (int i = xd->n_att; i-- > 0;)
        if (xd->att[i].chunk == chunk && json_array_size(xd->att[i].errors))
            return json_string_value(json_array_get(xd->att[i].errors, 0));
    return "no attempt could run";
}

static void ex_finish_doc(ex_engine *ex, ex_doc *xd)
{
    rec_result r = { 0 };
    r.mode = -1;
    r.attempts = xd->att;
    r.n_attempts = xd->n_att;
    r.n_chunks = xd->n_chunks;
    char reason[900];
    int failed_chunk = -1;
    for (int i = 0; i < xd->n_chunks && failed_chunk < 0; i++)
        if (!xd->results[i]) failed_chunk = i;
    json_t *x = NULL, *men = NULL;
    if (failed_chunk >= 0) {
        if (xd->n_chunks == 1)
            snprintf(reason, sizeof reason, "every attempt failed; last error: %s", ex_last_error(xd, 0));
        else
            snprintf(reason, sizeof reason, "chunk %d of %d: every attempt failed; last error: %s", failed_chunk + 1,
                     xd->n_chunks, ex_last_error(xd, failed_chunk));
        r.reason = reason;
    } else {
        x = xd->n_chunks == 1 ? json_incref(xd->results[0]) : chunk_merge(ex->sp, xd->results, xd->n_chunks);
        if (!x) {
            r.reason = "out of memory merging chunks";
        } else if (xd->n_chunks > 1) {
            /* merging unites items the schema may bound differently */
            js_errors je;
            js_errors_init(&je, 1);
            if (js_validate(ex->sp->validator, x, &je) != 1) {
                snprintf(reason, sizeof reason, "the merged extraction of %d chunks does not validate: %s: %s",
                         xd->n_chunks, je.count ? je.items[0].instance : "", je.count ? je.items[0].message : "");
                r.reason = reason;
            }
            js_errors_clear(&je);
        }
        if (x && !r.reason) {
            ground_doc gd;
            if (!ground_doc_init(&gd, xd->d->title, xd->d->title ? strlen(xd->d->title) : 0, xd->d->text, xd->d->len)) {
                men = ground_mentions(ex->sp, x, &gd, EX_MAX_SPANS);
                ground_doc_free(&gd);
            }
            r.ok = 1;
            r.extraction = x;
            r.mentions = men;
            r.mode = xd->mode_used;
        }
    }
    if (xd->used_think) ex->st.fallbacks++;
    ex_emit(ex, xd->d, &r);
    json_decref(x);
    json_decref(men);
    ex->pending_docs--;
    ex_doc_free(xd);
}

static int ex_count(void *ud, const char *s, size_t n)
{
    ex_engine *ex = ud;
    if ((size_t)ex->scratch_cap < n + 16) {
        int cap = (int)(n + 16 < (1u << 28) ? n + 16 : 1u << 28);
        qe_token *t = realloc(ex->scratch, (size_t)cap * sizeof *t);
        if (!t) return -1;
        ex->scratch = t;
        ex->scratch_cap = cap;
    }
    return qe_tokenize(ex->m, s, n, ex->scratch, ex->scratch_cap);
}

int ex_submit(ex_engine *ex, doc *d)
{
    if (d->error) {
        rec_result r = { 0 };
        r.reason = d->error;
        r.mode = -1;
        ex_emit(ex, d, &r);
        doc_free(d);
        return 0;
    }
    ex_doc *xd = calloc(1, sizeof *xd);
    if (!xd) { doc_free(d); return -1; }
    xd->d = d;
    xd->mode_used = SPEC_NO_THINK;
    if (chunk_split(d->text, d->len, ex->chunk_tokens, ex->overlap, ex_count, ex, &xd->chunks,
                    &xd->n_chunks) ||
        !(xd->results = calloc((size_t)xd->n_chunks, sizeof *xd->results))) {
        ex_doc_free(xd);
        return -1;
    }
    ex->pending_docs++;
    ex->st.chunks += xd->n_chunks;
    for (int i = 0; i < xd->n_chunks; i++)
        if (ex_q_push(ex, (ex_task){ xd, i, 0 }, 0)) return -1;
    return 0;
}

int ex_room(const ex_engine *ex) { return ex->q_n < ex->n_slots; }
int ex_pending(const ex_engine *ex) { return ex->pending_docs; }
const char *ex_error(const ex_engine *ex) { return ex->err; }

const ex_stats *ex_get_stats(ex_engine *ex)
{
    ex->st.seconds = ex_now() - ex->t_start;
    return &ex->st;
}

/* ------------------------------------------------------------- attempts */

static void ex_slot_release(ex_engine *ex, ex_slot *s)
{
    qe_sampler_free(s->smp);   /* frees the constraint's stage, not its state */
    s->smp = NULL;
    jc_state_free(s->jc);
    s->jc = NULL;
    qe_detok_free(s->dt);
    s->dt = NULL;
    free(s->ids);
    s->ids = NULL;
    s->n_ids = s->n_fed = s->n_pend = 0;
    qe_seq_truncate(ex->ctx, s->seq, 0);
}

static int ex_put_text(ex_slot *s, const char *p, size_t n)
{
    if (s->text_n + n + 1 > s->text_cap) {
        size_t cap = s->text_cap ? s->text_cap * 2 : 4096;
        while (cap < s->text_n + n + 1) cap *= 2;
        char *t = realloc(s->text, cap);
        if (!t) return -1;
        s->text = t;
        s->text_cap = cap;
    }
    memcpy(s->text + s->text_n, p, n);
    s->text_n += n;
    s->text[s->text_n] = 0;
    return 0;
}

/* Appends a token to the output (sampled or forced). */
static int ex_append(ex_engine *ex, ex_slot *s, qe_token t)
{
    qe_sampler_accept(s->smp, t);
    s->pend[s->n_pend++] = t;
    s->n_out++;
    if (qe_token_is_stop(ex->m, t)) return 0;
    size_t n;
    const char *piece = qe_detok_push(s->dt, t, &n);
    return ex_put_text(s, piece, n);
}

static uint64_t ex_seed(const ex_engine *ex, const ex_slot *s)
{
    const char *id = s->xd->d->id;
    uint64_t h = XXH3_64bits(id, strlen(id));
    return h ^ ((uint64_t)ex->sp->modes[s->mode].seed * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)s->chunk << 40) ^
           ((uint64_t)s->step << 56);
}

/* Prepares an attempt on a slot. 1: started; 0: not enough KV now (the
 * caller puts the task back); -1: out of memory. */
static int ex_start(ex_engine *ex, ex_slot *s, ex_task t, int others_busy)
{
    const spec *sp = ex->sp;
    const doc *d = t.xd->d;
    const chunk_span *c = &t.xd->chunks[t.chunk];
    int mode = ex->ladder_mode[t.step];
    qe_token *ids;
    int n;
    if (prompt_doc_ids(&ex->ps, sp, ex->m, d->title, d->title ? strlen(d->title) : 0, d->text + c->off, c->len,
                       mode == SPEC_THINK, &ids, &n))
        return -1;
    int block = ex->cp.kv_block_size;
    int need = (n + 64 + block - 1) / block + 1;
    if (others_busy && qe_kv_free_blocks(ex->ctx) < need) {
        free(ids);
        return 0;
    }
    s->hit = 0;
    if (ex->prefix_ready) {
        int rc = qe_seq_copy(ex->ctx, ex->prefix_seq, s->seq, ex->ps.n_prefix);
        if (rc == QE_OK) s->hit = ex->ps.n_prefix;
        else if (others_busy) {
            free(ids);
            return 0;
        }
    }
    if (!s->hit) {
        /* no shared prefix: this sequence computes it itself */
        qe_seq_truncate(ex->ctx, s->seq, 0);
        qe_token *all = malloc(((size_t)ex->ps.n_prefix + (size_t)n) * sizeof *all);
        if (!all) { free(ids); return -1; }
        memcpy(all, ex->ps.prefix_ids, (size_t)ex->ps.n_prefix * sizeof *all);
        memcpy(all + ex->ps.n_prefix, ids, (size_t)n * sizeof *all);
        free(ids);
        ids = all;
        n += ex->ps.n_prefix;
    }
    const spec_mode *mp = &sp->modes[mode];
    s->busy = 1;
    s->xd = t.xd;
    s->chunk = t.chunk;
    s->step = t.step;
    s->mode = mode;
    s->try_no = ex->ladder_try[t.step];
    s->ids = ids;
    s->n_ids = n;
    s->n_fed = 0;
    s->tokens_in = ex->ps.n_prefix + n - (s->hit ? 0 : ex->ps.n_prefix);
    s->n_pend = s->n_out = s->n_thought = 0;
    s->thinking = mode == SPEC_THINK;
    s->max_out = ex->max_out[mode];
    s->text_n = 0;
    s->t0 = ex_now();
    s->admitted = ++ex->admissions;
    qe_sampling_params sp_ = qe_sampling_default_params(mode == SPEC_THINK);
    sp_.temperature = (float)mp->temperature;
    sp_.top_k = mp->top_k;
    sp_.top_p = (float)mp->top_p;
    sp_.min_p = (float)mp->min_p;
    sp_.presence_penalty = (float)mp->presence_penalty;
    sp_.seed = ex_seed(ex, s);
    if (!(s->smp = qe_sampler_init(ex->m, sp_)) || !(s->dt = qe_detok_init(ex->m))) return -1;
    if (ex->grammar) {
        if (!(s->jc = jc_state_init(ex->grammar, mode == SPEC_THINK))) return -1;
        qe_sampler_stage *st = jc_stage(s->jc);
        if (!st || qe_sampler_add(s->smp, st)) return -1;
    }
    return 1;
}

/* Validation of an attempt's answer; errors go to errs. Returns the
 * parsed extraction when it passed (errs empty), else NULL. */
static json_t *ex_validate(ex_engine *ex, ex_slot *s, const char *stop, json_t *errs)
{
    const char *ans = s->text ? s->text : "";
    size_t alen = s->text_n;
    if (s->mode == SPEC_THINK) {
        size_t to, tl, ao, al;
        qe_chat_split_thinking(ans, alen, &to, &tl, &ao, &al);
        ans += ao;
        alen = al;
    }
    while (alen && (ans[alen - 1] == ' ' || ans[alen - 1] == '\n' || ans[alen - 1] == '\r' || ans[alen - 1] == '\t'))
        alen--;
    while (alen && (*ans == ' ' || *ans == '\n' || *ans == '\r' || *ans == '\t')) ans++, alen--;
    char msg[600];
    if (!strcmp(stop, "no_candidate")) {
        json_array_append_new(errs, json_string("generation: the constraint allowed no token"));
        return NULL;
    }
    if (!strcmp(stop, "context_full")) {
        json_array_append_new(errs, json_string("generation: the KV cache is too small for this attempt"));
        return NULL;
    }
    json_error_t je;
    json_t *x = json_loadb(ans, alen, JSON_REJECT_DUPLICATES, &je);
    if (!x) {
        if (!strcmp(stop, "length"))
            snprintf(msg, sizeof msg, "output: cut at max_tokens (%d) before the JSON was complete", s->max_out);
        else if (s->mode == SPEC_THINK && !alen)
            snprintf(msg, sizeof msg, "output: no answer after the thought");
        else
            snprintf(msg, sizeof msg, "output: not JSON: %s (at byte %d of the answer)", je.text, je.position);
        json_array_append_new(errs, json_string(msg));
        return NULL;
    }
    js_errors jerr;
    js_errors_init(&jerr, EX_MAX_ERRORS);
    int v = js_validate(ex->sp->validator, x, &jerr);
    if (v != 1) {
        for (int i = 0; i < jerr.count; i++) {
            snprintf(msg, sizeof msg, "schema: %s: %s", *jerr.items[i].instance ? jerr.items[i].instance : "(root)",
                     jerr.items[i].message);
            json_array_append_new(errs, json_string(msg));
        }
        if (!jerr.count) json_array_append_new(errs, json_string("schema: invalid"));
        js_errors_clear(&jerr);
        json_decref(x);
        return NULL;
    }
    js_errors_clear(&jerr);
    const doc *d = s->xd->d;
    const chunk_span *c = &s->xd->chunks[s->chunk];
    ground_doc gd;
    if (ground_doc_init(&gd, d->title, d->title ? strlen(d->title) : 0, d->text + c->off, c->len)) {
        json_array_append_new(errs, json_string("grounding: out of memory"));
        json_decref(x);
        return NULL;
    }
    int ng = ground_check(ex->sp, x, &gd, errs, EX_MAX_ERRORS);
    ground_doc_free(&gd);
    int nr = ground_check_refs(ex->sp, x, errs, EX_MAX_ERRORS - (int)json_array_size(errs));
    if (ng || nr) {
        json_decref(x);
        return NULL;
    }
    return x;
}

static void ex_chunk_done(ex_engine *ex, ex_doc *xd)
{
    if (++xd->n_done == xd->n_chunks) ex_finish_doc(ex, xd);
}

/* Ends the slot's attempt: validate, record, then the next rung of the
 * ladder or the chunk is done. */
static int ex_end(ex_engine *ex, ex_slot *s, const char *stop)
{
    size_t n;
    const char *tail = qe_detok_flush(s->dt, &n);
    if (ex_put_text(s, tail, n)) return -1;
    ex_doc *xd = s->xd;
    if (xd->n_att == xd->cap_att) {
        int cap = xd->cap_att ? xd->cap_att * 2 : 4;
        rec_attempt *a = realloc(xd->att, (size_t)cap * sizeof *a);
        if (!a) return -1;
        xd->att = a;
        xd->cap_att = cap;
    }
    json_t *errs = json_array();
    if (!errs) return -1;
    json_t *x = ex_validate(ex, s, stop, errs);
    rec_attempt *a = &xd->att[xd->n_att++];
    memset(a, 0, sizeof *a);
    a->chunk = s->chunk;
    a->mode = s->mode;
    a->try_no = s->try_no;
    a->constrained = s->jc != NULL;
    a->tokens_in = s->tokens_in;
    a->hit_tokens = s->hit;
    a->tokens_out = s->n_out;
    a->thought_tokens = s->mode == SPEC_THINK ? s->n_thought : -1;
    a->ms = (ex_now() - s->t0) * 1e3;
    a->stop = stop;
    a->ok = x != NULL;
    a->errors = errs;
    if (!x && s->text_n) {
        size_t k = s->text_n > REC_MAX_OUTPUT ? REC_MAX_OUTPUT : s->text_n;
        while (k < s->text_n && k > 0 && ((unsigned char)s->text[k] & 0xC0) == 0x80) k--;
        a->output = strndup(s->text, k);
    }
    ex->st.attempts++;
    ex->st.tokens_in += s->tokens_in;
    ex->st.hit_tokens += s->hit;
    ex->st.tokens_out += s->n_out;
    if (s->mode == SPEC_THINK) xd->used_think = 1;

    ex_task next = { xd, s->chunk, s->step + 1 };
    ex_slot_release(ex, s);
    s->busy = 0;
    s->xd = NULL;
    if (x) {
        xd->results[next.chunk] = x;
        if (ex->ladder_mode[next.step - 1] > xd->mode_used) xd->mode_used = ex->ladder_mode[next.step - 1];
        ex_chunk_done(ex, xd);
        return 0;
    }
    if (next.step < ex->n_ladder) {
        /* the next rung right away, on the same slot */
        int rc = ex_start(ex, s, next, 1);
        if (rc < 0) return -1;
        if (rc == 0) return ex_q_push(ex, next, 1);
        return 0;
    }
    ex_chunk_done(ex, xd);
    return 0;
}

/* Qwen's closing text, appended when the thought hits the budget or the
 * model tries to stop before answering. */
static int ex_close_thought(ex_engine *ex, ex_slot *s)
{
    for (int i = 0; i < ex->ps.n_close; i++)
        if (ex_append(ex, s, ex->ps.close_ids[i])) return -1;
    s->thinking = 0;
    return 0;
}

/* After a decode: choose the slot's next token(s) from its logits. */
static int ex_next(ex_engine *ex, ex_slot *s, const float *logits)
{
    s->n_pend = 0;
    /* a --max-tokens cap below the budget would leave no room to answer */
    int budget = ex->sp->modes[SPEC_THINK].thinking_budget;
    if (budget > s->max_out / 2 && s->max_out < ex->sp->modes[SPEC_THINK].max_tokens) budget = s->max_out / 2;
    if (s->thinking && s->n_thought >= budget) {
        if (ex_close_thought(ex, s)) return -1;
    } else {
        qe_token t = qe_sampler_sample(s->smp, logits);
        if (t < 0) return ex_end(ex, s, "no_candidate");
        if (s->thinking && qe_token_is_stop(ex->m, t)) {
            if (ex_close_thought(ex, s)) return -1;
        } else {
            if (ex_append(ex, s, t)) return -1;
            if (s->thinking) {
                if (t == ex->voc->think_end) s->thinking = 0;
                else s->n_thought++;
            }
            if (qe_token_is_stop(ex->m, t)) return ex_end(ex, s, "stop_token");
        }
    }
    if (s->jc && !s->thinking) {
        if (jc_done(s->jc)) return ex_end(ex, s, "complete");
        /* jump-forward: the only possible continuation, no sampling */
        qe_token f[EX_FORCED_CAP];
        int k = jc_forced(s->jc, f, EX_FORCED_CAP - s->n_pend > 0 ? EX_FORCED_CAP - s->n_pend : 0);
        for (int i = 0; i < k && s->n_out < s->max_out; i++)
            if (ex_append(ex, s, f[i])) return -1;
        if (jc_done(s->jc)) return ex_end(ex, s, "complete");
    }
    if (s->n_out >= s->max_out) return ex_end(ex, s, "length");
    return 0;
}

/* ---------------------------------------------------------------- steps */

static int ex_busy_count(const ex_engine *ex)
{
    int n = 0;
    for (int i = 0; i < ex->n_slots; i++) n += ex->slots[i].busy;
    return n;
}

static int ex_admit(ex_engine *ex)
{
    for (int i = 0; i < ex->n_slots && ex->q_n; i++) {
        ex_slot *s = &ex->slots[i];
        if (s->busy) continue;
        ex_task t = ex_q_pop(ex);
        int rc = ex_start(ex, s, t, ex_busy_count(ex) > 0);
        if (rc < 0) {
            snprintf(ex->err, sizeof ex->err, "out of memory starting an attempt");
            return -1;
        }
        if (rc == 0) return ex_q_push(ex, t, 1);   /* wait for KV space */
    }
    return 0;
}

/* Gives up a slot's attempt to free KV: back to the queue, or, alone,
 * ended as context_full. */
static int ex_preempt(ex_engine *ex)
{
    ex_slot *victim = NULL;
    for (int i = 0; i < ex->n_slots; i++)
        if (ex->slots[i].busy && (!victim || ex->slots[i].admitted > victim->admitted)) victim = &ex->slots[i];
    if (!victim) return -1;
    if (ex_busy_count(ex) == 1) return ex_end(ex, victim, "context_full");
    ex_task t = { victim->xd, victim->chunk, victim->step };
    ex_slot_release(ex, victim);
    victim->busy = 0;
    victim->xd = NULL;
    ex->st.preempted++;
    return ex_q_push(ex, t, 1);
}

int ex_step(ex_engine *ex)
{
    if (ex_admit(ex)) return -1;
    for (;;) {
        int B = ex->cp.n_batch_max, n = 0;
        for (int i = 0; i < ex->n_slots; i++) ex->slots[i].b_n = ex->slots[i].b_prompt = ex->slots[i].b_want = 0;
        /* generating slots first: one token each (plus forced ones) */
        for (int i = 0; i < ex->n_slots && n < B; i++) {
            ex_slot *s = &ex->slots[i];
            if (!s->busy || s->n_fed < s->n_ids || !s->n_pend) continue;
            int k = s->n_pend < B - n ? s->n_pend : B - n;
            int len = qe_seq_len(ex->ctx, s->seq);
            s->b_first = n;
            for (int j = 0; j < k; j++, n++) {
                ex->b_tok[n] = s->pend[j];
                ex->b_pos[n] = len + j;
                ex->b_seq[n] = s->seq;
                ex->b_want[n] = 0;
            }
            s->b_n = k;
            s->b_want = k == s->n_pend;
            if (s->b_want) ex->b_want[n - 1] = 1;
        }
        /* then prompt pieces, round-robin so no slot starves */
        for (int r = 0; r < ex->n_slots && n < B; r++) {
            ex_slot *s = &ex->slots[(ex->rr + r) % ex->n_slots];
            if (!s->busy || s->n_fed >= s->n_ids) continue;
            int k = s->n_ids - s->n_fed < B - n ? s->n_ids - s->n_fed : B - n;
            int len = qe_seq_len(ex->ctx, s->seq);
            s->b_first = n;
            for (int j = 0; j < k; j++, n++) {
                ex->b_tok[n] = s->ids[s->n_fed + j];
                ex->b_pos[n] = len + j;
                ex->b_seq[n] = s->seq;
                ex->b_want[n] = 0;
            }
            s->b_n = s->b_prompt = k;
            s->b_want = s->n_fed + k == s->n_ids;
            if (s->b_want) ex->b_want[n - 1] = 1;
        }
        ex->rr = (ex->rr + 1) % ex->n_slots;
        if (!n) return ex->q_n ? ex_admit(ex) == 0 : 0;
        qe_batch b = { n, ex->b_tok, ex->b_pos, ex->b_seq, ex->b_want };
        int rc = qe_decode(ex->ctx, &b, ex->err, sizeof ex->err);
        if (rc == QE_NO_KV) {
            if (ex_preempt(ex)) {
                snprintf(ex->err, sizeof ex->err, "KV cache exhausted and nothing to preempt");
                return -1;
            }
            continue;
        }
        if (rc) return -1;
        ex->st.decode_calls++;
        break;
    }
    for (int i = 0; i < ex->n_slots; i++) {
        ex_slot *s = &ex->slots[i];
        if (!s->busy || !s->b_n) continue;
        if (s->b_prompt) {
            s->n_fed += s->b_prompt;
            ex->st.prefilled += s->b_prompt;
        } else {
            memmove(s->pend, s->pend + s->b_n, (size_t)(s->n_pend - s->b_n) * sizeof *s->pend);
            s->n_pend -= s->b_n;
        }
        if (!s->b_want) continue;
        const float *logits = qe_get_logits(ex->ctx, s->b_first + s->b_n - 1);
        if (!logits) {
            snprintf(ex->err, sizeof ex->err, "no logits for a batch entry that asked for them");
            return -1;
        }
        if (ex_next(ex, s, logits)) {
            if (!*ex->err) snprintf(ex->err, sizeof ex->err, "out of memory");
            return -1;
        }
    }
    return 1;
}

/* ----------------------------------------------------------------- init */

int ex_init(const qe_model *m, const spec *sp, const rec_model *model_id, ex_params p, ex_emit_fn emit, void *ud,
            ex_engine **out, char *err, size_t errlen)
{
    *out = NULL;
    ex_engine *ex = calloc(1, sizeof *ex);
    if (!ex) { snprintf(err, errlen, "out of memory"); return -1; }
    ex->t_start = ex_now();
    ex->m = m;
    ex->sp = sp;
    ex->mid = model_id;
    ex->p = p;
    ex->emit = emit;
    ex->ud = ud;
    ex->voc = qe_model_vocab(m);
    if (p.jobs < 1) p.jobs = ex->p.jobs = 1;
    for (int i = 0; i < sp->n_attempts; i++)
        for (int t = 1; t <= sp->attempts[i].tries && ex->n_ladder < EX_MAX_LADDER; t++) {
            ex->ladder_mode[ex->n_ladder] = sp->attempts[i].mode;
            ex->ladder_try[ex->n_ladder++] = t;
        }
    for (int k = 0; k < SPEC_N_MODES; k++) {
        ex->max_out[k] = sp->modes[k].max_tokens;
        if (p.max_tokens > 0 && p.max_tokens < ex->max_out[k]) ex->max_out[k] = p.max_tokens;
    }
    ex->chunk_tokens = p.chunk_tokens > 0 ? p.chunk_tokens : sp->chunking.max_tokens;
    /* a smaller --chunk-tokens keeps the overlap below half a chunk */
    ex->overlap = sp->chunking.overlap_tokens;
    if (ex->overlap * 2 >= ex->chunk_tokens) ex->overlap = ex->chunk_tokens / 4;
    if (prompt_init(&ex->ps, sp, m, err, errlen)) goto fail;
    ex->st.prefix_tokens = ex->ps.n_prefix;

    if (p.constrain) {
        jc_grammar *g;
        char msg[400];
        if (jc_grammar_compile(sp->schema, m, &g, msg, sizeof msg)) {
            snprintf(err, errlen, "%s: the schema constraint cannot compile the schema: %s (--no-constraint runs without)",
                     sp->path, msg);
            goto fail;
        }
        ex->grammar = g;
        ex->st.constrained = 1;
    }

    /* KV capacity: every slot's prompt and output plus the shared prefix,
     * capped by a memory budget; admission control covers the rest */
    const qe_model_info *mi = qe_model_get_info(m);
    ex->cp = qe_context_default_params();
    ex->cp.n_seq_max = p.jobs + 1;
    ex->cp.n_threads = p.threads;
    ex->cp.deterministic = p.deterministic;
    int block = ex->cp.kv_block_size;
    int gen = ex->max_out[0] > ex->max_out[1] ? ex->max_out[0] : ex->max_out[1];
    long per_slot = (long)ex->chunk_tokens + 800 + gen + ex->ps.n_close + 2L * block;
    if (!p.prefix_cache) per_slot += ex->ps.n_prefix;
    long want = (long)ex->ps.n_prefix + block + (long)p.jobs * per_slot;
    size_t tok_bytes = (size_t)mi->n_layer * (size_t)mi->n_head_kv * (size_t)mi->head_dim * 2 * sizeof(float);
    long cap = (long)(EX_KV_BUDGET / (tok_bytes ? tok_bytes : 1));
    long need_one = (long)ex->ps.n_prefix + per_slot + (p.prefix_cache ? ex->ps.n_prefix : 0);
    if (want > cap) want = cap > need_one ? cap : need_one;
    if (p.n_ctx > 0) want = p.n_ctx;
    ex->cp.n_ctx = (int)want;
    ex->st.n_ctx = ex->cp.n_ctx;
    if (qe_context_init(m, ex->cp, &ex->ctx, err, errlen)) goto fail;
    ex->cp.n_batch_max = ex->cp.n_batch_max > 0 ? ex->cp.n_batch_max : 512;
    ex->n_slots = p.jobs;
    ex->prefix_seq = p.jobs;
    if (!(ex->slots = calloc((size_t)ex->n_slots, sizeof *ex->slots)) ||
        !(ex->b_tok = malloc((size_t)ex->cp.n_batch_max * sizeof *ex->b_tok)) ||
        !(ex->b_pos = malloc((size_t)ex->cp.n_batch_max * sizeof *ex->b_pos)) ||
        !(ex->b_seq = malloc((size_t)ex->cp.n_batch_max * sizeof *ex->b_seq)) ||
        !(ex->b_want = malloc((size_t)ex->cp.n_batch_max))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (int i = 0; i < ex->n_slots; i++) {
        ex->slots[i].seq = i;
        /* forced tokens of one step: a sampled token, the closing text,
         * jump-forward tokens */
        if (!(ex->slots[i].pend = malloc((size_t)(EX_FORCED_CAP + ex->ps.n_close + 2) * sizeof(qe_token)))) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
    }
    if (p.prefix_cache) {
        /* the shared prefix, computed once into its own sequence */
        for (int off = 0; off < ex->ps.n_prefix;) {
            int k = ex->ps.n_prefix - off < ex->cp.n_batch_max ? ex->ps.n_prefix - off : ex->cp.n_batch_max;
            for (int j = 0; j < k; j++) {
                ex->b_tok[j] = ex->ps.prefix_ids[off + j];
                ex->b_pos[j] = off + j;
                ex->b_seq[j] = ex->prefix_seq;
            }
            qe_batch b = { k, ex->b_tok, ex->b_pos, ex->b_seq, NULL };
            if (qe_decode(ex->ctx, &b, err, errlen)) goto fail;
            off += k;
            ex->st.prefilled += k;
            ex->st.decode_calls++;
        }
        ex->prefix_ready = 1;
    }
    *out = ex;
    return 0;
fail:
    ex_free(ex);
    return -1;
}

void ex_free(ex_engine *ex)
{
    if (!ex) return;
    for (int i = 0; i < ex->n_slots && ex->slots; i++) {
        ex_slot *s = &ex->slots[i];
        if (s->busy || s->smp) ex_slot_release(ex, s);
        free(s->pend);
        free(s->text);
    }
    /* documents still queued or running (an aborted run) */
    for (int i = 0; i < ex->q_n; i++) {
        ex_task t = ex->q[(ex->q_head + i) % ex->q_cap];
        int seen = 0;
        for (int k = 0; k < i && !seen; k++) seen = ex->q[(ex->q_head + k) % ex->q_cap].xd == t.xd;
        for (int k = 0; k < ex->n_slots && !seen && ex->slots; k++) seen = ex->slots[k].busy && ex->slots[k].xd == t.xd;
        if (!seen) ex_doc_free(t.xd);
    }
    for (int i = 0; i < ex->n_slots && ex->slots; i++) {
        ex_slot *s = &ex->slots[i];
        if (!s->busy) continue;
        int seen = 0;
        for (int k = 0; k < i && !seen; k++) seen = ex->slots[k].busy && ex->slots[k].xd == s->xd;
        if (!seen) ex_doc_free(s->xd);
    }
    free(ex->slots);
    free(ex->q);
    jc_grammar_free(ex->grammar);
    qe_context_free(ex->ctx);
    prompt_free(&ex->ps);
    free(ex->b_tok);
    free(ex->b_pos);
    free(ex->b_seq);
    free(ex->b_want);
    free(ex->scratch);
    free(ex);
}
