#!/usr/bin/env python3
"""Throughput of `scriptless run` on a .jsonl batch file, three ways, on the shipped weights.

    python3 python/jsonl_throughput.py [--requests N] [--processes M] [--bin PATH]

For each seed model, writes N random requests (the sequence model: 1 to 4 sequences of 1 to 50
steps each) and times
  batched      `scriptless run --input requests.jsonl` (the default --batch-size 256),
  per call     the same file with `--batch-size 1`: one model call per request,
  per process  one `scriptless run --input one.json` process per request, over the first M
               requests (process start and weight loading included, as a shell loop pays them),
and prints requests per second and each way's ratio to batched. Only the standard library is
needed (no torch); build the binary first: cargo build --release.
"""

import argparse
import json
import random
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


def timed(cmd):
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--processes", type=int, default=300)
    parser.add_argument("--bin", default=str(ROOT / "target/release/scriptless"))
    args = parser.parse_args()
    rng = random.Random(20261129)
    files = {"two-input": "two_input", "categorical": "categorical", "sequence": "sequence"}
    print(f"{'model':<12} {'way':<12} {'requests/s':>11} {'vs batched':>11}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for kind, stem in files.items():
            weights = str(ROOT / f"weights/{stem}.safetensors")
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
                print(f"{kind:<12} {way:<12} {rate:>11.0f} {rate / rates['batched']:>10.3f}x")


if __name__ == "__main__":
    main()
