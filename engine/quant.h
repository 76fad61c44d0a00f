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

/* Converts n floats (n % 32 == 0 for Q8_0) into dst of the given ggml type
 * (F32, F16, BF16, Q8_0). Returns the bytes written, or 0 for an
 * unsupported type or bad n. Q8_0 rounds as ggml does (d = amax/127,
 * q = round(x/d)). */
size_t qe_quantize_row(int type, const float *src, void *dst, int64_t n);
/* Converts n elements of a row of the given type to floats. Returns 0 or -1
 * for an unsupported type. */
int qe_dequantize_row(int type, const void *src, float *dst, int64_t n);
/* Bytes taken by n elements of type (n a multiple of the block size), or 0. */
size_t qe_row_size(int type, int64_t n);

#endif
