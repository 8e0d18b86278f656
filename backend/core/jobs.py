"""Work a request starts but must not wait for: it runs after the response, outside the
request's task (so neither its time nor its keep-alive connection shows that it ran)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

logger = logging.getLogger("phresh.jobs")

Job = Callable[[], Awaitable[None]]


class BackgroundJobs:
    """Bounded fire-and-forget tasks, drained at shutdown. Start them outside any database
    transaction: a job copies the request's context (its request id for the logs)."""

    def __init__(self, timeout_seconds: float = 30.0) -> None:
        self.timeout_seconds = timeout_seconds
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, name: str, job: Job) -> None:
        task = asyncio.create_task(self._run(name, job), name=f"phresh-job-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def start_after_response(self, name: str, job: Job, delay_seconds: float = 0.05) -> None:
        """For Starlette's `BackgroundTask` (which would run a plain function in a thread,
        away from the event loop): runs once the response is sent, and starts the job only
        `delay_seconds` later, so its CPU use never competes with the client reading the
        answer (on a busy host that showed up in the answer's timing)."""

        async def delayed() -> None:
            await asyncio.sleep(delay_seconds)
            await job()

        self.start(name, delayed)

    async def _run(self, name: str, job: Job) -> None:
        try:
            async with asyncio.timeout(self.timeout_seconds):
                await job()
        except Exception:
            logger.exception("background job %s failed", name)

    async def drain(self, timeout_seconds: float = 10.0) -> None:
        """Wait for the running jobs (shutdown, tests); those still running after
        `timeout_seconds` are cancelled."""
        pending = set(self._tasks)
        if not pending:
            return
        _, late = await asyncio.wait(pending, timeout=timeout_seconds)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
