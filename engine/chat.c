/*
 * chat.c - Qwen3's ChatML chat template, rendered in C exactly as the
 * official Jinja template (tokenizer_config.json of Qwen3) renders
 * system/user/assistant turns without tools, with add_generation_prompt.
 *
 * Template rules reproduced here:
 *  - a leading system message opens the prompt; later system messages are
 *    rendered like user turns;
 *  - an assistant turn whose content holds "</think>" is split into
 *    reasoning (before the first "</think>", after the last "<think>") and
 *    content (after the last "</think>"); only assistant turns after the
 *    last user turn keep their reasoning, as "<think>\n...\n</think>\n\n";
 *  - enable_thinking=false appends "<think>\n\n</think>\n\n" after the
 *    generation prompt "<|im_start|>assistant\n".
 */
#include "qengine.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    char *s;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
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

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static const char *role_name(qe_role r)
{
    return r == QE_ROLE_SYSTEM ? "system" : r == QE_ROLE_USER ? "user" : "assistant";
}

/* Finds the first/last occurrence of needle in [s, s+n). */
static const char *find_first(const char *s, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(s + i, needle, k) == 0) return s + i;
    return NULL;
}

static const char *find_last(const char *s, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = n >= k ? n - k + 1 : 0; i-- > 0;)
        if (memcmp(s + i, needle, k) == 0) return s + i;
    return NULL;
}

/* Python's str.strip('\n') family on [*s, *s + *n). */
static void lstrip_nl(const char **s, size_t *n) { while (*n && **s == '\n') { (*s)++; (*n)--; } }
static void rstrip_nl(const char **s, size_t *n) { (void)s; while (*n && (*s)[*n - 1] == '\n') (*n)--; }

static int is_tool_response(const char *c)
{
    size_t n = strlen(c);
    static const char open[] = "<tool_response>", close[] = "</tool_response>";
    return n >= sizeof open - 1 && memcmp(c, open, sizeof open - 1) == 0 &&
           n >= sizeof close - 1 && memcmp(c + n - (sizeof close - 1), close, sizeof close - 1) == 0;
}

char *qe_chat_render(const qe_chat_msg *msgs, int n, int enable_thinking)
{
    sbuf b = {0};
    sb_put(&b, "", 0);
    if (n > 0 && msgs[0].role == QE_ROLE_SYSTEM) {
        sb_str(&b, "<|im_start|>system\n");
        sb_str(&b, msgs[0].content);
        sb_str(&b, "<|im_end|>\n");
    }
    int last_query = n - 1;
    for (int i = n - 1; i >= 0; i--)
        if (msgs[i].role == QE_ROLE_USER && !is_tool_response(msgs[i].content)) { last_query = i; break; }

    for (int i = 0; i < n; i++) {
        const qe_chat_msg *m = &msgs[i];
        if (m->role == QE_ROLE_USER || (m->role == QE_ROLE_SYSTEM && i > 0)) {
            sb_str(&b, "<|im_start|>");
            sb_str(&b, role_name(m->role));
            sb_str(&b, "\n");
            sb_str(&b, m->content);
            sb_str(&b, "<|im_end|>\n");
        } else if (m->role == QE_ROLE_ASSISTANT) {
            const char *c = m->content, *r = "";
            size_t cn = strlen(c), rn = 0;
            const char *first_end = find_first(c, cn, "</think>");
            if (first_end) {
                const char *last_end = find_last(c, cn, "</think>");
                /* reasoning: before the first </think>, rstrip, then after
                 * the last <think> in that part, lstrip */
                r = c;
                rn = (size_t)(first_end - c);
                rstrip_nl(&r, &rn);
                const char *open = find_last(r, rn, "<think>");
                if (open) { rn -= (size_t)(open + 7 - r); r = open + 7; }
                lstrip_nl(&r, &rn);
                c = last_end + 8;
                cn = strlen(c);
                lstrip_nl(&c, &cn);
            }
            sb_str(&b, "<|im_start|>assistant\n");
            if (i > last_query && (i == n - 1 || rn > 0)) {
                lstrip_nl(&r, &rn);
                rstrip_nl(&r, &rn);
                sb_str(&b, "<think>\n");
                sb_put(&b, r, rn);
                sb_str(&b, "\n</think>\n\n");
                lstrip_nl(&c, &cn);
            }
            sb_put(&b, c, cn);
            sb_str(&b, "<|im_end|>\n");
        }
    }
    sb_str(&b, "<|im_start|>assistant\n");
    if (!enable_thinking) sb_str(&b, "<think>\n\n</think>\n\n");
    if (b.oom) { free(b.s); return NULL; }
    return b.s;
}

void qe_chat_split_thinking(const char *text, size_t len, size_t *t_off, size_t *t_len,
                            size_t *a_off, size_t *a_len)
{
    const char *end = find_last(text, len, "</think>");
    if (!end) {
        *t_off = *t_len = 0;
        *a_off = 0;
        *a_len = len;
        return;
    }
    const char *t = text;
    size_t tn = (size_t)(end - text);
    const char *open = find_first(t, tn, "<think>");
    if (open) { tn -= (size_t)(open + 7 - t); t = open + 7; }
    lstrip_nl(&t, &tn);
    rstrip_nl(&t, &tn);
    const char *a = end + 8;
    size_t an = len - (size_t)(a - text);
    lstrip_nl(&a, &an);
    *t_off = (size_t)(t - text);
    *t_len = tn;
    *a_off = (size_t)(a - text);
    *a_len = an;
}

int qe_chat_soft_switch(const qe_chat_msg *msgs, int n)
{
    /* the most recent switch wins, looking back through user and system
     * turns; within a message, the later of the two */
    for (int i = n - 1; i >= 0; i--) {
        if (msgs[i].role == QE_ROLE_ASSISTANT) continue;
        const char *c = msgs[i].content;
        size_t cn = strlen(c);
        const char *t = find_last(c, cn, "/think"), *nt = find_last(c, cn, "/no_think");
        if (t || nt) return (nt && (!t || nt > t)) ? 0 : 1;
    }
    return -1;
}
