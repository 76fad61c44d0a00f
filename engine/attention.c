/*
 * attention.c - causal attention over the paged KV cache (see attention.h).
 *
 * Layout. Within a block, a (layer, KV head) tile holds block_size
 * positions. Values are stored [slot][head_dim], as the value pass wants a
 * row of head_dim per position. Keys are stored transposed, [head_dim][slot]:
 * the score pass then puts 16 positions in the lanes of a vector and runs
 * over head_dim with one broadcast of q[d] per row, so there is no
 * horizontal sum per score and each key vector serves every row of a tile.
 *
 * Passes for a tile of R rows (R <= ATTN_ROWS):
 *  1. scores: S[r][p] = scale * sum_d q[r][d] k[p][d], block by block;
 *  2. softmax on each row over its own positions (0 .. pos[t]);
 *  3. values: o[r] = sum_p S[r][p] v[p], p ascending; positions that every
 *     row of the tile sees are applied to all rows at once, the causal
 *     tail of each row alone (same order, so the same bits).
 * The vector paths need head_dim % 16 (AVX-512) or head_dim % 8 and
 * block_size % 8 (AVX2); other shapes use the portable loops. The choice
 * depends on the shape and the CPU only, never on the batch.
 */
#include "attention.h"
#include "gguf.h"
#include "kernels.h"
#include "quant.h"
#include "simd_exp.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define ATTN_X86 1
#endif

/* ------------------------------------------------------------------ plan */

int attn_max_tiles(int n, int n_head, int n_head_kv)
{
    int group = n_head / n_head_kv;
    int chunks = (group + ATTN_ROWS - 1) / ATTN_ROWS;
    return n * n_head_kv * chunks;
}

/* Leading blocks that seq shares with seq0 and that the row at position p
 * sees whole, at most lim. */
static int common_blocks(const kv_cache *kv, int seq0, int seq, int p, int lim)
{
    int nb = (p + 1) / kv->block_size, c = 0;
    if (nb > lim) nb = lim;
    while (c < nb && kv->table[(size_t)seq * kv->n_blocks + c] == kv->table[(size_t)seq0 * kv->n_blocks + c]) c++;
    return c;
}

/* Tiles with room that a new unit of kvh and head h0 may join: the last
 * few of that key, looked for backwards (a decode batch puts one unit per
 * KV head between a sequence's and the next's). */
#define ATTN_JOIN_TRIES 4

int attn_plan(const kv_cache *kv, int n, const int32_t *seq, const int32_t *pos, int n_head, int n_head_kv,
              attn_tile *tiles)
{
    int group = n_head / n_head_kv;
    int chunks = (group + ATTN_ROWS - 1) / ATTN_ROWS;
    int nh = (group + chunks - 1) / chunks;          /* heads per tile */
    int tpt = ATTN_TILE_ROWS / nh > 0 ? ATTN_TILE_ROWS / nh : 1; /* tokens per tile */
    int count = 0;
    for (int t0 = 0; t0 < n;) {
        /* a run: consecutive entries of one sequence (consecutive positions) */
        int t1 = t0 + 1;
        while (t1 < n && seq[t1] == seq[t0]) t1++;
        for (int kvh = 0; kvh < n_head_kv; kvh++)
            for (int ta = t0; ta < t1; ta += tpt) {
                int nt = t1 - ta < tpt ? t1 - ta : tpt;
                for (int h = 0; h < group; h += nh) {
                    int h0 = kvh * group + h, hn = group - h < nh ? group - h : nh;
                    attn_member mb = { seq[t0], ta, nt };
                    attn_tile *tl = NULL;
                    int shared = 0;
                    /* join a tile of the same heads whose first member shares
                     * this one's first block, if the rows fit */
                    for (int i = count - 1, tries = 0; kv && i >= 0 && tries < ATTN_JOIN_TRIES; i--) {
                        attn_tile *o = &tiles[i];
                        if (o->h0 != h0) continue;
                        tries++;
                        int rows = 0;
                        for (int k = 0; k < o->nm; k++) rows += o->m[k].nt;
                        if ((rows + nt) * hn > ATTN_TILE_ROWS) continue;
                        /* a tile of one member may share all the blocks its first row sees whole */
                        int lim = o->nm > 1 ? o->shared : (pos[o->m[0].t0] + 1) / kv->block_size;
                        shared = common_blocks(kv, o->m[0].seq, mb.seq, pos[ta], lim);
                        if (shared > 0) { tl = o; break; }
                    }
                    if (tl) {
                        tl->shared = shared;
                        tl->m[tl->nm++] = mb;
                        continue;
                    }
                    tl = &tiles[count++];
                    tl->kvh = kvh;
                    tl->h0 = h0;
                    tl->nh = hn;
                    tl->nm = 1;
                    tl->m[0] = mb;
                    tl->shared = 0;
                }
            }
        t0 = t1;
    }
    /* keys read once per tile, FMAs per row: both count */
    int64_t cost = 0;
    for (int i = 0; i < count; i++) {
        attn_tile *tl = &tiles[i];
        int64_t sp = kv ? (int64_t)tl->shared * kv->block_size : 0, rows = 0;
        for (int k = 0; k < tl->nm; k++) {
            const attn_member *mb = &tl->m[k];
            rows += mb->nt * tl->nh;
            cost += (pos[mb->t0 + mb->nt - 1] + 1 - sp) * (tl->nh * mb->nt + 2);
        }
        cost += sp * (rows + 2);
        tl->cost_end = cost;
    }
    return count;
}

void attn_split(const attn_tile *tiles, int n_tiles, int ith, int nth, int *a, int *b)
{
    if (n_tiles == 0) { *a = *b = 0; return; }
    int64_t total = tiles[n_tiles - 1].cost_end;
    int64_t lo = total * ith / nth, hi = total * (ith + 1) / nth;
    /* tile i belongs to the thread whose share holds its cost midpoint */
    int i = 0;
    while (i < n_tiles && tiles[i].cost_end <= lo) i++;
    *a = i;
    while (i < n_tiles && tiles[i].cost_end <= hi) i++;
    *b = ith == nth - 1 ? n_tiles : i;
}

/* --------------------------------------------------------------- storage */

static inline size_t tile_base(const kv_cache *kv, int seq, int pos, int layer, int kvh)
{
    return kv_offset(kv, seq, pos - pos % kv->block_size, layer, kvh);
}

static void attn_init(void);
static int have_avx512 = 0, have_avx2 = 0;
static pthread_once_t attn_once = PTHREAD_ONCE_INIT;

#ifdef ATTN_X86
/* F32 -> F16 with F16C: round to nearest even, as qe_f32_to_fp16 (NaN
 * payloads aside), 8 at a time; the scalar conversion of every stored key
 * and value was 1% of a prompt's time. */
__attribute__((target("avx2,f16c"))) static void to_fp16_f16c(const float *x, uint16_t *h, int n)
{
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(h + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) h[i] = qe_f32_to_fp16(x[i]);
}
#endif

static void to_fp16(const float *x, uint16_t *h, int n)
{
    pthread_once(&attn_once, attn_init);
#ifdef ATTN_X86
    if (have_avx2) {
        to_fp16_f16c(x, h, n);
        return;
    }
#endif
    for (int i = 0; i < n; i++) h[i] = qe_f32_to_fp16(x[i]);
}

void attn_store(kv_cache *kv, int seq, int pos, int layer, int kvh, const float *k, const float *v)
{
    int bs = kv->block_size, hd = kv->head_dim, slot = pos % bs;
    size_t base = tile_base(kv, seq, pos, layer, kvh);
    if (kv->type == GGML_TYPE_F16) {
        uint16_t *kt = (uint16_t *)kv->k + base, tmp[64];
        for (int d0 = 0; d0 < hd; d0 += 64) {
            int m = hd - d0 < 64 ? hd - d0 : 64;
            to_fp16(k + d0, tmp, m);
            for (int d = 0; d < m; d++) kt[(size_t)(d0 + d) * bs + slot] = tmp[d];
        }
        to_fp16(v, (uint16_t *)kv->v + base + (size_t)slot * hd, hd);
        return;
    }
    float *kt = (float *)kv->k + base;
    for (int d = 0; d < hd; d++) kt[(size_t)d * bs + slot] = k[d];
    memcpy((float *)kv->v + base + (size_t)slot * hd, v, sizeof(float) * hd);
}

static inline float kv_get(const kv_cache *kv, const char *p, size_t i)
{
    return kv->type == GGML_TYPE_F16 ? qe_fp16_to_f32(((const uint16_t *)p)[i]) : ((const float *)p)[i];
}

void attn_ref(const kv_cache *kv, int layer, int seq, int kvh, int npos, const float *q, float scale, float *out)
{
    int bs = kv->block_size, hd = kv->head_dim;
    double *s = malloc(sizeof(double) * npos), mx = -INFINITY, sum = 0;
    for (int p = 0; p < npos; p++) {
        const char *kt = kv->k + tile_base(kv, seq, p, layer, kvh) * kv->elem;
        double acc = 0;
        for (int d = 0; d < hd; d++) acc += (double)q[d] * kv_get(kv, kt, (size_t)d * bs + p % bs);
        s[p] = acc * scale;
        if (s[p] > mx) mx = s[p];
    }
    for (int p = 0; p < npos; p++) { s[p] = exp(s[p] - mx); sum += s[p]; }
    for (int d = 0; d < hd; d++) {
        double acc = 0;
        for (int p = 0; p < npos; p++) {
            const char *vt = kv->v + tile_base(kv, seq, p, layer, kvh) * kv->elem;
            acc += s[p] * kv_get(kv, vt, (size_t)(p % bs) * hd + d);
        }
        out[d] = (float)(acc / sum);
    }
    free(s);
}

/* --------------------------------------------------------------- kernels */

/* scores of R rows against slots [0, m) of one key tile:
 * S[r][slot] = scale * dot(q[r], key slot) */
typedef void (*scores_fn)(const kv_cache *kv, const char *kt, int m, const float *const *q, int R,
                          float scale, float *const *S, const char *pf);
/* o[r][0..hd) = fma chain of w[r][p] * value p over slots [a, b), in order */
typedef void (*values_fn)(const kv_cache *kv, const char *vt, int a, int b, const float *const *w, int R,
                          float *const *o, const char *pf);
/* pf: the tile the kernel prefetches while it works (the next block's
 * keys or values), or NULL. A tile of 8 KiB lies a whole block (every
 * layer's) from the next, too far for the hardware prefetchers to follow,
 * and a decode step reads every block of every sequence once: without
 * it attention waited on memory for most of its time. */

static void scores_c(const kv_cache *kv, const char *kt, int m, const float *const *q, int R, float scale,
                     float *const *S, const char *pf)
{
    (void)pf;
    int bs = kv->block_size, hd = kv->head_dim;
    for (int r = 0; r < R; r++)
        for (int s = 0; s < m; s++) {
            float acc = 0.0f;
            for (int d = 0; d < hd; d++) acc += q[r][d] * kv_get(kv, kt, (size_t)d * bs + s);
            S[r][s] = acc * scale;
        }
}

static void values_c(const kv_cache *kv, const char *vt, int a, int b, const float *const *w, int R,
                     float *const *o, const char *pf)
{
    (void)pf;
    int hd = kv->head_dim;
    for (int r = 0; r < R; r++)
        for (int p = a; p < b; p++)
            for (int d = 0; d < hd; d++) o[r][d] += w[r][p] * kv_get(kv, vt, (size_t)p * hd + d);
}

static inline void prefetch_tile(const char *p, size_t bytes)
{
    for (size_t o = 0; o < bytes; o += 64) __builtin_prefetch(p + o, 0, 3);
}

#ifdef ATTN_X86
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,fma,f16c")))
#define AVX2 __attribute__((target("avx2,fma,f16c")))

/* One instance per row count, its loops over rows and vectors unrolled
 * (GCC -O2 leaves them rolled, and the accumulators then live in memory). */
/* Two vectors of 16 positions per pass: two loads per head_dim step feed
 * 2R FMAs (one vector would leave the loop bound by loads). */
#define SCORES512(R)                                                                              \
    AVX512 static void scores512_##R(const kv_cache *kv, const char *kt, int m, const float *const *q, \
                                     float scale, float *const *S, const char *pf)               \
    {                                                                                             \
        int bs = kv->block_size, hd = kv->head_dim, f16 = kv->type == GGML_TYPE_F16;              \
        size_t pstep = (size_t)bs * kv->elem, po = 0, pend = pf ? pstep * hd : 0;               \
        __m512 vs = _mm512_set1_ps(scale);                                                        \
        for (int c = 0; c < m; c += 32) {                                                         \
            __mmask16 m0 = (__mmask16)(m - c >= 16 ? 0xffff : (1u << (m - c)) - 1);              \
            __mmask16 m1 = (__mmask16)(m - c >= 32 ? 0xffff : m - c <= 16 ? 0 : (1u << (m - c - 16)) - 1); \
            __m512 a0[R], a1[R];                                                                  \
            _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) a0[r] = a1[r] = _mm512_setzero_ps();                      \
            for (int d = 0; d < hd; d++) {                                                        \
                size_t i = (size_t)d * bs + c;                                                    \
                for (; po < pstep * (d + 1) && po < pend; po += 64) __builtin_prefetch(pf + po, 0, 3); \
                __m512 k0, k1;                                                                    \
                if (f16) {                                                                        \
                    k0 = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m0, (const uint16_t *)kt + i)); \
                    k1 = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m1, (const uint16_t *)kt + i + 16)); \
                } else {                                                                          \
                    k0 = _mm512_maskz_loadu_ps(m0, (const float *)kt + i);                        \
                    k1 = _mm512_maskz_loadu_ps(m1, (const float *)kt + i + 16);                   \
                }                                                                                 \
                _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) {                                                     \
                    __m512 qd = _mm512_set1_ps(q[r][d]);                                          \
                    a0[r] = _mm512_fmadd_ps(qd, k0, a0[r]);                                       \
                    a1[r] = _mm512_fmadd_ps(qd, k1, a1[r]);                                       \
                }                                                                                 \
            }                                                                                     \
            _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) {                                                         \
                _mm512_mask_storeu_ps(S[r] + c, m0, _mm512_mul_ps(a0[r], vs));                    \
                _mm512_mask_storeu_ps(S[r] + c + 16, m1, _mm512_mul_ps(a1[r], vs));               \
            }                                                                                     \
        }                                                                                         \
    }

/* head_dim in chunks of 64 (4 vectors x R rows of accumulators) */
#define VALUES512(R)                                                                              \
    AVX512 static void values512_##R(const kv_cache *kv, const char *vt, int a, int b,            \
                                     const float *const *w, float *const *o, const char *pf)      \
    {                                                                                             \
        int hd = kv->head_dim, f16 = kv->type == GGML_TYPE_F16;                                   \
        /* the next tile's lines spread over the first chunk's positions */                     \
        size_t po = 0, pend = pf ? (size_t)kv->block_size * hd * kv->elem : 0;                    \
        size_t pstep = (pend + (size_t)(b - a) - 1) / (size_t)(b - a);                            \
        for (int dc = 0; dc < hd; dc += 64) {                                                     \
            int nj = (hd - dc) / 16 < 4 ? (hd - dc) / 16 : 4;                                     \
            __mmask16 mj[4];                                                                      \
            _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) mj[j] = (__mmask16)(j < nj ? 0xffff : 0);                \
            __m512 acc[R][4];                                                                     \
            _Pragma("GCC unroll 8") for (int r = 0; r < R; r++)                                                           \
                _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) acc[r][j] = _mm512_maskz_loadu_ps(mj[j], o[r] + dc + 16 * j); \
            for (int p = a; p < b; p++) {                                                         \
                size_t i = (size_t)p * hd + dc;                                                   \
                for (; po < pstep * (size_t)(p - a + 1) && po < pend; po += 64) __builtin_prefetch(pf + po, 0, 3); \
                __m512 v[4];                                                                      \
                _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++)                                                       \
                    v[j] = f16 ? _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mj[j], (const uint16_t *)vt + i + 16 * j)) \
                               : _mm512_maskz_loadu_ps(mj[j], (const float *)vt + i + 16 * j);    \
                _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) {                                                     \
                    __m512 wr = _mm512_set1_ps(w[r][p]);                                          \
                    _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) acc[r][j] = _mm512_fmadd_ps(wr, v[j], acc[r][j]); \
                }                                                                                 \
            }                                                                                     \
            _Pragma("GCC unroll 8") for (int r = 0; r < R; r++)                                                           \
                _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) _mm512_mask_storeu_ps(o[r] + dc + 16 * j, mj[j], acc[r][j]); \
        }                                                                                         \
        for (; po < pend; po += 64) __builtin_prefetch(pf + po, 0, 3);                            \
    }

SCORES512(1) SCORES512(2) SCORES512(3) SCORES512(4) SCORES512(5) SCORES512(6)
VALUES512(1) VALUES512(2) VALUES512(3) VALUES512(4) VALUES512(5) VALUES512(6)

/* the tile for R rows (1 <= R <= 6) */
typedef void (*scores_tile)(const kv_cache *, const char *, int, const float *const *, float, float *const *,
                            const char *);
typedef void (*values_tile)(const kv_cache *, const char *, int, int, const float *const *, float *const *,
                            const char *);
static const scores_tile scores512[7] = { NULL, scores512_1, scores512_2, scores512_3, scores512_4, scores512_5, scores512_6 };
static const values_tile values512[7] = { NULL, values512_1, values512_2, values512_3, values512_4, values512_5, values512_6 };

static void scores_avx512(const kv_cache *kv, const char *kt, int m, const float *const *q, int R, float scale,
                          float *const *S, const char *pf)
{
    scores512[R < 6 ? R : 6](kv, kt, m, q, scale, S, pf);
}

static void values_avx512(const kv_cache *kv, const char *vt, int a, int b, const float *const *w, int R,
                          float *const *o, const char *pf)
{
    values512[R < 6 ? R : 6](kv, vt, a, b, w, o, pf);
}

/* AVX2: 8 positions per vector; block_size % 8 == 0, so the last vector of
 * a partly filled block stays inside the tile (lanes past m are computed
 * and dropped). head_dim in chunks of 16 for the value pass. */
AVX2 static inline __m256 load8(int f16, const char *p, size_t i)
{
    return f16 ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)p + i)))
               : _mm256_loadu_ps((const float *)p + i);
}

#define SCORES256(R)                                                                              \
    AVX2 static void scores256_##R(const kv_cache *kv, const char *kt, int m, const float *const *q, \
                                   float scale, float *const *S, const char *pf)                  \
    {                                                                                             \
        int bs = kv->block_size, hd = kv->head_dim, f16 = kv->type == GGML_TYPE_F16;              \
        if (pf) prefetch_tile(pf, (size_t)bs * hd * kv->elem);                                    \
        __m256 vs = _mm256_set1_ps(scale);                                                        \
        for (int c = 0; c < m; c += 8) {                                                          \
            __m256 acc[R];                                                                        \
            _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) acc[r] = _mm256_setzero_ps();                             \
            for (int d = 0; d < hd; d++) {                                                        \
                __m256 k = load8(f16, kt, (size_t)d * bs + c);                                    \
                _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(q[r][d]), k, acc[r]); \
            }                                                                                     \
            _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) {                                                         \
                float tmp[8];                                                                     \
                _mm256_storeu_ps(tmp, _mm256_mul_ps(acc[r], vs));                                 \
                memcpy(S[r] + c, tmp, sizeof(float) * (m - c < 8 ? m - c : 8));                  \
            }                                                                                     \
        }                                                                                         \
    }

#define VALUES256(R)                                                                              \
    AVX2 static void values256_##R(const kv_cache *kv, const char *vt, int a, int b,              \
                                   const float *const *w, float *const *o, const char *pf)        \
    {                                                                                             \
        int hd = kv->head_dim, f16 = kv->type == GGML_TYPE_F16;                                   \
        if (pf) prefetch_tile(pf, (size_t)kv->block_size * hd * kv->elem);                        \
        for (int dc = 0; dc < hd; dc += 16) {                                                     \
            int two = hd - dc >= 16;                                                              \
            __m256 acc[R][2];                                                                     \
            _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) {                                                         \
                acc[r][0] = _mm256_loadu_ps(o[r] + dc);                                           \
                acc[r][1] = two ? _mm256_loadu_ps(o[r] + dc + 8) : _mm256_setzero_ps();           \
            }                                                                                     \
            for (int p = a; p < b; p++) {                                                         \
                size_t i = (size_t)p * hd + dc;                                                   \
                __m256 v0 = load8(f16, vt, i), v1 = two ? load8(f16, vt, i + 8) : _mm256_setzero_ps(); \
                _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) {                                                     \
                    __m256 wr = _mm256_set1_ps(w[r][p]);                                          \
                    acc[r][0] = _mm256_fmadd_ps(wr, v0, acc[r][0]);                               \
                    acc[r][1] = _mm256_fmadd_ps(wr, v1, acc[r][1]);                               \
                }                                                                                 \
            }                                                                                     \
            _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) {                                                         \
                _mm256_storeu_ps(o[r] + dc, acc[r][0]);                                           \
                if (two) _mm256_storeu_ps(o[r] + dc + 8, acc[r][1]);                              \
            }                                                                                     \
        }                                                                                         \
    }

SCORES256(1) SCORES256(2) SCORES256(3) SCORES256(4) SCORES256(5) SCORES256(6)
VALUES256(1) VALUES256(2) VALUES256(3) VALUES256(4) VALUES256(5) VALUES256(6)

static void scores_avx2(const kv_cache *kv, const char *kt, int m, const float *const *q, int R, float scale,
                        float *const *S, const char *pf)
{
    switch (R) {
    case 1: scores256_1(kv, kt, m, q, scale, S, pf); break;
    case 2: scores256_2(kv, kt, m, q, scale, S, pf); break;
    case 3: scores256_3(kv, kt, m, q, scale, S, pf); break;
    case 4: scores256_4(kv, kt, m, q, scale, S, pf); break;
    case 5: scores256_5(kv, kt, m, q, scale, S, pf); break;
    default: scores256_6(kv, kt, m, q, scale, S, pf); break;
    }
}

static void values_avx2(const kv_cache *kv, const char *vt, int a, int b, const float *const *w, int R,
                        float *const *o, const char *pf)
{
    switch (R) {
    case 1: values256_1(kv, vt, a, b, w, o, pf); break;
    case 2: values256_2(kv, vt, a, b, w, o, pf); break;
    case 3: values256_3(kv, vt, a, b, w, o, pf); break;
    case 4: values256_4(kv, vt, a, b, w, o, pf); break;
    case 5: values256_5(kv, vt, a, b, w, o, pf); break;
    default: values256_6(kv, vt, a, b, w, o, pf); break;
    }
}
/* kern_softmax's job, 16 lanes at a time (the scalar expf per score was a
 * tenth of a prompt's time); the sum in lanes, then across them. */
AVX512 static void softmax_avx512(float *x, int n)
{
    __m512 mx = _mm512_set1_ps(-INFINITY);
    int i = 0;
    for (; i + 16 <= n; i += 16) mx = _mm512_max_ps(mx, _mm512_loadu_ps(x + i));
    if (i < n) mx = _mm512_mask_max_ps(mx, (__mmask16)((1u << (n - i)) - 1), mx, _mm512_maskz_loadu_ps((__mmask16)((1u << (n - i)) - 1), x + i));
    __m512 vm = _mm512_set1_ps(_mm512_reduce_max_ps(mx)), sum = _mm512_setzero_ps();
    for (i = 0; i + 16 <= n; i += 16) {
        __m512 e = qe_exp512(_mm512_sub_ps(_mm512_loadu_ps(x + i), vm));
        _mm512_storeu_ps(x + i, e);
        sum = _mm512_add_ps(sum, e);
    }
    if (i < n) {
        __mmask16 mk = (__mmask16)((1u << (n - i)) - 1);
        __m512 e = qe_exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(mk, x + i), vm));
        _mm512_mask_storeu_ps(x + i, mk, e);
        sum = _mm512_add_ps(sum, _mm512_maskz_mov_ps(mk, e));
    }
    __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
    for (i = 0; i + 16 <= n; i += 16) _mm512_storeu_ps(x + i, _mm512_mul_ps(_mm512_loadu_ps(x + i), inv));
    if (i < n) {
        __mmask16 mk = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(x + i, mk, _mm512_mul_ps(_mm512_maskz_loadu_ps(mk, x + i), inv));
    }
}
#endif

static void attn_init(void)
{
#ifdef ATTN_X86
    __builtin_cpu_init();
    have_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    have_avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                  __builtin_cpu_supports("avx512vl") && !getenv("QUARRY_NO_AVX512");
#endif
}

static void pick(const kv_cache *kv, scores_fn *sf, values_fn *vf, void (**smf)(float *, int))
{
    pthread_once(&attn_once, attn_init);
    *sf = scores_c;
    *vf = values_c;
    *smf = kern_softmax;
#ifdef ATTN_X86
    if (have_avx512) *smf = softmax_avx512;
    if (have_avx512 && kv->head_dim % 16 == 0) {
        *sf = scores_avx512;
        *vf = values_avx512;
    } else if (have_avx2 && kv->head_dim % 8 == 0 && kv->block_size % 8 == 0) {
        *sf = scores_avx2;
        *vf = values_avx2;
    }
#endif
}

/* ------------------------------------------------------------------- run */

/* Key and value tiles of (seq, block holding p0) */
#define KT(sq, p0) (kv->k + tile_base(kv, (sq), (p0), layer, tl->kvh) * kv->elem)
#define VT(sq, p0) (kv->v + tile_base(kv, (sq), (p0), layer, tl->kvh) * kv->elem)
/* Member k's first own tile (position sp) in base (kv->k or kv->v), or
 * NULL when there is no member k or it has no own block: what the kernel
 * working before it prefetches. */
static const char *first_own(const kv_cache *kv, const char *base, int layer, const attn_tile *tl, int k,
                             const int *first, const int *npos, int sp)
{
    if (k >= tl->nm || npos[first[k + 1] - 1] <= sp) return NULL;
    return base + tile_base(kv, tl->m[k].seq, sp, layer, tl->kvh) * kv->elem;
}

void attn_run(const kv_cache *kv, int layer, const attn_tile *tl, const float *q, int ldq,
              const int32_t *pos, float *out, float scale, float *scratch, int n_ctx)
{
    scores_fn sf;
    values_fn vf;
    void (*softmax)(float *, int);
    pick(kv, &sf, &vf, &softmax);
    int hd = kv->head_dim, bs = kv->block_size;
    const float *qr[ATTN_TILE_ROWS];
    float *orow[ATTN_TILE_ROWS], *S[ATTN_TILE_ROWS];
    int npos[ATTN_TILE_ROWS], first[ATTN_TILE_ROWS + 1], R = 0;
    for (int k = 0; k < tl->nm; k++) {
        const attn_member *mb = &tl->m[k];
        first[k] = R;
        if (R + mb->nt * tl->nh > ATTN_TILE_ROWS) return;
        for (int i = 0; i < mb->nt * tl->nh; i++, R++) {
            int t = mb->t0 + i / tl->nh, h = tl->h0 + i % tl->nh;
            qr[R] = q + (size_t)t * ldq + (size_t)h * hd;
            orow[R] = out + (size_t)t * ldq + (size_t)h * hd;
            S[R] = scratch + (size_t)R * n_ctx;
            npos[R] = pos[t] + 1;
        }
    }
    first[tl->nm] = R;
    if (R < 1) return;
    /* The kernels take sub-tiles of up to ATTN_ROWS rows (whole tokens);
     * each block of keys and values is applied to every sub-tile while it
     * is in L1. A member's rows are token-major, so in a sub-tile [s0, s1)
     * row s0 sees the fewest positions and row s1 - 1 the most. The
     * shared blocks every row sees whole: any ATTN_ROWS rows make a
     * sub-tile. Each kernel call prefetches the next tile it will want. */
    int sub = (ATTN_ROWS / tl->nh > 0 ? ATTN_ROWS / tl->nh : 1) * tl->nh;
    int s0seq = tl->m[0].seq, sp = tl->shared * bs;
    const char *v0 = VT(s0seq, 0);
    float *Sb[ATTN_TILE_ROWS];

    for (int p0 = 0; p0 < sp; p0 += bs) {
        const char *kt = KT(s0seq, p0);
        const char *pf = p0 + bs < sp ? KT(s0seq, p0 + bs) : first_own(kv, kv->k, layer, tl, 0, first, npos, sp);
        if (!pf) pf = v0;
        for (int i = 0; i < R; i++) Sb[i] = S[i] + p0;
        for (int s0 = 0; s0 < R; s0 += ATTN_ROWS)
            sf(kv, kt, bs, qr + s0, R - s0 < ATTN_ROWS ? R - s0 : ATTN_ROWS, scale, Sb + s0, s0 ? NULL : pf);
    }
    for (int k = 0; k < tl->nm; k++) {
        int sq = tl->m[k].seq, r0 = first[k], r1 = first[k + 1], nmax = npos[r1 - 1];
        for (int p0 = sp; p0 < nmax; p0 += bs) {
            const char *kt = KT(sq, p0);
            const char *pf = p0 + bs < nmax ? KT(sq, p0 + bs) : k + 1 == tl->nm ? v0 : first_own(kv, kv->k, layer, tl, k + 1, first, npos, sp);
            for (int i = r0; i < r1; i++) Sb[i] = S[i] + p0;
            for (int s0 = r0; s0 < r1; s0 += sub) {
                int s1 = s0 + sub < r1 ? s0 + sub : r1, smax = npos[s1 - 1];
                int m = smax - p0 < bs ? smax - p0 : bs;   /* the keys this sub-tile sees */
                if (m > 0) sf(kv, kt, m, qr + s0, s1 - s0, scale, Sb + s0, s0 > r0 ? NULL : pf);
            }
        }
    }
    for (int i = 0; i < R; i++) {
        softmax(S[i], npos[i]);
        memset(orow[i], 0, sizeof(float) * hd);
    }
    /* w rows shifted so that w[r][slot] is the weight of position p0 + slot */
    const float *w[ATTN_TILE_ROWS];
    for (int p0 = 0; p0 < sp; p0 += bs) {
        const char *vt = VT(s0seq, p0);
        const char *pf = p0 + bs < sp ? VT(s0seq, p0 + bs) : first_own(kv, kv->v, layer, tl, 0, first, npos, sp);
        for (int i = 0; i < R; i++) w[i] = S[i] + p0;
        for (int s0 = 0; s0 < R; s0 += ATTN_ROWS)
            vf(kv, vt, 0, bs, w + s0, R - s0 < ATTN_ROWS ? R - s0 : ATTN_ROWS, orow + s0, s0 ? NULL : pf);
    }
    for (int k = 0; k < tl->nm; k++) {
        int sq = tl->m[k].seq, r0 = first[k], r1 = first[k + 1], nmax = npos[r1 - 1];
        for (int p0 = sp; p0 < nmax; p0 += bs) {
            const char *vt = VT(sq, p0);
            const char *pf = p0 + bs < nmax ? VT(sq, p0 + bs) : first_own(kv, kv->v, layer, tl, k + 1, first, npos, sp);
            for (int i = r0; i < r1; i++) w[i] = S[i] + p0;
            int end = p0 + bs;
            for (int s0 = r0; s0 < r1; s0 += sub) {
                int s1 = s0 + sub < r1 ? s0 + sub : r1, nmin = npos[s0];
                int common = (nmin < end ? nmin : end) - p0;   /* seen by every row of the sub-tile */
                if (common > 0) vf(kv, vt, 0, common, w + s0, s1 - s0, orow + s0, s0 > r0 ? NULL : pf);
                for (int i = s0; i < s1; i++) {
                    int a = (nmin > p0 ? nmin : p0) - p0, b = (npos[i] < end ? npos[i] : end) - p0;
                    if (b > a) vf(kv, vt, a, b, &w[i], 1, &orow[i], NULL);
                }
            }
        }
    }
}
