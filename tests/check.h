/*
 * check.h - the assertion macro of the C unit tests: CHECK(cond, fmt, ...)
 * counts, prints "FAIL file:line: message" for a failed condition and lets
 * the test go on; CHECK_SUMMARY() prints the closing "N passed, M failed"
 * line and gives the exit status. Include it once per test program.
 */
#ifndef QUARRY_TEST_CHECK_H
#define QUARRY_TEST_CHECK_H

#include <stdio.h>

static int failures, checks;

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        checks++;                                                              \
        if (!(cond)) {                                                         \
            failures++;                                                        \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);               \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
        }                                                                      \
    } while (0)

#define CHECK_SUMMARY() (printf("%d passed, %d failed\n", checks - failures, failures), failures != 0)

#endif
