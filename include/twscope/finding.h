/*
 * finding.h -- a TIME_WAIT engine verdict (timewait.h) in words: the JSON
 * object stored in findings.detail. Called by the writer thread, so that the
 * analysis thread never formats text; pure function of the verdict.
 */
#ifndef TWSCOPE_FINDING_H
#define TWSCOPE_FINDING_H

#include <stddef.h>

#include "twscope/timewait.h"

/* Longest detail text finding_detail() writes, with its NUL. */
#define FINDING_DETAIL_MAX 640

/*
 * Write v's detail as a JSON object into buf (n bytes, FINDING_DETAIL_MAX is
 * always enough). Returns its length, or -1 for a verdict of no known kind.
 */
int finding_detail(const struct tw_verdict *v, char *buf, size_t n);

#endif /* TWSCOPE_FINDING_H */
