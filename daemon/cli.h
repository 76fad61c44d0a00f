/*
 * cli.h - small helpers shared by the subcommands: option value parsing
 * with range checks and clear messages.
 */
#ifndef QUARRY_CLI_H
#define QUARRY_CLI_H

#include <stddef.h>
#include <stdint.h>

/* Each returns 0 on success; on failure prints "quarry <cmd>: <opt>: ..."
 * to stderr and returns -1. `i` indexes argv at the option; the value is
 * argv[*i + 1] and *i is advanced past it. */
int cli_str(const char *cmd, int argc, char **argv, int *i, const char **out);
int cli_int(const char *cmd, int argc, char **argv, int *i, long lo, long hi, int *out);
int cli_u64(const char *cmd, int argc, char **argv, int *i, uint64_t *out);
int cli_float(const char *cmd, int argc, char **argv, int *i, double lo, double hi, float *out);

/* Reads a whole file (or stdin for "-") into a malloc'd NUL-terminated
 * buffer; *len gets the byte count. NULL with a message on failure. */
char *cli_read_file(const char *cmd, const char *path, size_t *len);

#endif
