"""Capture one simulated workspace over Socket Mode and HTTP at once: :func:`listen_both`.

Two installs of the same app, one per transport, receive the same scenario on
one clock (:class:`~slacklab.sim.dual.DualSimulator`): slacklab's listener captures
the Socket Mode side, slacklab's receiver (checking signatures) the HTTP side.
Latency, order and gaps are then real and comparable::

    from slacklab.comparison.both import listen_both

    run = listen_both(events=60, duration=20, speed=10)
    run.wait_done(timeout=30)
    cmp = run.compare()            # a slacklab.comparison.lineup.Comparison: display it
    run.stop()

Failure stories, each a knob (arguments, or methods while running):

* ``slow=(delay, every)`` / :meth:`BothTransports.app_slow` – the app takes ``delay`` s
  to handle every ``every``-th event the first time: HTTP times out after 3 s and
  Slack retries (``X-Slack-Retry-Num``, ``http_timeout``); Socket Mode redelivers
  after ~3 s (``retry_attempt``);
* ``down=seconds`` / :meth:`BothTransports.app_down` – the app is unreachable for a while: HTTP
  requests fail (503) and are retried on Slack's schedule, or given up; Socket Mode
  envelopes wait for the app to reconnect;
* ``drop``, ``forge``, ``disable`` – Slack never sends some HTTP items, an attacker
  posts forged or stale copies (the receiver refuses them: 401), Slack disables
  delivery after sustained failures (see :mod:`slacklab.sim.http_rules`);
* :meth:`BothTransports.refresh`, :meth:`BothTransports.drop_socket` – a routine
  refresh or a dropped WebSocket; ``other_consumer=True`` – another instance of the
  app shares the Socket Mode events.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from slacklab.capture import Capture
from slacklab.comparison.lineup import Comparison, compare
from slacklab.http.receiver import Reply, receive_http
from slacklab.listener import Listener
from slacklab.sim.dual import DualSimulator, DualTruth
from slacklab.sim.http_rules import FAKE_SIGNING_SECRET, DisableRule
from slacklab.sim.scenario import Scenario, build_scenario

__all__ = ["BothTransports", "listen_both"]

log = logging.getLogger("slacklab.comparison.both")


class BothTransports:
    """A running two-transport capture: :attr:`socket` and :attr:`http` captures, :attr:`sim`.

    Made by :func:`listen_both`. Next: :meth:`wait_done`, :meth:`compare`, :meth:`stop`.
    """

    def __init__(self, sim: DualSimulator, socket_cap: Capture, http_cap: Capture) -> None:
        self.sim = sim
        self.socket = socket_cap
        self.http = http_cap
        self._lock = threading.Lock()
        self._slow: tuple[float, frozenset[str]] | None = None
        self._down = threading.Event()
        self._timers: list[threading.Timer] = []

    # ------------------------------------------------------- the app's side

    def respond(self, row: dict[str, Any]) -> Reply | None:
        """How the HTTP app answers (the receiver calls this): 503 while down, slow when told."""
        if self._down.is_set():
            return Reply(status=503, body=b"the app is down\n")
        with self._lock:
            slow = self._slow
        if slow is not None and row.get("event_key") in slow[1] and not row.get("retry_attempt"):
            return Reply(delay=slow[0])
        return None

    def app_slow(self, delay: float | None = 4.0, *, every: int = 5) -> list[str]:
        """The app takes ``delay`` s to handle every ``every``-th event the first time, on both sides.

        Returns the keys of those events (``None`` turns it off and returns ``[]``).
        """
        keys = [] if delay is None else self.sim.keys(every=every)
        with self._lock:
            self._slow = None if delay is None else (float(delay), frozenset(keys))
        self.sim.socket.slow_app(delay, keys=keys)
        return keys

    def app_down(self, seconds: float) -> None:
        """The app is unreachable for ``seconds`` (wall), on both sides; returns at once.

        HTTP: every request is answered 503 meanwhile (Slack retries, then gives up).
        Socket Mode: the connection is cut and the simulator keeps the listener from
        reconnecting for that long (its ``apps.connections.open`` is rate limited with
        ``Retry-After``, the simulator's way of keeping it away), so envelopes wait.
        """
        self._down.set()
        self.sim.socket.fail_next_open("ratelimited", retry_after=seconds)
        self.sim.socket.drop_connection()
        timer = threading.Timer(seconds, self._down.clear)
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def refresh(self) -> list[str]:
        """Slack asks for a routine refresh (``disconnect`` ``refresh_requested``) on the Socket Mode side."""
        return self.sim.socket.disconnect("refresh_requested")

    def drop_socket(self) -> list[str]:
        """The WebSocket is cut without a close frame (a network blip)."""
        return self.sim.socket.drop_connection()

    # ------------------------------------------------------------ results

    def wait_done(self, timeout: float = 60.0) -> bool:
        """Block until both sides settled every item and the captures hold what was delivered."""
        done = self.sim.wait_done(timeout)
        truth = self.sim.truth
        self.socket.wait_for(len(truth.socket.deliveries) - _unseen(truth), timeout=2)
        http_rows = sum(1 for a in truth.http.attempts if a["outcome"] != "aborted")
        self.http.wait_for(http_rows, timeout=2)
        return done

    @property
    def truth(self) -> DualTruth:
        """Ground truth of both sides (:class:`~slacklab.sim.dual.DualTruth`)."""
        return self.sim.truth

    def compare(self, **options: Any) -> Comparison:
        """``slacklab.compare(socket, http, labels=("socket", "http"))`` on what was captured so far."""
        return compare(self.socket, self.http, labels=("socket", "http"), **options)

    def stop(self) -> None:
        """Stop the listener, the receiver and both simulated sides (idempotent)."""
        for timer in self._timers:
            timer.cancel()
        self.socket.stop()
        self.http.stop()
        self.sim.close()

    def __enter__(self) -> BothTransports:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return (
            f"<BothTransports socket: {len(self.socket)} deliveries, http: {len(self.http)} deliveries\n  {self.sim!r}>"
        )


def _unseen(truth: DualTruth) -> int:
    """Socket Mode deliveries the capture cannot see: taken by another consumer of the app."""
    return sum(1 for d in truth.socket.deliveries if not str(d["connection"]).startswith("s"))


def listen_both(
    scenario: Scenario | None = None,
    *,
    events: int = 60,
    duration: float = 20.0,
    seed: int = 0,
    speed: float | None = 10.0,
    signing_secret: str = FAKE_SIGNING_SECRET,
    slow: tuple[float, int] | None = None,
    drop: Collection[int] = (),
    forge: Mapping[int, str] | None = None,
    disable: DisableRule | None = DisableRule(),  # noqa: B008 - frozen
    other_consumer: bool = False,
    down: float | None = None,
    retry_delays: tuple[float, ...] | None = None,
    journal: str | Path | None = None,
    http_log: str | Path | None = None,
    timeout: float = 10.0,
) -> BothTransports:
    """Play one scenario to slacklab's listener and receiver at once, on one clock; returns when both run.

    Args:
        scenario: what to play (default ``build_scenario(seed, events, duration)``).
        speed: simulated seconds per wall second (both transports, and Slack's retry delays).
        signing_secret: the HTTP side signs with it and the receiver checks it.
        slow: ``(delay, every)``: see :meth:`BothTransports.app_slow`.
        drop, forge, disable: HTTP knobs (:class:`~slacklab.sim.http_sender.HttpDelivery`).
        other_consumer: another instance of the app takes a share of the Socket Mode events.
        down: the app is down for this many seconds from the moment the events start
            (:meth:`BothTransports.app_down`, but certain to cover the first events).
        retry_delays: HTTP retry delays in simulated seconds (default Slack's 1, 60, 300).
        journal, http_log: keep the raw frames / requests (reload with ``slacklab.load``).
        timeout: seconds to wait for the listener's hello and the URL's verification.

    Next: :meth:`BothTransports.wait_done`, then :meth:`BothTransports.compare`.
    """
    if scenario is None:
        scenario = build_scenario(seed=seed, events=events, duration=duration)
    holder: list[BothTransports] = []

    def respond(row: dict[str, Any]) -> Reply | None:
        return holder[0].respond(row) if holder else None

    http_cap = receive_http(signing_secret=signing_secret, log=http_log, respond=respond)
    assert http_cap.url is not None
    options: dict[str, Any] = {} if retry_delays is None else {"retry_delays": retry_delays}
    try:
        sim = DualSimulator(
            scenario, http_cap.url, speed=speed, seed=seed, signing_secret=signing_secret, drop=drop,
            forge=forge, disable=disable, **options,
        )  # fmt: skip
    except BaseException:
        http_cap.stop()
        raise
    try:
        listener = Listener(sim.app_token, api_url=sim.api_url, journal=journal)
    except BaseException:
        http_cap.stop()
        sim.close()
        raise
    socket_cap = listener.capture
    socket_cap.label = "simulated (both transports)"
    run = BothTransports(sim, socket_cap, http_cap)
    holder.append(run)
    listener.start()
    if slow is not None:
        run.app_slow(slow[0], every=slow[1])
    if other_consumer:
        sim.socket.other_consumer()
    if not sim.ready(timeout=timeout):
        log.warning("listen_both: a transport was not ready after %s s (see the captures' state)", timeout)
    if down:
        run.app_down(down)
    sim.start_clocks()
    return run
