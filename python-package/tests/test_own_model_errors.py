"""A user's model run by its own code: what it says about itself (as `scriptless inspect --json`
reports it), its options, and its errors. Every mistake the command line can also make raises
the command line's message, word for word; the model's own failures are `ModelError`, and an
exception the model raises carries PyTorch's class and message."""

import json
import subprocess

import numpy as np
import pytest

import scriptless
from conftest import FIXTURES, ROOT, CliFailed, run_cli
from test_own_models import ARCHIVES, CORPUS, IDS

MLP = CORPUS / "mlp" / "scripted.pt"
MLP_X = np.array(json.loads((CORPUS / "mlp" / "request_0.json").read_text())["x"], np.float32)
SCALAR_ARGS = CORPUS / "scalar_args" / "scripted.pt"
LIST_INPUT = CORPUS / "list_input" / "scripted.pt"
DICT_OUTPUT = CORPUS / "dict_output"


def cli_errors(cli, tmp_path, weights, requests, *flags):
    """The command line's message for each request, run as a `.jsonl` batch with --keep-going
    (`None` for a request that ran)."""
    batch = tmp_path / "requests.jsonl"
    batch.write_text("".join(json.dumps(r) + "\n" for r in requests))
    done = subprocess.run([str(cli), "run", "--weights", str(weights), "--input", str(batch), "--keep-going",
                           *map(str, flags)], cwd=ROOT, capture_output=True, text=True)
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(lines) == len(requests), done.stderr
    return [line.get("error") for line in lines]


def module_error(model, request):
    with pytest.raises(scriptless.ScriptlessError) as raised:
        model(**request)
    return raised.value


@pytest.mark.parametrize("name,variant,path,requests", ARCHIVES, ids=IDS)
def test_signature_and_operators_are_what_inspect_reports(cli, name, variant, path, requests):
    model = scriptless.load(path)
    report = json.loads(run_cli(cli, "inspect", "--json", path))["script"]
    assert model.kind == report["kind"]
    assert model.signature == report["signature"]
    assert model.operators == report["operators"]
    assert model.dtype is None  # the archive's own dtypes
    model.signature["params"].clear()  # a copy each time
    assert model.signature == report["signature"]


def test_repr_shows_forward():
    model = scriptless.load(SCALAR_ARGS)
    assert repr(model) == (f"<scriptless.Model torchscript from {SCALAR_ARGS}: "
                           "forward(x: Tensor, scale: float, k: int) -> Tuple[Tensor, Tensor]>")
    assert repr(scriptless.load(DICT_OUTPUT / "exported.pt2")).startswith("<scriptless.Model torch.export from ")


def test_seed_models_describe_their_signature_the_same_way():
    model = scriptless.load(ROOT / "weights" / "sequence.pt")
    signature = model.signature
    assert [p["name"] for p in signature["params"]] == list(model.input_names)
    assert all(p["type"] == "Tensor" and p["kind"] == "tensor" and not p["default"] for p in signature["params"])
    assert signature["returns"] == "Tensor"
    assert set(signature["params"][0]) == set(scriptless.load(MLP).signature["params"][0])
    assert model.operators is None


@pytest.mark.parametrize("attribute", ["input_names", "config", "pool"])
def test_seed_attributes_refused_for_a_users_model(attribute):
    model = scriptless.load(MLP)
    with pytest.raises(scriptless.UnsupportedError) as raised:
        getattr(model, attribute)
    assert str(raised.value) == (f"{attribute} describes the seed's models only, not a model run by its own code "
                                 "(torchscript): its arguments are in model.signature")


@pytest.mark.parametrize("option,value,flag", [("pool", "last-valid", "--pool"),
                                               ("pool", "padded-last", "--pool"),
                                               ("feature_width", 4, "--feature-width")])
def test_seed_options_refused_for_a_users_model(cli, option, value, flag, tmp_path):
    for path in (MLP, CORPUS / "mlp" / "exported.pt2"):
        with pytest.raises(scriptless.UnsupportedError) as raised:
            scriptless.load(path, **{option: value})
        assert str(raised.value) == (f"{option} applies to the seed's models only, not to a model run by its "
                                     "own code")
        with pytest.raises(scriptless.UnsupportedError):
            scriptless.from_bytes(path.read_bytes(), **{option: value})
    # The command line refuses the same flag, in its words.
    with pytest.raises(CliFailed, match="apply to the seed's models only, not to a model run by its own code"):
        run_cli(cli, "run", "--weights", MLP, "--input", CORPUS / "mlp" / "request_0.json", flag, str(value))


def test_dtype_converts_a_torchscript_model_as_the_cli_does(cli, tmp_path):
    path = DICT_OUTPUT / "scripted.pt"
    request = DICT_OUTPUT / "request_0.json"
    model = scriptless.load(path, dtype="f64")
    assert model.dtype == "f64"
    out = model(**json.loads(request.read_text()))
    run_cli(cli, "run", "--weights", path, "--input", request, "--dtype", "f64", "--output", tmp_path / "out.npz")
    with np.load(tmp_path / "out.npz") as npz:
        assert out["logits"].dtype == np.float64 and out["logits"].tobytes() == npz["output.logits"].tobytes()
        assert out["label"].tobytes() == npz["output.label"].tobytes()
    # A .pt2 runs in its own dtypes only.
    with pytest.raises(scriptless.UnsupportedError, match="exported with \\(float32\\), not float64"):
        scriptless.load(DICT_OUTPUT / "exported.pt2", dtype="f64")
    assert scriptless.load(DICT_OUTPUT / "exported.pt2", dtype="f32").dtype == "f32"


def test_requests_the_cli_refuses_raise_its_message(cli, tmp_path):
    """The same bad requests through the command line (a .jsonl batch, --keep-going) and the
    module: the same class of mistake, the same message."""
    cases = [
        # (archive, request, exception class)
        (MLP, {}, scriptless.InputError),                                            # missing
        (MLP, {"x": MLP_X.tolist(), "y": 1}, scriptless.InputError),                 # unknown
        (MLP, {"x": [[1.0, 2.0], [3.0]]}, scriptless.InputError),                    # ragged
        (MLP, {"x": [[True, 1.0]]}, scriptless.InputError),                          # bools and numbers
        (MLP, {"x": [[1.0] * 11 + [2**63]]}, scriptless.InputError),                 # past int64, nested
        (MLP, {"x": [[1.0, 2.0, 3.0]]}, scriptless.ModelError),                      # linear's shapes
        (CORPUS / "mlp" / "exported.pt2", {"x": [[1.0, 2.0, 3.0]]}, scriptless.InputError),  # static size
        (SCALAR_ARGS, {"x": [[0.0] * 8], "scale": 2.0, "k": 2.5}, scriptless.InputError),    # float for int
        (SCALAR_ARGS, {"x": [[0.0] * 8], "scale": "a", "k": 2}, scriptless.InputError),      # str for float
        (SCALAR_ARGS, {"x": [[0.0] * 8], "scale": 2.0, "k": 2**64 - 1}, scriptless.InputError),  # past int64
        (SCALAR_ARGS, {"x": [[0.0] * 8], "scale": 2.0, "k": 100}, scriptless.ModelError),    # topk's k
        (CORPUS / "scalar_args" / "exported.pt2", {"x": [[0.0] * 8], "scale": 2.0}, scriptless.InputError),  # baked
        (LIST_INPUT, {"xs": [[1.0, 2.0], [3.0]]}, scriptless.ModelError),           # stack of two sizes
        (LIST_INPUT, {"xs": [[1.0, 2.0], "a"]}, scriptless.InputError),              # an item not a tensor
        (LIST_INPUT, {"xs": 3.0}, scriptless.InputError),                            # not a list
    ]
    by_weights = {}
    for weights, request, cls in cases:
        by_weights.setdefault(weights, []).append((request, cls))
    for weights, items in by_weights.items():
        messages = cli_errors(cli, tmp_path, weights, [request for request, _ in items])
        model = scriptless.load(weights)
        for (request, cls), message in zip(items, messages):
            error = module_error(model, request)
            assert type(error) is cls, (weights, request, error)
            assert message is not None and str(error) == message, (weights, request)
            with pytest.raises(cls) as raised:
                model.forward_json(json.dumps(request))
            assert str(raised.value) == message


def test_model_errors_are_runtime_errors_without_an_exception_class():
    with pytest.raises(scriptless.ModelError) as raised:
        scriptless.load(MLP)(np.ones((1, 3), np.float32))
    assert isinstance(raised.value, RuntimeError)
    assert "aten::linear" in str(raised.value)
    assert raised.value.exception_class is None and raised.value.exception_message is None


def test_limits_on_steps_and_depth(cli, tmp_path):
    path = CORPUS / "control_flow" / "scripted.pt"
    request = json.loads((CORPUS / "control_flow" / "request_0.json").read_text())
    for option, flag in (("max_steps", "--max-steps"), ("max_depth", "--max-depth")):
        model = scriptless.load(path, **{option: 1})
        with pytest.raises(scriptless.ModelError) as raised:
            model(**request)
        [message] = cli_errors(cli, tmp_path, path, [request], flag, 1)
        assert str(raised.value) == message
    # The defaults run it; a seed model runs no code, so the limits do not bind it.
    scriptless.load(path)(**request)
    assert scriptless.load(ROOT / "weights" / "sequence.pt", max_steps=1, max_depth=1).kind == "sequence"


def test_call_mistakes_python_alone_can_make():
    model = scriptless.load(SCALAR_ARGS)
    x = np.zeros((1, 8), np.float32)
    cases = [
        (lambda: model(x, 2.0, 3, 4), "forward takes 3 arguments (`x`, `scale`, `k`); 4 were given by position"),
        (lambda: model(x, x=x, scale=2.0, k=2), "input `x`: is given twice, by position and by name"),
        (lambda: model(x, scale=2.0, k=2**63), "input `k`: 9223372036854775808 is out of int64's range"),
        (lambda: model(x, scale=2.0, k=np.uint64(2**63)), "input `k`: 9223372036854775808 is out of int64's range"),
        (lambda: model(x, scale=2.0, k=-2**70), "input `k`: -1180591620717411303424 is out of int64's range"),
        (lambda: model([[0.0] * 7 + [2**70]], scale=2.0, k=2),
         "input `x`: 1180591620717411303424 is out of int64's range"),
        (lambda: model(x, scale=2.0, k=object()), "input `k`: type object is not read: give a NumPy array, a "
                                                  "number, a str, None, or a list, tuple or dict of these"),
        (lambda: model(x.astype(np.int8), scale=2.0, k=2),
         "input `x`: NumPy dtype int8 is not read: a tensor is float16, float32, float64, int16, int32, int64, "
         "uint8 or bool, in native byte order"),
        (lambda: model(x.astype(">f4"), scale=2.0, k=2), None),
        (lambda: model(x, scale=2.0, k=np.complex64(1)), "input `k`: NumPy scalar complex64 is not read: give a "
                                                         "bool, an integer or a float"),
        (lambda: model(sequences=[x]), "input `sequences`: forward takes no such argument (it takes `x`, `scale`, `k`)"),
        (lambda: model(x, scale=2.0, k=2, mask=x), "input `mask`: forward takes no such argument (it takes `x`, "
                                                   "`scale`, `k`)"),
        (lambda: model(x, scale=2.0, k=True), "input `k`: forward takes it as int, not a bool"),
        (lambda: model(x, scale=2.0), "input `k`: is missing (forward takes it as int)"),
    ]
    for call, message in cases:
        with pytest.raises(scriptless.InputError) as raised:
            call()
        if message is not None:
            assert str(raised.value) == message
    one = scriptless.load(MLP)
    with pytest.raises(scriptless.InputError, match=r"^forward takes 1 argument \(`x`\); 2 were given by position$"):
        one(MLP_X, MLP_X)
    # A list where a List[Tensor] is declared takes arrays and nested lists alike; a lone array
    # is not a list.
    lists = scriptless.load(LIST_INPUT)
    request = json.loads((CORPUS / "list_input" / "request_0.json").read_text())
    arrays = [np.array(item, np.float32) for item in request["xs"]]
    want = lists(xs=request["xs"])
    assert lists(xs=arrays).tobytes() == want.tobytes()
    assert lists(tuple(arrays)).tobytes() == want.tobytes()
    assert lists([arrays[0], request["xs"][1], arrays[2]]).tobytes() == want.tobytes()
    with pytest.raises(scriptless.InputError, match="^input `xs`: forward takes it as List\\[Tensor\\], not a Tensor$"):
        lists(xs=np.stack(arrays))
    deep = []
    for _ in range(200):
        deep = [deep]
    with pytest.raises(scriptless.InputError, match="^input `xs(\\[0\\]){128}`: is a list nested deeper than 128"):
        lists(xs=deep)
    loop = []
    loop.append(loop)
    with pytest.raises(scriptless.InputError, match="nested deeper than 128 levels"):
        lists(xs=loop)


def test_python_values_are_typed_as_json_values_are():
    """NumPy scalars are numbers, Python floats and ints are read as JSON's, and arrays of any
    layout or dtype a tensor has give the same output as the same values in a list."""
    model = scriptless.load(SCALAR_ARGS)
    x = np.linspace(-1, 1, 16, dtype=np.float32).reshape(2, 8)
    want = model(x, 2.0, 3)
    for args in [(x, np.float32(2.0), np.int64(3)), (x, 2, 3), (x.tolist(), 2.0, 3), (np.asfortranarray(x), 2.0, 3),
                 (np.repeat(x, 2, axis=1)[:, ::2], 2.0, 3), (x[::-1][::-1], 2.0, 3)]:
        got = model(*args)
        assert isinstance(got, tuple) and len(got) == 2
        assert got[0].tobytes() == want[0].tobytes() and got[1].tobytes() == want[1].tobytes()
        assert got[1].dtype == np.int64
    # An array keeps its dtype, as a torch tensor would: float64 meets float32 weights.
    with pytest.raises(scriptless.ModelError, match="expected weight to have type float64, but got float32"):
        model(x.astype(np.float64), 2.0, 3)
    # Integer and bool tensors keep their dtype into the model.
    tokens = np.array(json.loads((CORPUS / "gru_tagger" / "request_0.json").read_text())["tokens"])
    tagger = scriptless.load(CORPUS / "gru_tagger" / "scripted.pt")
    want = tagger(tokens.astype(np.int64))
    assert tagger(tokens.astype(np.int32)).tobytes() == want.tobytes()
    for dtype in ("int16", "uint8"):  # embedding takes Long or Int indices, as in PyTorch
        with pytest.raises(scriptless.ModelError, match=f"Long, Int; but got {dtype} instead"):
            tagger(tokens.astype(dtype))
    attention = scriptless.load(CORPUS / "attention" / "scripted.pt")
    request = json.loads((CORPUS / "attention" / "request_0.json").read_text())
    mask = np.array(request["mask"])
    assert mask.dtype == np.bool_
    x = np.array(request["x"], np.float32)
    assert attention(x, mask).tobytes() == attention(x, request["mask"]).tobytes()
    assert attention(x, mask.view(np.uint8).astype(np.bool_)).tobytes() == attention(x, mask).tobytes()


def test_forward_many_runs_each_request():
    model = scriptless.load(SCALAR_ARGS)
    x = np.ones((1, 8), np.float32)
    good = {"x": x, "scale": 2.0, "k": 2}
    results = model.forward_many([good, {"x": x, "scale": 2.0, "k": 100}, {"x": x}, "no", good],
                                 return_exceptions=True)
    want = model(**good)
    for i in (0, 4):
        assert all(a.tobytes() == b.tobytes() for a, b in zip(results[i], want))
    assert isinstance(results[1], scriptless.ModelError) and results[1].request == 1
    assert str(results[1]).startswith("request 1: code/__torch__.py:")
    assert isinstance(results[2], scriptless.InputError)
    assert str(results[2]) == "request 2: input `scale`: is missing (forward takes it as float)"
    assert str(results[3]) == "request 3: expected a dict of inputs, got str"
    with pytest.raises(scriptless.ModelError, match="^request 1: "):
        model.forward_many([good, {"x": x, "scale": 2.0, "k": 100}])
    with pytest.raises(scriptless.InputError, match="^request 0: input names are strings, got int `3`"):
        model.forward_many([{3: x}])
    assert model.forward_many([]) == []


def test_forward_json_limits_and_malformed_requests(cli, tmp_path):
    model = scriptless.load(MLP)
    for text in ("{", "[1, 2]", '{"x": NaN}'):
        messages = cli_errors_raw(cli, tmp_path, MLP, text)
        with pytest.raises(scriptless.FormatError) as raised:
            model.forward_json(text)
        assert str(raised.value) == messages


def cli_errors_raw(cli, tmp_path, weights, line):
    """The command line's --keep-going message for one raw line of a .jsonl batch."""
    batch = tmp_path / "raw.jsonl"
    batch.write_text(line + "\n")
    done = subprocess.run([str(cli), "run", "--weights", str(weights), "--input", str(batch), "--keep-going"],
                          cwd=ROOT, capture_output=True, text=True)
    return json.loads(done.stdout)["error"]


CHECKED = FIXTURES / "doors" / "checked.pt"


def test_a_model_that_raises_gives_the_cli_message_and_its_exception(cli, tmp_path):
    """`tests/fixtures/doors/checked.pt` raises ValueError for an input that is not 2-D and
    asserts a positive temperature: the command line's message, and the class and message as
    attributes; a good request runs."""
    model = scriptless.load(CHECKED)
    good = json.loads((FIXTURES / "doors" / "checked_request.json").read_text())
    bad = [{"x": good["x"][0]}, {"x": good["x"], "temperature": -1.0}]
    messages = cli_errors(cli, tmp_path, CHECKED, [good, *bad])
    assert messages[0] is None
    model(**good)
    for request, message, expected in zip(bad, messages[1:], [("ValueError", "x must be (batch, 4)"),
                                                             ("AssertionError", "temperature must be positive")]):
        with pytest.raises(scriptless.ModelError) as raised:
            model(**request)
        assert str(raised.value) == message
        assert (raised.value.exception_class, raised.value.exception_message) == expected
        assert message.endswith(": {}: {}".format(*expected))
