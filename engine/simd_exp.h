/*
 * simd_exp.h - exp(x) on 16 float lanes (AVX-512), for the softmax of
 * attention and the SiLU of the feed-forward block. Header-only: each user
 * compiles it with its own target attributes.
 *
 * 2^n * e^r with n = round(x / ln2), |r| <= ln2 / 2, ln2 split in two parts
 * so r is exact, and a degree-7 Taylor polynomial for e^r (truncation 6e-9,
 * below float rounding). x is clamped to [-104, 89]: e^-104 is 0 and e^89
 * is infinite in float, and _mm512_scalef_ps gives both from there.
 */
#ifndef QE_SIMD_EXP_H
#define QE_SIMD_EXP_H

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

__attribute__((target("avx512f"))) static inline __m512 qe_exp512(__m512 x)
{
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-104.0f)), _mm512_set1_ps(89.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);   /* ln2, high part */
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187e-06f), r);       /* ln2, low part */
    __m512 p = _mm512_set1_ps(1.0f / 5040);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}
#endif

#endif
