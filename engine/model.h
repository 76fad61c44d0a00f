/*
 * model.h - the loaded Qwen3 model: hyperparameters read from the GGUF
 * keys, and weight pointers into the read-only mapping of the file.
 * Internal to the engine (the public API is qengine.h).
 */
#ifndef QE_MODEL_H
#define QE_MODEL_H

#include "gguf.h"
#include "qengine.h"
#include "tokenizer.h"

#include <stddef.h>

/* A weight matrix: d rows of n elements of `type`, row_bytes apart. */
typedef struct {
    const void *data;
    int type;
    int n;            /* input dim (ggml ne[0]) */
    int d;            /* output dim (ggml ne[1]) */
    size_t row_bytes;
    int x16;          /* data is in the 16-row layout of kernels_x16.c */
    int q16;          /* x16, and products take Q16 activations (kernels_x16q.c) */
} qe_mat;

typedef struct {
    const float *attn_norm;   /* (n_embd) */
    qe_mat wq;                /* (n_head * head_dim, n_embd) */
    qe_mat wk;                /* (n_head_kv * head_dim, n_embd) */
    qe_mat wv;                /* (n_head_kv * head_dim, n_embd) */
    qe_mat wo;                /* (n_embd, n_head * head_dim) */
    const float *q_norm;      /* (head_dim) per-head RMSNorm before RoPE */
    const float *k_norm;      /* (head_dim) */
    const float *ffn_norm;    /* (n_embd) */
    qe_mat w_gate;            /* (n_ff, n_embd) */
    qe_mat w_up;              /* (n_ff, n_embd) */
    qe_mat w_down;            /* (n_embd, n_ff) */
} qe_layer;

struct qe_model {
    gguf_file *gguf;
    qe_model_info info;
    qe_vocab_info vocab_info;
    tok_vocab *vocab;
    char *chat_template;      /* NUL-terminated copy, or NULL */
    char *name;
    qe_mat tok_embd;          /* (n_vocab, n_embd): row t is token t */
    qe_mat output;            /* (n_vocab, n_embd); == tok_embd when tied */
    const float *output_norm; /* (n_embd) */
    qe_layer *layers;         /* n_layer */
    void *x16_buf;            /* the repacked matrices (repack.c), or NULL */
    size_t x16_size;
};

/* Loads from an already opened GGUF (takes ownership of f on success and
 * on failure). Used by qe_model_load and by tests on in-memory files. */
int qe_model_from_gguf(gguf_file *f, qe_model **out, char *err, size_t errlen);

/* Moves the Q8_0 matrices that gain from it into the 16-row layout of
 * kernels_x16.c, packing on n_threads threads (<= 0: all cores). Without
 * the memory for it the file's layout stays: returns QE_OK either way
 * (QE_ENOMEM only when even its small lists cannot be allocated). */
int qe_model_repack(qe_model *m, int n_threads, int f32_activations, char *err, size_t errlen);

#endif
