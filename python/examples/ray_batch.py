#!/usr/bin/env python3
"""Run a scriptless batch file (.jsonl) on Ray Data: `scriptless run --input requests.jsonl`,
spread over Ray workers.

Each line of the input is one request, exactly as `scriptless run` reads it (keyed by
`forward`'s argument names for a user's own `.pt` or `.pt2` model; by the seed model's input
names, or `sequences` for the sequence model); each line of the output is that request's result,
in the same order, or `{"error":"...","line":N}` for a request that failed (as the CLI's
`--keep-going` writes it). A user's model's lines are the CLI's byte for byte (`{"output":...}`
mirroring what `forward` returns: each worker calls `model.forward_json`, the CLI's own code for
one line); the seed's models' lines, `{"output":[...],"shape":[...]}`, are the CLI's bit for bit
as float32 (batches of requests run through `forward_many`).

    python python/examples/ray_batch.py --weights examples/dict_output.pt \\
        --input examples/dict_output.jsonl --output results.jsonl --workers 2 --check

Needs `pip install "ray[data]" numpy` and the scriptless wheel (built from python-package/ with
maturin). Locally, from the repository root (Ray starts a one-machine cluster for the run):

    python python/examples/ray_batch.py --weights weights/sequence.safetensors \\
        --input examples/requests.jsonl --output results.jsonl --workers 2 --check

`--check` also runs the CLI (`--cli`, default target/release/scriptless) on the same file and
compares every result bit for bit; it prints one PASS or FAIL line and exits 1 on a mismatch.

On a cluster, run the same command on a machine of the cluster (the head node, say) with
`--address auto`, or with RAY_ADDRESS set (`ray.init()` also joins a cluster that `ray start`
runs on this machine). The driver reads the input and the weights and ships both through
Ray's object store, so workers need no shared filesystem, only Python with numpy and the
scriptless wheel installed (or a `runtime_env` that installs it); with `--load-on-workers` each
worker loads `--weights` itself, by absolute path, which must then exist on every node (shared
storage). The results come back to the driver, which writes `--output`. `--workers` is the
number of actors, each taking one CPU. For inputs larger than the driver's memory, read them
with `ray.data.read_text("s3://...")` and write with `Dataset.write_json` instead.

Ray Data runs `Predictor` as a pool of `--workers` actors: each loads the model once, in
`__init__`, and then runs `model.forward_many` on batches of `--batch-size` requests. The model
releases the GIL while it computes but `json.loads` does not, so use processes (workers), not
threads, to use more cores. Mind the cost: decoding JSON in Python is slower than the CLI's
whole run, and starting Ray and its actors takes seconds; on one machine `scriptless run` is
faster (python/examples/ray_throughput.py measures both).
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import ray

ROOT = Path(__file__).resolve().parents[2]


def result_line(index, result):
    """One output line in the CLI's format; `index` is the 0-based line number."""
    if not isinstance(result, Exception):
        out = result.astype(np.float32, copy=False)  # this script's models run in float32
        if np.isfinite(out).all():
            shape = ",".join(str(d) for d in out.shape)
            return f'{{"output":{nested(out)},"shape":[{shape}]}}'
        result = ValueError("the output holds NaN or infinity, which JSON cannot represent")
    message = str(result)
    # forward_many prefixes errors with the request's place in its batch; the line says it.
    if message.startswith("request ") and ": " in message:
        message = message.split(": ", 1)[1]
    return json.dumps({"error": message, "line": int(index) + 1}, separators=(",", ":"))


def nested(a):
    """`a` (float32) as JSON nested lists, as the CLI writes them. NumPy's str() of a float32
    is the shortest text that reads back as the same float32, as the CLI's is: the same
    digits, so parsed as float64 and rounded to float32 they give the model's bits exactly.
    Only the notation differs, for magnitudes under 1e-4 or from 1e13 (-9.521876e-05 where
    the CLI writes -0.00009521876): `cli_notation` rewrites those."""
    if a.ndim == 0:
        return cli_notation(str(a[()]))
    if a.ndim == 1:
        text = ",".join(map(str, a))
        if "e" in text or (np.abs(a) >= 1e13).any():
            text = ",".join(cli_notation(t) for t in text.split(","))
        return "[" + text + "]"
    return "[" + ",".join(nested(row) for row in a) + "]"


def cli_notation(text):
    """A float's shortest digits in the CLI's notation (serde_json's, from zmij 1.0):
    positional from 1e-6 to under 1e13, else scientific (1.5e-7, 2e+13)."""
    sign, text = ("-", text[1:]) if text.startswith("-") else ("", text)
    mantissa, _, exponent = text.partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    if not digits.strip("0"):
        return sign + "0.0"
    point = len(whole) + int(exponent or 0) - (len(whole + fraction) - len(digits))
    digits = digits.rstrip("0")  # the value is 0.DIGITS * 10**point
    if not -6 <= point - 1 <= 12:  # 1234e30 -> 1.234e+33, 5e-7 -> 5e-7
        head = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{head}e{'-' if point < 1 else '+'}{abs(point - 1)}"
    if point >= len(digits):  # 1234e7 -> 12340000000.0
        return f"{sign}{digits}{'0' * (point - len(digits))}.0"
    if point > 0:  # 1234e-2 -> 12.34
        return f"{sign}{digits[:point]}.{digits[point:]}"
    return f"{sign}0.{'0' * -point}{digits}"  # 1234e-6 -> 0.001234


def decode(line):
    """A request line as forward_many takes it (nested lists are fine: scriptless reads JSON's
    numbers as the CLI does), or the exception that decoding raised."""
    if not line.strip():
        return ValueError("empty line")
    try:
        return json.loads(line)
    except ValueError as e:
        return ValueError(f"malformed JSON: {e}")


def own_model_line(model, index, line, error_class):
    """One output line of a model run by its own code, as the CLI writes it: the model's
    `forward_json` is the CLI's own code for one request line; a failed line becomes the
    CLI's `--keep-going` error object. A blank line has no output line (`None`), as in the
    CLI."""
    if not line.strip():
        return None
    try:
        return model.forward_json(line)
    except error_class as e:
        return json.dumps({"error": str(e), "line": int(index) + 1}, separators=(",", ":"),
                          ensure_ascii=False)


class Predictor:
    """One Ray actor: loads the model once, then runs batches of request lines."""

    def __init__(self, weights, options):
        import scriptless  # imported on the worker

        # `weights` is the file's bytes (shipped from the driver) or a path every worker sees.
        if isinstance(weights, (bytes, bytearray)):
            self.model = scriptless.from_bytes(weights, **options)
        else:
            self.model = scriptless.load(weights, **options)
        # A user's model (not one of the seed's) runs request by request by its own code.
        self.own = self.model.kind in ("torchscript", "torch.export")
        self.error_class = scriptless.ScriptlessError

    def __call__(self, batch):
        # batch: {"index": int64 array, "line": array of str}, --batch-size rows at most.
        if self.own:
            lines = [own_model_line(self.model, i, line, self.error_class)
                     for i, line in zip(batch["index"], batch["line"])]
            return {"index": batch["index"], "result": np.array(lines, dtype=object)}
        decoded = [decode(line) for line in batch["line"]]
        # One forward_many call for the batch; a failed request gets its exception in its place.
        requests = [r for r in decoded if not isinstance(r, Exception)]
        outputs = iter(self.model.forward_many(requests, return_exceptions=True))
        results = [r if isinstance(r, Exception) else next(outputs) for r in decoded]
        lines = [result_line(i, r) for i, r in zip(batch["index"], results)]
        # Return the index and the result text only: the request text is not sent back.
        return {"index": batch["index"], "result": np.array(lines, dtype=object)}


def run_pipeline(lines, weights, options, *, batch_size=256, workers=1):
    """The result lines for `lines` (request texts), in order, computed on Ray workers."""
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True  # results come back in input order
    ctx.enable_progress_bars = False
    # Each block is one task for an actor: at least 4 per worker to share the work out, at most
    # 16 batches each (fewer, larger blocks cost less), at least one batch each.
    batches = max(1, -(-len(lines) // batch_size))
    blocks = min(batches, max(4 * workers, -(-batches // 16)))
    ds = ray.data.from_items(
        [{"index": i, "line": line} for i, line in enumerate(lines)], override_num_blocks=blocks
    )
    ds = ds.map_batches(
        Predictor,
        fn_constructor_args=(weights, options),
        batch_size=batch_size,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=workers),  # a fixed pool of `workers` actors
        num_cpus=1,
    )
    results = []
    for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
        # preserve_order keeps the blocks in order; the index column proves it.
        expected = np.arange(len(results), len(results) + len(batch["index"]))
        if not np.array_equal(batch["index"], expected):
            raise RuntimeError("Ray Data returned the results out of order")
        results.extend(batch["result"])
    if len(results) != len(lines):
        raise RuntimeError(f"{len(results)} results for {len(lines)} requests")
    # A blank line of a user's model's batch has no result line, as in the CLI.
    return [r for r in results if r is not None]


def read_lines(path):
    """The request lines of a .jsonl file, as the CLI splits it (a final newline ends the last)."""
    text = Path(path).read_text(encoding="utf-8")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def check(results, args):
    """Runs the CLI on the same file and compares every result with ours, bit for bit."""
    with tempfile.TemporaryDirectory() as tmp:
        cli_out = Path(tmp) / "cli.jsonl"
        cmd = [args.cli, "run", "--weights", args.weights, "--input", args.input,
               "--output", str(cli_out), "--keep-going", "--batch-size", str(args.batch_size)]
        if args.model:
            cmd += ["--model", args.model]
        # --keep-going exits 1 when some line failed; its output is still complete.
        proc = subprocess.run(cmd, stderr=subprocess.PIPE, text=True)
        if not cli_out.exists():
            sys.exit(f"FAIL: {' '.join(cmd)} wrote no output: {proc.stderr.strip()}")
        cli = read_lines(cli_out)
    if len(cli) != len(results):
        print(f"FAIL: the CLI wrote {len(cli)} results, Ray {len(results)}")
        return False
    mismatches, errors, same_text = [], 0, 0
    if args.own:
        # A user's model's lines are the CLI's own output code's: the same bytes.
        mismatches = [n for n, (a, b) in enumerate(zip(results, cli), 1) if a != b]
        if mismatches:
            print(f"FAIL: {len(mismatches)} of {len(results)} lines differ from the CLI's "
                  f"(lines {mismatches[:10]}{' ...' if len(mismatches) > 10 else ''})")
            return False
        print(f"PASS: all {len(results)} lines equal the CLI's, byte for byte")
        return True
    for n, (ours, theirs) in enumerate(zip(results, cli), 1):
        same_text += ours == theirs
        a, b = json.loads(ours), json.loads(theirs)
        if "error" in a or "error" in b:
            errors += "error" in a and "error" in b
            ok = "error" in a and "error" in b  # messages may be worded differently
        else:
            # Read as the CLI wrote it: float64 text rounded to float32 gives its exact bits.
            x = np.asarray(a["output"], np.float64).astype(np.float32)
            y = np.asarray(b["output"], np.float64).astype(np.float32)
            ok = a["shape"] == b["shape"] and x.shape == y.shape and np.array_equal(
                x.view(np.uint32), y.view(np.uint32))
        if not ok:
            mismatches.append(n)
    if mismatches:
        print(f"FAIL: {len(mismatches)} of {len(results)} results differ from the CLI's "
              f"(lines {mismatches[:10]}{' ...' if len(mismatches) > 10 else ''})")
        return False
    print(f"PASS: all {len(results)} results equal the CLI's bit for bit as float32 "
          f"({errors} errors on both sides; {same_text} lines identical as text)")
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", required=True,
                        help="weights file (any format scriptless reads)")
    parser.add_argument("--input", required=True, help="requests, one JSON object per line")
    parser.add_argument("--output", help="where to write the results (.jsonl); none: just count")
    parser.add_argument("--model", choices=["two-input", "categorical", "sequence"],
                        help="the model, when the weights do not name it")
    parser.add_argument("--batch-size", type=int, default=256,
                        help="requests per forward_many call")
    parser.add_argument("--workers", type=int, default=1, help="Ray actors, each with one model")
    parser.add_argument("--address",
                        help='Ray cluster to join, e.g. "auto" (default: RAY_ADDRESS, else '
                             "one that `ray start` runs on this machine, else a new local one)")
    parser.add_argument("--load-on-workers", action="store_true",
                        help="workers load --weights by path (shared storage) instead of the bytes "
                             "the driver read")
    parser.add_argument("--check", action="store_true",
                        help="compare every result with the CLI's; exit 1 on a mismatch")
    parser.add_argument("--cli", default=str(ROOT / "target/release/scriptless"),
                        help="the scriptless binary for --check (default: %(default)s)")
    args = parser.parse_args()

    start = time.perf_counter()
    ray.init(address=args.address, logging_level="WARNING")
    started = time.perf_counter()

    options = {"model": args.model} if args.model else {}
    # Workers do not run in the driver's directory: a path they load must be absolute.
    weights = str(Path(args.weights).resolve()) if args.load_on_workers else \
        Path(args.weights).read_bytes()
    lines = read_lines(args.input)
    # Whether the file runs by its own code (a user's model), as the workers will see it.
    import scriptless
    probe = scriptless.load(args.weights, **options)
    args.own = probe.kind in ("torchscript", "torch.export")
    del probe
    results = run_pipeline(lines, weights, options, batch_size=args.batch_size,
                           workers=args.workers)
    if args.output:
        Path(args.output).write_text("".join(line + "\n" for line in results), encoding="utf-8")
    done = time.perf_counter()

    # The input line of each failed request, as its error object says.
    failed = [json.loads(line)["line"] for line in results if line.startswith('{"error"')]
    print(f"{len(results)} requests, {args.workers} worker(s): ray.init {started - start:.2f} s, "
          f"pipeline {done - started:.2f} s ({len(results) / (done - started):.0f} requests/s "
          f"without ray.init, {len(results) / (done - start):.0f} with it)")
    ok = check(results, args) if args.check else True
    if failed:
        print(f"{len(failed)} of {len(results)} requests failed (the first on line {failed[0]}); "
              "each has an error object in the output", file=sys.stderr)
    ray.shutdown()
    sys.exit(0 if ok and not failed else 1)


if __name__ == "__main__":
    main()
