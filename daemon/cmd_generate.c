/*
 * cmd_generate.c - `quarry generate`: one prompt, raw or through the chat
 * template, sampled with Qwen's per-mode defaults unless overridden.
 * Streams text to stdout as it is produced (whole UTF-8 characters only),
 * or prints one JSON object with --json.
 *
 * --schema constrains the answer to a JSON Schema (pipeline/constraint.h):
 * forced continuations (jump-forward) are appended without sampling and
 * decoded as one batch, and the answer is validated afterwards.
 * --thinking-budget ends an over-long thought with Qwen's own early-stop
 * text, also decoded as one batch.
 */
#include "cli.h"
#include "commands.h"
#include "constraint.h"
#include "jsonschema.h"
#include "qengine.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void usage(FILE *f)
{
    fprintf(f,
        "usage: quarry generate --model FILE (--prompt TEXT | --prompt-file FILE)\n"
        "         [--chat [--system TEXT]] [--think | --no-think] [--max-tokens N]\n"
        "         [--temperature T] [--top-k K] [--top-p P] [--min-p P] [--presence-penalty X]\n"
        "         [--seed S] [--json] [--logits-out PATH] [--threads N] [--ctx N]\n"
        "         [--schema FILE.json] [--thinking-budget N] [--deterministic] [--mmap]\n"
        "Without --chat the prompt is tokenized raw (special tokens are recognised).\n"
        "--temperature 0 means greedy. Defaults follow Qwen3's recommendations:\n"
        "thinking T 0.6 top-p 0.95 top-k 20; non-thinking (and raw) T 0.7 top-p 0.8 top-k 20.\n"
        "--schema: the answer (after </think> in thinking mode) is JSON valid for the schema\n"
        "(keywords that cannot be enforced while generating are checked afterwards: with\n"
        "--json, \"valid\" and \"errors\" report the result).\n"
        "--thinking-budget N: after N thought tokens without </think>, Qwen's early-stop text\n"
        "is appended and the answer follows (needs --chat in thinking mode).\n"
        "--deterministic: logits bitwise independent of how the prompt is batched (the\n"
        "prompt runs on the decode kernels, more slowly).\n"
        "--mmap: serve the weights from a shared file mapping instead of reading them\n"
        "into private huge-page memory (less memory per process, slower decode).\n");
}

/* Qwen3's own text for ending a thought early (appended without sampling). */
static const char EARLY_STOP[] =
    "\n\nConsidering the limited time by the user, I have to give the solution based on the thinking "
    "directly now.\n</think>\n\n";

typedef struct {
    char *s;
    size_t n, cap;
} buf_t;

static int buf_put(buf_t *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) return -1;
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
    return 0;
}

static json_t *ids_json(const qe_token *ids, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, json_integer(ids[i]));
    return a;
}

/* Reads and parses the schema file and checks it with the validator, so a
 * bad schema is reported before the model is even loaded. */
static json_t *load_schema(const char *path, js_schema **js)
{
    size_t n;
    char *text = cli_read_file("generate", path, &n);
    if (!text) return NULL;
    json_error_t je;
    json_t *s = json_loadb(text, n, JSON_DECODE_ANY, &je);
    free(text);
    if (!s) {
        fprintf(stderr, "quarry generate: --schema %s: not JSON: line %d column %d: %s\n", path, je.line, je.column, je.text);
        return NULL;
    }
    char err[512];
    if (js_schema_compile(s, js, err, sizeof err) != JS_OK) {
        fprintf(stderr, "quarry generate: --schema %s: %s\n", path, err);
        json_decref(s);
        return NULL;
    }
    return s;
}

/* "valid" and "errors" for the answer text. */
static void add_validation(json_t *o, const js_schema *js, const char *ans, size_t len)
{
    json_t *errors = json_array();
    int valid = 0;
    json_error_t je;
    json_t *v = json_loadb(ans, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!v) {
        char msg[300];
        snprintf(msg, sizeof msg, "parse error: %s (line %d, column %d)", je.text, je.line, je.column);
        json_array_append_new(errors, json_string(msg));
    } else {
        js_errors errs;
        js_errors_init(&errs, 0);
        valid = js_validate(js, v, &errs) == 1;
        for (int i = 0; i < errs.count; i++) {
            const js_error *e = &errs.items[i];
            size_t k = strlen(e->instance) + strlen(e->message) + 16;
            char *line = malloc(k);
            if (line) {
                snprintf(line, k, "%s: %s", *e->instance ? e->instance : "(root)", e->message);
                json_array_append_new(errors, json_string(line));
                free(line);
            }
        }
        if (errs.truncated) json_array_append_new(errors, json_string("(more errors not shown)"));
        js_errors_clear(&errs);
        json_decref(v);
    }
    json_object_set_new(o, "valid", json_boolean(valid));
    json_object_set_new(o, "errors", errors);
}

int cmd_generate(int argc, char **argv)
{
    const char *model_path = NULL, *prompt = NULL, *prompt_file = NULL, *system = NULL, *logits_out = NULL;
    const char *schema_path = NULL;
    int deterministic = 0, use_mmap = 0;
    int chat = 0, think = -1, max_tokens = 256, json_out = 0, threads = 0, n_ctx = 0, budget = -1;
    int set_temp = 0, set_k = 0, set_p = 0, set_minp = 0, set_pp = 0;
    float temp = 0, top_p = 0, min_p = 0, pp = 0;
    int top_k = 0;
    uint64_t seed = 0;
    const char *C = "generate";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int bad = 0;
        if (!strcmp(a, "--model")) bad = cli_str(C, argc, argv, &i, &model_path);
        else if (!strcmp(a, "--prompt")) bad = cli_str(C, argc, argv, &i, &prompt);
        else if (!strcmp(a, "--prompt-file")) bad = cli_str(C, argc, argv, &i, &prompt_file);
        else if (!strcmp(a, "--system")) bad = cli_str(C, argc, argv, &i, &system);
        else if (!strcmp(a, "--chat")) chat = 1;
        else if (!strcmp(a, "--think")) think = 1;
        else if (!strcmp(a, "--no-think")) think = 0;
        else if (!strcmp(a, "--max-tokens")) bad = cli_int(C, argc, argv, &i, 0, 1 << 20, &max_tokens);
        else if (!strcmp(a, "--temperature")) bad = cli_float(C, argc, argv, &i, 0, 100, &temp), set_temp = 1;
        else if (!strcmp(a, "--top-k")) bad = cli_int(C, argc, argv, &i, 0, 1 << 24, &top_k), set_k = 1;
        else if (!strcmp(a, "--top-p")) bad = cli_float(C, argc, argv, &i, 0, 1, &top_p), set_p = 1;
        else if (!strcmp(a, "--min-p")) bad = cli_float(C, argc, argv, &i, 0, 1, &min_p), set_minp = 1;
        else if (!strcmp(a, "--presence-penalty")) bad = cli_float(C, argc, argv, &i, -10, 10, &pp), set_pp = 1;
        else if (!strcmp(a, "--seed")) bad = cli_u64(C, argc, argv, &i, &seed);
        else if (!strcmp(a, "--json")) json_out = 1;
        else if (!strcmp(a, "--logits-out")) bad = cli_str(C, argc, argv, &i, &logits_out);
        else if (!strcmp(a, "--threads")) bad = cli_int(C, argc, argv, &i, 1, 512, &threads);
        else if (!strcmp(a, "--ctx")) bad = cli_int(C, argc, argv, &i, 16, 1 << 24, &n_ctx);
        else if (!strcmp(a, "--schema")) bad = cli_str(C, argc, argv, &i, &schema_path);
        else if (!strcmp(a, "--thinking-budget")) bad = cli_int(C, argc, argv, &i, 0, 1 << 24, &budget);
        else if (!strcmp(a, "--deterministic")) deterministic = 1;
        else if (!strcmp(a, "--mmap")) use_mmap = 1;
        else if (!strcmp(a, "--help")) { usage(stdout); return 0; }
        else { fprintf(stderr, "quarry generate: unknown option '%s'\n", a); usage(stderr); return 2; }
        if (bad) return 2;
    }
    if (!model_path || (!prompt == !prompt_file)) {
        fprintf(stderr, "quarry generate: --model and exactly one of --prompt / --prompt-file are required\n");
        return 2;
    }
    if ((system || think >= 0) && !chat) {
        fprintf(stderr, "quarry generate: --system, --think and --no-think need --chat\n");
        return 2;
    }
    if (budget >= 0 && (!chat || think == 0)) {
        fprintf(stderr, "quarry generate: --thinking-budget needs --chat in thinking mode (not --no-think)\n");
        return 2;
    }
    js_schema *js = NULL;
    json_t *schema = NULL;
    if (schema_path && !(schema = load_schema(schema_path, &js))) return 2;

    int rc = 1;
    char err[512];
    char *file_text = NULL, *rendered = NULL;
    qe_model *m = NULL;
    qe_context *ctx = NULL;
    qe_sampler *smp = NULL;
    qe_detok *dt = NULL;
    qe_token *ids = NULL, *out_ids = NULL, *pend = NULL, *early = NULL;
    buf_t text = {0};
    jc_grammar *grammar = NULL;
    jc_state *jst = NULL;
    qe_pos *pos = NULL;
    qe_seq *seq = NULL;

    if (prompt_file) {
        size_t n;
        if (!(file_text = cli_read_file(C, prompt_file, &n))) { rc = 2; goto done; }
        prompt = file_text;
    }
    qe_model_params mp = qe_model_default_params();
    mp.weights_in_memory = !use_mmap;
    mp.file_layout = use_mmap;   /* shared pages are what --mmap is for: no private repacked copy */
    if (qe_model_load(model_path, mp, &m, err, sizeof err)) {
        fprintf(stderr, "quarry generate: %s\n", err);
        goto done;
    }
    const qe_model_info *info = qe_model_get_info(m);
    /* the answer follows "</think>" unless the template already closed the
     * thought (--no-think) or there is no template */
    int after_think = chat && think != 0;
    if (schema) {
        double tc = now_s();
        if (jc_grammar_compile(schema, m, &grammar, err, sizeof err)) {
            fprintf(stderr, "quarry generate: --schema %s: %s\n", schema_path, err);
            rc = 2;
            goto done;
        }
        fprintf(stderr, "schema: compiled in %.1f ms\n", (now_s() - tc) * 1e3);
    }

    const char *input = prompt;
    int thinking = 0;
    if (chat) {
        qe_chat_msg msgs[2];
        int nm = 0;
        if (system) msgs[nm++] = (qe_chat_msg){ QE_ROLE_SYSTEM, system };
        msgs[nm++] = (qe_chat_msg){ QE_ROLE_USER, prompt };
        /* Qwen3 thinks unless told not to: --think/--no-think decide the
         * template; without them a /think or /no_think in the prompt picks
         * the sampling defaults (the model itself obeys the soft switch). */
        int sw = qe_chat_soft_switch(msgs, nm);
        thinking = think >= 0 ? think : sw >= 0 ? sw : 1;
        rendered = qe_chat_render(msgs, nm, think != 0);
        if (!rendered) { fprintf(stderr, "quarry generate: out of memory\n"); goto done; }
        input = rendered;
    }
    qe_sampling_params sp = qe_sampling_default_params(thinking);
    if (set_temp) sp.temperature = temp;
    if (set_k) sp.top_k = top_k;
    if (set_p) sp.top_p = top_p;
    if (set_minp) sp.min_p = min_p;
    if (set_pp) sp.presence_penalty = pp;
    sp.seed = seed;

    size_t in_len = strlen(input);
    int cap = (int)(in_len < (1u << 28) ? in_len + 16 : 1u << 28);
    ids = malloc((size_t)cap * sizeof *ids);
    int n_prompt = ids ? qe_tokenize(m, input, in_len, ids, cap) : QE_ENOMEM;
    if (n_prompt < 0 || n_prompt > cap) {
        fprintf(stderr, "quarry generate: tokenization failed (%d)\n", n_prompt);
        goto done;
    }
    if (n_prompt == 0) {
        fprintf(stderr, "quarry generate: the prompt is empty\n");
        rc = 2;
        goto done;
    }

    qe_context_params cp = qe_context_default_params();
    cp.n_seq_max = 1;
    cp.n_ctx = n_ctx ? n_ctx : n_prompt + max_tokens;
    if (cp.n_ctx < n_prompt + 1) {
        fprintf(stderr, "quarry generate: the prompt has %d tokens, more than --ctx %d allows\n", n_prompt, cp.n_ctx);
        rc = 2;
        goto done;
    }
    cp.n_threads = threads;
    cp.deterministic = deterministic;
    if (qe_context_init(m, cp, &ctx, err, sizeof err)) {
        fprintf(stderr, "quarry generate: %s\n", err);
        goto done;
    }
    int nb = cp.n_batch_max;
    if (!(smp = qe_sampler_init(m, sp)) || !(dt = qe_detok_init(m)) ||
        !(out_ids = malloc(((size_t)max_tokens + 1) * sizeof *out_ids)) ||
        !(pend = malloc((size_t)nb * sizeof *pend)) || !(early = malloc((size_t)nb * sizeof *early))) {
        fprintf(stderr, "quarry generate: out of memory\n");
        goto done;
    }
    if (grammar) {
        qe_sampler_stage *st = NULL;
        if (!(jst = jc_state_init(grammar, after_think)) || !(st = jc_stage(jst)) || qe_sampler_add(smp, st)) {
            free(st);
            fprintf(stderr, "quarry generate: out of memory\n");
            goto done;
        }
    }
    int n_early = 0;
    if (budget >= 0) {
        n_early = qe_tokenize(m, EARLY_STOP, sizeof EARLY_STOP - 1, early, nb);
        if (n_early < 0 || n_early > nb / 2) {
            fprintf(stderr, "quarry generate: cannot tokenize the early-stop text (%d)\n", n_early);
            goto done;
        }
    }

    /* prefill in chunks of the batch size; logits only at the very end */
    double t0 = now_s();
    pos = malloc((size_t)nb * sizeof *pos);
    seq = calloc((size_t)nb, sizeof *seq);
    if (!pos || !seq) { fprintf(stderr, "quarry generate: out of memory\n"); goto done; }
    int dec_rc = 0;
    for (int off = 0; off < n_prompt && !dec_rc; off += nb) {
        int n = n_prompt - off < nb ? n_prompt - off : nb;
        for (int i = 0; i < n; i++) pos[i] = off + i;
        qe_batch b = { n, ids + off, pos, seq, NULL };
        dec_rc = qe_decode(ctx, &b, err, sizeof err);
    }
    if (dec_rc) {
        fprintf(stderr, "quarry generate: %s\n", err);
        goto done;
    }
    double t_prompt = now_s() - t0;
    const float *logits = qe_get_logits(ctx, 0 + (n_prompt - 1) % nb);
    if (logits_out) {
        FILE *lf = fopen(logits_out, "wb");
        if (!lf || fwrite(logits, sizeof(float), (size_t)info->n_vocab, lf) != (size_t)info->n_vocab ||
            fclose(lf)) {
            fprintf(stderr, "quarry generate: --logits-out %s: cannot write\n", logits_out);
            goto done;
        }
    }

    int n_out = 0, n_forced = 0, n_passes = 0, n_thought = 0, budget_hit = 0;
    int in_thought = after_think;
    size_t answer_off = 0;      /* where the answer starts in text */
    const char *stop = "length";
    double t1 = now_s();
    while (n_out < max_tokens) {
        /* the tokens appended this round, decoded together below */
        int np = 0, room = max_tokens - n_out < nb ? max_tokens - n_out : nb;
        int nf = jst && !jc_thinking(jst) ? jc_forced(jst, pend, room) : 0;
        if (nf > 0) {
            np = nf;
            n_forced += nf;
        } else {
            qe_token t = qe_sampler_sample(smp, logits);
            if (t < 0) { stop = "no candidate"; break; }
            pend[np++] = t;
            if (qe_token_is_stop(m, t)) {
                qe_sampler_accept(smp, t);
                out_ids[n_out++] = t;
                stop = "stop token";
                break;
            }
            if (in_thought && t != qe_model_vocab(m)->think_end && budget >= 0 && ++n_thought >= budget) {
                /* budget spent: close the thought ourselves */
                for (int i = 0; i < n_early && np < room; i++) pend[np++] = early[i];
                budget_hit = 1;
                n_forced += np - 1;
            }
        }
        for (int i = 0; i < np; i++) {
            qe_token t = pend[i];
            qe_sampler_accept(smp, t);
            out_ids[n_out++] = t;
            size_t len;
            const char *piece = qe_detok_push(dt, t, &len);
            if (buf_put(&text, piece, len)) { fprintf(stderr, "quarry generate: out of memory\n"); goto done; }
            if (!json_out) { fwrite(piece, 1, len, stdout); fflush(stdout); }
            if (in_thought && t == qe_model_vocab(m)->think_end) {
                in_thought = 0;
                answer_off = text.n;
            }
        }
        if (n_out >= max_tokens) break;
        if (qe_seq_len(ctx, 0) + np > cp.n_ctx) { stop = "context full"; break; }
        int base = qe_seq_len(ctx, 0);
        for (int i = 0; i < np; i++) pos[i] = base + i;
        qe_batch b = { np, pend, pos, seq, NULL };
        if (qe_decode(ctx, &b, err, sizeof err)) {
            fprintf(stderr, "quarry generate: %s\n", err);
            goto done;
        }
        n_passes++;
        logits = qe_get_logits(ctx, np - 1);
    }
    double t_gen = now_s() - t1;
    size_t len;
    const char *tail = qe_detok_flush(dt, &len);
    buf_put(&text, tail, len);
    if (!json_out) { fwrite(tail, 1, len, stdout); printf("\n"); }

    json_t *vres = NULL;
    if (js) {
        /* the constrained answer: after the </think> token (leading
         * whitespace allowed there), or everything without thinking */
        size_t a = after_think ? (answer_off ? answer_off : text.n) : 0;
        while (a < text.n && (text.s[a] == ' ' || text.s[a] == '\n' || text.s[a] == '\r' || text.s[a] == '\t')) a++;
        vres = json_object();
        add_validation(vres, js, text.s ? text.s + a : "", text.n - a);
        if (!json_out) {
            json_t *errs = json_object_get(vres, "errors");
            fprintf(stderr, "schema: the answer is %s\n", json_is_true(json_object_get(vres, "valid")) ? "valid" : "NOT valid");
            for (size_t i = 0; i < json_array_size(errs); i++)
                fprintf(stderr, "  %s\n", json_string_value(json_array_get(errs, i)));
        }
    }
    if (json_out) {
        json_t *o = json_object();
        json_object_set_new(o, "prompt_tokens", ids_json(ids, n_prompt));
        json_object_set_new(o, "tokens", ids_json(out_ids, n_out));
        json_object_set_new(o, "text", json_stringn(text.s ? text.s : "", text.n));
        if (chat) {
            size_t to, tl, ao, al;
            qe_chat_split_thinking(text.s ? text.s : "", text.n, &to, &tl, &ao, &al);
            json_object_set_new(o, "thought", json_stringn(text.s ? text.s + to : "", tl));
            json_object_set_new(o, "answer", json_stringn(text.s ? text.s + ao : "", al));
            json_object_set_new(o, "thinking", json_boolean(thinking));
        }
        json_object_set_new(o, "stop_reason", json_string(stop));
        json_object_set_new(o, "forward_passes", json_integer(n_passes));
        json_object_set_new(o, "forced_tokens", json_integer(n_forced));
        if (budget >= 0) json_object_set_new(o, "thinking_budget_hit", json_boolean(budget_hit));
        if (vres) json_object_update(o, vres);
        json_object_set_new(o, "prompt_ms", json_real(t_prompt * 1e3));
        json_object_set_new(o, "generate_ms", json_real(t_gen * 1e3));
        char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
        if (s) puts(s);
        free(s);
        json_decref(o);
    }
    json_decref(vres);
    fprintf(stderr, "prompt: %d tokens in %.1f ms (%.1f tok/s); generated %d tokens in %.1f ms (%.1f tok/s); stop: %s\n",
            n_prompt, t_prompt * 1e3, n_prompt / (t_prompt > 0 ? t_prompt : 1e-9), n_out, t_gen * 1e3,
            n_out > 1 ? (n_out - 1) / (t_gen > 0 ? t_gen : 1e-9) : 0.0, stop);
    if (grammar)
        fprintf(stderr, "constraint: %d forward passes for %d output tokens (%d forced)\n", n_passes, n_out, n_forced);
    rc = 0;
done:
    free(pos);
    free(seq);
    free(pend);
    free(early);
    qe_sampler_free(smp);   /* before the state its stage points to */
    smp = NULL;
    jc_state_free(jst);
    jc_grammar_free(grammar);
    js_schema_free(js);
    json_decref(schema);
    free(text.s);
    free(ids);
    free(out_ids);
    qe_detok_free(dt);
    qe_sampler_free(smp);
    qe_context_free(ctx);
    qe_model_free(m);
    free(rendered);
    free(file_text);
    return rc;
}
