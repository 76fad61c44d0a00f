/*
 * test_jsonschema.c - API tests for pipeline/jsonschema (the keyword
 * semantics are covered by the suite files run through
 * `quarry jsonschema-suite`; this checks what those cannot):
 *
 *   - exact error messages, instance pointers and schema locations for
 *     nested failures in an extraction-style schema;
 *   - compile errors (codes and messages) for malformed schemas, bad
 *     regexes, unresolvable/remote $refs and never-ending $ref loops;
 *   - the error cap, error list reuse, the yes/no fast path;
 *   - one compiled schema validated from several threads at once;
 *   - speed: a ~2 KB record must validate in microseconds.
 *
 * usage: test_jsonschema
 */
#include "jsonschema.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int tj_failures;
static int tj_checks;

#define TJ_CHECK(cond, ...)                                                   \
    do {                                                                      \
        tj_checks++;                                                          \
        if (!(cond)) {                                                        \
            tj_failures++;                                                    \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);   \
            fprintf(stderr, __VA_ARGS__);                                     \
            fprintf(stderr, "\n");                                            \
        }                                                                     \
    } while (0)

#define TJ_STREQ(got, want)                                                   \
    TJ_CHECK((got) && !strcmp((got), (want)), "\n  got:  %s\n  want: %s",     \
             (got) ? (got) : "(null)", (want))

static const char *tj_extraction_schema =
    "{"
    " \"$id\": \"https://quarry.test/schemas/extraction.json\","
    " \"type\": \"object\","
    " \"required\": [\"entities\", \"relations\", \"summary\"],"
    " \"additionalProperties\": false,"
    " \"properties\": {"
    "  \"entities\": {\"type\": \"array\", \"items\": {\"$ref\": \"#/$defs/entity\"}},"
    "  \"relations\": {\"type\": \"array\", \"items\": {\"$ref\": \"#/$defs/relation\"}},"
    "  \"summary\": {\"type\": \"string\", \"minLength\": 1, \"maxLength\": 500},"
    "  \"confidence\": {\"type\": \"number\", \"minimum\": 0, \"maximum\": 1}"
    " },"
    " \"$defs\": {"
    "  \"entity\": {"
    "   \"type\": \"object\","
    "   \"required\": [\"id\", \"type\", \"text\"],"
    "   \"additionalProperties\": false,"
    "   \"properties\": {"
    "    \"id\": {\"$ref\": \"#/$defs/entityId\"},"
    "    \"type\": {\"enum\": [\"PERSON\", \"ORG\"]},"
    "    \"text\": {\"type\": \"string\", \"minLength\": 1},"
    "    \"span\": {\"type\": \"array\", \"prefixItems\": [{\"type\": \"integer\"},"
    "              {\"type\": \"integer\"}], \"items\": false}"
    "   }"
    "  },"
    "  \"relation\": {"
    "   \"type\": \"object\","
    "   \"required\": [\"subject\", \"predicate\", \"object\"],"
    "   \"properties\": {"
    "    \"subject\": {\"$ref\": \"#/$defs/entityId\"},"
    "    \"predicate\": {\"type\": \"string\", \"pattern\": \"^[a-z_]+$\"},"
    "    \"object\": {\"$ref\": \"#/$defs/entityId\"}"
    "   },"
    "   \"unevaluatedProperties\": false"
    "  },"
    "  \"entityId\": {\"type\": \"string\", \"pattern\": \"^e\\\\d+$\"}"
    " }"
    "}";

static json_t *tj_json(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (!j) {
        fprintf(stderr, "bad test JSON: %s: %s\n", e.text, text);
        exit(2);
    }
    return j;
}

static js_schema *tj_compile(const char *text)
{
    json_t *j = tj_json(text);
    js_schema *s = NULL;
    char err[512];
    int rc = js_schema_compile(j, &s, err, sizeof err);
    TJ_CHECK(rc == JS_OK, "compile failed (%d): %s", rc, err);
    json_decref(j);
    return s;
}

/* Validate text against s; return the formatted errors (caller frees). */
static char *tj_errors_of(const js_schema *s, const char *text, int *valid)
{
    json_t *j = tj_json(text);
    js_errors e;
    js_errors_init(&e, 0);
    *valid = js_validate(s, j, &e);
    char *out = js_errors_format(&e);
    js_errors_clear(&e);
    json_decref(j);
    return out;
}

static const char *tj_bad_record =
    "{\"entities\": ["
    "  {\"id\": \"e0\", \"type\": \"PERSON\", \"text\": \"Ada\"},"
    "  {\"id\": \"e1\", \"type\": \"ORG\", \"text\": \"ACME\"},"
    "  {\"id\": \"e2\", \"type\": \"ORG\", \"text\": \"Initech\"},"
    "  {\"id\": \"e3\", \"type\": \"PERSN\", \"text\": \"Bob\", \"span\": [1, 2, 3]}"
    " ],"
    " \"relations\": ["
    "  {\"subject\": \"e0\", \"predicate\": \"works_at\"},"
    "  {\"subject\": \"e0\", \"predicate\": \"Knows\", \"object\": \"x9\", \"why\": 1}"
    " ],"
    " \"summary\": \"%s\","
    " \"confidence\": 1.5,"
    " \"notes\": null"
    "}";

static void tj_test_extraction(void)
{
    js_schema *s = tj_compile(tj_extraction_schema);
    char longsum[520], record[2048];
    int valid = -1;
    char *text;

    if (!s)
        return;
    memset(longsum, 'x', 501);
    longsum[501] = '\0';

    text = tj_errors_of(s,
        "{\"entities\": [{\"id\": \"e1\", \"type\": \"ORG\", \"text\": \"ACME\","
        " \"span\": [0, 4]}], \"relations\": [{\"subject\": \"e1\","
        " \"predicate\": \"is\", \"object\": \"e1\"}], \"summary\": \"ok\"}",
        &valid);
    TJ_CHECK(valid == 1, "valid record rejected: %s", text);
    TJ_STREQ(text, "");
    free(text);

    snprintf(record, sizeof record, tj_bad_record, longsum);
    text = tj_errors_of(s, record, &valid);
    TJ_CHECK(valid == 0, "bad record accepted");
    TJ_STREQ(text,
        "/entities/3/type: \"PERSN\" is not one of [\"PERSON\",\"ORG\"]\n"
        "/entities/3/span: array has more than 2 items\n"
        "/relations/0: missing required property \"object\"\n"
        "/relations/1/predicate: \"Knows\" does not match pattern \"^[a-z_]+$\"\n"
        "/relations/1/object: \"x9\" does not match pattern \"^e\\d+$\"\n"
        "/relations/1: unevaluated property \"why\" is not allowed\n"
        "/summary: string is longer than 500 characters\n"
        "/confidence: 1.5 is greater than the maximum 1\n"
        "(root): additional property \"notes\" is not allowed\n");
    free(text);

    /* The structured fields behind the first lines. */
    json_t *j = tj_json(record);
    js_errors e;
    js_errors_init(&e, 0);
    TJ_CHECK(js_validate(s, j, &e) == 0, "bad record accepted");
    TJ_CHECK(e.count == 9, "count %d", e.count);
    if (e.count >= 3) {
        TJ_STREQ(e.items[0].instance, "/entities/3/type");
        TJ_STREQ(e.items[0].schema, "/$defs/entity/properties/type/enum");
        TJ_STREQ(e.items[0].keyword, "enum");
        TJ_STREQ(e.items[2].instance, "/relations/0");
        TJ_STREQ(e.items[2].schema, "/$defs/relation/required");
        TJ_STREQ(e.items[2].keyword, "required");
    }
    /* The same list can be reused: js_validate resets it. */
    json_t *ok = tj_json("{\"entities\": [], \"relations\": [],"
                         " \"summary\": \"s\"}");
    TJ_CHECK(js_validate(s, ok, &e) == 1, "reset list");
    TJ_CHECK(e.count == 0 && !e.truncated, "count %d", e.count);
    /* No error list: the yes/no answer only. */
    TJ_CHECK(js_validate(s, j, NULL) == 0, "fast path accepted bad record");
    TJ_CHECK(js_validate(s, ok, NULL) == 1, "fast path rejected good record");
    js_errors_clear(&e);
    json_decref(ok);
    json_decref(j);

    /* Keys needing JSON Pointer escapes, and the root pointer. */
    js_schema *s2 = tj_compile("{\"additionalProperties\": {\"properties\":"
                               " {\"v\": {\"type\": \"integer\"}}}}");
    if (s2) {
        text = tj_errors_of(s2, "{\"a/b~c\": {\"v\": \"1\"}}", &valid);
        TJ_STREQ(text, "/a~1b~0c/v: expected integer, got string\n");
        free(text);
        js_schema_free(s2);
    }
    js_schema *s3 = tj_compile("{\"type\": [\"string\", \"null\"]}");
    if (s3) {
        text = tj_errors_of(s3, "12.5", &valid);
        TJ_STREQ(text, "(root): expected null or string, got number\n");
        free(text);
        js_schema_free(s3);
    }
    js_schema_free(s);
}

/* A few more messages, one per keyword family. */
static void tj_test_messages(void)
{
    static const struct {
        const char *schema, *data, *want;
    } cases[] = {
        {"{\"minLength\": 2}", "\"\\u00e9\"",
         "(root): string is shorter than 2 characters\n"},
        {"{\"multipleOf\": 0.01}", "0.125",
         "(root): 0.125 is not a multiple of 0.01\n"},
        {"{\"exclusiveMinimum\": 0}", "0",
         "(root): 0 is not greater than the exclusive minimum 0\n"},
        {"{\"const\": {\"a\": 1}}", "{\"a\": 2}",
         "(root): expected {\"a\":1}, got {\"a\":2}\n"},
        {"{\"uniqueItems\": true}", "[1, {\"a\": 1}, 1.0]",
         "(root): items 0 and 2 are equal\n"},
        {"{\"contains\": {\"type\": \"null\"}, \"minContains\": 2}",
         "[null, 1]",
         "(root): only 1 item matches the \"contains\" schema, at least 2 "
         "required\n"},
        {"{\"oneOf\": [{\"type\": \"number\"}, {\"minimum\": 0}]}", "5",
         "(root): 5 matches more than one schema in oneOf (0 and 1)\n"},
        {"{\"anyOf\": [{\"type\": \"string\"}, {\"type\": \"null\"}]}", "[]",
         "(root): array does not match any schema in anyOf\n"},
        {"{\"dependentRequired\": {\"card\": [\"cvv\"]}}", "{\"card\": 1}",
         "(root): property \"card\" requires property \"cvv\"\n"},
        {"{\"propertyNames\": {\"maxLength\": 2}}", "{\"abc\": 1}",
         "(root): property name \"abc\" does not match the propertyNames "
         "schema\n"},
        {"{\"items\": false}", "[1]", "(root): array must be empty\n"},
        {"{\"properties\": {\"a\": false}}", "{\"a\": 1}",
         "(root): property \"a\" is not allowed\n"},
        {"false", "1", "(root): no value is allowed here (schema is false)\n"},
        {"{\"if\": {\"type\": \"string\"}, \"then\": {\"maxLength\": 1}}",
         "[\"ab\"]", ""},
        {"{\"items\": {\"if\": {\"type\": \"string\"}, \"then\": {\"maxLength\":"
         " 1}}}", "[\"a\", \"ab\"]",
         "/1: string is longer than 1 character\n"},
        {"{\"not\": {\"const\": \"x\"}}", "\"x\"",
         "(root): \"x\" must not match the \"not\" schema\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        js_schema *s = tj_compile(cases[i].schema);
        int valid;
        if (!s)
            continue;
        char *text = tj_errors_of(s, cases[i].data, &valid);
        TJ_CHECK(valid == (cases[i].want[0] == '\0'), "case %zu valid=%d", i,
                 valid);
        TJ_STREQ(text, cases[i].want);
        free(text);
        js_schema_free(s);
    }
}

static void tj_test_compile_errors(void)
{
    static const struct {
        const char *schema;
        int rc;
        const char *msg;    /* expected message prefix */
    } cases[] = {
        {"42", JS_ESCHEMA,
         "#: a schema must be an object or a boolean, got 42"},
        {"\"string\"", JS_ESCHEMA,
         "#: a schema must be an object or a boolean, got \"string\""},
        {"{\"minLength\": \"x\"}", JS_ESCHEMA,
         "#/minLength: must be a non-negative integer, got \"x\""},
        {"{\"properties\": {\"name\": {\"maxItems\": -1}}}", JS_ESCHEMA,
         "#/properties/name/maxItems: must be a non-negative integer, got -1"},
        {"{\"minimum\": \"0\"}", JS_ESCHEMA,
         "#/minimum: must be a number, got \"0\""},
        {"{\"multipleOf\": 0}", JS_ESCHEMA,
         "#/multipleOf: must be a number above 0, got 0"},
        {"{\"type\": \"strin\"}", JS_ESCHEMA,
         "#/type: must be a JSON type name, got \"strin\""},
        {"{\"required\": \"a\"}", JS_ESCHEMA,
         "#/required: must be an array of strings, got \"a\""},
        {"{\"enum\": 1}", JS_ESCHEMA, "#/enum: must be an array, got 1"},
        {"{\"allOf\": []}", JS_ESCHEMA,
         "#/allOf: must be a non-empty array of schemas, got []"},
        {"{\"items\": 3}", JS_ESCHEMA,
         "#/items: a schema must be an object or a boolean, got 3"},
        {"{\"properties\": {\"a\": [true]}}", JS_ESCHEMA,
         "#/properties/a: a schema must be an object or a boolean, got [true]"},
        {"{\"uniqueItems\": 1}", JS_ESCHEMA,
         "#/uniqueItems: must be a boolean, got 1"},
        {"{\"$id\": \"http://x.test/a.json#frag\"}", JS_ESCHEMA,
         "#/$id: \"http://x.test/a.json#frag\" must not contain a fragment"},
        {"{\"$anchor\": \"1bad\"}", JS_ESCHEMA,
         "#/$anchor: must be a plain name, got \"1bad\""},
        {"{\"properties\": {\"a\": {\"pattern\": \"^(abc\"}}}", JS_ESCHEMA,
         "#/properties/a/pattern: invalid regular expression \"^(abc\": "
         "missing closing parenthesis"},
        {"{\"patternProperties\": {\"[a-\": {}}}", JS_ESCHEMA,
         "#/patternProperties: invalid regular expression \"[a-\": "},
        {"{\"$ref\": \"#/$defs/missing\"}", JS_EREF,
         "#/$ref: \"#/$defs/missing\" points to nothing"},
        {"{\"$ref\": \"#nope\"}", JS_EREF,
         "#/$ref: \"#nope\": no $anchor \"nope\" in the document"},
        {"{\"$ref\": \"https://example.com/other.json#/a\"}", JS_EREMOTE,
         "#/$ref: \"https://example.com/other.json#/a\" refers to document "
         "\"https://example.com/other.json\", which is not part of this "
         "schema"},
        {"{\"properties\": {\"x\": {\"$ref\": "
         "\"https://json-schema.org/draft/2020-12/schema\"}}}", JS_EREMOTE,
         "#/properties/x/$ref: "},
        {"{\"$defs\": {\"a\": {\"$ref\": \"#/$defs/a\"}}, \"$ref\": "
         "\"#/$defs/a\"}", JS_ECYCLE, ""},
        {"{\"$ref\": \"#\"}", JS_ECYCLE,
         "#: $ref loop through # never reaches a terminating schema"},
        {"{\"anyOf\": [{\"type\": \"string\"}, {\"$ref\": \"#\"}]}",
         JS_ECYCLE, ""},
        {"{\"$defs\": {\"a\": {\"allOf\": [{\"$ref\": \"#/$defs/b\"}]},"
         " \"b\": {\"not\": {\"$ref\": \"#/$defs/a\"}}}}", JS_ECYCLE, ""},
        {"{\"$defs\": {\"a\": {\"$id\": \"http://x.test/a\"},"
         " \"b\": {\"$id\": \"http://x.test/a\"}}}", JS_ESCHEMA,
         "#/$defs/b/$id: \"http://x.test/a\" is already the $id of #/$defs/a"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *j = tj_json(cases[i].schema);
        js_schema *s = (js_schema *)&s;
        char err[512], remote[128];
        int rc = js_schema_compile_ex(j, &s, err, sizeof err, remote,
                                      sizeof remote);
        TJ_CHECK(rc == cases[i].rc, "%s: rc %d, want %d (%s)",
                 cases[i].schema, rc, cases[i].rc, err);
        TJ_CHECK(s == NULL, "%s: schema returned on error", cases[i].schema);
        TJ_CHECK(!strncmp(err, cases[i].msg, strlen(cases[i].msg)),
                 "%s:\n  got:  %s\n  want: %s...", cases[i].schema, err,
                 cases[i].msg);
        if (rc == JS_EREMOTE)
            TJ_CHECK(!strncmp(remote, "https://", 8), "remote %s", remote);
        js_schema_free(s);
        json_decref(j);
    }

    /* Recursion that descends into the instance is not a loop. */
    js_schema *s = tj_compile("{\"properties\": {\"next\": {\"$ref\": \"#\"}},"
                              " \"anyOf\": [{\"$ref\": \"#/$defs/x\"}],"
                              " \"$defs\": {\"x\": {\"items\": {\"$ref\":"
                              " \"#\"}}}}");
    js_schema_free(s);

    /* Tiny and absent error buffers are fine. */
    json_t *j = tj_json("{\"minLength\": \"x\"}");
    char tiny[8];
    TJ_CHECK(js_schema_compile(j, &s, tiny, sizeof tiny) == JS_ESCHEMA, "tiny");
    TJ_CHECK(strlen(tiny) == 7, "tiny buffer: %s", tiny);
    TJ_CHECK(js_schema_compile(j, &s, NULL, 0) == JS_ESCHEMA, "NULL err");
    json_decref(j);
    TJ_CHECK(js_schema_compile(NULL, &s, NULL, 0) == JS_ESCHEMA, "NULL");

    /* The caller keeps its schema: compiling copies it. */
    j = tj_json("{\"enum\": [\"a\"]}");
    TJ_CHECK(js_schema_compile(j, &s, NULL, 0) == JS_OK, "copy");
    json_array_clear(json_object_get(j, "enum"));
    json_t *a = json_string("a");
    TJ_CHECK(js_validate(s, a, NULL) == 1, "schema not copied");
    json_decref(a);
    json_decref(j);
    js_schema_free(s);
}

static void tj_test_cap(void)
{
    js_schema *s = tj_compile("{\"items\": {\"type\": \"string\"}}");
    json_t *arr = json_array();
    js_errors e;

    for (int i = 0; i < 500; i++)
        json_array_append_new(arr, json_integer(i));
    js_errors_init(&e, 0);
    TJ_CHECK(js_validate(s, arr, &e) == 0, "array of ints accepted");
    TJ_CHECK(e.count == JS_ERRORS_DEFAULT_MAX && e.truncated,
             "count %d truncated %d", e.count, e.truncated);
    char *text = js_errors_format(&e);
    TJ_CHECK(text && strstr(text, "/99: expected string, got integer\n") &&
             strstr(text, "(more errors not shown)\n"), "%s", text);
    free(text);
    js_errors_clear(&e);

    js_errors_init(&e, 3);
    TJ_CHECK(js_validate(s, arr, &e) == 0, "cap 3");
    TJ_CHECK(e.count == 3 && e.truncated, "count %d", e.count);
    TJ_STREQ(e.items[2].instance, "/2");
    js_errors_clear(&e);
    json_decref(arr);
    js_schema_free(s);
}

/* --------------------------------------------------------------- threads */

typedef struct tj_thread {
    const js_schema *s;
    const json_t *good, *bad;
    const char *want;       /* formatted errors of bad */
    int iterations;
    int mismatches;
} tj_thread;

static void *tj_thread_main(void *arg)
{
    tj_thread *t = arg;
    js_errors e;
    js_errors_init(&e, 0);
    for (int i = 0; i < t->iterations; i++) {
        if (js_validate(t->s, t->good, &e) != 1 || e.count != 0)
            t->mismatches++;
        if (js_validate(t->s, t->bad, &e) != 0) {
            t->mismatches++;
        } else if (i % 16 == 0) {
            char *text = js_errors_format(&e);
            if (!text || strcmp(text, t->want))
                t->mismatches++;
            free(text);
        }
        if (js_validate(t->s, t->bad, NULL) != 0)
            t->mismatches++;
    }
    js_errors_clear(&e);
    return NULL;
}

/* A realistic record of about 2 KB. */
static json_t *tj_make_record(int bad)
{
    json_t *rec = json_object(), *ents = json_array(), *rels = json_array();
    static const char *names[] = {"Ada Lovelace", "Charles Babbage",
                                  "Analytical Society", "Royal Society",
                                  "Mary Somerville", "Augustus De Morgan",
                                  "University of London", "Luigi Menabrea",
                                  "Michael Faraday", "Scientific Memoirs"};
    char id[16], sum[400];
    for (int i = 0; i < 10; i++) {
        json_t *e = json_object(), *span = json_array();
        snprintf(id, sizeof id, "e%d", i);
        json_object_set_new(e, "id", json_string(id));
        json_object_set_new(e, "type",
                            json_string(bad && i == 7 ? "PERSN"
                                        : i % 3 == 2 ? "ORG" : "PERSON"));
        json_object_set_new(e, "text", json_string(names[i]));
        json_array_append_new(span, json_integer(i * 40));
        json_array_append_new(span, json_integer(i * 40 + 12));
        json_object_set_new(e, "span", span);
        json_array_append_new(ents, e);
    }
    for (int i = 0; i < 6; i++) {
        json_t *r = json_object();
        snprintf(id, sizeof id, "e%d", i);
        json_object_set_new(r, "subject", json_string(id));
        json_object_set_new(r, "predicate", json_string("collaborated_with"));
        snprintf(id, sizeof id, "e%d", i + 1);
        if (!(bad && i == 4))
            json_object_set_new(r, "object", json_string(id));
        json_array_append_new(rels, r);
    }
    memset(sum, 'a', sizeof sum - 1);
    sum[sizeof sum - 1] = '\0';
    for (size_t i = 5; i < sizeof sum - 1; i += 6)
        sum[i] = ' ';
    json_object_set_new(rec, "entities", ents);
    json_object_set_new(rec, "relations", rels);
    json_object_set_new(rec, "summary", json_string(sum));
    json_object_set_new(rec, "confidence", json_real(0.87));
    return rec;
}

static void tj_test_threads(void)
{
    enum { NTHREADS = 4 };
    js_schema *s = tj_compile(tj_extraction_schema);
    json_t *good = tj_make_record(0), *bad = tj_make_record(1);
    pthread_t th[NTHREADS];
    tj_thread args[NTHREADS];
    js_errors e;

    if (!s)
        return;
    js_errors_init(&e, 0);
    TJ_CHECK(js_validate(s, bad, &e) == 0, "bad record accepted");
    char *want = js_errors_format(&e);
    TJ_STREQ(want, "/entities/7/type: \"PERSN\" is not one of "
                   "[\"PERSON\",\"ORG\"]\n"
                   "/relations/4: missing required property \"object\"\n");
    js_errors_clear(&e);
    for (int i = 0; i < NTHREADS; i++) {
        args[i] = (tj_thread){s, good, bad, want, 2000, 0};
        TJ_CHECK(pthread_create(&th[i], NULL, tj_thread_main, &args[i]) == 0,
                 "pthread_create");
    }
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
        TJ_CHECK(args[i].mismatches == 0, "thread %d: %d mismatches", i,
                 args[i].mismatches);
    }
    free(want);
    json_decref(good);
    json_decref(bad);
    js_schema_free(s);
}

static double tj_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void tj_bench(void)
{
    js_schema *s = tj_compile(tj_extraction_schema);
    json_t *good = tj_make_record(0);
    char *dump = json_dumps(good, JSON_COMPACT);
    js_errors e;
    int n = 20000, ok = 0;

    if (!s)
        return;
    js_errors_init(&e, 0);
    double t0 = tj_now();
    for (int i = 0; i < n; i++)
        ok += js_validate(s, good, &e);
    double us = (tj_now() - t0) / n * 1e6;
    printf("validate: %.2f us per %zu-byte record\n", us, strlen(dump));
    TJ_CHECK(ok == n, "%d of %d valid", ok, n);
    /* Generous bound (sanitizer builds run this too): catches per-call
     * regex compilation or re-parsing, not ordinary noise. */
    TJ_CHECK(us < 500, "%.1f us per validation", us);
    free(dump);
    js_errors_clear(&e);
    json_decref(good);
    js_schema_free(s);
}

int main(void)
{
    tj_test_extraction();
    tj_test_messages();
    tj_test_compile_errors();
    tj_test_cap();
    tj_test_threads();
    tj_bench();
    printf("%d checks, %d failures\n", tj_checks, tj_failures);
    return tj_failures ? 1 : 0;
}
