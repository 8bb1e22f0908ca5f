/*
 * fileid.c -- size, mtime and head/tail fingerprint of a capture file (see fileid.h).
 */
#include "twscope/fileid.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "twscope/common.h"

static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* Fold n bytes at off into h; -1 on a read error. */
static int fold(int fd, off_t off, size_t n, uint64_t *h)
{
    unsigned char buf[8192];
    while (n > 0) {
        size_t want = n < sizeof buf ? n : sizeof buf;
        ssize_t got = pread(fd, buf, want, off);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return got < 0 ? -1 : 0; /* a file that shrank meanwhile: what is there */
        *h = fnv1a(*h, buf, (size_t)got);
        off += got;
        n -= (size_t)got;
    }
    return 0;
}

int fileid_of(const char *path, struct fileid *id, char *err, size_t errlen)
{
    struct stat sb;
    uint64_t h = 0xcbf29ce484222325ULL;
    int fd;

    memset(id, 0, sizeof(*id));
    if (strcmp(path, "-") == 0)
        return TW_OK;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &sb) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return TW_ERR_IO;
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return TW_OK; /* a pipe or device: nothing to recognise it by */
    }
    id->size = (uint64_t)sb.st_size;
    id->mtime = (double)sb.st_mtim.tv_sec + sb.st_mtim.tv_nsec / 1e9;
    h = fnv1a(h, (const unsigned char *)&id->size, sizeof(id->size));
    if (fold(fd, 0, id->size < FILEID_SPAN ? (size_t)id->size : FILEID_SPAN, &h) ||
        (id->size > FILEID_SPAN &&
         fold(fd, (off_t)(id->size > 2 * FILEID_SPAN ? id->size - FILEID_SPAN : FILEID_SPAN),
              id->size > 2 * FILEID_SPAN ? FILEID_SPAN : (size_t)(id->size - FILEID_SPAN), &h))) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        close(fd);
        return TW_ERR_IO;
    }
    close(fd);
    snprintf(id->fingerprint, sizeof(id->fingerprint), "%016llx", (unsigned long long)h);
    id->known = 1;
    return TW_OK;
}
