/*
 * model.c - binds a Qwen3 GGUF file to qe_model: reads and checks the
 * qwen3.* hyperparameters, finds every tensor and checks its type and
 * shape against them, builds the tokenizer. Every failure names the file
 * and the key or tensor with expected vs actual values.
 */
#include "errmsg.h"
#include "model.h"
#include "kernels.h"
#include "quant.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

qe_model_params qe_model_default_params(void)
{
    qe_model_params p = { .n_threads = 0 };
    return p;
}

const char *qe_type_name(int t) { return ggml_type_str(t); }

/* Reads a required positive integer key "qwen3.<name>". */
static int req_u32(const gguf_file *f, const char *name, int max, int *out,
                   char *err, size_t errlen)
{
    char key[128];
    snprintf(key, sizeof key, "qwen3.%s", name);
    uint32_t v;
    int rc = gguf_get_u32(f, key, &v);
    if (rc == -1)
        return qe_fail(err, errlen, QE_EFORMAT, "%s: missing required key %s", gguf_path(f), key);
    if (rc < 0)
        return qe_fail(err, errlen, QE_EFORMAT, "%s: key %s: expected an unsigned integer", gguf_path(f), key);
    if (v == 0 || v > (uint32_t)max)
        return qe_fail(err, errlen, QE_EFORMAT, "%s: key %s: expected 1..%d, got %u",
                       gguf_path(f), key, max, v);
    *out = (int)v;
    return QE_OK;
}

static int opt_f32(const gguf_file *f, const char *key, float def, float lo, float hi,
                   float *out, char *err, size_t errlen)
{
    int rc = gguf_get_f32(f, key, out);
    if (rc == -1) { *out = def; return QE_OK; }
    if (rc < 0)
        return qe_fail(err, errlen, QE_EFORMAT, "%s: key %s: expected a float", gguf_path(f), key);
    if (!(*out >= lo && *out <= hi))
        return qe_fail(err, errlen, QE_EFORMAT, "%s: key %s: expected %g..%g, got %g",
                       gguf_path(f), key, lo, hi, *out);
    return QE_OK;
}

static int is_matrix_type(int t)
{
    return t == GGML_TYPE_F32 || t == GGML_TYPE_F16 || t == GGML_TYPE_BF16 || t == GGML_TYPE_Q8_0 ||
           t == GGML_TYPE_Q4_K || t == GGML_TYPE_Q6_K;
}

/* Finds tensor `name` with shape (ne0, ne1) (ne1 = 0 for a vector, which
 * must be F32). Matrices may be any supported weight type. */
static int bind(const gguf_file *f, const char *name, int64_t ne0, int64_t ne1,
                const gguf_tensor **out, char *err, size_t errlen)
{
    const gguf_tensor *t = gguf_find_tensor(f, name);
    if (!t)
        return qe_fail(err, errlen, QE_EFORMAT, "%s: missing tensor %s", gguf_path(f), name);
    int want_dims = ne1 ? 2 : 1;
    int64_t t1 = t->n_dims > 1 ? t->ne[1] : 0;
    int extra = 0;
    for (int i = 2; i < t->n_dims; i++) extra |= t->ne[i] != 1;
    if (t->ne[0] != ne0 || t1 != ne1 || extra || (t->n_dims != want_dims && t->n_dims < 3)) {
        char got[96];
        int k = snprintf(got, sizeof got, "[%lld", (long long)t->ne[0]);
        for (int i = 1; i < t->n_dims && k < (int)sizeof got; i++)
            k += snprintf(got + k, sizeof got - (size_t)k, ", %lld", (long long)t->ne[i]);
        snprintf(got + (k < (int)sizeof got ? k : (int)sizeof got - 2), 2, "]");
        if (ne1)
            return qe_fail(err, errlen, QE_EFORMAT, "%s: tensor %s: expected shape [%lld, %lld], got %s",
                           gguf_path(f), name, (long long)ne0, (long long)ne1, got);
        return qe_fail(err, errlen, QE_EFORMAT, "%s: tensor %s: expected shape [%lld], got %s",
                       gguf_path(f), name, (long long)ne0, got);
    }
    if (ne1 == 0 && t->type != GGML_TYPE_F32)
        return qe_fail(err, errlen, QE_EFORMAT, "%s: tensor %s: expected type F32, got %s",
                       gguf_path(f), name, ggml_type_str(t->type));
    if (ne1 != 0 && !is_matrix_type(t->type))
        return qe_fail(err, errlen, QE_EFORMAT,
                       "%s: tensor %s: type %s is not supported (supported: F32, F16, BF16, Q8_0, Q4_K, Q6_K)",
                       gguf_path(f), name, ggml_type_str(t->type));
    *out = t;
    return QE_OK;
}

static int bind_vec(const gguf_file *f, const char *name, int64_t n, const float **out,
                    char *err, size_t errlen)
{
    const gguf_tensor *t;
    int rc = bind(f, name, n, 0, &t, err, errlen);
    if (rc) return rc;
    /* The mapping is page aligned and tensor data aligned to the file's
     * alignment (>= 4, checked at load), so F32 vectors can be used in place. */
    *out = t->data;
    return QE_OK;
}

static int bind_mat(const gguf_file *f, const char *name, int64_t n, int64_t d, qe_mat *m,
                    char *err, size_t errlen)
{
    const gguf_tensor *t;
    int rc = bind(f, name, n, d, &t, err, errlen);
    if (rc) return rc;
    m->data = t->data;
    m->type = t->type;
    m->n = (int)n;
    m->d = (int)d;
    m->row_bytes = qe_row_size(t->type, n);
    return QE_OK;
}

static char *dup_str(const char *s, size_t n)
{
    char *r = malloc(n + 1);
    if (r) { memcpy(r, s, n); r[n] = 0; }
    return r;
}

/* llama.cpp's name for a file's quantization (llama_ftype in
 * general.file_type): a Q4_K_M file is mostly Q4_K with Q6_K in chosen
 * tensors, so the dominant type alone would call it "Q4_K". The name is
 * used only when its main type is the file's dominant one, so a key that
 * disagrees with the tensors is not believed. */
static const char *file_type_name(const gguf_file *f, int dominant)
{
    static const struct { uint32_t ftype; int type; const char *name; } names[] = {
        { 0, GGML_TYPE_F32, "F32" },      { 1, GGML_TYPE_F16, "F16" },      { 7, GGML_TYPE_Q8_0, "Q8_0" },
        { 14, GGML_TYPE_Q4_K, "Q4_K_S" }, { 15, GGML_TYPE_Q4_K, "Q4_K_M" }, { 18, GGML_TYPE_Q6_K, "Q6_K" },
        { 32, GGML_TYPE_BF16, "BF16" },
    };
    uint32_t ft;
    if (gguf_get_u32(f, "general.file_type", &ft) == 0)
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            if (names[i].ftype == ft && names[i].type == dominant) return names[i].name;
    return ggml_type_str(dominant);
}

int qe_model_from_gguf(gguf_file *f, qe_model **out, char *err, size_t errlen)
{
    int rc;
    qe_model *m = calloc(1, sizeof *m);
    if (!m) { gguf_close(f); return qe_fail(err, errlen, QE_ENOMEM, "out of memory"); }
    m->gguf = f;
    const char *path = gguf_path(f);

    const char *arch; size_t arch_len;
    if (gguf_get_str(f, "general.architecture", &arch, &arch_len) != 0) {
        rc = qe_fail(err, errlen, QE_EFORMAT, "%s: missing string key general.architecture", path);
        goto fail;
    }
    if (arch_len != 5 || memcmp(arch, "qwen3", 5) != 0) {
        rc = qe_fail(err, errlen, QE_EFORMAT, "%s: general.architecture: expected \"qwen3\", got \"%.*s\"",
                     path, (int)(arch_len > 64 ? 64 : arch_len), arch);
        goto fail;
    }
    qe_model_info *in = &m->info;
    in->arch = "qwen3";
    const char *nm; size_t nm_len;
    m->name = gguf_get_str(f, "general.name", &nm, &nm_len) == 0 ? dup_str(nm, nm_len) : dup_str("", 0);
    if (!m->name) { rc = qe_fail(err, errlen, QE_ENOMEM, "out of memory"); goto fail; }
    in->name = m->name;

    if ((rc = req_u32(f, "block_count", 4096, &in->n_layer, err, errlen)) ||
        (rc = req_u32(f, "embedding_length", 1 << 16, &in->n_embd, err, errlen)) ||
        (rc = req_u32(f, "feed_forward_length", 1 << 18, &in->n_ff, err, errlen)) ||
        (rc = req_u32(f, "attention.head_count", 1024, &in->n_head, err, errlen)) ||
        (rc = req_u32(f, "attention.head_count_kv", 1024, &in->n_head_kv, err, errlen)) ||
        (rc = req_u32(f, "context_length", 1 << 24, &in->n_ctx_train, err, errlen)))
        goto fail;
    /* head_dim comes from key_length: it is not n_embd / n_head in Qwen3
     * (0.6B: 1024 embd, 16 heads of 128). Older files may lack it. */
    if (gguf_find_key(f, "qwen3.attention.key_length") >= 0) {
        if ((rc = req_u32(f, "attention.key_length", 1024, &in->head_dim, err, errlen))) goto fail;
    } else {
        in->head_dim = in->n_embd / in->n_head;
    }
    int vlen = in->head_dim;
    if (gguf_find_key(f, "qwen3.attention.value_length") >= 0 &&
        (rc = req_u32(f, "attention.value_length", 1024, &vlen, err, errlen)))
        goto fail;
    if (vlen != in->head_dim) {
        rc = qe_fail(err, errlen, QE_EFORMAT, "%s: qwen3.attention.value_length: expected %d (= key_length), got %d",
                     path, in->head_dim, vlen);
        goto fail;
    }
    if (in->head_dim % 2) {
        rc = qe_fail(err, errlen, QE_EFORMAT, "%s: qwen3.attention.key_length: expected an even head size, got %d",
                     path, in->head_dim);
        goto fail;
    }
    if (in->n_head % in->n_head_kv) {
        rc = qe_fail(err, errlen, QE_EFORMAT,
                     "%s: qwen3.attention.head_count (%d) is not a multiple of head_count_kv (%d)",
                     path, in->n_head, in->n_head_kv);
        goto fail;
    }
    if ((rc = opt_f32(f, "qwen3.rope.freq_base", 1000000.0f, 1.0f, 1e12f, &in->rope_freq_base, err, errlen)) ||
        (rc = opt_f32(f, "qwen3.attention.layer_norm_rms_epsilon", 1e-6f, 0.0f, 1.0f, &in->rms_eps, err, errlen)))
        goto fail;

    /* F32 vectors are used in place: their data must be 4-byte aligned,
     * which the file's alignment (a power of two) guarantees from 4 up */
    if (gguf_alignment(f) < 4) {
        rc = qe_fail(err, errlen, QE_EFORMAT, "%s: general.alignment: expected at least 4, got %u", path,
                     (unsigned)gguf_alignment(f));
        goto fail;
    }
    /* tokenizer first: the embedding must have at least its rows */
    if ((rc = tok_vocab_init(f, &m->vocab, err, errlen)))
        goto fail;
    const gguf_tensor *te = gguf_find_tensor(f, "token_embd.weight");
    if (!te || te->n_dims != 2) {
        rc = qe_fail(err, errlen, QE_EFORMAT, "%s: %s tensor token_embd.weight", path,
                     te ? "expected a 2-D" : "missing");
        goto fail;
    }
    if (te->ne[1] < tok_n_vocab(m->vocab) || te->ne[1] > (1 << 24)) {
        rc = qe_fail(err, errlen, QE_EFORMAT,
                     "%s: tensor token_embd.weight: expected %d..%d rows (the tokenizer has %d tokens), got %lld",
                     path, tok_n_vocab(m->vocab), 1 << 24, tok_n_vocab(m->vocab), (long long)te->ne[1]);
        goto fail;
    }
    in->n_vocab = (int)te->ne[1];
    int E = in->n_embd, Q = in->n_head * in->head_dim, KV = in->n_head_kv * in->head_dim, F = in->n_ff;
    if ((rc = bind_mat(f, "token_embd.weight", E, in->n_vocab, &m->tok_embd, err, errlen)) ||
        (rc = bind_vec(f, "output_norm.weight", E, &m->output_norm, err, errlen)))
        goto fail;
    if (gguf_find_tensor(f, "output.weight")) {
        if ((rc = bind_mat(f, "output.weight", E, in->n_vocab, &m->output, err, errlen))) goto fail;
    } else {
        m->output = m->tok_embd;
        in->tied_output = 1;
    }
    m->layers = calloc((size_t)in->n_layer, sizeof *m->layers);
    if (!m->layers) { rc = qe_fail(err, errlen, QE_ENOMEM, "out of memory"); goto fail; }
    int type_count[GGML_TYPE_COUNT] = {0};
    uint64_t n_params = (uint64_t)E * in->n_vocab * (in->tied_output ? 1 : 2) + E;
    for (int l = 0; l < in->n_layer; l++) {
        qe_layer *L = &m->layers[l];
        char nm2[96];
#define T(suffix) (snprintf(nm2, sizeof nm2, "blk.%d." suffix, l), nm2)
        if ((rc = bind_vec(f, T("attn_norm.weight"), E, &L->attn_norm, err, errlen)) ||
            (rc = bind_mat(f, T("attn_q.weight"), E, Q, &L->wq, err, errlen)) ||
            (rc = bind_mat(f, T("attn_k.weight"), E, KV, &L->wk, err, errlen)) ||
            (rc = bind_mat(f, T("attn_v.weight"), E, KV, &L->wv, err, errlen)) ||
            (rc = bind_mat(f, T("attn_output.weight"), Q, E, &L->wo, err, errlen)) ||
            (rc = bind_vec(f, T("attn_q_norm.weight"), in->head_dim, &L->q_norm, err, errlen)) ||
            (rc = bind_vec(f, T("attn_k_norm.weight"), in->head_dim, &L->k_norm, err, errlen)) ||
            (rc = bind_vec(f, T("ffn_norm.weight"), E, &L->ffn_norm, err, errlen)) ||
            (rc = bind_mat(f, T("ffn_gate.weight"), E, F, &L->w_gate, err, errlen)) ||
            (rc = bind_mat(f, T("ffn_up.weight"), E, F, &L->w_up, err, errlen)) ||
            (rc = bind_mat(f, T("ffn_down.weight"), F, E, &L->w_down, err, errlen)))
            goto fail;
#undef T
        type_count[L->wq.type]++;
        type_count[L->w_gate.type]++;
        type_count[L->w_down.type]++;
        n_params += (uint64_t)E * (2 * Q + 2 * KV + 3 * F + 2) + 2 * in->head_dim;
        const qe_mat *ms[] = { &L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down };
        for (int k = 0; k < 7; k++) in->decode_bytes += (uint64_t)ms[k]->row_bytes * ms[k]->d;
    }
    /* the output matrix is read whole per token; the embedding one row */
    in->decode_bytes += (uint64_t)m->output.row_bytes * m->output.d;
    in->weight_type = m->tok_embd.type;
    for (int t = 0; t < GGML_TYPE_COUNT; t++)
        if (type_count[t] > type_count[in->weight_type]) in->weight_type = t;
    in->weight_type_name = ggml_type_str(in->weight_type);
    in->file_type_name = file_type_name(f, in->weight_type);
    in->n_params = n_params;
    in->file_size = gguf_file_size(f);

    const char *tmpl; size_t tmpl_len;
    if (gguf_get_str(f, "tokenizer.chat_template", &tmpl, &tmpl_len) == 0) {
        if (!(m->chat_template = dup_str(tmpl, tmpl_len))) {
            rc = qe_fail(err, errlen, QE_ENOMEM, "out of memory");
            goto fail;
        }
        in->has_chat_template = 1;
    }

    qe_vocab_info *vi = &m->vocab_info;
    /* the tokenizer's size: padding rows ("[PAD…]", UNUSED) at the end of
     * the embedding are not tokens anyone can produce */
    vi->n_vocab = tok_n_vocab(m->vocab);
    while (vi->n_vocab > 0 && tok_type(m->vocab, vi->n_vocab - 1) == TOK_TYPE_UNUSED) vi->n_vocab--;
#define FIND(s) tok_find(m->vocab, s, strlen(s))
    vi->eos = FIND("<|endoftext|>");
    vi->im_start = FIND("<|im_start|>");
    vi->im_end = FIND("<|im_end|>");
    vi->think = FIND("<think>");
    vi->think_end = FIND("</think>");
#undef FIND
    kern_init();
    *out = m;
    return QE_OK;
fail:
    qe_model_free(m);
    return rc;
}

int qe_model_load(const char *path, qe_model_params params, qe_model **out,
                  char *err, size_t errlen)
{
    if (!path || !out)
        return qe_fail(err, errlen, QE_EINVAL, "qe_model_load: no path given");
    gguf_file *f;
    int rc = gguf_open_ex(path, params.weights_in_memory, &f, err, errlen);
    if (rc) return rc;
    if ((rc = qe_model_from_gguf(f, out, err, errlen))) return rc;
    if (!params.file_layout && (rc = qe_model_repack(*out, params.n_threads, params.f32_activations, err, errlen))) {
        qe_model_free(*out);
        *out = NULL;
    }
    return rc;
}

void qe_model_free(qe_model *m)
{
    if (!m) return;
    tok_vocab_free(m->vocab);
    free(m->layers);
    free(m->chat_template);
    free(m->name);
    gguf_close(m->gguf);
    if (m->x16_buf) munmap(m->x16_buf, m->x16_size);
    free(m);
}

const qe_model_info *qe_model_get_info(const qe_model *m) { return &m->info; }
const char *qe_model_chat_template(const qe_model *m) { return m->chat_template; }
const qe_vocab_info *qe_model_vocab(const qe_model *m) { return &m->vocab_info; }

int qe_token_is_stop(const qe_model *m, qe_token t)
{
    return t >= 0 && (t == m->vocab_info.im_end || t == m->vocab_info.eos);
}

/* ------------------------------------------------- tokenizer pass-through */

int qe_tokenize(const qe_model *m, const char *text, size_t len, qe_token *out, int cap)
{
    if (!m || (!text && len) || cap < 0) return QE_EINVAL;
    return tok_encode(m->vocab, text ? text : "", len, out, cap);
}

int qe_token_type(const qe_model *m, qe_token id)
{
    if (!m || id < 0 || id >= m->info.n_vocab) return -1;
    /* rows past the tokenizer (padding of the embedding) are unused */
    return id < tok_n_vocab(m->vocab) ? tok_type(m->vocab, id) : QE_TOKEN_UNUSED;
}

const char *qe_token_bytes(const qe_model *m, qe_token id, size_t *len)
{
    return tok_bytes(m->vocab, id, len);
}

/* The public streaming detokenizer is the tokenizer's own (tok_detok_*);
 * qe_detok is its opaque public name. */
qe_detok *qe_detok_init(const qe_model *m) { return (qe_detok *)tok_detok_init(m->vocab); }
void qe_detok_free(qe_detok *d) { tok_detok_free((tok_detok *)d); }
const char *qe_detok_push(qe_detok *d, qe_token id, size_t *len)
{
    return tok_detok_push((tok_detok *)d, id, len);
}
const char *qe_detok_flush(qe_detok *d, size_t *len) { return tok_detok_flush((tok_detok *)d, len); }
