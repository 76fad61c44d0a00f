/*
 * repack.c - puts a loaded model's matrices into the 16-row layout of
 * kernels_x16.c, where the CPU gains from it.
 *
 * The repacked matrices live in one private anonymous buffer on 2 MiB
 * pages; the file's pages they came from are then released
 * (MADV_DONTNEED), so resident memory stays about the file's size. The
 * cost: the weights are no longer shared through the page cache between
 * processes on one machine (qe_model_params.file_layout keeps them so).
 * An untied token_embd is left alone: it is only read a row at a time.
 */
#include "errmsg.h"
#include "kernels.h"
#include "model.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#define RP_MAX_THREADS 64
#define RP_SLICE 1024   /* rows: a multiple of 16 */

typedef struct {
    qe_mat **mats;
    char **dst;
    int n;
    _Atomic int next;   /* the next matrix to pack */
} rp_job;

/* Drops from this process the whole pages in [from, to), from rounded up
 * and to down, and returns where the next release starts: to rounded
 * down, so a page that straddles two slices goes with the later one and
 * every page is released once. */
static const char *release(const char *from, const char *to)
{
    uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = ((uintptr_t)from + pg - 1) & ~(pg - 1), b = (uintptr_t)to & ~(pg - 1);
    if (b > a) (void)madvise((void *)a, b - a, MADV_DONTNEED);
    return b > a ? (const char *)b : from;
}

static void *rp_worker(void *p)
{
    rp_job *j = p;
    for (int i; (i = atomic_fetch_add(&j->next, 1)) < j->n;) {
        const qe_mat *w = j->mats[i];
        /* in slices of 1024 rows, each released as soon as it is packed,
         * so that peak memory is the file plus a slice per thread rather
         * than the file plus the largest matrices (the output: 150 MiB) */
        const char *src = w->data, *kept = src;   /* kept: the first byte not yet released */
        for (int r = 0; r < w->d; r += RP_SLICE) {
            int rows = w->d - r < RP_SLICE ? w->d - r : RP_SLICE;
            kern_x16_pack(w->type, src + (size_t)r * w->row_bytes, w->row_bytes, w->n, rows,
                          j->dst[i] + kern_x16_size(w->type, w->n, r));
            kept = release(kept, src + (size_t)(r + rows) * w->row_bytes);
        }
    }
    return NULL;
}

int qe_model_repack(qe_model *m, int n_threads, int f32_activations, char *err, size_t errlen)
{
    int L = m->info.n_layer, n = 0;
    qe_mat **mats = malloc(sizeof *mats * ((size_t)L * 7 + 1));
    char **dst = malloc(sizeof *dst * ((size_t)L * 7 + 1));
    if (!mats || !dst) {
        free(mats);
        free(dst);
        return qe_fail(err, errlen, QE_ENOMEM, "out of memory");
    }
    for (int l = 0; l < L; l++) {
        qe_layer *y = &m->layers[l];
        qe_mat *ms[] = { &y->wq, &y->wk, &y->wv, &y->wo, &y->w_gate, &y->w_up, &y->w_down };
        for (int k = 0; k < 7; k++) mats[n++] = ms[k];
    }
    mats[n++] = &m->output;
    size_t total = 0;
    int keep = 0;
    for (int i = 0; i < n; i++) {
        qe_mat *w = mats[i];
        if (!kern_x16_preferred(w->type, w->n, w->d)) continue;
        mats[keep++] = w;
        total += (kern_x16_size(w->type, w->n, w->d) + 63) & ~(size_t)63;
    }
    n = keep;
    if (n == 0) goto done;
    char *buf = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED) {
        /* not fatal: the file's layout works everywhere */
        goto done;
    }
    (void)madvise(buf, total, MADV_HUGEPAGE);
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        dst[i] = buf + off;
        off += (kern_x16_size(mats[i]->type, mats[i]->n, mats[i]->d) + 63) & ~(size_t)63;
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int nth = n_threads > 0 ? n_threads : cores > 0 ? (int)cores : 1;
    if (nth > RP_MAX_THREADS) nth = RP_MAX_THREADS;
    if (nth > n) nth = n;
    rp_job job = { .mats = mats, .dst = dst, .n = n };
    atomic_init(&job.next, 0);
    pthread_t tid[RP_MAX_THREADS];
    int started = 1;
    /* a thread that fails to start leaves its matrices to the others */
    while (started < nth && pthread_create(&tid[started], NULL, rp_worker, &job) == 0) started++;
    rp_worker(&job);
    for (int t = 1; t < started; t++) pthread_join(tid[t], NULL);
    (void)mprotect(buf, total, PROT_READ);
    int tied = m->info.tied_output;
    for (int i = 0; i < n; i++) {
        mats[i]->data = dst[i];
        mats[i]->x16 = 1;
        mats[i]->q16 = !f32_activations && kern_x16q_available(mats[i]->type);
        m->info.n_q16 += mats[i]->q16;
    }
    if (tied) m->tok_embd = m->output;
    m->info.n_x16 = n;
    m->x16_buf = buf;
    m->x16_size = total;
done:
    free(mats);
    free(dst);
    return QE_OK;
}
