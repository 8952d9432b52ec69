"""Every golden fixture through the module: bit for bit the command line's safetensors output on
the same weights and inputs (every weights format, dtype and pooling), and within the parity
tolerance of PyTorch's own output, which the fixture records."""

import json

import numpy as np
import pytest

import scriptless
from conftest import CASES, FIXTURES, case_inputs, load_options, read_safetensors, run_cli

FORMATS = ["safetensors", "pt", "pth", "pt2"]
SEQUENCE_CASES = [name for name, case in CASES.items() if case["model"] == "sequence"]


def pools(case):
    return ["padded-last", "last-valid"] if case["model"] == "sequence" else [None]


def runs():
    """(case, weights format, dtype, pool): every case in f32 from every format with every
    pooling; f64, f16 and bf16 from safetensors."""
    for name, case in CASES.items():
        for pool in pools(case):
            for fmt in FORMATS:
                yield name, fmt, "f32", pool
            for dtype in ("f64", "f16", "bf16"):
                yield name, "safetensors", dtype, pool


def assert_identical(got, want, what=""):
    assert got.dtype == want.dtype, (what, got.dtype, want.dtype)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert got.tobytes() == want.tobytes(), f"max |diff| {np.max(np.abs(got.astype(np.float64) - want))}"


def cli_output(cli, tmp_path, weights, flags, dtype, pool, inputs="input.safetensors"):
    out = tmp_path / "out.safetensors"
    args = ["run", "--weights", weights, "--input", inputs, "--dtype", dtype, "--output", out, *flags]
    if pool is not None:
        args += ["--pool", pool]
    run_cli(cli, *args)
    return read_safetensors(out)["output"]


@pytest.mark.parametrize("name,fmt,dtype,pool", list(runs()))
def test_fixture_matches_cli(cli, tmp_path, name, fmt, dtype, pool):
    case = CASES[name]
    directory = FIXTURES / name
    weights = directory / f"weights.{fmt}"
    options, flags = load_options(case)
    model = scriptless.load(weights, dtype=dtype, pool=pool or "padded-last", **options)
    got = model(**case_inputs(name))
    want = cli_output(cli, tmp_path, weights, flags, dtype, pool, directory / "input.safetensors")
    assert_identical(got, want)


@pytest.mark.parametrize("name,pool", [(name, pool) for name, case in CASES.items() for pool in pools(case)])
def test_fixture_within_tolerance_of_pytorch(name, pool):
    """f32 against the output PyTorch wrote, as torch.allclose(atol=2e-5, rtol=1e-4)."""
    case = CASES[name]
    options, _ = load_options(case)
    model = scriptless.load(FIXTURES / name / "weights.safetensors", pool=pool or "padded-last", **options)
    got = model(**case_inputs(name))
    expected = read_safetensors(FIXTURES / name / "expected.safetensors")
    want = expected["output_last_valid" if pool == "last-valid" else "output"]
    assert got.shape == want.shape
    diff = np.abs(got.astype(np.float64) - want)
    tolerance = 2e-5 + 1e-4 * np.abs(want.astype(np.float64))
    worst = np.unravel_index(np.argmax(diff / tolerance), diff.shape)
    assert (diff <= tolerance).all(), (
        f"worst element {worst}: got {got[worst]!r}, want {want[worst]!r}, |diff| {diff[worst]:.3g}")


def unaligned(array):
    """The same values at an address no element of theirs is aligned to."""
    buffer = np.zeros(array.nbytes + 1, np.uint8)
    view = np.frombuffer(buffer.data, array.dtype, count=array.size, offset=1).reshape(array.shape)
    view[...] = array
    return view


def odd_strides(array):
    """The same values, each a field of a packed record: strides that are not whole elements."""
    records = np.zeros(array.shape, dtype=[("pad", "u1"), ("value", array.dtype)])
    records["value"] = array
    return records["value"]


def layouts(array):
    """The same values in other memory layouts: Fortran order, a strided view, negative
    strides, unaligned, strides of a record's field."""
    yield "unaligned", unaligned(array)
    yield "record field", odd_strides(array)
    yield "fortran", np.asfortranarray(array) if array.ndim else array  # (it makes 0-d arrays 1-d)
    wide = np.repeat(array, 2, axis=-1) if array.ndim else array
    yield "strided", wide[..., ::2] if array.ndim else wide
    flipped = np.ascontiguousarray(array[::-1]) if array.ndim else array
    yield "reversed", flipped[::-1] if array.ndim else flipped


@pytest.mark.parametrize("name", list(CASES))
def test_any_layout_and_dtype_of_the_same_values_gives_the_same_output(name):
    case = CASES[name]
    options, _ = load_options(case)
    model = scriptless.load(FIXTURES / name / "weights.safetensors", **options)
    inputs = case_inputs(name)
    want = model(**inputs)
    for input_name, array in inputs.items():
        for layout, variant in layouts(array):
            assert np.array_equal(variant, array)
            got = model(**{**inputs, input_name: variant})
            assert_identical(got, want, f"{input_name} {layout}")
        if array.dtype.kind == "f":
            # float64 and (for values float16 holds exactly) float16 inputs convert exactly.
            assert_identical(model(**{**inputs, input_name: array.astype(np.float64)}), want)
        else:
            assert_identical(model(**{**inputs, input_name: array.astype(np.int32)}), want)
            assert_identical(model(**{**inputs, input_name: array.tolist()}), want)
    # Positional arguments, in the seed's order.
    assert_identical(model(*(inputs[n] for n in model.input_names)), want)
    assert_identical(model.forward(**inputs), want)


@pytest.mark.parametrize("name", SEQUENCE_CASES)
def test_sequences_match_the_cli_ragged_json(cli, tmp_path, name):
    """`sequences=` pads as the command line pads a JSON request's `sequences`."""
    case = CASES[name]
    inputs = case_inputs(name)
    lengths = inputs["seq_lengths"].tolist()
    sequences = [inputs["padded_seq"][b, :n] for b, n in enumerate(lengths)]
    request = tmp_path / "ragged.json"
    request.write_text(json.dumps({"sequences": [s.astype(np.float64).tolist() for s in sequences]}))
    options, flags = load_options(case)
    weights = FIXTURES / name / "weights.safetensors"
    for pool in ("padded-last", "last-valid"):
        model = scriptless.load(weights, pool=pool, **options)
        want = cli_output(cli, tmp_path, weights, flags, "f32", pool, request)
        assert_identical(model(sequences=sequences), want)
        assert_identical(model(sequences=[s.tolist() for s in sequences]), want)


def seed_weights(kind):
    """The shipped weights of the seed's `kind` model."""
    name = {"two-input": "two_input", "categorical": "categorical", "sequence": "sequence"}[kind]
    return FIXTURES.parent.parent / "weights" / f"{name}.safetensors"


def random_requests(kind, rng, rows, max_steps):
    """One random request of the seed's `kind` model per entry of `rows`, with that many rows
    (the sequence model: that many `sequences` of 1 to `max_steps` - 1 steps)."""
    requests = []
    for n in rows:
        if kind == "two-input":
            requests.append({"tensor1": rng.standard_normal((n, 10)), "tensor2": rng.standard_normal(10)})
        elif kind == "categorical":
            requests.append({"tensor_input": rng.standard_normal((n, 10)), "category_index": rng.integers(0, 3, n)})
        else:
            requests.append({"sequences": [rng.standard_normal((int(rng.integers(1, max_steps)), 10))
                                           for _ in range(n)]})
    return requests


@pytest.mark.parametrize("kind", ["two-input", "categorical", "sequence"])
def test_forward_many_matches_the_cli_batch_file(cli, tmp_path, kind):
    """Random requests of mixed shapes: forward_many gives each exactly its `forward` output,
    and the command line's `.jsonl` batch mode's (whose JSON numbers are the shortest text of
    each float32, so they read back exactly)."""
    rng = np.random.default_rng(7)
    weights = seed_weights(kind)
    requests = random_requests(kind, rng, [int(rng.integers(1, 5)) for _ in range(300)], max_steps=30)
    model = scriptless.load(weights)
    got = model.forward_many(requests)
    assert len(got) == len(requests)
    for request, output in zip(requests, got):
        assert_identical(output, model(**request))
    lines = tmp_path / "requests.jsonl"
    lines.write_text("".join(json.dumps({k: v.tolist() if isinstance(v, np.ndarray) else [s.tolist() for s in v]
                                         for k, v in r.items()}) + "\n" for r in requests))
    results = tmp_path / "results.jsonl"
    run_cli(cli, "run", "--weights", weights, "--input", lines, "--output", results)
    lines = results.read_text().splitlines()
    assert len(lines) == len(got)
    for output, line in zip(got, lines):
        want = json.loads(line)
        assert list(output.shape) == want["shape"]
        assert_identical(output, np.array(want["output"], dtype=np.float32).reshape(want["shape"]))


@pytest.mark.parametrize("kind", ["two-input", "categorical", "sequence"])
@pytest.mark.parametrize("dtype", ["f64", "f16", "bf16"])
def test_forward_many_is_bit_for_bit_forward_in_every_dtype(kind, dtype):
    """One-row requests (and one-sequence ones) too, whose products take another path in gemm
    than a batch's rows unless the library keeps them on the same one."""
    rng = np.random.default_rng(5)
    model = scriptless.load(seed_weights(kind), dtype=dtype)
    requests = random_requests(kind, rng, [1, 1, 3, 1, 2, 1], max_steps=9)
    for request, output in zip(requests, model.forward_many(requests)):
        assert_identical(output, model(**request))
