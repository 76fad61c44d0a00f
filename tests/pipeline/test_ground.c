/*
 * test_ground.c - grounding normalisation and spans: case folding, NFKC of
 * full-width characters, white space collapsing, Chinese substrings,
 * composed vs decomposed accents, ligatures, typographic quotes,
 * ignorable code points, and code point offsets that map back to the
 * original text exactly. Also the grounding, reference and mention
 * functions on an extraction.
 */
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

/* The original text between two code point offsets. */
static char *cp_slice(const char *s, size_t a, size_t b)
{
    size_t i = 0, k = 0, ba = 0;
    while (s[i] && k < b) {
        if (k == a) ba = i;
        i++;
        while (((unsigned char)s[i] & 0xC0) == 0x80) i++;
        k++;
    }
    if (k == a) ba = i;
    return strndup(s + ba, i - ba);
}

/* Expects the needle at the given occurrences; each span's original text
 * must be `orig` (NULL: don't check). */
static void find(const char *hay, const char *needle, int want_n, size_t s0, size_t e0, const char *orig)
{
    ground_text t;
    CHECK(ground_normalize(hay, strlen(hay), 0, &t) == 0);
    ground_span sp[8];
    int n = ground_find(&t, needle, strlen(needle), sp, 8);
    int ok = n == want_n;
    if (ok && n > 0) ok = sp[0].start == s0 && sp[0].end == e0;
    char *slice = n > 0 ? cp_slice(hay, sp[0].start, sp[0].end) : NULL;
    if (ok && orig && slice) ok = !strcmp(slice, orig);
    if (!ok) {
        fprintf(stderr, "FAIL find '%s' in '%s': %d found (want %d)", needle, hay, n, want_n);
        if (n > 0) fprintf(stderr, ", first [%zu,%zu) = '%s' (want [%zu,%zu) '%s')", sp[0].start, sp[0].end, slice, s0, e0, orig ? orig : "");
        fprintf(stderr, "\n");
        failures++;
    } else {
        printf("ok   '%s' in '%s': %d%s%s\n", needle, hay, n, slice ? " -> " : "", slice ? slice : "");
    }
    free(slice);
    ground_text_free(&t);
}

static void test_find(void)
{
    /* English case folding */
    find("Shares of APPLE Inc. rose.", "apple inc.", 1, 10, 20, "APPLE Inc.");
    find("apple inc said", "Apple Inc", 1, 0, 9, "apple inc");
    find("STRASSE und Straße", "straße", 2, 0, 7, "STRASSE");
    /* NFKC: full-width letters and digits, full-width punctuation */
    find("ＡＢＣ公司宣布，收入增长１２％。", "ABC公司", 1, 0, 5, "ＡＢＣ公司");
    find("ABC公司宣布", "ＡＢＣ公司", 1, 0, 5, "ABC公司");
    find("收入增长１２％。", "增长12%", 1, 2, 7, "增长１２％");
    /* white space collapses, both sides */
    find("New\n   York \t City", "new york city", 1, 0, 18, "New\n   York \t City");
    find("New York City", "  New   York\nCity ", 1, 0, 13, "New York City");
    find("a\u00A0b", "a b", 1, 0, 3, "a\u00A0b");   /* no-break space */
    /* Chinese substrings; offsets in code points, not bytes */
    find("星河电池公司周三与宁州市政府签署协议", "宁州市政府", 1, 9, 14, "宁州市政府");
    find("董事长陈晓明表示，陈晓明", "陈晓明", 2, 3, 6, "陈晓明");
    /* offsets exact after multi-byte and astral characters */
    find("😀 Zoë met ÉLODIE in 北京.", "élodie", 1, 10, 16, "ÉLODIE");
    find("😀 Zoë met ÉLODIE in 北京.", "北京", 1, 20, 22, "北京");
    /* composed vs decomposed accents; a match never ends inside a letter */
    find("Cafe\u0301 Paris", "Café", 1, 0, 5, "Cafe\u0301");
    find("Café Paris", "Cafe\u0301", 1, 0, 4, "Café");
    find("Café Paris", "Caf", 1, 0, 3, "Caf");   /* whole characters C, a, f */
    find("Cafe\u0301 Paris", "Cafe", 0, 0, 0, NULL);
    /* ligature expands; quotes and dashes fold; soft hyphen is ignored */
    find("ﬁnance minister", "finance", 1, 0, 6, "ﬁnance");
    find("“Hello,” she said – twice", "\"Hello,\" she said - twice", 1, 0, 25, NULL);
    find("co\u00ADoperate", "cooperate", 1, 0, 10, "co\u00ADoperate");
    /* not found, empty needle, overlapping occurrences */
    find("Paris and Rome", "Berlin", 0, 0, 0, NULL);
    find("Paris", "   ", 0, 0, 0, NULL);
    find("aaaa", "aa", 2, 0, 2, "aa");
    find("ab ab ab", "ab", 3, 0, 2, "ab");

    char *k = ground_key("  Apple\tINC ", strlen("  Apple\tINC "));
    CHECK(k && !strcmp(k, "apple inc"));
    free(k);
    k = ground_key("ＡＢＣ", strlen("ＡＢＣ"));
    CHECK(k && !strcmp(k, "abc"));
    free(k);
}

static const char *SPEC =
    "name: g\nversion: 1\ninstructions: x\n"
    "schema:\n"
    "  type: object\n"
    "  properties:\n"
    "    entities:\n"
    "      type: array\n"
    "      items:\n"
    "        type: object\n"
    "        properties:\n"
    "          name: {type: string}\n"
    "          aliases: {type: array, items: {type: string}}\n"
    "    relations:\n"
    "      type: array\n"
    "      items:\n"
    "        type: object\n"
    "        properties:\n"
    "          subject: {type: string}\n"
    "          object: {type: string}\n"
    "          evidence: {type: string}\n"
    "    a/b: {type: string}\n"
    "grounding: [/entities/*/name, /entities/*/aliases/*, /relations/*/evidence, /a~1b]\n"
    "references:\n"
    "  - {from: /relations/*/subject, to: /entities/*/name}\n"
    "  - {from: /relations/*/object, to: /entities/*/name}\n";

static void test_checks(void)
{
    char err[512];
    spec *sp;
    if (spec_load_text(SPEC, strlen(SPEC), "g.yaml", NULL, &sp, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        failures++;
        return;
    }
    const char *title = "Ｎｏｒｄｉｃ Ｗｉｎｄ signs deal";
    const char *text = "Nordic Wind AS signed a deal with 宁州市政府 on Tuesday.\n\nThe CEO,  Ingrid  Berg, said: “A big day.”";
    ground_doc d;
    CHECK(ground_doc_init(&d, title, strlen(title), text, strlen(text)) == 0);
    json_error_t je;
    json_t *x = json_loads(
        "{\"entities\":[{\"name\":\"nordic wind as\",\"aliases\":[\"Nordic Wind\"]},{\"name\":\"宁州市政府\"},"
        "{\"name\":\"Ingrid Berg\"},{\"name\":\"Olaf\"},{\"name\":\"signs deal\"}],"
        "\"relations\":[{\"subject\":\"Ingrid Berg\",\"object\":\"NORDIC WIND AS\",\"evidence\":\"said: \\\"A big day.\\\"\"},"
        "{\"subject\":\"Nordic Wind\",\"object\":\"宁州市政府\",\"evidence\":\"signed a deal with 宁州市政府 on Tuesday\"}],"
        "\"a/b\":\"Tuesday\"}",
        0, &je);
    CHECK(x != NULL);
    json_t *errs = json_array();
    int n = ground_check(sp, x, &d, errs, 10);
    CHECK(n == 1 && json_array_size(errs) == 1);
    CHECK(strstr(json_string_value(json_array_get(errs, 0)),
                 "grounding: /entities/3/name \"Olaf\" does not occur in the document"));
    json_array_clear(errs);
    n = ground_check_refs(sp, x, errs, 10);
    /* "Nordic Wind" is an alias, not a name */
    CHECK(n == 1 && strstr(json_string_value(json_array_get(errs, 0)),
                           "references: /relations/1/subject \"Nordic Wind\" is not one of /entities/*/name"));
    json_array_clear(errs);
    CHECK(ground_check(sp, x, &d, errs, 0) == 1 && json_array_size(errs) == 0);   /* count only */

    json_t *men = ground_mentions(sp, x, &d, 4);
    CHECK(men != NULL);
    size_t i;
    json_t *m;
    int checked = 0;
    json_array_foreach(men, i, m) {
        const char *ptr = json_string_value(json_object_get(m, "pointer"));
        const char *field = json_string_value(json_object_get(m, "field"));
        json_t *spans = json_object_get(m, "spans");
        const char *src = !strcmp(field, "title") ? title : text;
        for (size_t k = 0; k < json_array_size(spans); k++) {
            json_t *s = json_array_get(spans, k);
            char *sl = cp_slice(src, (size_t)json_integer_value(json_array_get(s, 0)),
                                (size_t)json_integer_value(json_array_get(s, 1)));
            char *a = ground_key(sl, strlen(sl));
            const char *v = json_string_value(json_object_get(m, "text"));
            char *b = ground_key(v, strlen(v));
            if (strcmp(a, b)) {
                fprintf(stderr, "FAIL mention %s: span text '%s' vs value '%s'\n", ptr, sl, v);
                failures++;
            }
            checked++;
            free(a);
            free(b);
            free(sl);
        }
        if (!strcmp(ptr, "/entities/3/name")) CHECK(json_array_size(spans) == 0);
        if (!strcmp(ptr, "/entities/4/name")) CHECK(!strcmp(field, "title") && json_array_size(spans) == 1);
        if (!strcmp(ptr, "/entities/0/aliases/0")) CHECK(!strcmp(field, "text") && json_array_size(spans) == 1);
        if (!strcmp(ptr, "/a~1b")) CHECK(json_array_size(spans) == 1);
        if (!strcmp(ptr, "/entities/2/name")) {
            /* "Ingrid  Berg" with two spaces in the original: 12 code points */
            json_t *s = json_array_get(spans, 0);
            CHECK(json_integer_value(json_array_get(s, 1)) - json_integer_value(json_array_get(s, 0)) == 12);
        }
    }
    CHECK(json_array_size(men) == 9 && checked >= 8);
    char *dump = json_dumps(men, JSON_COMPACT);
    printf("mentions: %s\n", dump);
    free(dump);
    json_decref(men);
    json_decref(errs);
    json_decref(x);
    ground_doc_free(&d);
    spec_free(sp);
}

int main(void)
{
    test_find();
    test_checks();
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("all grounding tests passed\n");
    return 0;
}
