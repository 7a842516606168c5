"""An asyncio loop of its own in a daemon thread, reachable from any other thread.

Code started from a notebook must not run on Jupyter's loop (``asyncio.run``
fails there, and a long cell would stall it), so the simulator serves from a
loop of its own. :class:`LoopThread` runs one coroutine with ``asyncio.run`` in
a daemon thread and lets other threads wait for it and call into its loop::

    runner = LoopThread("slacklab-simulator", log, "simulator")
    runner.start(main, timeout=10)       # main() calls runner.ready() once it serves
    if runner.startup_error is not None: ...   # main() failed before ready()
    runner.call(fn, *args)               # fn(*args) on the loop; waits for its result
    runner.call_soon(fn)                 # fire and forget; nothing once the loop is gone
    runner.join(timeout=15)              # after telling main() to return

Used by :class:`~slacklab.sim.server.Simulator`, which owns the coroutine and decides
when it ends.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["LoopThread"]

_T = TypeVar("_T")


class LoopThread:
    """Runs one coroutine on a fresh event loop in a daemon thread named ``name``.

    A failure before :meth:`ready` is kept in :attr:`startup_error`; a later one
    is logged to ``log`` as ``"<what> loop crashed"``.
    """

    def __init__(self, name: str, log: logging.Logger, what: str) -> None:
        self.name = name
        self.loop: asyncio.AbstractEventLoop | None = None
        self.startup_error: BaseException | None = None
        self._log = log
        self._what = what
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    def start(self, main: Callable[[], Coroutine[Any, Any, None]], *, timeout: float) -> None:
        """Run ``main()`` in a new thread; wait until it calls :meth:`ready`, ends or fails (at most ``timeout`` s)."""
        self._thread = threading.Thread(target=self._run, args=(main,), name=self.name, daemon=True)
        self._thread.start()
        self._ready.wait(timeout=timeout)

    def ready(self) -> None:
        """Called by ``main()`` once it serves: :meth:`start` returns."""
        self._ready.set()

    def on_loop(self) -> bool:
        """Whether the caller runs on the loop's thread."""
        return self._thread is threading.current_thread()

    def call_soon(self, fn: Callable[[], object]) -> None:
        """``fn()`` now on the loop thread, else scheduled there (nothing before the loop runs or once it is gone)."""
        if self.loop is None:
            return
        if self.on_loop():
            fn()
        else:
            with contextlib.suppress(RuntimeError):  # loop already gone
                self.loop.call_soon_threadsafe(fn)

    def call(self, fn: Callable[..., _T], *args: Any) -> _T:
        """Run ``fn(*args)`` on the loop thread and return its result (or raise its exception)."""
        if self.on_loop():
            return fn(*args)
        assert self.loop is not None
        future: concurrent.futures.Future[_T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn(*args))
            except BaseException as exc:
                future.set_exception(exc)

        self.loop.call_soon_threadsafe(run)
        return future.result(timeout=10)

    def join(self, timeout: float) -> bool:
        """Wait for the thread to end (not from the thread itself); ``False`` if it is still running."""
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=timeout)
            return not self._thread.is_alive()
        return True

    def _run(self, main: Callable[[], Coroutine[Any, Any, None]]) -> None:
        try:
            asyncio.run(self._main(main))
        except BaseException as exc:
            if not self._ready.is_set():
                self.startup_error = exc
            else:
                self._log.exception("%s loop crashed", self._what)
        finally:
            self._ready.set()

    async def _main(self, main: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self.loop = asyncio.get_running_loop()
        await main()
