/*
 * test_spec.c - spec loading: the shipped specs load, and every error path
 * gives a one-line message with the right location and wording.
 *   test_spec SCHEMAS_DIR TMP_DIR
 */
#include "spec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;
static const char *tmpdir;

#define CHECK(c)                                                                 \
    do {                                                                         \
        if (!(c)) {                                                              \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
            failures++;                                                          \
        }                                                                        \
    } while (0)

/* A minimal valid spec; cases patch it with one change each. */
static const char *BASE =
    "name: t\n"
    "version: 1\n"
    "instructions: Extract.\n"
    "schema:\n"
    "  type: object\n"
    "  properties:\n"
    "    entities:\n"
    "      type: array\n"
    "      items:\n"
    "        type: object\n"
    "        properties:\n"
    "          name: {type: string}\n"
    "          n: {type: integer}\n";

/* Loads text (written to TMP/t.yaml so that file paths resolve there) and
 * expects failure with every fragment in the message. */
static void expect_err(const char *what, const char *text, int code, const char *f1, const char *f2)
{
    char path[1024], err[1024];
    snprintf(path, sizeof path, "%s/t.yaml", tmpdir);
    FILE *f = fopen(path, "w");
    if (!f) { perror(path); exit(1); }
    fputs(text, f);
    fclose(f);
    spec *sp = NULL;
    int rc = spec_load(path, &sp, err, sizeof err);
    /* the message starts with the file name: strip the temp dir */
    const char *msg = strstr(err, "t.yaml");
    msg = msg ? msg : err;
    int ok = rc == code && !sp && (!f1 || strstr(msg, f1)) && (!f2 || strstr(msg, f2));
    if (!ok) {
        fprintf(stderr, "FAIL %s: rc %d (want %d), message: %s\n  want: '%s' '%s'\n", what, rc, code, msg,
                f1 ? f1 : "", f2 ? f2 : "");
        failures++;
    } else {
        printf("ok   %-34s %s\n", what, msg);
    }
    spec_free(sp);
}

static char *cat(const char *a, const char *b)
{
    static char buf[8192];
    snprintf(buf, sizeof buf, "%s%s", a, b);
    return buf;
}

static void test_shipped(const char *dir)
{
    const char *names[] = { "news.yaml", "events.yaml" };
    for (int i = 0; i < 2; i++) {
        char path[1024], err[1024];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        spec *sp = NULL;
        int rc = spec_load(path, &sp, err, sizeof err);
        if (rc) {
            fprintf(stderr, "FAIL load %s: %s\n", path, err);
            failures++;
            continue;
        }
        printf("ok   load %s: %d grounding, %d refs, %d examples, %d attempts\n", names[i], sp->n_grounding,
               sp->n_refs, sp->n_examples, sp->n_attempts);
        CHECK(sp->n_attempts == 2 && sp->attempts[0].mode == SPEC_NO_THINK && sp->attempts[1].mode == SPEC_THINK);
        CHECK(sp->modes[SPEC_THINK].thinking_budget > 0);
        CHECK(sp->validator != NULL);
        CHECK(spec_schema_at(sp, sp->grounding[0].s) != NULL);
        if (i == 1) CHECK(sp->schema_file && strstr(sp->schema_file, "events.schema.json"));
        if (i == 0) {
            CHECK(!strcmp(sp->name, "news") && !strcmp(sp->version, "1.0"));
            CHECK(sp->n_refs == 2 && sp->n_merges == 2 && sp->merges[0].n_unite == 1);
            CHECK(sp->modes[SPEC_NO_THINK].top_k == 20 && sp->modes[SPEC_NO_THINK].temperature > 0.69);
        }
        spec_free(sp);
    }
}

/* The complete example of schemas/README.md loads as it is written. */
static void test_readme(const char *dir)
{
    char path[1024], err[1024];
    snprintf(path, sizeof path, "%s/README.md", dir);
    FILE *f = fopen(path, "r");
    if (!f) { perror(path); failures++; return; }
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *a = strstr(buf, "```yaml\nname: people");
    char *b = a ? strstr(a + 8, "```") : NULL;
    CHECK(a && b);
    if (!a || !b) return;
    a += 8;
    spec *sp = NULL;
    int rc = spec_load_text(a, (size_t)(b - a), "README.md", dir, &sp, err, sizeof err);
    if (rc) {
        fprintf(stderr, "FAIL README example: %s\n", err);
        failures++;
        return;
    }
    CHECK(sp->n_grounding == 3 && sp->n_refs == 1 && sp->n_merges == 1 && sp->n_examples == 1);
    printf("ok   README example spec loads\n");
    spec_free(sp);
}

static void test_defaults(void)
{
    char err[512];
    spec *sp = NULL;
    int rc = spec_load_text(BASE, strlen(BASE), "base.yaml", NULL, &sp, err, sizeof err);
    CHECK(rc == 0);
    if (rc) { fprintf(stderr, "base: %s\n", err); return; }
    CHECK(!strcmp(sp->version, "1"));   /* any scalar, kept as written */
    CHECK(sp->modes[SPEC_NO_THINK].max_tokens == 1024 && sp->modes[SPEC_THINK].max_tokens == 2048);
    CHECK(sp->modes[SPEC_THINK].thinking_budget == 1024);
    CHECK(sp->modes[SPEC_THINK].top_p > 0.94 && sp->modes[SPEC_NO_THINK].top_p < 0.81);
    CHECK(sp->chunking.max_tokens == 2048 && sp->chunking.overlap_tokens == 64);
    CHECK(sp->n_attempts == 2 && sp->examples_as == SPEC_EXAMPLES_SYSTEM);
    spec_free(sp);
    printf("ok   defaults\n");
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: test_spec SCHEMAS_DIR TMP_DIR\n");
        return 2;
    }
    tmpdir = argv[2];
    test_shipped(argv[1]);
    test_readme(argv[1]);
    test_defaults();

    expect_err("yaml syntax", "name: t\nversion: 1\ninstructions: [a, b\nschema: {}\n", SPEC_ESYNTAX,
               "t.yaml:4:7: YAML syntax error:", "flow sequence");
    expect_err("yaml bad indent", "name: t\n  version: 1\n", SPEC_ESYNTAX, "t.yaml:2:10: YAML syntax error:",
               "mapping values are not allowed");
    expect_err("unknown key", cat(BASE, "groundings:\n  - /entities/*/name\n"), SPEC_EINVALID,
               "t.yaml:14:1: unknown key 'groundings' in spec", "known keys: name, version");
    expect_err("unknown nested key", cat(BASE, "no_think:\n  thinking_budget: 10\n"), SPEC_EINVALID,
               "t.yaml:15:3: unknown key 'thinking_budget' in no_think", NULL);
    expect_err("wrong type int", cat(BASE, "think:\n  max_tokens: lots\n"), SPEC_EINVALID,
               "t.yaml:15:15: think.max_tokens: expected an integer in 16..32768, got 'lots'", NULL);
    expect_err("int out of range", cat(BASE, "no_think:\n  max_tokens: 5\n"), SPEC_EINVALID,
               "no_think.max_tokens: expected an integer in 16..32768, got '5'", NULL);
    expect_err("quoted int", cat(BASE, "no_think:\n  top_k: \"5\"\n"), SPEC_EINVALID,
               "no_think.top_k: expected an integer in 0..1000, got the quoted string '5'", NULL);
    expect_err("wrong type float", cat(BASE, "think:\n  temperature: [1]\n"), SPEC_EINVALID,
               "t.yaml:15:16: think.temperature: expected a number in 0..2, got a list", NULL);
    expect_err("wrong type string", "name: t\nversion: 1\ninstructions: {a: 1}\nschema: {type: object}\n",
               SPEC_EINVALID, "t.yaml:3:15: instructions: expected a string, got a mapping", NULL);
    expect_err("wrong type list", cat(BASE, "grounding: /entities/*/name\n"), SPEC_EINVALID,
               "t.yaml:14:12: grounding: expected a list of strings, got a scalar", NULL);
    expect_err("bad enum", cat(BASE, "attempts:\n  - mode: deep\n"), SPEC_EINVALID,
               "t.yaml:15:11: attempts[0].mode: expected one of no_think|think, got 'deep'", NULL);
    expect_err("missing nested key", cat(BASE, "attempts:\n  - tries: 2\n"), SPEC_EINVALID,
               "t.yaml:15:5: attempts[0]: missing required key 'mode'", NULL);
    expect_err("duplicate key", cat(BASE, "name: u\n"), SPEC_EINVALID, "t.yaml:14:1: spec: duplicate key 'name'", NULL);
    expect_err("missing instructions", "name: t\nversion: 1\nschema: {type: object}\n", SPEC_EINVALID,
               "t.yaml: missing required key 'instructions'", NULL);
    expect_err("missing schema", "name: t\nversion: 1\ninstructions: x\n", SPEC_EINVALID,
               "t.yaml: missing required key 'schema'", NULL);
    expect_err("root not mapping", "- a\n- b\n", SPEC_EINVALID, "t.yaml:1:1: spec: expected a mapping, got a list", NULL);
    expect_err("empty file", "# nothing\n", SPEC_EINVALID, "t.yaml: the spec is empty", NULL);
    expect_err("schema does not compile",
               "name: t\nversion: 1\ninstructions: x\nschema:\n  type: object\n  properties:\n    a: {type: string, minLength: x}\n",
               SPEC_EINVALID, "t.yaml:5:3: schema: does not compile: ", "minLength");
    expect_err("schema not object", "name: t\nversion: 1\ninstructions: x\nschema: {type: array}\n", SPEC_EINVALID,
               "t.yaml:4:9: schema: the root must be an object schema", NULL);
    expect_err("schema file missing", "name: t\nversion: 1\ninstructions: x\nschema: nope.json\n", SPEC_EINVALID,
               "t.yaml:4:9: schema: cannot read schema file 'nope.json'", "No such file");
    {
        char p[1024];
        snprintf(p, sizeof p, "%s/bad.json", tmpdir);
        FILE *f = fopen(p, "w");
        fputs("{\"type\": \"object\",\n \"properties\": }\n", f);
        fclose(f);
    }
    expect_err("schema file not json", "name: t\nversion: 1\ninstructions: x\nschema: bad.json\n", SPEC_EINVALID,
               "schema: schema file ", "bad.json:2:");
    expect_err("grounding names no property", cat(BASE, "grounding:\n  - /entities/*/nam\n"), SPEC_EINVALID,
               "t.yaml:15:5: grounding[0]: pointer /entities/*/nam names no string in the schema",
               "no property 'nam' at /entities/* in the schema");
    expect_err("grounding not a string", cat(BASE, "grounding:\n  - /entities/*/n\n"), SPEC_EINVALID,
               "grounding[0]: pointer /entities/*/n names no string in the schema (its type there is not string)", NULL);
    expect_err("grounding not an array", cat(BASE, "grounding:\n  - /entities/0/*\n"), SPEC_EINVALID,
               "names no string in the schema: no property '0' at /entities", NULL);
    expect_err("grounding not a pointer", cat(BASE, "grounding:\n  - entities\n"), SPEC_EINVALID,
               "grounding[0]: pointer entities names no string in the schema: not a JSON Pointer", NULL);
    expect_err("reference bad pointer", cat(BASE, "references:\n  - {from: /entities/*/name, to: /people/*/name}\n"),
               SPEC_EINVALID, "t.yaml:15:5: references[0].to: pointer /people/*/name names no string",
               "no property 'people' at (root)");
    expect_err("merge bad key", cat(BASE, "merge:\n  - {array: /entities, key: [/nme]}\n"), SPEC_EINVALID,
               "merge[0].key[0]: /nme: no property 'nme'", NULL);
    expect_err("budget above max", cat(BASE, "think:\n  max_tokens: 100\n  thinking_budget: 100\n"), SPEC_EINVALID,
               "t.yaml:15:3: think.thinking_budget: 100 must be below think.max_tokens (100)", NULL);
    expect_err("overlap too large", cat(BASE, "chunking: {max_tokens: 100, overlap_tokens: 50}\n"), SPEC_EINVALID,
               "chunking.overlap_tokens: 50 must be below max_tokens / 2 (50)", NULL);
    expect_err("example invalid",
               cat(BASE, "examples:\n  - input: {text: Ann met Bob.}\n    output: {entities: [{name: 3}]}\n"),
               SPEC_EINVALID, "t.yaml:15:5: examples[0].output does not validate against the schema: /entities/0/name", NULL);
    expect_err("example ungrounded",
               cat(BASE, "grounding: [/entities/*/name]\nexamples:\n  - input: {text: Ann met Bob.}\n"
                         "    output: {entities: [{name: ann}, {name: Carl}]}\n"),
               SPEC_EINVALID, "examples[0]: grounding: /entities/1/name \"Carl\" does not occur in the document", NULL);
    expect_err("example missing text", cat(BASE, "examples:\n  - input: {title: x}\n    output: {}\n"), SPEC_EINVALID,
               "examples[0].input: missing required key 'text'", NULL);
    expect_err("two documents", cat(BASE, "---\nname: x\n"), SPEC_EINVALID, "only one YAML document", NULL);
    expect_err("bad name", "name: a b\nversion: 1\ninstructions: x\nschema: {type: object}\n", SPEC_EINVALID,
               "name: 'a b' may only use", NULL);
    expect_err("null string", "name: t\nversion:\ninstructions: x\nschema: {type: object}\n", SPEC_EINVALID,
               "t.yaml:2:9: version: expected a string, got null", NULL);
    {
        char err[256];
        spec *sp = NULL;
        int rc = spec_load("/nonexistent/dir/s.yaml", &sp, err, sizeof err);
        CHECK(rc == SPEC_EIO && strstr(err, "/nonexistent/dir/s.yaml: cannot open: No such file"));
    }
    {
        /* the reference table prints every key */
        char *buf = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&buf, &n);
        spec_print_keys(f);
        fclose(f);
        CHECK(strstr(buf, "think.thinking_budget") && strstr(buf, "attempts[].tries") && strstr(buf, "default 1024"));
        free(buf);
    }
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("all spec tests passed\n");
    return 0;
}
