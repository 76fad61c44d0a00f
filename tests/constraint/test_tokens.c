/*
 * test_tokens.c - the constraint over the real Qwen3 vocabulary (a tiny
 * synthetic model, path in argv[1]):
 *  - the token index is built once and reused by a second compile;
 *  - at states along random walks the fast mask equals the brute-force
 *    answer (jc_accept of every one of the 151,936 tokens on a copy);
 *  - added tokens (<|im_start|>, <think>, ...) and padding never appear
 *    inside the JSON; after the document only the stop tokens do;
 *  - think mode: free until </think>, then whitespace (at most 4 bytes)
 *    and the constrained value;
 *  - jump-forward tokens spell the forced bytes and are accepted;
 *  - the sampler stage keeps the pick inside the mask (greedy, sampled).
 */
#include "constraint.h"
#include "jsonschema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../check.h"

static qe_model *M;
static int NV;
static const qe_vocab_info *VI;
static uint64_t rng = 88172645463325252ull;

static uint64_t xr(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int bit(const uint64_t *b, int i) { return (int)((b[i >> 6] >> (i & 63)) & 1); }

static jc_grammar *compile(const char *text, double *ms)
{
    json_error_t je;
    json_t *s = json_loads(text, JSON_DECODE_ANY, &je);
    if (!s) { fprintf(stderr, "bad schema text: %s\n", je.text); exit(2); }
    char err[512];
    jc_grammar *g = NULL;
    double t0 = now();
    int rc = jc_grammar_compile(s, M, &g, err, sizeof err);
    if (ms) *ms = (now() - t0) * 1e3;
    CHECK(rc == 0, "compile %s: %s", text, err);
    json_decref(s);
    return g;
}

static qe_token tok1(const char *text)
{
    qe_token t[8];
    int n = qe_tokenize(M, text, strlen(text), t, 8);
    if (n != 1) { fprintf(stderr, "'%s' is %d tokens\n", text, n); exit(2); }
    return t[0];
}

/* Compares the mask with jc_accept of every token on a copy of st. */
static void brute(jc_grammar *g, jc_state *st, const uint64_t *bits, const char *what)
{
    jc_state *cp = jc_state_init(g, 0);
    int bad = 0;
    for (int t = 0; t < NV; t++) {
        jc_state_copy(cp, st);
        int ok = jc_accept(cp, t) == 0;
        if (ok != bit(bits, t)) {
            if (bad++ < 5) {
                size_t len;
                const char *p = qe_token_bytes(M, t, &len);
                fprintf(stderr, "  %s: token %d '%.*s': mask %d accept %d\n", what, t, (int)len, p ? p : "", bit(bits, t), ok);
            }
        }
    }
    CHECK(bad == 0, "%s: mask and accept disagree on %d tokens", what, bad);
    jc_state_free(cp);
}

static void check_never(const uint64_t *bits, const char *what)
{
    static const int always_banned[] = { 151644 /* <|im_start|> */, 151667 /* <think> */, 151668 /* </think> */ };
    for (size_t i = 0; i < sizeof always_banned / sizeof always_banned[0]; i++)
        if (always_banned[i] < NV) CHECK(!bit(bits, always_banned[i]), "%s: added token %d allowed", what, always_banned[i]);
    for (int t = VI->n_vocab; t < NV; t++)
        if (bit(bits, t)) { CHECK(0, "%s: padding token %d allowed", what, t); break; }
}

/* Random walk through allowed tokens, brute-forcing the mask at a few steps. */
static void walk_schema(const char *schema, int steps, int brute_every, unsigned seed)
{
    jc_grammar *g = compile(schema, NULL);
    if (!g) return;
    jc_state *st = jc_state_init(g, 0);
    uint64_t *bits = calloc((size_t)(NV + 63) / 64, sizeof *bits);
    int *allowed = malloc((size_t)NV * sizeof *allowed);
    char text[8192];
    size_t tl = 0;
    rng = seed * 2654435761u + 1;
    for (int step = 0; step < steps; step++) {
        int n = jc_mask(st, bits);
        CHECK(n > 0, "%s: empty mask at step %d", schema, step);
        if (n <= 0) break;
        char what[64];
        snprintf(what, sizeof what, "schema walk step %d", step);
        check_never(bits, what);
        if (brute_every && step % brute_every == 0) brute(g, st, bits, what);
        int na = 0, stop_ok = 0;
        for (int t = 0; t < NV; t++) {
            if (!bit(bits, t)) continue;
            if (qe_token_is_stop(M, t)) stop_ok = 1;
            else allowed[na++] = t;
        }
        if (na == 0) {
            CHECK(stop_ok && jc_done(st), "%s: only stop tokens but not done", schema);
            brute(g, st, bits, "done state");
            break;
        }
        /* prefer short tokens now and then so strings get closed */
        qe_token t = allowed[xr() % (uint64_t)na];
        if (xr() % 3 == 0) {
            for (int k = 0; k < 8; k++) {
                qe_token u = allowed[xr() % (uint64_t)na];
                size_t lu, lt;
                qe_token_bytes(M, u, &lu);
                qe_token_bytes(M, t, &lt);
                if (lu < lt) t = u;
            }
        }
        /* jump-forward must agree with the bytes */
        qe_token ft[64];
        char fb[300];
        int nfb = jc_forced_bytes(st, fb, (int)sizeof fb);
        int nf = jc_forced(st, ft, 64);
        size_t off = 0;
        for (int k = 0; k < nf; k++) {
            size_t len;
            const char *p = qe_token_bytes(M, ft[k], &len);
            CHECK(off + len <= (size_t)nfb && !memcmp(fb + off, p, len), "forced token %d does not spell the forced bytes", k);
            CHECK(bit(bits, ft[0]), "first forced token not in the mask");
            off += len;
        }
        CHECK(nf == 0 || nfb > 0, "forced tokens without forced bytes");
        size_t len;
        const char *p = qe_token_bytes(M, t, &len);
        CHECK(jc_accept(st, t) == 0, "%s: allowed token %d '%.*s' refused", schema, t, (int)len, p);
        if (tl + len < sizeof text) { memcpy(text + tl, p, len); tl += len; }
    }
    if (getenv("JC_VERBOSE")) printf("walk %u: %.*s\n", seed, (int)tl, text);
    free(bits);
    free(allowed);
    jc_state_free(st);
    jc_grammar_free(g);
}

static void test_think(void)
{
    jc_grammar *g = compile("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"boolean\"}},\"required\":[\"a\"]}", NULL);
    if (!g) return;
    uint64_t *bits = calloc((size_t)(NV + 63) / 64, sizeof *bits);
    jc_state *st = jc_state_init(g, 1);
    CHECK(jc_thinking(st), "think: starts thinking");
    int n = jc_mask(st, bits);
    CHECK(n == VI->n_vocab, "think: every tokenizer token allowed while thinking (%d vs %d)", n, VI->n_vocab);
    CHECK(!bit(bits, NV - 1) || VI->n_vocab == NV, "think: padding masked while thinking");
    CHECK(jc_accept(st, tok1("Hmm")) == 0 && jc_accept(st, VI->think) == 0 && jc_accept(st, tok1("{")) == 0,
          "think: free text accepted");
    CHECK(jc_forced(st, (qe_token[4]){0}, 4) == 0, "think: nothing forced while thinking");
    CHECK(jc_accept(st, VI->think_end) == 0 && !jc_thinking(st), "think: </think> ends the thought");
    n = jc_mask(st, bits);
    CHECK(bit(bits, tok1("\n\n")) && bit(bits, tok1("{\"")) && !bit(bits, tok1("Hmm")), "think: after </think>: ws or the value");
    CHECK(!bit(bits, VI->im_end), "think: cannot stop before the value");
    CHECK(jc_accept(st, tok1("\n\n")) == 0, "think: \\n\\n accepted");
    char fb[64];
    int nfb = jc_forced_bytes(st, fb, 63);
    fb[nfb > 0 ? nfb : 0] = 0;
    CHECK(!strcmp(fb, "{\"a\":"), "think: after \\n\\n the value start is forced (got '%s')", fb);
    CHECK(jc_accept(st, tok1("  ")) == 0, "think: 2 more spaces accepted (4 bytes)");
    n = jc_mask(st, bits);
    CHECK(!bit(bits, tok1("\n")) && !bit(bits, tok1(" ")), "think: no 5th whitespace byte");
    brute(g, st, bits, "think after ws");
    const char *doc = "{\"a\":true}";
    CHECK(jc_accept_bytes(st, doc, strlen(doc)) == 0 && jc_done(st), "think: document completes");
    n = jc_mask(st, bits);
    CHECK(n == 2 && bit(bits, VI->im_end) && bit(bits, VI->eos), "done: only the stop tokens (%d allowed)", n);
    CHECK(jc_accept(st, VI->im_end) == 0, "done: stop accepted");
    /* non-think: no leading whitespace */
    jc_state *s2 = jc_state_init(g, 0);
    jc_mask(s2, bits);
    CHECK(!bit(bits, tok1("\n\n")) && bit(bits, tok1("{\"")), "no-think: no leading whitespace");
    CHECK(jc_accept(s2, VI->think_end) != 0, "no-think: </think> refused inside the answer");
    jc_state_free(s2);
    jc_state_free(st);
    free(bits);
    jc_grammar_free(g);
}

/* Jump-forward leaves a word's start to the model ("P of PERSON/PLACE)
 * but forces whole punctuation, names and complete values. */
static void test_forced_words(void)
{
    jc_grammar *g = compile("{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},\"kind\":{\"enum\":"
                            "[\"PERSON\",\"PLACE\"]},\"c\":{\"const\":\"NZ\"}},\"required\":[\"name\",\"kind\",\"c\"]}", NULL);
    if (!g) return;
    jc_state *st = jc_state_init(g, 0);
    static const struct { const char *feed, *want; } cases[] = {
        { "", "{\"name\":\"" },
        { "x\"", ",\"kind\":\"" },
        { "PE", "RSON\",\"c\":\"NZ\"}" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK(jc_accept_bytes(st, cases[i].feed, strlen(cases[i].feed)) == 0, "forced words: feed '%s'", cases[i].feed);
        qe_token t[64];
        int n = jc_forced(st, t, 64);
        char got[256];
        size_t gl = 0;
        for (int k = 0; k < n; k++) {
            size_t len;
            const char *p = qe_token_bytes(M, t[k], &len);
            memcpy(got + gl, p, len);
            gl += len;
            CHECK(jc_accept(st, t[k]) == 0, "forced words: forced token refused");
        }
        got[gl] = 0;
        CHECK(!strcmp(got, cases[i].want), "forced words: after '%s' forced '%s', want '%s'", cases[i].feed, got, cases[i].want);
    }
    CHECK(jc_done(st), "forced words: document complete");
    jc_state_free(st);
    jc_grammar_free(g);
}

static void test_stage(void)
{
    jc_grammar *g = compile("{\"type\":\"array\",\"items\":{\"enum\":[\"x\",\"yy\",3]},\"maxItems\":3}", NULL);
    if (!g) return;
    float *logits = malloc((size_t)NV * sizeof *logits);
    uint64_t *bits = calloc((size_t)(NV + 63) / 64, sizeof *bits);
    for (int mode = 0; mode < 3; mode++) {
        qe_sampling_params sp = qe_sampling_default_params(0);
        sp.temperature = mode == 0 ? 0.0f : mode == 1 ? 1.0f : 0.7f;
        sp.top_k = mode == 2 ? 20 : 0;
        sp.top_p = mode == 2 ? 0.8f : 1.0f;
        sp.seed = 5 + (uint64_t)mode;
        for (int rep = 0; rep < 5; rep++) {
            jc_state *st = jc_state_init(g, 0);
            qe_sampler *smp = qe_sampler_init(M, sp);
            qe_sampler_add(smp, jc_stage(st));
            char text[512];
            size_t tl = 0;
            int stopped = 0;
            for (int i = 0; i < 64 && !stopped; i++) {
                for (int t = 0; t < NV; t++) logits[t] = (float)((double)(xr() % 20000) / 1000.0);
                jc_mask(st, bits);
                qe_token t = qe_sampler_sample(smp, logits);
                CHECK(t >= 0 && bit(bits, t), "stage mode %d: pick %d outside the mask", mode, t);
                if (t < 0) break;
                qe_sampler_accept(smp, t);
                if (qe_token_is_stop(M, t)) { stopped = 1; break; }
                size_t len;
                const char *p = qe_token_bytes(M, t, &len);
                if (tl + len < sizeof text) { memcpy(text + tl, p, len); tl += len; }
            }
            CHECK(stopped, "stage mode %d: no stop within 64 tokens", mode);
            json_t *v = json_loadb(text, tl, JSON_DECODE_ANY, NULL);
            CHECK(v != NULL, "stage mode %d: '%.*s' does not parse", mode, (int)tl, text);
            json_decref(v);
            qe_sampler_free(smp);   /* frees the stage, not the state */
            jc_state_free(st);
        }
    }
    free(logits);
    free(bits);
    jc_grammar_free(g);
}

int main(int argc, char **argv)
{
    if (argc < 2) { fprintf(stderr, "usage: test_constraint_tokens MODEL.gguf\n"); return 2; }
    char err[256];
    if (qe_model_load(argv[1], qe_model_default_params(), &M, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 2; }
    NV = qe_model_get_info(M)->n_vocab;
    VI = qe_model_vocab(M);

    double ms1, ms2;
    jc_grammar *g1 = compile("{\"type\":\"string\"}", &ms1);
    jc_grammar *g2 = compile("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}}}", &ms2);
    printf("compile: first %.1f ms (builds the token index), second %.1f ms\n", ms1, ms2);
    CHECK(ms2 < ms1 / 3 || ms2 < 20, "second compile reuses the token index (%.1f vs %.1f ms)", ms2, ms1);
    jc_grammar_free(g1);
    jc_grammar_free(g2);

#ifdef __SANITIZE_ADDRESS__
    int brute_every = 9;
#else
    int brute_every = 3;
#endif
    walk_schema("{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":20},\"kind\":{\"enum\":"
                "[\"PERSON\",\"ORG\"]},\"n\":{\"type\":\"integer\",\"minimum\":-3,\"maximum\":300},\"x\":{\"type\":"
                "\"number\",\"maximum\":2.5},\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\",\"maxLength\":4},"
                "\"maxItems\":3}},\"required\":[\"name\",\"n\"]}", 60, brute_every, 1);
    walk_schema("{\"type\":\"array\",\"items\":{\"anyOf\":[{\"type\":\"string\",\"minLength\":2,\"maxLength\":5},"
                "{\"type\":\"null\"},{\"type\":\"boolean\"}]},\"maxItems\":4}", 40, brute_every, 2);
    walk_schema("{\"type\":\"string\"}", 30, brute_every, 3);
    walk_schema("{\"type\":\"string\",\"maxLength\":40,\"minLength\":30}", 40, brute_every, 4);
    walk_schema("true", 40, brute_every, 5);
    walk_schema("{\"$defs\":{\"n\":{\"type\":\"object\",\"properties\":{\"v\":{\"type\":\"integer\"},\"k\":{\"type\":"
                "\"array\",\"items\":{\"$ref\":\"#/$defs/n\"},\"maxItems\":2}},\"required\":[\"v\"]}},\"$ref\":\"#/$defs/n\"}",
                60, brute_every * 2, 6);
    test_think();
    test_forced_words();
    test_stage();

    qe_model_free(M);
    jc_vocab_cache_clear();
    printf("%d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
