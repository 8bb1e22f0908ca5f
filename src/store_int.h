/*
 * store_int.h -- what store.c and store_file.c share (not public).
 */
#ifndef TWSCOPE_STORE_INT_H
#define TWSCOPE_STORE_INT_H

#include <stddef.h>

#include <sqlite3.h>

/* printf into err (errlen bytes); nothing when err is NULL. */
void store_set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * The writer connection to path: an existing twscope database (emptied when
 * overwrite), or a new one made of a missing or empty file; anything else is
 * refused with err set and left as it was. Returns 0 or a TW_ERR_*.
 */
int store_file_open_write(const char *path, int overwrite, sqlite3 **out, char *err,
                          size_t errlen);

/* A "file:" URI for path (SQLITE_OPEN_URI) with the given query; sqlite3_free() it. */
char *store_file_uri(const char *path, const char *query);

/* 1 if PATH-wal exists with content (a writer at work, or one killed midway). */
int store_file_wal_has_data(const char *path);

/* Build the indexes a finished capture has (store.c). A SQLite result code. */
int store_build_indexes(sqlite3 *db);

#endif /* TWSCOPE_STORE_INT_H */
