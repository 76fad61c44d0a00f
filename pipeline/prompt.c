/*
 * prompt.c - system and user turns, the shared prompt prefix and its
 * tokens (see prompt.h).
 */
#include "prompt.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct prompt_buf {
    char *s;
    size_t n, cap;
    int oom;
} prompt_buf;

static void prompt_put(prompt_buf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) { b->oom = 1; return; }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
}

static void prompt_str(prompt_buf *b, const char *s) { prompt_put(b, s, strlen(s)); }

static char *prompt_done(prompt_buf *b)
{
    if (b->oom) { free(b->s); return NULL; }
    if (!b->s) return strdup("");
    return b->s;
}

/* Copies document text, defusing the strings Qwen's tokenizer would take
 * for special tokens. */
static void prompt_put_safe(prompt_buf *b, const char *s, size_t n)
{
    static const char *const specials[] = { "<|", "<think>", "</think>", "<tool_call>", "</tool_call>",
                                            "<tool_response>", "</tool_response>" };
    size_t from = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '<') continue;
        for (size_t k = 0; k < sizeof specials / sizeof specials[0]; k++) {
            size_t sl = strlen(specials[k]);
            if (i + sl <= n && !memcmp(s + i, specials[k], sl)) {
                prompt_put(b, s + from, i + 1 - from);
                prompt_str(b, "\xE2\x81\xA0");   /* U+2060 WORD JOINER */
                from = i + 1;
                break;
            }
        }
    }
    prompt_put(b, s + from, n - from);
}

char *prompt_user(const char *title, size_t title_len, const char *text, size_t len)
{
    prompt_buf b = { 0 };
    if (title && title_len) {
        size_t tl = title_len;
        if (tl > PROMPT_MAX_TITLE) {
            tl = PROMPT_MAX_TITLE;
            while (tl > 0 && ((unsigned char)title[tl] & 0xC0) == 0x80) tl--;
        }
        prompt_str(&b, "Title: ");
        prompt_put_safe(&b, title, tl);
        prompt_str(&b, "\n\n");
    }
    prompt_str(&b, "Text:\n");
    prompt_put_safe(&b, text, len);
    return prompt_done(&b);
}

char *prompt_system(const spec *sp)
{
    prompt_buf b = { 0 };
    size_t il = strlen(sp->instructions);
    while (il && (sp->instructions[il - 1] == '\n' || sp->instructions[il - 1] == ' ')) il--;
    prompt_put(&b, sp->instructions, il);
    char *schema = json_dumps(sp->schema, JSON_COMPACT | JSON_SORT_KEYS);
    if (!schema) { free(b.s); return NULL; }
    prompt_str(&b, "\n\n# Output format\nReply with one JSON object that validates against this JSON Schema:\n");
    prompt_str(&b, schema);
    free(schema);
    if (sp->examples_as == SPEC_EXAMPLES_SYSTEM && sp->n_examples) {
        prompt_str(&b, "\n\n# Examples");
        for (int i = 0; i < sp->n_examples; i++) {
            const spec_example *e = &sp->examples[i];
            char head[64];
            snprintf(head, sizeof head, "\n\n## Example %d\nInput:\n", i + 1);
            prompt_str(&b, head);
            char *u = prompt_user(e->title, e->title ? strlen(e->title) : 0, e->text, strlen(e->text));
            char *o = json_dumps(e->output, JSON_COMPACT);
            if (!u || !o) b.oom = 1;
            else {
                prompt_str(&b, u);
                prompt_str(&b, "\nOutput:\n");
                prompt_str(&b, o);
            }
            free(u);
            free(o);
        }
    }
    return prompt_done(&b);
}

/* The messages of a document's prompt; strings in *owned to free. */
static int prompt_msgs(const spec *sp, const char *system, const char *title, size_t title_len, const char *text,
                       size_t len, qe_chat_msg *msgs, char **owned, int *n_owned)
{
    int n = 0;
    *n_owned = 0;
    msgs[n++] = (qe_chat_msg){ QE_ROLE_SYSTEM, system };
    if (sp->examples_as == SPEC_EXAMPLES_TURNS) {
        for (int i = 0; i < sp->n_examples; i++) {
            const spec_example *e = &sp->examples[i];
            char *u = prompt_user(e->title, e->title ? strlen(e->title) : 0, e->text, strlen(e->text));
            char *o = json_dumps(e->output, JSON_COMPACT);
            if (u) owned[(*n_owned)++] = u;
            if (o) owned[(*n_owned)++] = o;
            if (!u || !o) return -1;
            msgs[n++] = (qe_chat_msg){ QE_ROLE_USER, u };
            msgs[n++] = (qe_chat_msg){ QE_ROLE_ASSISTANT, o };
        }
    }
    char *u = prompt_user(title, title_len, text, len);
    if (!u) return -1;
    owned[(*n_owned)++] = u;
    msgs[n++] = (qe_chat_msg){ QE_ROLE_USER, u };
    return n;
}

static char *prompt_render_sys(const spec *sp, const char *system, const char *title, size_t title_len,
                               const char *text, size_t len, int think)
{
    qe_chat_msg msgs[2 + 2 * 16];
    char *owned[2 * 16 + 2];
    int n_owned;
    int n = prompt_msgs(sp, system, title, title_len, text, len, msgs, owned, &n_owned);
    char *r = n > 0 ? qe_chat_render(msgs, n, think) : NULL;
    for (int i = 0; i < n_owned; i++) free(owned[i]);
    return r;
}

char *prompt_render(const spec *sp, const char *title, size_t title_len, const char *text, size_t len, int think)
{
    char *system = prompt_system(sp);
    if (!system) return NULL;
    char *r = prompt_render_sys(sp, system, title, title_len, text, len, think);
    free(system);
    return r;
}

int prompt_tokenize(const qe_model *m, const char *text, size_t len, qe_token **ids, int *n)
{
    *ids = NULL;
    *n = 0;
    int cap = (int)(len < (1u << 28) ? len + 16 : 1u << 28);
    qe_token *t = malloc((size_t)cap * sizeof *t);
    if (!t) return -1;
    int k = qe_tokenize(m, text, len, t, cap);
    if (k > cap) {
        /* cannot happen for byte-level BPE (a token covers >= 1 byte), but
         * the API allows it */
        qe_token *t2 = realloc(t, (size_t)k * sizeof *t);
        if (!t2) { free(t); return -1; }
        t = t2;
        k = qe_tokenize(m, text, len, t, k);
    }
    if (k < 0) { free(t); return -1; }
    *ids = t;
    *n = k;
    return 0;
}

/* Where the document's user turn starts in a rendering: after the last
 * "<|im_start|>user\n" (documents cannot contain one, see prompt_put_safe). */
static size_t prompt_split(const char *r)
{
    const char *mark = "<|im_start|>user\n", *last = NULL;
    for (const char *p = strstr(r, mark); p; p = strstr(p + 1, mark)) last = p;
    return last ? (size_t)(last - r) : 0;
}

int prompt_init(prompt_set *p, const spec *sp, const qe_model *m, char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    if (!(p->system = prompt_system(sp))) goto oom;
    /* the prefix must not depend on the document or the mode: render two
     * different documents in both modes and compare */
    char *r[4] = { NULL, NULL, NULL, NULL };
    r[0] = prompt_render_sys(sp, p->system, "A", 1, "x", 1, 0);
    r[1] = prompt_render_sys(sp, p->system, NULL, 0, "y z", 3, 1);
    if (!r[0] || !r[1]) { free(r[0]); free(r[1]); goto oom; }
    size_t s0 = prompt_split(r[0]), s1 = prompt_split(r[1]);
    int same = s0 && s0 == s1 && !memcmp(r[0], r[1], s0);
    if (same) {
        p->prefix = strndup(r[0], s0);
        p->prefix_len = s0;
    }
    free(r[0]);
    free(r[1]);
    if (!same) {
        snprintf(err, errlen, "the prompt prefix differs between documents or modes (chat template?)");
        prompt_free(p);
        return -1;
    }
    if (!p->prefix) goto oom;
    if (prompt_tokenize(m, p->prefix, p->prefix_len, &p->prefix_ids, &p->n_prefix)) goto oom;
    if (prompt_tokenize(m, PROMPT_THINK_CLOSE, strlen(PROMPT_THINK_CLOSE), &p->close_ids, &p->n_close)) goto oom;
    return 0;
oom:
    snprintf(err, errlen, "out of memory building the prompt");
    prompt_free(p);
    return -1;
}

void prompt_free(prompt_set *p)
{
    if (!p) return;
    free(p->system);
    free(p->prefix);
    free(p->prefix_ids);
    free(p->close_ids);
    memset(p, 0, sizeof *p);
}

int prompt_doc_ids(const prompt_set *p, const spec *sp, const qe_model *m, const char *title, size_t title_len,
                   const char *text, size_t len, int think, qe_token **ids, int *n)
{
    *ids = NULL;
    *n = 0;
    char *r = prompt_render_sys(sp, p->system, title, title_len, text, len, think);
    if (!r) return -1;
    if (strncmp(r, p->prefix, p->prefix_len)) {
        free(r);
        return -1;
    }
    int rc = prompt_tokenize(m, r + p->prefix_len, strlen(r + p->prefix_len), ids, n);
    free(r);
    return rc;
}
