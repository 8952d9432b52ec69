#!/usr/bin/env python3
"""Time the benchmark table of `scriptless bench` in PyTorch: eager and TorchScript.

    python python/bench_torch.py [--device cpu|cuda|cuda:N] [--only NAME_PREFIX] [--json]
                                 [--seconds S] [--capability NAME]

Same contract as `scriptless bench` (src/bench.rs): the seed's own model code (imported from
export.py), random weights (PyTorch's default init) and inputs prepared on the device
beforehand, lengths `len_b = tmax - (37*b mod (tmax//2 + 1))` kept on the CPU as
`pack_padded_sequence` requires. A timed call runs the forward pass (inside
`torch.inference_mode()`, entered once for the whole run) and, on CUDA, waits for the device. Each configuration is warmed up for
a tenth of the budget, then timed for the budget; the median is reported for eager and for
`torch.jit.script`, and `median_us` is the better of the two. TF32 is off on CUDA.

--capability NAME (AVX512, AVX2, DEFAULT, ...) refuses to run (exit status 1, with a message) unless
`torch.backends.cpu.get_cpu_capability()` is NAME: the SIMD level of ATen's CPU kernels, which the
environment variable ATEN_CPU_CAPABILITY (avx512, avx2, default) can lower, never raise. Use it
when capping PyTorch, so that a run whose cap did not take is never reported. (ATen's capability
is one of three dispatchers in the x86 wheels: oneDNN reads ONEDNN_MAX_CPU_ISA and MKL, which runs
the LSTM's matrix products, reads MKL_ENABLE_INSTRUCTIONS; python/compare_bench.py --cpu sets all
three. Only ATen's can be read back from Python.)

--json prints {"device", "torch", "threads", "capability", "rows": [{"name", "median_us", "runs",
"eager_us", "script_us"}]}.
"""

import argparse
import json
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from export import CategoricalInputModule, SequenceInputModule, TwoInputModule  # noqa: E402

warnings.filterwarnings("ignore", category=FutureWarning, message=".*torch.jit.*")

# The environment variables that cap PyTorch's CPU dispatch, named in --capability's message.
CAP_VARS = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")

# name, model, shape; the same table as src/bench.rs.
CONFIGS = [
    ("two_input_b1", "two_input", {"batch": 1}, False),
    ("two_input_b4096", "two_input", {"batch": 4096}, False),
    ("categorical_b1", "categorical", {"batch": 1}, False),
    ("categorical_b4096", "categorical", {"batch": 4096}, False),
    ("seq_seed_b3", "sequence", {"input": 10, "hidden": 20, "lengths": [5, 3, 7]}, False),
    ("seq_small_b64_t50", "sequence", {"input": 10, "hidden": 20, "batch": 64, "tmax": 50}, False),
    ("seq_med_b32_t100_h256", "sequence", {"input": 64, "hidden": 256, "batch": 32, "tmax": 100}, False),
    ("seq_large_b64_t200_h512", "sequence", {"input": 128, "hidden": 512, "batch": 64, "tmax": 200}, False),
    ("seq_gpu_b64_t1000_h256", "sequence", {"input": 256, "hidden": 256, "batch": 64, "tmax": 1000}, True),
    ("seq_gpu_b256_t1000_h1024", "sequence", {"input": 1024, "hidden": 1024, "batch": 256, "tmax": 1000}, True),
]


def bench_lengths(batch, tmax):
    return [tmax - (37 * b) % (tmax // 2 + 1) for b in range(batch)]


def prepare(kind, shape, device):
    """The model (eval mode, on the device) and its forward arguments."""
    torch.manual_seed(0)
    if kind == "two_input":
        model = TwoInputModule()
        args = (torch.rand(shape["batch"], 10) * 2 - 1, torch.rand(shape["batch"], 10) * 2 - 1)
    elif kind == "categorical":
        model = CategoricalInputModule(3)
        b = shape["batch"]
        args = (torch.rand(b, 10) * 2 - 1, torch.arange(b, dtype=torch.int64) % 3)
    else:
        model = SequenceInputModule(shape["input"], shape["hidden"])
        lengths = shape.get("lengths") or bench_lengths(shape["batch"], shape["tmax"])
        padded = torch.rand(len(lengths), max(lengths), shape["input"]) * 2 - 1
        args = (padded, torch.tensor(lengths, dtype=torch.int64))
    model = model.eval().to(device)
    on_device = tuple(a.to(device) for a in args)
    if kind == "sequence":
        on_device = (on_device[0], args[1])  # lengths stay on the CPU
    return model, on_device


def time_calls(fn, device, budget):
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def call():
        fn()
        sync()

    start = time.perf_counter()
    call()
    while time.perf_counter() - start < budget / 10:
        call()
    times = []
    start = time.perf_counter()
    while not times or time.perf_counter() - start < budget:
        t = time.perf_counter()
        call()
        times.append((time.perf_counter() - t) * 1e6)
    return statistics.median(times), len(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--only", default=None, metavar="NAME_PREFIX")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--capability", default=None, metavar="NAME",
                        help="exit unless torch.backends.cpu.get_cpu_capability() is NAME")
    args = parser.parse_args()

    capability = torch.backends.cpu.get_cpu_capability()
    if args.capability is not None and capability.upper() != args.capability.upper():
        caps = ", ".join(f"{v}={os.environ[v]}" for v in CAP_VARS if v in os.environ) or "none set"
        sys.exit(f"bench_torch.py: torch reports CPU capability {capability}, but --capability "
                 f"{args.capability} was asked for (capping variables: {caps}); ATEN_CPU_CAPABILITY "
                 f"can only lower the capability, and an unknown value is ignored. Not benchmarking.")

    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    configs = [c for c in CONFIGS
               if (device.type != "cpu" or not c[3]) and (args.only is None or c[0].startswith(args.only))]
    if not configs:
        sys.exit(f"bench_torch.py: no configuration on {args.device} starts with `{args.only}`")

    rows = []
    for name, kind, shape, _ in configs:
        model, inputs = prepare(kind, shape, device)
        scripted = torch.jit.script(model)
        # Inference mode for the whole run, entered once: PyTorch's fastest setting.
        with torch.inference_mode():
            eager_us, eager_runs = time_calls(lambda: model(*inputs), device, args.seconds)
            script_us, script_runs = time_calls(lambda: scripted(*inputs), device, args.seconds)
        best_us, runs = min((eager_us, eager_runs), (script_us, script_runs))
        row = {"name": name, "median_us": round(best_us, 1), "runs": runs,
               "eager_us": round(eager_us, 1), "script_us": round(script_us, 1)}
        rows.append(row)
        if not args.json:
            print(f"{name:<26} {best_us:>12.1f} us  (eager {eager_us:.1f}, script {script_us:.1f})")
    if args.json:
        print(json.dumps({"device": args.device, "torch": torch.__version__,
                          "threads": torch.get_num_threads(), "capability": capability,
                          "rows": rows}))


if __name__ == "__main__":
    main()
