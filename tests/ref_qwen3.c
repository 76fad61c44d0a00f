/*
 * ref_qwen3.c - an exact reference for the Qwen3 forward pass: every weight
 * dequantized to double, every operation in double precision, one token at
 * a time with a plain (unblocked) KV cache. Independent of engine/forward.c
 * and engine/kernels.c on purpose: it shares only the GGUF reader and the
 * scalar element conversions (quant.c), which have their own tests.
 *
 * usage: quarry-ref-qwen3 MODEL.gguf TOKENS OUT.f32 [GREEDY_N]
 *   TOKENS: comma-separated ids. Writes the float32 logits after the last
 *   token; with GREEDY_N, also continues greedily for N tokens and prints
 *   them as a JSON array on stdout. Slow and memory-hungry by design: for
 *   small synthetic models.
 */
#include "gguf.h"
#include "quant.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *msg, const char *what)
{
    fprintf(stderr, "quarry-ref-qwen3: %s%s%s\n", msg, what ? ": " : "", what ? what : "");
    exit(1);
}

static uint32_t key_u32(gguf_file *f, const char *k)
{
    uint32_t v;
    if (gguf_get_u32(f, k, &v)) die("missing key", k);
    return v;
}

/* Whole tensor as doubles (rows of ne[0]). */
static double *load(gguf_file *f, const char *name, int64_t *rows, int64_t *cols)
{
    const gguf_tensor *t = gguf_find_tensor(f, name);
    if (!t) return NULL;
    int64_t n = t->ne[0], r = t->n_dims > 1 ? t->ne[1] : 1;
    double *d = malloc((size_t)(n * r) * sizeof *d);
    float *tmp = malloc((size_t)n * sizeof *tmp);
    size_t rb = qe_row_size(t->type, n);
    if (!d || !tmp || !rb) die("cannot load", name);
    for (int64_t i = 0; i < r; i++) {
        if (qe_dequantize_row(t->type, (const char *)t->data + (size_t)i * rb, tmp, n)) die("unsupported type", name);
        for (int64_t j = 0; j < n; j++) d[i * n + j] = tmp[j];
    }
    free(tmp);
    if (rows) *rows = r;
    if (cols) *cols = n;
    return d;
}

static double *need(gguf_file *f, const char *name)
{
    double *d = load(f, name, NULL, NULL);
    if (!d) die("missing tensor", name);
    return d;
}

static void matvec(double *y, const double *W, const double *x, int64_t n, int64_t d)
{
    for (int64_t r = 0; r < d; r++) {
        double s = 0;
        for (int64_t i = 0; i < n; i++) s += W[r * n + i] * x[i];
        y[r] = s;
    }
}

static void rmsnorm(double *y, const double *x, const double *w, int n, double eps)
{
    double ss = 0;
    for (int i = 0; i < n; i++) ss += x[i] * x[i];
    double sc = 1.0 / sqrt(ss / n + eps);
    for (int i = 0; i < n; i++) y[i] = x[i] * sc * w[i];
}

static void rope(double *v, int hd, int pos, double base)
{
    for (int i = 0; i < hd / 2; i++) {
        double th = pos * pow(base, -2.0 * i / hd), c = cos(th), s = sin(th);
        double a = v[i], b = v[i + hd / 2];
        v[i] = a * c - b * s;
        v[i + hd / 2] = a * s + b * c;
    }
}

int main(int argc, char **argv)
{
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: quarry-ref-qwen3 MODEL.gguf TOKENS OUT.f32 [GREEDY_N]\n");
        return 2;
    }
    char err[512];
    gguf_file *f;
    if (gguf_open(argv[1], &f, err, sizeof err)) die(err, NULL);
    int L = (int)key_u32(f, "qwen3.block_count"), E = (int)key_u32(f, "qwen3.embedding_length");
    int H = (int)key_u32(f, "qwen3.attention.head_count"), KVH = (int)key_u32(f, "qwen3.attention.head_count_kv");
    int hd = (int)key_u32(f, "qwen3.attention.key_length"), F = (int)key_u32(f, "qwen3.feed_forward_length");
    float base = 1e6f, eps = 1e-6f;
    gguf_get_f32(f, "qwen3.rope.freq_base", &base);
    gguf_get_f32(f, "qwen3.attention.layer_norm_rms_epsilon", &eps);

    int n_tok = 0, cap = 16;
    int *toks = malloc((size_t)cap * sizeof *toks);
    for (char *s = argv[2]; *s;) {
        if (n_tok == cap) toks = realloc(toks, (size_t)(cap *= 2) * sizeof *toks);
        toks[n_tok++] = (int)strtol(s, &s, 10);
        if (*s == ',') s++;
    }
    int n_prompt = n_tok, n_greedy = argc == 5 ? atoi(argv[4]) : 0;
    n_tok += n_greedy; /* room in the KV cache for the continuation */
    toks = realloc(toks, (size_t)n_tok * sizeof *toks);
    int64_t V, cols;
    double *emb = load(f, "token_embd.weight", &V, &cols);
    double *out = load(f, "output.weight", NULL, NULL);
    if (!emb) die("missing tensor", "token_embd.weight");
    if (!out) out = emb;
    double *onorm = need(f, "output_norm.weight");
    int Q = H * hd, KV = KVH * hd;
    double *kc = malloc((size_t)L * n_tok * KV * sizeof *kc), *vc = malloc((size_t)L * n_tok * KV * sizeof *vc);
    double *x = malloc(E * sizeof *x), *xn = malloc(E * sizeof *xn), *q = malloc(Q * sizeof *q);
    double *att = malloc(Q * sizeof *att), *o = malloc(E * sizeof *o), *g = malloc(F * sizeof *g);
    double *u = malloc(F * sizeof *u), *sc = malloc(n_tok * sizeof *sc);
    double **W = malloc((size_t)L * 11 * sizeof *W);
    static const char *names[11] = { "attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "attn_q_norm",
                                     "attn_k_norm", "ffn_norm", "ffn_gate", "ffn_up", "ffn_down" };
    for (int l = 0; l < L; l++)
        for (int k = 0; k < 11; k++) {
            char nm[96];
            snprintf(nm, sizeof nm, "blk.%d.%s.weight", l, names[k]);
            W[l * 11 + k] = need(f, nm);
        }

    double *logits = malloc((size_t)V * sizeof *logits);
    if (n_greedy) printf("[");
    for (int t = 0; t < n_tok; t++) {
        if (toks[t] < 0 || toks[t] >= V) die("token out of range", NULL);
        memcpy(x, emb + (size_t)toks[t] * E, E * sizeof *x);
        for (int l = 0; l < L; l++) {
            double **w = W + l * 11;
            rmsnorm(xn, x, w[0], E, eps);
            matvec(q, w[1], xn, E, Q);
            double *k = kc + ((size_t)l * n_tok + t) * KV, *v = vc + ((size_t)l * n_tok + t) * KV;
            matvec(k, w[2], xn, E, KV);
            matvec(v, w[3], xn, E, KV);
            for (int h = 0; h < H; h++) { rmsnorm(q + h * hd, q + h * hd, w[5], hd, eps); rope(q + h * hd, hd, t, base); }
            for (int h = 0; h < KVH; h++) { rmsnorm(k + h * hd, k + h * hd, w[6], hd, eps); rope(k + h * hd, hd, t, base); }
            for (int h = 0; h < H; h++) {
                int kh = h / (H / KVH);
                double mx = -INFINITY, sum = 0;
                for (int p = 0; p <= t; p++) {
                    const double *kp = kc + ((size_t)l * n_tok + p) * KV + kh * hd;
                    double d = 0;
                    for (int i = 0; i < hd; i++) d += q[h * hd + i] * kp[i];
                    sc[p] = d / sqrt((double)hd);
                    if (sc[p] > mx) mx = sc[p];
                }
                for (int p = 0; p <= t; p++) { sc[p] = exp(sc[p] - mx); sum += sc[p]; }
                for (int i = 0; i < hd; i++) {
                    double a = 0;
                    for (int p = 0; p <= t; p++) a += sc[p] / sum * vc[((size_t)l * n_tok + p) * KV + kh * hd + i];
                    att[h * hd + i] = a;
                }
            }
            matvec(o, w[4], att, Q, E);
            for (int i = 0; i < E; i++) x[i] += o[i];
            rmsnorm(xn, x, w[7], E, eps);
            matvec(g, w[8], xn, E, F);
            matvec(u, w[9], xn, E, F);
            for (int i = 0; i < F; i++) g[i] = g[i] / (1 + exp(-g[i])) * u[i];
            matvec(o, w[10], g, F, E);
            for (int i = 0; i < E; i++) x[i] += o[i];
        }
        if (t < n_prompt - 1) continue;
        rmsnorm(xn, x, onorm, E, eps);
        int best = 0;
        for (int64_t r = 0; r < V; r++) {
            double s = 0;
            for (int i = 0; i < E; i++) s += out[r * E + i] * xn[i];
            logits[r] = s;
            if (s > logits[best]) best = (int)r;
        }
        if (t == n_prompt - 1) {
            FILE *fo = fopen(argv[3], "wb");
            if (!fo) die("cannot write", argv[3]);
            for (int64_t r = 0; r < V; r++) {
                float fl = (float)logits[r];
                fwrite(&fl, 4, 1, fo);
            }
            fclose(fo);
        }
        if (t + 1 < n_tok) {
            toks[t + 1] = best;
            printf("%s%d", t + 1 > n_prompt ? "," : "", best);
        }
    }
    if (n_greedy) printf("]\n");
    gguf_close(f);
    return 0;
}
