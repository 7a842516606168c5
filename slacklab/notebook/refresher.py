"""Redraw off the kernel's thread, at a bounded rate: :class:`Refresher` and its :class:`Throttle`.

The explore panel (:mod:`slacklab.notebook.panel`) owns one :class:`Refresher`: a
daemon thread that calls the panel's ``tick`` when a control changed
(:meth:`Refresher.request`, from any thread) or every ``poll`` seconds while a
capture is live. Ticks never overlap, many requests made meanwhile become one
tick, and the :class:`Throttle` spaces them out::

    refresher = Refresher(tick, poll=0.5, throttle=Throttle(min_interval=0.5))
    refresher.request()      # soon, at most twice a second
    refresher.poll = None    # only on request from now on
    refresher.close()        # ends the thread

Nothing here knows about widgets, pandas or Slack, so it is tested with plain
callables and a fake clock for the throttle.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["REFRESH_SECONDS", "Refresher", "Throttle"]

log = logging.getLogger("slacklab.notebook.refresher")

REFRESH_SECONDS = 0.5
"""Default shortest time between two redraws of a panel."""


@dataclass
class Throttle:
    """When the next redraw may start: at most one per ``min_interval`` seconds, busy at most ``busy`` of the time.

    Pure bookkeeping fed with monotonic times: call :meth:`delay` before a
    redraw and :meth:`record` after it.
    """

    min_interval: float = REFRESH_SECONDS
    busy: float = 0.5
    next_at: float = float("-inf")

    def delay(self, now: float) -> float:
        """Seconds to wait before the next redraw may start (0 when it may start now)."""
        return max(0.0, self.next_at - now)

    def record(self, started: float, finished: float) -> None:
        """A redraw ran from ``started`` to ``finished``; push the next one back accordingly."""
        took = max(0.0, finished - started)
        self.next_at = max(started + self.min_interval, finished + took * (1.0 / self.busy - 1.0))


class Refresher:
    """A daemon thread that calls ``tick(requested)`` when asked to, or every ``poll`` seconds.

    ``requested`` is True when :meth:`request` was called since the last
    tick (a control changed), False for a poll (``poll=None``: never poll).
    Ticks never overlap and follow the :class:`Throttle`; requests made while
    waiting merge into one tick. A tick that raises is logged and the thread
    goes on. Call :meth:`close` to end the thread.
    """

    def __init__(
        self,
        tick: Callable[[bool], None],
        *,
        poll: float | None,
        throttle: Throttle | None = None,
        name: str = "slacklab-refresher",
    ) -> None:
        self._tick = tick
        self._poll = poll
        self.throttle = throttle or Throttle()
        self._cond = threading.Condition()
        self._requested = False
        self._paused = False
        self._closed = False
        self.ticks = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        """True until :meth:`close` has ended the thread."""
        return self._thread.is_alive()

    @property
    def paused(self) -> bool:
        """True while ticks are held back (:meth:`pause`)."""
        return self._paused

    @property
    def poll(self) -> float | None:
        """Seconds between unrequested ticks (``None``: tick only on :meth:`request`)."""
        return self._poll

    @poll.setter
    def poll(self, seconds: float | None) -> None:
        with self._cond:
            self._poll = seconds
            self._cond.notify_all()

    def request(self) -> None:
        """Ask for a tick soon (safe from any thread; many requests make one tick)."""
        with self._cond:
            self._requested = True
            self._cond.notify_all()

    def pause(self) -> None:
        """Hold ticks back until :meth:`resume` (requests are kept)."""
        with self._cond:
            self._paused = True

    def resume(self) -> None:
        """Tick again, starting with one right away."""
        with self._cond:
            self._paused = False
            self._requested = True
            self._cond.notify_all()

    def close(self, timeout: float = 5.0) -> None:
        """End the thread, waiting up to ``timeout`` seconds for a running tick. Safe to call twice."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _wait(self) -> bool | None:
        """Wait for a reason to tick: True (requested), False (poll), None (closed)."""
        with self._cond:
            while True:
                timeout = None if self._paused else self._poll
                woke = self._cond.wait_for(
                    lambda: self._closed or (self._requested and not self._paused), timeout=timeout
                )
                if self._closed:
                    return None
                if woke or not self._paused:
                    return self._requested

    def _run(self) -> None:
        while True:
            if self._wait() is None:
                return
            delay = self.throttle.delay(time.monotonic())
            if delay > 0:
                with self._cond:
                    if self._cond.wait_for(lambda: self._closed, timeout=delay):
                        return
            with self._cond:
                requested, self._requested = self._requested, False
            started = time.monotonic()
            try:
                self._tick(requested)
            except Exception:  # keep refreshing; the panel shows the error itself
                log.exception("slacklab refresh failed")
            self.ticks += 1
            self.throttle.record(started, time.monotonic())
