/*
 * flowtab.c -- open-addressing flow table with a seeded SipHash-1-3.
 * See flowtab.h for the design.
 */
#include "twscope/flowtab.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "twscope/common.h"
#include "twscope/config.h"

struct slot {
    uint64_t hash;            /* full hash of the key, valid when v != NULL */
    void *v;                  /* value (holds the key), NULL = empty slot */
};

struct flowtab {
    struct slot *slots;       /* capacity entries */
    size_t mask;              /* capacity - 1 */
    size_t count;             /* used slots */
    size_t max_probe;         /* longest probe seen */
    uint64_t k0, k1;          /* SipHash key */
    const struct flow_key *(*key_of)(const void *v);
};

/* ---- SipHash-1-3 (Aumasson, Bernstein), 64-bit output ------------------- */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                       \
    do {                                                                               \
        v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);                      \
        v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                                         \
        v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                                         \
        v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);                      \
    } while (0)

static inline uint64_t rd_le64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8); /* the key is hashed as bytes; endianness only changes the hash values */
    return v;
}

static uint64_t siphash13(uint64_t k0, uint64_t k1, const uint8_t *in, size_t len)
{
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
    size_t i, whole = len & ~(size_t)7;
    uint64_t b = (uint64_t)len << 56;

    for (i = 0; i < whole; i += 8) {
        uint64_t m = rd_le64(in + i);
        v3 ^= m;
        SIPROUND;
        v0 ^= m;
    }
    for (size_t j = 0; j < (len & 7); j++)
        b |= (uint64_t)in[whole + j] << (8 * j);
    v3 ^= b;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND; SIPROUND; SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- keys ----------------------------------------------------------------- */

int flow_key_from_pkt(const struct pkt_view *pv, int ignore_vlan, struct flow_key *k)
{
    size_t alen = pv->ip_version == 6 ? 16 : 4;
    int c;

    memset(k, 0, sizeof(*k));
    k->ip_version = pv->ip_version;
    if (!ignore_vlan) {
        k->vlan[0] = pv->vlan[0];
        k->vlan[1] = pv->vlan[1];
    }
    c = memcmp(pv->src, pv->dst, alen);
    if (c == 0)
        c = (pv->sport > pv->dport) - (pv->sport < pv->dport);
    if (c <= 0) {
        memcpy(k->addr[0], pv->src, alen);
        memcpy(k->addr[1], pv->dst, alen);
        k->port[0] = pv->sport;
        k->port[1] = pv->dport;
        return 0;
    }
    memcpy(k->addr[0], pv->dst, alen);
    memcpy(k->addr[1], pv->src, alen);
    k->port[0] = pv->dport;
    k->port[1] = pv->sport;
    return 1;
}

/* ---- table ---------------------------------------------------------------- */

static const struct flow_key *key_self(const void *v) { return v; }

struct flowtab *flowtab_create(uint64_t seed)
{
    struct flowtab *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->slots = calloc(FLOWTAB_INITIAL_SLOTS, sizeof(*t->slots));
    if (!t->slots) {
        free(t);
        return NULL;
    }
    t->mask = FLOWTAB_INITIAL_SLOTS - 1;
    t->key_of = key_self;
    if (seed) {
        t->k0 = seed;
        t->k1 = seed * 0x9e3779b97f4a7c15ULL + 1;
    } else {
        uint64_t k[2];
        if (getrandom(k, sizeof(k), GRND_NONBLOCK) != (ssize_t)sizeof(k)) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            k[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL ^ (uint64_t)(uintptr_t)t;
            k[1] = (uint64_t)ts.tv_sec ^ (k[0] << 7);
        }
        t->k0 = k[0];
        t->k1 = k[1];
    }
    return t;
}

void flowtab_destroy(struct flowtab *t)
{
    if (!t)
        return;
    free(t->slots);
    free(t);
}

void flowtab_set_key_of(struct flowtab *t, const struct flow_key *(*key_of)(const void *v))
{
    t->key_of = key_of;
}

uint64_t flowtab_hash(const struct flowtab *t, const struct flow_key *k)
{
    return siphash13(t->k0, t->k1, (const uint8_t *)k, sizeof(*k));
}

void flowtab_hasher(const struct flowtab *t, struct flow_hasher *out)
{
    out->k0 = t->k0;
    out->k1 = t->k1;
}

uint64_t flow_hash(const struct flow_hasher *h, const struct flow_key *k)
{
    return siphash13(h->k0, h->k1, (const uint8_t *)k, sizeof(*k));
}

static inline uint64_t fnv1a_byte(uint64_t h, uint8_t b)
{
    return (h ^ b) * 0x100000001b3ULL;
}

uint64_t flow_shard_hash(const struct flow_key *k)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    h = fnv1a_byte(h, k->ip_version);
    for (int e = 0; e < 2; e++) {
        for (int i = 0; i < 16; i++)
            h = fnv1a_byte(h, k->addr[e][i]);
        h = fnv1a_byte(h, (uint8_t)(k->port[e] >> 8));
        h = fnv1a_byte(h, (uint8_t)k->port[e]);
    }
    for (int v = 0; v < 2; v++) {
        h = fnv1a_byte(h, (uint8_t)(k->vlan[v] >> 8));
        h = fnv1a_byte(h, (uint8_t)k->vlan[v]);
    }
    return h ^ (h >> 32);
}

static inline int key_eq(const struct flow_key *a, const struct flow_key *b)
{
    return memcmp(a, b, sizeof(*a)) == 0;
}

/* Index of the slot holding k, or of the empty slot where it would go. */
static size_t probe(const struct flowtab *t, const struct flow_key *k, uint64_t h, size_t *plen)
{
    size_t i = (size_t)h & t->mask, n = 0;
    while (t->slots[i].v) {
        if (t->slots[i].hash == h && key_eq(t->key_of(t->slots[i].v), k))
            break;
        i = (i + 1) & t->mask;
        n++;
    }
    *plen = n;
    return i;
}

void *flowtab_find_hashed(const struct flowtab *t, const struct flow_key *k, uint64_t h)
{
    size_t n, i = probe(t, k, h, &n);
    if (n > t->max_probe)
        ((struct flowtab *)t)->max_probe = n;
    return t->slots[i].v;
}

void *flowtab_find(const struct flowtab *t, const struct flow_key *k, uint64_t *hash_out)
{
    uint64_t h = flowtab_hash(t, k);
    if (hash_out)
        *hash_out = h;
    return flowtab_find_hashed(t, k, h);
}

static int grow(struct flowtab *t)
{
    size_t cap = (t->mask + 1) * 2;
    struct slot *ns = calloc(cap, sizeof(*ns));
    if (!ns)
        return TW_ERR_NOMEM;
    for (size_t i = 0; i <= t->mask; i++) {
        if (!t->slots[i].v)
            continue;
        size_t j = (size_t)t->slots[i].hash & (cap - 1);
        while (ns[j].v)
            j = (j + 1) & (cap - 1);
        ns[j] = t->slots[i];
    }
    free(t->slots);
    t->slots = ns;
    t->mask = cap - 1;
    return TW_OK;
}

int flowtab_insert(struct flowtab *t, const struct flow_key *k, uint64_t hash, void *v)
{
    size_t n, i;
    if ((t->count + 1) * 100 > (t->mask + 1) * FLOWTAB_MAX_LOAD_PCT) {
        int rc = grow(t);
        if (rc)
            return rc;
    }
    i = probe(t, k, hash, &n);
    if (n > t->max_probe)
        t->max_probe = n;
    t->slots[i].hash = hash;
    t->slots[i].v = v;
    t->count++;
    return TW_OK;
}

int flowtab_replace(struct flowtab *t, const struct flow_key *k, uint64_t hash, void *v)
{
    size_t n, i = probe(t, k, hash, &n);
    if (!t->slots[i].v)
        return -1;
    t->slots[i].v = v;
    return 0;
}

int flowtab_remove(struct flowtab *t, const struct flow_key *k, uint64_t hash)
{
    size_t n, i = probe(t, k, hash, &n), j;
    if (!t->slots[i].v)
        return -1;
    /* backward-shift deletion: move later members of the cluster into the hole */
    j = i;
    for (;;) {
        j = (j + 1) & t->mask;
        if (!t->slots[j].v)
            break;
        size_t home = (size_t)t->slots[j].hash & t->mask;
        /* can the entry at j move to i? only if its home is not in (i, j] cyclically */
        if (((j - home) & t->mask) >= ((j - i) & t->mask)) {
            t->slots[i] = t->slots[j];
            i = j;
        }
    }
    t->slots[i].v = NULL;
    t->slots[i].hash = 0;
    t->count--;
    return 0;
}

void flowtab_clear(struct flowtab *t)
{
    memset(t->slots, 0, (t->mask + 1) * sizeof(*t->slots));
    t->count = 0;
}

size_t flowtab_count(const struct flowtab *t) { return t->count; }
size_t flowtab_capacity(const struct flowtab *t) { return t->mask + 1; }
size_t flowtab_max_probe(const struct flowtab *t) { return t->max_probe; }
