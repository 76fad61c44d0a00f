/*
 * tokenizer.h - Qwen3 byte-level BPE tokenizer built from a GGUF vocabulary.
 *
 * Reads tokenizer.ggml.{model,pre,tokens,token_type,merges} and reproduces
 * the HF tokenizer (tokenizer.json of Qwen3): NFC normalisation (utf8proc),
 * added tokens matched literally before pre-tokenization, the Qwen2 split
 * regex (PCRE2, Unicode properties), byte-level mapping, BPE merges by rank.
 *
 * Invalid UTF-8 in the input is replaced by U+FFFD, one per maximal
 * ill-formed subpart (WHATWG/Unicode rule, as Node's TextDecoder and
 * Python's bytes.decode(errors="replace") do), before anything else: the
 * ids are then exactly what the HF tokenizer gives for the decoded text.
 */
#ifndef QE_TOKENIZER_H
#define QE_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>
#include "gguf.h"

/* token_type values (llama.cpp numbering). */
enum tok_type {
    TOK_TYPE_UNDEFINED = 0, TOK_TYPE_NORMAL = 1, TOK_TYPE_UNKNOWN = 2,
    TOK_TYPE_CONTROL = 3, TOK_TYPE_USER_DEFINED = 4, TOK_TYPE_UNUSED = 5,
    TOK_TYPE_BYTE = 6
};

typedef struct tok_vocab tok_vocab;

/* Builds the vocabulary. Returns 0 or a negative QE_E* code with err set
 * ("<file>: tokenizer.ggml.merges[12]: ..."). Requires tokenizer.ggml.model
 * "gpt2" and tokenizer.ggml.pre "qwen2" (other pre-tokenizers are
 * rejected: their split rules are not implemented). */
int tok_vocab_init(const gguf_file *f, tok_vocab **out, char *err, size_t errlen);

/* The same from plain arrays (no GGUF needed): n_tokens texts in byte-level
 * form with their lengths and token types (types may be NULL: all NORMAL),
 * and n_merges merge rules "a b" in rank order. Added tokens are those of
 * type CONTROL or USER_DEFINED (except "[PAD<id>]" fillers); UNUSED tokens
 * never match text. Errors name the array: "merges[12]: ...". */
int tok_vocab_init_arrays(const char *const *tokens, const size_t *lens, const int32_t *types,
                          int n_tokens, const char *const *merges, const size_t *merge_lens,
                          int n_merges, tok_vocab **out, char *err, size_t errlen);
void tok_vocab_free(tok_vocab *v);

int tok_n_vocab(const tok_vocab *v);
int tok_n_merges(const tok_vocab *v);
/* Id of a token by its exact (GGUF, byte-level encoded) text, or -1. */
int32_t tok_find(const tok_vocab *v, const char *text, size_t len);
/* The token's text as stored (byte-level form). Borrowed; NULL if out of
 * range. */
const char *tok_text(const tok_vocab *v, int32_t id, size_t *len);
/* Decoded bytes of a token (byte-level mapping undone; added tokens as
 * their text). Borrowed; NULL when out of range. */
const char *tok_bytes(const tok_vocab *v, int32_t id, size_t *len);
int tok_type(const tok_vocab *v, int32_t id);
/* The token standing for the single byte b (every byte has one). */
int32_t tok_byte_token(const tok_vocab *v, unsigned char b);

/* Encodes text (any bytes; invalid UTF-8 becomes U+FFFD as described
 * above). Writes at most cap ids to out, returns the total count (> cap:
 * call again with a larger buffer) or a negative QE_E* code. Thread-safe
 * for concurrent callers on the same vocabulary. */
int tok_encode(const tok_vocab *v, const char *text, size_t len, int32_t *out, int cap);

/* ------------------------------------------------------------ UTF-8 */

#define TOK_UTF8_BAD 0xFFFFFFFFu

/* Decodes the sequence at s[i] (i < n): returns its length and sets *cp,
 * or for an ill-formed sequence sets *cp = TOK_UTF8_BAD and returns the
 * length of the maximal ill-formed subpart (>= 1). *partial (may be NULL)
 * is 1 when the sequence was cut short by the end of the input. */
size_t tok_utf8_next(const char *s, size_t n, size_t i, uint32_t *cp, int *partial);
/* Copies s to dst with each ill-formed subpart replaced by U+FFFD; dst
 * needs 3 * n bytes. Returns the bytes written. */
size_t tok_utf8_sanitize(const char *s, size_t n, char *dst);

/* ------------------------------------------------ streaming detokenizer */

/* Turns a stream of token ids into text: emits only complete UTF-8
 * sequences, holding an unfinished one back until later tokens complete it
 * (a multibyte character may be split over several byte tokens). Bytes
 * that can never form a character are emitted as U+FFFD at once; flush
 * emits a held unfinished sequence as one U+FFFD. The concatenated output
 * equals the WHATWG decoding of the concatenated token bytes. */
typedef struct tok_detok tok_detok;

tok_detok *tok_detok_init(const tok_vocab *v);     /* NULL on OOM */
void tok_detok_free(tok_detok *d);
void tok_detok_reset(tok_detok *d);                 /* drops held bytes */
/* Appends token id; returns the bytes ready to emit (borrowed, valid until
 * the next call on d) with their count in *len (may be 0). NULL if id is
 * out of range or memory ran out (then nothing was consumed). */
const char *tok_detok_push(tok_detok *d, int32_t id, size_t *len);
/* Emits what is held (as U+FFFD) and resets; never NULL unless OOM. */
const char *tok_detok_flush(tok_detok *d, size_t *len);

#endif
