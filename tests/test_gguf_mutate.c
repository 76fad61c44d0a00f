/*
 * test_gguf_mutate.c - robustness of gguf_open / qe_model_load against
 * damaged and hostile files.
 *
 * Builds a small valid Qwen3 model with the GGUF writer (tiny shapes, a
 * 256-byte-token vocabulary plus Qwen's added tokens, several weight types),
 * then applies thousands of seeded mutations: truncations, bit flips and
 * random bytes in the header/KV/tensor-info region, special values (huge
 * counts and lengths, 0, 2^40, 2^64-1, off-by-one) written into each
 * structural field, wrong value types, wrong magic/version, misaligned and
 * out-of-range tensor offsets, duplicated names, and rebuilt files with a
 * key or tensor missing, a key of the wrong type or a tensor of the wrong
 * shape or type. Every open must either succeed (and then everything it
 * reports must lie inside the file) or fail with a message that names the
 * file; it must never crash (run under ASan/UBSan in the sanitizer tree).
 * A table of targeted mutations checks that messages name the key or
 * tensor at fault.
 *
 * usage: test_gguf_mutate DIR [N_MUTATIONS [SEED [QUARRY_MKMODEL]]]
 * With QUARRY_MKMODEL, a real-vocabulary tiny model is generated and must
 * load, and a few truncations of it must fail cleanly. QUARRY_TEST_KEEP=1
 * keeps the base model (a good fuzzing seed).
 */
#include "gguf.h"
#include "qengine.h"
#include "quant.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int mt_failures;

#define MT_CHECK(cond, ...)                                                   \
    do {                                                                      \
        if (!(cond)) {                                                        \
            mt_failures++;                                                    \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);   \
            fprintf(stderr, __VA_ARGS__);                                     \
            fputc('\n', stderr);                                              \
        }                                                                     \
    } while (0)

/* ------------------------------------------------------------------ rng */

static uint64_t mt_state;

static uint64_t mt_rand(void)
{
    uint64_t z = (mt_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t mt_below(uint64_t n) { return n ? mt_rand() % n : 0; }

/* --------------------------------------------------------- file helpers */

static uint8_t *mt_read(const char *path, size_t *size)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *b = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (b && fread(b, 1, (size_t)n, fp) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(fp);
    *size = (size_t)n;
    return b;
}

static int mt_write(const char *path, const void *buf, size_t n)
{
    /* unlink first: truncating or renaming over a file makes ext4 flush
     * it to disk (auto_da_alloc), which made this test I/O bound */
    remove(path);
    FILE *fp = fopen(path, "wb");
    if (!fp) return -1;
    int ok = fwrite(buf, 1, n, fp) == n;
    return fclose(fp) == 0 && ok ? 0 : -1;
}

/* ------------------------------------------------------ the base model */

/* Model shape: small, but every dimension distinct so shape errors show. */
enum { MT_LAYERS = 2, MT_EMBD = 32, MT_HEADS = 2, MT_KV = 1, MT_HD = 16, MT_FF = 64 };

/* What to change when building (the "rewrite with the writer" mutations). */
typedef struct {
    const char *skip_key;
    const char *bad_key;     /* written with the wrong type */
    int bad_kind;
    const char *skip_tensor;
    const char *shape_tensor;
    int shape_kind;
    const char *type_tensor; /* written with a different ggml type */
    int new_type;
    const char *arch;        /* general.architecture override */
    int dup_keys;            /* adds dup.key.a and dup.key.b */
    int extra_tensor;        /* adds an unknown extra tensor */
} mt_spec;

typedef enum { MK_STR, MK_U32, MK_F32, MK_BOOL, MK_TOKENS, MK_TYPES, MK_MERGES } mt_kind;

static const struct {
    const char *key;
    mt_kind kind;
    uint32_t u;
    float f;
    const char *s;
} mt_keys[] = {
    {"general.architecture", MK_STR, 0, 0, "qwen3"},
    {"general.name", MK_STR, 0, 0, "mutation base"},
    {"general.file_type", MK_U32, 0, 0, NULL},
    {"qwen3.block_count", MK_U32, MT_LAYERS, 0, NULL},
    {"qwen3.context_length", MK_U32, 256, 0, NULL},
    {"qwen3.embedding_length", MK_U32, MT_EMBD, 0, NULL},
    {"qwen3.feed_forward_length", MK_U32, MT_FF, 0, NULL},
    {"qwen3.attention.head_count", MK_U32, MT_HEADS, 0, NULL},
    {"qwen3.attention.head_count_kv", MK_U32, MT_KV, 0, NULL},
    {"qwen3.attention.key_length", MK_U32, MT_HD, 0, NULL},
    {"qwen3.attention.value_length", MK_U32, MT_HD, 0, NULL},
    {"qwen3.rope.freq_base", MK_F32, 0, 1000000.0f, NULL},
    {"qwen3.attention.layer_norm_rms_epsilon", MK_F32, 0, 1e-6f, NULL},
    {"tokenizer.ggml.model", MK_STR, 0, 0, "gpt2"},
    {"tokenizer.ggml.pre", MK_STR, 0, 0, "qwen2"},
    {"tokenizer.ggml.tokens", MK_TOKENS, 0, 0, NULL},
    {"tokenizer.ggml.token_type", MK_TYPES, 0, 0, NULL},
    {"tokenizer.ggml.merges", MK_MERGES, 0, 0, NULL},
    {"tokenizer.ggml.eos_token_id", MK_U32, 0, 0, NULL},       /* id filled in below */
    {"tokenizer.ggml.padding_token_id", MK_U32, 0, 0, NULL},
    {"tokenizer.ggml.bos_token_id", MK_U32, 0, 0, NULL},
    {"tokenizer.ggml.add_bos_token", MK_BOOL, 0, 0, NULL},
    {"tokenizer.chat_template", MK_STR, 0, 0,
     "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"},
};
#define MT_N_KEYS ((int)(sizeof mt_keys / sizeof mt_keys[0]))

static const char *const mt_added[] = {
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
    "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>",
    "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
    "<|repo_name|>", "<|file_sep|>", "<tool_response>", "</tool_response>", "<think>", "</think>",
};
#define MT_N_ADDED 26
static const char *const mt_merges[][3] = {
    {"\xc4\xa0", "t", "\xc4\xa0t"}, {"h", "e", "he"}, {"t", "h", "th"}, {"i", "n", "in"},
    {"\xc4\xa0t", "he", "\xc4\xa0the"}, {"e", "r", "er"}, {"a", "n", "an"}, {"o", "n", "on"},
};
#define MT_N_MERGES 8
#define MT_N_TOKENS (256 + MT_N_MERGES + MT_N_ADDED + 6) /* + 6 padding rows */
#define MT_ID_ENDOFTEXT (256 + MT_N_MERGES)
#define MT_ID_IM_END (MT_ID_ENDOFTEXT + 2)

static char mt_tok_buf[MT_N_TOKENS][24];
static const char *mt_tokens[MT_N_TOKENS];
static int32_t mt_types[MT_N_TOKENS];
static char mt_merge_buf[MT_N_MERGES][24];
static const char *mt_merge_strs[MT_N_MERGES];

/* GPT-2 byte-level alphabet: printable bytes map to themselves, the others
 * to U+0100 + k in byte order. */
static void mt_vocab_init(void)
{
    int k = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
        int cp = printable ? b : 256 + k++;
        char *s = mt_tok_buf[b];
        if (cp < 0x80) {
            s[0] = (char)cp;
            s[1] = 0;
        } else {
            s[0] = (char)(0xc0 | (cp >> 6));
            s[1] = (char)(0x80 | (cp & 0x3f));
            s[2] = 0;
        }
        mt_tokens[b] = s;
        mt_types[b] = 1;
    }
    for (int i = 0; i < MT_N_MERGES; i++) {
        mt_tokens[256 + i] = mt_merges[i][2];
        mt_types[256 + i] = 1;
        snprintf(mt_merge_buf[i], sizeof mt_merge_buf[i], "%s %s", mt_merges[i][0], mt_merges[i][1]);
        mt_merge_strs[i] = mt_merge_buf[i];
    }
    for (int i = 0; i < MT_N_ADDED; i++) {
        mt_tokens[MT_ID_ENDOFTEXT + i] = mt_added[i];
        mt_types[MT_ID_ENDOFTEXT + i] = mt_added[i][1] == '|' ? 3 : 4;
    }
    for (int id = MT_ID_ENDOFTEXT + MT_N_ADDED; id < MT_N_TOKENS; id++) {
        snprintf(mt_tok_buf[id], sizeof mt_tok_buf[id], "[PAD%d]", id);
        mt_tokens[id] = mt_tok_buf[id];
        mt_types[id] = 5;
    }
}

typedef struct {
    char name[48];
    int type, n_dims;
    int64_t ne[4];
} mt_tdesc;

static mt_tdesc mt_tlist[3 + 11 * MT_LAYERS];
static int mt_n_tlist;

static void mt_tadd(const char *name, int type, int64_t ne0, int64_t ne1)
{
    mt_tdesc *t = &mt_tlist[mt_n_tlist++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->type = type;
    t->n_dims = ne1 ? 2 : 1;
    t->ne[0] = ne0;
    t->ne[1] = ne1 ? ne1 : 1;
    t->ne[2] = t->ne[3] = 1;
}

/* The tensors of the base model: a mix of every weight type the engine
 * supports so that each one's size computation is exercised. */
static void mt_tensors_init(void)
{
    const int64_t E = MT_EMBD, Q = MT_HEADS * MT_HD, KV = MT_KV * MT_HD, F = MT_FF;
    mt_tadd("token_embd.weight", GGML_TYPE_F32, E, MT_N_TOKENS);
    for (int l = 0; l < MT_LAYERS; l++) {
        char n[48];
#define MT_T(s) (snprintf(n, sizeof n, "blk.%d.%s", l, s), n)
        mt_tadd(MT_T("attn_norm.weight"), GGML_TYPE_F32, E, 0);
        mt_tadd(MT_T("attn_q.weight"), GGML_TYPE_F16, E, Q);
        mt_tadd(MT_T("attn_k.weight"), GGML_TYPE_BF16, E, KV);
        mt_tadd(MT_T("attn_v.weight"), GGML_TYPE_Q8_0, E, KV);
        mt_tadd(MT_T("attn_output.weight"), GGML_TYPE_F32, Q, E);
        mt_tadd(MT_T("attn_q_norm.weight"), GGML_TYPE_F32, MT_HD, 0);
        mt_tadd(MT_T("attn_k_norm.weight"), GGML_TYPE_F32, MT_HD, 0);
        mt_tadd(MT_T("ffn_norm.weight"), GGML_TYPE_F32, E, 0);
        mt_tadd(MT_T("ffn_gate.weight"), GGML_TYPE_Q8_0, E, F);
        mt_tadd(MT_T("ffn_up.weight"), GGML_TYPE_F16, E, F);
        mt_tadd(MT_T("ffn_down.weight"), GGML_TYPE_BF16, F, E);
#undef MT_T
    }
    mt_tadd("output_norm.weight", GGML_TYPE_F32, E, 0);
    mt_tadd("output.weight", GGML_TYPE_Q8_0, E, MT_N_TOKENS);
}

/* Adds one tensor with seeded small values in its type. */
static int mt_add_tensor(gguf_writer *w, const char *name, int type, int n_dims, const int64_t *ne)
{
    int be, bb;
    if (!ggml_type_block(type, &be, &bb) || ne[0] % be) return -1;
    int64_t rows = 1;
    for (int d = 1; d < n_dims; d++) rows *= ne[d];
    size_t row_bytes = (size_t)(ne[0] / be * bb);
    size_t nbytes = row_bytes * (size_t)rows;
    uint8_t *data = malloc(nbytes);
    float *row = malloc((size_t)ne[0] * sizeof *row);
    int rc = -1;
    if (data && row) {
        uint64_t s = 0x5eed;
        for (const char *p = name; *p; p++) s = s * 31 + (uint8_t)*p;
        for (int64_t r = 0; r < rows; r++) {
            for (int64_t i = 0; i < ne[0]; i++) {
                s = s * 6364136223846793005ull + 1442695040888963407ull;
                row[i] = ((float)(s >> 40) / 16777216.0f - 0.5f) * 0.2f;
            }
            uint8_t *dst = data + (size_t)r * row_bytes;
            if (qe_quantize_row(type, row, dst, ne[0]) != row_bytes)
                for (size_t k = 0; k < row_bytes; k++) dst[k] = (uint8_t)(k * 7 + (size_t)r); /* other types */
        }
        rc = gguf_writer_add_tensor(w, name, type, n_dims, ne, data, nbytes);
    }
    free(data);
    free(row);
    return rc;
}

/* Writes a wrong-typed value for key (kind picks which wrong type). */
static void mt_set_bad(gguf_writer *w, const char *key, int kind)
{
    static const int32_t two[2] = {1, 2};
    static const char *const one[1] = {"a"};
    uint64_t u64 = 1ull << 40;
    int8_t i8 = -1;
    double f64 = 3.0;
    uint8_t nested[12] = {GGUF_TYPE_ARRAY, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}; /* empty array of arrays */
    switch (kind % 12) {
    case 0: gguf_writer_set_str(w, key, "oops"); break;
    case 1: gguf_writer_set_f32(w, key, 1.5f); break;
    case 2: gguf_writer_set_i32(w, key, -1); break;
    case 3: gguf_writer_set_val(w, key, GGUF_TYPE_UINT64, &u64); break;
    case 4: gguf_writer_set_bool(w, key, 1); break;
    case 5: gguf_writer_set_arr_i32(w, key, two, 2); break;
    case 6: gguf_writer_set_arr_str(w, key, one, 1); break;
    case 7: gguf_writer_set_u32(w, key, 0); break;
    case 8: gguf_writer_set_u32(w, key, 0xFFFFFFFFu); break;
    case 9: gguf_writer_set_val(w, key, GGUF_TYPE_INT8, &i8); break;
    case 10: gguf_writer_set_raw(w, key, GGUF_TYPE_ARRAY, nested, sizeof nested); break;
    default: gguf_writer_set_val(w, key, GGUF_TYPE_FLOAT64, &f64); break;
    }
}

static int mt_build(const mt_spec *sp, const char *path)
{
    gguf_writer *w = gguf_writer_init();
    if (!w) return -1;
    for (int i = 0; i < MT_N_KEYS; i++) {
        const char *k = mt_keys[i].key;
        if (sp->skip_key && !strcmp(sp->skip_key, k)) continue;
        if (sp->bad_key && !strcmp(sp->bad_key, k)) {
            mt_set_bad(w, k, sp->bad_kind);
            continue;
        }
        uint32_t u = mt_keys[i].u;
        if (!strcmp(k, "tokenizer.ggml.eos_token_id")) u = MT_ID_IM_END;
        if (!strcmp(k, "tokenizer.ggml.padding_token_id") || !strcmp(k, "tokenizer.ggml.bos_token_id"))
            u = MT_ID_ENDOFTEXT;
        switch (mt_keys[i].kind) {
        case MK_STR:
            gguf_writer_set_str(w, k, i == 0 && sp->arch ? sp->arch : mt_keys[i].s);
            break;
        case MK_U32: gguf_writer_set_u32(w, k, u); break;
        case MK_F32: gguf_writer_set_f32(w, k, mt_keys[i].f); break;
        case MK_BOOL: gguf_writer_set_bool(w, k, 0); break;
        case MK_TOKENS: gguf_writer_set_arr_str(w, k, mt_tokens, MT_N_TOKENS); break;
        case MK_TYPES: gguf_writer_set_arr_i32(w, k, mt_types, MT_N_TOKENS); break;
        case MK_MERGES: gguf_writer_set_arr_str(w, k, mt_merge_strs, MT_N_MERGES); break;
        }
    }
    if (sp->dup_keys) {
        gguf_writer_set_u32(w, "dup.key.a", 1);
        gguf_writer_set_u32(w, "dup.key.b", 2);
    }
    int rc = 0;
    for (int i = 0; i < mt_n_tlist; i++) {
        const mt_tdesc *t = &mt_tlist[i];
        if (sp->skip_tensor && !strcmp(sp->skip_tensor, t->name)) continue;
        int type = t->type, n_dims = t->n_dims;
        int64_t ne[4];
        memcpy(ne, t->ne, sizeof ne);
        if (sp->shape_tensor && !strcmp(sp->shape_tensor, t->name)) {
            switch (sp->shape_kind % 5) {
            case 0: ne[0] += 32; break;
            case 1: ne[1] += 1; if (n_dims < 2) n_dims = 2; break;
            case 2: ne[n_dims < 4 ? n_dims : 3] = 2; if (n_dims < 4) n_dims++; break;
            case 3: ne[0] = 32; ne[1] = 3; break;
            default: { int64_t x = ne[0]; ne[0] = ne[1] % 32 ? 32 : ne[1]; ne[1] = x; n_dims = 2; } break;
            }
        }
        if (sp->type_tensor && !strcmp(sp->type_tensor, t->name)) {
            int be, bb;
            /* keep the old type where the new one cannot hold the row */
            if (ggml_type_block(sp->new_type, &be, &bb) && ne[0] % be == 0) type = sp->new_type;
        }
        rc |= mt_add_tensor(w, t->name, type, n_dims, ne);
    }
    if (sp->extra_tensor) {
        int64_t ne[1] = {256};
        rc |= mt_add_tensor(w, "blk.0.unknown_extra.weight", GGML_TYPE_Q4_K, 1, ne);
    }
    char err[512];
    remove(path); /* see mt_write */
    int wrc = gguf_writer_write(w, path, err, sizeof err);
    gguf_writer_free(w);
    if (wrc) fprintf(stderr, "writer: %s\n", err);
    return rc || wrc ? -1 : 0;
}

/* ------------------------------------------------------------ field map */

/* Where the structural fields of the base file are, found by walking it
 * (it is valid, so the walk can be simple). */
enum { F_VERSION, F_NTENS, F_NKV, F_STRLEN, F_VTYPE, F_ARRTYPE, F_ARRCOUNT, F_NDIMS, F_NE, F_TTYPE, F_TOFF, F_VALUE };
static const char *const mt_fkind_names[] = {"version", "n_tensors", "n_kv", "string length", "value type",
                                             "array type", "array count", "n_dims", "ne", "tensor type",
                                             "tensor offset", "value"};

typedef struct {
    size_t pos;
    int width;
    int kind;
} mt_field;

static mt_field *mt_fields;
static int mt_n_fields, mt_cap_fields;
static size_t mt_meta_end;   /* end of tensor infos */

static void mt_field_add(size_t pos, int width, int kind)
{
    if (mt_n_fields == mt_cap_fields) {
        mt_cap_fields = mt_cap_fields ? 2 * mt_cap_fields : 1024;
        mt_fields = realloc(mt_fields, (size_t)mt_cap_fields * sizeof *mt_fields);
        if (!mt_fields) abort();
    }
    mt_fields[mt_n_fields++] = (mt_field){pos, width, kind};
}

static uint64_t mt_get(const uint8_t *b, size_t pos, int width)
{
    uint64_t v = 0;
    memcpy(&v, b + pos, (size_t)width);
    return v;
}

static const int mt_vsize[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

static size_t mt_walk_value(const uint8_t *b, size_t p, uint32_t t)
{
    if (t == GGUF_TYPE_STRING) {
        mt_field_add(p, 8, F_STRLEN);
        return p + 8 + mt_get(b, p, 8);
    }
    if (t == GGUF_TYPE_ARRAY) {
        uint32_t et = (uint32_t)mt_get(b, p, 4);
        uint64_t n = mt_get(b, p + 4, 8);
        mt_field_add(p, 4, F_ARRTYPE);
        mt_field_add(p + 4, 8, F_ARRCOUNT);
        p += 12;
        for (uint64_t i = 0; i < n; i++) p = mt_walk_value(b, p, et);
        return p;
    }
    mt_field_add(p, mt_vsize[t], F_VALUE);
    return p + (size_t)mt_vsize[t];
}

static void mt_walk(const uint8_t *b)
{
    mt_field_add(4, 4, F_VERSION);
    mt_field_add(8, 8, F_NTENS);
    mt_field_add(16, 8, F_NKV);
    uint64_t nt = mt_get(b, 8, 8), nkv = mt_get(b, 16, 8);
    size_t p = 24;
    for (uint64_t i = 0; i < nkv; i++) {
        mt_field_add(p, 8, F_STRLEN);
        p += 8 + mt_get(b, p, 8);
        uint32_t t = (uint32_t)mt_get(b, p, 4);
        mt_field_add(p, 4, F_VTYPE);
        p = mt_walk_value(b, p + 4, t);
    }
    for (uint64_t i = 0; i < nt; i++) {
        mt_field_add(p, 8, F_STRLEN);
        p += 8 + mt_get(b, p, 8);
        uint32_t nd = (uint32_t)mt_get(b, p, 4);
        mt_field_add(p, 4, F_NDIMS);
        p += 4;
        for (uint32_t d = 0; d < nd; d++, p += 8) mt_field_add(p, 8, F_NE);
        mt_field_add(p, 4, F_TTYPE);
        mt_field_add(p + 4, 8, F_TOFF);
        p += 12;
    }
    mt_meta_end = p;
}

/* Position of the string field whose bytes equal s (length prefix). */
static size_t mt_find_str(const uint8_t *b, size_t size, const char *s)
{
    uint64_t n = strlen(s);
    for (size_t p = 0; p + 8 + n <= size; p++)
        if (mt_get(b, p, 8) == n && !memcmp(b + p + 8, s, n)) return p;
    return 0;
}

/* Offset of the tensor-info field following tensor `name`'s name:
 * 0 n_dims, then ne..., type, offset. */
static size_t mt_tinfo(const uint8_t *b, size_t size, const char *name, int which)
{
    size_t p = mt_find_str(b, size, name);
    if (!p) return 0;
    p += 8 + strlen(name);
    uint32_t nd = (uint32_t)mt_get(b, p, 4);
    if (which == 0) return p;                     /* n_dims */
    if (which == 1) return p + 4;                 /* ne[0] */
    if (which == 2) return p + 4 + 8 * nd;        /* type */
    return p + 8 + 8 * nd;                        /* offset */
}

/* ------------------------------------------------------- open and check */

static char mt_path[800];          /* where mutated files go */
static int mt_have_loader;
static long mt_loads, mt_load_ok, mt_open_ok;

/* Opens buf from memory; checks the result is coherent. Returns rc and
 * leaves the message in err. */
static int mt_open_check(const uint8_t *buf, size_t size, char *err, size_t errlen, const char *what)
{
    gguf_file *f = NULL;
    err[0] = 0;
    int rc = gguf_open_mem(buf, size, mt_path, &f, err, errlen);
    if (rc != 0) {
        MT_CHECK(f == NULL, "%s: failed open returned a file", what);
        MT_CHECK(rc == QE_EFORMAT || rc == QE_ENOMEM, "%s: rc %d", what, rc);
        MT_CHECK(err[0] && !strncmp(err, mt_path, strlen(mt_path)) && strlen(err) > strlen(mt_path) + 4,
                 "%s: message must name the file and say something: '%s'", what, err);
        return rc;
    }
    mt_open_ok++;
    /* everything reported must lie inside the buffer */
    uint32_t a = gguf_alignment(f);
    MT_CHECK(a && !(a & (a - 1)), "%s: alignment %u", what, a);
    MT_CHECK(gguf_data_offset(f) <= size, "%s: data offset", what);
    for (int i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        const uint8_t *d = t->data;
        MT_CHECK(d >= buf && t->nbytes <= size && d - buf <= (ptrdiff_t)(size - t->nbytes),
                 "%s: tensor %s outside the file", what, t->name);
        MT_CHECK(t->offset % a == 0 && t->n_dims >= 1 && t->n_dims <= 4 && t->name[0], "%s: tensor %s header",
                 what, t->name);
        MT_CHECK(gguf_find_tensor(f, t->name) == t, "%s: tensor %s lookup", what, t->name);
    }
    /* every getter on every key, reading whatever they return */
    volatile uint64_t sink = 0;
    for (int i = 0; i < gguf_n_kv(f); i++) {
        const char *k = gguf_key_name(f, i);
        MT_CHECK(k && gguf_find_key(f, k) == i, "%s: key %d lookup", what, i);
        uint32_t u;
        int64_t i64;
        float fl;
        int b, et;
        const char *s;
        size_t len;
        uint64_t n;
        if (gguf_get_u32(f, k, &u) == 0) sink += u;
        if (gguf_get_i64(f, k, &i64) == 0) sink += (uint64_t)i64;
        if (gguf_get_f32(f, k, &fl) == 0) sink += (uint64_t)isnan(fl);
        if (gguf_get_bool(f, k, &b) == 0) sink += (uint64_t)b;
        if (gguf_get_str(f, k, &s, &len) == 0 && len) sink += (uint8_t)s[0] + (uint8_t)s[len - 1];
        if (gguf_get_arr_info(f, k, &et, &n) == 0) {
            for (uint64_t j = 0; j < n && j < 300; j++) {
                s = gguf_get_arr_str(f, k, j, &len);
                if (s && len) sink += (uint8_t)s[0] + (uint8_t)s[len - 1];
            }
            if (n) {
                s = gguf_get_arr_str(f, k, n - 1, &len);
                if (s && len) sink += (uint8_t)s[len - 1];
            }
            int32_t iv[64];
            float fv[64];
            int64_t m = gguf_get_arr_i32(f, k, iv, 64);
            for (int64_t j = 0; j < m; j++) sink += (uint64_t)iv[j];
            m = gguf_get_arr_f32(f, k, fv, 64);
            for (int64_t j = 0; j < m; j++) sink += (uint64_t)isnan(fv[j]);
        }
    }
    (void)sink;
    gguf_close(f);
    return 0;
}

/* Loads the same bytes as a file through qe_model_load: it must fail with
 * the reader's message when the reader fails, else succeed or fail with a
 * message naming the file. */
static int mt_load_check(const uint8_t *buf, size_t size, int open_rc, const char *open_err, char *err,
                         size_t errlen, const char *what)
{
#ifdef QUARRY_HAVE_MODEL_LOAD
    if (mt_write(mt_path, buf, size) != 0) {
        MT_CHECK(0, "cannot write %s", mt_path);
        return -1;
    }
    qe_model *m = NULL;
    err[0] = 0;
    mt_loads++;
    int rc = qe_model_load(mt_path, qe_model_default_params(), &m, err, errlen);
    if (rc == QE_OK) {
        mt_load_ok++;
        MT_CHECK(open_rc == 0, "%s: model loaded although the reader failed: %s", what, open_err);
        const qe_model_info *in = qe_model_get_info(m);
        MT_CHECK(in && in->n_layer > 0 && in->n_vocab > 0, "%s: loaded model info", what);
        qe_model_free(m);
        return 0;
    }
    MT_CHECK(m == NULL, "%s: failed load returned a model", what);
    MT_CHECK(err[0] && strstr(err, mt_path), "%s: load message must name the file: '%s'", what, err);
    if (open_rc != 0)
        MT_CHECK(rc == open_rc && !strcmp(err, open_err), "%s: load and open disagree: '%s' vs '%s'", what, err,
                 open_err);
    return rc;
#else
    (void)buf; (void)size; (void)open_rc; (void)open_err; (void)err; (void)errlen; (void)what;
    return 0;
#endif
}

/* ---------------------------------------------------------- mutations */

enum { OP_TRUNC, OP_FLIP, OP_BYTES, OP_FIELD, OP_VTYPE, OP_HEADER, OP_MISALIGN, OP_PAST_END, OP_DUPNAME,
       OP_REBUILD, OP_COMBO, OP_APPEND, OP_COUNT };
static const char *const mt_op_names[OP_COUNT] = {"truncate", "bit flips", "random bytes", "field value",
                                                  "value type", "magic/version", "misaligned offset",
                                                  "offset past end", "duplicate name", "rebuild",
                                                  "combination", "append"};

static uint64_t mt_special(uint64_t orig, size_t size)
{
    static const uint64_t vals[] = {0, 1, 2, 3, 4, 5, 8, 12, 13, 31, 32, 33, 63, 64, 255, 256,
                                    0x7f, 0x80, 0xffff, 0x7fffffff, 0x80000000u, 0xffffffffu,
                                    1ull << 32, 1ull << 40, 1ull << 62, 1ull << 63, (1ull << 63) - 1,
                                    0xffffffffffffffffull, 0xfffffffffffffff8ull};
    uint64_t r = mt_below(8);
    if (r == 0) return orig + 1;
    if (r == 1) return orig - 1;
    if (r == 2) return orig * 2;
    if (r == 3) return (uint64_t)size - mt_below(64);
    if (r == 4) return mt_rand();
    return vals[mt_below(sizeof vals / sizeof vals[0])];
}

static void mt_put(uint8_t *b, size_t pos, int width, uint64_t v) { memcpy(b + pos, &v, (size_t)width); }

static const mt_field *mt_pick_field(int kind)
{
    for (int tries = 0; tries < 10000; tries++) {
        const mt_field *f = &mt_fields[mt_below((uint64_t)mt_n_fields)];
        if (kind < 0 || f->kind == kind) return f;
    }
    return &mt_fields[0];
}

/* Applies one in-place mutation of kind op to m (size *n, capacity cap). */
static void mt_mutate(int op, uint8_t *m, size_t *n, size_t cap, size_t data_off)
{
    size_t meta = mt_meta_end < *n ? mt_meta_end : *n;
    switch (op) {
    case OP_TRUNC:
        *n = mt_below(2) ? (size_t)mt_below(data_off + 64 < *n ? data_off + 64 : *n) : (size_t)mt_below(*n);
        break;
    case OP_FLIP:
        for (int k = 1 + (int)mt_below(4); k > 0 && meta; k--) {
            size_t p = (size_t)mt_below(meta);
            m[p] ^= (uint8_t)(1u << mt_below(8));
        }
        break;
    case OP_BYTES:
        for (int k = 1 + (int)mt_below(8); k > 0 && meta; k--) m[mt_below(meta)] = (uint8_t)mt_rand();
        break;
    case OP_FIELD: {
        const mt_field *f = mt_pick_field(-1);
        if (f->pos + (size_t)f->width <= *n)
            mt_put(m, f->pos, f->width, mt_special(mt_get(m, f->pos, f->width), *n));
        break;
    }
    case OP_VTYPE: {
        const mt_field *f = mt_pick_field(mt_below(2) ? F_VTYPE : F_ARRTYPE);
        if (f->pos + 4 <= *n) mt_put(m, f->pos, 4, mt_below(4) ? mt_below(16) : mt_rand());
        break;
    }
    case OP_HEADER: {
        static const uint32_t versions[] = {0, 1, 2, 3, 4, 0x03000000, 0x02000000, 0xffffffffu};
        if (*n < 8) break;
        if (mt_below(2)) mt_put(m, 4, 4, versions[mt_below(8)]);
        else m[mt_below(4)] = (uint8_t)mt_rand();
        break;
    }
    case OP_MISALIGN: {
        const mt_field *f = mt_pick_field(F_TOFF);
        if (f->pos + 8 <= *n) mt_put(m, f->pos, 8, mt_get(m, f->pos, 8) + 1 + mt_below(31));
        break;
    }
    case OP_PAST_END: {
        const mt_field *f = mt_pick_field(F_TOFF);
        if (f->pos + 8 <= *n) {
            uint64_t room = *n > data_off ? *n - data_off : 0;
            mt_put(m, f->pos, 8, (room + 31) / 32 * 32 - 32 * mt_below(3) + 32 * mt_below(3));
        }
        break;
    }
    case OP_DUPNAME: {
        /* copy one key/tensor name over another of the same length */
        const mt_field *a = mt_pick_field(F_STRLEN);
        for (int tries = 0; tries < 200; tries++) {
            const mt_field *b = mt_pick_field(F_STRLEN);
            uint64_t la = mt_get(m, a->pos, 8), lb = mt_get(m, b->pos, 8);
            if (a != b && la == lb && a->pos + 8 + la <= *n && b->pos + 8 + lb <= *n && la < 64) {
                memcpy(m + b->pos + 8, m + a->pos + 8, (size_t)la);
                break;
            }
        }
        break;
    }
    case OP_APPEND: {
        size_t extra = 1 + (size_t)mt_below(cap - *n < 4096 ? cap - *n : 4096);
        for (size_t i = 0; i < extra && *n < cap; i++) m[(*n)++] = (uint8_t)mt_rand();
        break;
    }
    default:
        break;
    }
}

/* A random writer-level change: missing key/tensor, wrong type or shape. */
static void mt_random_spec(mt_spec *sp)
{
    memset(sp, 0, sizeof *sp);
    switch (mt_below(7)) {
    case 0: sp->skip_key = mt_keys[mt_below(MT_N_KEYS)].key; break;
    case 1: sp->bad_key = mt_keys[mt_below(MT_N_KEYS)].key; sp->bad_kind = (int)mt_below(12); break;
    case 2: sp->skip_tensor = mt_tlist[mt_below((uint64_t)mt_n_tlist)].name; break;
    case 3: sp->shape_tensor = mt_tlist[mt_below((uint64_t)mt_n_tlist)].name; sp->shape_kind = (int)mt_below(5); break;
    case 4: {
        static const int types[] = {GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_Q8_0, GGML_TYPE_Q4_0,
                                    GGML_TYPE_I32, GGML_TYPE_F64};
        sp->type_tensor = mt_tlist[mt_below((uint64_t)mt_n_tlist)].name;
        sp->new_type = types[mt_below(7)];
        break;
    }
    case 5: sp->arch = mt_below(2) ? "llama" : "qwen2"; break;
    default: sp->extra_tensor = 1; sp->dup_keys = (int)mt_below(2); break;
    }
}

/* -------------------------------------------------- targeted messages */

typedef struct {
    const char *what;
    int loader;              /* 1: checked through qe_model_load */
    const char *want[3];     /* substrings the message must contain */
} mt_expect;

static void mt_expect_msg(const mt_expect *e, const uint8_t *buf, size_t size)
{
    char err[1024], err2[1024];
    int rc;
    if (!e->loader) {
        /* through the file path, as the engine opens models */
        if (mt_write(mt_path, buf, size) != 0) {
            MT_CHECK(0, "cannot write %s", mt_path);
            return;
        }
        gguf_file *f = NULL;
        err[0] = 0;
        rc = gguf_open(mt_path, &f, err, sizeof err);
        if (rc == 0) gguf_close(f);
        MT_CHECK(rc == QE_EFORMAT, "%s: gguf_open must fail with QE_EFORMAT, got %d", e->what, rc);
        rc = mt_open_check(buf, size, err2, sizeof err2, e->what);
        MT_CHECK(rc != 0 && !strcmp(err, err2), "%s: file and memory parse disagree: '%s' vs '%s'", e->what, err,
                 err2);
    } else {
#ifdef QUARRY_HAVE_MODEL_LOAD
        rc = mt_open_check(buf, size, err2, sizeof err2, e->what);
        MT_CHECK(rc == 0, "%s: the reader must accept this file: %s", e->what, err2);
        if (mt_write(mt_path, buf, size) != 0) {
            MT_CHECK(0, "cannot write %s", mt_path);
            return;
        }
        qe_model *m = NULL;
        err[0] = 0;
        rc = qe_model_load(mt_path, qe_model_default_params(), &m, err, sizeof err);
        if (rc == 0) qe_model_free(m);
        MT_CHECK(rc == QE_EFORMAT, "%s: qe_model_load must fail with QE_EFORMAT, got %d", e->what, rc);
#else
        printf("  (skipped: %s needs qe_model_load)\n", e->what);
        return;
#endif
    }
    int ok = strstr(err, mt_path) == err;
    for (int i = 0; i < 3 && e->want[i]; i++) ok &= strstr(err, e->want[i]) != NULL;
    MT_CHECK(ok, "%s: message '%s' must start with the path and contain '%s' '%s' '%s'", e->what, err,
             e->want[0] ? e->want[0] : "", e->want[1] ? e->want[1] : "", e->want[2] ? e->want[2] : "");
    printf("  %-34s %s\n", e->what, strlen(err) > strlen(mt_path) + 2 ? err + strlen(mt_path) + 2 : err);
}

static void mt_targeted(const uint8_t *base, size_t size, size_t data_off, size_t last_end, const char *tmp)
{
    uint8_t *m = malloc(size + 64);
    if (!m) abort();
    size_t p;
#define MT_FRESH() memcpy(m, base, size)
    printf("targeted mutations (messages must name the file and the culprit):\n");

    MT_FRESH();
    mt_expect_msg(&(mt_expect){"truncated in the metadata", 0, {"truncated"}}, m, data_off / 2);
    MT_FRESH();
    mt_expect_msg(&(mt_expect){"truncated in the tensor data", 0, {"output.weight", "data"}}, m, last_end - 1);
    MT_FRESH();
    m[0] = 'X';
    mt_expect_msg(&(mt_expect){"bad magic", 0, {"magic", "GGUF"}}, m, size);
    MT_FRESH();
    mt_put(m, 4, 4, 1);
    mt_expect_msg(&(mt_expect){"version 1", 0, {"version", "got 1"}}, m, size);
    MT_FRESH();
    mt_put(m, 4, 4, 0x03000000);
    mt_expect_msg(&(mt_expect){"big-endian version", 0, {"version", "big-endian"}}, m, size);
    MT_FRESH();
    mt_put(m, 16, 8, 0xffffffffffffffffull);
    mt_expect_msg(&(mt_expect){"huge metadata count", 0, {"metadata count", "18446744073709551615"}}, m, size);
    MT_FRESH();
    mt_put(m, 8, 8, 1ull << 40);
    mt_expect_msg(&(mt_expect){"huge tensor count", 0, {"tensor count", "1099511627776"}}, m, size);
    MT_FRESH();
    mt_put(m, 24, 8, 0xffffffffffffffffull);
    mt_expect_msg(&(mt_expect){"huge first key length", 0, {"key #0", "length"}}, m, size);
    MT_FRESH();
    p = mt_find_str(m, size, "qwen3.block_count");
    mt_put(m, p + 8 + 17, 4, 13);
    mt_expect_msg(&(mt_expect){"unknown value type", 0, {"qwen3.block_count", "type", "got 13"}}, m, size);
    MT_FRESH();
    p = mt_find_str(m, size, "tokenizer.ggml.tokens");
    mt_put(m, p + 8 + 21 + 4 + 4, 8, 1ull << 40);
    mt_expect_msg(&(mt_expect){"huge string-array count", 0, {"tokenizer.ggml.tokens", "count"}}, m, size);
    MT_FRESH();
    p = mt_find_str(m, size, "tokenizer.ggml.merges");
    mt_put(m, p + 8 + 21 + 4 + 4 + 8, 8, 1ull << 62); /* length of the first merge string */
    mt_expect_msg(&(mt_expect){"huge string in an array", 0, {"tokenizer.ggml.merges", "length"}}, m, size);
    MT_FRESH();
    m[mt_find_str(m, size, "blk.1.ffn_up.weight") + 8 + 4] = '0';
    mt_expect_msg(&(mt_expect){"duplicate tensor name", 0, {"blk.0.ffn_up.weight", "duplicate"}}, m, size);
    MT_FRESH();
    p = mt_tinfo(m, size, "output.weight", 3);
    mt_put(m, p, 8, mt_get(m, p, 8) + 4096);
    mt_expect_msg(&(mt_expect){"tensor data past the end", 0, {"output.weight", "data"}}, m, size);
    MT_FRESH();
    p = mt_tinfo(m, size, "blk.0.attn_k.weight", 3);
    mt_put(m, p, 8, mt_get(m, p, 8) + 1);
    mt_expect_msg(&(mt_expect){"misaligned tensor offset", 0, {"blk.0.attn_k.weight", "offset", "multiple"}}, m,
                  size);
    MT_FRESH();
    p = mt_tinfo(m, size, "output_norm.weight", 2);
    mt_put(m, p, 4, 4);
    mt_expect_msg(&(mt_expect){"unknown tensor type", 0, {"output_norm.weight", "type", "got 4"}}, m, size);
    MT_FRESH();
    p = mt_tinfo(m, size, "blk.1.attn_q.weight", 0);
    mt_put(m, p, 4, 5);
    mt_expect_msg(&(mt_expect){"n_dims 5", 0, {"blk.1.attn_q.weight", "n_dims"}}, m, size);
    MT_FRESH();
    p = mt_tinfo(m, size, "blk.1.attn_q.weight", 1);
    mt_put(m, p, 8, 0);
    mt_expect_msg(&(mt_expect){"zero dimension", 0, {"blk.1.attn_q.weight", "ne[0]"}}, m, size);
    MT_FRESH();
    p = mt_tinfo(m, size, "blk.0.attn_v.weight", 1); /* Q8_0: ne[0] must be a multiple of 32 */
    mt_put(m, p, 8, 31);
    mt_expect_msg(&(mt_expect){"row not a block multiple", 0, {"blk.0.attn_v.weight", "multiple of 32"}}, m, size);
    MT_FRESH();
    p = mt_tinfo(m, size, "token_embd.weight", 1);
    mt_put(m, p + 8, 8, 1ull << 62);
    mt_expect_msg(&(mt_expect){"element count overflow", 0, {"token_embd.weight", "shape"}}, m, size);

    /* files the writer makes on purpose */
    mt_spec sp;
    uint8_t *b2;
    size_t n2;
#define MT_BUILD(field_init, exp)                                                   \
    do {                                                                            \
        memset(&sp, 0, sizeof sp);                                                  \
        field_init;                                                                 \
        if (mt_build(&sp, tmp) != 0 || !(b2 = mt_read(tmp, &n2))) {                 \
            MT_CHECK(0, "cannot build %s", (exp).what);                            \
            break;                                                                  \
        }                                                                           \
        mt_expect_msg(&(exp), b2, n2);                                              \
        free(b2);                                                                   \
    } while (0)

    /* make the second dup key equal to the first in the file bytes */
    memset(&sp, 0, sizeof sp);
    sp.dup_keys = 1;
    if (mt_build(&sp, tmp) == 0 && (b2 = mt_read(tmp, &n2))) {
        p = mt_find_str(b2, n2, "dup.key.b");
        b2[p + 8 + 8] = 'a';
        mt_expect_msg(&(mt_expect){"duplicate key", 0, {"dup.key.a", "duplicate"}}, b2, n2);
        free(b2);
    }
    {
        /* general.alignment: not a power of two (patched after writing 32) */
        gguf_writer *w = gguf_writer_init();
        char err[256];
        int64_t ne[1] = {8};
        static const float z[8];
        gguf_writer_set_u32(w, "general.alignment", 32);
        gguf_writer_add_tensor(w, "t", GGML_TYPE_F32, 1, ne, z, sizeof z);
        if (gguf_writer_write(w, tmp, err, sizeof err) == 0 && (b2 = mt_read(tmp, &n2))) {
            p = mt_find_str(b2, n2, "general.alignment");
            mt_put(b2, p + 8 + 17 + 4, 4, 48);
            mt_expect_msg(&(mt_expect){"alignment 48", 0, {"general.alignment", "power of two", "48"}}, b2, n2);
            mt_put(b2, p + 8 + 17, 4, GGUF_TYPE_INT32);
            mt_put(b2, p + 8 + 17 + 4, 4, 32);
            mt_expect_msg(&(mt_expect){"alignment of type INT32", 0, {"general.alignment", "UINT32", "INT32"}}, b2,
                          n2);
            free(b2);
        }
        gguf_writer_free(w);
    }
    MT_BUILD(sp.skip_tensor = "blk.1.attn_k.weight",
             ((mt_expect){"missing tensor", 1, {"blk.1.attn_k.weight"}}));
    MT_BUILD(sp.skip_tensor = "token_embd.weight", ((mt_expect){"missing token_embd", 1, {"token_embd.weight"}}));
    MT_BUILD((sp.shape_tensor = "blk.0.ffn_down.weight", sp.shape_kind = 1),
             ((mt_expect){"wrong tensor shape", 1, {"blk.0.ffn_down.weight", "shape"}}));
    MT_BUILD((sp.shape_tensor = "blk.1.attn_q_norm.weight", sp.shape_kind = 0),
             ((mt_expect){"wrong norm length", 1, {"blk.1.attn_q_norm.weight"}}));
    MT_BUILD((sp.type_tensor = "blk.0.attn_q.weight", sp.new_type = GGML_TYPE_Q4_0),
             ((mt_expect){"unsupported weight type", 1, {"blk.0.attn_q.weight", "Q4_0"}}));
    MT_BUILD(sp.skip_key = "qwen3.block_count", ((mt_expect){"missing key", 1, {"qwen3.block_count"}}));
    MT_BUILD((sp.bad_key = "qwen3.embedding_length", sp.bad_kind = 0),
             ((mt_expect){"key of the wrong type", 1, {"qwen3.embedding_length"}}));
    MT_BUILD((sp.bad_key = "qwen3.attention.head_count", sp.bad_kind = 7),
             ((mt_expect){"zero head count", 1, {"qwen3.attention.head_count"}}));
    MT_BUILD(sp.arch = "llama", ((mt_expect){"wrong architecture", 1, {"general.architecture", "llama"}}));
    MT_BUILD(sp.skip_key = "tokenizer.ggml.tokens",
             ((mt_expect){"missing vocabulary", 1, {"tokenizer.ggml.tokens"}}));
#undef MT_BUILD
#undef MT_FRESH
    free(m);
}

/* ------------------------------------------------- real-size model file */

static void mt_real_model(const char *mkmodel, const char *dir)
{
#ifdef QUARRY_HAVE_MODEL_LOAD
    char out[700], cmd[2048];
    snprintf(out, sizeof out, "%s/test_gguf_mutate_%ld_real.gguf", dir, (long)getpid());
    snprintf(cmd, sizeof cmd, "'%s' --out '%s' --type Q8_0 --untied --seed 7 --name mutate-real", mkmodel, out);
    printf("real vocabulary: %s\n", cmd);
    fflush(stdout);
    int st = system(cmd);
    MT_CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "quarry-mkmodel failed (status %d)", st);
    if (st != 0) return;
    size_t size;
    uint8_t *buf = mt_read(out, &size);
    MT_CHECK(buf != NULL, "read %s", out);
    if (!buf) return;

    qe_model *m = NULL;
    char err[1024];
    int rc = qe_model_load(out, qe_model_default_params(), &m, err, sizeof err);
    MT_CHECK(rc == 0, "mkmodel output must load: %s", err);
    if (rc == 0) {
        const qe_model_info *in = qe_model_get_info(m);
        const qe_vocab_info *vi = qe_model_vocab(m);
        MT_CHECK(in->n_layer == 2 && in->n_embd == 64 && in->n_head == 4 && in->n_head_kv == 2 &&
                     in->head_dim == 32 && in->n_ff == 96 && in->n_vocab == 151936 && !in->tied_output &&
                     in->weight_type == GGML_TYPE_Q8_0 && in->has_chat_template && in->n_ctx_train == 40960,
                 "mkmodel info: %d layers embd %d heads %d/%d hd %d ff %d vocab %d tied %d type %s", in->n_layer,
                 in->n_embd, in->n_head, in->n_head_kv, in->head_dim, in->n_ff, in->n_vocab, in->tied_output,
                 in->weight_type_name);
        /* n_vocab: the tokenizer's 151669, or all 151936 rows if padding counts */
        MT_CHECK((vi->n_vocab == 151669 || vi->n_vocab == 151936) && vi->im_end == 151645 && vi->eos == 151643 && vi->think == 151667,
                 "mkmodel vocab: n %d im_end %d eos %d think %d", vi->n_vocab, vi->im_end, vi->eos, vi->think);
        qe_model_free(m);
    }
    /* a few cuts through the big tokenizer arrays and the data */
    gguf_file *f;
    size_t data_off = 0;
    if (gguf_open_mem(buf, size, "real", &f, err, sizeof err) == 0) {
        data_off = (size_t)gguf_data_offset(f);
        gguf_close(f);
    }
    snprintf(mt_path, sizeof mt_path, "%s", out);
    for (int i = 0; i < 6; i++) {
        size_t cut = i < 4 ? (size_t)mt_below(data_off) : data_off + (size_t)mt_below(size - data_off);
        char e1[1024], e2[1024];
        int orc = mt_open_check(buf, cut, e1, sizeof e1, "real cut");
        MT_CHECK(orc != 0, "real file cut at %zu accepted", cut);
        mt_load_check(buf, cut, orc, e1, e2, sizeof e2, "real cut");
    }
    remove(out);
    free(buf);
#else
    (void)mkmodel; (void)dir;
    printf("real vocabulary: skipped (needs qe_model_load)\n");
#endif
}

/* ----------------------------------------------------------------- main */

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc < 2) {
        fprintf(stderr, "usage: test_gguf_mutate DIR [N [SEED [QUARRY_MKMODEL]]]\n");
        return 2;
    }
    const char *dir = argv[1];
    long n_mut = argc > 2 ? strtol(argv[2], NULL, 10) : 5000;
    uint64_t seed = argc > 3 ? strtoull(argv[3], NULL, 10) : 12345;
    const char *mkmodel = argc > 4 ? argv[4] : NULL;
    mt_state = seed;
#ifdef QUARRY_HAVE_MODEL_LOAD
    mt_have_loader = 1;
#endif
    printf("gguf mutation test: %ld mutations, seed %llu, qe_model_load %s\n", n_mut, (unsigned long long)seed,
           mt_have_loader ? "on" : "OFF (engine/model.c missing)");

    char base_path[700], tmp_path[700];
    snprintf(base_path, sizeof base_path, "%s/test_gguf_mutate_%ld_base.gguf", dir, (long)getpid());
    snprintf(tmp_path, sizeof tmp_path, "%s/test_gguf_mutate_%ld_tmp.gguf", dir, (long)getpid());
    snprintf(mt_path, sizeof mt_path, "%s/test_gguf_mutate_%ld.gguf", dir, (long)getpid());

    mt_vocab_init();
    mt_tensors_init();
    mt_spec none;
    memset(&none, 0, sizeof none);
    if (mt_build(&none, base_path) != 0) {
        fprintf(stderr, "FAIL: cannot build the base model %s\n", base_path);
        return 1;
    }
    size_t size;
    uint8_t *base = mt_read(base_path, &size);
    if (!base) {
        fprintf(stderr, "FAIL: cannot read %s\n", base_path);
        return 1;
    }
    mt_walk(base);

    /* the unmutated base must open and load */
    char err[1024], err2[1024];
    gguf_file *f;
    int rc = gguf_open_mem(base, size, "base", &f, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "FAIL: base model does not open: %s\n", err);
        return 1;
    }
    size_t data_off = (size_t)gguf_data_offset(f);
    const gguf_tensor *last = gguf_tensor_at(f, gguf_n_tensors(f) - 1);
    size_t last_end = (size_t)((const uint8_t *)last->data - base) + (size_t)last->nbytes;
    gguf_close(f);
    printf("base model: %zu bytes, metadata %zu bytes, %d structural fields\n", size, mt_meta_end, mt_n_fields);
#ifdef QUARRY_HAVE_MODEL_LOAD
    {
        qe_model *m = NULL;
        rc = qe_model_load(base_path, qe_model_default_params(), &m, err, sizeof err);
        MT_CHECK(rc == 0, "base model must load with qe_model_load: %s", err);
        if (rc == 0) qe_model_free(m);
    }
#endif

    mt_targeted(base, size, data_off, last_end, tmp_path);
    if (mkmodel) mt_real_model(mkmodel, dir);
    snprintf(mt_path, sizeof mt_path, "%s/test_gguf_mutate_%ld.gguf", dir, (long)getpid());

    /* random mutations */
    size_t cap = size + 8192;
    uint8_t *m = malloc(cap);
    if (!m) abort();
    long acc[OP_COUNT] = {0}, tot[OP_COUNT] = {0}, load_acc[OP_COUNT] = {0};
    int fails_before = mt_failures;
    double t0 = (double)clock() / CLOCKS_PER_SEC;
    for (long it = 0; it < n_mut; it++) {
        int op = (int)mt_below(OP_COUNT);
        size_t n = size;
        const uint8_t *buf = m;
        uint8_t *rebuilt = NULL;
        memcpy(m, base, size);
        if (op == OP_REBUILD) {
            mt_spec sp;
            mt_random_spec(&sp);
            if (mt_build(&sp, tmp_path) != 0 || !(rebuilt = mt_read(tmp_path, &n))) {
                MT_CHECK(0, "iteration %ld: rebuild failed", it);
                continue;
            }
            buf = rebuilt;
        } else if (op == OP_COMBO) {
            for (int k = 2 + (int)mt_below(3); k > 0; k--) {
                int sub = OP_FLIP + (int)mt_below(OP_DUPNAME - OP_FLIP + 1);
                mt_mutate(sub, m, &n, cap, data_off);
            }
            if (mt_below(4) == 0) mt_mutate(OP_TRUNC, m, &n, cap, data_off);
        } else {
            mt_mutate(op, m, &n, cap, data_off);
        }
        char what[64];
        snprintf(what, sizeof what, "iteration %ld (%s)", it, mt_op_names[op]);
        int orc = mt_open_check(buf, n, err, sizeof err, what);
        tot[op]++;
        if (orc == 0) acc[op]++;
        if (mt_load_check(buf, n, orc, err, err2, sizeof err2, what) == 0 && orc == 0) load_acc[op]++;
        free(rebuilt);
        if (mt_failures - fails_before > 20) {
            fprintf(stderr, "too many failures, stopping (seed %llu, iteration %ld)\n", (unsigned long long)seed,
                    it);
            break;
        }
    }
    double t1 = (double)clock() / CLOCKS_PER_SEC;
    printf("random mutations (%.1f s cpu): op: tried / reader accepted%s\n", t1 - t0,
           mt_have_loader ? " / model loaded" : "");
    for (int op = 0; op < OP_COUNT; op++) {
        if (mt_have_loader)
            printf("  %-18s %5ld / %5ld / %5ld\n", mt_op_names[op], tot[op], acc[op], load_acc[op]);
        else
            printf("  %-18s %5ld / %5ld\n", mt_op_names[op], tot[op], acc[op]);
    }
    (void)mt_fkind_names;
    (void)mt_loads;
    (void)mt_load_ok;
    remove(mt_path);
    remove(tmp_path);
    if (!getenv("QUARRY_TEST_KEEP")) remove(base_path); /* keep: a fuzzing seed */
    free(m);
    free(base);
    free(mt_fields);
    printf("%s: %d failures\n", mt_failures ? "FAILED" : "passed", mt_failures);
    return mt_failures ? 1 : 0;
}
