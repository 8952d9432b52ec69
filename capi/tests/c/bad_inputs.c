/*
 * bad_inputs.c: feeds the scriptless C API bad inputs and checks that each one is refused with
 * the right status and a message naming the thing at fault, and that nothing crashes or leaks.
 *
 * Build and run from the repository root (weights/ is read relative to it):
 *   cc -std=c11 -Wall -Wextra -Werror -g -fsanitize=address,undefined -fno-sanitize-recover=all \
 *      -fno-omit-frame-pointer -I capi/include capi/tests/c/bad_inputs.c -o /tmp/bad_inputs \
 *      -L target/release -lscriptless -Wl,-rpath,$PWD/target/release -lpthread
 *   ASAN_OPTIONS=detect_leaks=1 /tmp/bad_inputs
 *
 * Prints `ok   <case>: <message>` per case, `FAIL <case>: ...` for a case that misbehaved, and a
 * summary; exits 0 only when every case behaved.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scriptless.h"

#define B 3
#define T 7
#define F 10
#define OUT 10

#include "check.h"

/* ------------------------------------------------------------------------------------------ */

static int sentinel_target;
#define SENTINEL_MODEL ((ScriptlessModel *)(void *)&sentinel_target)
#define SENTINEL_TENSOR ((ScriptlessTensor *)(void *)&sentinel_target)

/* Loads weights that must fail with `want`; checks that `*model` comes back NULL. */
static void expect_load_fails(const char *name, const char *path, const ScriptlessLoadOptions *opts,
                              ScriptlessStatus want, const char *needle) {
    ScriptlessModel *m = SENTINEL_MODEL;
    prime();
    ScriptlessStatus st = scriptless_model_load(path, opts, &m);
    check_err(name, st, want, needle, NULL);
    if (m == SENTINEL_MODEL) {
        fail(name, "%s%s", "*model was not set to NULL", "");
    } else if (m != NULL) {
        fail(name, "%s%s", "*model is not NULL after a failed load", "");
        scriptless_model_destroy(&m);
    }
}

static void expect_mem_load_fails(const char *name, const void *data, size_t len,
                                  const ScriptlessLoadOptions *opts, ScriptlessStatus want,
                                  const char *needle) {
    ScriptlessModel *m = SENTINEL_MODEL;
    prime();
    ScriptlessStatus st = scriptless_model_load_from_memory(data, len, opts, &m);
    check_err(name, st, want, needle, NULL);
    if (m == SENTINEL_MODEL) {
        fail(name, "%s%s", "*model was not set to NULL", "");
    } else if (m != NULL) {
        fail(name, "%s%s", "*model is not NULL after a failed load", "");
        scriptless_model_destroy(&m);
    }
}


/* Runs a forward call that must fail with `want`; checks that `*output` comes back NULL. */
static void expect_forward_fails(const char *name, const ScriptlessModel *model,
                                 const ScriptlessInput *inputs, size_t n, ScriptlessStatus want,
                                 const char *needle, const char *needle2) {
    ScriptlessTensor *out = SENTINEL_TENSOR;
    prime();
    ScriptlessStatus st = scriptless_model_forward(model, inputs, n, &out);
    check_err(name, st, want, needle, needle2);
    if (out == SENTINEL_TENSOR) {
        fail(name, "%s%s", "*output was not set to NULL", "");
    } else if (out != NULL) {
        fail(name, "%s%s", "*output is not NULL after a failed forward", "");
        scriptless_tensor_destroy(&out);
    }
}

/* output_shape on misshapen inputs: must fail with SCRIPTLESS_ERROR_INPUT naming `needle`. */
static void expect_output_shape_fails(const char *name, const ScriptlessModel *model,
                                      const ScriptlessInput *inputs, const char *needle) {
    size_t shape[SCRIPTLESS_MAX_RANK] = {0};
    size_t rank = 0;
    prime();
    ScriptlessStatus st =
        scriptless_model_output_shape(model, inputs, 2, shape, SCRIPTLESS_MAX_RANK, &rank);
    check_err(name, st, SCRIPTLESS_ERROR_INPUT, needle, NULL);
    if (st == SCRIPTLESS_OK) {
        printf("     (it predicted rank %zu, shape (", rank);
        for (size_t i = 0; i < rank && i < SCRIPTLESS_MAX_RANK; i++) {
            printf("%s%zu", i ? ", " : "", shape[i]);
        }
        printf("))\n");
    }
}

static ScriptlessInput mk(const char *name, ScriptlessDType dtype, size_t rank, const size_t *shape,
                          const void *data) {
    ScriptlessInput in;
    in.name = name;
    in.dtype = dtype;
    in.rank = rank;
    in.shape = shape;
    in.data = data;
    return in;
}

/* ------------------------------------------------------------------------------------------ */

static float padded[B * T * F];
static const size_t padded_shape[3] = {B, T, F};
static const int64_t lengths[B] = {5, 3, 7};
static const size_t lengths_shape[1] = {B};

/* Deterministic values in [-1, 1) from a simple integer hash (no libm needed). */
static void fill_padded(float *p, size_t n, unsigned seed) {
    uint32_t x = 2463534242u ^ (seed * 2654435761u);
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (float)((double)(x >> 8) / (double)(1u << 23)) - 1.0f;
    }
}

static void load_cases(void) {
    ScriptlessLoadOptions opts;
    ScriptlessModel *m = NULL;

    /* NULL pointers. */
    EXPECT("load: NULL path", SCRIPTLESS_ERROR_NULL_ARGUMENT, "`path`",
           scriptless_model_load(NULL, NULL, &m));
    EXPECT("load: NULL `model` out pointer", SCRIPTLESS_ERROR_NULL_ARGUMENT, "`model`",
           scriptless_model_load("weights/sequence.safetensors", NULL, NULL));
    EXPECT("load_from_memory: NULL data", SCRIPTLESS_ERROR_NULL_ARGUMENT, "`data`",
           scriptless_model_load_from_memory(NULL, 100, NULL, &m));
    EXPECT("load_from_memory: NULL data, len 0", SCRIPTLESS_ERROR_NULL_ARGUMENT, "`data`",
           scriptless_model_load_from_memory(NULL, 0, NULL, &m));
    {
        static const char junk[] = "junk";
        EXPECT("load_from_memory: NULL `model` out pointer", SCRIPTLESS_ERROR_NULL_ARGUMENT,
               "`model`", scriptless_model_load_from_memory(junk, sizeof junk, NULL, NULL));
    }

    /* NULL options and zeroed options are the defaults, and must succeed. */
    m = NULL;
    EXPECT_OK("load: NULL options = defaults", scriptless_model_load("weights/sequence.safetensors", NULL, &m));
    check_true("load: NULL options gives a model", m != NULL, "*model is set");
    EXPECT_OK("destroy the model", scriptless_model_destroy(&m));
    check_true("destroy sets the handle to NULL", m == NULL, "handle is NULL after destroy");
    memset(&opts, 0, sizeof opts);
    EXPECT_OK("load: zeroed options (NULL device) = defaults",
              scriptless_model_load("weights/sequence.safetensors", &opts, &m));
    scriptless_model_destroy(&m);
    opts.model = SCRIPTLESS_MODEL_SEQUENCE;
    EXPECT_OK("load: .pth with options.model", scriptless_model_load("weights/sequence.pth", &opts, &m));
    scriptless_model_destroy(&m);
    EXPECT_OK("destroy(&NULL handle) is a no-op", scriptless_model_destroy(&m));
    EXPECT("destroy(NULL)", SCRIPTLESS_ERROR_NULL_ARGUMENT, "`model`", scriptless_model_destroy(NULL));

    /* Files. */
    expect_load_fails("load: nonexistent path", "weights/no-such-file.safetensors", NULL,
                      SCRIPTLESS_ERROR_IO, "weights/no-such-file.safetensors");
    expect_load_fails("load: a directory as the path", "weights", NULL, SCRIPTLESS_ERROR_IO, "weights");
    expect_load_fails("load: empty path", "", NULL, SCRIPTLESS_ERROR_IO, "weights file");
    expect_load_fails("load: non-UTF-8 path", "weights/\xff\xfe.safetensors", NULL,
                      SCRIPTLESS_ERROR_INVALID_ARGUMENT, "`path`");

    /* Bad option values. */
    memset(&opts, 0, sizeof opts);
    opts.model = 42;
    expect_load_fails("options.model = 42", "weights/sequence.safetensors", &opts,
                      SCRIPTLESS_ERROR_INVALID_ARGUMENT, "options.model");
    memset(&opts, 0, sizeof opts);
    opts.dtype = SCRIPTLESS_DTYPE_I64;
    expect_load_fails("options.dtype = SCRIPTLESS_DTYPE_I64", "weights/sequence.safetensors", &opts,
                      SCRIPTLESS_ERROR_INVALID_ARGUMENT, "options.dtype");
    memset(&opts, 0, sizeof opts);
    opts.dtype = SCRIPTLESS_DTYPE_I32;
    expect_load_fails("options.dtype = SCRIPTLESS_DTYPE_I32", "weights/sequence.safetensors", &opts,
                      SCRIPTLESS_ERROR_INVALID_ARGUMENT, "options.dtype");
    memset(&opts, 0, sizeof opts);
    opts.dtype = 99;
    expect_load_fails("options.dtype = 99", "weights/sequence.safetensors", &opts,
                      SCRIPTLESS_ERROR_INVALID_ARGUMENT, "options.dtype");
    memset(&opts, 0, sizeof opts);
    opts.pooling = 7;
    expect_load_fails("options.pooling = 7", "weights/sequence.safetensors", &opts,
                      SCRIPTLESS_ERROR_INVALID_ARGUMENT, "options.pooling");
    memset(&opts, 0, sizeof opts);
    opts.pooling = SCRIPTLESS_POOL_LAST_VALID;
    expect_load_fails("options.pooling on the two-input model", "weights/two_input.safetensors", &opts,
                      SCRIPTLESS_ERROR_INVALID_ARGUMENT, "options.pooling");
    memset(&opts, 0, sizeof opts);
    opts.feature_width = 10;
    expect_load_fails("options.feature_width on the sequence model", "weights/sequence.safetensors", &opts,
                      SCRIPTLESS_ERROR_INVALID_ARGUMENT, "options.feature_width");
    memset(&opts, 0, sizeof opts);
    opts.feature_width = 12;
    expect_load_fails("options.feature_width contradicting the metadata", "weights/categorical.safetensors",
                      &opts, SCRIPTLESS_ERROR_WEIGHTS, "feature_width");
    memset(&opts, 0, sizeof opts);
    opts.model = SCRIPTLESS_MODEL_TWO_INPUT;
    expect_load_fails("options.model contradicting the weights (safetensors)", "weights/sequence.safetensors",
                      &opts, SCRIPTLESS_ERROR_INVALID_ARGUMENT, "options.model");
    memset(&opts, 0, sizeof opts);
    opts.model = SCRIPTLESS_MODEL_CATEGORICAL;
    expect_load_fails("options.model contradicting the weights (TorchScript)", "weights/sequence.pt",
                      &opts, SCRIPTLESS_ERROR_INVALID_ARGUMENT, "options.model");
    expect_load_fails(".pth state_dict without options.model", "weights/sequence.pth", NULL,
                      SCRIPTLESS_ERROR_INVALID_ARGUMENT, "options.model");
    /* Named like the seed's class and holding its tensors, but its code is not the seed's: it runs
       by that code, unless options.model asks for the seed's model, which then ignores the code. */
    {
        ScriptlessModel *m = NULL;
        ScriptlessModelKind kind = 0;
        EXPECT_OK("an archive whose code is not the seed's loads",
                  scriptless_model_load("tests/fixtures/not_seed/sequence_relu/weights.pt", NULL, &m));
        EXPECT_OK("its kind", scriptless_model_kind(m, &kind));
        check_true("it runs by its own code", kind == SCRIPTLESS_MODEL_PROGRAM, "SCRIPTLESS_MODEL_PROGRAM");
        scriptless_model_destroy(&m);
    }
    memset(&opts, 0, sizeof opts);
    opts.model = SCRIPTLESS_MODEL_SEQUENCE;
    {
        ScriptlessModel *m = NULL;
        if (scriptless_model_load("tests/fixtures/not_seed/sequence_relu/weights.pt", &opts, &m) != SCRIPTLESS_OK ||
            m == NULL) {
            fail("an archive whose code is not the seed's, with options.model", "%s%s", "it did not load", "");
        }
        scriptless_model_destroy(&m);
    }
    memset(&opts, 0, sizeof opts);
    opts.model = SCRIPTLESS_MODEL_TWO_INPUT;
    expect_load_fails(".pth state_dict with the wrong options.model", "weights/sequence.pth", &opts,
                      SCRIPTLESS_ERROR_WEIGHTS, "weights");
    memset(&opts, 0, sizeof opts);
    opts.device = "tpu";
    expect_load_fails("options.device = \"tpu\"", "weights/sequence.safetensors", &opts,
                      SCRIPTLESS_ERROR_UNSUPPORTED, "tpu");
    memset(&opts, 0, sizeof opts);
    opts.device = "cuda:x";
    expect_load_fails("options.device = \"cuda:x\"", "weights/sequence.safetensors", &opts,
                      SCRIPTLESS_ERROR_UNSUPPORTED, "cuda:x");
    memset(&opts, 0, sizeof opts);
    opts.device = "\xff";
    expect_load_fails("options.device not UTF-8", "weights/sequence.safetensors", &opts,
                      SCRIPTLESS_ERROR_INVALID_ARGUMENT, "options.device");
    {
        /* A misaligned options pointer (made through an integer, so no C undefined behaviour). */
        static ScriptlessLoadOptions storage[2];
        uintptr_t addr = (uintptr_t)(void *)&storage[0] + 1;
        const ScriptlessLoadOptions *bad = (const ScriptlessLoadOptions *)(void *)addr;
        expect_load_fails("options pointer misaligned", "weights/sequence.safetensors", bad,
                          SCRIPTLESS_ERROR_INVALID_ARGUMENT, "options");
    }

    /* Limits. */
    memset(&opts, 0, sizeof opts);
    opts.max_weights_bytes = 100;
    expect_load_fails("max_weights_bytes = 100, file", "weights/sequence.safetensors", &opts,
                      SCRIPTLESS_ERROR_LIMIT, "max_weights_bytes");
    opts.model = SCRIPTLESS_MODEL_SEQUENCE;
    expect_load_fails("max_weights_bytes = 100, .pth file", "weights/sequence.pth", &opts,
                      SCRIPTLESS_ERROR_LIMIT, "max_weights_bytes");

    /* Truncated and garbage buffers. */
    static const char *const files[] = {"weights/sequence.safetensors", "weights/sequence.pt",
                                        "weights/sequence.pth"};
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        size_t len = 0;
        unsigned char *buf = read_file(files[f], &len);
        char name[256];
        if (!buf || len < 16) {
            snprintf(name, sizeof name, "read %s", files[f]);
            fail(name, "%s%s", "cannot read the weights file (run from the repository root)", "");
            free(buf);
            continue;
        }
        memset(&opts, 0, sizeof opts);
        /* .pth names no model: say it, so that only the truncation can be at fault. */
        opts.model = SCRIPTLESS_MODEL_SEQUENCE;
        /* The whole buffer loads. */
        snprintf(name, sizeof name, "load_from_memory %s whole", files[f]);
        EXPECT_OK(name, scriptless_model_load_from_memory(buf, len, &opts, &m));
        scriptless_model_destroy(&m);
        const size_t cuts[] = {0, 1, 8, len / 2, len - 1};
        for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
            /* A copy of exactly the truncated length, so ASan catches any read past it. */
            unsigned char *copy = malloc(cuts[c] ? cuts[c] : 1);
            if (!copy) {
                fail("malloc", "%s%s", "out of memory", "");
                continue;
            }
            memcpy(copy, buf, cuts[c]);
            snprintf(name, sizeof name, "load_from_memory %s truncated to %zu of %zu bytes", files[f],
                     cuts[c], len);
            expect_mem_load_fails(name, copy, cuts[c], &opts, SCRIPTLESS_ERROR_FORMAT, "weights buffer");
            free(copy);
        }
        /* Corrupt the middle of the buffer: must fail cleanly or load, never crash. */
        free(buf);
    }
    {
        /* A length no buffer can have: refused before anything is read. */
        static const char small[16] = "0123456789abcde";
        expect_mem_load_fails("load_from_memory: len SIZE_MAX", small, SIZE_MAX, NULL,
                              SCRIPTLESS_ERROR_INVALID_ARGUMENT, "`data`");
        expect_mem_load_fails("load_from_memory: len PTRDIFF_MAX + 1", small, (size_t)PTRDIFF_MAX + 1, NULL,
                              SCRIPTLESS_ERROR_INVALID_ARGUMENT, "`data`");
    }
    {
        static const char garbage[] = "this is not a weights file, not at all";
        expect_mem_load_fails("load_from_memory of text", garbage, sizeof garbage - 1, NULL,
                              SCRIPTLESS_ERROR_FORMAT, "weights buffer");
        /* A safetensors header length far larger than the buffer. */
        unsigned char huge_header[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, '{', '}'};
        expect_mem_load_fails("load_from_memory: safetensors header length past the end", huge_header,
                              sizeof huge_header, NULL, SCRIPTLESS_ERROR_FORMAT, "weights buffer");
    }
    {
        size_t len = 0;
        unsigned char *buf = read_file("weights/sequence.safetensors", &len);
        if (buf) {
            memset(&opts, 0, sizeof opts);
            opts.max_weights_bytes = 100;
            expect_mem_load_fails("max_weights_bytes = 100, buffer", buf, len, &opts, SCRIPTLESS_ERROR_LIMIT,
                                  "max_weights_bytes");
            free(buf);
        }
    }
}

static void query_cases(ScriptlessModel *model) {
    ScriptlessModelKind kind = 0;
    ScriptlessDType dtype = 0;
    size_t count = 0;
    ScriptlessInputInfo info;

    EXPECT("kind: NULL model", SCRIPTLESS_ERROR_NULL_ARGUMENT, "`model`", scriptless_model_kind(NULL, &kind));
    EXPECT("kind: NULL `kind`", SCRIPTLESS_ERROR_NULL_ARGUMENT, "`kind`", scriptless_model_kind(model, NULL));
    EXPECT("dtype: NULL model", SCRIPTLESS_ERROR_NULL_ARGUMENT, "`model`", scriptless_model_dtype(NULL, &dtype));
    EXPECT("dtype: NULL `dtype`", SCRIPTLESS_ERROR_NULL_ARGUMENT, "`dtype`", scriptless_model_dtype(model, NULL));
    EXPECT("input_count: NULL model", SCRIPTLESS_ERROR_NULL_ARGUMENT, "`model`",
           scriptless_model_input_count(NULL, &count));
    EXPECT("input_count: NULL `count`", SCRIPTLESS_ERROR_NULL_ARGUMENT, "`count`",
           scriptless_model_input_count(model, NULL));
    EXPECT("input_info: NULL model", SCRIPTLESS_ERROR_NULL_ARGUMENT, "`model`",
           scriptless_model_input_info(NULL, 0, &info));
    EXPECT("input_info: NULL `info`", SCRIPTLESS_ERROR_NULL_ARGUMENT, "`info`",
           scriptless_model_input_info(model, 0, NULL));
    EXPECT("input_info: index 2", SCRIPTLESS_ERROR_INVALID_ARGUMENT, "index",
           scriptless_model_input_info(model, 2, &info));
    EXPECT("input_info: index SIZE_MAX", SCRIPTLESS_ERROR_INVALID_ARGUMENT, "index",
           scriptless_model_input_info(model, SIZE_MAX, &info));

    /* And the good answers. */
    EXPECT_OK("kind", scriptless_model_kind(model, &kind));
    check_true("kind is SEQUENCE", kind == SCRIPTLESS_MODEL_SEQUENCE, "SCRIPTLESS_MODEL_SEQUENCE");
    EXPECT_OK("dtype", scriptless_model_dtype(model, &dtype));
    check_true("dtype is F32", dtype == SCRIPTLESS_DTYPE_F32, "SCRIPTLESS_DTYPE_F32");
    EXPECT_OK("input_count", scriptless_model_input_count(model, &count));
    check_true("input_count is 2", count == 2, "2 inputs");
    EXPECT_OK("input_info 1", scriptless_model_input_info(model, 1, &info));
    check_true("input_info 1 is seq_lengths",
               info.name && strcmp(info.name, "seq_lengths") == 0 && info.integer && info.rank == 1,
               "seq_lengths, integer, rank 1");
}

static void forward_cases(ScriptlessModel *model) {
    ScriptlessInput good[2] = {
        mk("padded_seq", SCRIPTLESS_DTYPE_F32, 3, padded_shape, padded),
        mk("seq_lengths", SCRIPTLESS_DTYPE_I64, 1, lengths_shape, lengths),
    };
    ScriptlessInput in[3];
    ScriptlessTensor *out = NULL;
    ScriptlessTensorView view;
    float buf[B * OUT];
    size_t len = 0, rank = 0;
    size_t shape[SCRIPTLESS_MAX_RANK];

    /* The good call works, and gives the reference output. */
    EXPECT_OK("forward: good inputs", scriptless_model_forward(model, good, 2, &out));
    EXPECT_OK("tensor_view", scriptless_tensor_view(out, &view));
    check_true("output shape (3, 10)", view.rank == 2 && view.shape[0] == B && view.shape[1] == OUT &&
                                          view.len == B * OUT && view.dtype == SCRIPTLESS_DTYPE_F32,
               "rank 2, (3, 10), F32");
    EXPECT("tensor_view: NULL tensor", SCRIPTLESS_ERROR_NULL_ARGUMENT, "`tensor`", scriptless_tensor_view(NULL, &view));
    EXPECT("tensor_view: NULL `view`", SCRIPTLESS_ERROR_NULL_ARGUMENT, "`view`", scriptless_tensor_view(out, NULL));
    EXPECT_OK("tensor_destroy", scriptless_tensor_destroy(&out));
    check_true("tensor_destroy sets the handle to NULL", out == NULL, "handle is NULL");
    EXPECT_OK("tensor_destroy(&NULL handle) is a no-op", scriptless_tensor_destroy(&out));
    EXPECT("tensor_destroy(NULL)", SCRIPTLESS_ERROR_NULL_ARGUMENT, "`tensor`", scriptless_tensor_destroy(NULL));

    /* NULL pointers. */
    expect_forward_fails("forward: NULL model", NULL, good, 2, SCRIPTLESS_ERROR_NULL_ARGUMENT, "`model`", NULL);
    EXPECT("forward: NULL `output`", SCRIPTLESS_ERROR_NULL_ARGUMENT, "`output`",
           scriptless_model_forward(model, good, 2, NULL));
    expect_forward_fails("forward: NULL inputs with num_inputs 2", model, NULL, 2,
                         SCRIPTLESS_ERROR_NULL_ARGUMENT, "`inputs`", NULL);
    expect_forward_fails("forward: NULL inputs with num_inputs 0", model, NULL, 0, SCRIPTLESS_ERROR_INPUT,
                         "padded_seq", "missing");
    in[0] = good[0];
    in[1] = good[1];
    in[0].name = NULL;
    expect_forward_fails("forward: NULL name", model, in, 2, SCRIPTLESS_ERROR_NULL_ARGUMENT, "inputs[0].name", NULL);
    in[0] = good[0];
    in[0].shape = NULL;
    expect_forward_fails("forward: NULL shape with rank 3", model, in, 2, SCRIPTLESS_ERROR_NULL_ARGUMENT,
                         "inputs[0].shape", NULL);
    in[0] = good[0];
    in[1].data = NULL;
    expect_forward_fails("forward: NULL data with 3 elements", model, in, 2, SCRIPTLESS_ERROR_NULL_ARGUMENT,
                         "inputs[1].data", "seq_lengths");
    in[1] = good[1];
    in[0].data = NULL;
    expect_forward_fails("forward: NULL padded_seq data", model, in, 2, SCRIPTLESS_ERROR_NULL_ARGUMENT,
                         "inputs[0].data", "padded_seq");
    {
        /* A misaligned inputs array and a misaligned shape (pointers made through integers). */
        static ScriptlessInput storage[3];
        storage[0] = good[0];
        storage[1] = good[1];
        const ScriptlessInput *bad = (const ScriptlessInput *)(void *)((uintptr_t)(void *)storage + 1);
        expect_forward_fails("forward: misaligned inputs pointer", model, bad, 2,
                             SCRIPTLESS_ERROR_INVALID_ARGUMENT, "`inputs`", "aligned");
        static size_t shape_storage[4] = {B, T, F, 0};
        in[0] = good[0];
        in[0].shape = (const size_t *)(void *)((uintptr_t)(void *)shape_storage + 1);
        expect_forward_fails("forward: misaligned shape pointer", model, in, 2, SCRIPTLESS_ERROR_INVALID_ARGUMENT,
                             "inputs[0].shape", "aligned");
        in[0] = good[0];
    }

    /* Ranks. */
    {
        static const size_t shape2[2] = {B * T, F};
        in[0] = good[0];
        in[1] = good[1];
        in[0].rank = 2;
        in[0].shape = shape2;
        expect_forward_fails("forward: padded_seq with rank 2", model, in, 2, SCRIPTLESS_ERROR_INPUT,
                             "padded_seq", NULL);
        in[0] = good[0];
        in[0].rank = 0;
        in[0].shape = NULL;
        expect_forward_fails("forward: padded_seq with rank 0", model, in, 2, SCRIPTLESS_ERROR_INPUT,
                             "padded_seq", NULL);
        static const size_t lshape2[2] = {B, 1};
        in[0] = good[0];
        in[1].rank = 2;
        in[1].shape = lshape2;
        expect_forward_fails("forward: seq_lengths with rank 2", model, in, 2, SCRIPTLESS_ERROR_INPUT,
                             "seq_lengths", NULL);
        static const size_t bigrank[SCRIPTLESS_MAX_RANK + 1] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, B, T, F};
        in[1] = good[1];
        in[0].rank = SCRIPTLESS_MAX_RANK + 1;
        in[0].shape = bigrank;
        expect_forward_fails("forward: rank SCRIPTLESS_MAX_RANK + 1", model, in, 2,
                             SCRIPTLESS_ERROR_INVALID_ARGUMENT, "inputs[0].rank", "padded_seq");
        in[0].rank = SIZE_MAX;
        expect_forward_fails("forward: rank SIZE_MAX", model, in, 2, SCRIPTLESS_ERROR_INVALID_ARGUMENT,
                             "inputs[0].rank", NULL);
        static const size_t huge[3] = {SIZE_MAX, SIZE_MAX, F};
        in[0] = good[0];
        in[0].shape = huge;
        expect_forward_fails("forward: shape whose element count overflows", model, in, 2,
                             SCRIPTLESS_ERROR_LIMIT, "padded_seq", "max_elements");
        static const size_t wide[3] = {B, T, F - 1};
        in[0].shape = wide;
        expect_forward_fails("forward: padded_seq with 9 features", model, in, 2, SCRIPTLESS_ERROR_INPUT,
                             "padded_seq", NULL);
        static const size_t empty[3] = {0, T, F};
        static const size_t zero[1] = {0};
        in[0].shape = empty;
        in[0].data = NULL;
        in[1].shape = zero;
        in[1].data = NULL;
        expect_forward_fails("forward: empty batch", model, in, 2, SCRIPTLESS_ERROR_INPUT, "padded_seq", NULL);
    }

    /* Dtypes. */
    {
        static const double flengths[B] = {5, 3, 7};
        static const int64_t ipadded[B * T * F];
        in[0] = good[0];
        in[1] = good[1];
        in[1].dtype = SCRIPTLESS_DTYPE_F64;
        in[1].data = flengths;
        expect_forward_fails("forward: float seq_lengths", model, in, 2, SCRIPTLESS_ERROR_INPUT, "seq_lengths",
                             "integers");
        in[1] = good[1];
        in[0].dtype = SCRIPTLESS_DTYPE_I64;
        in[0].data = ipadded;
        expect_forward_fails("forward: integer padded_seq", model, in, 2, SCRIPTLESS_ERROR_INPUT, "padded_seq",
                             "float");
        in[0] = good[0];
        in[0].dtype = 99;
        expect_forward_fails("forward: dtype 99", model, in, 2, SCRIPTLESS_ERROR_INVALID_ARGUMENT,
                             "inputs[0].dtype", "padded_seq");
    }

    /* Names. */
    {
        static const size_t one[1] = {1};
        static const float x = 1.0f;
        in[0] = good[0];
        in[1] = good[1];
        in[2] = mk("bogus", SCRIPTLESS_DTYPE_F32, 1, one, &x);
        expect_forward_fails("forward: unknown name (third input)", model, in, 3, SCRIPTLESS_ERROR_INPUT, "bogus",
                             NULL);
        in[1] = in[2];
        expect_forward_fails("forward: unknown name instead of seq_lengths", model, in, 2, SCRIPTLESS_ERROR_INPUT,
                             "seq_lengths", NULL);
        in[1] = good[1];
        in[2] = good[0];
        expect_forward_fails("forward: padded_seq given twice", model, in, 3, SCRIPTLESS_ERROR_INPUT, "padded_seq",
                             "twice");
        expect_forward_fails("forward: seq_lengths missing", model, good, 1, SCRIPTLESS_ERROR_INPUT, "seq_lengths",
                             "missing");
        expect_forward_fails("forward: padded_seq missing", model, good + 1, 1, SCRIPTLESS_ERROR_INPUT,
                             "padded_seq", "missing");
        in[0] = good[0];
        in[0].name = "\xff\xfe";
        expect_forward_fails("forward: non-UTF-8 name", model, in, 2, SCRIPTLESS_ERROR_INVALID_ARGUMENT,
                             "inputs[0].name", "UTF-8");
        in[0] = good[0];
        in[0].name = "Padded_Seq";
        expect_forward_fails("forward: name in the wrong case", model, in, 2, SCRIPTLESS_ERROR_INPUT, "padded_seq",
                             NULL);
        in[0] = good[1];
        in[1] = good[0];
        EXPECT_OK("forward: inputs in the other order", scriptless_model_forward(model, in, 2, &out));
        scriptless_tensor_destroy(&out);
    }

    /* Values. */
    {
        int64_t bad[B];
        in[0] = good[0];
        in[1] = good[1];
        in[1].data = bad;
        memcpy(bad, lengths, sizeof bad);
        bad[1] = 0;
        expect_forward_fails("forward: a seq_length of 0", model, in, 2, SCRIPTLESS_ERROR_INPUT, "seq_lengths[1]",
                             NULL);
        memcpy(bad, lengths, sizeof bad);
        bad[2] = T + 1;
        expect_forward_fails("forward: a seq_length larger than T", model, in, 2, SCRIPTLESS_ERROR_INPUT,
                             "seq_lengths[2]", NULL);
        memcpy(bad, lengths, sizeof bad);
        bad[0] = -1;
        expect_forward_fails("forward: a negative seq_length", model, in, 2, SCRIPTLESS_ERROR_INPUT,
                             "seq_lengths[0]", NULL);
        memcpy(bad, lengths, sizeof bad);
        bad[0] = INT64_MIN;
        expect_forward_fails("forward: seq_length INT64_MIN", model, in, 2, SCRIPTLESS_ERROR_INPUT,
                             "seq_lengths[0]", NULL);
        memcpy(bad, lengths, sizeof bad);
        bad[0] = INT64_MAX;
        expect_forward_fails("forward: seq_length INT64_MAX", model, in, 2, SCRIPTLESS_ERROR_INPUT,
                             "seq_lengths[0]", NULL);
        static const size_t two[1] = {2};
        in[1].data = lengths;
        in[1].shape = two;
        expect_forward_fails("forward: 2 seq_lengths for 3 rows", model, in, 2, SCRIPTLESS_ERROR_INPUT,
                             "seq_lengths", NULL);
        in[1] = good[1];
        int32_t bad32[B] = {5, 3, 8};
        in[1].dtype = SCRIPTLESS_DTYPE_I32;
        in[1].data = bad32;
        expect_forward_fails("forward: an I32 seq_length larger than T", model, in, 2, SCRIPTLESS_ERROR_INPUT,
                             "seq_lengths[2]", NULL);
    }

    /* output_shape. */
    {
        EXPECT("output_shape: NULL model", SCRIPTLESS_ERROR_NULL_ARGUMENT, "`model`",
               scriptless_model_output_shape(NULL, good, 2, shape, SCRIPTLESS_MAX_RANK, &rank));
        EXPECT("output_shape: NULL `rank`", SCRIPTLESS_ERROR_NULL_ARGUMENT, "`rank`",
               scriptless_model_output_shape(model, good, 2, shape, SCRIPTLESS_MAX_RANK, NULL));
        EXPECT("output_shape: NULL inputs with num_inputs 2", SCRIPTLESS_ERROR_NULL_ARGUMENT, "`inputs`",
               scriptless_model_output_shape(model, NULL, 2, shape, SCRIPTLESS_MAX_RANK, &rank));
        EXPECT("output_shape: NULL `shape` with capacity 2", SCRIPTLESS_ERROR_NULL_ARGUMENT, "`shape`",
               scriptless_model_output_shape(model, good, 2, NULL, 2, &rank));
        rank = 0;
        EXPECT("output_shape: capacity 1", SCRIPTLESS_ERROR_BUFFER_TOO_SMALL, "`shape`",
               scriptless_model_output_shape(model, good, 2, shape, 1, &rank));
        check_true("output_shape: capacity 1 still sets *rank", rank == 2, "*rank == 2");
        rank = 0;
        EXPECT("output_shape: NULL `shape`, capacity 0", SCRIPTLESS_ERROR_BUFFER_TOO_SMALL, "`shape`",
               scriptless_model_output_shape(model, good, 2, NULL, 0, &rank));
        check_true("output_shape: capacity 0 still sets *rank", rank == 2, "*rank == 2");
        in[0] = good[0];
        in[1] = good[1];
        in[1].dtype = SCRIPTLESS_DTYPE_F32;
        EXPECT("output_shape: float seq_lengths", SCRIPTLESS_ERROR_INPUT, "seq_lengths",
               scriptless_model_output_shape(model, in, 2, shape, SCRIPTLESS_MAX_RANK, &rank));
        EXPECT("output_shape: seq_lengths missing", SCRIPTLESS_ERROR_INPUT, "seq_lengths",
               scriptless_model_output_shape(model, good, 1, shape, SCRIPTLESS_MAX_RANK, &rank));
        /* Misshapen inputs the forward call refuses must be refused here too, not given an
         * output shape. */
        static const size_t shape2[2] = {B * T, F};
        static const size_t wide[3] = {B, T, F - 1};
        static const size_t lshape2[2] = {B, 1};
        static const size_t two[1] = {2};
        in[1] = good[1];
        in[0].rank = 2;
        in[0].shape = shape2;
        expect_output_shape_fails("output_shape: padded_seq with rank 2", model, in, "padded_seq");
        in[0] = good[0];
        in[0].shape = wide;
        expect_output_shape_fails("output_shape: padded_seq with 9 features", model, in, "padded_seq");
        in[0] = good[0];
        in[1].rank = 2;
        in[1].shape = lshape2;
        expect_output_shape_fails("output_shape: seq_lengths with rank 2", model, in, "seq_lengths");
        in[1] = good[1];
        in[1].shape = two;
        expect_output_shape_fails("output_shape: 2 seq_lengths for 3 rows", model, in, "seq_lengths");
        in[1] = good[1];
        in[0].rank = 0;
        in[0].shape = NULL;
        expect_output_shape_fails("output_shape: padded_seq with rank 0", model, in, "padded_seq");
        in[0] = good[0];
        in[0].data = NULL;
        in[1].data = NULL;
        EXPECT_OK("output_shape: data NULL is fine",
                  scriptless_model_output_shape(model, in, 2, shape, SCRIPTLESS_MAX_RANK, &rank));
        check_true("output_shape is (3, 10)", rank == 2 && shape[0] == B && shape[1] == OUT, "(3, 10)");
    }

    /* forward_into. */
    {
        len = 12345;
        EXPECT("forward_into: NULL model", SCRIPTLESS_ERROR_NULL_ARGUMENT, "`model`",
               scriptless_model_forward_into(NULL, good, 2, SCRIPTLESS_DTYPE_F32, buf, B * OUT, &len));
        EXPECT("forward_into: NULL `len`", SCRIPTLESS_ERROR_NULL_ARGUMENT, "`len`",
               scriptless_model_forward_into(model, good, 2, SCRIPTLESS_DTYPE_F32, buf, B * OUT, NULL));
        EXPECT("forward_into: NULL inputs with num_inputs 2", SCRIPTLESS_ERROR_NULL_ARGUMENT, "`inputs`",
               scriptless_model_forward_into(model, NULL, 2, SCRIPTLESS_DTYPE_F32, buf, B * OUT, &len));
        EXPECT("forward_into: NULL `data` with room for 30", SCRIPTLESS_ERROR_NULL_ARGUMENT, "`data`",
               scriptless_model_forward_into(model, good, 2, SCRIPTLESS_DTYPE_F32, NULL, B * OUT, &len));
        EXPECT("forward_into: wrong dtype (F64 for an F32 model)", SCRIPTLESS_ERROR_INVALID_ARGUMENT, "dtype",
               scriptless_model_forward_into(model, good, 2, SCRIPTLESS_DTYPE_F64, buf, B * OUT, &len));
        EXPECT("forward_into: dtype 99", SCRIPTLESS_ERROR_INVALID_ARGUMENT, "dtype",
               scriptless_model_forward_into(model, good, 2, 99, buf, B * OUT, &len));
        len = 0;
        EXPECT2("forward_into: buffer too small (29)", SCRIPTLESS_ERROR_BUFFER_TOO_SMALL, "`data`", "30",
                scriptless_model_forward_into(model, good, 2, SCRIPTLESS_DTYPE_F32, buf, B * OUT - 1, &len));
        check_true("forward_into: too small sets *len to 30", len == B * OUT, "*len == 30");
        len = 0;
        EXPECT2("forward_into: NULL data, capacity 0", SCRIPTLESS_ERROR_BUFFER_TOO_SMALL, "`data`", "30",
                scriptless_model_forward_into(model, good, 2, SCRIPTLESS_DTYPE_F32, NULL, 0, &len));
        check_true("forward_into: capacity 0 sets *len to 30", len == B * OUT, "*len == 30");
        in[0] = good[0];
        in[1] = good[1];
        int64_t bad[B] = {5, 0, 7};
        in[1].data = bad;
        len = 12345;
        EXPECT("forward_into: a seq_length of 0", SCRIPTLESS_ERROR_INPUT, "seq_lengths[1]",
               scriptless_model_forward_into(model, in, 2, SCRIPTLESS_DTYPE_F32, buf, B * OUT, &len));
        /* A misshapen input is an input error, not a buffer too small for an output that the
         * input cannot make. */
        {
            static const size_t shape2[2] = {B * T, F};
            static const size_t wide[3] = {B, T, F - 1};
            in[1] = good[1];
            in[0] = good[0];
            in[0].rank = 2;
            in[0].shape = shape2;
            len = 0;
            EXPECT("forward_into: padded_seq with rank 2", SCRIPTLESS_ERROR_INPUT, "padded_seq",
                   scriptless_model_forward_into(model, in, 2, SCRIPTLESS_DTYPE_F32, buf, B * OUT, &len));
            if (len != 0) {
                printf("     (*len was set to %zu)\n", len);
            }
            in[0] = good[0];
            in[0].shape = wide;
            len = 0;
            EXPECT("forward_into: padded_seq with 9 features", SCRIPTLESS_ERROR_INPUT, "padded_seq",
                   scriptless_model_forward_into(model, in, 2, SCRIPTLESS_DTYPE_F32, buf, B * OUT, &len));
            in[0] = good[0];
        }
        len = 0;
        EXPECT_OK("forward_into: good",
                  scriptless_model_forward_into(model, good, 2, SCRIPTLESS_DTYPE_F32, buf, B * OUT, &len));
        check_true("forward_into: good writes 30", len == B * OUT, "*len == 30");
    }

    /* forward_many. */
    {
        EXPECT("forward_many: NULL model", SCRIPTLESS_ERROR_NULL_ARGUMENT, "`model`",
               scriptless_model_forward_many(NULL, NULL, 0));
        EXPECT("forward_many: NULL requests with count 2", SCRIPTLESS_ERROR_NULL_ARGUMENT, "`requests`",
               scriptless_model_forward_many(model, NULL, 2));
        EXPECT_OK("forward_many: NULL requests with count 0", scriptless_model_forward_many(model, NULL, 0));
        /* A call that fails before running still sets every request's result. */
        ScriptlessRequest reqs[2];
        memset(reqs, 0xab, sizeof reqs);
        for (int k = 0; k < 2; k++) {
            reqs[k].inputs = NULL;
            reqs[k].num_inputs = 0;
        }
        EXPECT("forward_many: NULL model with 2 requests", SCRIPTLESS_ERROR_NULL_ARGUMENT, "`model`",
               scriptless_model_forward_many(NULL, reqs, 2));
        check_true("forward_many: NULL model sets every request",
                   reqs[0].output == NULL && reqs[1].output == NULL && reqs[0].error == NULL &&
                       reqs[1].error == NULL && reqs[0].status == SCRIPTLESS_ERROR_NULL_ARGUMENT &&
                       reqs[1].status == SCRIPTLESS_ERROR_NULL_ARGUMENT,
                   "output NULL, error NULL and the call's status in each request");
    }
}

/* forward_many with 3 requests, the middle one bad in `how`. */
static void forward_many_case(ScriptlessModel *model, const char *how, ScriptlessStatus want,
                              const char *needle) {
    static float p0[B * T * F], p2[B * T * F];
    static const int64_t l0[B] = {7, 2, 4}, l2[B] = {1, 6, 3};
    int64_t l1[B] = {5, 3, 7};
    float *p1 = padded;
    fill_padded(p0, B * T * F, 100);
    fill_padded(p2, B * T * F, 200);
    ScriptlessInput r0[2] = {mk("padded_seq", SCRIPTLESS_DTYPE_F32, 3, padded_shape, p0),
                             mk("seq_lengths", SCRIPTLESS_DTYPE_I64, 1, lengths_shape, l0)};
    ScriptlessInput r1[2] = {mk("padded_seq", SCRIPTLESS_DTYPE_F32, 3, padded_shape, p1),
                             mk("seq_lengths", SCRIPTLESS_DTYPE_I64, 1, lengths_shape, l1)};
    ScriptlessInput r2[2] = {mk("padded_seq", SCRIPTLESS_DTYPE_F32, 3, padded_shape, p2),
                             mk("seq_lengths", SCRIPTLESS_DTYPE_I64, 1, lengths_shape, l2)};
    static const double fl[B] = {5, 3, 7};
    size_t n1 = 2;
    if (strcmp(how, "seq_lengths[2] > T") == 0) {
        l1[2] = T + 1;
    } else if (strcmp(how, "seq_lengths[1] = 0") == 0) {
        l1[1] = 0;
    } else if (strcmp(how, "seq_lengths missing") == 0) {
        n1 = 1;
    } else if (strcmp(how, "float seq_lengths") == 0) {
        r1[1].dtype = SCRIPTLESS_DTYPE_F64;
        r1[1].data = fl;
    } else if (strcmp(how, "NULL inputs") == 0) {
        r1[0].name = NULL; /* unused: inputs pointer is NULL below */
    }
    ScriptlessRequest reqs[3];
    memset(reqs, 0, sizeof reqs);
    reqs[0].inputs = r0;
    reqs[0].num_inputs = 2;
    reqs[1].inputs = strcmp(how, "NULL inputs") == 0 ? NULL : r1;
    reqs[1].num_inputs = n1;
    reqs[2].inputs = r2;
    reqs[2].num_inputs = 2;
    /* Garbage in the out fields, which the call must overwrite. */
    for (int i = 0; i < 3; i++) {
        reqs[i].output = SENTINEL_TENSOR;
        reqs[i].status = 777;
        reqs[i].error = "@@stale@@";
    }
    char name[256];
    snprintf(name, sizeof name, "forward_many: middle request bad (%s)", how);
    prime();
    ScriptlessStatus st = scriptless_model_forward_many(model, reqs, 3);
    check_err(name, st, want, needle, "request 1");

    snprintf(name, sizeof name, "forward_many (%s): requests[0] and [2] succeed", how);
    int good_outer = reqs[0].status == SCRIPTLESS_OK && reqs[2].status == SCRIPTLESS_OK &&
                     reqs[0].output != NULL && reqs[0].output != SENTINEL_TENSOR && reqs[2].output != NULL &&
                     reqs[2].output != SENTINEL_TENSOR && reqs[0].error == NULL && reqs[2].error == NULL;
    check_true(name, good_outer, "status OK, output set, error NULL");

    snprintf(name, sizeof name, "forward_many (%s): requests[1] fails alone", how);
    int bad_mid = reqs[1].status == want && reqs[1].output == NULL && reqs[1].error != NULL &&
                  strcmp(reqs[1].error, "@@stale@@") != 0 && strstr(reqs[1].error, needle) != NULL;
    if (bad_mid) {
        n_ok++;
        printf("ok   %s: [%s] %s\n", name, scriptless_status_name(reqs[1].status), reqs[1].error);
    } else {
        char got[512];
        snprintf(got, sizeof got, "status %s, output %s, error %s", scriptless_status_name(reqs[1].status),
                 reqs[1].output == NULL ? "NULL" : "set",
                 reqs[1].error ? reqs[1].error : "(NULL)");
        fail(name, "expected NULL output, its status and an error naming `%s`; got %s", needle, got);
    }

    /* The good requests' outputs are what a forward call alone gives. */
    const ScriptlessInput *alone[2] = {r0, r2};
    const int idx[2] = {0, 2};
    for (int k = 0; k < 2; k++) {
        ScriptlessTensor *ref = NULL;
        ScriptlessTensorView rv, bv;
        snprintf(name, sizeof name, "forward_many (%s): requests[%d] matches forward", how, idx[k]);
        ScriptlessTensor *got = reqs[idx[k]].output;
        if (got == NULL || got == SENTINEL_TENSOR) {
            fail(name, "%s%s", "no output", "");
            continue;
        }
        if (scriptless_model_forward(model, alone[k], 2, &ref) != SCRIPTLESS_OK ||
            scriptless_tensor_view(ref, &rv) != SCRIPTLESS_OK || scriptless_tensor_view(got, &bv) != SCRIPTLESS_OK) {
            fail(name, "forward/view failed: %s%s", last_error_or("(NULL)"), "");
            scriptless_tensor_destroy(&ref);
            continue;
        }
        double maxdiff = 0;
        int same_shape = rv.rank == bv.rank && rv.len == bv.len && rv.dtype == bv.dtype &&
                         memcmp(rv.shape, bv.shape, rv.rank * sizeof(size_t)) == 0;
        if (same_shape) {
            const float *a = rv.data, *b = bv.data;
            for (size_t i = 0; i < rv.len; i++) {
                double d = (double)a[i] - (double)b[i];
                d = d < 0 ? -d : d;
                if (d != d) {
                    d = 1e300; /* NaN */
                }
                if (d > maxdiff) {
                    maxdiff = d;
                }
            }
        }
        char what[128];
        snprintf(what, sizeof what, "same shape, max |diff| %.3g%s", maxdiff,
                 same_shape && memcmp(rv.data, bv.data, rv.len * sizeof(float)) == 0 ? " (bit-identical)" : "");
        check_true(name, same_shape && maxdiff <= 1e-5, what);
        scriptless_tensor_destroy(&ref);
    }
    for (int i = 0; i < 3; i++) {
        if (reqs[i].output != SENTINEL_TENSOR) {
            scriptless_tensor_destroy(&reqs[i].output);
        }
    }
}

static void limit_cases(void) {
    ScriptlessLoadOptions opts;
    memset(&opts, 0, sizeof opts);
    opts.max_elements = 10;
    ScriptlessModel *m = NULL;
    EXPECT_OK("load with max_elements = 10", scriptless_model_load("weights/sequence.safetensors", &opts, &m));
    if (m == NULL) {
        return;
    }
    ScriptlessInput good[2] = {
        mk("padded_seq", SCRIPTLESS_DTYPE_F32, 3, padded_shape, padded),
        mk("seq_lengths", SCRIPTLESS_DTYPE_I64, 1, lengths_shape, lengths),
    };
    expect_forward_fails("max_elements = 10: forward of 210 elements", m, good, 2, SCRIPTLESS_ERROR_LIMIT,
                         "max_elements", "padded_seq");
    size_t len = 0;
    float buf[B * OUT];
    EXPECT2("max_elements = 10: forward_into", SCRIPTLESS_ERROR_LIMIT, "max_elements", "padded_seq",
            scriptless_model_forward_into(m, good, 2, SCRIPTLESS_DTYPE_F32, buf, B * OUT, &len));
    size_t shape[4], rank = 0;
    EXPECT2("max_elements = 10: output_shape", SCRIPTLESS_ERROR_LIMIT, "max_elements", "padded_seq",
            scriptless_model_output_shape(m, good, 2, shape, 4, &rank));
    /* A single step of one row is within the limit for the input but not for the LSTM's gates. */
    static const size_t small_shape[3] = {1, 1, F};
    static const size_t one[1] = {1};
    static const int64_t l1[1] = {1};
    ScriptlessInput small[2] = {
        mk("padded_seq", SCRIPTLESS_DTYPE_F32, 3, small_shape, padded),
        mk("seq_lengths", SCRIPTLESS_DTYPE_I64, 1, one, l1),
    };
    expect_forward_fails("max_elements = 10: 10-element input, larger gates", m, small, 2, SCRIPTLESS_ERROR_LIMIT,
                         "max_elements", NULL);
    ScriptlessRequest req;
    memset(&req, 0, sizeof req);
    req.inputs = good;
    req.num_inputs = 2;
    EXPECT2("max_elements = 10: forward_many", SCRIPTLESS_ERROR_LIMIT, "max_elements", "request 0",
            scriptless_model_forward_many(m, &req, 1));
    check_true("max_elements = 10: forward_many request status", req.status == SCRIPTLESS_ERROR_LIMIT &&
                                                                   req.output == NULL && req.error != NULL,
               "LIMIT, NULL output, an error");
    scriptless_tensor_destroy(&req.output);
    scriptless_model_destroy(&m);
}

static void other_model_cases(void) {
    ScriptlessModel *m = NULL;
    /* An F64 model: forward_into must be given F64. */
    {
        ScriptlessLoadOptions opts;
        memset(&opts, 0, sizeof opts);
        opts.dtype = SCRIPTLESS_DTYPE_F64;
        if (scriptless_model_load("weights/sequence.pt", &opts, &m) != SCRIPTLESS_OK) {
            fail("load sequence.pt as F64", "%s%s", last_error_or("(NULL)"), "");
        } else {
            ScriptlessInput good[2] = {
                mk("padded_seq", SCRIPTLESS_DTYPE_F32, 3, padded_shape, padded),
                mk("seq_lengths", SCRIPTLESS_DTYPE_I64, 1, lengths_shape, lengths),
            };
            float fbuf[B * OUT];
            double dbuf[B * OUT];
            size_t len = 0;
            EXPECT2("F64 model: forward_into with F32", SCRIPTLESS_ERROR_INVALID_ARGUMENT, "dtype", "F64",
                    scriptless_model_forward_into(m, good, 2, SCRIPTLESS_DTYPE_F32, fbuf, B * OUT, &len));
            EXPECT_OK("F64 model: forward_into with F64",
                      scriptless_model_forward_into(m, good, 2, SCRIPTLESS_DTYPE_F64, dbuf, B * OUT, &len));
            ScriptlessTensor *out = NULL;
            ScriptlessTensorView view;
            memset(&view, 0, sizeof view);
            EXPECT_OK("F64 model: forward", scriptless_model_forward(m, good, 2, &out));
            scriptless_tensor_view(out, &view);
            check_true("F64 model: output is F64 and equals forward_into's",
                       out != NULL && view.dtype == SCRIPTLESS_DTYPE_F64 && view.len == B * OUT &&
                           memcmp(view.data, dbuf, sizeof dbuf) == 0,
                       "F64, same bytes");
            scriptless_tensor_destroy(&out);
            scriptless_model_destroy(&m);
        }
    }
    /* Categorical. */
    if (scriptless_model_load("weights/categorical.safetensors", NULL, &m) != SCRIPTLESS_OK) {
        fail("load categorical", "%s%s", last_error_or("(NULL)"), "");
    } else {
        static float x[4 * 10];
        static const size_t xs[2] = {4, 10};
        static const size_t cs[1] = {4};
        int64_t cat[4] = {0, 3, 1, 2};
        ScriptlessInput in[2] = {mk("tensor_input", SCRIPTLESS_DTYPE_F32, 2, xs, x),
                                 mk("category_index", SCRIPTLESS_DTYPE_I64, 1, cs, cat)};
        expect_forward_fails("categorical: category_index 3 out of 0..3", m, in, 2, SCRIPTLESS_ERROR_INPUT,
                             "category_index[1]", NULL);
        cat[1] = 1;
        cat[3] = -1;
        expect_forward_fails("categorical: category_index -1", m, in, 2, SCRIPTLESS_ERROR_INPUT,
                             "category_index[3]", NULL);
        cat[3] = 2;
        static const size_t cs3[1] = {3};
        in[1].shape = cs3;
        expect_forward_fails("categorical: 3 indices for 4 rows", m, in, 2, SCRIPTLESS_ERROR_INPUT,
                             "category_index", NULL);
        expect_output_shape_fails("categorical output_shape: 3 indices for 4 rows", m, in, "category_index");
        static const size_t xs9[2] = {4, 9};
        in[1].shape = cs;
        in[0].shape = xs9;
        expect_forward_fails("categorical: tensor_input with 9 features", m, in, 2, SCRIPTLESS_ERROR_INPUT,
                             "tensor_input", NULL);
        expect_output_shape_fails("categorical output_shape: tensor_input with 9 features", m, in,
                                  "tensor_input");
        in[0].shape = xs;
        in[1].shape = cs;
        in[1].dtype = SCRIPTLESS_DTYPE_F32;
        expect_forward_fails("categorical: float category_index", m, in, 2, SCRIPTLESS_ERROR_INPUT,
                             "category_index", NULL);
        in[1].dtype = SCRIPTLESS_DTYPE_I64;
        ScriptlessTensor *out = NULL;
        EXPECT_OK("categorical: good forward", scriptless_model_forward(m, in, 2, &out));
        scriptless_tensor_destroy(&out);
        ScriptlessInput wrong[2] = {mk("padded_seq", SCRIPTLESS_DTYPE_F32, 2, xs, x),
                                    mk("seq_lengths", SCRIPTLESS_DTYPE_I64, 1, cs, cat)};
        expect_forward_fails("categorical: the sequence model's names", m, wrong, 2, SCRIPTLESS_ERROR_INPUT,
                             "tensor_input", NULL);
        scriptless_model_destroy(&m);
    }
    /* Two-input. */
    if (scriptless_model_load("weights/two_input.safetensors", NULL, &m) != SCRIPTLESS_OK) {
        fail("load two_input", "%s%s", last_error_or("(NULL)"), "");
    } else {
        static float a[3 * 10], b[3 * 10];
        static const size_t as[2] = {2, 10}, bs[2] = {3, 10}, cs[2] = {3, 9};
        ScriptlessInput in[2] = {mk("tensor1", SCRIPTLESS_DTYPE_F32, 2, as, a),
                                 mk("tensor2", SCRIPTLESS_DTYPE_F32, 2, bs, b)};
        expect_forward_fails("two-input: shapes that do not broadcast", m, in, 2, SCRIPTLESS_ERROR_INPUT, "tensor",
                             NULL);
        expect_output_shape_fails("two-input output_shape: shapes that do not broadcast", m, in, "tensor");
        in[0].shape = cs;
        in[1].shape = cs;
        expect_forward_fails("two-input: 9 features", m, in, 2, SCRIPTLESS_ERROR_INPUT, "tensor", NULL);
        expect_output_shape_fails("two-input output_shape: 9 features", m, in, "tensor");
        in[0].shape = bs;
        in[1].shape = bs;
        in[1].dtype = SCRIPTLESS_DTYPE_I32;
        expect_forward_fails("two-input: integer tensor2", m, in, 2, SCRIPTLESS_ERROR_INPUT, "tensor2", NULL);
        scriptless_model_destroy(&m);
    }
}

static void status_name_cases(void) {
    static const char *const names[] = {
        "SCRIPTLESS_OK",
        "SCRIPTLESS_ERROR_NULL_ARGUMENT",
        "SCRIPTLESS_ERROR_INVALID_ARGUMENT",
        "SCRIPTLESS_ERROR_IO",
        "SCRIPTLESS_ERROR_FORMAT",
        "SCRIPTLESS_ERROR_WEIGHTS",
        "SCRIPTLESS_ERROR_INPUT",
        "SCRIPTLESS_ERROR_LIMIT",
        "SCRIPTLESS_ERROR_UNSUPPORTED",
        "SCRIPTLESS_ERROR_BUFFER_TOO_SMALL",
        "SCRIPTLESS_ERROR_INTERNAL",
        "SCRIPTLESS_ERROR_MODEL",
    };
    static const ScriptlessStatus codes[] = {
        SCRIPTLESS_OK,
        SCRIPTLESS_ERROR_NULL_ARGUMENT,
        SCRIPTLESS_ERROR_INVALID_ARGUMENT,
        SCRIPTLESS_ERROR_IO,
        SCRIPTLESS_ERROR_FORMAT,
        SCRIPTLESS_ERROR_WEIGHTS,
        SCRIPTLESS_ERROR_INPUT,
        SCRIPTLESS_ERROR_LIMIT,
        SCRIPTLESS_ERROR_UNSUPPORTED,
        SCRIPTLESS_ERROR_BUFFER_TOO_SMALL,
        SCRIPTLESS_ERROR_INTERNAL,
        SCRIPTLESS_ERROR_MODEL,
    };
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        const char *n = scriptless_status_name(codes[i]);
        char name[128];
        snprintf(name, sizeof name, "status_name(%d)", (int)codes[i]);
        check_true(name, n != NULL && strcmp(n, names[i]) == 0, names[i]);
    }
    static const ScriptlessStatus unknown[] = {1234, -1, 12, INT32_MIN, INT32_MAX};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        const char *n = scriptless_status_name(unknown[i]);
        char name[128];
        snprintf(name, sizeof name, "status_name(%ld)", (long)unknown[i]);
        check_true(name, n != NULL && strcmp(n, "unknown status") == 0, "unknown status");
    }
    const char *v = scriptless_version();
    check_true("version", v != NULL && v[0] != '\0', v ? v : "(NULL)");
}

int main(void) {
    fill_padded(padded, B * T * F, 1);

    /* A fresh thread has no last error. */
    check_true("last_error is NULL before any failure", scriptless_last_error() == NULL, "NULL");

    status_name_cases();
    load_cases();

    ScriptlessModel *model = NULL;
    if (scriptless_model_load("weights/sequence.safetensors", NULL, &model) != SCRIPTLESS_OK) {
        printf("FAIL load weights/sequence.safetensors: %s\n", last_error_or("(NULL)"));
        return 1;
    }
    query_cases(model);
    forward_cases(model);
    forward_many_case(model, "seq_lengths[2] > T", SCRIPTLESS_ERROR_INPUT, "seq_lengths[2]");
    forward_many_case(model, "seq_lengths[1] = 0", SCRIPTLESS_ERROR_INPUT, "seq_lengths[1]");
    forward_many_case(model, "seq_lengths missing", SCRIPTLESS_ERROR_INPUT, "seq_lengths");
    forward_many_case(model, "float seq_lengths", SCRIPTLESS_ERROR_INPUT, "seq_lengths");
    forward_many_case(model, "NULL inputs", SCRIPTLESS_ERROR_NULL_ARGUMENT, "requests[1].inputs");
    scriptless_model_destroy(&model);

    limit_cases();
    other_model_cases();

    printf("\n%d ok, %d failed\n", n_ok, n_fail);
    return n_fail == 0 ? 0 : 1;
}
