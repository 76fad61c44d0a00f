/*
 * tok_json.c - test helper: a tok_vocab from an HF tokenizer.json, so the
 * tokenizer can be tested and fuzzed without a GGUF file (see tok_json.h).
 */
#include "tok_json.h"
#include "gguf.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The vocabulary as arrays, in the synthetic GGUF's id order. */
typedef struct {
    const char **toks, **mg;
    size_t *lens, *mlens;
    int32_t *types;
    int n, nm;
    char *pads, *mbuf;
    json_t *root;
} tokjson_arr;

static void tokjson_arr_free(tokjson_arr *a)
{
    free(a->toks);
    free(a->lens);
    free(a->types);
    free(a->pads);
    free(a->mg);
    free(a->mlens);
    free(a->mbuf);
    json_decref(a->root);
}

static int tokjson_arrays(const char *path, int n_pad_to, tokjson_arr *a, char *err, size_t errlen)
{
    memset(a, 0, sizeof *a);
    /* Read the file in one go: json_load_file reads it a byte at a time. */
    FILE *fp = fopen(path, "rb");
    if (!fp) { snprintf(err, errlen, "%s: cannot open", path); return -1; }
    size_t cap = 1 << 24, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        len += fread(buf + len, 1, cap - len, fp);
        if (len < cap) break;
        char *p = realloc(buf, cap *= 2);
        if (!p) { free(buf); buf = NULL; }
        buf = p;
    }
    fclose(fp);
    if (!buf) { snprintf(err, errlen, "%s: out of memory", path); return -1; }
    json_error_t je;
    json_t *root = json_loadb(buf, len, 0, &je);
    free(buf);
    if (!root) {
        snprintf(err, errlen, "%s:%d: %s", path, je.line, je.text);
        return -1;
    }
    int rc = -1;
    const char **toks = NULL, **mg = NULL;
    size_t *lens = NULL, *mlens = NULL;
    int32_t *types = NULL;
    char *pads = NULL, *mbuf = NULL;
    json_t *model = json_object_get(root, "model");
    json_t *vocab = json_object_get(model, "vocab");
    json_t *merges = json_object_get(model, "merges");
    json_t *added = json_object_get(root, "added_tokens");
    if (!json_is_object(vocab) || !json_is_array(merges) || !json_is_array(added)) {
        snprintf(err, errlen, "%s: not a BPE tokenizer.json (model.vocab/model.merges/added_tokens)", path);
        goto done;
    }
    int n = 0;
    const char *key;
    json_t *val;
    json_object_foreach(vocab, key, val) {
        if (json_integer_value(val) + 1 > n) n = (int)json_integer_value(val) + 1;
    }
    size_t i;
    json_array_foreach(added, i, val) {
        int id = (int)json_integer_value(json_object_get(val, "id"));
        if (id + 1 > n) n = id + 1;
    }
    int total = n > n_pad_to ? n : n_pad_to;
    toks = calloc((size_t)total, sizeof *toks);
    lens = calloc((size_t)total, sizeof *lens);
    types = calloc((size_t)total, sizeof *types);
    pads = malloc((size_t)total * 16);
    if (!toks || !lens || !types || !pads) { snprintf(err, errlen, "out of memory"); goto done; }
    json_object_foreach(vocab, key, val) {
        int id = (int)json_integer_value(val);
        toks[id] = key;
        lens[id] = strlen(key);
        types[id] = TOK_TYPE_NORMAL;
    }
    json_array_foreach(added, i, val) {
        int id = (int)json_integer_value(json_object_get(val, "id"));
        json_t *c = json_object_get(val, "content");
        toks[id] = json_string_value(c);
        lens[id] = json_string_length(c);
        types[id] = json_is_true(json_object_get(val, "special")) ? TOK_TYPE_CONTROL : TOK_TYPE_USER_DEFINED;
    }
    for (int id = 0; id < total; id++) {
        if (toks[id]) continue;
        char *p = pads + (size_t)id * 16;
        snprintf(p, 16, "[PAD%d]", id);
        toks[id] = p;
        lens[id] = strlen(p);
        types[id] = TOK_TYPE_UNUSED;
    }
    size_t nm = json_array_size(merges), mtotal = 0;
    mg = calloc(nm + 1, sizeof *mg);
    mlens = calloc(nm + 1, sizeof *mlens);
    json_array_foreach(merges, i, val) {
        if (json_is_array(val))
            mtotal += json_string_length(json_array_get(val, 0)) + json_string_length(json_array_get(val, 1)) + 1;
        else
            mtotal += json_string_length(val);
    }
    mbuf = malloc(mtotal + 1);
    if (!mg || !mlens || !mbuf) { snprintf(err, errlen, "out of memory"); goto done; }
    size_t off = 0;
    json_array_foreach(merges, i, val) {
        mg[i] = mbuf + off;
        if (json_is_array(val)) {   /* tokenizers >= 0.20: ["a", "b"] */
            json_t *a = json_array_get(val, 0), *b = json_array_get(val, 1);
            memcpy(mbuf + off, json_string_value(a), json_string_length(a));
            off += json_string_length(a);
            mbuf[off++] = ' ';
            memcpy(mbuf + off, json_string_value(b), json_string_length(b));
            off += json_string_length(b);
        } else {                    /* older: "a b" */
            memcpy(mbuf + off, json_string_value(val), json_string_length(val));
            off += json_string_length(val);
        }
        mlens[i] = (size_t)(mbuf + off - mg[i]);
    }
    *a = (tokjson_arr){ toks, mg, lens, mlens, types, total, (int)nm, pads, mbuf, root };
    return 0;
done:
    free(toks);
    free(lens);
    free(types);
    free(pads);
    free(mg);
    free(mlens);
    free(mbuf);
    json_decref(root);
    return rc;
}

int tokjson_load(const char *path, int n_pad_to, tok_vocab **out, char *err, size_t errlen)
{
    tokjson_arr a;
    if (tokjson_arrays(path, n_pad_to, &a, err, errlen)) return -1;
    int rc = tok_vocab_init_arrays(a.toks, a.lens, a.types, a.n, a.mg, a.mlens, a.nm, out, err, errlen);
    tokjson_arr_free(&a);
    return rc;
}

int tokjson_write_gguf(const char *path, int n_pad_to, const char *out, const char *model,
                       const char *pre, char *err, size_t errlen)
{
    tokjson_arr a;
    if (tokjson_arrays(path, n_pad_to, &a, err, errlen)) return -1;
    /* The writer takes NUL-terminated strings; merges are not. */
    char **mg = calloc((size_t)a.nm + 1, sizeof *mg);
    int rc = -1;
    gguf_writer *w = gguf_writer_init();
    if (!mg || !w) { snprintf(err, errlen, "out of memory"); goto done; }
    for (int i = 0; i < a.nm; i++) {
        if (!(mg[i] = malloc(a.mlens[i] + 1))) { snprintf(err, errlen, "out of memory"); goto done; }
        memcpy(mg[i], a.mg[i], a.mlens[i]);
        mg[i][a.mlens[i]] = 0;
    }
    int bad = 0;
    bad |= gguf_writer_set_str(w, "general.architecture", "qwen3");
    if (model) bad |= gguf_writer_set_str(w, "tokenizer.ggml.model", model);
    if (pre) bad |= gguf_writer_set_str(w, "tokenizer.ggml.pre", pre);
    bad |= gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", a.toks, (uint64_t)a.n);
    bad |= gguf_writer_set_arr_i32(w, "tokenizer.ggml.token_type", a.types, (uint64_t)a.n);
    bad |= gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", (const char *const *)mg, (uint64_t)a.nm);
    if (bad) { snprintf(err, errlen, "gguf writer: out of memory"); goto done; }
    rc = gguf_writer_write(w, out, err, errlen);
done:
    gguf_writer_free(w);
    for (int i = 0; mg && i < a.nm; i++) free(mg[i]);
    free(mg);
    tokjson_arr_free(&a);
    return rc;
}
