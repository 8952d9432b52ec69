#!/usr/bin/env python3
"""Throughput of `scriptless run` on a .jsonl batch file, three ways.

    python3 python/jsonl_throughput.py [--requests N] [--processes M] [--bin PATH]

For each seed model (the shipped weights), and for a wider sequence model (hidden size 256,
random weights written here), writes N random requests (sequence models: 1 to 4 sequences of 1
to 50 steps of 10 features each) and times
  batched      `scriptless run --input requests.jsonl` (the default --batch-size 256),
  per call     the same file with `--batch-size 1`: one model call per request,
  per process  one `scriptless run --input one.json` process per request, over the first M
               requests (process start and weight loading included, as a shell loop pays them),
and prints requests per second and each way's ratio to batched. Only the standard library is
needed (no torch); build the binary first: cargo build --release.
"""

import argparse
import array
import json
import math
import random
import struct
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def request(kind, rng):
    vec = lambda n: [round(rng.gauss(0, 1), 6) for _ in range(n)]  # noqa: E731
    if kind == "two-input":
        rows = rng.randint(1, 4)
        return {"tensor1": [vec(10) for _ in range(rows)], "tensor2": vec(10)}
    if kind == "categorical":
        rows = rng.randint(1, 4)
        return {"tensor_input": [vec(10) for _ in range(rows)],
                "category_index": [rng.randrange(3) for _ in range(rows)]}
    return {"sequences": [[vec(10) for _ in range(rng.randint(1, 50))] for _ in range(rng.randint(1, 4))]}


def write_wide_lstm(path, rng, hidden=256, features=10, out=10):
    """A sequence model with `hidden` units and PyTorch's default init, as safetensors."""
    k = 1 / math.sqrt(hidden)
    shapes = {"rnn.weight_ih_l0": [4 * hidden, features], "rnn.weight_hh_l0": [4 * hidden, hidden],
              "rnn.bias_ih_l0": [4 * hidden], "rnn.bias_hh_l0": [4 * hidden],
              "linear.weight": [out, hidden], "linear.bias": [out]}
    header, data, offset = {"__metadata__": {"model": "sequence"}}, bytearray(), 0
    for name, shape in shapes.items():
        values = array.array("f", (rng.uniform(-k, k) for _ in range(math.prod(shape))))
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + 4 * len(values)]}
        data += values.tobytes()
        offset += 4 * len(values)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)


def timed(cmd):
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--processes", type=int, default=300)
    parser.add_argument("--bin", default=str(ROOT / "target/release/scriptless"))
    args = parser.parse_args()
    rng = random.Random(20261129)
    print(f"{'model':<14} {'way':<12} {'requests/s':>11} {'vs batched':>11}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_wide_lstm(tmp / "wide.safetensors", rng)
        models = [("two-input", "two-input", ROOT / "weights/two_input.safetensors"),
                  ("categorical", "categorical", ROOT / "weights/categorical.safetensors"),
                  ("sequence", "sequence", ROOT / "weights/sequence.safetensors"),
                  ("sequence h256", "sequence", tmp / "wide.safetensors")]
        for label, kind, weights in models:
            weights, stem = str(weights), label.replace(" ", "_").replace("-", "_")
            reqs = [request(kind, rng) for _ in range(args.requests)]
            batch = tmp / f"{stem}.jsonl"
            batch.write_text("".join(json.dumps(r) + "\n" for r in reqs))
            run = [args.bin, "run", "--weights", weights, "--input", str(batch), "--output", str(tmp / "out.jsonl")]
            rates = {"batched": args.requests / timed(run),
                     "per call": args.requests / timed(run + ["--batch-size", "1"])}
            elapsed = 0.0
            for i, r in enumerate(reqs[:args.processes]):
                one = tmp / f"one{i}.json"
                one.write_text(json.dumps(r))
                elapsed += timed([args.bin, "run", "--weights", weights, "--input", str(one)])
            rates["per process"] = args.processes / elapsed
            for way, rate in rates.items():
                print(f"{label:<14} {way:<12} {rate:>11.0f} {rate / rates['batched']:>10.3f}x")


if __name__ == "__main__":
    main()
