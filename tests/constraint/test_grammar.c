/*
 * test_grammar.c - the JSON-Schema constraint at the byte level, without a
 * model: for each feature, texts that must be accepted as prefixes or as
 * complete documents and texts that must be rejected; schemas that must
 * fail to compile (with the expected words in the message); forced byte
 * runs. Every complete document accepted here is also checked with the
 * validator, so the grammar never accepts what js_validate refuses.
 */
#include "constraint.h"
#include "jsonschema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"

typedef struct {
    jc_grammar *g;
    js_schema *js;
    json_t *schema;
    const char *text;
} tg;

static int tg_open(tg *t, const char *schema_text)
{
    json_error_t je;
    char err[512];
    memset(t, 0, sizeof *t);
    t->text = schema_text;
    t->schema = json_loads(schema_text, JSON_DECODE_ANY, &je);
    if (!t->schema) { fprintf(stderr, "bad test schema %s: %s\n", schema_text, je.text); exit(2); }
    if (jc_grammar_compile(t->schema, NULL, &t->g, err, sizeof err)) {
        CHECK(0, "compile %s: %s", schema_text, err);
        return -1;
    }
    if (js_schema_compile(t->schema, &t->js, err, sizeof err)) { fprintf(stderr, "js: %s\n", err); exit(2); }
    return 0;
}

static void tg_close(tg *t)
{
    jc_grammar_free(t->g);
    js_schema_free(t->js);
    json_decref(t->schema);
}

/* 1 prefix accepted, 2 accepted and complete, 0 rejected */
static int feed(tg *t, const char *s, size_t n)
{
    jc_state *st = jc_state_init(t->g, 0);
    if (!st) { fprintf(stderr, "state init failed\n"); exit(2); }
    int r = 0;
    if (jc_accept_bytes(st, s, n) == 0) r = jc_can_end(st) ? 2 : 1;
    /* the same bytes one at a time must give the same answer */
    jc_state_reset(st);
    int r1 = 2;
    for (size_t i = 0; i < n; i++)
        if (jc_accept_bytes(st, s + i, 1)) { r1 = 0; break; }
    if (r1) r1 = jc_can_end(st) ? 2 : 1;
    CHECK(r == r1, "%s: whole vs bytewise feeding of '%.*s' differ (%d vs %d)", t->text, (int)n, s, r, r1);
    jc_state_free(st);
    return r;
}

static void reject(tg *t, const char *s)
{
    CHECK(feed(t, s, strlen(s)) == 0, "%s: '%s' should be rejected", t->text, s);
}

static void incomplete(tg *t, const char *s)
{
    CHECK(feed(t, s, strlen(s)) == 1, "%s: '%s' should be a valid but incomplete prefix", t->text, s);
}

static void complete_n(tg *t, const char *s, size_t n)
{
    int r = feed(t, s, n);
    CHECK(r == 2, "%s: '%.*s' should be a complete document (got %d)", t->text, (int)n, s, r);
    if (r != 2) return;
    json_error_t je;
    json_t *v = json_loadb(s, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    CHECK(v != NULL, "%s: accepted '%.*s' does not parse: %s", t->text, (int)n, s, je.text);
    if (v) {
        CHECK(js_validate(t->js, v, NULL) == 1, "%s: accepted '%.*s' fails validation", t->text, (int)n, s);
        json_decref(v);
    }
}

static void complete(tg *t, const char *s) { complete_n(t, s, strlen(s)); }

static void bad_schema(const char *schema_text, const char *want)
{
    json_error_t je;
    char err[512] = "";
    json_t *s = json_loads(schema_text, JSON_DECODE_ANY, &je);
    if (!s) { fprintf(stderr, "bad test schema %s: %s\n", schema_text, je.text); exit(2); }
    jc_grammar *g = NULL;
    int rc = jc_grammar_compile(s, NULL, &g, err, sizeof err);
    CHECK(rc != 0 && g == NULL, "%s: should not compile", schema_text);
    CHECK(rc == 0 || strstr(err, want) != NULL, "%s: message '%s' lacks '%s'", schema_text, err, want);
    if (getenv("JC_VERBOSE")) printf("  %s\n    -> %s\n", schema_text, err);
    jc_grammar_free(g);
    json_decref(s);
}

static void forced(tg *t, const char *prefix, const char *want)
{
    jc_state *st = jc_state_init(t->g, 0);
    char buf[300];
    CHECK(jc_accept_bytes(st, prefix, strlen(prefix)) == 0, "%s: forced: prefix '%s' rejected", t->text, prefix);
    int n = jc_forced_bytes(st, buf, (int)sizeof buf - 1);
    buf[n < 0 ? 0 : n] = 0;
    CHECK(!strcmp(buf, want), "%s: after '%s' forced '%s', want '%s'", t->text, prefix, buf, want);
    jc_state_free(st);
}

static void test_object(void)
{
    tg t;
    if (tg_open(&t, "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":\"string\"}},"
                    "\"required\":[\"a\"]}") == 0) {
        incomplete(&t, "{\"a\":1");
        incomplete(&t, "{\"a\":1,\"b\":\"x\"");
        incomplete(&t, "{\"a\":-12");
        complete(&t, "{\"a\":1}");
        complete(&t, "{\"a\":0,\"b\":\"\"}");
        complete(&t, "{\"a\":1,\"b\":\"x\"}");
        reject(&t, "{\"b\"");              /* a is required and comes first */
        reject(&t, "{\"c\":");
        reject(&t, "{\"a\":01");
        reject(&t, "{ \"a\"");             /* compact only */
        reject(&t, "{\"a\": 1");
        reject(&t, "{\"a\":1,\"a\"");
        reject(&t, "{\"a\":1,}");
        reject(&t, "{\"a\":1.5");
        reject(&t, "{}");
        reject(&t, "{\"a\":1}x");
        reject(&t, " {");
        tg_close(&t);
    }
    /* optional first: may be skipped, but never after the required one */
    if (tg_open(&t, "{\"type\":\"object\",\"properties\":{\"b\":{\"type\":\"string\"},\"a\":{\"type\":\"integer\"}},"
                    "\"required\":[\"a\"]}") == 0) {
        incomplete(&t, "{\"b\"");
        complete(&t, "{\"b\":\"x\",\"a\":2}");
        complete(&t, "{\"a\":2}");
        reject(&t, "{\"a\":1,\"b\"");
        reject(&t, "{\"b\":\"x\"}");
        tg_close(&t);
    }
    /* shared key prefixes, escaping in names, empty object */
    if (tg_open(&t, "{\"properties\":{\"ab\":{\"type\":\"null\"},\"abc\":{\"type\":\"null\"},\"q\\\"/\":{\"const\":1}},"
                    "\"additionalProperties\":false}") == 0) {
        complete(&t, "{}");
        complete(&t, "{\"ab\":null,\"abc\":null}");
        complete(&t, "{\"abc\":null}");
        complete(&t, "{\"q\\\"/\":1}");
        reject(&t, "{\"abd\"");
        reject(&t, "{\"ab\":null,\"ab\"");
        tg_close(&t);
    }
    /* required name missing from properties: generated with additionalProperties */
    if (tg_open(&t, "{\"type\":\"object\",\"required\":[\"x\"],\"additionalProperties\":{\"type\":\"boolean\"}}") == 0) {
        complete(&t, "{\"x\":true}");
        reject(&t, "{\"x\":1");
        reject(&t, "{}");
        tg_close(&t);
    }
    /* minProperties / maxProperties */
    if (tg_open(&t, "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"null\"},\"b\":{\"type\":\"null\"},"
                    "\"c\":{\"type\":\"null\"}},\"minProperties\":1,\"maxProperties\":2,\"required\":[\"c\"]}") == 0) {
        complete(&t, "{\"c\":null}");
        complete(&t, "{\"a\":null,\"c\":null}");
        reject(&t, "{\"a\":null,\"b\"");    /* then c would be a third */
        reject(&t, "{}");
        tg_close(&t);
    }
    if (tg_open(&t, "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"null\"},\"b\":{\"type\":\"null\"}},"
                    "\"minProperties\":2}") == 0) {
        complete(&t, "{\"a\":null,\"b\":null}");
        reject(&t, "{\"b\"");               /* a skipped: only one left */
        reject(&t, "{\"a\":null}");
        tg_close(&t);
    }
}

static void test_strings(void)
{
    tg t;
    if (tg_open(&t, "{\"type\":\"string\",\"maxLength\":3}") == 0) {
        complete(&t, "\"abc\"");
        complete(&t, "\"\"");
        reject(&t, "\"abcd");
        complete(&t, "\"\xc3\xa9\xc3\xa9\xc3\xa9\"");          /* 3 code points, 6 bytes */
        reject(&t, "\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3");
        complete(&t, "\"\\u00e9\\u00E9x\"");
        reject(&t, "\"ab\\u00e9\\");                        /* a 4th character would start */
        complete(&t, "\"\\n\\t\\\"\"");
        complete(&t, "\"\\\\\\/\\b\"");
        complete(&t, "\"\xf0\x9f\x98\x80\"");               /* U+1F600 raw */
        incomplete(&t, "\"\xf0\x9f");
        incomplete(&t, "\"\\u00");
        reject(&t, "\"\\x");
        reject(&t, "\"\\u12g");
        reject(&t, "\"\\ud800");
        reject(&t, "\"\\uDFFF");
        reject(&t, "\"\\u0000");
        complete(&t, "\"\\u0001\"");
        reject(&t, "\"a\nb\"");                              /* raw control byte */
        reject(&t, "\"\t");
        reject(&t, "\"\xff");
        reject(&t, "\"\x80");
        incomplete(&t, "\"\xc3");
        reject(&t, "\"\xc3\x28");
        reject(&t, "\"\xc0\xaf");                            /* overlong */
        reject(&t, "\"\xe0\x80");                            /* overlong */
        reject(&t, "\"\xed\xa0");                            /* surrogate */
        reject(&t, "\"\xf4\x90");                            /* > U+10FFFF */
        reject(&t, "\"\xf5");
        reject(&t, "'a'");
        reject(&t, "abc");
        tg_close(&t);
    }
    if (tg_open(&t, "{\"type\":\"string\",\"minLength\":2}") == 0) {
        reject(&t, "\"a\"");
        complete(&t, "\"ab\"");
        complete(&t, "\"\xe4\xb8\xad\xe6\x96\x87\"");
        reject(&t, "\"\xe4\xb8\xad\"");
        tg_close(&t);
    }
    if (tg_open(&t, "{\"enum\":[\"red\",\"green\",\"gr\\u00fcn\",1,10,null,{\"a\":[1]},[]]}") == 0) {
        complete(&t, "\"red\"");
        incomplete(&t, "\"re");
        reject(&t, "\"blue");
        reject(&t, "\"redd");
        complete(&t, "\"gr\xc3\xbcn\"");
        complete(&t, "1");
        complete(&t, "10");
        reject(&t, "100");
        reject(&t, "2");
        complete(&t, "null");
        complete(&t, "{\"a\":[1]}");
        reject(&t, "{\"a\":[2");
        complete(&t, "[]");
        tg_close(&t);
    }
    if (tg_open(&t, "{\"const\":{\"k\":[true,{\"z\":\"\\n\"}],\"n\":1.5}}") == 0) {
        complete(&t, "{\"k\":[true,{\"z\":\"\\n\"}],\"n\":1.5}");
        reject(&t, "{\"n\"");
        forced(&t, "", "{\"k\":[true,{\"z\":\"\\n\"}],\"n\":1.5}");
        tg_close(&t);
    }
    /* pattern is not enforced during generation (validated afterwards) */
    if (tg_open(&t, "{\"type\":\"string\",\"pattern\":\"^[0-9]+$\",\"maxLength\":4}") == 0) {
        incomplete(&t, "\"ab");
        tg_close(&t);
    }
}

static void test_arrays(void)
{
    tg t;
    if (tg_open(&t, "{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":1,\"maxItems\":2}") == 0) {
        reject(&t, "[]");
        complete(&t, "[1]");
        complete(&t, "[1,-2]");
        reject(&t, "[1,2,");
        reject(&t, "[1,2,3");
        reject(&t, "[,");
        reject(&t, "[1,]");
        tg_close(&t);
    }
    if (tg_open(&t, "{\"type\":\"array\",\"items\":{\"type\":\"array\",\"items\":{\"type\":\"boolean\"},\"maxItems\":1},"
                    "\"maxItems\":2}") == 0) {
        complete(&t, "[]");
        complete(&t, "[[],[true]]");
        reject(&t, "[[true,");
        reject(&t, "[[],[],");
        reject(&t, "[[],[]]]");
        tg_close(&t);
    }
    if (tg_open(&t, "{\"prefixItems\":[{\"type\":\"string\"},{\"type\":\"integer\"}],\"items\":false}") == 0) {
        complete(&t, "[]");
        complete(&t, "[\"a\"]");
        complete(&t, "[\"a\",3]");
        reject(&t, "[3");
        reject(&t, "[\"a\",3,");
        tg_close(&t);
    }
    if (tg_open(&t, "{\"type\":\"array\"}") == 0) {   /* items: anything */
        complete(&t, "[1,\"x\",null,[true,[]],{},-0.5]");
        reject(&t, "[{\"a\"");                       /* no invented properties */
        tg_close(&t);
    }
}

static void test_numbers(void)
{
    tg t;
    if (tg_open(&t, "{\"type\":\"integer\",\"minimum\":-5,\"maximum\":120}") == 0) {
        complete(&t, "-5");
        reject(&t, "-6");
        reject(&t, "-0");
        complete(&t, "0");
        complete(&t, "120");
        reject(&t, "121");
        reject(&t, "1200");
        complete(&t, "12");
        complete(&t, "99");
        reject(&t, "1.0");
        reject(&t, "1e2");
        reject(&t, "+1");
        tg_close(&t);
    }
    if (tg_open(&t, "{\"type\":\"integer\",\"minimum\":10,\"maximum\":120,\"multipleOf\":7}") == 0) {
        complete(&t, "14");
        complete(&t, "119");
        incomplete(&t, "1");                          /* 14, 21, ... */
        reject(&t, "15");
        incomplete(&t, "7");                          /* 70, 77 */
        reject(&t, "-");
        tg_close(&t);
    }
    if (tg_open(&t, "{\"type\":\"integer\",\"exclusiveMinimum\":2.5,\"exclusiveMaximum\":1000}") == 0) {
        incomplete(&t, "2");                          /* 20... */
        complete(&t, "3");
        complete(&t, "999");
        reject(&t, "1000");
        incomplete(&t, "1");
        tg_close(&t);
    }
    if (tg_open(&t, "{\"type\":\"number\",\"minimum\":0.5,\"maximum\":2.5}") == 0) {
        complete(&t, "0.5");
        reject(&t, "0.4");
        complete(&t, "2.5");
        reject(&t, "2.51");
        complete(&t, "1");
        complete(&t, "1.999999");
        reject(&t, "1.9999991");                      /* 6 fraction digits at most */
        reject(&t, "3");
        incomplete(&t, "0");
        incomplete(&t, "0.");
        reject(&t, "-");
        reject(&t, "00");
        tg_close(&t);
    }
    if (tg_open(&t, "{\"type\":\"number\",\"exclusiveMaximum\":1,\"exclusiveMinimum\":-0.1}") == 0) {
        complete(&t, "0.999999");
        reject(&t, "1");
        complete(&t, "-0.099999");
        reject(&t, "-0.1");
        complete(&t, "0");
        complete(&t, "-0.05");
        incomplete(&t, "-0");                         /* only as in -0.05 */
        tg_close(&t);
    }
    if (tg_open(&t, "{\"type\":\"number\",\"minimum\":0.1,\"maximum\":0.3}") == 0) {
        complete(&t, "0.1");                          /* double 0.1 >= 0.1 */
        complete(&t, "0.3");
        complete(&t, "0.2");
        reject(&t, "0.300001");
        tg_close(&t);
    }
    if (tg_open(&t, "{\"type\":\"number\"}") == 0) {
        complete(&t, "-123456789012.123456");
        reject(&t, "1234567890123");                  /* 12 integer digits at most */
        complete(&t, "-0.5");
        tg_close(&t);
    }
}

static void test_alternatives(void)
{
    tg t;
    if (tg_open(&t, "{\"anyOf\":[{\"type\":\"string\",\"maxLength\":2},{\"type\":\"integer\",\"minimum\":5}]}") == 0) {
        complete(&t, "\"ab\"");
        reject(&t, "\"abc");
        complete(&t, "7");
        incomplete(&t, "4");
        complete(&t, "45");
        reject(&t, "-");
        reject(&t, "null");
        tg_close(&t);
    }
    if (tg_open(&t, "{\"type\":[\"string\",\"null\"],\"maxLength\":1}") == 0) {
        complete(&t, "null");
        complete(&t, "\"x\"");
        reject(&t, "\"xy");
        reject(&t, "1");
        tg_close(&t);
    }
    /* two objects distinguished by their property names */
    if (tg_open(&t, "{\"oneOf\":[{\"type\":\"object\",\"properties\":{\"cat\":{\"const\":\"meow\"}},\"required\":[\"cat\"],"
                    "\"additionalProperties\":false},{\"type\":\"object\",\"properties\":{\"dog\":{\"type\":\"integer\"}},"
                    "\"required\":[\"dog\"],\"additionalProperties\":false}]}") == 0) {
        complete(&t, "{\"cat\":\"meow\"}");
        complete(&t, "{\"dog\":3}");
        reject(&t, "{\"cat\":3");
        reject(&t, "{\"dog\":\"");
        forced(&t, "{\"c", "at\":\"meow\"}");
        tg_close(&t);
    }
    /* allOf merges */
    if (tg_open(&t, "{\"allOf\":[{\"properties\":{\"a\":{\"type\":\"integer\"}},\"required\":[\"a\"]},"
                    "{\"properties\":{\"b\":{\"type\":\"string\"},\"a\":{\"maximum\":3}},\"required\":[\"b\"]}]}") == 0) {
        complete(&t, "{\"a\":1,\"b\":\"x\"}");
        reject(&t, "{\"a\":1}");
        reject(&t, "{\"a\":4");
        tg_close(&t);
    }
    /* $ref with siblings */
    if (tg_open(&t, "{\"$defs\":{\"s\":{\"type\":\"string\"}},\"$ref\":\"#/$defs/s\",\"maxLength\":2}") == 0) {
        complete(&t, "\"ab\"");
        reject(&t, "\"abc");
        tg_close(&t);
    }
    if (tg_open(&t, "true") == 0) {
        complete(&t, "{}");
        complete(&t, "[1,[2]]");
        complete(&t, "\"x\"");
        complete(&t, "-3.25");
        complete(&t, "12");            /* a root number may end or go on */
        complete(&t, "1");
        tg_close(&t);
    }
}

static void test_recursion(void)
{
    tg t;
    const char *tree =
        "{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":{\"v\":{\"type\":\"integer\"},"
        "\"kids\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/node\"}}},\"required\":[\"v\"],"
        "\"additionalProperties\":false}},\"$ref\":\"#/$defs/node\"}";
    if (tg_open(&t, tree) == 0) {
        complete(&t, "{\"v\":1}");
        complete(&t, "{\"v\":1,\"kids\":[{\"v\":2,\"kids\":[]},{\"v\":3}]}");
        reject(&t, "{\"v\":1,\"kids\":[{}");
        /* nesting is limited (each level is an object and an array frame) */
        char buf[4096];
        size_t n = 0;
        int depth = 40, okdepth = 0;
        for (int i = 0; i < depth; i++) n += (size_t)sprintf(buf + n, "{\"v\":1,\"kids\":[");
        jc_state *st = jc_state_init(t.g, 0);
        for (size_t i = 0; i < n; i++) {
            if (jc_accept_bytes(st, buf + i, 1)) break;
            if (buf[i] == '[') okdepth++;
        }
        CHECK(okdepth > 5 && okdepth < depth, "tree: nesting stops at a limit (got %d)", okdepth);
        /* and where it stops, the document can still be closed */
        char fb[300];
        int guard = 0;
        while (!jc_can_end(st) && guard++ < 200) {
            if (jc_accept_bytes(st, "]", 1) && jc_accept_bytes(st, "}", 1)) break;
        }
        CHECK(jc_can_end(st), "tree: a document at the nesting limit can be completed");
        (void)fb;
        jc_state_free(st);
        tg_close(&t);
    }
    /* linked list with a null base case through anyOf */
    if (tg_open(&t, "{\"$defs\":{\"l\":{\"type\":\"object\",\"properties\":{\"next\":{\"anyOf\":[{\"$ref\":\"#/$defs/l\"},"
                    "{\"type\":\"null\"}]}},\"required\":[\"next\"]}},\"$ref\":\"#/$defs/l\"}") == 0) {
        complete(&t, "{\"next\":null}");
        complete(&t, "{\"next\":{\"next\":null}}");
        reject(&t, "{}");
        tg_close(&t);
    }
    /* "#" recursion */
    if (tg_open(&t, "{\"type\":\"array\",\"items\":{\"$ref\":\"#\"},\"maxItems\":2}") == 0) {
        complete(&t, "[[],[[]]]");
        reject(&t, "[1");
        tg_close(&t);
    }
}

static void test_forced(void)
{
    tg t;
    if (tg_open(&t, "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},\"kind\":{\"enum\":[\"PERSON\","
                    "\"PLACE\"]},\"n\":{\"type\":\"integer\"}},\"required\":[\"name\",\"kind\",\"n\"]}") == 0) {
        forced(&t, "", "{\"name\":\"");
        forced(&t, "{\"name\":\"x", "");
        forced(&t, "{\"name\":\"x\"", ",\"kind\":\"P");
        forced(&t, "{\"name\":\"x\",\"kind\":\"PE", "RSON\",\"n\":");
        forced(&t, "{\"name\":\"x\",\"kind\":\"PERSON\",\"n\":1", "");
        tg_close(&t);
    }
}

static void test_bad_schemas(void)
{
    bad_schema("{\"type\":\"strin\"}", "invalid schema");
    bad_schema("{\"$ref\":\"#/$defs/nope\"}", "nope");
    bad_schema("{\"$ref\":\"other.json#/x\"}", "other.json");
    bad_schema("{\"$defs\":{\"a\":{\"type\":\"object\",\"properties\":{\"x\":{\"$ref\":\"#/$defs/a\"}},"
               "\"required\":[\"x\"]}},\"$ref\":\"#/$defs/a\"}", "base case");
    bad_schema("{\"$defs\":{\"a\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/a\"},\"minItems\":1}},"
               "\"$ref\":\"#/$defs/a\"}", "base case");
    bad_schema("{\"type\":\"array\",\"minItems\":3,\"maxItems\":2}", "minItems 3 > maxItems 2");
    bad_schema("{\"type\":\"string\",\"minLength\":3,\"maxLength\":2}", "minLength");
    bad_schema("{\"type\":\"integer\",\"minimum\":5,\"maximum\":4}", "no integer");
    bad_schema("{\"type\":\"integer\",\"minimum\":1.2,\"maximum\":1.8}", "no integer");
    bad_schema("{\"type\":\"number\",\"minimum\":3,\"maximum\":2}", "no number");
    bad_schema("{\"type\":\"integer\",\"enum\":[\"a\",\"b\"]}", "no listed value");
    bad_schema("{\"type\":\"string\",\"maxLength\":2,\"enum\":[\"abc\"]}", "no listed value");
    bad_schema("{\"type\":\"object\",\"properties\":{\"a\":false},\"required\":[\"a\"]}", "forbidden");
    bad_schema("{\"type\":\"object\",\"properties\":{\"a\":{}},\"required\":[\"b\"],\"additionalProperties\":false}",
               "additionalProperties is false");
    bad_schema("{\"if\":{\"type\":\"string\"},\"then\":{\"maxLength\":3}}", "unsupported keyword \"if\"");
    bad_schema("false", "false");
    bad_schema("{\"allOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}]}", "no type");
    bad_schema("{\"allOf\":[{\"const\":1},{\"const\":2}]}", "no listed value");
    bad_schema("{\"type\":\"object\",\"properties\":{\"a\":{}},\"minProperties\":2}", "minProperties");
    bad_schema("{\"type\":\"object\",\"properties\":{\"a\":{},\"b\":{}},\"required\":[\"a\",\"b\"],\"maxProperties\":1}",
               "maxProperties");
    bad_schema("{\"prefixItems\":[{}],\"items\":false,\"minItems\":2}", "at most 1");
    bad_schema("{\"$defs\":{\"a\":{\"$ref\":\"#/$defs/b\"},\"b\":{\"$ref\":\"#/$defs/a\"}},\"$ref\":\"#/$defs/a\"}", "");
    bad_schema("{\"anyOf\":[{\"$ref\":\"#\"}]}", "");
    bad_schema("{\"type\":\"integer\",\"minimum\":1e30}", "no integer");
}

int main(void)
{
    test_object();
    test_strings();
    test_arrays();
    test_numbers();
    test_alternatives();
    test_recursion();
    test_forced();
    test_bad_schemas();
    printf("%d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
