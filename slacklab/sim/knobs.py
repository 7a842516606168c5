"""The app's side of a simulated run, as knobs on :class:`~slacklab.sim.server.Simulator`: :class:`AppKnobs`.

Slack's side has its own knobs (drops, disconnects, silence, ``link_disabled``);
these control the scenario clock (pause, resume, one clock for two transports) and
play what the *app* does, which Slack only sees through acks and
connections: an app that is slow to ack, another instance of the app taking a
share of the events, and the shared scenario clock a two-transport run needs
(:class:`~slacklab.sim.dual.DualSimulator`). Everything goes through the
simulator's :class:`~slacklab.sim.ledger.DeliveryLedger` under its lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection

from slacklab.sim.ledger import DeliveryLedger
from slacklab.sim.playback import Playback

__all__ = ["AppKnobs"]


class AppKnobs:
    """Mixed into :class:`~slacklab.sim.server.Simulator` (which sets these attributes)."""

    _lock: threading.RLock
    _ledger: DeliveryLedger
    _playback: Playback
    _clock_offset: float

    def _kick(self) -> None:  # the simulator's: wake its scheduler
        raise NotImplementedError

    def pause(self) -> None:
        """Stop releasing scenario items and sending envelopes; acks are still recorded.

        Ack deadlines and refresh timers keep running in wall time; envelopes that
        time out meanwhile are redelivered after :meth:`resume`."""
        with self._lock:
            self._playback.pause(time.monotonic())
        self._kick()

    def resume(self) -> None:
        """Continue where :meth:`pause` stopped (the scenario clock skips the pause)."""
        with self._lock:
            self._playback.resume(time.monotonic())
        self._kick()

    def start_clock(self, at: float | None = None, epoch: float | None = None) -> None:
        """Start the scenario clock at monotonic ``at`` (default now), ``epoch`` being that moment in
        epoch seconds (default: from this simulator's clock). Idempotent; for ``hold_clock=True``."""
        mono = time.monotonic() if at is None else at
        with self._lock:
            if not self._playback.started:
                if epoch is not None:
                    self._clock_offset = epoch - mono
                self._playback.start(mono)
        self._kick()

    def slow_app(self, delay: float | None = 4.0, *, every: int = 1, keys: Collection[str] | None = None) -> None:
        """Play an app that takes ``delay`` s to ack the first delivery of every ``every``-th event
        (or of the events with these ``keys``, as in ``truth.events``).

        Over ``ack_timeout`` (3 s) that event is redelivered with ``retry_attempt`` 1
        before the slow ack arrives (then recorded as late). ``None`` turns it off.
        """
        with self._lock:
            self._ledger.slow_app(delay, every, keys)
        self._kick()

    def other_consumer(self, name: str = "other-app-instance") -> str:
        """Another instance of the app connects (say, a teammate's laptop with the same token).

        Slack spreads deliveries over every open connection, so it takes a share of
        the events, which never reach your capture. Returns its connection id (in
        ``truth.deliveries``); :meth:`drop_consumer` ends it.
        """
        with self._lock:
            self._ledger.add_consumer(name, time.monotonic())
        self._kick()
        return name

    def drop_consumer(self, name: str = "other-app-instance") -> None:
        """The other consumer disconnects; its unacked share (none: it acks at once) is redelivered."""
        with self._lock:
            self._ledger.close(name, time.monotonic())
        self._kick()
