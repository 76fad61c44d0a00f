/*
 * fuzz_tokenizer.c - libFuzzer target for the tokenizer: encodes arbitrary
 * bytes and checks what must hold for every input:
 *   - encoding never fails and the count is the same with any buffer size;
 *   - the ids' bytes are valid UTF-8 (invalid input became U+FFFD);
 *   - pure ASCII input comes back byte for byte;
 *   - without characters utf8proc does not know, the bytes are exactly
 *     utf8proc's NFC of the U+FFFD-replaced input;
 *   - encoding the decoded text again gives the same ids;
 *   - the streaming detokenizer, fed the ids one at a time, emits the same
 *     bytes (and a flush adds nothing).
 * Build with -DQUARRY_FUZZ=ON (clang); see tests/tokenizer.cmake. The
 * vocabulary: $QUARRY_FUZZ_GGUF, else $QUARRY_FUZZ_TOKENIZER_JSON, else the
 * tokenizer.json of the source tree.
 */
#include "gguf.h"
#include "tok_json.h"
#include "tokenizer.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static tok_vocab *fz_vocab;

static void fz_fail(const char *what, const uint8_t *data, size_t size)
{
    fprintf(stderr, "fuzz_tokenizer: %s (input of %zu bytes)\n", what, size);
    (void)data;
    __builtin_trap();
}

static void fz_load(void)
{
    char err[512];
    const char *g = getenv("QUARRY_FUZZ_GGUF");
    const char *j = getenv("QUARRY_FUZZ_TOKENIZER_JSON");
    if (g && *g) {
        gguf_file *f;
        /* the mapping must outlive the vocabulary only while building it */
        if (gguf_open(g, &f, err, sizeof err) || tok_vocab_init(f, &fz_vocab, err, sizeof err)) {
            fprintf(stderr, "fuzz_tokenizer: %s\n", err);
            exit(1);
        }
        gguf_close(f);
        return;
    }
#ifdef QUARRY_TOKENIZER_JSON
    if (!j || !*j) j = QUARRY_TOKENIZER_JSON;
#endif
    if (!j || tokjson_load(j, 151936, &fz_vocab, err, sizeof err)) {
        fprintf(stderr, "fuzz_tokenizer: %s\n", j ? err : "set QUARRY_FUZZ_GGUF or QUARRY_FUZZ_TOKENIZER_JSON");
        exit(1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fz_vocab) fz_load();
    const tok_vocab *v = fz_vocab;
    const char *in = (const char *)data;

    int n = tok_encode(v, in, size, NULL, 0);
    if (n < 0) fz_fail("encode failed", data, size);
    int32_t *ids = malloc(((size_t)n + 1) * sizeof *ids);
    if (!ids) return 0;
    if (tok_encode(v, in, size, ids, n) != n) fz_fail("count depends on the buffer", data, size);
    if (n > 1) {
        int32_t first;
        if (tok_encode(v, in, size, &first, 1) != n || first != ids[0]) fz_fail("short buffer", data, size);
    }

    /* The bytes of the ids. */
    size_t total = 0, len;
    for (int i = 0; i < n; i++) {
        if (!tok_bytes(v, ids[i], &len)) fz_fail("id out of range", data, size);
        total += len;
    }
    char *text = malloc(total + 1);
    size_t o = 0;
    for (int i = 0; text && i < n; i++) {
        const char *b = tok_bytes(v, ids[i], &len);
        memcpy(text + o, b, len);
        o += len;
    }
    if (!text) { free(ids); return 0; }
    for (size_t i = 0; i < o;) {
        uint32_t cp;
        i += tok_utf8_next(text, o, i, &cp, NULL);
        if (cp == TOK_UTF8_BAD) fz_fail("decoded text is not UTF-8", data, size);
    }

    /* Expected text where we can compute it independently. */
    int ascii = 1;
    for (size_t i = 0; i < size; i++) ascii &= data[i] < 0x80;
    if (ascii && (o != size || memcmp(text, in, size))) fz_fail("ASCII does not round-trip", data, size);
    char *rep = malloc(3 * size + 1);
    if (rep) {
        size_t rl = tok_utf8_sanitize(in, size, rep);
        int known = 1;
        for (size_t i = 0; i < rl;) {
            uint32_t cp;
            i += tok_utf8_next(rep, rl, i, &cp, NULL);
            if (utf8proc_category((utf8proc_int32_t)cp) == UTF8PROC_CATEGORY_CN) known = 0;
        }
        if (known) {
            /* NFC applies per section between added tokens, which can only
             * differ from whole-text NFC if a mark follows an added token;
             * compare the whole text only when no added token matched. */
            int added = 0;
            for (int i = 0; i < n; i++) {
                int t = tok_type(v, ids[i]);
                added |= t == TOK_TYPE_CONTROL || t == TOK_TYPE_USER_DEFINED;
            }
            utf8proc_uint8_t *nfc = NULL;
            utf8proc_ssize_t nl = utf8proc_map((const utf8proc_uint8_t *)rep, (utf8proc_ssize_t)rl, &nfc,
                                               UTF8PROC_STABLE | UTF8PROC_COMPOSE);
            if (!added && nl >= 0 && ((size_t)nl != o || memcmp(nfc, text, o)))
                fz_fail("decoded text is not the NFC of the input", data, size);
            free(nfc);
        }
        free(rep);
    }

    /* Idempotence: the decoded text encodes to the same ids. */
    int32_t *again = malloc(((size_t)n + 1) * sizeof *again);
    if (again) {
        int m = tok_encode(v, text, o, again, n + 1);
        if (m != n || memcmp(again, ids, (size_t)n * sizeof *ids)) fz_fail("re-encoding differs", data, size);
        free(again);
    }

    /* Streaming decode equals the plain concatenation (it is valid UTF-8). */
    tok_detok *d = tok_detok_init(v);
    if (d) {
        size_t so = 0;
        for (int i = 0; i < n; i++) {
            const char *p = tok_detok_push(d, ids[i], &len);
            if (!p) fz_fail("detok push failed", data, size);
            if (so + len > o || memcmp(text + so, p, len)) fz_fail("detok output differs", data, size);
            so += len;
        }
        const char *p = tok_detok_flush(d, &len);
        if (!p || len || so != o) fz_fail("detok lost or added bytes", data, size);
        tok_detok_free(d);
    }
    free(text);
    free(ids);
    return 0;
}
