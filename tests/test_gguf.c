/*
 * test_gguf.c - GGUF writer -> reader round trips.
 *
 * Checks every metadata value type (scalars, arrays of strings, ints and
 * floats, a nested array), tensors of every type the reader knows, a
 * non-default alignment, acceptance of v2 files (same layout as v3, written
 * by patching the version field), rejection of v1, lookups of absent keys,
 * getter type mismatches (-2) and writer argument errors.
 *
 * usage: test_gguf [SCRATCH_DIR]   (QUARRY_TEST_KEEP=1 keeps the files)
 */
#include "gguf.h"
#include "qengine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int tg_failures;
static int tg_checks;

#define TG_CHECK(cond, ...)                                                   \
    do {                                                                      \
        tg_checks++;                                                          \
        if (!(cond)) {                                                        \
            tg_failures++;                                                    \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);   \
            fprintf(stderr, __VA_ARGS__);                                     \
            fputc('\n', stderr);                                              \
        }                                                                     \
    } while (0)

static char tg_dir[512] = ".";

static void tg_path(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/test_gguf_%ld_%s", tg_dir, (long)getpid(), name);
}

static unsigned char *tg_read_file(const char *path, size_t *size)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    if (fseek(fp, 0, SEEK_END) != 0) { fclose(fp); return NULL; }
    long n = ftell(fp);
    if (n < 0 || fseek(fp, 0, SEEK_SET) != 0) { fclose(fp); return NULL; }
    unsigned char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, fp) != (size_t)n) { free(b); b = NULL; }
    fclose(fp);
    *size = (size_t)n;
    return b;
}

static int tg_write_file(const char *path, const void *buf, size_t n)
{
    FILE *fp = fopen(path, "wb");
    if (!fp) return -1;
    int ok = fwrite(buf, 1, n, fp) == n;
    return (fclose(fp) == 0 && ok) ? 0 : -1;
}

/* deterministic bytes for tensor contents */
static uint64_t tg_rng = 0x1234567;
static uint8_t tg_byte(void)
{
    tg_rng = tg_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint8_t)(tg_rng >> 56);
}

/* ---------------------------------------------------------- the file */

static const int tg_tensor_types[] = {
    GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_Q4_0, GGML_TYPE_Q4_1, GGML_TYPE_Q5_0,
    GGML_TYPE_Q5_1, GGML_TYPE_Q8_0, GGML_TYPE_Q8_1, GGML_TYPE_Q2_K, GGML_TYPE_Q3_K, GGML_TYPE_Q4_K,
    GGML_TYPE_Q5_K, GGML_TYPE_Q6_K, GGML_TYPE_Q8_K, GGML_TYPE_I8, GGML_TYPE_I16, GGML_TYPE_I32,
    GGML_TYPE_I64, GGML_TYPE_F64,
};
#define TG_N_TYPES ((int)(sizeof tg_tensor_types / sizeof tg_tensor_types[0]))

/* block geometry as published by ggml, checked against ggml_type_block */
static const struct { int type, be, bb; const char *name; } tg_blocks[] = {
    {GGML_TYPE_F32, 1, 4, "F32"}, {GGML_TYPE_F16, 1, 2, "F16"}, {GGML_TYPE_BF16, 1, 2, "BF16"},
    {GGML_TYPE_Q4_0, 32, 18, "Q4_0"}, {GGML_TYPE_Q4_1, 32, 20, "Q4_1"}, {GGML_TYPE_Q5_0, 32, 22, "Q5_0"},
    {GGML_TYPE_Q5_1, 32, 24, "Q5_1"}, {GGML_TYPE_Q8_0, 32, 34, "Q8_0"}, {GGML_TYPE_Q8_1, 32, 36, "Q8_1"},
    {GGML_TYPE_Q2_K, 256, 84, "Q2_K"}, {GGML_TYPE_Q3_K, 256, 110, "Q3_K"}, {GGML_TYPE_Q4_K, 256, 144, "Q4_K"},
    {GGML_TYPE_Q5_K, 256, 176, "Q5_K"}, {GGML_TYPE_Q6_K, 256, 210, "Q6_K"}, {GGML_TYPE_Q8_K, 256, 292, "Q8_K"},
    {GGML_TYPE_I8, 1, 1, "I8"}, {GGML_TYPE_I16, 1, 2, "I16"}, {GGML_TYPE_I32, 1, 4, "I32"},
    {GGML_TYPE_I64, 1, 8, "I64"}, {GGML_TYPE_F64, 1, 8, "F64"},
};

typedef struct {
    char name[32];
    int type, n_dims;
    int64_t ne[4];
    size_t nbytes;
    uint8_t *data;
} tg_tensor;

static tg_tensor tg_tensors[TG_N_TYPES];

static const char *const tg_strs[] = {"alpha", "", "gamma with spaces", "\xc4\xa0unicode \xe2\x9c\x93"};
static const int32_t tg_i32s[] = {0, -1, 2147483647, -2147483647 - 1, 42};
static const float tg_f32s[] = {0.0f, -1.5f, 3.25f, 1e30f};

/* Builds a nested array value: ARRAY of 2 ARRAYs of INT32 ({1,2}, {3}),
 * encoded by hand since the writer exposes nested arrays only raw. */
static size_t tg_nested(uint8_t *b)
{
    size_t o = 0;
    uint32_t t;
    uint64_t n;
    int32_t v;
#define PUT(x) (memcpy(b + o, &(x), sizeof(x)), o += sizeof(x))
    t = GGUF_TYPE_ARRAY; PUT(t);
    n = 2; PUT(n);
    t = GGUF_TYPE_INT32; PUT(t);
    n = 2; PUT(n);
    v = 1; PUT(v);
    v = 2; PUT(v);
    t = GGUF_TYPE_INT32; PUT(t);
    n = 1; PUT(n);
    v = 3; PUT(v);
#undef PUT
    return o;
}

static int tg_build(gguf_writer *w, uint32_t alignment)
{
    int rc = 0;
    uint8_t u8 = 200;
    int8_t i8 = -100;
    uint16_t u16 = 60000;
    int16_t i16 = -30000;
    uint64_t u64 = 0xFFFFFFFFFFFFFFFFull;
    int64_t i64 = -1234567890123ll;
    double f64 = 2.5e-300;
    uint64_t u64small = 77;
    int64_t i64s[] = {1, -2, 5000000000ll};
    uint8_t u8s[] = {1, 2, 255};
    uint8_t nested[128];

    if (alignment) rc |= gguf_writer_set_u32(w, "general.alignment", alignment);
    rc |= gguf_writer_set_val(w, "t.u8", GGUF_TYPE_UINT8, &u8);
    rc |= gguf_writer_set_val(w, "t.i8", GGUF_TYPE_INT8, &i8);
    rc |= gguf_writer_set_val(w, "t.u16", GGUF_TYPE_UINT16, &u16);
    rc |= gguf_writer_set_val(w, "t.i16", GGUF_TYPE_INT16, &i16);
    rc |= gguf_writer_set_u32(w, "t.u32", 4000000000u);
    rc |= gguf_writer_set_i32(w, "t.i32", -7);
    rc |= gguf_writer_set_f32(w, "t.f32", 0.125f);
    rc |= gguf_writer_set_bool(w, "t.bool", 1);
    rc |= gguf_writer_set_str(w, "t.str", "hello, gguf");
    rc |= gguf_writer_set_val(w, "t.u64", GGUF_TYPE_UINT64, &u64);
    rc |= gguf_writer_set_val(w, "t.u64small", GGUF_TYPE_UINT64, &u64small);
    rc |= gguf_writer_set_val(w, "t.i64", GGUF_TYPE_INT64, &i64);
    rc |= gguf_writer_set_val(w, "t.f64", GGUF_TYPE_FLOAT64, &f64);
    rc |= gguf_writer_set_arr_str(w, "t.arr_str", tg_strs, 4);
    rc |= gguf_writer_set_arr_i32(w, "t.arr_i32", tg_i32s, 5);
    rc |= gguf_writer_set_arr_f32(w, "t.arr_f32", tg_f32s, 4);
    rc |= gguf_writer_set_arr(w, "t.arr_i64", GGUF_TYPE_INT64, i64s, 3);
    rc |= gguf_writer_set_arr(w, "t.arr_u8", GGUF_TYPE_UINT8, u8s, 3);
    rc |= gguf_writer_set_arr_i32(w, "t.arr_empty", NULL, 0);
    rc |= gguf_writer_set_raw(w, "t.nested", GGUF_TYPE_ARRAY, nested, tg_nested(nested));
    /* setting a key twice keeps the last value */
    rc |= gguf_writer_set_str(w, "t.replaced", "first");
    rc |= gguf_writer_set_u32(w, "t.replaced", 5);

    for (int i = 0; i < TG_N_TYPES; i++) {
        tg_tensor *t = &tg_tensors[i];
        int be, bb;
        ggml_type_block(tg_tensor_types[i], &be, &bb);
        t->type = tg_tensor_types[i];
        t->n_dims = 1 + i % 4;
        int64_t shape[4] = {be * (1 + i % 3), 3, 2, 2};
        int64_t nel = 1;
        for (int d = 0; d < 4; d++) {
            t->ne[d] = d < t->n_dims ? shape[d] : 1;
            nel *= t->ne[d];
        }
        snprintf(t->name, sizeof t->name, "tensor.%s", ggml_type_str(t->type));
        t->nbytes = (size_t)(nel / be * bb);
        if (!t->data) {
            t->data = malloc(t->nbytes);
            if (!t->data) return -1;
            for (size_t k = 0; k < t->nbytes; k++) t->data[k] = tg_byte();
        }
        rc |= gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->nbytes);
    }
    return rc;
}

/* Checks everything tg_build wrote. */
static void tg_verify(const gguf_file *f, uint32_t alignment, uint32_t version)
{
    uint32_t u32;
    int64_t i64;
    float f32;
    int b;
    const char *s;
    size_t len;
    int et;
    uint64_t n;

    TG_CHECK(gguf_version(f) == version, "version %u", gguf_version(f));
    TG_CHECK(gguf_alignment(f) == (alignment ? alignment : 32), "alignment %u", gguf_alignment(f));
    TG_CHECK(gguf_n_kv(f) == 21 + (alignment ? 1 : 0), "n_kv %d", gguf_n_kv(f));
    /* key iteration matches lookup */
    for (int i = 0; i < gguf_n_kv(f); i++)
        TG_CHECK(gguf_find_key(f, gguf_key_name(f, i)) == i, "key %d '%s'", i, gguf_key_name(f, i));
    TG_CHECK(gguf_kv_type(f, gguf_find_key(f, "t.u8")) == GGUF_TYPE_UINT8, "u8 type");
    TG_CHECK(gguf_kv_type(f, gguf_find_key(f, "t.nested")) == GGUF_TYPE_ARRAY, "nested type");
    TG_CHECK(gguf_key_name(f, -1) == NULL && gguf_key_name(f, 1000) == NULL, "key_name range");

    /* integers convert across types when the value fits */
    TG_CHECK(gguf_get_u32(f, "t.u8", &u32) == 0 && u32 == 200, "u8 %u", u32);
    TG_CHECK(gguf_get_i64(f, "t.i8", &i64) == 0 && i64 == -100, "i8 %lld", (long long)i64);
    TG_CHECK(gguf_get_u32(f, "t.u16", &u32) == 0 && u32 == 60000, "u16 %u", u32);
    TG_CHECK(gguf_get_i64(f, "t.i16", &i64) == 0 && i64 == -30000, "i16");
    TG_CHECK(gguf_get_u32(f, "t.u32", &u32) == 0 && u32 == 4000000000u, "u32");
    TG_CHECK(gguf_get_i64(f, "t.u32", &i64) == 0 && i64 == 4000000000ll, "u32 as i64");
    TG_CHECK(gguf_get_i64(f, "t.i32", &i64) == 0 && i64 == -7, "i32");
    TG_CHECK(gguf_get_i64(f, "t.i64", &i64) == 0 && i64 == -1234567890123ll, "i64");
    TG_CHECK(gguf_get_u32(f, "t.u64small", &u32) == 0 && u32 == 77, "u64 small as u32");
    TG_CHECK(gguf_get_f32(f, "t.f32", &f32) == 0 && f32 == 0.125f, "f32");
    TG_CHECK(gguf_get_f32(f, "t.f64", &f32) == 0 && f32 == (float)2.5e-300, "f64 as f32");
    TG_CHECK(gguf_get_bool(f, "t.bool", &b) == 0 && b == 1, "bool");
    TG_CHECK(gguf_get_str(f, "t.str", &s, &len) == 0 && len == 11 && !memcmp(s, "hello, gguf", 11), "str");
    TG_CHECK(gguf_get_u32(f, "t.replaced", &u32) == 0 && u32 == 5, "replaced key keeps last value");

    /* out-of-range values and wrong types: -2 */
    TG_CHECK(gguf_get_u32(f, "t.i32", &u32) == -2, "negative as u32");
    TG_CHECK(gguf_get_u32(f, "t.u64", &u32) == -2, "u64 max as u32");
    TG_CHECK(gguf_get_i64(f, "t.u64", &i64) == -2, "u64 max as i64");
    TG_CHECK(gguf_get_u32(f, "t.str", &u32) == -2, "string as u32");
    TG_CHECK(gguf_get_u32(f, "t.bool", &u32) == -2, "bool as u32");
    TG_CHECK(gguf_get_u32(f, "t.f32", &u32) == -2, "float as u32");
    TG_CHECK(gguf_get_i64(f, "t.arr_i32", &i64) == -2, "array as i64");
    TG_CHECK(gguf_get_f32(f, "t.i32", &f32) == -2, "int as f32");
    TG_CHECK(gguf_get_bool(f, "t.u8", &b) == -2, "u8 as bool");
    TG_CHECK(gguf_get_str(f, "t.u32", &s, &len) == -2, "u32 as str");
    TG_CHECK(gguf_get_arr_info(f, "t.str", &et, &n) == -2, "str as array");

    /* absent keys: -1 everywhere */
    TG_CHECK(gguf_find_key(f, "no.such.key") == -1, "find absent");
    TG_CHECK(gguf_get_u32(f, "no.such.key", &u32) == -1, "u32 absent");
    TG_CHECK(gguf_get_i64(f, "no.such.key", &i64) == -1, "i64 absent");
    TG_CHECK(gguf_get_f32(f, "no.such.key", &f32) == -1, "f32 absent");
    TG_CHECK(gguf_get_bool(f, "no.such.key", &b) == -1, "bool absent");
    TG_CHECK(gguf_get_str(f, "no.such.key", &s, &len) == -1, "str absent");
    TG_CHECK(gguf_get_arr_info(f, "no.such.key", &et, &n) == -1, "arr absent");
    TG_CHECK(gguf_get_arr_str(f, "no.such.key", 0, &len) == NULL, "arr_str absent");
    TG_CHECK(gguf_get_arr_i32(f, "no.such.key", NULL, 0) == -1, "arr_i32 absent");
    TG_CHECK(gguf_get_arr_f32(f, "no.such.key", NULL, 0) == -1, "arr_f32 absent");
    TG_CHECK(gguf_get_u32(f, "t.u", &u32) == -1 && gguf_get_u32(f, "", &u32) == -1, "prefix/empty absent");

    /* arrays */
    TG_CHECK(gguf_get_arr_info(f, "t.arr_str", &et, &n) == 0 && et == GGUF_TYPE_STRING && n == 4, "arr_str info");
    for (uint64_t i = 0; i < 4; i++) {
        s = gguf_get_arr_str(f, "t.arr_str", i, &len);
        TG_CHECK(s && len == strlen(tg_strs[i]) && !memcmp(s, tg_strs[i], len), "arr_str[%llu]",
                 (unsigned long long)i);
    }
    TG_CHECK(gguf_get_arr_str(f, "t.arr_str", 4, &len) == NULL, "arr_str out of range");
    TG_CHECK(gguf_get_arr_str(f, "t.arr_i32", 0, &len) == NULL, "arr_str on int array");
    int32_t iv[8];
    TG_CHECK(gguf_get_arr_i32(f, "t.arr_i32", iv, 8) == 5 && !memcmp(iv, tg_i32s, sizeof tg_i32s), "arr_i32");
    TG_CHECK(gguf_get_arr_i32(f, "t.arr_i32", iv, 2) == 2 && iv[1] == -1, "arr_i32 partial");
    TG_CHECK(gguf_get_arr_i32(f, "t.arr_u8", iv, 8) == 3 && iv[2] == 255, "arr_i32 from u8");
    TG_CHECK(gguf_get_arr_i32(f, "t.arr_i64", iv, 2) == 2 && iv[1] == -2, "arr_i32 from fitting i64");
    TG_CHECK(gguf_get_arr_i32(f, "t.arr_i64", iv, 3) == -2, "arr_i32 from i64 out of range");
    TG_CHECK(gguf_get_arr_i32(f, "t.arr_f32", iv, 3) == -2, "arr_i32 on float array");
    TG_CHECK(gguf_get_arr_i32(f, "t.str", iv, 3) == -2, "arr_i32 on string");
    TG_CHECK(gguf_get_arr_i32(f, "t.arr_empty", iv, 3) == 0, "arr_i32 empty");
    TG_CHECK(gguf_get_arr_info(f, "t.arr_empty", &et, &n) == 0 && et == GGUF_TYPE_INT32 && n == 0, "empty info");
    float fv[8];
    TG_CHECK(gguf_get_arr_f32(f, "t.arr_f32", fv, 8) == 4 && !memcmp(fv, tg_f32s, sizeof tg_f32s), "arr_f32");
    TG_CHECK(gguf_get_arr_f32(f, "t.arr_i32", fv, 8) == -2, "arr_f32 on int array");
    TG_CHECK(gguf_get_arr_info(f, "t.nested", &et, &n) == 0 && et == GGUF_TYPE_ARRAY && n == 2, "nested info");
    TG_CHECK(gguf_get_arr_i32(f, "t.nested", iv, 2) == -2, "arr_i32 on nested");
    TG_CHECK(gguf_get_arr_str(f, "t.nested", 0, &len) == NULL, "arr_str on nested");

    /* tensors */
    TG_CHECK(gguf_n_tensors(f) == TG_N_TYPES, "n_tensors %d", gguf_n_tensors(f));
    TG_CHECK(gguf_find_tensor(f, "no.such.tensor") == NULL, "absent tensor");
    TG_CHECK(gguf_tensor_at(f, -1) == NULL && gguf_tensor_at(f, TG_N_TYPES) == NULL, "tensor_at range");
    uint32_t a = alignment ? alignment : 32;
    TG_CHECK(gguf_data_offset(f) % a == 0, "data offset %llu", (unsigned long long)gguf_data_offset(f));
    for (int i = 0; i < TG_N_TYPES; i++) {
        const tg_tensor *want = &tg_tensors[i];
        const gguf_tensor *t = gguf_find_tensor(f, want->name);
        TG_CHECK(t != NULL, "tensor %s present", want->name);
        if (!t) continue;
        TG_CHECK(t == gguf_tensor_at(f, i), "tensor %s order", want->name);
        TG_CHECK(!strcmp(t->name, want->name) && t->type == want->type && t->n_dims == want->n_dims,
                 "tensor %s header", want->name);
        TG_CHECK(!memcmp(t->ne, want->ne, sizeof t->ne), "tensor %s shape", want->name);
        TG_CHECK(t->nbytes == want->nbytes, "tensor %s nbytes %llu want %zu", want->name,
                 (unsigned long long)t->nbytes, want->nbytes);
        TG_CHECK(t->offset % a == 0, "tensor %s offset %llu aligned to %u", want->name,
                 (unsigned long long)t->offset, a);
        TG_CHECK(t->data && !memcmp(t->data, want->data, want->nbytes), "tensor %s data", want->name);
    }
}

static void tg_block_table(void)
{
    for (size_t i = 0; i < sizeof tg_blocks / sizeof tg_blocks[0]; i++) {
        int be = 0, bb = 0;
        TG_CHECK(ggml_type_block(tg_blocks[i].type, &be, &bb) && be == tg_blocks[i].be && bb == tg_blocks[i].bb,
                 "%s block %d/%d", tg_blocks[i].name, be, bb);
        TG_CHECK(!strcmp(ggml_type_str(tg_blocks[i].type), tg_blocks[i].name), "%s name", tg_blocks[i].name);
    }
    int be, bb;
    TG_CHECK(!ggml_type_block(4, &be, &bb) && !ggml_type_block(-1, &be, &bb) && !ggml_type_block(999, &be, &bb),
             "unknown types rejected");
    TG_CHECK(!strcmp(ggml_type_str(4), "?") && !strcmp(ggml_type_str(1000), "?"), "unknown type name");
}

static void tg_round_trip(uint32_t alignment)
{
    char path[600], err[512];
    tg_path(path, sizeof path, alignment ? "align.gguf" : "basic.gguf");
    printf("round trip (alignment %u): writer -> %s -> reader\n", alignment ? alignment : 32, path);
    gguf_writer *w = gguf_writer_init();
    TG_CHECK(w != NULL, "writer init");
    if (!w) return;
    TG_CHECK(tg_build(w, alignment) == 0, "build");
    int rc = gguf_writer_write(w, path, err, sizeof err);
    gguf_writer_free(w);
    TG_CHECK(rc == 0, "write: %s", err);
    if (rc) return;

    gguf_file *f;
    rc = gguf_open(path, &f, err, sizeof err);
    TG_CHECK(rc == 0, "open: %s", err);
    if (rc == 0) {
        TG_CHECK(!strcmp(gguf_path(f), path), "path");
        tg_verify(f, alignment, 3);
        gguf_close(f);
    }
    /* read into private memory instead of mapped: the same file */
    rc = gguf_open_ex(path, 1, &f, err, sizeof err);
    TG_CHECK(rc == 0, "open_ex (private copy): %s", err);
    if (rc == 0) {
        tg_verify(f, alignment, 3);
        gguf_close(f);
    }

    size_t size;
    unsigned char *buf = tg_read_file(path, &size);
    TG_CHECK(buf != NULL, "read back");
    if (!buf) return;
    rc = gguf_open_mem(buf, size, "mem", &f, err, sizeof err);
    TG_CHECK(rc == 0, "open_mem: %s", err);
    if (rc == 0) {
        TG_CHECK(gguf_file_size(f) == size && !strcmp(gguf_path(f), "mem"), "mem size/label");
        tg_verify(f, alignment, 3);
        gguf_close(f);
    }

    /* v2 has the v3 layout: patching the version must give the same file */
    printf("v2 acceptance and v1 rejection (patched version field)\n");
    buf[4] = 2;
    char p2[600];
    tg_path(p2, sizeof p2, "v2.gguf");
    TG_CHECK(tg_write_file(p2, buf, size) == 0, "write v2");
    rc = gguf_open(p2, &f, err, sizeof err);
    TG_CHECK(rc == 0, "open v2: %s", err);
    if (rc == 0) {
        tg_verify(f, alignment, 2);
        gguf_close(f);
    }
    buf[4] = 1;
    rc = gguf_open_mem(buf, size, "v1.gguf", &f, err, sizeof err);
    TG_CHECK(rc == QE_EFORMAT && strstr(err, "v1.gguf: ") == err && strstr(err, "version"), "v1 rejected: %s",
             err);
    printf("  v1: %s\n", err);
    buf[4] = 3;

    /* every truncation of the file must fail cleanly (a few hundred cuts) */
    printf("truncations of the round-trip file\n");
    int bad = 0;
    for (size_t cut = 0; cut < size; cut += 1 + cut / 64) {
        err[0] = 0;
        rc = gguf_open_mem(buf, cut, "cut", &f, err, sizeof err);
        if (rc == 0) {
            gguf_close(f);
            bad++;
        } else if (!err[0]) {
            bad++;
        }
    }
    TG_CHECK(bad == 0, "%d truncations accepted or without message", bad);
    if (!getenv("QUARRY_TEST_KEEP")) { /* keep: seed files for fuzzing */
        remove(p2);
        remove(path);
    }
    free(buf);
}

static void tg_errors(void)
{
    char path[600], err[512];
    gguf_file *f;
    printf("open errors and writer argument errors\n");
    tg_path(path, sizeof path, "does-not-exist.gguf");
    int rc = gguf_open(path, &f, err, sizeof err);
    TG_CHECK(rc == QE_EIO && strstr(err, path), "missing file: %s", err);
    rc = gguf_open(tg_dir, &f, err, sizeof err);
    TG_CHECK(rc == QE_EIO && strstr(err, tg_dir), "directory: %s", err);

    tg_path(path, sizeof path, "empty.gguf");
    TG_CHECK(tg_write_file(path, "", 0) == 0, "write empty");
    rc = gguf_open(path, &f, err, sizeof err);
    TG_CHECK(rc == QE_EFORMAT && strstr(err, path) && strstr(err, "magic"), "empty file: %s", err);
    remove(path);

    /* an empty file of zero tensors and zero keys is valid */
    gguf_writer *w = gguf_writer_init();
    tg_path(path, sizeof path, "nothing.gguf");
    rc = gguf_writer_write(w, path, err, sizeof err);
    TG_CHECK(rc == 0, "write nothing: %s", err);
    gguf_writer_free(w);
    rc = gguf_open(path, &f, err, sizeof err);
    TG_CHECK(rc == 0 && gguf_n_kv(f) == 0 && gguf_n_tensors(f) == 0, "open nothing: %s", err);
    if (rc == 0) gguf_close(f);
    remove(path);

    /* writer rejects inconsistent tensors and reports at write time */
    static const float data[64];
    int64_t ne[2] = {32, 2};
    struct { const char *what; int type, n_dims; int64_t ne0; uint64_t nbytes; int dup; } bad[] = {
        {"wrong nbytes", GGML_TYPE_F32, 2, 32, 100, 0},
        {"ne[0] not a block multiple", GGML_TYPE_Q8_0, 2, 33, 68, 0},
        {"unknown type", 4, 2, 32, 256, 0},
        {"n_dims 0", GGML_TYPE_F32, 0, 32, 256, 0},
        {"n_dims 5", GGML_TYPE_F32, 5, 32, 256, 0},
        {"duplicate name", GGML_TYPE_F32, 2, 32, 256, 1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        w = gguf_writer_init();
        ne[0] = bad[i].ne0;
        int64_t ne5[5] = {ne[0], 2, 1, 1, 1};
        if (bad[i].dup) gguf_writer_add_tensor(w, "x", GGML_TYPE_F32, 2, ne, data, 256);
        int r = gguf_writer_add_tensor(w, "x", bad[i].type, bad[i].n_dims, ne5, data, bad[i].nbytes);
        TG_CHECK(r == -1, "%s: add_tensor returns -1", bad[i].what);
        tg_path(path, sizeof path, "bad.gguf");
        err[0] = 0;
        rc = gguf_writer_write(w, path, err, sizeof err);
        TG_CHECK(rc < 0 && strstr(err, "tensor 'x'") && access(path, F_OK) != 0, "%s: write fails: %s",
                 bad[i].what, err);
        printf("  %s: %s\n", bad[i].what, err);
        gguf_writer_free(w);
    }
    w = gguf_writer_init();
    gguf_writer_set_u32(w, "general.alignment", 48);
    rc = gguf_writer_write(w, path, err, sizeof err);
    TG_CHECK(rc < 0 && strstr(err, "general.alignment"), "bad alignment: %s", err);
    gguf_writer_free(w);
    tg_path(path, sizeof path, "no-such-dir/x.gguf");
    w = gguf_writer_init();
    rc = gguf_writer_write(w, path, err, sizeof err);
    TG_CHECK(rc == QE_EIO && strstr(err, path), "unwritable path: %s", err);
    gguf_writer_free(w);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0); /* keep PASS/FAIL lines in order */
    if (argc > 1) snprintf(tg_dir, sizeof tg_dir, "%s", argv[1]);
    printf("ggml block table\n");
    tg_block_table();
    tg_round_trip(0);
    tg_round_trip(64);
    tg_errors();
    for (int i = 0; i < TG_N_TYPES; i++) free(tg_tensors[i].data);
    printf("%d checks, %d failures\n", tg_checks, tg_failures);
    return tg_failures ? 1 : 0;
}
