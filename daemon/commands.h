/*
 * commands.h - the subcommands of the `quarry` program. Each takes the
 * arguments after the subcommand name (argv[0] is the subcommand) and
 * returns the process exit code: 0 success, 1 failure of the work, 2 bad
 * usage or input.
 */
#ifndef QUARRY_COMMANDS_H
#define QUARRY_COMMANDS_H

int cmd_model_info(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_jsonschema_suite(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_extract(int argc, char **argv);

#endif
