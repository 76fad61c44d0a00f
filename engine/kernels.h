/*
 * kernels.h - numeric kernels of the forward pass.
 *
 * Every optimised kernel has a naive reference beside it (suffix _ref),
 * written for clarity and double-precision accumulation; tests check one
 * against the other on odd sizes. The fast paths are chosen once at run
 * time from the CPU's features (AVX2+FMA+F16C, else portable C).
 *
 * Matrix convention (ggml's): a weight W of shape (d, n) is d rows of n
 * elements, each row stored contiguously in W's element type. y = W x.
 */
#ifndef QE_KERNELS_H
#define QE_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* Picks the fast implementations for this CPU. Idempotent, thread-safe. */
void kern_init(void);
/* Name of the selected instruction set path ("avx2", "portable"). */
const char *kern_isa(void);

/* Dot product of one weight row (n elements of type) with x (n floats). */
float kern_dot(int type, const void *row, const float *x, int n);
double kern_dot_ref(int type, const void *row, const float *x, int n);

/* Y[b][r] = dot(W row r, X[b]) for rows r in [r0, r1) and b in [0, nb):
 * each weight row is read once for all nb inputs, which is what makes
 * small-batch decode cheaper than nb separate matrix-vector products.
 * X is nb rows of n floats (stride n); Y has row stride ldy.
 * Batch-invariant: Y[b][r] is bitwise the same whatever nb, the other
 * inputs, b's place in the batch and [r0, r1) are (what the deterministic
 * mode of the forward pass is built on; tests/test_invariance.c). */
void kern_matmul_rows(int type, const void *W, size_t row_bytes, int n,
                      const float *X, int nb, float *Y, int ldy, int r0, int r1);

/* The same with several inputs sharing each converted weight row (see
 * kernels_multi.c); returns 0 without doing anything when no multi-input
 * kernel fits (type, CPU, n % 16: never nb), and kern_matmul_rows then
 * falls back. Batch-invariant like kern_matmul_rows, for any nb >= 1. */
int kern_matmul_rows_multi(int type, const void *W, size_t row_bytes, int n,
                           const float *X, int nb, float *Y, int ldy, int r0, int r1);

/* Y[t][r] = dot(W row r, X[t]) for t < T, r in [r0, r1): the prompt-sized
 * path (kernels in gemm.c). scratch holds kern_gemm_scratch_floats(n)
 * floats. Returns 0 without doing anything when no fast kernel fits (CPU,
 * type); the caller then uses BLAS. */
int kern_gemm_rows(int type, const void *W, size_t row_bytes, int n, const float *X, int T, float *Y,
                   int ldy, int r0, int r1, float *scratch);
/* The same for an X16 matrix (r0 % 16 == 0); 0 when the CPU has no
 * AVX-512, and the caller then uses kern_matmul_x16. */
int kern_gemm_rows_x16(int type, const void *P, int n, const float *X, int T, float *Y, int ldy, int r0, int r1,
                       float *scratch);
size_t kern_gemm_scratch_floats(int n);

/* X16: F16, Q8_0, Q4_K and Q6_K matrices repacked 16 rows at a time for
 * the decode kernels (layout and numerics in kernels_x16.c); rows are
 * then only addressed through these calls.
 * kern_x16_supported: the layout exists for (type, n, d); preferred: and
 * this CPU gains from it (AVX-512; QUARRY_NO_X16 unset). kern_x16_size:
 * bytes of d rows in the layout. kern_x16_pack writes d rows of W (the
 * file's layout, row_bytes apart) into dst. kern_x16_row converts row r
 * to F32, exactly as qe_dequantize_row converts the file's row;
 * kern_x16_dot_ref is the double-precision dot of row r with x.
 * kern_x16_panel writes rows r .. r + 15 (r % 16 == 0) as
 * panel[k * ldp + i]. kern_matmul_x16 is kern_matmul_rows (batch-invariant,
 * any nb) for rows [r0, r1), both multiples of 16; kern_matmul_x16_ref is
 * its portable path, bitwise equal to it. */
int kern_x16_supported(int type, int n, int d);
int kern_x16_preferred(int type, int n, int d);
size_t kern_x16_size(int type, int n, int d);
void kern_x16_pack(int type, const void *W, size_t row_bytes, int n, int d, void *dst);
void kern_x16_row(int type, const void *P, int n, int r, float *dst);
double kern_x16_dot_ref(int type, const void *P, int n, int r, const float *x);
void kern_x16_panel(int type, const void *P, int n, int r, float *panel, int ldp);
void kern_matmul_x16(int type, const void *P, int n, const float *X, int nb, float *Y, int ldy, int r0, int r1);
void kern_matmul_x16_ref(int type, const void *P, int n, const float *X, int nb, float *Y, int ldy, int r0, int r1);

/* Q16: the X16 products of Q8_0, Q4_K and Q6_K with the activations
 * rounded to 16-bit integers per block of 32 (kernels_x16q.c: format,
 * error bound, numerics). kern_x16q_available: this CPU has the tiles
 * (AVX-512 VNNI) for type and QUARRY_F32_ACT is unset; elsewhere the
 * forward pass keeps F32 activations. kern_q16_row_bytes: bytes of one
 * quantised row of n (n % 32 == 0); kern_q16_quantize writes nb rows of X
 * (n floats apart) at XQ, those bytes apart (bitwise equal to _ref).
 * kern_matmul_x16q is kern_matmul_x16 (batch-invariant, rows r0 .. r1
 * multiples of 16) over them; kern_matmul_x16q_ref its portable path,
 * bitwise equal to it. */
int kern_x16q_available(int type);
size_t kern_q16_row_bytes(int n);
void kern_q16_quantize(const float *X, int n, int nb, void *XQ);
void kern_q16_quantize_ref(const float *X, int n, int nb, void *XQ);
void kern_matmul_x16q(int type, const void *P, int n, const void *XQ, int nb, float *Y, int ldy, int r0, int r1);
void kern_matmul_x16q_ref(int type, const void *P, int n, const void *XQ, int nb, float *Y, int ldy, int r0, int r1);

/* y = x * w / rms(x) over n elements. */
void kern_rmsnorm(float *y, const float *x, const float *w, int n, float eps);
void kern_rmsnorm_ref(float *y, const float *x, const float *w, int n, float eps);

/* NEOX rotary embedding. kern_rope_table fills cs[0..hd/2) with cos and
 * cs[hd/2..hd) with sin of pos * base^(-2i/hd) (computed in double), once
 * per token; kern_rope_neox rotates the pairs (i, i + hd/2) of one head
 * vector in place with it, for every head of every layer. */
void kern_rope_table(float *cs, int hd, int pos, float base);
void kern_rope_neox(float *v, int hd, const float *cs);

/* silu(g) * u elementwise into g. */
void kern_swiglu(float *g, const float *u, int n);

/* Index of the first largest of x[0..n) among the values above -inf (NaNs
 * never win), or -1 if there is none. kern_argmax_ref is the one-line
 * loop; kern_argmax gives the same index in two passes (the maximum with
 * 16 independent lanes, then its first position), because the loop's
 * compare-and-select chain runs at one element per load latency: 0.65 ms
 * over Qwen3's 151,936 logits, 2 to 5 ms of a batch-8 decode step. */
int kern_argmax(const float *x, int n);
int kern_argmax_ref(const float *x, int n);

/* In-place softmax over n values; returns nothing. */
void kern_softmax(float *x, int n);

#endif
