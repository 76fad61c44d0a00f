/*
 * forward.h - engine-internal access to a context's KV cache, for the
 * scheduler and the prefix cache (the public API is qengine.h).
 */
#ifndef QE_FORWARD_H
#define QE_FORWARD_H

#include "kvcache.h"
#include "qengine.h"

kv_cache *qe_context_kv(qe_context *ctx);

#endif
