/*
 * cmd_generate.c - `quarry generate`: one prompt, raw or through the chat
 * template, sampled with Qwen's per-mode defaults unless overridden.
 * Streams text to stdout as it is produced (whole UTF-8 characters only),
 * or prints one JSON object with --json.
 */
#include "cli.h"
#include "commands.h"
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
        "Without --chat the prompt is tokenized raw (special tokens are recognised).\n"
        "--temperature 0 means greedy. Defaults follow Qwen3's recommendations:\n"
        "thinking T 0.6 top-p 0.95 top-k 20; non-thinking (and raw) T 0.7 top-p 0.8 top-k 20.\n");
}

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

int cmd_generate(int argc, char **argv)
{
    const char *model_path = NULL, *prompt = NULL, *prompt_file = NULL, *system = NULL, *logits_out = NULL;
    int chat = 0, think = -1, max_tokens = 256, json_out = 0, threads = 0, n_ctx = 0;
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

    int rc = 1;
    char err[512];
    char *file_text = NULL, *rendered = NULL;
    qe_model *m = NULL;
    qe_context *ctx = NULL;
    qe_sampler *smp = NULL;
    qe_detok *dt = NULL;
    qe_token *ids = NULL, *out_ids = NULL;
    buf_t text = {0};

    if (prompt_file) {
        size_t n;
        if (!(file_text = cli_read_file(C, prompt_file, &n))) { rc = 2; goto done; }
        prompt = file_text;
    }
    if (qe_model_load(model_path, qe_model_default_params(), &m, err, sizeof err)) {
        fprintf(stderr, "quarry generate: %s\n", err);
        goto done;
    }
    const qe_model_info *info = qe_model_get_info(m);

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
    if (qe_context_init(m, cp, &ctx, err, sizeof err)) {
        fprintf(stderr, "quarry generate: %s\n", err);
        goto done;
    }
    if (!(smp = qe_sampler_init(m, sp)) || !(dt = qe_detok_init(m)) ||
        !(out_ids = malloc(((size_t)max_tokens + 1) * sizeof *out_ids))) {
        fprintf(stderr, "quarry generate: out of memory\n");
        goto done;
    }

    /* prefill in chunks of the batch size; logits only at the very end */
    double t0 = now_s();
    int nb = cp.n_batch_max;
    qe_pos *pos = malloc((size_t)nb * sizeof *pos);
    qe_seq *seq = calloc((size_t)nb, sizeof *seq);
    if (!pos || !seq) { free(pos); free(seq); fprintf(stderr, "quarry generate: out of memory\n"); goto done; }
    int dec_rc = 0;
    for (int off = 0; off < n_prompt && !dec_rc; off += nb) {
        int n = n_prompt - off < nb ? n_prompt - off : nb;
        for (int i = 0; i < n; i++) pos[i] = off + i;
        qe_batch b = { n, ids + off, pos, seq, NULL };
        dec_rc = qe_decode(ctx, &b, err, sizeof err);
    }
    if (dec_rc) {
        free(pos); free(seq);
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
            free(pos); free(seq);
            goto done;
        }
    }

    int n_out = 0;
    const char *stop = "length";
    double t1 = now_s();
    while (n_out < max_tokens) {
        qe_token t = qe_sampler_sample(smp, logits);
        if (t < 0) { stop = "no candidate"; break; }
        qe_sampler_accept(smp, t);
        out_ids[n_out++] = t;
        if (qe_token_is_stop(m, t)) { stop = "stop token"; break; }
        size_t len;
        const char *piece = qe_detok_push(dt, t, &len);
        if (buf_put(&text, piece, len)) { fprintf(stderr, "quarry generate: out of memory\n"); break; }
        if (!json_out) { fwrite(piece, 1, len, stdout); fflush(stdout); }
        if (n_out == max_tokens) break;
        if (qe_seq_len(ctx, 0) >= cp.n_ctx) { stop = "context full"; break; }
        pos[0] = qe_seq_len(ctx, 0);
        qe_batch b = { 1, &out_ids[n_out - 1], pos, seq, NULL };
        if (qe_decode(ctx, &b, err, sizeof err)) {
            fprintf(stderr, "quarry generate: %s\n", err);
            free(pos); free(seq);
            goto done;
        }
        logits = qe_get_logits(ctx, 0);
    }
    double t_gen = now_s() - t1;
    free(pos);
    free(seq);
    size_t len;
    const char *tail = qe_detok_flush(dt, &len);
    buf_put(&text, tail, len);
    if (!json_out) { fwrite(tail, 1, len, stdout); printf("\n"); }

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
        json_object_set_new(o, "prompt_ms", json_real(t_prompt * 1e3));
        json_object_set_new(o, "generate_ms", json_real(t_gen * 1e3));
        char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
        if (s) puts(s);
        free(s);
        json_decref(o);
    }
    fprintf(stderr, "prompt: %d tokens in %.1f ms (%.1f tok/s); generated %d tokens in %.1f ms (%.1f tok/s); stop: %s\n",
            n_prompt, t_prompt * 1e3, n_prompt / (t_prompt > 0 ? t_prompt : 1e-9), n_out, t_gen * 1e3,
            n_out > 1 ? (n_out - 1) / (t_gen > 0 ? t_gen : 1e-9) : 0.0, stop);
    rc = 0;
done:
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
