"""Bad weights, options and inputs raise the right exception, with the command line's one-line
message; nothing reaches Python as a panic or a crash."""

import errno
import json
import random

import numpy as np
import pytest

import scriptless
from conftest import FIXTURES, ROOT, CliFailed, run_cli

WEIGHTS = ROOT / "weights"
SEQUENCE = WEIGHTS / "sequence.safetensors"
X = np.ones((3, 7, 10), np.float32)
LENGTHS = np.array([5, 3, 7])


@pytest.fixture(scope="module")
def sequence():
    return scriptless.load(SEQUENCE)


def cli_message(cli, *args):
    with pytest.raises(CliFailed) as failed:
        run_cli(cli, *args)
    return str(failed.value)


def test_classes_are_also_the_builtin_exceptions():
    assert issubclass(scriptless.FileError, OSError)
    assert issubclass(scriptless.LimitError, MemoryError)
    for cls in (scriptless.FormatError, scriptless.WeightsError, scriptless.InputError,
                scriptless.UnsupportedError):
        assert issubclass(cls, ValueError)
    assert issubclass(scriptless.ModelError, RuntimeError)
    for name in scriptless._errors.__all__:
        assert issubclass(getattr(scriptless, name), scriptless.ScriptlessError)


# Requests the command line refuses, as JSON, and the same through the module.
BAD_REQUESTS = {
    "missing input": {"padded_seq": X.tolist()},
    "unknown input": {"padded_seq": X.tolist(), "seq_lengths": [5, 3, 7], "lengths": [1]},
    "length past the padded batch": {"padded_seq": X.tolist(), "seq_lengths": [5, 3, 8]},
    "zero length": {"padded_seq": X.tolist(), "seq_lengths": [5, 0, 7]},
    "negative length": {"padded_seq": X.tolist(), "seq_lengths": [5, -1, 7]},
    "lengths for another batch": {"padded_seq": X.tolist(), "seq_lengths": [5, 3]},
    "wrong feature count": {"padded_seq": np.ones((3, 7, 9)).tolist(), "seq_lengths": [5, 3, 7]},
    "rank 2": {"padded_seq": np.ones((7, 10)).tolist(), "seq_lengths": [7]},
    "float lengths": {"padded_seq": X.tolist(), "seq_lengths": [5.0, 3.0, 7.0]},
    "empty sequence": {"sequences": [np.ones((2, 10)).tolist(), []]},
    "sequences of different widths": {"sequences": [np.ones((2, 10)).tolist(), np.ones((2, 9)).tolist()]},
    "sequences with padded_seq": {"sequences": [np.ones((2, 10)).tolist()], "padded_seq": X.tolist()},
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_inputs_raise_input_error_with_the_cli_message(cli, tmp_path, sequence, case):
    request = BAD_REQUESTS[case]
    if "sequences" in request:
        # Ragged: a JSON request, as the module's `sequences=` pads as the JSON reader does.
        path = tmp_path / "request.json"
        path.write_text(json.dumps(request))
        arrays = {k: [np.asarray(s) for s in v] if k == "sequences" else np.asarray(v) for k, v in request.items()}
    else:
        # Arrays: an .npz request, whose checks are the module's (dtypes, then values).
        arrays = {k: np.asarray(v) for k, v in request.items()}
        path = tmp_path / "request.npz"
        np.savez(path, **arrays)
    with pytest.raises(scriptless.InputError) as raised:
        sequence(**arrays)
    assert isinstance(raised.value, ValueError)
    message = str(raised.value)
    if case in ("missing input", "sequences with padded_seq"):
        # The command line names the file the request came from; the module, the call.
        assert message.startswith("input `")
        return
    assert message == cli_message(cli, "run", "--weights", SEQUENCE, "--input", path)


def test_categorical_index_out_of_range(cli, tmp_path):
    model = scriptless.load(WEIGHTS / "categorical.safetensors")
    request = {"tensor_input": np.ones((2, 10)).tolist(), "category_index": [1, 3]}
    path = tmp_path / "request.json"
    path.write_text(json.dumps(request))
    with pytest.raises(scriptless.InputError) as raised:
        model(**request)
    assert str(raised.value) == cli_message(cli, "run", "--weights", WEIGHTS / "categorical.safetensors",
                                            "--input", path)
    assert "category_index[1]" in str(raised.value)


@pytest.mark.parametrize("array,dtype_text", [
    (np.ones((3, 7, 10), np.uint8), "uint8"),
    (np.ones((3, 7, 10), np.complex64), "complex64"),
    (np.ones((3, 7, 10), ">f4"), ">f4"),
    (np.array([[["a"] * 10] * 7] * 3), "<U1"),
    (np.ones((3, 7, 10), np.bool_), "bool"),
])
def test_dtypes_not_read_are_named(sequence, array, dtype_text):
    with pytest.raises(scriptless.InputError, match=f"input `padded_seq`: NumPy dtype {dtype_text} is not read"):
        sequence(padded_seq=array, seq_lengths=LENGTHS)


def test_not_an_array(sequence):
    with pytest.raises(scriptless.InputError, match=r"input `padded_seq`: is not an array \(got list\)"):
        sequence(padded_seq=[[1.0, 2.0], [3.0]], seq_lengths=LENGTHS)
    with pytest.raises(scriptless.InputError, match="input `padded_seq`: NumPy dtype object is not read"):
        sequence(padded_seq=object(), seq_lengths=LENGTHS)
    with pytest.raises(scriptless.InputError, match="input `seq_lengths`: NumPy dtype object is not read"):
        sequence(padded_seq=X, seq_lengths=[object()] * 3)
    with pytest.raises(scriptless.InputError, match="input `sequences`: must be a list of sequences"):
        sequence(sequences="abc")
    with pytest.raises(scriptless.InputError, match="takes 2 inputs"):
        sequence(X, LENGTHS, LENGTHS)
    with pytest.raises(scriptless.InputError, match="input `padded_seq`: is given twice"):
        sequence(X, padded_seq=X, seq_lengths=LENGTHS)


def test_lists_for_floats_may_hold_ints_as_json_may():
    two_input = scriptless.load(WEIGHTS / "two_input.safetensors")
    assert np.array_equal(two_input(tensor1=[[1, 2] * 5], tensor2=[0] * 10),
                          two_input(tensor1=np.array([[1.0, 2.0] * 5]), tensor2=np.zeros(10)))
    # What JSON's numbers are not stays refused, as the CLI refuses it.
    for bad, dtype in (([True] * 10, "bool"), (["1.5"] + [0.5] * 9, "<U32"), ([None] + [0.5] * 9, "object")):
        with pytest.raises(scriptless.InputError, match=f"^input `tensor2`: NumPy dtype {dtype} is not read"):
            two_input(tensor1=[[0.5] * 10], tensor2=bad)


def test_at_most_32_dims():
    two_input = scriptless.load(WEIGHTS / "two_input.safetensors")
    deep = np.ones((1,) * 31 + (20,), np.float32)[..., ::2]
    assert np.array_equal(two_input(tensor1=deep, tensor2=np.zeros(10)),
                          two_input(tensor1=np.ascontiguousarray(deep), tensor2=np.zeros(10)))
    for deeper in (np.ones((1,) * 33 + (10,), np.float32), np.ones((1,) * 33 + (20,), np.float32)[..., ::2]):
        with pytest.raises(scriptless.InputError, match="^input `tensor1`: has 34 dims; at most 32 are read$"):
            two_input(tensor1=deeper, tensor2=np.zeros(10))


def test_limits_raise_limit_error_naming_the_keyword(cli):
    model = scriptless.load(SEQUENCE, max_elements=1000)
    with pytest.raises(scriptless.LimitError) as raised:
        model(padded_seq=np.ones((4, 30, 10), np.float32), seq_lengths=[30, 30, 30, 30])
    assert isinstance(raised.value, MemoryError)
    assert str(raised.value) == ("input `padded_seq`: would be a tensor of shape [4, 30, 10], more than the "
                                 "limit of 1000 elements (max_elements)")
    data = SEQUENCE.read_bytes()
    for buffer in (data, bytearray(data), memoryview(data)):
        with pytest.raises(scriptless.LimitError, match=f"^weights buffer: is {len(data)} bytes, over the limit of "
                                                         r"1000 bytes \(max_weights_bytes\)$"):
            scriptless.from_bytes(buffer, max_weights_bytes=1000)
    with pytest.raises(scriptless.LimitError) as raised:
        scriptless.load(SEQUENCE, max_weights_bytes=1000)
    weights_limit = cli_message(cli, "run", "--weights", SEQUENCE, "--input", ROOT / "examples" / "sequence.json",
                                "--max-weights-bytes", "1000")
    assert str(raised.value) == weights_limit.replace("--max-weights-bytes", "max_weights_bytes")


def test_file_errors_are_os_errors_with_errno(cli, tmp_path):
    missing = tmp_path / "missing.pt"
    with pytest.raises(scriptless.FileError) as raised:
        scriptless.load(missing)
    assert isinstance(raised.value, OSError)
    assert raised.value.errno == errno.ENOENT
    assert str(raised.value) == cli_message(cli, "run", "--weights", missing, "--input", "examples/sequence.json")
    with pytest.raises(scriptless.FileError, match="is a directory, not a file") as raised:
        scriptless.load(tmp_path)
    assert raised.value.errno == errno.EISDIR


def test_weights_errors(cli, tmp_path):
    # Not weights at all.
    with pytest.raises(scriptless.FormatError) as raised:
        scriptless.load(ROOT / "README.md")
    assert str(raised.value) == cli_message(cli, "run", "--weights", ROOT / "README.md", "--input",
                                            "examples/sequence.json")
    # Weights of another model than asked.
    with pytest.raises(scriptless.UnsupportedError) as raised:
        scriptless.load(SEQUENCE, model="two-input")
    assert str(raised.value) == "model two-input contradicts the weights, which name the sequence model"
    # A state_dict that names no model.
    with pytest.raises(scriptless.UnsupportedError, match="model is required"):
        scriptless.load(WEIGHTS / "sequence.pth")
    # A feature width the weights cannot hold.
    with pytest.raises(scriptless.WeightsError) as raised:
        scriptless.load(WEIGHTS / "categorical.pth", model="categorical", feature_width=20)
    assert str(raised.value) == cli_message(cli, "run", "--weights", WEIGHTS / "categorical.pth", "--model",
                                            "categorical", "--feature-width", "20", "--input",
                                            "examples/categorical.json")


def test_an_archive_whose_code_is_not_the_seeds_runs_by_its_own_code_unless_a_model_is_asked_for(
        cli, tmp_path):
    """Named like the seed's class and holding its tensors, but its forward applies a ReLU: the
    module runs it by its own code, as the command line does, and runs the seed's model on its
    tensors when asked to, as `--model` does."""
    directory = FIXTURES / "not_seed" / "sequence_relu"
    weights = directory / "weights.pt"
    own = scriptless.load(weights)
    assert own.kind == "torchscript"
    assert any(op["name"] == "aten::relu" for op in own.operators)
    request = tmp_path / "request.npz"
    np.savez(request, padded_seq=X, seq_lengths=LENGTHS)
    run_cli(cli, "run", "--weights", weights, "--input", request, "--output", tmp_path / "out.npz")
    with np.load(tmp_path / "out.npz") as npz:
        assert own(X, LENGTHS).tobytes() == npz["output"].tobytes()
    model = scriptless.load(weights, model="sequence")
    got = model(padded_seq=X, seq_lengths=LENGTHS)
    want = scriptless.load(WEIGHTS / "sequence.pt")(padded_seq=X, seq_lengths=LENGTHS)
    assert got.tobytes() == want.tobytes()
    assert got.tobytes() != own(X, LENGTHS).tobytes()


@pytest.mark.parametrize("options,message", [
    ({"model": "lstm"}, "unknown model `lstm`; expected two-input, categorical or sequence"),
    ({"dtype": "int8"}, "dtype `int8`: a model computes in f32, f64, f16 or bf16"),
    ({"dtype": np.int64}, "dtype `int64`: a model computes in f32, f64, f16 or bf16"),
    ({"pool": "first"}, "pool `first`: expected padded-last (the seed's) or last-valid"),
    ({"device": "tpu"}, None),
    ({"model": "two-input", "pool": "last-valid"}, None),
    ({"feature_width": 4}, "feature_width applies to the categorical model only, not sequence"),
])
def test_bad_options_raise_unsupported_error(options, message):
    weights = WEIGHTS / ("two_input.pth" if options.get("model") == "two-input" else "sequence.safetensors")
    with pytest.raises(scriptless.UnsupportedError) as raised:
        scriptless.load(weights, **options)
    if message is not None:
        assert str(raised.value) == message


def test_dtype_names_and_numpy_dtypes():
    for dtype, name in [("f64", "f64"), ("float64", "f64"), (np.float64, "f64"), (np.dtype("float16"), "f16"),
                        ("bfloat16", "bf16"), ("f32", "f32")]:
        assert scriptless.load(SEQUENCE, dtype=dtype).dtype == name


def test_forward_many_errors(sequence):
    good = {"padded_seq": X, "seq_lengths": LENGTHS}
    bad = {"padded_seq": X, "seq_lengths": [5, 3, 8]}
    with pytest.raises(scriptless.InputError, match=r"^request 1: input `seq_lengths\[2\]`: is 8"):
        sequence.forward_many([good, bad, good])
    results = sequence.forward_many([good, bad, "not a dict", good], return_exceptions=True)
    assert np.array_equal(results[0], sequence(**good)) and np.array_equal(results[3], results[0])
    assert isinstance(results[1], scriptless.InputError) and str(results[1]).startswith("request 1: ")
    assert results[1].request == 1 and results[2].request == 2
    assert isinstance(results[2], scriptless.InputError)
    assert str(results[2]) == "request 2: expected a dict of inputs, got str"
    assert sequence.forward_many([]) == []
    with pytest.raises(scriptless.InputError, match="^request 0: input names are strings, got int `3`"):
        sequence.forward_many([{3: X}])
    from types import MappingProxyType
    assert np.array_equal(sequence.forward_many([MappingProxyType(good)])[0], sequence(**good))
    with pytest.raises(TypeError):
        sequence.forward_many(3)


def test_no_input_crashes(sequence):
    """Every prefix and many corruptions of real weights files, and random bytes, raise a
    ScriptlessError (never a panic, which would be a BaseException, or a crash)."""
    rng = random.Random(17)
    for path in [FIXTURES / "sequence_2layer" / f"weights.{fmt}" for fmt in ("safetensors", "pt", "pth", "pt2")]:
        data = path.read_bytes()
        cuts = sorted(set(rng.randrange(len(data)) for _ in range(60))) + [0, 1, 8, 9]
        for cut in cuts:
            with pytest.raises(scriptless.ScriptlessError) as raised:
                scriptless.from_bytes(data[:cut], model="sequence")
            assert not isinstance(raised.value, scriptless.InternalError), raised.value
        for _ in range(60):
            corrupt = bytearray(data)
            for _ in range(rng.randint(1, 8)):
                corrupt[rng.randrange(len(corrupt))] = rng.randrange(256)
            try:
                scriptless.from_bytes(corrupt, model="sequence")
            except scriptless.ScriptlessError as e:
                assert not isinstance(e, scriptless.InternalError), e
    for _ in range(200):
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
        with pytest.raises(scriptless.ScriptlessError) as raised:
            scriptless.from_bytes(junk, model="sequence")
        assert not isinstance(raised.value, scriptless.InternalError), raised.value
    # Extreme but well-formed inputs.
    for padded, lengths in [(np.ones((0, 7, 10), np.float32), np.ones(0, np.int64)),
                            (np.ones((3, 0, 10), np.float32), np.zeros(3, np.int64)),
                            (np.full((3, 7, 10), np.nan, np.float32), LENGTHS),
                            (X, np.array([2**62, 1, 1])), (X, np.array([-(2**63), 1, 1]))]:
        try:
            sequence(padded_seq=padded, seq_lengths=lengths)
        except scriptless.ScriptlessError as e:
            assert not isinstance(e, scriptless.InternalError), e
