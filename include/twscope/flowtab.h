/*
 * flowtab.h -- the flow table: canonical 4-tuple (+ VLAN IDs) -> connection.
 *
 * Open addressing with linear probing over a power-of-two array of 16-byte
 * slots {hash, value}; the key itself lives in the value (struct conn), so a
 * probe touches one cache line until the hash matches. Deletion shifts the
 * following entries back (no tombstones), so probe sequences stay short after
 * millions of inserts and deletes. The hash is SipHash-1-3 keyed with a random
 * seed chosen at creation, so crafted 4-tuples cannot force collisions.
 * The key is canonicalized before hashing (lower endpoint first), so both
 * directions of a connection find the same entry.
 *
 * The table does not own the values; growing reallocates the slot array
 * (rare, amortized), lookups and deletes never allocate.
 *
 * Thread: owned by the TCP engine on the analysis thread; flow_hash() with a
 * copied hasher (flowtab_hasher()) may run on the capture reader thread.
 */
#ifndef TWSCOPE_FLOWTAB_H
#define TWSCOPE_FLOWTAB_H

#include <stdint.h>

#include "twscope/decode.h"

struct flow_key {
    uint8_t addr[2][16];   /* endpoint addresses, canonical order (lo, hi); IPv4 in the first 4 bytes */
    uint16_t port[2];      /* ports of the same endpoints */
    uint16_t vlan[2];      /* outer, inner VLAN ID (0 = none or --ignore-vlan) */
    uint8_t ip_version;    /* 4 or 6 */
    uint8_t pad[3];        /* zero: the key is hashed and compared as bytes */
};

/*
 * Build the canonical key of a decoded packet. Returns 0 when the packet's
 * source is endpoint 0 of the key, 1 when it is endpoint 1.
 */
int flow_key_from_pkt(const struct pkt_view *pv, int ignore_vlan, struct flow_key *k);

struct flowtab;

/* seed: 0 = random (getrandom), else fixed (tests). NULL on OOM. */
struct flowtab *flowtab_create(uint64_t seed);
void flowtab_destroy(struct flowtab *t);

/* Value stored under k, or NULL. hash_out (optional) receives the key's hash. */
void *flowtab_find(const struct flowtab *t, const struct flow_key *k, uint64_t *hash_out);
/* The same with k's hash already known (flowtab_hash()). */
void *flowtab_find_hashed(const struct flowtab *t, const struct flow_key *k, uint64_t hash);
/*
 * Insert value v under its key (key_of(v) must equal k); the key must not be
 * present. Returns 0 or TW_ERR_NOMEM.
 */
int flowtab_insert(struct flowtab *t, const struct flow_key *k, uint64_t hash, void *v);
/* Replace the value stored under k (same key). Returns 0, or -1 if absent. */
int flowtab_replace(struct flowtab *t, const struct flow_key *k, uint64_t hash, void *v);
/* Remove k. Returns 0, or -1 if absent. */
int flowtab_remove(struct flowtab *t, const struct flow_key *k, uint64_t hash);

uint64_t flowtab_hash(const struct flowtab *t, const struct flow_key *k);
/* The table's hash key, to hash on another thread without reading the table. */
struct flow_hasher {
    uint64_t k0, k1;
};
void flowtab_hasher(const struct flowtab *t, struct flow_hasher *out);
uint64_t flow_hash(const struct flow_hasher *h, const struct flow_key *k);
/*
 * The shard hash of a canonical key (analyze --shard K/N): fixed and seed-free,
 * so that every machine puts a connection in the same shard, and symmetric,
 * because the key is canonical (lower endpoint first). FNV-1a 64 (offset
 * basis 0xcbf29ce484222325, prime 0x100000001b3) of 39 bytes: ip_version,
 * address of endpoint 0 (16 bytes, IPv4 in the first 4, zeros after), its
 * port (2 bytes, big-endian), address and port of endpoint 1, the outer and
 * inner VLAN IDs (big-endian, 0 with --ignore-vlan); then h ^ (h >> 32).
 * The connection belongs to shard (value mod N) + 1.
 */
uint64_t flow_shard_hash(const struct flow_key *k);

/* Remove every entry (the values are the caller's). */
void flowtab_clear(struct flowtab *t);
size_t flowtab_count(const struct flowtab *t);
size_t flowtab_capacity(const struct flowtab *t);
/* Longest probe sequence observed by the last lookups (for the DoS test). */
size_t flowtab_max_probe(const struct flowtab *t);

/* The key of a stored value: the table reads keys through this (set at create). */
void flowtab_set_key_of(struct flowtab *t, const struct flow_key *(*key_of)(const void *v));

#endif /* TWSCOPE_FLOWTAB_H */
