// seed.cpp: the seed's sequence model from C++, line for line as libtorch runs a TorchScript
// module (the seed's own snippet, in the comments), on the same TorchScript archive, with no
// libtorch. The RAII wrapper below belongs to this example, not to the library: 70 lines over
// scriptless.h. Checks the output against PyTorch's (seed_data.h); exits non-zero on a mismatch.
//
/* From the repository root (docs/c-and-cpp.md):
 *   cargo build --release -p scriptless-capi
 *   c++ -std=c++17 -Icapi/include -Icapi/examples capi/examples/seed.cpp \
 *       -Ltarget/release -lscriptless -Wl,-rpath,$PWD/target/release -o seed_cpp
 *   ./seed_cpp
 */
#include <cmath>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "scriptless.h"
#include "seed_data.h"

namespace scriptless {

// A failed call, with the library's one-line message.
struct Error : std::runtime_error {
    explicit Error(const char *what) : std::runtime_error(what) {}
};

inline void check(ScriptlessStatus status) {
    if (status != SCRIPTLESS_OK) {
        const char *message = scriptless_last_error();
        throw Error(message ? message : scriptless_status_name(status));
    }
}

// One named input over the caller's data, which must outlive the forward call.
struct Input {
    std::string name;
    ScriptlessDType dtype;
    std::vector<size_t> shape;
    const void *data;

    Input(std::string name, std::vector<size_t> shape, const float *data)
        : name(std::move(name)), dtype(SCRIPTLESS_DTYPE_F32), shape(std::move(shape)), data(data) {}
    Input(std::string name, std::vector<size_t> shape, const int64_t *data)
        : name(std::move(name)), dtype(SCRIPTLESS_DTYPE_I64), shape(std::move(shape)), data(data) {}
};

// An output tensor, freed when it goes out of scope.
class Tensor {
  public:
    explicit Tensor(ScriptlessTensor *t) : tensor_(t, destroy) { check(scriptless_tensor_view(t, &view_)); }
    std::vector<size_t> sizes() const { return {view_.shape, view_.shape + view_.rank}; }
    const float *data() const {
        if (view_.dtype != SCRIPTLESS_DTYPE_F32) throw Error("not an f32 tensor");
        return static_cast<const float *>(view_.data);
    }
    size_t numel() const { return view_.len; }

  private:
    static void destroy(ScriptlessTensor *t) { scriptless_tensor_destroy(&t); }
    std::unique_ptr<ScriptlessTensor, void (*)(ScriptlessTensor *)> tensor_;
    ScriptlessTensorView view_{};
};

// A loaded model, freed when it goes out of scope; forward may run on many threads at once.
class Module {
  public:
    explicit Module(ScriptlessModel *m) : model_(m, destroy) {}
    Tensor forward(const std::vector<Input> &inputs) const {
        std::vector<ScriptlessInput> c;
        for (const Input &i : inputs) {
            c.push_back({i.name.c_str(), i.dtype, i.shape.size(), i.shape.data(), i.data});
        }
        ScriptlessTensor *out = nullptr;
        check(scriptless_model_forward(model_.get(), c.data(), c.size(), &out));
        return Tensor(out);
    }

  private:
    static void destroy(ScriptlessModel *m) { scriptless_model_destroy(&m); }
    std::unique_ptr<ScriptlessModel, void (*)(ScriptlessModel *)> model_;
};

inline Module load(const std::string &path) {
    ScriptlessModel *model = nullptr;
    check(scriptless_model_load(path.c_str(), nullptr, &model));
    return Module(model);
}

}  // namespace scriptless

int main() try {
    // The seed's inputs: three sequences of 10 features, 5, 3 and 7 steps, padded to 7.
    scriptless::Input padded_seq("padded_seq", {3, 7, 10}, seed_sequence_padded_seq);
    scriptless::Input seq_lengths("seq_lengths", {3}, seed_sequence_seq_lengths);

    // torch::jit::script::Module module = torch::jit::load("model.pt");
    scriptless::Module module = scriptless::load("weights/sequence.pt");
    // std::vector<torch::jit::IValue> inputs{padded_seq, seq_lengths};
    std::vector<scriptless::Input> inputs{padded_seq, seq_lengths};
    // at::Tensor out = module.forward(inputs).toTensor();
    scriptless::Tensor out = module.forward(inputs);

    // Against PyTorch's output, like torch.allclose(out, expected, rtol=1e-4, atol=2e-5).
    const std::vector<size_t> expected_sizes{3, 10};
    if (out.sizes() != expected_sizes) {
        std::fprintf(stderr, "seed_cpp: the output's shape is not [3, 10]\n");
        return 1;
    }
    for (size_t i = 0; i < out.numel(); i++) {
        double got = out.data()[i], expected = seed_sequence_expected_output[i];
        if (!(std::fabs(got - expected) <= 2e-5 + 1e-4 * std::fabs(expected))) {
            std::fprintf(stderr, "seed_cpp: element %zu is %.9g, PyTorch's %.9g\n", i, got, expected);
            return 1;
        }
    }
    std::printf("ok   sequence from C++ (TorchScript archive): %zu values match PyTorch's\n",
                out.numel());
    return 0;
} catch (const scriptless::Error &e) {
    std::fprintf(stderr, "seed_cpp: %s\n", e.what());
    return 1;
}
