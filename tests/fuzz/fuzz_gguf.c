/*
 * fuzz_gguf.c - libFuzzer target for the GGUF reader: parses arbitrary
 * bytes with gguf_open_mem and, when they parse, reads every key and
 * tensor back through the public getters (so the values the parser
 * accepted are also touched). Build with -DQUARRY_FUZZ=ON (clang).
 *
 *   ./fuzz_gguf -max_len=65536 corpus-gguf/ seed-files/
 */
#include "gguf.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gguf_file *f;
    char err[512];
    if (gguf_open_mem(data, size, "fuzz", &f, err, sizeof err) != 0) {
        /* a failure must always explain itself */
        if (err[0] == 0) __builtin_trap();
        return 0;
    }
    volatile uint64_t sink = 0;
    for (int i = 0; i < gguf_n_kv(f); i++) {
        const char *k = gguf_key_name(f, i);
        uint32_t u;
        int64_t v;
        float x;
        int b, et;
        const char *s;
        size_t len;
        uint64_t n;
        if (gguf_find_key(f, k) != i) __builtin_trap();
        if (gguf_get_u32(f, k, &u) == 0) sink += u;
        if (gguf_get_i64(f, k, &v) == 0) sink += (uint64_t)v;
        if (gguf_get_f32(f, k, &x) == 0) sink += x != x;
        if (gguf_get_bool(f, k, &b) == 0) sink += (uint64_t)b;
        if (gguf_get_str(f, k, &s, &len) == 0 && len) sink += (uint8_t)s[len - 1];
        if (gguf_get_arr_info(f, k, &et, &n) == 0) {
            for (uint64_t j = 0; j < n && j < 64; j++)
                if ((s = gguf_get_arr_str(f, k, j, &len)) && len) sink += (uint8_t)s[len - 1];
            int32_t iv[16];
            float fv[16];
            int64_t m = gguf_get_arr_i32(f, k, iv, 16);
            for (int64_t j = 0; j < m; j++) sink += (uint64_t)iv[j];
            m = gguf_get_arr_f32(f, k, fv, 16);
            for (int64_t j = 0; j < m; j++) sink += fv[j] != fv[j];
        }
    }
    for (int i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        const uint8_t *d = t->data;
        if (d < data || t->nbytes > size || (size_t)(d - data) > size - t->nbytes) __builtin_trap();
        if (gguf_find_tensor(f, t->name) != t) __builtin_trap();
        if (t->nbytes) sink += d[0] + d[t->nbytes - 1];
    }
    (void)sink;
    gguf_close(f);
    return 0;
}
