"""The dynamic batcher on its own: passes bounded by size and wait, timed-out questions dropped,
a failing pass reported to its requests only."""
from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from aa_serve.batcher import Batcher


class Recorder:
    """A forward pass that upper-cases its questions, takes ``delay`` seconds and records each pass."""

    def __init__(self, delay: float = 0.0, fail_on: str | None = None):
        self.delay, self.fail_on = delay, fail_on
        self.passes: list[list[str]] = []
        self.threads: set[str] = set()

    def __call__(self, questions: list[str], top_k: int) -> list[str]:
        self.threads.add(threading.current_thread().name)
        self.passes.append(list(questions))
        time.sleep(self.delay)
        if self.fail_on in questions:
            raise ValueError("bad pass")
        return [q.upper() for q in questions]


async def with_batcher(run, max_batch: int, max_wait_s: float, body):
    with ThreadPoolExecutor(1, thread_name_prefix="model") as pool:
        b = Batcher(run, pool, max_batch, max_wait_s)
        b.start()
        try:
            return await body(b)
        finally:
            await b.stop()


def test_concurrent_questions_share_passes_up_to_max_batch():
    run = Recorder()

    async def body(b):
        return await asyncio.gather(*(b.submit([f"q{i}"], 0) for i in range(10)))

    out = asyncio.run(with_batcher(run, 4, 0.05, body))
    assert [r[0][0] for r in out] == [f"Q{i}" for i in range(10)]
    assert [len(p) for p in run.passes] == [4, 4, 2]
    assert [r[0][1] for r in out] == [4, 4, 4, 4, 4, 4, 4, 4, 2, 2]
    assert run.threads == {"model_0"}  # off the event loop, on the one model thread


def test_max_batch_1_runs_each_question_alone():
    run = Recorder()

    async def body(b):
        return await asyncio.gather(b.submit(["a", "b", "c"], 0), b.submit(["d"], 0))

    out = asyncio.run(with_batcher(run, 1, 0.05, body))
    assert [a for a, _ in out[0]] == ["A", "B", "C"] and run.passes == [["a"], ["b"], ["c"], ["d"]]


def test_a_lone_question_waits_at_most_max_wait():
    run = Recorder()

    async def body(b):
        t = time.perf_counter()
        await b.submit(["only"], 0)
        return time.perf_counter() - t

    assert asyncio.run(with_batcher(run, 32, 0.2, body)) == pytest.approx(0.2, abs=0.15)


def test_timed_out_questions_leave_the_queue_and_failures_reach_their_requests_only():
    run = Recorder(delay=0.3, fail_on="bad")

    async def body(b):
        first = asyncio.create_task(b.submit(["slow"], 0))  # occupies the model thread for 0.3 s
        await asyncio.sleep(0.05)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(b.submit(["dropped"], 0), 0.1)  # gives up while waiting for the next pass
        assert (await first)[0][0] == "SLOW"
        with pytest.raises(ValueError, match="bad pass"):
            await b.submit(["bad"], 0)
        return await b.submit(["after"], 0)

    out = asyncio.run(with_batcher(run, 8, 0.0, body))
    assert out[0][0] == "AFTER"
    assert ["dropped"] not in run.passes and all("dropped" not in p for p in run.passes)
