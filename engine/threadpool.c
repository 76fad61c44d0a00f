/*
 * threadpool.c - see threadpool.h. A generation counter announces work; the
 * workers spin on it for a short while, then wait on a condition variable.
 * Completion is a counter the caller spins on (sections are short).
 */
#include "threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sched.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

#define TP_SPIN 20000

struct tp_pool {
    int n;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_uint gen;       /* bumped once per tp_run */
    atomic_int pending;    /* workers still running the current section */
    atomic_int stop;
    tp_fn fn;
    void *arg;
};

typedef struct { tp_pool *p; int ith; } tp_worker;

static void *tp_main(void *a)
{
    tp_worker *w = a;
    tp_pool *p = w->p;
    int ith = w->ith;
    free(w);
    unsigned seen = 0;
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen &&
               !atomic_load(&p->stop)) {
            if (++spins < TP_SPIN) {
                /* on an oversubscribed machine the thread we wait for may
                 * be descheduled: hand over the core now and then */
                if (spins % 1024 == 0) sched_yield();
                else CPU_RELAX();
                continue;
            }
            pthread_mutex_lock(&p->mu);
            while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->cv, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop))
            return NULL;
        seen = g;
        p->fn(p->arg, ith, p->n);
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_release);
    }
}

tp_pool *tp_init(int n_threads)
{
    if (n_threads < 1) n_threads = 1;
    tp_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->threads = calloc((size_t)n_threads, sizeof *p->threads);
    if (!p->threads) { free(p); return NULL; }
    for (int i = 1; i < n_threads; i++) {
        tp_worker *w = malloc(sizeof *w);
        if (!w || (w->p = p, w->ith = i, pthread_create(&p->threads[i], NULL, tp_main, w))) {
            free(w);
            p->n = i; /* only the threads started so far exist */
            tp_free(p);
            return NULL;
        }
    }
    return p;
}

void tp_free(tp_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++) pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p);
}

int tp_n_threads(const tp_pool *p) { return p->n; }

void tp_run(tp_pool *p, tp_fn fn, void *arg)
{
    if (p->n == 1) { fn(arg, 0, 1); return; }
    p->fn = fn;
    p->arg = arg;
    atomic_store(&p->pending, p->n - 1);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    fn(arg, 0, p->n);
    for (unsigned spins = 1; atomic_load_explicit(&p->pending, memory_order_acquire) > 0; spins++) {
        if (spins % 1024 == 0) sched_yield();
        else CPU_RELAX();
    }
}
