// own_model.cpp: a user's model from C++, as libtorch runs a TorchScript module whose forward
// returns a dict (libtorch's lines in the comments), with no libtorch. Loads
// examples/dict_output.pt, prints its signature, runs it on the 2x10 input of
// examples/dict_output.json and prints every output as own_model.c does. The RAII wrapper below
// belongs to this example, not to the library: about 100 lines over scriptless.h.
//
/* From the repository root (docs/c-and-cpp.md):
 *   cargo build --release -p scriptless-capi
 *   c++ -std=c++17 -Icapi/include capi/examples/own_model.cpp \
 *       -Ltarget/release -lscriptless -Wl,-rpath,"$PWD/target/release" -o own_model_cpp
 *   ./own_model_cpp
 */
#include <cinttypes>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "scriptless.h"

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

// One named argument over the caller's data, which must outlive the call.
class Arg {
  public:
    static Arg tensor(std::string name, std::vector<size_t> shape, const float *data) {
        Arg a(std::move(name), SCRIPTLESS_ARG_TENSOR);
        a.shape_ = std::move(shape);
        a.arg_.tensor.dtype = SCRIPTLESS_DTYPE_F32;
        a.arg_.tensor.data = data;
        return a;
    }
    static Arg integer(std::string name, int64_t value) {
        Arg a(std::move(name), SCRIPTLESS_ARG_INT);
        a.arg_.int_value = value;
        return a;
    }
    static Arg real(std::string name, double value) {
        Arg a(std::move(name), SCRIPTLESS_ARG_FLOAT);
        a.arg_.float_value = value;
        return a;
    }
    static Arg none(std::string name) { return Arg(std::move(name), SCRIPTLESS_ARG_NONE); }

    // The C struct, pointing into this Arg: valid while it lives, unmoved.
    ScriptlessArg c() const {
        ScriptlessArg out = arg_;
        out.name = name_.c_str();
        out.tensor.rank = shape_.size();
        out.tensor.shape = shape_.data();
        return out;
    }

  private:
    Arg(std::string name, ScriptlessArgKind kind) : name_(std::move(name)), arg_() { arg_.kind = kind; }
    std::string name_;
    std::vector<size_t> shape_;
    ScriptlessArg arg_;
};

// Every output of a call, by name, freed when it goes out of scope.
class Outputs {
  public:
    struct Output {
        std::string name;
        ScriptlessTensorView view;
    };
    explicit Outputs(ScriptlessOutputs *o) : outputs_(o, destroy) {}
    size_t size() const {
        size_t n = 0;
        check(scriptless_outputs_count(outputs_.get(), &n));
        return n;
    }
    Output operator[](size_t i) const {
        Output out{};
        const char *name = nullptr;
        check(scriptless_outputs_get(outputs_.get(), i, &out.view, &name));
        out.name = name;
        return out;
    }
    ScriptlessTensorView at(const std::string &name) const {
        ScriptlessTensorView view{};
        check(scriptless_outputs_find(outputs_.get(), name.c_str(), &view));
        return view;
    }

  private:
    static void destroy(ScriptlessOutputs *o) { scriptless_outputs_destroy(&o); }
    std::unique_ptr<ScriptlessOutputs, void (*)(ScriptlessOutputs *)> outputs_;
};

// A loaded model, freed when it goes out of scope; it may run on many threads at once.
class Module {
  public:
    explicit Module(ScriptlessModel *m) : model_(m, destroy) {}
    std::string signature() const {
        const char *json = nullptr;
        check(scriptless_model_signature_json(model_.get(), &json));
        return json;
    }
    std::vector<ScriptlessArgInfo> arguments() const {
        size_t n = 0;
        check(scriptless_model_arg_count(model_.get(), &n));
        std::vector<ScriptlessArgInfo> out(n);
        for (size_t i = 0; i < n; i++) check(scriptless_model_arg_info(model_.get(), i, &out[i]));
        return out;
    }
    Outputs forward(const std::vector<Arg> &args) const {
        std::vector<ScriptlessArg> c;
        for (const Arg &a : args) c.push_back(a.c());
        ScriptlessOutputs *out = nullptr;
        check(scriptless_model_run(model_.get(), c.data(), c.size(), &out));
        return Outputs(out);
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

static const char *dtype_name(ScriptlessDType dtype) {
    switch (dtype) {
    case SCRIPTLESS_DTYPE_F32: return "F32";
    case SCRIPTLESS_DTYPE_F64: return "F64";
    case SCRIPTLESS_DTYPE_I64: return "I64";
    case SCRIPTLESS_DTYPE_BOOL: return "BOOL";
    default: return "?";
    }
}

int main() try {
    // The request examples/dict_output.json: x, two rows of 10 features.
    static const float x[2 * 10] = {
        1.7427925f, 1.8563068f, -0.19960155f, -0.86309147f, 1.0570066f,
        0.35257897f, 1.2582204f, -0.08335665f, -0.79786193f, 0.95781755f,
        -0.053644918f, -1.1359035f, -0.43554294f, -1.4295385f, -0.3793159f,
        1.6876684f, -0.28046036f, -0.12953068f, 0.93548095f, -2.5045357f,
    };

    // torch::jit::script::Module module = torch::jit::load("examples/dict_output.pt");
    scriptless::Module module = scriptless::load("examples/dict_output.pt");
    std::printf("signature: %s\n", module.signature().c_str());
    std::vector<ScriptlessArgInfo> arguments = module.arguments();
    for (size_t i = 0; i < arguments.size(); i++) {
        const ScriptlessArgInfo &a = arguments[i];
        std::printf("argument %zu: %s: %s%s%s\n", i, a.name, a.type_name, a.optional ? ", optional" : "",
                    a.has_default ? ", has a default" : "");
    }

    // auto out = module.forward({torch::from_blob(x, {2, 10})}).toGenericDict();
    scriptless::Outputs out = module.forward({scriptless::Arg::tensor("x", {2, 10}, x)});
    for (size_t i = 0; i < out.size(); i++) {
        scriptless::Outputs::Output o = out[i];
        std::printf("%s %s [", o.name.c_str(), dtype_name(o.view.dtype));
        for (size_t d = 0; d < o.view.rank; d++) std::printf("%s%zu", d ? ", " : "", o.view.shape[d]);
        std::printf("]:");
        for (size_t j = 0; j < o.view.len; j++) {
            if (o.view.dtype == SCRIPTLESS_DTYPE_F32) {
                std::printf(" %.9g", static_cast<double>(static_cast<const float *>(o.view.data)[j]));
            } else if (o.view.dtype == SCRIPTLESS_DTYPE_I64) {
                std::printf(" %" PRId64, static_cast<const int64_t *>(o.view.data)[j]);
            } else {
                throw scriptless::Error("an output of a dtype this example does not print");
            }
        }
        std::printf("\n");
    }
    // int64_t label = out.at("label").toTensor()[0].item<int64_t>();
    ScriptlessTensorView label = out.at("output.label");
    if (label.dtype != SCRIPTLESS_DTYPE_I64 || label.len == 0) throw scriptless::Error("label is not int64");
    std::printf("label of row 0: %" PRId64 "\n", static_cast<const int64_t *>(label.data)[0]);
    return 0;
} catch (const scriptless::Error &e) {
    std::fprintf(stderr, "own_model_cpp: %s\n", e.what());
    return 1;
}
