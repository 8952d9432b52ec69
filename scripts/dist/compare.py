#!/usr/bin/env python3
"""Compares the outputs one scriptless binary wrote into a folder with another binary's.

    compare.py --exact     NATIVE_DIR ARTIFACT_DIR
    compare.py --exact-f32 NATIVE_DIR ARTIFACT_DIR
    compare.py --allclose  NATIVE_DIR ARTIFACT_DIR

Both folders hold, per case, what scripts/dist.sh captured: `<case>.stdout`, `<case>.stderr`,
`<case>.status` and any `--output` file. The two must hold the same files. `--exact`: every
file byte for byte. `--allclose`: exit statuses, error messages and `inspect` text byte for
byte; model outputs (`.stdout` and `.json` / `.jsonl` / `.safetensors` / `.npy` files) with the same
structure, shapes and dtypes, and every number within the project's parity tolerance, as
`torch.allclose(artifact, native, rtol=1e-4, atol=2e-5)` would say. `--exact-f32`: as
`--exact`, but the f64 cases (files named `*.f64*`) and a user's model (files named `own.*`,
whose operators run on candle's and the gemm crate's kernels and the C library's exp, erf and
tanh, which sum and round differently per platform, unlike the seed's own kernels) as
`--allclose`. Prints one line per
differing file (with the worst element) and exits 1 if there is any. Standard library only.
"""

import ast
import json
import math
import struct
import sys
from pathlib import Path

RTOL, ATOL = 1e-4, 2e-5
FORMATS = {"F32": "f", "F64": "d", "F16": "e", "I64": "q", "I32": "i", "U8": "B"}


class Worst:
    """The element furthest outside the tolerance, in units of the tolerance."""

    def __init__(self):
        self.ratio, self.where = 0.0, None

    def number(self, where, a, b):
        if a == b or (math.isnan(a) and math.isnan(b)):
            return
        ratio = abs(a - b) / (ATOL + RTOL * abs(b)) if math.isfinite(a - b) else math.inf
        if ratio > self.ratio:
            self.ratio, self.where = ratio, f"{where}: {a!r} against {b!r}"


def same_json(a, b, where, worst):
    """Whether `a` (the artifact's) has `b`'s structure, recording number differences."""
    if isinstance(b, bool) or not isinstance(b, (int, float)):
        if isinstance(b, dict):
            return (isinstance(a, dict) and list(a) == list(b)
                    and all(same_json(a[k], b[k], f"{where}.{k}", worst) for k in b))
        if isinstance(b, list):
            return (isinstance(a, list) and len(a) == len(b)
                    and all(same_json(x, y, f"{where}[{i}]", worst)
                            for i, (x, y) in enumerate(zip(a, b))))
        return a == b
    if isinstance(a, bool) or not isinstance(a, (int, float)):
        return False
    if isinstance(b, int) and isinstance(a, int):
        return a == b  # shapes, line numbers
    worst.number(where, float(a), float(b))
    return True


def safetensors(path):
    data = path.read_bytes()
    (n,) = struct.unpack_from("<Q", data)
    header = json.loads(data[8:8 + n])
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        code = FORMATS[info["dtype"]]
        raw = data[8 + n + begin:8 + n + end]
        values = list(struct.unpack(f"<{len(raw) // struct.calcsize(code)}{code}", raw))
        tensors[name] = {"dtype": info["dtype"], "shape": info["shape"], "values": values}
    return {"metadata": header.get("__metadata__"), "tensors": tensors}


def npy(path):
    """An `.npy` array as np.save writes it: version 1.0 or 2.0, little-endian, C order."""
    data = path.read_bytes()
    if data[6] == 1:
        (n,), start = struct.unpack_from("<H", data, 8), 10
    else:
        (n,), start = struct.unpack_from("<I", data, 8), 12
    header = ast.literal_eval(data[start:start + n].decode("latin1"))
    code = {"<f2": "e", "<f4": "f", "<f8": "d", "<i4": "i", "<i8": "q"}[header["descr"]]
    raw = data[start + n:]
    values = list(struct.unpack(f"<{len(raw) // struct.calcsize(code)}{code}", raw))
    return {"descr": header["descr"], "shape": list(header["shape"]), "values": values}


def model_output(path):
    if path.suffix == ".safetensors":
        return safetensors(path)
    if path.suffix == ".npy":
        return npy(path)
    text = path.read_text()
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in text.splitlines()]
    return json.loads(text)


def compare(native, artifact, exact):
    """None when the files agree, else why not."""
    a, b = artifact.read_bytes(), native.read_bytes()
    if a == b:
        return None
    is_output = native.suffix in (".json", ".jsonl", ".safetensors", ".npy") or (
        native.suffix == ".stdout" and b.lstrip().startswith((b"{", b"[")))
    if exact or not is_output:
        return f"differs byte for byte ({len(a)} against {len(b)} bytes)"
    worst = Worst()
    try:
        if not same_json(model_output(artifact), model_output(native), "output", worst):
            return "has a different structure, shape or dtype"
    except (ValueError, KeyError, SyntaxError, struct.error) as err:
        return f"cannot be read: {err}"
    if worst.ratio > 1:
        return f"is outside rtol {RTOL} / atol {ATOL}, worst at {worst.where}"
    return None


def main():
    modes = ("--exact", "--exact-f32", "--allclose")
    if len(sys.argv) != 4 or sys.argv[1] not in modes:
        sys.exit(__doc__)
    mode = sys.argv[1]
    native, artifact = Path(sys.argv[2]), Path(sys.argv[3])
    names = {p.name for p in native.iterdir()}
    problems = [f"{n}: missing" for n in sorted(names - {p.name for p in artifact.iterdir()})]
    problems += [f"{n}: not written natively" for n in
                 sorted({p.name for p in artifact.iterdir()} - names)]
    for name in sorted(names):
        if (artifact / name).exists():
            exact = mode == "--exact" or (
                mode == "--exact-f32" and ".f64" not in name and not name.startswith("own."))
            why = compare(native / name, artifact / name, exact)
            if why:
                problems.append(f"{name}: {why}")
    for problem in problems:
        print(f"  {artifact}/{problem}")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
