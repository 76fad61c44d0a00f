/*
 * render.c - reads JSON lines {"messages":[{role,content}...],
 * "enable_thinking":bool} and prints qe_chat_render's output for each as a
 * JSON string line; ref/chat_compare.mjs renders the same cases with the
 * official Jinja template and compares. Also checks the thought/answer
 * split and the soft switches, which the template does not cover.
 */
#include "qengine.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int split_checks(void)
{
    static const struct { const char *text, *thought, *answer; } cases[] = {
        { "<think>\nplan\n</think>\n\n{\"a\":1}", "plan", "{\"a\":1}" },
        { "no thinking at all", "", "no thinking at all" },
        { "<think>\n\n</think>\n\nanswer", "", "answer" },
        { "reason without open tag</think>\nans", "reason without open tag", "ans" },
        { "<think>a</think>b</think>\n\nc", "a</think>b", "c" },
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t to, tl, ao, al, n = strlen(cases[i].text);
        qe_chat_split_thinking(cases[i].text, n, &to, &tl, &ao, &al);
        if (tl != strlen(cases[i].thought) || memcmp(cases[i].text + to, cases[i].thought, tl) ||
            al != strlen(cases[i].answer) || memcmp(cases[i].text + ao, cases[i].answer, al)) {
            fprintf(stderr, "FAIL split case %zu: thought '%.*s' answer '%.*s'\n", i, (int)tl,
                    cases[i].text + to, (int)al, cases[i].text + ao);
            bad++;
        }
    }
    qe_chat_msg m1[] = { { QE_ROLE_SYSTEM, "be brief /think" }, { QE_ROLE_USER, "hi /no_think" } };
    qe_chat_msg m2[] = { { QE_ROLE_USER, "hi /no_think" }, { QE_ROLE_ASSISTANT, "ok" }, { QE_ROLE_USER, "now /think please" } };
    qe_chat_msg m3[] = { { QE_ROLE_USER, "plain" } };
    qe_chat_msg m4[] = { { QE_ROLE_SYSTEM, "always /no_think" }, { QE_ROLE_USER, "plain" } };
    if (qe_chat_soft_switch(m1, 2) != 0) { fprintf(stderr, "FAIL soft switch m1\n"); bad++; }
    if (qe_chat_soft_switch(m2, 3) != 1) { fprintf(stderr, "FAIL soft switch m2\n"); bad++; }
    if (qe_chat_soft_switch(m3, 1) != -1) { fprintf(stderr, "FAIL soft switch m3\n"); bad++; }
    if (qe_chat_soft_switch(m4, 2) != 0) { fprintf(stderr, "FAIL soft switch m4\n"); bad++; }
    return bad;
}

int main(void)
{
    int bad = split_checks();
    char line[1 << 16];
    int lineno = 0;
    while (fgets(line, sizeof line, stdin)) {
        lineno++;
        json_error_t e;
        json_t *c = json_loads(line, 0, &e);
        json_t *ms = json_object_get(c, "messages");
        if (!c || !json_is_array(ms)) { fprintf(stderr, "line %d: bad case\n", lineno); return 2; }
        size_t n = json_array_size(ms);
        qe_chat_msg *msgs = calloc(n ? n : 1, sizeof *msgs);
        for (size_t i = 0; i < n; i++) {
            json_t *m = json_array_get(ms, i);
            const char *role = json_string_value(json_object_get(m, "role"));
            msgs[i].role = !strcmp(role, "system") ? QE_ROLE_SYSTEM : !strcmp(role, "user") ? QE_ROLE_USER : QE_ROLE_ASSISTANT;
            msgs[i].content = json_string_value(json_object_get(m, "content"));
        }
        char *r = qe_chat_render(msgs, (int)n, json_is_true(json_object_get(c, "enable_thinking")));
        json_t *s = json_string(r);
        char *out = json_dumps(s, JSON_ENCODE_ANY);
        puts(out);
        free(out); json_decref(s); free(r); free(msgs); json_decref(c);
    }
    return bad ? 1 : 0;
}
