/*
 * pipeline.c - version of the extraction pipeline library. The pipeline
 * (specs, prompts, validation, constraint, attempts) lives in the other
 * files of this folder; this one anchors the library.
 */
const char *pipeline_version(void) { return "0.1.0"; }
