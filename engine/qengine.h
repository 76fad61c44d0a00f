/*
 * qengine.h - Quarry's Qwen3 inference engine: the one public header.
 *
 * Plain C11. Every type is opaque; parameters come as structs returned by
 * *_default_params() and passed by value.
 *
 * Conventions
 *  - Return codes: QE_OK (0) on success, a negative QE_E* code on failure.
 *    Functions that can fail take `char *err, size_t errlen` and write a
 *    human-readable, NUL-terminated message there (naming the file, key or
 *    tensor and the expected vs actual value). err may be NULL.
 *  - Ownership: an object returned through `T **out` belongs to the caller
 *    and is released with the matching *_free(). Pointers returned by
 *    getters (const char *, const float *) are borrowed: valid until the
 *    owning object is freed or, for logits, until the next qe_decode().
 *  - Thread safety: a qe_model is immutable after load and may be shared by
 *    many contexts and threads. A qe_context is used by one thread at a time.
 */
#ifndef QENGINE_H
#define QENGINE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int32_t qe_token;
typedef int32_t qe_pos;
typedef int32_t qe_seq;

enum qe_status {
    QE_OK = 0,
    QE_NO_KV = 1,        /* qe_decode: no free KV block; nothing was changed */
    QE_EINVAL = -1,      /* bad argument */
    QE_ENOMEM = -2,      /* allocation failed */
    QE_EIO = -3,         /* file could not be opened/read/mapped */
    QE_EFORMAT = -4,     /* file content is malformed or unsupported */
    QE_ERANGE = -5,      /* a value is out of range (token id, position, size) */
};

/* ------------------------------------------------------------------ model */

typedef struct qe_model qe_model;

typedef struct {
    int n_threads;   /* worker threads for load-time work; <=0: all cores */
    int weights_in_memory;  /* 1: read the weights into private memory on huge
                               pages (decode runs up to 1.5x faster than from a
                               4 KiB-page file mapping; costs the file's size in
                               private memory per process). 0 (default): map the
                               file, shared through the page cache. */
    int file_layout; /* 1: keep every matrix as the file stores it. 0 (default):
                        on AVX-512 CPUs F16, Q8_0, Q4_K and Q6_K matrices are
                        repacked 16 rows at a time (kernels_x16.c): batched
                        decode of 8 sequences runs 1.3x (Q4_K_M) to 1.5x
                        (Q8_0) faster, one sequence 1.1x (Q4_K_M), 1.2x
                        (Q8_0) or the same (F16). The matrices then take
                        their size in private memory and the file's pages
                        are released; packing adds about a second per GB to
                        loading. The environment variable QUARRY_NO_X16
                        does the same as 1. */
    int f32_activations; /* 1: X16 products take F32 activations. 0 (default):
                        where the CPU has AVX-512 VNNI, the Q8_0, Q4_K and
                        Q6_K products round each block of 32 activations to
                        16-bit integers (kernels_x16q.c: within 1/65534 of
                        the block's largest value, where llama.cpp rounds to
                        8 bits) and run on integer dot products: batched
                        decode and prompts 1.4-1.7x faster. The environment
                        variable QUARRY_F32_ACT does the same as 1. */
} qe_model_params;

qe_model_params qe_model_default_params(void);

/* Maps and validates a Qwen3 GGUF file. On success *out owns the mapping.
 * Returns QE_OK, QE_EIO (cannot open/map), QE_EFORMAT (malformed, wrong
 * architecture, missing key/tensor, wrong shape, unsupported type). */
int qe_model_load(const char *path, qe_model_params params, qe_model **out,
                  char *err, size_t errlen);
void qe_model_free(qe_model *model);

typedef struct {
    const char *arch;        /* "qwen3" */
    const char *name;        /* general.name or "" */
    int n_layer, n_embd, n_head, n_head_kv, head_dim, n_ff;
    int n_vocab;             /* rows of token_embd (may exceed tokenizer vocab) */
    int n_ctx_train;
    float rope_freq_base, rms_eps;
    int tied_output;         /* 1: output.weight absent, token_embd reused */
    int weight_type;         /* dominant ggml type of the layer matrices */
    const char *weight_type_name;
    uint64_t n_params;
    uint64_t file_size;
    int has_chat_template;
    uint64_t decode_bytes;   /* weight bytes one decode step reads (layer and
                                output matrices; one embedding row) */
    const char *file_type_name; /* the file's quantization as llama.cpp names it
                                ("Q4_K_M", "Q8_0", ...) from general.file_type
                                when the file's types agree with it, else
                                weight_type_name */
    int n_x16;               /* matrices repacked in the X16 layout at load
                                (qe_model_params.file_layout); 0: every matrix
                                as the file stores it */
    int n_q16;               /* of those, matrices whose products take 16-bit
                                integer activations (f32_activations) */
} qe_model_info;

/* Borrowed; valid for the model's lifetime. */
const qe_model_info *qe_model_get_info(const qe_model *model);
/* Name of a ggml tensor type ("F32", "Q8_0", ...) or "?" */
const char *qe_type_name(int ggml_type);
/* Chat template string from the file, or NULL. Borrowed. */
const char *qe_model_chat_template(const qe_model *model);

/* -------------------------------------------------------------- tokenizer */

/* Special ids of the vocabulary (-1 where the vocabulary lacks one). */
typedef struct {
    qe_token eos;          /* <|endoftext|> */
    qe_token im_start;     /* <|im_start|> */
    qe_token im_end;       /* <|im_end|> */
    qe_token think;        /* <think> */
    qe_token think_end;    /* </think> */
    int n_vocab;           /* tokenizer vocabulary size (incl. added tokens) */
} qe_vocab_info;

const qe_vocab_info *qe_model_vocab(const qe_model *model);

/* Tokenizes UTF-8 text as Qwen3's HF tokenizer does (NFC, added/special
 * tokens matched literally first, Qwen2 pre-tokenizer, byte-level BPE).
 * Ill-formed UTF-8 is never an error: each ill-formed piece becomes U+FFFD
 * first, as the text HF's tokenizer receives from Python or JS would.
 * Writes at most cap ids to out. Returns the number of ids (which may exceed
 * cap: then call again with a larger buffer), or a negative QE_E* code. */
int qe_tokenize(const qe_model *model, const char *text, size_t len,
                qe_token *out, int cap);

/* The raw bytes a token stands for (after byte-level decoding); special
 * tokens give their text, e.g. "<|im_end|>". Borrowed; NULL if id is out of
 * range. *len receives the byte count. */
const char *qe_token_bytes(const qe_model *model, qe_token id, size_t *len);

/* What kind of token an id is. Added tokens (<|im_start|>, <think>, ...)
 * are matched literally in text; UNUSED ids are padding rows past the
 * tokenizer's vocabulary that nothing produces. */
typedef enum {
    QE_TOKEN_NORMAL = 1,        /* byte-level BPE token */
    QE_TOKEN_CONTROL = 3,       /* special added token (<|im_end|>, ...) */
    QE_TOKEN_USER_DEFINED = 4,  /* non-special added token (<think>, ...) */
    QE_TOKEN_UNUSED = 5,        /* padding */
} qe_token_kind;
/* The kind of id, or -1 when out of range. */
int qe_token_type(const qe_model *model, qe_token id);

/* Streaming detokenizer: feeds token ids and emits only complete UTF-8
 * sequences, holding partial bytes back until the next token completes them
 * (or flush, which emits what is held with invalid bytes as U+FFFD). */
typedef struct qe_detok qe_detok;
qe_detok *qe_detok_init(const qe_model *model);
void qe_detok_free(qe_detok *d);
/* Appends the token's text; returns a borrowed pointer to the bytes ready to
 * emit (valid until the next call) and their length in *len. */
const char *qe_detok_push(qe_detok *d, qe_token id, size_t *len);
const char *qe_detok_flush(qe_detok *d, size_t *len);

/* ------------------------------------------------------------ chat template */

typedef enum { QE_ROLE_SYSTEM, QE_ROLE_USER, QE_ROLE_ASSISTANT } qe_role;

typedef struct {
    qe_role role;
    const char *content;
} qe_chat_msg;

/* Renders messages with Qwen3's ChatML template exactly as the official
 * Jinja template does, with add_generation_prompt=true. enable_thinking=0
 * appends "<think>\n\n</think>\n\n" after "<|im_start|>assistant\n".
 * Returns a malloc'd NUL-terminated string the caller frees, or NULL on
 * allocation failure. */
char *qe_chat_render(const qe_chat_msg *msgs, int n_msgs, int enable_thinking);

/* Splits generated text at the last "</think>" into thought and answer
 * (answer has leading newlines stripped, as the template does). Sets
 * offsets into text; if there is no "</think>", thought is empty and the
 * answer is the whole text. */
void qe_chat_split_thinking(const char *text, size_t len,
                            size_t *thought_off, size_t *thought_len,
                            size_t *answer_off, size_t *answer_len);

/* Soft switches: 1 if the last user message ends with "/think", 0 for
 * "/no_think", -1 if neither (Qwen3's documented behaviour: the most recent
 * switch wins). */
int qe_chat_soft_switch(const qe_chat_msg *msgs, int n_msgs);

/* ----------------------------------------------------------------- context */

typedef struct qe_context qe_context;

typedef struct {
    int n_seq_max;      /* concurrent sequences (ids 0..n_seq_max-1) */
    int n_ctx;          /* total KV capacity in tokens over all sequences */
    int n_batch_max;    /* max entries in one qe_decode() batch */
    int kv_block_size;  /* tokens per KV block */
    int n_threads;      /* <=0: all cores */
    int kv_f16;         /* 1: keys and values stored as F16 (half the memory),
                           0: F32 (the default here: exact single streams;
                           the scheduler defaults to F16) */
    int deterministic;  /* 1: logits bitwise identical whatever the batch
                           composition or prefix-cache state (batches of any
                           size use the batch-invariant row kernels instead
                           of the prompt GEMM: prompts run slower) */
} qe_context_params;

qe_context_params qe_context_default_params(void);

/* Allocates every buffer the forward pass needs; qe_decode never allocates.
 * Returns QE_OK, QE_EINVAL, QE_ENOMEM. */
int qe_context_init(const qe_model *model, qe_context_params params,
                    qe_context **out, char *err, size_t errlen);
void qe_context_free(qe_context *ctx);

/* One forward batch: n entries of (token, position, sequence); entries of a
 * sequence must continue it (the first at the sequence's current length,
 * then consecutive). want_logits[i] != 0 asks for the logits of entry i. */
typedef struct {
    int n;
    const qe_token *token;
    const qe_pos *pos;
    const qe_seq *seq;
    const int8_t *want_logits;   /* NULL: logits for the last entry only */
} qe_batch;

/* Returns QE_OK, QE_NO_KV (out of KV blocks; state unchanged),
 * QE_EINVAL / QE_ERANGE (bad token, position or sequence; state unchanged). */
int qe_decode(qe_context *ctx, const qe_batch *batch, char *err, size_t errlen);

/* Logits (n_vocab floats) of batch entry i from the last qe_decode, or NULL
 * if entry i did not ask for them. Borrowed until the next qe_decode. */
const float *qe_get_logits(const qe_context *ctx, int i);

/* Makes dst hold the first n positions of src (n is capped at src's
 * length) without recomputing them: whole KV blocks are shared, copied only
 * when a sequence writes into a shared block. dst is emptied first. This is
 * how a shared prompt prefix is computed once and reused.
 * Returns QE_OK, QE_EINVAL, or QE_NO_KV (no block for the partial copy;
 * dst is then empty). */
int qe_seq_copy(qe_context *ctx, qe_seq src, qe_seq dst, qe_pos n);
/* Free KV blocks (of kv_block_size tokens each). */
int qe_kv_free_blocks(const qe_context *ctx);
/* Bytes of the context's keys and values together (all its blocks,
 * allocated at init); 0 for NULL. */
size_t qe_kv_bytes(const qe_context *ctx);

/* Current length (next position) of a sequence. */
int qe_seq_len(const qe_context *ctx, qe_seq seq);
/* Drops positions [p0, end) of a sequence, freeing whole blocks past p0.
 * p0 = 0 clears it. Returns QE_OK or QE_EINVAL. */
int qe_seq_truncate(qe_context *ctx, qe_seq seq, qe_pos p0);

/* --------------------------------------------------------------- sampling */

/* A sampler chain is a list of stages over the candidate set, each a small
 * function table. Built-in stages implement penalties, top-k, top-p, min-p,
 * temperature and the final pick (greedy or seeded random). Custom stages
 * (e.g. a JSON-Schema constraint) are added with qe_sampler_add. */

typedef struct {
    qe_token id;
    float logit;
    float p;
} qe_cand;

typedef struct {
    qe_cand *data;   /* candidates; stages may reorder and shrink */
    int n;
    int sorted;      /* 1 if data is sorted by logit, descending */
} qe_cands;

typedef struct qe_sampler_stage {
    const char *name;
    /* Filters or rescales candidates. Required. */
    void (*apply)(struct qe_sampler_stage *st, qe_cands *c);
    /* Told of every token appended to the sequence (sampled or forced). */
    void (*accept)(struct qe_sampler_stage *st, qe_token tok);
    void (*reset)(struct qe_sampler_stage *st);
    void (*free)(struct qe_sampler_stage *st);
    void *state;
    /* Optional: tokens that are the only possible continuation now (a
     * constraint's jump-forward), to append without sampling. Writes at
     * most cap ids and returns their count (0: sample as usual). */
    int (*forced)(struct qe_sampler_stage *st, qe_token *out, int cap);
} qe_sampler_stage;

typedef struct {
    float temperature;       /* <= 0: greedy */
    int top_k;               /* <= 0: off */
    float top_p;             /* >= 1: off */
    float min_p;             /* <= 0: off */
    float presence_penalty;  /* 0: off */
    uint64_t seed;
} qe_sampling_params;

/* Qwen's recommended settings: thinking T 0.6, top-p 0.95, top-k 20;
 * non-thinking T 0.7, top-p 0.8, top-k 20; min-p 0. */
qe_sampling_params qe_sampling_default_params(int thinking);

typedef struct qe_sampler qe_sampler;

/* Returns a new sampler or NULL on allocation failure. */
qe_sampler *qe_sampler_init(const qe_model *model, qe_sampling_params params);
/* Adds a stage that runs before temperature/top-k/...: the sampler takes
 * ownership of st (it calls st->free when freed). Returns QE_OK/QE_ENOMEM. */
int qe_sampler_add(qe_sampler *s, qe_sampler_stage *st);
/* Picks the next token from n_vocab logits. Returns the token, or -1 when
 * every candidate was removed by a stage. Does not call accept. */
qe_token qe_sampler_sample(qe_sampler *s, const float *logits);
/* Tells every stage (and the presence penalty) that tok was appended. */
void qe_sampler_accept(qe_sampler *s, qe_token tok);
void qe_sampler_reset(qe_sampler *s);
void qe_sampler_free(qe_sampler *s);
/* Forced continuation from the first stage that has one (see the stage's
 * `forced`); 0 when sampling should proceed. Does not accept them. */
int qe_sampler_forced(qe_sampler *s, qe_token *out, int cap);

/* Greedy pick without a sampler: the index of the first largest of
 * logits[0..n) above -inf (NaNs never win), or -1 if there is none. The
 * same token as a greedy sampler without stages or penalty would pick. */
int qe_argmax(const float *logits, int n);

/* 1 if tok ends generation (<|im_end|>, <|endoftext|>). */
int qe_token_is_stop(const qe_model *model, qe_token tok);

/* -------------------------------------------------------------- scheduler */

/* Continuous batching: requests are admitted as KV space allows, their
 * prompt chunks and decode tokens advance together in one forward batch per
 * step (within a token budget), and finished requests free their slot for
 * waiting ones. Prompts that start with a cached prefix (whole KV blocks)
 * reuse it: only the rest is computed. Running out of KV space evicts
 * unreferenced cached blocks (LRU), then pre-empts the newest request (its
 * KV is dropped and it is re-queued first, keeping its generated tokens and
 * sampler state; outputs do not change). */

typedef struct qe_sched qe_sched;

typedef struct {
    int n_seq_max;         /* requests in flight at once */
    int kv_budget_mib;     /* memory for the KV cache */
    int kv_block_size;     /* tokens per KV block (and prefix-cache unit) */
    int max_batch_tokens;  /* tokens per forward step */
    int n_threads;         /* <= 0: all cores */
    int prefix_cache;      /* 1: share prompt prefixes between requests */
    int kv_f16;            /* 1 (default): F16 keys and values; 0: F32 */
    int deterministic;     /* 1: see qe_context_params.deterministic */
} qe_sched_params;

qe_sched_params qe_sched_default_params(void);

typedef enum {
    QE_STOP_EOS = 0,       /* <|im_end|> or <|endoftext|> */
    QE_STOP_LENGTH,        /* max_tokens reached */
    QE_STOP_CANCELLED,     /* qe_sched_cancel */
    QE_STOP_ERROR,         /* see status/message */
} qe_stop_reason;

typedef struct {
    int64_t id;
    int status;                /* QE_OK or a negative QE_E* code */
    const char *message;       /* error text, "" when ok */
    qe_stop_reason stop;
    const qe_token *tokens;    /* generated tokens (stop token excluded) */
    int n_tokens;
    int n_prompt;
    int cached_tokens;         /* prompt tokens served by the prefix cache */
    int forced_tokens;         /* appended by a stage's jump-forward */
    int preemptions;
} qe_result;

typedef struct {
    const qe_token *prompt;    /* copied at submission */
    int n_prompt;
    qe_sampling_params sampling;
    qe_sampler_stage *stage;   /* optional; ownership passes to the scheduler
                                  (freed with the request, even on error) */
    int max_tokens;
    /* Called on the scheduler's thread. on_token for every generated token
     * (sampled or forced) in order; on_done exactly once, after which the
     * result's pointers are invalid. */
    void (*on_token)(void *user, qe_token tok);
    void (*on_done)(void *user, const qe_result *r);
    void *user;
} qe_request;

/* Returns QE_OK, QE_EINVAL, QE_ENOMEM (budget too small for one block per
 * request). The scheduler borrows the model. */
int qe_sched_init(const qe_model *model, qe_sched_params params, qe_sched **out,
                  char *err, size_t errlen);
/* Stops the background thread if running; pending requests get on_done
 * with QE_STOP_CANCELLED. */
void qe_sched_free(qe_sched *s);

/* Thread-safe. Returns the request id (> 0) or a negative QE_E* code:
 * QE_EINVAL (empty prompt, bad token), QE_ERANGE (prompt + max_tokens can
 * never fit the KV budget). On error the stage is freed and on_done is not
 * called. */
int64_t qe_sched_submit(qe_sched *s, const qe_request *req);
/* Thread-safe; QE_OK or QE_EINVAL (unknown or finished id). */
int qe_sched_cancel(qe_sched *s, int64_t id);

/* Runs one forward step on the calling thread. Returns the number of
 * requests still waiting or running (0: idle), or a negative QE_E* code.
 * Do not mix with qe_sched_start. */
int qe_sched_step(qe_sched *s);
/* Steps until idle. */
int qe_sched_run(qe_sched *s);
/* Runs the steps on a background thread, sleeping while idle. */
int qe_sched_start(qe_sched *s);
void qe_sched_stop(qe_sched *s);

typedef struct {
    uint64_t steps, batch_tokens, prefix_lookups, prefix_hit_tokens;
    uint64_t prefix_evictions, preemptions, completed;
    int kv_blocks_total, kv_blocks_free, prefix_nodes;
} qe_sched_stats;
void qe_sched_get_stats(qe_sched *s, qe_sched_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* QENGINE_H */
