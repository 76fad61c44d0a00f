/*
 * kvcache.h - the KV cache, organised in fixed-size blocks.
 *
 * Each sequence owns a table of block ids; block b holds block_size
 * consecutive positions of every layer and KV head. Blocks carry reference
 * counts so that a later prefix cache can share them between sequences
 * (copy-on-write at the block boundary); for now every block has one owner.
 * Layout of a block: [layer][kv_head][slot][head_dim], so attention reads
 * one head's keys of a block contiguously.
 */
#ifndef QE_KVCACHE_H
#define QE_KVCACHE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int n_layer, n_kv_head, head_dim;
    int block_size, n_blocks, n_seq;
    int type;              /* element type: GGML_TYPE_F32 or GGML_TYPE_F16 */
    size_t elem;           /* bytes per element */
    char *k, *v;           /* n_blocks blocks of block_floats elements each */
    size_t bytes;          /* size of each of k and v (their mappings) */
    size_t block_floats;   /* elements per block: n_layer * n_kv_head * block_size * head_dim */
    int32_t *refcnt;       /* per block; 0 = free */
    int32_t *free_list;    /* stack of free block ids */
    int n_free;
    int32_t *table;        /* n_seq rows of n_blocks block ids */
    int32_t *seq_len;      /* positions held per sequence */
} kv_cache;

/* Allocates n_ctx tokens' worth of blocks (rounded up) of elements of
 * type (GGML_TYPE_F32 or GGML_TYPE_F16). 0 or QE_ENOMEM. */
int kv_init(kv_cache *kv, int type, int n_layer, int n_kv_head, int head_dim,
            int block_size, int n_ctx, int n_seq);
void kv_free(kv_cache *kv);

/* Blocks that growing seq to new_len would take from the free list. */
int kv_blocks_needed(const kv_cache *kv, int seq, int new_len);
/* Grows seq's block table to hold new_len positions (the caller checked
 * kv_blocks_needed against n_free). Does not change seq_len. */
void kv_grow(kv_cache *kv, int seq, int new_len);
/* Drops positions [p0, len) of seq, releasing blocks wholly past p0. */
void kv_truncate(kv_cache *kv, int seq, int p0);

/* Makes dst (emptied first) hold the first n positions of src: whole blocks
 * are shared (reference counted), a trailing partial block is copied into a
 * fresh block so that both sequences may append independently. Returns 0,
 * or QE_NO_KV when no block is free for the copy (dst is then empty). */
int kv_copy_prefix(kv_cache *kv, int src, int dst, int n);

/* Before writing position pos of seq: if its block is shared, replace it
 * with a private copy (copy-on-write). Returns 0 or QE_NO_KV. */
int kv_make_writable(kv_cache *kv, int seq, int pos);
/* Reference counting for holders other than sequences (the prefix cache). */
void kv_block_ref(kv_cache *kv, int32_t id);
void kv_block_unref(kv_cache *kv, int32_t id);
/* Gives an empty seq the n given full blocks (each gains a reference);
 * its length becomes n * block_size. */
void kv_attach(kv_cache *kv, int seq, const int32_t *blocks, int n);
/* Block id holding position pos of seq. */
static inline int32_t kv_block_of(const kv_cache *kv, int seq, int pos)
{
    return kv->table[(size_t)seq * kv->n_blocks + pos / kv->block_size];
}

/* Blocks that writing [from, to) of seq would have to copy (shared ones). */
int kv_shared_blocks(const kv_cache *kv, int seq, int from, int to);

/* Element offset of the head_dim values of (layer, kv_head) at position pos
 * (multiply by elem for bytes). */
static inline size_t kv_offset(const kv_cache *kv, int seq, int pos, int layer, int kvh)
{
    int32_t blk = kv->table[(size_t)seq * kv->n_blocks + pos / kv->block_size];
    return (size_t)blk * kv->block_floats +
           ((((size_t)layer * kv->n_kv_head + kvh) * kv->block_size) + pos % kv->block_size) *
               kv->head_dim;
}

#endif
