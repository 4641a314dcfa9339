/* Check macros shared by the C test files: each file defines its own `static int failures`
 * before including this header, and each fc_test_* function returns that count. */
#ifndef FC_CHECK_H
#define FC_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#include "facecore.h"

#define CHECK(cond)                                                                           \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            const char *m_ = facecore_last_error_message();                                  \
            fprintf(stderr, "%s:%d: CHECK(%s) failed; last error: %s\n", __FILE__, __LINE__, \
                    #cond, m_ ? m_ : "(none)");                                               \
            failures++;                                                                       \
        }                                                                                     \
    } while (0)

/* A failed call returns `status` and leaves a message. */
#define CHECK_STATUS(call, status)                                                            \
    do {                                                                                      \
        facecore_status s_ = (call);                                                          \
        if (s_ != (status)) {                                                                 \
            const char *m_ = facecore_last_error_message();                                  \
            fprintf(stderr, "%s:%d: %s returned %d, expected %d (%s); last error: %s\n",      \
                    __FILE__, __LINE__, #call, (int)s_, (int)(status), #status,               \
                    m_ ? m_ : "(none)");                                                      \
            failures++;                                                                       \
        } else if ((status) != FACECORE_STATUS_OK && facecore_last_error_message() == NULL) { \
            fprintf(stderr, "%s:%d: %s gave no message\n", __FILE__, __LINE__, #call);        \
            failures++;                                                                       \
        }                                                                                     \
    } while (0)

#define OK(call) CHECK_STATUS(call, FACECORE_STATUS_OK)

/* The whole file at `path` (malloc'd, *len bytes), or NULL. */
static inline unsigned char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

#endif
