/*
 * test_prop.c - property test of constrained decoding: random schemas from
 * the supported subset (seeded) x tiny synthetic models x seeds x sampling
 * settings. Every output must reach a stop token within a generous bound,
 * parse with jansson and pass js_validate. Uses the engine directly:
 * qe_context + qe_decode, a qe_sampler with the jc stage, and
 * jump-forward (forced tokens decoded as one batch).
 *
 *   test_constraint_prop [--cases N] [--noise-cases N] [--seed S] MODEL.gguf...
 *
 * --cases: runs through the models (each a forward pass per sampled token);
 * --noise-cases: the same loop with random logits instead of a model, which
 * is ~100x cheaper and so covers many more schemas. The random weights of a
 * synthetic model make its preferences noise, which is what a property test
 * wants. Prints "N passed, M failed" and each failure's schema and output.
 */
#include "constraint.h"
#include "jsonschema.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TOKEN_BOUND 1200
#define TEXT_CAP (TOKEN_BOUND * 300)

static uint64_t rs;

static uint64_t rnd(void)
{
    uint64_t z = (rs += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int rn(int n) { return n <= 0 ? 0 : (int)(rnd() % (uint64_t)n); }

/* ------------------------------------------------------ random schemas */

static const char *const NAMES[] = { "name", "type", "id", "value", "items", "a", "b", "ab", "description", "tags",
                                     "x_y", "\xc3\xbcn\xc3\xaf", "quo\"te", "sp ace", "n1" };
static const char *const STRS[] = { "PERSON", "ORG", "LOC", "", "a\"b", "back\\slash", "tab\t", "\xe6\x97\xa5\xe6\x9c\xac",
                                    "\xf0\x9f\x98\x80", "new\nline", "x" };

static json_t *rand_value(int depth)
{
    switch (rn(depth > 1 ? 6 : 8)) {
    case 0: return json_null();
    case 1: return json_boolean(rn(2));
    case 2: return json_integer(rn(2001) - 1000);
    case 3: return json_real((rn(20001) - 10000) / 100.0);
    case 4: case 5: return json_string(STRS[rn(sizeof STRS / sizeof *STRS)]);
    case 6: {
        json_t *a = json_array();
        for (int i = rn(3); i > 0; i--) json_array_append_new(a, rand_value(depth + 1));
        return a;
    }
    default: {
        json_t *o = json_object();
        for (int i = rn(3); i > 0; i--) json_object_set_new(o, NAMES[rn(5)], rand_value(depth + 1));
        return o;
    }
    }
}

static json_t *rand_schema(int depth);

static json_t *rand_string(void)
{
    json_t *s = json_pack("{s:s}", "type", "string");
    int mx = rn(13);
    json_object_set_new(s, "maxLength", json_integer(mx));
    if (rn(3) == 0) json_object_set_new(s, "minLength", json_integer(rn(mx < 3 ? mx + 1 : 4)));
    if (rn(6) == 0) json_object_set_new(s, "format", json_string("date"));   /* annotation only */
    return s;
}

static json_t *rand_integer(void)
{
    json_t *s = json_pack("{s:s}", "type", "integer");
    int lo = rn(400) - 200, hi = lo + 20 + rn(500);   /* wide enough for any multipleOf <= 9 */
    if (rn(2)) json_object_set_new(s, rn(3) ? "minimum" : "exclusiveMinimum", json_integer(lo));
    if (rn(2)) json_object_set_new(s, rn(3) ? "maximum" : "exclusiveMaximum", json_integer(hi + 2));
    if (rn(4) == 0) json_object_set_new(s, "multipleOf", json_integer(1 + rn(9)));
    return s;
}

static json_t *rand_number(void)
{
    json_t *s = json_pack("{s:s}", "type", "number");
    double lo = (rn(4000) - 2000) / 100.0, hi = lo + rn(3000) / 7.0 + 0.01;
    if (rn(2)) json_object_set_new(s, rn(3) ? "minimum" : "exclusiveMinimum", json_real(lo));
    if (rn(2)) json_object_set_new(s, rn(3) ? "maximum" : "exclusiveMaximum", json_real(hi));
    return s;
}

static json_t *rand_object(int depth)
{
    json_t *s = json_pack("{s:s}", "type", "object"), *props = json_object(), *req = json_array();
    int n = depth == 0 ? 2 + rn(4) : 1 + rn(depth >= 2 ? 2 : 4);
    for (int i = 0; i < n; i++) {
        const char *k = NAMES[rn(sizeof NAMES / sizeof *NAMES)];
        if (json_object_get(props, k)) continue;
        json_object_set_new(props, k, rand_schema(depth + 1));
        if (rn(2)) json_array_append_new(req, json_string(k));
    }
    json_object_set_new(s, "properties", props);
    json_object_set_new(s, "required", req);
    if (rn(2)) json_object_set_new(s, "additionalProperties", json_false());
    if (json_object_size(props) > 1 && rn(5) == 0) json_object_set_new(s, "minProperties", json_integer(1));
    return s;
}

static json_t *rand_array(int depth)
{
    json_t *s = json_pack("{s:s}", "type", "array");
    int mn = rn(2), mx = mn + rn(depth >= 2 ? 2 : 3);
    if (rn(5) == 0) {
        json_t *pre = json_array();
        for (int i = 1 + rn(2); i > 0; i--) json_array_append_new(pre, rand_schema(depth + 1));
        json_object_set_new(s, "prefixItems", pre);
        if (rn(2)) json_object_set_new(s, "items", json_false());
        else json_object_set_new(s, "items", rand_schema(depth + 1));
    } else {
        json_object_set_new(s, "items", rand_schema(depth + 1));
    }
    json_object_set_new(s, "minItems", json_integer(mn));
    json_object_set_new(s, "maxItems", json_integer(mx));
    return s;
}

static json_t *rand_schema(int depth)
{
    int k = rn(depth >= 3 ? 7 : 12);
    switch (k) {
    case 0: return rand_string();
    case 1: return rand_integer();
    case 2: return rand_number();
    case 3: return json_pack("{s:s}", "type", rn(2) ? "boolean" : "null");
    case 4: {   /* enum of mixed literals */
        json_t *e = json_array();
        for (int i = 1 + rn(4); i > 0; i--) {
            json_t *v = rand_value(1);
            size_t j;
            json_t *x;
            int dup = 0;
            json_array_foreach(e, j, x) if (json_equal(x, v)) dup = 1;
            if (dup) json_decref(v);
            else json_array_append_new(e, v);
        }
        return json_pack("{s:o}", "enum", e);
    }
    case 5: return json_pack("{s:o}", "const", rand_value(0));
    case 6: {   /* type array */
        json_t *s = rand_string();
        json_object_set_new(s, "type", json_pack("[ss]", "string", rn(2) ? "null" : "integer"));
        return s;
    }
    case 7: case 8: return rand_object(depth);
    case 9: return rand_array(depth);
    case 10: {
        json_t *a = json_array();
        if (rn(2)) {   /* anyOf: branches may overlap */
            for (int i = 2 + rn(2); i > 0; i--) json_array_append_new(a, rand_schema(depth + 1));
            return json_pack("{s:o}", "anyOf", a);
        }
        /* oneOf: "exactly one" is only checked afterwards, so the branches
         * here are of distinct JSON types and cannot both match */
        int used = 0;
        for (int i = 2 + rn(2); i > 0; i--) {
            int f = rn(5);
            if (used & (1 << f)) continue;
            used |= 1 << f;
            json_array_append_new(a, f == 0 ? rand_string() : f == 1 ? rand_integer() : f == 2 ? rand_object(depth + 1)
                                     : f == 3 ? rand_array(depth + 1) : json_pack("{s:s}", "type", "null"));
        }
        return json_pack("{s:o}", "oneOf", a);
    }
    default: return json_pack("{s:s}", "$ref", rn(2) ? "#/$defs/node" : "#/$defs/word");
    }
}

/* A root object with $defs (a recursive node with a base case, a word). */
static json_t *rand_root(void)
{
    json_t *root = rand_object(0);
    json_t *defs = json_pack("{s:{s:s,s:{s:{s:s},s:{s:s,s:{s:s},s:i}},s:[s],s:b},s:{s:s,s:i,s:i}}",
        "node", "type", "object", "properties", "v", "type", "integer", "kids", "type", "array", "items",
        "$ref", "#/$defs/node", "maxItems", 1, "required", "v", "additionalProperties", 0,
        "word", "type", "string", "minLength", 1, "maxLength", 6);
    json_object_set_new(root, "$defs", defs);
    if (rn(3) == 0) {   /* sometimes an array or a scalar at the root */
        json_t *alt = rn(2) ? rand_array(0) : rand_schema(2);
        json_object_set_new(alt, "$defs", json_incref(defs));
        json_decref(root);
        root = alt;
    }
    return root;
}

/* --------------------------------------------------------------- runner */

typedef struct {
    int passed, failed;
    long tokens, forced, passes;
    double mask_s;
} stats;

static const char *const SETTING_NAMES[3] = { "greedy", "T=1 top-k 0", "T=0.7 top-p 0.8" };

static qe_sampling_params setting(int i, uint64_t seed)
{
    qe_sampling_params p = qe_sampling_default_params(0);
    p.temperature = i == 0 ? 0.0f : i == 1 ? 1.0f : 0.7f;
    p.top_k = i == 2 ? 20 : 0;
    p.top_p = i == 2 ? 0.8f : 1.0f;
    p.min_p = 0.0f;
    p.seed = seed;
    return p;
}

/* One generation; returns 0 on success, else prints why. */
static int run_case(qe_model *m, qe_context *ctx, const json_t *schema, int set, uint64_t seed, stats *st,
                    const char *label)
{
    char err[512];
    jc_grammar *g = NULL;
    js_schema *js = NULL;
    char *stext = json_dumps(schema, JSON_COMPACT);
    int rc = 1;
    if (jc_grammar_compile(schema, m, &g, err, sizeof err)) {
        printf("FAIL %s: compile: %s\n  schema: %s\n", label, err, stext);
        free(stext);
        return 1;
    }
    if (js_schema_compile(schema, &js, err, sizeof err)) {
        printf("FAIL %s: js compile: %s\n", label, err);
        jc_grammar_free(g);
        free(stext);
        return 1;
    }
    int nv = qe_model_get_info(m)->n_vocab;
    jc_state *js_st = jc_state_init(g, 0);
    qe_sampler *smp = qe_sampler_init(m, setting(set, seed));
    qe_sampler_add(smp, jc_stage(js_st));
    float *noise = ctx ? NULL : malloc((size_t)nv * sizeof *noise);
    qe_token *out = malloc((TOKEN_BOUND + 64) * sizeof *out);
    char *text = malloc(TEXT_CAP);
    size_t tl = 0;
    int n = 0, stopped = 0, npass = 0, nforced = 0;
    const float *logits = NULL;
    qe_pos pos[256];
    qe_seq seq[256] = {0};
    const char *why = NULL;

    if (ctx) {
        qe_seq_truncate(ctx, 0, 0);
        static const char prompt[] = "<|im_start|>user\nGive JSON.<|im_end|>\n<|im_start|>assistant\n";
        qe_token p[64];
        int np = qe_tokenize(m, prompt, strlen(prompt), p, 64);
        for (int i = 0; i < np; i++) pos[i] = i;
        qe_batch b = { np, p, pos, seq, NULL };
        if (qe_decode(ctx, &b, err, sizeof err)) { why = "prompt decode failed"; goto done; }
        logits = qe_get_logits(ctx, np - 1);
    }
    uint64_t ns = seed * 7919 + 17;
    while (n < TOKEN_BOUND) {
        qe_token batch[64];
        int nb;
        int nf = jc_forced(js_st, batch, 64);
        if (nf > 0) {
            for (int i = 0; i < nf; i++) qe_sampler_accept(smp, batch[i]);
            nb = nf;
            nforced += nf;
        } else {
            if (!ctx) {
                for (int i = 0; i < nv; i++) {
                    ns ^= ns << 13; ns ^= ns >> 7; ns ^= ns << 17;
                    noise[i] = (float)((double)(ns >> 11) * 0x1.0p-53 * 8.0);
                }
                logits = noise;
            }
            struct timespec a, b2;
            clock_gettime(CLOCK_MONOTONIC, &a);
            qe_token t = qe_sampler_sample(smp, logits);
            clock_gettime(CLOCK_MONOTONIC, &b2);
            st->mask_s += (b2.tv_sec - a.tv_sec) + (b2.tv_nsec - a.tv_nsec) * 1e-9;
            if (t < 0) { why = "no candidate left (dead end)"; goto done; }
            qe_sampler_accept(smp, t);
            if (qe_token_is_stop(m, t)) { stopped = 1; break; }
            batch[0] = t;
            nb = 1;
        }
        for (int i = 0; i < nb; i++) {
            size_t len;
            const char *p = qe_token_bytes(m, batch[i], &len);
            if (tl + len < TEXT_CAP) { memcpy(text + tl, p, len); tl += len; }
            out[n++] = batch[i];
        }
        if (ctx) {
            int base = qe_seq_len(ctx, 0);
            for (int i = 0; i < nb; i++) pos[i] = base + i;
            qe_batch b = { nb, batch, pos, seq, NULL };
            if (qe_decode(ctx, &b, err, sizeof err)) { why = "decode failed"; goto done; }
            logits = qe_get_logits(ctx, nb - 1);
        }
        npass++;
    }
    if (!stopped) { why = "no stop token within the bound"; goto done; }
    json_error_t je;
    json_t *v = json_loadb(text, tl, JSON_DECODE_ANY, &je);
    if (!v) { why = "output does not parse"; goto done; }
    js_errors errs;
    js_errors_init(&errs, 0);
    int ok = js_validate(js, v, &errs);
    if (ok != 1) {
        char *e = js_errors_format(&errs);
        printf("FAIL %s: invalid output: %s", label, e ? e : "?\n");
        free(e);
        why = "validation";
    }
    js_errors_clear(&errs);
    json_decref(v);
    if (ok == 1) rc = 0;
    if (ok == 1 && getenv("JC_VERBOSE")) printf("ok %s\n  schema: %s\n  output: %.*s\n", label, stext, (int)tl, text);
done:
    if (why && strcmp(why, "validation"))
        printf("FAIL %s: %s (%s)\n", label, why, err);
    if (rc) printf("  schema: %s\n  output: %.*s\n", stext, (int)tl, text);
    st->tokens += n;
    st->forced += nforced;
    st->passes += npass;
    free(text);
    free(out);
    free(noise);
    free(stext);
    qe_sampler_free(smp);
    jc_state_free(js_st);
    js_schema_free(js);
    jc_grammar_free(g);
    return rc;
}

int main(int argc, char **argv)
{
    int cases = 120, noise_cases = 600;
    uint64_t seed = 1;
    const char *models[8];
    int nm = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--cases") && i + 1 < argc) cases = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--noise-cases") && i + 1 < argc) noise_cases = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc) seed = strtoull(argv[++i], NULL, 10);
        else if (nm < 8) models[nm++] = argv[i];
    }
#ifdef __SANITIZE_ADDRESS__
    cases /= 2;
    noise_cases /= 2;
#endif
    if (!nm) { fprintf(stderr, "usage: test_constraint_prop [--cases N] [--noise-cases N] MODEL.gguf...\n"); return 2; }
    qe_model *ms[8];
    qe_context *cs[8];
    char err[256];
    for (int i = 0; i < nm; i++) {
        if (qe_model_load(models[i], qe_model_default_params(), &ms[i], err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            return 2;
        }
        qe_context_params cp = qe_context_default_params();
        cp.n_seq_max = 1;
        cp.n_ctx = TOKEN_BOUND + 128;
        cp.n_threads = 1;
        if (qe_context_init(ms[i], cp, &cs[i], err, sizeof err)) { fprintf(stderr, "%s\n", err); return 2; }
    }
    stats st[2] = { { 0 } };
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int c = 0; c < cases + noise_cases; c++) {
        int model_case = c < cases;
        rs = seed * 1000003u + (uint64_t)c;
        json_t *schema = rand_root();
        int set = c % 3, mi = (c / 3) % nm;
        char label[96];
        snprintf(label, sizeof label, "case %d (%s, %s, model %d)", c, model_case ? "model" : "noise",
                 SETTING_NAMES[set], mi);
        stats *s = &st[!model_case];
        if (run_case(ms[mi], model_case ? cs[mi] : NULL, schema, set, seed + (uint64_t)c, s, label)) s->failed++;
        else s->passed++;
        json_decref(schema);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    for (int k = 0; k < 2; k++) {
        if (!st[k].passed && !st[k].failed) continue;
        printf("%s: %d passed, %d failed; %ld tokens (%ld forced), %ld forward passes (%.2f per token), "
               "sample+mask %.1f us/sampled token\n", k ? "noise logits" : "models", st[k].passed, st[k].failed,
               st[k].tokens, st[k].forced, st[k].passes, st[k].tokens ? (double)st[k].passes / (double)st[k].tokens : 0,
               st[k].tokens - st[k].forced > 0 ? st[k].mask_s * 1e6 / (double)(st[k].tokens - st[k].forced) : 0);
    }
    int passed = st[0].passed + st[1].passed, failed = st[0].failed + st[1].failed;
    printf("%d passed, %d failed (%.1f s)\n", passed, failed,
           (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9);
    for (int i = 0; i < nm; i++) { qe_context_free(cs[i]); qe_model_free(ms[i]); }
    jc_vocab_cache_clear();
    return failed ? 1 : 0;
}
