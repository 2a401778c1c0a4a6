"""Dynamic batching: inputs arriving together (questions, images, ...) are answered in one forward pass,
off the event loop.

A pass starts when ``max_batch`` inputs are waiting or ``max_wait_s`` after the first one arrived;
inputs that arrive while a pass runs join the next one. With ``max_wait_s = 0`` (the default) a pass
takes whatever is queued when the model becomes free: batches grow with the load and a lone input
never waits. ``max_batch = 1`` answers each input in its own pass (batching off). Each input carries
its request's option (aa-qa: ``top_k``); a pass runs with the largest of its inputs' options.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

import attrs


@attrs.define
class _Item:
    input: Any
    option: Any
    future: asyncio.Future
    batch_size: int = 0


class Batcher:
    """One queue per model; ``run(inputs, option)`` is the blocking forward pass (run in ``executor``)."""

    def __init__(self, run: Callable[[list[Any], Any], list[Any]], executor: Executor, max_batch: int, max_wait_s: float,
                 observe: Callable[[int, float], None] | None = None):
        self.run, self.executor = run, executor
        self.max_batch, self.max_wait_s = max_batch, max_wait_s
        self.observe = observe  # (batch size, forward seconds) of each pass
        self.queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def submit(self, inputs: list[Any], option: Any) -> list[tuple[Any, int]]:
        """(result, size of the pass it ran in) for each input, in order."""
        loop = asyncio.get_running_loop()
        items = [_Item(x, option, loop.create_future()) for x in inputs]
        for item in items:
            self.queue.put_nowait(item)
        try:
            results = await asyncio.gather(*(i.future for i in items))
        except BaseException:
            for i in items:
                i.future.cancel()  # a timed-out or dropped request: its inputs leave the queue unanswered
            raise
        return [(r, i.batch_size) for r, i in zip(results, items)]

    async def _gather(self) -> list[_Item]:
        batch = [await self.queue.get()]
        deadline = time.monotonic() + self.max_wait_s
        while len(batch) < self.max_batch:
            try:
                batch.append(self.queue.get_nowait())
                continue
            except asyncio.QueueEmpty:
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self.queue.get(), remaining))
            except TimeoutError:
                break
        return [i for i in batch if not i.future.done()]

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._gather()
            if not batch:
                continue
            t0 = time.perf_counter()
            try:
                answers = await loop.run_in_executor(self.executor, self.run, [i.input for i in batch], max(i.option for i in batch))
            except Exception as exc:  # noqa: BLE001 - the requests of this pass get the error; the loop goes on
                for i in batch:
                    if not i.future.done():
                        i.future.set_exception(exc)
                continue
            if self.observe is not None:
                self.observe(len(batch), time.perf_counter() - t0)
            for i, a in zip(batch, answers):
                i.batch_size = len(batch)
                if not i.future.done():
                    i.future.set_result(a)
