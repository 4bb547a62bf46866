"""Run an asyncio test server either in the test's own event loop (`async with`) or in a background thread
(`with`), e.g. when the client under test is synchronous and would block the test's loop."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any, Self


class ServerBase:
    """Subclasses implement `_start()` and `_stop()` (coroutines run in the server's loop)."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def _start(self) -> None:
        raise NotImplementedError

    async def _stop(self) -> None:
        raise NotImplementedError

    # -- in the caller's event loop
    async def start(self) -> Self:
        self._loop = asyncio.get_running_loop()
        await self._start()
        return self

    async def stop(self) -> None:
        await self._stop()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- in a background thread with its own loop
    def start_in_thread(self, timeout: float = 10.0) -> Self:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._start())
            except BaseException as e:  # reported to the caller below
                failure.append(e)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._stop())
            loop.close()

        self._thread = threading.Thread(target=run, name=type(self).__name__, daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise TimeoutError(f"{type(self).__name__} did not start within {timeout}s")
        if failure:
            raise failure[0]
        return self

    def stop_thread(self, timeout: float = 10.0) -> None:
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        self._thread = None

    def __enter__(self) -> Self:
        return self.start_in_thread()

    def __exit__(self, *exc: object) -> None:
        self.stop_thread()

    # -- waiting (works from either mode)
    async def wait_until(self, predicate: Callable[[], Any], within: float = 10.0) -> None:
        deadline = time.monotonic() + within
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{type(self).__name__}: condition not met within {within}s")
            await asyncio.sleep(0.01)

    def wait_until_sync(self, predicate: Callable[[], Any], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{type(self).__name__}: condition not met within {timeout}s")
            time.sleep(0.01)
