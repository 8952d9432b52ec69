/*
 * dtypes.c: every input dtype the C API takes gives what the model gives on the same values.
 * The seed's sequence request (seed_data.h) runs as F32 padded_seq with I64 lengths, the
 * reference; then as F64 with I32 lengths, BF16 and F16 (on values those formats hold
 * exactly, run again as F32 for their reference): each output bit for bit its reference's.
 * An F64 model returns F64 within PyTorch's tolerance of the fixture. Exits 1 on a mismatch.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "scriptless.h"
#include "seed_data.h"

#define N 210
#define OUT 30

static int failures = 0;

static void fail(const char *what) {
    const char *message = scriptless_last_error();
    printf("FAIL %s: %s\n", what, message ? message : "(no message)");
    failures++;
}

/* Runs `model` on padded_seq (dtype `pd`) and seq_lengths (dtype `ld`) into `out`. */
static int run(const ScriptlessModel *model, ScriptlessDType pd, const void *padded,
               ScriptlessDType ld, const void *lengths, ScriptlessDType od, void *out,
               const char *what) {
    ScriptlessInput inputs[2] = {
        {"padded_seq", pd, 3, seed_sequence_padded_seq_shape, padded},
        {"seq_lengths", ld, 1, seed_sequence_seq_lengths_shape, lengths},
    };
    size_t len = 0;
    if (scriptless_model_forward_into(model, inputs, 2, od, out, OUT, &len) != SCRIPTLESS_OK ||
        len != OUT) {
        fail(what);
        return 1;
    }
    return 0;
}

static void same_bits(const char *what, const float *got, const float *expected) {
    if (memcmp(got, expected, OUT * sizeof(float)) != 0) {
        printf("FAIL %s: not bit for bit the reference\n", what);
        failures++;
    } else {
        printf("ok   %s: bit for bit the reference\n", what);
    }
}

int main(void) {
    ScriptlessModel *model = NULL;
    if (scriptless_model_load("weights/sequence.safetensors", NULL, &model) != SCRIPTLESS_OK) {
        fail("load");
        return 1;
    }
    float reference[OUT], got[OUT];
    if (run(model, SCRIPTLESS_DTYPE_F32, seed_sequence_padded_seq, SCRIPTLESS_DTYPE_I64,
            seed_sequence_seq_lengths, SCRIPTLESS_DTYPE_F32, reference, "F32 and I64")) {
        return 1;
    }

    /* F64 holds every f32 exactly; I32 every length. */
    double padded_f64[N];
    int32_t lengths_i32[3];
    for (int i = 0; i < N; i++) padded_f64[i] = seed_sequence_padded_seq[i];
    for (int i = 0; i < 3; i++) lengths_i32[i] = (int32_t)seed_sequence_seq_lengths[i];
    if (!run(model, SCRIPTLESS_DTYPE_F64, padded_f64, SCRIPTLESS_DTYPE_I32, lengths_i32,
             SCRIPTLESS_DTYPE_F32, got, "F64 and I32")) {
        same_bits("F64 padded_seq, I32 seq_lengths", got, reference);
    }

    /* BF16 is an f32's high half: truncate the values so BF16 holds them exactly. */
    float truncated[N];
    uint16_t padded_bf16[N];
    for (int i = 0; i < N; i++) {
        uint32_t bits;
        memcpy(&bits, &seed_sequence_padded_seq[i], 4);
        padded_bf16[i] = (uint16_t)(bits >> 16);
        bits &= 0xffff0000u;
        memcpy(&truncated[i], &bits, 4);
    }
    float bf16_reference[OUT];
    if (!run(model, SCRIPTLESS_DTYPE_F32, truncated, SCRIPTLESS_DTYPE_I64,
             seed_sequence_seq_lengths, SCRIPTLESS_DTYPE_F32, bf16_reference, "bf16 reference") &&
        !run(model, SCRIPTLESS_DTYPE_BF16, padded_bf16, SCRIPTLESS_DTYPE_I64,
             seed_sequence_seq_lengths, SCRIPTLESS_DTYPE_F32, got, "BF16")) {
        same_bits("BF16 padded_seq", got, bf16_reference);
    }

#ifdef __FLT16_MAX__
    /* F16: the compiler's _Float16 rounds the values; the reference runs on them as f32. */
    _Float16 padded_f16[N];
    float rounded[N];
    for (int i = 0; i < N; i++) {
        padded_f16[i] = (_Float16)seed_sequence_padded_seq[i];
        rounded[i] = (float)padded_f16[i];
    }
    float f16_reference[OUT];
    if (!run(model, SCRIPTLESS_DTYPE_F32, rounded, SCRIPTLESS_DTYPE_I64,
             seed_sequence_seq_lengths, SCRIPTLESS_DTYPE_F32, f16_reference, "f16 reference") &&
        !run(model, SCRIPTLESS_DTYPE_F16, padded_f16, SCRIPTLESS_DTYPE_I64,
             seed_sequence_seq_lengths, SCRIPTLESS_DTYPE_F32, got, "F16")) {
        same_bits("F16 padded_seq", got, f16_reference);
    }
#else
    printf("skip F16 padded_seq: this compiler has no _Float16\n");
#endif
    scriptless_model_destroy(&model);

    /* An F64 model returns F64, within PyTorch's tolerance of its (f32) outputs. */
    ScriptlessLoadOptions options = {0};
    options.dtype = SCRIPTLESS_DTYPE_F64;
    if (scriptless_model_load("weights/sequence.safetensors", &options, &model) != SCRIPTLESS_OK) {
        fail("load as F64");
        return 1;
    }
    ScriptlessDType dtype = 99;
    scriptless_model_dtype(model, &dtype);
    double out_f64[OUT];
    if (dtype != SCRIPTLESS_DTYPE_F64) {
        printf("FAIL the F64 model's dtype is %u\n", (unsigned)dtype);
        failures++;
    } else if (!run(model, SCRIPTLESS_DTYPE_F64, padded_f64, SCRIPTLESS_DTYPE_I64,
                    seed_sequence_seq_lengths, SCRIPTLESS_DTYPE_F64, out_f64, "F64 model")) {
        int close = 1;
        for (int i = 0; i < OUT; i++) {
            double e = seed_sequence_expected_output[i];
            if (!(fabs(out_f64[i] - e) <= 2e-5 + 1e-4 * fabs(e))) close = 0;
        }
        printf("%s F64 model: within atol 2e-5, rtol 1e-4 of PyTorch's output\n",
               close ? "ok  " : "FAIL");
        failures += !close;
    }
    scriptless_model_destroy(&model);
    if (failures) {
        printf("%d failed\n", failures);
        return 1;
    }
    return 0;
}
