#!/usr/bin/env python3
"""Throughput of ray_batch.py next to `scriptless run` and a plain Python loop, on one file.

    python python/examples/ray_throughput.py [--requests 20000] [--runs 3] [--workers 1 2]
        [--weights weights/sequence.safetensors] [--cli target/release/scriptless] [--dir DIR]

Writes N random requests for the weights' model (as python/jsonl_throughput.py makes them:
sequence requests hold 1 to 4 sequences of 1 to 50 steps of 10 features) to DIR/requests.jsonl
(a temporary folder unless --dir is given), then times, each --runs times, the median reported:

  cli          `scriptless run --input requests.jsonl --output cli.jsonl` (default batch 256);
  plain loop   one Python process, no Ray: read the lines, decode them, `forward_many` on
               chunks of 256, format and write the results (ray_batch.py's own functions);
  ray N        `python ray_batch.py ... --workers N` as a process: its whole wall time (Python
               start, `import ray`, `ray.init()`, the pipeline, `ray.shutdown()`), and the
               script's own figures with and without `ray.init()`;
  ray N warm   `ray_batch.run_pipeline` again and again in this process, after one `ray.init()`:
               what each further job pays in a running Ray session (a new actor pool each
               time; the first run, reported apart, also starts Ray's worker processes).

Every way writes the same output (checked here; ray_batch.py --check compares it with the
CLI's). Then one more, untimed, run of each samples memory every 0.25 s: the peak of the summed
PSS (proportional set size: shared pages split between the processes that map them, so Ray's
processes add up honestly) of the process and all its descendants. Needs the environment of
ray_batch.py; build the CLI first (cargo build --release). Run it with no Ray cluster running
on the machine (`ray.init()` would join it) and nothing else busy: it takes about 4 minutes
for 20,000 requests.
"""

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(HERE), str(ROOT / "python")]
from jsonl_throughput import request  # noqa: E402  the project's random requests
from ray_batch import decode, read_lines, result_line  # noqa: E402


def descendants(pid):
    """`pid` and every process below it."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def pss_bytes(pids):
    total = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def run_process(cmd, sample_memory=False):
    """Runs `cmd`; returns (wall seconds, stdout, peak PSS of its process tree or None)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    peak = [0]
    if sample_memory:
        def sample():
            while proc.poll() is None:
                peak[0] = max(peak[0], pss_bytes(descendants(proc.pid)))
                time.sleep(0.25)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
    out, _ = proc.communicate()
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed (exit status {proc.returncode}):\n{out}")
    if sample_memory:
        sampler.join()
    return wall, out, peak[0] if sample_memory else None


def plain_loop(weights, requests_path, output_path, chunk=256):
    """The no-Ray baseline, in this process, a chunk at a time as a Ray worker runs a batch:
    seconds in all and per phase."""
    import scriptless

    phases = dict.fromkeys(["load+read", "decode", "forward_many", "format"], 0.0)
    t0 = time.perf_counter()
    model = scriptless.load(weights)
    lines = read_lines(requests_path)
    out = []
    t1 = time.perf_counter()
    phases["load+read"] = t1 - t0
    for i in range(0, len(lines), chunk):
        t1 = time.perf_counter()
        decoded = [decode(line) for line in lines[i:i + chunk]]
        t2 = time.perf_counter()
        outputs = model.forward_many(decoded, return_exceptions=True)
        t3 = time.perf_counter()
        out += [result_line(i + j, o) + "\n" for j, o in enumerate(outputs)]
        t4 = time.perf_counter()
        phases["decode"] += t2 - t1
        phases["forward_many"] += t3 - t2
        phases["format"] += t4 - t3
    Path(output_path).write_text("".join(out))
    return time.perf_counter() - t0, phases


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default=str(ROOT / "weights/sequence.safetensors"))
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--cli", default=str(ROOT / "target/release/scriptless"))
    parser.add_argument("--dir", help="keep requests.jsonl and the outputs here")
    args = parser.parse_args()

    import scriptless

    kind = scriptless.load(args.weights).kind
    tmp = tempfile.TemporaryDirectory()
    folder = Path(args.dir or tmp.name)
    folder.mkdir(parents=True, exist_ok=True)
    requests = folder / "requests.jsonl"
    rng = random.Random(20261202)
    requests.write_text("".join(json.dumps(request(kind, rng)) + "\n"
                                for _ in range(args.requests)))
    n = args.requests
    size = requests.stat().st_size / 1e6
    print(f"{n} {kind} requests, {size:.0f} MB; median of {args.runs} runs")

    rows = []  # (way, seconds, note)
    cli = [args.cli, "run", "--weights", args.weights, "--input", str(requests),
           "--output", str(folder / "cli.jsonl")]
    rows.append(("cli batch (scriptless run)",
                 statistics.median(run_process(cli)[0] for _ in range(args.runs)), ""))
    mem = {"cli": run_process(cli, sample_memory=True)[2]}

    loops = [plain_loop(args.weights, requests, folder / "loop.jsonl") for _ in range(args.runs)]
    seconds = statistics.median(t for t, _ in loops)
    phases = min(loops, key=lambda x: abs(x[0] - seconds))[1]
    rows.append(("plain Python loop (no Ray)", seconds,
                 ", ".join(f"{k} {v:.2f} s" for k, v in phases.items())))

    for w in args.workers:
        ray_cmd = [sys.executable, str(HERE / "ray_batch.py"), "--weights", args.weights,
                   "--input", str(requests), "--output", str(folder / f"ray{w}.jsonl"),
                   "--workers", str(w)]
        runs = []
        for _ in range(args.runs):
            wall, out, _ = run_process(ray_cmd)
            init, pipeline = map(float, re.search(r"ray.init ([\d.]+) s, pipeline ([\d.]+) s",
                                                  out).groups())
            runs.append((wall, init + pipeline, pipeline, init))
        wall, with_init, pipeline, init = (statistics.median(r[i] for r in runs) for i in range(4))
        rows.append((f"ray, {w} worker(s): whole process", wall, ""))
        rows.append((f"ray, {w} worker(s): ray.init + pipeline", with_init,
                     f"ray.init {init:.2f} s"))
        rows.append((f"ray, {w} worker(s): pipeline only", pipeline, "after ray.init"))
        mem[f"ray {w}"] = run_process(ray_cmd, sample_memory=True)[2]
        if (folder / f"ray{w}.jsonl").read_text() != (folder / "loop.jsonl").read_text():
            sys.exit(f"ray{w}.jsonl differs from loop.jsonl")

    # The pipeline again in one long-lived driver: what a job pays once Ray is up (a new actor
    # pool, with its model loads, per pipeline all the same).
    import ray
    from ray import cloudpickle

    import ray_batch
    cloudpickle.register_pickle_by_value(ray_batch)  # workers cannot import it by name
    ray.init(logging_level="WARNING")
    lines, weights = read_lines(requests), Path(args.weights).read_bytes()
    for w in args.workers:
        times = []
        for _ in range(args.runs + 1):
            start = time.perf_counter()
            results = ray_batch.run_pipeline(lines, weights, {}, workers=w)
            times.append(time.perf_counter() - start)
        if "".join(r + "\n" for r in results) != (folder / "loop.jsonl").read_text():
            sys.exit("the warm pipeline's results differ from loop.jsonl")
        rows.append((f"ray, {w} worker(s): pipeline in a warm session",
                     statistics.median(times[1:]),
                     f"first run in the session {times[0]:.2f} s; results not written"))
    ray.shutdown()

    base = rows[0][1]
    print("| way | seconds | requests/s | vs CLI batch | notes |\n|---|---:|---:|---:|---|")
    for way, secs, note in rows:
        print(f"| {way} | {secs:.2f} | {n / secs:,.0f} | {base / secs:.3f}x | {note} |")
    print("peak memory (PSS of the process tree): "
          + ", ".join(f"{k} {v / 2**20:,.0f} MiB" for k, v in mem.items()))


if __name__ == "__main__":
    main()
