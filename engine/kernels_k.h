/*
 * kernels_k.h - internal: the Q4_K / Q6_K row kernels of kernels_k.c, for
 * kernels.c to register (kern_dot, kern_dot_ref, kern_matmul_rows). Not part
 * of the kernels API: callers go through kernels.h.
 */
#ifndef QE_KERNELS_K_H
#define QE_KERNELS_K_H

#include <stddef.h>
#include <stdint.h>

/* naive references: double accumulation */
double kern_dot_q4_K_ref(const void *row, const float *x, int n);
double kern_dot_q6_K_ref(const void *row, const float *x, int n);

/* dot of a row of n weights (n % 256 == 0) with n floats */
float kern_dot_q4_K_c(const void *row, const float *x, int n);
float kern_dot_q6_K_c(const void *row, const float *x, int n);
/* one 256-weight block to floats */
void kern_deq_q4_K_c(const void *blk, float *y);
void kern_deq_q6_K_c(const void *blk, float *y);
/* acc[b] += dot(w, X + b * ldx) over len floats (len % 32 == 0), b < nb */
void kern_rows_f32_c(const float *w, const float *X, int len, int ldx, int nb, float *acc);

#if defined(__x86_64__) || defined(__i386__)
float kern_dot_q4_K_avx2(const void *row, const float *x, int n);
float kern_dot_q6_K_avx2(const void *row, const float *x, int n);
void kern_deq_q4_K_avx2(const void *blk, float *y);
void kern_deq_q6_K_avx2(const void *blk, float *y);
void kern_rows_f32_avx2(const float *w, const float *X, int len, int ldx, int nb, float *acc);
float kern_dot_q4_K_avx512(const void *row, const float *x, int n);
float kern_dot_q6_K_avx512(const void *row, const float *x, int n);
void kern_deq_q4_K_avx512(const void *blk, float *y);
void kern_deq_q6_K_avx512(const void *blk, float *y);
void kern_rows_f32_avx512(const float *w, const float *X, int len, int ldx, int nb, float *acc);
#endif

typedef void (*kern_deq_fn)(const void *blk, float *y);
typedef void (*kern_rows_fn)(const float *w, const float *X, int len, int ldx, int nb, float *acc);

/* kern_matmul_rows for nb inputs at once over block-quantized rows: each
 * block is dequantized once (deq) and applied to every input (rows). */
void kern_matmul_rows_deq(kern_deq_fn deq, kern_rows_fn rows, size_t block_bytes, const void *W,
                          size_t row_bytes, int n, const float *X, int nb, float *Y, int ldy, int r0, int r1);

#endif
