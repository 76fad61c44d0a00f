/*
 * ceiling_bench.c - what one core can issue: vpdpwssd (the Q16 tiles' dot
 * product), FMA (the F32 tiles' and attention's) and the two mixed, each
 * with 16 independent chains on registers only, so neither latency nor
 * memory bounds it. The README's "share of the ceiling" figures divide a
 * tile's GMAC/s by the vpdpwssd line printed here.
 *
 * Not a test and not part of the build; by hand from the repository root:
 *   cc -O2 tests/bench/ceiling_bench.c -o /tmp/ceiling_bench && /tmp/ceiling_bench
 * Each line is the best of 8 windows (the machine may be shared). One
 * vpdpwssd is 32 multiply-adds (16 lanes x 2 pairs of int16), one FMA 16.
 * Needs x86-64 with AVX-512 F and VNNI; says so and exits 0 otherwise.
 */
#include <stdio.h>
#include <time.h>

#if defined(__x86_64__)

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* 16 instructions into zmm0..zmm15 from zmm16/zmm17: no chain depends on
 * another, each is 16 instructions long per iteration */
#define OP16(I)                                                                                 \
    I "%%zmm16, %%zmm17, %%zmm0\n\t" I "%%zmm16, %%zmm17, %%zmm1\n\t" I "%%zmm16, %%zmm17, %%zmm2\n\t" \
    I "%%zmm16, %%zmm17, %%zmm3\n\t" I "%%zmm16, %%zmm17, %%zmm4\n\t" I "%%zmm16, %%zmm17, %%zmm5\n\t" \
    I "%%zmm16, %%zmm17, %%zmm6\n\t" I "%%zmm16, %%zmm17, %%zmm7\n\t" I "%%zmm16, %%zmm17, %%zmm8\n\t" \
    I "%%zmm16, %%zmm17, %%zmm9\n\t" I "%%zmm16, %%zmm17, %%zmm10\n\t" I "%%zmm16, %%zmm17, %%zmm11\n\t" \
    I "%%zmm16, %%zmm17, %%zmm12\n\t" I "%%zmm16, %%zmm17, %%zmm13\n\t" I "%%zmm16, %%zmm17, %%zmm14\n\t" \
    I "%%zmm16, %%zmm17, %%zmm15\n\t"
/* half and half: 8 chains of each */
#define MIX16                                                                                   \
    "vpdpwssd %%zmm16, %%zmm17, %%zmm0\n\tvfmadd231ps %%zmm16, %%zmm17, %%zmm1\n\t"             \
    "vpdpwssd %%zmm16, %%zmm17, %%zmm2\n\tvfmadd231ps %%zmm16, %%zmm17, %%zmm3\n\t"             \
    "vpdpwssd %%zmm16, %%zmm17, %%zmm4\n\tvfmadd231ps %%zmm16, %%zmm17, %%zmm5\n\t"             \
    "vpdpwssd %%zmm16, %%zmm17, %%zmm6\n\tvfmadd231ps %%zmm16, %%zmm17, %%zmm7\n\t"             \
    "vpdpwssd %%zmm16, %%zmm17, %%zmm8\n\tvfmadd231ps %%zmm16, %%zmm17, %%zmm9\n\t"             \
    "vpdpwssd %%zmm16, %%zmm17, %%zmm10\n\tvfmadd231ps %%zmm16, %%zmm17, %%zmm11\n\t"           \
    "vpdpwssd %%zmm16, %%zmm17, %%zmm12\n\tvfmadd231ps %%zmm16, %%zmm17, %%zmm13\n\t"           \
    "vpdpwssd %%zmm16, %%zmm17, %%zmm14\n\tvfmadd231ps %%zmm16, %%zmm17, %%zmm15\n\t"
#define CLOBBER                                                                                 \
    "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", \
        "xmm12", "xmm13", "xmm14", "xmm15"

#define KERNEL(NAME, BODY)                                                                      \
    __attribute__((target("avx512f,avx512vnni"), noinline)) static void NAME(long n)           \
    {                                                                                           \
        for (long i = 0; i < n; i++) __asm__ volatile(BODY ::: CLOBBER);                       \
    }
KERNEL(run_dp, OP16("vpdpwssd "))
KERNEL(run_fma, OP16("vfmadd231ps "))
KERNEL(run_mix, MIX16)

/* G instructions per second, best of 8 windows of n iterations */
static double rate(void (*f)(long), long n)
{
    double best = 0;
    for (int w = 0; w < 8; w++) {
        double t = now();
        f(n);
        t = now() - t;
        if (16.0 * n / t > best) best = 16.0 * n / t;
    }
    return best / 1e9;
}

int main(void)
{
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512vnni")) {
        puts("ceiling_bench: this CPU has no AVX-512 VNNI; nothing to measure");
        return 0;
    }
    const long n = 20 * 1000 * 1000;
    double dp = rate(run_dp, n), fma = rate(run_fma, n), mix = rate(run_mix, n);
    printf("one core, 16 independent chains, registers only (best of 8):\n");
    printf("  vpdpwssd     %.2f G/s = %.0f GMAC/s (int16 pairs)\n", dp, 32 * dp);
    printf("  vfmadd231ps  %.2f G/s = %.0f GMAC/s (float)\n", fma, 16 * fma);
    printf("  mixed 1:1    %.2f G/s in all, %.2f of each (their sum above the lines\n"
           "               before would mean they issue on separate ports)\n", mix, mix / 2);
    return 0;
}

#else
int main(void)
{
    puts("ceiling_bench: x86-64 only");
    return 0;
}
#endif
