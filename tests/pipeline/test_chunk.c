/*
 * test_chunk.c - splitting long documents (paragraphs, sentences, Chinese
 * sentence ends, hard cuts, overlap, code point offsets) and merging chunk
 * extractions (keyed entities with united aliases, deduplicated relations,
 * maxItems caps, pruned dangling references).
 *   test_chunk SCHEMAS_DIR
 */
#include "chunk.h"
#include "ground.h"
#include "spec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;
#define CHECK(c)                                                                 \
    do {                                                                         \
        if (!(c)) {                                                              \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
            failures++;                                                          \
        }                                                                        \
    } while (0)

/* Stand-in tokenizer: a token per ASCII word or punctuation run and per
 * non-ASCII character. */
static int count_tokens(void *ud, const char *s, size_t n)
{
    int *calls = ud;
    if (calls) (*calls)++;
    int t = 0, inword = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            if ((c & 0xC0) != 0x80) t++;
            inword = 0;
        } else if (c == ' ' || c == '\n' || c == '\t') {
            inword = 0;
        } else if (!inword) {
            t++;
            inword = 1;
        }
    }
    return t;
}

static size_t cp_to_byte(const char *s, size_t cp)
{
    size_t i = 0, k = 0;
    while (s[i] && k < cp) {
        i++;
        while (((unsigned char)s[i] & 0xC0) == 0x80) i++;
        k++;
    }
    return i;
}

/* want_overlap: every chunk after the first starts inside the previous
 * one (only when the sentences are shorter than the overlap budget) */
static void check_chunks(const char *name, const char *text, int max, int ov, int want_min_chunks, int want_overlap)
{
    chunk_span *cs;
    int n;
    size_t len = strlen(text);
    int rc = chunk_split(text, len, max, ov, count_tokens, NULL, &cs, &n);
    CHECK(rc == 0);
    if (rc) return;
    printf("%s: %d chunks (budget %d, overlap %d)\n", name, n, max, ov);
    CHECK(n >= want_min_chunks);
    size_t covered = 0;
    for (int i = 0; i < n; i++) {
        int t = count_tokens(NULL, text + cs[i].off, cs[i].len);
        if (t > max) {
            fprintf(stderr, "  chunk %d has %d tokens > %d\n", i, t, max);
            failures++;
        }
        /* code point offsets name exactly the same text */
        size_t b0 = cp_to_byte(text, cs[i].cp_off), b1 = cp_to_byte(text, cs[i].cp_off + cs[i].cp_len);
        CHECK(b0 == cs[i].off && b1 == cs[i].off + cs[i].len);
        /* in order, no gap except white space, overlapping when asked */
        CHECK(cs[i].off <= covered || strspn(text + covered, " \n\t") >= cs[i].off - covered);
        if (i && want_overlap) CHECK(cs[i].off < cs[i - 1].off + cs[i - 1].len);
        if (i && !ov) CHECK(cs[i].off >= cs[i - 1].off + cs[i - 1].len);
        if (i) CHECK(cs[i].off > cs[i - 1].off);
        if (cs[i].off + cs[i].len > covered) covered = cs[i].off + cs[i].len;
    }
    CHECK(covered + strspn(text + covered, " \n\t") == len);
    free(cs);
}

static void test_split(void)
{
    /* short: one chunk, the whole text */
    const char *s = "One sentence. Two sentences.";
    chunk_span *cs;
    int n;
    CHECK(chunk_split(s, strlen(s), 100, 10, count_tokens, NULL, &cs, &n) == 0 && n == 1 && cs[0].off == 0 &&
          cs[0].len == strlen(s) && cs[0].cp_len == strlen(s));
    free(cs);

    /* English paragraphs */
    char en[8192] = "";
    for (int p = 0; p < 6; p++) {
        for (int k = 0; k < 5; k++) {
            char sent[200];
            snprintf(sent, sizeof sent, "Paragraph %d sentence %d says something about the harbor (really). ", p, k);
            strcat(en, sent);
        }
        strcat(en, "\n\n");
    }
    check_chunks("english", en, 60, 12, 4, 1);
    check_chunks("english no overlap", en, 60, 0, 4, 0);
    {
        /* paragraph preference: with room for about one and a half
         * paragraphs, chunks end where paragraphs end */
        chunk_span *c2;
        int n2;
        CHECK(chunk_split(en, strlen(en), 80, 0, count_tokens, NULL, &c2, &n2) == 0);
        for (int i = 0; i + 1 < n2; i++) {
            const char *end = en + c2[i].off + c2[i].len;
            end += strspn(end, " ");
            CHECK(!strncmp(end, "\n\n", 2));
        }
        free(c2);
    }

    /* Chinese: no spaces, sentence ends 。！？ and closing quotes */
    char zh[8192] = "";
    for (int k = 0; k < 30; k++)
        strcat(zh, k % 3 == 0 ? "星河电池公司周三与宁州市政府签署协议。" : k % 3 == 1 ? "董事长说：“工厂明年投产！”" : "这是真的吗？");
    check_chunks("chinese", zh, 40, 8, 5, 0);
    check_chunks("chinese overlap", zh, 40, 19, 5, 1);
    {
        chunk_span *c2;
        int n2;
        CHECK(chunk_split(zh, strlen(zh), 40, 0, count_tokens, NULL, &c2, &n2) == 0);
        for (int i = 0; i + 1 < n2; i++) {
            /* every cut is right after a sentence end (or its closing quote) */
            const char *end = zh + c2[i].off + c2[i].len;
            CHECK(!strncmp(end - 3, "。", 3) || !strncmp(end - 3, "！", 3) || !strncmp(end - 3, "？", 3) ||
                  !strncmp(end - 3, "”", 3));
        }
        free(c2);
    }

    /* one endless sentence: hard cuts at spaces, still within budget */
    char run[6000] = "";
    for (int k = 0; k < 400; k++) strcat(run, "word ");
    check_chunks("no punctuation", run, 50, 5, 8, 0);
    /* no spaces at all: cuts between characters */
    char cjk[6000] = "";
    for (int k = 0; k < 300; k++) strcat(cjk, "字");
    check_chunks("no boundaries", cjk, 64, 0, 5, 0);

    /* spans of a chunk map back to the whole document */
    {
        const char *doc = "Intro line here.\n\nÉlodie Durand met 陈晓明 in Paris. Then more text follows here. "
                          "And Élodie Durand left for 宁州市.";
        chunk_span *c3;
        int n3;
        CHECK(chunk_split(doc, strlen(doc), 8, 0, count_tokens, NULL, &c3, &n3) == 0 && n3 >= 2);
        ground_text whole;
        CHECK(ground_normalize(doc, strlen(doc), 0, &whole) == 0);
        ground_span all[4];
        int na = ground_find(&whole, "élodie durand", strlen("élodie durand"), all, 4);
        CHECK(na == 2);
        int seen = 0;
        for (int i = 0; i < n3; i++) {
            ground_text t;
            CHECK(ground_normalize(doc + c3[i].off, c3[i].len, 0, &t) == 0);
            ground_span sp[2];
            int k = ground_find(&t, "Élodie Durand", strlen("Élodie Durand"), sp, 2);
            for (int j = 0; j < k; j++) {
                CHECK(sp[j].start + c3[i].cp_off == all[seen].start && sp[j].end + c3[i].cp_off == all[seen].end);
                seen++;
            }
            ground_text_free(&t);
        }
        CHECK(seen == 2);
        ground_text_free(&whole);
        free(c3);
    }
}

static json_t *J(const char *s)
{
    json_error_t e;
    json_t *j = json_loads(s, 0, &e);
    if (!j) {
        fprintf(stderr, "bad test JSON: %s: %s\n", s, e.text);
        exit(1);
    }
    return j;
}

static void test_merge(const char *dir)
{
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/news.yaml", dir);
    spec *sp;
    if (spec_load(path, &sp, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        failures++;
        return;
    }
    json_t *p[3];
    p[0] = J("{\"entities\":[{\"name\":\"Apple\",\"type\":\"ORGANIZATION\",\"aliases\":[\"Apple Inc.\"]},"
             "{\"name\":\"Cupertino\",\"type\":\"LOCATION\"}],"
             "\"relations\":[{\"subject\":\"Apple\",\"predicate\":\"based in\",\"object\":\"Cupertino\",\"evidence\":\"e1\"}],"
             "\"summary\":\"\"}");
    p[1] = J("{\"entities\":[{\"name\":\"APPLE\",\"type\":\"ORGANIZATION\",\"aliases\":[\"AAPL\",\"apple inc.\"]},"
             "{\"name\":\"Apple\",\"type\":\"PRODUCT\"},{\"name\":\"Tim Cook\",\"type\":\"PERSON\"}],"
             "\"relations\":[{\"subject\":\"apple\",\"predicate\":\"based in\",\"object\":\"cupertino\",\"evidence\":\"e2\"},"
             "{\"subject\":\"Tim Cook\",\"predicate\":\"chief executive of\",\"object\":\"Apple\",\"evidence\":\"e3\"}],"
             "\"summary\":\"Second chunk summary.\"}");
    p[2] = NULL;   /* a failed chunk contributes nothing */
    json_t *m = chunk_merge(sp, p, 3);
    CHECK(m != NULL);
    json_t *ents = json_object_get(m, "entities"), *rels = json_object_get(m, "relations");
    CHECK(json_array_size(ents) == 4);   /* Apple/ORG, Cupertino, Apple/PRODUCT, Tim Cook */
    json_t *apple = json_array_get(ents, 0);
    CHECK(!strcmp(json_string_value(json_object_get(apple, "name")), "Apple"));
    CHECK(json_array_size(json_object_get(apple, "aliases")) == 2);   /* Apple Inc. + AAPL */
    CHECK(json_array_size(rels) == 2);   /* apple/based in/cupertino is the same relation */
    CHECK(!strcmp(json_string_value(json_object_get(m, "summary")), "Second chunk summary."));
    /* the merged result still validates */
    CHECK(js_validate(sp->validator, m, NULL) == 1);
    json_decref(m);

    /* caps: 30 distinct entities merge to maxItems (24), and relations that
     * named a dropped entity go too */
    json_t *a = J("{\"entities\":[],\"relations\":[],\"summary\":\"s\"}");
    json_t *b = J("{\"entities\":[],\"relations\":[],\"summary\":\"t\"}");
    for (int i = 0; i < 15; i++) {
        char n1[32], n2[32];
        snprintf(n1, sizeof n1, "A%d", i);
        snprintf(n2, sizeof n2, "B%d", i);
        json_array_append_new(json_object_get(a, "entities"), json_pack("{ssss}", "name", n1, "type", "OTHER"));
        json_array_append_new(json_object_get(b, "entities"), json_pack("{ssss}", "name", n2, "type", "OTHER"));
    }
    json_array_append_new(json_object_get(b, "relations"),
                          json_pack("{ssssssss}", "subject", "B14", "predicate", "p", "object", "B0", "evidence", "x"));
    json_array_append_new(json_object_get(b, "relations"),
                          json_pack("{ssssssss}", "subject", "B1", "predicate", "p", "object", "B0", "evidence", "x"));
    json_t *q[2] = { a, b };
    m = chunk_merge(sp, q, 2);
    CHECK(json_array_size(json_object_get(m, "entities")) == 24);
    CHECK(json_array_size(json_object_get(m, "relations")) == 1);   /* B14 was cut */
    CHECK(!strcmp(json_string_value(json_object_get(m, "summary")), "s"));
    CHECK(js_validate(sp->validator, m, NULL) == 1);
    json_t *errs = json_array();
    CHECK(ground_check_refs(sp, m, errs, 10) == 0);
    json_decref(errs);
    json_decref(m);
    json_decref(a);
    json_decref(b);
    json_decref(p[0]);
    json_decref(p[1]);
    spec_free(sp);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_chunk SCHEMAS_DIR\n");
        return 2;
    }
    test_split();
    test_merge(argv[1]);
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("all chunk tests passed\n");
    return 0;
}
