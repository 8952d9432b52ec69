"""Every model of the corpus (`tests/fixtures/corpus/`, written by `python/corpus.py`), from
every archive it has (scripted and traced `.pt`, `torch.export` `.pt2` in both flavours), runs
through the module by its own code on every request of its fixture, and gives the command
line's output on the same request bit for bit, dtype included: with the request's JSON as
Python lists, and with its tensors as NumPy arrays typed as `torch.tensor` types the lists.
`forward_json` gives the line the command line prints for each request, byte for byte. Where
torch is installed, the outputs are also compared with torch.jit.load's and
torch.export.load's, within the manifest's tolerance."""

import json
from pathlib import Path

import numpy as np
import pytest

import scriptless
from conftest import FIXTURES, run_cli

CORPUS = FIXTURES / "corpus"
CORPUS_MANIFEST = json.loads((CORPUS / "manifest.json").read_text())["models"]


def archives():
    """(model, variant, path, request files) for every archive of the corpus."""
    out = []
    for name, info in CORPUS_MANIFEST.items():
        pt_requests = [CORPUS / name / f"request_{i}.json" for i in range(info["requests"])]
        pt2_requests = [CORPUS / name / f"pt2_request_{i}.json" for i in range(info["pt2_requests"])]
        variants = [("scripted", "pt", pt_requests)]
        if info["traced"]:
            variants.append(("traced", "pt", pt_requests))
        if info["exported"]:
            variants += [("exported", "pt2", pt2_requests), ("exported_core", "pt2", pt2_requests)]
        for variant, ext, requests in variants:
            out.append((name, variant, CORPUS / name / f"{variant}.{ext}", requests))
    return out


ARCHIVES = archives()
IDS = [f"{name}-{variant}" for name, variant, _, _ in ARCHIVES]


def test_the_corpus_is_all_here():
    """19 models: 19 scripted, 16 traced and 32 exported archives, each with its requests."""
    variants = [variant for _, variant, _, _ in ARCHIVES]
    assert len(CORPUS_MANIFEST) == 19
    assert (variants.count("scripted"), variants.count("traced")) == (19, 16)
    assert variants.count("exported") + variants.count("exported_core") == 32
    for _, _, path, requests in ARCHIVES:
        assert path.is_file() and requests and all(r.is_file() for r in requests), path


def torch_rule(lists):
    """Nested lists as the array `torch.tensor` makes of them: all booleans bool, all
    integers int64, any float float32."""
    leaves = np.asarray(lists, dtype=object).ravel().tolist()
    if leaves and all(isinstance(x, bool) for x in leaves):
        return np.array(lists, dtype=np.bool_)
    if any(isinstance(x, float) for x in leaves):
        return np.array(lists, dtype=np.float32)
    return np.array(lists, dtype=np.int64)


def as_arrays(model, request):
    """The request with every tensor argument (and every item of a `List[Tensor]`) a NumPy
    array."""
    kinds = {param["name"]: param["kind"] for param in model.signature["params"]}
    out = {}
    for name, value in request.items():
        if kinds.get(name) == "tensor":
            out[name] = torch_rule(value)
        elif kinds.get(name) == "tensor_list":
            out[name] = [torch_rule(item) for item in value]
        else:
            out[name] = value
    return out


def flatten(value, name="output"):
    """An output as the command line names its tensors: `output`, `output.0` for a tuple's or
    list's items, `output.key` for a dict's; numbers as 0-dim arrays (int64, float64, bool)."""
    if isinstance(value, np.ndarray):
        return {name: value}
    if isinstance(value, bool):
        return {name: np.array(value, np.bool_)}
    if isinstance(value, int):
        return {name: np.array(value, np.int64)}
    if isinstance(value, float):
        return {name: np.array(value, np.float64)}
    if isinstance(value, (list, tuple)):
        items = enumerate(value)
    elif isinstance(value, dict):
        items = value.items()
    else:
        raise AssertionError(f"{name} is a {type(value).__name__}, which has no tensor")
    out = {}
    for key, item in items:
        out.update(flatten(item, f"{name}.{key}"))
    return out


def assert_same(got, want, what):
    """The module's output equals the command line's .npz, tensor for tensor, bit for bit."""
    got = flatten(got)
    assert sorted(got) == sorted(want), what
    for name, array in got.items():
        expected = want[name]
        assert array.shape == expected.shape, (what, name)
        if array.dtype in (np.int16, np.int32):
            # The command line's .npz widens int16 and int32 to int64.
            assert expected.dtype == np.int64 and np.array_equal(array, expected), (what, name)
            continue
        assert array.dtype == expected.dtype, (what, name, array.dtype, expected.dtype)
        assert array.tobytes() == expected.tobytes(), (what, name)


@pytest.fixture(scope="module")
def cli_outputs(cli, tmp_path_factory):
    """For each archive: the command line's .npz output on each request, and the lines it
    prints for all its requests as one .jsonl batch file."""
    cache = {}

    def outputs(path, requests):
        if path not in cache:
            directory = tmp_path_factory.mktemp(path.parent.name)
            arrays = []
            for i, request in enumerate(requests):
                out = directory / f"{path.stem}_{i}.npz"
                run_cli(cli, "run", "--weights", path, "--input", request, "--output", out)
                with np.load(out) as npz:
                    arrays.append({name: npz[name] for name in npz.files})
            batch = directory / f"{path.stem}.jsonl"
            batch.write_text("".join(json.dumps(json.loads(r.read_text())) + "\n" for r in requests))
            lines = run_cli(cli, "run", "--weights", path, "--input", batch).splitlines()
            cache[path] = (arrays, lines, batch.read_text().splitlines())
        return cache[path]

    return outputs


@pytest.mark.parametrize("name,variant,path,requests", ARCHIVES, ids=IDS)
def test_every_archive_equals_the_cli(cli_outputs, name, variant, path, requests):
    model = scriptless.load(path)
    assert model.kind == ("torchscript" if path.suffix == ".pt" else "torch.export")
    assert model.operators and all(op["supported"] for op in model.operators if op["reached"])
    arrays, lines, batch = cli_outputs(path, requests)
    assert len(lines) == len(requests) == len(batch)
    for i, request_path in enumerate(requests):
        what = f"{name}/{variant} request {i}"
        request = json.loads(request_path.read_text())
        assert_same(model(**request), arrays[i], what + " (lists)")
        assert_same(model(**as_arrays(model, request)), arrays[i], what + " (arrays)")
        # Positional, in forward's order, where the request gives every argument.
        names = [param["name"] for param in model.signature["params"]]
        if list(request) == names[:len(request)]:
            assert_same(model(*as_arrays(model, request).values()), arrays[i], what + " (positional)")
        assert model.forward_json(batch[i]) == lines[i], what
    many = model.forward_many([json.loads(r.read_text()) for r in requests])
    for i, output in enumerate(many):
        assert_same(output, arrays[i], f"{name}/{variant} forward_many {i}")


def torch_output(torch, path, request):
    """PyTorch's output of the archive at `path` on a JSON request: torch.jit.load for a .pt,
    torch.export.load(...).module() for a .pt2."""
    if path.suffix == ".pt":
        module = torch.jit.load(str(path))
    else:
        module = torch.export.load(str(path)).module()
    kinds = {param["name"]: param["kind"] for param in scriptless.load(path).signature["params"]}
    args = {}
    for name, value in request.items():
        if kinds.get(name) == "tensor":
            args[name] = torch.tensor(value)
        elif kinds.get(name) == "tensor_list":
            args[name] = [torch.tensor(item) for item in value]
        else:
            args[name] = value
    # In forward's order, positionally: an exported program's module takes no keywords. A
    # request gives every argument up to the last it gives (the corpus's requests do).
    order = [name for name in kinds if name in args]
    with torch.no_grad():
        out = module(*[args[name] for name in order])

    def to_numpy(value):
        if isinstance(value, torch.Tensor):
            return value.numpy()
        if isinstance(value, (list, tuple)):
            return type(value)(to_numpy(item) for item in value)
        if isinstance(value, dict):
            return {key: to_numpy(item) for key, item in value.items()}
        return value

    return to_numpy(out)


@pytest.mark.parametrize("name,variant,path,requests", ARCHIVES, ids=IDS)
def test_every_archive_is_close_to_pytorch(name, variant, path, requests):
    torch = pytest.importorskip("torch")
    info = CORPUS_MANIFEST[name]
    model = scriptless.load(path)
    for i, request_path in enumerate(requests):
        request = json.loads(request_path.read_text())
        got = flatten(model(**request))
        want = flatten(torch_output(torch, path, request))
        assert sorted(got) == sorted(want)
        for key, array in got.items():
            expected = np.asarray(want[key])
            assert array.shape == expected.shape, (name, variant, i, key)
            if np.issubdtype(array.dtype, np.floating):
                np.testing.assert_allclose(array, expected, atol=info["atol"], rtol=info["rtol"],
                                           err_msg=f"{name}/{variant} request {i} {key}")
            else:
                assert np.array_equal(array, expected), (name, variant, i, key)


def test_example_archives_equal_the_cli(cli):
    """The guide's example, `examples/dict_output.pt` and `.pt2`, on `examples/dict_output.json`:
    a dict with `logits` (float32) and `label` (int64), the command line's line."""
    request_path = Path(FIXTURES).parents[1] / "examples" / "dict_output.json"
    request = json.loads(request_path.read_text())
    for suffix in ("pt", "pt2"):
        path = request_path.with_suffix(f".{suffix}")
        model = scriptless.load(path)
        out = model(np.array(request["x"], np.float32))
        assert list(out) == ["logits", "label"]
        assert out["logits"].dtype == np.float32 and out["label"].dtype == np.int64
        line = run_cli(cli, "run", "--weights", path, "--input", request_path).strip()
        assert model.forward_json(request_path.read_text()) == line


def test_outputs_are_read_only_views_of_the_models_memory():
    """A tensor output is not copied: a read-only array over the tensor's memory (which the
    array keeps alive), of the tensor's dtype, integers included; `.copy()` is writable."""
    model = scriptless.load(Path(FIXTURES).parents[1] / "examples" / "dict_output.pt")
    out = model(x=np.ones((3, 10), np.float32))
    for key, dtype in (("logits", np.float32), ("label", np.int64)):
        array = out[key]
        assert array.dtype == dtype
        assert not array.flags.owndata and array.base is not None, key
        assert not array.flags.writeable, key
        with pytest.raises(ValueError):
            array[0] = 0
        copy = array.copy()
        copy[0] = 0
    # The arrays still hold what the model returned; a later call gives the same.
    again = model(x=np.ones((3, 10), np.float32))
    for key in ("logits", "label"):
        assert np.array_equal(out[key], again[key]), key
