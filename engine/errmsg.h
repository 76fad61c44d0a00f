/*
 * errmsg.h - the engine's error return: format a message into the caller's
 * buffer (err may be NULL or errlen 0: then nothing is written) and return
 * code, so a failing path is one statement: return qe_fail(err, errlen,
 * QE_EINVAL, "what: why", ...). Internal to engine/.
 */
#ifndef QE_ERRMSG_H
#define QE_ERRMSG_H

#include <stddef.h>

int qe_fail(char *err, size_t errlen, int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
