#!/usr/bin/env python3
"""What the Python module `scriptless` costs next to torch: start-up, memory and disk.

Runs the seed's sequence example (examples/sequence.json: 3 sequences of lengths 5, 3, 7 with 10
features, against weights/sequence.pt, the TorchScript archive) as a whole, cold process, four
ways, and prints a Markdown report:

- python + torch:       `import torch; m = torch.jit.load(...); m(padded, lengths)` (torch's venv)
- python + scriptless:  `import numpy, scriptless; m = scriptless.load(...); m(padded_seq=...,
                        seq_lengths=...)` (a venv without torch: only numpy and the wheel)
- scriptless CLI:       `scriptless run --weights weights/sequence.pt
                        --input examples/sequence.json`
- python + numpy alone: `python -c "import numpy"` in the torch-less venv, for context

plus, for the breakdown, `python -c pass`, `python -c "import torch"` and `python -c "import
scriptless"`. Each Python child reads the JSON and pads it with the same pure-Python code, runs
the model once and prints the output as JSON; the CLI pads it itself and prints JSON too.
Every case runs --runs times, interleaved (round r starts at case r, so drift on a noisy machine
hits every case alike), after --warmup untimed rounds, so the page cache is warm: these are cold
*processes*, not a cold disk. Wall time is from spawn to exit as this script sees it (spawn
overhead included, the same for every case); peak RSS is the child's ru_maxrss as GNU time
reports it (`/usr/bin/time -f %M`; not os.wait4 from here, see spawn() for why).
The report gives the medians (and min-max), checks that the three outputs agree, and sizes:
the scriptless wheel and its installed files, torch's wheel and every wheel `pip download torch`
fetches with it, the installed size of torch's dependency closure (from each distribution's
RECORD), and both venvs whole.

From a fresh clone, at the repository root (Linux, Python 3.9+, Rust, GNU time, PyPI reachable):

    python3 -m venv ../venv-torch
    ../venv-torch/bin/pip install -r python/requirements.txt maturin
    cargo build --release --locked                           # target/release/scriptless
    (cd python-package && ../../venv-torch/bin/maturin build --release -o /tmp/wheels-fp)
    python3 -m venv ../venv-slim                             # the service that cannot carry torch
    ../venv-slim/bin/pip install numpy /tmp/wheels-fp/scriptless-*.whl
    ../venv-torch/bin/pip download torch==2.15.0 -d /tmp/torchwheel   # optional, ~3 GB
    python3 python/footprint.py --torch-python ../venv-torch/bin/python \\
        --slim-python ../venv-slim/bin/python --scriptless-wheel /tmp/wheels-fp/scriptless-*.whl \\
        --torch-wheels /tmp/torchwheel --runs 5

The script itself needs only the standard library (any python3); it installs nothing and
downloads nothing. --json FILE also writes every measurement. The defaults (--torch-python
/work/venv/bin/python, --slim-python /work/venv-slim/bin/python, --binary
target/release/scriptless, --scriptless-wheel /tmp/wheels-fp/scriptless-*.whl) are the
project's build machine's layout.
"""

import argparse
import datetime
import glob
import json
import os
import platform
import resource
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Shared by both Python children: read the seed's ragged example and pad it, in plain Python, so
# that neither side's start-up includes anything the other's does not.
READ_INPUT = """
import json, sys
weights, request = sys.argv[1], sys.argv[2]
with open(request) as f:
    seqs = json.load(f)["sequences"]
lengths = [len(s) for s in seqs]
steps, features = max(lengths), len(seqs[0][0])
padded = [s + [[0.0] * features] * (steps - len(s)) for s in seqs]
"""

TORCH_CODE = """import torch
""" + READ_INPUT + """
m = torch.jit.load(weights)
out = m(torch.tensor(padded, dtype=torch.float32), torch.tensor(lengths, dtype=torch.int64))
print(json.dumps(out.detach().tolist()))
"""

SCRIPTLESS_CODE = """import numpy, scriptless
""" + READ_INPUT + """
m = scriptless.load(weights)
out = m(padded_seq=numpy.array(padded, dtype=numpy.float32),
        seq_lengths=numpy.array(lengths, dtype=numpy.int64))
print(json.dumps(out.tolist()))
"""

# Run inside each venv's interpreter: its distributions' versions and installed sizes, and the
# dependency closure of the roots given in argv (markers evaluated for this interpreter; the
# roots' own optional extras not taken, the extras their requirements name followed).
DISTS_CODE = r"""
import importlib.metadata as md, json, os, re, sys
try:
    from packaging.requirements import Requirement
except ImportError:
    from pip._vendor.packaging.requirements import Requirement

def norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()

dists = {}
for d in md.distributions():
    name = d.metadata["Name"]
    if name and norm(name) not in dists:
        dists[norm(name)] = d

def size(d):
    total = files = 0
    for f in d.files or []:
        p = d.locate_file(f)
        if os.path.isfile(p) and not os.path.islink(p):
            total += os.path.getsize(p)
            files += 1
    return total, files

# Walk (distribution, extra) pairs, so that `cuda-toolkit[cublas,...]` brings what its extras do.
closure, seen, todo = [], set(), [(norm(r), "") for r in sys.argv[1:]]
while todo:
    n, extra = todo.pop()
    if (n, extra) in seen or n not in dists:
        continue
    seen.add((n, extra))
    if n not in closure:
        closure.append(n)
    for spec in dists[n].requires or []:
        req = Requirement(spec)
        if req.marker is None or req.marker.evaluate({"extra": extra}):
            todo.append((norm(req.name), ""))
            todo.extend((norm(req.name), e) for e in req.extras)

out = {"python": sys.version.split()[0], "prefix": sys.prefix, "closure": []}
for n in closure:
    b, f = size(dists[n])
    out["closure"].append({"name": dists[n].metadata["Name"], "version": dists[n].version,
                           "bytes": b, "files": f})
out["versions"] = {norm(n): d.version for n, d in dists.items()}
print(json.dumps(out))
"""

MB = 1e6  # file sizes in MB (10^6 bytes), as docs/python.md gives them; RSS in MiB (ru_maxrss / 1024)


def fail(message):
    sys.exit(f"footprint.py: {message}")


def clean_env():
    """The parent's environment, minus what could slip other packages into a child."""
    env = dict(os.environ)
    for var in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "VIRTUAL_ENV"):
        env.pop(var, None)
    return env


def spawn(argv, env, tmp, time_bin):
    """Runs argv once from the repository root; returns (wall seconds, CPU seconds (user + system,
    the child's and its children's, from os.wait4), peak RSS KiB, stdout, stderr).

    The peak RSS comes from GNU time's %M (its child's ru_maxrss), not from os.wait4 on a child
    of this script: Linux's ru_maxrss survives exec, and a child that posix_spawn (vfork) or
    fork started from this Python process starts out with this process's own peak RSS (about
    13 MiB here, more once the script has read its outputs), so every small program would read
    as at least that. /usr/bin/time is a small C program, so its floor is about 1 MiB
    (`/usr/bin/time -f %M /bin/true`). Without it (time_bin None) os.wait4 is used and the
    report says what the floor is."""
    out_path, err_path = os.path.join(tmp, "out"), os.path.join(tmp, "err")
    rss_path = os.path.join(tmp, "rss")
    if time_bin:
        argv = [time_bin, "-f", "%M", "-o", rss_path, *argv]
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
        (os.POSIX_SPAWN_OPEN, 2, err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
    ]
    start = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - start
    with open(out_path) as f:
        stdout = f.read()
    with open(err_path) as f:
        stderr = f.read()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        fail(f"`{' '.join(argv[:3])} ...` exited with {code}:\n{stderr}")
    rss = usage.ru_maxrss
    if time_bin:
        with open(rss_path) as f:
            rss = int(f.read().split()[-1])  # the last line; GNU time may write a note above it
    return seconds, usage.ru_utime + usage.ru_stime, rss, stdout, stderr


def f32(x):
    return struct.unpack("f", struct.pack("f", x))[0]


def flat(output):
    """A child's printed output as a flat list of float32 values."""
    data = json.loads(output)
    if isinstance(data, dict):  # the CLI: {"output": [...], "shape": [...]}
        data = data["output"]
    values = []
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))
        else:
            values.append(f32(float(item)))
    return values


def compare(a, b):
    if len(a) != len(b):
        return f"different sizes ({len(a)} vs {len(b)})"
    diff = max(abs(x - y) for x, y in zip(a, b))
    same = sum(x == y for x, y in zip(a, b))
    return f"max abs difference {diff:.3g}, {same} of {len(a)} elements bit for bit"


def tree_bytes(path):
    """Apparent size of every regular file under path (symlinks not followed), like
    `du -s --apparent-size -B1`, each hard-linked file once."""
    total, seen = 0, set()
    for dirpath, dirnames, filenames in os.walk(path):
        for name in filenames:
            st = os.lstat(os.path.join(dirpath, name))
            if not os.path.isfile(os.path.join(dirpath, name)) or os.path.islink(
                    os.path.join(dirpath, name)):
                continue
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            total += st.st_size
    return total


def dists(python, roots, env):
    proc = subprocess.run([python, "-c", DISTS_CODE, *roots], capture_output=True, text=True,
                          env=env, cwd=ROOT)
    if proc.returncode != 0:
        fail(f"{python}: could not list its distributions:\n{proc.stderr}")
    return json.loads(proc.stdout)


def machine():
    model = "unknown CPU"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f", {int(line.split()[1]) / 2**20:.0f} GiB"
    except OSError:
        pass
    osname = platform.platform()
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                osname = f"{line.split('=', 1)[1].strip(chr(34))}, Linux {platform.release()}"
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores{mem}; {osname}"


def git_commit():
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                              capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()
        return head + (" with uncommitted changes" if dirty else "") if head else "unknown"
    except OSError:
        return "unknown"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--torch-python", default="/work/venv/bin/python",
                        help="the interpreter of a venv with torch (default: %(default)s)")
    parser.add_argument("--slim-python", default="/work/venv-slim/bin/python",
                        help="the interpreter of a venv with numpy and the scriptless wheel, "
                             "without torch (default: %(default)s)")
    parser.add_argument("--binary", default=str(ROOT / "target" / "release" / "scriptless"),
                        help="the scriptless CLI (default: target/release/scriptless)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each case (default 5)")
    parser.add_argument("--warmup", type=int, default=1,
                        help="untimed rounds first, to warm the page cache (default 1)")
    parser.add_argument("--weights", default="weights/sequence.pt",
                        help="a sequence-model TorchScript archive (default: %(default)s)")
    parser.add_argument("--input", default="examples/sequence.json",
                        help='JSON {"sequences": [...]}, as the CLI reads it '
                             '(default: %(default)s)')
    parser.add_argument("--scriptless-wheel", default=None,
                        help="the .whl maturin built (default: /tmp/wheels-fp/scriptless-*.whl "
                             "if there is exactly one)")
    parser.add_argument("--torch-wheels", default=None,
                        help="a folder `pip download torch==VERSION -d FOLDER` filled: torch's "
                             "wheel and every wheel it pulls in")
    parser.add_argument("--no-breakdown", action="store_true",
                        help="skip the breakdown cases (python -c pass, import torch, "
                             "import scriptless)")
    parser.add_argument("--time", default="/usr/bin/time",
                        help="GNU time, for each child's peak RSS (default: %(default)s; 'none' "
                             "uses os.wait4, whose numbers cannot go below this script's own "
                             "peak RSS)")
    parser.add_argument("--json", default=None, help="also write every measurement here")
    args = parser.parse_args()
    if args.runs < 1:
        fail("--runs must be at least 1")

    os.chdir(ROOT)
    env = clean_env()
    time_bin = None if args.time == "none" else args.time
    if time_bin and not os.access(time_bin, os.X_OK):
        fail(f"{time_bin} is not an executable; install GNU time (apt-get install time) or "
             f"give --time none")
    for path in (args.torch_python, args.slim_python, args.binary):
        if not os.access(path, os.X_OK):
            fail(f"{path} is not an executable (see --help)")
    torch_py = os.path.abspath(args.torch_python)  # a venv's bin/python: keep the symlink, since
    slim_py = os.path.abspath(args.slim_python)    # the venv is found from it
    binary = os.path.abspath(args.binary)
    w, i = args.weights, args.input

    # The slim venv must really be without torch, or the scenario is not what it says.
    probe = subprocess.run([slim_py, "-c", "import importlib.util as u; "
                            "print(u.find_spec('torch') is None)"], capture_output=True,
                           text=True, env=env)
    if probe.stdout.strip() != "True":
        fail(f"{slim_py} can import torch; the slim venv must not have it")

    cases = [
        ("python + torch", [torch_py, "-c", TORCH_CODE, w, i], True),
        ("python + scriptless", [slim_py, "-c", SCRIPTLESS_CODE, w, i], True),
        ("scriptless CLI", [binary, "run", "--weights", w, "--input", i], True),
        ("python + numpy alone", [slim_py, "-c", "import numpy"], True),
    ]
    if not args.no_breakdown:
        cases += [
            ("python alone (`-c pass`, slim venv)", [slim_py, "-c", "pass"], False),
            ("python: `import torch` only", [torch_py, "-c", "import torch"], False),
            ("python: `import scriptless` only", [slim_py, "-c", "import scriptless"], False),
        ]

    load_before = os.getloadavg()[0]
    results = {name: {"seconds": [], "cpu_seconds": [], "rss_kib": [], "stdout": "", "stderr": ""}
               for name, _, _ in cases}
    print(f"footprint.py: {args.warmup} warm-up round(s), then {args.runs} timed rounds of "
          f"{len(cases)} cases, interleaved ...", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.warmup + args.runs):
            order = cases[r % len(cases):] + cases[:r % len(cases)]
            for name, argv, _ in order:
                seconds, cpu, rss, stdout, stderr = spawn(argv, env, tmp, time_bin)
                if r >= args.warmup:
                    results[name]["seconds"].append(seconds)
                    results[name]["cpu_seconds"].append(cpu)
                    results[name]["rss_kib"].append(rss)
                results[name]["stdout"], results[name]["stderr"] = stdout, stderr
            print(f"  round {r + 1 - args.warmup if r >= args.warmup else 'warm-up'} done",
                  file=sys.stderr, flush=True)

    # Sizes and versions.
    torch_env = dists(torch_py, ["torch"], env)
    slim_env = dists(slim_py, ["scriptless"], env)
    cli_version = subprocess.run([binary, "--version"], capture_output=True, text=True,
                                 env=env).stdout.strip()
    wheel = args.scriptless_wheel
    if wheel is None:
        found = glob.glob("/tmp/wheels-fp/scriptless-*.whl")
        wheel = found[0] if len(found) == 1 else None

    lines = []
    p = lines.append
    p(f"## scriptless vs torch: start-up, memory and disk ({args.weights}, {args.input})")
    p("")
    p(f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}")
    p(f"- machine: {machine()}")
    p(f"- tree: {git_commit()}; CLI: {cli_version} ({binary})")
    p(f"- torch venv: {torch_env['prefix']}, Python {torch_env['python']}, torch "
      f"{torch_env['versions'].get('torch', '?')}, numpy {torch_env['versions'].get('numpy', '-')}")
    p(f"- slim venv: {slim_env['prefix']}, Python {slim_env['python']}, scriptless "
      f"{slim_env['versions'].get('scriptless', '?')}, numpy "
      f"{slim_env['versions'].get('numpy', '?')} (no torch)")
    p(f"- method: each case a fresh process from the repository root, {args.runs} timed "
      f"run{'s' if args.runs != 1 else ''} interleaved after {args.warmup} untimed round(s) "
      f"(page cache warm), medians; wall = "
      f"spawn to exit as seen by this script" + (f" (through {time_bin}, about 1 ms)" if time_bin
                                                 else "") + "; peak RSS = ru_maxrss, MiB, "
      + (f"from `{time_bin} -f %M`" if time_bin else
         f"from os.wait4, so never below this script's own peak, "
         f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MiB (--time none)"))
    p("")
    p("| | start-up to output, median s | (min-max) | peak RSS, median MiB | (min-max) "
      "| CPU (user+sys), median s |")
    p("|---|---:|---:|---:|---:|---:|")

    def row(name):
        s, k = results[name]["seconds"], results[name]["rss_kib"]
        p(f"| {name} | {statistics.median(s):.3f} | {min(s):.3f}-{max(s):.3f} "
          f"| {statistics.median(k) / 1024:.1f} | {min(k) / 1024:.1f}-{max(k) / 1024:.1f} "
          f"| {statistics.median(results[name]['cpu_seconds']):.3f} |")

    for name, _, main_row in cases:
        if main_row:
            row(name)
    if not args.no_breakdown:
        p("| *breakdown:* | | | | | |")
        for name, _, main_row in cases:
            if not main_row:
                row(name)
    p("")
    p(f"CPU time counts every thread (torch's and candle's worker threads too), so it can exceed "
      f"the wall time; on a busy machine it moves less than the wall time does "
      f"(1-minute load average {load_before:.2f} before the runs, {os.getloadavg()[0]:.2f} "
      f"after, on {os.cpu_count()} cores).")
    p("")

    # The outputs.
    t = flat(results["python + torch"]["stdout"])
    s = flat(results["python + scriptless"]["stdout"])
    c = flat(results["scriptless CLI"]["stdout"])
    p(f"Outputs ({len(t)} values): torch vs module: {compare(t, s)}; torch vs CLI: "
      f"{compare(t, c)}; module vs CLI: {compare(s, c)}.")
    for name, _, _ in cases:
        err = results[name]["stderr"].strip()
        if err:
            first = next((ln.strip() for ln in err.splitlines() if "Warning" in ln or "rror" in ln),
                         err.splitlines()[0].strip())
            p(f"stderr of `{name}`: {first}")
    p("")

    # Sizes.
    p("| disk | MB |")
    p("|---|---:|")
    if wheel:
        p(f"| scriptless wheel (`{os.path.basename(wheel)}`) | {os.path.getsize(wheel) / MB:.1f} |")
    else:
        p("| scriptless wheel | not measured (give --scriptless-wheel) |")
    sl = {d["name"].lower(): d for d in slim_env["closure"]}
    if "scriptless" in sl:
        p(f"| scriptless installed (its RECORD: site-packages/scriptless and its .dist-info) "
          f"| {sl['scriptless']['bytes'] / MB:.1f} |")
    slim_closure = sum(d["bytes"] for d in slim_env["closure"])
    p(f"| scriptless + what it pulls in, installed "
      f"({', '.join(d['name'] + ' ' + d['version'] for d in slim_env['closure'])}) "
      f"| {slim_closure / MB:.1f} |")
    p(f"| scriptless CLI binary (`{os.path.relpath(binary, ROOT)}`) "
      f"| {os.path.getsize(binary) / MB:.1f} |")
    torch_wheel_total = None
    if args.torch_wheels:
        whls = sorted(glob.glob(os.path.join(args.torch_wheels, "*.whl")))
        torch_whl = [x for x in whls if os.path.basename(x).startswith("torch-")]
        if torch_whl:
            p(f"| torch wheel (`{os.path.basename(torch_whl[0])}`) "
              f"| {os.path.getsize(torch_whl[0]) / MB:.1f} |")
        torch_wheel_total = sum(os.path.getsize(x) for x in whls)
        p(f"| every wheel `pip download torch` fetched ({len(whls)} wheels in "
          f"{args.torch_wheels}) | {torch_wheel_total / MB:.1f} |")
    else:
        p("| torch wheel | not measured (give --torch-wheels, a `pip download torch` folder) |")
    tc = {d["name"].lower(): d for d in torch_env["closure"]}
    if "torch" in tc:
        p(f"| torch installed (its RECORD) | {tc['torch']['bytes'] / MB:.1f} |")
    torch_closure = sum(d["bytes"] for d in torch_env["closure"])
    p(f"| torch + what it pulls in, installed ({len(torch_env['closure'])} distributions, "
      f"listed below) | {torch_closure / MB:.1f} |")
    torch_venv, slim_venv = tree_bytes(torch_env["prefix"]), tree_bytes(slim_env["prefix"])
    p(f"| whole torch venv ({torch_env['prefix']}, every file) | {torch_venv / MB:.1f} |")
    p(f"| whole slim venv ({slim_env['prefix']}, every file) | {slim_venv / MB:.1f} |")
    p("")
    p("Installed sizes are the files each distribution's RECORD lists (compiled .pyc included), "
      "apparent sizes; the venvs' totals include pip and setuptools and anything else "
      "installed there. torch's dependency closure as counted (markers evaluated for this "
      "interpreter, torch's own optional extras not taken; MB): "
      + ", ".join(f"{d['name']} {d['version']} {d['bytes'] / MB:.1f}"
                  for d in sorted(torch_env["closure"], key=lambda d: -d["bytes"])) + ".")
    report = "\n".join(lines)
    print(report)

    if args.json:
        data = {"report": report, "cases": {n: {k: v for k, v in r.items()}
                                            for n, r in results.items()},
                "torch_env": torch_env, "slim_env": slim_env,
                "scriptless_wheel": wheel and os.path.getsize(wheel),
                "torch_wheels_total": torch_wheel_total,
                "torch_venv_bytes": torch_venv, "slim_venv_bytes": slim_venv}
        with open(args.json, "w") as f:
            json.dump(data, f, indent=1)


if __name__ == "__main__":
    main()
