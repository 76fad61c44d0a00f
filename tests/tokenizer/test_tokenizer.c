/*
 * test_tokenizer.c - unit tests of the tokenizer that the parity corpus
 * cannot express: the streaming detokenizer (characters split over byte
 * tokens, flush of a dangling sequence), invalid UTF-8 (each ill-formed
 * subpart becomes one U+FFFD), concurrent encoding on one vocabulary, the
 * output-buffer protocol, and vocabulary loading from GGUF (good files and
 * the error messages of bad ones).
 *
 *   test_tokenizer TOKENIZER_JSON TMPDIR
 */
#include "tok_json.h"
#include "tokenizer.h"
#include "gguf.h"
#include "qengine.h"

#include <pthread.h>
#include <utf8proc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures, checks;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        checks++;                                                          \
        if (!(cond)) {                                                     \
            failures++;                                                    \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                  \
            fputc('\n', stderr);                                           \
        }                                                                  \
    } while (0)

static tok_vocab *V;

/* Encodes into a static buffer; returns the count. */
static int32_t ids[1 << 16];
static int enc(const char *s, size_t n)
{
    int k = tok_encode(V, s, n, ids, (int)(sizeof ids / sizeof ids[0]));
    CHECK(k >= 0 && k <= (int)(sizeof ids / sizeof ids[0]), "encode returned %d", k);
    return k;
}

/* Concatenated bytes of ids[0..k) into buf; returns the length. */
static size_t bytes_of(const int32_t *x, int k, char *buf, size_t cap)
{
    size_t o = 0;
    for (int i = 0; i < k; i++) {
        size_t n;
        const char *b = tok_bytes(V, x[i], &n);
        if (!b || o + n > cap) return (size_t)-1;
        memcpy(buf + o, b, n);
        o += n;
    }
    return o;
}

static void hexdump(const char *tag, const char *s, size_t n)
{
    fprintf(stderr, "  %s:", tag);
    for (size_t i = 0; i < n; i++) fprintf(stderr, " %02x", (unsigned char)s[i]);
    fputc('\n', stderr);
}

/* ------------------------------------------------------------ invalid UTF-8 */

static void test_invalid_utf8(void)
{
    /* input -> what the tokenizer must see (and decode back to) */
#define C(in, want) { in, sizeof in - 1, want, sizeof want - 1 }
    static const struct { const char *in; size_t n; const char *want; size_t wn; } cases[] = {
        C("\x80", "\xEF\xBF\xBD"),
        C("\xBF\x80", "\xEF\xBF\xBD\xEF\xBF\xBD"),                  /* lone continuations */
        C("a\xC3", "a\xEF\xBF\xBD"),                                /* truncated 2-byte */
        C("\xE2\x82z", "\xEF\xBF\xBDz"),                            /* truncated 3-byte: one */
        C("\xF0\x9F\x98", "\xEF\xBF\xBD"),                          /* truncated 4-byte: one */
        C("\xC0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD"),                  /* overlong NUL */
        C("\xC1\xBF", "\xEF\xBF\xBD\xEF\xBF\xBD"),
        C("\xE0\x80\xAF", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"),  /* overlong '/' */
        C("\xF0\x80\x80\xAF", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"),
        C("\xED\xA0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"),  /* surrogate D800 */
        C("\xED\xBF\xBF", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"),
        C("\xF4\x90\x80\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"), /* > 10FFFF */
        C("\xF5\x80", "\xEF\xBF\xBD\xEF\xBF\xBD"),
        C("\xFF", "\xEF\xBF\xBD"),
        C("\xFE\xFF", "\xEF\xBF\xBD\xEF\xBF\xBD"),
        C("x\xFFy\xFEz", "x\xEF\xBF\xBDy\xEF\xBF\xBDz"),
        C("\xE4\xB8\xAD\xE4\xB8", "\xE4\xB8\xAD\xEF\xBF\xBD"),      /* 中 + cut 中 */
        C("e\xCC", "e\xEF\xBF\xBD"),                                /* cut combining acute */
        C("e\xFF\xCC\x81", "e\xEF\xBF\xBD\xCC\x81"),                /* mark after U+FFFD */
        C("<|im_start\xFF|>", "<|im_start\xEF\xBF\xBD|>"),          /* no added token */
        C("\xEF\xBF\xBD", "\xEF\xBF\xBD"),                          /* a real U+FFFD */
        C("\x00\xFF", "\x00\xEF\xBF\xBD"),
        C("\xF0\x9F\x98\x80\xF0\x9F", "\xF0\x9F\x98\x80\xEF\xBF\xBD"),
    };
#undef C
    char got[256];
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int k = enc(cases[c].in, cases[c].n);
        size_t gl = bytes_of(ids, k, got, sizeof got);
        size_t wl = cases[c].wn;
        int ok = gl == wl && !memcmp(got, cases[c].want, wl);
        CHECK(ok, "invalid UTF-8 case %zu decodes wrongly", c);
        if (!ok) { hexdump("in", cases[c].in, cases[c].n); hexdump("got", got, gl == (size_t)-1 ? 0 : gl); }
        /* And the ids are those of the replaced text. */
        int32_t want_ids[64];
        int wk = tok_encode(V, cases[c].want, wl, want_ids, 64);
        CHECK(wk == k && !memcmp(want_ids, ids, (size_t)k * sizeof *ids), "case %zu: ids differ from the replaced text's", c);
    }

    /* tok_utf8_next reports the maximal subpart and truncation. */
    uint32_t cp;
    int partial;
    CHECK(tok_utf8_next("\xF0\x9F\x98", 3, 0, &cp, &partial) == 3 && cp == TOK_UTF8_BAD && partial, "truncated 4-byte");
    CHECK(tok_utf8_next("\xF0\x9F\x98\x80", 4, 0, &cp, &partial) == 4 && cp == 0x1F600 && !partial, "emoji");
    CHECK(tok_utf8_next("\xE0\x9F\x80", 3, 0, &cp, &partial) == 1 && cp == TOK_UTF8_BAD && !partial, "E0 9F is bad at once");
    CHECK(tok_utf8_next("\xED\x9F\xBF", 3, 0, &cp, NULL) == 3 && cp == 0xD7FF, "U+D7FF is fine");

    /* Every 1- and 2-byte input: no crash, output is valid UTF-8 and
     * decodes to the replaced input (ASCII/Latin text needs no NFC). */
    for (unsigned a = 0; a < 256; a++) {
        for (unsigned b = 0; b < 256; b += (a < 0x80 ? 255 : 1)) {
            char in[2] = { (char)a, (char)b };
            char rep[8];
            size_t rl = tok_utf8_sanitize(in, 2, rep);
            /* The expected text is the NFC of the replaced input (a few
             * 2-byte characters, e.g. U+0374, are NFC singletons). */
            utf8proc_uint8_t *nfc = NULL;
            utf8proc_ssize_t nl = utf8proc_map((const utf8proc_uint8_t *)rep, (utf8proc_ssize_t)rl, &nfc,
                                               UTF8PROC_STABLE | UTF8PROC_COMPOSE);
            int k = enc(in, 2);
            size_t gl = bytes_of(ids, k, got, sizeof got);
            CHECK(nl >= 0 && gl == (size_t)nl && !memcmp(got, nfc, (size_t)nl),
                  "two-byte input %02x %02x does not round-trip", a, b);
            free(nfc);
        }
    }
}

/* ------------------------------------------------------ streaming decoding */

/* Pushes ids through a detokenizer and returns the concatenated output. */
static size_t detok_all(const int32_t *x, int k, char *out, size_t cap, int flush)
{
    tok_detok *d = tok_detok_init(V);
    size_t o = 0, n;
    for (int i = 0; i < k; i++) {
        const char *p = tok_detok_push(d, x[i], &n);
        if (!p || o + n > cap) { tok_detok_free(d); return (size_t)-1; }
        memcpy(out + o, p, n);
        o += n;
    }
    if (flush) {
        const char *p = tok_detok_flush(d, &n);
        if (!p || o + n > cap) { tok_detok_free(d); return (size_t)-1; }
        memcpy(out + o, p, n);
        o += n;
    }
    tok_detok_free(d);
    return o;
}

static void test_detok(void)
{
    tok_detok *d = tok_detok_init(V);
    CHECK(d != NULL, "detok_init");
    size_t n;
    const char *p;

    /* A 4-byte emoji fed as four byte tokens: nothing, nothing, nothing, 😀 */
    const unsigned char emoji[4] = { 0xF0, 0x9F, 0x98, 0x80 };
    for (int i = 0; i < 4; i++) {
        p = tok_detok_push(d, tok_byte_token(V, emoji[i]), &n);
        CHECK(p != NULL, "push byte %d", i);
        if (i < 3) CHECK(n == 0, "byte %d of the emoji emitted %zu bytes early", i, n);
        else CHECK(n == 4 && !memcmp(p, emoji, 4), "emoji not emitted whole (n=%zu)", n);
    }
    p = tok_detok_flush(d, &n);
    CHECK(p && n == 0, "flush after a complete char emits nothing");

    /* Dangling partial sequence: flushed as one U+FFFD. */
    tok_detok_push(d, tok_byte_token(V, 0xF0), &n);
    p = tok_detok_push(d, tok_byte_token(V, 0x9F), &n);
    CHECK(p && n == 0, "partial held");
    p = tok_detok_flush(d, &n);
    CHECK(p && n == 3 && !memcmp(p, "\xEF\xBF\xBD", 3), "flush of F0 9F gives one U+FFFD (n=%zu)", n);
    p = tok_detok_flush(d, &n);
    CHECK(p && n == 0, "second flush is empty");

    /* A held partial broken by a token that cannot continue it: U+FFFD for
     * the partial, then the token's own text, nothing held. */
    tok_detok_push(d, tok_byte_token(V, 0xE2), &n);
    int32_t a_id = tok_find(V, "a", 1);
    p = tok_detok_push(d, a_id, &n);
    CHECK(p && n == 4 && !memcmp(p, "\xEF\xBF\xBD" "a", 4), "E2 then 'a' (n=%zu)", n);

    /* Bytes that can never start a character come out at once. */
    p = tok_detok_push(d, tok_byte_token(V, 0xFF), &n);
    CHECK(p && n == 3 && !memcmp(p, "\xEF\xBF\xBD", 3), "0xFF emitted as U+FFFD at once");
    p = tok_detok_push(d, tok_byte_token(V, 0x80), &n);
    CHECK(p && n == 3, "lone continuation emitted as U+FFFD at once");

    /* Partial + rest of the char + more text in one token. */
    int32_t x[2] = { tok_byte_token(V, 0xE2), -1 };
    /* find a token that starts with bytes 82 AC (rest of €): build via encode of the
     * byte-level text "\xC2\x82\xC2\xAC" = stand-ins of 0x82 0xAC */
    int32_t tail = tok_find(V, "\xC4\xA4\xC2\xAC", 4);   /* U+0124 = byte 0x82, U+00AC = 0xAC */
    if (tail >= 0) {
        x[1] = tail;
        char out[32];
        size_t o = detok_all(x, 2, out, sizeof out, 1);
        CHECK(o == 3 && !memcmp(out, "\xE2\x82\xAC", 3), "€ split as E2 | 82 AC (o=%zu)", o);
    }

    /* Out-of-range ids. */
    CHECK(tok_detok_push(d, -1, &n) == NULL && n == 0, "id -1 rejected");
    CHECK(tok_detok_push(d, tok_n_vocab(V), &n) == NULL, "id n_vocab rejected");

    /* Added tokens come out as their text. */
    int32_t ims = tok_find(V, "<|im_start|>", 12);
    p = tok_detok_push(d, ims, &n);
    CHECK(p && n == 12 && !memcmp(p, "<|im_start|>", 12), "<|im_start|> text");
    tok_detok_free(d);

    /* Round trip of real text, token by token and byte token by byte token. */
    static const char text[] = "Grüße 👩🏽‍💻 中文字符 <think>x</think> 😀😀 e\xCC\x81 العربية\n\tend";
    int k = enc(text, sizeof text - 1);
    static char out[4096], want[4096];
    size_t wl = bytes_of(ids, k, want, sizeof want);
    size_t o = detok_all(ids, k, out, sizeof out, 1);
    CHECK(o == wl && !memcmp(out, want, wl), "token-by-token detok differs from the bytes");
    /* Explode every token into byte tokens (added tokens kept): same text. */
    static int32_t bt[4096];
    int nb = 0;
    for (int i = 0; i < k; i++) {
        int t = tok_type(V, ids[i]);
        if (t == TOK_TYPE_CONTROL || t == TOK_TYPE_USER_DEFINED) { bt[nb++] = ids[i]; continue; }
        size_t bl;
        const char *b = tok_bytes(V, ids[i], &bl);
        for (size_t j = 0; j < bl; j++) bt[nb++] = tok_byte_token(V, (unsigned char)b[j]);
    }
    o = detok_all(bt, nb, out, sizeof out, 1);
    CHECK(o == wl && !memcmp(out, want, wl), "byte-by-byte detok differs");
    /* Without the flush nothing is lost either (the text ends complete). */
    o = detok_all(bt, nb, out, sizeof out, 0);
    CHECK(o == wl, "no-flush detok lost bytes");
}

/* ------------------------------------------------------------- threads */

static const char *thread_texts[] = {
    "The quick brown fox jumps over the lazy dog. It's 12:30.",
    "我们今天去公园散步，天气非常好。日本語のテキストです。",
    "<|im_start|>user\nWhat's 2+2?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n4",
    "def f(x):\n    return x ** 2  # square\n\n\n",
    "e\xCC\x81\xCC\xA3 \xE1\x84\x80\xE1\x85\xA1 \xFF\xFE broken \xF0\x9F",
    "👨‍👩‍👧‍👦👍🏽🇯🇵 مرحبا بالعالم नमस्ते",
};
#define N_TEXTS (int)(sizeof thread_texts / sizeof thread_texts[0])
static int32_t thread_want[N_TEXTS][512];
static int thread_want_n[N_TEXTS];

static void *thread_main(void *arg)
{
    int seed = (int)(intptr_t)arg, bad = 0;
    int32_t buf[512];
    for (int it = 0; it < 400; it++) {
        int t = (seed + it * 7) % N_TEXTS;
        int k = tok_encode(V, thread_texts[t], strlen(thread_texts[t]), buf, 512);
        if (k != thread_want_n[t] || memcmp(buf, thread_want[t], (size_t)k * sizeof *buf)) bad++;
    }
    return (void *)(intptr_t)bad;
}

static void test_threads(void)
{
    for (int t = 0; t < N_TEXTS; t++) {
        thread_want_n[t] = tok_encode(V, thread_texts[t], strlen(thread_texts[t]), thread_want[t], 512);
        CHECK(thread_want_n[t] > 0 && thread_want_n[t] <= 512, "text %d", t);
    }
    pthread_t th[6];
    for (int i = 0; i < 6; i++) pthread_create(&th[i], NULL, thread_main, (void *)(intptr_t)i);
    int bad = 0;
    for (int i = 0; i < 6; i++) {
        void *r;
        pthread_join(th[i], &r);
        bad += (int)(intptr_t)r;
    }
    CHECK(bad == 0, "%d concurrent encodes differed from the single-threaded result", bad);
}

/* ---------------------------------------------------- API edge cases */

static void test_api(void)
{
    CHECK(tok_encode(V, "", 0, ids, 10) == 0, "empty string");
    CHECK(tok_encode(V, NULL, 0, NULL, 0) == 0, "NULL text of length 0");
    CHECK(tok_encode(V, NULL, 3, ids, 10) == QE_EINVAL, "NULL text with a length");
    CHECK(tok_encode(V, "x", 1, NULL, 5) == QE_EINVAL, "NULL out with cap");
    CHECK(tok_encode(V, "x", 1, ids, -1) == QE_EINVAL, "negative cap");
    /* Too small a buffer: the full count comes back, only cap ids written. */
    const char *s = "Hello world, this is a sentence with several tokens.";
    int full = tok_encode(V, s, strlen(s), NULL, 0);
    CHECK(full > 5, "count with cap 0 (%d)", full);
    int32_t small[4] = { -7, -7, -7, -7 };
    CHECK(tok_encode(V, s, strlen(s), small, 3) == full, "count with cap 3");
    CHECK(small[3] == -7 && small[0] >= 0, "wrote past cap");
    int32_t all[64];
    CHECK(tok_encode(V, s, strlen(s), all, 64) == full && !memcmp(all, small, 3 * sizeof *all), "prefix");

    /* Special tokens: types, ids, texts. */
    CHECK(tok_n_vocab(V) == 151936, "n_vocab %d", tok_n_vocab(V));
    CHECK(tok_find(V, "<|endoftext|>", 13) == 151643, "endoftext id");
    CHECK(tok_type(V, 151643) == TOK_TYPE_CONTROL, "endoftext is CONTROL");
    CHECK(tok_type(V, 151667) == TOK_TYPE_USER_DEFINED, "<think> is USER_DEFINED");
    CHECK(tok_type(V, 151669) == TOK_TYPE_UNUSED, "padding is UNUSED");
    CHECK(tok_type(V, -1) == -1 && tok_type(V, 151936) == -1, "type out of range");
    size_t n;
    CHECK(tok_bytes(V, 151936, &n) == NULL && n == 0, "bytes out of range");
    const char *b = tok_bytes(V, tok_find(V, "\xC4\xA0the", 5), &n);   /* "Ġthe" */
    CHECK(b && n == 4 && !memcmp(b, " the", 4), "byte-level decoding of Ġthe");
    /* Padding fillers are never matched in text. */
    int k = enc("[PAD151669]", 11);
    int has = 0;
    for (int i = 0; i < k; i++) has |= ids[i] >= 151643;
    CHECK(k > 1 && !has, "[PAD151669] must tokenize as plain text");
    /* Every byte token decodes to its byte. */
    for (unsigned c = 0; c < 256; c++) {
        b = tok_bytes(V, tok_byte_token(V, (unsigned char)c), &n);
        CHECK(b && n == 1 && (unsigned char)b[0] == c, "byte token %02x", c);
    }
    /* Long inputs: a 1 MB run of spaces, of one letter, of digits. */
    size_t big = 1 << 20;
    char *t = malloc(big);
    int32_t *o = malloc(big * sizeof *o);
    const char fill[] = { ' ', 'a', '7', '\n' };
    for (int f = 0; f < 4; f++) {
        memset(t, fill[f], big);
        int r = tok_encode(V, t, big, o, (int)big);
        CHECK(r > 0, "1 MB of '%c': %d", fill[f], r);
        char *back = malloc(big);
        size_t bl = 0;
        int okb = 1;
        for (int i = 0; r > 0 && i < r && okb; i++) {
            const char *p = tok_bytes(V, o[i], &n);
            if (bl + n > big) { okb = 0; break; }
            memcpy(back + bl, p, n);
            bl += n;
        }
        CHECK(okb && bl == big && !memcmp(back, t, big), "1 MB of '%c' round trip", fill[f]);
        free(back);
    }
    /* 100,000 marks on one base, in the worst order for a naive canonical
     * reordering: must stay fast, and come out sorted and composed:
     * a (U+0316 U+0301)*k -> U+00E1 U+0316*k U+0301*(k-1). */
    size_t nm = 50000, tl = 1 + 4 * nm, el = 2 + 2 * nm + 2 * (nm - 1);
    char *in = malloc(tl), *exp = malloc(el), *back = malloc(el + 16);
    in[0] = 'a';
    for (size_t i = 0; i < nm; i++) memcpy(in + 1 + 4 * i, "\xCC\x96\xCC\x81", 4);
    memcpy(exp, "\xC3\xA1", 2);
    for (size_t i = 0; i < nm; i++) memcpy(exp + 2 + 2 * i, "\xCC\x96", 2);
    for (size_t i = 0; i + 1 < nm; i++) memcpy(exp + 2 + 2 * nm + 2 * i, "\xCC\x81", 2);
    free(o);
    o = malloc(tl * sizeof *o);
    int r = tok_encode(V, in, tl, o, (int)tl);
    size_t bl = 0;
    int okb = r > 0;
    for (int i = 0; okb && i < r; i++) {
        const char *p = tok_bytes(V, o[i], &n);
        if (bl + n > el) { okb = 0; break; }
        memcpy(back + bl, p, n);
        bl += n;
    }
    CHECK(okb && bl == el && !memcmp(back, exp, el), "long mark run not ordered/composed as NFC");
    free(in);
    free(exp);
    free(back);
    free(t);
    free(o);
}

/* -------------------------------------------------- vocabulary loading */

static void test_init_errors(void)
{
    char err[512];
    tok_vocab *v = NULL;
    /* No byte-level tokens at all. */
    const char *toks[] = { "a", "b", "ab" };
    size_t lens[] = { 1, 1, 2 };
    int rc = tok_vocab_init_arrays(toks, lens, NULL, 3, NULL, NULL, 0, &v, err, sizeof err);
    CHECK(rc == QE_EFORMAT && !v && strstr(err, "byte 0x00"), "missing byte tokens: %d %s", rc, err);

    /* A full byte alphabet, then bad merges. */
    static char store[256][4];
    const char *bt[260];
    size_t bl[260];
    int n = 0;
    for (int b = 0; b < 256; b++) {
        /* the GPT-2 stand-in characters */
        unsigned c = ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) ? (unsigned)b : 0;
        if (!c) {
            unsigned k = 0;
            for (int x = 0; x < b; x++)
                if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255))) k++;
            c = 256 + k;
        }
        size_t m = c < 0x80 ? 1 : 2;
        if (m == 1) store[b][0] = (char)c;
        else { store[b][0] = (char)(0xC0 | (c >> 6)); store[b][1] = (char)(0x80 | (c & 63)); }
        bt[n] = store[b];
        bl[n++] = m;
    }
    bt[n] = "ab"; bl[n++] = 2;
    const char *mg_ok[] = { "a b" };
    size_t ml_ok[] = { 3 };
    rc = tok_vocab_init_arrays(bt, bl, NULL, n, mg_ok, ml_ok, 1, &v, err, sizeof err);
    CHECK(rc == 0 && v, "tiny vocabulary: %s", err);
    if (v) {
        int32_t o[8];
        int k = tok_encode(v, "abab c", 6, o, 8);
        CHECK(k == 4 && o[0] == 256 && o[1] == 256 && o[2] == ' ' && o[3] == 'c', "tiny BPE: %d", k);
        tok_vocab_free(v);
        v = NULL;
    }
    const char *mg_bad[] = { "a b", "x yz" };
    size_t ml_bad[] = { 3, 4 };
    rc = tok_vocab_init_arrays(bt, bl, NULL, n, mg_bad, ml_bad, 2, &v, err, sizeof err);
    CHECK(rc == QE_EFORMAT && strstr(err, "merges[1]"), "bad merge: %s", err);
    const char *mg_res[] = { "b a" };
    rc = tok_vocab_init_arrays(bt, bl, NULL, n, mg_res, ml_ok, 1, &v, err, sizeof err);
    CHECK(rc == QE_EFORMAT && strstr(err, "merges[0]") && strstr(err, "not in the vocabulary"), "merge result: %s", err);
    int32_t types[260];
    for (int i = 0; i < n; i++) types[i] = 1;
    types[3] = 9;
    rc = tok_vocab_init_arrays(bt, bl, types, n, NULL, NULL, 0, &v, err, sizeof err);
    CHECK(rc == QE_EFORMAT && strstr(err, "token_type[3]"), "bad type: %s", err);
}

static void test_gguf(const char *json, const char *tmpdir)
{
    char path[1024], err[512];
    static const struct { const char *model, *pre, *expect; } cases[] = {
        { "gpt2", "qwen2", NULL },
        { "gpt2", "llama-bpe", "tokenizer.ggml.pre = 'llama-bpe'" },
        { "gpt2", NULL, "tokenizer.ggml.pre: missing" },
        { "llama", "qwen2", "tokenizer.ggml.model = 'llama'" },
        { NULL, "qwen2", "tokenizer.ggml.model: missing" },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        snprintf(path, sizeof path, "%s/tok-test-%zu.gguf", tmpdir, c);
        if (tokjson_write_gguf(json, 151936, path, cases[c].model, cases[c].pre, err, sizeof err)) {
            CHECK(0, "writing %s: %s", path, err);
            continue;
        }
        gguf_file *f = NULL;
        tok_vocab *v = NULL;
        if (gguf_open(path, &f, err, sizeof err)) { CHECK(0, "gguf_open %s: %s", path, err); continue; }
        int rc = tok_vocab_init(f, &v, err, sizeof err);
        if (!cases[c].expect) {
            CHECK(rc == 0, "GGUF vocabulary: %s", err);
            if (!rc) {
                /* Same ids as the tokenizer.json vocabulary. */
                const char *s = "GGUF path <|im_start|>ok 中文 1234 it's";
                int32_t a[64], b[64];
                int ka = tok_encode(v, s, strlen(s), a, 64), kb = tok_encode(V, s, strlen(s), b, 64);
                CHECK(ka == kb && ka > 0 && !memcmp(a, b, (size_t)ka * sizeof *a), "GGUF vs JSON ids");
                CHECK(tok_n_merges(v) == tok_n_merges(V), "merge count");
            }
        } else {
            CHECK(rc == QE_EFORMAT && strstr(err, cases[c].expect) && strstr(err, path),
                  "case %zu: expected an error with \"%s\", got %d \"%s\"", c, cases[c].expect, rc, err);
        }
        tok_vocab_free(v);
        gguf_close(f);
        remove(path);
    }
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: test_tokenizer TOKENIZER_JSON TMPDIR\n");
        return 2;
    }
    char err[512];
    if (tokjson_load(argv[1], 151936, &V, err, sizeof err)) {
        fprintf(stderr, "test_tokenizer: %s\n", err);
        return 1;
    }
    test_invalid_utf8();
    test_detok();
    test_threads();
    test_api();
    test_init_errors();
    test_gguf(argv[1], argv[2]);
    tok_vocab_free(V);
    printf("test_tokenizer: %d checks, %d failures\n", checks, failures);
    return failures != 0;
}
