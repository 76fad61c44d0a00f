/*
 * prefix.h - the prefix cache: a radix tree over token ids at KV-block
 * granularity. Each node stands for one full block of block_size tokens
 * following its parent's tokens and holds a reference on the KV block that
 * stores them, so a prompt that starts with a cached prefix reuses those
 * blocks instead of recomputing them. Workload: one long system prompt
 * shared by thousands of documents, so lookups are frequent, the tree is
 * shallow and wide at the leaves; unreferenced leaves are evicted LRU when
 * the KV budget runs short.
 */
#ifndef QE_PREFIX_H
#define QE_PREFIX_H

#include <stdint.h>
#include "kvcache.h"

typedef struct {
    int32_t block;        /* KV block this node references */
    int32_t parent;       /* node index, -1 for children of the root */
    int32_t child, next;  /* first child, next sibling (-1 = none) */
    uint64_t used;        /* LRU clock */
} pc_node;

typedef struct {
    kv_cache *kv;
    int bs, cap, n_nodes;
    pc_node *nodes;
    int32_t *toks;        /* cap * bs tokens: node i's block of tokens */
    int32_t root_child;
    int32_t free_node;    /* free list through .next */
    uint64_t clock;
    /* statistics */
    uint64_t lookups, hit_tokens, evictions, inserted;
} prefix_cache;

int pc_init(prefix_cache *pc, kv_cache *kv);   /* 0 or QE_ENOMEM */
void pc_free(prefix_cache *pc);
/* Longest cached prefix of toks[0..n) in whole blocks, at most max_blocks.
 * Writes the block ids to blocks and returns their count. */
int pc_match(prefix_cache *pc, const int32_t *toks, int n, int max_blocks, int32_t *blocks);
/* Records that blocks[0..nb) hold toks[0..nb*bs). */
void pc_insert(prefix_cache *pc, const int32_t *toks, int nb, const int32_t *blocks);
/* Frees up to want blocks held only by the cache, least recently used
 * leaves first. Returns the number freed. */
int pc_evict(prefix_cache *pc, int want);

#endif
