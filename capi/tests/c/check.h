/*
 * check.h: the checks the C API's test programs share (bad_inputs.c, any_model.c). Each case
 * prints `ok   <case>: <message>` or `FAIL <case>: ...`; `n_ok` and `n_fail` count them.
 * `prime()` sets the last error to a marker before a case, so that a stale message cannot pass
 * for the message of the call under test. `read_file` reads a whole file, for the loads from
 * memory.
 */

#ifndef SCRIPTLESS_TEST_CHECK_H
#define SCRIPTLESS_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scriptless.h"

static int n_ok;
static int n_fail;

/* A marker the last error is set to before each case, so that a stale message from an earlier
 * call cannot pass for the message of the call under test. */
#define PRIME_PATH "@@prime@@/no-such-weights"

static inline void prime(void) {
    ScriptlessModel *m = NULL;
    ScriptlessStatus st = scriptless_model_load(PRIME_PATH, NULL, &m);
    if (st == SCRIPTLESS_OK) {
        scriptless_model_destroy(&m);
    }
}

static inline const char *last_error_or(const char *fallback) {
    const char *e = scriptless_last_error();
    return e ? e : fallback;
}

static inline void fail(const char *name, const char *fmt, const char *a, const char *b) {
    n_fail++;
    printf("FAIL %s: ", name);
    printf(fmt, a, b);
    printf("\n");
}

/* Checks a call that must fail with `want` and a fresh, non-empty message containing each of
 * the non-NULL needles. */
static inline void check_err(const char *name, ScriptlessStatus got, ScriptlessStatus want,
                      const char *needle, const char *needle2) {
    const char *msg = scriptless_last_error();
    char buf[512];
    if (got != want) {
        snprintf(buf, sizeof buf, "%s (%d)", scriptless_status_name(got), (int)got);
        fail(name, "expected %s, got %s", scriptless_status_name(want), buf);
        if (got != SCRIPTLESS_OK) {
            printf("     message: %s\n", msg ? msg : "(NULL)");
        }
        return;
    }
    if (msg == NULL || msg[0] == '\0') {
        fail(name, "%s with %s", scriptless_status_name(got), msg ? "an empty message" : "a NULL message");
        return;
    }
    if (strstr(msg, "@@prime@@") != NULL) {
        fail(name, "%s but the last error was not set by the call (still: %s)",
             scriptless_status_name(got), msg);
        return;
    }
    if (needle && strstr(msg, needle) == NULL) {
        fail(name, "message does not name `%s`: %s", needle, msg);
        return;
    }
    if (needle2 && strstr(msg, needle2) == NULL) {
        fail(name, "message does not contain `%s`: %s", needle2, msg);
        return;
    }
    n_ok++;
    printf("ok   %s: [%s] %s\n", name, scriptless_status_name(got), msg);
}

static inline void check_ok(const char *name, ScriptlessStatus got) {
    if (got != SCRIPTLESS_OK) {
        fail(name, "expected SCRIPTLESS_OK, got %s: %s", scriptless_status_name(got),
             last_error_or("(NULL)"));
        return;
    }
    n_ok++;
    printf("ok   %s: SCRIPTLESS_OK\n", name);
}

static inline void check_true(const char *name, int cond, const char *what) {
    if (!cond) {
        fail(name, "%s%s", what, "");
        return;
    }
    n_ok++;
    printf("ok   %s: %s\n", name, what);
}

#define EXPECT(name, want, needle, call)                       \
    do {                                                       \
        prime();                                               \
        ScriptlessStatus st_ = (call);                         \
        check_err((name), st_, (want), (needle), NULL);        \
    } while (0)

#define EXPECT2(name, want, needle, needle2, call)             \
    do {                                                       \
        prime();                                               \
        ScriptlessStatus st_ = (call);                         \
        check_err((name), st_, (want), (needle), (needle2));   \
    } while (0)

#define EXPECT_OK(name, call) check_ok((name), (call))

/* The bytes of the file at `path` (freed by the caller), their count in `*len`; NULL where it
 * cannot be read. */
static inline unsigned char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        return NULL;
    }
    unsigned char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 65536;
            unsigned char *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
            cap = ncap;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) {
            break;
        }
    }
    fclose(f);
    *len = n;
    return buf;
}

#endif
