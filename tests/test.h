/*
 * test.h -- minimal unit-test helpers (Suricata FAIL_IF/PASS style).
 * A test is `static int test_x(void)` returning 0 on pass; RUN() runs it and
 * counts failures; main returns the failure count (0 = CTest pass).
 */
#ifndef TWSCOPE_TEST_H
#define TWSCOPE_TEST_H

#include <stdio.h>

#define FAIL_IF(cond)                                                                  \
    do {                                                                               \
        if (cond) {                                                                    \
            fprintf(stderr, "%s:%d: FAIL_IF(%s)\n", __FILE__, __LINE__, #cond);        \
            return 1;                                                                  \
        }                                                                              \
    } while (0)
#define FAIL_UNLESS(cond) FAIL_IF(!(cond))
#define PASS return 0

static int test_failures;
#define RUN(fn)                                                                        \
    do {                                                                               \
        if (fn()) {                                                                    \
            fprintf(stderr, "not ok - %s\n", #fn);                                     \
            test_failures++;                                                           \
        } else {                                                                       \
            printf("ok - %s\n", #fn);                                                  \
        }                                                                              \
    } while (0)
#define TEST_EXIT() return test_failures ? 1 : 0

#endif /* TWSCOPE_TEST_H */
