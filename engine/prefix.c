/*
 * prefix.c - the block-granular radix tree of cached prefixes (prefix.h).
 * Children are kept in sibling lists: the root may have a handful of
 * children (one per distinct system prompt) and inner nodes usually one, so
 * a linear scan comparing block_size tokens beats hashing here.
 */
#include "prefix.h"
#include "qengine.h"

#include <stdlib.h>
#include <string.h>

int pc_init(prefix_cache *pc, kv_cache *kv)
{
    memset(pc, 0, sizeof *pc);
    pc->kv = kv;
    pc->bs = kv->block_size;
    pc->cap = kv->n_blocks;
    pc->nodes = malloc((size_t)pc->cap * sizeof *pc->nodes);
    pc->toks = malloc((size_t)pc->cap * pc->bs * sizeof *pc->toks);
    if (!pc->nodes || !pc->toks) { pc_free(pc); return QE_ENOMEM; }
    for (int i = 0; i < pc->cap; i++) pc->nodes[i].next = i + 1 < pc->cap ? i + 1 : -1;
    pc->free_node = 0;
    pc->root_child = -1;
    return QE_OK;
}

void pc_free(prefix_cache *pc)
{
    free(pc->nodes);
    free(pc->toks);
    memset(pc, 0, sizeof *pc);
}

static int32_t find_child(const prefix_cache *pc, int32_t first, const int32_t *toks)
{
    for (int32_t c = first; c >= 0; c = pc->nodes[c].next)
        if (memcmp(pc->toks + (size_t)c * pc->bs, toks, (size_t)pc->bs * sizeof *toks) == 0) return c;
    return -1;
}

int pc_match(prefix_cache *pc, const int32_t *toks, int n, int max_blocks, int32_t *blocks)
{
    pc->lookups++;
    pc->clock++;
    int nb = 0;
    int32_t first = pc->root_child;
    while (nb < max_blocks && (nb + 1) * pc->bs <= n) {
        int32_t c = find_child(pc, first, toks + (size_t)nb * pc->bs);
        if (c < 0) break;
        pc->nodes[c].used = pc->clock;
        blocks[nb++] = pc->nodes[c].block;
        first = pc->nodes[c].child;
    }
    pc->hit_tokens += (uint64_t)nb * pc->bs;
    return nb;
}

void pc_insert(prefix_cache *pc, const int32_t *toks, int nb, const int32_t *blocks)
{
    pc->clock++;
    int32_t parent = -1, *first = &pc->root_child;
    for (int b = 0; b < nb; b++) {
        const int32_t *bt = toks + (size_t)b * pc->bs;
        int32_t c = find_child(pc, *first, bt);
        if (c < 0) {
            if (pc->free_node < 0) return; /* full: the rest stays uncached */
            c = pc->free_node;
            pc->free_node = pc->nodes[c].next;
            pc->nodes[c] = (pc_node){ .block = blocks[b], .parent = parent, .child = -1, .next = *first };
            memcpy(pc->toks + (size_t)c * pc->bs, bt, (size_t)pc->bs * sizeof *bt);
            *first = c;
            kv_block_ref(pc->kv, blocks[b]);
            pc->n_nodes++;
            pc->inserted++;
        }
        pc->nodes[c].used = pc->clock;
        parent = c;
        first = &pc->nodes[c].child;
    }
}

/* Unlinks leaf c from its parent's child list and releases its block. */
static void drop_leaf(prefix_cache *pc, int32_t c)
{
    int32_t p = pc->nodes[c].parent;
    int32_t *link = p < 0 ? &pc->root_child : &pc->nodes[p].child;
    while (*link != c) link = &pc->nodes[*link].next;
    *link = pc->nodes[c].next;
    kv_block_unref(pc->kv, pc->nodes[c].block);
    pc->nodes[c].next = pc->free_node;
    pc->free_node = c;
    pc->n_nodes--;
    pc->evictions++;
}

int pc_evict(prefix_cache *pc, int want)
{
    int freed = 0;
    while (freed < want) {
        /* the least recently used leaf whose block only the cache holds;
         * a scan is fine: eviction is rare next to lookups */
        int32_t best = -1;
        /* walk the tree (only linked nodes are live); a subtree that does
         * not fit the stack is skipped this round, which costs nothing but
         * a less exact LRU order */
        int32_t stack[256], sp = 0;
        if (pc->root_child >= 0) stack[sp++] = pc->root_child;
        while (sp) {
            int32_t c = stack[--sp];
            for (; c >= 0; c = pc->nodes[c].next) {
                if (pc->nodes[c].child >= 0) {
                    if (sp < 256) stack[sp++] = pc->nodes[c].child;
                } else if (pc->kv->refcnt[pc->nodes[c].block] == 1 &&
                           (best < 0 || pc->nodes[c].used < pc->nodes[best].used)) {
                    best = c;
                }
            }
        }
        if (best < 0) break;
        drop_leaf(pc, best);
        freed++;
    }
    return freed;
}
