/*
 * test_attention.c - attention over the paged KV cache (engine/attention.c)
 * against a double-precision reference, for F16 and F32 caches, several
 * head sizes (vector and portable paths), block sizes and GQA groups; and
 * its batch invariance: a token's output is bitwise the same whether it is
 * computed alone (decode), inside a prefill chunk, or in a chunk that starts
 * elsewhere, or beside other sequences whose tiles it shares because they
 * hold the same prefix blocks. Run with the best kernels and with
 * QUARRY_NO_AVX512=1.
 */
#include "attention.h"
#include "gguf.h"
#include "kvcache.h"
#include "quant.h"
#include "qengine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static double urand(void)
{
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (double)(rng >> 11) * 0x1.0p-53;
}
static float nrand(void) { return (float)(sqrt(-2 * log(urand() + 1e-300)) * cos(6.283185307179586 * urand())); }

/* Runs attention for batch entries of one sequence at positions
 * [first, first + nt) into out (nt rows of n_head * hd). */
static void run_chunk(const kv_cache *kv, int layer, int n_head, const float *q_all, int first, int nt, float *out)
{
    int hd = kv->head_dim, ldq = n_head * hd, n_ctx = kv->n_blocks * kv->block_size;
    int32_t *seq = calloc(nt, sizeof *seq), *pos = malloc(sizeof(int32_t) * nt);
    for (int i = 0; i < nt; i++) pos[i] = first + i;
    attn_tile *tiles = malloc(sizeof *tiles * attn_max_tiles(nt, n_head, kv->n_kv_head));
    float *scratch = malloc(sizeof(float) * ATTN_TILE_ROWS * n_ctx);
    int nt_tiles = attn_plan(kv, nt, seq, pos, n_head, kv->n_kv_head, tiles);
    /* two "threads" in turn: the split must cover every tile once */
    int covered = 0;
    for (int th = 0; th < 2; th++) {
        int a, b;
        attn_split(tiles, nt_tiles, th, 2, &a, &b);
        for (int i = a; i < b; i++, covered++)
            attn_run(kv, layer, &tiles[i], q_all + (size_t)first * ldq, ldq, pos, out, 1.0f / sqrtf((float)hd),
                     scratch, n_ctx);
    }
    CHECK(covered == nt_tiles, "split covered %d of %d tiles", covered, nt_tiles);
    free(seq); free(pos); free(tiles); free(scratch);
}

/* attn_store keeps keys and values exactly (F32) or as qe_f32_to_fp16
 * rounds them (F16: the fast conversion must agree with the reference one,
 * subnormals, ties and overflow included). */
static void check_store(int type)
{
    const int hd = 72, bs = 8;
    kv_cache kv;
    CHECK(kv_init(&kv, type, 2, 3, hd, bs, 40, 1) == 0, "kv_init");
    kv_grow(&kv, 0, 40);
    float k[72], v[72];
    for (int p = 0; p < 40; p++)
        for (int h = 0; h < 3; h++) {
            for (int d = 0; d < hd; d++) { k[d] = nrand() * (1 + p); v[d] = nrand(); }
            k[p % hd] = 1e-6f;                      /* an F16 subnormal */
            v[(p + 1) % hd] = 70000.0f;             /* beyond F16: infinity */
            v[(p + 2) % hd] = 1.0f + 0x1p-11f;      /* a tie, to even */
            attn_store(&kv, 0, p, 1, h, k, v);
            size_t base = kv_offset(&kv, 0, p - p % bs, 1, h), slot = (size_t)(p % bs);
            int bad = 0;
            for (int d = 0; d < hd; d++) {
                if (type == GGML_TYPE_F16)
                    bad += ((uint16_t *)kv.k)[base + (size_t)d * bs + slot] != qe_f32_to_fp16(k[d]) ||
                           ((uint16_t *)kv.v)[base + slot * hd + d] != qe_f32_to_fp16(v[d]);
                else
                    bad += ((float *)kv.k)[base + (size_t)d * bs + slot] != k[d] ||
                           ((float *)kv.v)[base + slot * hd + d] != v[d];
            }
            CHECK(bad == 0, "%s store at position %d head %d: %d elements differ", ggml_type_str(type), p, h, bad);
        }
    kv_free(&kv);
}

/* Gives seq positions [from, to) of random keys and values in every layer
 * and KV head, growing it to hold them. */
static void fill_seq(kv_cache *kv, int seq, int from, int to)
{
    int hd = kv->head_dim;
    float *k = malloc(sizeof(float) * hd), *v = malloc(sizeof(float) * hd);
    kv_grow(kv, seq, to);
    for (int l = 0; l < kv->n_layer; l++)
        for (int p = from; p < to; p++)
            for (int h = 0; h < kv->n_kv_head; h++) {
                for (int d = 0; d < hd; d++) { k[d] = nrand(); v[d] = nrand(); }
                attn_store(kv, seq, p, l, h, k, v);
            }
    kv->seq_len[seq] = to;
    free(k); free(v);
}

static void check_shape(int type, int hd, int bs, int n_head, int n_head_kv)
{
    const int L = 77, layers = 2, layer = 1;
    kv_cache kv;
    CHECK(kv_init(&kv, type, layers, n_head_kv, hd, bs, 128, 1) == 0, "kv_init");
    fill_seq(&kv, 0, 0, L);
    int ldq = n_head * hd;
    float *q = malloc(sizeof(float) * L * ldq);
    for (int i = 0; i < L * ldq; i++) q[i] = nrand();
    float *chunk = malloc(sizeof(float) * L * ldq), *one = malloc(sizeof(float) * ldq), *ref = malloc(sizeof(float) * hd);

    /* the whole sequence as one prefill chunk, against the reference */
    run_chunk(&kv, layer, n_head, q, 0, L, chunk);
    double worst = 0;
    int group = n_head / n_head_kv;
    for (int t = 0; t < L; t++)
        for (int h = 0; h < n_head; h++) {
            attn_ref(&kv, layer, 0, h / group, t + 1, q + (size_t)t * ldq + (size_t)h * hd, 1.0f / sqrtf((float)hd), ref);
            for (int d = 0; d < hd; d++) {
                double e = fabs(ref[d] - chunk[(size_t)t * ldq + (size_t)h * hd + d]);
                if (e > worst) worst = e;
            }
        }
    CHECK(worst < 2e-5, "%s hd %d bs %d heads %d/%d: max error %.3g against the reference",
          qe_type_name(type), hd, bs, n_head, n_head_kv, worst);

    /* every token alone (decode) and in chunks starting elsewhere: same bits */
    int bad = 0;
    for (int t = 0; t < L; t++) {
        run_chunk(&kv, layer, n_head, q, t, 1, one);
        bad += memcmp(one, chunk + (size_t)t * ldq, sizeof(float) * ldq) != 0;
    }
    float *part = malloc(sizeof(float) * L * ldq);
    for (int first = 1; first < L; first += 13) {
        int nt = L - first < 11 ? L - first : 11;
        run_chunk(&kv, layer, n_head, q, first, nt, part);
        bad += memcmp(part, chunk + (size_t)first * ldq, sizeof(float) * nt * ldq) != 0;
    }
    CHECK(bad == 0, "%s hd %d bs %d heads %d/%d: %d outputs depend on the batch",
          qe_type_name(type), hd, bs, n_head, n_head_kv, bad);
    free(part); free(q); free(chunk); free(one); free(ref);
    kv_free(&kv);
}

/* Runs a batch of n entries (seq[t], pos[t]), query rows q + t * ldq, into
 * out; plans with kv (sharing tiles) or without. Returns the tiles that
 * had several members, and their shared blocks in *shared. */
static int run_batch(const kv_cache *kv, int layer, int n_head, const float *q, int n, const int32_t *seq,
                     const int32_t *pos, float *out, int share, int *shared)
{
    int hd = kv->head_dim, ldq = n_head * hd, n_ctx = kv->n_blocks * kv->block_size;
    attn_tile *tiles = malloc(sizeof *tiles * attn_max_tiles(n, n_head, kv->n_kv_head));
    float *scratch = malloc(sizeof(float) * ATTN_TILE_ROWS * n_ctx);
    int nt = attn_plan(share ? kv : NULL, n, seq, pos, n_head, kv->n_kv_head, tiles), multi = 0;
    *shared = 0;
    for (int th = 0; th < 2; th++) {
        int a, b;
        attn_split(tiles, nt, th, 2, &a, &b);
        for (int i = a; i < b; i++)
            attn_run(kv, layer, &tiles[i], q, ldq, pos, out, 1.0f / sqrtf((float)hd), scratch, n_ctx);
    }
    for (int i = 0; i < nt; i++)
        if (tiles[i].nm > 1) { multi++; *shared += tiles[i].shared; }
    free(tiles); free(scratch);
    return multi;
}

/* Sequences 1-3 share sequence 0's first P positions (kv_copy_prefix: the
 * whole blocks by reference, the partial one copied), then each has its own
 * positions; sequence 4 is unrelated. One batch mixes their decode tokens
 * and prefill chunks: the planner must put the sharers in common tiles,
 * and every output must be bitwise what the sequence gets alone, and near
 * the reference. */
static void check_shared(int type, int hd, int bs, int n_head, int n_head_kv)
{
    const int layers = 2, layer = 1, NS = 5, P = 3 * bs + 5;
    const int len[5] = { P + 1, P + 9, P + bs + 2, P + 3, 2 * bs + 1 };   /* positions held */
    const int cnt[5] = { 1, 4, 1, 3, 2 };                                /* of them in the batch */
    kv_cache kv;
    CHECK(kv_init(&kv, type, layers, n_head_kv, hd, bs, 8 * bs * NS, NS) == 0, "kv_init");
    fill_seq(&kv, 0, 0, P);
    for (int s = 1; s < 4; s++) CHECK(kv_copy_prefix(&kv, 0, s, P) == 0, "kv_copy_prefix");
    for (int s = 0; s < NS; s++) fill_seq(&kv, s, s < 4 ? P : 0, len[s]);
    int ldq = n_head * hd, n = 0;
    int32_t seq[16], pos[16];
    for (int s = 0; s < NS; s++)
        for (int i = 0; i < cnt[s]; i++, n++) { seq[n] = s; pos[n] = len[s] - cnt[s] + i; }
    float *q = malloc(sizeof(float) * n * ldq), *all = malloc(sizeof(float) * n * ldq);
    float *alone = malloc(sizeof(float) * n * ldq), *ref = malloc(sizeof(float) * hd);
    for (int i = 0; i < n * ldq; i++) q[i] = nrand();
    int shared, multi = run_batch(&kv, layer, n_head, q, n, seq, pos, all, 1, &shared);
    CHECK(multi > 0 && shared > 0, "%s hd %d bs %d heads %d/%d: no shared tiles (%d, %d blocks)",
          qe_type_name(type), hd, bs, n_head, n_head_kv, multi, shared);
    int bad = 0, group = n_head / n_head_kv;
    double worst = 0;
    for (int t0 = 0, s = 0; s < NS; t0 += cnt[s], s++) {
        int unused;
        run_batch(&kv, layer, n_head, q + (size_t)t0 * ldq, cnt[s], seq + t0, pos + t0, alone + (size_t)t0 * ldq, 0,
                  &unused);
        bad += memcmp(alone + (size_t)t0 * ldq, all + (size_t)t0 * ldq, sizeof(float) * cnt[s] * ldq) != 0;
        for (int t = t0; t < t0 + cnt[s]; t++)
            for (int h = 0; h < n_head; h++) {
                attn_ref(&kv, layer, s, h / group, pos[t] + 1, q + (size_t)t * ldq + (size_t)h * hd,
                         1.0f / sqrtf((float)hd), ref);
                for (int d = 0; d < hd; d++) {
                    double e = fabs(ref[d] - all[(size_t)t * ldq + (size_t)h * hd + d]);
                    if (e > worst) worst = e;
                }
            }
    }
    CHECK(bad == 0, "%s hd %d bs %d heads %d/%d: %d sequences' outputs change when they share tiles",
          qe_type_name(type), hd, bs, n_head, n_head_kv, bad);
    CHECK(worst < 2e-5, "%s hd %d bs %d heads %d/%d shared: max error %.3g against the reference",
          qe_type_name(type), hd, bs, n_head, n_head_kv, worst);
    free(q); free(all); free(alone); free(ref);
    kv_free(&kv);
}

int main(void)
{
    int types[] = { GGML_TYPE_F16, GGML_TYPE_F32 };
    for (int i = 0; i < 2; i++) {
        check_store(types[i]);
        check_shape(types[i], 128, 32, 4, 2);   /* Qwen3's head size, GQA 2 */
        check_shape(types[i], 64, 16, 8, 1);    /* group of 8: tiles split heads */
        check_shape(types[i], 48, 24, 2, 2);    /* AVX-512 masks, AVX2 16+8 chunks */
        check_shape(types[i], 40, 12, 6, 3);    /* portable path on AVX2 (block % 8) */
        check_shape(types[i], 20, 7, 3, 1);     /* portable everywhere */
        check_shared(types[i], 128, 32, 4, 2);
        check_shared(types[i], 64, 16, 8, 1);
        check_shared(types[i], 20, 7, 3, 1);
    }
    return CHECK_SUMMARY();
}
