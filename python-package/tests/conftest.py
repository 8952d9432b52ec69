"""Shared pieces of the module's test suite: the repository's golden fixtures, the
`scriptless` command line they are compared with, and a reader for its safetensors outputs.

The command line is `target/release/scriptless`, built from this checkout with cargo first, or
`$SCRIPTLESS_CLI`. No torch is needed, except by test_torch_property.py, which skips without it.
"""

import json
import os
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
CASES = {case["name"]: case for case in MANIFEST["cases"]}

SAFETENSORS_DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I64": np.int64,
                      "I32": np.int32, "BF16": np.uint16}


def read_safetensors(path):
    """Every tensor of a safetensors file, as NumPy arrays (bf16 widened to float32, exactly)."""
    data = Path(path).read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    body = data[8 + length:]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        array = np.frombuffer(body[start:end], dtype=SAFETENSORS_DTYPES[info["dtype"]])
        if info["dtype"] == "BF16":
            array = (array.astype(np.uint32) << 16).view(np.float32)
        tensors[name] = array.reshape(info["shape"])
    return tensors


def case_inputs(case_name):
    """A fixture's inputs, as NumPy wrote them (`input.npz`)."""
    with np.load(FIXTURES / case_name / "input.npz") as npz:
        return {name: npz[name] for name in npz.files}


def load_options(case):
    """The `load` keywords (and the matching command-line flags) that every weights format of a
    fixture needs: formats without metadata name neither the model nor a feature width."""
    options = {"model": case["model"]}
    flags = ["--model", case["model"]]
    if case["model"] == "categorical":
        options["feature_width"] = case["config"]["feature_width"]
        flags += ["--feature-width", str(case["config"]["feature_width"])]
    return options, flags


@pytest.fixture(scope="session")
def cli():
    """`$SCRIPTLESS_CLI`, or target/release/scriptless built from this checkout by cargo (a
    no-op when it is current; a stale binary would be compared with a newer module)."""
    if "SCRIPTLESS_CLI" in os.environ:
        return Path(os.environ["SCRIPTLESS_CLI"])
    subprocess.run(["cargo", "build", "--release", "--locked", "--bin", "scriptless"], cwd=ROOT, check=True,
                   capture_output=True)
    return ROOT / "target" / "release" / "scriptless"


class CliFailed(Exception):
    """The command line exited non-zero; the message is its one error line, without the
    `scriptless: error: ` prefix."""


def run_cli(binary, *args):
    """Runs `scriptless ARGS...` in the repository root; CliFailed with its error line."""
    done = subprocess.run([str(binary), *map(str, args)], cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, f"the CLI's error is not one line: {done.stderr!r}"
        prefix = "scriptless: error: "
        assert lines[0].startswith(prefix), lines[0]
        raise CliFailed(lines[0][len(prefix):])
    return done.stdout
