/*
 * sampler.c - the sampler chain: custom stages (a schema constraint, ...),
 * then presence penalty, top-k, temperature, top-p, min-p and the pick.
 *
 * Candidates start as the full vocabulary (151k entries); top-k is applied
 * with a partial selection rather than a full sort so a step costs one pass
 * over the logits. The RNG is xoshiro256** seeded through splitmix64, so a
 * seed gives the same choices on every platform.
 */
#include "kernels.h"
#include "model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define QE_MAX_STAGES 8

struct qe_sampler {
    const qe_model *m;
    qe_sampling_params p;
    qe_sampler_stage *stages[QE_MAX_STAGES];
    int n_stages;
    qe_cand *cand;          /* n_vocab candidates */
    int n_vocab;
    uint8_t *seen;          /* per token: appeared (presence penalty) */
    uint64_t rng[4];
};

qe_sampling_params qe_sampling_default_params(int thinking)
{
    qe_sampling_params p = { .temperature = thinking ? 0.6f : 0.7f,
                             .top_k = 20,
                             .top_p = thinking ? 0.95f : 0.8f,
                             .min_p = 0.0f,
                             .presence_penalty = 0.0f,
                             .seed = 0 };
    return p;
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t xoshiro(uint64_t *s)
{
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t; s[3] = rotl(s[3], 45);
    return r;
}

static double rng_uniform(qe_sampler *s) { return (double)(xoshiro(s->rng) >> 11) * 0x1.0p-53; }

static void seed_rng(qe_sampler *s)
{
    uint64_t x = s->p.seed;
    for (int i = 0; i < 4; i++) s->rng[i] = splitmix64(&x);
}

qe_sampler *qe_sampler_init(const qe_model *m, qe_sampling_params p)
{
    qe_sampler *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->m = m;
    s->p = p;
    s->n_vocab = m->info.n_vocab;
    s->cand = malloc((size_t)s->n_vocab * sizeof *s->cand);
    s->seen = calloc((size_t)s->n_vocab, 1);
    if (!s->cand || !s->seen) { qe_sampler_free(s); return NULL; }
    seed_rng(s);
    return s;
}

int qe_sampler_add(qe_sampler *s, qe_sampler_stage *st)
{
    if (!s || !st || !st->apply) return QE_EINVAL;
    if (s->n_stages == QE_MAX_STAGES) return QE_ENOMEM;
    s->stages[s->n_stages++] = st;
    return QE_OK;
}

void qe_sampler_free(qe_sampler *s)
{
    if (!s) return;
    for (int i = 0; i < s->n_stages; i++)
        if (s->stages[i]->free) s->stages[i]->free(s->stages[i]);
    free(s->cand);
    free(s->seen);
    free(s);
}

void qe_sampler_reset(qe_sampler *s)
{
    memset(s->seen, 0, (size_t)s->n_vocab);
    seed_rng(s);
    for (int i = 0; i < s->n_stages; i++)
        if (s->stages[i]->reset) s->stages[i]->reset(s->stages[i]);
}

void qe_sampler_accept(qe_sampler *s, qe_token tok)
{
    if (tok >= 0 && tok < s->n_vocab) s->seen[tok] = 1;
    for (int i = 0; i < s->n_stages; i++)
        if (s->stages[i]->accept) s->stages[i]->accept(s->stages[i], tok);
}

static int cmp_cand_desc(const void *a, const void *b)
{
    float x = ((const qe_cand *)a)->logit, y = ((const qe_cand *)b)->logit;
    if (x > y) return -1;
    if (x < y) return 1;
    /* ties broken by id so the order never depends on qsort's choices */
    return ((const qe_cand *)a)->id - ((const qe_cand *)b)->id;
}

/* Moves the k best candidates (by cmp_cand_desc) to the front, unsorted:
 * a min-heap of size k over one pass, so top-k 20 of 151k logits costs
 * about one comparison per logit. */
static void heap_sift(qe_cand *h, int k, int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, w = i;
        /* the heap's root is its worst element */
        if (l < k && cmp_cand_desc(&h[l], &h[w]) > 0) w = l;
        if (r < k && cmp_cand_desc(&h[r], &h[w]) > 0) w = r;
        if (w == i) return;
        qe_cand t = h[i]; h[i] = h[w]; h[w] = t;
        i = w;
    }
}

static void select_top(qe_cand *c, int n, int k)
{
    for (int i = k / 2 - 1; i >= 0; i--) heap_sift(c, k, i);
    for (int i = k; i < n; i++) {
        if (cmp_cand_desc(&c[i], &c[0]) < 0) {
            qe_cand t = c[0]; c[0] = c[i]; c[i] = t;
            heap_sift(c, k, 0);
        }
    }
}

static void sort_cands(qe_cands *c)
{
    if (!c->sorted) qsort(c->data, (size_t)c->n, sizeof *c->data, cmp_cand_desc);
    c->sorted = 1;
}

/* p = softmax(logit) over the current candidates (sorted, so data[0] is max). */
static void softmax_cands(qe_cands *c)
{
    float mx = c->data[0].logit;
    double sum = 0.0;
    for (int i = 0; i < c->n; i++) { c->data[i].p = expf(c->data[i].logit - mx); sum += c->data[i].p; }
    for (int i = 0; i < c->n; i++) c->data[i].p = (float)(c->data[i].p / sum);
}

int qe_argmax(const float *logits, int n) { return logits && n > 0 ? kern_argmax(logits, n) : -1; }

qe_token qe_sampler_sample(qe_sampler *s, const float *logits)
{
    /* plain greedy: the candidates' pick below is this argmax (candidates
     * at -inf or NaN dropped, ties to the lower id), without building them */
    if (s->n_stages == 0 && s->p.temperature <= 0.0f && s->p.presence_penalty == 0.0f)
        return kern_argmax(logits, s->n_vocab);
    qe_cands c = { s->cand, s->n_vocab, 0 };
    for (int i = 0; i < s->n_vocab; i++) {
        float l = logits[i];
        if (s->p.presence_penalty != 0.0f && s->seen[i]) l -= s->p.presence_penalty;
        c.data[i].id = i;
        c.data[i].logit = l;
        c.data[i].p = 0.0f;
    }
    for (int i = 0; i < s->n_stages; i++) {
        s->stages[i]->apply(s->stages[i], &c);
        if (c.n <= 0) return -1;
    }
    /* drop candidates a stage masked with -inf */
    int w = 0;
    for (int i = 0; i < c.n; i++)
        if (c.data[i].logit > -INFINITY) c.data[w++] = c.data[i];
    c.n = w;
    if (c.n == 0) return -1;

    if (s->p.temperature <= 0.0f) {
        int best = 0;
        for (int i = 1; i < c.n; i++)
            if (cmp_cand_desc(&c.data[i], &c.data[best]) < 0) best = i;
        return c.data[best].id;
    }
    if (s->p.top_k > 0 && s->p.top_k < c.n) {
        select_top(c.data, c.n, s->p.top_k);
        c.n = s->p.top_k;
    }
    sort_cands(&c);
    for (int i = 0; i < c.n; i++) c.data[i].logit /= s->p.temperature;
    softmax_cands(&c);
    if (s->p.top_p < 1.0f) {
        double cum = 0.0;
        int keep = c.n;
        for (int i = 0; i < c.n; i++) {
            cum += c.data[i].p;
            if (cum >= s->p.top_p) { keep = i + 1; break; }
        }
        c.n = keep;
    }
    if (s->p.min_p > 0.0f) {
        float floor = c.data[0].p * s->p.min_p;
        int keep = 1;
        while (keep < c.n && c.data[keep].p >= floor) keep++;
        c.n = keep;
    }
    double total = 0.0;
    for (int i = 0; i < c.n; i++) total += c.data[i].p;
    double r = rng_uniform(s) * total, cum = 0.0;
    for (int i = 0; i < c.n; i++) {
        cum += c.data[i].p;
        if (r < cum) return c.data[i].id;
    }
    return c.data[c.n - 1].id;
}

int qe_sampler_forced(qe_sampler *s, qe_token *out, int cap)
{
    for (int i = 0; i < s->n_stages; i++)
        if (s->stages[i]->forced) {
            int n = s->stages[i]->forced(s->stages[i], out, cap);
            if (n > 0) return n;
        }
    return 0;
}
