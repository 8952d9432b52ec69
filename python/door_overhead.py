#!/usr/bin/env python3
"""What a call through the Python module adds to the Rust API's own forward, in one process.

Loads a model run by its own code (default: the corpus MLP, tests/fixtures/corpus/mlp/scripted.pt)
with the installed module `scriptless`, and makes a batch-1 input from the first row of each
tensor argument of the `request_0.json` beside it (float arrays as float32, integer ones as
int64, as `torch.tensor` types the JSON). Then, in --rounds interleaved rounds (the order of the
two alternates from round to round, so that drift on a noisy machine hits both alike), it times
--calls calls each of:

- `model(x)`, the Python door, with timeit: the arguments converted to the library's values,
  the GIL released, `Program::forward`, the output converted to a NumPy array;
- `model._time_rust_forward(calls, x)`: the arguments converted once, then `Program::forward_ref`
  on them `calls` times in a Rust loop with the GIL released (the Rust API's own cost).

It prints each round, then the medians per call and the Python door's cost over the Rust
forward (the median of the rounds' differences), in microseconds.

    .venv/bin/python python/door_overhead.py [--weights model.pt] [--rounds 15] [--calls 20000]
"""

import argparse
import json
import platform
import statistics
import timeit
from pathlib import Path

import numpy as np

import scriptless

ROOT = Path(__file__).resolve().parents[1]


def cpu_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def batch_one(model, request):
    """The request's arguments with every tensor argument cut to its first row."""
    kinds = {param["name"]: param["kind"] for param in model.signature["params"]}
    args = {}
    for name, value in request.items():
        if kinds.get(name) == "tensor":
            array = np.array(value)
            dtype = np.float32 if array.dtype.kind == "f" else array.dtype
            args[name] = np.ascontiguousarray(array[:1], dtype=dtype)
        else:
            args[name] = value
    return args


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, default=ROOT / "tests/fixtures/corpus/mlp/scripted.pt")
    parser.add_argument("--request", type=Path, help="default: request_0.json beside --weights")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=20000, help="calls per round and way")
    args = parser.parse_args()

    model = scriptless.load(args.weights)
    request = json.loads((args.request or args.weights.parent / "request_0.json").read_text())
    inputs = batch_one(model, request)
    shapes = {name: (value.shape, str(value.dtype)) for name, value in inputs.items() if hasattr(value, "shape")}
    print(f"model: {args.weights} ({model.kind}), inputs: {shapes}")
    print(f"machine: {cpu_name()}; Python {platform.python_version()}, NumPy {np.__version__}, "
          f"scriptless {scriptless.__version__}")

    timer = timeit.Timer("model(**inputs)", globals={"model": model, "inputs": inputs})
    # Warm-up: the first call records the model's trace; later calls replay it.
    timer.timeit(1000)
    model._time_rust_forward(1000, **inputs)

    python_times, rust_times = [], []
    print(f"{'round':>5}  {'model(x) µs':>12}  {'Rust forward µs':>16}  {'difference µs':>14}")
    for r in range(args.rounds):
        def python_way():
            python_times.append(timer.timeit(args.calls) / args.calls)

        def rust_way():
            rust_times.append(model._time_rust_forward(args.calls, **inputs))

        for way in ((python_way, rust_way) if r % 2 == 0 else (rust_way, python_way)):
            way()
        print(f"{r:>5}  {python_times[-1] * 1e6:>12.3f}  {rust_times[-1] * 1e6:>16.3f}  "
              f"{(python_times[-1] - rust_times[-1]) * 1e6:>14.3f}")

    python_median = statistics.median(python_times) * 1e6
    rust_median = statistics.median(rust_times) * 1e6
    difference = statistics.median(p - q for p, q in zip(python_times, rust_times)) * 1e6
    print(f"median per call: model(x) {python_median:.3f} µs, Rust forward {rust_median:.3f} µs")
    print(f"the Python door adds {difference:.3f} µs per call (median of the rounds' differences; "
          f"{python_median - rust_median:.3f} µs between the medians)")


if __name__ == "__main__":
    main()
