"""One model shared by threads: every thread gets exactly the sequential results, and the GIL is
released while the model computes, so other Python threads run meanwhile."""

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import scriptless
from conftest import ROOT

THREADS = 8


def random_requests(rng, count):
    requests = []
    for _ in range(count):
        batch = int(rng.integers(1, 6))
        lengths = rng.integers(1, 40, batch)
        requests.append({"padded_seq": rng.standard_normal((batch, int(lengths.max()), 10), np.float32),
                         "seq_lengths": lengths})
    return requests


def test_eight_threads_on_one_model_give_the_sequential_results():
    model = scriptless.load(ROOT / "weights" / "sequence.safetensors", pool="last-valid")
    rng = np.random.default_rng(11)
    work = [random_requests(rng, 40) for _ in range(THREADS)]
    sequential = [[model(**request) for request in requests] for requests in work]
    batched = [model.forward_many(requests) for requests in work]

    def run(index):
        requests = work[index]
        # Alternate single calls and batches, so that both paths run concurrently.
        if index % 2:
            return [model(**request) for request in requests]
        return model.forward_many(requests)

    start = threading.Barrier(THREADS)

    def in_step(index):
        start.wait()
        return [run(index) for _ in range(3)]

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(in_step, range(THREADS)))
    for index, rounds in enumerate(results):
        for outputs in rounds:
            for got, want, batch in zip(outputs, sequential[index], batched[index]):
                assert got.tobytes() == want.tobytes() == batch.tobytes()


def test_the_gil_is_released_while_the_model_computes():
    """While another thread is inside a long forward call, this thread runs Python. Were the
    GIL held, it could run inside a call only for a switch interval (5 ms) after the call is
    timed to begin and before it is timed to end (the other thread needs the GIL to take those
    times); the check leaves out 20 ms at each end, and a loaded machine's scheduling may starve
    this thread for a while, but not for the whole of three calls."""
    model = scriptless.load(ROOT / "weights" / "sequence.safetensors")
    rng = np.random.default_rng(3)
    batch = 256
    while True:  # calls of about 0.2 s or more
        inputs = {"padded_seq": rng.standard_normal((batch, 400, 10), np.float32), "seq_lengths": np.full(batch, 400)}
        started = time.perf_counter()
        model(**inputs)
        if time.perf_counter() - started > 0.2 or batch >= 8192:
            break
        batch *= 2
    assert_this_thread_runs_inside(lambda: model(**inputs))


def assert_this_thread_runs_inside(call_once):
    """Runs `call_once` (a call of about 0.2 s or more) three times on another thread while
    this one counts ticks: with the GIL released during a call, this thread ticks inside it."""
    calls, done = [], threading.Event()

    def call():
        for _ in range(3):
            begin = time.perf_counter()
            call_once()
            calls.append((begin, time.perf_counter()))
        done.set()

    worker = threading.Thread(target=call)
    ticks = []
    worker.start()
    while not done.is_set():
        ticks.append(time.perf_counter())
    worker.join()
    inside = [sum(begin + 0.02 < t < end - 0.02 for t in ticks) for begin, end in calls]
    assert sum(inside) > 0, f"this thread never ran inside a call: {calls}"


CORPUS = ROOT / "tests" / "fixtures" / "corpus"


def test_four_threads_on_a_users_model_give_the_sequential_results():
    """A user's model, run by its own code (a TorchScript archive and a torch.export one), from 4
    threads at once: each thread gets the sequential results bit for bit."""
    rng = np.random.default_rng(5)
    for archive in ("scripted.pt", "exported.pt2"):
        model = scriptless.load(CORPUS / "transformer" / archive)
        prefix = "" if archive.endswith(".pt") else "pt2_"
        base = [json.loads((CORPUS / "transformer" / f"{prefix}request_{i}.json").read_text()) for i in range(3)]
        work = []
        for _ in range(4):
            requests = []
            for _ in range(12):
                request = base[int(rng.integers(len(base)))]
                x = np.array(request["x"], np.float32)
                requests.append({"x": x + rng.standard_normal(x.shape, np.float32), "mask": np.array(request["mask"])})
            work.append(requests)
        sequential = [[model(**request) for request in requests] for requests in work]
        start = threading.Barrier(4)

        def run(index):
            start.wait()
            requests = work[index]
            return [[model(**request) for request in requests], model.forward_many(requests)]

        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(run, range(4)))
        for index, rounds in enumerate(results):
            for outputs in rounds:
                assert len(outputs) == len(sequential[index])
                for got, want in zip(outputs, sequential[index]):
                    assert got.dtype == want.dtype and got.tobytes() == want.tobytes()


def test_the_gil_is_released_while_a_users_model_computes():
    """As for the seed's model above, for a model run by its own code."""
    model = scriptless.load(CORPUS / "upsample_decoder" / "scripted.pt")
    x = np.array(json.loads((CORPUS / "upsample_decoder" / "request_0.json").read_text())["x"], np.float32)
    repeats = 1
    while True:  # calls of about 0.2 s or more
        inputs = np.repeat(x, repeats, axis=0)
        started = time.perf_counter()
        model(inputs)
        if time.perf_counter() - started > 0.2 or repeats >= 4096:
            break
        repeats *= 2
    assert_this_thread_runs_inside(lambda: model(inputs))
