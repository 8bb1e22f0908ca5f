/*
 * classify.c -- nDPI behind a small interface (see classify.h).
 * nDPI's reader_util does the same dance: process packets until the protocol
 * is detected or a packet budget runs out, then ndpi_detection_giveup().
 */
#include "twscope/classify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ndpi/ndpi_api.h>

/* Names of the protocol id pairs seen, so a row costs no nDPI formatting. */
#define NAME_CACHE 256
struct name_entry {
    uint32_t key;              /* master << 16 | app, + 1 (0: empty) */
    char name[60];
};

struct classifier {
    struct ndpi_detection_module_struct *ndpi;
    struct name_entry names[NAME_CACHE];
    struct ndpi_flow_struct *spare[64];   /* recycled per-flow states */
    int nspare;
    size_t flow_size;
};

struct classifier *classify_create(void)
{
    struct classifier *cl = calloc(1, sizeof(*cl));
    NDPI_PROTOCOL_BITMASK all;
    if (!cl)
        return NULL;
    cl->ndpi = ndpi_init_detection_module(ndpi_no_prefs);
    if (!cl->ndpi) {
        free(cl);
        return NULL;
    }
    NDPI_BITMASK_SET_ALL(all);
    ndpi_set_protocol_detection_bitmask2(cl->ndpi, &all);
    ndpi_finalize_initialization(cl->ndpi);
    cl->flow_size = ndpi_detection_get_sizeof_ndpi_flow_struct();
    return cl;
}

void classify_destroy(struct classifier *cl)
{
    if (!cl)
        return;
    for (int i = 0; i < cl->nspare; i++)
        ndpi_free(cl->spare[i]);
    ndpi_exit_detection_module(cl->ndpi);
    free(cl);
}

static void flow_put(struct classifier *cl, struct ndpi_flow_struct *f)
{
    ndpi_free_flow_data(f);
    if (cl->nspare < (int)(sizeof(cl->spare) / sizeof(cl->spare[0])))
        cl->spare[cl->nspare++] = f;
    else
        ndpi_free(f);
}

static struct ndpi_flow_struct *flow_get(struct classifier *cl)
{
    struct ndpi_flow_struct *f = cl->nspare ? cl->spare[--cl->nspare] : ndpi_malloc(cl->flow_size);
    if (f)
        memset(f, 0, cl->flow_size);
    return f;
}

static void store_result(struct conn *c, ndpi_protocol p)
{
    c->dpi.master = p.master_protocol;
    c->dpi.proto = p.app_protocol;
}

static void conclude(struct classifier *cl, struct conn *c)
{
    struct ndpi_flow_struct *f = c->dpi.flow;
    if (f) {
        if (!c->dpi.proto && !c->dpi.master) {
            uint8_t guessed = 0;
            store_result(c, ndpi_detection_giveup(cl->ndpi, f, 1, &guessed));
            c->dpi.guessed = guessed != 0;
        }
        flow_put(cl, f);
        c->dpi.flow = NULL;
    }
    c->dpi.done = 1;
}

void classify_packet(struct classifier *cl, struct conn *c, const struct pkt_view *pv, tw_time ts)
{
    ndpi_protocol p;
    uint32_t len;
    if (c->dpi.done)
        return;
    if (!c->dpi.flow) {
        c->dpi.flow = flow_get(cl);
        if (!c->dpi.flow) {
            c->dpi.done = 1;
            return;
        }
    }
    len = pv->l3_caplen > 65535 ? 65535 : pv->l3_caplen;
    p = ndpi_detection_process_packet(cl->ndpi, c->dpi.flow, pv->l3, (unsigned short)len,
                                      (uint64_t)(ts / 1000));
    c->dpi.pkts++;
    if (p.app_protocol != NDPI_PROTOCOL_UNKNOWN || p.master_protocol != NDPI_PROTOCOL_UNKNOWN) {
        store_result(c, p);
        conclude(cl, c);
    } else if (c->dpi.pkts >= DPI_MAX_PACKETS) {
        conclude(cl, c);
    }
}

void classify_finish(struct classifier *cl, struct conn *c)
{
    if (!c->dpi.done || c->dpi.flow)
        conclude(cl, c);
}

const char *classify_name(struct classifier *cl, const struct conn *c, char *buf, size_t n)
{
    ndpi_protocol p = {0};
    struct name_entry *e;
    uint32_t key;
    if (!c->dpi.proto && !c->dpi.master)
        return NULL;
    key = ((uint32_t)c->dpi.master << 16 | c->dpi.proto) + 1;
    e = &cl->names[(key * 2654435761u) >> 24];
    if (e->key != key) {
        p.master_protocol = c->dpi.master;
        p.app_protocol = c->dpi.proto;
        if (!p.app_protocol) {
            p.app_protocol = p.master_protocol;
            p.master_protocol = 0;
        }
        ndpi_protocol2name(cl->ndpi, p, e->name, (u_int)sizeof(e->name));
        e->key = key;
    }
    if (!n)
        return NULL;
    {
        size_t k = strlen(e->name);
        if (k > n - 1)
            k = n - 1;
        memcpy(buf, e->name, k);
        buf[k] = 0;
    }
    return buf;
}
