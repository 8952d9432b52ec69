/*
 * seed.c: the seed's three models through the C API, from the weights this repository ships,
 * on the seed's inputs, checked against PyTorch's outputs for them (seed_data.h, generated
 * from the golden fixtures python/export.py wrote). Exits non-zero on any error or mismatch.
 *
 * From the repository root (docs/c-and-cpp.md):
 *   cargo build --release -p scriptless-capi
 *   cc -std=c11 -Icapi/include -Icapi/examples capi/examples/seed.c \
 *      -Ltarget/release -lscriptless -Wl,-rpath,$PWD/target/release -lm -o seed
 *   ./seed
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "scriptless.h"
#include "seed_data.h"

/* PyTorch parity: torch.allclose(got, expected, rtol=1e-4, atol=2e-5). */
#define ATOL 2e-5
#define RTOL 1e-4

/* Prints what failed and scriptless's message for it; returns 1 to count a failure. */
static int report(const char *what) {
    const char *message = scriptless_last_error();
    fprintf(stderr, "seed: %s: %s\n", what, message ? message : "(no message)");
    return 1;
}

/* Compares `len` floats of shape `shape` with the expected ones like torch.allclose, and
 * prints the worst element. Returns 0 when they match. */
static int compare(const char *what, const size_t *shape, size_t rank, const float *got,
                   const size_t *expected_shape, size_t expected_rank, const float *expected) {
    size_t len = 1;
    if (rank != expected_rank) {
        fprintf(stderr, "seed: %s: rank %zu, expected %zu\n", what, rank, expected_rank);
        return 1;
    }
    for (size_t d = 0; d < rank; d++) {
        if (shape[d] != expected_shape[d]) {
            fprintf(stderr, "seed: %s: dim %zu is %zu, expected %zu\n", what, d, shape[d],
                    expected_shape[d]);
            return 1;
        }
        len *= shape[d];
    }
    size_t worst = 0;
    double worst_excess = -INFINITY;
    for (size_t i = 0; i < len; i++) {
        double diff = fabs((double)got[i] - (double)expected[i]);
        double excess = diff - (ATOL + RTOL * fabs((double)expected[i]));
        if (isnan(excess) || excess > worst_excess) {
            worst = i;
            worst_excess = isnan(excess) ? INFINITY : excess;
        }
    }
    int ok = worst_excess <= 0;
    printf("%s %s: %zu values, worst element %zu: %.9g against PyTorch's %.9g\n",
           ok ? "ok  " : "FAIL", what, len, worst, got[worst], expected[worst]);
    return ok ? 0 : 1;
}

/* Runs `model` on `inputs` and checks the output tensor against `expected`. */
static int check_forward(const char *what, const ScriptlessModel *model,
                         const ScriptlessInput *inputs, const size_t *expected_shape,
                         size_t expected_rank, const float *expected) {
    ScriptlessTensor *output = NULL;
    if (scriptless_model_forward(model, inputs, 2, &output) != SCRIPTLESS_OK) {
        return report(what);
    }
    ScriptlessTensorView view;
    int failures = 0;
    if (scriptless_tensor_view(output, &view) != SCRIPTLESS_OK) {
        failures = report(what);
    } else if (view.dtype != SCRIPTLESS_DTYPE_F32) {
        fprintf(stderr, "seed: %s: dtype %u, expected F32\n", what, (unsigned)view.dtype);
        failures = 1;
    } else {
        failures = compare(what, view.shape, view.rank, (const float *)view.data,
                           expected_shape, expected_rank, expected);
    }
    scriptless_tensor_destroy(&output);
    return failures;
}

/* The whole of `path`, in memory; NULL on failure. */
static unsigned char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    unsigned char *bytes = NULL;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        bytes = malloc(size > 0 ? (size_t)size : 1);
        if (bytes && fread(bytes, 1, (size_t)size, f) != (size_t)size) {
            free(bytes);
            bytes = NULL;
        }
    }
    fclose(f);
    *len = (size_t)size;
    return bytes;
}

/* TwoInputModule from safetensors, which names its model: no options needed. */
static int two_input(void) {
    ScriptlessModel *model = NULL;
    if (scriptless_model_load("weights/two_input.safetensors", NULL, &model) != SCRIPTLESS_OK) {
        return report("weights/two_input.safetensors");
    }
    ScriptlessInput inputs[2] = {
        {"tensor1", SCRIPTLESS_DTYPE_F32, 2, seed_two_input_tensor1_shape, seed_two_input_tensor1},
        {"tensor2", SCRIPTLESS_DTYPE_F32, 2, seed_two_input_tensor2_shape, seed_two_input_tensor2},
    };
    int failures = check_forward("two-input (safetensors)", model, inputs,
                                 seed_two_input_expected_output_shape, 2,
                                 seed_two_input_expected_output);
    scriptless_model_destroy(&model);
    return failures;
}

/* CategoricalInputModule from torch.save(model.state_dict()), which names no model: the
 * options say which. The model's inputs are described by the model itself. */
static int categorical(void) {
    ScriptlessLoadOptions options = {0};
    options.model = SCRIPTLESS_MODEL_CATEGORICAL;
    ScriptlessModel *model = NULL;
    if (scriptless_model_load("weights/categorical.pth", &options, &model) != SCRIPTLESS_OK) {
        return report("weights/categorical.pth");
    }
    size_t count = 0;
    scriptless_model_input_count(model, &count);
    for (size_t i = 0; i < count; i++) {
        ScriptlessInputInfo info;
        if (scriptless_model_input_info(model, i, &info) == SCRIPTLESS_OK) {
            printf("     categorical input %zu: %s, %s %s\n", i, info.name,
                   info.integer ? "integer" : "float", info.shape);
        }
    }
    ScriptlessInput inputs[2] = {
        {"tensor_input", SCRIPTLESS_DTYPE_F32, 2, seed_categorical_tensor_input_shape,
         seed_categorical_tensor_input},
        {"category_index", SCRIPTLESS_DTYPE_I64, 1, seed_categorical_category_index_shape,
         seed_categorical_category_index},
    };
    int failures = check_forward("categorical (torch.save state_dict)", model, inputs,
                                 seed_categorical_expected_output_shape, 2,
                                 seed_categorical_expected_output);
    scriptless_model_destroy(&model);
    return failures;
}

/* SequenceInputModule from its TorchScript archive (torch.jit.save), loaded from memory; the
 * output written into a buffer of ours, sized from the output's shape. */
static int sequence(void) {
    size_t len = 0;
    unsigned char *bytes = read_file("weights/sequence.pt", &len);
    if (!bytes) {
        perror("seed: weights/sequence.pt");
        return 1;
    }
    ScriptlessModel *model = NULL;
    ScriptlessStatus status = scriptless_model_load_from_memory(bytes, len, NULL, &model);
    free(bytes); /* the model keeps nothing of the buffer */
    if (status != SCRIPTLESS_OK) return report("weights/sequence.pt");

    ScriptlessInput inputs[2] = {
        {"padded_seq", SCRIPTLESS_DTYPE_F32, 3, seed_sequence_padded_seq_shape,
         seed_sequence_padded_seq},
        {"seq_lengths", SCRIPTLESS_DTYPE_I64, 1, seed_sequence_seq_lengths_shape,
         seed_sequence_seq_lengths},
    };
    size_t shape[SCRIPTLESS_MAX_RANK];
    size_t rank = 0;
    if (scriptless_model_output_shape(model, inputs, 2, shape, SCRIPTLESS_MAX_RANK, &rank) !=
        SCRIPTLESS_OK) {
        scriptless_model_destroy(&model);
        return report("sequence output shape");
    }
    size_t capacity = 1;
    for (size_t d = 0; d < rank; d++) capacity *= shape[d];
    float *output = malloc(capacity * sizeof *output);
    size_t written = 0;
    int failures = 0;
    if (!output) {
        failures = 1;
    } else if (scriptless_model_forward_into(model, inputs, 2, SCRIPTLESS_DTYPE_F32, output,
                                             capacity, &written) != SCRIPTLESS_OK) {
        failures = report("sequence (TorchScript archive, from memory)");
    } else {
        failures = compare("sequence (TorchScript archive, from memory)", shape, rank, output,
                           seed_sequence_expected_output_shape, 2, seed_sequence_expected_output);
    }
    free(output);
    scriptless_model_destroy(&model);
    return failures;
}

/* The seed's `unpacked_seq[:, -1, :]` pools padding for the shorter rows, whose output is then
 * the bias; SCRIPTLESS_POOL_LAST_VALID reads each row's own last step. */
static int sequence_last_valid(void) {
    ScriptlessLoadOptions options = {0};
    options.pooling = SCRIPTLESS_POOL_LAST_VALID;
    ScriptlessModel *model = NULL;
    if (scriptless_model_load("weights/sequence.safetensors", &options, &model) !=
        SCRIPTLESS_OK) {
        return report("weights/sequence.safetensors");
    }
    ScriptlessInput inputs[2] = {
        {"seq_lengths", SCRIPTLESS_DTYPE_I64, 1, seed_sequence_seq_lengths_shape,
         seed_sequence_seq_lengths},
        {"padded_seq", SCRIPTLESS_DTYPE_F32, 3, seed_sequence_padded_seq_shape,
         seed_sequence_padded_seq},
    };
    int failures = check_forward("sequence, last valid step (safetensors)", model, inputs,
                                 seed_sequence_expected_output_last_valid_shape, 2,
                                 seed_sequence_expected_output_last_valid);
    scriptless_model_destroy(&model);
    return failures;
}

int main(void) {
    printf("scriptless %s\n", scriptless_version());
    int failures = two_input() + categorical() + sequence() + sequence_last_valid();
    if (failures) {
        fprintf(stderr, "seed: %d check(s) failed\n", failures);
        return 1;
    }
    printf("all outputs match PyTorch's (atol %g, rtol %g)\n", ATOL, RTOL);
    return 0;
}
