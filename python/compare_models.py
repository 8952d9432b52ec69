#!/usr/bin/env python3
"""Time every corpus model, from every archive, in scriptless and in PyTorch, side by side.

    python python/compare_models.py [--cpu avx512|avx2|generic] [--rounds 3] [--seconds 1]
                                    [--only NAME ...] [--out DIR] [--binary PATH]

From the repository root, with torch installed (python/requirements.txt). For each model of
tests/fixtures/corpus and each archive it has (`scripted.pt`, `traced.pt`, `exported.pt2`, the
Core ATen `exported_core.pt2`), on the archive's first request (`request_0.json`, or
`pt2_request_0.json` for a `.pt2`):

  scriptless  `scriptless bench --weights ARCHIVE --input REQUEST --json --seconds S`;
  PyTorch     the same archive in a long-lived child process: `torch.jit.load` for a `.pt`,
              `torch.export.load(...).module()` for a `.pt2`, inside `torch.inference_mode()`;
              20 warm-up calls (the profiling executor specialises the graph during the first
              ones), then timed as `bench` times: a tenth of S of warm-up, S of calls, median.

Both sides use their default thread counts. The two alternate for --rounds rounds (the order
flips every round, so drift on a noisy machine hits both alike); each side's figure is the
median of its per-round medians, and ratio = scriptless / PyTorch. The request's JSON is decoded
for PyTorch by the types of `forward` in the model's `scripted.pt` (a list of numbers is
`torch.tensor(list)`, PyTorch's own dtype rule, as scriptless reads it).

--cpu TIER caps both sides as python/compare_bench.py does (SCRIPTLESS_CPU for scriptless;
ATen's, oneDNN's and MKL's variables for PyTorch, checked by reading ATen's capability back).

Targets, from issue 32: ratio <= 1.0 everywhere, and <= 0.5 where PyTorch takes under 100 us per
call; none on the generic tier. Prints a Markdown table and writes <out>/models[-TIER].json (every
measurement, machine, date) and .md; `--out docs/bench` publishes them for docs/performance.md.
Exit status 0 even when a target is missed (the table says so); 1 when either side fails.
"""

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "fixtures" / "corpus"
sys.path.insert(0, str(ROOT / "python"))
from compare_bench import BINARY, TIERS, TORCH_CAPS, Ours, child_env, machine  # noqa: E402

# Archive file, its flavour label, and the request it runs on.
FLAVOURS = (("scripted.pt", "scripted", "request_0.json"),
            ("traced.pt", "traced", "request_0.json"),
            ("exported.pt2", "pt2", "pt2_request_0.json"),
            ("exported_core.pt2", "pt2 core", "pt2_request_0.json"))
WARMUP_CALLS = 20


def target(torch_us, tier):
    if tier == "generic":
        return None
    return 0.5 if torch_us < 100.0 else 1.0


# ---------------------------------------------------------------------------------------------
# The PyTorch side: a child process that answers one JSON line per JSON line on stdin.

def decode(value, typ):
    """A request's JSON value as the torch value `forward`'s argument type `typ` takes."""
    import torch
    kind = typ.kind()
    if value is None:
        return None
    if kind == "OptionalType":
        return decode(value, typ.getElementType())
    if kind == "TensorType":
        return torch.tensor(value)
    if kind == "ListType":
        return [decode(v, typ.getElementType()) for v in value]
    if kind == "TupleType":
        return tuple(decode(v, t) for v, t in zip(value, typ.elements()))
    if kind == "DictType":
        return {k: decode(v, typ.getValueType()) for k, v in value.items()}
    return value


def serve():
    """--serve: time the archives named on stdin, one per line."""
    import torch
    warnings.filterwarnings("ignore")
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(),
                      "capability": torch.backends.cpu.get_cpu_capability()}), flush=True)
    for line in sys.stdin:
        job = json.loads(line)
        try:
            print(json.dumps(time_torch(torch, **job)), flush=True)
        except Exception as e:  # reported to the parent, which stops
            print(json.dumps({"error": f"{type(e).__name__}: {e}"}), flush=True)


def time_torch(torch, archive, request, schema_from, seconds):
    types = {a.name: a.type for a in torch.jit.load(schema_from).forward.schema.arguments[1:]}
    raw = json.loads(Path(request).read_text())
    kwargs = {name: decode(value, types[name]) for name, value in raw.items()}
    if archive.endswith(".pt2"):
        # The exported module takes forward's arguments positionally, in the request's order.
        module, args, kwargs = torch.export.load(archive).module(), list(kwargs.values()), {}
    else:
        module, args = torch.jit.load(archive).eval(), []
    with torch.inference_mode():
        for _ in range(WARMUP_CALLS):
            module(*args, **kwargs)
        start = time.perf_counter()
        while time.perf_counter() - start < seconds / 10:
            module(*args, **kwargs)
        times = []
        start = time.perf_counter()
        while not times or time.perf_counter() - start < seconds:
            t = time.perf_counter()
            module(*args, **kwargs)
            times.append((time.perf_counter() - t) * 1e6)
    return {"median_us": statistics.median(times), "runs": len(times)}


class Torch:
    def __init__(self, tier):
        caps, self.capability = TORCH_CAPS[tier] if tier else ({}, None)
        self.env = child_env(caps)
        self.caps = caps
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve"], cwd=ROOT, env=self.env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.info = json.loads(self.proc.stdout.readline())
        if self.capability and self.info["capability"].upper() != self.capability:
            sys.exit(f"compare_models.py: PyTorch reports CPU capability {self.info['capability']} "
                     f"under {caps}, not {self.capability}. Nothing written.")

    def time(self, **job):
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        answer = json.loads(self.proc.stdout.readline())
        if "error" in answer:
            sys.exit(f"compare_models.py: PyTorch on {job['archive']}: {answer['error']}")
        return answer["median_us"]


# ---------------------------------------------------------------------------------------------

def cases(only):
    manifest = json.loads((CORPUS / "manifest.json").read_text())
    names = only or list(manifest["models"])
    unknown = [n for n in names if n not in manifest["models"]]
    if unknown:
        sys.exit(f"compare_models.py: no corpus model {', '.join(unknown)}")
    for name in names:
        for file, flavour, request in FLAVOURS:
            if (CORPUS / name / file).exists():
                yield name, flavour, CORPUS / name / file, CORPUS / name / request


def markdown(rows, info):
    lines = [f"Corpus models, scriptless vs PyTorch {info['torch']} on the same archive: {info['cpu']}, "
             f"{info['cores']} cores, tier {info['scriptless_cpu']}, {info['date']}; median of "
             f"{info['rounds']} interleaved rounds of {info['seconds']} s each.", "",
             "| model | archive | scriptless (µs) | PyTorch (µs) | ratio | target |",
             "|---|---|---:|---:|---:|---|"]
    for r in rows:
        t = r["target"]
        verdict = "—" if t is None else (f"≤ {t} ✓" if r["ratio"] <= t else f"≤ {t} ✗")
        lines.append(f"| {r['model']} | {r['flavour']} | {r['scriptless_us']:.1f} | {r['torch_us']:.1f} "
                     f"| {r['ratio']:.3f} | {verdict} |")
    return "\n".join(lines) + "\n"


def main():
    if sys.argv[1:] == ["--serve"]:
        return serve()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--only", nargs="+", default=None, metavar="NAME")
    parser.add_argument("--out", default="target/bench")
    parser.add_argument("--cpu", choices=TIERS, default=None, metavar="TIER")
    parser.add_argument("--binary", type=Path, default=None, metavar="PATH")
    args = parser.parse_args()
    if args.rounds < 1 or not args.seconds > 0:
        parser.error("--rounds must be at least 1 and --seconds positive")
    binary = BINARY
    if args.binary is not None:
        binary = args.binary.resolve()
    else:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)

    ours = Ours(binary, args.cpu)
    theirs = Torch(args.cpu)
    rows = []
    for name, flavour, archive, request in cases(args.only):
        ours_us, torch_us = [], []
        for round_ in range(args.rounds):
            def rust():
                report = ours.bench("--weights", str(archive), "--input", str(request),
                                    "--seconds", str(args.seconds))
                ours_us.append(report["rows"][0]["median_us"])

            def torch():
                torch_us.append(theirs.time(archive=str(archive), request=str(request),
                                            schema_from=str(archive.parent / "scripted.pt"),
                                            seconds=args.seconds))

            for side in ((rust, torch) if round_ % 2 == 0 else (torch, rust)):
                side()
        row = {"model": name, "flavour": flavour, "archive": str(archive.relative_to(ROOT)),
               "scriptless_us": statistics.median(ours_us), "torch_us": statistics.median(torch_us),
               "scriptless_rounds": ours_us, "torch_rounds": torch_us}
        row["ratio"] = row["scriptless_us"] / row["torch_us"]
        row["target"] = target(row["torch_us"], args.cpu or ours.reported)
        rows.append(row)
        print(f"{name:<18} {flavour:<9} scriptless {row['scriptless_us']:>10.1f} us   torch "
              f"{row['torch_us']:>10.1f} us   ratio {row['ratio']:.3f}", flush=True)
    theirs.proc.stdin.close()
    theirs.proc.wait()

    info = {"date": datetime.date.today().isoformat(), **machine(), "torch": theirs.info["torch"],
            "torch_threads": theirs.info["threads"], "torch_capability": theirs.info["capability"],
            "torch_env": theirs.caps, "scriptless_cpu": args.cpu or ours.reported,
            "rounds": args.rounds, "seconds": args.seconds,
            "scriptless_commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                                capture_output=True, text=True).stdout.strip()}
    missed = [r for r in rows if r["target"] is not None and r["ratio"] > r["target"]]
    table = markdown(rows, info)
    print()
    print(table)
    print(f"{len(rows) - len(missed)} of {len(rows)} meet their target" if rows else "no rows")
    out = ROOT / args.out
    out.mkdir(parents=True, exist_ok=True)
    stem = "models" + (f"-{args.cpu}" if args.cpu else "")
    (out / f"{stem}.json").write_text(json.dumps({"info": info, "rows": rows}, indent=1) + "\n")
    (out / f"{stem}.md").write_text(table)


if __name__ == "__main__":
    main()
