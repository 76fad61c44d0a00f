/*
 * test_docs.c - document input: directories (recursive, sorted, hidden
 * files skipped), text files, JSONL good and bad lines, invalid UTF-8,
 * empty, binary and oversize documents, the pre-counted total, and inputs
 * that do not exist.
 *   test_docs TMP_DIR
 */
#include "docs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int failures;
#define CHECK(c)                                                                 \
    do {                                                                         \
        if (!(c)) {                                                              \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
            failures++;                                                          \
        }                                                                        \
    } while (0)

static void put(const char *dir, const char *name, const char *data, size_t n)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    if (!f) { perror(p); exit(1); }
    fwrite(data, 1, n, f);
    fclose(f);
}
#define PUT(dir, name, lit) put(dir, name, lit, sizeof(lit) - 1)

typedef struct {
    const char *id_suffix;   /* the id ends with this */
    const char *error;       /* fragment of the error, NULL = good */
    const char *text;        /* expected text (good docs) */
} want_t;

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_docs TMP_DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s/sub' '%s/.git'", dir, dir, dir);
    if (system(cmd)) return 1;
    char sub[1024];
    snprintf(sub, sizeof sub, "%s/sub", dir);

    PUT(dir, "a.txt", "Alpha document.\n");
    PUT(sub, "b.txt", "星河电池公司周三签署协议。");
    PUT(dir, ".hidden", "never read");
    PUT(dir, "empty.txt", "");
    PUT(dir, "blank.txt", " \n\t\n");
    PUT(dir, "bin.dat", "PK\x03\x04\x00\x00binary");
    PUT(dir, "latin1.txt", "caf\xe9 au lait");
    char big[3000];
    memset(big, 'x', sizeof big);
    put(dir, "big.txt", big, sizeof big);
    PUT(dir, "c.jsonl",
        "{\"id\": \"j1\", \"text\": \"Good one.\", \"title\": \"T\", \"url\": \"https://x\", \"published_at\": \"2025-01-02\", \"lang\": \"en\"}\n"
        "\n"
        "{\"id\": 42, \"text\": \"Integer id.\"}\n"
        "{\"id\": \"j3\", \"text\": \"unterminated\n"
        "{\"text\": \"no id\"}\n"
        "{\"id\": \"j5\"}\n"
        "{\"id\": \"j6\", \"text\": \"\"}\n"
        "{\"id\": \"j7\", \"text\": \"nul\\u0000inside\"}\n"
        "{\"id\": \"j8\", \"text\": \"bad \xff byte\"}\n"
        "[1, 2]\n"
        "{\"id\": \"j10\", \"text\": \"ok\", \"title\": 5}\n"
        "{\"id\": [\"x\"], \"text\": \"ok\"}\n"
        "{\"id\": \"j12\", \"text\": 7}\n"
        "   \n"
        "{\"id\": \"j13\", \"text\": \"last line without newline\"}");
    PUT(dir, "d.ndjson", "{\"id\": \"n1\", \"text\": \"   \"}\n");
    /* oversize in JSONL */
    {
        char line[4000];
        int n = snprintf(line, sizeof line, "{\"id\": \"big\", \"text\": \"");
        memset(line + n, 'y', 2000);
        n += 2000;
        n += snprintf(line + n, sizeof line - (size_t)n, "\"}\n");
        put(sub, "e.jsonl", line, (size_t)n);
    }

    const want_t want[] = {
        { "a.txt", NULL, "Alpha document.\n" },
        { "big.txt", "oversize: more than the limit of 1000 bytes", NULL },
        { "bin.dat", "binary (NUL bytes)", NULL },
        { "blank.txt", "empty", NULL },
        { "j1", NULL, "Good one." },
        { "42", NULL, "Integer id." },
        { "c.jsonl:4", "malformed JSON line", NULL },
        { "c.jsonl:5", "missing id", NULL },
        { "j5", "missing text", NULL },
        { "j6", "empty", NULL },
        { "j7", "binary (NUL bytes)", NULL },
        { "c.jsonl:9", "invalid UTF-8 at byte 26 of the line", NULL },
        { "c.jsonl:10", "malformed JSON line: not an object", NULL },
        { "j10", "title must be a string", NULL },
        { "c.jsonl:12", "id must be a non-empty string or an integer", NULL },
        { "j12", "text must be a string", NULL },
        { "j13", NULL, "last line without newline" },
        { "n1", "empty", NULL },
        { "empty.txt", "empty", NULL },
        { "latin1.txt", "invalid UTF-8 at byte 3", NULL },
        { "b.txt", NULL, "星河电池公司周三签署协议。" },
        { "big", "oversize: 2000 bytes, more than the limit of 1000", NULL },
    };
    const int n_want = (int)(sizeof want / sizeof want[0]);

    char err[512] = "";
    doc_reader *r;
    const char *inputs[] = { dir };
    CHECK(doc_reader_open(inputs, 1, 1000, &r, err, sizeof err) == 0);
    if (!r) { fprintf(stderr, "%s\n", err); return 1; }
    printf("total %ld\n", doc_reader_total(r));
    CHECK(doc_reader_total(r) == n_want);
    doc *d;
    int i = 0, rc;
    while ((rc = doc_reader_next(r, &d)) == 1) {
        printf("%-28s %-40s %s\n", d->id, d->source, d->error ? d->error : "ok");
        if (i >= n_want) {
            fprintf(stderr, "FAIL: extra document %s\n", d->id);
            failures++;
        } else {
            const want_t *w = &want[i];
            size_t il = strlen(d->id), sl = strlen(w->id_suffix);
            int ok = il >= sl && !strcmp(d->id + il - sl, w->id_suffix) && d->index == (size_t)i;
            if (w->error) ok = ok && d->error && strstr(d->error, w->error) && !d->text;
            else ok = ok && !d->error && d->text && d->len == strlen(w->text) && !strcmp(d->text, w->text);
            if (!ok) {
                fprintf(stderr, "FAIL doc %d: id %s error '%s', want %s / %s\n", i, d->id, d->error ? d->error : "",
                        w->id_suffix, w->error ? w->error : "ok");
                failures++;
            }
            if (!strcmp(w->id_suffix, "j1"))
                CHECK(d->title && !strcmp(d->title, "T") && !strcmp(d->url, "https://x") &&
                      !strcmp(d->published_at, "2025-01-02") && !strcmp(d->lang, "en"));
        }
        doc_free(d);
        i++;
    }
    CHECK(rc == 0 && i == n_want);
    doc_reader_close(r);

    /* a single file input keeps its path as the id */
    char a[1024];
    snprintf(a, sizeof a, "%s/a.txt", dir);
    const char *in2[] = { a };
    CHECK(doc_reader_open(in2, 1, 0, &r, err, sizeof err) == 0);
    CHECK(doc_reader_next(r, &d) == 1 && !strcmp(d->id, a) && !d->error);
    doc_free(d);
    CHECK(doc_reader_next(r, &d) == 0);
    doc_reader_close(r);

    /* missing inputs fail up front */
    const char *in3[] = { a, "/nonexistent/quarry-input" };
    CHECK(doc_reader_open(in3, 2, 0, &r, err, sizeof err) != 0 && r == NULL);
    CHECK(strstr(err, "/nonexistent/quarry-input: No such file or directory") != NULL);
    printf("missing input: %s\n", err);
    const char *in4[] = { "-", "-" };
    CHECK(doc_reader_open(in4, 2, 0, &r, err, sizeof err) != 0 && strstr(err, "standard input given twice"));

    /* doc_check directly */
    char buf[128];
    CHECK(doc_check("abc", 3, 0, buf, sizeof buf) == NULL);
    CHECK(!strcmp(doc_check("", 0, 0, buf, sizeof buf), "empty"));
    CHECK(!strcmp(doc_check("\xe3\x80\x80 \n", 5, 0, buf, sizeof buf), "empty"));   /* ideographic space */
    CHECK(strstr(doc_check("ab\xc3", 3, 0, buf, sizeof buf), "invalid UTF-8 at byte 2"));
    CHECK(strstr(doc_check("\xed\xa0\x80", 3, 0, buf, sizeof buf), "invalid UTF-8 at byte 0"));   /* surrogate */
    CHECK(strstr(doc_check("\xc0\xaf", 2, 0, buf, sizeof buf), "invalid UTF-8"));   /* overlong */

    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("all document input tests passed\n");
    return 0;
}
