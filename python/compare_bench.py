#!/usr/bin/env python3
"""Run `scriptless bench` and `python/bench_torch.py` side by side and compare.

    python python/compare_bench.py [--device cpu] [--rounds 3] [--seconds 1] [--only PREFIX]
                                   [--out DIR] [--cpu avx512|avx2|generic] [--binary PATH]

From the repository root, with torch installed (python/requirements.txt). Builds the release
binary (for a GPU device, build it with that feature first; with --binary, that binary is used
as it is, unbuilt), then for each configuration alternates the two benchmarks for --rounds rounds
(the order flips every round, so drift on a noisy machine hits both sides alike) and takes the
median of each side's per-round medians. Also times whole processes: `scriptless run` on the
seed's sequence example against `python -c "import torch"`.

--cpu TIER caps both sides to one SIMD level (CPU only): scriptless runs with SCRIPTLESS_CPU=TIER
and must report `"cpu": TIER` in `bench --json`; PyTorch runs with the variables in TORCH_CAPS
(ATen's dispatch, oneDNN's and MKL's) and bench_torch.py refuses to run unless
torch.backends.cpu.get_cpu_capability() says the matching level. A mis-capped run stops the
script; nothing is written. Without --cpu each side picks its best level (these variables are
removed from the children's environment, so a stray one in the shell cannot cap a default run).

`scriptless bench --peak --json` (f32 FMA throughput per tier) is run once, uncapped; when the
binary has it, the tier's 1-thread and all-thread peaks and the achieved GFLOP/s of the largest
CPU sequence configuration go into the report. When it fails, a warning and the report without.

Prints a Markdown table and writes, under --out (default target/bench, which git ignores):
<device>.json (every measurement, the machine and date), <device>.md (the table) and
<device>.svg (ratio per configuration); with --cpu TIER, <device>-<tier>.json, .md and .svg
instead. `--out docs/bench` replaces the published tables and charts that docs/performance.md
shows: do that on purpose, with the run you mean to publish.
"""

import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BINARY = ROOT / "target" / "release" / "scriptless"
# Ratio targets: 0.5 for these, 1.0 for the other configurations; the same with --cpu avx512 or
# avx2, none with --cpu generic (see target()).
TARGET_HALF = {"two_input_b1", "two_input_b4096", "categorical_b1", "categorical_b4096",
               "seq_seed_b3", "seq_small_b64_t50"}
TIERS = ("avx512", "avx2", "generic")
OUR_CAP_VAR = "SCRIPTLESS_CPU"
# PyTorch's x86 wheels dispatch on the CPU in three places, each capped by its own variable:
# ATen's vectorised kernels (ATEN_CPU_CAPABILITY; read back by torch.backends.cpu.
# get_cpu_capability(), the value bench_torch.py --capability asserts), oneDNN
# (ONEDNN_MAX_CPU_ISA) and MKL, which runs the float matrix products (MKL_ENABLE_INSTRUCTIONS).
# "generic" is our plain-Rust tier, compiled for baseline x86-64; the nearest PyTorch has is
# ATen's DEFAULT kernels (also baseline) with oneDNN and MKL held to SSE4.
# Checked on torch 2.15.0 (x86-64 wheel, AVX-512 CPU): with MKL_VERBOSE=1 and oneDNN's verbose
# mode on, every CPU configuration here, eager and TorchScript, runs its products as MKL SGEMM
# and no oneDNN primitive, so ATen's and oneDNN's caps alone would leave them on AVX-512; MKL's
# banner shows each cap taking (AVX2, SSE4.2, AVX-512). MKL's AVX512 cap times as its default
# does for these f32 products.
TORCH_CAPS = {
    "avx512": ({"ATEN_CPU_CAPABILITY": "avx512", "ONEDNN_MAX_CPU_ISA": "AVX512_CORE",
                "MKL_ENABLE_INSTRUCTIONS": "AVX512"}, "AVX512"),
    "avx2": ({"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
              "MKL_ENABLE_INSTRUCTIONS": "AVX2"}, "AVX2"),
    "generic": ({"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41",
                 "MKL_ENABLE_INSTRUCTIONS": "SSE4_2"}, "DEFAULT"),
}
CAP_VARS = (OUR_CAP_VAR, *TORCH_CAPS["avx2"][0])


def target(name, tier):
    """The ratio a configuration should reach; None (no target) for the generic tier."""
    if tier == "generic":
        return None
    return 0.5 if name in TARGET_HALF else 1.0


def child_env(extra):
    """This process's environment without any capping variable, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in CAP_VARS}
    env.update(extra)
    return env


def run_json(cmd, env):
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        caps = " ".join(f"{k}={v}" for k, v in env.items() if k in CAP_VARS)
        sys.exit(f"compare_bench.py: `{' '.join(map(str, cmd))}` ({caps or 'uncapped'}) failed with "
                 f"exit status {proc.returncode}:\n{proc.stderr.strip()}")
    return json.loads(proc.stdout)


class Ours:
    """`scriptless bench` under a tier cap, checking that every report names the tier."""

    def __init__(self, binary, tier):
        self.binary, self.tier = binary, tier
        self.env = child_env({OUR_CAP_VAR: tier} if tier else {})
        self.reported = None  # the "cpu" field, the same in every report

    def bench(self, *args):
        report = run_json([str(self.binary), "bench", "--json", *args], self.env)
        cpu = report.get("cpu")
        if self.tier is not None and cpu != self.tier:
            what = ("has no \"cpu\" field: this binary predates CPU tiers (SCRIPTLESS_CPU), "
                    "rebuild it from a tree that has them" if cpu is None
                    else f"reports \"cpu\": {json.dumps(cpu)}")
            sys.exit(f"compare_bench.py: --cpu {self.tier} ran {self.binary} with "
                     f"{OUR_CAP_VAR}={self.tier}, but its `bench --json` {what}; a run on another "
                     f"tier cannot be reported as {self.tier}. Nothing written.")
        if self.reported is not None and cpu != self.reported:
            sys.exit(f"compare_bench.py: `bench --json` reported \"cpu\": {json.dumps(cpu)} after "
                     f"{json.dumps(self.reported)} in the same session. Nothing written.")
        self.reported = cpu
        return report


def config_names(ours, device):
    """The configurations both sides run on `device`, from the binary itself."""
    report = ours.bench("--device", device, "--seconds", "0.001")
    return [row["name"] for row in report["rows"]]


def wall_times(cmd, n, env):
    times = []
    for _ in range(n):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak(binary):
    """`scriptless bench --peak --json`, uncapped (it lists every tier the CPU has), or None with
    a warning when the binary lacks it or it fails."""
    cmd = [str(binary), "bench", "--peak", "--json"]
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=child_env({}),
                              timeout=300)
        if proc.returncode != 0:
            raise RuntimeError(f"exit status {proc.returncode}: "
                               f"{(proc.stderr.strip().splitlines() or ['(no message)'])[0]}")
        report = json.loads(proc.stdout)
        entries = [{"tier": str(e["tier"]), "threads": int(e["threads"]),
                    "gflops": float(e["gflops"])} for e in report["peak"]]
    except (OSError, subprocess.TimeoutExpired, RuntimeError, ValueError, KeyError,
            TypeError, AttributeError) as err:
        print(f"compare_bench.py: warning: `{' '.join(cmd)}` gave no peak throughput "
              f"({err}); reporting without it", file=sys.stderr, flush=True)
        return None
    return {"cpu": report.get("cpu"), "peak": entries}


def tier_peak(peak_report, tier):
    """The tier's single-thread and all-thread (most threads listed) peak, or None."""
    if peak_report is None or tier is None:
        return None
    rows = [e for e in peak_report["peak"] if e["tier"] == tier]
    if not rows:
        print(f"compare_bench.py: warning: `bench --peak` lists no {tier} tier", file=sys.stderr)
        return None
    one = [e for e in rows if e["threads"] == 1]
    most = max(rows, key=lambda e: e["threads"])
    return {"tier": tier, "gflops_1_thread": one[0]["gflops"] if one else None,
            "threads": most["threads"], "gflops_all_threads": most["gflops"]}


def sequence_shapes():
    """Sequence configurations' (input, hidden, lengths), read from src/bench.rs's table:
    `seq(name, input, hidden, batch, tmax, gpu_only)` rows, whose lengths follow
    `bench_lengths`, and the seed's own input 10, hidden 20, lengths [5, 3, 7]."""
    text = (ROOT / "src" / "bench.rs").read_text()
    shapes = {}
    for m in re.finditer(r'\bseq\(\s*"(\w+)",\s*(\d+),\s*(\d+),\s*(\d+),\s*(\d+),', text):
        name, i, h, b, t = m.group(1), *map(int, m.groups()[1:])
        shapes[name] = (i, h, [t - (37 * k) % (t // 2 + 1) for k in range(b)])
    if re.search(r'name:\s*"seq_seed_b3",\s*shape:\s*BenchShape::SeedSequence', text):
        shapes["seq_seed_b3"] = (10, 20, [5, 3, 7])
    return shapes


def forward_flop(shape):
    """FLOP of one forward pass's matrix products, 2 per multiply-add, counted as
    `BenchConfig::macs` in src/bench.rs counts them: every packed row (sum of lengths; both sides
    step only active rows) costs 4H·(I + H) multiply-adds in the LSTM, and the final Linear H·10
    per sequence. The cell's pointwise work is left out. Also the padded count (batch·tmax rows,
    an upper bound no implementation here does)."""
    i, h, lengths = shape
    per_row, linear = 4 * h * (i + h), len(lengths) * h * 10
    return {"flop": 2 * (per_row * sum(lengths) + linear),
            "flop_padded": 2 * (per_row * len(lengths) * max(lengths) + linear),
            "input": i, "hidden": h, "batch": len(lengths), "tmax": max(lengths),
            "packed_rows": sum(lengths)}


def machine():
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "os": platform.platform()}


def svg_chart(rows, title):
    """A horizontal bar per configuration: time ratio scriptless / best PyTorch; green if it meets
    its target, red if not, grey without one."""
    bar_h, gap, left, width = 22, 8, 210, 420
    top = 46
    height = top + len(rows) * (bar_h + gap) + 40
    scale_max = max(1.2, max(r["ratio"] for r in rows) * 1.1)
    x = lambda v: left + v / scale_max * width  # noqa: E731
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 150}" '
             f'height="{height}" font-family="sans-serif" font-size="12">',
             '<rect width="100%" height="100%" fill="white"/>',
             f'<text x="10" y="20" font-size="14" font-weight="bold">{title}</text>',
             f'<text x="10" y="36" fill="#555">time ratio scriptless / best of PyTorch eager and '
             f'TorchScript (lower is better)</text>']
    for ref, label in [(0.5, "0.5"), (1.0, "1.0 = PyTorch")]:
        parts.append(f'<line x1="{x(ref):.1f}" y1="{top - 4}" x2="{x(ref):.1f}" '
                     f'y2="{height - 30}" stroke="#999" stroke-dasharray="4 3"/>')
        parts.append(f'<text x="{x(ref):.1f}" y="{height - 14}" text-anchor="middle" '
                     f'fill="#555">{label}</text>')
    for i, r in enumerate(rows):
        y = top + i * (bar_h + gap)
        color = ("#868e96" if r["target"] is None
                 else "#2b8a3e" if r["ratio"] <= r["target"] else "#c92a2a")
        parts.append(f'<text x="{left - 8}" y="{y + 15}" text-anchor="end">{r["name"]}</text>')
        parts.append(f'<rect x="{left}" y="{y}" width="{x(r["ratio"]) - left:.1f}" '
                     f'height="{bar_h}" fill="{color}"/>')
        parts.append(f'<text x="{x(r["ratio"]) + 6:.1f}" y="{y + 15}">{r["ratio"]:.2f} '
                     f'({fmt_us(r["scriptless_us"])} vs {fmt_us(r["torch_us"])})</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def fmt_us(us):
    if us >= 10_000:
        return f"{us / 1000:.0f} ms"
    if us >= 1000:
        return f"{us / 1000:.2f} ms"
    return f"{us:.1f} µs" if us < 100 else f"{us:.0f} µs"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--only", default=None, metavar="PREFIX")
    parser.add_argument("--out", default="target/bench",
                        help="where the report goes (default: target/bench; docs/bench publishes it)")
    parser.add_argument("--cpu", choices=TIERS, default=None, metavar="TIER",
                        help=f"cap both sides to one SIMD tier ({', '.join(TIERS)}); CPU only. "
                             "Default: each side's best")
    parser.add_argument("--binary", type=Path, default=None, metavar="PATH",
                        help=f"the scriptless binary to run, as it is (default: build and run "
                             f"{BINARY.relative_to(ROOT)})")
    args = parser.parse_args()
    if args.cpu is not None and args.device != "cpu":
        parser.error("--cpu caps CPU tiers: it needs --device cpu")

    binary = BINARY
    if args.binary is not None:
        binary = args.binary.resolve()
        if not binary.exists():
            sys.exit(f"compare_bench.py: --binary {binary} does not exist")
    elif args.device == "cpu":
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    elif not binary.exists():
        sys.exit(f"compare_bench.py: {binary} is missing: build it with the {args.device} feature first")

    ours = Ours(binary, args.cpu)
    torch_caps, capability = TORCH_CAPS[args.cpu] if args.cpu else ({}, None)
    torch_env = child_env(torch_caps)
    torch_cmd = [sys.executable, str(ROOT / "python" / "bench_torch.py")]
    if capability:
        torch_cmd += ["--capability", capability]
    common = ["--device", args.device, "--seconds", str(args.seconds)]

    # Both sides' caps are checked before anything long runs.
    names = [n for n in config_names(ours, args.device) if args.only is None or n.startswith(args.only)]
    if not names:
        sys.exit(f"compare_bench.py: no configuration on {args.device} starts with `{args.only}`")
    torch_report = run_json([*torch_cmd, "--device", args.device, "--only", names[0], "--json",
                             "--seconds", "0.001"], torch_env)
    peak_report = peak(binary) if args.device == "cpu" else None

    rows = []
    for name in names:
        ours_us, theirs, eager, script = [], [], [], []
        for round_ in range(args.rounds):
            def rust():
                ours_us.append(ours.bench("--only", name, *common)["rows"][0]["median_us"])

            def torch():
                row = run_json([*torch_cmd, "--only", name, *common, "--json"], torch_env)["rows"][0]
                theirs.append(row["median_us"])
                eager.append(row["eager_us"])
                script.append(row["script_us"])

            for side in ((rust, torch) if round_ % 2 == 0 else (torch, rust)):
                side()
        row = {"name": name, "scriptless_us": statistics.median(ours_us),
               "torch_us": statistics.median(theirs), "torch_eager_us": statistics.median(eager),
               "torch_script_us": statistics.median(script),
               "scriptless_rounds": ours_us, "torch_rounds": theirs,
               "target": target(name, args.cpu)}
        row["ratio"] = row["scriptless_us"] / row["torch_us"]
        rows.append(row)
        print(f"{name:<26} scriptless {row['scriptless_us']:>11.1f} us   torch {row['torch_us']:>11.1f} us"
              f"   ratio {row['ratio']:.3f}", flush=True)

    process = None
    if args.device == "cpu" and args.only is None:
        run = wall_times([str(binary), "run", "--weights", "weights/sequence.safetensors",
                          "--input", "examples/sequence.json"], 21, ours.env)
        imp = wall_times([sys.executable, "-c", "import torch"], 5, torch_env)
        process = {"scriptless_run_s": run, "python_import_torch_s": imp, "ratio": run / imp}
        print(f"whole process: scriptless run {run * 1000:.1f} ms, python -c 'import torch' "
              f"{imp * 1000:.0f} ms, ratio {run / imp:.4f} (1/{imp / run:.0f})")

    # The tier: the one asked for, else what the binary reports (None before CPU tiers).
    tier = args.cpu or ours.reported
    info = {"date": datetime.date.today().isoformat(), "device": args.device, **machine(),
            "torch": torch_report["torch"], "torch_threads": torch_report["threads"],
            "torch_capability": torch_report.get("capability"), "torch_env": torch_caps,
            "scriptless_cpu": tier, "scriptless_cpu_requested": args.cpu,
            "rounds": args.rounds, "seconds": args.seconds}
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                         text=True).stdout.strip()
    info["scriptless_commit"] = git
    info["scriptless_binary"] = str(binary)

    # Achieved throughput of the sequence rows; against the tier's peak when there is one.
    shapes = sequence_shapes()
    peaks = tier_peak(peak_report, tier) if args.device == "cpu" else None
    for r in rows:
        if r["name"] in shapes:
            f = forward_flop(shapes[r["name"]])
            r["forward_flop"] = f
            r["scriptless_gflops"] = f["flop"] / (r["scriptless_us"] * 1e3)
            r["torch_gflops"] = f["flop"] / (r["torch_us"] * 1e3)
            if peaks:
                r["scriptless_peak_fraction"] = r["scriptless_gflops"] / peaks["gflops_all_threads"]

    ours_label = f"scriptless ({tier})" if tier else "scriptless"
    torch_label = f" ({info['torch_capability']})" if info["torch_capability"] else ""
    table = [f"| configuration | {ours_label} | PyTorch eager{torch_label} | TorchScript{torch_label} "
             f"| ratio | target |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        if r["target"] is None:
            goal = "—"
        else:
            goal = f"≤ {r['target']} {'✓' if r['ratio'] <= r['target'] else '✗'}"
        table.append(f"| {r['name']} | {fmt_us(r['scriptless_us'])} | {fmt_us(r['torch_eager_us'])} | "
                     f"{fmt_us(r['torch_script_us'])} | {r['ratio']:.2f} | {goal} |")
    capped = ""
    if args.cpu:
        capped = (f" Capped: scriptless {OUR_CAP_VAR}={args.cpu}; PyTorch "
                  + " ".join(f"{k}={v}" for k, v in torch_caps.items()) + ".")
        if args.cpu == "generic":
            capped += " No targets on the generic tier."
    caption = (f"{info['date']}, {info['cpu']}, {info['cores']} cores, torch {info['torch']} "
               f"({info['torch_threads']} threads, capability {info['torch_capability']}), "
               f"scriptless {git}{f' on the {tier} tier' if tier else ''}; medians of {args.rounds} "
               f"interleaved rounds of {args.seconds:g} s each.{capped}")
    md = "\n".join(table) + "\n\n" + caption + "\n"
    if peaks:
        one = peaks["gflops_1_thread"]
        md += (f"\nPeak f32 FMA throughput of the {tier} tier (`scriptless bench --peak`): "
               f"{f'{one:.1f} GFLOP/s on 1 thread, ' if one is not None else ''}"
               f"{peaks['gflops_all_threads']:.1f} GFLOP/s on {peaks['threads']} threads.")
        large = next((r for r in rows if r["name"] == "seq_large_b64_t200_h512" and "forward_flop" in r),
                     None)
        if tier == "generic":
            # No fused multiply-add here: the loop times dependent multiply-then-add chains
            # compiled for the build's baseline, which the kernels' independent operations
            # outrun. It is no ceiling.
            md += (" The generic tier has no fused multiply-add: that loop times dependent "
                   "multiply-then-add chains, which the kernels outrun, so it is no ceiling.")
            large = None
        if large:
            f = large["forward_flop"]
            md += (f" {large['name']}: {f['flop'] / 1e9:.2f} GFLOP of matrix products per forward "
                   f"(LSTM: {f['packed_rows']} packed rows × 2·4·{f['hidden']}·({f['input']} + "
                   f"{f['hidden']}); the Linear), so scriptless runs at {large['scriptless_gflops']:.1f} GFLOP/s, "
                   f"{large['scriptless_peak_fraction']:.0%} of the {peaks['threads']}-thread peak "
                   f"(PyTorch {large['torch_gflops']:.1f} GFLOP/s).")
        md += "\n"
    if process:
        md += (f"\nWhole process: `scriptless run` on examples/sequence.json "
               f"{process['scriptless_run_s'] * 1000:.1f} ms; `python -c \"import torch\"` "
               f"{process['python_import_torch_s'] * 1000:.0f} ms (ratio 1/"
               f"{process['python_import_torch_s'] / process['scriptless_run_s']:.0f}).\n")
    print()
    print(md)

    out = ROOT / args.out
    out.mkdir(parents=True, exist_ok=True)
    stem = args.device.replace(":", "") + (f"-{args.cpu}" if args.cpu else "")
    (out / f"{stem}.json").write_text(json.dumps({"machine": info, "peak": peak_report,
                                                  "tier_peak": peaks, "rows": rows,
                                                  "process": process}, indent=2) + "\n")
    (out / f"{stem}.md").write_text(md)
    title = (f"{ours_label} vs PyTorch{torch_label}, {args.device}, {info['date']}")
    (out / f"{stem}.svg").write_text(svg_chart(rows, title))
    print(f"wrote {out / stem}.json, .md, .svg")


if __name__ == "__main__":
    main()
