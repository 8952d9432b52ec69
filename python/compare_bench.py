#!/usr/bin/env python3
"""Run `scriptless bench` and `python/bench_torch.py` side by side and compare.

    python python/compare_bench.py [--device cpu] [--rounds 3] [--seconds 1] [--only PREFIX]
                                   [--out docs/bench]

From the repository root, with torch installed (python/requirements.txt). Builds the release
binary (for a GPU device, build it with that feature first), then for each configuration alternates the two benchmarks for --rounds rounds (the
order flips every round, so drift on a noisy machine hits both sides alike) and takes the
median of each side's per-round medians. Also times whole processes: `scriptless run` on the
seed's sequence example against `python -c "import torch"`.

Prints a Markdown table and writes, under --out: <device>.json (every measurement, the machine
and date), <device>.md (the table) and <device>.svg (ratio per configuration, the chart the
README shows).
"""

import argparse
import datetime
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BINARY = ROOT / "target" / "release" / "scriptless"
TARGET_HALF = {"two_input_b1", "two_input_b4096", "categorical_b1", "categorical_b4096",
               "seq_seed_b3", "seq_small_b64_t50"}


def run_json(cmd):
    out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def config_names(device):
    """The configurations both sides run on `device`, from the binary itself."""
    report = run_json([str(BINARY), "bench", "--device", device, "--json", "--seconds", "0.001"])
    return [row["name"] for row in report["rows"]]


def wall_times(cmd, n):
    times = []
    for _ in range(n):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def machine():
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os
    return {"cpu": model, "cores": os.cpu_count(), "os": platform.platform()}


def svg_chart(rows, title):
    """A horizontal bar per configuration: time ratio scriptless / best PyTorch."""
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
        color = "#2b8a3e" if r["ratio"] <= r["target"] else "#c92a2a"
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
    parser.add_argument("--out", default="docs/bench")
    args = parser.parse_args()

    if args.device == "cpu":
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    elif not BINARY.exists():
        sys.exit(f"compare_bench.py: {BINARY} is missing: build it with the {args.device} feature first")
    names = [n for n in config_names(args.device) if args.only is None or n.startswith(args.only)]
    torch_cmd = [sys.executable, str(ROOT / "python" / "bench_torch.py")]
    common = ["--device", args.device, "--json", "--seconds", str(args.seconds)]

    rows = []
    for name in names:
        ours, theirs, eager, script = [], [], [], []
        for round_ in range(args.rounds):
            def rust():
                ours.append(run_json([str(BINARY), "bench", "--only", name, *common])["rows"][0]["median_us"])

            def torch():
                row = run_json([*torch_cmd, "--only", name, *common])["rows"][0]
                theirs.append(row["median_us"])
                eager.append(row["eager_us"])
                script.append(row["script_us"])

            for side in ((rust, torch) if round_ % 2 == 0 else (torch, rust)):
                side()
        row = {"name": name, "scriptless_us": statistics.median(ours),
               "torch_us": statistics.median(theirs), "torch_eager_us": statistics.median(eager),
               "torch_script_us": statistics.median(script),
               "scriptless_rounds": ours, "torch_rounds": theirs,
               "target": 0.5 if name in TARGET_HALF else 1.0}
        row["ratio"] = row["scriptless_us"] / row["torch_us"]
        rows.append(row)
        print(f"{name:<26} scriptless {row['scriptless_us']:>11.1f} us   torch {row['torch_us']:>11.1f} us"
              f"   ratio {row['ratio']:.3f}", flush=True)

    process = None
    if args.device == "cpu" and args.only is None:
        run = wall_times([str(BINARY), "run", "--weights", "weights/sequence.safetensors",
                          "--input", "examples/sequence.json"], 21)
        imp = wall_times([sys.executable, "-c", "import torch"], 5)
        process = {"scriptless_run_s": run, "python_import_torch_s": imp, "ratio": run / imp}
        print(f"whole process: scriptless run {run * 1000:.1f} ms, python -c 'import torch' "
              f"{imp * 1000:.0f} ms, ratio {run / imp:.4f} (1/{imp / run:.0f})")

    import torch  # noqa: E402  (only for the version in the report)
    info = {"date": datetime.date.today().isoformat(), "device": args.device, **machine(),
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "rounds": args.rounds, "seconds": args.seconds}
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                         text=True).stdout.strip()
    info["scriptless_commit"] = git

    table = ["| configuration | scriptless | PyTorch eager | TorchScript | ratio | target |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        mark = "✓" if r["ratio"] <= r["target"] else "✗"
        table.append(f"| {r['name']} | {fmt_us(r['scriptless_us'])} | {fmt_us(r['torch_eager_us'])} | "
                     f"{fmt_us(r['torch_script_us'])} | {r['ratio']:.2f} | ≤ {r['target']} {mark} |")
    caption = (f"{info['date']}, {info['cpu']}, {info['cores']} cores, torch {info['torch']} "
               f"({info['torch_threads']} threads), scriptless {git}; medians of {args.rounds} "
               f"interleaved rounds of {args.seconds:g} s each.")
    md = "\n".join(table) + "\n\n" + caption + "\n"
    if process:
        md += (f"\nWhole process: `scriptless run` on examples/sequence.json "
               f"{process['scriptless_run_s'] * 1000:.1f} ms; `python -c \"import torch\"` "
               f"{process['python_import_torch_s'] * 1000:.0f} ms (ratio 1/"
               f"{process['python_import_torch_s'] / process['scriptless_run_s']:.0f}).\n")
    print()
    print(md)

    out = ROOT / args.out
    out.mkdir(parents=True, exist_ok=True)
    stem = args.device.replace(":", "")
    (out / f"{stem}.json").write_text(json.dumps({"machine": info, "rows": rows, "process": process},
                                                 indent=2) + "\n")
    (out / f"{stem}.md").write_text(md)
    (out / f"{stem}.svg").write_text(svg_chart(rows, f"scriptless vs PyTorch, {args.device}, {info['date']}"))
    print(f"wrote {out / stem}.json, .md, .svg")


if __name__ == "__main__":
    main()
