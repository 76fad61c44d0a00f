/*
 * constraint.c - JSON Schema -> token-level constraint over the Qwen3
 * vocabulary (see constraint.h).
 *
 * Workload: one schema compiled once, then a few hundred to a few thousand
 * masks per document, each over 151,936 logits, on a shared 2-core box.
 * The per-token budget is tens of microseconds, so nothing here scans the
 * vocabulary per token:
 *
 *  - A schema compiles to a small graph of nodes (object, array, string,
 *    number, literal set, alternatives). A byte-level pushdown automaton
 *    runs over it: a stack of frames, one per open value. Alternatives
 *    (anyOf, type arrays) fork the stack, so a state is a short list of
 *    stacks ("heads"), capped at JC_MAX_HEADS (dropping a head only ever
 *    removes options, never allows an invalid byte).
 *  - Once per model (and shared by every grammar for it, keyed by a hash of
 *    the vocabulary) the token byte strings go into a trie in DFS order. A
 *    mask is a walk of that trie with the automaton, pruning a subtree at
 *    the first rejected byte. Stacks during the walk are persistent (new
 *    frames in an arena above the committed stack), so backtracking is free.
 *  - Inside a string (most of an extraction's tokens) the walk would visit
 *    nearly every token, so for each vocabulary we precompute which tokens
 *    are plain string content, bucketed by their code-point count, and a
 *    second small trie of what follows the closing quote in tokens that end
 *    the string. A string-content mask is then a bitset copy plus a walk of
 *    a few hundred nodes. Where string content starts mid-token (after an
 *    escape, a partial UTF-8 character, or `":"`), each trie node knows
 *    whether every token below it is plain content (and its longest count),
 *    so whole subtrees are allowed at once.
 *  - Jump-forward: the byte run every continuation must start with is
 *    tokenized with the model's tokenizer; a run is not ended inside a word
 *    (the start of PERSON in PERSON/PLACE is left to the model).
 *  - No dead ends: every node knows the minimum stack depth it needs to
 *    complete (md); a child is only entered when it fits under
 *    JC_MAX_DEPTH, counters are checked before each character/item, and
 *    numbers are checked against their bounds digit by digit. Recursion
 *    without a base case (md infinite) is a compile error.
 *
 * Enforced while generating:
 *   type (incl. arrays), enum, const (any value, emitted compactly), boolean
 *   schemas, properties (schema order; optional ones may be skipped),
 *   required, additionalProperties (never invents extra properties, even
 *   when allowed; a required name missing from properties gets the
 *   additionalProperties schema), minProperties, maxProperties, items,
 *   prefixItems, minItems, maxItems, minLength/maxLength (code points),
 *   string escapes and UTF-8 validity, integer minimum/maximum/
 *   exclusiveMinimum/exclusiveMaximum and integral multipleOf (exact),
 *   number minimum/maximum/exclusive* (exact, as doubles compare),
 *   anyOf, oneOf (as anyOf), allOf (merged), $ref/$defs incl. recursion.
 *   Output is compact JSON; in think mode up to JC_WS_MAX whitespace bytes
 *   may precede the value.
 * Only checked afterwards by the validator (jsonschema.h):
 *   pattern, format, multipleOf on non-integers or type number, uniqueItems,
 *   contains/minContains/maxContains, not, oneOf's "exactly one",
 *   patternProperties, propertyNames, dependentRequired,
 *   unevaluatedProperties/unevaluatedItems, and keywords of allOf branches
 *   that do not merge (two different patterns: one is kept).
 * Rejected at compile time: if/then/else, dependentSchemas, $dynamicRef,
 *   $recursiveRef, $refs outside the document, recursion without a base
 *   case, contradictions (min > max, empty enum, forbidden required
 *   property, no integer in range, ...).
 * Generation limits: integers have at most 18 digits; numbers at most 12
 * integer and 6 fraction digits, no exponent; strings never contain \u0000
 * or surrogate escapes (non-BMP characters are written as raw UTF-8).
 */
#include "constraint.h"
#include "jsonschema.h"

#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JC_MAX_DEPTH 32     /* frames on one stack, the root frame included */
#define JC_MAX_HEADS 16     /* alternative stacks followed at once */
#define JC_WS_MAX 4         /* whitespace bytes allowed before the value (think mode) */
#define JC_CNT_K 16         /* string tables: one bitset per count 0..K */
#define JC_FORCE_MAX 256    /* longest forced byte run computed at once */
#define JC_INF (INT_MAX / 4)
#define JC_MERGE_DEPTH 48
#define JC_VOCAB_KEEP 2     /* unreferenced vocabulary indexes kept for reuse */

/* ================================================================ vocab */

/* A trie in DFS order: node i's children start at i + 1 and each child's
 * subtree ends at its `end`, where the next sibling starts. */
typedef struct {
    int32_t end;
    int32_t pay;        /* first payload index at or after this node (DFS order) */
    int32_t npay;       /* payloads of this node: [pay, pay + npay) */
    int16_t sfx;        /* main trie: the most code points any token below adds as string content
                           from a clean state, or -1 if some token below is not plain content */
    uint8_t byte;
} jc_tnode;

typedef struct {
    int32_t tok;
    int32_t cnt;        /* code points of string content (string tables) */
} jc_pay;

typedef struct {
    jc_tnode *nodes;
    int n;
    jc_pay *pay;
    int npay;
} jc_trie;

/* Tokens that continue a string from a clean state (o = 0) or open one
 * (o = 1: the token starts with '"'). */
typedef struct {
    uint64_t *le[JC_CNT_K + 1]; /* content-only tokens with count <= k */
    jc_pay *over;               /* content-only tokens with count > K, ascending */
    int nover;
    int maxcnt;
    jc_trie rest;               /* tokens closing the string: bytes after the quote */
} jc_strtab;

enum { JC_TK_NORMAL = 0, JC_TK_SPECIAL = 1, JC_TK_PAD = 2 };

typedef struct jc_vocab {
    uint64_t hash;
    int refs;
    int n_vocab;        /* logits width */
    int n_tok;          /* tokenizer size */
    int nwords;         /* uint64 words of a mask */
    int max_len;        /* longest token in bytes */
    uint8_t *kind;
    jc_trie all;
    jc_strtab str[2];
    uint64_t *free_bits; /* every tokenizer token (thinking) */
    struct jc_vocab *next;
} jc_vocab;

static pthread_mutex_t jc_vocab_lock = PTHREAD_MUTEX_INITIALIZER;
static jc_vocab *jc_vocab_list;

/* Full vocabulary hashes of recently seen models, so a second compile for
 * the same model skips hashing 151k tokens; checked against a sampled
 * fingerprint in case a freed model's address was reused. */
#define JC_SEEN 4
static struct { const void *model; uint64_t fp, hash; } jc_seen[JC_SEEN];
static int jc_seen_next;

/* ============================================================== grammar */

enum { JC_ROOT, JC_OBJECT, JC_ARRAY, JC_STRING, JC_NUMBER, JC_LITSET, JC_ALT, JC_REF };

typedef struct {
    uint8_t byte, term;
    int32_t child, next;
} jc_lnode;

typedef struct {
    char *key;          /* the name JSON-encoded with its quotes */
    int key_len;
    int child;
    int required;
} jc_prop;

typedef struct {
    int kind;
    int md;             /* min frames to complete a value here; JC_INF = never */
    int ref_target;     /* reached through a $ref (for messages) */
    char *path;
    /* object */
    jc_prop *props;
    int n_props, min_props, max_props;
    int *next_req;      /* [i]: first required index >= i (n_props if none) */
    int *req_after;     /* [j]: required properties after j */
    /* array */
    int *prefix;
    int n_prefix, items, min_items, max_items;
    /* string */
    int min_len, max_len;
    /* number: bounds in units of 10^-6 (integer: units of 1) */
    int integer;
    int64_t lo, hi, mult;
    /* literal set */
    jc_lnode *lit;
    int n_lit;
    /* alternatives */
    int *alts;
    int n_alts;
    /* ref / root */
    int target;
    int ws;
} jc_node;

struct jc_grammar {
    jc_node *nodes;
    int n_nodes, cap_nodes;
    int root;
    int any;
    const qe_model *model;
    jc_vocab *V;
};

/* ================================================================ frames */

typedef struct {
    int32_t node;
    uint8_t phase, sub, aux, pad;
    int32_t a, b, c, d;
    int64_t v;
} jc_frame;

enum { JC_RP_DONE = 0, JC_RP_WS };
enum { JC_OP_START = 0, JC_OP_FIRST, JC_OP_KEY, JC_OP_COLON, JC_OP_AFTER_VALUE, JC_OP_AFTER_COMMA };
enum { JC_AP_START = 0, JC_AP_CLOSE, JC_AP_AFTER_ITEM };
enum { JC_SP_START = 0, JC_SP_CONTENT };
enum { JC_NP_START = 0, JC_NP_NEG, JC_NP_INT, JC_NP_DOT, JC_NP_FRAC };
enum { JC_SS_CLEAN = 0, JC_SS_ESC, JC_SS_U0, JC_SS_U1, JC_SS_U2, JC_SS_U3, JC_SS_C1, JC_SS_C2, JC_SS_C3 };

typedef struct {
    jc_frame f;
    int32_t parent;     /* arena index, or -1: base[0..L) lies below */
    int32_t pad;
} jc_aframe;

/* A stack: the committed base[0..L) plus a chain of arena frames. */
typedef struct {
    int32_t top;        /* arena index, or -1: the top is base[L - 1] */
    int32_t L;
    int32_t depth;
} jc_vs;

typedef struct {
    const jc_grammar *g;
    const jc_frame *base;
    jc_aframe *ar;
    int ar_n, ar_cap;
    uint64_t *bits;
    int cnt_lo, cnt_hi;  /* payload count window (string close tries) */
} jc_walk;

typedef struct {
    int n;
    int len[JC_MAX_HEADS];
    jc_frame fr[JC_MAX_HEADS][JC_MAX_DEPTH];
} jc_heads;

struct jc_state {
    const jc_grammar *g;
    int after_think;
    int thinking;
    int ended;
    jc_heads *h, *h2, *h3;   /* current, scratch for accept, scratch for jc_forced */
    jc_walk w;
    uint64_t *mask;
};

/* ============================================================ utilities */

static uint64_t jc_p10[19];
static uint8_t jc_byte_order[256];
static pthread_once_t jc_once = PTHREAD_ONCE_INIT;

static void jc_init_tables(void)
{
    jc_p10[0] = 1;
    for (int i = 1; i < 19; i++) jc_p10[i] = jc_p10[i - 1] * 10;
    /* trial order for forced-byte detection: likely bytes first, so a free
     * state is recognised after two hits */
    static const char first[] = "\"a,}]:{[0123456789-tfn eE.";
    uint8_t seen[256] = {0};
    int n = 0;
    for (const char *p = first; *p; p++) { jc_byte_order[n++] = (uint8_t)*p; seen[(uint8_t)*p] = 1; }
    for (int b = 0; b < 256; b++) if (!seen[b]) jc_byte_order[n++] = (uint8_t)b;
}

static void jc_seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static inline void jc_bit_set(uint64_t *b, int i) { b[i >> 6] |= 1ull << (i & 63); }
static inline int jc_bit_get(const uint64_t *b, int i) { return (int)((b[i >> 6] >> (i & 63)) & 1); }

/* ======================================================= string content */

static const uint8_t jc_cont_lo[5] = { 0x80, 0xA0, 0x80, 0x90, 0x80 };
static const uint8_t jc_cont_hi[5] = { 0xBF, 0xBF, 0x9F, 0xBF, 0x8F };

static int jc_hexval(int b)
{
    if (b >= '0' && b <= '9') return b - '0';
    if (b >= 'a' && b <= 'f') return b - 'a' + 10;
    if (b >= 'A' && b <= 'F') return b - 'A' + 10;
    return -1;
}

/* One byte of string content. Returns -1 reject, 0 consumed, 1 closing
 * quote. *newc = 1 when the byte starts a character (counted at its first
 * byte, so maxLength is checked before a multi-byte character begins).
 * Rejects raw control bytes, invalid UTF-8 (overlongs, surrogates, > U+10FFFF),
 * bad escapes, \u0000 and surrogate escapes (jansson refuses lone ones). */
static int jc_str_byte(uint8_t *sub, uint8_t *aux, int64_t *u, int b, int *newc)
{
    *newc = 0;
    switch (*sub) {
    case JC_SS_CLEAN:
        if (b == '"') return 1;
        if (b == '\\') { *sub = JC_SS_ESC; *newc = 1; return 0; }
        if (b < 0x20) return -1;
        if (b < 0x80) { *newc = 1; return 0; }
        if (b < 0xC2) return -1;
        if (b < 0xE0) { *sub = JC_SS_C1; *aux = 0; }
        else if (b < 0xF0) { *sub = JC_SS_C2; *aux = b == 0xE0 ? 1 : b == 0xED ? 2 : 0; }
        else if (b < 0xF5) { *sub = JC_SS_C3; *aux = b == 0xF0 ? 3 : b == 0xF4 ? 4 : 0; }
        else return -1;
        *newc = 1;
        return 0;
    case JC_SS_ESC:
        switch (b) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
            *sub = JC_SS_CLEAN;
            return 0;
        case 'u':
            *sub = JC_SS_U0;
            *u = 0;
            return 0;
        }
        return -1;
    case JC_SS_U0: case JC_SS_U1: case JC_SS_U2: case JC_SS_U3: {
        int h = jc_hexval(b), k = *sub - JC_SS_U0;
        if (h < 0) return -1;
        int64_t nu = (*u << 4) | h;
        if (k == 1 && nu >= 0xD8 && nu <= 0xDF) return -1;
        if (k == 3 && nu == 0) return -1;
        *u = nu;
        *sub = k == 3 ? JC_SS_CLEAN : (uint8_t)(*sub + 1);
        return 0;
    }
    case JC_SS_C1: case JC_SS_C2: case JC_SS_C3:
        if (b < jc_cont_lo[*aux] || b > jc_cont_hi[*aux]) return -1;
        *aux = 0;
        *sub = *sub == JC_SS_C1 ? JC_SS_CLEAN : (uint8_t)(*sub - 1);
        return 0;
    }
    return -1;
}

/* ========================================================= number bounds */

static int64_t jc_num_scale(const jc_node *n) { return n->integer ? 1 : 1000000; }
static int jc_num_icap(const jc_node *n) { return n->integer ? 18 : 12; }
static int64_t jc_num_lim(const jc_node *n) { return (int64_t)jc_p10[18] - 1; }

/* Some value with magnitude in [x, y] (scaled units) and sign neg within
 * the node's bounds and a multiple of mult? */
static int jc_num_iv(const jc_node *n, int neg, int64_t x, int64_t y)
{
    int64_t lo = neg ? -y : x, hi = neg ? -x : y;
    if (lo < n->lo) lo = n->lo;
    if (hi > n->hi) hi = n->hi;
    if (lo > hi) return 0;
    if (n->mult > 1) {
        int64_t q = hi / n->mult * n->mult;
        if (q > hi) q -= n->mult;
        return q >= lo;
    }
    return 1;
}

/* Completions of an integer part v typed with k digits: v itself, v with a
 * fraction, and v followed by more digits (each a contiguous range). */
static int jc_num_int_feasible(const jc_node *n, int neg, int64_t v, int k)
{
    int64_t S = jc_num_scale(n);
    if (v == 0) return jc_num_iv(n, neg, 0, S - 1);
    for (int e = 0; k + e <= jc_num_icap(n); e++) {
        int64_t a = v * (int64_t)jc_p10[e] * S, b = (v + 1) * (int64_t)jc_p10[e] * S - 1;
        if (jc_num_iv(n, neg, a, b)) return 1;
    }
    return 0;
}

/* ========================================================= frame stepping */

enum { JC_R_REJECT, JC_R_PASS, JC_R_CONSUME, JC_R_POP, JC_R_PUSH, JC_R_PUSH_OPT };

typedef struct {
    int act;
    int child;
    jc_frame f;     /* the frame after the byte (with the child pushed for JC_R_PUSH*) */
    jc_frame f2;    /* JC_R_PUSH_OPT: the alternative without the child */
} jc_res;

static int jc_child_fits(const jc_grammar *g, int node, int depth)
{
    return node >= 0 && depth + g->nodes[node].md <= JC_MAX_DEPTH;
}

static int jc_obj_cand_ok(const jc_grammar *g, const jc_node *n, int j, int i, int count, int depth)
{
    if (j < i || j >= n->n_props || j > n->next_req[i]) return 0;
    if (n->max_props >= 0 && count + 1 + n->req_after[j] > n->max_props) return 0;
    if (count + 1 + (n->n_props - 1 - j) < n->min_props) return 0;
    return jc_child_fits(g, n->props[j].child, depth);
}

static int jc_obj_close_ok(const jc_node *n, int i, int count)
{
    return n->next_req[i] == n->n_props && count >= n->min_props;
}

static int jc_obj_first_cand(const jc_grammar *g, const jc_node *n, int i, int count, int depth)
{
    for (int j = i; j < n->n_props && j <= n->next_req[i]; j++)
        if (jc_obj_cand_ok(g, n, j, i, count, depth)) return j;
    return -1;
}

static int jc_arr_child(const jc_node *n, int k) { return k < n->n_prefix ? n->prefix[k] : n->items; }

static int jc_is_digit(int b) { return b >= '0' && b <= '9'; }

/* The automaton's transition for one frame: what byte b does to frame f,
 * which sits at stack depth `depth` (1 = the root frame). */
static void jc_frame_step(const jc_grammar *g, const jc_frame *f, int b, int depth, jc_res *r)
{
    const jc_node *n = &g->nodes[f->node];
    r->act = JC_R_REJECT;
    r->f = *f;
    switch (n->kind) {
    case JC_ROOT:
        if (f->phase == JC_RP_WS && (b == ' ' || b == '\n' || b == '\r' || b == '\t')) {
            r->f.phase = JC_RP_DONE;
            r->child = n->target;
            r->act = JC_R_PUSH;
            if (f->a + 1 < JC_WS_MAX) {
                r->f2 = *f;
                r->f2.a = f->a + 1;
                r->act = JC_R_PUSH_OPT;
            }
        }
        return;

    case JC_OBJECT:
        switch (f->phase) {
        case JC_OP_START:
            if (b == '{') { r->f.phase = JC_OP_FIRST; r->f.a = 0; r->f.d = 0; r->act = JC_R_CONSUME; }
            return;
        case JC_OP_FIRST:
        case JC_OP_AFTER_COMMA:
            if (b == '"') {
                int j = jc_obj_first_cand(g, n, f->a, f->d, depth);
                if (j < 0) return;
                r->f.phase = n->props[j].key_len == 1 ? JC_OP_COLON : JC_OP_KEY;
                r->f.b = j;
                r->f.c = 1;
                r->act = JC_R_CONSUME;
            } else if (b == '}' && f->phase == JC_OP_FIRST && jc_obj_close_ok(n, f->a, f->d)) {
                r->act = JC_R_POP;
            }
            return;
        case JC_OP_KEY: {
            int p = f->c, m = f->b, last = n->next_req[f->a];
            const jc_prop *pm = &n->props[m];
            for (int j = m; j < n->n_props && j <= last; j++) {
                const jc_prop *pj = &n->props[j];
                if (pj->key_len <= p || (uint8_t)pj->key[p] != b) continue;
                if (j != m && memcmp(pj->key, pm->key, (size_t)p) != 0) continue;
                if (!jc_obj_cand_ok(g, n, j, f->a, f->d, depth)) continue;
                r->f.b = j;
                r->f.c = p + 1;
                if (p + 1 == pj->key_len) r->f.phase = JC_OP_COLON;
                r->act = JC_R_CONSUME;
                return;
            }
            return;
        }
        case JC_OP_COLON:
            if (b == ':') {
                r->child = n->props[f->b].child;
                r->f.a = f->b + 1;
                r->f.d = f->d + 1;
                r->f.phase = JC_OP_AFTER_VALUE;
                r->act = JC_R_PUSH;
            }
            return;
        case JC_OP_AFTER_VALUE:
            if (b == ',') {
                if (jc_obj_first_cand(g, n, f->a, f->d, depth) >= 0) { r->f.phase = JC_OP_AFTER_COMMA; r->act = JC_R_CONSUME; }
            } else if (b == '}') {
                if (jc_obj_close_ok(n, f->a, f->d)) r->act = JC_R_POP;
            }
            return;
        }
        return;

    case JC_ARRAY:
        switch (f->phase) {
        case JC_AP_START: {
            if (b != '[') return;
            int c0 = jc_arr_child(n, 0);
            if (n->min_items > 0) {
                r->f.phase = JC_AP_AFTER_ITEM;
                r->f.a = 1;
                r->child = c0;
                r->act = JC_R_PUSH;
            } else if (n->max_items == 0 || !jc_child_fits(g, c0, depth)) {
                r->f.phase = JC_AP_CLOSE;
                r->act = JC_R_CONSUME;
            } else {
                r->f2 = *f;
                r->f2.phase = JC_AP_CLOSE;
                r->f.phase = JC_AP_AFTER_ITEM;
                r->f.a = 1;
                r->child = c0;
                r->act = JC_R_PUSH_OPT;
            }
            return;
        }
        case JC_AP_CLOSE:
            if (b == ']') r->act = JC_R_POP;
            return;
        case JC_AP_AFTER_ITEM: {
            int k = f->a;
            if (b == ',') {
                int c = jc_arr_child(n, k);
                if ((n->max_items < 0 || k < n->max_items) && jc_child_fits(g, c, depth)) {
                    r->f.a = k + 1;
                    r->child = c;
                    r->act = JC_R_PUSH;
                }
            } else if (b == ']' && k >= n->min_items) {
                r->act = JC_R_POP;
            }
            return;
        }
        }
        return;

    case JC_STRING:
        if (f->phase == JC_SP_START) {
            if (b == '"') { r->f.phase = JC_SP_CONTENT; r->f.a = 0; r->f.sub = JC_SS_CLEAN; r->act = JC_R_CONSUME; }
            return;
        } else {
            int newc;
            int rc = jc_str_byte(&r->f.sub, &r->f.aux, &r->f.v, b, &newc);
            if (rc < 0) return;
            if (rc == 1) {
                if (f->a >= n->min_len) r->act = JC_R_POP;
                return;
            }
            if (newc) {
                if (n->max_len >= 0 && f->a >= n->max_len) return;
                r->f.a = f->a + 1;
            }
            r->act = JC_R_CONSUME;
            return;
        }

    case JC_NUMBER: {
        int neg = f->sub;
        int64_t S = jc_num_scale(n);
        switch (f->phase) {
        case JC_NP_START:
            if (b == '-') {
                if (jc_num_iv(n, 1, 1, jc_num_lim(n))) { r->f.phase = JC_NP_NEG; r->f.sub = 1; r->act = JC_R_CONSUME; }
                return;
            }
            /* fall through */
        case JC_NP_NEG: {
            if (!jc_is_digit(b)) return;
            int d = b - '0';
            if (d == 0 && neg && n->integer) return;
            if (!jc_num_int_feasible(n, neg, d, 1)) return;
            r->f.phase = JC_NP_INT;
            r->f.v = d;
            r->f.c = 1;
            r->act = JC_R_CONSUME;
            return;
        }
        case JC_NP_INT:
            if (jc_is_digit(b)) {
                if (f->v == 0 || f->c >= jc_num_icap(n)) return;
                int64_t nv = f->v * 10 + (b - '0');
                if (!jc_num_int_feasible(n, neg, nv, f->c + 1)) return;
                r->f.v = nv;
                r->f.c = f->c + 1;
                r->act = JC_R_CONSUME;
            } else if (b == '.') {
                if (n->integer || !jc_num_iv(n, neg, f->v * S, f->v * S + S - 1)) return;
                r->f.phase = JC_NP_DOT;
                r->f.v = f->v * S;
                r->f.c = 0;
                r->act = JC_R_CONSUME;
            } else if (!(neg && f->v == 0) && jc_num_iv(n, neg, f->v * S, f->v * S)) {
                r->act = JC_R_PASS;
            }
            return;
        case JC_NP_DOT:
        case JC_NP_FRAC:
            if (jc_is_digit(b)) {
                if (f->c >= 6) return;
                int64_t unit = (int64_t)jc_p10[5 - f->c], P = f->v + (b - '0') * unit;
                if (!jc_num_iv(n, neg, P, P + unit - 1)) return;
                r->f.phase = JC_NP_FRAC;
                r->f.v = P;
                r->f.c = f->c + 1;
                r->act = JC_R_CONSUME;
            } else if (f->phase == JC_NP_FRAC && jc_num_iv(n, neg, f->v, f->v)) {
                r->act = JC_R_PASS;
            }
            return;
        }
        return;
    }

    case JC_LITSET: {
        const jc_lnode *L = n->lit;
        for (int c = L[f->a].child; c >= 0; c = L[c].next) {
            if (L[c].byte != b) continue;
            if (L[c].term && L[c].child < 0) { r->act = JC_R_POP; return; }
            r->f.a = c;
            r->act = JC_R_CONSUME;
            return;
        }
        if (L[f->a].term) r->act = JC_R_PASS;
        return;
    }
    }
}

/* ------------------------------------------------------ persistent stacks */

static inline const jc_frame *jc_vs_top(const jc_walk *w, jc_vs v)
{
    return v.top >= 0 ? &w->ar[v.top].f : &w->base[v.L - 1];
}

static inline jc_vs jc_vs_pop(const jc_walk *w, jc_vs v)
{
    if (v.top >= 0) v.top = w->ar[v.top].parent;
    else v.L--;
    v.depth--;
    return v;
}

static int jc_vs_push(jc_walk *w, jc_vs *v, const jc_frame *f)
{
    if (w->ar_n == w->ar_cap) {
        int cap = w->ar_cap ? w->ar_cap * 2 : 4096;
        jc_aframe *p = realloc(w->ar, (size_t)cap * sizeof *p);
        if (!p) return -1;
        w->ar = p;
        w->ar_cap = cap;
    }
    jc_aframe *a = &w->ar[w->ar_n];
    a->f = *f;
    a->parent = v->top;
    a->pad = 0;
    v->top = w->ar_n++;
    v->depth++;
    return 0;
}

/* Pushes a value of `node` (each fitting alternative of an ALT) on v. */
static int jc_push_child(jc_walk *w, jc_vs v, int node, jc_vs *out, int cap)
{
    const jc_grammar *g = w->g;
    const jc_node *n = &g->nodes[node];
    const int *alts = &node;
    int na = 1, k = 0;
    if (n->kind == JC_ALT) { alts = n->alts; na = n->n_alts; }
    for (int i = 0; i < na && k < cap; i++) {
        if (v.depth + g->nodes[alts[i]].md > JC_MAX_DEPTH) continue;
        jc_frame f;
        memset(&f, 0, sizeof f);
        f.node = alts[i];
        jc_vs u = v;
        if (jc_vs_push(w, &u, &f)) break;
        out[k++] = u;
    }
    return k;
}

/* Feeds byte b to stack v; writes the resulting stacks (0 = rejected). */
static int jc_vs_step(jc_walk *w, jc_vs v, int b, jc_vs *out, int cap)
{
    jc_res r;
    for (;;) {
        if (v.depth <= 0) return 0;
        jc_frame_step(w->g, jc_vs_top(w, v), b, v.depth, &r);
        switch (r.act) {
        case JC_R_PASS:
            v = jc_vs_pop(w, v);
            continue;
        case JC_R_CONSUME:
            v = jc_vs_pop(w, v);
            if (jc_vs_push(w, &v, &r.f)) return 0;
            out[0] = v;
            return 1;
        case JC_R_POP:
            out[0] = jc_vs_pop(w, v);
            return 1;
        case JC_R_PUSH:
            v = jc_vs_pop(w, v);
            if (jc_vs_push(w, &v, &r.f)) return 0;
            return jc_push_child(w, v, r.child, out, cap);
        case JC_R_PUSH_OPT: {
            jc_vs s = jc_vs_pop(w, v), p = s;
            int k = 0;
            if (jc_vs_push(w, &s, &r.f2)) return 0;
            out[k++] = s;
            if (k < cap && !jc_vs_push(w, &p, &r.f)) k += jc_push_child(w, p, r.child, out + k, cap - k);
            return k;
        }
        default:
            return 0;
        }
    }
}

/* Can the document end with this stack (only numbers and literals that
 * could also continue need popping first)? */
static int jc_vs_can_end(jc_walk *w, jc_vs v)
{
    jc_res r;
    while (v.depth > 0) {
        const jc_frame *f = jc_vs_top(w, v);
        if (w->g->nodes[f->node].kind == JC_ROOT) return f->phase == JC_RP_DONE;
        jc_frame_step(w->g, f, 0, v.depth, &r);   /* no frame consumes NUL */
        if (r.act != JC_R_PASS) return 0;
        v = jc_vs_pop(w, v);
    }
    return 0;
}

/* The same set semantics everywhere (mask walk, accept, forced bytes), so
 * a token the mask allows is always accepted. */
static int jc_step_set(jc_walk *w, const jc_vs *in, int nin, int b, jc_vs *out)
{
    int m = 0;
    for (int k = 0; k < nin && m < JC_MAX_HEADS; k++) m += jc_vs_step(w, in[k], b, out + m, JC_MAX_HEADS - m);
    return m;
}

/* ---------------------------------------------------------- trie walking */

static void jc_trie_mark(jc_walk *w, const jc_trie *t, int x)
{
    const jc_tnode *nd = &t->nodes[x];
    for (int i = 0; i < nd->npay; i++) {
        const jc_pay *p = &t->pay[nd->pay + i];
        if (p->cnt >= w->cnt_lo && p->cnt <= w->cnt_hi) jc_bit_set(w->bits, p->tok);
    }
}

/* Inside plain string content every token below c may be allowed at once
 * (their payloads are one range): the common case after an escape or a
 * partial UTF-8 character, which would otherwise walk ~10^4 nodes. */
static int jc_trie_bulk(jc_walk *w, const jc_trie *t, int c, jc_vs v)
{
    const jc_tnode *nd = &t->nodes[c];
    if (nd->sfx < 0) return 0;
    const jc_frame *f = jc_vs_top(w, v);
    const jc_node *n = &w->g->nodes[f->node];
    if (n->kind != JC_STRING || f->phase != JC_SP_CONTENT || f->sub != JC_SS_CLEAN) return 0;
    if (n->max_len >= 0 && f->a + nd->sfx > n->max_len) return 0;
    int end = nd->end < t->n ? t->nodes[nd->end].pay : t->npay;
    for (int i = nd->pay + nd->npay; i < end; i++) jc_bit_set(w->bits, t->pay[i].tok);
    return 1;
}

static void jc_trie_walk(jc_walk *w, const jc_trie *t, int x, const jc_vs *in, int nin)
{
    jc_vs out[JC_MAX_HEADS];
    const jc_tnode *nodes = t->nodes;
    int bulk = t->n > 0 && w->cnt_lo == INT_MIN;   /* main trie only */
    for (int c = x + 1; c < nodes[x].end; c = nodes[c].end) {
        int mark = w->ar_n;
        int n = jc_step_set(w, in, nin, nodes[c].byte, out);
        if (n) {
            if (nodes[c].npay) jc_trie_mark(w, t, c);
            if (nodes[c].end > c + 1 && !(bulk && n == 1 && jc_trie_bulk(w, t, c, out[0]))) jc_trie_walk(w, t, c, out, n);
        }
        w->ar_n = mark;
    }
}

static void jc_or_bits(uint64_t *dst, const uint64_t *src, int nw)
{
    for (int i = 0; i < nw; i++) dst[i] |= src[i];
}

/* String content from a clean state (or the opening quote): the
 * precomputed tables instead of a walk over ~150k tokens. */
static void jc_mask_string(jc_walk *w, const jc_vocab *V, jc_vs v, const jc_frame *top)
{
    const jc_node *n = &w->g->nodes[top->node];
    int start = top->phase == JC_SP_START;
    const jc_strtab *T = &V->str[start];
    int c = start ? 0 : top->a;
    int r = n->max_len < 0 ? JC_INF : n->max_len - c;
    if (r >= T->maxcnt) {
        jc_or_bits(w->bits, T->le[JC_CNT_K], V->nwords);
        for (int i = 0; i < T->nover; i++) jc_bit_set(w->bits, T->over[i].tok);
    } else if (r <= JC_CNT_K) {
        jc_or_bits(w->bits, T->le[r], V->nwords);
    } else {
        jc_or_bits(w->bits, T->le[JC_CNT_K], V->nwords);
        for (int i = 0; i < T->nover && T->over[i].cnt <= r; i++) jc_bit_set(w->bits, T->over[i].tok);
    }
    /* tokens that close the string: content count in [min - c, r], then
     * the bytes after the quote must suit the parent */
    jc_vs closed = jc_vs_pop(w, v);
    w->cnt_lo = n->min_len - c;
    w->cnt_hi = r;
    jc_trie_mark(w, &T->rest, 0);
    jc_trie_walk(w, &T->rest, 0, &closed, 1);
    w->cnt_lo = INT_MIN;
    w->cnt_hi = INT_MAX;
}

/* ====================================================== vocabulary index */

typedef struct {
    const uint8_t *p;
    int len;
    int32_t tok, cnt;
} jc_ent;

static int jc_ent_cmp(const void *a, const void *b)
{
    const jc_ent *x = a, *y = b;
    int n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->p, y->p, (size_t)n);
    if (c) return c;
    if (x->len != y->len) return x->len - y->len;
    return x->tok - y->tok;
}

static void jc_trie_free(jc_trie *t)
{
    free(t->nodes);
    free(t->pay);
    memset(t, 0, sizeof *t);
}

static int jc_str_analyze(const uint8_t *p, int len, int o, int *cnt, int *close);

/* Builds a DFS-ordered trie of the entries (sorted here); with sfx, also
 * each node's string-content summary of the token suffixes below it. */
static int jc_trie_build(jc_trie *t, jc_ent *e, int n, int sfx)
{
    memset(t, 0, sizeof *t);
    qsort(e, (size_t)n, sizeof *e, jc_ent_cmp);
    size_t cap = 1;
    int maxlen = 0;
    for (int i = 0; i < n; i++) {
        cap += (size_t)e[i].len;
        if (e[i].len > maxlen) maxlen = e[i].len;
    }
    t->nodes = malloc(cap * sizeof *t->nodes);
    t->pay = malloc(((size_t)n + 1) * sizeof *t->pay);
    int *path = malloc(((size_t)maxlen + 1) * sizeof *path);
    if (!t->nodes || !t->pay || !path) { free(path); jc_trie_free(t); return -1; }
    int nn = 1, plen = 0;
    t->nodes[0] = (jc_tnode){ 0, -1, 0, 0, 0 };
    path[0] = 0;
    for (int i = 0; i < n; i++) {
        int l = 0;
        if (i > 0) {
            int m = e[i - 1].len < e[i].len ? e[i - 1].len : e[i].len;
            while (l < m && e[i - 1].p[l] == e[i].p[l]) l++;
        }
        while (plen > l) t->nodes[path[plen--]].end = nn;
        for (int d = l; d < e[i].len; d++) {
            t->nodes[nn] = (jc_tnode){ 0, -1, 0, 0, e[i].p[d] };
            path[++plen] = nn++;
        }
        for (int d = 1; sfx && d < e[i].len; d++) {
            jc_tnode *nd = &t->nodes[path[d]];
            if (nd->sfx < 0) continue;
            int cnt, close;
            if (jc_str_analyze(e[i].p, e[i].len, d, &cnt, &close) != 0 || cnt > INT16_MAX) nd->sfx = -1;
            else if (cnt > nd->sfx) nd->sfx = (int16_t)cnt;
        }
        jc_tnode *nd = &t->nodes[path[plen]];
        if (nd->pay < 0) nd->pay = t->npay;
        nd->npay++;
        t->pay[t->npay++] = (jc_pay){ e[i].tok, e[i].cnt };
    }
    while (plen > 0) t->nodes[path[plen--]].end = nn;
    t->nodes[0].end = nn;
    t->n = nn;
    /* pay: the first payload at or after each node, so a subtree's
     * payloads are one contiguous range */
    for (int i = nn - 1, next = t->npay; i >= 0; i--) {
        if (t->nodes[i].npay) next = t->nodes[i].pay;
        t->nodes[i].pay = next;
    }
    free(path);
    jc_tnode *shrunk = realloc(t->nodes, (size_t)nn * sizeof *t->nodes);
    if (shrunk) t->nodes = shrunk;
    return 0;
}

/* Classifies bytes p[o..len) as string content from a clean state:
 * 0 content only (cnt characters begun), 1 closes at *close (cnt before
 * it), -1 invalid. */
static int jc_str_analyze(const uint8_t *p, int len, int o, int *cnt, int *close)
{
    uint8_t sub = JC_SS_CLEAN, aux = 0;
    int64_t u = 0;
    int c = 0;
    for (int i = o; i < len; i++) {
        int newc, rc = jc_str_byte(&sub, &aux, &u, p[i], &newc);
        if (rc < 0) return -1;
        if (rc == 1) { *cnt = c; *close = i; return 1; }
        c += newc;
    }
    *cnt = c;
    return 0;
}

static void jc_strtab_free(jc_strtab *T)
{
    for (int k = 0; k <= JC_CNT_K; k++) free(T->le[k]);
    free(T->over);
    jc_trie_free(&T->rest);
    memset(T, 0, sizeof *T);
}

static int jc_pay_cnt_cmp(const void *a, const void *b)
{
    const jc_pay *x = a, *y = b;
    return x->cnt != y->cnt ? x->cnt - y->cnt : x->tok - y->tok;
}

static int jc_strtab_build(jc_vocab *V, const qe_model *m, int o, jc_strtab *T, jc_ent *ents)
{
    memset(T, 0, sizeof *T);
    int nr = 0;
    for (int k = 0; k <= JC_CNT_K; k++)
        if (!(T->le[k] = calloc((size_t)V->nwords, sizeof(uint64_t)))) return -1;
    T->over = malloc((size_t)V->n_tok * sizeof *T->over);
    if (!T->over) return -1;
    for (int id = 0; id < V->n_tok; id++) {
        if (V->kind[id] != JC_TK_NORMAL) continue;
        size_t len;
        const uint8_t *p = (const uint8_t *)qe_token_bytes(m, id, &len);
        if (!p || !len || (o && p[0] != '"')) continue;
        int cnt, close, rc = jc_str_analyze(p, (int)len, o, &cnt, &close);
        if (rc < 0) continue;
        if (rc == 0) {
            if (cnt > T->maxcnt) T->maxcnt = cnt;
            if (cnt <= JC_CNT_K) {
                for (int k = cnt; k <= JC_CNT_K; k++) jc_bit_set(T->le[k], id);
            } else {
                T->over[T->nover++] = (jc_pay){ id, cnt };
            }
        } else {
            ents[nr++] = (jc_ent){ p + close + 1, (int)len - close - 1, id, cnt };
        }
    }
    qsort(T->over, (size_t)T->nover, sizeof *T->over, jc_pay_cnt_cmp);
    return jc_trie_build(&T->rest, ents, nr, 0);
}

static void jc_vocab_free(jc_vocab *V)
{
    if (!V) return;
    free(V->kind);
    jc_trie_free(&V->all);
    jc_strtab_free(&V->str[0]);
    jc_strtab_free(&V->str[1]);
    free(V->free_bits);
    free(V);
}

/* Token kinds: padding rows past the tokenizer, added tokens (control and
 * user-defined: <|im_start|>, <think>, ...), which never appear inside the
 * JSON, and normal byte-level tokens. */
static int jc_vocab_kind(const qe_model *m, int id, int n_tok)
{
    if (id >= n_tok) return JC_TK_PAD;
    int t = qe_token_type(m, id);
    if (t == QE_TOKEN_CONTROL || t == QE_TOKEN_USER_DEFINED || t == QE_TOKEN_UNUSED) return JC_TK_SPECIAL;
    return JC_TK_NORMAL;
}

static uint64_t jc_vocab_hash(const qe_model *m, int n_vocab, int n_tok)
{
    uint64_t h = 1469598103934665603ull;
#define JC_MIX(x) (h = (h ^ (uint64_t)(x)) * 1099511628211ull)
    JC_MIX(n_vocab);
    JC_MIX(n_tok);
    for (int id = 0; id < n_vocab; id++) {
        size_t len = 0;
        const uint8_t *p = (const uint8_t *)qe_token_bytes(m, id, &len);
        JC_MIX(jc_vocab_kind(m, id, n_tok) + 7 * len);
        for (size_t i = 0; p && i < len; i++) JC_MIX(p[i]);
    }
#undef JC_MIX
    return h;
}

static uint64_t jc_vocab_fingerprint(const qe_model *m, int n_vocab, int n_tok)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)n_vocab * 31 ^ (uint64_t)n_tok;
    for (int k = 0; k < 97; k++) {
        int id = (int)((uint64_t)k * (uint64_t)n_vocab / 97);
        size_t len = 0;
        const uint8_t *p = (const uint8_t *)qe_token_bytes(m, id, &len);
        h = (h ^ len) * 1099511628211ull;
        for (size_t i = 0; p && i < len; i++) h = (h ^ p[i]) * 1099511628211ull;
    }
    return h;
}

static jc_vocab *jc_vocab_build(const qe_model *m, uint64_t hash, char *err, size_t errlen)
{
    const qe_model_info *info = qe_model_get_info(m);
    const qe_vocab_info *vi = qe_model_vocab(m);
    jc_vocab *V = calloc(1, sizeof *V);
    jc_ent *ents = NULL;
    if (!V) goto oom;
    V->hash = hash;
    V->n_vocab = info->n_vocab;
    V->n_tok = vi->n_vocab < info->n_vocab ? vi->n_vocab : info->n_vocab;
    V->nwords = (V->n_vocab + 63) / 64;
    V->kind = malloc((size_t)V->n_vocab);
    V->free_bits = calloc((size_t)V->nwords, sizeof(uint64_t));
    ents = malloc((size_t)V->n_vocab * sizeof *ents);
    if (!V->kind || !V->free_bits || !ents) goto oom;
    int ne = 0;
    for (int id = 0; id < V->n_vocab; id++) {
        V->kind[id] = (uint8_t)jc_vocab_kind(m, id, V->n_tok);
        if (V->kind[id] != JC_TK_PAD) jc_bit_set(V->free_bits, id);
        if (V->kind[id] != JC_TK_NORMAL) continue;
        size_t len;
        const uint8_t *p = (const uint8_t *)qe_token_bytes(m, id, &len);
        if (!p || !len) continue;
        if ((int)len > V->max_len) V->max_len = (int)len;
        ents[ne++] = (jc_ent){ p, (int)len, id, 0 };
    }
    if (jc_trie_build(&V->all, ents, ne, 1)) goto oom;
    if (jc_strtab_build(V, m, 0, &V->str[0], ents) || jc_strtab_build(V, m, 1, &V->str[1], ents)) goto oom;
    free(ents);
    return V;
oom:
    free(ents);
    jc_vocab_free(V);
    jc_seterr(err, errlen, "out of memory building the token index");
    return NULL;
}

/* The index for a model's vocabulary, shared by every grammar over an
 * identical vocabulary (keyed by content, so a freed and reloaded model,
 * or another model with the same tokenizer, reuses it). */
static jc_vocab *jc_vocab_get(const qe_model *m, char *err, size_t errlen)
{
    const qe_model_info *info = qe_model_get_info(m);
    const qe_vocab_info *vi = qe_model_vocab(m);
    int nt = vi->n_vocab < info->n_vocab ? vi->n_vocab : info->n_vocab;
    uint64_t fp = jc_vocab_fingerprint(m, info->n_vocab, nt), h = 0;
    int known = 0;
    pthread_mutex_lock(&jc_vocab_lock);
    for (int i = 0; i < JC_SEEN; i++)
        if (jc_seen[i].model == (const void *)m && jc_seen[i].fp == fp) { h = jc_seen[i].hash; known = 1; }
    pthread_mutex_unlock(&jc_vocab_lock);
    if (!known) {
        h = jc_vocab_hash(m, info->n_vocab, nt);
        pthread_mutex_lock(&jc_vocab_lock);
        jc_seen[jc_seen_next].model = m;
        jc_seen[jc_seen_next].fp = fp;
        jc_seen[jc_seen_next].hash = h;
        jc_seen_next = (jc_seen_next + 1) % JC_SEEN;
        pthread_mutex_unlock(&jc_vocab_lock);
    }
    pthread_mutex_lock(&jc_vocab_lock);
    for (jc_vocab *V = jc_vocab_list; V; V = V->next) {
        if (V->hash == h && V->n_vocab == info->n_vocab && V->n_tok == nt) {
            V->refs++;
            pthread_mutex_unlock(&jc_vocab_lock);
            return V;
        }
    }
    pthread_mutex_unlock(&jc_vocab_lock);
    jc_vocab *N = jc_vocab_build(m, h, err, errlen);
    if (!N) return NULL;
    pthread_mutex_lock(&jc_vocab_lock);
    for (jc_vocab *V = jc_vocab_list; V; V = V->next) {
        if (V->hash == h && V->n_vocab == N->n_vocab && V->n_tok == nt) {
            /* another thread built it meanwhile */
            V->refs++;
            pthread_mutex_unlock(&jc_vocab_lock);
            jc_vocab_free(N);
            return V;
        }
    }
    N->refs = 1;
    N->next = jc_vocab_list;
    jc_vocab_list = N;
    pthread_mutex_unlock(&jc_vocab_lock);
    return N;
}

/* Drops unreferenced indexes beyond the newest `keep`. Lock held. */
static void jc_vocab_trim(int keep)
{
    int idle = 0;
    for (jc_vocab **pp = &jc_vocab_list; *pp;) {
        jc_vocab *V = *pp;
        if (V->refs == 0 && ++idle > keep) {
            *pp = V->next;
            jc_vocab_free(V);
        } else {
            pp = &V->next;
        }
    }
}

static void jc_vocab_put(jc_vocab *V)
{
    if (!V) return;
    pthread_mutex_lock(&jc_vocab_lock);
    V->refs--;
    jc_vocab_trim(JC_VOCAB_KEEP);
    pthread_mutex_unlock(&jc_vocab_lock);
}

void jc_vocab_cache_clear(void)
{
    pthread_mutex_lock(&jc_vocab_lock);
    jc_vocab_trim(0);
    pthread_mutex_unlock(&jc_vocab_lock);
}

/* ======================================================= schema compiler */

enum {
    JC_JT_NULL = 1, JC_JT_BOOL = 2, JC_JT_OBJ = 4, JC_JT_ARR = 8, JC_JT_STR = 16, JC_JT_NUM = 32, JC_JT_INT = 64,
    JC_JT_ALL = 127
};

typedef struct {
    const json_t *key;
    int node;
} jc_memo;

typedef struct {
    jc_grammar *g;
    const json_t *root;
    char *err;
    size_t errlen;
    jc_memo *memo;
    int n_memo, cap_memo;
    json_t *keep;       /* schemas made by merging; alive until the end */
    int merge_depth;
} jc_cc;

static int jc_cc_fail(jc_cc *cc, const char *path, const char *fmt, ...)
{
    if (cc->err && cc->errlen) {
        int k = snprintf(cc->err, cc->errlen, "%s: ", path && *path ? path : "#");
        if (k < 0) k = 0;
        if ((size_t)k < cc->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(cc->err + k, cc->errlen - (size_t)k, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

static int jc_node_new(jc_cc *cc, int kind, const char *path)
{
    jc_grammar *g = cc->g;
    if (g->n_nodes == g->cap_nodes) {
        int cap = g->cap_nodes ? g->cap_nodes * 2 : 64;
        jc_node *p = realloc(g->nodes, (size_t)cap * sizeof *p);
        if (!p) return jc_cc_fail(cc, path, "out of memory");
        g->nodes = p;
        g->cap_nodes = cap;
    }
    jc_node *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->md = JC_INF;
    n->items = -1;
    n->max_items = -1;
    n->max_len = -1;
    n->max_props = -1;
    n->target = -1;
    n->path = strdup(path ? path : "#");
    if (!n->path) return jc_cc_fail(cc, path, "out of memory");
    return g->n_nodes++;
}

/* path + "/" + token, with JSON Pointer escaping of the token */
static char *jc_path_join(const char *path, const char *tok)
{
    size_t n = strlen(path), t = strlen(tok), k = n + 1;
    char *s = malloc(n + 2 * t + 2);
    if (!s) return NULL;
    memcpy(s, path, n);
    s[n] = '/';
    for (size_t i = 0; i < t; i++) {
        if (tok[i] == '~') { s[k++] = '~'; s[k++] = '0'; }
        else if (tok[i] == '/') { s[k++] = '~'; s[k++] = '1'; }
        else s[k++] = tok[i];
    }
    s[k] = 0;
    return s;
}

static char *jc_path_index(const char *path, const char *kw, size_t i)
{
    char num[32];
    snprintf(num, sizeof num, "%zu", i);
    char *a = jc_path_join(path, kw);
    char *b = a ? jc_path_join(a, num) : NULL;
    free(a);
    return b;
}

/* Keywords that shape what is generated (the rest are annotations or are
 * only checked afterwards). */
static int jc_is_gen_key(const char *k)
{
    static const char *const keys[] = {
        "type", "enum", "const", "properties", "required", "additionalProperties", "minProperties",
        "maxProperties", "items", "prefixItems", "minItems", "maxItems", "minLength", "maxLength",
        "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "$ref", "allOf",
        "anyOf", "oneOf", NULL };
    for (int i = 0; keys[i]; i++) if (!strcmp(k, keys[i])) return 1;
    return 0;
}

static int jc_has_gen_keys(const json_t *s)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)s, k, v) if (jc_is_gen_key(k)) return 1;
    return 0;
}

static int jc_type_bit(const char *t)
{
    if (!strcmp(t, "null")) return JC_JT_NULL;
    if (!strcmp(t, "boolean")) return JC_JT_BOOL;
    if (!strcmp(t, "object")) return JC_JT_OBJ;
    if (!strcmp(t, "array")) return JC_JT_ARR;
    if (!strcmp(t, "string")) return JC_JT_STR;
    if (!strcmp(t, "number")) return JC_JT_NUM | JC_JT_INT;
    if (!strcmp(t, "integer")) return JC_JT_INT;
    return 0;
}

/* The "type" keyword as a bit set (JC_JT_ALL when absent); -1 if malformed. */
static int jc_type_kw(const json_t *t)
{
    if (!t) return JC_JT_ALL;
    if (json_is_string(t)) {
        int b = jc_type_bit(json_string_value(t));
        return b ? b : -1;
    }
    if (!json_is_array(t)) return -1;
    int m = 0;
    size_t i;
    json_t *x;
    json_array_foreach(t, i, x) {
        int b = json_is_string(x) ? jc_type_bit(json_string_value(x)) : 0;
        if (!b) return -1;
        m |= b;
    }
    return m;
}

static json_t *jc_type_json(int m)
{
    json_t *a = json_array();
    static const struct { int bit; const char *name; } names[] = {
        { JC_JT_NULL, "null" }, { JC_JT_BOOL, "boolean" }, { JC_JT_OBJ, "object" }, { JC_JT_ARR, "array" },
        { JC_JT_STR, "string" } };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (m & names[i].bit) json_array_append_new(a, json_string(names[i].name));
    if (m & JC_JT_NUM) json_array_append_new(a, json_string("number"));
    else if (m & JC_JT_INT) json_array_append_new(a, json_string("integer"));
    return a;
}

/* Types implied by the keywords when "type" is absent. */
static int jc_type_infer(const json_t *s)
{
    static const char *const obj[] = { "properties", "required", "additionalProperties", "minProperties",
                                       "maxProperties", NULL };
    static const char *const arr[] = { "items", "prefixItems", "minItems", "maxItems", NULL };
    static const char *const str[] = { "minLength", "maxLength", NULL };
    static const char *const num[] = { "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
                                       "multipleOf", NULL };
    int m = 0;
    for (int i = 0; obj[i]; i++) if (json_object_get(s, obj[i])) m |= JC_JT_OBJ;
    for (int i = 0; arr[i]; i++) if (json_object_get(s, arr[i])) m |= JC_JT_ARR;
    for (int i = 0; str[i]; i++) if (json_object_get(s, str[i])) m |= JC_JT_STR;
    for (int i = 0; num[i]; i++) if (json_object_get(s, num[i])) m |= JC_JT_NUM | JC_JT_INT;
    return m ? m : JC_JT_ALL;
}

/* ------------------------------------------------------------- merging */

static json_t *jc_lazy_all(json_t *a, json_t *b)
{
    if (json_is_true(a)) return json_incref(b);
    if (json_is_true(b)) return json_incref(a);
    if (json_is_false(a) || json_is_false(b)) return json_false();
    if (json_equal(a, b)) return json_incref(a);
    return json_pack("{s:[OO]}", "allOf", a, b);
}

static void jc_append_allof(json_t *c, json_t *item)
{
    json_t *all = json_object_get(c, "allOf");
    if (!json_is_array(all)) {
        all = json_array();
        json_object_set_new(c, "allOf", all);
    } else {
        /* copy: the array may be shared with an input schema */
        json_t *cp = json_copy(all);
        json_object_set_new(c, "allOf", cp);
        all = cp;
    }
    json_array_append_new(all, item);
}

static double jc_jnum(const json_t *v) { return json_number_value(v); }

/* a AND b for the keywords that matter to generation; children are shared,
 * not copied, so recursion through $refs keeps hitting the memo. Keywords
 * only checked afterwards keep a's value (the validator sees both). */
static json_t *jc_merge(const json_t *a, const json_t *b)
{
    if (json_is_true(b) || json_is_false(a)) return json_deep_copy(a);
    if (json_is_true(a) || json_is_false(b)) return json_deep_copy(b);
    json_t *c = json_copy((json_t *)a);
    if (!c) return NULL;
    const char *k;
    json_t *vb;
    json_object_foreach((json_t *)b, k, vb) {
        json_t *va = json_object_get(c, k);
        if (!va) { json_object_set(c, k, vb); continue; }
        if (!strcmp(k, "type")) {
            int ta = jc_type_kw(va), tb = jc_type_kw(vb);
            json_object_set_new(c, k, jc_type_json(ta < 0 || tb < 0 ? 0 : ta & tb));
        } else if (!strcmp(k, "required")) {
            json_t *u = json_copy(va);
            size_t i;
            json_t *x;
            json_array_foreach(vb, i, x) {
                size_t j;
                json_t *y;
                int dup = 0;
                json_array_foreach(u, j, y) if (json_equal(x, y)) dup = 1;
                if (!dup) json_array_append(u, x);
            }
            json_object_set_new(c, k, u);
        } else if (!strcmp(k, "properties") && json_is_object(va) && json_is_object(vb)) {
            json_t *p = json_copy(va);
            const char *pk;
            json_t *pv;
            json_object_foreach(vb, pk, pv) {
                json_t *pa = json_object_get(p, pk);
                if (pa) json_object_set_new(p, pk, jc_lazy_all(pa, pv));
                else json_object_set(p, pk, pv);
            }
            json_object_set_new(c, k, p);
        } else if (!strcmp(k, "additionalProperties") || !strcmp(k, "items")) {
            json_object_set_new(c, k, jc_lazy_all(va, vb));
        } else if (!strcmp(k, "prefixItems") && json_is_array(va) && json_is_array(vb)) {
            size_t na = json_array_size(va), nb = json_array_size(vb), n = na > nb ? na : nb;
            json_t *p = json_array();
            for (size_t i = 0; i < n; i++) {
                json_t *x = json_array_get(va, i), *y = json_array_get(vb, i);
                json_array_append_new(p, x && y ? jc_lazy_all(x, y) : json_incref(x ? x : y));
            }
            json_object_set_new(c, k, p);
        } else if (!strcmp(k, "enum") && json_is_array(va) && json_is_array(vb)) {
            json_t *e = json_array();
            size_t i, j;
            json_t *x, *y;
            json_array_foreach(va, i, x) json_array_foreach(vb, j, y) if (json_equal(x, y)) {
                json_array_append(e, x);
                break;
            }
            json_object_set_new(c, k, e);
        } else if (!strcmp(k, "const")) {
            if (!json_equal(va, vb)) json_object_set_new(c, "enum", json_array());
        } else if (!strncmp(k, "min", 3) || !strcmp(k, "exclusiveMinimum")) {
            if (json_is_number(va) && json_is_number(vb) && jc_jnum(vb) > jc_jnum(va)) json_object_set(c, k, vb);
        } else if (!strncmp(k, "max", 3) || !strcmp(k, "exclusiveMaximum")) {
            if (json_is_number(va) && json_is_number(vb) && jc_jnum(vb) < jc_jnum(va)) json_object_set(c, k, vb);
        } else if (!strcmp(k, "multipleOf")) {
            if (json_is_integer(va) && json_is_integer(vb) && json_integer_value(va) > 0 &&
                json_integer_value(vb) > 0) {
                json_int_t x = json_integer_value(va), y = json_integer_value(vb), g = x, h = y;
                while (h) { json_int_t t = g % h; g = h; h = t; }
                if (x / g <= INT64_MAX / y) json_object_set_new(c, k, json_integer(x / g * y));
            }
        } else if (!strcmp(k, "$ref")) {
            jc_append_allof(c, json_pack("{s:O}", "$ref", vb));
        } else if (!strcmp(k, "allOf") && json_is_array(vb)) {
            size_t i;
            json_t *x;
            json_array_foreach(vb, i, x) jc_append_allof(c, json_incref(x));
        } else if (!strcmp(k, "anyOf") || !strcmp(k, "oneOf")) {
            jc_append_allof(c, json_pack("{s:O}", k, vb));
        }
        /* anything else: keep a's (annotations, afterwards-only keywords) */
    }
    return c;
}

/* --------------------------------------------------------- $ref lookup */

static int jc_unhex(int c) { int h = jc_hexval(c); return h; }

static const json_t *jc_find_anchor(const json_t *s, const char *name)
{
    if (json_is_object(s)) {
        json_t *a = json_object_get(s, "$anchor");
        if (json_is_string(a) && !strcmp(json_string_value(a), name)) return s;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)s, k, v) {
            if (!strcmp(k, "enum") || !strcmp(k, "const")) continue;
            const json_t *r = jc_find_anchor(v, name);
            if (r) return r;
        }
    } else if (json_is_array(s)) {
        size_t i;
        json_t *v;
        json_array_foreach(s, i, v) {
            const json_t *r = jc_find_anchor(v, name);
            if (r) return r;
        }
    }
    return NULL;
}

/* Resolves a $ref inside the document ("#", "#/json/pointer", "#anchor"). */
static const json_t *jc_resolve_ref(jc_cc *cc, const char *ref, const char *path, char **tpath)
{
    *tpath = NULL;
    if (ref[0] != '#') {
        jc_cc_fail(cc, path, "unsupported $ref \"%s\": only references inside the schema (\"#...\") can be generated", ref);
        return NULL;
    }
    size_t n = strlen(ref);
    char *frag = malloc(n + 1);
    if (!frag) { jc_cc_fail(cc, path, "out of memory"); return NULL; }
    size_t k = 0;
    for (size_t i = 1; i < n; i++) {
        if (ref[i] == '%' && i + 2 < n + 1 && jc_unhex(ref[i + 1]) >= 0 && jc_unhex(ref[i + 2]) >= 0) {
            frag[k++] = (char)(jc_unhex(ref[i + 1]) * 16 + jc_unhex(ref[i + 2]));
            i += 2;
        } else {
            frag[k++] = ref[i];
        }
    }
    frag[k] = 0;
    const json_t *cur = cc->root;
    if (frag[0] && frag[0] != '/') {
        cur = jc_find_anchor(cc->root, frag);
    } else if (frag[0] == '/') {
        char *p = frag + 1;
        for (;;) {
            char *e = strchr(p, '/');
            if (e) *e = 0;
            /* unescape ~1 and ~0 in place */
            char *r = p, *w = p;
            while (*r) {
                if (r[0] == '~' && r[1] == '1') { *w++ = '/'; r += 2; }
                else if (r[0] == '~' && r[1] == '0') { *w++ = '~'; r += 2; }
                else *w++ = *r++;
            }
            *w = 0;
            if (json_is_object(cur)) {
                cur = json_object_get(cur, p);
            } else if (json_is_array(cur)) {
                char *end;
                unsigned long idx = strtoul(p, &end, 10);
                cur = (*p && !*end) ? json_array_get(cur, idx) : NULL;
            } else {
                cur = NULL;
            }
            if (!cur || !e) break;
            p = e + 1;
        }
    }
    free(frag);
    if (!cur) {
        jc_cc_fail(cc, path, "unknown $ref \"%s\": nothing at that location in the schema", ref);
        return NULL;
    }
    *tpath = strdup(ref);
    if (!*tpath) { jc_cc_fail(cc, path, "out of memory"); return NULL; }
    return cur;
}

/* ------------------------------------------------------------ builders */

static int jc_build(jc_cc *cc, const json_t *s, const char *path);

static int jc_build_merged(jc_cc *cc, json_t *merged, const char *path)
{
    if (!merged) return jc_cc_fail(cc, path, "out of memory");
    json_array_append_new(cc->keep, merged);
    if (++cc->merge_depth > JC_MERGE_DEPTH) {
        cc->merge_depth--;
        return jc_cc_fail(cc, path, "$ref/allOf merging nests too deep (a $ref with sibling keywords that refers to itself?)");
    }
    int r = jc_build(cc, merged, path);
    cc->merge_depth--;
    return r;
}

static int jc_lit_insert(jc_node *n, const char *s, size_t len)
{
    int x = 0;
    for (size_t i = 0; i < len; i++) {
        int c;
        for (c = n->lit[x].child; c >= 0; c = n->lit[c].next)
            if (n->lit[c].byte == (uint8_t)s[i]) break;
        if (c < 0) {
            jc_lnode *p = realloc(n->lit, ((size_t)n->n_lit + 1) * sizeof *p);
            if (!p) return -1;
            n->lit = p;
            c = n->n_lit++;
            n->lit[c] = (jc_lnode){ (uint8_t)s[i], 0, -1, n->lit[x].child };
            n->lit[x].child = c;
        }
        x = c;
    }
    n->lit[x].term = 1;
    return 0;
}

/* A literal-set node of the JSON texts of the values (compact). */
static int jc_build_litset(jc_cc *cc, json_t *const *vals, int nv, const char *path)
{
    int idx = jc_node_new(cc, JC_LITSET, path);
    if (idx < 0) return -1;
    jc_node *n = &cc->g->nodes[idx];
    n->lit = malloc(sizeof *n->lit);
    if (!n->lit) return jc_cc_fail(cc, path, "out of memory");
    n->lit[0] = (jc_lnode){ 0, 0, -1, -1 };
    n->n_lit = 1;
    for (int i = 0; i < nv; i++) {
        char *t = json_dumps(vals[i], JSON_COMPACT | JSON_ENCODE_ANY);
        if (!t || jc_lit_insert(n, t, strlen(t))) { free(t); return jc_cc_fail(cc, path, "out of memory"); }
        free(t);
    }
    return idx;
}

static int jc_value_type(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_NULL: return JC_JT_NULL;
    case JSON_TRUE: case JSON_FALSE: return JC_JT_BOOL;
    case JSON_OBJECT: return JC_JT_OBJ;
    case JSON_ARRAY: return JC_JT_ARR;
    case JSON_STRING: return JC_JT_STR;
    case JSON_INTEGER: return JC_JT_INT;
    case JSON_REAL: {
        double d = json_real_value(v);
        return d == floor(d) && fabs(d) < 9e15 ? JC_JT_INT : JC_JT_NUM;
    }
    }
    return 0;
}

/* enum / const: the listed values that also satisfy the sibling keywords
 * (checked with the validator on a copy of this schema without them). */
static int jc_build_literals(jc_cc *cc, const json_t *s, const char *path, int types)
{
    json_t *c = json_object_get(s, "const"), *e = json_object_get(s, "enum");
    if (e && !json_is_array(e)) return jc_cc_fail(cc, path, "enum must be an array");
    json_t *cand = json_array();
    if (!cand) return jc_cc_fail(cc, path, "out of memory");
    if (c) {
        int ok = 1;
        if (e) {
            ok = 0;
            size_t i;
            json_t *x;
            json_array_foreach(e, i, x) if (json_equal(x, c)) ok = 1;
        }
        if (ok) json_array_append(cand, c);
    } else {
        size_t i;
        json_t *x;
        json_array_foreach(e, i, x) json_array_append(cand, x);
    }
    json_t *w = json_copy((json_t *)s);
    js_schema *js = NULL;
    if (w) {
        json_object_del(w, "enum");
        json_object_del(w, "const");
        json_t *defs;
        if (!json_object_get(w, "$defs") && (defs = json_object_get(cc->root, "$defs")))
            json_object_set(w, "$defs", defs);
        if (!json_object_get(w, "definitions") && (defs = json_object_get(cc->root, "definitions")))
            json_object_set(w, "definitions", defs);
        if (js_schema_compile(w, &js, NULL, 0) != JS_OK) js = NULL;
        json_decref(w);
    }
    size_t n = json_array_size(cand);
    json_t **keep = malloc((n + 1) * sizeof *keep);
    int nk = 0;
    if (!keep) { js_schema_free(js); json_decref(cand); return jc_cc_fail(cc, path, "out of memory"); }
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(cand, i);
        int vt = jc_value_type(v);
        if (!(vt & types) && !(vt == JC_JT_INT && (types & JC_JT_NUM))) continue;
        if (js && js_validate(js, v, NULL) != 1) continue;
        keep[nk++] = v;
    }
    js_schema_free(js);
    int r;
    if (nk == 0)
        r = jc_cc_fail(cc, path, "%s: no listed value satisfies the other keywords here (type, bounds, ...)",
                    c ? "const" : "enum");
    else
        r = jc_build_litset(cc, keep, nk, path);
    free(keep);
    json_decref(cand);
    return r;
}

/* A non-negative integer keyword, or def when absent. */
static int jc_get_count(jc_cc *cc, const json_t *s, const char *kw, const char *path, int def, int *out)
{
    json_t *v = json_object_get(s, kw);
    *out = def;
    if (!v) return 0;
    double d = json_is_number(v) ? jc_jnum(v) : -1;
    if (d < 0 || d != floor(d)) return jc_cc_fail(cc, path, "%s must be a non-negative integer", kw);
    *out = d > JC_INF ? JC_INF : (int)d;
    return 0;
}

static int jc_any_node(jc_cc *cc);

static int jc_build_object(jc_cc *cc, const json_t *s, const char *path)
{
    json_t *props = json_object_get(s, "properties"), *req = json_object_get(s, "required");
    json_t *ap = json_object_get(s, "additionalProperties");
    if (props && !json_is_object(props)) return jc_cc_fail(cc, path, "properties must be an object");
    if (req && !json_is_array(req)) return jc_cc_fail(cc, path, "required must be an array");
    int minp, maxp;
    if (jc_get_count(cc, s, "minProperties", path, 0, &minp) || jc_get_count(cc, s, "maxProperties", path, -1, &maxp))
        return -1;
    size_t nreq = json_array_size(req), cap = json_object_size(props) + nreq;
    const char **names = calloc(cap + 1, sizeof *names);
    const json_t **schemas = calloc(cap + 1, sizeof *schemas);
    char **paths = calloc(cap + 1, sizeof *paths);
    int *isreq = calloc(cap + 1, sizeof *isreq);
    int n = 0, rc = -1;
    if (!names || !schemas || !paths || !isreq) { jc_cc_fail(cc, path, "out of memory"); goto out; }
    const char *k;
    json_t *v;
    json_object_foreach(props, k, v) {
        int r = 0;
        for (size_t i = 0; i < nreq; i++)
            if (json_is_string(json_array_get(req, i)) && !strcmp(json_string_value(json_array_get(req, i)), k)) r = 1;
        if (json_is_false(v)) {
            if (r) { jc_cc_fail(cc, path, "required property \"%s\" is forbidden by its schema (false)", k); goto out; }
            continue;
        }
        char *pp = jc_path_join(path, "properties");
        paths[n] = pp ? jc_path_join(pp, k) : NULL;
        free(pp);
        if (!paths[n]) { jc_cc_fail(cc, path, "out of memory"); goto out; }
        names[n] = k;
        schemas[n] = v;
        isreq[n++] = r;
    }
    for (size_t i = 0; i < nreq; i++) {
        json_t *x = json_array_get(req, i);
        if (!json_is_string(x)) { jc_cc_fail(cc, path, "required must list strings"); goto out; }
        const char *name = json_string_value(x);
        int found = 0;
        for (int j = 0; j < n; j++) if (!strcmp(names[j], name)) found = 1;
        if (found || json_object_get(props, name)) continue;
        if (json_is_false(ap)) {
            jc_cc_fail(cc, path, "required property \"%s\" is not in properties and additionalProperties is false", name);
            goto out;
        }
        names[n] = name;
        schemas[n] = ap ? ap : NULL;
        paths[n] = jc_path_join(path, ap ? "additionalProperties" : "required");
        if (!paths[n]) { jc_cc_fail(cc, path, "out of memory"); goto out; }
        isreq[n++] = 1;
    }
    int nr = 0;
    for (int j = 0; j < n; j++) nr += isreq[j];
    if (maxp >= 0 && maxp < nr) { jc_cc_fail(cc, path, "maxProperties %d is less than the %d required properties", maxp, nr); goto out; }
    if (minp > n) {
        jc_cc_fail(cc, path, "minProperties %d but only %d properties can be generated (the generator never adds "
                "properties beyond those listed)", minp, n);
        goto out;
    }
    if (maxp >= 0 && minp > maxp) { jc_cc_fail(cc, path, "minProperties %d > maxProperties %d", minp, maxp); goto out; }
    int idx = jc_node_new(cc, JC_OBJECT, path);
    if (idx < 0) goto out;
    int *child = calloc((size_t)n + 1, sizeof *child);
    if (!child) { jc_cc_fail(cc, path, "out of memory"); goto out; }
    for (int j = 0; j < n; j++) {
        child[j] = schemas[j] ? jc_build(cc, schemas[j], paths[j]) : jc_any_node(cc);
        if (child[j] < 0) { free(child); goto out; }
    }
    jc_node *nd = &cc->g->nodes[idx];
    nd->props = calloc((size_t)n + 1, sizeof *nd->props);
    nd->next_req = malloc(((size_t)n + 1) * sizeof *nd->next_req);
    nd->req_after = malloc(((size_t)n + 1) * sizeof *nd->req_after);
    if (!nd->props || !nd->next_req || !nd->req_after) { free(child); jc_cc_fail(cc, path, "out of memory"); goto out; }
    nd->n_props = n;
    nd->min_props = minp;
    nd->max_props = maxp;
    for (int j = 0; j < n; j++) {
        json_t *ks = json_string(names[j]);
        char *enc = ks ? json_dumps(ks, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
        json_decref(ks);
        if (!enc) { free(child); jc_cc_fail(cc, path, "out of memory"); goto out; }
        nd->props[j] = (jc_prop){ enc, (int)strlen(enc), child[j], isreq[j] };
    }
    free(child);
    nd->next_req[n] = n;
    for (int j = n - 1; j >= 0; j--) nd->next_req[j] = isreq[j] ? j : nd->next_req[j + 1];
    int after = 0;
    for (int j = n - 1; j >= 0; j--) { nd->req_after[j] = after; after += isreq[j]; }
    rc = idx;
out:
    for (size_t i = 0; paths && i < cap + 1; i++) free(paths[i]);
    free(paths);
    free(names);
    free(schemas);
    free(isreq);
    return rc;
}

static int jc_build_array(jc_cc *cc, const json_t *s, const char *path)
{
    json_t *pre = json_object_get(s, "prefixItems"), *items = json_object_get(s, "items");
    if (pre && !json_is_array(pre)) return jc_cc_fail(cc, path, "prefixItems must be an array");
    int mn, mx;
    if (jc_get_count(cc, s, "minItems", path, 0, &mn) || jc_get_count(cc, s, "maxItems", path, -1, &mx)) return -1;
    int np = (int)json_array_size(pre);
    for (int k = 0; k < np; k++)
        if (json_is_false(json_array_get(pre, k))) {   /* nothing may stand at k */
            np = k;
            if (mx < 0 || mx > k) mx = k;
            break;
        }
    if (json_is_false(items) && (mx < 0 || mx > np)) mx = np;
    if (mx >= 0 && mn > mx) {
        if (json_is_false(items) || np < (int)json_array_size(pre))
            return jc_cc_fail(cc, path, "minItems %d but at most %d items are allowed (prefixItems/items false)", mn, mx);
        return jc_cc_fail(cc, path, "minItems %d > maxItems %d: no array satisfies both", mn, mx);
    }
    int idx = jc_node_new(cc, JC_ARRAY, path);
    if (idx < 0) return -1;
    int *prefix = calloc((size_t)np + 1, sizeof *prefix);
    if (!prefix) return jc_cc_fail(cc, path, "out of memory");
    for (int k = 0; k < np; k++) {
        char *pp = jc_path_index(path, "prefixItems", (size_t)k);
        prefix[k] = pp ? jc_build(cc, json_array_get(pre, (size_t)k), pp) : jc_cc_fail(cc, path, "out of memory");
        free(pp);
        if (prefix[k] < 0) { free(prefix); return -1; }
    }
    int it = -1;
    if (!items || json_is_true(items)) {
        it = jc_any_node(cc);
    } else if (!json_is_false(items)) {
        char *pp = jc_path_join(path, "items");
        it = pp ? jc_build(cc, items, pp) : jc_cc_fail(cc, path, "out of memory");
        free(pp);
    }
    if (it < 0 && !json_is_false(items)) { free(prefix); return -1; }
    jc_node *nd = &cc->g->nodes[idx];
    nd->prefix = prefix;
    nd->n_prefix = np;
    nd->items = it;
    nd->min_items = mn;
    nd->max_items = mx;
    return idx;
}

static int jc_build_string(jc_cc *cc, const json_t *s, const char *path)
{
    int mn, mx;
    if (jc_get_count(cc, s, "minLength", path, 0, &mn) || jc_get_count(cc, s, "maxLength", path, -1, &mx)) return -1;
    if (mx >= 0 && mn > mx) return jc_cc_fail(cc, path, "minLength %d > maxLength %d: no string satisfies both", mn, mx);
    int idx = jc_node_new(cc, JC_STRING, path);
    if (idx < 0) return -1;
    cc->g->nodes[idx].min_len = mn;
    cc->g->nodes[idx].max_len = mx;
    return idx;
}

/* The scaled decimal S / 10^6, parsed as the validator will (strtod). */
static double jc_scaled_value(int64_t S)
{
    char buf[48];
    uint64_t a = S < 0 ? (uint64_t)(-S) : (uint64_t)S;
    snprintf(buf, sizeof buf, "%s%llu.%06llu", S < 0 ? "-" : "", (unsigned long long)(a / 1000000),
             (unsigned long long)(a % 1000000));
    return strtod(buf, NULL);
}

/* Smallest scaled S with value(S) >= m (or > m when strict); the map is
 * monotone, so search near the rounded estimate. */
static int64_t jc_scaled_lower(double m, int strict, int64_t lim)
{
    if (m < -(double)lim / 1e6) return -lim;
    if (m > (double)lim / 1e6) return lim + 1;
    int64_t S = (int64_t)floor(m * 1e6) - 4;
#define JC_OK(x) (strict ? jc_scaled_value(x) > m : jc_scaled_value(x) >= m)
    while (S > -lim && JC_OK(S)) S--;
    while (S <= lim && !JC_OK(S)) S++;
#undef JC_OK
    return S;
}

static int64_t jc_scaled_upper(double m, int strict, int64_t lim)
{
    if (m > (double)lim / 1e6) return lim;
    if (m < -(double)lim / 1e6) return -lim - 1;
    int64_t S = (int64_t)ceil(m * 1e6) + 4;
#define JC_OK(x) (strict ? jc_scaled_value(x) < m : jc_scaled_value(x) <= m)
    while (S < lim && JC_OK(S)) S++;
    while (S >= -lim && !JC_OK(S)) S--;
#undef JC_OK
    return S;
}

static int jc_build_number(jc_cc *cc, const json_t *s, const char *path, int integer)
{
    int idx = jc_node_new(cc, JC_NUMBER, path);
    if (idx < 0) return -1;
    jc_node *n = &cc->g->nodes[idx];
    n->integer = integer;
    int64_t lim = jc_num_lim(n);
    n->lo = -lim;
    n->hi = lim;
    static const char *const kws[4] = { "minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum" };
    for (int i = 0; i < 4; i++) {
        json_t *v = json_object_get(s, kws[i]);
        if (!v) continue;
        if (!json_is_number(v)) return jc_cc_fail(cc, path, "%s must be a number", kws[i]);
        int strict = i & 1, upper = i >= 2;
        int64_t b;
        if (integer) {
            double d = jc_jnum(v);
            if (json_is_integer(v)) {
                json_int_t x = json_integer_value(v);
                b = x < -lim ? -lim - 1 : x > lim ? lim + 1 : (int64_t)x;
                if (strict && b >= -lim && b <= lim) b += upper ? -1 : 1;
            } else if (d < -(double)lim) {
                b = -lim - 1;
            } else if (d > (double)lim) {
                b = lim + 1;
            } else if (!upper) {
                b = strict ? (int64_t)floor(d) + 1 : (int64_t)ceil(d);
            } else {
                b = strict ? (int64_t)ceil(d) - 1 : (int64_t)floor(d);
            }
        } else {
            b = upper ? jc_scaled_upper(jc_jnum(v), strict, lim) : jc_scaled_lower(jc_jnum(v), strict, lim);
        }
        if (upper && b < n->hi) n->hi = b;
        if (!upper && b > n->lo) n->lo = b;
    }
    json_t *mo = json_object_get(s, "multipleOf");
    if (mo && (!json_is_number(mo) || jc_jnum(mo) <= 0)) return jc_cc_fail(cc, path, "multipleOf must be a positive number");
    if (integer && mo && jc_jnum(mo) == floor(jc_jnum(mo)) && jc_jnum(mo) < 1e18)
        n->mult = json_is_integer(mo) ? (int64_t)json_integer_value(mo) : (int64_t)jc_jnum(mo);
    if (!jc_num_iv(n, 0, 0, lim) && !jc_num_iv(n, 1, 1, lim))
        return jc_cc_fail(cc, path, "no %s satisfies the bounds%s (minimum/maximum, exclusive*, multipleOf; the "
                       "generator writes at most %s)", integer ? "integer" : "number",
                       n->mult > 1 ? " and multipleOf" : "",
                       integer ? "18 digits" : "12 integer and 6 fraction digits");
    return idx;
}

static int jc_alt_from(jc_cc *cc, const int *kids, int nk, const char *path)
{
    if (nk == 1) return kids[0];
    int idx = jc_node_new(cc, JC_ALT, path);
    if (idx < 0) return -1;
    int *a = malloc((size_t)nk * sizeof *a);
    if (!a) return jc_cc_fail(cc, path, "out of memory");
    memcpy(a, kids, (size_t)nk * sizeof *a);
    cc->g->nodes[idx].alts = a;
    cc->g->nodes[idx].n_alts = nk;
    return idx;
}

/* Any JSON value: strings, numbers, true/false/null, arrays of any value,
 * and {} (objects get no invented properties). */
static int jc_any_node(jc_cc *cc)
{
    jc_grammar *g = cc->g;
    if (g->any >= 0) return g->any;
    int idx = jc_node_new(cc, JC_ALT, "#(any)");
    if (idx < 0) return -1;
    g->any = idx;
    json_t *lits[3] = { json_true(), json_false(), json_null() };
    int kids[5];
    kids[0] = jc_node_new(cc, JC_STRING, "#(any)");
    kids[1] = jc_node_new(cc, JC_NUMBER, "#(any)");
    kids[2] = jc_build_litset(cc, lits, 3, "#(any)");
    kids[3] = jc_node_new(cc, JC_ARRAY, "#(any)");
    kids[4] = jc_node_new(cc, JC_OBJECT, "#(any)");
    for (int i = 0; i < 5; i++) if (kids[i] < 0) return -1;
    jc_node *num = &g->nodes[kids[1]];
    num->lo = -jc_num_lim(num);
    num->hi = jc_num_lim(num);
    g->nodes[kids[3]].items = idx;
    jc_node *obj = &g->nodes[kids[4]];
    obj->next_req = calloc(1, sizeof *obj->next_req);
    obj->req_after = calloc(1, sizeof *obj->req_after);
    int *a = malloc(5 * sizeof *a);
    if (!obj->next_req || !obj->req_after || !a) { free(a); return jc_cc_fail(cc, "#", "out of memory"); }
    memcpy(a, kids, sizeof kids);
    g->nodes[idx].alts = a;
    g->nodes[idx].n_alts = 5;
    return idx;
}

static int jc_build_body(jc_cc *cc, const json_t *s, const char *path)
{
    static const char *const unsupported[] = { "if", "then", "else", "dependentSchemas", "$dynamicRef",
                                               "$recursiveRef", NULL };
    for (int i = 0; unsupported[i]; i++)
        if (json_object_get(s, unsupported[i]))
            return jc_cc_fail(cc, path, "unsupported keyword \"%s\": conditional/dynamic schemas cannot be "
                           "enforced while generating", unsupported[i]);

    json_t *ref = json_object_get(s, "$ref");
    if (ref) {
        if (!json_is_string(ref)) return jc_cc_fail(cc, path, "$ref must be a string");
        char *tpath;
        const json_t *t = jc_resolve_ref(cc, json_string_value(ref), path, &tpath);
        if (!t) return -1;
        json_t *rest = json_copy((json_t *)s);
        if (!rest) { free(tpath); return jc_cc_fail(cc, path, "out of memory"); }
        json_object_del(rest, "$ref");
        int r;
        if (!jc_has_gen_keys(rest)) {
            r = jc_build(cc, t, tpath);
            if (r >= 0) cc->g->nodes[r].ref_target = 1;
        } else {
            r = jc_build_merged(cc, jc_merge(rest, t), path);
        }
        json_decref(rest);
        free(tpath);
        return r;
    }
    json_t *all = json_object_get(s, "allOf");
    if (all) {
        if (!json_is_array(all) || !json_array_size(all)) return jc_cc_fail(cc, path, "allOf must be a non-empty array");
        json_t *m = json_copy((json_t *)s);
        if (!m) return jc_cc_fail(cc, path, "out of memory");
        json_object_del(m, "allOf");
        size_t i;
        json_t *x;
        json_array_foreach(all, i, x) {
            json_t *nm = jc_merge(m, x);
            json_decref(m);
            if (!nm) return jc_cc_fail(cc, path, "out of memory");
            m = nm;
        }
        if (json_is_false(m)) { json_decref(m); return jc_cc_fail(cc, path, "allOf contains false: no value is allowed"); }
        return jc_build_merged(cc, m, path);
    }
    const char *ck = json_object_get(s, "anyOf") ? "anyOf" : json_object_get(s, "oneOf") ? "oneOf" : NULL;
    if (ck) {
        json_t *arr = json_object_get(s, ck);
        if (!json_is_array(arr) || !json_array_size(arr)) return jc_cc_fail(cc, path, "%s must be a non-empty array", ck);
        json_t *base = json_copy((json_t *)s);
        if (!base) return jc_cc_fail(cc, path, "out of memory");
        json_object_del(base, ck);
        int gen = jc_has_gen_keys(base);
        size_t n = json_array_size(arr);
        int *kids = malloc(n * sizeof *kids), nk = 0, r = 0;
        if (!kids) { json_decref(base); return jc_cc_fail(cc, path, "out of memory"); }
        for (size_t i = 0; i < n && r >= 0; i++) {
            json_t *br = json_array_get(arr, i);
            if (json_is_false(br)) continue;
            char *bp = jc_path_index(path, ck, i);
            if (!bp) { r = jc_cc_fail(cc, path, "out of memory"); break; }
            r = gen ? jc_build_merged(cc, jc_merge(base, br), bp) : jc_build(cc, br, bp);
            free(bp);
            if (r >= 0) kids[nk++] = r;
        }
        json_decref(base);
        if (r >= 0 && nk == 0) r = jc_cc_fail(cc, path, "%s: every alternative is false", ck);
        if (r >= 0) r = jc_alt_from(cc, kids, nk, path);
        free(kids);
        return r;
    }

    int types = jc_type_kw(json_object_get(s, "type"));
    if (types < 0) return jc_cc_fail(cc, path, "type must be a type name or an array of them");
    if (!json_object_get(s, "type")) types = jc_type_infer(s);
    if (!types) return jc_cc_fail(cc, path, "no type is possible (the allOf branches disagree on \"type\")");
    /* without "type", the validator (on the sibling keywords) decides which
     * listed values fit; keywords only constrain their own type */
    if (json_object_get(s, "const") || json_object_get(s, "enum"))
        return jc_build_literals(cc, s, path, json_object_get(s, "type") ? types : JC_JT_ALL);

    int kids[8], nk = 0;
    if (types & (JC_JT_NULL | JC_JT_BOOL)) {
        json_t *v[3];
        int n = 0;
        if (types & JC_JT_BOOL) { v[n++] = json_true(); v[n++] = json_false(); }
        if (types & JC_JT_NULL) v[n++] = json_null();
        if ((kids[nk++] = jc_build_litset(cc, v, n, path)) < 0) return -1;
    }
    if ((types & JC_JT_OBJ) && (kids[nk++] = jc_build_object(cc, s, path)) < 0) return -1;
    if ((types & JC_JT_ARR) && (kids[nk++] = jc_build_array(cc, s, path)) < 0) return -1;
    if ((types & JC_JT_STR) && (kids[nk++] = jc_build_string(cc, s, path)) < 0) return -1;
    if ((types & (JC_JT_NUM | JC_JT_INT)) && (kids[nk++] = jc_build_number(cc, s, path, !(types & JC_JT_NUM))) < 0) return -1;
    return jc_alt_from(cc, kids, nk, path);
}

static int jc_build(jc_cc *cc, const json_t *s, const char *path)
{
    for (int i = 0; i < cc->n_memo; i++)
        if (cc->memo[i].key == s) return cc->memo[i].node;
    if (json_is_true(s)) return jc_any_node(cc);
    if (json_is_false(s)) return jc_cc_fail(cc, path, "the schema is false: no value is allowed here");
    if (!json_is_object(s)) return jc_cc_fail(cc, path, "a schema must be an object or a boolean");
    int idx = jc_node_new(cc, JC_REF, path);
    if (idx < 0) return -1;
    if (cc->n_memo == cc->cap_memo) {
        int cap = cc->cap_memo ? cc->cap_memo * 2 : 64;
        jc_memo *p = realloc(cc->memo, (size_t)cap * sizeof *p);
        if (!p) return jc_cc_fail(cc, path, "out of memory");
        cc->memo = p;
        cc->cap_memo = cap;
    }
    cc->memo[cc->n_memo++] = (jc_memo){ s, idx };
    int t = jc_build_body(cc, s, path);
    if (t < 0) return -1;
    cc->g->nodes[idx].target = t;
    return idx;
}

/* ----------------------------------------------------------------- link */

static int jc_resolve_node(const jc_grammar *g, int i)
{
    for (int steps = 0; i >= 0 && g->nodes[i].kind == JC_REF; steps++) {
        if (steps > g->n_nodes) return -2;
        i = g->nodes[i].target;
    }
    return i;
}

static int jc_md_sat(int a) { return a >= JC_INF ? JC_INF : a; }

static int jc_int_cmp(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

/* Replaces REF indirections, flattens ALTs to leaf lists, computes md and
 * rejects recursion without a base case. */
static int jc_link(jc_cc *cc)
{
    jc_grammar *g = cc->g;
    int N = g->n_nodes;
    if (N <= 0) return jc_cc_fail(cc, "#", "empty grammar");
    for (int i = 0; i < N; i++) {
        if (g->nodes[i].kind != JC_REF || !g->nodes[i].ref_target) continue;
        int r = jc_resolve_node(g, i);
        if (r >= 0) g->nodes[r].ref_target = 1;
    }
#define JC_RES(x)                                                                                  \
    do {                                                                                           \
        if ((x) >= 0) {                                                                            \
            int r_ = jc_resolve_node(g, (x));                                                         \
            if (r_ == -2) return jc_cc_fail(cc, g->nodes[(x)].path, "$ref cycle that never reaches a value"); \
            (x) = r_;                                                                              \
        }                                                                                          \
    } while (0)
    for (int i = 0; i < N; i++) {
        jc_node *n = &g->nodes[i];
        for (int j = 0; j < n->n_props; j++) JC_RES(n->props[j].child);
        for (int j = 0; j < n->n_prefix; j++) JC_RES(n->prefix[j]);
        JC_RES(n->items);
        for (int j = 0; j < n->n_alts; j++) JC_RES(n->alts[j]);
        if (n->kind == JC_ROOT) JC_RES(n->target);
    }
#undef JC_RES
    /* flatten: each ALT lists the non-ALT nodes reachable through ALTs */
    int *mark = calloc((size_t)N, sizeof *mark), *stack = malloc((size_t)N * sizeof *stack);
    int *leaves = malloc((size_t)N * sizeof *leaves);
    if (!mark || !stack || !leaves) { free(mark); free(stack); free(leaves); return jc_cc_fail(cc, "#", "out of memory"); }
    for (int i = 0; i < N; i++) {
        if (g->nodes[i].kind != JC_ALT) continue;
        int sp = 0, nl = 0, stamp = i + 1;
        stack[sp++] = i;
        mark[i] = stamp;
        while (sp) {
            const jc_node *a = &g->nodes[stack[--sp]];
            for (int j = 0; j < a->n_alts; j++) {
                int c = a->alts[j];
                if (mark[c] == stamp) continue;
                mark[c] = stamp;
                if (g->nodes[c].kind == JC_ALT) stack[sp++] = c;
                else leaves[nl++] = c;
            }
        }
        if (!nl) { free(mark); free(stack); free(leaves); return jc_cc_fail(cc, g->nodes[i].path, "anyOf/oneOf: no alternative ever produces a value"); }
        int *a = realloc(g->nodes[i].alts, (size_t)nl * sizeof *a);
        if (!a) { free(mark); free(stack); free(leaves); return jc_cc_fail(cc, "#", "out of memory"); }
        memcpy(a, leaves, (size_t)nl * sizeof *a);
        g->nodes[i].alts = a;
        g->nodes[i].n_alts = nl;
    }
    free(mark);
    free(stack);
    /* md fixpoint (leaves reused as scratch for optional depths) */
    for (int changed = 1; changed;) {
        changed = 0;
        for (int i = 0; i < N; i++) {
            jc_node *n = &g->nodes[i];
            int md = JC_INF;
            switch (n->kind) {
            case JC_STRING: case JC_NUMBER: case JC_LITSET: md = 1; break;
            case JC_OBJECT: {
                int m = 0, no = 0, nr = 0;
                for (int j = 0; j < n->n_props; j++) {
                    int c = g->nodes[n->props[j].child].md;
                    if (n->props[j].required) { nr++; if (c > m) m = c; }
                    else leaves[no++] = c;
                }
                if (n->min_props > nr) {
                    qsort(leaves, (size_t)no, sizeof *leaves, jc_int_cmp);
                    int c = leaves[n->min_props - nr - 1];
                    if (c > m) m = c;
                }
                md = jc_md_sat(1 + m);
                break;
            }
            case JC_ARRAY: {
                int m = 0;
                for (int k = 0; k < n->min_items && k <= n->n_prefix; k++) {
                    int c = jc_arr_child(n, k);
                    int cm = c >= 0 ? g->nodes[c].md : JC_INF;
                    if (cm > m) m = cm;
                }
                md = jc_md_sat(1 + m);
                break;
            }
            case JC_ALT:
                for (int j = 0; j < n->n_alts; j++) if (g->nodes[n->alts[j]].md < md) md = g->nodes[n->alts[j]].md;
                break;
            case JC_ROOT: md = jc_md_sat(1 + g->nodes[n->target].md); break;
            default: continue;
            }
            if (md < n->md) { n->md = md; changed = 1; }
        }
    }
    free(leaves);
    int bad = -1;
    for (int i = 0; i < N; i++) {
        const jc_node *n = &g->nodes[i];
        if (n->kind == JC_REF || n->md < JC_INF) continue;
        if (bad < 0 || (n->ref_target && !g->nodes[bad].ref_target)) bad = i;
    }
    if (bad >= 0)
        return jc_cc_fail(cc, g->nodes[bad].path, "recursion without a base case: every value here needs another "
                       "nested value (make a recursive property optional, allow an empty array, or add a "
                       "non-recursive anyOf branch)");
    if (g->nodes[g->root].md > JC_MAX_DEPTH)
        return jc_cc_fail(cc, "#", "the schema needs %d levels of nesting; at most %d are supported",
                       g->nodes[g->root].md - 1, JC_MAX_DEPTH - 1);
    return 0;
}

void jc_grammar_free(jc_grammar *g)
{
    if (!g) return;
    for (int i = 0; i < g->n_nodes; i++) {
        jc_node *n = &g->nodes[i];
        free(n->path);
        for (int j = 0; j < n->n_props; j++) free(n->props[j].key);
        free(n->props);
        free(n->next_req);
        free(n->req_after);
        free(n->prefix);
        free(n->lit);
        free(n->alts);
    }
    free(g->nodes);
    jc_vocab_put(g->V);
    free(g);
}

int jc_grammar_compile(const json_t *schema, const qe_model *model, jc_grammar **out, char *err, size_t errlen)
{
    pthread_once(&jc_once, jc_init_tables);
    *out = NULL;
    if (!schema) { jc_seterr(err, errlen, "no schema"); return QE_EINVAL; }
    /* the validator knows every keyword: let it reject invalid schemas */
    js_schema *js = NULL;
    char jerr[400];
    int jrc = js_schema_compile(schema, &js, jerr, sizeof jerr);
    js_schema_free(js);
    if (jrc == JS_ENOMEM) { jc_seterr(err, errlen, "out of memory"); return QE_ENOMEM; }
    if (jrc != JS_OK) { jc_seterr(err, errlen, "invalid schema: %s", jerr); return QE_EINVAL; }

    jc_grammar *g = calloc(1, sizeof *g);
    if (!g) { jc_seterr(err, errlen, "out of memory"); return QE_ENOMEM; }
    g->any = -1;
    g->model = model;
    jc_cc cc = { .g = g, .root = schema, .err = err, .errlen = errlen, .keep = json_array() };
    int rc = QE_EINVAL;
    if (!cc.keep) { jc_seterr(err, errlen, "out of memory"); rc = QE_ENOMEM; goto fail; }
    g->root = jc_node_new(&cc, JC_ROOT, "#");
    if (g->root < 0) goto fail;
    int t = jc_build(&cc, schema, "#");
    if (t < 0) goto fail;
    g->nodes[g->root].target = t;
    if (jc_link(&cc)) goto fail;
    if (model && !(g->V = jc_vocab_get(model, err, errlen))) { rc = QE_ENOMEM; goto fail; }
    json_decref(cc.keep);
    free(cc.memo);
    *out = g;
    return QE_OK;
fail:
    json_decref(cc.keep);
    free(cc.memo);
    jc_grammar_free(g);
    return rc;
}

/* ================================================================ state */

static void jc_vs_base(jc_walk *w, const jc_heads *H, int h, jc_vs *v)
{
    w->base = H->fr[h];
    v->top = -1;
    v->L = H->len[h];
    v->depth = H->len[h];
}

/* Writes stack v (over w->base) into H as a new head unless present. */
static void jc_heads_add(jc_walk *w, jc_heads *H, jc_vs v)
{
    if (H->n >= JC_MAX_HEADS || v.depth <= 0 || v.depth > JC_MAX_DEPTH) return;
    jc_frame *dst = H->fr[H->n];
    int i = v.depth - 1;
    for (int t = v.top; t >= 0; t = w->ar[t].parent) dst[i--] = w->ar[t].f;
    if (v.L) memcpy(dst, w->base, (size_t)v.L * sizeof *dst);
    for (int h = 0; h < H->n; h++)
        if (H->len[h] == v.depth && !memcmp(H->fr[h], dst, (size_t)v.depth * sizeof *dst)) return;
    H->len[H->n++] = v.depth;
}

/* Feeds bytes to every head of `in`, writing the survivors to `out`.
 * Returns the number of heads (0: rejected; out is then garbage). */
static int jc_heads_feed(jc_walk *w, const jc_heads *in, const uint8_t *p, size_t len, jc_heads *out)
{
    jc_vs cur[JC_MAX_HEADS], nxt[JC_MAX_HEADS];
    out->n = 0;
    for (int h = 0; h < in->n; h++) {
        w->ar_n = 0;
        jc_vs_base(w, in, h, &cur[0]);
        int n = 1;
        for (size_t i = 0; i < len && n; i++) {
            n = jc_step_set(w, cur, n, p[i], nxt);
            memcpy(cur, nxt, (size_t)n * sizeof *cur);
        }
        for (int k = 0; k < n; k++) jc_heads_add(w, out, cur[k]);
    }
    w->ar_n = 0;
    return out->n;
}

static int jc_heads_can_end(jc_walk *w, const jc_heads *H)
{
    for (int h = 0; h < H->n; h++) {
        jc_vs v;
        jc_vs_base(w, H, h, &v);
        w->ar_n = 0;
        if (jc_vs_can_end(w, v)) return 1;
    }
    return 0;
}

static int jc_heads_done(const jc_grammar *g, const jc_heads *H)
{
    for (int h = 0; h < H->n; h++)
        if (H->len[h] != 1 || g->nodes[H->fr[h][0].node].kind != JC_ROOT || H->fr[h][0].phase != JC_RP_DONE) return 0;
    return H->n > 0;
}

/* The starting heads: the root frame, with the value pushed (and, in
 * think mode, a second head that takes leading whitespace first). */
static void jc_heads_start(jc_walk *w, jc_heads *H, int ws)
{
    const jc_grammar *g = w->g;
    jc_frame root;
    memset(&root, 0, sizeof root);
    root.node = g->root;
    w->base = NULL;
    w->ar_n = 0;
    H->n = 0;
    jc_vs v = { -1, 0, 0 }, out[JC_MAX_HEADS];
    if (ws) {
        jc_vs s = v;
        root.phase = JC_RP_WS;
        if (!jc_vs_push(w, &s, &root)) jc_heads_add(w, H, s);
    }
    root.phase = JC_RP_DONE;
    if (jc_vs_push(w, &v, &root)) return;
    int n = jc_push_child(w, v, g->nodes[g->root].target, out, JC_MAX_HEADS);
    for (int k = 0; k < n; k++) jc_heads_add(w, H, out[k]);
    w->ar_n = 0;
}

static void jc_state_restart(jc_state *s)
{
    s->thinking = s->after_think;
    s->ended = 0;
    jc_heads_start(&s->w, s->h, s->after_think);
}

jc_state *jc_state_init(const jc_grammar *g, int after_think)
{
    if (!g) return NULL;
    jc_state *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->g = g;
    s->after_think = after_think ? 1 : 0;
    s->w.g = g;
    s->w.cnt_lo = INT_MIN;
    s->w.cnt_hi = INT_MAX;
    s->h = malloc(sizeof *s->h);
    s->h2 = malloc(sizeof *s->h2);
    s->h3 = malloc(sizeof *s->h3);
    s->w.ar_cap = 4096;
    s->w.ar = malloc((size_t)s->w.ar_cap * sizeof *s->w.ar);
    if (g->V) s->mask = malloc((size_t)g->V->nwords * sizeof *s->mask);
    if (!s->h || !s->h2 || !s->h3 || !s->w.ar || (g->V && !s->mask)) { jc_state_free(s); return NULL; }
    jc_state_restart(s);
    if (s->h->n == 0) { jc_state_free(s); return NULL; }
    return s;
}

void jc_state_free(jc_state *s)
{
    if (!s) return;
    free(s->h);
    free(s->h2);
    free(s->h3);
    free(s->w.ar);
    free(s->mask);
    free(s);
}

int jc_state_copy(jc_state *dst, const jc_state *src)
{
    if (!dst || !src || dst->g != src->g) return QE_EINVAL;
    dst->after_think = src->after_think;
    dst->thinking = src->thinking;
    dst->ended = src->ended;
    dst->h->n = src->h->n;
    for (int h = 0; h < src->h->n; h++) {
        dst->h->len[h] = src->h->len[h];
        memcpy(dst->h->fr[h], src->h->fr[h], (size_t)src->h->len[h] * sizeof(jc_frame));
    }
    return QE_OK;
}

int jc_state_describe(const jc_state *s, char *buf, size_t cap)
{
    static const char *const kinds[] = { "root", "object", "array", "string", "number", "litset", "alt", "ref" };
    size_t k = 0;
    if (!s || !buf || !cap) return QE_EINVAL;
    buf[0] = 0;
#define JC_PUT(...) do { int w_ = snprintf(buf + k, cap - k, __VA_ARGS__); if (w_ > 0) k += (size_t)w_; if (k >= cap) { buf[cap - 1] = 0; return 0; } } while (0)
    if (s->thinking) { JC_PUT("thinking"); return 0; }
    if (s->ended) { JC_PUT("ended"); return 0; }
    for (int h = 0; h < s->h->n; h++) {
        JC_PUT("%s[", h ? " | " : "");
        for (int i = 0; i < s->h->len[h]; i++) {
            const jc_frame *f = &s->h->fr[h][i];
            const jc_node *n = &s->g->nodes[f->node];
            JC_PUT("%s%s %s p%d a%d", i ? ", " : "", kinds[n->kind], n->path, f->phase, f->a);
            if (n->kind == JC_STRING) JC_PUT(" sub%d", f->sub);
        }
        JC_PUT("]");
    }
#undef JC_PUT
    return 0;
}

int jc_state_reset(jc_state *s)
{
    if (!s) return QE_EINVAL;
    jc_state_restart(s);
    return QE_OK;
}

int jc_thinking(const jc_state *s) { return s->thinking; }

int jc_done(const jc_state *s) { return !s->thinking && (s->ended || jc_heads_done(s->g, s->h)); }

int jc_can_end(jc_state *s)
{
    if (s->thinking) return 0;
    return s->ended || jc_heads_can_end(&s->w, s->h);
}

int jc_accept_bytes(jc_state *s, const char *bytes, size_t n)
{
    if (!s || (!bytes && n)) return QE_EINVAL;
    if (s->thinking) return QE_OK;
    if (s->ended) return n ? -1 : 0;
    if (!jc_heads_feed(&s->w, s->h, (const uint8_t *)bytes, n, s->h2)) return -1;
    jc_heads *t = s->h;
    s->h = s->h2;
    s->h2 = t;
    return QE_OK;
}

int jc_accept(jc_state *s, qe_token tok)
{
    const jc_vocab *V = s->g->V;
    const qe_model *m = s->g->model;
    if (!V || tok < 0 || tok >= V->n_vocab || V->kind[tok] == JC_TK_PAD) return -1;
    if (s->thinking) {
        if (tok == qe_model_vocab(m)->think_end) {
            s->thinking = 0;
            jc_heads_start(&s->w, s->h, 1);
        }
        return 0;
    }
    if (qe_token_is_stop(m, tok)) {
        if (!s->ended && !jc_heads_can_end(&s->w, s->h)) return -1;
        s->ended = 1;
        return 0;
    }
    if (s->ended || V->kind[tok] != JC_TK_NORMAL) return -1;
    size_t len;
    const char *p = qe_token_bytes(m, tok, &len);
    if (!p || !len) return -1;
    return jc_accept_bytes(s, p, len);
}

/* --------------------------------------------------------------- masks */

static void jc_mask_compute(jc_state *s)
{
    const jc_vocab *V = s->g->V;
    const qe_model *m = s->g->model;
    uint64_t *bits = s->mask;
    if (s->thinking) {
        memcpy(bits, V->free_bits, (size_t)V->nwords * sizeof *bits);
        return;
    }
    memset(bits, 0, (size_t)V->nwords * sizeof *bits);
    const qe_vocab_info *vi = qe_model_vocab(m);
    int can_end = s->ended;
    jc_walk *w = &s->w;
    w->bits = bits;
    for (int h = 0; h < s->h->n && !s->ended; h++) {
        jc_vs v;
        jc_vs_base(w, s->h, h, &v);
        w->ar_n = 0;
        if (!can_end && jc_vs_can_end(w, v)) can_end = 1;
        const jc_frame *top = &s->h->fr[h][v.L - 1];
        if (s->g->nodes[top->node].kind == JC_STRING && (top->phase == JC_SP_START || top->sub == JC_SS_CLEAN))
            jc_mask_string(w, V, v, top);
        else
            jc_trie_walk(w, &V->all, 0, &v, 1);
    }
    w->ar_n = 0;
    if (can_end) {
        if (vi->im_end >= 0 && vi->im_end < V->n_vocab) jc_bit_set(bits, vi->im_end);
        if (vi->eos >= 0 && vi->eos < V->n_vocab) jc_bit_set(bits, vi->eos);
    }
}

int jc_mask(jc_state *s, uint64_t *bits)
{
    if (!s || !s->g->V) return QE_EINVAL;
    jc_mask_compute(s);
    const jc_vocab *V = s->g->V;
    int n = 0;
    for (int i = 0; i < V->nwords; i++) n += __builtin_popcountll(s->mask[i]);
    if (bits) memcpy(bits, s->mask, (size_t)V->nwords * sizeof *bits);
    return n;
}

/* ------------------------------------------------------------ the stage */

static void jc_stage_apply(qe_sampler_stage *st, qe_cands *c)
{
    jc_state *s = st->state;
    const jc_vocab *V = s->g->V;
    if (!V) return;
    jc_mask_compute(s);
    const uint64_t *bits = s->mask;
    int nv = V->n_vocab;
    if (c->n == nv && c->data[0].id == 0 && c->data[nv - 1].id == nv - 1) {
        /* the sampler's fresh layout (data[i].id == i): either keep the few
         * allowed candidates or blank the few disallowed ones */
        int allowed = 0;
        for (int i = 0; i < V->nwords; i++) allowed += __builtin_popcountll(bits[i]);
        if (allowed <= nv / 4) {
            int w = 0;
            for (int i = 0; i < V->nwords; i++)
                for (uint64_t x = bits[i]; x; x &= x - 1) c->data[w++] = c->data[i * 64 + __builtin_ctzll(x)];
            c->n = w;
            c->sorted = 0;
        } else {
            for (int i = 0; i < V->nwords; i++) {
                uint64_t x = ~bits[i];
                if (i == V->nwords - 1 && (nv & 63)) x &= (1ull << (nv & 63)) - 1;
                for (; x; x &= x - 1) c->data[i * 64 + __builtin_ctzll(x)].logit = -INFINITY;
            }
        }
        return;
    }
    for (int i = 0; i < c->n; i++) {
        qe_token id = c->data[i].id;
        if (id < 0 || id >= nv || !jc_bit_get(bits, id)) c->data[i].logit = -INFINITY;
    }
}

static void jc_stage_accept(qe_sampler_stage *st, qe_token tok) { jc_accept(st->state, tok); }
static void jc_stage_reset(qe_sampler_stage *st) { jc_state_restart(st->state); }
static void jc_stage_free(qe_sampler_stage *st) { free(st); }

qe_sampler_stage *jc_stage(jc_state *s)
{
    if (!s || !s->g->V) return NULL;
    qe_sampler_stage *st = calloc(1, sizeof *st);
    if (!st) return NULL;
    st->name = "json-schema";
    st->apply = jc_stage_apply;
    st->accept = jc_stage_accept;
    st->reset = jc_stage_reset;
    st->free = jc_stage_free;
    st->state = s;
    return st;
}

/* ---------------------------------------------------------- jump-forward */

/* The byte run every continuation must start with. Stops where two bytes
 * are possible or the document may end. H and s->h2 are scratch. */
static int jc_forced_run(jc_state *s, jc_heads *H, uint8_t *out, int cap)
{
    jc_walk *w = &s->w;
    jc_heads *a = H, *b = s->h2;
    int n = 0;
    while (n < cap && !jc_heads_can_end(w, a)) {
        int hits = 0, ub = -1;
        for (int i = 0; i < 256 && hits < 2; i++) {
            int byte = jc_byte_order[i];
            for (int h = 0; h < a->n; h++) {
                jc_vs v, tmp[JC_MAX_HEADS];
                jc_vs_base(w, a, h, &v);
                w->ar_n = 0;
                if (jc_vs_step(w, v, byte, tmp, JC_MAX_HEADS)) { hits++; ub = byte; break; }
            }
        }
        w->ar_n = 0;
        if (hits != 1) break;
        out[n++] = (uint8_t)ub;
        if (!jc_heads_feed(w, a, &out[n - 1], 1, b)) break;
        jc_heads *t = a;
        a = b;
        b = t;
    }
    return n;
}

int jc_forced_bytes(jc_state *s, char *out, int cap)
{
    if (!s || !out || cap <= 0 || s->thinking || s->ended) return 0;
    /* work on a copy (h3 and h2 are scratch), leaving out leading
     * whitespace once there are two bytes of it (Qwen's "\n\n" after
     * </think>): more is allowed but never forced, so the value's start can be */
    jc_heads *H = s->h3;
    H->n = 0;
    for (int h = 0; h < s->h->n; h++) {
        const jc_frame *f = &s->h->fr[h][0];
        if (s->h->len[h] == 1 && f->phase == JC_RP_WS && f->a >= 2) continue;
        H->len[H->n] = s->h->len[h];
        memcpy(H->fr[H->n++], s->h->fr[h], (size_t)s->h->len[h] * sizeof(jc_frame));
    }
    if (H->n == 0) return 0;
    return jc_forced_run(s, H, (uint8_t *)out, cap);
}

/* A byte that may belong to a word: ASCII letters and anything non-ASCII
 * (most of which is letters; treating the rest so too only forces less). */
static int jc_word_byte(uint8_t b) { return ((b | 0x20) >= 'a' && (b | 0x20) <= 'z') || b >= 0x80; }

int jc_forced(jc_state *s, qe_token *out, int cap)
{
    if (!s || !s->g->V || !out || cap <= 0 || s->thinking || s->ended) return 0;
    char fb[JC_FORCE_MAX];
    int nb = jc_forced_bytes(s, fb, (int)sizeof fb);
    /* end at a character boundary: the tokenizer would not keep a cut
     * UTF-8 sequence as its bytes */
    int cut = nb;
    while (cut > 0 && ((uint8_t)fb[cut - 1] & 0xC0) == 0x80) cut--;
    if (cut > 0 && (uint8_t)fb[cut - 1] >= 0xC0) {
        int need = (uint8_t)fb[cut - 1] >= 0xF0 ? 4 : (uint8_t)fb[cut - 1] >= 0xE0 ? 3 : 2;
        if (nb - (cut - 1) < need) nb = cut - 1;
    }
    /* A run ending in letters (an enum or key prefix such as "P of
     * PERSON/PLACE) would split a word the model writes as one token: leave
     * the word to the model, unless the document may end right there.
     * Qwen's pre-tokenizer keeps letters apart from JSON punctuation and
     * digits, so any other end is a boundary the model produces too. */
    if (nb > 0 && jc_word_byte((uint8_t)fb[nb - 1])) {
        memcpy(s->h3, s->h, sizeof *s->h3);
        if (!jc_heads_feed(&s->w, s->h3, (const uint8_t *)fb, (size_t)nb, s->h2) || !jc_heads_can_end(&s->w, s->h2))
            while (nb > 0 && jc_word_byte((uint8_t)fb[nb - 1])) nb--;
    }
    if (nb <= 0) return 0;
    qe_token toks[JC_FORCE_MAX];
    int nt = qe_tokenize(s->g->model, fb, (size_t)nb, toks, JC_FORCE_MAX);
    if (nt <= 0) return 0;
    if (nt > JC_FORCE_MAX) nt = JC_FORCE_MAX;
    /* keep the longest prefix the grammar accepts token by token */
    jc_heads *a = s->h3, *b = s->h2;
    memcpy(a, s->h, sizeof *a);
    const jc_vocab *V = s->g->V;
    int k = 0;
    for (; k < nt && k < cap; k++) {
        size_t len;
        const char *p;
        if (toks[k] < 0 || toks[k] >= V->n_vocab || V->kind[toks[k]] != JC_TK_NORMAL) break;
        if (!(p = qe_token_bytes(s->g->model, toks[k], &len)) || !len) break;
        if (!jc_heads_feed(&s->w, a, (const uint8_t *)p, len, b)) break;
        jc_heads *t = a;
        a = b;
        b = t;
        out[k] = toks[k];
    }
    return k;
}
