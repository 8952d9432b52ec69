"""One model shared by threads: every thread gets exactly the sequential results, and the GIL is
released while the model computes, so other Python threads run meanwhile."""

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
    """While one thread runs a long forward call, this thread keeps running Python: the longest
    pause between its loop iterations stays far below the call's duration (with the GIL held,
    it would be the whole call)."""
    model = scriptless.load(ROOT / "weights" / "sequence.safetensors")
    rng = np.random.default_rng(3)
    # A call long enough (about 0.1 s or more) to tell a few-millisecond thread switch from it.
    batch = 256
    while True:
        inputs = {"padded_seq": rng.standard_normal((batch, 400, 10), np.float32), "seq_lengths": np.full(batch, 400)}
        started = time.perf_counter()
        model(**inputs)
        duration = time.perf_counter() - started
        if duration > 0.1 or batch >= 8192:
            break
        batch *= 2
    running, done = threading.Event(), threading.Event()

    def call():
        running.set()
        for _ in range(3):
            model(**inputs)
        done.set()

    worker = threading.Thread(target=call)
    worker.start()
    running.wait()
    longest, last = 0.0, time.perf_counter()
    while not done.is_set():
        now = time.perf_counter()
        longest, last = max(longest, now - last), now
    worker.join()
    assert longest < duration / 2, f"longest pause {longest:.3f} s during calls of {duration:.3f} s each"
