/*
 * outfile.h -- what a file the user names as an output may replace (issue
 * 16: nothing lost that is not ours). An output is written to a temporary
 * file beside it and renamed over the name at the end; before that, the name
 * must be free, an empty regular file, or a file twscope wrote, as the
 * caller's test of its first bytes says (an HTML report's marker line, a
 * pcapng section header of ours). A directory, a symbolic link, a FIFO, a
 * device or anyone else's file is left as it is. Databases have their own,
 * stricter test (store_file.c: application_id, schema, tables).
 *
 * Thread: the main thread, before anything is written.
 */
#ifndef TWSCOPE_OUTFILE_H
#define TWSCOPE_OUTFILE_H

#include <stddef.h>
#include <stdint.h>

#define OUTFILE_HEAD 4096              /* bytes of an existing file given to ours() */

/*
 * 0 if path may be replaced: it does not exist, is an empty regular file, or
 * ours(head, n) says its first n <= OUTFILE_HEAD bytes are ours. Otherwise
 * TW_ERR_IO and why gets the reason ("is a directory", "is a symbolic link",
 * "is not a regular file", "exists and is not " what, or why it could not be
 * read), to be printed after the path.
 */
int outfile_check(const char *path, int (*ours)(const uint8_t *head, size_t n), const char *what,
                  char *why, size_t whylen);

#endif
