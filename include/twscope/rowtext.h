/*
 * rowtext.h -- what the analysis decided, in words: a TIME_WAIT verdict as the
 * keys and values of the JSON object stored in findings.detail, an address as text, why a TIME_WAIT
 * profile was used. Called by the writer thread (writer.c), so that the
 * analysis thread formats no text; pure functions of their arguments.
 */
#ifndef TWSCOPE_ROWTEXT_H
#define TWSCOPE_ROWTEXT_H

#include <stddef.h>
#include <stdint.h>

#include "twscope/store.h"
#include "twscope/timewait.h"

/* Longest address text, with its NUL (INET6_ADDRSTRLEN). */
#define ROWTEXT_ADDR_MAX 46
/* Longest profile reason, with its NUL. */
#define ROWTEXT_PROFILE_MAX 160

/*
 * v's detail object as typed keys into kv (STORE_MAX_KV entries): the store
 * makes the JSON with json_object(). Returns the number of keys, or -1 for a
 * verdict of no known kind.
 */
int rowtext_finding(const struct tw_verdict *v, struct store_kv *kv);

/* IPv4 (4 bytes) or IPv6 (16 bytes) address a as text; buf has ROWTEXT_ADDR_MAX bytes. */
void rowtext_addr(const uint8_t *a, int ip_version, char *buf);

/* Why w's profile was used ("option", or what auto saw), into buf (n bytes). */
void rowtext_profile(const struct tw_profile_seen *w, char *buf, size_t n);

#endif /* TWSCOPE_ROWTEXT_H */
