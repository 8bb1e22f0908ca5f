/*
 * fileid.h -- what identifies a capture file between runs: its size, its
 * modification time and a fingerprint of its content (FNV-1a 64 over its
 * size, its first and its last FILEID_SPAN bytes). Stored in the database's
 * files table at analysis time, so that the same file analyzed twice into one
 * database is noticed (a copy under another name too), and later tools can
 * tell that a file changed since. The fingerprint reads at most 2 *
 * FILEID_SPAN bytes whatever the size: it is no content hash, and two files
 * that differ only in their middle look the same.
 *
 * Thread: the main thread, before the analysis starts.
 */
#ifndef TWSCOPE_FILEID_H
#define TWSCOPE_FILEID_H

#include <stddef.h>
#include <stdint.h>

#define FILEID_SPAN 65536              /* bytes read at each end */

struct fileid {
    int known;                         /* 0 for standard input or a non-regular file */
    uint64_t size;
    double mtime;                      /* seconds since the epoch */
    char fingerprint[17];              /* 16 hex digits */
};

/* Fill id for path ("-": standard input, not known). Returns 0 or TW_ERR_IO with err set. */
int fileid_of(const char *path, struct fileid *id, char *err, size_t errlen);

#endif /* TWSCOPE_FILEID_H */
