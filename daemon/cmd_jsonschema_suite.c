/*
 * cmd_jsonschema_suite.c - `quarry jsonschema-suite [-v] FILE...`.
 *
 * Runs files in the JSON-Schema-Test-Suite format (an array of groups
 * {description, schema, tests: [{description, data, valid}]}) against
 * pipeline/jsonschema, so the validator the pipeline relies on is checked
 * against the official suite and our own cases.
 *
 * Output: a "FAIL file: group / test" line per failing test with the
 * validator's errors indented below it, a "SKIP ..." line per test whose
 * schema needs a remote document (we have no network), and last, alone on
 * its line, "N passed, M failed" plus ", K skipped" when there are any.
 * -v also prints a PASS line per passing test.
 *
 * Exit: 0 all passed, 1 some test failed, 2 usage error or a file that
 * cannot be read or is not in suite format.
 */
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#include <jansson.h>

#include "commands.h"
#include "jsonschema.h"

typedef struct jss_stats {
    long passed, failed, skipped;
    int verbose;
} jss_stats;

static const char *jss_desc(const json_t *obj)
{
    const char *d = json_string_value(json_object_get(obj, "description"));
    return d ? d : "(no description)";
}

/* Print text indented, one line at a time. */
static void jss_indent(const char *text)
{
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        int n = nl ? (int)(nl - p) : (int)strlen(p);
        printf("    %.*s\n", n, p);
        p += n + (nl ? 1 : 0);
    }
}

static void jss_test(const char *file, const json_t *group, const json_t *t,
                     const js_schema *s, jss_stats *st)
{
    js_errors errs;
    int expect = json_is_true(json_object_get(t, "valid"));
    const json_t *data = json_object_get(t, "data");
    int full, fast;
    char *text;

    js_errors_init(&errs, 20);
    full = js_validate(s, data, &errs);
    /* The error-free path short-circuits differently; both must agree. */
    fast = js_validate(s, data, NULL);
    if (full == expect && fast == expect) {
        st->passed++;
        if (st->verbose)
            printf("PASS %s: %s / %s\n", file, jss_desc(group), jss_desc(t));
        js_errors_clear(&errs);
        return;
    }
    st->failed++;
    printf("FAIL %s: %s / %s\n", file, jss_desc(group), jss_desc(t));
    if (full < 0 || fast < 0)
        jss_indent("out of memory");
    else if (full != fast)
        printf("    validation with and without an error list disagree "
               "(%d vs %d)\n", full, fast);
    else if (full)
        jss_indent("expected invalid, but the instance was accepted");
    text = js_errors_format(&errs);
    if (text && !full) {
        printf("    expected valid, but:\n");
        jss_indent(text);
    }
    free(text);
    js_errors_clear(&errs);
}

static void jss_group(const char *file, const json_t *group, jss_stats *st)
{
    const json_t *tests = json_object_get(group, "tests");
    js_schema *s = NULL;
    char err[512], remote[256];
    size_t i;
    const json_t *t;
    int rc;

    rc = js_schema_compile_ex(json_object_get(group, "schema"), &s, err,
                              sizeof err, remote, sizeof remote);
    json_array_foreach(tests, i, t) {
        if (rc == JS_EREMOTE) {
            st->skipped++;
            printf("SKIP %s: %s / %s (needs remote %s)\n", file,
                   jss_desc(group), jss_desc(t), remote);
        } else if (rc != JS_OK) {
            st->failed++;
            printf("FAIL %s: %s / %s\n    schema does not compile: %s\n",
                   file, jss_desc(group), jss_desc(t), err);
        } else {
            jss_test(file, group, t, s, st);
        }
    }
    js_schema_free(s);
}

/* 0 ran, -1 unreadable or not suite-shaped. */
static int jss_file(const char *file, jss_stats *st)
{
    json_error_t jerr;
    json_t *doc;
    size_t i;
    const json_t *group;
    int flags = JSON_DECODE_ANY | JSON_ALLOW_NUL;

    doc = json_load_file(file, flags, &jerr);
    /* Integers beyond 64 bits do not fit json_int_t; read the file again
     * with every integer as a double rather than give up on it. */
    if (!doc && json_error_code(&jerr) == json_error_numeric_overflow)
        doc = json_load_file(file, flags | JSON_DECODE_INT_AS_REAL, &jerr);
    if (!doc) {
        fprintf(stderr, "jsonschema-suite: %s: %s (line %d)\n", file,
                jerr.text, jerr.line);
        return -1;
    }
    if (!json_is_array(doc)) {
        fprintf(stderr, "jsonschema-suite: %s: not a test suite file (the "
                "top level must be an array of groups)\n", file);
        json_decref(doc);
        return -1;
    }
    json_array_foreach(doc, i, group) {
        if (!json_is_object(group) || !json_object_get(group, "schema") ||
            !json_is_array(json_object_get(group, "tests"))) {
            fprintf(stderr, "jsonschema-suite: %s: group %zu needs \"schema\" "
                    "and a \"tests\" array\n", file, i);
            json_decref(doc);
            return -1;
        }
    }
    json_array_foreach(doc, i, group)
        jss_group(file, group, st);
    json_decref(doc);
    return 0;
}

int cmd_jsonschema_suite(int argc, char **argv)
{
    jss_stats st = {0};
    int bad_file = 0, nfiles = 0;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose")) {
            st.verbose = 1;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: quarry jsonschema-suite [-v] FILE...\n");
            return 0;
        } else {
            nfiles++;
        }
    }
    if (nfiles == 0) {
        fprintf(stderr, "usage: quarry jsonschema-suite [-v] FILE...\n");
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose"))
            continue;
        if (jss_file(argv[i], &st) < 0)
            bad_file = 1;
    }
    if (st.skipped)
        printf("%ld passed, %ld failed, %ld skipped\n", st.passed, st.failed,
               st.skipped);
    else
        printf("%ld passed, %ld failed\n", st.passed, st.failed);
    fflush(stdout);
    if (bad_file)
        return 2;
    return st.failed ? 1 : 0;
}
