/*
 * cmd_model_info.c - `quarry model-info --model FILE`: what a GGUF file is,
 * after full validation (so it doubles as a file checker).
 */
#include "cli.h"
#include "commands.h"
#include "qengine.h"

#include <stdio.h>
#include <string.h>

int cmd_model_info(int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--model")) {
            if (cli_str("model-info", argc, argv, &i, &path)) return 2;
        } else if (!strcmp(argv[i], "--threads")) {
            int t;
            if (cli_int("model-info", argc, argv, &i, 1, 512, &t)) return 2;
        } else if (!strcmp(argv[i], "--help")) {
            printf("usage: quarry model-info --model FILE\n");
            return 0;
        } else {
            fprintf(stderr, "quarry model-info: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "quarry model-info: --model FILE is required\n");
        return 2;
    }
    char err[512];
    qe_model *m;
    qe_model_params mp = qe_model_default_params();
    mp.file_layout = 1;   /* nothing runs: repacking would only cost time */
    if (qe_model_load(path, mp, &m, err, sizeof err)) {
        fprintf(stderr, "quarry model-info: %s\n", err);
        return 1;
    }
    const qe_model_info *in = qe_model_get_info(m);
    const qe_vocab_info *v = qe_model_vocab(m);
    printf("file:            %s (%.1f MiB)\n", path, in->file_size / 1048576.0);
    printf("architecture:    %s\n", in->arch);
    printf("name:            %s\n", in->name);
    printf("parameters:      %.3f B\n", in->n_params / 1e9);
    printf("layers:          %d\n", in->n_layer);
    printf("embedding:       %d\n", in->n_embd);
    printf("heads:           %d (kv %d, head_dim %d)\n", in->n_head, in->n_head_kv, in->head_dim);
    printf("ffn:             %d\n", in->n_ff);
    printf("vocabulary:      %d (tokenizer %d)\n", in->n_vocab, v->n_vocab);
    printf("context (train): %d\n", in->n_ctx_train);
    printf("rope freq base:  %g\n", in->rope_freq_base);
    printf("rms eps:         %g\n", in->rms_eps);
    printf("output:          %s\n", in->tied_output ? "tied to token_embd" : "separate output.weight");
    if (strcmp(in->file_type_name, in->weight_type_name))
        printf("weight type:     %s (mostly %s)\n", in->file_type_name, in->weight_type_name);
    else
        printf("weight type:     %s\n", in->weight_type_name);
    printf("chat template:   %s\n", in->has_chat_template ? "present" : "absent");
    qe_model_free(m);
    return 0;
}
