/*
 * kernels_x16.h - the X16 weight layout shared by its two sets of tiles:
 * F32 activations (kernels_x16.c) and 16-bit integer activations
 * (kernels_x16q.c). Internal to the engine; the layout is described in
 * kernels_x16.c.
 */
#ifndef QE_KERNELS_X16_H
#define QE_KERNELS_X16_H

#include "gguf.h"
#include "quant.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define KX_X86 1
#endif

/* Unit sizes: inputs and bytes. */
#define KX_Q8_BYTES (32 + 16 * QK8_0)
#define KX_F16_BYTES (32 * 16 * 2)
#define KX_Q4K_HDR (32 + 32 + 128 + 128)
#define KX_Q4K_BYTES (KX_Q4K_HDR + 128 * 16)
#define KX_Q6K_QL (32 + 256)
#define KX_Q6K_QH (KX_Q6K_QL + 128 * 16)
#define KX_Q6K_BYTES (KX_Q6K_QH + 64 * 16)

/* Inputs per unit and bytes per unit (of 16 rows); 0 for other types. */
static inline int kx_unit_k(int type)
{
    switch (type) {
    case GGML_TYPE_F16:
    case GGML_TYPE_Q8_0: return 32;
    case GGML_TYPE_Q4_K:
    case GGML_TYPE_Q6_K: return QK_K;
    default: return 0;
    }
}

static inline size_t kx_unit_bytes(int type)
{
    switch (type) {
    case GGML_TYPE_F16: return KX_F16_BYTES;
    case GGML_TYPE_Q8_0: return KX_Q8_BYTES;
    case GGML_TYPE_Q4_K: return KX_Q4K_BYTES;
    case GGML_TYPE_Q6_K: return KX_Q6K_BYTES;
    default: return 0;
    }
}

/* Where the codes of input e (of a unit), row i, lie. The 4-bit codes
 * (Q4_K's, Q6_K's low bits) go in chunks of 8 inputs, 64 bytes: row i's
 * dword holds the chunk's even inputs at bits 0, 4, 8, 12 and its odd
 * ones at 16, 20, 24, 28. Q6_K's top 2 bits go in chunks of 16 inputs the
 * same way: even inputs at bits 0, 2, .., 14, odd ones at 16 .. 30. A tile
 * then loads a chunk once and takes each pair of inputs (k, k + 1) out of
 * it with a shift and a mask within the lanes: (dword >> 4t) & 0x000F000F
 * is rows' (code k, code k + 1) as the two words of a vpdpwssd operand.
 * (Expanding 16 bytes to dwords per pair, as the layout had it before,
 * took a shuffle port the dot products want: 12% of the K-quant tiles'
 * inner loop in a microbenchmark.) Byte offsets, then the shift within
 * the byte. */
#define KX_NIB_BYTE(e, i) (64 * ((e) / 8) + 4 * (i) + 2 * ((e) & 1) + (e) % 8 / 4)
#define KX_NIB_SHIFT(e) (4 * ((e) % 8 / 2 & 1))
#define KX_QH_BYTE(e, i) (64 * ((e) / 16) + 4 * (i) + 2 * ((e) & 1) + (e) % 16 / 8)
#define KX_QH_SHIFT(e) (2 * ((e) % 16 / 2 & 3))

/* Q8_0's codes (after the 32 bytes of scales) go in chunks of 4 inputs,
 * 64 bytes: row i's dword holds inputs 0, 2, 1, 3 of the chunk as bytes 0
 * to 3, so its words are (0, 2) and (1, 3) and a tile takes the pair
 * (0, 1) as words by an arithmetic shift of the chunk left-shifted by 8,
 * (2, 3) by the shift alone (where a sign extension and a word permute
 * per pair took two shuffles). */
#define KX_Q8_BYTE(e, i) (32 + 64 * ((e) / 4) + 4 * (i) + (((e) & 1) << 1 | ((e) >> 1 & 1)))

static inline int kx_nib(const uint8_t *codes, int e, int i)
{
    return codes[KX_NIB_BYTE(e, i)] >> KX_NIB_SHIFT(e) & 15;
}

static inline int kx_qh(const uint8_t *top, int e, int i)
{
    return top[KX_QH_BYTE(e, i)] >> KX_QH_SHIFT(e) & 3;
}

static inline float kx_h(const char *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return qe_fp16_to_f32(h);
}

/* The first unit of row r's group. */
static inline const char *kx_group(int type, const void *P, int n, int r)
{
    return (const char *)P + (size_t)(r / 16) * (size_t)(n / kx_unit_k(type)) * kx_unit_bytes(type);
}

/* 1 when the CPU runs the AVX-512 tiles (and QUARRY_NO_AVX512 is unset). */
int kx_has_avx512(void);

#ifdef KX_X86
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,fma,f16c")))
#define INLINE static inline __attribute__((always_inline))

/* Prefetches lines [c * L, c * L + L) of unit u + pf of each group (L a
 * constant, so the loop unrolls: with a variable count its overhead was a
 * tenth of the K-quant tiles' time; a line past the unit is harmless).
 * Near a group's end that unit is the first ones of the group RG further
 * on, which the next tile reads: without it each tile started on cold
 * lines, a unit per group (a quarter of a Q4_K matrix of width 1024), and
 * batch 1 streamed 10-20% slower than from the row layout. Prefetches past
 * the matrix are harmless. Reads the tile's p[], u, nu, ub, gs, RG and pf. */
#define KX_PREFETCH(c, L)                                                                       \
    do {                                                                                        \
        if (pf) {                                                                               \
            const size_t ahead = (size_t)pf * ub + (u + pf >= nu ? (size_t)(RG - 1) * gs : 0);  \
            _Pragma("GCC unroll 8") for (int q = 0; q < RG; q++)                                \
                _Pragma("GCC unroll 9") for (int l = 0; l < (L); l++)                           \
                    _mm_prefetch(p[q] + ahead + 64 * ((c) * (L) + l), _MM_HINT_T0);             \
        }                                                                                       \
    } while (0)

/* Each dword of v shifted right by s bits (left by -s). The tiles call it
 * in unrolled loops, where s is a constant: an immediate shift. */
AVX512 INLINE __m512i kx_shift(__m512i v, int s)
{
    return s > 0 ? _mm512_srli_epi32(v, s) : s < 0 ? _mm512_slli_epi32(v, -s) : v;
}

/* 16 F16 values, 16 unsigned / signed bytes, as floats */
AVX512 INLINE __m512 kx_cvt_f16(const uint8_t *p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p)); }
AVX512 INLINE __m512 kx_cvt_u8(const uint8_t *p) { return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p))); }
AVX512 INLINE __m512 kx_cvt_s8(const uint8_t *p) { return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)p))); }

#endif

#endif
