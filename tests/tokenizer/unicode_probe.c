/*
 * unicode_probe.c - prints what this build's PCRE2 and utf8proc know of
 * Unicode, for gen_unicode_tables.mjs to compare with the reference (Node's
 * ICU) and derive the tables in engine/tokenizer.c. Output, one per line:
 *   L lo hi      a range of PCRE2 \p{L}
 *   N lo hi      a range of PCRE2 \p{N}
 *   S lo hi      a range of PCRE2 \s (with PCRE2_UCP)
 *   CN lo hi     a range utf8proc does not know (category Cn)
 *   CCC k cp     a mark utf8proc gives combining class k (one per class)
 *   V pcre2 utf8proc   library versions
 * Code points in hex.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <utf8proc.h>

static pcre2_code *probe_compile(const char *p)
{
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)p, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &ec, &eo, NULL);
    if (!re) {
        fprintf(stderr, "unicode_probe: cannot compile %s\n", p);
        return NULL;
    }
    return re;
}

static size_t probe_utf8(unsigned c, unsigned char *b)
{
    if (c < 0x80) { b[0] = (unsigned char)c; return 1; }
    if (c < 0x800) { b[0] = 0xC0 | (c >> 6); b[1] = 0x80 | (c & 63); return 2; }
    if (c < 0x10000) { b[0] = 0xE0 | (c >> 12); b[1] = 0x80 | ((c >> 6) & 63); b[2] = 0x80 | (c & 63); return 3; }
    b[0] = 0xF0 | (c >> 18); b[1] = 0x80 | ((c >> 12) & 63); b[2] = 0x80 | ((c >> 6) & 63); b[3] = 0x80 | (c & 63);
    return 4;
}

/* Prints the ranges of code points for which flag(c) is true. */
static void probe_ranges(const char *tag, int (*flag)(unsigned, void *), void *ctx)
{
    long lo = -1;
    for (unsigned c = 0; c <= 0x110000; c++) {
        int in = c <= 0x10FFFF && !(c >= 0xD800 && c <= 0xDFFF) && flag(c, ctx);
        if (in && lo < 0) lo = c;
        if (!in && lo >= 0) {
            printf("%s %lx %x\n", tag, (unsigned long)lo, c - 1);
            lo = -1;
        }
    }
}

static pcre2_match_data *probe_md;

static int probe_re(unsigned c, void *re)
{
    unsigned char b[4];
    size_t n = probe_utf8(c, b);
    return pcre2_match((pcre2_code *)re, b, n, 0, 0, probe_md, NULL) > 0;
}

static int probe_cn(unsigned c, void *ctx)
{
    (void)ctx;
    return utf8proc_category((utf8proc_int32_t)c) == UTF8PROC_CATEGORY_CN;
}

int main(void)
{
    pcre2_code *L = probe_compile("^\\p{L}$"), *N = probe_compile("^\\p{N}$"), *S = probe_compile("^\\s$");
    probe_md = pcre2_match_data_create(4, NULL);
    if (!L || !N || !S || !probe_md) return 1;
    char ver[64];
    pcre2_config(PCRE2_CONFIG_UNICODE_VERSION, ver);
    printf("V pcre2-unicode-%s utf8proc-%s-unicode-%s\n", ver, utf8proc_version(), utf8proc_unicode_version());
    probe_ranges("L", probe_re, L);
    probe_ranges("N", probe_re, N);
    probe_ranges("S", probe_re, S);
    probe_ranges("CN", probe_cn, NULL);
    int seen[256] = { 0 };
    for (unsigned c = 0x300; c <= 0x10FFFF; c++) {
        if (c >= 0xD800 && c <= 0xDFFF) continue;
        const utf8proc_property_t *p = utf8proc_get_property((utf8proc_int32_t)c);
        int k = p->combining_class;
        if (k && !seen[k] && p->decomp_seqindex == UINT16_MAX) {
            seen[k] = 1;
            printf("CCC %d %x\n", k, c);
        }
    }
    pcre2_match_data_free(probe_md);
    pcre2_code_free(L);
    pcre2_code_free(N);
    pcre2_code_free(S);
    return 0;
}
