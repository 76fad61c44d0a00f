/*
 * main.c - the `quarry` command: dispatches to one subcommand per file
 * (cmd_*.c). Exit codes: 0 success, 1 the work failed, 2 bad usage/input.
 */
#include "commands.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    { "model-info", cmd_model_info, "print a GGUF model's architecture, shapes and types" },
    { "tokenize", cmd_tokenize, "print the token ids of stdin text (or --lines of JSON strings)" },
    { "generate", cmd_generate, "generate text from a prompt (raw or --chat)" },
    { "bench", cmd_bench, "measure prompt and decode speed on a model" },
    { "extract", cmd_extract, "extract structured data from documents with a spec (JSONL records)" },
    { "jsonschema-suite", cmd_jsonschema_suite, "run JSON-Schema-Test-Suite files against the validator" },
};

static void usage(FILE *f)
{
    fprintf(f, "usage: quarry <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-18s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\nRun 'quarry <command> --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) { usage(stderr); return 2; }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "quarry: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
