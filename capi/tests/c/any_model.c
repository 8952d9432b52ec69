/*
 * any_model.c: the C API on users' models (TorchScript and torch.export archives run by their
 * own code) and on the seed's models through the same calls: loading, the signature, running by
 * argument name, the outputs, what the seed-only calls do for a user's model, and one model on
 * 4 threads at once. Every hostile
 * call (NULL pointers, unknown kinds, names that are not arguments, arguments of the wrong kind,
 * NULL data, a tensor list pointer NULL with items, a model's own exception) must return its
 * exact status and a message naming the culprit, never crash or leak.
 *
 * Build and run from the repository root (examples/ and tests/fixtures/ are read relative to it):
 *   cc -std=c11 -Wall -Wextra -Werror -g -fsanitize=address,undefined -fno-sanitize-recover=all \
 *      -fno-omit-frame-pointer -I capi/include capi/tests/c/any_model.c -o /tmp/any_model \
 *      -L target/release -lscriptless -Wl,-rpath,$PWD/target/release -lm -pthread
 *   ASAN_OPTIONS=detect_leaks=1 /tmp/any_model
 *
 * Prints `ok   <case>: <message>` per case, `FAIL <case>: ...` for a case that misbehaved, and a
 * summary; exits 0 only when every case behaved.
 */

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scriptless.h"

#define DICT_PT "examples/dict_output.pt"
#define DICT_PT2 "examples/dict_output.pt2"
#define MLP "tests/fixtures/corpus/mlp/scripted.pt"
#define SCALAR_ARGS "tests/fixtures/corpus/scalar_args/scripted.pt"
#define LIST_INPUT "tests/fixtures/corpus/list_input/scripted.pt"
#define CHECKED "tests/fixtures/doors/checked.pt"
#define SEQUENCE "weights/sequence.safetensors"

#include "check.h"

static int sentinel_target;
#define SENTINEL_OUTPUTS ((ScriptlessOutputs *)(void *)&sentinel_target)
#define SENTINEL_TENSOR ((ScriptlessTensor *)(void *)&sentinel_target)

static ScriptlessModel *load(const char *path, const ScriptlessLoadOptions *options) {
    ScriptlessModel *m = NULL;
    ScriptlessStatus st = scriptless_model_load(path, options, &m);
    if (st != SCRIPTLESS_OK) {
        fail(path, "did not load: %s (%s)", last_error_or("(NULL)"), scriptless_status_name(st));
        return NULL;
    }
    return m;
}

static ScriptlessInput input_f32(size_t rank, const size_t *shape, const float *data) {
    ScriptlessInput in;
    memset(&in, 0, sizeof in);
    in.dtype = SCRIPTLESS_DTYPE_F32;
    in.rank = rank;
    in.shape = shape;
    in.data = data;
    return in;
}

static ScriptlessArg tensor_arg(const char *name, size_t rank, const size_t *shape, const float *data) {
    ScriptlessArg a;
    memset(&a, 0, sizeof a);
    a.name = name;
    a.kind = SCRIPTLESS_ARG_TENSOR;
    a.tensor = input_f32(rank, shape, data);
    return a;
}

static ScriptlessArg scalar_arg(const char *name, ScriptlessArgKind kind) {
    ScriptlessArg a;
    memset(&a, 0, sizeof a);
    a.name = name;
    a.kind = kind;
    return a;
}

/* A run that must fail with `want`; checks that `*outputs` comes back NULL. */
static void expect_run_fails(const char *name, const ScriptlessModel *model, const ScriptlessArg *args, size_t n,
                             ScriptlessStatus want, const char *needle, const char *needle2) {
    ScriptlessOutputs *out = SENTINEL_OUTPUTS;
    prime();
    ScriptlessStatus st = scriptless_model_run(model, args, n, &out);
    check_err(name, st, want, needle, needle2);
    if (out == SENTINEL_OUTPUTS) {
        fail(name, "%s%s", "*outputs was not set to NULL", "");
    } else if (out != NULL) {
        fail(name, "%s%s", "*outputs is not NULL after a failed run", "");
        scriptless_outputs_destroy(&out);
    }
}

/* A run that must succeed; returns its outputs (NULL on failure, reported). */
static ScriptlessOutputs *run_ok(const char *name, const ScriptlessModel *model, const ScriptlessArg *args,
                                 size_t n) {
    ScriptlessOutputs *out = NULL;
    ScriptlessStatus st = scriptless_model_run(model, args, n, &out);
    check_ok(name, st);
    return st == SCRIPTLESS_OK ? out : NULL;
}

static size_t outputs_count(const ScriptlessOutputs *out) {
    size_t n = 0;
    if (scriptless_outputs_count(out, &n) != SCRIPTLESS_OK) {
        return (size_t)-1;
    }
    return n;
}

static int same_view(const ScriptlessTensorView *a, const ScriptlessTensorView *b) {
    if (a->dtype != b->dtype || a->rank != b->rank || a->len != b->len) {
        return 0;
    }
    for (size_t d = 0; d < a->rank; d++) {
        if (a->shape[d] != b->shape[d]) return 0;
    }
    size_t size = a->dtype == SCRIPTLESS_DTYPE_F64 || a->dtype == SCRIPTLESS_DTYPE_I64 ? 8 : 4;
    return a->len == 0 || memcmp(a->data, b->data, a->len * size) == 0;
}


static float x2x10[20];
static const size_t shape_2x10[2] = {2, 10};

/* ------------------------------------------------------------------------------------------ */

static void load_cases(void) {
    ScriptlessModelKind kind = 99;
    ScriptlessLoadOptions opts;

    ScriptlessModel *m = load(DICT_PT, NULL);
    if (m) {
        check_ok("kind of a user's .pt", scriptless_model_kind(m, &kind));
        check_true("a user's .pt is SCRIPTLESS_MODEL_PROGRAM", kind == SCRIPTLESS_MODEL_PROGRAM, "PROGRAM");
        ScriptlessDType dtype = 0;
        EXPECT2("dtype of a program in its archive's dtypes", SCRIPTLESS_ERROR_UNSUPPORTED, "options.dtype",
                "ScriptlessTensorView", scriptless_model_dtype(m, &dtype));
        scriptless_model_destroy(&m);
    }
    m = load(DICT_PT2, NULL);
    if (m) {
        kind = 99;
        scriptless_model_kind(m, &kind);
        check_true("a user's .pt2 is SCRIPTLESS_MODEL_PROGRAM", kind == SCRIPTLESS_MODEL_PROGRAM, "PROGRAM");
        ScriptlessArgInfo info;
        check_ok("arg_info of a .pt2", scriptless_model_arg_info(m, 0, &info));
        check_true(".pt2 declares x as F32 of rank 2",
                   info.has_dtype && info.dtype == SCRIPTLESS_DTYPE_F32 && info.rank == 2 &&
                       info.kind == SCRIPTLESS_ARG_TENSOR && strcmp(info.name, "x") == 0,
                   "has_dtype, F32, rank 2");
        ScriptlessInputInfo in;
        check_ok("input_info of a .pt2", scriptless_model_input_info(m, 0, &in));
        check_true(".pt2 input_info: x, float, rank 2, last dim 10",
                   strcmp(in.name, "x") == 0 && !in.integer && in.rank == 2 && in.last_dim == 10 &&
                       strstr(in.shape, "10") != NULL && strstr(in.shape, "float32") != NULL,
                   in.shape);
        scriptless_model_destroy(&m);
    }
    /* The not-seed archive that the seed-only C API refused now runs by its own code. */
    m = load("tests/fixtures/not_seed/sequence_relu/weights.pt", NULL);
    if (m) {
        kind = 99;
        scriptless_model_kind(m, &kind);
        check_true("an archive whose code is not the seed's runs by it", kind == SCRIPTLESS_MODEL_PROGRAM,
                   "PROGRAM");
        scriptless_model_destroy(&m);
    }

    /* SCRIPTLESS_MODEL_PROGRAM: the seed's archive by its own code, as --interpret does. */
    memset(&opts, 0, sizeof opts);
    opts.model = SCRIPTLESS_MODEL_PROGRAM;
    m = load("weights/sequence.pt", &opts);
    if (m) {
        kind = 99;
        scriptless_model_kind(m, &kind);
        check_true("options.model = PROGRAM runs the seed's archive by its code", kind == SCRIPTLESS_MODEL_PROGRAM,
                   "PROGRAM");
        size_t n = 0;
        scriptless_model_arg_count(m, &n);
        check_true("the seed's archive by its code takes 2 arguments", n == 2, "2");
        scriptless_model_destroy(&m);
    }
    m = (ScriptlessModel *)(void *)&sentinel_target;
    EXPECT("options.model = PROGRAM on safetensors", SCRIPTLESS_ERROR_FORMAT, "weights/sequence.safetensors",
           scriptless_model_load("weights/sequence.safetensors", &opts, &m));
    check_true("a failed load sets *model to NULL", m == NULL, "NULL");
    memset(&opts, 0, sizeof opts);
    opts.model = 5;
    EXPECT("options.model = 5", SCRIPTLESS_ERROR_INVALID_ARGUMENT, "options.model",
           scriptless_model_load(DICT_PT, &opts, &m));
    memset(&opts, 0, sizeof opts);
    opts.pooling = SCRIPTLESS_POOL_LAST_VALID;
    EXPECT("options.pooling on a program", SCRIPTLESS_ERROR_INVALID_ARGUMENT, "options.pooling",
           scriptless_model_load(DICT_PT, &opts, &m));
    memset(&opts, 0, sizeof opts);
    opts.feature_width = 10;
    EXPECT("options.feature_width on a program", SCRIPTLESS_ERROR_INVALID_ARGUMENT, "options.feature_width",
           scriptless_model_load(DICT_PT, &opts, &m));
    memset(&opts, 0, sizeof opts);
    opts.dtype = SCRIPTLESS_DTYPE_I64;
    EXPECT("options.dtype = I64 on a program", SCRIPTLESS_ERROR_INVALID_ARGUMENT, "options.dtype",
           scriptless_model_load(DICT_PT, &opts, &m));
    memset(&opts, 0, sizeof opts);
    opts.max_weights_bytes = 100;
    EXPECT("max_weights_bytes = 100 on a program", SCRIPTLESS_ERROR_LIMIT, "max_weights_bytes",
           scriptless_model_load(DICT_PT, &opts, &m));

    /* options.dtype F64: the program computes in F64 and says so. */
    memset(&opts, 0, sizeof opts);
    opts.dtype = SCRIPTLESS_DTYPE_F64;
    m = load(DICT_PT, &opts);
    if (m) {
        ScriptlessDType dtype = 0;
        check_ok("dtype of a program converted to F64", scriptless_model_dtype(m, &dtype));
        check_true("it is F64", dtype == SCRIPTLESS_DTYPE_F64, "F64");
        ScriptlessArg x = tensor_arg("x", 2, shape_2x10, x2x10);
        ScriptlessOutputs *out = run_ok("run a program converted to F64", m, &x, 1);
        ScriptlessTensorView v;
        if (out && scriptless_outputs_find(out, "output.logits", &v) == SCRIPTLESS_OK) {
            check_true("its logits are F64", v.dtype == SCRIPTLESS_DTYPE_F64 && v.len == 8, "F64, 8 values");
        } else {
            fail("F64 logits", "%s%s", last_error_or("no outputs"), "");
        }
        scriptless_outputs_destroy(&out);
        scriptless_model_destroy(&m);
    }

    /* From memory: whole, and truncated. */
    size_t len = 0;
    unsigned char *buf = read_file(DICT_PT, &len);
    if (!buf || len < 64) {
        fail("read " DICT_PT, "%s%s", "cannot read it (run from the repository root)", "");
    } else {
        check_ok("load_from_memory of a user's .pt", scriptless_model_load_from_memory(buf, len, NULL, &m));
        kind = 99;
        scriptless_model_kind(m, &kind);
        check_true("from memory it is a program", kind == SCRIPTLESS_MODEL_PROGRAM, "PROGRAM");
        scriptless_model_destroy(&m);
        const size_t cuts[] = {0, 4, len / 2, len - 1};
        for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
            unsigned char *copy = malloc(cuts[c] ? cuts[c] : 1);
            if (!copy) continue;
            memcpy(copy, buf, cuts[c]);
            char name[128];
            snprintf(name, sizeof name, "load_from_memory of a .pt truncated to %zu of %zu bytes", cuts[c], len);
            EXPECT(name, SCRIPTLESS_ERROR_FORMAT, "weights buffer",
                   scriptless_model_load_from_memory(copy, cuts[c], NULL, &m));
            check_true("  and *model is NULL", m == NULL, "NULL");
            free(copy);
        }
    }
    free(buf);
}

static void signature_cases(void) {
    ScriptlessModel *m = load(CHECKED, NULL);
    if (!m) return;
    const char *json = NULL;
    size_t count = 0;
    ScriptlessArgInfo info;

    EXPECT("signature_json: NULL model", SCRIPTLESS_ERROR_NULL_ARGUMENT, "`model`",
           scriptless_model_signature_json(NULL, &json));
    EXPECT("signature_json: NULL json", SCRIPTLESS_ERROR_NULL_ARGUMENT, "`json`",
           scriptless_model_signature_json(m, NULL));
    check_ok("signature_json", scriptless_model_signature_json(m, &json));
    check_true("the signature names every argument and the return type",
               json && strstr(json, "\"name\":\"temperature\"") && strstr(json, "\"type\":\"Optional[Tensor]\"") &&
                   strstr(json, "\"returns\":\"Dict[str, Tensor]\""),
               json ? json : "(NULL)");
    EXPECT("arg_count: NULL model", SCRIPTLESS_ERROR_NULL_ARGUMENT, "`model`", scriptless_model_arg_count(NULL, &count));
    EXPECT("arg_count: NULL count", SCRIPTLESS_ERROR_NULL_ARGUMENT, "`count`", scriptless_model_arg_count(m, NULL));
    check_ok("arg_count", scriptless_model_arg_count(m, &count));
    check_true("checked.pt takes 3 arguments", count == 3, "3");
    EXPECT("arg_info: NULL model", SCRIPTLESS_ERROR_NULL_ARGUMENT, "`model`", scriptless_model_arg_info(NULL, 0, &info));
    EXPECT("arg_info: NULL info", SCRIPTLESS_ERROR_NULL_ARGUMENT, "`info`", scriptless_model_arg_info(m, 0, NULL));
    EXPECT2("arg_info: index 3", SCRIPTLESS_ERROR_INVALID_ARGUMENT, "index is 3", "3 arguments",
            scriptless_model_arg_info(m, 3, &info));
    EXPECT("arg_info: index SIZE_MAX", SCRIPTLESS_ERROR_INVALID_ARGUMENT, "index",
           scriptless_model_arg_info(m, SIZE_MAX, &info));
    check_ok("arg_info 0", scriptless_model_arg_info(m, 0, &info));
    check_true("x: a tensor, required, no declared dtype",
               strcmp(info.name, "x") == 0 && strcmp(info.type_name, "Tensor") == 0 &&
                   info.kind == SCRIPTLESS_ARG_TENSOR && !info.optional && !info.has_default && !info.has_dtype &&
                   info.rank == -1,
               "x");
    check_ok("arg_info 1", scriptless_model_arg_info(m, 1, &info));
    check_true("temperature: a float with a default",
               strcmp(info.name, "temperature") == 0 && info.kind == SCRIPTLESS_ARG_FLOAT && !info.optional &&
                   info.has_default,
               "temperature");
    check_ok("arg_info 2", scriptless_model_arg_info(m, 2, &info));
    check_true("mask: an optional tensor with a default",
               strcmp(info.name, "mask") == 0 && info.kind == SCRIPTLESS_ARG_TENSOR && info.optional &&
                   info.has_default && strcmp(info.type_name, "Optional[Tensor]") == 0,
               "mask");
    /* The seed-only queries, for a user's model. */
    size_t n = 0;
    check_ok("input_count of a program", scriptless_model_input_count(m, &n));
    check_true("input_count is the argument count", n == 3, "3");
    ScriptlessInputInfo in;
    check_ok("input_info of a program", scriptless_model_input_info(m, 2, &in));
    check_true("input_info: mask, its type in words, rank unknown",
               strcmp(in.name, "mask") == 0 && strcmp(in.shape, "Optional[Tensor]") == 0 && in.rank == -1 &&
                   in.last_dim == -1 && !in.integer,
               in.shape);
    EXPECT("input_info of a program: index 3", SCRIPTLESS_ERROR_INVALID_ARGUMENT, "index",
           scriptless_model_input_info(m, 3, &in));
    scriptless_model_destroy(&m);

    /* A seed model's signature: its two tensors. */
    m = load(SEQUENCE, NULL);
    if (!m) return;
    check_ok("signature_json of a seed model", scriptless_model_signature_json(m, &json));
    check_true("it names padded_seq and seq_lengths, returning a Tensor",
               json && strstr(json, "\"name\":\"padded_seq\"") && strstr(json, "\"name\":\"seq_lengths\"") &&
                   strstr(json, "\"returns\":\"Tensor\""),
               json ? json : "(NULL)");
    check_ok("arg_info of a seed model", scriptless_model_arg_info(m, 0, &info));
    check_true("padded_seq: a tensor of rank 3", info.kind == SCRIPTLESS_ARG_TENSOR && info.rank == 3 && !info.has_dtype,
               "rank 3");
    scriptless_model_destroy(&m);
}

static void run_cases(void) {
    ScriptlessModel *m = load(DICT_PT, NULL);
    if (!m) return;
    ScriptlessArg good = tensor_arg("x", 2, shape_2x10, x2x10);
    ScriptlessOutputs *out = NULL;

    EXPECT("run: NULL model", SCRIPTLESS_ERROR_NULL_ARGUMENT, "`model`", scriptless_model_run(NULL, &good, 1, &out));
    EXPECT("run: NULL outputs", SCRIPTLESS_ERROR_NULL_ARGUMENT, "`outputs`", scriptless_model_run(m, &good, 1, NULL));
    expect_run_fails("run: NULL args with count 1", m, NULL, 1, SCRIPTLESS_ERROR_NULL_ARGUMENT, "`args`", NULL);
    expect_run_fails("run: no args (x missing)", m, NULL, 0, SCRIPTLESS_ERROR_INPUT, "`x`", "missing");
    {
        ScriptlessArg a = good;
        a.name = NULL;
        expect_run_fails("run: NULL name", m, &a, 1, SCRIPTLESS_ERROR_NULL_ARGUMENT, "args[0].name", NULL);
        a.name = "\xff";
        expect_run_fails("run: name not UTF-8", m, &a, 1, SCRIPTLESS_ERROR_INVALID_ARGUMENT, "args[0].name", NULL);
        a.name = "y";
        expect_run_fails("run: a name that is not an argument", m, &a, 1, SCRIPTLESS_ERROR_INPUT, "`y`",
                         "no such argument");
    }
    {
        ScriptlessArg two[2] = {good, good};
        expect_run_fails("run: x given twice", m, two, 2, SCRIPTLESS_ERROR_INPUT, "`x`", "twice");
        /* A count past the arguments meant: the second is a zeroed struct. */
        memset(&two[1], 0, sizeof two[1]);
        expect_run_fails("run: count 2 with one argument filled in", m, two, 2, SCRIPTLESS_ERROR_NULL_ARGUMENT,
                         "args[1].name", NULL);
        /* A name forward does not take is refused before its kind is read. */
        two[1].name = "x2";
        expect_run_fails("run: kind 0 under a name that is not an argument", m, two, 2, SCRIPTLESS_ERROR_INPUT,
                         "`x2`", "no such argument");
        ScriptlessArg zero;
        memset(&zero, 0, sizeof zero);
        zero.name = "x";
        expect_run_fails("run: kind 0", m, &zero, 1, SCRIPTLESS_ERROR_INVALID_ARGUMENT, "args[0].kind", "x");
    }
    {
        ScriptlessArg a = good;
        a.kind = 99;
        expect_run_fails("run: kind 99", m, &a, 1, SCRIPTLESS_ERROR_INVALID_ARGUMENT, "args[0].kind",
                         "not a SCRIPTLESS_ARG_* value");
        a.kind = SCRIPTLESS_ARG_OTHER;
        expect_run_fails("run: kind OTHER", m, &a, 1, SCRIPTLESS_ERROR_INVALID_ARGUMENT, "args[0].kind",
                         "SCRIPTLESS_ARG_OTHER");
        /* An int where a Tensor is declared is a 0-dim tensor (torch.tensor(3)), which the
           model's Linear refuses. */
        a.kind = SCRIPTLESS_ARG_INT;
        a.int_value = 3;
        expect_run_fails("run: an int for a tensor", m, &a, 1, SCRIPTLESS_ERROR_MODEL, "aten::linear", NULL);
        a.kind = SCRIPTLESS_ARG_STR;
        a.str_value = "hello";
        expect_run_fails("run: a str for a tensor", m, &a, 1, SCRIPTLESS_ERROR_INPUT, "`x`", "str");
        a.str_value = NULL;
        expect_run_fails("run: a str that is NULL", m, &a, 1, SCRIPTLESS_ERROR_NULL_ARGUMENT, "args[0].str_value",
                         NULL);
        a.kind = SCRIPTLESS_ARG_NONE;
        expect_run_fails("run: None for a tensor", m, &a, 1, SCRIPTLESS_ERROR_INPUT, "`x`", "None");
        a.kind = SCRIPTLESS_ARG_TENSOR_LIST;
        a.tensors = NULL;
        a.count = 2;
        expect_run_fails("run: a tensor list NULL with 2 items", m, &a, 1, SCRIPTLESS_ERROR_NULL_ARGUMENT,
                         "args[0].tensors", NULL);
        a.kind = SCRIPTLESS_ARG_INT_LIST;
        a.ints = NULL;
        expect_run_fails("run: an int list NULL with 2 items", m, &a, 1, SCRIPTLESS_ERROR_NULL_ARGUMENT,
                         "args[0].ints", NULL);
        a.kind = SCRIPTLESS_ARG_FLOAT_LIST;
        a.floats = NULL;
        expect_run_fails("run: a float list NULL with 2 items", m, &a, 1, SCRIPTLESS_ERROR_NULL_ARGUMENT,
                         "args[0].floats", NULL);
        a.kind = SCRIPTLESS_ARG_BOOL_LIST;
        a.bools = NULL;
        expect_run_fails("run: a bool list NULL with 2 items", m, &a, 1, SCRIPTLESS_ERROR_NULL_ARGUMENT,
                         "args[0].bools", NULL);
        a.count = SIZE_MAX;
        expect_run_fails("run: a list of SIZE_MAX items", m, &a, 1, SCRIPTLESS_ERROR_LIMIT, "max_elements", "`x`");
        /* A float list where a Tensor is declared becomes a float32 tensor, as in JSON. */
        static const double row[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
        a.kind = SCRIPTLESS_ARG_FLOAT_LIST;
        a.floats = row;
        a.count = 10;
        ScriptlessOutputs *o = run_ok("run: a float list for the tensor x", m, &a, 1);
        ScriptlessTensorView v;
        check_true("  it ran as a float32 tensor of 10",
                   o && scriptless_outputs_find(o, "output.logits", &v) == SCRIPTLESS_OK &&
                       v.dtype == SCRIPTLESS_DTYPE_F32 && v.rank == 1 && v.len == 4,
                   "logits F32 (4,)");
        scriptless_outputs_destroy(&o);
    }
    {
        ScriptlessArg a = good;
        a.tensor.data = NULL;
        expect_run_fails("run: NULL data with 20 elements", m, &a, 1, SCRIPTLESS_ERROR_NULL_ARGUMENT,
                         "args[0].tensor.data", "`x`");
        a = good;
        a.tensor.shape = NULL;
        expect_run_fails("run: NULL shape with rank 2", m, &a, 1, SCRIPTLESS_ERROR_NULL_ARGUMENT,
                         "args[0].tensor.shape", NULL);
        a = good;
        a.tensor.rank = SCRIPTLESS_MAX_RANK + 1;
        expect_run_fails("run: rank 17", m, &a, 1, SCRIPTLESS_ERROR_INVALID_ARGUMENT, "args[0].tensor.rank", NULL);
        a = good;
        a.tensor.dtype = 99;
        expect_run_fails("run: dtype 99", m, &a, 1, SCRIPTLESS_ERROR_INVALID_ARGUMENT, "args[0].tensor.dtype", "99");
        a = good;
        static const size_t huge[3] = {1u << 20, 1u << 20, 1u << 20};
        a.tensor.rank = 3;
        a.tensor.shape = huge;
        expect_run_fails("run: 2^60 elements", m, &a, 1, SCRIPTLESS_ERROR_LIMIT, "max_elements", "`x`");
        /* The tensor's own name is not read. */
        a = good;
        a.tensor.name = "ignored";
        out = run_ok("run: the tensor's own name is ignored", m, &a, 1);
        scriptless_outputs_destroy(&out);
        /* A wrong shape is the model's own failure (its Linear's), not a crash. */
        static const size_t wide[2] = {2, 5};
        a = good;
        a.tensor.shape = wide;
        expect_run_fails("run: x of (2, 5) into a Linear of 10", m, &a, 1, SCRIPTLESS_ERROR_MODEL, NULL, NULL);
        /* An int64 tensor where floats are computed. */
        static const int64_t ints[20] = {0};
        a = good;
        a.tensor.dtype = SCRIPTLESS_DTYPE_I64;
        a.tensor.data = ints;
        ScriptlessOutputs *o = NULL;
        ScriptlessStatus st = scriptless_model_run(m, &a, 1, &o);
        check_true("run: an int64 x is refused or run, never a crash", st == SCRIPTLESS_OK || st == SCRIPTLESS_ERROR_MODEL ||
                       st == SCRIPTLESS_ERROR_INPUT, scriptless_status_name(st));
        scriptless_outputs_destroy(&o);
    }

    /* The outputs, and hostile calls on them. */
    out = run_ok("run dict_output", m, &good, 1);
    if (out) {
        size_t n = 0;
        ScriptlessTensorView v, w;
        const char *name = NULL;
        EXPECT("outputs_count: NULL outputs", SCRIPTLESS_ERROR_NULL_ARGUMENT, "`outputs`",
               scriptless_outputs_count(NULL, &n));
        EXPECT("outputs_count: NULL count", SCRIPTLESS_ERROR_NULL_ARGUMENT, "`count`", scriptless_outputs_count(out, NULL));
        check_true("2 outputs", outputs_count(out) == 2, "2");
        EXPECT("outputs_get: NULL outputs", SCRIPTLESS_ERROR_NULL_ARGUMENT, "`outputs`",
               scriptless_outputs_get(NULL, 0, &v, &name));
        EXPECT("outputs_get: NULL view", SCRIPTLESS_ERROR_NULL_ARGUMENT, "`view`", scriptless_outputs_get(out, 0, NULL, &name));
        EXPECT2("outputs_get: index 2", SCRIPTLESS_ERROR_INVALID_ARGUMENT, "index is 2", "2 outputs",
                scriptless_outputs_get(out, 2, &v, &name));
        check_ok("outputs_get 0", scriptless_outputs_get(out, 0, &v, &name));
        check_true("output 0 is output.logits, F32 (2, 4)",
                   name && strcmp(name, "output.logits") == 0 && v.dtype == SCRIPTLESS_DTYPE_F32 && v.rank == 2 &&
                       v.shape[0] == 2 && v.shape[1] == 4 && v.len == 8,
                   "output.logits");
        check_ok("outputs_get 1 without its name", scriptless_outputs_get(out, 1, &v, NULL));
        check_true("output 1 is I64 (2,)", v.dtype == SCRIPTLESS_DTYPE_I64 && v.rank == 1 && v.len == 2, "I64 (2,)");
        check_ok("outputs_find output.label", scriptless_outputs_find(out, "output.label", &w));
        check_true("find gives what get gives", same_view(&v, &w), "the same view");
        EXPECT2("outputs_find: a name no output has", SCRIPTLESS_ERROR_INVALID_ARGUMENT, "`label`", "`output.label`",
                scriptless_outputs_find(out, "label", &w));
        EXPECT("outputs_find: NULL name", SCRIPTLESS_ERROR_NULL_ARGUMENT, "`name`", scriptless_outputs_find(out, NULL, &w));
        EXPECT("outputs_find: NULL view", SCRIPTLESS_ERROR_NULL_ARGUMENT, "`view`",
               scriptless_outputs_find(out, "output.label", NULL));
        EXPECT("outputs_find: NULL outputs", SCRIPTLESS_ERROR_NULL_ARGUMENT, "`outputs`",
               scriptless_outputs_find(NULL, "output.label", &w));
        /* The same arguments again (a replayed call) give the same outputs, bit for bit. */
        ScriptlessOutputs *again = run_ok("run dict_output again", m, &good, 1);
        ScriptlessTensorView a0, b0;
        if (again && scriptless_outputs_get(out, 0, &a0, NULL) == SCRIPTLESS_OK &&
            scriptless_outputs_get(again, 0, &b0, NULL) == SCRIPTLESS_OK) {
            check_true("a second call gives the same logits", same_view(&a0, &b0), "bit for bit");
        }
        scriptless_outputs_destroy(&again);
    }
    EXPECT("outputs_destroy: NULL slot", SCRIPTLESS_ERROR_NULL_ARGUMENT, "`outputs`", scriptless_outputs_destroy(NULL));
    check_ok("outputs_destroy", scriptless_outputs_destroy(&out));
    check_true("outputs_destroy sets the handle to NULL", out == NULL, "NULL");
    check_ok("outputs_destroy of NULL", scriptless_outputs_destroy(&out));

    /* The seed-only entry points, for a model returning a dict. */
    ScriptlessInput in = input_f32(2, shape_2x10, x2x10);
    in.name = "x";
    ScriptlessTensor *t = SENTINEL_TENSOR;
    EXPECT2("forward of a model returning a dict", SCRIPTLESS_ERROR_UNSUPPORTED, "scriptless_model_run",
            "`output.logits`", scriptless_model_forward(m, &in, 1, &t));
    check_true("  and *output is NULL", t == NULL, "NULL");
    size_t shape[4], rank = 0;
    EXPECT("output_shape of a program", SCRIPTLESS_ERROR_UNSUPPORTED, "scriptless_model_run",
           scriptless_model_output_shape(m, &in, 1, shape, 4, &rank));
    scriptless_model_destroy(&m);
}

/* A model whose forward returns one tensor: forward, forward_into and forward_many run it. */
static void one_tensor_cases(void) {
    ScriptlessModel *m = load(MLP, NULL);
    if (!m) return;
    static float x[3 * 12];
    for (size_t i = 0; i < 3 * 12; i++) x[i] = (float)sin((double)i);
    const size_t shape[2] = {3, 12};
    ScriptlessArg arg = tensor_arg("x", 2, shape, x);
    ScriptlessOutputs *out = run_ok("run the MLP", m, &arg, 1);
    ScriptlessTensorView ran;
    if (!out || scriptless_outputs_find(out, "output", &ran) != SCRIPTLESS_OK) {
        fail("the MLP's output", "%s%s", last_error_or("no outputs"), "");
        scriptless_outputs_destroy(&out);
        scriptless_model_destroy(&m);
        return;
    }
    check_true("the MLP's one output is `output`, F32 (3, 5)",
               ran.dtype == SCRIPTLESS_DTYPE_F32 && ran.rank == 2 && ran.shape[0] == 3 && ran.shape[1] == 5, "(3, 5)");

    ScriptlessInput in = input_f32(2, shape, x);
    in.name = "x";
    ScriptlessTensor *t = NULL;
    check_ok("forward the MLP", scriptless_model_forward(m, &in, 1, &t));
    ScriptlessTensorView fv;
    if (t && scriptless_tensor_view(t, &fv) == SCRIPTLESS_OK) {
        check_true("forward gives run's output, bit for bit", same_view(&fv, &ran), "bit for bit");
    }
    scriptless_tensor_destroy(&t);
    {
        ScriptlessInput two[2] = {in, in};
        t = SENTINEL_TENSOR;
        EXPECT2("forward: x given twice", SCRIPTLESS_ERROR_INPUT, "`x`", "twice", scriptless_model_forward(m, two, 2, &t));
        check_true("  and *output is NULL", t == NULL, "NULL");
        two[1].name = "y";
        EXPECT2("forward: an input that is not an argument", SCRIPTLESS_ERROR_INPUT, "`y`", "no such argument",
                scriptless_model_forward(m, two, 2, &t));
        ScriptlessInput bad = in;
        bad.data = NULL;
        EXPECT("forward: NULL data", SCRIPTLESS_ERROR_NULL_ARGUMENT, "inputs[0].data", scriptless_model_forward(m, &bad, 1, &t));
        bad = in;
        bad.dtype = 77;
        EXPECT("forward: dtype 77", SCRIPTLESS_ERROR_INVALID_ARGUMENT, "inputs[0].dtype", scriptless_model_forward(m, &bad, 1, &t));
    }

    float buf[15];
    size_t len = 0;
    check_ok("forward_into the MLP", scriptless_model_forward_into(m, &in, 1, SCRIPTLESS_DTYPE_F32, buf, 15, &len));
    check_true("forward_into writes run's 15 values", len == 15 && memcmp(buf, ran.data, sizeof buf) == 0, "bit for bit");
    len = 0;
    EXPECT2("forward_into: a buffer of 14", SCRIPTLESS_ERROR_BUFFER_TOO_SMALL, "14", "15",
            scriptless_model_forward_into(m, &in, 1, SCRIPTLESS_DTYPE_F32, buf, 14, &len));
    check_true("  and *len says 15", len == 15, "15");
    EXPECT2("forward_into: F64 for an F32 output", SCRIPTLESS_ERROR_INVALID_ARGUMENT, "SCRIPTLESS_DTYPE_F64",
            "SCRIPTLESS_DTYPE_F32", scriptless_model_forward_into(m, &in, 1, SCRIPTLESS_DTYPE_F64, buf, 15, &len));
    EXPECT("forward_into: dtype 99", SCRIPTLESS_ERROR_INVALID_ARGUMENT, "dtype",
           scriptless_model_forward_into(m, &in, 1, 99, buf, 15, &len));
    EXPECT("forward_into: NULL data", SCRIPTLESS_ERROR_NULL_ARGUMENT, "`data`",
           scriptless_model_forward_into(m, &in, 1, SCRIPTLESS_DTYPE_F32, NULL, 15, &len));
    EXPECT("forward_into: NULL len", SCRIPTLESS_ERROR_NULL_ARGUMENT, "`len`",
           scriptless_model_forward_into(m, &in, 1, SCRIPTLESS_DTYPE_F32, buf, 15, NULL));

    /* forward_many: one call per request, each with its own result. */
    ScriptlessInput bad = in;
    bad.name = "nope";
    ScriptlessRequest requests[3];
    memset(requests, 0, sizeof requests);
    requests[0].inputs = &in;
    requests[0].num_inputs = 1;
    requests[1].inputs = &bad;
    requests[1].num_inputs = 1;
    requests[2].inputs = &in;
    requests[2].num_inputs = 1;
    EXPECT2("forward_many with a bad request", SCRIPTLESS_ERROR_INPUT, "request 1", "`nope`",
            scriptless_model_forward_many(m, requests, 3));
    check_true("requests 0 and 2 ran, request 1 failed alone",
               requests[0].status == SCRIPTLESS_OK && requests[0].output != NULL &&
                   requests[1].status == SCRIPTLESS_ERROR_INPUT && requests[1].output == NULL &&
                   requests[1].error != NULL && strstr(requests[1].error, "nope") != NULL &&
                   requests[2].status == SCRIPTLESS_OK && requests[2].output != NULL,
               "OK, INPUT, OK");
    for (size_t i = 0; i < 3; i++) {
        ScriptlessTensorView rv;
        if (requests[i].output && scriptless_tensor_view(requests[i].output, &rv) == SCRIPTLESS_OK) {
            check_true("a forward_many output is run's, bit for bit", same_view(&rv, &ran), "bit for bit");
        }
        scriptless_tensor_destroy(&requests[i].output);
    }
    scriptless_outputs_destroy(&out);
    scriptless_model_destroy(&m);
}

/* Arguments of every kind the corpus declares: floats, ints, lists of tensors, None. */
static void kinds_cases(void) {
    static float x[5 * 8];
    for (size_t i = 0; i < 5 * 8; i++) x[i] = (float)cos((double)i);
    const size_t shape[2] = {5, 8};
    ScriptlessModel *m = load(SCALAR_ARGS, NULL);
    if (m) {
        ScriptlessArg args[3] = {tensor_arg("x", 2, shape, x), scalar_arg("scale", SCRIPTLESS_ARG_FLOAT),
                                 scalar_arg("k", SCRIPTLESS_ARG_INT)};
        args[1].float_value = 0.5;
        args[2].int_value = 3;
        ScriptlessOutputs *out = run_ok("scalar_args: x, scale, k", m, args, 3);
        ScriptlessTensorView values, indices;
        const char *n0 = NULL, *n1 = NULL;
        if (out && scriptless_outputs_get(out, 0, &values, &n0) == SCRIPTLESS_OK &&
            scriptless_outputs_get(out, 1, &indices, &n1) == SCRIPTLESS_OK) {
            check_true("a tuple's outputs are output.0 (F32 (5, 3)) and output.1 (I64 (5, 3))",
                       strcmp(n0, "output.0") == 0 && strcmp(n1, "output.1") == 0 &&
                           values.dtype == SCRIPTLESS_DTYPE_F32 && indices.dtype == SCRIPTLESS_DTYPE_I64 &&
                           values.len == 15 && indices.len == 15 && values.shape[1] == 3,
                       "output.0, output.1");
        }
        /* An int where a float is declared is taken, as PyTorch takes it. */
        ScriptlessArg int_scale[3] = {args[0], scalar_arg("scale", SCRIPTLESS_ARG_INT), args[2]};
        int_scale[1].int_value = 1;
        ScriptlessOutputs *o = run_ok("scalar_args: an int for the float scale", m, int_scale, 3);
        scriptless_outputs_destroy(&o);
        /* A float where an int is declared is refused. */
        ScriptlessArg float_k[3] = {args[0], args[1], scalar_arg("k", SCRIPTLESS_ARG_FLOAT)};
        float_k[2].float_value = 3.0;
        expect_run_fails("scalar_args: a float for the int k", m, float_k, 3, SCRIPTLESS_ERROR_INPUT, "`k`", "int");
        expect_run_fails("scalar_args: k missing", m, args, 2, SCRIPTLESS_ERROR_INPUT, "`k`", "missing");
        /* k = 11 of 10 features: topk's own error. */
        ScriptlessArg big_k[3] = {args[0], args[1], args[2]};
        big_k[2].int_value = 11;
        expect_run_fails("scalar_args: k past the features", m, big_k, 3, SCRIPTLESS_ERROR_MODEL, NULL, NULL);
        /* forward takes tensors only: the model needs scale and k. */
        ScriptlessInput in = input_f32(2, shape, x);
        in.name = "x";
        ScriptlessTensor *t = NULL;
        EXPECT("forward of a model that needs non-tensor arguments", SCRIPTLESS_ERROR_INPUT, "`scale`",
               scriptless_model_forward(m, &in, 1, &t));
        scriptless_outputs_destroy(&out);
        scriptless_model_destroy(&m);
    }

    m = load(LIST_INPUT, NULL);
    if (m) {
        static float items[3][2 * 6];
        for (size_t i = 0; i < 3; i++)
            for (size_t j = 0; j < 12; j++) items[i][j] = (float)(i + 1) * 0.1f * (float)j;
        const size_t item_shape[2] = {2, 6};
        ScriptlessInput list[3] = {input_f32(2, item_shape, items[0]), input_f32(2, item_shape, items[1]),
                                   input_f32(2, item_shape, items[2])};
        ScriptlessArg xs = scalar_arg("xs", SCRIPTLESS_ARG_TENSOR_LIST);
        xs.tensors = list;
        xs.count = 3;
        ScriptlessOutputs *out = run_ok("list_input: a list of 3 tensors", m, &xs, 1);
        check_true("list_input: one output", out && outputs_count(out) == 1, "1");
        scriptless_outputs_destroy(&out);
        list[1].dtype = 42;
        expect_run_fails("list_input: item 1 of dtype 42", m, &xs, 1, SCRIPTLESS_ERROR_INVALID_ARGUMENT,
                         "args[0].tensors[1].dtype", "xs[1]");
        list[1].dtype = SCRIPTLESS_DTYPE_F32;
        list[2].data = NULL;
        expect_run_fails("list_input: item 2 with NULL data", m, &xs, 1, SCRIPTLESS_ERROR_NULL_ARGUMENT,
                         "args[0].tensors[2].data", NULL);
        xs.tensors = NULL;
        expect_run_fails("list_input: the list NULL with 3 items", m, &xs, 1, SCRIPTLESS_ERROR_NULL_ARGUMENT,
                         "args[0].tensors", NULL);
        ScriptlessArg one = tensor_arg("xs", 2, item_shape, items[0]);
        expect_run_fails("list_input: one tensor for the list", m, &one, 1, SCRIPTLESS_ERROR_INPUT, "`xs`", NULL);
        scriptless_model_destroy(&m);
    }

    /* A model that checks its inputs and raises its own exceptions. */
    m = load(CHECKED, NULL);
    if (m) {
        static const float x4[2 * 4] = {1, 2, 3, 4, 5, 6, 7, 8};
        const size_t s24[2] = {2, 4}, s4[1] = {4};
        ScriptlessArg ok = tensor_arg("x", 2, s24, x4);
        ScriptlessOutputs *out = run_ok("checked: x alone (defaults for the rest)", m, &ok, 1);
        scriptless_outputs_destroy(&out);
        ScriptlessArg with_none[2] = {ok, scalar_arg("mask", SCRIPTLESS_ARG_NONE)};
        out = run_ok("checked: mask None", m, with_none, 2);
        scriptless_outputs_destroy(&out);
        ScriptlessArg flat = tensor_arg("x", 1, s4, x4);
        expect_run_fails("checked: its own ValueError", m, &flat, 1, SCRIPTLESS_ERROR_MODEL, "ValueError",
                         "x must be (batch, 4)");
        ScriptlessArg cold[2] = {ok, scalar_arg("temperature", SCRIPTLESS_ARG_FLOAT)};
        cold[1].float_value = -1.0;
        expect_run_fails("checked: its own failed assert", m, cold, 2, SCRIPTLESS_ERROR_MODEL, "AssertionError",
                         "temperature must be positive");
        ScriptlessArg str_t[2] = {ok, scalar_arg("temperature", SCRIPTLESS_ARG_STR)};
        str_t[1].str_value = "hot";
        expect_run_fails("checked: a str for the float temperature", m, str_t, 2, SCRIPTLESS_ERROR_INPUT,
                         "`temperature`", "float");
        ScriptlessArg none_t[2] = {ok, scalar_arg("temperature", SCRIPTLESS_ARG_NONE)};
        expect_run_fails("checked: None for the float temperature", m, none_t, 2, SCRIPTLESS_ERROR_INPUT,
                         "`temperature`", NULL);
        scriptless_model_destroy(&m);
    }
}

/* The seed's models through scriptless_model_run: tensors by their argument names. */
static void seed_cases(void) {
    ScriptlessModel *m = load(SEQUENCE, NULL);
    if (!m) return;
    static float padded[3 * 7 * 10];
    for (size_t i = 0; i < 3 * 7 * 10; i++) padded[i] = (float)sin(0.1 * (double)i);
    static const int64_t lengths[3] = {5, 3, 7};
    const size_t ps[3] = {3, 7, 10}, ls[1] = {3};
    ScriptlessArg args[2] = {tensor_arg("seq_lengths", 1, ls, NULL), tensor_arg("padded_seq", 3, ps, padded)};
    args[0].tensor.dtype = SCRIPTLESS_DTYPE_I64;
    args[0].tensor.data = lengths;
    ScriptlessOutputs *out = run_ok("run the seed's sequence model (arguments in any order)", m, args, 2);
    ScriptlessInput in[2] = {args[1].tensor, args[0].tensor};
    in[0].name = "padded_seq";
    in[1].name = "seq_lengths";
    ScriptlessTensor *t = NULL;
    check_ok("forward the seed's sequence model", scriptless_model_forward(m, in, 2, &t));
    ScriptlessTensorView rv, fv;
    const char *name = NULL;
    if (out && t && scriptless_outputs_get(out, 0, &rv, &name) == SCRIPTLESS_OK &&
        scriptless_tensor_view(t, &fv) == SCRIPTLESS_OK) {
        check_true("run gives the seed model's `output`, forward's, bit for bit",
                   outputs_count(out) == 1 && strcmp(name, "output") == 0 && same_view(&rv, &fv), "bit for bit");
    }
    scriptless_tensor_destroy(&t);
    scriptless_outputs_destroy(&out);

    ScriptlessArg bad[2] = {args[0], args[1]};
    bad[0].kind = SCRIPTLESS_ARG_INT_LIST;
    expect_run_fails("seed: an int list for seq_lengths", m, bad, 2, SCRIPTLESS_ERROR_INPUT, "`seq_lengths`",
                     "SCRIPTLESS_ARG_INT_LIST");
    bad[0] = args[0];
    bad[0].name = "lengths";
    expect_run_fails("seed: a name that is not an argument", m, bad, 2, SCRIPTLESS_ERROR_INPUT, "lengths", NULL);
    bad[0] = args[0];
    bad[0].tensor.dtype = 99;
    expect_run_fails("seed: dtype 99", m, bad, 2, SCRIPTLESS_ERROR_INVALID_ARGUMENT, "args[0].tensor.dtype",
                     "seq_lengths");
    bad[0] = args[0];
    bad[0].tensor.dtype = SCRIPTLESS_DTYPE_BOOL;
    expect_run_fails("seed: bool lengths", m, bad, 2, SCRIPTLESS_ERROR_INPUT, "seq_lengths", "SCRIPTLESS_DTYPE_BOOL");
    bad[0] = args[0];
    bad[0].tensor.data = NULL;
    expect_run_fails("seed: NULL data", m, bad, 2, SCRIPTLESS_ERROR_NULL_ARGUMENT, "args[0].tensor.data", NULL);
    expect_run_fails("seed: one argument", m, args + 1, 1, SCRIPTLESS_ERROR_INPUT, "seq_lengths", NULL);
    ScriptlessArg twice[3] = {args[0], args[1], args[1]};
    expect_run_fails("seed: padded_seq twice", m, twice, 3, SCRIPTLESS_ERROR_INPUT, "padded_seq", "twice");
    expect_run_fails("seed: NULL args with count 2", m, NULL, 2, SCRIPTLESS_ERROR_NULL_ARGUMENT, "`args`", NULL);
    scriptless_model_destroy(&m);
}

/* One user's model on 4 threads at once: each thread's runs give the sequential results. */
#define THREADS 4
#define ROUNDS 25

struct worker {
    const ScriptlessModel *model;
    float x[20];
    float expected[8];
    int mismatches;
};

static int logits_of(const ScriptlessModel *m, const float *x, float *logits) {
    ScriptlessArg a = tensor_arg("x", 2, shape_2x10, x);
    ScriptlessOutputs *out = NULL;
    ScriptlessTensorView v;
    int ok = scriptless_model_run(m, &a, 1, &out) == SCRIPTLESS_OK &&
             scriptless_outputs_find(out, "output.logits", &v) == SCRIPTLESS_OK && v.len == 8 &&
             v.dtype == SCRIPTLESS_DTYPE_F32;
    if (ok) memcpy(logits, v.data, sizeof(float) * 8);
    scriptless_outputs_destroy(&out);
    return ok;
}

static void *work(void *p) {
    struct worker *w = p;
    for (int r = 0; r < ROUNDS; r++) {
        float logits[8];
        if (!logits_of(w->model, w->x, logits) || memcmp(logits, w->expected, sizeof logits) != 0) {
            w->mismatches++;
        }
    }
    return NULL;
}

static void thread_cases(void) {
    ScriptlessModel *m = load(DICT_PT, NULL);
    if (!m) return;
    struct worker workers[THREADS];
    pthread_t threads[THREADS];
    for (size_t t = 0; t < THREADS; t++) {
        workers[t].model = m;
        workers[t].mismatches = 0;
        for (size_t i = 0; i < 20; i++) workers[t].x[i] = (float)sin((double)(t * 20 + i));
        if (!logits_of(m, workers[t].x, workers[t].expected)) {
            fail("threads: the sequential run", "%s%s", last_error_or("(NULL)"), "");
            scriptless_model_destroy(&m);
            return;
        }
    }
    for (size_t t = 0; t < THREADS; t++) pthread_create(&threads[t], NULL, work, &workers[t]);
    int mismatches = 0;
    for (size_t t = 0; t < THREADS; t++) {
        pthread_join(threads[t], NULL);
        mismatches += workers[t].mismatches;
    }
    check_true("one user's model on 4 threads gives the sequential results", mismatches == 0, "bit for bit");
    scriptless_model_destroy(&m);
}

int main(void) {
    for (size_t i = 0; i < 20; i++) x2x10[i] = (float)i / 10.0f - 1.0f;
    check_true("SCRIPTLESS_ERROR_MODEL is named", strcmp(scriptless_status_name(SCRIPTLESS_ERROR_MODEL),
                                                         "SCRIPTLESS_ERROR_MODEL") == 0,
               "SCRIPTLESS_ERROR_MODEL");
    load_cases();
    signature_cases();
    run_cases();
    one_tensor_cases();
    kinds_cases();
    seed_cases();
    thread_cases();
    printf("\n%d ok, %d failed\n", n_ok, n_fail);
    return n_fail == 0 ? 0 : 1;
}
