"""Slack's side of Socket Mode, offline on 127.0.0.1: plays a scenario, with fault knobs and ground truth.

The :class:`Simulator` plays a :class:`~slacklab.sim.scenario.Scenario` to any
Socket Mode client (slacklab's listener, ``slack_sdk``, Bolt…) over real
loopback sockets. It runs its own asyncio loop in its own daemon thread
(:mod:`slacklab.sim.loopthread`), so it works the same from a Jupyter cell (whose
loop it never touches), a script or a test::

    from slacklab.sim.scenario import build_scenario
    from slacklab.sim.server import Simulator

    with Simulator(build_scenario(events=50), speed=20) as sim:
        # point any client at it: SLACK_APP_TOKEN=sim.app_token, base URL sim.api_url
        ...
        sim.wait_done(timeout=30)      # every item delivered and acked (or given up)
        sim.truth.summary()            # ground truth: what was sent, acked, retried

It wires four parts together and runs them under one lock: the Web API
(:mod:`slacklab.sim.webapi`: ``apps.connections.open`` returns a one-time ticket
URL), the WebSocket side (:mod:`slacklab.sim.socket_mode`: ``hello``, envelopes, acks,
disconnects, routine refreshes), the scenario clock (:mod:`slacklab.sim.playback`)
and the delivery ledger (:mod:`slacklab.sim.ledger`, the ground truth). Items go
out at ``at / speed`` wall seconds after the scenario clock starts (at the
first ``hello`` unless ``wait_for_client=False``), spread at random (seeded)
over eligible connections; unacked envelopes are redelivered after
``ack_timeout`` wall seconds; ``event_time`` says when each event fell due
(:func:`slacklab.sim.playback.stamp_times`). Facts behind every rule:
``docs/slack-protocol.md`` (Socket Mode).

Fault knobs (thread-safe, usable while running; ``conn=None`` means every open
connection; each returns the ids it touched): :meth:`drop_connection`,
:meth:`go_silent`, :meth:`send_malformed`, :meth:`disconnect`,
:meth:`link_disabled` / :meth:`enable_link`, :meth:`fail_next_open`; the app's
side (:mod:`slacklab.sim.knobs`): :meth:`slow_app`, :meth:`other_consumer`. Control:
:meth:`pause`, :meth:`resume`, :meth:`add`, :meth:`start_clock`, :meth:`issue_url`
(a ticket URL without HTTP), :meth:`wait_done`, :meth:`wait_connections`. Inspection:
:attr:`connections`, :attr:`truth` (from :mod:`slacklab.sim.ledger`), :attr:`stats`.
Always :meth:`close` (or use ``with``): a forgotten simulator keeps serving in
its daemon thread until the process ends.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from slacklab.redact import mask_text
from slacklab.sim.http_rules import delivery_ids
from slacklab.sim.knobs import AppKnobs
from slacklab.sim.ledger import DeliveryLedger, Truth
from slacklab.sim.loopthread import LoopThread
from slacklab.sim.playback import EVENT_TIMES, Playback, stamp_times
from slacklab.sim.scenario import Scenario, ScenarioItem, build_scenario
from slacklab.sim.socket_mode import BUILD_NUMBER, DEBUG_RECONNECTS_INTERVAL, ConnectionInfo, SocketServer  # noqa: F401 - still importable from here
from slacklab.sim.webapi import WebApi
from slacklab.sim.webapi_methods import BOT_TOKEN, SlackState, local_response_url

__all__ = ["APP_TOKEN", "ConnectionInfo", "Simulator"]

log = logging.getLogger("slacklab.sim.server")

#: The simulator's app-level token: obviously fake, the same for every simulator.
APP_TOKEN = "xapp-1-A0SIMAPP-0000-SIMULATED"
_T = TypeVar("_T")


class Simulator(AppKnobs):
    """Slack's Socket Mode side on 127.0.0.1, with fault knobs and ground truth.

    Args:
        scenario: what to play (a :class:`Scenario` or items); default
            ``build_scenario(seed=seed)``; ``[]`` for none (use :meth:`add`).
        speed: simulated seconds per wall second; ``None`` or ``inf``: as fast as possible.
        ack_timeout: wall seconds before an unacked envelope is redelivered.
        refresh_interval: simulated seconds each connection lives before a routine
            refresh (``None``: never, unless the client asks for ``debug_reconnects``).
        max_connections: open connections allowed per app (Slack: 10).
        max_in_flight: at most this many unacked envelopes at once (closed-loop benchmarks).
        max_retries: redeliveries per event (Slack: 3).
        seed: seeds envelope ids and the choice of connection.
        wait_for_client: start the scenario clock at the first ``hello`` (default)
            rather than at :meth:`start`.
        refresh_warning, refresh_grace: simulated seconds between ``warning`` and
            ``refresh_requested``, and from there to the server closing the socket.
        ping_interval: wall seconds between the server's WebSocket pings (``None``: off).
        local_response_urls: point ``response_url`` s at this simulator, so ``respond()`` works offline.
        event_times: ``"wall"`` stamps each event's ``event_time`` with when it falls due
            in this run; ``"scenario"`` keeps the scenario's fixed times.
        hold_clock: start the scenario clock only at :meth:`start_clock` (two transports, one clock).
        start: start serving now (else call :meth:`start` or use ``with``).
    """

    app_token: str = APP_TOKEN
    bot_token: str = BOT_TOKEN  # its Web API (``auth.test``, ``chat.postMessage``…) answers from ``self.web``

    def __init__(
        self,
        scenario: Scenario | Iterable[ScenarioItem] | None = None,
        *,
        speed: float | None = 1.0,
        ack_timeout: float = 3.0,
        refresh_interval: float | None = None,
        max_connections: int = 10,
        max_in_flight: int | None = None,
        max_retries: int = 3,
        seed: int = 0,
        wait_for_client: bool = True,
        refresh_warning: float = 10.0,
        refresh_grace: float = 10.0,
        ping_interval: float | None = 10.0,
        local_response_urls: bool = False,
        event_times: str = "wall",
        hold_clock: bool = False,
        start: bool = True,
    ) -> None:
        speed = math.inf if speed is None else float(speed)
        if not speed > 0:
            raise ValueError("speed must be > 0 (or None for as fast as possible)")
        if refresh_interval is not None and refresh_interval <= 0:
            raise ValueError("refresh_interval must be > 0 or None")
        if max_connections < 1:
            raise ValueError("max_connections must be >= 1")
        if event_times not in EVENT_TIMES:
            raise ValueError(f"event_times must be one of {EVENT_TIMES}, not {event_times!r}")
        self.event_times = event_times
        self.hold_clock = hold_clock
        self._replayed: set[int] = set()  # id() of queued items added with replayed=True
        if scenario is None:
            scenario = build_scenario(seed=seed)
        elif not isinstance(scenario, Scenario):
            scenario = Scenario.from_items(scenario)
        self.scenario: Scenario = scenario
        self.speed = speed
        self.ack_timeout = float(ack_timeout)
        self.refresh_interval = refresh_interval
        self.max_connections = max_connections
        self.refresh_warning = refresh_warning
        self.refresh_grace = refresh_grace
        self.ping_interval = ping_interval
        self.wait_for_client = wait_for_client
        self.local_response_urls = local_response_urls
        self.app_id = scenario.workspace.app_id
        self.api_port: int | None = None
        self.ws_port: int | None = None

        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._ledger = DeliveryLedger(
            ack_timeout=ack_timeout,
            max_retries=max_retries,
            seed=seed,
            rng=random.Random(seed),
            max_in_flight=max_in_flight,
        )
        self._playback = Playback(scenario, speed)
        self._released = 0
        self._done = self._playback.empty
        self.web = SlackState(scenario.workspace, bot_token=self.bot_token)  # messages, views, calls, responses
        self._api = WebApi(self, lock=self._lock, state=self.web, publish=self.add)
        self._socket = SocketServer(
            self,
            ledger=self._ledger,
            cond=self._cond,
            redeem=self._api.redeem,
            on_hello=self._on_hello,
            kick=self._kick,
        )
        self._clock_offset = time.time() - time.monotonic()
        self._state = "new"
        self._runner = LoopThread("slacklab-simulator", log, "simulator")
        self._wake: asyncio.Event | None = None
        self._stop: asyncio.Event | None = None
        if start:
            self.start()

    # ------------------------------------------------------------ lifecycle

    @property
    def api_url(self) -> str:
        """Web API base URL for ``slack_sdk.WebClient(base_url=...)``; ends with ``/``."""
        return f"http://127.0.0.1:{self.api_port}/api/"

    @property
    def ws_url(self) -> str:
        """The WebSocket endpoint without a ticket (connecting needs one: :meth:`issue_url`)."""
        return f"ws://127.0.0.1:{self.ws_port}/link/"

    @property
    def running(self) -> bool:
        return self._state == "running"

    def start(self) -> Simulator:
        """Bind both servers on 127.0.0.1 (free ports) and start the loop thread. Idempotent."""
        with self._lock:
            if self._state != "new":
                if self._state == "closed":
                    raise RuntimeError("this simulator was closed; create a new one")
                return self
            self._state = "starting"
        self._runner.start(self._main, timeout=10)
        if self._runner.startup_error is not None or self.ws_port is None:
            self.close()
            raise RuntimeError(f"simulator failed to start: {self._runner.startup_error!r}")
        with self._lock:
            self._state = "running"
            if not self.wait_for_client and not self.hold_clock:
                self._playback.start(time.monotonic())
        log.info("simulator serving %s and %s", self.api_url, self.ws_url)
        self._kick()
        return self

    def close(self) -> None:
        """Stop serving, close every connection and join the thread. Idempotent."""
        with self._lock:
            state, self._state = self._state, "closed"
            self._cond.notify_all()
        if state in ("new", "closed"):
            return
        if self._stop is not None:
            self._runner.call_soon(self._stop.set)
        if not self._runner.join(timeout=15):
            log.warning("simulator thread did not stop within 15 s")

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def _main(self) -> None:
        """The loop thread's coroutine: serve both endpoints and run the scheduler until :meth:`close`."""
        self._wake, self._stop = asyncio.Event(), asyncio.Event()
        api_port = await self._api.start()
        try:
            ws_port = await self._socket.start()
            self.api_port, self.ws_port = api_port, ws_port
            self._runner.ready()
            scheduler = asyncio.create_task(self._scheduler())
            await self._stop.wait()
            scheduler.cancel()
            self._socket.shutdown()
        finally:
            await self._socket.aclose()
            await self._api.aclose()

    # -------------------------------------------------------------- helpers

    def _kick(self) -> None:
        """Wake the scheduler (from any thread)."""
        if self._wake is not None:  # set on the loop thread once the loop runs
            self._runner.call_soon(self._wake.set)

    def _call(self, fn: Callable[..., _T], *args: Any) -> _T:
        """Run ``fn(*args)`` on the loop thread and return its result."""
        if self._state != "running" or self._runner.loop is None:
            raise RuntimeError("the simulator is not running")
        return self._runner.call(fn, *args)

    def _on_hello(self) -> None:
        """Start the scenario clock at the first ``hello`` (called under the lock)."""
        if not self._playback.started and self._state == "running" and not self.hold_clock:
            self._playback.start(time.monotonic())

    # ------------------------------------------------------------ scheduler

    async def _scheduler(self) -> None:
        assert self._wake is not None
        while True:
            self._wake.clear()
            delay = self._step()
            try:
                await asyncio.wait_for(self._wake.wait(), delay)
            except TimeoutError:
                pass

    def _step(self) -> float | None:
        """Release due items, expire deadlines, send; returns seconds until the next wake-up."""
        now = time.monotonic()
        with self._lock:
            while (found := self._playback.pop_due_timed(now)) is not None:
                self._submit(found[0], now, happened=found[1] + self._clock_offset)
            for send in self._ledger.poll(now, dispatch=not self._playback.paused):
                self._socket.deliver(send.connection, send.text)
            self._done = self._playback.empty and self._ledger.done
            self._cond.notify_all()
            delays = []
            deadline = self._ledger.next_deadline()
            if deadline is not None:
                delays.append(deadline - now)
            due = self._playback.next_due()
            if due is not None:
                delays.append(due - now)
        return max(0.0, min(delays)) + 0.001 if delays else None

    def _submit(self, item: ScenarioItem, now: float, *, happened: float) -> None:
        replayed = id(item) in self._replayed
        self._replayed.discard(id(item))
        self.web.observe(item)
        if self.local_response_urls:
            item = local_response_url(item, f"{self.api_url[:-4]}hooks/")
        payload = item.payload
        if self.event_times == "wall" and not replayed:
            payload = stamp_times(item.kind, payload, happened)
        ids = delivery_ids(item.kind, payload)
        self._ledger.submit(
            item.kind,
            payload,
            now,
            key=ids["event_key"],
            event_id=ids["event_id"],
            event_type=ids["event_type"],
            accepts_response_payload=item.accepts_response_payload,
            replayed=replayed,
        )
        self._released += 1

    # ------------------------------------------------------------ Web API

    def issue_url(self, *, debug_reconnects: bool = False) -> str:
        """A fresh one-time WebSocket URL, as ``apps.connections.open`` would return (thread-safe)."""
        return self._api.issue_url(debug_reconnects=debug_reconnects)

    def fail_next_open(
        self, error: str, retry_after: float | None = None, *, status: int | None = None, times: int = 1
    ) -> None:
        """Make the next ``times`` valid ``apps.connections.open`` calls fail with ``error``.

        ``ratelimited`` answers HTTP 429 with ``Retry-After`` (``retry_after``, default 1 s);
        other errors answer HTTP 200 ``{"ok": false, "error": ...}`` (``status`` overrides),
        with ``Retry-After`` only if ``retry_after`` is given.
        """
        self._api.fail_next_open(error, retry_after, status=status, times=times)

    # ---------------------------------------------------------- fault knobs

    def drop_connection(self, conn: str | None = None) -> list[str]:
        """Abort the TCP connection without a close frame (a network cut)."""
        return self._call(self._socket.drop, conn)

    def go_silent(self, conn: str | None = None, *, for_seconds: float | None = None) -> list[str]:
        """Stop reading, writing and pinging on the connection (a hung server).

        Bytes from the client are thrown away unread, so its pings get no pong and
        its acks are lost; nothing more is written (envelopes sent there vanish and
        are redelivered after their deadline). Slack's side still counts the
        connection as open until the client closes its socket (the kernel still
        notices that), :meth:`drop_connection` or :meth:`close` ends it, or
        ``for_seconds`` wall seconds pass (then the TCP connection is aborted).
        """
        return self._call(self._socket.go_silent, conn, for_seconds)

    def send_malformed(self, text: str | None = None, conn: str | None = None) -> list[str]:
        """Send text that is not a valid frame (default: truncated JSON)."""
        text = '{"envelope_id": "sim-malformed", "type": "events_api", "payload": {' if text is None else text
        return self._call(self._socket.send_malformed, text, conn)

    def disconnect(self, reason: str = "refresh_requested", conn: str | None = None) -> list[str]:
        """Send ``{"type": "disconnect", "reason": reason}`` (any reason, even a made-up one).

        ``warning`` only sends the frame. ``too_many_websockets`` and ``link_disabled``
        close at once. Any other reason retires the connection (no more deliveries)
        and closes it after ``refresh_grace`` unless the client closes first.
        """
        return self._call(self._socket.disconnect, reason, conn)

    def link_disabled(self) -> list[str]:
        """Socket Mode turned off: ``disconnect`` ``link_disabled`` on every connection, then close.

        Until :meth:`enable_link`, ``apps.connections.open`` still returns URLs, but
        every new WebSocket gets ``disconnect`` ``link_disabled`` instead of ``hello``
        and is closed, so a client sees the same plain reason each time. Deliveries
        wait in the queue meanwhile.
        """
        self._socket.set_link(enabled=False)
        return self.disconnect("link_disabled")

    def enable_link(self) -> None:
        """Turn Socket Mode back on: new connections get ``hello`` again."""
        self._socket.set_link(enabled=True)

    # -------------------------------------------------------------- control

    def add(self, items: Scenario | Iterable[ScenarioItem], *, replayed: bool = False) -> int:
        """Inject items while running; each ``at`` counts from the current simulated time
        (with ``speed=None`` they go out at once). Returns how many were added.

        ``replayed=True``: items sent again from a capture (:func:`slacklab.replay`):
        their envelopes carry ``"slacklab_replay": true`` and their times are not restamped."""
        added = list(items)
        now = time.monotonic()
        with self._lock:
            if replayed:
                self._replayed.update(id(item) for item in added)
            self._playback.add(added, now)
            if added:
                self._done = False
        self._kick()
        return len(added)

    def wait_done(self, timeout: float | None = None) -> bool:
        """Block until every item was delivered and acked (or gave up after its last retry).

        Returns ``False`` on timeout or if the simulator is closed first."""
        with self._cond:
            self._cond.wait_for(lambda: self._done or self._state == "closed", timeout)
            return self._done and self._released == self._playback.total

    def wait_connections(self, n: int = 1, timeout: float | None = None) -> bool:
        """Block until at least ``n`` connections are open and greeted."""

        def ready() -> bool:
            return self._state == "closed" or self._socket.counts()[0] >= n

        with self._cond:
            return self._cond.wait_for(ready, timeout) and self._state != "closed"

    # ----------------------------------------------------------- inspection

    @property
    def connections(self) -> list[ConnectionInfo]:
        """Every connection so far (``s1``, ``s2``…), oldest first."""
        return self._socket.connections(self._clock_offset)

    @property
    def truth(self) -> Truth:
        """Ground truth from the ledger (times in epoch seconds): ``events``, ``deliveries``,
        ``acks``, ``acked_events``, ``unacked_events``, ``lost_events``, ``summary()``."""
        with self._lock:
            return self._ledger.snapshot(self._clock_offset)

    @property
    def stats(self) -> dict[str, int]:
        """Counters: API calls and errors, tickets, refused handshakes, connections, faults sent."""
        with self._lock:
            return {**self._api.stats, **self._socket.stats, "items": self._playback.total, "released": self._released}

    def __repr__(self) -> str:
        with self._lock:
            ports = f" api={self.api_url} ws={self.ws_url}" if self.ws_port else ""
            _, n_open, n_all = self._socket.counts()
            speed = "max" if math.isinf(self.speed) else f"{self.speed:g}"
            truth = self._ledger.snapshot().summary()
            paused = " paused" if self._playback.paused else ""
            text = (
                f"<Simulator {self._state}{paused}{ports} speed={speed} connections={n_open} open/"
                f"{n_all} items={self._released}/{self._playback.total} "
                f"deliveries={truth['deliveries']} acked_events={truth['acked_events']} "
                f"in_flight={truth['in_flight']} queued={truth['queued']}>"
            )
        return mask_text(text)
