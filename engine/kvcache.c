/*
 * kvcache.c - block allocation for the KV cache (see kvcache.h).
 */
#include "kvcache.h"
#include "gguf.h"
#include "qengine.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* K and V on 2 MiB pages where the kernel grants them: attention reads a
 * sequence's blocks, which lie a whole block (all layers) apart, every
 * step, and on 4 KiB pages each 8 KiB (layer, head) tile of a block cost
 * its own TLB misses (decode at a depth of 512 spent a fifth of its time
 * in attention). Pages are faulted in as blocks are first used. */
static char *kv_map(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
#ifdef MADV_HUGEPAGE
    (void)madvise(p, bytes, MADV_HUGEPAGE);
#endif
    return p;
}

int kv_init(kv_cache *kv, int type, int n_layer, int n_kv_head, int head_dim,
            int block_size, int n_ctx, int n_seq)
{
    memset(kv, 0, sizeof *kv);
    kv->type = type;
    kv->elem = type == GGML_TYPE_F16 ? 2 : 4;
    kv->n_layer = n_layer;
    kv->n_kv_head = n_kv_head;
    kv->head_dim = head_dim;
    kv->block_size = block_size;
    kv->n_blocks = (n_ctx + block_size - 1) / block_size;
    kv->n_seq = n_seq;
    kv->block_floats = (size_t)n_layer * n_kv_head * block_size * head_dim;
    size_t total = kv->block_floats * (size_t)kv->n_blocks;
    kv->bytes = total * kv->elem;
    kv->k = kv->bytes ? kv_map(kv->bytes) : NULL;
    kv->v = kv->bytes ? kv_map(kv->bytes) : NULL;
    kv->refcnt = calloc((size_t)kv->n_blocks, sizeof(int32_t));
    kv->free_list = malloc((size_t)kv->n_blocks * sizeof(int32_t));
    kv->table = malloc((size_t)kv->n_blocks * n_seq * sizeof(int32_t));
    kv->seq_len = calloc((size_t)n_seq, sizeof(int32_t));
    if (!kv->k || !kv->v || !kv->refcnt || !kv->free_list || !kv->table || !kv->seq_len) {
        kv_free(kv);
        return QE_ENOMEM;
    }
    /* lowest ids on top of the stack: a fresh cache fills memory in order */
    for (int i = 0; i < kv->n_blocks; i++) kv->free_list[i] = kv->n_blocks - 1 - i;
    kv->n_free = kv->n_blocks;
    for (size_t i = 0; i < (size_t)kv->n_blocks * n_seq; i++) kv->table[i] = -1;
    return QE_OK;
}

void kv_free(kv_cache *kv)
{
    if (kv->k) munmap(kv->k, kv->bytes);
    if (kv->v) munmap(kv->v, kv->bytes);
    free(kv->refcnt);
    free(kv->free_list);
    free(kv->table);
    free(kv->seq_len);
    memset(kv, 0, sizeof *kv);
}

static int blocks_for(const kv_cache *kv, int len)
{
    return (len + kv->block_size - 1) / kv->block_size;
}

static int32_t take_block(kv_cache *kv);
void kv_block_unref(kv_cache *kv, int32_t id);

int kv_blocks_needed(const kv_cache *kv, int seq, int new_len)
{
    int have = blocks_for(kv, kv->seq_len[seq]);
    int want = blocks_for(kv, new_len);
    return want > have ? want - have : 0;
}

void kv_grow(kv_cache *kv, int seq, int new_len)
{
    int32_t *row = kv->table + (size_t)seq * kv->n_blocks;
    for (int b = blocks_for(kv, kv->seq_len[seq]); b < blocks_for(kv, new_len); b++)
        row[b] = take_block(kv);
}

void kv_truncate(kv_cache *kv, int seq, int p0)
{
    if (p0 < 0) p0 = 0;
    if (p0 >= kv->seq_len[seq]) return;
    int32_t *row = kv->table + (size_t)seq * kv->n_blocks;
    for (int b = blocks_for(kv, p0); b < blocks_for(kv, kv->seq_len[seq]); b++) {
        kv_block_unref(kv, row[b]);
        row[b] = -1;
    }
    kv->seq_len[seq] = p0;
}

static int32_t take_block(kv_cache *kv)
{
    int32_t id = kv->free_list[--kv->n_free];
    kv->refcnt[id] = 1;
    return id;
}

static void copy_block(kv_cache *kv, int32_t to, int32_t from)
{
    size_t bytes = kv->block_floats * kv->elem;
    memcpy(kv->k + (size_t)to * bytes, kv->k + (size_t)from * bytes, bytes);
    memcpy(kv->v + (size_t)to * bytes, kv->v + (size_t)from * bytes, bytes);
}

int kv_copy_prefix(kv_cache *kv, int src, int dst, int n)
{
    kv_truncate(kv, dst, 0);
    if (n > kv->seq_len[src]) n = kv->seq_len[src];
    int full = n / kv->block_size, partial = n % kv->block_size != 0;
    if (partial && kv->n_free == 0) return QE_NO_KV;
    int32_t *s = kv->table + (size_t)src * kv->n_blocks, *d = kv->table + (size_t)dst * kv->n_blocks;
    for (int b = 0; b < full; b++) {
        d[b] = s[b];
        kv->refcnt[s[b]]++;
    }
    if (partial) {
        d[full] = take_block(kv);
        copy_block(kv, d[full], s[full]);
    }
    kv->seq_len[dst] = n;
    return QE_OK;
}

int kv_shared_blocks(const kv_cache *kv, int seq, int from, int to)
{
    const int32_t *row = kv->table + (size_t)seq * kv->n_blocks;
    int have = blocks_for(kv, kv->seq_len[seq]), n = 0;
    for (int b = from / kv->block_size; b < have && b * kv->block_size < to; b++)
        n += kv->refcnt[row[b]] > 1;
    return n;
}

int kv_make_writable(kv_cache *kv, int seq, int pos)
{
    int32_t *slot = kv->table + (size_t)seq * kv->n_blocks + pos / kv->block_size;
    if (*slot < 0 || kv->refcnt[*slot] <= 1) return QE_OK;
    if (kv->n_free == 0) return QE_NO_KV;
    int32_t id = take_block(kv);
    copy_block(kv, id, *slot);
    kv->refcnt[*slot]--;
    *slot = id;
    return QE_OK;
}

void kv_block_ref(kv_cache *kv, int32_t id) { kv->refcnt[id]++; }

void kv_block_unref(kv_cache *kv, int32_t id)
{
    if (--kv->refcnt[id] == 0) kv->free_list[kv->n_free++] = id;
}

void kv_attach(kv_cache *kv, int seq, const int32_t *blocks, int n)
{
    int32_t *row = kv->table + (size_t)seq * kv->n_blocks;
    for (int b = 0; b < n; b++) {
        row[b] = blocks[b];
        kv->refcnt[blocks[b]]++;
    }
    kv->seq_len[seq] = n * kv->block_size;
}
