"""The simulator's scenario clock: which items are due, in simulated time (pure: fed ``now``, no clock).

:class:`Playback` queues :class:`~slacklab.sim.workspace.ScenarioItem` objects by
their ``at`` and maps wall time (a monotonic ``now`` the caller passes in) to
simulated seconds: ``speed`` simulated seconds per wall second (``inf``: every
item is due at once), counted from :meth:`Playback.start` and skipping pauses.
The :class:`~slacklab.sim.server.Simulator` drives it under its lock, as a test
can with a fake ``now``::

    playback = Playback(scenario, speed=20.0)
    playback.start(now)                       # at the first hello, or at once
    while (item := playback.pop_due(now)) is not None:
        submit(item)                          # to the delivery ledger
    wake_at = playback.next_due()             # monotonic time of the next item, or None

**One clock for event times.** A scenario's payloads carry times from a fixed
epoch (the same every run). :func:`stamp_times` restamps an event with the
moment it *happens* in this run — the wall time its ``at`` falls due, scaled by
``speed`` like everything else — so ``received_at − event_time`` is a real
latency. :func:`happened_at` is that moment; the Socket Mode simulator and the
HTTP sender both use it, so one event played over both transports carries the
same ``event_time`` on both.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping
from typing import Any

from slacklab.sim.workspace import ScenarioItem

__all__ = ["EVENT_TIMES", "Playback", "happened_at", "stamp_times"]

EVENT_TIMES = ("wall", "scenario")
"""``event_times`` choices: restamp from the run's clock (default), or keep the scenario's fixed times."""


class Playback:
    """Scenario items waiting for their simulated time; ``total`` counts every item ever queued."""

    def __init__(self, items: Iterable[ScenarioItem], speed: float) -> None:
        self.speed = speed
        self._pending: list[tuple[float, int, ScenarioItem]] = [(i.at, n, i) for n, i in enumerate(items)]
        heapq.heapify(self._pending)
        self._serial = len(self._pending)
        self.total = len(self._pending)
        self._clock_start: float | None = None
        self._paused_at: float | None = None
        self._paused_total = 0.0

    @property
    def started(self) -> bool:
        return self._clock_start is not None

    @property
    def paused(self) -> bool:
        return self._paused_at is not None

    @property
    def empty(self) -> bool:
        """Nothing left to release."""
        return not self._pending

    def start(self, now: float) -> None:
        """Start the scenario clock at ``now``."""
        self._clock_start = now

    def pause(self, now: float) -> None:
        """Stop the clock (no item is due while paused)."""
        if self._paused_at is None:
            self._paused_at = now

    def resume(self, now: float) -> None:
        """Restart the clock where :meth:`pause` stopped it."""
        if self._paused_at is not None:
            self._paused_total += now - self._paused_at
            self._paused_at = None

    def sim_now(self, now: float) -> float:
        """Simulated seconds since the clock started (0 before; ``inf`` at infinite speed)."""
        if self._clock_start is None:
            return 0.0
        paused = self._paused_total + (now - self._paused_at if self._paused_at is not None else 0.0)
        if math.isinf(self.speed):
            return math.inf
        return max(0.0, now - self._clock_start - paused) * self.speed

    def add(self, items: list[ScenarioItem], now: float) -> None:
        """Queue ``items``, each ``at`` counted from the current simulated time (0 at infinite speed)."""
        base = self.sim_now(now)
        base = 0.0 if math.isinf(base) else base
        for item in items:
            self._serial += 1
            heapq.heappush(self._pending, (base + item.at, self._serial, item))
        self.total += len(items)

    def pop_due(self, now: float) -> ScenarioItem | None:
        """The next item due at ``now`` (``None``: none due, paused or not started)."""
        found = self.pop_due_timed(now)
        return None if found is None else found[0]

    def pop_due_timed(self, now: float) -> tuple[ScenarioItem, float] | None:
        """The next item due at ``now`` and the ``now`` it fell due (``now`` itself at infinite speed)."""
        if self._paused_at is not None or self._clock_start is None:
            return None
        if self._pending and self._pending[0][0] <= self.sim_now(now):
            sim_at, _, item = heapq.heappop(self._pending)
            due = now if math.isinf(self.speed) else self._clock_start + self._paused_total + sim_at / self.speed
            return item, min(due, now)
        return None

    def next_due(self) -> float | None:
        """The ``now`` at which the next item falls due (``None``: none, paused, not started or infinite speed)."""
        if self._paused_at is not None or self._clock_start is None or not self._pending or math.isinf(self.speed):
            return None
        return self._clock_start + self._paused_total + self._pending[0][0] / self.speed


def happened_at(epoch_start: float, at: float, speed: float) -> float:
    """Epoch seconds at which an item ``at`` simulated seconds in happens, the clock having started at ``epoch_start``.

    At infinite speed every item happens when the clock starts.
    """
    return epoch_start if math.isinf(speed) else epoch_start + at / speed


def stamp_times(kind: str, payload: Mapping[str, Any], happened: float) -> dict[str, Any]:
    """A copy of ``payload`` whose ``event_time`` (whole seconds, as Slack sends it) and inner
    ``event.event_ts`` (microseconds) say ``happened``; other kinds and other fields are unchanged.

    ``ts`` and ``thread_ts`` are message ids that other events point at (replies,
    edits, reactions), so they keep the scenario's values.
    """
    out = dict(payload)
    if kind != "events_api" or "event_time" not in out:
        return out
    out["event_time"] = int(happened)
    event = out.get("event")
    if isinstance(event, Mapping) and "event_ts" in event:
        out["event"] = {**event, "event_ts": f"{happened:.6f}"}
    return out
