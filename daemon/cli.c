/*
 * cli.c - option parsing helpers (see cli.h).
 */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_str(const char *cmd, int argc, char **argv, int *i, const char **out)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "quarry %s: %s needs a value\n", cmd, argv[*i]);
        return -1;
    }
    *out = argv[++*i];
    return 0;
}

int cli_int(const char *cmd, int argc, char **argv, int *i, long lo, long hi, int *out)
{
    const char *s, *opt = argv[*i];
    if (cli_str(cmd, argc, argv, i, &s)) return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "quarry %s: %s: expected an integer in %ld..%ld, got '%s'\n", cmd, opt, lo, hi, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int cli_u64(const char *cmd, int argc, char **argv, int *i, uint64_t *out)
{
    const char *s, *opt = argv[*i];
    if (cli_str(cmd, argc, argv, i, &s)) return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-') {
        fprintf(stderr, "quarry %s: %s: expected a non-negative integer, got '%s'\n", cmd, opt, s);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_float(const char *cmd, int argc, char **argv, int *i, double lo, double hi, float *out)
{
    const char *s, *opt = argv[*i];
    if (cli_str(cmd, argc, argv, i, &s)) return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "quarry %s: %s: expected a number in %g..%g, got '%s'\n", cmd, opt, lo, hi, s);
        return -1;
    }
    *out = (float)v;
    return 0;
}

char *cli_read_file(const char *cmd, const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) {
        fprintf(stderr, "quarry %s: %s: %s\n", cmd, path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) break;
        if (n + 1 >= cap) {
            char *p = realloc(buf, cap *= 2);
            if (!p) { free(buf); buf = NULL; break; }
            buf = p;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0) break;
    }
    int bad = ferror(f);
    if (f != stdin) fclose(f);
    if (!buf || bad) {
        fprintf(stderr, "quarry %s: %s: %s\n", cmd, path, buf ? "read error" : "out of memory");
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}
