/*
 * quant.c - scalar conversions between float and the weight formats
 * (F16, BF16, Q8_0; Q4_K and Q6_K live in quant_k.c). These are the
 * reference definitions: the fast kernels
 * in kernels.c must agree with them, and the synthetic model writer uses
 * them to produce files llama.cpp reads identically.
 */
#include "quant.h"
#include "gguf.h"

#include <math.h>
#include <string.h>

static inline uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

float qe_fp16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    if (exp == 0) {
        /* zero or subnormal: value = man * 2^-24 */
        float v = (float)man * 5.9604644775390625e-8f;
        return sign ? -v : v;
    }
    if (exp == 31)
        return bits_f32(sign | 0x7f800000u | (man << 13));
    return bits_f32(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t qe_f32_to_fp16(float f)
{
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) /* inf or nan */
        return sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 : 0);
    if (ax >= 0x477ff000u) /* rounds to >= 65520: overflow to inf */
        return sign | 0x7c00;
    if (ax < 0x38800000u) {
        /* subnormal half (or zero): round |f| / 2^-24 to nearest even */
        float a = bits_f32(ax);
        float q = a * 16777216.0f; /* exact scaling by 2^24 */
        return sign | (uint16_t)lrintf(q);
    }
    /* normal: rebias exponent, round mantissa from 23 to 10 bits (RNE) */
    uint32_t r = ax - 0x38000000u;
    r += 0xfff + ((r >> 13) & 1);
    return sign | (uint16_t)(r >> 13);
}

float qe_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t qe_f32_to_bf16(float f)
{
    uint32_t x = f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) /* nan: keep it a quiet nan */
        return (uint16_t)((x >> 16) | 64);
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

size_t qe_row_size(int type, int64_t n)
{
    int be, bb;
    if (n < 0 || !ggml_type_block(type, &be, &bb) || n % be)
        return 0;
    return (size_t)(n / be) * (size_t)bb;
}

size_t qe_quantize_row(int type, const float *src, void *dst, int64_t n)
{
    switch (type) {
    case GGML_TYPE_F32:
        memcpy(dst, src, (size_t)n * 4);
        return (size_t)n * 4;
    case GGML_TYPE_F16: {
        uint16_t *d = dst;
        for (int64_t i = 0; i < n; i++) d[i] = qe_f32_to_fp16(src[i]);
        return (size_t)n * 2;
    }
    case GGML_TYPE_BF16: {
        uint16_t *d = dst;
        for (int64_t i = 0; i < n; i++) d[i] = qe_f32_to_bf16(src[i]);
        return (size_t)n * 2;
    }
    case GGML_TYPE_Q8_0: {
        if (n % QK8_0) return 0;
        block_q8_0 *b = dst;
        for (int64_t i = 0; i < n / QK8_0; i++) {
            const float *x = src + i * QK8_0;
            float amax = 0.0f;
            for (int j = 0; j < QK8_0; j++) amax = fmaxf(amax, fabsf(x[j]));
            float d = amax / 127.0f;
            float id = d ? 1.0f / d : 0.0f;
            b[i].d = qe_f32_to_fp16(d);
            for (int j = 0; j < QK8_0; j++) b[i].qs[j] = (int8_t)roundf(x[j] * id);
        }
        return (size_t)(n / QK8_0) * sizeof(block_q8_0);
    }
    case GGML_TYPE_Q4_K:
        if (n % QK_K) return 0;
        qe_quantize_q4_K(src, dst, n);
        return (size_t)(n / QK_K) * sizeof(block_q4_K);
    case GGML_TYPE_Q6_K:
        if (n % QK_K) return 0;
        qe_quantize_q6_K(src, dst, n);
        return (size_t)(n / QK_K) * sizeof(block_q6_K);
    default:
        return 0;
    }
}

int qe_dequantize_row(int type, const void *src, float *dst, int64_t n)
{
    switch (type) {
    case GGML_TYPE_F32:
        memcpy(dst, src, (size_t)n * 4);
        return 0;
    case GGML_TYPE_F16: {
        const uint16_t *s = src;
        for (int64_t i = 0; i < n; i++) dst[i] = qe_fp16_to_f32(s[i]);
        return 0;
    }
    case GGML_TYPE_BF16: {
        const uint16_t *s = src;
        for (int64_t i = 0; i < n; i++) dst[i] = qe_bf16_to_f32(s[i]);
        return 0;
    }
    case GGML_TYPE_Q8_0: {
        if (n % QK8_0) return -1;
        const block_q8_0 *b = src;
        for (int64_t i = 0; i < n / QK8_0; i++) {
            float d = qe_fp16_to_f32(b[i].d);
            for (int j = 0; j < QK8_0; j++) dst[i * QK8_0 + j] = d * (float)b[i].qs[j];
        }
        return 0;
    }
    case GGML_TYPE_Q4_K:
        if (n % QK_K) return -1;
        qe_dequantize_q4_K(src, dst, n);
        return 0;
    case GGML_TYPE_Q6_K:
        if (n % QK_K) return -1;
        qe_dequantize_q6_K(src, dst, n);
        return 0;
    default:
        return -1;
    }
}
