/*
 * outfile.c -- may an output replace what has its name (see outfile.h).
 */
#include "twscope/outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "twscope/common.h"

int outfile_check(const char *path, int (*ours)(const uint8_t *head, size_t n), const char *what,
                  char *why, size_t whylen)
{
    uint8_t head[OUTFILE_HEAD];
    struct stat sb;
    ssize_t n;
    int fd;

    if (lstat(path, &sb) != 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(why, whylen, "cannot write: %s", strerror(errno));
        return TW_ERR_IO;
    }
    if (S_ISDIR(sb.st_mode)) {
        snprintf(why, whylen, "is a directory");
        return TW_ERR_IO;
    }
    if (S_ISLNK(sb.st_mode)) {
        snprintf(why, whylen, "is a symbolic link");
        return TW_ERR_IO;
    }
    if (!S_ISREG(sb.st_mode)) {
        snprintf(why, whylen, "is not a regular file");
        return TW_ERR_IO;
    }
    if (sb.st_size == 0)
        return 0;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
    if (fd < 0) {
        snprintf(why, whylen, "cannot read what is there: %s", strerror(errno));
        return TW_ERR_IO;
    }
    n = read(fd, head, sizeof head);
    close(fd);
    if (n > 0 && ours(head, (size_t)n))
        return 0;
    snprintf(why, whylen, "exists and is not %s", what);
    return TW_ERR_IO;
}
