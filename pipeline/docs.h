/*
 * docs.h - the documents `quarry extract` reads.
 *
 * Inputs, in the order given:
 *  - a text file: one document, id = the path as given;
 *  - a .jsonl / .ndjson file: one document per non-blank line,
 *    {"id": string|integer, "text": string, optional "title", "url",
 *     "published_at", "lang" (strings)};
 *  - a directory: every regular file below it (recursively, hidden
 *    entries skipped), in byte order of the path, each by the rules above;
 *  - "-": standard input, JSONL if its first non-blank byte is '{', else
 *    one text document with id "-".
 *
 * A bad document is not an error of the run: it comes back as a doc with
 * `error` set (invalid UTF-8, empty, binary, oversize, malformed line,
 * missing id or text), and the caller writes a failure record for it. Its
 * id is the document's if known, else "PATH:LINE".
 */
#ifndef QUARRY_DOCS_H
#define QUARRY_DOCS_H

#include <stddef.h>

typedef struct doc {
    char *id;
    char *text;          /* NUL-terminated; len bytes */
    size_t len;
    char *title, *url, *published_at, *lang;   /* NULL when absent */
    char *error;         /* why the document is unusable, or NULL */
    char *source;        /* "PATH" or "PATH:LINE", for messages */
    size_t index;        /* 0-based position in the input order */
} doc;

typedef struct doc_reader doc_reader;

/* Expands the inputs (directories are listed here). Fails with a message
 * if an input does not exist or cannot be listed. max_bytes caps a
 * document's text (0: no cap). */
int doc_reader_open(const char *const *inputs, int n, size_t max_bytes, doc_reader **out, char *err,
                    size_t errlen);
/* Next document: 1 and *out set (the caller frees it with doc_free), 0 at
 * the end, -1 on allocation failure. I/O errors on a file become a doc
 * with error set. */
int doc_reader_next(doc_reader *r, doc **out);
/* Documents in all inputs (JSONL files are pre-counted by lines), or -1
 * when unknown (standard input). */
long doc_reader_total(const doc_reader *r);
void doc_reader_close(doc_reader *r);

void doc_free(doc *d);

/* Why text cannot be a document (static string), or NULL if it can:
 * "empty", "binary (NUL bytes)", "invalid UTF-8 at byte N" (written to
 * buf), "oversize: ...". */
const char *doc_check(const char *text, size_t len, size_t max_bytes, char *buf, size_t buflen);

#endif
