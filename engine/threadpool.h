/*
 * threadpool.h - a persistent pool of worker threads for the forward pass.
 *
 * One forward step runs a few hundred parallel sections (every matmul of
 * every layer), so workers are created once and woken per section; they
 * spin briefly before sleeping because sections follow each other within
 * microseconds during decode.
 */
#ifndef QE_THREADPOOL_H
#define QE_THREADPOOL_H

typedef struct tp_pool tp_pool;

/* fn is called as fn(arg, ith, nth) on nth threads (the caller is ith 0). */
typedef void (*tp_fn)(void *arg, int ith, int nth);

/* Returns NULL on failure. n_threads >= 1 (1: everything runs inline). */
tp_pool *tp_init(int n_threads);
void tp_free(tp_pool *p);
int tp_n_threads(const tp_pool *p);
/* Runs fn on every thread and returns when all have finished. Not
 * reentrant: one tp_run at a time per pool. */
void tp_run(tp_pool *p, tp_fn fn, void *arg);

/* Splits [0, n) into nth near-equal parts; part ith is [*lo, *hi). */
static inline void tp_split(int n, int ith, int nth, int *lo, int *hi)
{
    int q = n / nth, r = n % nth;
    *lo = ith * q + (ith < r ? ith : r);
    *hi = *lo + q + (ith < r);
}

#endif
