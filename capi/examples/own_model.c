/*
 * own_model.c: a user's model from C. Loads examples/dict_output.pt, a TorchScript archive whose
 * forward(x: Tensor) returns a Dict[str, Tensor] ("logits" and "label"), prints its signature,
 * runs it on the 2x10 input of examples/dict_output.json, and prints every output: its name,
 * dtype, shape and values (floats to 9 significant digits, which read back as the same f32).
 * Any TorchScript .pt or torch.export .pt2 runs the same way: scriptless_model_run takes its
 * arguments by name, whatever their types, and returns every output by name.
 *
 * From the repository root (docs/c-and-cpp.md):
 *   cargo build --release -p scriptless-capi
 *   cc -std=c11 -Icapi/include capi/examples/own_model.c \
 *      -Ltarget/release -lscriptless -Wl,-rpath,"$PWD/target/release" -o own_model
 *   ./own_model
 */
#include <inttypes.h>
#include <stdio.h>

#include "scriptless.h"

/* The request examples/dict_output.json: x, two rows of 10 features. */
static const float x[2 * 10] = {
    1.7427925f, 1.8563068f, -0.19960155f, -0.86309147f, 1.0570066f,
    0.35257897f, 1.2582204f, -0.08335665f, -0.79786193f, 0.95781755f,
    -0.053644918f, -1.1359035f, -0.43554294f, -1.4295385f, -0.3793159f,
    1.6876684f, -0.28046036f, -0.12953068f, 0.93548095f, -2.5045357f,
};

static int fail(const char *what, ScriptlessStatus status) {
    const char *message = scriptless_last_error();
    fprintf(stderr, "own_model: %s: %s: %s\n", what, scriptless_status_name(status),
            message ? message : "(no message)");
    return 1;
}

static const char *dtype_name(ScriptlessDType dtype) {
    switch (dtype) {
    case SCRIPTLESS_DTYPE_F32: return "F32";
    case SCRIPTLESS_DTYPE_F64: return "F64";
    case SCRIPTLESS_DTYPE_F16: return "F16";
    case SCRIPTLESS_DTYPE_BF16: return "BF16";
    case SCRIPTLESS_DTYPE_I32: return "I32";
    case SCRIPTLESS_DTYPE_I64: return "I64";
    case SCRIPTLESS_DTYPE_BOOL: return "BOOL";
    case SCRIPTLESS_DTYPE_U8: return "U8";
    case SCRIPTLESS_DTYPE_I16: return "I16";
    default: return "?";
    }
}

/* One output: `name DTYPE [d0, d1]: v0 v1 ...`. */
static void print_output(const char *name, const ScriptlessTensorView *view) {
    printf("%s %s [", name, dtype_name(view->dtype));
    for (size_t d = 0; d < view->rank; d++) {
        printf("%s%zu", d ? ", " : "", view->shape[d]);
    }
    printf("]:");
    for (size_t i = 0; i < view->len; i++) {
        switch (view->dtype) {
        case SCRIPTLESS_DTYPE_F32: printf(" %.9g", (double)((const float *)view->data)[i]); break;
        case SCRIPTLESS_DTYPE_F64: printf(" %.17g", ((const double *)view->data)[i]); break;
        case SCRIPTLESS_DTYPE_I64: printf(" %" PRId64, ((const int64_t *)view->data)[i]); break;
        case SCRIPTLESS_DTYPE_I32: printf(" %" PRId32, ((const int32_t *)view->data)[i]); break;
        case SCRIPTLESS_DTYPE_I16: printf(" %" PRId16, ((const int16_t *)view->data)[i]); break;
        case SCRIPTLESS_DTYPE_BOOL:
        case SCRIPTLESS_DTYPE_U8: printf(" %u", (unsigned)((const uint8_t *)view->data)[i]); break;
        default: printf(" 0x%04x", (unsigned)((const uint16_t *)view->data)[i]); break; /* F16, BF16 */
        }
    }
    printf("\n");
}

int main(void) {
    ScriptlessModel *model = NULL;
    ScriptlessStatus status = scriptless_model_load("examples/dict_output.pt", NULL, &model);
    if (status != SCRIPTLESS_OK) return fail("examples/dict_output.pt", status);

    /* What forward takes: the JSON `scriptless inspect --json` prints, and each argument. */
    const char *signature = NULL;
    status = scriptless_model_signature_json(model, &signature);
    if (status != SCRIPTLESS_OK) return fail("signature", status);
    printf("signature: %s\n", signature);
    size_t n_args = 0;
    status = scriptless_model_arg_count(model, &n_args);
    if (status != SCRIPTLESS_OK) return fail("arg count", status);
    for (size_t i = 0; i < n_args; i++) {
        ScriptlessArgInfo info;
        status = scriptless_model_arg_info(model, i, &info);
        if (status != SCRIPTLESS_OK) return fail("arg info", status);
        printf("argument %zu: %s: %s%s%s\n", i, info.name, info.type_name,
               info.optional ? ", optional" : "", info.has_default ? ", has a default" : "");
    }

    /* Run it: every argument by name, here the one tensor x. */
    const size_t shape[2] = {2, 10};
    ScriptlessArg arg = {0};
    arg.name = "x";
    arg.kind = SCRIPTLESS_ARG_TENSOR;
    arg.tensor.dtype = SCRIPTLESS_DTYPE_F32;
    arg.tensor.rank = 2;
    arg.tensor.shape = shape;
    arg.tensor.data = x;
    ScriptlessOutputs *outputs = NULL;
    status = scriptless_model_run(model, &arg, 1, &outputs);
    if (status != SCRIPTLESS_OK) {
        scriptless_model_destroy(&model);
        return fail("run", status);
    }

    /* Every output, named as the command line names them: output.logits, output.label. */
    size_t n_outputs = 0;
    scriptless_outputs_count(outputs, &n_outputs);
    for (size_t i = 0; i < n_outputs; i++) {
        ScriptlessTensorView view;
        const char *name = NULL;
        status = scriptless_outputs_get(outputs, i, &view, &name);
        if (status != SCRIPTLESS_OK) break;
        print_output(name, &view);
    }
    /* Or one output by its name. */
    ScriptlessTensorView label;
    if (status == SCRIPTLESS_OK) {
        status = scriptless_outputs_find(outputs, "output.label", &label);
    }
    if (status == SCRIPTLESS_OK && label.dtype == SCRIPTLESS_DTYPE_I64 && label.len > 0) {
        printf("label of row 0: %" PRId64 "\n", ((const int64_t *)label.data)[0]);
    }
    if (status != SCRIPTLESS_OK) fail("outputs", status);

    scriptless_outputs_destroy(&outputs);
    scriptless_model_destroy(&model);
    return status == SCRIPTLESS_OK ? 0 : 1;
}
