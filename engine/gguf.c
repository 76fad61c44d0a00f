/*
 * gguf.c - GGUF v2/v3 reader (validated, mmap) and v3 writer.
 *
 * File layout (all little-endian):
 *   u32 magic "GGUF", u32 version, u64 n_tensors, u64 n_kv,
 *   n_kv x { string key, u32 type, value },
 *   n_tensors x { string name, u32 n_dims, u64 ne[n_dims], u32 type, u64 offset },
 *   zero padding to the alignment, then the data section. Strings are a u64
 *   length followed by the bytes (no NUL). Arrays are u32 element type, u64
 *   count, elements. v1 used 32-bit counts and lengths and is rejected; v2
 *   and v3 share one layout.
 *
 * The reader never trusts a number from the file: each count or length is
 * compared with the bytes that remain before it is used, tables grow only
 * as entries are actually parsed (so a forged count cannot make us allocate
 * more than the file could describe), and every tensor must lie inside the
 * file. All multi-byte reads go through memcpy because nothing in the file
 * is naturally aligned (and a fuzzer's buffer is not aligned at all).
 */
#include "gguf.h"
#include "qengine.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gguf.c reads and writes little-endian GGUF on little-endian hosts only"
#endif

/* Nesting limit for arrays of arrays: deep enough for any real file, small
 * enough that a hostile file cannot exhaust the stack. */
#define GGUF_MAX_NEST 8
/* ggml's GGML_MAX_NAME is 64 including the NUL; longer names would be
 * rejected by llama.cpp, so files with them are not portable anyway. */
#define GGUF_MAX_NAME 63

/* ------------------------------------------------------------ type tables */

static const struct {
    const char *name;
    int block_elems;
    int block_bytes;
} gguf_ggml_types[GGML_TYPE_COUNT] = {
    [GGML_TYPE_F32] = {"F32", 1, 4},
    [GGML_TYPE_F16] = {"F16", 1, 2},
    [GGML_TYPE_Q4_0] = {"Q4_0", 32, 18},    /* f16 d + 16 nibble bytes */
    [GGML_TYPE_Q4_1] = {"Q4_1", 32, 20},    /* f16 d, m + 16 */
    [GGML_TYPE_Q5_0] = {"Q5_0", 32, 22},    /* f16 d + u32 qh + 16 */
    [GGML_TYPE_Q5_1] = {"Q5_1", 32, 24},    /* f16 d, m + u32 qh + 16 */
    [GGML_TYPE_Q8_0] = {"Q8_0", 32, 34},    /* f16 d + 32 int8 */
    [GGML_TYPE_Q8_1] = {"Q8_1", 32, 36},    /* f16 d, s + 32 int8 */
    [GGML_TYPE_Q2_K] = {"Q2_K", 256, 84},   /* 16 scales + 64 qs + 2 f16 */
    [GGML_TYPE_Q3_K] = {"Q3_K", 256, 110},  /* 32 hmask + 64 qs + 12 scales + f16 */
    [GGML_TYPE_Q4_K] = {"Q4_K", 256, 144},  /* 2 f16 + 12 scales + 128 qs */
    [GGML_TYPE_Q5_K] = {"Q5_K", 256, 176},  /* 2 f16 + 12 scales + 32 qh + 128 qs */
    [GGML_TYPE_Q6_K] = {"Q6_K", 256, 210},  /* 128 ql + 64 qh + 16 scales + f16 */
    [GGML_TYPE_Q8_K] = {"Q8_K", 256, 292},  /* f32 d + 256 qs + 16 i16 bsums */
    [GGML_TYPE_I8] = {"I8", 1, 1},
    [GGML_TYPE_I16] = {"I16", 1, 2},
    [GGML_TYPE_I32] = {"I32", 1, 4},
    [GGML_TYPE_I64] = {"I64", 1, 8},
    [GGML_TYPE_F64] = {"F64", 1, 8},
    [GGML_TYPE_BF16] = {"BF16", 1, 2},
};

int ggml_type_block(int type, int *block_elems, int *block_bytes)
{
    if (type < 0 || type >= GGML_TYPE_COUNT || !gguf_ggml_types[type].name)
        return 0;
    if (block_elems) *block_elems = gguf_ggml_types[type].block_elems;
    if (block_bytes) *block_bytes = gguf_ggml_types[type].block_bytes;
    return 1;
}

const char *ggml_type_str(int type)
{
    if (type < 0 || type >= GGML_TYPE_COUNT || !gguf_ggml_types[type].name)
        return "?";
    return gguf_ggml_types[type].name;
}

static const char *const gguf_type_names[GGUF_TYPE_COUNT] = {
    "UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32",
    "BOOL", "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64",
};

/* Byte size of a fixed-size metadata type; 0 for STRING and ARRAY. */
static const int gguf_type_sizes[GGUF_TYPE_COUNT] = {
    1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8,
};

static const char *gguf_type_str(uint32_t t)
{
    return t < GGUF_TYPE_COUNT ? gguf_type_names[t] : "?";
}

static int gguf_type_is_int(int t)
{
    return t == GGUF_TYPE_UINT8 || t == GGUF_TYPE_INT8 || t == GGUF_TYPE_UINT16 ||
           t == GGUF_TYPE_INT16 || t == GGUF_TYPE_UINT32 || t == GGUF_TYPE_INT32 ||
           t == GGUF_TYPE_UINT64 || t == GGUF_TYPE_INT64;
}

/* ------------------------------------------------------------ small utils */

static uint32_t gguf_rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t gguf_rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* FNV-1a: keys and tensor names are short, this is plenty. */
static uint32_t gguf_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

/* Formats "label: message" into err (which may be NULL). */
static void gguf_seterr(char *err, size_t errlen, const char *label, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    int n = snprintf(err, errlen, "%s: ", label ? label : "<gguf>");
    if (n < 0 || (size_t)n >= errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

/* Printable rendering of a name from the file for messages: bytes outside
 * printable ASCII become \xNN, long names are cut with "...". */
static void gguf_show(char *dst, size_t cap, const uint8_t *s, uint64_t len)
{
    size_t o = 0;
    for (uint64_t i = 0; i < len; i++) {
        if (o + 8 >= cap) {
            if (cap >= 4) memcpy(dst + (o < cap - 4 ? o : cap - 4), "...", 4);
            return;
        }
        uint8_t c = s[i];
        if (c >= 0x20 && c < 0x7f && c != '\\')
            dst[o++] = (char)c;
        else
            o += (size_t)snprintf(dst + o, cap - o, "\\x%02x", c);
    }
    dst[o] = 0;
}

/* ----------------------------------------------------------------- reader */

typedef struct {
    char *key;              /* NUL-terminated copy */
    int type;               /* enum gguf_type */
    int arr_type;           /* element type when type == ARRAY */
    uint64_t n;             /* string length, or array element count */
    const uint8_t *val;     /* scalar bytes, string bytes, or first element */
    uint64_t *str_off;      /* string arrays: offset of element i from val */
} gguf_kv;

/* Open-addressing hash index over names; slot holds index+1, 0 = empty. */
typedef struct {
    uint32_t *slot;
    uint32_t mask;
} gguf_index;

struct gguf_file {
    char *path;
    const uint8_t *base;
    size_t size;
    int mapped;             /* 1: base is our mmap, unmap on close */
    uint32_t version;
    uint32_t alignment;
    uint64_t data_off;
    int n_kv;
    gguf_kv *kv;
    gguf_index kv_ix;
    int n_tensors;
    gguf_tensor *tensors;
    gguf_index t_ix;
};

typedef struct {
    const uint8_t *buf;
    size_t size;
    size_t pos;
    const char *label;
    char *err;
    size_t errlen;
} gguf_rd;

static int gguf_index_init(gguf_index *ix, uint32_t n)
{
    uint64_t cap = 16;
    while (cap < 2 * (uint64_t)n) cap <<= 1;
    if (cap > (1ull << 31)) return -1; /* keeps mask and slot values in 32 bits */
    ix->slot = calloc((size_t)cap, sizeof *ix->slot);
    if (!ix->slot) return -1;
    ix->mask = (uint32_t)(cap - 1);
    return 0;
}

/* Finds name in the index (names[i] via the accessor); returns its index or
 * -1. With insert_idx >= 0, inserts it when absent. */
typedef const char *(*gguf_name_fn)(const gguf_file *f, uint32_t i);

static const char *gguf_kv_name_at(const gguf_file *f, uint32_t i) { return f->kv[i].key; }
static const char *gguf_t_name_at(const gguf_file *f, uint32_t i) { return f->tensors[i].name; }

static int gguf_index_probe(const gguf_file *f, const gguf_index *ix, gguf_name_fn name_at,
                            const char *name, int insert_idx)
{
    if (!ix->slot) return -1;
    uint32_t h = gguf_hash(name) & ix->mask;
    for (;;) {
        uint32_t s = ix->slot[h];
        if (s == 0) {
            if (insert_idx >= 0) ix->slot[h] = (uint32_t)insert_idx + 1;
            return -1;
        }
        if (strcmp(name_at(f, s - 1), name) == 0)
            return (int)(s - 1);
        h = (h + 1) & ix->mask;
    }
}

static int gguf_rfail(gguf_rd *r, const char *fmt, ...)
{
    if (r->err && r->errlen) {
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        gguf_seterr(r->err, r->errlen, r->label, "%s", msg);
    }
    return QE_EFORMAT;
}

static int gguf_oom(gguf_rd *r, const char *what)
{
    gguf_seterr(r->err, r->errlen, r->label, "%s: out of memory", what);
    return QE_ENOMEM;
}

static uint64_t gguf_left(const gguf_rd *r) { return r->size - r->pos; }

/* Checks that n more bytes are there; what names the field for the message. */
static int gguf_need(gguf_rd *r, uint64_t n, const char *what)
{
    if (gguf_left(r) >= n)
        return 0;
    return gguf_rfail(r, "%s: truncated file: expected %llu bytes at offset %zu, got %llu (file is %zu bytes)",
                      what, (unsigned long long)n, r->pos, (unsigned long long)gguf_left(r), r->size);
}

static int gguf_get32(gguf_rd *r, uint32_t *v, const char *what)
{
    int rc = gguf_need(r, 4, what);
    if (rc) return rc;
    *v = gguf_rd32(r->buf + r->pos);
    r->pos += 4;
    return 0;
}

static int gguf_get64(gguf_rd *r, uint64_t *v, const char *what)
{
    int rc = gguf_need(r, 8, what);
    if (rc) return rc;
    *v = gguf_rd64(r->buf + r->pos);
    r->pos += 8;
    return 0;
}

/* Reads a string header and checks its bytes are there. */
static int gguf_getstr(gguf_rd *r, const uint8_t **s, uint64_t *len, const char *what)
{
    char w[256];
    snprintf(w, sizeof w, "%s length", what);
    int rc = gguf_get64(r, len, w);
    if (rc) return rc;
    if (*len > gguf_left(r))
        return gguf_rfail(r, "%s: string length: expected at most %llu (bytes left in file), got %llu",
                          what, (unsigned long long)gguf_left(r), (unsigned long long)*len);
    *s = r->buf + r->pos;
    r->pos += (size_t)*len;
    return 0;
}

/* Copies a name (key or tensor name) to a NUL-terminated string; rejects
 * empty names and embedded NULs, which C callers could not look up. */
static int gguf_dupname(gguf_rd *r, const uint8_t *s, uint64_t len, const char *what, char **out)
{
    char shown[96];
    if (len == 0)
        return gguf_rfail(r, "%s: name: expected a non-empty string, got length 0", what);
    if (memchr(s, 0, (size_t)len)) {
        gguf_show(shown, sizeof shown, s, len);
        return gguf_rfail(r, "%s '%s': name: expected no NUL bytes, got one", what, shown);
    }
    char *d = malloc((size_t)len + 1);
    if (!d) return gguf_oom(r, what);
    memcpy(d, s, (size_t)len);
    d[len] = 0;
    *out = d;
    return 0;
}

/* Validates one value of type t at the cursor and moves past it. Used for
 * array elements (including nested arrays, which the getters don't expose). */
static int gguf_skip_value(gguf_rd *r, uint32_t t, int depth, const char *what)
{
    if (t >= GGUF_TYPE_COUNT)
        return gguf_rfail(r, "%s: value type: expected 0..%d, got %u", what, GGUF_TYPE_COUNT - 1, t);
    if (gguf_type_sizes[t]) {
        int rc = gguf_need(r, (uint64_t)gguf_type_sizes[t], what);
        if (rc) return rc;
        r->pos += (size_t)gguf_type_sizes[t];
        return 0;
    }
    if (t == GGUF_TYPE_STRING) {
        const uint8_t *s;
        uint64_t len;
        return gguf_getstr(r, &s, &len, what);
    }
    /* ARRAY */
    if (depth >= GGUF_MAX_NEST)
        return gguf_rfail(r, "%s: array nesting: expected at most %d levels, got more", what, GGUF_MAX_NEST);
    uint32_t et;
    uint64_t n;
    char w[256];
    snprintf(w, sizeof w, "%s element type", what);
    int rc = gguf_get32(r, &et, w);
    if (rc) return rc;
    if (et >= GGUF_TYPE_COUNT)
        return gguf_rfail(r, "%s: array element type: expected 0..%d, got %u", what, GGUF_TYPE_COUNT - 1, et);
    snprintf(w, sizeof w, "%s element count", what);
    if ((rc = gguf_get64(r, &n, w))) return rc;
    /* smallest encoding of one element: its size, a string's length field,
     * or an array's type + count */
    uint64_t min = gguf_type_sizes[et] ? (uint64_t)gguf_type_sizes[et] : et == GGUF_TYPE_STRING ? 8 : 12;
    if (n > gguf_left(r) / min)
        return gguf_rfail(r, "%s: array count: expected at most %llu %s elements (bytes left in file), got %llu",
                          what, (unsigned long long)(gguf_left(r) / min), gguf_type_str(et), (unsigned long long)n);
    if (gguf_type_sizes[et]) {
        r->pos += (size_t)(n * min);
        return 0;
    }
    snprintf(w, sizeof w, "%s element", what);
    for (uint64_t i = 0; i < n; i++)
        if ((rc = gguf_skip_value(r, et, depth + 1, w))) return rc;
    return 0;
}

/* Parses the value of key kv (type already read) into kv. */
static int gguf_parse_value(gguf_rd *r, gguf_kv *kv, const char *what)
{
    int rc;
    uint32_t t = (uint32_t)kv->type;
    if (t >= GGUF_TYPE_COUNT)
        return gguf_rfail(r, "%s: value type: expected 0..%d, got %u", what, GGUF_TYPE_COUNT - 1, t);
    if (gguf_type_sizes[t]) {
        if ((rc = gguf_need(r, (uint64_t)gguf_type_sizes[t], what))) return rc;
        kv->val = r->buf + r->pos;
        kv->n = 1;
        r->pos += (size_t)gguf_type_sizes[t];
        return 0;
    }
    if (t == GGUF_TYPE_STRING)
        return gguf_getstr(r, &kv->val, &kv->n, what);

    uint32_t et;
    char w[256];
    snprintf(w, sizeof w, "%s array element type", what);
    if ((rc = gguf_get32(r, &et, w))) return rc;
    if (et >= GGUF_TYPE_COUNT)
        return gguf_rfail(r, "%s: array element type: expected 0..%d, got %u", what, GGUF_TYPE_COUNT - 1, et);
    kv->arr_type = (int)et;
    snprintf(w, sizeof w, "%s array count", what);
    if ((rc = gguf_get64(r, &kv->n, w))) return rc;
    uint64_t min = gguf_type_sizes[et] ? (uint64_t)gguf_type_sizes[et] : et == GGUF_TYPE_STRING ? 8 : 12;
    if (kv->n > gguf_left(r) / min)
        return gguf_rfail(r, "%s: array count: expected at most %llu %s elements (bytes left in file), got %llu",
                          what, (unsigned long long)(gguf_left(r) / min), gguf_type_str(et),
                          (unsigned long long)kv->n);
    kv->val = r->buf + r->pos;
    if (gguf_type_sizes[et]) {
        r->pos += (size_t)(kv->n * min);
        return 0;
    }
    if (et == GGUF_TYPE_STRING) {
        /* Index the elements so gguf_get_arr_str is O(1). n <= bytes/8, so
         * this table is never larger than the file itself. */
        kv->str_off = malloc((size_t)(kv->n ? kv->n : 1) * sizeof *kv->str_off);
        if (!kv->str_off) return gguf_oom(r, what);
        snprintf(w, sizeof w, "%s element", what);
        for (uint64_t i = 0; i < kv->n; i++) {
            const uint8_t *s;
            uint64_t len;
            kv->str_off[i] = (uint64_t)(r->buf + r->pos - kv->val);
            if ((rc = gguf_getstr(r, &s, &len, w))) return rc;
        }
        return 0;
    }
    snprintf(w, sizeof w, "%s element", what);
    for (uint64_t i = 0; i < kv->n; i++)
        if ((rc = gguf_skip_value(r, et, 1, w))) return rc;
    return 0;
}

/* Grows *arr (of elem-sized items, *cap of them) to hold at least n+1. */
static int gguf_grow(void **arr, int *cap, int n, size_t elem)
{
    if (n < *cap) return 0;
    int nc = *cap ? *cap * 2 : 16;
    if (nc <= n) nc = n + 1;
    void *p = realloc(*arr, (size_t)nc * elem);
    if (!p) return -1;
    memset((char *)p + (size_t)*cap * elem, 0, (size_t)(nc - *cap) * elem);
    *arr = p;
    *cap = nc;
    return 0;
}

static int gguf_parse_kvs(gguf_rd *r, gguf_file *f, uint64_t n_kv)
{
    int cap = 0, rc;
    for (uint64_t i = 0; i < n_kv; i++) {
        char what[160], shown[96];
        if (gguf_grow((void **)&f->kv, &cap, f->n_kv, sizeof *f->kv))
            return gguf_oom(r, "metadata");
        gguf_kv *kv = &f->kv[f->n_kv];
        const uint8_t *ks;
        uint64_t klen;
        snprintf(what, sizeof what, "key #%llu", (unsigned long long)i);
        if ((rc = gguf_getstr(r, &ks, &klen, what))) return rc;
        if ((rc = gguf_dupname(r, ks, klen, what, &kv->key))) return rc;
        f->n_kv++;
        gguf_show(shown, sizeof shown, ks, klen);
        snprintf(what, sizeof what, "key '%s'", shown);
        uint32_t t;
        char w[200];
        snprintf(w, sizeof w, "%s type", what);
        if ((rc = gguf_get32(r, &t, w))) return rc;
        if (t >= GGUF_TYPE_COUNT)
            return gguf_rfail(r, "%s: value type: expected 0..%d, got %u", what, GGUF_TYPE_COUNT - 1, t);
        kv->type = (int)t;
        snprintf(w, sizeof w, "%s value", what);
        if ((rc = gguf_parse_value(r, kv, w))) return rc;
    }
    if (gguf_index_init(&f->kv_ix, (uint32_t)f->n_kv))
        return gguf_oom(r, "metadata index");
    for (int i = 0; i < f->n_kv; i++) {
        if (gguf_index_probe(f, &f->kv_ix, gguf_kv_name_at, f->kv[i].key, i) >= 0) {
            char shown[96];
            gguf_show(shown, sizeof shown, (const uint8_t *)f->kv[i].key, strlen(f->kv[i].key));
            return gguf_rfail(r, "key '%s': duplicate: expected each key once, got it again as key #%d",
                              shown, i);
        }
    }
    return 0;
}

/* Computes a tensor's byte size with overflow checks; 0 when it overflows. */
static uint64_t gguf_tensor_nbytes(int type, int n_dims, const int64_t *ne)
{
    int be, bb;
    if (!ggml_type_block(type, &be, &bb)) return 0;
    uint64_t nel = 1;
    for (int d = 0; d < n_dims; d++) {
        if (ne[d] <= 0 || nel > (uint64_t)INT64_MAX / (uint64_t)ne[d]) return 0;
        nel *= (uint64_t)ne[d];
    }
    if (ne[0] % be) return 0;
    uint64_t blocks = nel / (uint64_t)be;
    if (blocks > UINT64_MAX / (uint64_t)bb) return 0;
    return blocks * (uint64_t)bb;
}

static int gguf_parse_tensors(gguf_rd *r, gguf_file *f, uint64_t n_t)
{
    int cap = 0, rc;
    for (uint64_t i = 0; i < n_t; i++) {
        char what[160], w[200], shown[96];
        if (gguf_grow((void **)&f->tensors, &cap, f->n_tensors, sizeof *f->tensors))
            return gguf_oom(r, "tensor infos");
        gguf_tensor *t = &f->tensors[f->n_tensors];
        const uint8_t *ns;
        uint64_t nlen;
        char *name = NULL;
        snprintf(what, sizeof what, "tensor #%llu", (unsigned long long)i);
        if ((rc = gguf_getstr(r, &ns, &nlen, what))) return rc;
        if ((rc = gguf_dupname(r, ns, nlen, what, &name))) return rc;
        t->name = name;
        f->n_tensors++;
        gguf_show(shown, sizeof shown, ns, nlen);
        snprintf(what, sizeof what, "tensor '%s'", shown);
        if (nlen > GGUF_MAX_NAME)
            return gguf_rfail(r, "%s: name length: expected at most %d bytes, got %llu", what, GGUF_MAX_NAME,
                              (unsigned long long)nlen);
        uint32_t nd;
        snprintf(w, sizeof w, "%s n_dims", what);
        if ((rc = gguf_get32(r, &nd, w))) return rc;
        if (nd < 1 || nd > GGUF_MAX_DIMS)
            return gguf_rfail(r, "%s: n_dims: expected 1..%d, got %u", what, GGUF_MAX_DIMS, nd);
        t->n_dims = (int)nd;
        for (int d = 0; d < GGUF_MAX_DIMS; d++) t->ne[d] = 1;
        for (uint32_t d = 0; d < nd; d++) {
            uint64_t v;
            snprintf(w, sizeof w, "%s ne[%u]", what, d);
            if ((rc = gguf_get64(r, &v, w))) return rc;
            if (v < 1 || v > (uint64_t)INT64_MAX)
                return gguf_rfail(r, "%s: ne[%u]: expected 1..%lld, got %llu", what, d, (long long)INT64_MAX,
                                  (unsigned long long)v);
            t->ne[d] = (int64_t)v;
        }
        uint32_t type;
        snprintf(w, sizeof w, "%s type", what);
        if ((rc = gguf_get32(r, &type, w))) return rc;
        int be, bb;
        if (!ggml_type_block((int)type, &be, &bb))
            return gguf_rfail(r, "%s: type: expected a known ggml type (F32, F16, BF16, Q8_0, ...), got %u",
                              what, type);
        t->type = (int)type;
        snprintf(w, sizeof w, "%s offset", what);
        if ((rc = gguf_get64(r, &t->offset, w))) return rc;
        if (t->ne[0] % be)
            return gguf_rfail(r, "%s: ne[0]: expected a multiple of %d (the %s block size), got %lld", what, be,
                              ggml_type_str(t->type), (long long)t->ne[0]);
        t->nbytes = gguf_tensor_nbytes(t->type, t->n_dims, t->ne);
        if (t->nbytes == 0)
            return gguf_rfail(r, "%s: shape: expected an element count below 2^63, got [%lld, %lld, %lld, %lld]",
                              what, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
                              (long long)t->ne[3]);
    }
    if (gguf_index_init(&f->t_ix, (uint32_t)f->n_tensors))
        return gguf_oom(r, "tensor index");
    for (int i = 0; i < f->n_tensors; i++) {
        if (gguf_index_probe(f, &f->t_ix, gguf_t_name_at, f->tensors[i].name, i) >= 0) {
            char shown[96];
            gguf_show(shown, sizeof shown, (const uint8_t *)f->tensors[i].name, strlen(f->tensors[i].name));
            return gguf_rfail(r, "tensor '%s': duplicate: expected each tensor name once, got it again as tensor #%d",
                              shown, i);
        }
    }
    return 0;
}

/* Places the data section and checks every tensor lies inside the file. */
static int gguf_place_tensors(gguf_rd *r, gguf_file *f)
{
    uint64_t a = f->alignment;
    uint64_t start = ((uint64_t)r->pos + a - 1) / a * a;
    if (start > r->size) {
        if (f->n_tensors > 0)
            return gguf_rfail(r, "data section: truncated file: expected it to start at offset %llu, got a file of %zu bytes",
                              (unsigned long long)start, r->size);
        start = r->size; /* no tensors: the padding may be omitted */
    }
    f->data_off = start;
    uint64_t room = r->size - start;
    for (int i = 0; i < f->n_tensors; i++) {
        gguf_tensor *t = &f->tensors[i];
        char shown[96];
        gguf_show(shown, sizeof shown, (const uint8_t *)t->name, strlen(t->name));
        if (t->offset % a)
            return gguf_rfail(r, "tensor '%s': offset: expected a multiple of the alignment %llu, got %llu", shown,
                              (unsigned long long)a, (unsigned long long)t->offset);
        if (t->offset > room || t->nbytes > room - t->offset)
            return gguf_rfail(r,
                              "tensor '%s': data: expected %llu bytes at data offset %llu (file offset %llu), "
                              "got a data section of %llu bytes (file is %zu bytes)",
                              shown, (unsigned long long)t->nbytes, (unsigned long long)t->offset,
                              (unsigned long long)(start + t->offset), (unsigned long long)room, r->size);
        t->data = r->buf + start + t->offset;
    }
    return 0;
}

static int gguf_parse(gguf_rd *r, gguf_file *f)
{
    int rc;
    if (r->size < 4 || memcmp(r->buf, "GGUF", 4) != 0) {
        char shown[48] = "";
        gguf_show(shown, sizeof shown, r->buf, r->size < 4 ? r->size : 4);
        return gguf_rfail(r, "magic: expected \"GGUF\", got \"%s\"%s", shown,
                          r->size < 4 ? " (file shorter than 4 bytes)" : " (not a GGUF file)");
    }
    r->pos = 4;
    if ((rc = gguf_get32(r, &f->version, "header version"))) return rc;
    if (f->version == 1)
        return gguf_rfail(r, "version: expected 2 or 3, got 1 (GGUF v1 used 32-bit counts and is not supported; "
                             "convert the model again)");
    if (f->version != 2 && f->version != 3) {
        uint32_t sw = __builtin_bswap32(f->version);
        return gguf_rfail(r, "version: expected 2 or 3, got %u%s", f->version,
                          sw >= 1 && sw <= 3 ? " (a big-endian GGUF file? only little-endian is supported)" : "");
    }
    uint64_t n_t, n_kv;
    if ((rc = gguf_get64(r, &n_t, "header tensor count"))) return rc;
    if ((rc = gguf_get64(r, &n_kv, "header metadata count"))) return rc;
    /* smallest key/value: 8-byte length, 1 byte key, u32 type, 1 byte value;
     * smallest tensor info: length, 1 byte name, n_dims, one ne, type, offset */
    uint64_t left = gguf_left(r);
    if (n_kv > left / 14 || n_kv > INT32_MAX)
        return gguf_rfail(r, "header metadata count: expected at most %llu for the %llu bytes left, got %llu",
                          (unsigned long long)(left / 14), (unsigned long long)left, (unsigned long long)n_kv);
    if (n_t > left / 33 || n_t > INT32_MAX)
        return gguf_rfail(r, "header tensor count: expected at most %llu for the %llu bytes left, got %llu",
                          (unsigned long long)(left / 33), (unsigned long long)left, (unsigned long long)n_t);
    if ((rc = gguf_parse_kvs(r, f, n_kv))) return rc;

    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    int ai = gguf_find_key(f, "general.alignment");
    if (ai >= 0) {
        const gguf_kv *kv = &f->kv[ai];
        if (kv->type != GGUF_TYPE_UINT32)
            return gguf_rfail(r, "key 'general.alignment': type: expected UINT32, got %s", gguf_type_str((uint32_t)kv->type));
        uint32_t a = gguf_rd32(kv->val);
        if (a == 0 || (a & (a - 1)))
            return gguf_rfail(r, "key 'general.alignment': value: expected a non-zero power of two, got %u", a);
        f->alignment = a;
    }
    if ((rc = gguf_parse_tensors(r, f, n_t))) return rc;
    return gguf_place_tensors(r, f);
}

int gguf_open_mem(const void *buf, size_t size, const char *label, gguf_file **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!label) label = "<memory>";
    if (err && errlen) err[0] = 0;
    gguf_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(label))) {
        free(f);
        gguf_seterr(err, errlen, label, "out of memory");
        return QE_ENOMEM;
    }
    static const uint8_t empty[1];
    f->base = size ? buf : empty;
    f->size = size;
    gguf_rd r = {f->base, size, 0, f->path, err, errlen};
    int rc = gguf_parse(&r, f);
    if (rc) {
        gguf_close(f);
        return rc;
    }
    *out = f;
    return QE_OK;
}

/* The whole file into private anonymous memory, on 2 MiB pages where the
 * kernel grants them. NULL with errno set on failure. */
static void *read_private(int fd, size_t size)
{
    void *buf = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED) return NULL;
    (void)madvise(buf, size, MADV_HUGEPAGE);
    for (size_t off = 0; off < size;) {
        size_t want = size - off < ((size_t)1 << 30) ? size - off : ((size_t)1 << 30);
        ssize_t got = pread(fd, (char *)buf + off, want, (off_t)off);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            int e = got < 0 ? errno : EIO;   /* 0: the file shrank under us */
            munmap(buf, size);
            errno = e;
            return NULL;
        }
        off += (size_t)got;
    }
    /* read-only from here on, like the file mapping */
    (void)mprotect(buf, size, PROT_READ);
    return buf;
}

int gguf_open(const char *path, gguf_file **out, char *err, size_t errlen)
{
    return gguf_open_ex(path, 0, out, err, errlen);
}

int gguf_open_ex(const char *path, int private_copy, gguf_file **out, char *err, size_t errlen)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        gguf_seterr(err, errlen, path, "cannot open: %s", strerror(errno));
        return QE_EIO;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        gguf_seterr(err, errlen, path, "cannot stat: %s", strerror(errno));
        close(fd);
        return QE_EIO;
    }
    if (!S_ISREG(st.st_mode)) {
        gguf_seterr(err, errlen, path, "file type: expected a regular file, got something else");
        close(fd);
        return QE_EIO;
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        gguf_seterr(err, errlen, path, "file size: expected at most %zu bytes, got %lld", (size_t)SIZE_MAX,
                    (long long)st.st_size);
        close(fd);
        return QE_EIO;
    }
    size_t size = (size_t)st.st_size;
    void *map = NULL;
    if (size > 0 && private_copy) {
        map = read_private(fd, size);
        if (!map && errno != ENOMEM) {
            gguf_seterr(err, errlen, path, "cannot read %zu bytes: %s", size, strerror(errno));
            close(fd);
            return QE_EIO;
        }
        /* no memory for a private copy: the shared file mapping will do */
    }
    if (size > 0 && !map) {
        map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            gguf_seterr(err, errlen, path, "cannot map %zu bytes: %s", size, strerror(errno));
            close(fd);
            return QE_EIO;
        }
    }
    close(fd); /* the mapping stays valid */
    int rc = gguf_open_mem(map, size, path, out, err, errlen);
    if (rc) {
        if (map) munmap(map, size);
        return rc;
    }
    (*out)->mapped = map != NULL;
    return QE_OK;
}

void gguf_close(gguf_file *f)
{
    if (!f) return;
    for (int i = 0; i < f->n_kv; i++) {
        free(f->kv[i].key);
        free(f->kv[i].str_off);
    }
    free(f->kv);
    free(f->kv_ix.slot);
    for (int i = 0; i < f->n_tensors; i++) free((char *)f->tensors[i].name);
    free(f->tensors);
    free(f->t_ix.slot);
    if (f->mapped) munmap((void *)f->base, f->size);
    free(f->path);
    free(f);
}

uint32_t gguf_version(const gguf_file *f) { return f->version; }
uint64_t gguf_file_size(const gguf_file *f) { return f->size; }
const char *gguf_path(const gguf_file *f) { return f->path; }
uint32_t gguf_alignment(const gguf_file *f) { return f->alignment; }
uint64_t gguf_data_offset(const gguf_file *f) { return f->data_off; }

int gguf_n_kv(const gguf_file *f) { return f->n_kv; }

int gguf_find_key(const gguf_file *f, const char *key)
{
    return gguf_index_probe(f, &f->kv_ix, gguf_kv_name_at, key, -1);
}

const char *gguf_key_name(const gguf_file *f, int i)
{
    return i >= 0 && i < f->n_kv ? f->kv[i].key : NULL;
}

int gguf_kv_type(const gguf_file *f, int i)
{
    return i >= 0 && i < f->n_kv ? f->kv[i].type : -1;
}

/* Reads an integer of metadata type t at p into a sign flag + magnitude
 * pair, so that every source type converts exactly. */
static void gguf_read_int(int t, const uint8_t *p, int *neg, uint64_t *mag)
{
    int64_t s = 0;
    uint64_t u = 0;
    int is_signed = 1;
    switch (t) {
    case GGUF_TYPE_UINT8: u = p[0]; is_signed = 0; break;
    case GGUF_TYPE_INT8: { int8_t v; memcpy(&v, p, 1); s = v; break; }
    case GGUF_TYPE_UINT16: { uint16_t v; memcpy(&v, p, 2); u = v; is_signed = 0; break; }
    case GGUF_TYPE_INT16: { int16_t v; memcpy(&v, p, 2); s = v; break; }
    case GGUF_TYPE_UINT32: u = gguf_rd32(p); is_signed = 0; break;
    case GGUF_TYPE_INT32: { int32_t v; memcpy(&v, p, 4); s = v; break; }
    case GGUF_TYPE_UINT64: u = gguf_rd64(p); is_signed = 0; break;
    default: { int64_t v; memcpy(&v, p, 8); s = v; break; }
    }
    if (!is_signed) {
        *neg = 0;
        *mag = u;
    } else if (s < 0) {
        *neg = 1;
        *mag = (uint64_t)0 - (uint64_t)s;
    } else {
        *neg = 0;
        *mag = (uint64_t)s;
    }
}

static const gguf_kv *gguf_kv_get(const gguf_file *f, const char *key)
{
    int i = gguf_find_key(f, key);
    return i < 0 ? NULL : &f->kv[i];
}

int gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out)
{
    const gguf_kv *kv = gguf_kv_get(f, key);
    if (!kv) return -1;
    if (!gguf_type_is_int(kv->type)) return -2;
    int neg;
    uint64_t m;
    gguf_read_int(kv->type, kv->val, &neg, &m);
    if (neg || m > UINT32_MAX) return -2;
    *out = (uint32_t)m;
    return 0;
}

int gguf_get_i64(const gguf_file *f, const char *key, int64_t *out)
{
    const gguf_kv *kv = gguf_kv_get(f, key);
    if (!kv) return -1;
    if (!gguf_type_is_int(kv->type)) return -2;
    int neg;
    uint64_t m;
    gguf_read_int(kv->type, kv->val, &neg, &m);
    if (neg) {
        if (m > (uint64_t)INT64_MAX + 1) return -2;
        *out = m == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)m;
    } else {
        if (m > (uint64_t)INT64_MAX) return -2;
        *out = (int64_t)m;
    }
    return 0;
}

int gguf_get_f32(const gguf_file *f, const char *key, float *out)
{
    const gguf_kv *kv = gguf_kv_get(f, key);
    if (!kv) return -1;
    if (kv->type == GGUF_TYPE_FLOAT32) {
        memcpy(out, kv->val, 4);
        return 0;
    }
    if (kv->type == GGUF_TYPE_FLOAT64) {
        double d;
        memcpy(&d, kv->val, 8);
        if (isfinite(d) && fabs(d) > FLT_MAX) return -2; /* would become inf */
        *out = (float)d;
        return 0;
    }
    return -2;
}

int gguf_get_bool(const gguf_file *f, const char *key, int *out)
{
    const gguf_kv *kv = gguf_kv_get(f, key);
    if (!kv) return -1;
    if (kv->type != GGUF_TYPE_BOOL) return -2;
    *out = kv->val[0] != 0;
    return 0;
}

int gguf_get_str(const gguf_file *f, const char *key, const char **s, size_t *len)
{
    const gguf_kv *kv = gguf_kv_get(f, key);
    if (!kv) return -1;
    if (kv->type != GGUF_TYPE_STRING) return -2;
    *s = (const char *)kv->val;
    *len = (size_t)kv->n;
    return 0;
}

int gguf_get_arr_info(const gguf_file *f, const char *key, int *elem_type, uint64_t *n)
{
    const gguf_kv *kv = gguf_kv_get(f, key);
    if (!kv) return -1;
    if (kv->type != GGUF_TYPE_ARRAY) return -2;
    *elem_type = kv->arr_type;
    *n = kv->n;
    return 0;
}

const char *gguf_get_arr_str(const gguf_file *f, const char *key, uint64_t i, size_t *len)
{
    const gguf_kv *kv = gguf_kv_get(f, key);
    if (!kv || kv->type != GGUF_TYPE_ARRAY || kv->arr_type != GGUF_TYPE_STRING || i >= kv->n)
        return NULL;
    const uint8_t *p = kv->val + kv->str_off[i];
    *len = (size_t)gguf_rd64(p);
    return (const char *)p + 8;
}

int64_t gguf_get_arr_i32(const gguf_file *f, const char *key, int32_t *out, uint64_t n)
{
    const gguf_kv *kv = gguf_kv_get(f, key);
    if (!kv) return -1;
    if (kv->type != GGUF_TYPE_ARRAY || !gguf_type_is_int(kv->arr_type)) return -2;
    uint64_t cnt = kv->n < n ? kv->n : n;
    if (cnt > INT64_MAX) return -2;
    int sz = gguf_type_sizes[kv->arr_type];
    for (uint64_t i = 0; i < cnt; i++) {
        int neg;
        uint64_t m;
        gguf_read_int(kv->arr_type, kv->val + i * (uint64_t)sz, &neg, &m);
        if (neg ? m > (uint64_t)INT32_MAX + 1 : m > INT32_MAX) return -2;
        out[i] = neg ? (int32_t)(0 - (int64_t)m) : (int32_t)m;
    }
    return (int64_t)cnt;
}

int64_t gguf_get_arr_f32(const gguf_file *f, const char *key, float *out, uint64_t n)
{
    const gguf_kv *kv = gguf_kv_get(f, key);
    if (!kv) return -1;
    if (kv->type != GGUF_TYPE_ARRAY || kv->arr_type != GGUF_TYPE_FLOAT32) return -2;
    uint64_t cnt = kv->n < n ? kv->n : n;
    if (cnt > INT64_MAX) return -2;
    if (cnt) memcpy(out, kv->val, (size_t)cnt * 4);
    return (int64_t)cnt;
}

int gguf_n_tensors(const gguf_file *f) { return f->n_tensors; }

const gguf_tensor *gguf_tensor_at(const gguf_file *f, int i)
{
    return i >= 0 && i < f->n_tensors ? &f->tensors[i] : NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name)
{
    int i = gguf_index_probe(f, &f->t_ix, gguf_t_name_at, name, -1);
    return i < 0 ? NULL : &f->tensors[i];
}

/* ----------------------------------------------------------------- writer */

typedef struct {
    char *key;
    uint32_t type;
    uint8_t *val;           /* encoded value, as it follows the type field */
    size_t len;
} gguf_wkv;

typedef struct {
    char *name;
    int type, n_dims;
    int64_t ne[GGUF_MAX_DIMS];
    uint64_t nbytes;
    void *data;             /* owned copy, or NULL when fill is used */
    gguf_fill_fn fill;
    void *user;
} gguf_wtensor;

struct gguf_writer {
    gguf_wkv *kv;
    int n_kv, cap_kv;
    gguf_wtensor *t;
    int n_t, cap_t;
    int failed;             /* a setter failed: write reports errmsg */
    char errmsg[256];
};

/* Growable byte buffer for encoding values. */
typedef struct {
    uint8_t *p;
    size_t n, cap;
    int oom;
} gguf_buf;

static void gguf_buf_put(gguf_buf *b, const void *d, size_t n)
{
    if (b->oom) return;
    if (b->n + n > b->cap) {
        size_t nc = b->cap ? b->cap : 64;
        while (nc < b->n + n) nc *= 2;
        uint8_t *p = realloc(b->p, nc);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = nc;
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void gguf_buf_u32(gguf_buf *b, uint32_t v) { gguf_buf_put(b, &v, 4); }
static void gguf_buf_u64(gguf_buf *b, uint64_t v) { gguf_buf_put(b, &v, 8); }
static void gguf_buf_str(gguf_buf *b, const char *s, size_t len)
{
    gguf_buf_u64(b, len);
    gguf_buf_put(b, s, len);
}

gguf_writer *gguf_writer_init(void)
{
    return calloc(1, sizeof(gguf_writer));
}

void gguf_writer_free(gguf_writer *w)
{
    if (!w) return;
    for (int i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].val);
    }
    free(w->kv);
    for (int i = 0; i < w->n_t; i++) {
        free(w->t[i].name);
        free(w->t[i].data);
    }
    free(w->t);
    free(w);
}

static int gguf_wfail(gguf_writer *w, const char *fmt, ...)
{
    if (!w->failed) { /* keep the first problem: later ones often follow from it */
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->errmsg, sizeof w->errmsg, fmt, ap);
        va_end(ap);
    }
    w->failed = 1;
    return -1;
}

/* Stores an encoded value under key, replacing an earlier value of the same
 * key (like llama.cpp's gguf_set_*). Takes ownership of b's bytes. */
static int gguf_wset(gguf_writer *w, const char *key, uint32_t type, gguf_buf *b)
{
    if (b->oom) {
        free(b->p);
        return gguf_wfail(w, "key '%s': out of memory", key);
    }
    if (!key || !key[0]) {
        free(b->p);
        return gguf_wfail(w, "key: expected a non-empty name, got an empty one");
    }
    for (int i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, key) == 0) {
            free(w->kv[i].val);
            w->kv[i].type = type;
            w->kv[i].val = b->p;
            w->kv[i].len = b->n;
            return 0;
        }
    }
    char *k = strdup(key);
    if (!k || gguf_grow((void **)&w->kv, &w->cap_kv, w->n_kv, sizeof *w->kv)) {
        free(k);
        free(b->p);
        return gguf_wfail(w, "key '%s': out of memory", key);
    }
    w->kv[w->n_kv++] = (gguf_wkv){k, type, b->p, b->n};
    return 0;
}

int gguf_writer_set_val(gguf_writer *w, const char *key, int type, const void *v)
{
    if (type < 0 || type >= GGUF_TYPE_COUNT || !gguf_type_sizes[type])
        return gguf_wfail(w, "key '%s': type: expected a fixed-size scalar type, got %d", key, type);
    gguf_buf b = {0};
    gguf_buf_put(&b, v, (size_t)gguf_type_sizes[type]);
    return gguf_wset(w, key, (uint32_t)type, &b);
}

int gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v) { return gguf_writer_set_val(w, key, GGUF_TYPE_UINT32, &v); }
int gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v) { return gguf_writer_set_val(w, key, GGUF_TYPE_INT32, &v); }
int gguf_writer_set_f32(gguf_writer *w, const char *key, float v) { return gguf_writer_set_val(w, key, GGUF_TYPE_FLOAT32, &v); }

int gguf_writer_set_bool(gguf_writer *w, const char *key, int v)
{
    uint8_t b = v ? 1 : 0;
    return gguf_writer_set_val(w, key, GGUF_TYPE_BOOL, &b);
}

int gguf_writer_set_str(gguf_writer *w, const char *key, const char *s)
{
    gguf_buf b = {0};
    gguf_buf_str(&b, s, strlen(s));
    return gguf_wset(w, key, GGUF_TYPE_STRING, &b);
}

int gguf_writer_set_arr(gguf_writer *w, const char *key, int elem_type, const void *v, uint64_t n)
{
    if (elem_type < 0 || elem_type >= GGUF_TYPE_COUNT || !gguf_type_sizes[elem_type])
        return gguf_wfail(w, "key '%s': array element type: expected a fixed-size type, got %d", key, elem_type);
    size_t sz = (size_t)gguf_type_sizes[elem_type];
    if (n > SIZE_MAX / sz)
        return gguf_wfail(w, "key '%s': array count: expected at most %zu, got %llu", key, SIZE_MAX / sz,
                          (unsigned long long)n);
    gguf_buf b = {0};
    gguf_buf_u32(&b, (uint32_t)elem_type);
    gguf_buf_u64(&b, n);
    if (n) gguf_buf_put(&b, v, (size_t)n * sz);
    return gguf_wset(w, key, GGUF_TYPE_ARRAY, &b);
}

int gguf_writer_set_arr_str(gguf_writer *w, const char *key, const char *const *s, uint64_t n)
{
    gguf_buf b = {0};
    gguf_buf_u32(&b, GGUF_TYPE_STRING);
    gguf_buf_u64(&b, n);
    for (uint64_t i = 0; i < n && !b.oom; i++)
        gguf_buf_str(&b, s[i], strlen(s[i]));
    return gguf_wset(w, key, GGUF_TYPE_ARRAY, &b);
}

int gguf_writer_set_arr_i32(gguf_writer *w, const char *key, const int32_t *v, uint64_t n)
{
    return gguf_writer_set_arr(w, key, GGUF_TYPE_INT32, v, n);
}

int gguf_writer_set_arr_f32(gguf_writer *w, const char *key, const float *v, uint64_t n)
{
    return gguf_writer_set_arr(w, key, GGUF_TYPE_FLOAT32, v, n);
}

int gguf_writer_set_raw(gguf_writer *w, const char *key, int type, const void *val, size_t len)
{
    if (type < 0 || type >= GGUF_TYPE_COUNT)
        return gguf_wfail(w, "key '%s': type: expected 0..%d, got %d", key, GGUF_TYPE_COUNT - 1, type);
    gguf_buf b = {0};
    gguf_buf_put(&b, val, len);
    if (!b.oom && !b.p) { /* len 0: keep a non-NULL pointer for uniformity */
        b.p = malloc(1);
        if (!b.p) b.oom = 1;
    }
    return gguf_wset(w, key, (uint32_t)type, &b);
}

static int gguf_wadd(gguf_writer *w, const char *name, int type, int n_dims, const int64_t *ne,
                     uint64_t nbytes, const void *data, gguf_fill_fn fill, void *user)
{
    if (!name || !name[0] || strlen(name) > GGUF_MAX_NAME)
        return gguf_wfail(w, "tensor '%s': name: expected 1..%d bytes, got %zu", name ? name : "",
                          GGUF_MAX_NAME, name ? strlen(name) : 0);
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS)
        return gguf_wfail(w, "tensor '%s': n_dims: expected 1..%d, got %d", name, GGUF_MAX_DIMS, n_dims);
    int be, bb;
    if (!ggml_type_block(type, &be, &bb))
        return gguf_wfail(w, "tensor '%s': type: expected a known ggml type, got %d", name, type);
    int64_t full[GGUF_MAX_DIMS] = {1, 1, 1, 1};
    for (int d = 0; d < n_dims; d++) full[d] = ne[d];
    if (full[0] % be)
        return gguf_wfail(w, "tensor '%s': ne[0]: expected a multiple of %d (%s block), got %lld", name, be,
                          ggml_type_str(type), (long long)full[0]);
    uint64_t want = gguf_tensor_nbytes(type, n_dims, full);
    if (want == 0)
        return gguf_wfail(w, "tensor '%s': shape: expected positive dims with fewer than 2^63 elements", name);
    if (nbytes != want)
        return gguf_wfail(w, "tensor '%s': nbytes: expected %llu for %s [%lld, %lld, %lld, %lld], got %llu", name,
                          (unsigned long long)want, ggml_type_str(type), (long long)full[0], (long long)full[1],
                          (long long)full[2], (long long)full[3], (unsigned long long)nbytes);
    if (want > SIZE_MAX)
        return gguf_wfail(w, "tensor '%s': nbytes: expected at most %zu, got %llu", name, (size_t)SIZE_MAX,
                          (unsigned long long)want);
    for (int i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return gguf_wfail(w, "tensor '%s': duplicate: expected each tensor name once, got it twice", name);
    if (gguf_grow((void **)&w->t, &w->cap_t, w->n_t, sizeof *w->t))
        return gguf_wfail(w, "tensor '%s': out of memory", name);
    gguf_wtensor *t = &w->t[w->n_t];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    if (!t->name)
        return gguf_wfail(w, "tensor '%s': out of memory", name);
    if (data) {
        t->data = malloc((size_t)want);
        if (!t->data) {
            free(t->name);
            return gguf_wfail(w, "tensor '%s': out of memory for %llu bytes", name, (unsigned long long)want);
        }
        memcpy(t->data, data, (size_t)want);
    }
    t->type = type;
    t->n_dims = n_dims;
    memcpy(t->ne, full, sizeof full);
    t->nbytes = want;
    t->fill = fill;
    t->user = user;
    w->n_t++;
    return 0;
}

int gguf_writer_add_tensor(gguf_writer *w, const char *name, int type, int n_dims, const int64_t *ne,
                           const void *data, uint64_t nbytes)
{
    if (!data)
        return gguf_wfail(w, "tensor '%s': data: expected a buffer, got NULL", name ? name : "");
    return gguf_wadd(w, name, type, n_dims, ne, nbytes, data, NULL, NULL);
}

int gguf_writer_add_tensor_cb(gguf_writer *w, const char *name, int type, int n_dims, const int64_t *ne,
                              gguf_fill_fn fill, void *user)
{
    if (!fill)
        return gguf_wfail(w, "tensor '%s': fill: expected a callback, got NULL", name ? name : "");
    int64_t full[GGUF_MAX_DIMS] = {1, 1, 1, 1};
    for (int d = 0; d < n_dims && d < GGUF_MAX_DIMS; d++) full[d] = ne[d];
    uint64_t nbytes = gguf_tensor_nbytes(type, n_dims < 1 ? 1 : n_dims, full);
    return gguf_wadd(w, name, type, n_dims, ne, nbytes, NULL, fill, user);
}

/* Writes n zero bytes (alignment padding). */
static int gguf_pad(FILE *fp, uint64_t n)
{
    static const uint8_t zeros[256];
    while (n) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        if (fwrite(zeros, 1, k, fp) != k) return -1;
        n -= k;
    }
    return 0;
}

static uint64_t gguf_align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

/* Encodes everything before the data section: header, KVs, tensor infos. */
static int gguf_writer_head(gguf_writer *w, uint64_t align, gguf_buf *b)
{
    gguf_buf_put(b, "GGUF", 4);
    gguf_buf_u32(b, 3);
    gguf_buf_u64(b, (uint64_t)w->n_t);
    gguf_buf_u64(b, (uint64_t)w->n_kv);
    for (int i = 0; i < w->n_kv; i++) {
        gguf_buf_str(b, w->kv[i].key, strlen(w->kv[i].key));
        gguf_buf_u32(b, w->kv[i].type);
        gguf_buf_put(b, w->kv[i].val, w->kv[i].len);
    }
    uint64_t off = 0;
    for (int i = 0; i < w->n_t; i++) {
        const gguf_wtensor *t = &w->t[i];
        gguf_buf_str(b, t->name, strlen(t->name));
        gguf_buf_u32(b, (uint32_t)t->n_dims);
        for (int d = 0; d < t->n_dims; d++) gguf_buf_u64(b, (uint64_t)t->ne[d]);
        gguf_buf_u32(b, (uint32_t)t->type);
        gguf_buf_u64(b, off);
        off = gguf_align_up(off + t->nbytes, align);
    }
    return b->oom ? -1 : 0;
}

int gguf_writer_write(gguf_writer *w, const char *path, char *err, size_t errlen)
{
    if (err && errlen) err[0] = 0;
    if (w->failed) {
        gguf_seterr(err, errlen, path, "%s", w->errmsg);
        return QE_EINVAL;
    }
    /* The data layout follows general.alignment when the caller set it. */
    uint64_t align = GGUF_DEFAULT_ALIGNMENT;
    for (int i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, "general.alignment") != 0) continue;
        uint32_t a = 0;
        if (w->kv[i].type == GGUF_TYPE_UINT32) memcpy(&a, w->kv[i].val, 4);
        if (w->kv[i].type != GGUF_TYPE_UINT32 || a == 0 || (a & (a - 1))) {
            gguf_seterr(err, errlen, path, "key 'general.alignment': expected a UINT32 power of two, got %s %u",
                        gguf_type_str(w->kv[i].type), a);
            return QE_EINVAL;
        }
        align = a;
    }
    gguf_buf head = {0};
    if (gguf_writer_head(w, align, &head)) {
        free(head.p);
        gguf_seterr(err, errlen, path, "out of memory encoding the header");
        return QE_ENOMEM;
    }

    /* Write to a temporary name and rename, so a failed or interrupted
     * write never leaves a half-written model under the final name. */
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 32);
    if (!tmp) {
        free(head.p);
        gguf_seterr(err, errlen, path, "out of memory");
        return QE_ENOMEM;
    }
    snprintf(tmp, plen + 32, "%s.tmp%ld", path, (long)getpid());
    FILE *fp = fopen(tmp, "wb");
    if (!fp) {
        gguf_seterr(err, errlen, path, "cannot create %s: %s", tmp, strerror(errno));
        free(tmp);
        free(head.p);
        return QE_EIO;
    }
    /* A big stdio buffer: the data is written in large sequential runs. */
    char *iobuf = malloc(1 << 20);
    if (iobuf) setvbuf(fp, iobuf, _IOFBF, 1 << 20);
    int rc = QE_OK;
    void *scratch = NULL;
    uint64_t scratch_cap = 0;
    errno = 0;
    if (fwrite(head.p, 1, head.n, fp) != head.n || gguf_pad(fp, gguf_align_up(head.n, align) - head.n))
        goto io_fail;
    for (int i = 0; i < w->n_t; i++) {
        gguf_wtensor *t = &w->t[i];
        const void *data = t->data;
        if (!data) {
            if (t->nbytes > scratch_cap) {
                free(scratch);
                scratch = malloc((size_t)t->nbytes);
                scratch_cap = scratch ? t->nbytes : 0;
                if (!scratch) {
                    gguf_seterr(err, errlen, path, "tensor '%s': out of memory for %llu bytes", t->name,
                                (unsigned long long)t->nbytes);
                    rc = QE_ENOMEM;
                    goto fail;
                }
            }
            if (t->fill(t->user, scratch, t->nbytes) != 0) {
                gguf_seterr(err, errlen, path, "tensor '%s': fill callback failed", t->name);
                rc = QE_EINVAL;
                goto fail;
            }
            data = scratch;
        }
        if (fwrite(data, 1, (size_t)t->nbytes, fp) != t->nbytes ||
            gguf_pad(fp, gguf_align_up(t->nbytes, align) - t->nbytes))
            goto io_fail;
    }
    free(scratch);
    scratch = NULL;
    free(head.p);
    head.p = NULL;
    if (fflush(fp) != 0 || ferror(fp)) goto io_fail;
    if (fclose(fp) != 0) {
        fp = NULL;
        goto io_fail;
    }
    fp = NULL;
    free(iobuf);
    iobuf = NULL;
    if (rename(tmp, path) != 0) {
        gguf_seterr(err, errlen, path, "cannot rename %s: %s", tmp, strerror(errno));
        rc = QE_EIO;
        goto fail;
    }
    free(tmp);
    return QE_OK;

io_fail:
    gguf_seterr(err, errlen, path, "write failed: %s", strerror(errno ? errno : EIO));
    rc = QE_EIO;
fail:
    if (fp) fclose(fp);
    free(iobuf);
    remove(tmp);
    free(tmp);
    free(scratch);
    free(head.p);
    return rc;
}
