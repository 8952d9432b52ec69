/*
 * threads.c: one ScriptlessModel shared by many threads at once.
 *
 * Loads weights/sequence.safetensors once, computes the outputs of 8 different deterministic
 * inputs one after another, then runs 8 threads at once on the same model handle, each running
 * its input 50 times (scriptless_model_forward, scriptless_model_forward_into and
 * scriptless_model_forward_many in turn), and checks that every result is bit-identical to the
 * sequential one. Also checks that scriptless_last_error() is per thread: a thread that makes
 * failing calls sees its own message, and a thread that never failed sees NULL while others
 * fail around it.
 *
 * Build and run from the repository root (weights/ is read relative to it):
 *   cc -std=c11 -Wall -Wextra -Werror -g -fsanitize=address,undefined -fno-sanitize-recover=all \
 *      -fno-omit-frame-pointer -pthread -I capi/include capi/tests/c/threads.c -o /tmp/threads \
 *      -L target/release -lscriptless -Wl,-rpath,$PWD/target/release -lpthread
 *   ASAN_OPTIONS=detect_leaks=1 /tmp/threads
 *
 * Exits 0 on success, 1 with a message otherwise.
 */

#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scriptless.h"

#define NUM_INPUTS 8
#define NUM_THREADS 8
#define ITERATIONS 50
#define F 10

/* One deterministic input and the output the sequential run gave for it. */
struct Case {
    size_t b, t;
    size_t padded_shape[3];
    size_t lengths_shape[1];
    float *padded;
    int64_t *lengths;
    ScriptlessInput inputs[2];
    /* The reference output. */
    size_t rank;
    size_t shape[SCRIPTLESS_MAX_RANK];
    size_t len;
    float *out;
};

static struct Case cases[NUM_INPUTS];
static ScriptlessModel *model;

/* Deterministic values in [-1, 1) from an integer hash (xorshift32). */
static void fill(float *p, size_t n, unsigned seed) {
    uint32_t x = 2463534242u ^ (seed * 2654435761u + 12345u);
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (float)((double)(x >> 8) / (double)(1u << 23)) - 1.0f;
    }
}

static int setup_case(struct Case *c, unsigned k) {
    c->b = 2 + k % 3;     /* 2..4 rows */
    c->t = 4 + k % 4;     /* 4..7 steps */
    if (k == 0) {         /* the seed's batch */
        c->b = 3;
        c->t = 7;
    }
    c->padded_shape[0] = c->b;
    c->padded_shape[1] = c->t;
    c->padded_shape[2] = F;
    c->lengths_shape[0] = c->b;
    c->padded = malloc(c->b * c->t * F * sizeof(float));
    c->lengths = malloc(c->b * sizeof(int64_t));
    if (!c->padded || !c->lengths) {
        return -1;
    }
    fill(c->padded, c->b * c->t * F, k + 1);
    for (size_t i = 0; i < c->b; i++) {
        /* Lengths in 1..=T, varying per input and row; the seed's 5, 3, 7 for input 0. Every
         * other row is full length: with the seed's pooling (the padded batch's last step) only
         * those rows' outputs come from the LSTM, the others are `linear.bias`. */
        c->lengths[i] = i % 2 == 1 ? (int64_t)c->t : (int64_t)(1 + (k * 5 + i * 3 + 4) % c->t);
    }
    if (k == 0) {
        c->lengths[0] = 5;
        c->lengths[1] = 3;
        c->lengths[2] = 7;
    }
    c->inputs[0].name = "padded_seq";
    c->inputs[0].dtype = SCRIPTLESS_DTYPE_F32;
    c->inputs[0].rank = 3;
    c->inputs[0].shape = c->padded_shape;
    c->inputs[0].data = c->padded;
    c->inputs[1].name = "seq_lengths";
    c->inputs[1].dtype = SCRIPTLESS_DTYPE_I64;
    c->inputs[1].rank = 1;
    c->inputs[1].shape = c->lengths_shape;
    c->inputs[1].data = c->lengths;
    return 0;
}

/* Whether `view` holds exactly case `c`'s reference output. */
static int same_as_reference(const struct Case *c, const ScriptlessTensorView *view) {
    return view->dtype == SCRIPTLESS_DTYPE_F32 && view->rank == c->rank && view->len == c->len &&
           memcmp(view->shape, c->shape, c->rank * sizeof(size_t)) == 0 &&
           memcmp(view->data, c->out, c->len * sizeof(float)) == 0;
}

/* ------------------------------------------------------------------------------------------ */

struct Worker {
    int id;
    /* Odd workers make failing calls now and then and check they see their own message; even
     * workers never fail and must always see NULL. */
    int fails_on_purpose;
    pthread_t thread;
    int runs;
    int mismatches;
    char error[1024]; /* the first thing that went wrong, if anything */
};

static pthread_barrier_t start_barrier;

static void worker_error(struct Worker *w, const char *what, const char *detail) {
    if (w->error[0] == '\0') {
        snprintf(w->error, sizeof w->error, "thread %d: %s%s%s", w->id, what, detail ? ": " : "",
                 detail ? detail : "");
    }
}

/* Checks this thread's last error: NULL for a thread that never failed, else its own marker. */
static void check_own_last_error(struct Worker *w, const char *when) {
    const char *e = scriptless_last_error();
    char marker[64];
    snprintf(marker, sizeof marker, "no-such-dir/thread-%d.safetensors", w->id);
    if (!w->fails_on_purpose) {
        if (e != NULL) {
            char detail[600];
            snprintf(detail, sizeof detail, "%s: sees another thread's error: %s", when, e);
            worker_error(w, "last_error is not NULL in a thread that never failed", detail);
        }
    } else if (e == NULL || strstr(e, marker) == NULL) {
        char detail[600];
        snprintf(detail, sizeof detail, "%s: expected its own message naming %s, got %s", when, marker,
                 e ? e : "(NULL)");
        worker_error(w, "last_error is not this thread's", detail);
    }
}

static void fail_on_purpose(struct Worker *w) {
    char path[64];
    snprintf(path, sizeof path, "no-such-dir/thread-%d.safetensors", w->id);
    ScriptlessModel *m = NULL;
    ScriptlessStatus st = scriptless_model_load(path, NULL, &m);
    if (st != SCRIPTLESS_ERROR_IO || m != NULL) {
        worker_error(w, "loading a missing file did not fail with SCRIPTLESS_ERROR_IO",
                     scriptless_status_name(st));
        scriptless_model_destroy(&m);
    }
}

static void *worker_main(void *arg) {
    struct Worker *w = arg;
    const struct Case *c = &cases[w->id % NUM_INPUTS];
    const struct Case *next = &cases[(w->id + 1) % NUM_INPUTS];
    float *buf = malloc((c->len + 1) * sizeof(float));
    if (!buf) {
        worker_error(w, "out of memory", NULL);
        return NULL;
    }

    if (scriptless_last_error() != NULL) {
        worker_error(w, "a new thread's last_error is not NULL", scriptless_last_error());
    }
    pthread_barrier_wait(&start_barrier);

    for (int i = 0; i < ITERATIONS; i++) {
        if (w->fails_on_purpose && i % 10 == 0) {
            fail_on_purpose(w);
        }
        int mode = i % 5;
        if (mode == 0 || mode == 2) {
            ScriptlessTensor *out = NULL;
            ScriptlessTensorView view;
            ScriptlessStatus st = scriptless_model_forward(model, c->inputs, 2, &out);
            if (st != SCRIPTLESS_OK || scriptless_tensor_view(out, &view) != SCRIPTLESS_OK) {
                worker_error(w, "forward failed", scriptless_last_error());
            } else if (!same_as_reference(c, &view)) {
                w->mismatches++;
                worker_error(w, "forward output differs from the sequential one", NULL);
            }
            scriptless_tensor_destroy(&out);
        } else if (mode == 1 || mode == 3) {
            size_t len = 0;
            /* A sentinel past the end: forward_into must not write beyond `capacity`. */
            buf[c->len] = 12345.0f;
            ScriptlessStatus st =
                scriptless_model_forward_into(model, c->inputs, 2, SCRIPTLESS_DTYPE_F32, buf, c->len, &len);
            if (st != SCRIPTLESS_OK) {
                worker_error(w, "forward_into failed", scriptless_last_error());
            } else if (len != c->len || memcmp(buf, c->out, c->len * sizeof(float)) != 0) {
                w->mismatches++;
                worker_error(w, "forward_into output differs from the sequential one", NULL);
            } else if (buf[c->len] != 12345.0f) {
                worker_error(w, "forward_into wrote past its capacity", NULL);
            }
        } else {
            /* forward_many with this thread's input and the next one's: shapes may differ. */
            ScriptlessRequest reqs[2];
            memset(reqs, 0, sizeof reqs);
            reqs[0].inputs = c->inputs;
            reqs[0].num_inputs = 2;
            reqs[1].inputs = next->inputs;
            reqs[1].num_inputs = 2;
            ScriptlessStatus st = scriptless_model_forward_many(model, reqs, 2);
            if (st != SCRIPTLESS_OK) {
                worker_error(w, "forward_many failed", scriptless_last_error());
            } else {
                const struct Case *which[2] = {c, next};
                for (int r = 0; r < 2; r++) {
                    ScriptlessTensorView view;
                    if (reqs[r].status != SCRIPTLESS_OK || reqs[r].error != NULL ||
                        scriptless_tensor_view(reqs[r].output, &view) != SCRIPTLESS_OK) {
                        worker_error(w, "forward_many request failed", reqs[r].error);
                    } else if (!same_as_reference(which[r], &view)) {
                        w->mismatches++;
                        worker_error(w, "forward_many output differs from the sequential forward", NULL);
                    }
                }
            }
            scriptless_tensor_destroy(&reqs[0].output);
            scriptless_tensor_destroy(&reqs[1].output);
        }
        w->runs++;
        if (i % 10 == 5) {
            check_own_last_error(w, "mid-run");
        }
    }
    check_own_last_error(w, "at the end");
    free(buf);
    return NULL;
}

/* ------------------------------------------------------------------------------------------ */

/* The strict per-thread check: thread A fails and stays alive while thread B, which never
 * failed, reads its last error; then A reads its own again. */
struct Pair {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int a_failed;
    int b_checked;
    char a_message[512];
    const char *b_saw;
    int b_saw_null;
    int a_still_own;
};

static void *pair_a(void *arg) {
    struct Pair *p = arg;
    ScriptlessModel *m = NULL;
    scriptless_model_load("no-such-dir/pair-a.safetensors", NULL, &m);
    const char *e = scriptless_last_error();
    pthread_mutex_lock(&p->mu);
    snprintf(p->a_message, sizeof p->a_message, "%s", e ? e : "(NULL)");
    p->a_failed = 1;
    pthread_cond_broadcast(&p->cv);
    while (!p->b_checked) {
        pthread_cond_wait(&p->cv, &p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    e = scriptless_last_error();
    p->a_still_own = e != NULL && strstr(e, "pair-a.safetensors") != NULL;
    return NULL;
}

static void *pair_b(void *arg) {
    struct Pair *p = arg;
    size_t count = 0;
    pthread_mutex_lock(&p->mu);
    while (!p->a_failed) {
        pthread_cond_wait(&p->cv, &p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    /* A successful call first: it must not set the last error either. */
    scriptless_model_input_count(model, &count);
    const char *e = scriptless_last_error();
    pthread_mutex_lock(&p->mu);
    p->b_saw_null = e == NULL;
    p->b_saw = e;
    p->b_checked = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static int pair_check(void) {
    struct Pair p;
    memset(&p, 0, sizeof p);
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    pthread_t a, b;
    int ok = 1;
    if (pthread_create(&a, NULL, pair_a, &p) != 0) {
        fprintf(stderr, "FAIL: pthread_create\n");
        return 0;
    }
    if (pthread_create(&b, NULL, pair_b, &p) != 0) {
        fprintf(stderr, "FAIL: pthread_create\n");
        pthread_join(a, NULL);
        return 0;
    }
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    if (strstr(p.a_message, "pair-a.safetensors") == NULL) {
        fprintf(stderr, "FAIL last_error per thread: the failing thread saw `%s`\n", p.a_message);
        ok = 0;
    }
    if (!p.b_saw_null) {
        fprintf(stderr, "FAIL last_error per thread: a thread that never failed saw a message (%p) while "
                        "another thread had failed\n", (const void *)p.b_saw);
        ok = 0;
    }
    if (!p.a_still_own) {
        fprintf(stderr, "FAIL last_error per thread: the failing thread lost its message\n");
        ok = 0;
    }
    if (ok) {
        printf("ok   last_error per thread: thread A saw `%s`; thread B, which never failed, saw NULL\n",
               p.a_message);
    }
    pthread_cond_destroy(&p.cv);
    pthread_mutex_destroy(&p.mu);
    return ok;
}

/* ------------------------------------------------------------------------------------------ */

static void cleanup(void) {
    for (int k = 0; k < NUM_INPUTS; k++) {
        free(cases[k].padded);
        free(cases[k].lengths);
        free(cases[k].out);
    }
    scriptless_model_destroy(&model);
}

int main(void) {
    int ok = 1;
    if (scriptless_last_error() != NULL) {
        fprintf(stderr, "FAIL: the main thread's last_error is not NULL before any call\n");
        return 1;
    }
    if (scriptless_model_load("weights/sequence.safetensors", NULL, &model) != SCRIPTLESS_OK) {
        fprintf(stderr, "FAIL: loading weights/sequence.safetensors: %s\n", scriptless_last_error());
        return 1;
    }

    /* The sequential reference outputs. */
    for (int k = 0; k < NUM_INPUTS; k++) {
        struct Case *c = &cases[k];
        ScriptlessTensor *out = NULL;
        ScriptlessTensorView view;
        if (setup_case(c, (unsigned)k) != 0) {
            fprintf(stderr, "FAIL: out of memory\n");
            cleanup();
            return 1;
        }
        if (scriptless_model_forward(model, c->inputs, 2, &out) != SCRIPTLESS_OK ||
            scriptless_tensor_view(out, &view) != SCRIPTLESS_OK) {
            fprintf(stderr, "FAIL: sequential forward of input %d: %s\n", k, scriptless_last_error());
            scriptless_tensor_destroy(&out);
            cleanup();
            return 1;
        }
        c->rank = view.rank;
        memcpy(c->shape, view.shape, view.rank * sizeof(size_t));
        c->len = view.len;
        c->out = malloc(view.len * sizeof(float));
        if (!c->out || view.dtype != SCRIPTLESS_DTYPE_F32 || view.rank != 2 || view.shape[0] != c->b) {
            fprintf(stderr, "FAIL: input %d: unexpected output (dtype %u, rank %zu)\n", k, (unsigned)view.dtype,
                    view.rank);
            scriptless_tensor_destroy(&out);
            cleanup();
            return 1;
        }
        memcpy(c->out, view.data, view.len * sizeof(float));
        scriptless_tensor_destroy(&out);
        printf("ok   sequential input %d: B=%zu T=%zu lengths", k, c->b, c->t);
        for (size_t i = 0; i < c->b; i++) {
            printf(" %lld", (long long)c->lengths[i]);
        }
        printf(" -> (%zu, %zu), out[0] = %.6f\n", c->shape[0], c->shape[1], (double)c->out[0]);
    }
    /* Distinct inputs give distinct outputs (else the comparison below would prove little). */
    for (int k = 1; k < NUM_INPUTS; k++) {
        if (cases[k].len == cases[0].len && memcmp(cases[k].out, cases[0].out, cases[0].len * sizeof(float)) == 0) {
            fprintf(stderr, "FAIL: input %d gives the same output as input 0\n", k);
            ok = 0;
        }
    }

    /* The main thread fails on purpose: no worker may see this message. */
    {
        ScriptlessModel *m = NULL;
        scriptless_model_load("no-such-dir/main-thread.safetensors", NULL, &m);
        if (scriptless_last_error() == NULL || strstr(scriptless_last_error(), "main-thread") == NULL) {
            fprintf(stderr, "FAIL: the main thread's failing call left no message\n");
            ok = 0;
        }
    }

    /* 8 threads at once on the same model. */
    struct Worker workers[NUM_THREADS];
    memset(workers, 0, sizeof workers);
    pthread_barrier_init(&start_barrier, NULL, NUM_THREADS);
    int started = 0;
    for (int i = 0; i < NUM_THREADS; i++) {
        workers[i].id = i;
        workers[i].fails_on_purpose = i % 2;
        if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0) {
            fprintf(stderr, "FAIL: pthread_create %d\n", i);
            ok = 0;
            break;
        }
        started++;
    }
    if (started < NUM_THREADS) {
        /* The barrier would never open: this is fatal. */
        fprintf(stderr, "FAIL: could not start every thread\n");
        return 1;
    }
    for (int i = 0; i < NUM_THREADS; i++) {
        pthread_join(workers[i].thread, NULL);
    }
    pthread_barrier_destroy(&start_barrier);
    int total = 0;
    for (int i = 0; i < NUM_THREADS; i++) {
        total += workers[i].runs;
        if (workers[i].error[0] != '\0' || workers[i].runs != ITERATIONS) {
            fprintf(stderr, "FAIL %s (%d runs, %d mismatches)\n",
                    workers[i].error[0] ? workers[i].error : "did not finish", workers[i].runs,
                    workers[i].mismatches);
            ok = 0;
        } else {
            printf("ok   thread %d: %d runs of input %d bit-identical to the sequential output%s\n", i,
                   workers[i].runs, i % NUM_INPUTS,
                   workers[i].fails_on_purpose ? "; saw only its own errors" : "; last_error stayed NULL");
        }
    }

    /* The main thread still sees its own message, untouched by the workers. */
    const char *e = scriptless_last_error();
    if (e == NULL || strstr(e, "main-thread") == NULL) {
        fprintf(stderr, "FAIL: the main thread's last_error changed while other threads ran: %s\n",
                e ? e : "(NULL)");
        ok = 0;
    } else {
        printf("ok   main thread's last_error unchanged: %s\n", e);
    }

    if (!pair_check()) {
        ok = 0;
    }

    cleanup();
    if (!ok) {
        fprintf(stderr, "threads: FAILED\n");
        return 1;
    }
    printf("threads: ok, %d threads x %d runs (%d forward calls) on one model, all bit-identical\n", NUM_THREADS,
           ITERATIONS, total);
    return 0;
}
