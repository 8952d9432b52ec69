#!/usr/bin/env python3
"""Time the seed's models through the interpreter against their dedicated implementations.

    python python/interp_vs_dedicated.py [--cpu avx512|avx2|generic] [--rounds 3] [--seconds 1]
                                         [--only PREFIX] [--out DIR] [--binary PATH]

From the repository root, with torch installed. For each CPU row of `scriptless bench`'s fixed
table (two_input_*, categorical_*, seq_*), writes the seed's model at that row's sizes as a
TorchScript archive (`torch.jit.script` of export.py's class, PyTorch's default init, seed 0)
and its request as safetensors (the inputs python/bench_torch.py draws: bench_lengths for the
sequences), under target/bench/seed-archives/ (not tracked: the large rows' weights are MBs).
Then, interleaved for --rounds rounds:

  dedicated    `scriptless bench --weights ROW.pt --input ROW.safetensors`: the archive's code
               is the seed's, so the dedicated model runs;
  interpreter  the same with `--interpret`: the archive's own code, through the interpreter
               and the operator library.

Prints ratio = interpreter / dedicated per row (issue 32's target: 1.1 or less) and writes
<out>/seed-interp[-TIER].json and .md (--out docs/bench publishes them).
"""

import argparse
import datetime
import json
import statistics
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "python"))
from bench_torch import CONFIGS, prepare  # noqa: E402
from compare_bench import BINARY, TIERS, Ours, machine  # noqa: E402

TARGET = 1.1
ARGS = {"two_input": ("tensor1", "tensor2"), "categorical": ("tensor_input", "category_index"),
        "sequence": ("padded_seq", "seq_lengths")}


def write_row(name, kind, shape, directory):
    model, inputs = prepare(kind, shape, torch.device("cpu"))
    archive, request = directory / f"{name}.pt", directory / f"{name}.safetensors"
    torch.jit.script(model).save(str(archive))
    save_file({k: v.contiguous() for k, v in zip(ARGS[kind], inputs)}, str(request))
    return archive, request


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--only", default=None, metavar="PREFIX")
    parser.add_argument("--out", default="target/bench")
    parser.add_argument("--cpu", choices=TIERS, default=None, metavar="TIER")
    parser.add_argument("--binary", type=Path, default=None, metavar="PATH")
    args = parser.parse_args()
    binary = BINARY if args.binary is None else args.binary.resolve()
    if args.binary is None:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    ours = Ours(binary, args.cpu)
    directory = ROOT / "target" / "bench" / "seed-archives"
    directory.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, kind, shape, gpu_only in CONFIGS:
        if gpu_only or (args.only and not name.startswith(args.only)):
            continue
        archive, request = write_row(name, kind, shape, directory)
        common = ["--weights", str(archive), "--input", str(request), "--seconds", str(args.seconds)]
        dedicated, interpreted = [], []
        for round_ in range(args.rounds):
            sides = [(dedicated, []), (interpreted, ["--interpret"])]
            for times, extra in (sides if round_ % 2 == 0 else sides[::-1]):
                times.append(ours.bench(*common, *extra)["rows"][0]["median_us"])
        row = {"name": name, "dedicated_us": statistics.median(dedicated),
               "interpreter_us": statistics.median(interpreted),
               "dedicated_rounds": dedicated, "interpreter_rounds": interpreted}
        row["ratio"] = row["interpreter_us"] / row["dedicated_us"]
        rows.append(row)
        print(f"{name:<26} dedicated {row['dedicated_us']:>11.1f} us   interpreter "
              f"{row['interpreter_us']:>11.1f} us   ratio {row['ratio']:.3f}", flush=True)
    info = {"date": datetime.date.today().isoformat(), **machine(), "torch": torch.__version__,
            "scriptless_cpu": args.cpu or ours.reported, "rounds": args.rounds, "seconds": args.seconds,
            "scriptless_commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                                capture_output=True, text=True).stdout.strip()}
    lines = [f"The seed's table through the interpreter: {info['cpu']}, {info['cores']} cores, tier "
             f"{info['scriptless_cpu']}, {info['date']}; median of {args.rounds} interleaved rounds.", "",
             "| row | dedicated (µs) | interpreter (µs) | ratio | ≤ 1.1 |", "|---|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['name']} | {r['dedicated_us']:.1f} | {r['interpreter_us']:.1f} | {r['ratio']:.3f} "
                     f"| {'✓' if r['ratio'] <= TARGET else '✗'} |")
    table = "\n".join(lines) + "\n"
    print()
    print(table)
    out = ROOT / args.out
    out.mkdir(parents=True, exist_ok=True)
    stem = "seed-interp" + (f"-{args.cpu}" if args.cpu else "")
    (out / f"{stem}.json").write_text(json.dumps({"info": info, "rows": rows}, indent=1) + "\n")
    (out / f"{stem}.md").write_text(table)


if __name__ == "__main__":
    main()
