#!/usr/bin/env python3
"""Live parity harness: the same weights and inputs through real PyTorch and scriptless.

    python python/parity.py [-n 200] [--seed S] [--via auto|module|cli] [--bin PATH] [--keep DIR] [--case I]
                            [--formats safetensors,pth,torchscript,pt2] [--dtypes f32,f64,f16,bf16]
    python python/parity.py --weights FILE [--model KIND] [-n 20] [--feature-width F]
                            [--seed S] [--bin PATH] [--keep DIR] [--case I] [--dtypes ...]
    python python/parity.py --corpus [NAME ...] [--variants N] [--seed S] [--bin PATH] [--keep DIR] [--case I]
                            [--formats torchscript,pt2]

Random mode (the default) draws N configurations of the three models (sequence most often):
sizes, broadcasting shapes, N-d categorical inputs, LSTM layers, directions, projections, bias,
ragged lengths (equal, all 1, batch 1, a padded time axis longer than the longest, garbage in
the padding, NaN and infinities there in safetensors and npz inputs), weights at PyTorch's default
init or 2-3 times it, the weights file's format, the input's form (JSON padded, JSON ragged
`sequences`, safetensors in f32 or f64, NumPy's `.npz` from `np.savez` or `np.savez_compressed`
with f32 or f64 floats and int64 or int32 lengths and indices), the pooling, the dtype computed
and where the output goes (stdout, `--output x.json`, `--output x.safetensors`, `--output x.npy`,
read back with `np.load`). Each configuration runs in PyTorch
(the generalised models of export.py, `pack_padded_sequence(enforce_sorted=False)`) and through
scriptless: the Python module `scriptless` when it is installed (`--via auto`, the default;
`pip install ./python-package`), else the CLI as a subprocess (`--via cli`). Through the module
the weights file is the same; the input form becomes the arrays' dtypes (f32 or f64 floats,
int64 or int32 lengths and indices; `json-ragged` is `sequences=`), in C order, Fortran order
or a strided view by turns, and the output is the returned array.

Weights mode (`--weights FILE`) checks a user's own file, recognised by content, not by
extension, against what PyTorch computes from it, on N random requests; scriptless runs on FILE
itself:
  - a `.pt2` whose forward is not one of the seed's models' runs by its own graph: the requests
    are drawn like the example inputs the archive keeps (request 0 is the example; the others
    random floats of its shapes, dtypes, mean and spread; integer and bool tensors and plain
    arguments kept), written as corpus.py's request JSON, run with
    `scriptless run` and compared with `torch.export.load(FILE).module()` under the f32 policy;
  - a TorchScript (`torch.jit.save`) or `torch.export.save` archive carries its model's code, so
    the reference is the archive as PyTorch runs it (`torch.jit.load(FILE)`,
    `torch.export.load(FILE).module()`), whatever its classes or tensors are named. The requests
    are the seed model's whose forward arguments it takes (or --model's), sized from its
    tensors; a .pt2's have the shapes it was exported with. scriptless gets --model only when
    given: without it, scriptless must recognise the archive's code as the seed's, and an
    archive whose code is not fails here, as it should, with or without --model.
  - a safetensors or `torch.save(state_dict)` file has no code: --model KIND (or the safetensors
    metadata `model`) names the seed model it is loaded into, sized from the tensors' shapes.
    For the categorical model the feature width comes from --feature-width, else the metadata
    `feature_width`, else 10 (as the CLI).
Weights mode checks f32 and f64 unless --dtypes says otherwise (f32 only for a .pt2, which runs
in the dtypes it was exported in): the f16/bf16 tolerances were validated at default init scale
only.

Corpus mode (`--corpus [NAME ...]`, every model of python/corpus.py when no NAME is given) draws
--variants random variants of each corpus model (random sizes, layers, weights and requests, from
the model's `draw_sizes`, `build` and `requests` in corpus.py) and saves each as corpus.py does:
  torchscript  scripted.pt (torch.jit.script) and, where a trace made on its request 0 is valid on
               every request, traced.pt (torch.jit.trace), run on request_<i>.json (its requests);
  pt2          where torch.export takes the variant, exported.pt2 (torch.export.export) and
               exported_core.pt2 (after run_decompositions: Core ATen), with corpus.py's dynamic
               dims (the batch, 1 to 8; the time axis, height and width where the model has them),
               run on pt2_request_<i>.json: requests of batch 3 (export's example), 1 and 8 from
               the variant's own pt2 stream, redrawn until they fit the exported program (its
               static dims, baked scalar arguments and list length), in corpus.py's request JSON;
(--formats picks torchscript, pt2 or both, the default). For each file and request it runs
`scriptless run --weights <file> --input <request>.json` through the CLI (always: the module takes
NumPy arrays, not these arguments). Its stdout, {"output": ...} mirroring what forward returns (a
lone tensor as nested arrays with a "shape" beside "output", a tuple or list as an array, a dict as
an object, scalars as JSON values), is compared, element by element and structure by structure,
with PyTorch's output from the same file on the same request (`torch.jit.load(<file>)`,
`torch.export.load(<file>).module()`) under the model's tolerance from corpus.py (the f32 policy
below; integer and bool tensors exactly). One line per variant and file (scripted.pt, traced.pt,
exported.pt2, exported_core.pt2) with the worst element over its requests; a refusal by scriptless
is a FAIL with its message; a SKIP line says why PyTorch made no traced.pt or no .pt2 files (not a
failure: text_lstm, packed_gru and control_flow do not export). Variants are seeded from (--seed,
name, index), their pt2 requests from (--seed, name, index, "pt2"): `--case I` reruns variant I of
each NAME, --keep DIR keeps DIR/<name>-<I>/ (the .pt and .pt2 files, the requests, PyTorch's
outputs as <file stem>_<i>.expected.json, scriptless's stdout, command.txt).

Reference and tolerance per dtype (the parity policy of docs/parity.md, `|got - want| <= atol +
rtol*|want|` element by element, and the output shape must be PyTorch's):
  f32       PyTorch's f32 model                                  atol 2e-5,    rtol 1e-4
  f64       PyTorch's model.double() on double inputs            atol 1e-10,   rtol 1e-9
  f16       PyTorch's f32 model (default-scale weights only)     atol 16/2048, rtol 16/2048
  bf16      PyTorch's f32 model (default-scale weights only)     atol 16/256,  rtol 16/256

One line per configuration: index, PASS or FAIL, kind and sizes, dtype, weights format, input
form, output form, pooling, and the worst element (largest |diff| / tolerance): |diff|, index,
got, want, tolerance. Then a summary. Every configuration is seeded from (--seed, index) alone,
so `--case I` with the same --seed, --formats and --dtypes (and --weights) reruns just that one;
--keep DIR keeps DIR/case-I/ (weights, input, expected.safetensors, the output, command.txt).
Exit status 1 if any configuration fails or scriptless errors, else 0.
"""

import argparse
import json
import math
import random
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

try:
    import scriptless
except ImportError:  # --via auto falls back to the CLI
    scriptless = None

sys.path.insert(0, str(Path(__file__).resolve().parent))
from export import (FORWARD_ARGS, ExportableSequence, GeneralCategorical, GeneralSequence,  # noqa: E402
                    GeneralTwoInput, lstm_outputs)

warnings.filterwarnings("ignore", category=FutureWarning, message=".*torch.jit.*")

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SEED = 20261128
KINDS = {"two-input": 1, "categorical": 1, "sequence": 2}  # draw weights
DTYPES = {"f32": 6, "f64": 2, "f16": 1, "bf16": 1}  # draw weights
TORCH_DTYPES = {"f32": torch.float32, "f64": torch.float64, "f16": torch.float16, "bf16": torch.bfloat16}
TOLERANCES = {"f32": (2e-5, 1e-4), "f64": (1e-10, 1e-9), "f16": (16 / 2048, 16 / 2048),
              "bf16": (16 / 256, 16 / 256)}
HALF = {"f16", "bf16"}
NPZ_INTS = {"i64": torch.int64, "i32": torch.int32}
FORMATS = {"safetensors": ".safetensors", "pth": ".pth", "torchscript": ".pt", "pt2": ".pt2"}
OUTPUTS = {"stdout": None, "json": "output.json", "safetensors": "output.safetensors", "npy": "output.npy"}
# What `--output x.npy` holds for each --dtype: numpy has no bfloat16, so bf16 comes as float32.
NPY_DTYPES = {"f32": np.float32, "f64": np.float64, "f16": np.float16, "bf16": np.float32}
CLI_TIMEOUT_S = 120


@dataclass
class Archive:
    """A user's TorchScript or torch.export archive, as PyTorch runs it."""
    path: Path
    format: str            # torchscript or pt2
    shapes: dict | None    # a .pt2's forward argument -> the shape it was exported with
    code: str | None       # a TorchScript archive's forward, as PyTorch prints it

    def module(self, dtype):
        """The archive's own model, in `dtype`."""
        if self.format == "torchscript":
            module = torch.jit.load(self.path, map_location="cpu")
        else:
            module = torch.export.load(self.path).module()
        # As it was saved: a TorchScript module keeps its training flag, which eval() would change.
        return module.to(dtype) if dtype != torch.float32 else module


@dataclass
class Case:
    """One configuration: the model, its inputs and how they reach the CLI."""
    index: int
    kind: str
    sizes: dict
    state: dict            # the state_dict the CLI reads (random mode: f32)
    inputs: dict           # forward argument name -> f32 floats / int64 indices
    dtype: str
    weights_format: str
    input_form: str        # json, json-ragged, safetensors-f32, safetensors-f64, npz-F-I[-compressed]
    output_form: str       # a key of OUTPUTS
    pool: str | None       # sequence only; None: the CLI's default (padded-last)
    scales: str            # the weights' scale (x default init) and the inputs'
    cli_flags: list        # --model, --feature-width as drawn
    archive: Archive | None = None  # weights mode: the user's archive, PyTorch's reference


# ---------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------

def build_model(kind, sizes):
    if kind == "two-input":
        return GeneralTwoInput(sizes["in"], sizes["out"])
    if kind == "categorical":
        return GeneralCategorical(sizes["C"], sizes["F"], sizes["out"])
    return GeneralSequence(sizes["I"], sizes["H"], sizes["L"], sizes["bidir"], sizes["P"], sizes["bias"],
                           sizes["out"])


def reference_model(kind, sizes, state, dtype):
    """The model in `dtype`, holding `state` converted to it."""
    model = build_model(kind, sizes).to(dtype).eval()
    model.load_state_dict({k: v.to(dtype) for k, v in state.items()})
    return model


def sizes_from_state(kind, state, feature_width):
    """The generalised model's arguments, read from the state_dict's shapes."""
    if "linear.weight" not in state:
        sys.exit(f"parity.py: the weights hold no `linear.weight` (they hold {sorted(state)})")
    out, width = state["linear.weight"].shape
    if kind == "two-input":
        return {"in": width, "out": out}
    if kind == "categorical":
        if width <= feature_width:
            sys.exit(f"parity.py: linear.in_features {width} leaves no category beside feature width "
                     f"{feature_width}; pass --feature-width")
        return {"F": feature_width, "C": width - feature_width, "out": out}
    if "rnn.weight_ih_l0" not in state:
        sys.exit("parity.py: the weights hold no `rnn.weight_ih_l0`: not a sequence model")
    gates, input_size = state["rnn.weight_ih_l0"].shape
    layers = sum(1 for k in state if k.startswith("rnn.weight_ih_l") and not k.endswith("_reverse"))
    proj = state["rnn.weight_hr_l0"].shape[0] if "rnn.weight_hr_l0" in state else 0
    return {"I": input_size, "H": gates // 4, "L": layers, "bidir": "rnn.weight_ih_l0_reverse" in state,
            "P": proj, "bias": "rnn.bias_ih_l0" in state, "out": out}


def draw_sizes(kind, rng, half):
    if kind == "two-input":
        return {"in": rng.randint(1, 32), "out": rng.randint(1, 32)}
    if kind == "categorical":
        return {"F": rng.randint(1, 16), "C": rng.randint(1, 10), "out": rng.randint(1, 16)}
    hidden = rng.randint(1, 32 if half else 48)
    proj = rng.randint(1, hidden - 1) if hidden > 1 and rng.random() < 0.2 else 0
    return {"I": rng.randint(1, 16), "H": hidden, "L": rng.randint(1, 3), "bidir": rng.random() < 0.5,
            "P": proj, "bias": rng.random() < 0.75, "out": rng.randint(1, 12)}


def random_state(kind, sizes, scale):
    """PyTorch's default init (the global RNG, seeded per case), times `scale`."""
    model = build_model(kind, sizes)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(scale)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------

def broadcast_shapes(rng, width):
    """Two shapes that broadcast to (*lead, width): leading dims dropped or set to 1, and
    sometimes a last dim of 1 on one side."""
    lead = [rng.randint(1, 5) for _ in range(rng.randint(0, 3))]

    def one():
        dims = lead[rng.randint(0, len(lead)):]
        return [1 if rng.random() < 0.25 else d for d in dims] + [width]

    shapes = [one(), one()]
    if rng.random() < 0.1:
        shapes[rng.randint(0, 1)][-1] = 1
    return shapes


def draw_lengths(rng, half):
    batch = 1 if rng.random() < 0.15 else rng.randint(1, 8)
    longest = rng.randint(1, 16 if half else rng.choice([20, 20, 20, 60]))
    shape = rng.choices(["ragged", "equal", "ones"], weights=[6, 2, 1])[0]
    if shape == "ones":
        return [1] * batch
    if shape == "equal":
        return [longest] * batch
    return [rng.randint(1, longest) for _ in range(batch)]


def fill_padding(padded, lengths, rng, non_finite):
    """Garbage past each length: packing must never read it."""
    for b, n in enumerate(lengths):
        tail = padded[b, n:]
        tail.copy_(torch.randn_like(tail) * 100)
        if non_finite:
            tail[torch.rand_like(tail) < 0.5] = rng.choice([float("nan"), float("inf"), float("-inf")])


def draw_inputs(kind, sizes, rng, scale, half, form, shapes=None):
    """Random inputs; `shapes` (a .pt2's) fixes each argument's shape, the values stay random."""
    if kind == "two-input":
        s1, s2 = (shapes["tensor1"], shapes["tensor2"]) if shapes else broadcast_shapes(rng, sizes["in"])
        return {"tensor1": torch.randn(s1) * scale, "tensor2": torch.randn(s2) * scale}
    if kind == "categorical":
        lead = list(shapes["category_index"]) if shapes else [rng.randint(1, 6) for _ in range(rng.randint(0, 2))]
        return {"tensor_input": torch.randn(*lead, sizes["F"]) * scale,
                "category_index": torch.randint(0, sizes["C"], lead, dtype=torch.int64)}
    if shapes:
        batch, steps, _ = shapes["padded_seq"]
        lengths = [rng.randint(1, steps) for _ in range(batch)]
        extra = steps - max(lengths)
    else:
        lengths = draw_lengths(rng, half)
        extra = rng.randint(1, 5) if form != "json-ragged" and rng.random() < 0.3 else 0
    padded = torch.randn(len(lengths), max(lengths) + extra, sizes["I"]) * scale
    fill_padding(padded, lengths, rng, form.startswith(("safetensors", "npz")) and rng.random() < 0.3)
    return {"padded_seq": padded, "seq_lengths": torch.tensor(lengths, dtype=torch.int64)}


def write_inputs(inputs, form, path):
    if form == "json-ragged":
        lengths = inputs["seq_lengths"].tolist()
        obj = {"sequences": [inputs["padded_seq"][b, :n].tolist() for b, n in enumerate(lengths)]}
        path.write_text(json.dumps(obj))
    elif form == "json":
        path.write_text(json.dumps({k: v.tolist() for k, v in inputs.items()}))
    elif form.startswith("npz"):
        # npz-F-I[-compressed]: floats in F (f32, f64), lengths and indices in I (i64, i32).
        _, floats, ints, *compressed = form.split("-")
        arrays = {k: v.to(TORCH_DTYPES[floats] if v.is_floating_point() else NPZ_INTS[ints]).contiguous().numpy()
                  for k, v in inputs.items()}
        (np.savez_compressed if compressed else np.savez)(path, **arrays)
    else:
        dtype = torch.float64 if form == "safetensors-f64" else torch.float32
        save_file({k: (v.to(dtype) if v.is_floating_point() else v).contiguous() for k, v in inputs.items()},
                  path)


# ---------------------------------------------------------------------------------------------
# Weights files
# ---------------------------------------------------------------------------------------------

def write_weights(case, path):
    if case.weights_format == "safetensors":
        metadata = {"model": case.kind}
        if case.kind == "categorical":
            metadata["feature_width"] = str(case.sizes["F"])
        save_file({k: v.contiguous() for k, v in case.state.items()}, path, metadata)
    elif case.weights_format == "pth":
        torch.save(case.state, path)
    elif case.weights_format == "torchscript":
        model = reference_model(case.kind, case.sizes, case.state, torch.float32)
        torch.jit.save(torch.jit.script(model), path)
    else:
        model = reference_model(case.kind, case.sizes, case.state, torch.float32)
        if case.kind == "sequence":  # torch.export cannot trace the packing: export.py's variant
            s = case.sizes
            model = ExportableSequence(s["I"], s["H"], s["L"], s["bidir"], s["P"], s["bias"], s["out"]).eval()
            model.load_state_dict(case.state)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*_flat_weights.*")
            program = torch.export.export(model, tuple(case.inputs.values()))
        torch.export.save(program, path)


def load_state(path):
    """(state_dict, format, safetensors metadata) of a file without code, recognised by content."""
    if zipfile.is_zipfile(path):
        return torch.load(path, map_location="cpu", weights_only=True), "pth", {}
    try:
        with safe_open(path, "pt") as f:
            metadata = f.metadata() or {}
        return load_file(path), "safetensors", metadata
    except SafetensorError:
        return torch.load(path, map_location="cpu", weights_only=True), "pth", {}


# ---------------------------------------------------------------------------------------------
# PyTorch's side
# ---------------------------------------------------------------------------------------------

def expected_output(case):
    """PyTorch's output: f64 for --dtype f64, else f32 (f16 and bf16 are held to f32); from the
    user's archive itself when there is one."""
    dtype = torch.float64 if case.dtype == "f64" else torch.float32
    args = [v.to(dtype) if v.is_floating_point() else v for v in case.inputs.values()]
    if case.archive is not None:
        with torch.no_grad():
            return case.archive.module(dtype)(*args)
    model = reference_model(case.kind, case.sizes, case.state, dtype)
    with torch.no_grad():
        if case.pool == "last-valid":
            return lstm_outputs(model, *args)["output_last_valid"]
        return model(*args)


# ---------------------------------------------------------------------------------------------
# scriptless's side
# ---------------------------------------------------------------------------------------------

class CliError(Exception):
    pass


def cli_command(binary, case, weights, inputs, output):
    cmd = [str(binary), "run", "--weights", str(weights), "--input", str(inputs), "--dtype", case.dtype]
    cmd += case.cli_flags
    if case.pool is not None:
        cmd += ["--pool", case.pool]
    if output is not None:
        cmd += ["--output", str(output)]
    return cmd


def run_cli(cmd, output, dtype, case_dir):
    """The CLI's output as a float64 tensor; CliError on a failed run or a malformed output."""
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise CliError(f"scriptless ran past {CLI_TIMEOUT_S} s") from None
    if done.returncode != 0:
        message = done.stderr.strip().splitlines()[-1:] or ["(no message)"]
        raise CliError(f"scriptless exited {done.returncode}: {message[0]}")
    if output is None:
        (case_dir / "stdout.json").write_text(done.stdout)
        return json_output(done.stdout)
    if output.suffix == ".json":
        return json_output(output.read_text())
    if output.suffix == ".npy":
        try:
            got = np.load(output)
        except ValueError as e:
            raise CliError(f"output.npy does not load: {e}") from None
        if got.dtype != NPY_DTYPES[dtype]:
            raise CliError(f"output.npy holds {got.dtype}, not the {np.dtype(NPY_DTYPES[dtype])} of --dtype {dtype}")
        return torch.from_numpy(got.astype(np.float64))
    tensors = load_file(output)
    if list(tensors) != ["output"]:
        raise CliError(f"output.safetensors holds {sorted(tensors)}, not just `output`")
    if tensors["output"].dtype != TORCH_DTYPES[dtype]:
        raise CliError(f"output.safetensors holds {tensors['output'].dtype}, not the {dtype} computed")
    return tensors["output"].double()


def json_output(text):
    try:
        obj = json.loads(text)
        got = torch.tensor(obj["output"], dtype=torch.float64)
        shape = obj["shape"]
    except (ValueError, KeyError, TypeError) as e:
        raise CliError(f"malformed JSON output: {e}") from None
    if list(got.shape) != shape:
        raise CliError(f"JSON output's nested lists have shape {list(got.shape)}, its `shape` says {shape}")
    return got


# ---------------------------------------------------------------------------------------------
# Comparison and report
# ---------------------------------------------------------------------------------------------

def compare(got, want, dtype=None, tolerance=None):
    """(passed, worst |diff| / tolerance, worst-element text) under the dtype's allclose
    tolerance (or `tolerance`, (atol, rtol))."""
    if got.shape != want.shape:
        return False, float("inf"), f"shape {list(got.shape)}, PyTorch's {list(want.shape)}"
    atol, rtol = tolerance or TOLERANCES[dtype]
    want = want.double()
    diff = (got - want).abs()
    tol = atol + rtol * want.abs()
    ratio = torch.nan_to_num(diff / tol, nan=float("inf"))
    worst = int(ratio.flatten().argmax())
    at = [int(i) for i in np.unravel_index(worst, tuple(want.shape))]
    d, g, w, t = (x.flatten()[worst].item() for x in (diff, got, want, tol))
    passed = bool((diff <= tol).all())
    return passed, d / t, f"worst |d|={d:.3g} at {at}: got {g:.9g} want {w:.9g} tol {t:.3g} ({d / t:.3g} of tol)"


def describe(case):
    s = case.sizes
    if case.kind == "two-input":
        shapes = " + ".join(str(list(case.inputs[k].shape)) for k in ("tensor1", "tensor2"))
        sizes = f"in={s['in']} out={s['out']} {shapes}"
    elif case.kind == "categorical":
        sizes = f"F={s['F']} C={s['C']} out={s['out']} lead={list(case.inputs['category_index'].shape)}"
    else:
        padded = case.inputs["padded_seq"]
        sizes = (f"I={s['I']} H={s['H']} L={s['L']} {'bidir' if s['bidir'] else 'uni'} P={s['P']} "
                 f"{'bias' if s['bias'] else 'nobias'} out={s['out']} B={padded.shape[0]} "
                 f"T={padded.shape[1]} lens={case.inputs['seq_lengths'].tolist()}")
        if not torch.isfinite(padded).all():
            sizes += " nonfinite-padding"
    pool = f" pool={pool_label(case)}" if case.kind == "sequence" else ""
    return (f"{case.kind:<11} {sizes} {case.scales} | {case.dtype} {case.weights_format} {case.input_form} "
            f"-> {case.output_form}{pool}")


def pool_label(case):
    return case.pool or "padded-last(default)"


LAYOUTS = ["c", "fortran", "strided"]


def module_arrays(case):
    """The case's inputs as `forward` keywords: NumPy arrays in the drawn dtypes and, by turns,
    layouts (`json-ragged`: `sequences=`)."""
    form = case.input_form
    floats, ints = np.float32, np.int64
    if form == "safetensors-f64":
        floats = np.float64
    elif form.startswith("npz"):
        _, f, i, *_ = form.split("-")
        floats, ints = NPY_DTYPES[f], {"i64": np.int64, "i32": np.int32}[i]
    layout = LAYOUTS[case.index % len(LAYOUTS)]

    def array(tensor):
        a = tensor.numpy().astype(floats if tensor.is_floating_point() else ints)
        if layout == "fortran" and a.ndim:  # (asfortranarray makes a 0-d array 1-d)
            return np.asfortranarray(a)
        if layout == "strided" and a.ndim:
            return np.repeat(a, 2, axis=-1)[..., ::2]
        return a

    if form == "json-ragged":
        lengths = case.inputs["seq_lengths"].tolist()
        return {"sequences": [array(case.inputs["padded_seq"][b, :n]) for b, n in enumerate(lengths)]}, layout
    return {name: array(value) for name, value in case.inputs.items()}, layout


def run_module(case, weights, case_dir):
    """The module's output as a float64 tensor; CliError (with the module's message) if it
    raises."""
    options = dict(zip(case.cli_flags[::2], case.cli_flags[1::2]))
    arrays, layout = module_arrays(case)
    case.output_form = f"array({layout})"
    keywords = {"model": options.get("--model"), "dtype": case.dtype, "pool": case.pool or "padded-last",
                "feature_width": int(options["--feature-width"]) if "--feature-width" in options else None}
    # What --keep keeps: the inputs (ragged sequences as sequences_0, ...) and the call.
    saved = {f"sequences_{i}": a for i, a in enumerate(arrays["sequences"])} if "sequences" in arrays else arrays
    np.savez(case_dir / "input.npz", **saved)
    (case_dir / "command.txt").write_text(
        f"scriptless.load({str(weights)!r}, **{keywords!r})(**inputs)  # inputs: input.npz, {layout} layout\n")
    try:
        model = scriptless.load(weights, **keywords)
        got = model(**arrays)
    except scriptless.ScriptlessError as e:
        raise CliError(f"scriptless raised {type(e).__name__}: {e}") from None
    if got.dtype != NPY_DTYPES[case.dtype]:
        raise CliError(f"the module returned {got.dtype}, not the {np.dtype(NPY_DTYPES[case.dtype])} of {case.dtype}")
    return torch.from_numpy(got.astype(np.float64))


def check(case, binary, weights, case_dir):
    """Run one configuration in both; (passed, worst |diff| / tolerance, report text).
    `binary` None: through the module."""
    try:
        want = expected_output(case)
    except Exception as e:  # a user's archive may not run on these inputs, or in f64
        return False, float("inf"), f"harness: PyTorch cannot run the reference: {type(e).__name__}: {e}"
    save_file({"output": want.contiguous()}, case_dir / "expected.safetensors")
    if not torch.isfinite(want).all():
        return False, float("inf"), "harness: PyTorch's output is not finite"
    if binary is None:
        try:
            got = run_module(case, weights, case_dir)
        except CliError as e:
            return False, float("inf"), str(e)
        return compare(got, want, case.dtype)
    inputs = case_dir / f"input.{case.input_form.split('-')[0]}"  # .json, .safetensors or .npz
    write_inputs(case.inputs, case.input_form, inputs)
    output = case_dir / OUTPUTS[case.output_form] if OUTPUTS[case.output_form] else None
    cmd = cli_command(binary, case, weights, inputs, output)
    (case_dir / "command.txt").write_text(shlex.join(cmd) + "\n")
    try:
        got = run_cli(cmd, output, case.dtype, case_dir)
    except CliError as e:
        return False, float("inf"), str(e)
    return compare(got, want, case.dtype)


# ---------------------------------------------------------------------------------------------
# Drawing the configurations
# ---------------------------------------------------------------------------------------------

def pick(rng, weighted, allowed):
    names = [k for k in weighted if k in allowed]
    return rng.choices(names, weights=[weighted[k] for k in names])[0]


def draw_io(case_rng, kind, dtype):
    """Input form, output form, pooling and the inputs' scale (N(0,1) for half precision)."""
    forms = ["json", "safetensors-f32", "safetensors-f64", "npz"] + (["json-ragged"] if kind == "sequence" else [])
    input_form = case_rng.choice(forms)
    if input_form == "npz":
        input_form += f"-{case_rng.choice(['f32', 'f64'])}-{case_rng.choice(['i64', 'i32'])}"
        input_form += case_rng.choice(["", "-compressed"])
    output_form = case_rng.choice(list(OUTPUTS))
    pool = case_rng.choice(["padded-last", "last-valid", None]) if kind == "sequence" else None
    scale = 1.0 if dtype in HALF else case_rng.choice([1.0, 1.0, 3.0])
    return input_form, output_form, pool, scale


def random_case(index, rng, formats, dtypes):
    dtype = pick(rng, DTYPES, dtypes)
    kind = pick(rng, KINDS, KINDS)
    sizes = draw_sizes(kind, rng, dtype in HALF)
    weights_format = rng.choice(formats)
    input_form, output_form, pool, scale = draw_io(rng, kind, dtype)
    weight_scale = 1.0 if dtype in HALF or rng.random() < 0.6 else rng.uniform(2.0, 3.0)
    state = random_state(kind, sizes, weight_scale)
    inputs = draw_inputs(kind, sizes, rng, scale, dtype in HALF, input_form)
    # safetensors name their model (and the categorical feature width) in metadata, TorchScript
    # and .pt2 archives by their code, which is the seed's; a torch.save state_dict cannot. The
    # sequence model's .pt2 is export.py's variant without the packing, whose graph is not the
    # seed's: --model runs its weights in the seed's model, which is the reference here.
    named = weights_format in ("safetensors", "torchscript", "pt2")
    flags = ["--model", kind] if not named or rng.random() < 0.5 else []
    if weights_format == "pt2" and kind == "sequence":
        flags = ["--model", kind]
    if kind == "categorical" and not named:
        flags += ["--feature-width", str(sizes["F"])]
    scales = f"w*{weight_scale:.2f} x*{scale:g}"
    return Case(index, kind, sizes, state, inputs, dtype, weights_format, input_form, output_form, pool, scales,
                flags)


def weights_case(index, rng, loaded, args):
    """A random request for the user's file: for an archive, run by the archive itself, with
    the pooling its code has (none is asked for)."""
    state, weights_format, sizes, kind, archive = loaded
    dtype = pick(rng, DTYPES, args.dtypes)
    input_form, output_form, pool, scale = draw_io(rng, kind, dtype)
    if archive is not None:
        pool = None
        if archive.shapes and input_form == "json-ragged":  # a .pt2 takes its padded shape
            input_form = "json"
    inputs = draw_inputs(kind, sizes, rng, scale, dtype in HALF, input_form,
                         archive.shapes if archive else None)
    flags = ["--model", kind] if args.model else []
    if args.feature_width is not None:
        flags += ["--feature-width", str(args.feature_width)]
    return Case(index, kind, sizes, state, inputs, dtype, weights_format, input_form, output_form, pool,
                f"x*{scale:g}", flags, archive)


# ---------------------------------------------------------------------------------------------
# Corpus mode: random variants of python/corpus.py's models, through `scriptless run`
# ---------------------------------------------------------------------------------------------

class Mismatch(Exception):
    """scriptless's output does not have the structure, shape or types of PyTorch's."""


def nested_shape(value, path):
    """(shape, flat values) of a JSON tensor: a number or rectangular nested arrays."""
    if not isinstance(value, list):
        return [], [value]
    if not value:
        return [0], []
    parts = [nested_shape(v, f"{path}[{i}]") for i, v in enumerate(value)]
    inner = parts[0][0]
    for i, (shape, _) in enumerate(parts):
        if shape != inner:
            raise Mismatch(f"{path}: ragged nested arrays ({path}[0] has shape {inner}, {path}[{i}] {shape})")
    return [len(value)] + inner, [x for _, flat in parts for x in flat]


def json_kind_ok(x, dtype):
    if dtype == torch.bool:
        return isinstance(x, bool)
    if dtype.is_floating_point:
        return isinstance(x, (int, float)) and not isinstance(x, bool)
    return isinstance(x, int) and not isinstance(x, bool)


def compare_structured(got, want, atol, rtol, path="output"):
    """Walk PyTorch's output `want` (tensors, tuples, lists, dicts, scalars) and scriptless's JSON
    `got` together. Returns (worst |diff| / tolerance, text) over every float element (0.0 when
    there is none); raises Mismatch on another structure, shape or type, or on an integer or bool
    element that differs."""
    if isinstance(want, torch.Tensor):
        shape, flat = nested_shape(got, path)
        if want.numel() == 0 and not flat:
            return 0.0, f"{path}: empty"
        if shape != list(want.shape):
            raise Mismatch(f"{path}: shape {shape}, PyTorch's {list(want.shape)}")
        bad = next((x for x in flat if not json_kind_ok(x, want.dtype)), None)
        if bad is not None:
            raise Mismatch(f"{path}: holds {json.dumps(bad)}, not a {str(want.dtype).removeprefix('torch.')} value")
        if not want.is_floating_point():
            expected = want.reshape(-1).tolist()
            for i, (g, w) in enumerate(zip(flat, expected)):
                if g != w:
                    at = [int(j) for j in np.unravel_index(i, tuple(want.shape))]
                    raise Mismatch(f"{path} at {at}: got {json.dumps(g)}, want {json.dumps(w)} (exact)")
            return 0.0, f"{path}: exact"
        passed, ratio, text = compare(torch.tensor(flat, dtype=torch.float64).reshape(want.shape), want,
                                      tolerance=(atol, rtol))
        return ratio, f"{path}: {text}"
    if isinstance(want, (tuple, list)):
        if not isinstance(got, list) or len(got) != len(want):
            raise Mismatch(f"{path}: {describe_json(got)}, PyTorch's a {type(want).__name__} of {len(want)}")
        results = [compare_structured(g, w, atol, rtol, f"{path}[{i}]") for i, (g, w) in enumerate(zip(got, want))]
        return max(results, key=lambda r: r[0], default=(0.0, f"{path}: empty"))
    if isinstance(want, dict):
        if not isinstance(got, dict) or sorted(got) != sorted(want):
            raise Mismatch(f"{path}: {describe_json(got)}, PyTorch's a dict with keys {list(want)}")
        results = [compare_structured(got[k], w, atol, rtol, f"{path}[{k!r}]") for k, w in want.items()]
        return max(results, key=lambda r: r[0], default=(0.0, f"{path}: empty"))
    if isinstance(want, bool) or want is None or isinstance(want, str):
        if got != want or type(got) is not type(want):
            raise Mismatch(f"{path}: got {json.dumps(got)}, want {json.dumps(want)}")
        return 0.0, f"{path}: exact"
    if isinstance(want, int):
        if not json_kind_ok(got, torch.int64) or got != want:
            raise Mismatch(f"{path}: got {json.dumps(got)}, want {want}")
        return 0.0, f"{path}: exact"
    if isinstance(want, float):
        if not json_kind_ok(got, torch.float64):
            raise Mismatch(f"{path}: got {json.dumps(got)}, want the float {want}")
        d, t = abs(got - want), atol + rtol * abs(want)
        return d / t, f"{path}: got {got!r} want {want!r} |d|={d:.3g} tol {t:.3g}"
    raise Mismatch(f"{path}: PyTorch returns a {type(want).__name__}, which the harness cannot compare")


def describe_json(value):
    if isinstance(value, list):
        return f"an array of {len(value)}"
    if isinstance(value, dict):
        return f"an object with keys {list(value)}"
    return json.dumps(value)


def corpus_output(stdout, want):
    """scriptless's `output` from its stdout; a lone tensor's `shape` must be PyTorch's."""
    try:
        obj = json.loads(stdout)
    except ValueError as e:
        raise Mismatch(f"stdout is not JSON: {e}") from None
    if not isinstance(obj, dict) or "output" not in obj:
        raise Mismatch(f"stdout is not an object with an `output`: {stdout[:200]!r}")
    if isinstance(want, torch.Tensor):
        if "shape" not in obj:
            raise Mismatch("no `shape` beside the lone tensor's `output`")
        if obj["shape"] != list(want.shape):
            raise Mismatch(f"`shape` says {obj['shape']}, PyTorch's {list(want.shape)}")
    return obj["output"]


def run_corpus_request(binary, weights, request_path, want, atol, rtol, out_dir, stem):
    """(worst ratio, text) of one scriptless run; raises CliError or Mismatch."""
    cmd = [str(binary), "run", "--weights", str(weights), "--input", str(request_path)]
    (out_dir / f"{stem}.command.txt").write_text(shlex.join(cmd) + "\n")
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise CliError(f"scriptless ran past {CLI_TIMEOUT_S} s") from None
    if done.returncode != 0:
        message = done.stderr.strip().splitlines()[-1:] or ["(no message)"]
        raise CliError(f"scriptless exited {done.returncode}: {message[0]}")
    (out_dir / f"{stem}.stdout.json").write_text(done.stdout)
    return compare_structured(corpus_output(done.stdout, want), want, atol, rtol)


CORPUS_FORMATS = ("torchscript", "pt2")  # --formats in corpus mode


def corpus_variant(corpus, name, index, binary, args, tmp):
    """One variant of corpus model `name`: (label, [(file, passed, worst ratio, text)], one per
    file checked, [(file, why not)] for the files PyTorch would not make (a failed trace or export))."""
    spec = corpus.SPECS[name]
    rng = random.Random(f"{args.seed}:{name}:{index}")
    torch.manual_seed(rng.getrandbits(63))
    sizes = spec.draw_sizes(rng)
    label = f"{name}#{index} {' '.join(f'{k}={v}' for k, v in sizes.items())}"
    directory = (args.keep or Path(tmp)) / f"{name}-{index}"
    if directory.exists():
        shutil.rmtree(directory)
    # file -> (load it as PyTorch runs it, its requests, their JSON files)
    files, skipped = {}, []
    try:
        model = spec.build(sizes)
        requests = spec.requests(model, sizes, rng)
        if "torchscript" in args.formats:
            _, types, traced_reason = corpus.script_and_trace(spec, model, requests, directory)
            paths = write_corpus_requests(corpus, directory, "", requests, types)
            jit = lambda path: torch.jit.load(path, map_location="cpu")  # noqa: E731
            files["scripted.pt"] = (jit, requests, paths)
            if traced_reason is None:
                files["traced.pt"] = (jit, requests, paths)
            else:
                skipped.append(("traced.pt", traced_reason))
        if "pt2" in args.formats:
            # Its own stream, drawn after the model and its .pt requests (which stay as they were).
            pt2 = corpus.save_pt2(spec, model, sizes, corpus.pt2_rng(f"{args.seed}:{name}:{index}"), directory,
                                  check=False)
            if pt2["reason"] is None:
                paths = write_corpus_requests(corpus, directory, "pt2_", pt2["requests"], corpus.forward_types(model))
                for file in corpus.PT2_FILES:
                    files[file] = (lambda path: torch.export.load(path).module(), pt2["requests"], paths)
            else:
                skipped.append(("exported.pt2", pt2["reason"]))
    except Exception as e:  # noqa: BLE001: a variant PyTorch cannot save is the harness's failure
        return label, [("-", False, float("inf"), f"harness: {corpus.first_line(e)}")], []
    results = []
    for file, (load, file_requests, paths) in files.items():
        try:
            loaded = load(directory / file)
            wants = [corpus.run(loaded, request) for request in file_requests]
        except Exception as e:  # noqa: BLE001
            results.append((file, False, float("inf"), f"harness: loading or running {file} fails: {e}"))
            continue
        worst, text, passed = 0.0, "", True
        for i, (path, want) in enumerate(zip(paths, wants)):
            stem = f"{file.rsplit('.', 1)[0]}_{i}"
            corpus.write_json(directory / f"{stem}.expected.json", {"output": corpus.typed(want)})
            try:
                ratio, found = run_corpus_request(binary, directory / file, path, want, spec.atol, spec.rtol,
                                                  directory, stem)
            except (CliError, Mismatch) as e:
                passed, worst, text = False, float("inf"), f"request {i}: {e}"
                break
            if ratio > 1 or not math.isfinite(ratio):
                passed = False
            if ratio >= worst:
                worst, text = ratio, f"request {i}: {found}"
            if not passed:
                break
        results.append((file, passed, worst, text))
    return label, results, skipped


def write_corpus_requests(corpus, directory, prefix, requests, types):
    """<prefix>request_<i>.json as corpus.py writes them; their paths."""
    paths = []
    for i, request in enumerate(requests):
        paths.append(directory / f"{prefix}request_{i}.json")
        corpus.write_json(paths[-1], corpus.request_json(request, types))
    return paths


def corpus_mode(args):
    """python/parity.py --corpus: exit status 1 if any variant fails."""
    import corpus  # python/corpus.py, beside this file
    names = args.corpus or list(corpus.SPECS)
    unknown = [n for n in names if n not in corpus.SPECS]
    if unknown:
        sys.exit(f"parity.py: no corpus model {', '.join(unknown)} (corpus.py has {', '.join(corpus.SPECS)})")
    binary = (args.bin or ROOT / "target" / "release" / "scriptless").resolve()
    if not binary.is_file():
        sys.exit(f"parity.py: no scriptless binary at {binary} (cargo build --release, or --bin PATH)")
    version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip()
    print(f"torch {torch.__version__}, {version} ({binary}), seed {args.seed}, corpus {', '.join(names)}",
          flush=True)
    args.formats = [f for f in args.formats if f in CORPUS_FORMATS]
    if not args.formats:
        sys.exit(f"parity.py: --corpus checks {' and '.join(CORPUS_FORMATS)} files: --formats names neither")
    indices = [args.case] if args.case is not None else range(args.variants)
    rows, skips, start = [], 0, time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            for index in indices:
                label, results, skipped = corpus_variant(corpus, name, index, binary, args, tmp)
                for file, passed, ratio, text in results:
                    rows.append((name, index, passed, ratio))
                    print(f"{'PASS' if passed else 'FAIL'} {label} {file} | {text}", flush=True)
                for file, why in skipped:
                    skips += 1
                    print(f"SKIP {label} {file} | PyTorch makes none: {why}", flush=True)
    failed = [r for r in rows if not r[2]]
    print(f"{len(rows)} variant files in {time.perf_counter() - start:.1f} s: {len(rows) - len(failed)} passed, "
          f"{len(failed)} failed ({skips} skipped: not traced or not exported)")
    worst = {}
    for name, _, _, ratio in rows:
        worst[name] = max(worst.get(name, 0.0), ratio)
    print("  worst |diff| / tolerance: " + ", ".join(f"{n} {r:.3g}" for n, r in worst.items()))
    if failed:
        again = sorted({(n, i) for n, i, _, _ in failed}, key=lambda f: (names.index(f[0]), f[1]))
        formats = "" if set(args.formats) == set(CORPUS_FORMATS) else f" --formats {','.join(args.formats)}"
        print(f"FAILED: {', '.join(f'{n}#{i}' for n, i in again)}; rerun one with: python python/parity.py "
              f"--corpus NAME --case I --seed {args.seed}{formats} --keep DIR"
              + (f" --bin {args.bin}" if args.bin else ""))
    return 1 if failed else 0


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------

def comma_list(choices):
    def parse(text):
        items = [s.strip() for s in text.split(",") if s.strip()]
        unknown = [s for s in items if s not in choices]
        if unknown or not items:
            raise argparse.ArgumentTypeError(f"choose from {','.join(choices)}")
        return items
    return parse


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=None, help="configurations (200 random, 20 with --weights)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"default {DEFAULT_SEED}")
    parser.add_argument("--via", choices=["auto", "module", "cli"], default="auto",
                        help="run scriptless through the Python module or the CLI (auto: the module if installed)")
    parser.add_argument("--bin", type=Path, default=None, metavar="PATH",
                        help="the scriptless binary (default target/release/scriptless); implies --via cli")
    parser.add_argument("--keep", type=Path, default=None, metavar="DIR",
                        help="keep each configuration's files in DIR/case-I/")
    parser.add_argument("--case", type=int, default=None, metavar="I", help="run configuration I only")
    parser.add_argument("--formats", type=comma_list(list(FORMATS)), default=list(FORMATS),
                        help="weights file formats to draw (default all)")
    parser.add_argument("--dtypes", type=comma_list(list(DTYPES)), default=None,
                        help="default f32,f64,f16,bf16; f32,f64 with --weights")
    parser.add_argument("--weights", type=Path, default=None, metavar="FILE",
                        help="weights mode: your own file (safetensors, torch.save, torch.jit.save, torch.export.save)")
    parser.add_argument("--model", choices=list(KINDS), default=None,
                        help="weights mode: the seed model to load FILE into (needed for a file without code)")
    parser.add_argument("--feature-width", type=int, default=None, metavar="F",
                        help="weights mode, categorical: the width of tensor_input")
    parser.add_argument("--corpus", nargs="*", default=None, metavar="NAME",
                        help="corpus mode: random variants of python/corpus.py's models (all without NAME)")
    parser.add_argument("--variants", type=int, default=5, metavar="N",
                        help="corpus mode: variants of each model (default 5)")
    args = parser.parse_args()
    if args.corpus is not None and (args.weights is not None or args.via == "module"):
        parser.error("--corpus runs the CLI on its own archives: not with --weights or --via module")
    if args.model is not None and args.weights is None:
        parser.error("--model goes with --weights")
    if args.feature_width is not None and args.model != "categorical":
        parser.error("--feature-width is for --weights with --model categorical")
    if args.n is None:
        args.n = 200 if args.weights is None else 20
    args.dtypes_defaulted = args.dtypes is None
    if args.dtypes is None:
        args.dtypes = list(DTYPES) if args.weights is None else ["f32", "f64"]
    return args


def archive_of(path):
    """(Archive, its forward's argument names, its state_dict) of a TorchScript or torch.export
    archive, recognised by content; None for a file without code."""
    if not zipfile.is_zipfile(path):
        return None
    with zipfile.ZipFile(path) as zf:
        parts = [name.split("/")[1:] for name in zf.namelist()]
    if ["archive_format"] in parts:
        program = torch.export.load(path)
        names = list(program.module_call_graph[0].signature.forward_arg_names)
        shapes = {n: tuple(t.shape) for n, t in zip(names, program.example_inputs[0])}
        return Archive(path, "pt2", shapes, None), names, dict(program.state_dict)
    if any(p[:1] == ["code"] for p in parts):
        module = torch.jit.load(path, map_location="cpu")
        names = [a.name for a in module.forward.schema.arguments][1:]
        return Archive(path, "torchscript", None, module.code), names, module.state_dict()
    return None


def load_user_weights(args):
    """(state_dict, format, sizes, kind, archive) of --weights: `archive` when the file carries
    its model's code, which is then the reference."""
    try:
        found = archive_of(args.weights)
        if found:
            archive, names, state = found
            weights_format, metadata = archive.format, {}
        else:
            archive, names = None, None
            state, weights_format, metadata = load_state(args.weights)
    except Exception as e:  # torch.load and torch.jit.load raise many kinds
        sys.exit(f"parity.py: {args.weights}: not safetensors, torch.save, torch.jit.save or torch.export.save: {e}")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        sys.exit(f"parity.py: {args.weights} does not hold a flat state_dict of tensors")
    forward_kind = next((k for k, arguments in FORWARD_ARGS.items() if arguments == names), None)
    kind = args.model or forward_kind or metadata.get("model")
    if kind is None and archive is not None:
        sys.exit(f"parity.py: {args.weights}: its forward takes ({', '.join(names)}), none of the seed's models' "
                 f"arguments, so there are no requests to draw for it (pass --model to draw a seed model's)")
    if kind is None:
        sys.exit(f"parity.py: {args.weights} has no code and does not name its model: pass --model")
    width = args.feature_width or int(metadata.get("feature_width", 10))
    if archive is not None and kind == "categorical" and args.feature_width is None:
        # The width the archive's own model takes: the one-hot's columns are the rest.
        if archive.shapes:
            width = archive.shapes["tensor_input"][-1]
        else:
            width = state["linear.weight"].shape[1] - _one_hot_width(archive.code)
    sizes = sizes_from_state(kind, state, width)
    if archive is None:
        build_model(kind, sizes).load_state_dict(state)  # refuses missing or unexpected tensors
    return state, weights_format, sizes, kind, archive


def _one_hot_width(code):
    """The num_classes a scripted categorical model's forward (`code`) passes to one_hot."""
    found = re.search(r"torch\.one_hot\(category_index, (\d+)\)", code)
    if not found:
        sys.exit("parity.py: the archive's forward does not call one_hot(category_index, N): pass --feature-width")
    return int(found.group(1))


def own_program(path):
    """The torch.export program at `path` when its forward is not one of the seed's models', else
    None (a seed model's archive, or a file that is not a .pt2)."""
    if not zipfile.is_zipfile(path):
        return None
    with zipfile.ZipFile(path) as zf:
        if ["archive_format"] not in [name.split("/")[1:] for name in zf.namelist()]:
            return None
    program = torch.export.load(path)
    names = list(program.module_call_graph[0].signature.forward_arg_names)
    return None if names in FORWARD_ARGS.values() else program


def like(example, gen):
    """A random value like `example`: a float tensor of its shape, dtype, mean and spread; a list
    of those. Integer and bool tensors (ids, offsets, lengths, masks, whose structure random
    values would break) and plain values stay the example's."""
    if isinstance(example, (list, tuple)):
        return [like(v, gen) for v in example]
    if not isinstance(example, torch.Tensor) or not example.is_floating_point() or example.numel() == 0:
        return example
    x = example.double()
    spread = float(x.std()) if x.numel() > 1 else 1.0
    drawn = torch.randn(example.shape, generator=gen, dtype=torch.float64) * (spread or 1.0) + float(x.mean())
    return drawn.to(example.dtype)


def own_pt2_mode(args, program):
    """--weights FILE.pt2 whose forward is not a seed model's: N requests drawn like the example
    inputs the archive keeps (request 0 is the example itself; the others random floats of its
    shapes and dtypes, integer and bool tensors and plain arguments kept), run through `scriptless run` and
    compared with `torch.export.load(FILE).module()` under the f32 policy (integer and bool
    outputs exactly). Exit status 1 if any request fails."""
    import corpus  # python/corpus.py, beside this file
    binary = (args.bin or ROOT / "target" / "release" / "scriptless").resolve()
    if not binary.is_file():
        sys.exit(f"parity.py: no scriptless binary at {binary} (cargo build --release, or --bin PATH)")
    names = list(program.module_call_graph[0].signature.forward_arg_names)
    example_args, example_kwargs = program.example_inputs
    examples = list(example_args) + [example_kwargs[n] for n in names[len(example_args):]]
    kinds = {torch.Tensor: "Tensor", float: "float", int: "int", bool: "bool", str: "str"}
    types = [(n, "List[Tensor]" if isinstance(v, (list, tuple)) else kinds.get(type(v), "Tensor"))
             for n, v in zip(names, examples)]
    module = program.module()
    gen = torch.Generator().manual_seed(args.seed)
    version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip()
    print(f"torch {torch.__version__}, {version} ({binary}), seed {args.seed}; {args.weights}: forward({', '.join(names)}),"
          f" its own program; reference: torch.export.load(...).module()", flush=True)
    failed, worst = 0, 0.0
    with tempfile.TemporaryDirectory() as tmp:
        out = args.keep or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        for i in range(args.n):
            request = {n: (like(v, gen) if i else (list(v) if isinstance(v, tuple) else v))
                       for n, v in zip(names, examples)}
            path = out / f"request_{i}.json"
            corpus.write_json(path, corpus.request_json(request, types))
            want = corpus.run(module, request)
            corpus.write_json(out / f"request_{i}.expected.json", {"output": corpus.typed(want)})
            try:
                ratio, found = run_corpus_request(binary, args.weights, path, want, corpus.ATOL, corpus.RTOL,
                                                  out, f"request_{i}")
                passed = ratio <= 1 and math.isfinite(ratio)
            except (CliError, Mismatch) as e:
                ratio, found, passed = float("inf"), str(e), False
            worst = max(worst, ratio)
            failed += not passed
            print(f"{'PASS' if passed else 'FAIL'} request {i} | worst {ratio:.3g} of the tolerance | {found}",
                  flush=True)
    print(f"{args.n} requests: {args.n - failed} passed, {failed} failed; worst |diff| / tolerance {worst:.3g}")
    return 1 if failed else 0


def main():
    args = parse_args()
    if args.corpus is not None:
        sys.exit(corpus_mode(args))
    if args.weights is not None and args.model is None:
        program = own_program(args.weights)
        if program is not None:
            sys.exit(own_pt2_mode(args, program))
    if args.via == "module" and scriptless is None:
        sys.exit("parity.py: --via module, but the module is not installed (pip install ./python-package)")
    if args.bin is not None and args.via == "auto":
        args.via = "cli"
    if args.via == "cli" or scriptless is None:
        binary = (args.bin or ROOT / "target" / "release" / "scriptless").resolve()
        if not binary.is_file():
            sys.exit(f"parity.py: no scriptless binary at {binary} (cargo build --release, or --bin PATH)")
        version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip()
        via = f"{version} ({binary})"
    else:
        binary = None
        via = f"the Python module scriptless {scriptless.__version__} ({Path(scriptless.__file__).parent})"
    print(f"torch {torch.__version__}, {via}, seed {args.seed}", flush=True)
    loaded = load_user_weights(args) if args.weights else None
    if loaded and loaded[1] == "pt2" and args.dtypes_defaulted:
        # A .pt2 runs in the dtypes its graph was exported in (scriptless refuses another
        # --dtype for a graph it runs), so its default check is f32 only.
        args.dtypes = ["f32"]
    if loaded:
        reference = "the archive as PyTorch runs it" if loaded[4] else f"the seed's {loaded[3]} model"
        print(f"weights {args.weights}: {loaded[1]}, {loaded[3]} {loaded[2]}; reference: {reference}")

    indices = [args.case] if args.case is not None else range(args.n)
    results, start = [], time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for index in indices:
            rng = random.Random(f"{args.seed}:{index}")
            torch.manual_seed(rng.getrandbits(63))
            case_dir = (args.keep or Path(tmp)) / f"case-{index}"
            case_dir.mkdir(parents=True, exist_ok=True)
            if loaded:
                case = weights_case(index, rng, loaded, args)
                weights = args.weights.resolve()
            else:
                case = random_case(index, rng, args.formats, args.dtypes)
                weights = case_dir / f"weights{FORMATS[case.weights_format]}"
                write_weights(case, weights)
            passed, ratio, text = check(case, binary, weights, case_dir)
            results.append((case, passed, ratio))
            print(f"{index:>4} {'PASS' if passed else 'FAIL'} {describe(case)} | {text}", flush=True)
    report(results, time.perf_counter() - start)
    sys.exit(0 if all(passed for _, passed, _ in results) else 1)


def report(results, seconds):
    failed = [case.index for case, passed, _ in results if not passed]
    print(f"{len(results)} configurations in {seconds:.1f} s: {len(results) - len(failed)} passed, "
          f"{len(failed)} failed")
    print("  " + "; ".join(f"{attr}: {tally(results, lambda case: getattr(case, attr))}" for attr in
                           ("kind", "dtype", "weights_format", "input_form", "output_form")))
    sequences = [r for r in results if r[0].kind == "sequence"]
    if sequences:
        print(f"  pool: {tally(sequences, pool_label)}")
    worst = {}
    for case, _, ratio in results:
        if ratio >= worst.get(case.dtype, (-1.0, None))[0]:
            worst[case.dtype] = (ratio, case.index)
    print("  worst |diff| / tolerance: " + ", ".join(f"{dtype} {r:.3g} (#{i})" for dtype, (r, i) in worst.items()))
    if failed:
        print(f"FAILED: {failed}; rerun one with: python {shlex.join(sys.argv)} --case I --keep DIR")


def tally(results, key):
    counts = {}
    for case, _, _ in results:
        counts[key(case)] = counts.get(key(case), 0) + 1
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))


if __name__ == "__main__":
    main()
