"""What a model says about itself, its outputs' memory, from_bytes, and the type stubs."""

import ast
import gc
import json
from pathlib import Path

import numpy as np
import pytest

import scriptless
from conftest import CASES, FIXTURES, ROOT, case_inputs, load_options, run_cli

WEIGHTS = ROOT / "weights"
STUBS = Path(scriptless.__file__).parent / "_scriptless.pyi"


@pytest.mark.parametrize("name", list(CASES))
def test_config_is_what_inspect_reports(cli, name):
    case = CASES[name]
    options, flags = load_options(case)
    weights = FIXTURES / name / "weights.pt2"
    model = scriptless.load(weights, **options)
    report = json.loads(run_cli(cli, "inspect", "--json", weights, *flags))
    assert model.config == report["model"]["config"]
    assert model.kind == case["model"] == report["model"]["kind"]
    assert list(model.input_names) == list(case["inputs"])
    assert model.dtype == "f32"
    assert model.pool == ("padded-last" if case["model"] == "sequence" else None)
    model.config["extra"] = 1  # a copy: the model's own is unchanged
    assert "extra" not in model.config


def test_repr_names_kind_source_and_config():
    model = scriptless.load(WEIGHTS / "sequence.pt", dtype="f64", pool="last-valid")
    text = repr(model)
    assert text.startswith("<scriptless.Model sequence from ")
    assert "sequence.pt: dtype='f64', pool='last-valid', config={" in text


@pytest.mark.parametrize("fmt", ["safetensors", "pt", "pth", "pt2"])
def test_from_bytes_equals_load(fmt):
    path = FIXTURES / "sequence_3layer_bidir" / f"weights.{fmt}"
    inputs = case_inputs("sequence_3layer_bidir")
    want = scriptless.load(path, model="sequence")(**inputs)
    raw = path.read_bytes()
    for data in (raw, bytearray(raw), memoryview(raw), np.frombuffer(raw, np.uint8)):
        got = scriptless.from_bytes(data, model="sequence")(**inputs)
        assert got.tobytes() == want.tobytes()
    assert repr(scriptless.from_bytes(path.read_bytes(), model="sequence")).startswith(
        "<scriptless.Model sequence from weights buffer")
    for not_bytes in (3, "weights"):
        with pytest.raises(TypeError, match="data must be bytes, bytearray or another buffer of bytes"):
            scriptless.from_bytes(not_bytes)


def test_paths_may_be_str_or_pathlike():
    assert scriptless.load(str(WEIGHTS / "two_input.pt")).kind == "two-input"
    assert scriptless.load(WEIGHTS / "two_input.pt").kind == "two-input"


def test_outputs_own_their_memory_and_are_writable():
    """An output views the model's result tensor without a copy and keeps it alive: it stays
    valid once the model and every other reference are gone, and writing to it touches
    nothing else."""
    model = scriptless.load(WEIGHTS / "sequence.safetensors", dtype="f64")
    inputs = {"padded_seq": np.ones((3, 7, 10)), "seq_lengths": np.array([5, 3, 7])}
    first = model(**inputs)
    expected = first.copy()
    assert first.dtype == np.float64 and first.flags.c_contiguous and first.flags.writeable
    assert not first.flags.owndata and first.base is not None
    del model
    gc.collect()
    assert np.array_equal(first, expected)
    first[:] = 0  # the caller's to change
    model = scriptless.load(WEIGHTS / "sequence.safetensors", dtype="f64")
    out = model(**inputs)
    out[:] = 1e9  # nothing the model holds
    assert np.array_equal(model(**inputs), expected)
    batch = model.forward_many([inputs, inputs])
    assert not np.shares_memory(batch[0], batch[1])
    batch[0][:] = 0
    assert np.array_equal(batch[1], expected) and np.array_equal(model(**inputs), expected)


def test_output_dtypes():
    inputs = {"tensor1": np.ones((2, 10)), "tensor2": np.ones(10)}
    for dtype, numpy_dtype in [("f32", np.float32), ("f64", np.float64), ("f16", np.float16), ("bf16", np.float32)]:
        out = scriptless.load(WEIGHTS / "two_input.safetensors", dtype=dtype)(**inputs)
        assert out.dtype == numpy_dtype and out.shape == (2, 10)


def test_stubs_name_what_the_module_has():
    """The stubs declare exactly the module's public functions, the Model's public members, and
    each keyword argument of load and from_bytes."""
    tree = ast.parse(STUBS.read_text())
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert set(functions) == {"load", "from_bytes"}
    model_stub = next(node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "Model")
    members = {node.name for node in model_stub.body if isinstance(node, ast.FunctionDef)}
    public = {name for name in dir(scriptless.Model) if not name.startswith("_")}
    assert members - {"__call__"} == public
    for name, stub in functions.items():
        keywords = [arg.arg for arg in stub.args.kwonlyargs]
        signature = getattr(scriptless, name).__text_signature__
        assert keywords == [part.split("=")[0].strip() for part in signature.split("*,")[1].rstrip(")").split(",")]


def test_help_explains():
    assert "padded-last" in scriptless.__doc__ and "max_elements" in scriptless.__doc__
    for item in (scriptless.load, scriptless.from_bytes, scriptless.Model, scriptless.Model.forward,
                 scriptless.Model.forward_many, scriptless.Model.config):
        assert item.__doc__ and len(item.__doc__) > 40, item
    assert scriptless.__version__ == "0.1.0"
