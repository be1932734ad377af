"""Keeps every persistent query of an engine processing, continuously, in the server's event loop.

The conformance runner drives queries itself (``engine.run_until_idle``) for determinism; the
server instead runs this loop: each round gives every running query a bounded number of batches
(so statements and HTTP requests keep being served in between), and sleeps a little when no
query had anything to do. Queries started or terminated by statements are picked up on the next
round. A query whose processing raises is put in the ERROR state and left alone.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ksql.engine.engine import KsqlEngine

log = logging.getLogger("ksql.background")


class BackgroundRunner:
    def __init__(self, engine: KsqlEngine, idle_sleep_s: float = 0.005, batches_per_round: int = 20) -> None:
        self.engine = engine
        self.idle_sleep_s = idle_sleep_s
        self.batches_per_round = batches_per_round
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self.running:
            return
        self._task = asyncio.create_task(self._loop(), name="ksql-background-runner")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True  # the loop also ends on its own at the next round
        await cancel_and_wait(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("The background runner had failed", exc_info=task.exception())
        self._stopping = False

    async def run_round(self) -> int:
        """One pass over the running queries; returns the number of records processed."""
        moved = 0
        for qid, q in list(self.engine.queries.items()):
            if self.engine.queries.get(qid) is not q or q.info.state != "RUNNING":
                continue  # terminated meanwhile, or failed earlier
            try:
                moved += await q.task.run_until_idle(max_batches=self.batches_per_round)
            except Exception:
                log.exception("Query %s failed while processing records; it is now in state ERROR", qid)
                q.info.state = "ERROR"
            await asyncio.sleep(0)  # let requests in between queries
        return moved

    async def _loop(self) -> None:
        while not self._stopping:
            moved = await self.run_round()
            await asyncio.sleep(0 if moved else self.idle_sleep_s)


async def cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` and wait until it has ended. Python 3.11's asyncio.wait_for (the Kafka reads
    use it) can swallow a cancellation that lands just as its inner wait completes, so one
    ``cancel()`` may not end a loop: cancel again until the task is done."""
    while not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=1.0)
