/*
 * gguf.h - GGUF file reader (mmap, validated) and writer.
 *
 * The reader maps the whole file read-only and validates every count,
 * length, offset and size against the file before anything is used, so a
 * truncated or hostile file yields an error message, never a bad access.
 * The writer builds a file in memory order (KV pairs, tensor infos, aligned
 * data) and is used by the synthetic model tool and the tests.
 */
#ifndef QE_GGUF_H
#define QE_GGUF_H

#include <stddef.h>
#include <stdint.h>

/* Metadata value types (GGUF spec). */
enum gguf_type {
    GGUF_TYPE_UINT8 = 0, GGUF_TYPE_INT8 = 1, GGUF_TYPE_UINT16 = 2,
    GGUF_TYPE_INT16 = 3, GGUF_TYPE_UINT32 = 4, GGUF_TYPE_INT32 = 5,
    GGUF_TYPE_FLOAT32 = 6, GGUF_TYPE_BOOL = 7, GGUF_TYPE_STRING = 8,
    GGUF_TYPE_ARRAY = 9, GGUF_TYPE_UINT64 = 10, GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12,
    GGUF_TYPE_COUNT
};

/* Tensor element types (ggml numbering). */
enum ggml_type {
    GGML_TYPE_F32 = 0, GGML_TYPE_F16 = 1, GGML_TYPE_Q4_0 = 2,
    GGML_TYPE_Q4_1 = 3, GGML_TYPE_Q5_0 = 6, GGML_TYPE_Q5_1 = 7,
    GGML_TYPE_Q8_0 = 8, GGML_TYPE_Q8_1 = 9, GGML_TYPE_Q2_K = 10,
    GGML_TYPE_Q3_K = 11, GGML_TYPE_Q4_K = 12, GGML_TYPE_Q5_K = 13,
    GGML_TYPE_Q6_K = 14, GGML_TYPE_Q8_K = 15, GGML_TYPE_I8 = 24,
    GGML_TYPE_I16 = 25, GGML_TYPE_I32 = 26, GGML_TYPE_I64 = 27,
    GGML_TYPE_F64 = 28, GGML_TYPE_BF16 = 30,
    GGML_TYPE_COUNT = 40
};

/* Block geometry of a tensor type: elements per block and bytes per block.
 * Returns 0 for types this reader does not know (then the file is rejected). */
int ggml_type_block(int type, int *block_elems, int *block_bytes);
const char *ggml_type_str(int type);   /* "F32", "Q8_0", ... or "?" */

#define GGUF_MAX_DIMS 4
#define GGUF_DEFAULT_ALIGNMENT 32

typedef struct {
    const char *name;     /* NUL-terminated copy owned by the gguf_file */
    int type;             /* enum ggml_type */
    int n_dims;
    int64_t ne[GGUF_MAX_DIMS];  /* ne[0] is the contiguous (row) dimension */
    uint64_t offset;      /* from the start of the data section */
    uint64_t nbytes;
    const void *data;     /* into the mapping */
} gguf_tensor;

typedef struct gguf_file gguf_file;

/* Maps and validates path. On failure returns a negative QE_E* code (see
 * qengine.h: QE_EIO, QE_EFORMAT, QE_ENOMEM) and writes "<path>: <problem>"
 * to err. The same parser is available on a memory buffer (for fuzzing). */
int gguf_open(const char *path, gguf_file **out, char *err, size_t errlen);
/* private_copy = 1: read the file into private memory (on huge pages where
 * the kernel allows) instead of mapping it; falls back to the mapping when
 * that memory cannot be had. Same results either way. */
int gguf_open_ex(const char *path, int private_copy, gguf_file **out, char *err, size_t errlen);
int gguf_open_mem(const void *buf, size_t size, const char *label,
                  gguf_file **out, char *err, size_t errlen);
/* (gguf_open_mem does not copy: buf must outlive the gguf_file, and label
 * takes the place of the path in messages.) */
void gguf_close(gguf_file *f);

uint32_t gguf_version(const gguf_file *f);
uint64_t gguf_file_size(const gguf_file *f);
const char *gguf_path(const gguf_file *f);

/* Metadata. Keys are looked up by exact name; -1 when absent. */
int gguf_n_kv(const gguf_file *f);
int gguf_find_key(const gguf_file *f, const char *key);
const char *gguf_key_name(const gguf_file *f, int i);
int gguf_kv_type(const gguf_file *f, int i);          /* enum gguf_type */

/* Typed getters. Each returns 0 on success, -1 if the key is absent, and
 * -2 if present with an incompatible type or out-of-range value. Integer
 * getters accept any integer type whose value fits; gguf_get_f32 accepts
 * FLOAT32 and FLOAT64. */
int gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out);
int gguf_get_i64(const gguf_file *f, const char *key, int64_t *out);
int gguf_get_f32(const gguf_file *f, const char *key, float *out);
int gguf_get_bool(const gguf_file *f, const char *key, int *out);
/* String value (not NUL-terminated in the file; len gives its size). */
int gguf_get_str(const gguf_file *f, const char *key, const char **s, size_t *len);

/* Arrays: element type and count. */
int gguf_get_arr_info(const gguf_file *f, const char *key, int *elem_type, uint64_t *n);
/* Element i of a string array (borrowed, not NUL-terminated). NULL if the
 * key is not a string array or i is out of range. */
const char *gguf_get_arr_str(const gguf_file *f, const char *key, uint64_t i, size_t *len);
/* Copies up to n elements of an integer array, converted to int32 (values
 * must fit). Returns the number copied or -1/-2 as above. */
int64_t gguf_get_arr_i32(const gguf_file *f, const char *key, int32_t *out, uint64_t n);
/* Copies up to n elements of a FLOAT32 array. */
int64_t gguf_get_arr_f32(const gguf_file *f, const char *key, float *out, uint64_t n);

/* Alignment of the data section (general.alignment or 32) and the file
 * offset where the data section starts. Any non-zero power of two is
 * accepted, as the spec allows: tensor data is aligned to this much
 * relative to the start of the file (a page-aligned mapping), so users
 * that need 32-byte alignment must check gguf_alignment() >= 32. */
uint32_t gguf_alignment(const gguf_file *f);
uint64_t gguf_data_offset(const gguf_file *f);

/* Tensors. */
int gguf_n_tensors(const gguf_file *f);
const gguf_tensor *gguf_tensor_at(const gguf_file *f, int i);
const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name);

/* ----------------------------------------------------------------- writer */

typedef struct gguf_writer gguf_writer;

gguf_writer *gguf_writer_init(void);   /* NULL on allocation failure */
void gguf_writer_free(gguf_writer *w);
/* Setters copy key and values. They return 0, or -1 on allocation failure
 * (the writer then fails at gguf_writer_write). */
int gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v);
int gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v);
int gguf_writer_set_f32(gguf_writer *w, const char *key, float v);
int gguf_writer_set_bool(gguf_writer *w, const char *key, int v);
int gguf_writer_set_str(gguf_writer *w, const char *key, const char *s);
int gguf_writer_set_arr_str(gguf_writer *w, const char *key, const char *const *s, uint64_t n);
int gguf_writer_set_arr_i32(gguf_writer *w, const char *key, const int32_t *v, uint64_t n);
int gguf_writer_set_arr_f32(gguf_writer *w, const char *key, const float *v, uint64_t n);
/* Adds a tensor; data (nbytes, which must match type and shape) is copied. */
int gguf_writer_add_tensor(gguf_writer *w, const char *name, int type, int n_dims,
                           const int64_t *ne, const void *data, uint64_t nbytes);
/* Scalar of any fixed-size type (UINT8..FLOAT64 except STRING/ARRAY); v
 * points at a value of that type. */
int gguf_writer_set_val(gguf_writer *w, const char *key, int type, const void *v);
/* Array of a fixed-size element type; v holds n packed elements. */
int gguf_writer_set_arr(gguf_writer *w, const char *key, int elem_type, const void *v, uint64_t n);
/* Value given pre-encoded (the bytes that follow the type field in the
 * file), unchecked: for nested arrays and for tests that need odd files. */
int gguf_writer_set_raw(gguf_writer *w, const char *key, int type, const void *val, size_t len);
/* Adds a tensor whose data is produced at write time: fill(user, dst,
 * nbytes) fills dst and returns 0 (nonzero aborts the write). Only one such
 * buffer exists at a time, so big models need not fit in memory twice. */
typedef int (*gguf_fill_fn)(void *user, void *dst, uint64_t nbytes);
int gguf_writer_add_tensor_cb(gguf_writer *w, const char *name, int type, int n_dims,
                              const int64_t *ne, gguf_fill_fn fill, void *user);
/* Writes a GGUF v3 file (to path.tmpPID, then renamed). Setting the same
 * key twice keeps the last value; tensor data is laid out with
 * general.alignment if set (UINT32 power of two), else 32. Setters and
 * add_tensor also return -1 on bad arguments; the reason is reported here.
 * Returns 0 or a negative QE_E* code with err set. */
int gguf_writer_write(gguf_writer *w, const char *path, char *err, size_t errlen);

#endif
