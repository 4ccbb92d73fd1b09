/* Internal to src/store: the environment, key encodings and the record
 * format shared by the writer and the query engine (docs/store.md). */
#ifndef HEARTH_STORE_INTERNAL_H
#define HEARTH_STORE_INTERNAL_H

#include <lmdb.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "hearth/buf.h"
#include "hearth/event.h"
#include "hearth/store.h"

#define STORE_FORMAT 1u

/* sub-databases, in the order they are opened */
enum {
    DB_META,     /* "format", "serial" */
    DB_EVENTS,   /* serial -> record */
    DB_IDS,      /* id -> serial */
    DB_CREATED,  /* ts -> "" */
    DB_KIND,     /* kind ts -> "" */
    DB_PUBKEY,   /* pubkey ts -> "" */
    DB_PUBKIND,  /* pubkey kind ts -> "" */
    DB_TAG,      /* letter value ts -> "" */
    DB_EXPIRY,   /* expiration serial -> "" */
    DB_ADDR,     /* address -> serial */
    DB_DELETED,  /* 'e' id pubkey -> "" ; 'a' address -> deletion time */
    DB_COUNT
};

/* read transactions kept reset for reuse (MDB_NOTLS makes them portable
 * between threads); more than this are simply aborted */
#define READ_POOL 16

struct hearth_store {
    MDB_env *env;
    MDB_dbi dbi[DB_COUNT];
    uint64_t map_size;
    pthread_mutex_t pool_mu;
    MDB_txn *pool[READ_POOL];
    size_t npool;
};

/* ---- keys ---- */

/* a "ts" in a key: 8 bytes big-endian of ~created_at, so that LMDB's
 * ascending order walks newest first; followed by the 8-byte serial */
#define TS_LEN 16
/* tag values and d tags up to this many bytes are stored as they are;
 * longer ones as their SHA-256 */
#define VALUE_INLINE_MAX 253u
#define ENC_HEX32 254u   /* 64 lowercase hex characters, stored as 32 bytes */
#define ENC_HASH 255u    /* SHA-256 of a longer value */
/* letter, value encoding byte, up to 253 bytes */
#define VALUE_KEY_MAX (2 + VALUE_INLINE_MAX)
/* kind, pubkey, encoded d */
#define ADDR_KEY_MAX (2 + 32 + 1 + VALUE_INLINE_MAX)
#define KEY_MAX (1 + ADDR_KEY_MAX + TS_LEN)

static inline void put_be16(uint8_t *p, uint32_t x)
{
    p[0] = (uint8_t)(x >> 8);
    p[1] = (uint8_t)x;
}

static inline void put_be32(uint8_t *p, uint32_t x)
{
    for (int i = 3; i >= 0; i--, x >>= 8)
        p[i] = (uint8_t)x;
}

static inline void put_be64(uint8_t *p, uint64_t x)
{
    for (int i = 7; i >= 0; i--, x >>= 8)
        p[i] = (uint8_t)x;
}

static inline uint32_t get_be16(const uint8_t *p)
{
    return (uint32_t)p[0] << 8 | p[1];
}

static inline uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t get_be64(const uint8_t *p)
{
    uint64_t x = 0;
    for (int i = 0; i < 8; i++)
        x = x << 8 | p[i];
    return x;
}

/* encoding byte and body of a value; returns bytes written to out */
size_t hearth_st_enc_value(const char *v, size_t n, uint8_t *out);
/* kind, pubkey, d -> address key; returns its length */
size_t hearth_st_addr_key(uint32_t kind, const uint8_t pk[32],
                          const char *d, size_t dlen, uint8_t *out);
/* append ~ts and the serial at out + len; returns the new length */
static inline size_t add_ts(uint8_t *out, size_t len, int64_t ts,
                            uint64_t serial)
{
    put_be64(out + len, ~(uint64_t)ts);
    put_be64(out + len + 8, serial);
    return len + TS_LEN;
}

/* created_at from the ts part of a key */
static inline int64_t key_ts(const uint8_t *p)
{
    return (int64_t)~get_be64(p);
}

static inline int is_letter(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* ---- records ---- */

/* A decoded view of one record; pointers into the record bytes. */
struct rec {
    uint32_t kind;
    int64_t created_at;
    int has_exp;
    int64_t exp;
    const uint8_t *id, *pubkey;
    const char *d;          /* addressable kinds only */
    size_t dlen;
    size_t ntags;           /* single-letter tags a-zA-Z with a value */
    const uint8_t *tags;    /* see hearth_st_rec_tag_next */
    const char *json;
    size_t json_len;
};

/* Build the record of ev (appended to out). */
int hearth_st_rec_build(const hearth_event *ev, hearth_buf *out);
/* HEARTH_EIO if the bytes are not a well-formed record. */
int hearth_st_rec_view(const void *p, size_t n, struct rec *r);
/* The tag entry at *pos: its letter and first value; advances *pos. */
void hearth_st_rec_tag_next(const uint8_t **pos, const char **letter,
                            const char **v, size_t *n);

/* A hearth_event with only what hearth_filter_match looks at (id, pubkey,
 * created_at, kind, the single-letter tags), pointing into a record. */
struct skeleton {
    hearth_event ev;
    hearth_tag *tags;
    hearth_str *vals;
    size_t cap;
};
int hearth_st_skeleton_fill(struct skeleton *k, const struct rec *r);
void hearth_st_skeleton_free(struct skeleton *k);

/* ---- environment ---- */

/* LMDB return code -> hearth_err */
int hearth_st_err(int mdb_rc);
int hearth_st_read_begin(hearth_store *s, MDB_txn **txn);
void hearth_st_read_end(hearth_store *s, MDB_txn *txn);

#endif
