/*
 * attention.h - causal attention read straight from the paged KV cache
 * (engine-internal; used by forward.c).
 *
 * The work of one forward batch is cut into tiles: up to ATTN_TILE_ROWS
 * query rows of one KV head (several query heads of a GQA group, several
 * consecutive tokens of a prefill chunk, several sequences sharing a
 * prefix), so that each key and value loaded from the cache serves every
 * row of the tile that sees it.
 *
 * Batch-invariant by construction: a row's scores are each one FMA chain
 * over head_dim in order, its softmax runs over exactly its
 * positions, and its output is one FMA chain over positions in order; no
 * operation mixes rows. Whether a token is decoded alone, in a prefill
 * chunk of any size or beside other sequences, it gets the same bits.
 */
#ifndef QE_ATTENTION_H
#define QE_ATTENTION_H

#include "kvcache.h"

#include <stdint.h>

/* Most query rows per kernel call (the register budget of the value pass),
 * and per tile: a tile's sub-tiles of ATTN_ROWS rows share each block of
 * keys and values while it is in L1, so a long prompt reads the cache a
 * quarter as often. */
#define ATTN_ROWS 6
#define ATTN_TILE_ROWS 24

/* nt consecutive batch entries from t0, all of one sequence */
typedef struct {
    int seq, t0, nt;
} attn_member;

/* Members: sequences whose rows run in one tile. Their first `shared`
 * blocks are the same blocks (a prefix held once in the cache: the system
 * prompt every document of a spec starts with) and lie wholly before every
 * row's position, so those keys and values are read once for all the
 * members' rows instead of once per sequence; each member's own blocks
 * follow. A row still takes its positions in ascending order through the
 * same FMA chains, so sharing changes no bit. */
typedef struct {
    int kvh;
    int h0, nh;          /* query heads h0 .. h0+nh-1, all of kvh's group */
    int nm, shared;      /* members, and the leading blocks they share */
    attn_member m[ATTN_TILE_ROWS];
    int64_t cost_end;    /* running total of the tiles' costs up to this one */
} attn_tile;

/* Tiles for a batch of n entries (seq[i], pos[i]) into tiles (room for
 * attn_max_tiles(n, ...)); returns their count. With kv, sequences whose
 * leading blocks are the same share tiles (see attn_tile); kv NULL gives
 * one member per tile. */
int attn_plan(const kv_cache *kv, int n, const int32_t *seq, const int32_t *pos, int n_head, int n_head_kv,
              attn_tile *tiles);
int attn_max_tiles(int n, int n_head, int n_head_kv);

/* This thread's share of tiles [*a, *b) by cost (positions x rows). */
void attn_split(const attn_tile *tiles, int n_tiles, int ith, int nth, int *a, int *b);

/* Stores one position's key (transposed within its block: keys of a block
 * are read 16 positions per vector) and value. */
void attn_store(kv_cache *kv, int seq, int pos, int layer, int kvh, const float *k, const float *v);

/* Runs one tile. Q row of (entry t, head h) at q + t*ldq + h*head_dim,
 * output likewise at out; pos[t] is entry t's position; scratch holds
 * ATTN_TILE_ROWS * n_ctx floats. */
void attn_run(const kv_cache *kv, int layer, const attn_tile *tl, const float *q, int ldq,
              const int32_t *pos, float *out, float scale, float *scratch, int n_ctx);

/* Straightforward double-precision attention for one row, for tests. */
void attn_ref(const kv_cache *kv, int layer, int seq, int kvh, int npos, const float *q, float scale, float *out);

#endif
