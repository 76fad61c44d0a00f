/*
 * jsonschema_pattern.c - ECMA-262 regular expressions for JSON Schema
 * "pattern" and "patternProperties", run on PCRE2.
 *
 * JSON Schema says patterns are ECMA-262 regexes (in Unicode mode), but
 * PCRE2 is what we have. The two agree on most syntax; where they differ we
 * either pick a PCRE2 option or rewrite the pattern before compiling:
 *
 *   - UTF mode without UCP: \d \w \b stay ASCII-only, as in ECMA.
 *   - ALT_BSUX + EXTRA_ALT_BSUX: \uHHHH, \u{H...} and \xHH as in ECMA.
 *   - DOLLAR_ENDONLY: ECMA "$" does not match before a final newline.
 *   - ALLOW_EMPTY_CLASS: ECMA "[]" never matches and "[^]" matches anything.
 *   - "." is rewritten: ECMA excludes all four line terminators, PCRE2 only
 *     the newline.
 *   - \s and \S are rewritten to ECMA's Unicode whitespace set; PCRE2's are
 *     ASCII without UCP.
 *   - \p{...}: PCRE2 10.42 lacks the long General_Category names (Letter,
 *     Decimal_Number, ...) and the gc=/General_Category= prefix, so those
 *     are mapped to the short names.
 *   - "[" inside a class is escaped so PCRE2 does not see POSIX "[:alpha:]".
 *
 * Known differences left: \S inside a class is PCRE2's (ASCII) complement,
 * lookbehinds must have bounded length, and a few ECMA syntax errors (e.g.
 * a lone "{") are accepted as literals.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonschema_int.h"

/* ECMA WhiteSpace and LineTerminator code points, as class contents. */
#define JS_ECMA_WS \
    "\\t\\n\\x0b\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029" \
    "\\u202f\\u205f\\u3000\\ufeff"

/* Growable output buffer for the rewritten pattern. */
typedef struct js_pbuf {
    char *p;
    size_t len, cap;
    int oom;
} js_pbuf;

static void js_pbuf_put(js_pbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void js_pbuf_puts(js_pbuf *b, const char *s)
{
    js_pbuf_put(b, s, strlen(s));
}

/* Long General_Category names (Unicode / ECMA spelling) to the short ones
 * PCRE2 understands. */
static const char *const js_gc_names[][2] = {
    {"Letter", "L"}, {"Cased_Letter", "L&"}, {"Uppercase_Letter", "Lu"},
    {"Lowercase_Letter", "Ll"}, {"Titlecase_Letter", "Lt"},
    {"Modifier_Letter", "Lm"}, {"Other_Letter", "Lo"},
    {"Mark", "M"}, {"Combining_Mark", "M"}, {"Nonspacing_Mark", "Mn"},
    {"Spacing_Mark", "Mc"}, {"Enclosing_Mark", "Me"},
    {"Number", "N"}, {"Decimal_Number", "Nd"}, {"digit", "Nd"},
    {"Letter_Number", "Nl"}, {"Other_Number", "No"},
    {"Punctuation", "P"}, {"punct", "P"}, {"Connector_Punctuation", "Pc"},
    {"Dash_Punctuation", "Pd"}, {"Open_Punctuation", "Ps"},
    {"Close_Punctuation", "Pe"}, {"Initial_Punctuation", "Pi"},
    {"Final_Punctuation", "Pf"}, {"Other_Punctuation", "Po"},
    {"Symbol", "S"}, {"Math_Symbol", "Sm"}, {"Currency_Symbol", "Sc"},
    {"Modifier_Symbol", "Sk"}, {"Other_Symbol", "So"},
    {"Separator", "Z"}, {"Space_Separator", "Zs"},
    {"Line_Separator", "Zl"}, {"Paragraph_Separator", "Zp"},
    {"Other", "C"}, {"Control", "Cc"}, {"cntrl", "Cc"}, {"Format", "Cf"},
    {"Surrogate", "Cs"}, {"Private_Use", "Co"}, {"Unassigned", "Cn"},
};

/* Emit the body of \p{body} in PCRE2 spelling. */
static void js_pattern_prop(js_pbuf *b, const char *body, size_t n)
{
    const char *eq = memchr(body, '=', n);
    if (eq) {
        size_t kl = (size_t)(eq - body);
        if ((kl == 16 && !memcmp(body, "General_Category", 16)) ||
            (kl == 2 && !memcmp(body, "gc", 2))) {
            /* gc=X is just X; fall through to the name mapping */
            n -= kl + 1;
            body = eq + 1;
        } else {
            /* Script=, sc=, Script_Extensions=, scx= work as is */
            js_pbuf_put(b, body, n);
            return;
        }
    }
    for (size_t i = 0; i < sizeof js_gc_names / sizeof js_gc_names[0]; i++) {
        if (strlen(js_gc_names[i][0]) == n &&
            !memcmp(js_gc_names[i][0], body, n)) {
            js_pbuf_puts(b, js_gc_names[i][1]);
            return;
        }
    }
    js_pbuf_put(b, body, n);
}

/* Rewrite an ECMA pattern into PCRE2 syntax (see the file comment).
 * Returns a malloc'd NUL-terminated string with its length, or NULL. */
static char *js_pattern_translate(const char *src, size_t len, size_t *outlen)
{
    js_pbuf b = {0};
    int in_class = 0;
    size_t i = 0;

    js_pbuf_put(&b, "", 0);
    while (i < len) {
        char c = src[i];
        if (c == '\\' && i + 1 < len) {
            char n = src[i + 1];
            if (n == 's' || n == 'S') {
                if (in_class) {
                    /* \S in a class cannot be expanded without nesting */
                    if (n == 's')
                        js_pbuf_puts(&b, JS_ECMA_WS);
                    else
                        js_pbuf_puts(&b, "\\S");
                } else {
                    js_pbuf_puts(&b, n == 's' ? "[" : "[^");
                    js_pbuf_puts(&b, JS_ECMA_WS);
                    js_pbuf_puts(&b, "]");
                }
                i += 2;
                continue;
            }
            if ((n == 'p' || n == 'P') && i + 2 < len && src[i + 2] == '{') {
                const char *close = memchr(src + i + 3, '}', len - i - 3);
                if (close) {
                    js_pbuf_put(&b, src + i, 3);
                    js_pattern_prop(&b, src + i + 3,
                                    (size_t)(close - (src + i + 3)));
                    js_pbuf_puts(&b, "}");
                    i = (size_t)(close - src) + 1;
                    continue;
                }
            }
            /* Any other escape is the same in both dialects; copying both
             * bytes keeps an escaped "[" or "]" from changing class state. */
            js_pbuf_put(&b, src + i, 2);
            i += 2;
            continue;
        }
        if (in_class) {
            if (c == ']')
                in_class = 0;
            if (c == '[') {
                js_pbuf_puts(&b, "\\[");
                i++;
                continue;
            }
            js_pbuf_put(&b, &c, 1);
            i++;
            continue;
        }
        if (c == '[') {
            in_class = 1;
            js_pbuf_put(&b, &c, 1);
            i++;
            if (i < len && src[i] == '^') {
                js_pbuf_put(&b, "^", 1);
                i++;
            }
            continue;
        }
        if (c == '.') {
            js_pbuf_puts(&b, "[^\\n\\r\\u2028\\u2029]");
            i++;
            continue;
        }
        js_pbuf_put(&b, &c, 1);
        i++;
    }
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    *outlen = b.len;
    return b.p;
}

pcre2_code *js_pattern_compile(const char *src, size_t len, char *err,
                               size_t errlen)
{
    pcre2_compile_context *cctx = NULL;
    pcre2_code *re = NULL;
    char *pat = NULL;
    size_t patlen = 0;
    int ecode = 0;
    PCRE2_SIZE eoff = 0;

    pat = js_pattern_translate(src, len, &patlen);
    if (!pat) {
        snprintf(err, errlen, "out of memory");
        goto cleanup;
    }
    cctx = pcre2_compile_context_create(NULL);
    if (!cctx) {
        snprintf(err, errlen, "out of memory");
        goto cleanup;
    }
    pcre2_set_compile_extra_options(cctx, PCRE2_EXTRA_ALT_BSUX);
    re = pcre2_compile((PCRE2_SPTR)pat, patlen,
                       PCRE2_UTF | PCRE2_ALT_BSUX | PCRE2_DOLLAR_ENDONLY |
                       PCRE2_ALLOW_EMPTY_CLASS | PCRE2_NEVER_BACKSLASH_C,
                       &ecode, &eoff, cctx);
    if (!re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(ecode, msg, sizeof msg);
        /* The offset is into the rewritten pattern, which only differs
         * from the original where "." or \s was expanded; still useful. */
        snprintf(err, errlen, "%s at offset %zu", (char *)msg, (size_t)eoff);
        goto cleanup;
    }
    /* JIT is an optimisation only; interpretation works if it fails. */
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);

cleanup:
    pcre2_compile_context_free(cctx);
    free(pat);
    return re;
}

int js_pattern_match(const pcre2_code *re, const char *s, size_t len,
                     pcre2_match_data *md, pcre2_match_context *mctx)
{
    /* jansson only produces valid UTF-8, so skip PCRE2's re-check. */
    int rc = pcre2_match(re, (PCRE2_SPTR)s, len, 0, PCRE2_NO_UTF_CHECK, md,
                         mctx);
    if (rc >= 0)
        return 1;
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    return -1;
}
