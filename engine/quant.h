/*
 * quant.h - element formats of weights: F16/BF16 conversion and the Q8_0
 * block format, in both directions. Reference (scalar) code only: these run
 * at load/write time or inside kernels' dequantize-to-scratch paths.
 */
#ifndef QE_QUANT_H
#define QE_QUANT_H

#include <stddef.h>
#include <stdint.h>

#define QK8_0 32
/* Q8_0: 32 int8 values sharing one F16 scale d; x[i] = d * qs[i]. */
typedef struct {
    uint16_t d;
    int8_t qs[QK8_0];
} block_q8_0;

float qe_fp16_to_f32(uint16_t h);
uint16_t qe_f32_to_fp16(float f);      /* round to nearest even */
float qe_bf16_to_f32(uint16_t h);
uint16_t qe_f32_to_bf16(float f);      /* round to nearest even, NaN kept */

/* Converts n floats into dst of the given ggml type (F32, F16, BF16, Q8_0,
 * Q4_K, Q6_K; n % 32 == 0 for Q8_0, n % 256 == 0 for Q4_K / Q6_K). Returns
 * the bytes written, or 0 for an unsupported type or bad n. Q8_0 rounds as
 * ggml does (d = amax/127, q = round(x/d)). */
size_t qe_quantize_row(int type, const float *src, void *dst, int64_t n);
/* Converts n elements of a row of the given type to floats. Returns 0 or -1
 * for an unsupported type. */
int qe_dequantize_row(int type, const void *src, float *dst, int64_t n);
/* Bytes taken by n elements of type (n a multiple of the block size), or 0. */
size_t qe_row_size(int type, int64_t n);

/* ---- k-quants (quant_k.c): super-blocks of QK_K = 256 elements ---------- */
#define QK_K 256

/* Q4_K: 8 sub-blocks of 32, each with a 6-bit scale sc and a 6-bit min m:
 *   x = d * sc[j] * q - dmin * m[j],  q in 0..15.
 * scales[12] packs the 16 6-bit values: bytes 0..3 hold sc[0..3] in their
 * low 6 bits and the top 2 bits of sc[4..7]; bytes 4..7 likewise m[0..3]
 * and the top bits of m[4..7]; bytes 8..11 hold the low 4 bits of sc[4..7]
 * (low nibble) and m[4..7] (high nibble). qs: each 64 elements take 32
 * bytes, element i in the low nibble and element i + 32 in the high one. */
typedef struct {
    uint16_t d;             /* F16 scale of the sub-block scales */
    uint16_t dmin;          /* F16 scale of the sub-block mins */
    uint8_t scales[12];
    uint8_t qs[QK_K / 2];
} block_q4_K;

/* Q6_K: 16 sub-blocks of 16, each with an int8 scale:
 *   x = d * scales[e / 16] * (q - 32),  q in 0..63 (6 bits).
 * Each half of 128 elements takes 64 bytes of ql (low 4 bits) and 32 of qh
 * (high 2 bits): for l < 32, ql[l] holds elements l (low nibble) and l + 64
 * (high), ql[l + 32] elements l + 32 and l + 96, and qh[l] the high bits of
 * l, l + 32, l + 64, l + 96 at bit 0, 2, 4, 6. */
typedef struct {
    uint8_t ql[QK_K / 2];
    uint8_t qh[QK_K / 4];
    int8_t scales[QK_K / 16];
    uint16_t d;             /* F16 scale of the sub-block scales */
} block_q6_K;

_Static_assert(sizeof(block_q4_K) == 144, "block_q4_K is 144 bytes in ggml");
_Static_assert(sizeof(block_q6_K) == 210, "block_q6_K is 210 bytes in ggml");

/* Unpacks the 8 scales and 8 mins of a Q4_K block. */
void qe_q4_K_scales(const uint8_t packed[12], uint8_t sc[8], uint8_t m[8]);

/* n % QK_K == 0. The quantizers search each sub-block's scale (and min) for
 * the least squared error, then the super-block scales; see quant_k.c. */
void qe_quantize_q4_K(const float *x, block_q4_K *y, int64_t n);
void qe_quantize_q6_K(const float *x, block_q6_K *y, int64_t n);
void qe_dequantize_q4_K(const block_q4_K *x, float *y, int64_t n);
void qe_dequantize_q6_K(const block_q6_K *x, float *y, int64_t n);

#endif
