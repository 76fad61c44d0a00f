/*
 * forward.c - the Qwen3 dense forward pass over a batch of (token, position,
 * sequence) entries, and the context that owns its buffers and KV cache.
 *
 * Every buffer is sized in qe_context_init for n_batch_max entries; the
 * forward pass never allocates. Matrix products take one of two paths:
 *  - batches of >= QE_BLAS_MIN_BATCH rows (prompts): a GEMM, our AVX-512
 *    micro-kernel (gemm.c) or OpenBLAS sgemm over dequantized row chunks;
 *  - smaller batches (decode), and every batch in the deterministic mode:
 *    the batch-invariant row kernels (kern_matmul_rows), which read each
 *    weight row once for every row of the batch.
 * X16 matrices of Q8_0, Q4_K and Q6_K on AVX-512 VNNI (qe_mat.q16) take
 * every batch through the Q16 tiles instead (kernels_x16q.c): the input is
 * quantised once per product, and prompts and decode give the same bits.
 * Threads split a product's rows by cost; attention is attention.c.
 * One layer:  x += Wo·attn(rope(qnorm(Wq·n1)), rope(knorm(Wk·n1)), Wv·n1)
 *             x += Wdown·(silu(Wgate·n2) * Wup·n2),  n_i = rmsnorm(x)
 */
#include "errmsg.h"
#include "forward.h"
#include "attention.h"
#include "kernels.h"
#include "kvcache.h"
#include "model.h"
#include "quant.h"
#include "threadpool.h"

#include <cblas.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ggml-blas uses 32 too: below it the weight read dominates and the
 * row-at-a-time kernels, which read each weight once, win. */
#define QE_BLAS_MIN_BATCH 32
/* Batches of fewer rows quantise their Q16 input on one thread: a decode
 * step's few rows take microseconds, less than a dispatch costs. */
#define QE_Q16_PAR_MIN 32
/* Floats of dequantized weight rows per thread on the BLAS path (16 MiB):
 * large chunks keep sgemm efficient, since it re-packs the activations for
 * every call. Only contexts whose batches can reach QE_BLAS_MIN_BATCH get it. */
#define QE_DEQ_FLOATS ((size_t)1 << 22)

struct qe_context {
    const qe_model *m;
    qe_context_params p;
    tp_pool *pool;
    kv_cache kv;
    int max_in;          /* largest matmul input width */

    /* activations, n_batch_max rows each */
    float *x;            /* (B, n_embd) residual stream */
    float *xn;           /* (B, n_embd) normed */
    float *q;            /* (B, n_head * head_dim) */
    float *k, *v;        /* (B, n_head_kv * head_dim) */
    float *att;          /* (B, n_head * head_dim) attention output */
    float *g, *u;        /* (B, n_ff) */
    float *rope;         /* (B, head_dim) cos|sin table per entry */
    float *scores;       /* (n_threads, ATTN_TILE_ROWS * n_ctx) attention scores */
    attn_tile *tiles;    /* attention work of the batch being run */
    int n_tiles;
    float *deq;          /* (n_threads, QE_DEQ_FLOATS), or NULL */
    char *xq;            /* (B, kern_q16_row_bytes(max_in)) a product's input
                            as Q16 activations, or NULL (no q16 matrix) */
    float *logits;       /* (B, n_vocab) */
    int *logit_row;      /* entry -> row of logits, or -1 */
    int *out_entries;    /* rows of logits -> entry */
    int n_out;

    /* the batch being run */
    int n;
    const qe_token *tok;
    const qe_pos *pos;
    const qe_seq *seq;
};

/* The GEMM path (not batch-invariant) for prompt-sized batches. */
static int use_gemm(const qe_context *c, int nb)
{
    return nb >= QE_BLAS_MIN_BATCH && !c->p.deterministic;
}


qe_context_params qe_context_default_params(void)
{
    qe_context_params p = {
        .n_seq_max = 4, .n_ctx = 8192, .n_batch_max = 512, .kv_block_size = 32, .n_threads = 0,
    };
    return p;
}

static int default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

void qe_context_free(qe_context *c)
{
    if (!c) return;
    tp_free(c->pool);
    kv_free(&c->kv);
    free(c->x); free(c->xn); free(c->q); free(c->k); free(c->v); free(c->att);
    free(c->g); free(c->u); free(c->rope); free(c->scores); free(c->deq); free(c->xq); free(c->tiles);
    free(c->logits); free(c->logit_row); free(c->out_entries);
    free(c);
}

int qe_context_init(const qe_model *m, qe_context_params p, qe_context **out,
                    char *err, size_t errlen)
{
    if (!m || !out) return qe_fail(err, errlen, QE_EINVAL, "qe_context_init: no model");
    if (p.n_threads <= 0) p.n_threads = default_threads();
    if (p.n_seq_max < 1 || p.n_seq_max > 4096 || p.n_ctx < 1 || p.n_batch_max < 1 ||
        p.kv_block_size < 1 || p.kv_block_size > 4096 || p.n_threads > 512)
        return qe_fail(err, errlen, QE_EINVAL,
                       "context parameters out of range (n_seq_max %d, n_ctx %d, n_batch_max %d, kv_block_size %d, n_threads %d)",
                       p.n_seq_max, p.n_ctx, p.n_batch_max, p.kv_block_size, p.n_threads);
    const qe_model_info *in = &m->info;
    qe_context *c = calloc(1, sizeof *c);
    if (!c) return qe_fail(err, errlen, QE_ENOMEM, "out of memory");
    c->m = m;
    c->p = p;
    int B = p.n_batch_max, E = in->n_embd, Q = in->n_head * in->head_dim;
    int KV = in->n_head_kv * in->head_dim, F = in->n_ff, V = in->n_vocab;
    c->max_in = E > Q ? E : Q;
    if (F > c->max_in) c->max_in = F;
    /* sgemm is run per thread on disjoint row ranges: OpenBLAS's own
     * threads would only compete with ours for the same cores */
    openblas_set_num_threads(1);
#define ALLOC(ptr, count) (ptr = malloc((size_t)(count) * sizeof *(ptr)))
    if (!ALLOC(c->x, (size_t)B * E) || !ALLOC(c->xn, (size_t)B * E) || !ALLOC(c->q, (size_t)B * Q) ||
        !ALLOC(c->k, (size_t)B * KV) || !ALLOC(c->v, (size_t)B * KV) || !ALLOC(c->att, (size_t)B * Q) ||
        !ALLOC(c->g, (size_t)B * F) || !ALLOC(c->u, (size_t)B * F) ||
        !ALLOC(c->rope, (size_t)B * in->head_dim) ||
        !ALLOC(c->scores, (size_t)p.n_threads * ATTN_TILE_ROWS * p.n_ctx) ||
        !ALLOC(c->tiles, attn_max_tiles(B, in->n_head, in->n_head_kv)) ||
        (use_gemm(c, B) && !ALLOC(c->deq, (size_t)p.n_threads * QE_DEQ_FLOATS)) ||
        (in->n_q16 && !ALLOC(c->xq, (size_t)B * kern_q16_row_bytes(c->max_in))) ||
        !ALLOC(c->logits, (size_t)B * V) || !ALLOC(c->logit_row, B) || !ALLOC(c->out_entries, B) ||
        kv_init(&c->kv, p.kv_f16 ? GGML_TYPE_F16 : GGML_TYPE_F32, in->n_layer, in->n_head_kv, in->head_dim,
                p.kv_block_size, p.n_ctx, p.n_seq_max) ||
        !(c->pool = tp_init(p.n_threads))) {
        qe_context_free(c);
        return qe_fail(err, errlen, QE_ENOMEM,
                       "out of memory allocating a context for %d tokens of KV cache and batches of %d",
                       p.n_ctx, p.n_batch_max);
    }
#undef ALLOC
    for (int i = 0; i < B; i++) c->logit_row[i] = -1;
    *out = c;
    return QE_OK;
}

/* ------------------------------------------------------------------ matmul */

/* Y_i (nb, w_i->d) = X (nb, n) · W_iᵀ for up to 3 matrices sharing the
 * input (q/k/v, gate/up): one pool dispatch for all, the threads splitting
 * their concatenated rows. */
typedef struct {
    const qe_mat *w;
    float *Y;
} mm_out;

/* Up to this many threads share a product's rows through work stealing;
 * a larger pool splits them statically. */
#define QE_STEAL_MAX 64

typedef struct {
    qe_context *c;
    const float *X;
    const void *XQ;      /* X as Q16 activations when a matrix takes them */
    int nb, n_out;
    mm_out out[3];
    /* row kernels: thread i's chunks [head, tail), packed as tail << 32 | head */
    _Atomic uint64_t range[QE_STEAL_MAX];
} mm_job;

/* Rows per chunk on the row-kernel path: a multiple of every tile's row
 * count (8, 6, 4, 3; K-quants 12). Each thread owns a contiguous run of
 * chunks (one memory stream, which the prefetchers follow) and takes them
 * from the front; a thread that runs out takes chunks from the back of
 * another's run. A static split left one thread waiting for the other
 * 10-15% of a decode step: two cores do not stream memory at the same
 * speed. Which rows a chunk holds never changes a result: the row kernels
 * are invariant to the row range. */
#define QE_ROW_CHUNK 48
/* X16 matrices: 128 rows, the batch-1 tile (8 groups of 16) */
#define QE_ROW_CHUNK_X16 128

static int chunk_rows(const qe_mat *w) { return w->x16 ? QE_ROW_CHUNK_X16 : QE_ROW_CHUNK; }

/* Rows [r0, r1) of one product on the row kernels. */
static void mm_rows(const qe_mat *w, const float *X, const void *XQ, int nb, float *Y, int r0, int r1)
{
    if (w->q16) kern_matmul_x16q(w->type, w->data, w->n, XQ, nb, Y, w->d, r0, r1);
    else if (w->x16) kern_matmul_x16(w->type, w->data, w->n, X, nb, Y, w->d, r0, r1);
    else kern_matmul_rows(w->type, w->data, w->row_bytes, w->n, X, nb, Y, w->d, r0, r1);
}

static int take_front(_Atomic uint64_t *r, int *k)
{
    uint64_t v = atomic_load_explicit(r, memory_order_relaxed);
    for (;;) {
        uint32_t h = (uint32_t)v, t = (uint32_t)(v >> 32);
        if (h >= t) return 0;
        if (atomic_compare_exchange_weak_explicit(r, &v, v + 1, memory_order_relaxed, memory_order_relaxed)) {
            *k = (int)h;
            return 1;
        }
    }
}

static int take_back(_Atomic uint64_t *r, int *k)
{
    uint64_t v = atomic_load_explicit(r, memory_order_relaxed);
    for (;;) {
        uint32_t h = (uint32_t)v, t = (uint32_t)(v >> 32);
        if (h >= t) return 0;
        if (atomic_compare_exchange_weak_explicit(r, &v, v - ((uint64_t)1 << 32), memory_order_relaxed,
                                                  memory_order_relaxed)) {
            *k = (int)t - 1;
            return 1;
        }
    }
}

/* Runs chunk k of the concatenated rows of j's matrices. */
static void mm_chunk(mm_job *j, int k)
{
    int i = 0;
    for (;;) {
        int cr = chunk_rows(j->out[i].w), nc = (j->out[i].w->d + cr - 1) / cr;
        if (k < nc) break;
        k -= nc;
        i++;
    }
    const qe_mat *w = j->out[i].w;
    int cr = chunk_rows(w), r0 = k * cr, r1 = r0 + cr < w->d ? r0 + cr : w->d;
    mm_rows(w, j->X, j->XQ, j->nb, j->out[i].Y, r0, r1);
}

/* Rows [r0, r1) of one product on the GEMM path. */
static void mm_gemm_rows(qe_context *c, const qe_mat *w, const float *X, const void *XQ, int nb, float *Y, int r0,
                         int r1, int ith)
{
    float *scratch = c->deq + (size_t)ith * QE_DEQ_FLOATS;
    if (w->q16) {
        /* the integer tiles take a batch of any size (from 16 inputs
         * each 16-row group is decoded once into a panel in L1 that every
         * 8 inputs read); they beat the F32 GEMM, and prompts and decode
         * agree bitwise */
        kern_matmul_x16q(w->type, w->data, w->n, XQ, nb, Y, w->d, r0, r1);
        return;
    }
    if (w->x16) {
        if (kern_gemm_scratch_floats(w->n) > QE_DEQ_FLOATS ||
            !kern_gemm_rows_x16(w->type, w->data, w->n, X, nb, Y, w->d, r0, r1, scratch))
            kern_matmul_x16(w->type, w->data, w->n, X, nb, Y, w->d, r0, r1);
        return;
    }
    /* our AVX-512 kernel where the CPU has it (packs and converts the
     * weights itself), else dequantize into scratch and call sgemm */
    if (kern_gemm_scratch_floats(w->n) <= QE_DEQ_FLOATS &&
        kern_gemm_rows(w->type, w->data, w->row_bytes, w->n, X, nb, Y, w->d, r0, r1, scratch))
        return;
    int chunk = w->type == GGML_TYPE_F32 ? r1 - r0 : (int)(QE_DEQ_FLOATS / (size_t)w->n);
    for (int r = r0; r < r1; r += chunk) {
        int rows = r1 - r < chunk ? r1 - r : chunk;
        const float *Wc;
        if (w->type == GGML_TYPE_F32) {
            Wc = (const float *)((const char *)w->data + (size_t)r * w->row_bytes);
        } else {
            for (int i = 0; i < rows; i++)
                qe_dequantize_row(w->type, (const char *)w->data + (size_t)(r + i) * w->row_bytes,
                                  scratch + (size_t)i * w->n, w->n);
            Wc = scratch;
        }
        /* Y[:, r:r+rows] = X (nb x n) * Wc^T (n x rows) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb, rows, w->n, 1.0f, X, w->n,
                    Wc, w->n, 0.0f, Y + r, w->d);
    }
}

static void mm_worker(void *arg, int ith, int nth)
{
    mm_job *j = arg;
    int gemm = use_gemm(j->c, j->nb);
    if (!gemm && nth <= QE_STEAL_MAX) {
        int k;
        while (take_front(&j->range[ith], &k)) mm_chunk(j, k);
        for (int v = 1; v < nth; v++)
            while (take_back(&j->range[(ith + v) % nth], &k)) mm_chunk(j, k);
        return;
    }
    /* The GEMM packs the activations per call, so its threads take one
     * range each, split by cost: the row width for the GEMM, the bytes
     * read for the row kernels (a Q6_K row costs more than a Q4_K one). */
    int64_t cost[3], total = 0;
    for (int i = 0; i < j->n_out; i++) {
        cost[i] = gemm ? j->out[i].w->n : (int64_t)j->out[i].w->row_bytes;
        total += cost[i] * j->out[i].w->d;
    }
    int64_t start = total * ith / nth, end = total * (ith + 1) / nth, base = 0;
    for (int i = 0; i < j->n_out; i++) {
        const qe_mat *w = j->out[i].w;
        /* row r is this thread's when its first byte's cost offset falls in [start, end) */
        int64_t lo = (start - base + cost[i] - 1) / cost[i], hi = (end - base + cost[i] - 1) / cost[i];
        if (lo < 0) lo = 0;
        if (hi > w->d) hi = w->d;   /* the last thread's end is the total: every row is taken */
        if (w->x16) {
            /* whole groups of 16 (d is a multiple of 16, so hi = d stays) */
            lo = (lo + 15) / 16 * 16;
            hi = (hi + 15) / 16 * 16;
        }
        if (lo < hi && gemm) mm_gemm_rows(j->c, w, j->X, j->XQ, j->nb, j->out[i].Y, (int)lo, (int)hi, ith);
        else if (lo < hi) mm_rows(w, j->X, j->XQ, j->nb, j->out[i].Y, (int)lo, (int)hi);
        base += cost[i] * w->d;
    }
}

typedef struct {
    const float *X;
    char *XQ;
    int n, nb;
} q16_job;

static void q16_worker(void *arg, int ith, int nth)
{
    q16_job *j = arg;
    int t0, t1;
    tp_split(j->nb, ith, nth, &t0, &t1);
    if (t0 < t1)
        kern_q16_quantize(j->X + (size_t)t0 * j->n, j->n, t1 - t0, j->XQ + (size_t)t0 * kern_q16_row_bytes(j->n));
}

/* Runs j on the pool. For the row kernels each thread first owns a run of
 * chunks of equal bytes (the chunks of a Q4_K_M layer differ in cost). */
static void mm_run(qe_context *c, mm_job *j)
{
    int nth = tp_n_threads(c->pool);
    int q16 = 0;
    for (int i = 0; i < j->n_out; i++) q16 |= j->out[i].w->q16;
    if (q16 && !j->XQ) {
        q16_job qj = { j->X, c->xq, j->out[0].w->n, j->nb };
        if (j->nb < QE_Q16_PAR_MIN || nth == 1) q16_worker(&qj, 0, 1);
        else tp_run(c->pool, q16_worker, &qj);
        j->XQ = c->xq;
    }
    if (!use_gemm(c, j->nb) && nth <= QE_STEAL_MAX) {
        int64_t total = 0, done = 0;
        for (int i = 0; i < j->n_out; i++) total += (int64_t)j->out[i].w->row_bytes * j->out[i].w->d;
        int t = 0, k = 0;
        uint32_t head = 0;
        for (int i = 0; i < j->n_out; i++) {
            const qe_mat *w = j->out[i].w;
            for (int r = 0; r < w->d; r += chunk_rows(w), k++) {
                /* chunk k goes to the thread whose share holds its first byte */
                while (t < nth - 1 && done >= total * (t + 1) / nth) {
                    atomic_init(&j->range[t], (uint64_t)k << 32 | head);
                    head = (uint32_t)k;
                    t++;
                }
                done += (int64_t)w->row_bytes * (w->d - r < chunk_rows(w) ? w->d - r : chunk_rows(w));
            }
        }
        for (; t < nth; t++) {
            atomic_init(&j->range[t], (uint64_t)k << 32 | head);
            head = (uint32_t)k;
        }
    }
    tp_run(c->pool, mm_worker, j);
}

/* Y (nb, w->d) = X (nb, w->n) · Wᵀ. XQ: X already quantised (Q16), or
 * NULL to quantise it here when the matrix takes Q16. */
static void matmul(qe_context *c, const qe_mat *w, const float *X, const void *XQ, int nb, float *Y)
{
    mm_job j = { .c = c, .X = X, .XQ = XQ, .nb = nb, .n_out = 1, .out = { { w, Y } } };
    mm_run(c, &j);
}

static void matmul3(qe_context *c, const float *X, const void *XQ, int nb, const qe_mat *w0, float *Y0,
                    const qe_mat *w1, float *Y1, const qe_mat *w2, float *Y2)
{
    mm_job j = { .c = c, .X = X, .XQ = XQ, .nb = nb, .n_out = w2 ? 3 : 2, .out = { { w0, Y0 }, { w1, Y1 }, { w2, Y2 } } };
    mm_run(c, &j);
}

/* --------------------------------------------------------------- attention */

typedef struct {
    qe_context *c;
    int layer;
} att_job;

static void att_worker(void *arg, int ith, int nth)
{
    att_job *j = arg;
    qe_context *c = j->c;
    const qe_model_info *in = &c->m->info;
    float scale = 1.0f / sqrtf((float)in->head_dim);
    float *scratch = c->scores + (size_t)ith * ATTN_TILE_ROWS * c->p.n_ctx;
    int a, b;
    /* split by cost: later tokens of a prefill see more positions */
    attn_split(c->tiles, c->n_tiles, ith, nth, &a, &b);
    for (int i = a; i < b; i++)
        attn_run(&c->kv, j->layer, &c->tiles[i], c->q, in->n_head * in->head_dim, c->pos, c->att, scale,
                 scratch, c->p.n_ctx);
}

/* q/k norm + RoPE for every entry, then K and V into the cache. */
typedef struct {
    qe_context *c;
    const qe_layer *L;
    int layer;
} qk_job;

static void qk_worker(void *arg, int ith, int nth)
{
    qk_job *j = arg;
    qe_context *c = j->c;
    const qe_model_info *in = &c->m->info;
    kv_cache *kv = &c->kv;
    int H = in->n_head, KVH = in->n_head_kv, hd = in->head_dim;
    int t0, t1;
    tp_split(c->n, ith, nth, &t0, &t1);
    for (int t = t0; t < t1; t++) {
        const float *cs = c->rope + (size_t)t * hd;
        for (int h = 0; h < H; h++) {
            float *q = c->q + ((size_t)t * H + h) * hd;
            kern_rmsnorm(q, q, j->L->q_norm, hd, in->rms_eps);
            kern_rope_neox(q, hd, cs);
        }
        for (int h = 0; h < KVH; h++) {
            float *k = c->k + ((size_t)t * KVH + h) * hd;
            kern_rmsnorm(k, k, j->L->k_norm, hd, in->rms_eps);
            kern_rope_neox(k, hd, cs);
            attn_store(kv, c->seq[t], c->pos[t], j->layer, h, k, c->v + ((size_t)t * KVH + h) * hd);
        }
    }
}

typedef struct {
    qe_context *c;
    const float *w;     /* norm weight */
    float *dst;
    float *src;
    const float *res;   /* norms: src += res first (the residual), or NULL */
    int ff;             /* 1: swiglu on g,u instead of a norm */
    int q16;            /* also quantise the rows made (dst, g) into c->xq
                         * for the next product, in the same pass */
} ew_job;

static void ew_worker(void *arg, int ith, int nth)
{
    ew_job *j = arg;
    qe_context *c = j->c;
    const qe_model_info *in = &c->m->info;
    int t0, t1, E = in->n_embd, F = in->n_ff;
    tp_split(c->n, ith, nth, &t0, &t1);
    for (int t = t0; t < t1; t++) {
        if (j->ff) {
            float *g = c->g + (size_t)t * F;
            kern_swiglu(g, c->u + (size_t)t * F, F);
            if (j->q16) kern_q16_quantize(g, F, 1, c->xq + (size_t)t * kern_q16_row_bytes(F));
            continue;
        }
        float *x = j->src + (size_t)t * E, *y = j->dst + (size_t)t * E;
        if (j->res) {
            const float *r = j->res + (size_t)t * E;
            for (int i = 0; i < E; i++) x[i] += r[i];
        }
        kern_rmsnorm(y, x, j->w, E, in->rms_eps);
        if (j->q16) kern_q16_quantize(y, E, 1, c->xq + (size_t)t * kern_q16_row_bytes(E));
    }
}

/* dst = rmsnorm(src (+= res)) for every entry; with q16 its Q16 rows too
 * (returned for the product's XQ, else NULL) */
static const void *rmsnorm_rows(qe_context *c, float *dst, float *src, const float *res, const float *w, int q16)
{
    ew_job j = { c, w, dst, src, res, 0, q16 };
    tp_run(c->pool, ew_worker, &j);
    return q16 ? c->xq : NULL;
}

/* ------------------------------------------------------------------ decode */

static int check_batch(qe_context *c, const qe_batch *b, char *err, size_t errlen)
{
    const qe_model_info *in = &c->m->info;
    if (!b || b->n < 1 || b->n > c->p.n_batch_max || !b->token || !b->pos || !b->seq)
        return qe_fail(err, errlen, QE_EINVAL, "batch of %d entries: expected 1..%d entries with tokens, positions and sequences",
                       b ? b->n : 0, c->p.n_batch_max);
    /* a sequence's expected next position is its length plus the entries
     * of it seen earlier in this batch (a scan: batches are small next to
     * the work they cause, and it needs no per-sequence scratch) */
    for (int i = 0; i < b->n; i++) {
        qe_token t = b->token[i];
        qe_seq s = b->seq[i];
        if (t < 0 || t >= in->n_vocab)
            return qe_fail(err, errlen, QE_ERANGE, "batch entry %d: token %d out of range 0..%d", i, t, in->n_vocab - 1);
        if (s < 0 || s >= c->p.n_seq_max)
            return qe_fail(err, errlen, QE_ERANGE, "batch entry %d: sequence %d out of range 0..%d", i, s, c->p.n_seq_max - 1);
        int expect = c->kv.seq_len[s];
        for (int k = 0; k < i; k++) expect += b->seq[k] == s;
        if (b->pos[i] != expect)
            return qe_fail(err, errlen, QE_ERANGE, "batch entry %d: sequence %d continues at position %d, got %d",
                           i, s, expect, b->pos[i]);
        if (b->pos[i] >= c->p.n_ctx)
            return qe_fail(err, errlen, QE_ERANGE, "batch entry %d: position %d beyond the context of %d tokens",
                           i, b->pos[i], c->p.n_ctx);
    }
    return QE_OK;
}

int qe_decode(qe_context *c, const qe_batch *b, char *err, size_t errlen)
{
    if (!c) return QE_EINVAL;
    int rc = check_batch(c, b, err, errlen);
    if (rc) return rc;
    const qe_model *m = c->m;
    const qe_model_info *in = &m->info;
    kv_cache *kv = &c->kv;
    int n = b->n, E = in->n_embd;

    /* KV space for every sequence first, so a failure changes nothing.
     * An entry is the last of its sequence in the batch when no later
     * entry has the same sequence; its position + 1 is the new length. */
    int need = 0;
    for (int i = 0; i < n; i++) {
        int last = 1;
        for (int k = i + 1; k < n && last; k++) last = b->seq[k] != b->seq[i];
        if (last) need += kv_blocks_needed(kv, b->seq[i], b->pos[i] + 1);
        /* the first entry of a sequence may land in a block it shares with
         * another sequence (after qe_seq_copy): that block is copied */
        int first = 1;
        for (int k = 0; k < i && first; k++) first = b->seq[k] != b->seq[i];
        if (first) need += kv_shared_blocks(kv, b->seq[i], b->pos[i], b->pos[i] + 1);
    }
    if (need > kv->n_free)
        return qe_fail(err, errlen, QE_NO_KV, "KV cache full: the batch needs %d more blocks of %d tokens, %d free",
                       need, kv->block_size, kv->n_free);
    for (int i = 0; i < n; i++) {
        int first = 1, last = 1;
        for (int k = 0; k < i && first; k++) first = b->seq[k] != b->seq[i];
        for (int k = i + 1; k < n && last; k++) last = b->seq[k] != b->seq[i];
        if (first) kv_make_writable(kv, b->seq[i], b->pos[i]);
        if (last) kv_grow(kv, b->seq[i], b->pos[i] + 1);
    }

    c->n = n;
    c->tok = b->token;
    c->pos = b->pos;
    c->seq = b->seq;
    c->n_tiles = attn_plan(&c->kv, n, b->seq, b->pos, in->n_head, in->n_head_kv, c->tiles);

    for (int i = 0; i < n; i++) {
        const qe_mat *te = &m->tok_embd;
        if (te->x16) kern_x16_row(te->type, te->data, E, b->token[i], c->x + (size_t)i * E);
        else qe_dequantize_row(te->type, (const char *)te->data + (size_t)b->token[i] * te->row_bytes,
                               c->x + (size_t)i * E, E);
        kern_rope_table(c->rope + (size_t)i * in->head_dim, in->head_dim, b->pos[i], in->rope_freq_base);
    }

    /* Each norm takes the residual add before it and quantises its rows
     * for the product after it, in one pass per entry on the pool (on the
     * main thread they were 3-5% of a batch-8 step). */
    for (int l = 0; l < in->n_layer; l++) {
        const qe_layer *L = &m->layers[l];
        int q16 = L->wq.q16 || L->wk.q16 || L->wv.q16;
        const void *xq = rmsnorm_rows(c, c->xn, c->x, l ? c->xn : NULL, L->attn_norm, q16);
        matmul3(c, c->xn, xq, n, &L->wq, c->q, &L->wk, c->k, &L->wv, c->v);
        /* the cache now holds this batch's keys too, so causal attention
         * within the batch is just "positions <= mine" */
        qk_job qj = { c, L, l };
        tp_run(c->pool, qk_worker, &qj);
        att_job aj = { c, l };
        tp_run(c->pool, att_worker, &aj);
        matmul(c, &L->wo, c->att, NULL, n, c->xn);   /* xn reused as scratch */

        xq = rmsnorm_rows(c, c->xn, c->x, c->xn, L->ffn_norm, L->w_gate.q16 || L->w_up.q16);
        matmul3(c, c->xn, xq, n, &L->w_gate, c->g, &L->w_up, c->u, NULL, NULL);
        ew_job fj = { c, NULL, NULL, NULL, NULL, 1, L->w_down.q16 };
        tp_run(c->pool, ew_worker, &fj);
        matmul(c, &L->w_down, c->g, L->w_down.q16 ? c->xq : NULL, n, c->xn);
    }
    for (size_t i = 0; i < (size_t)n * E; i++) c->x[i] += c->xn[i];

    /* logits only for the entries that asked: prefill skips the rest */
    for (int i = 0; i < c->n_out; i++) c->logit_row[c->out_entries[i]] = -1;
    c->n_out = 0;
    for (int i = 0; i < n; i++) {
        int want = b->want_logits ? b->want_logits[i] != 0 : i == n - 1;
        if (!want) continue;
        c->logit_row[i] = c->n_out;
        c->out_entries[c->n_out] = i;
        kern_rmsnorm(c->xn + (size_t)c->n_out * E, c->x + (size_t)i * E, m->output_norm, E, in->rms_eps);
        c->n_out++;
    }
    if (c->n_out)
        matmul(c, &m->output, c->xn, NULL, c->n_out, c->logits);

    for (int i = 0; i < n; i++) kv->seq_len[b->seq[i]] = b->pos[i] + 1 > kv->seq_len[b->seq[i]] ? b->pos[i] + 1 : kv->seq_len[b->seq[i]];
    return QE_OK;
}

const float *qe_get_logits(const qe_context *c, int i)
{
    if (!c || i < 0 || i >= c->n || c->logit_row[i] < 0) return NULL;
    return c->logits + (size_t)c->logit_row[i] * c->m->info.n_vocab;
}

int qe_seq_len(const qe_context *c, qe_seq s)
{
    if (!c || s < 0 || s >= c->p.n_seq_max) return QE_EINVAL;
    return c->kv.seq_len[s];
}

int qe_seq_truncate(qe_context *c, qe_seq s, qe_pos p0)
{
    if (!c || s < 0 || s >= c->p.n_seq_max || p0 < 0) return QE_EINVAL;
    kv_truncate(&c->kv, s, p0);
    return QE_OK;
}

int qe_seq_copy(qe_context *c, qe_seq src, qe_seq dst, qe_pos n)
{
    if (!c || src < 0 || src >= c->p.n_seq_max || dst < 0 || dst >= c->p.n_seq_max || src == dst || n < 0)
        return QE_EINVAL;
    return kv_copy_prefix(&c->kv, src, dst, n);
}

int qe_kv_free_blocks(const qe_context *c) { return c ? c->kv.n_free : QE_EINVAL; }
size_t qe_kv_bytes(const qe_context *c) { return c ? 2 * c->kv.bytes : 0; }

kv_cache *qe_context_kv(qe_context *c) { return &c->kv; }
