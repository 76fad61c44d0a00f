/*
 * kernels_k.h - internal: the Q4_K / Q6_K kernels of kernels_k.c, for
 * kernels.c to register (kern_dot, kern_dot_ref, kern_matmul_rows) and for
 * the tests to check one by one. Not part of the kernels API: callers go
 * through kernels.h.
 */
#ifndef QE_KERNELS_K_H
#define QE_KERNELS_K_H

#include <stddef.h>
#include <stdint.h>

/* naive references: double accumulation */
double kern_dot_q4_K_ref(const void *row, const float *x, int n);
double kern_dot_q6_K_ref(const void *row, const float *x, int n);

/* dot of a row of n weights (n % 256 == 0) with n floats (kern_dot) */
float kern_dot_q4_K_c(const void *row, const float *x, int n);
float kern_dot_q6_K_c(const void *row, const float *x, int n);
#if defined(__x86_64__) || defined(__i386__)
float kern_dot_q4_K_avx2(const void *row, const float *x, int n);
float kern_dot_q6_K_avx2(const void *row, const float *x, int n);
float kern_dot_q4_K_avx512(const void *row, const float *x, int n);
float kern_dot_q6_K_avx512(const void *row, const float *x, int n);
#endif

/* kern_matmul_rows for Q4_K and Q6_K (contract in kernels.h, batch
 * invariance included). Returns 1 when it did the work, 0 without doing
 * anything for other types or n % 256 != 0. Picks its implementation once
 * from the CPU (QUARRY_NO_AVX512 set: no AVX-512), never from nb. */
int kern_matmul_rows_kq(int type, const void *W, size_t row_bytes, int n, const float *X, int nb,
                        float *Y, int ldy, int r0, int r1);
/* Name of the implementation kern_matmul_rows_kq uses ("avx512-vbmi",
 * "avx512", "avx2", "portable"). */
const char *kern_kq_isa(void);

/* The implementations, for tests: type Q4_K or Q6_K, n % 256 == 0, the CPU
 * has the instruction set (AVX-512: F, BW, VL; "vbmi" also VBMI). Each is
 * batch-invariant on its own; avx512 and avx512_vbmi give the same bits. */
typedef void (*kern_kq_fn)(int type, const void *W, size_t row_bytes, int n, const float *X, int nb,
                           float *Y, int ldy, int r0, int r1);
void kern_matmul_rows_kq_c(int type, const void *W, size_t row_bytes, int n, const float *X, int nb,
                           float *Y, int ldy, int r0, int r1);
#if defined(__x86_64__) || defined(__i386__)
void kern_matmul_rows_kq_avx2(int type, const void *W, size_t row_bytes, int n, const float *X, int nb,
                              float *Y, int ldy, int r0, int r1);
void kern_matmul_rows_kq_avx512(int type, const void *W, size_t row_bytes, int n, const float *X, int nb,
                                float *Y, int ldy, int r0, int r1);
void kern_matmul_rows_kq_avx512_vbmi(int type, const void *W, size_t row_bytes, int n, const float *X,
                                     int nb, float *Y, int ldy, int r0, int r1);
#endif

/* The portable path's pieces: one 256-weight block to floats, and
 * acc[b] += dot(w, X + b * ldx) over len floats (len % 32 == 0), b < nb. */
void kern_deq_q4_K_c(const void *blk, float *y);
void kern_deq_q6_K_c(const void *blk, float *y);
void kern_rows_f32_c(const float *w, const float *X, int len, int ldx, int nb, float *acc);

#endif
