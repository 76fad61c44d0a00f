/*
 * prompt.h - the prompts of an extraction.
 *
 * System turn: the spec's instructions, the output schema (compact JSON,
 * keys sorted so the text never depends on how the schema was written
 * down) and, with examples_as: system, the examples. With examples_as:
 * turns the examples follow as user/assistant turns instead. Either way
 * everything before the document's user turn is the same bytes for every
 * document and both modes, and it ends with "<|im_end|>\n" followed by the
 * special token <|im_start|>, where Qwen's tokenizer always splits; so it
 * tokenizes to the same ids for every document. That prefix is computed
 * once and its KV cache shared (prompt_set.prefix_ids).
 *
 * User turn: "Title: ...\n\n" when the document has a title, then
 * "Text:\n" and the text. Strings that the tokenizer would read as special
 * tokens ("<|im_end|>", "<think>", ...) get a WORD JOINER (U+2060) after
 * the "<" so a document cannot close its own turn. Grounding always runs
 * against the original text, so this never shows in offsets.
 *
 * Modes: no_think renders with enable_thinking=0 (the template appends an
 * empty think block), think with enable_thinking=1.
 */
#ifndef QUARRY_PROMPT_H
#define QUARRY_PROMPT_H

#include <stddef.h>

#include "qengine.h"
#include "spec.h"

/* Qwen's own words for ending a thought at the budget (from the Qwen3
 * model card), appended without sampling, then the answer follows. */
#define PROMPT_THINK_CLOSE \
    "\n\nConsidering the limited time by the user, I have to give the solution based on the thinking directly now.\n</think>\n\n"

/* Titles longer than this (bytes) are cut in the prompt, on a character. */
#define PROMPT_MAX_TITLE 512

typedef struct prompt_set {
    char *system;          /* the system turn's content */
    char *prefix;          /* rendered text before the document's turn */
    size_t prefix_len;
    qe_token *prefix_ids;  /* its tokens */
    int n_prefix;
    qe_token *close_ids;   /* PROMPT_THINK_CLOSE tokenized */
    int n_close;
} prompt_set;

/* Builds the system text and the shared prefix and tokenizes both. 0, or
 * -1 with a message. */
int prompt_init(prompt_set *p, const spec *sp, const qe_model *m, char *err, size_t errlen);
void prompt_free(prompt_set *p);

/* The system turn's content (malloc'd; NULL on allocation failure). */
char *prompt_system(const spec *sp);
/* The user turn's content for a document (malloc'd). */
char *prompt_user(const char *title, size_t title_len, const char *text, size_t len);

/* The whole rendered prompt of a document in a mode (malloc'd). */
char *prompt_render(const spec *sp, const char *title, size_t title_len, const char *text, size_t len, int think);

/* Token ids of a document's prompt AFTER the shared prefix: *ids is
 * malloc'd, *n its count. 0, or -1 (allocation, or a rendering that does
 * not start with the prefix, which would be a bug). */
int prompt_doc_ids(const prompt_set *p, const spec *sp, const qe_model *m, const char *title, size_t title_len,
                   const char *text, size_t len, int think, qe_token **ids, int *n);

/* Tokenizes text into a malloc'd array. 0 or -1. */
int prompt_tokenize(const qe_model *m, const char *text, size_t len, qe_token **ids, int *n);

#endif
